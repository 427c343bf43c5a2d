//! `promptsmith lm serve`, `lm status` and `lm stop` against the real local model that
//! `scripts/test.sh` installs: a detached server is started, reported healthy, and stopped from
//! its pid file. The test's cache links to the installed model and llama-server, so the user's
//! cache gets no pid file. Fails (never skips) when the model is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{promptsmith, text};
use std::path::PathBuf;

fn installed_cache() -> PathBuf {
    let cache = std::env::var_os("PROMPTSMITH_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/promptsmith"));
    let model = cache.join("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert!(model.is_file(), "{} is missing: run the suite with scripts/test.sh, which installs it", model.display());
    cache
}

#[test]
fn lm_serve_status_and_stop_manage_a_detached_server() {
    let real = installed_cache();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path();
    std::fs::create_dir_all(cache.join("models")).unwrap();
    for f in ["qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf.sha256"] {
        std::os::unix::fs::symlink(real.join("models").join(f), cache.join("models").join(f)).unwrap();
    }
    std::os::unix::fs::symlink(real.join("llama.cpp"), cache.join("llama.cpp")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    // Stops the server even when an assertion below fails.
    struct Stop<'a>(&'a std::path::Path, String);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = promptsmith(&["lm", "stop", "--local-port", &self.1], self.0);
        }
    }
    let _stop = Stop(cache, port.clone());
    let serve = promptsmith(&["lm", "serve", "--local-port", &port, "--slots", "1", "--ctx-size", "1024"], cache);
    let (out, err) = text(&serve);
    assert!(serve.status.success(), "{out}\n{err}");
    assert!(out.contains(&format!("llama-server (qwen0.5b) started at http://127.0.0.1:{port}")), "{out}");

    let status = promptsmith(&["lm", "status", "--local-port", &port], cache);
    let (out, _) = text(&status);
    assert!(out.contains(&format!("server at http://127.0.0.1:{port}: healthy")), "{out}");
    assert!(out.contains("model qwen0.5b:"), "{out}");

    // A second serve on the same port finds the running server instead of starting another.
    let again = promptsmith(&["lm", "serve", "--local-port", &port, "--slots", "1", "--ctx-size", "1024"], cache);
    assert!(text(&again).0.contains("already running"), "{}", text(&again).0);

    let stop = promptsmith(&["lm", "stop", "--local-port", &port], cache);
    let (out, err) = text(&stop);
    assert!(stop.status.success() && out.starts_with("stopped llama-server (pid "), "{out}\n{err}");
    let status = promptsmith(&["lm", "status", "--local-port", &port], cache);
    assert!(text(&status).0.contains("not running"), "{}", text(&status).0);
    let stop = promptsmith(&["lm", "stop", "--local-port", &port], cache);
    assert!(text(&stop).0.contains(&format!("no llama-server recorded on port {port}")), "{}", text(&stop).0);
}

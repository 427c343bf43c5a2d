//! Local llama-server management.
//!
//! `scripts/install-local-lm.sh` puts `llama.cpp/build/bin/llama-server` and
//! `models/<file>.gguf` (with `<file>.gguf.sha256` beside it) into the cache directory
//! (`PROMPTSMITH_CACHE_DIR`, else `~/.cache/promptsmith`). [`LocalServer::start`] runs the
//! server on `127.0.0.1`, waits for `GET /health`, and stops it on [`LocalServer::stop`] or
//! drop. A *detached* server (for `promptsmith lm serve`) outlives the process and is
//! recorded in a pid file under `<cache>/run/`, which [`stop_recorded`] uses (`lm stop`).

mod build_info;
mod models;
mod pidfile;
mod process;

pub use build_info::{BuildAttempt, BuildInfo};
pub use models::{cache_dir, installed_models, model_sha256, server_binary, ModelId};
pub use pidfile::{stop_recorded, PidFile};
pub use process::log_tail;
use process::{describe, terminate};

use crate::config::{LmConfig, DEFAULT_LOCAL_PORT};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Environment variable naming the cache directory.
pub const CACHE_DIR_ENV: &str = "PROMPTSMITH_CACHE_DIR";
/// Environment variable overriding the llama-server binary.
pub const SERVER_BIN_ENV: &str = "PROMPTSMITH_LLAMA_SERVER";

/// Lines of server log quoted in errors.
const LOG_TAIL_LINES: usize = 25;

/// What went wrong managing a local server.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Neither `PROMPTSMITH_CACHE_DIR` nor `HOME` is set.
    #[error("no cache directory: set {CACHE_DIR_ENV} or HOME")]
    NoCacheDir,
    /// The llama-server binary is missing.
    #[error("llama-server not found at {}: run scripts/install-local-lm.sh (or set {SERVER_BIN_ENV})", path.display())]
    ServerMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The model file is missing.
    #[error("model file {} not found: run scripts/install-local-lm.sh --model {model}", path.display())]
    ModelMissing {
        /// Model id.
        model: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// An unknown model id.
    #[error("unknown model '{0}' (expected qwen0.5b, qwen1.5b or smollm135m)")]
    UnknownModel(String),
    /// The process could not be spawned.
    #[error("cannot start {}: {source}", bin.display())]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The server exited before becoming healthy.
    #[error("llama-server exited ({status}) before becoming healthy{}; last lines of {}:\n{tail}", crash_hint(status), log.display())]
    Exited {
        /// Exit status.
        status: String,
        /// Server log file.
        log: PathBuf,
        /// End of the log.
        tail: String,
    },
    /// The server did not become healthy in time.
    #[error("llama-server on port {port} not healthy after {seconds:.0}s; last lines of {}:\n{tail}", log.display())]
    HealthTimeout {
        /// Port.
        port: u16,
        /// Time waited.
        seconds: f64,
        /// Server log file.
        log: PathBuf,
        /// End of the log.
        tail: String,
    },
    /// A healthy server on the port serves a different model.
    #[error(
        "port {port} already serves {running}, not {wanted}: stop it (`promptsmith lm stop`) or pick another port"
    )]
    WrongModel {
        /// Port.
        port: u16,
        /// Model path the running server reports.
        running: String,
        /// Model requested.
        wanted: String,
    },
    /// A pid file names a process that is not a llama-server.
    #[error("pid {pid} in {} is not a llama-server; not stopping it (remove the file if stale)", path.display())]
    NotOurProcess {
        /// Pid.
        pid: u32,
        /// Pid file.
        path: PathBuf,
    },
    /// File system trouble.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A hint for a server that died by a signal the installer's fallback build avoids.
fn crash_hint(status: &str) -> &'static str {
    if status.contains("SIGILL") || status.contains("signal: 4") {
        " (an instruction this CPU refuses: rebuild a portable server with `promptsmith lm install --rebuild`)"
    } else {
        ""
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalError {
    let context = context.into();
    move |source| LocalError::Io { context, source }
}

/// How to run llama-server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptions {
    /// Which model (default `qwen0.5b`).
    pub model: ModelId,
    /// Use this GGUF file instead of the model's file in the cache.
    pub model_path: Option<PathBuf>,
    /// Use this binary instead of the cache's llama-server.
    pub server_bin: Option<PathBuf>,
    /// Cache directory (default: [`cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Port on 127.0.0.1 (default 8088).
    pub port: u16,
    /// CPU threads `-t` (default 2).
    pub threads: u32,
    /// Total context `-c` (default 8192; split between the slots).
    pub ctx_size: u32,
    /// Parallel slots `-np` (default 2).
    pub parallel: u32,
    /// Pass `--jinja` (use the model's chat template; default true).
    pub jinja: bool,
    /// More arguments, appended as given.
    pub extra_args: Vec<String>,
    /// How long to wait for `/health` (default 180 s: loading a model on a small machine is slow).
    pub startup_timeout: Duration,
    /// Keep the server running after this handle is dropped, and record it in a pid file
    /// (for `promptsmith lm serve`).
    pub detach: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            model: ModelId::default(),
            model_path: None,
            server_bin: None,
            cache_dir: None,
            port: DEFAULT_LOCAL_PORT,
            threads: 2,
            ctx_size: 8192,
            parallel: 2,
            jinja: true,
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(180),
            detach: false,
        }
    }
}

impl ServerOptions {
    fn resolved_cache_dir(&self) -> Result<PathBuf, LocalError> {
        match &self.cache_dir {
            Some(d) => Ok(d.clone()),
            None => cache_dir(),
        }
    }

    fn resolved_model_path(&self, cache: &Path) -> PathBuf {
        self.model_path.clone().unwrap_or_else(|| self.model.path_in(cache))
    }

    /// The command-line arguments llama-server gets for `model_path`.
    pub fn args(&self, model_path: &Path) -> Vec<String> {
        let mut args = vec![
            "-m".to_string(),
            model_path.display().to_string(),
            "--host".to_string(),
            "127.0.0.1".to_string(),
            "--port".to_string(),
            self.port.to_string(),
            "-t".to_string(),
            self.threads.to_string(),
            "-c".to_string(),
            self.ctx_size.to_string(),
            "-np".to_string(),
            self.parallel.to_string(),
            "--alias".to_string(),
            self.model.id().to_string(),
        ];
        if self.jinja {
            args.push("--jinja".to_string());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// A llama-server on 127.0.0.1: started by this handle (owned) or found running (reused).
#[derive(Debug)]
pub struct LocalServer {
    port: u16,
    model: ModelId,
    model_path: PathBuf,
    sha256: Option<String>,
    log_path: Option<PathBuf>,
    child: Option<tokio::process::Child>,
    pid: Option<u32>,
    pid_file: Option<PathBuf>,
    detached: bool,
}

impl LocalServer {
    /// Starts llama-server with `opts` and waits until `GET /health` answers ok.
    ///
    /// The log goes to `<cache>/logs/llama-server-<port>.log`; its tail is quoted when the
    /// server exits early or does not become healthy within `opts.startup_timeout`.
    pub async fn start(opts: &ServerOptions) -> Result<Self, LocalError> {
        let cache = opts.resolved_cache_dir()?;
        let bin = opts.server_bin.clone().unwrap_or_else(|| server_binary(&cache));
        if !bin.is_file() {
            return Err(LocalError::ServerMissing { path: bin });
        }
        let model_path = opts.resolved_model_path(&cache);
        if !model_path.is_file() {
            return Err(LocalError::ModelMissing { model: opts.model.id().to_string(), path: model_path });
        }
        let sha256 = model_sha256(&model_path).await?;

        let log_dir = cache.join("logs");
        std::fs::create_dir_all(&log_dir).map_err(io_err(format!("cannot create {}", log_dir.display())))?;
        let log_path = log_dir.join(format!("llama-server-{}.log", opts.port));
        let log = std::fs::File::create(&log_path).map_err(io_err(format!("cannot create {}", log_path.display())))?;
        let log2 = log.try_clone().map_err(io_err("cannot duplicate log handle"))?;

        let mut cmd = tokio::process::Command::new(&bin);
        cmd.args(opts.args(&model_path))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .kill_on_drop(false);
        if opts.detach {
            // Its own process group: a Ctrl-C aimed at the CLI does not reach it.
            #[cfg(unix)]
            cmd.process_group(0);
        }
        tracing::info!("starting {} {}", bin.display(), opts.args(&model_path).join(" "));
        let child = cmd.spawn().map_err(|source| LocalError::Spawn { bin: bin.clone(), source })?;
        let pid = child.id();
        let mut server = Self {
            port: opts.port,
            model: opts.model,
            model_path,
            sha256,
            log_path: Some(log_path),
            child: Some(child),
            pid,
            pid_file: None,
            detached: false,
        };
        // On failure `server` is dropped, which kills the child.
        server.wait_healthy(opts.startup_timeout).await?;
        if opts.detach {
            let record = PidFile {
                pid: pid.unwrap_or(0),
                port: server.port,
                model: server.model.id().to_string(),
                model_path: server.model_path.clone(),
                sha256: server.sha256.clone(),
                log_path: server.log_path.clone().unwrap_or_default(),
                started_ms: crate::history::now_ms(),
            };
            server.pid_file = Some(record.write(&cache)?);
            server.detached = true;
        }
        Ok(server)
    }

    /// Reuses a healthy server already on `opts.port` (checking via `/props` that it serves
    /// the requested model when it says), else starts one.
    pub async fn connect_or_start(opts: &ServerOptions) -> Result<Self, LocalError> {
        match Self::connect(opts).await? {
            Some(server) => Ok(server),
            None => Self::start(opts).await,
        }
    }

    /// The healthy server already on `opts.port`, if any (not owned: dropping it leaves it running).
    pub async fn connect(opts: &ServerOptions) -> Result<Option<Self>, LocalError> {
        let base = base_url(opts.port);
        if !is_healthy(&base).await {
            return Ok(None);
        }
        let cache = opts.resolved_cache_dir()?;
        let wanted = opts.resolved_model_path(&cache);
        let running = server_model_path(&base).await;
        if let Some(running) = &running {
            let same = Path::new(running).file_name() == wanted.file_name();
            if !same {
                return Err(LocalError::WrongModel {
                    port: opts.port,
                    running: running.clone(),
                    wanted: wanted.display().to_string(),
                });
            }
        }
        let record = PidFile::read(&cache, opts.port).ok().flatten();
        let sha256 = match record.as_ref().and_then(|r| r.sha256.clone()) {
            Some(s) => Some(s),
            None if wanted.is_file() => model_sha256(&wanted).await?,
            None => None,
        };
        Ok(Some(Self {
            port: opts.port,
            model: opts.model,
            model_path: running.map(PathBuf::from).unwrap_or(wanted),
            sha256,
            log_path: record.as_ref().map(|r| r.log_path.clone()),
            child: None,
            pid: record.map(|r| r.pid),
            pid_file: None,
            detached: true,
        }))
    }

    async fn wait_healthy(&mut self, timeout: Duration) -> Result<(), LocalError> {
        let base = self.base_url();
        let start = Instant::now();
        let log = self.log_path.clone().unwrap_or_default();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(LocalError::Exited { status: describe(status), tail: log_tail(&log), log });
                }
            }
            if is_healthy(&base).await {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(LocalError::HealthTimeout {
                    port: self.port,
                    seconds: timeout.as_secs_f64(),
                    tail: log_tail(&log),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        base_url(self.port)
    }

    /// Port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Model id.
    pub fn model(&self) -> ModelId {
        self.model
    }

    /// The GGUF file served.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// SHA-256 of the model file (from the `.sha256` file beside it, computed if missing).
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// Server log, when known.
    pub fn log_path(&self) -> Option<&Path> {
        self.log_path.as_deref()
    }

    /// Process id, when known.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether this handle started the server (detached or not), rather than finding it running.
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    /// Whether this handle started the server and will stop it on drop.
    pub fn is_owned(&self) -> bool {
        self.child.is_some() && !self.detached
    }

    /// An `LmConfig` for this server (model name = model id, context check on).
    pub fn lm_config(&self) -> LmConfig {
        let mut c = LmConfig::new(self.base_url(), self.model.id());
        c.check_context = Some(true);
        c
    }

    /// Lets the server outlive this handle (records nothing; see `ServerOptions::detach`).
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// Stops the server if this handle started it (SIGTERM, then SIGKILL after 10 s) and
    /// removes its pid file. A reused server is left running.
    pub async fn stop(mut self) -> Result<(), LocalError> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                terminate(pid, &mut child).await?;
            }
        }
        if let Some(p) = self.pid_file.take() {
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if let Some(p) = self.pid_file.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn http_client() -> Option<reqwest::Client> {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(2)).timeout(Duration::from_secs(5)).build().ok()
}

/// Whether `GET <base>/health` answers 200 with `"status": "ok"` (or no JSON status).
pub async fn is_healthy(base: &str) -> bool {
    let Some(http) = http_client() else { return false };
    let Ok(resp) = http.get(format!("{base}/health")).send().await else { return false };
    if !resp.status().is_success() {
        return false;
    }
    match resp.json::<serde_json::Value>().await {
        Ok(v) => v.get("status").and_then(|s| s.as_str()).is_none_or(|s| s == "ok"),
        Err(_) => true,
    }
}

async fn server_model_path(base: &str) -> Option<String> {
    let http = http_client()?;
    let v: serde_json::Value = http.get(format!("{base}/props")).send().await.ok()?.json().await.ok()?;
    v.get("model_path").and_then(|p| p.as_str()).map(str::to_string)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        assert_eq!("qwen0.5b".parse::<ModelId>().unwrap(), ModelId::Qwen05b);
        assert_eq!("smollm2-135m-instruct-q4_1.gguf".parse::<ModelId>().unwrap(), ModelId::Smollm135m);
        assert!(matches!("gpt".parse::<ModelId>(), Err(LocalError::UnknownModel(_))));
        assert_eq!(ModelId::default().file_name(), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
        assert_eq!(serde_json::to_string(&ModelId::Qwen15b).unwrap(), "\"qwen1.5b\"");
    }

    #[test]
    fn args() {
        let opts = ServerOptions::default();
        let args = opts.args(Path::new("/m.gguf")).join(" ");
        assert_eq!(args, "-m /m.gguf --host 127.0.0.1 --port 8088 -t 2 -c 8192 -np 2 --alias qwen0.5b --jinja");
    }

    #[test]
    fn pid_file_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PidFile::read(dir.path(), 9).unwrap(), None);
        let rec = PidFile {
            pid: 42,
            port: 9,
            model: "qwen0.5b".into(),
            model_path: "/m".into(),
            sha256: None,
            log_path: "/l".into(),
            started_ms: 1,
        };
        rec.write(dir.path()).unwrap();
        assert_eq!(PidFile::read(dir.path(), 9).unwrap(), Some(rec));
    }

    #[tokio::test]
    async fn missing_binary_and_model_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ServerOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            server_bin: Some(dir.path().join("nope")),
            ..Default::default()
        };
        let err = LocalServer::start(&opts).await.unwrap_err();
        assert!(matches!(err, LocalError::ServerMissing { .. }), "{err}");
        assert!(err.to_string().contains("install-local-lm.sh"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn early_exit_quotes_the_log() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("fake-llama-server");
        std::fs::write(&bin, "#!/bin/sh\necho \"loading model\"\necho \"error: failed to bind port\" >&2\nexit 3\n")
            .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let model = dir.path().join("m.gguf");
        std::fs::write(&model, b"gguf").unwrap();
        let opts = ServerOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            server_bin: Some(bin),
            model_path: Some(model.clone()),
            port: 1, // never healthy
            ..Default::default()
        };
        let err = LocalServer::start(&opts).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LocalError::Exited { .. }), "{msg}");
        assert!(msg.contains("exit code 3") && msg.contains("failed to bind port"), "{msg}");
        // The hash was computed and stored beside the model.
        let sha = std::fs::read_to_string(dir.path().join("m.gguf.sha256")).unwrap();
        assert_eq!(sha.trim().len(), 64);
    }
}

//! `scripts/install-local-lm.sh` proves that the llama-server it keeps really generates on
//! this machine, and falls back to a more portable CPU target when a build dies at the
//! first generation (as ggml's AMX kernels do with SIGILL on VMs that report AMX but fault
//! on its tile instructions). These tests build a fake llama.cpp tree
//! (`tests/fixtures/fake-llama`: a real CMake project whose "llama-server" is a small Python
//! HTTP server that kills itself with SIGILL when its configured CPU target matches
//! `$FAKE_LLAMA_CRASH_IF`), so they run the script's real build, check and fallback logic on
//! any machine, whatever its CPU.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{promptsmith, root, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const XEON_WITH_AMX: &str =
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f amx_bf16 amx_tile amx_int8\n";
const EPYC: &str = "model name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2\n";

/// A temporary cache, a fake CPU description and a fake model file.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new(cpuinfo: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cpuinfo"), cpuinfo).unwrap();
        std::fs::write(dir.path().join("model.gguf"), b"GGUF fake").unwrap();
        Self { dir }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Runs the installer; `crash_if` is the regex of CPU targets that die at the first generation.
    fn install(&self, crash_if: &str, extra: &[&str]) -> Output {
        Command::new("bash")
            .arg(root().join("scripts/install-local-lm.sh"))
            .arg("--model-file")
            .arg(self.dir.path().join("model.gguf"))
            .args(extra)
            .env("PROMPTSMITH_CACHE_DIR", self.cache())
            .env("PROMPTSMITH_LLAMA_SRC", root().join("crates/promptsmith/tests/fixtures/fake-llama"))
            .env("PROMPTSMITH_CPUINFO", self.dir.path().join("cpuinfo"))
            .env("FAKE_LLAMA_CRASH_IF", crash_if)
            .output()
            .unwrap()
    }

    fn build_info(&self) -> Value {
        let path = self.cache().join("llama.cpp/build-info.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn set_cpu(&self, cpuinfo: &str) {
        std::fs::write(self.dir.path().join("cpuinfo"), cpuinfo).unwrap();
    }
}

fn tried(info: &Value) -> Vec<(String, String)> {
    info["tried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["variant"].as_str().unwrap().to_string(), t["result"].as_str().unwrap().to_string()))
        .collect()
}

fn assert_ok(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "installer failed ({}):\n{stdout}\n{stderr}", out.status);
    stderr
}

#[test]
fn a_build_that_dies_by_sigill_on_an_amx_machine_is_replaced_by_one_without_amx() {
    let m = Machine::new(XEON_WITH_AMX);
    // Only the plain -march=native build (no -mno-amx flags) crashes, as on the reported Xeon.
    let log = assert_ok(&m.install("^native=ON;cflags=;", &[]));
    let info = m.build_info();
    assert_eq!(info["variant"], "native-noamx", "{info:#}");
    let tried = tried(&info);
    assert_eq!(tried[0], ("native".to_string(), "died by SIGILL before answering a generation".to_string()));
    assert_eq!(tried[1].0, "native-noamx");
    assert!(info["cmake_flags"].to_string().contains("-mno-amx-tile"), "{info:#}");
    assert!(log.contains("kept the native-noamx build"), "{log}");
    // The kept binary's own startup line names the target it was built for.
    assert!(info["cpu_features"].as_str().unwrap().contains("cflags=-mno-amx-tile"), "{info:#}");
}

#[test]
fn without_amx_the_fallback_is_portable_with_only_the_instruction_sets_the_cpu_reports() {
    let m = Machine::new(EPYC);
    assert_ok(&m.install("^native=ON", &[]));
    let info = m.build_info();
    assert_eq!(info["variant"], "portable", "{info:#}");
    let names: Vec<String> = tried(&info).into_iter().map(|t| t.0).collect();
    assert_eq!(names, ["native", "portable"], "no AMX reported, so no native-noamx attempt");
    let flags = info["cmake_flags"].to_string();
    assert!(flags.contains("-DGGML_NATIVE=OFF") && flags.contains("-DGGML_AVX2=ON"), "{flags}");
    assert!(flags.contains("-DGGML_AVX512=OFF"), "{flags}");
    assert!(info["cpu_features"].as_str().unwrap().contains("native=OFF;cflags=;avx2=ON;avx512=OFF"), "{info:#}");

    // `promptsmith lm status` shows which build was kept, why, and its CPU features.
    let out = promptsmith(&["lm", "status"], &m.cache());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("build: portable"), "{stdout}");
    assert!(stdout.contains("native: died by SIGILL"), "{stdout}");
    assert!(stdout.contains("CPU features: FAKE = 1"), "{stdout}");
}

#[test]
fn a_cached_build_is_checked_before_it_is_trusted_and_rebuilt_when_it_crashes() {
    let m = Machine::new(EPYC);
    assert_ok(&m.install("", &[]));
    assert_eq!(m.build_info()["variant"], "native");

    // Same machine again: the cached build is checked with a generation and kept as is.
    let log = assert_ok(&m.install("", &[]));
    assert!(log.contains("cached llama-server works on this machine (native build"), "{log}");
    assert!(!log.contains("building llama-server"), "{log}");

    // The cache moves to a machine where that native build faults: it is detected and replaced.
    m.set_cpu(XEON_WITH_AMX);
    let log = assert_ok(&m.install("^native=ON;cflags=;", &[]));
    assert!(log.contains("the cached llama-server fails on this machine (died by SIGILL"), "{log}");
    let info = m.build_info();
    assert_eq!(info["variant"], "native-noamx", "{info:#}");
    assert_eq!(tried(&info)[0].0, "native (cached)");

    // --rebuild rebuilds even a working cached build; --build picks the CPU target.
    let log = assert_ok(&m.install("^native=ON;cflags=;", &["--build", "baseline"]));
    assert!(log.contains("building llama-server (baseline CPU target)"), "{log}");
    let info = m.build_info();
    assert_eq!(info["variant"], "baseline");
    assert!(info["cmake_flags"].to_string().contains("-DGGML_AVX=OFF"), "{info:#}");
}

#[test]
fn when_no_build_answers_the_install_fails_and_keeps_no_server_record() {
    let m = Machine::new(XEON_WITH_AMX);
    let out = m.install(".", &[]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no build of llama-server works on this machine"), "{stderr}");
    for variant in ["native", "native-noamx", "portable", "baseline"] {
        assert!(stderr.contains(&format!("the {variant} build died by SIGILL")), "{variant}: {stderr}");
    }
    assert!(!Path::new(&m.cache().join("llama.cpp/build-info.json")).exists());
}

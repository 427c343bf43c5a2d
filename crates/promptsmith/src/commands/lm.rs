//! `promptsmith lm install|serve|stop|status`: the local model.

use crate::lm_setup::{parse_model_id, promptsmith_cache_dir, read_config, LmArgs};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use clap::ValueEnum;
use promptsmith_lm::local::{installed_models, is_healthy, server_binary, stop_recorded, BuildInfo};
use promptsmith_lm::LmRole;
use promptsmith_lm::{LocalServer, ServerOptions};
use std::process::ExitCode;

/// The installer, shipped inside the binary so `lm install` works outside a clone.
const INSTALL_SCRIPT: &str = include_str!("../../../../scripts/install-local-lm.sh");

/// The CPU target llama-server is built for (`install-local-lm.sh --build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BuildTarget {
    /// `native`, falling back to `native-noamx`, `portable`, `baseline` until one answers.
    Auto,
    /// `-march=native`.
    Native,
    /// `-march=native` without AMX.
    NativeNoamx,
    /// The AVX-family instruction sets this CPU reports, no AVX-512, no AMX.
    Portable,
    /// No instruction-set extensions.
    Baseline,
}

/// Local model commands.
#[derive(Debug, Subcommand)]
pub(crate) enum LmCommand {
    /// Build llama-server and download a model into the cache (checksums verified).
    ///
    /// The server is checked with one short generation before it is kept (a cached one too);
    /// a build that dies at it (e.g. SIGILL on a CPU that reports AMX but refuses it) is
    /// replaced by a more portable one.
    Install {
        /// qwen0.5b (default), qwen1.5b or smollm135m.
        #[arg(long, default_value = "qwen0.5b")]
        model: String,
        /// Rebuild llama-server even when the cached one works.
        #[arg(long)]
        rebuild: bool,
        /// CPU target: auto (native, then the fallbacks) or one target (implies --rebuild).
        #[arg(long, value_enum, default_value_t = BuildTarget::Auto)]
        build: BuildTarget,
    },
    /// Start llama-server in the background on 127.0.0.1 and wait until it is ready.
    Serve {
        /// qwen0.5b (default), qwen1.5b or smollm135m.
        #[arg(long, default_value = "qwen0.5b")]
        model: String,
        /// Parallel slots.
        #[arg(long, default_value_t = 2)]
        slots: u32,
        /// Total context (split between slots).
        #[arg(long, default_value_t = 8192)]
        ctx_size: u32,
        /// CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: u32,
    },
    /// Stop the server `lm serve` started.
    Stop,
    /// Show what is installed and whether a server is running.
    Status,
    /// Show which model plays each role (task, teacher, proposer, judge) after the config file.
    Roles,
}

pub(crate) async fn lm(cmd: LmCommand, args: LmArgs) -> Result<ExitCode> {
    let port = args.local_port;
    match cmd {
        LmCommand::Install { model, rebuild, build } => install(&model, rebuild, build)?,
        LmCommand::Serve { model, slots, ctx_size, threads } => {
            let model = parse_model_id(&model)?;
            let opts = ServerOptions {
                model,
                port,
                parallel: slots,
                ctx_size,
                threads,
                detach: true,
                ..ServerOptions::default()
            };
            let server = LocalServer::connect_or_start(&opts).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let owned = server.started_here();
            println!(
                "llama-server ({}) {} at {}{}",
                server.model().id(),
                if owned { "started" } else { "already running" },
                server.base_url(),
                server.log_path().map(|p| format!("; log: {}", p.display())).unwrap_or_default()
            );
            server.detach();
        }
        LmCommand::Stop => {
            let cache = promptsmith_cache_dir()?;
            match stop_recorded(&cache, port).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                Some(pid) => println!("stopped llama-server (pid {}) on port {port}", pid.pid),
                None => println!("no llama-server recorded on port {port}"),
            }
        }
        LmCommand::Roles => {
            let file = read_config(&args)?;
            for role in LmRole::ALL {
                let c = file.roles.get(role);
                let url = if role == LmRole::Task && !file.base_url_set {
                    "local llama-server (default)"
                } else {
                    &c.base_url
                };
                println!(
                    "{role}: model {} at {url} (temperature {}, max_tokens {})",
                    c.model, c.temperature, c.max_tokens
                );
            }
        }
        LmCommand::Status => status(port).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the installer shipped in the binary (`scripts/install-local-lm.sh`).
fn install(model: &str, rebuild: bool, build: BuildTarget) -> Result<()> {
    parse_model_id(model)?;
    let dir = tempdir_script()?;
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&dir).arg("--model").arg(model);
    if rebuild {
        cmd.arg("--rebuild");
    }
    if let Some(target) = build.to_possible_value() {
        cmd.arg("--build").arg(target.get_name());
    }
    let status = cmd.status().context("cannot run bash for the installer")?;
    let _ = std::fs::remove_file(&dir);
    if !status.success() {
        bail!("local model install failed ({status})");
    }
    Ok(())
}

/// What is installed (binary, build, models) and whether a server answers on `port`.
async fn status(port: u16) -> Result<()> {
    let cache = promptsmith_cache_dir()?;
    let bin = server_binary(&cache);
    println!("cache: {}", cache.display());
    println!("llama-server: {}", if bin.is_file() { bin.display().to_string() } else { "not installed".into() });
    print_build_info(&cache)?;
    let models = installed_models(&cache);
    if models.is_empty() {
        println!("models: none installed (run `promptsmith lm install`)");
    }
    for (m, p) in models {
        println!("model {}: {}", m.id(), p.display());
    }
    let url = format!("http://127.0.0.1:{port}");
    println!("server at {url}: {}", if is_healthy(&url).await { "healthy" } else { "not running" });
    Ok(())
}

/// The kept build's CPU target, why the faster ones were rejected, and its CPU features.
fn print_build_info(cache: &std::path::Path) -> Result<()> {
    match BuildInfo::read(cache).map_err(|e| anyhow::anyhow!("{e}"))? {
        None => {
            println!("  build: no record (not installed, or installed before build checks; `lm install` checks it)")
        }
        Some(info) => {
            let flags =
                if info.cmake_flags.is_empty() { String::new() } else { format!(" ({})", info.cmake_flags.join(" ")) };
            println!("  build: {}{flags}, checked {} on {}", info.variant, info.checked_at, info.cpu);
            for rejected in info.rejected() {
                println!("  rejected: {rejected}");
            }
            println!("  CPU features: {}", if info.cpu_features.is_empty() { "unknown" } else { &info.cpu_features });
        }
    }
    Ok(())
}

fn tempdir_script() -> Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("promptsmith-install-local-lm-{}.sh", std::process::id()));
    std::fs::write(&path, INSTALL_SCRIPT).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

//! `promptsmith lm install|serve|stop|status`: the local model.

use crate::lm_setup::{parse_model_id, promptsmith_cache_dir, read_config, LmArgs};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use promptsmith_lm::local::{installed_models, is_healthy, server_binary, stop_recorded};
use promptsmith_lm::LmRole;
use promptsmith_lm::{LocalServer, ServerOptions};
use std::process::ExitCode;

/// The installer, shipped inside the binary so `lm install` works outside a clone.
const INSTALL_SCRIPT: &str = include_str!("../../../../scripts/install-local-lm.sh");

/// Local model commands.
#[derive(Debug, Subcommand)]
pub(crate) enum LmCommand {
    /// Build llama-server and download a model into the cache (checksums verified).
    Install {
        /// qwen0.5b (default), qwen1.5b or smollm135m.
        #[arg(long, default_value = "qwen0.5b")]
        model: String,
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
        LmCommand::Install { model } => {
            parse_model_id(&model)?;
            let dir = tempdir_script()?;
            let status = std::process::Command::new("bash")
                .arg(&dir)
                .arg("--model")
                .arg(&model)
                .status()
                .context("cannot run bash for the installer")?;
            let _ = std::fs::remove_file(&dir);
            if !status.success() {
                bail!("local model install failed ({status})");
            }
        }
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
            let owned = server.is_owned();
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
        LmCommand::Status => {
            let cache = promptsmith_cache_dir()?;
            let bin = server_binary(&cache);
            println!("cache: {}", cache.display());
            println!(
                "llama-server: {}",
                if bin.is_file() { bin.display().to_string() } else { "not installed".into() }
            );
            let models = installed_models(&cache);
            if models.is_empty() {
                println!("models: none installed (run `promptsmith lm install`)");
            }
            for (m, p) in models {
                println!("model {}: {}", m.id(), p.display());
            }
            let url = format!("http://127.0.0.1:{port}");
            println!("server at {url}: {}", if is_healthy(&url).await { "healthy" } else { "not running" });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tempdir_script() -> Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("promptsmith-install-local-lm-{}.sh", std::process::id()));
    std::fs::write(&path, INSTALL_SCRIPT).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

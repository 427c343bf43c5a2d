//! The model flags, turned into the lm crate's [`LmSettings`] and built into an [`LmStack`]
//! (the config file is read once); `--show-prompt` wraps the task model in a printer.

use anyhow::{Context, Result};
use async_trait::async_trait;
use clap::Args;
use promptsmith_core::{ChatRequest, ChatResponse, LanguageModel, LmError};
use promptsmith_lm::local::{cache_dir, ModelId};
use promptsmith_lm::{ConfigFile, HistoryConfig, LmSettings, LmStack};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the model comes from and how it is called.
#[derive(Debug, Clone, Args)]
pub(crate) struct LmArgs {
    /// OpenAI-compatible base URL (default: the local llama-server, started when needed).
    #[arg(long, env = "PROMPTSMITH_LM_BASE_URL", global = true)]
    pub(crate) lm_base_url: Option<String>,
    /// Model name sent to the endpoint.
    #[arg(long, env = "PROMPTSMITH_MODEL", global = true)]
    pub(crate) model: Option<String>,
    /// Environment variable that holds the API key.
    #[arg(long, global = true)]
    pub(crate) api_key_env: Option<String>,
    /// Config file (default: ./promptsmith.toml when present).
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Local model to serve when no endpoint is configured: qwen0.5b, qwen1.5b, smollm135m.
    #[arg(long, default_value = "qwen0.5b", global = true)]
    pub(crate) local_model: String,
    /// Port of the local llama-server.
    #[arg(long, default_value_t = promptsmith_lm::config::DEFAULT_LOCAL_PORT, global = true)]
    pub(crate) local_port: u16,
    /// Do not use the response cache.
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
    /// Response cache file (default: <cache dir>/lm-cache.sqlite).
    #[arg(long, global = true)]
    pub(crate) cache_path: Option<PathBuf>,
    /// Maximum concurrent LM calls (default: the server's slot count, else 8).
    #[arg(long, global = true)]
    pub(crate) concurrency: Option<usize>,
    /// Print every prompt sent and completion received.
    #[arg(long, global = true)]
    pub(crate) show_prompt: bool,
    /// Append every call (request and response) to this cassette file (JSONL).
    #[arg(long, global = true, conflicts_with = "replay")]
    pub(crate) record: Option<PathBuf>,
    /// Answer only from this cassette: no model is called, an unrecorded request is an error.
    #[arg(long, global = true)]
    pub(crate) replay: Option<PathBuf>,
}

/// The promptsmith cache directory (models, server, response cache, history).
pub(crate) fn promptsmith_cache_dir() -> Result<PathBuf> {
    cache_dir().context("cannot determine the promptsmith cache directory (set PROMPTSMITH_CACHE_DIR)")
}

impl LmArgs {
    /// The library's settings from these flags (clap has merged their environment variables).
    pub(crate) fn settings(&self) -> Result<LmSettings> {
        Ok(LmSettings {
            base_url: self.lm_base_url.clone(),
            model: self.model.clone(),
            api_key_env: self.api_key_env.clone(),
            local_model: parse_model_id(&self.local_model)?,
            local_port: self.local_port,
            no_cache: self.no_cache,
            cache_path: self.cache_path.clone(),
            concurrency: self.concurrency,
            record: self.record.clone(),
            replay: self.replay.clone(),
        })
    }
}

/// `promptsmith.toml` (or `--config`), with the CLI's history default: on.
pub(crate) fn read_config(args: &LmArgs) -> Result<ConfigFile> {
    let history = HistoryConfig { enabled: true, ..HistoryConfig::default() };
    Ok(ConfigFile::load(args.config.as_deref(), history)?)
}

/// Where the call history goes: `[history]` in promptsmith.toml, then the `PROMPTSMITH_HISTORY*`
/// variables; on by default, in `<cache dir>/history.jsonl`, rotated at 20 MB keeping one old file.
pub(crate) fn history_config(args: &LmArgs) -> Result<HistoryConfig> {
    Ok(read_config(args)?.history_with_env()?)
}

/// Parses a local model id.
pub(crate) fn parse_model_id(id: &str) -> Result<ModelId> {
    ModelId::ALL
        .into_iter()
        .find(|m| m.id() == id)
        .with_context(|| format!("unknown local model '{id}' (expected qwen0.5b, qwen1.5b or smollm135m)"))
}

/// Builds the models of a command (the config file is read once, here).
pub(crate) async fn build_lm(args: &LmArgs) -> Result<LmStack> {
    let mut stack = LmStack::build(&args.settings()?, read_config(args)?).await?;
    if let Some((model, url)) = stack.started_server() {
        eprintln!(
            "started local llama-server ({}) on {url}; `promptsmith lm serve` keeps one running between commands",
            model.id()
        );
    }
    if args.show_prompt {
        stack.wrap_task(|inner| Arc::new(PromptPrinter { inner }));
    }
    Ok(stack)
}

/// Prints each exchange to stderr (`--show-prompt`).
struct PromptPrinter {
    inner: Arc<dyn LanguageModel>,
}

#[async_trait]
impl LanguageModel for PromptPrinter {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let result = self.inner.chat(request).await;
        let mut out = String::from("──── prompt ────\n");
        for m in &request.messages {
            out.push_str(&format!("[{:?}]\n{}\n", m.role, m.content));
        }
        match &result {
            Ok(r) => out.push_str(&format!(
                "──── completion{} ────\n{}\n",
                if r.cached { " (cached)" } else { "" },
                r.text()
            )),
            Err(e) => out.push_str(&format!("──── error ────\n{e}\n")),
        }
        eprintln!("{out}");
        result
    }
    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

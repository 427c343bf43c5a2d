//! Builds the task model from flags, environment and `promptsmith.toml`, falling back to
//! the local llama-server; wraps it in the response cache and the prompt printer.

use anyhow::{Context, Result};
use async_trait::async_trait;
use clap::Args;
use promptsmith_core::{ChatRequest, ChatResponse, LanguageModel, LmError};
use promptsmith_lm::local::{cache_dir, ModelId};
use promptsmith_lm::{
    CachedLm, HistoryConfig, LmConfig, LmRole, LmRoles, LmStats, LocalServer, OpenAiClient, RecordingLm, ReplayLm,
    ServerOptions,
};
use std::path::{Path, PathBuf};
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

/// `promptsmith.toml`: `[lm]` is the task model; `[teacher]`, `[proposer]` and `[judge]`
/// override only the fields they name and otherwise use `[lm]`; `[history]` says where the
/// call history goes.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    /// Model per role.
    pub(crate) roles: LmRoles,
    /// Whether `[lm]` names a `base_url` (otherwise the local server is used).
    pub(crate) base_url_set: bool,
    /// The `[history]` table (the CLI keeps a history file unless it says `enabled = false`).
    pub(crate) history: HistoryConfig,
}

impl Default for ConfigFile {
    fn default() -> Self {
        Self {
            roles: LmRoles::default(),
            base_url_set: false,
            history: HistoryConfig { enabled: true, ..HistoryConfig::default() },
        }
    }
}

/// Everything about the model a run used, for its manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct LmInfo {
    pub(crate) name: String,
    pub(crate) base_url: String,
    pub(crate) local: bool,
    pub(crate) model_sha256: Option<String>,
    pub(crate) cache: Option<String>,
}

/// A ready model plus what owns it.
pub(crate) struct LmHandle {
    pub(crate) lm: Arc<dyn LanguageModel>,
    pub(crate) cache: Option<Arc<CachedLm<Arc<OpenAiClient>>>>,
    pub(crate) stats: Arc<LmStats>,
    pub(crate) info: LmInfo,
    pub(crate) concurrency: usize,
    /// The task model's config, for pricing its tokens.
    pub(crate) pricing: Arc<LmConfig>,
    server: Option<LocalServer>,
}

impl LmHandle {
    /// Stops a server this run started.
    pub(crate) async fn shutdown(mut self) {
        if let Some(c) = &self.cache {
            c.close().await;
        }
        if let Some(s) = self.server.take() {
            if s.is_owned() {
                let _ = s.stop().await;
            }
        }
    }
}

/// The promptsmith cache directory (models, server, response cache, history).
pub(crate) fn promptsmith_cache_dir() -> Result<PathBuf> {
    cache_dir().context("cannot determine the promptsmith cache directory (set PROMPTSMITH_CACHE_DIR)")
}

/// Where the call history goes: `[history]` in promptsmith.toml, then the `PROMPTSMITH_HISTORY*`
/// variables; on by default, in `<cache dir>/history.jsonl`, rotated at 20 MB keeping one old
/// file. `path` stays unset only when the cache directory cannot be found.
pub(crate) fn history_config(args: &LmArgs) -> Result<HistoryConfig> {
    let mut history = read_config(args)?.history;
    history.apply_env().map_err(anyhow::Error::msg)?;
    if history.path.is_none() {
        history.path = promptsmith_cache_dir().ok().map(|d| d.join("history.jsonl"));
    }
    Ok(history)
}

pub(crate) fn read_config(args: &LmArgs) -> Result<ConfigFile> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => {
            let p = PathBuf::from("promptsmith.toml");
            if !p.is_file() {
                return Ok(ConfigFile::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read config {}", path.display()))?;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim());
    let mut raw: toml::Table = toml::from_str(&text).map_err(|e| err(&e))?;
    let known = ["lm", "teacher", "proposer", "judge", "history"];
    if let Some(unknown) = raw.keys().find(|k| !known.contains(&k.as_str())) {
        anyhow::bail!(
            "{}: unknown table [{unknown}] (expected {})",
            path.display(),
            known.map(|k| format!("[{k}]")).join(", ")
        );
    }
    let base_url_set = raw.get("lm").and_then(|l| l.get("base_url")).is_some();
    let mut history = ConfigFile::default().history;
    if let Some(table) = raw.remove("history") {
        let toml::Value::Table(mut table) = table else {
            anyhow::bail!("{}: [history] must be a table", path.display())
        };
        // Unlike the library's, the CLI's history is on unless the table turns it off.
        table.entry("enabled").or_insert(toml::Value::Boolean(true));
        history = toml::Value::Table(table).try_into().map_err(|e| err(&format!("[history]: {e}")))?;
    }
    // LmRoles reads the task model from `task`.
    if let Some(lm) = raw.remove("lm") {
        raw.insert("task".into(), lm);
    }
    let roles: LmRoles = toml::Value::Table(raw).try_into().map_err(|e| err(&e))?;
    Ok(ConfigFile { roles, base_url_set, history })
}

/// Parses a local model id.
pub(crate) fn parse_model_id(id: &str) -> Result<ModelId> {
    ModelId::ALL
        .into_iter()
        .find(|m| m.id() == id)
        .with_context(|| format!("unknown local model '{id}' (expected qwen0.5b, qwen1.5b or smollm135m)"))
}

/// Builds the task model.
pub(crate) async fn build_lm(args: &LmArgs) -> Result<LmHandle> {
    if let Some(path) = &args.replay {
        return replay_lm(args, path);
    }
    let file = read_config(args)?;
    let mut config = file.roles.task.clone();
    let configured = args.lm_base_url.is_some() || file.base_url_set;
    let mut server = None;
    let mut model_sha256 = None;
    if let Some(url) = &args.lm_base_url {
        config.base_url = url.clone();
    }
    if !configured {
        let model = parse_model_id(&args.local_model)?;
        let opts = ServerOptions { model, port: args.local_port, ..ServerOptions::default() };
        let s = LocalServer::connect_or_start(&opts).await.map_err(|e| {
            anyhow::anyhow!(
                "no LM endpoint is configured and the local model could not be used: {e}\n\
                 install it with `promptsmith lm install` (or scripts/install-local-lm.sh), or point \
                 --lm-base-url / PROMPTSMITH_LM_BASE_URL at an OpenAI-compatible server"
            )
        })?;
        if s.is_owned() {
            eprintln!(
                "started local llama-server ({}) on {}; `promptsmith lm serve` keeps one running between commands",
                s.model().id(),
                s.base_url()
            );
        }
        let local = s.lm_config();
        config.base_url = local.base_url;
        config.model = local.model;
        config.check_context = local.check_context;
        model_sha256 = s.sha256().map(str::to_string);
        server = Some(s);
    }
    if let Some(m) = &args.model {
        config.model = m.clone();
    }
    if let Some(k) = &args.api_key_env {
        config.api_key_env = k.clone();
    }
    if args.concurrency.is_some() {
        config.concurrency = args.concurrency;
    }
    let stats = Arc::new(LmStats::default());
    let history = history_config(args)?;
    let history = Arc::new(history.open(config.history_capacity).with_context(|| {
        format!("cannot open call history {}", history.file().map(|p| p.display().to_string()).unwrap_or_default())
    })?);
    let client = Arc::new(
        OpenAiClient::new(config.clone())
            .map_err(|e| anyhow::anyhow!("LM client: {e}"))?
            .with_stats(stats.clone())
            .with_history(history.clone()),
    );
    let concurrency = client.concurrency().await;
    if config.is_local() && model_sha256.is_none() {
        // A local server started elsewhere: identify its model file for the manifest.
        if let Ok(props) = client.server_props().await {
            if let Some(path) = props.model_path.clone() {
                model_sha256 = promptsmith_lm::local::model_sha256(Path::new(&path)).await.ok().flatten();
                if config.model == LmConfig::default().model {
                    if let Some(name) = Path::new(&path).file_name() {
                        config.model = name.to_string_lossy().into_owned();
                    }
                }
            }
        }
    }
    let info = LmInfo {
        name: config.model.clone(),
        base_url: config.base_url.clone(),
        local: config.is_local(),
        model_sha256,
        cache: None,
    };
    let mut handle = LmHandle {
        lm: client.clone(),
        cache: None,
        stats: stats.clone(),
        info,
        concurrency,
        pricing: Arc::new(config.clone()),
        server,
    };
    if !args.no_cache {
        let path = match &args.cache_path {
            Some(p) => p.clone(),
            None => promptsmith_cache_dir()?.join("lm-cache.sqlite"),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let cache = CachedLm::open(client.clone(), &path)
            .await
            .map_err(|e| anyhow::anyhow!("response cache {}: {e}", path.display()))?
            .with_namespace(config.cache_namespace())
            .with_stats(stats.clone())
            .with_history(history);
        let cache = Arc::new(cache);
        handle.info.cache = Some(path.display().to_string());
        handle.lm = cache.clone();
        handle.cache = Some(cache);
    }
    if let Some(path) = &args.record {
        let recorder = RecordingLm::create(handle.lm.clone(), path)
            .map_err(|e| anyhow::anyhow!("--record {}: {e}", path.display()))?
            .with_namespace(config.model.clone());
        handle.lm = Arc::new(recorder);
    }
    if args.show_prompt {
        handle.lm = Arc::new(PromptPrinter { inner: handle.lm.clone() });
    }
    Ok(handle)
}

/// The model for `role`: its own table in promptsmith.toml (`[judge]`, `[teacher]`,
/// `[proposer]`), else the task model. Role models share the task model's response cache file
/// (under their own namespace) and its call statistics.
pub(crate) async fn role_lm(args: &LmArgs, task: &LmHandle, role: LmRole) -> Result<Arc<dyn LanguageModel>> {
    if args.replay.is_some() {
        return Ok(task.lm.clone());
    }
    let roles = read_config(args)?.roles;
    let config = match role {
        LmRole::Task => None,
        LmRole::Teacher => roles.teacher,
        LmRole::Proposer => roles.proposer,
        LmRole::Judge => roles.judge,
    };
    let Some(config) = config else { return Ok(task.lm.clone()) };
    let client = Arc::new(
        OpenAiClient::new(config.clone())
            .map_err(|e| anyhow::anyhow!("{} model: {e}", role.as_str()))?
            .with_stats(task.stats.clone()),
    );
    if args.no_cache {
        return Ok(client);
    }
    let path = match &args.cache_path {
        Some(p) => p.clone(),
        None => promptsmith_cache_dir()?.join("lm-cache.sqlite"),
    };
    let cache = CachedLm::open(client, &path)
        .await
        .map_err(|e| anyhow::anyhow!("response cache {}: {e}", path.display()))?
        .with_namespace(config.cache_namespace())
        .with_stats(task.stats.clone());
    Ok(Arc::new(cache))
}

/// A model that answers from a cassette only (`--replay`).
fn replay_lm(args: &LmArgs, path: &Path) -> Result<LmHandle> {
    let replay = ReplayLm::load(path).map_err(|e| anyhow::anyhow!("--replay {}: {e}", path.display()))?;
    let mut lm: Arc<dyn LanguageModel> = Arc::new(replay);
    if args.show_prompt {
        lm = Arc::new(PromptPrinter { inner: lm });
    }
    Ok(LmHandle {
        lm,
        cache: None,
        stats: Arc::new(LmStats::default()),
        info: LmInfo {
            name: format!("replay of {}", path.display()),
            base_url: String::new(),
            local: false,
            model_sha256: None,
            cache: None,
        },
        concurrency: args.concurrency.unwrap_or(promptsmith_lm::openai::DEFAULT_CONCURRENCY),
        pricing: Arc::new(LmConfig::default()),
        server: None,
    })
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

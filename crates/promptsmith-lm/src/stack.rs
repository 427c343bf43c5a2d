//! The LM stack of one command or job: the task model and the model of every role, built
//! once from merged settings. Precedence: explicit [`LmSettings`] (the CLI's flags, which
//! clap already merges with their environment variables) > `promptsmith.toml` > the local
//! llama-server, started when no endpoint is configured.
//!
//! Each role's client is wrapped in the response cache (one SQLite file, a namespace per
//! model), shares one [`LmStats`] and, for the task model, the call history; `--record` and
//! `--replay` cassettes wrap the task model.

use crate::history::HistoryConfig;
use crate::local::{cache_dir, LocalError, LocalServer, ModelId, ServerOptions};
use crate::{CachedLm, LmConfig, LmRole, LmRoles, LmStats, OpenAiClient, RecordingLm, ReplayLm};
use promptsmith_core::{ErrorKind, HasKind, LanguageModel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the stack could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// `promptsmith.toml` (or `--config`) is unreadable or malformed.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A setting is malformed (an environment variable, a model id).
    #[error("{0}")]
    Setting(String),
    /// No endpoint is configured and the local server could not be used.
    #[error(
        "no LM endpoint is configured and the local model could not be used: {0}\n\
         install it with `promptsmith lm install` (or scripts/install-local-lm.sh), or point \
         --lm-base-url / PROMPTSMITH_LM_BASE_URL at an OpenAI-compatible server"
    )]
    Local(#[source] LocalError),
    /// A cassette, the response cache or the history file cannot be opened.
    #[error("{what}: {message}")]
    Open {
        /// What was being opened.
        what: String,
        /// Why it failed.
        message: String,
    },
}

impl HasKind for StackError {
    fn kind(&self) -> ErrorKind {
        match self {
            StackError::Config { .. } | StackError::Setting(_) => ErrorKind::InvalidInput,
            StackError::Local(_) => ErrorKind::Unavailable,
            StackError::Open { .. } => ErrorKind::Internal,
        }
    }
}

/// What the caller says about the model, before the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct LmSettings {
    /// OpenAI-compatible base URL (default: the config file's, else the local server).
    pub base_url: Option<String>,
    /// Model name sent to the endpoint.
    pub model: Option<String>,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Local model served when no endpoint is configured.
    pub local_model: ModelId,
    /// Port of the local llama-server.
    pub local_port: u16,
    /// No response cache.
    pub no_cache: bool,
    /// Response cache file (default `<cache dir>/lm-cache.sqlite`).
    pub cache_path: Option<PathBuf>,
    /// Most concurrent calls (default: the server's slots, else 8).
    pub concurrency: Option<usize>,
    /// Append every task-model call to this cassette.
    pub record: Option<PathBuf>,
    /// Answer only from this cassette.
    pub replay: Option<PathBuf>,
}

impl Default for LmSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            model: None,
            api_key_env: None,
            local_model: ModelId::default(),
            local_port: crate::config::DEFAULT_LOCAL_PORT,
            no_cache: false,
            cache_path: None,
            concurrency: None,
            record: None,
            replay: None,
        }
    }
}

/// `promptsmith.toml`, parsed once: `[lm]` is the task model; `[teacher]`, `[proposer]` and
/// `[judge]` override only the fields they name; `[history]` says where the call history goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    /// Model per role.
    pub roles: LmRoles,
    /// Whether `[lm]` names a `base_url` (otherwise the local server is used).
    pub base_url_set: bool,
    /// The call history settings: the caller's defaults overlaid by `[history]`.
    pub history: HistoryConfig,
    /// The file read, if any.
    pub path: Option<PathBuf>,
}

impl ConfigFile {
    /// Reads `path`, or `./promptsmith.toml` when `path` is `None` and that file exists.
    /// `history` is the default the `[history]` table overlays (the CLI's is on, a server's off).
    pub fn load(path: Option<&Path>, history: HistoryConfig) -> Result<Self, StackError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from("promptsmith.toml");
                if !p.is_file() {
                    return Ok(Self { roles: LmRoles::default(), base_url_set: false, history, path: None });
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| StackError::Config { path: path.clone(), message: format!("cannot read it: {e}") })?;
        Self::parse(&text, &path, history)
    }

    /// Parses the text of a config file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path, history: HistoryConfig) -> Result<Self, StackError> {
        let err = |e: &dyn std::fmt::Display| StackError::Config {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        };
        let mut raw: toml::Table = toml::from_str(text).map_err(|e| err(&e))?;
        let known = ["lm", "teacher", "proposer", "judge", "history"];
        if let Some(unknown) = raw.keys().find(|k| !known.contains(&k.as_str())) {
            let expected = known.map(|k| format!("[{k}]")).join(", ");
            return Err(err(&format!("unknown table [{unknown}] (expected {expected})")));
        }
        let base_url_set = raw.get("lm").and_then(|l| l.get("base_url")).is_some();
        let history = match raw.remove("history") {
            None => history,
            Some(toml::Value::Table(mut table)) => {
                table.entry("enabled").or_insert(toml::Value::Boolean(history.enabled));
                toml::Value::Table(table).try_into().map_err(|e| err(&format!("[history]: {e}")))?
            }
            Some(_) => return Err(err(&"[history] must be a table")),
        };
        // LmRoles reads the task model from `task`.
        if let Some(lm) = raw.remove("lm") {
            raw.insert("task".into(), lm);
        }
        let roles: LmRoles = toml::Value::Table(raw).try_into().map_err(|e| err(&e))?;
        Ok(Self { roles, base_url_set, history, path: Some(path.to_path_buf()) })
    }

    /// The history settings after the `PROMPTSMITH_HISTORY*` variables, with the file defaulting
    /// to `<cache dir>/history.jsonl`.
    pub fn history_with_env(&self) -> Result<HistoryConfig, StackError> {
        let mut history = self.history.clone();
        history.apply_env().map_err(|e| StackError::Setting(e.0))?;
        if history.path.is_none() {
            history.path = cache_dir().ok().map(|d| d.join("history.jsonl"));
        }
        Ok(history)
    }
}

/// Everything about the task model a run used, for its manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmInfo {
    /// Model name.
    pub name: String,
    /// Endpoint.
    pub base_url: String,
    /// Whether the endpoint is on this machine.
    pub local: bool,
    /// SHA-256 of the local model file, when known.
    pub model_sha256: Option<String>,
    /// The response cache file, when one is used.
    pub cache: Option<String>,
}

/// The models of a command or job, and what owns them.
pub struct LmStack {
    task: Arc<dyn LanguageModel>,
    roles: BTreeMap<LmRole, Arc<dyn LanguageModel>>,
    caches: Vec<Arc<CachedLm<Arc<OpenAiClient>>>>,
    /// Call statistics of every role.
    pub stats: Arc<LmStats>,
    /// Calls, tokens and cost by role (of the models `task()` and `role()` hand out).
    pub role_stats: BTreeMap<LmRole, Arc<LmStats>>,
    /// The task model, for the manifest.
    pub info: LmInfo,
    /// Most concurrent calls.
    pub concurrency: usize,
    /// The task model's config (prices for cost estimates).
    pub pricing: Arc<LmConfig>,
    /// The config file the stack was built from.
    pub file: ConfigFile,
    server: Option<LocalServer>,
}

/// Empty statistics for every role.
fn role_stats() -> BTreeMap<LmRole, Arc<LmStats>> {
    LmRole::ALL.into_iter().map(|r| (r, Arc::new(LmStats::default()))).collect()
}

impl std::fmt::Debug for LmStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmStack").field("info", &self.info).field("concurrency", &self.concurrency).finish()
    }
}

impl LmStack {
    /// Builds the task model and each role's model. Starts the local server when no endpoint
    /// is configured ([`LmStack::started_server`] says whether this call started one).
    pub async fn build(settings: &LmSettings, file: ConfigFile) -> Result<Self, StackError> {
        if let Some(path) = &settings.replay {
            return Self::replay(settings, file, path);
        }
        let mut config = file.roles.task.clone();
        let configured = settings.base_url.is_some() || file.base_url_set;
        let mut server = None;
        let mut model_sha256 = None;
        if let Some(url) = &settings.base_url {
            config.base_url = url.clone();
        }
        if !configured {
            let opts =
                ServerOptions { model: settings.local_model, port: settings.local_port, ..ServerOptions::default() };
            let s = LocalServer::connect_or_start(&opts).await.map_err(StackError::Local)?;
            let local = s.lm_config();
            config.base_url = local.base_url;
            config.model = local.model;
            config.check_context = local.check_context;
            model_sha256 = s.sha256().map(str::to_string);
            server = Some(s);
        }
        if let Some(m) = &settings.model {
            config.model = m.clone();
        }
        if let Some(k) = &settings.api_key_env {
            config.api_key_env = k.clone();
        }
        if settings.concurrency.is_some() {
            config.concurrency = settings.concurrency;
        }
        let stats = Arc::new(LmStats::default());
        let history = file.history_with_env()?;
        let history = Arc::new(history.open(config.history_capacity).map_err(|e| StackError::Open {
            what: format!("call history {}", history.file().map(|p| p.display().to_string()).unwrap_or_default()),
            message: e.to_string(),
        })?);
        let client = Arc::new(
            OpenAiClient::new(config.clone())
                .map_err(|e| StackError::Setting(format!("LM client: {e}")))?
                .with_stats(stats.clone())
                .with_history(history.clone()),
        );
        let concurrency = client.concurrency().await;
        if config.is_local() && model_sha256.is_none() {
            model_sha256 = identify_local_model(&client, &mut config).await;
        }
        let info = LmInfo {
            name: config.model.clone(),
            base_url: config.base_url.clone(),
            local: config.is_local(),
            model_sha256,
            cache: None,
        };
        let mut stack = Self {
            task: client.clone(),
            roles: BTreeMap::new(),
            caches: Vec::new(),
            stats,
            role_stats: role_stats(),
            info,
            concurrency,
            pricing: Arc::new(config.clone()),
            file,
            server,
        };
        if !settings.no_cache {
            let path = cache_path(settings)?;
            let cache = stack.open_cache(client, &config, &path).await?.with_history(history);
            let cache = Arc::new(cache);
            stack.info.cache = Some(path.display().to_string());
            stack.task = cache.clone();
            stack.caches.push(cache);
        }
        if let Some(path) = &settings.record {
            let recorder = RecordingLm::create(stack.task.clone(), path)
                .map_err(|e| StackError::Open { what: format!("--record {}", path.display()), message: e.to_string() })?
                .with_namespace(config.model.clone());
            stack.task = Arc::new(recorder);
        }
        stack.build_roles(settings).await?;
        Ok(stack)
    }

    /// Clients for the roles that have their own table; the others play the task model.
    async fn build_roles(&mut self, settings: &LmSettings) -> Result<(), StackError> {
        for role in [LmRole::Teacher, LmRole::Proposer, LmRole::Judge] {
            let config = match role {
                LmRole::Teacher => self.file.roles.teacher.clone(),
                LmRole::Proposer => self.file.roles.proposer.clone(),
                _ => self.file.roles.judge.clone(),
            };
            let Some(config) = config else { continue };
            let client = Arc::new(
                OpenAiClient::new(config.clone())
                    .map_err(|e| StackError::Setting(format!("{} model: {e}", role.as_str())))?
                    .with_stats(self.stats.clone()),
            );
            let lm: Arc<dyn LanguageModel> = if settings.no_cache {
                client
            } else {
                let cache = Arc::new(self.open_cache(client, &config, &cache_path(settings)?).await?);
                self.caches.push(cache.clone());
                cache
            };
            self.roles.insert(role, lm);
        }
        Ok(())
    }

    async fn open_cache(
        &self,
        client: Arc<OpenAiClient>,
        config: &LmConfig,
        path: &Path,
    ) -> Result<CachedLm<Arc<OpenAiClient>>, StackError> {
        let open_err =
            |message: String| StackError::Open { what: format!("response cache {}", path.display()), message };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        Ok(CachedLm::open(client, path)
            .await
            .map_err(|e| open_err(e.to_string()))?
            .with_namespace(config.cache_namespace())
            .with_stats(self.stats.clone()))
    }

    /// A stack answering only from a cassette (`--replay`): every role plays it.
    fn replay(settings: &LmSettings, file: ConfigFile, path: &Path) -> Result<Self, StackError> {
        let replay = ReplayLm::load(path)
            .map_err(|e| StackError::Open { what: format!("--replay {}", path.display()), message: e.to_string() })?;
        Ok(Self {
            task: Arc::new(replay),
            roles: BTreeMap::new(),
            caches: Vec::new(),
            stats: Arc::new(LmStats::default()),
            role_stats: role_stats(),
            info: LmInfo {
                name: format!("replay of {}", path.display()),
                base_url: String::new(),
                local: false,
                model_sha256: None,
                cache: None,
            },
            concurrency: settings.concurrency.unwrap_or(crate::openai::DEFAULT_CONCURRENCY),
            pricing: Arc::new(LmConfig::default()),
            file,
            server: None,
        })
    }

    /// A stack over models the caller made (a scripted model in tests, an injected client): no
    /// cache, no server, no config file; roles not given play the task model.
    pub fn from_models(
        task: Arc<dyn LanguageModel>,
        roles: impl IntoIterator<Item = (LmRole, Arc<dyn LanguageModel>)>,
        concurrency: usize,
    ) -> Self {
        let info =
            LmInfo { name: task.model_name(), base_url: String::new(), local: false, model_sha256: None, cache: None };
        Self {
            task,
            roles: roles.into_iter().filter(|(r, _)| *r != LmRole::Task).collect(),
            caches: Vec::new(),
            stats: Arc::new(LmStats::default()),
            role_stats: role_stats(),
            info,
            concurrency: concurrency.max(1),
            pricing: Arc::new(LmConfig::default()),
            file: ConfigFile {
                roles: LmRoles::default(),
                base_url_set: false,
                history: HistoryConfig::default(),
                path: None,
            },
            server: None,
        }
    }

    /// The task model.
    pub fn task(&self) -> Arc<dyn LanguageModel> {
        self.metered(LmRole::Task, self.task.clone())
    }

    /// The model playing `role`: its own, else the task model.
    pub fn role(&self, role: LmRole) -> Arc<dyn LanguageModel> {
        self.metered(role, self.roles.get(&role).cloned().unwrap_or_else(|| self.task.clone()))
    }

    /// `lm` counted into `role`'s statistics.
    fn metered(&self, role: LmRole, lm: Arc<dyn LanguageModel>) -> Arc<dyn LanguageModel> {
        match self.role_stats.get(&role) {
            Some(stats) => Arc::new(crate::metered::MeteredLm::new(lm, stats.clone())),
            None => lm,
        }
    }

    /// Wraps the task model (e.g. in a prompt printer); roles that play the task model see the wrapper.
    pub fn wrap_task(&mut self, wrap: impl FnOnce(Arc<dyn LanguageModel>) -> Arc<dyn LanguageModel>) {
        self.task = wrap(self.task.clone());
    }

    /// The local server this stack started (not one it found running): its model and URL.
    pub fn started_server(&self) -> Option<(ModelId, String)> {
        self.server.as_ref().filter(|s| s.is_owned()).map(|s| (s.model(), s.base_url()))
    }

    /// Closes the caches and stops a local server this stack started.
    pub async fn shutdown(mut self) {
        for cache in &self.caches {
            cache.close().await;
        }
        if let Some(s) = self.server.take() {
            if s.is_owned() {
                let _ = s.stop().await;
            }
        }
    }
}

/// The response cache file: the setting, else `<cache dir>/lm-cache.sqlite`.
fn cache_path(settings: &LmSettings) -> Result<PathBuf, StackError> {
    match &settings.cache_path {
        Some(p) => Ok(p.clone()),
        None => Ok(cache_dir()
            .map_err(|e| {
                StackError::Setting(format!("{e} (the response cache lives there; --no-cache to go without)"))
            })?
            .join("lm-cache.sqlite")),
    }
}

/// A local server started elsewhere: its model file's hash for the manifest, and its file name
/// as the model name when none was given.
async fn identify_local_model(client: &OpenAiClient, config: &mut LmConfig) -> Option<String> {
    let path = client.server_props().await.ok()?.model_path.clone()?;
    if config.model == LmConfig::default().model {
        if let Some(name) = Path::new(&path).file_name() {
            config.model = name.to_string_lossy().into_owned();
        }
    }
    crate::local::model_sha256(Path::new(&path)).await.ok().flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roles_override_only_what_they_name_and_history_overlays_the_default() {
        let text = "[lm]\nbase_url = \"http://x\"\nmodel = \"m\"\n[judge]\nmodel = \"big\"\n[history]\nkeep = 3\n";
        let on = HistoryConfig { enabled: true, ..HistoryConfig::default() };
        let file = ConfigFile::parse(text, Path::new("p.toml"), on).unwrap();
        assert!(file.base_url_set);
        assert_eq!(file.roles.get(LmRole::Judge).model, "big");
        assert_eq!(file.roles.get(LmRole::Teacher).model, "m");
        assert!(file.history.enabled, "the default stays on when [history] does not say");
        assert_eq!(file.history.keep, 3);
        let off = ConfigFile::parse("[history]\nkeep = 2\n", Path::new("p.toml"), HistoryConfig::default()).unwrap();
        assert!(!off.history.enabled, "a library default (off) stays off");
    }

    #[test]
    fn config_errors_name_the_file_and_the_table() {
        let err = ConfigFile::parse("[lmm]\n", Path::new("p.toml"), HistoryConfig::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().starts_with("p.toml: unknown table [lmm]"), "{err}");
        let err = ConfigFile::parse("[history]\nmax_bytes = \"lots\"\n", Path::new("p.toml"), HistoryConfig::default())
            .unwrap_err();
        assert!(err.to_string().contains("[history]"), "{err}");
    }

    #[tokio::test]
    async fn a_configured_endpoint_needs_no_server_and_roles_fall_back_to_the_task_model() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            "[lm]\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\nconcurrency = 3\n[proposer]\nmodel = \"p\"\n";
        let file = ConfigFile::parse(text, Path::new("p.toml"), HistoryConfig::default()).unwrap();
        let settings = LmSettings { cache_path: Some(dir.path().join("c.sqlite")), ..LmSettings::default() };
        let stack = LmStack::build(&settings, file).await.unwrap();
        assert_eq!(stack.concurrency, 3);
        assert_eq!(stack.info.name, "m");
        assert_eq!(stack.role(LmRole::Teacher).model_name(), stack.task().model_name());
        assert_eq!(stack.role(LmRole::Proposer).model_name(), "p");
        stack.shutdown().await;
    }
}

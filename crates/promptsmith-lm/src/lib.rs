//! `LanguageModel` implementations for promptsmith.
//!
//! - [`OpenAiClient`]: OpenAI-compatible HTTP client with retries, limits, history, stats.
//! - [`CachedLm`]: response cache (memory front + SQLite file) around any model.
//! - [`RecordingLm`] / [`ReplayLm`]: JSONL cassettes for deterministic re-runs.
//! - [`ScriptedLm`]: canned answers for unit tests.
//! - [`LocalServer`]: starts/stops a local llama-server.
//! - [`LmRoles`]: per-role model configs (task, teacher, proposer, judge).

pub mod cache;
pub mod config;
pub mod history;
mod http_error;
pub mod key;
pub mod limits;
pub mod local;
pub mod metered;
pub mod openai;
pub mod replay;
pub mod roles;
pub mod scripted;
pub mod stack;
pub mod stats;

pub use cache::{CacheStats, CachedLm};
pub use config::LmConfig;
pub use history::{CallHistory, CallRecord, HistoryConfig};
pub use key::RequestKey;
pub use local::{LocalError, LocalServer, ModelId, ServerOptions};
pub use openai::{OpenAiClient, ServerProps};
pub use replay::{RecordingLm, ReplayLm};
pub use roles::{LmRole, LmRoles};
pub use scripted::ScriptedLm;
pub use stack::{ConfigFile, LmInfo, LmSettings, LmStack, StackError};
pub use stats::{LmStats, StatsSnapshot};

pub use promptsmith_core::lm::{ChatRequest, ChatResponse, LanguageModel, LmError};

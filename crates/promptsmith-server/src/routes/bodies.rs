//! The response bodies the handlers write, as types, so `/openapi.json` describes exactly what
//! is sent (each derives its schema from the same fields it serializes).

use promptsmith_app::jobs::JobView;
use promptsmith_store::{AliasMove, AuditEntry, DatasetInfo, ProgramSummary, ProgramVersion};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Every error: `{"error": {"kind", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub(crate) error: ErrorDetail,
}

/// The kind and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// `invalid_input`, `not_found`, `unauthorized`, `rate_limited`, …
    pub(crate) kind: String,
    /// Which field, file or id, and what was expected.
    pub(crate) message: String,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    /// Always `ok`.
    pub(super) status: String,
}

/// `GET /ready`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Ready {
    /// `ready`.
    pub(super) status: String,
    /// The database (without its password).
    pub(super) database: String,
    /// Jobs waiting for a worker.
    pub(super) queued_jobs: i64,
}

/// A queued job: the job, the plan it was checked against and when it should finish.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Submitted {
    /// The job.
    #[serde(flatten)]
    pub(super) job: JobView,
    /// The planned calls per phase, as `--dry-run` prints them.
    pub(super) plan: Value,
    /// When it should finish (RFC 3339), from the call rate of recent jobs; none without history.
    pub(super) estimated_completion: Option<String>,
}

/// One Server-Sent Event of `GET /v1/optimizations/{id}/events`, as a client parses it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StreamEvent {
    /// The message's sequence number (send it back as `Last-Event-ID`); none on a read error.
    pub(super) id: Option<String>,
    /// The message type: queued, started, progress, trial, result, error, cancelled, …
    pub(super) event: String,
    /// The message as JSON text: `{type, id, seq, timestamp, data: {progress,
    /// current_iteration, best_score, algorithm, …}}`.
    pub(super) data: String,
}

/// `GET /v1/optimizers`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OptimizerList {
    /// Every optimizer.
    pub(super) optimizers: Vec<OptimizerInfo>,
}

/// One optimizer and its settings.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OptimizerInfo {
    /// Its `name` in a request's `optimizer`.
    pub(super) name: String,
    /// What it does.
    pub(super) description: String,
    /// Its settings with their defaults.
    pub(super) parameters: Vec<ParameterInfo>,
}

/// One setting.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ParameterInfo {
    /// The field name.
    pub(super) name: String,
    /// boolean, integer, number, string, array, object or optional (no default).
    #[serde(rename = "type")]
    pub(super) kind: String,
    /// The default a request without it gets.
    pub(super) default: Value,
}

/// A started experiment and where to watch it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StartedExperiment {
    /// Its status.
    #[serde(flatten)]
    pub(super) experiment: promptsmith_app::experiments::ExperimentView,
    /// `GET` it for the live statistics and decision.
    pub(super) monitoring_url: String,
}

/// `GET /v1/experiments`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ExperimentList {
    /// Newest first.
    pub(super) experiments: Vec<promptsmith_app::experiments::ExperimentView>,
}

/// `GET /v1/rollouts`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RolloutList {
    /// Newest first.
    pub(super) rollouts: Vec<promptsmith_app::rollout::RolloutView>,
}

/// `GET /v1/webhooks`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookList {
    /// Oldest first (no secrets).
    pub(super) webhooks: Vec<promptsmith_app::webhooks::WebhookView>,
}

/// `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeliveryList {
    /// Newest first.
    pub(super) deliveries: Vec<promptsmith_app::webhooks::DeliveryView>,
}

/// `GET /v1/programs/{name}/timeline`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Timeline {
    /// Newest first.
    pub(super) entries: Vec<promptsmith_app::policy::TimelineView>,
}

/// `GET /v1/audit`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditLog {
    /// Newest first.
    pub(super) entries: Vec<AuditEntry>,
}

/// `GET /v1/datasets`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DatasetList {
    /// Newest first.
    pub(super) datasets: Vec<DatasetInfo>,
}

/// `GET /v1/programs`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProgramList {
    /// The tenant's programs.
    pub(super) programs: Vec<ProgramSummary>,
}

/// `GET /v1/programs/{name}/versions`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VersionList {
    /// Oldest first.
    pub(super) versions: Vec<ProgramVersion>,
}

/// `GET /v1/programs/{name}/aliases`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AliasLog {
    /// Every alias move, oldest first.
    pub(super) moves: Vec<AliasMove>,
}

/// An alias moved (set, activate, rollback).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AliasMoved {
    /// The program.
    pub(super) program: String,
    /// The alias.
    pub(super) alias: String,
    /// The version it points at now.
    pub(super) version: i64,
    /// The version it pointed at before (none: it is new). Not reported by rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) previous: Option<i64>,
}

/// The gateway's answer, in the chat-completions shape.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChatCompletion {
    /// `chatcmpl-<prediction id>`.
    pub(super) id: String,
    /// `chat.completion`.
    pub(super) object: String,
    /// Unix seconds.
    pub(super) created: i64,
    /// The model as requested.
    pub(super) model: String,
    /// One choice.
    pub(super) choices: Vec<ChatChoice>,
    /// Tokens.
    pub(super) usage: ChatUsage,
    /// The prediction behind it.
    pub(super) promptsmith: GatewayPrediction,
}

/// The one choice.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChatChoice {
    /// 0.
    pub(super) index: u32,
    /// The assistant's message.
    pub(super) message: ChatReply,
    /// `stop`.
    pub(super) finish_reason: String,
}

/// The assistant's message.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChatReply {
    /// `assistant`.
    pub(super) role: String,
    /// The output (a single output as text, several as a JSON object's text).
    pub(super) content: String,
}

/// Tokens of the call.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChatUsage {
    /// Prompt tokens.
    pub(super) prompt_tokens: u64,
    /// Completion tokens.
    pub(super) completion_tokens: u64,
    /// Both.
    pub(super) total_tokens: u64,
}

/// The stored prediction of a gateway call.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct GatewayPrediction {
    /// For feedback.
    pub(super) prediction_id: i64,
    /// The version that answered.
    pub(super) version: i64,
    /// The program's outputs.
    pub(super) outputs: Map<String, Value>,
}

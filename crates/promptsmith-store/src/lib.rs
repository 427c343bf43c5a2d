//! promptsmith-store: everything the engine produces, kept, queryable and recoverable.
//!
//! One [`Store`] over an SQLite file (the default, `./promptsmith.db`, WAL journal) or a
//! PostgreSQL database (`postgres://…`), with sqlx migrations. The same SQL runs on both.
//!
//! - [`evaluations`]: every prediction with score, metric breakdown, judge reasoning, latency,
//!   tokens, cost and metadata; batched inserts; queries by program, version, time and score;
//!   per-version statistics.
//! - [`feedback`]: the human review queue, ratings, corrections, labels; judge/human agreement;
//!   corrected outputs as training examples.
//! - [`registry`]: programs, immutable numbered versions, movable aliases with a logged history,
//!   rollback, `NAME@alias` references; [`diff`] between versions; [`promotion`]: auto-activation
//!   only for a significant gain beyond a margin.
//! - [`runs`]: runs, trials, candidate lineage, artifacts, JSON export.
//! - [`snapshots`]: performance history, trend and degradation detection.
//! - [`jobs`]: the service's durable job queue with leases, call journals and event logs;
//!   [`datasets`]: uploaded datasets; [`keys`]: API keys (hashed) and the audit log;
//!   [`experiments`]: A/B experiments and rollouts and their arms' totals; [`webhooks`]:
//!   registered webhooks and the outbox of their deliveries; [`policies`]: continuous-optimization
//!   policies and the timeline of their decisions.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod checkpoint;
pub mod crypto;
pub mod datasets;
pub mod db;
pub mod diff;
pub mod error;
pub mod evaluations;
pub mod events;
pub mod experiments;
pub mod feedback;
pub mod jobs;
pub mod keys;
pub mod policies;
pub mod promotion;
pub mod registry;
pub mod reseal;
pub mod runs;
pub mod snapshots;
pub mod webhooks;

pub use crypto::Keyring;
pub use datasets::{DatasetInfo, NewDataset};
pub use db::{DatabaseLocation, DbKind, Store, DATABASE_URL_ENV, DEFAULT_DATABASE_URL};
pub use diff::{diff_versions, VersionDiff};
pub use error::{Result, StoreError};
pub use evaluations::{EvalQuery, EvalSample, Evaluation, NewEvaluation, RecordOptions, VersionStats};
pub use events::RunEvent;
pub use experiments::{ArmTotals, Experiment, NewExperiment};
pub use feedback::{Feedback, FeedbackExample, FeedbackInput, FeedbackStats, FeedbackStatus, ReviewItem};
pub use jobs::{Job, JobCounts, JobEvent, JobQuery, JobStatus, NewJob};
pub use keys::{ApiKey, AuditEntry, Role};
pub use policies::{StoredPolicy, TimelineEntry};
pub use promotion::{decide_promotion, PromotionDecision, PromotionPolicy, RegistrationOutcome};
pub use registry::{
    AliasAction, AliasMove, NewVersion, ProgramRef, ProgramSummary, ProgramVersion, VersionSelector, CANDIDATE,
    PRODUCTION,
};
pub use reseal::ResealCount;
pub use runs::{Artifact, NewRun, RoleUsage, Run, RunEnd, RunStatus, Trial};
pub use snapshots::{trend, DegradationPolicy, DegradationReport, DegradationVerdict, PerfSnapshot, Trend};
pub use webhooks::{AttemptResult, Delivery, Webhook};

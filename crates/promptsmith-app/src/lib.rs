//! promptsmith's application layer: the jobs a user runs (optimize, eval, compare, register,
//! record), as typed requests and outcomes. The CLI parses flags into these requests and prints
//! the outcomes; the HTTP service deserializes the same requests and serializes the outcomes.
//! Neither holds logic of its own.
//!
//! Errors are [`AppError`]s with an [`ErrorKind`](promptsmith_core::ErrorKind), which the CLI
//! maps to exit codes and the server to HTTP statuses, each in one place.

pub mod compare;
pub mod data;
pub mod datasets;
pub mod error;
pub mod eval;
pub mod events;
pub mod experiments;
pub mod health;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod metric;
pub mod monitor;
pub mod optimize;
pub mod policy;
pub mod predict;
pub mod program;
pub mod rollout;
pub mod rundir;
pub mod supervisor;
pub mod synthesize;
pub mod tenant;
pub mod webhooks;

pub use compare::{CompareRequest, CompareService};
pub use data::DataRequest;
pub use error::{AppError, Result};
pub use eval::{EvalRequest, EvalService};
pub use optimize::{OptimizeRequest, OptimizeService, OptimizerSpec};
pub use program::{ProgramSource, StoreTarget};
pub use tenant::Tenant;

/// Who is acting, for the registry's alias log and feedback: `given`, else `$USER`, else `cli`.
pub fn actor(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "cli".into())
}

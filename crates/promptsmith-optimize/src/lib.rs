//! promptsmith-optimize: the shared optimizer engine and the optimizers that run on it.
//!
//! The engine (budget, rollout cache, concurrency, events, checkpoints, seed) and the optimizers
//! (bootstrap, MIPROv2, ...) will live here. For now the crate holds their search component:
//!
//! - [`tpe`]: a Tree-structured Parzen Estimator with an ask/tell interface, faithful to Optuna's
//!   `TPESampler` (the sampler MIPROv2 uses), deterministic from a seed and serializable so that an
//!   optimization can checkpoint after every trial and resume.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod tpe;

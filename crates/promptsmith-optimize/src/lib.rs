//! promptsmith-optimize: the shared optimizer engine and the optimizers that run on it.
//!
//! - [`engine`]: the shared [`Engine`]: role models metered by the [`budget`] and
//!   answered from the [`journal`] on resume, bounded concurrency, the rollout cache, seeded
//!   random streams, [`events`] and [`checkpoint`]s.
//! - [`optimizers`]: LabeledFewShot, BootstrapFewShot, BootstrapFewShotWithRandomSearch, COPRO,
//!   MIPROv2, GEPA and an evolutionary search, as strategies over the engine; [`run`] drives one
//!   end to end and reports.
//! - [`pareto`]: objectives besides the metric (tokens, latency, cost, prompt length),
//!   non-dominated sorting, crowding distance, hypervolume and the front a run keeps;
//!   [`objectives`] wraps any optimizer so that its result is picked from that front;
//!   [`ensemble`] wraps any optimizer so that its result may be a majority-vote ensemble of
//!   its best candidates.
//! - [`tpe`]: a Tree-structured Parzen Estimator with an ask/tell interface, faithful to Optuna's
//!   `TPESampler` (the sampler MIPROv2 uses), deterministic from a seed and serializable so that an
//!   optimization can checkpoint after every trial and resume.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod budget;
pub mod checkpoint;
pub mod engine;
pub mod ensemble;
pub mod error;
pub mod events;
pub mod journal;
pub mod objectives;
pub mod optimizers;
pub mod pareto;
pub mod run;
pub mod tpe;

pub use engine::{Engine, EngineConfig, RoleModels, Stop};
pub use error::{OptimizeError, Result};
pub use optimizers::{OptimizeTask, Optimizer};

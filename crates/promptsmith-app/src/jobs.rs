//! Service jobs: [`JobRequest`] (an optimization without local files), [`JobService`]
//! (submit, read, list, cancel, events) and [`Worker`] (claims and runs jobs with leases, a
//! journal in the database and live progress). `promptsmith serve`, `promptsmith worker` and
//! the HTTP routes all call these.

mod checkpoint;
mod progress;
mod request;
mod service;
mod worker;

pub use checkpoint::StoreCheckpoint;
pub use progress::{JobProgress, Progress};
pub use request::{AlgorithmInput, DatasetInput, JobRequest, ProgramInput, DEFAULT_ALGORITHMS};
pub use service::{view, JobPage, JobService, JobView, QueueLimits};
pub use worker::{Worker, WorkerConfig};

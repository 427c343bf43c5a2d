//! Optimization jobs: the request, the splits, the service, registration and recording.

pub mod family;
mod record;
mod request;
mod service;
mod splits;
mod warm;

pub use record::{RecordedRun, Registration};
pub use request::{
    BootstrapSpec, CoproSpec, EnsembleRequest, EvolutionarySpec, GepaSpec, MiproSpec, OptimizeRequest, OptimizerSpec,
    RegisterRequest, SplitRequest,
};
pub use service::{DryRun, OptimizeOutcome, OptimizeService, Prepared, RunContext, CONFIG_FILE, REJECTED_STATE_FILE};
pub use splits::Splits;

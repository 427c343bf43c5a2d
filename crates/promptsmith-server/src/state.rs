//! What every handler shares: the store, the application services, the models, and the
//! server's settings.

use crate::audit::AuditLog;
use crate::limit::RateLimiter;
use promptsmith_app::experiments::ExperimentService;
use promptsmith_app::jobs::JobService;
use promptsmith_app::policy::PolicyService;
use promptsmith_app::predict::PredictService;
use promptsmith_app::rollout::RolloutService;
use promptsmith_app::webhooks::WebhookService;
use promptsmith_lm::LmStack;
use promptsmith_store::Store;
use std::sync::Arc;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Every endpoint but `/health` needs a key.
    pub require_auth: bool,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Requests per second per key (0: no limit), with bursts of twice that.
    pub rate_limit_per_s: f64,
    /// How often an SSE stream looks for new events.
    pub sse_poll: std::time::Duration,
    /// How often experiments are decided and rollouts advanced (zero: never, for tests that
    /// drive [`promptsmith_app::supervisor::Supervisor::tick`] themselves).
    pub monitor_interval: std::time::Duration,
    /// How often the webhook sender looks for due deliveries (zero: no sender).
    pub webhook_poll: std::time::Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            require_auth: false,
            max_body_bytes: 16 << 20,
            rate_limit_per_s: 0.0,
            sse_poll: std::time::Duration::from_millis(200),
            monitor_interval: std::time::Duration::from_secs(60),
            webhook_poll: std::time::Duration::from_secs(1),
        }
    }
}

/// The handlers' shared state: one allocation shared by every request (axum clones the state
/// for each extractor, so cloning must be a reference count, not a copy of every service).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Services {
    /// The store.
    pub store: Store,
    /// Optimization jobs.
    pub jobs: JobService,
    /// Predictions and feedback.
    pub predict: PredictService,
    /// A/B experiments.
    pub experiments: ExperimentService,
    /// Gradual rollouts.
    pub rollouts: RolloutService,
    /// Webhooks.
    pub webhooks: WebhookService,
    /// Continuous-optimization policies.
    pub policies: PolicyService,
    /// The models.
    pub lm: Arc<LmStack>,
    /// Settings.
    pub settings: Arc<ServerSettings>,
    /// Per-key request limits.
    pub limiter: RateLimiter,
    /// The audit log writer.
    pub audit: AuditLog,
}

impl AppState {
    /// State over `store`, `jobs` and `lm` with `settings`.
    pub fn new(store: Store, jobs: JobService, lm: Arc<LmStack>, settings: ServerSettings) -> Self {
        Self(Arc::new(Services {
            predict: PredictService::new(store.clone()),
            experiments: ExperimentService::new(store.clone()),
            rollouts: RolloutService::new(store.clone()),
            webhooks: WebhookService::new(store.clone()),
            policies: PolicyService::new(store.clone()),
            audit: AuditLog::start(store.clone()),
            limiter: RateLimiter::new(settings.rate_limit_per_s),
            store,
            jobs,
            lm,
            settings: Arc::new(settings),
        }))
    }
}

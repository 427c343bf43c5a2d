//! The engine every optimizer runs on: role models wrapped with the budget meter and the call
//! journal, a global concurrency bound, the rollout cache, seeded random streams, events and
//! trial checkpoints.

use crate::budget::{Budget, Meter, Spend};
use crate::checkpoint::Checkpoint;
use crate::ensemble::TopCandidates;
use crate::error::{OptimizeError, Result};
use crate::events::{Event, EventSink, TrialKind, TrialRecord};
use crate::journal::{Journal, JournalEntry};
use crate::pareto::{Archive, FrontPoint, Selection};
use async_trait::async_trait;
use promptsmith_core::{
    ChatRequest, ChatResponse, Example, LanguageModel, LmError, Program, ProgramState, TraceStep, Usage,
};
use promptsmith_eval::{Evaluator, Metric};
use promptsmith_lm::{LmRole, RequestKey};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Settings of a run that do not depend on the optimizer.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most LM calls in flight at once, across everything the optimizer does.
    pub concurrency: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Spending caps.
    pub budget: Budget,
    /// Score of an example whose program run failed.
    pub failure_score: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { concurrency: 8, seed: 0, budget: Budget::default(), failure_score: 0.0 }
    }
}

/// The models a run uses, by role (unset roles use the task model).
#[derive(Clone)]
pub struct RoleModels {
    /// The program's model.
    pub task: Arc<dyn LanguageModel>,
    /// Teacher for bootstrapping.
    pub teacher: Option<Arc<dyn LanguageModel>>,
    /// Instruction proposer.
    pub proposer: Option<Arc<dyn LanguageModel>>,
    /// Judge inside the metric.
    pub judge: Option<Arc<dyn LanguageModel>>,
}

impl std::fmt::Debug for RoleModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |m: &Option<Arc<dyn LanguageModel>>| m.as_ref().map(|m| m.model_name());
        f.debug_struct("RoleModels")
            .field("task", &self.task.model_name())
            .field("teacher", &name(&self.teacher))
            .field("proposer", &name(&self.proposer))
            .field("judge", &name(&self.judge))
            .finish()
    }
}

impl RoleModels {
    /// Every role played by `task`.
    pub fn single(task: Arc<dyn LanguageModel>) -> Self {
        RoleModels { task, teacher: None, proposer: None, judge: None }
    }

    /// The model that plays `role` (the task model when the role is unset).
    pub fn for_role(&self, role: LmRole) -> &Arc<dyn LanguageModel> {
        let set = match role {
            LmRole::Task => None,
            LmRole::Teacher => self.teacher.as_ref(),
            LmRole::Proposer => self.proposer.as_ref(),
            LmRole::Judge => self.judge.as_ref(),
        };
        set.unwrap_or(&self.task)
    }
}

/// A role's model as the engine hands it out: admitted by the budget, answered from the
/// journal when the call was completed before, bounded by the run's concurrency, counted.
pub struct EngineLm {
    role: LmRole,
    inner: Arc<dyn LanguageModel>,
    namespace: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EngineLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLm").field("role", &self.role).field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

struct Shared {
    meter: Meter,
    journal: Journal,
    checkpoint: Arc<dyn Checkpoint>,
    permits: Semaphore,
    refused: AtomicU64,
    live_calls: AtomicU64,
    checkpoint_error: Mutex<Option<String>>,
    /// Live calls that failed in a row (any answer resets it).
    failures_in_a_row: AtomicU64,
    /// Failures in a row that mean the model is not answering at all.
    failure_limit: u64,
    /// Set once the model stopped answering: the run stops with this message.
    lm_failure: Mutex<Option<String>>,
}

impl Shared {
    fn lm_failure(&self) -> Option<String> {
        self.lm_failure.lock().ok().and_then(|f| f.clone())
    }
}

#[async_trait]
impl LanguageModel for EngineLm {
    async fn chat(&self, request: &ChatRequest) -> std::result::Result<ChatResponse, LmError> {
        let s = &self.shared;
        if let Some(failure) = s.lm_failure() {
            return Err(LmError::Other(failure));
        }
        if let Err(e) = s.meter.admit() {
            s.refused.fetch_add(1, Ordering::SeqCst);
            return Err(LmError::Other(e.to_string()));
        }
        let key = RequestKey::of(&self.namespace, request).to_hex();
        if let Some(resp) = s.journal.get(&key) {
            s.meter.record(self.role, resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.cost_usd);
            return Ok(resp);
        }
        // The permit is held until the answer is journaled, so a kill can lose at most
        // `concurrency` answered calls (those in flight), however the threads are scheduled.
        let _permit = s.permits.acquire().await.map_err(|e| LmError::Other(e.to_string()))?;
        s.live_calls.fetch_add(1, Ordering::SeqCst);
        let resp = match self.inner.chat(request).await {
            Ok(r) => r,
            Err(e) => {
                s.meter.record(self.role, 0, 0, None);
                if s.failures_in_a_row.fetch_add(1, Ordering::SeqCst) + 1 >= s.failure_limit {
                    if let Ok(mut slot) = s.lm_failure.lock() {
                        slot.get_or_insert_with(|| {
                            format!(
                                "the model stopped answering: {} calls in a row failed, the last with: {e}",
                                s.failure_limit
                            )
                        });
                    }
                }
                return Err(e);
            }
        };
        s.failures_in_a_row.store(0, Ordering::SeqCst);
        s.meter.record(self.role, resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.cost_usd);
        let entry = JournalEntry { key: key.clone(), role: self.role.as_str().to_string(), response: resp.clone() };
        if let Err(e) = s.checkpoint.append_call(&entry).await {
            // Keep going (the answer is good) but remember: the run can no longer resume exactly.
            if let Ok(mut slot) = s.checkpoint_error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }
        s.journal.insert(key, resp.clone());
        Ok(resp)
    }

    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

/// One example's outcome for one candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Score in `[0, 1]` (the failure score when the program failed).
    pub score: f64,
    /// Metric feedback or the failure message.
    pub feedback: Option<String>,
    /// Predicted fields, when the program succeeded.
    pub prediction: Option<Map<String, Value>>,
    /// Predictor calls (kept for bootstrapping).
    pub trace: Vec<TraceStep>,
    /// Whether the program failed on the example.
    pub failed: bool,
    /// Tokens the program spent.
    pub usage: Usage,
    /// LM calls the program made.
    pub lm_calls: u32,
    /// Time the program took, in milliseconds (a journaled call takes about none).
    pub latency_ms: u64,
    /// Cost of the program's calls at the configured price, when one is configured.
    pub cost_usd: Option<f64>,
}

/// Why an evaluation (and so a search) could not finish. In reports it is
/// `{"kind": "budget", "reason": "..."}`, `{"kind": "cancelled"}` or `{"kind": "lm_failed", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum Stop {
    /// A budget cap was reached.
    Budget(String),
    /// The run was cancelled.
    Cancelled,
    /// The model stopped answering (too many calls in a row failed).
    LmFailed(String),
}

impl Stop {
    /// Whether the run was cancelled (Ctrl-C, a job cancelled), not stopped by its budget.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Stop::Cancelled)
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Budget(r) => write!(f, "{r}"),
            Stop::Cancelled => write!(f, "cancelled"),
            Stop::LmFailed(m) => write!(f, "{m}"),
        }
    }
}

type RolloutKey = (String, String, u64);

/// Fewest live calls failing in a row that stop a run (at least twice the concurrency): each
/// failure has already been retried by the client, so this many means the model is gone.
pub const LM_FAILURE_LIMIT: u64 = 8;

/// The shared engine.
pub struct Engine {
    config: EngineConfig,
    shared: Arc<Shared>,
    task: Arc<EngineLm>,
    teacher: Arc<EngineLm>,
    proposer: Arc<EngineLm>,
    judge: Arc<EngineLm>,
    events: Arc<dyn EventSink>,
    cancel: CancellationToken,
    rollouts: Mutex<HashMap<RolloutKey, Rollout>>,
    trials: Mutex<Vec<TrialRecord>>,
    trial_counter: AtomicUsize,
    /// The Pareto front over the run's objectives, when it keeps one ([`Engine::keep_front`]).
    front: Mutex<Option<Archive>>,
    /// The best candidates scored on the validation set, when kept ([`Engine::keep_best`]).
    best: Mutex<Option<TopCandidates>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.config).field("spent", &self.spent()).finish()
    }
}

impl Engine {
    /// An engine over `models`, loading earlier progress from `checkpoint` (resume).
    #[allow(clippy::needless_pass_by_value)] // the caller hands its models over; clones are kept per role
    pub fn new(
        models: RoleModels,
        config: EngineConfig,
        checkpoint: Arc<dyn Checkpoint>,
        events: Arc<dyn EventSink>,
    ) -> Result<Self> {
        if config.concurrency == 0 {
            return Err(OptimizeError::config("concurrency must be at least 1"));
        }
        let journal = Journal::from_entries(checkpoint.load_journal()?);
        let shared = Arc::new(Shared {
            meter: Meter::new(config.budget),
            journal,
            checkpoint,
            permits: Semaphore::new(config.concurrency),
            refused: AtomicU64::new(0),
            live_calls: AtomicU64::new(0),
            checkpoint_error: Mutex::new(None),
            failures_in_a_row: AtomicU64::new(0),
            failure_limit: (2 * config.concurrency as u64).max(LM_FAILURE_LIMIT),
            lm_failure: Mutex::new(None),
        });
        let wrap = |role: LmRole, lm: &Arc<dyn LanguageModel>| {
            Arc::new(EngineLm {
                role,
                namespace: format!("{}:{}", role.as_str(), lm.model_name()),
                inner: lm.clone(),
                shared: shared.clone(),
            })
        };
        let wrap = |role: LmRole| wrap(role, models.for_role(role));
        let (task, teacher, proposer, judge) =
            (wrap(LmRole::Task), wrap(LmRole::Teacher), wrap(LmRole::Proposer), wrap(LmRole::Judge));
        Ok(Engine {
            config,
            shared,
            task,
            teacher,
            proposer,
            judge,
            events,
            cancel: CancellationToken::new(),
            rollouts: Mutex::new(HashMap::new()),
            trials: Mutex::new(Vec::new()),
            trial_counter: AtomicUsize::new(0),
            front: Mutex::new(None),
            best: Mutex::new(None),
        })
    }

    /// Stops the run at the next step when `token` fires.
    pub fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// The run settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The model for `role`, metered and journaled (build an LLM-judge metric with
    /// `engine.lm(LmRole::Judge)` so its calls count as the judge's).
    pub fn lm(&self, role: LmRole) -> Arc<dyn LanguageModel> {
        match role {
            LmRole::Task => self.task.clone(),
            LmRole::Teacher => self.teacher.clone(),
            LmRole::Proposer => self.proposer.clone(),
            LmRole::Judge => self.judge.clone(),
        }
    }

    /// Spending so far, by role (calls answered from the journal included).
    pub fn spent(&self) -> Spend {
        self.shared.meter.spent()
    }

    /// Calls this process actually sent to a model (not answered from the journal).
    pub fn live_calls(&self) -> u64 {
        self.shared.live_calls.load(Ordering::SeqCst)
    }

    /// Calls answered from the journal of an earlier attempt.
    pub fn journal_len(&self) -> usize {
        self.shared.journal.len()
    }

    /// A checkpoint write that failed (the run goes on but cannot resume exactly).
    pub fn checkpoint_error(&self) -> Option<String> {
        self.shared.checkpoint_error.lock().ok().and_then(|e| e.clone())
    }

    /// Why the run had to stop because the model stopped answering, if it did.
    pub fn lm_failure(&self) -> Option<String> {
        self.shared.lm_failure()
    }

    /// Seconds since the run started.
    pub fn elapsed_seconds(&self) -> f64 {
        self.shared.meter.elapsed_seconds()
    }

    /// A random stream for `purpose`, derived from the run seed (independent streams stay
    /// reproducible whatever order the optimizer draws them in).
    pub fn rng(&self, purpose: &str) -> ChaCha8Rng {
        let mut h = Sha256::new();
        h.update(self.config.seed.to_le_bytes());
        h.update(purpose.as_bytes());
        let digest = h.finalize();
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&digest);
        ChaCha8Rng::from_seed(seed)
    }

    /// Emits an event.
    #[allow(clippy::needless_pass_by_value)] // call sites build the event inline
    pub fn emit(&self, event: Event) {
        self.events.emit(&event);
    }

    /// Whether the run should stop now (cancelled or out of budget).
    pub fn should_stop(&self) -> Option<Stop> {
        if self.cancel.is_cancelled() {
            return Some(Stop::Cancelled);
        }
        if let Some(failure) = self.shared.lm_failure() {
            return Some(Stop::LmFailed(failure));
        }
        self.shared.meter.exhausted().map(Stop::Budget)
    }

    /// Runs `program` (identified by `candidate`) on `examples` with the role's model and
    /// scores each with `metric`; outcomes already computed for the same candidate, example and
    /// `rollout_id` come from the rollout cache. Fails with [`Stop`] when the budget refused a
    /// call or the run was cancelled (the partial outcomes are not cached).
    pub async fn evaluate(
        &self,
        program: &Program,
        candidate: &str,
        examples: &[Example],
        metric: &Arc<dyn Metric>,
        role: LmRole,
        rollout_id: u64,
    ) -> std::result::Result<Vec<Rollout>, Stop> {
        if let Some(stop) = self.should_stop() {
            return Err(stop);
        }
        let ids: Vec<String> = examples.iter().map(example_id).collect();
        let mut out: Vec<Option<Rollout>> = {
            let cache = self.rollouts.lock().map_err(|_| Stop::Cancelled)?;
            ids.iter().map(|id| cache.get(&(candidate.to_string(), id.clone(), rollout_id)).cloned()).collect()
        };
        let missing: Vec<usize> = (0..examples.len()).filter(|i| out[*i].is_none()).collect();
        if !missing.is_empty() {
            let todo: Vec<Example> = missing.iter().map(|i| examples[*i].clone()).collect();
            let refused_before = self.shared.refused.load(Ordering::SeqCst);
            let evaluator = Evaluator::new(metric.clone())
                .with_concurrency(self.config.concurrency)
                .with_failure_score(self.config.failure_score)
                .with_traces(true)
                .with_cancel(self.cancel.clone());
            let lm = self.lm(role);
            let report = if rollout_id == 0 {
                evaluator.evaluate(program, lm.as_ref(), &todo).await
            } else {
                let lm = RolloutLm { inner: lm, rollout_id };
                evaluator.evaluate(program, &lm, &todo).await
            };
            if report.stopped.is_some() || self.cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            if let Some(failure) = self.shared.lm_failure() {
                return Err(Stop::LmFailed(failure)); // the failed outcomes are not cached
            }
            if self.shared.refused.load(Ordering::SeqCst) > refused_before {
                return Err(Stop::Budget(self.shared.meter.exhausted().unwrap_or_else(|| "budget exhausted".into())));
            }
            let mut cache = self.rollouts.lock().map_err(|_| Stop::Cancelled)?;
            for (slot, r) in missing.iter().zip(report.results) {
                let rollout = Rollout {
                    score: r.score,
                    feedback: r.feedback,
                    failed: r.error.is_some(),
                    prediction: r.prediction,
                    trace: r.trace,
                    usage: r.usage,
                    lm_calls: r.lm_calls,
                    latency_ms: r.latency_ms,
                    cost_usd: r.cost_usd,
                };
                cache.insert((candidate.to_string(), ids[*slot].clone(), rollout_id), rollout.clone());
                out[*slot] = Some(rollout);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Records a finished trial: numbers it, logs it to the checkpoint, emits events.
    pub fn record_trial(
        &self,
        kind: TrialKind,
        candidate: &str,
        params: Value,
        score: f64,
        n: usize,
    ) -> Result<TrialRecord> {
        let number = self.trial_counter.fetch_add(1, Ordering::SeqCst) + 1;
        let record = TrialRecord {
            number,
            kind,
            candidate: candidate.to_string(),
            params,
            score,
            n,
            spent_calls: self.spent().total().calls,
        };
        self.shared.checkpoint.append_trial(&record)?;
        if let Ok(mut t) = self.trials.lock() {
            t.push(record.clone());
        }
        self.emit(Event::TrialFinished(record.clone()));
        self.emit(Event::Budget(self.spent()));
        Ok(record)
    }

    /// The next trial's number (for `TrialStarted` events).
    pub fn next_trial_number(&self) -> usize {
        self.trial_counter.load(Ordering::SeqCst) + 1
    }

    /// Every trial recorded so far.
    pub fn trials(&self) -> Vec<TrialRecord> {
        self.trials.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Drops the cached rollouts of `candidates`, freeing their memory (a long search does this
    /// for the candidates it discarded). Scoring one of them again runs it again, its calls
    /// answered from the journal (counted against the budget like any journaled call).
    pub fn forget_rollouts(&self, candidates: &std::collections::HashSet<String>) {
        if candidates.is_empty() {
            return;
        }
        if let Ok(mut cache) = self.rollouts.lock() {
            cache.retain(|(c, _, _), _| !candidates.contains(c));
        }
    }

    /// Rollouts in the cache (for memory reports).
    pub fn cached_rollouts(&self) -> usize {
        self.rollouts.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// From now on, keeps the Pareto front over `selection`'s objectives of every candidate a
    /// trial scores on the whole validation set (only the front is kept).
    pub fn keep_front(&self, selection: Selection) {
        if let Ok(mut f) = self.front.lock() {
            *f = Some(Archive::new(selection));
        }
    }

    /// Whether a front is kept.
    pub fn keeps_front(&self) -> bool {
        self.front.lock().is_ok_and(|f| f.is_some())
    }

    /// Offers a candidate scored on the whole validation set to the front, when one is kept.
    pub fn offer_to_front(&self, point: FrontPoint) {
        if let Ok(mut f) = self.front.lock() {
            if let Some(archive) = f.as_mut() {
                archive.offer(point);
            }
        }
    }

    /// The front kept so far.
    pub fn front(&self) -> Option<Archive> {
        self.front.lock().ok().and_then(|f| f.clone())
    }

    /// Makes the engine keep the `size` best distinct candidates scored on the whole
    /// validation set (for an ensemble of them).
    pub fn keep_best(&self, size: usize) {
        if let Ok(mut b) = self.best.lock() {
            *b = Some(TopCandidates::new(size));
        }
    }

    /// Offers a candidate scored on the whole validation set to the front and to the best
    /// candidates, where they are kept.
    pub fn offer_scored(&self, point: FrontPoint) {
        if let Ok(mut b) = self.best.lock() {
            if let Some(best) = b.as_mut() {
                best.offer(&point);
            }
        }
        self.offer_to_front(point);
    }

    /// Whether anything scored on the validation set is kept (a front or the best candidates).
    pub fn keeps_scored(&self) -> bool {
        self.keeps_front() || self.best.lock().is_ok_and(|b| b.is_some())
    }

    /// The best candidates kept so far, best first.
    pub fn best(&self) -> Vec<FrontPoint> {
        self.best.lock().ok().and_then(|b| b.as_ref().map(|b| b.points().to_vec())).unwrap_or_default()
    }
}

/// Adds a rollout id to every request (so repeated samples of one prompt are distinct requests
/// for caches and journals).
pub(crate) struct RolloutLm {
    pub(crate) inner: Arc<dyn LanguageModel>,
    pub(crate) rollout_id: u64,
}

#[async_trait]
impl LanguageModel for RolloutLm {
    async fn chat(&self, request: &ChatRequest) -> std::result::Result<ChatResponse, LmError> {
        let mut r = request.clone();
        // A request that carries its own rollout id (an inference-time module's resample) keeps
        // it apart from the others of this rollout.
        r.rollout_id = Some(match request.rollout_id {
            None | Some(0) => self.rollout_id,
            Some(k) => self.rollout_id.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k),
        });
        self.inner.chat(&r).await
    }
    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

/// Stable id of an example: a hash of its fields and which of them are inputs.
pub fn example_id(example: &Example) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&example.fields).unwrap_or_default());
    for k in &example.input_keys {
        h.update(b"\0");
        h.update(k.as_bytes());
    }
    hex::encode(&h.finalize()[..12])
}

/// Content hash of a candidate state (16 hex characters).
pub fn state_hash(state: &ProgramState) -> String {
    let mut h = Sha256::new();
    h.update(state.to_json().as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Mean of rollout scores (0 for none).
pub fn mean_score(rollouts: &[Rollout]) -> f64 {
    if rollouts.is_empty() {
        0.0
    } else {
        rollouts.iter().map(|r| r.score).sum::<f64>() / rollouts.len() as f64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_lm::ScriptedLm;

    #[test]
    fn unset_roles_fall_back_to_the_task_model() {
        let task: Arc<dyn LanguageModel> = Arc::new(ScriptedLm::from_texts(["x"]).with_model_name("task"));
        let judge: Arc<dyn LanguageModel> = Arc::new(ScriptedLm::from_texts(["x"]).with_model_name("judge"));
        let models = RoleModels { judge: Some(judge), ..RoleModels::single(task) };
        assert_eq!(models.for_role(LmRole::Teacher).model_name(), "task");
        assert_eq!(models.for_role(LmRole::Proposer).model_name(), "task");
        assert_eq!(models.for_role(LmRole::Judge).model_name(), "judge");
    }

    #[test]
    fn stops_serialize_with_their_kind_and_only_a_cancel_is_cancelled() {
        let budget = Stop::Budget("call cap of 5 reached".into());
        assert_eq!(
            serde_json::to_value(&budget).unwrap(),
            serde_json::json!({"kind": "budget", "reason": "call cap of 5 reached"})
        );
        assert_eq!(serde_json::to_value(Stop::Cancelled).unwrap(), serde_json::json!({"kind": "cancelled"}));
        let back: Stop = serde_json::from_value(serde_json::json!({"kind": "lm_failed", "reason": "gone"})).unwrap();
        assert_eq!(back, Stop::LmFailed("gone".into()));
        assert!(Stop::Cancelled.is_cancelled() && !budget.is_cancelled());
        assert_eq!(budget.to_string(), "call cap of 5 reached");
    }
}

//! Serving: [`PredictService`] runs a registered version (production unless asked otherwise)
//! on one input, stores the prediction (inputs, outputs, latency, tokens, cost, version) and
//! returns it with its id; feedback on a prediction goes to the review queue. Writes are group
//! committed: concurrent predictions share one transaction, and each answers only once its
//! row is stored, so every acknowledged prediction is in the store.

use crate::error::{AppError, Result};
use crate::experiments::{assign, CHALLENGER, CONTROL};
use crate::tenant::Tenant;
use promptsmith_core::{Example, LanguageModel, Module, PredictError, Program};
use promptsmith_lm::LmConfig;
use promptsmith_store::{
    Experiment, Feedback, FeedbackInput, NewEvaluation, ProgramRef, Store, VersionSelector, PRODUCTION,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a resolved alias is reused before it is looked up again.
const ALIAS_TTL: Duration = Duration::from_secs(1);
/// Most predictions stored in one transaction.
const BATCH: usize = 512;

/// One prediction to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// The program's inputs.
    pub inputs: Map<String, Value>,
    /// The caller (sticky experiment assignment, per-caller analysis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_key: Option<String>,
    /// A version or alias (default `production`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A prediction made and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PredictResponse {
    /// Its id (for feedback).
    pub prediction_id: i64,
    /// The program.
    pub program: String,
    /// The version that answered.
    pub version: i64,
    /// The outputs.
    pub outputs: Map<String, Value>,
    /// Time in the program (model calls included), ms.
    pub latency_ms: i64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost at the configured prices.
    pub cost_usd: f64,
    /// The experiment that routed it, when the program runs one and no version was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Served>,
}

/// How an experiment routed a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Served {
    /// The experiment.
    pub id: String,
    /// `control` or `challenger`.
    pub arm: String,
    /// `sticky` (from the caller key) or `random` (no key given).
    pub assignment: String,
}

/// Feedback on a prediction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// A score in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The outputs it should have given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_outputs: Option<Map<String, Value>>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A label (`wrong_format`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

type Pending = (NewEvaluation, oneshot::Sender<Result<i64>>);
/// Resolved references: when, which version, the program.
type ProgramCache = Arc<Mutex<HashMap<String, (Instant, i64, Arc<Program>)>>>;
/// Each program's running experiment (none: it runs none), looked up at most once a second.
type ExperimentCache = Arc<Mutex<HashMap<String, (Instant, Option<Experiment>)>>>;

/// Runs and stores predictions.
#[derive(Debug, Clone)]
pub struct PredictService {
    store: Store,
    programs: ProgramCache,
    experiments: ExperimentCache,
    writer: mpsc::Sender<Pending>,
}

impl PredictService {
    /// A service over `store` (starts its writer on the current runtime).
    pub fn new(store: Store) -> Self {
        let (writer, rx) = mpsc::channel::<Pending>(BATCH * 8);
        tokio::spawn(write_loop(store.clone(), rx));
        Self { store, programs: Arc::default(), experiments: Arc::default(), writer }
    }

    /// The registered version `selector` of `tenant`'s `name`, cached for a second.
    pub async fn resolve(&self, tenant: &Tenant, name: &str, selector: Option<&str>) -> Result<(i64, Arc<Program>)> {
        let selector = selector.unwrap_or(PRODUCTION);
        let key = format!("{}@{selector}", tenant.qualify(name)?);
        if let Ok(cache) = self.programs.lock() {
            if let Some((_, v, p)) = cache.get(&key).filter(|(at, _, _)| at.elapsed() < ALIAS_TTL) {
                return Ok((*v, p.clone()));
            }
        }
        let reference = ProgramRef { name: tenant.qualify(name)?, selector: VersionSelector::parse(selector) };
        let version = self.store.resolve(&reference).await.map_err(|e| {
            let e = AppError::from(e);
            AppError::new(e.kind, e.message.replace(&reference.name, name))
        })?;
        let program = Arc::new(version.program()?);
        if let Ok(mut cache) = self.programs.lock() {
            cache.insert(key, (Instant::now(), version.version, program.clone()));
        }
        Ok((version.version, program))
    }

    /// Runs `tenant`'s `name` on `req.inputs` with `lm` and stores the prediction.
    pub async fn predict(
        &self,
        tenant: &Tenant,
        name: &str,
        req: PredictRequest,
        lm: &dyn LanguageModel,
        pricing: &LmConfig,
    ) -> Result<PredictResponse> {
        // Without an explicit version, a running experiment picks the arm.
        let routed = match &req.version {
            Some(_) => None,
            None => self.route(tenant, name, req.caller_key.as_deref()).await?,
        };
        let selector = match &routed {
            Some((_, version)) => Some(version.to_string()),
            None => req.version.clone(),
        };
        let (version, program) = self.resolve(tenant, name, selector.as_deref()).await?;
        check_inputs(&program, name, &req.inputs)?;
        let started = Instant::now();
        let result = program.forward(lm, &Example::from_inputs(req.inputs.clone())).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let (outputs, usage, failure) = match result {
            Ok(p) => (Some(p.fields), p.usage, None),
            Err(e) => (None, e.spent().0, Some(e)),
        };
        let error = failure.as_ref().map(ToString::to_string);
        let cost_usd = pricing.cost_usd(usage.prompt_tokens, usage.completion_tokens).unwrap_or(0.0);
        let row = NewEvaluation {
            program: tenant.qualify(name)?,
            version: Some(version),
            run_id: None,
            example_index: None,
            inputs: req.inputs,
            outputs: outputs.clone(),
            labels: None,
            score: 0.0,
            metrics: None,
            judge_reasoning: None,
            error: error.clone(),
            latency_ms,
            prompt_tokens: usage.prompt_tokens as i64,
            completion_tokens: usage.completion_tokens as i64,
            cost_usd,
            metadata: Some(json!({"source": "predict", "caller_key": req.caller_key})),
            created_at: None,
            experiment_id: routed.as_ref().map(|(s, _)| s.id.clone()),
            arm: routed.as_ref().map(|(s, _)| s.arm.clone()),
        };
        let id = self.store_row(row).await?;
        if let Some(e) = failure {
            return Err(program_failure(id, &e));
        }
        Ok(PredictResponse {
            prediction_id: id,
            program: name.to_string(),
            version,
            outputs: outputs.unwrap_or_default(),
            latency_ms,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_usd,
            experiment: routed.map(|(s, _)| s),
        })
    }

    /// The arm and version a running experiment of `name` serves `caller` (none without one).
    async fn route(&self, tenant: &Tenant, name: &str, caller: Option<&str>) -> Result<Option<(Served, i64)>> {
        let program = tenant.qualify(name)?;
        let cached = self
            .experiments
            .lock()
            .ok()
            .and_then(|c| c.get(&program).filter(|(at, _)| at.elapsed() < ALIAS_TTL).map(|(_, e)| e.clone()));
        let running = match cached {
            Some(e) => e,
            None => {
                let e = self.store.running_experiment(&program).await?;
                if let Ok(mut c) = self.experiments.lock() {
                    c.insert(program, (Instant::now(), e.clone()));
                }
                e
            }
        };
        let Some(e) = running else { return Ok(None) };
        let (arm, assignment) = match caller {
            Some(key) => (assign(&e.spec.id, key, e.spec.traffic), "sticky"),
            None => {
                let challenger = rand::random::<f64>() < e.spec.traffic;
                (if challenger { CHALLENGER } else { CONTROL }, "random")
            }
        };
        let version = if arm == CHALLENGER { e.spec.challenger_version } else { e.spec.control_version };
        Ok(Some((Served { id: e.spec.id, arm: arm.into(), assignment: assignment.into() }, version)))
    }

    async fn store_row(&self, row: NewEvaluation) -> Result<i64> {
        let (tx, rx) = oneshot::channel();
        self.writer.send((row, tx)).await.map_err(|_| AppError::internal("prediction writer stopped"))?;
        rx.await.map_err(|_| AppError::internal("prediction writer stopped"))?
    }

    /// Records feedback on `tenant`'s prediction `id` into the review queue.
    pub async fn feedback(&self, tenant: &Tenant, id: i64, req: &FeedbackRequest, reviewer: &str) -> Result<Feedback> {
        let eval = self.store.evaluation(id).await.map_err(AppError::from)?;
        if tenant.unqualify(&eval.program).is_none() {
            return Err(AppError::not_found(format!("no prediction {id}")));
        }
        if req.score.is_none() && req.correct_outputs.is_none() && req.comment.is_none() && req.label.is_none() {
            return Err(AppError::invalid("feedback needs at least one of score, correct_outputs, comment, label"));
        }
        let input = FeedbackInput {
            rating: req.score,
            corrected: req.correct_outputs.clone(),
            label: req.label.clone(),
            comment: req.comment.clone(),
            reviewer: Some(reviewer.to_string()),
        };
        Ok(self.store.record_feedback(id, &input).await?)
    }
}

/// An error naming the inputs `program` reads that `inputs` lacks.
pub fn check_inputs(program: &Program, name: &str, inputs: &Map<String, Value>) -> Result<()> {
    let missing: Vec<String> = program.input_fields().into_iter().filter(|f| !inputs.contains_key(f)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(AppError::invalid(format!(
        "inputs lack field(s) {} that program '{name}' reads (it reads: {})",
        missing.join(", "),
        program.input_fields().join(", ")
    )))
}

/// The error answered for a stored prediction whose program failed: the model endpoint
/// failing is `unavailable` (503, worth a retry); an answer that breaks the program's output
/// constraints or cannot be parsed after its retries is `invalid_input` (422: these inputs did
/// not get a valid answer, and the same call would most likely fail again).
fn program_failure(id: i64, e: &PredictError) -> AppError {
    match e {
        PredictError::Lm { .. } => AppError::unavailable(format!("prediction {id}: the program failed: {e}")),
        PredictError::Constraint { .. } | PredictError::Parse { .. } => {
            AppError::invalid(format!("prediction {id}: the model's answer was not valid output for the program: {e}"))
        }
        PredictError::MissingInput { .. } | PredictError::Program(_) => {
            AppError::invalid(format!("prediction {id}: the program failed: {e}"))
        }
    }
}

/// Stores queued predictions in batches, answering each with its id once committed.
async fn write_loop(store: Store, mut rx: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let (rows, replies): (Vec<NewEvaluation>, Vec<_>) = batch.drain(..).unzip();
        match store.insert_predictions(&rows).await {
            Ok(ids) => {
                for (reply, id) in replies.into_iter().zip(ids) {
                    let _ = reply.send(Ok(id));
                }
            }
            Err(e) => {
                let e = AppError::from(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

//! Registering an optimization's result in the registry and recording the run in the store.

use super::request::{OptimizeRequest, RegisterRequest};
use crate::error::{AppError, Result};
use crate::events::StoreEvents;
use crate::program::{spec_of, ProgramSource, StoreTarget};
use promptsmith_core::ProgramState;
use promptsmith_optimize::budget::RoleSpend;
use promptsmith_optimize::events::EventSink;
use promptsmith_optimize::run::{score, RunReport};
use promptsmith_optimize::{Engine, OptimizeTask, Optimizer};
use promptsmith_store::{
    NewRun, NewVersion, PromotionPolicy, RoleUsage, RunEnd, RunStatus, Store, Trial, VersionSelector, PRODUCTION,
};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// A registered result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The program name.
    pub name: String,
    /// The new version's number.
    pub version: i64,
    /// The alias it got (`production` or `candidate`).
    pub alias: String,
    /// Why, from the promotion decision.
    pub reason: Option<String>,
}

impl std::fmt::Display for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} version {} as {}", self.name, self.version, self.alias)?;
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}

/// A run recorded in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRun {
    /// The run's id.
    pub run_id: i64,
    /// Trials recorded.
    pub trials: usize,
    /// The store's URL (passwords removed).
    pub url: String,
}

/// The store's production version of `name`, if it has one.
async fn production(store: &Store, name: &str) -> Result<Option<promptsmith_store::ProgramVersion>> {
    match store.version(name, &VersionSelector::Alias(PRODUCTION.into())).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Registers `state` under `r.name`, promoting it over production when it wins the paired test
/// on the validation set by the margin.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn register(
    target: &StoreTarget,
    r: &RegisterRequest,
    request: &OptimizeRequest,
    source: &ProgramSource,
    engine: &Engine,
    task: &OptimizeTask,
    state: &ProgramState,
    report: &RunReport,
) -> Result<Registration> {
    let store = target.open().await?;
    let (spec, parent) = spec_of(source, &store).await?;
    let production = production(&store, &r.name).await?;
    let final_scores = score(engine, task, state, &task.valset)
        .await
        .ok_or_else(|| AppError::unavailable("cannot score the result on the validation set (budget exhausted?)"))?
        .scores;
    let active = match &production {
        None => None,
        Some(v) => {
            let scores = score(engine, task, &v.state, &task.valset).await.ok_or_else(|| {
                AppError::unavailable(format!(
                    "cannot score {}@production (version {}) on the validation set",
                    r.name, v.version
                ))
            })?;
            Some((v.version, scores.scores))
        }
    };
    let actor = crate::actor(r.actor.as_deref());
    let mut new = NewVersion::new(&r.name, spec, state.clone(), &actor);
    new.parent_version = parent.or(production.as_ref().map(|v| v.version));
    new.optimizer = Some(report.optimizer.clone());
    new.params = report.params.clone();
    new.scores = json!({
        "val": report.final_val.as_ref().map(|s| s.score),
        "test": report.final_test.as_ref().map(|s| s.score),
        "baseline_val": report.baseline_val.as_ref().map(|s| s.score),
    });
    new.note = format!("promptsmith optimize --optimizer {} --seed {}", report.optimizer, request.seed);
    if let Some(rejected) = &report.rejected {
        new.note.push_str(&format!(
            " (the optimizer's result scored {:.1}% on validation, below the program as written, which is what this version holds)",
            rejected.val.score * 100.0
        ));
    }
    let policy = PromotionPolicy {
        min_relative_gain: r.promotion_margin,
        seed: request.seed,
        allow_promotion: r.promote,
        ..PromotionPolicy::default()
    };
    let outcome = store
        .register_optimized(&new, &final_scores, active.as_ref().map(|(v, s)| (*v, s.as_slice())), &policy)
        .await?;
    store.close().await;
    Ok(Registration {
        name: r.name.clone(),
        version: outcome.version.version,
        alias: outcome.alias.to_string(),
        reason: outcome.decision.map(|d| d.reason),
    })
}

/// A run being recorded: its row (status running) exists from the start, and its events are
/// written as they happen.
pub(crate) struct RunRecord {
    store: Store,
    run_id: i64,
    events: StoreEvents,
}

/// Creates the run's row before the first model call, so its live events have a home.
pub(crate) async fn start_run(
    target: &StoreTarget,
    program: &str,
    request: &OptimizeRequest,
    optimizer: &dyn Optimizer,
    dir: &Path,
    sizes: (usize, usize, usize),
) -> Result<RunRecord> {
    let store =
        target.open().await.map_err(|e| e.context("cannot record the run (--no-store runs without the store)"))?;
    let run = store
        .create_run(&NewRun {
            kind: "optimize".into(),
            program: request.register.as_ref().map(|r| r.name.clone()).unwrap_or_else(|| program.to_string()),
            optimizer: Some(optimizer.name().to_string()),
            params: optimizer.params(),
            metadata: json!({"seed": request.seed, "run_dir": dir.display().to_string(), "sizes": sizes, "data": request.data.data}),
        })
        .await?;
    let events = StoreEvents::start(store.clone(), run.id);
    Ok(RunRecord { store, run_id: run.id, events })
}

impl RunRecord {
    /// The sink that writes the run's events.
    pub(crate) fn sink(&self) -> Arc<dyn EventSink> {
        Arc::new(self.events.sink())
    }

    /// Records the trials, the artifacts and the end of a run that finished.
    pub(crate) async fn finish(
        self,
        report: &RunReport,
        state: &ProgramState,
        version: Option<i64>,
    ) -> Result<RecordedRun> {
        let Self { store, run_id, events } = self;
        for t in &report.trials {
            let trial = Trial {
                trial: t.number as i64,
                candidate: t.candidate.clone(),
                parent_candidate: None,
                score: Some(t.score),
                params: json!({"kind": t.kind, "n": t.n, "choice": t.params}),
                state: None,
                created_at: 0,
            };
            store.add_trial(run_id, &trial).await?;
        }
        store.put_artifact(run_id, "state.json", "state", &state.to_json()).await?;
        let report_json = serde_json::to_string(report).map_err(|e| AppError::internal(format!("report.json: {e}")))?;
        store.put_artifact(run_id, "report.json", "report", &report_json).await?;
        events.push(
            "result",
            json!({"final_val": report.final_val.as_ref().map(|s| s.score), "version": version, "stopped": report.stopped}),
        );
        events.finish().await?;
        let end = RunEnd {
            // A budget stop is a normal end (the best state so far is the result); a cancel is not.
            status: if report.stopped.as_ref().is_some_and(|s| s.is_cancelled()) {
                RunStatus::Cancelled
            } else {
                RunStatus::Succeeded
            },
            usage: usage(report),
            best_score: report.final_val.as_ref().map(|s| s.score),
            result_version: version,
            error: report.stopped.as_ref().map(ToString::to_string),
        };
        store.finish_run(run_id, &end).await?;
        store.close().await;
        Ok(RecordedRun { run_id, trials: report.trials.len(), url: store.url().to_string() })
    }

    /// Records that the run failed with `error` (best effort: the error itself is what the caller reports).
    pub(crate) async fn fail(self, error: &AppError) {
        let Self { store, run_id, events } = self;
        events.push("error", json!({"kind": error.kind, "message": error.message}));
        let _ = events.finish().await;
        let end = RunEnd {
            status: RunStatus::Failed,
            usage: Default::default(),
            best_score: None,
            result_version: None,
            error: Some(error.message.clone()),
        };
        let _ = store.finish_run(run_id, &end).await;
        store.close().await;
    }
}

/// Spending by role, the roles that made no call left out.
fn usage(report: &RunReport) -> std::collections::BTreeMap<String, RoleUsage> {
    let role = |r: &RoleSpend| RoleUsage {
        calls: r.calls,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        cost_usd: r.cost_usd,
    };
    let s = &report.spent;
    [("task", role(&s.task)), ("teacher", role(&s.teacher)), ("proposer", role(&s.proposer)), ("judge", role(&s.judge))]
        .into_iter()
        .filter(|(_, u)| u.calls > 0)
        .map(|(k, u)| (k.to_string(), u))
        .collect()
}

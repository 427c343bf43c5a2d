//! [`OptimizeService`]: plan, run and resume an optimization. The CLI's `optimize` and the
//! server's jobs both call it; it reads the request, checks everything before the first model
//! call, runs the optimizer on the shared engine, writes the run directory, registers the
//! result and records the run in the store.
//!
//! A run directory holds `config.json` (the [`OptimizeRequest`], what resume reads),
//! `journal.jsonl` (every completed LM call), `trials.jsonl`, and at the end `state.json`,
//! `report.json` and `manifest.json`. Resuming replays the journal: the optimizers are
//! deterministic given the seed and the model's answers, so a resumed run ends in the state
//! an uninterrupted run would have reached without repeating a completed call.

use super::record::{register, start_run, RecordedRun, Registration};
use super::request::OptimizeRequest;
use super::splits::{split, Splits};
use crate::error::{io_error, AppError, Result};
use crate::events::Tee;
use crate::metric::{check_labels, metric_field, metric_spec};
use crate::program::{self, file_sha256, ProgramSource, StoreTarget};
use crate::rundir::{write_json, Manifest};
use promptsmith_core::{Example, LanguageModel, Program, ProgramState};
use promptsmith_eval::MetricSpec;
use promptsmith_lm::{LmConfig, LmRole, LmStack};
use promptsmith_optimize::checkpoint::{Checkpoint, RunDirCheckpoint};
use promptsmith_optimize::events::EventSink;
use promptsmith_optimize::optimizers::{OptimizeTask, Plan};
use promptsmith_optimize::run::{check, run_with, RunOptions, RunReport};
use promptsmith_optimize::{Engine, EngineConfig, OptimizeError, Optimizer, RoleModels};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The run directory's copy of the request.
pub const CONFIG_FILE: &str = "config.json";
/// The optimizer's result when it scored below the program as written and was not kept.
pub const REJECTED_STATE_FILE: &str = "rejected-state.json";

/// Plans, runs and resumes optimizations; records into `store` (none: nothing is recorded).
#[derive(Debug, Clone, Default)]
pub struct OptimizeService {
    store: Option<StoreTarget>,
}

/// A request with everything loaded and checked, ready to plan or run.
pub struct Prepared {
    /// The request (as it will be saved in `config.json`).
    pub request: OptimizeRequest,
    source: ProgramSource,
    program: Program,
    metric: MetricSpec,
    field: String,
    optimizer: Box<dyn Optimizer>,
    splits: Splits,
    plan: Plan,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("request", &self.request).field("plan", &self.plan).finish()
    }
}

/// What a run would do (`--dry-run`), computed without any model call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DryRun {
    /// Optimizer id.
    pub optimizer: String,
    /// Training, validation and test examples.
    pub sizes: (usize, usize, usize),
    /// The seed.
    pub seed: u64,
    /// Planned calls by role (upper bounds) and trials.
    pub plan: Plan,
    /// About how many prompt tokens a task call takes, and the completion cap.
    pub tokens_per_call: (u64, u64),
    /// Cost of the plan at the configured prices, when prices are set.
    pub estimated_cost_usd: Option<f64>,
    /// The call cap, when it is below the plan (the search stops early there).
    pub call_cap_below_plan: Option<u64>,
    /// Warnings met loading the data.
    pub warnings: Vec<String>,
}

/// Where a run writes and how it is driven.
pub struct RunContext<'a> {
    /// The models.
    pub lm: &'a LmStack,
    /// The run directory (created if missing).
    pub run_dir: PathBuf,
    /// Live progress.
    pub events: Arc<dyn EventSink>,
    /// Stops the run at the next step.
    pub cancel: CancellationToken,
}

impl std::fmt::Debug for RunContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext").field("lm", self.lm).field("run_dir", &self.run_dir).finish_non_exhaustive()
    }
}

/// A finished (or budget-stopped, or cancelled) run.
#[derive(Debug)]
pub struct OptimizeOutcome {
    /// The kept state.
    pub state: ProgramState,
    /// Scores, trials and spending.
    pub report: RunReport,
    /// The run directory.
    pub run_dir: PathBuf,
    /// `state.json` in it.
    pub state_path: PathBuf,
    /// `rejected-state.json`, when the result was turned away.
    pub rejected_path: Option<PathBuf>,
    /// Calls replayed from the journal of an earlier attempt.
    pub replayed_calls: usize,
    /// Where `--out` wrote the state too.
    pub out: Option<PathBuf>,
    /// The registration, when one was asked for (an error does not fail the run: the state is saved).
    pub registration: Option<Result<Registration>>,
    /// The store record, when a store is configured.
    pub recorded: Option<Result<RecordedRun>>,
    /// Warnings met loading the data.
    pub data_warnings: Vec<String>,
}

impl OptimizeOutcome {
    /// Whether the run was cancelled before it finished.
    pub fn cancelled(&self) -> bool {
        self.report.stopped.as_ref().is_some_and(|s| s.is_cancelled())
    }
}

impl OptimizeService {
    /// A service recording into `store` (`None`: no store, as `--no-store`).
    pub fn new(store: Option<StoreTarget>) -> Self {
        Self { store }
    }

    /// Loads and checks everything the request names, before any model call: settings, the
    /// program and state, the metric, the data and its labels, and the optimizer's plan.
    pub async fn prepare(&self, request: OptimizeRequest) -> Result<Prepared> {
        request.validate()?;
        if let (Some(r), None) = (&request.register, &self.store) {
            return Err(AppError::invalid(format!("--register {} needs the store; drop --no-store", r.name)));
        }
        let source = ProgramSource::parse(&request.program);
        let store = self.store.clone().unwrap_or_default();
        let program = program::load(&source, request.state.as_deref(), &store).await?;
        let field = metric_field(&program, request.field.as_deref())?;
        let metric = metric_spec(&request.metric)?;
        let warm = super::warm::load(&request.warm_start, &program, &store).await?;
        let optimizer = request.build_optimizer(&program, &warm)?;
        let inputs = program.input_fields();
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let splits = split(&request, &program::sample_dirs(&source), &inputs)?;
        check_labels(&metric, &field, &request.data.data, splits.train.first().or(splits.val.first()))?;
        // The plan needs a metric only for its shape: a placeholder answers no call.
        let placeholder: Arc<dyn promptsmith_eval::Metric> = Arc::from(
            promptsmith_eval::metric_by_name("exact_match", &field)
                .map_err(|e| AppError::from(e).context("--metric"))?,
        );
        let preview = OptimizeTask {
            program: program.clone(),
            trainset: splits.train.clone(),
            valset: splits.val.clone(),
            metric: placeholder,
        };
        let (plan, _) = check(optimizer.as_ref(), &preview)?;
        Ok(Prepared { request, source, program, metric, field, optimizer, splits, plan })
    }

    /// What the run would do and cost at `pricing`'s prices.
    pub fn plan(&self, p: &Prepared, pricing: &LmConfig) -> DryRun {
        let tokens = estimate_tokens(&p.program, &p.splits.train);
        let plan = p.plan.clone().with_test_split(p.splits.test.len(), p.program.planned_calls_per_run());
        let calls = plan.total_calls();
        DryRun {
            optimizer: p.optimizer.name().to_string(),
            sizes: (p.splits.train.len(), p.splits.val.len(), p.splits.test.len()),
            seed: p.request.seed,
            plan,
            tokens_per_call: tokens,
            estimated_cost_usd: pricing.cost_usd(tokens.0 * calls, tokens.1 * calls),
            call_cap_below_plan: p.request.budget.max_calls.filter(|max| *max < calls),
            warnings: p.splits.warnings.clone(),
        }
    }

    /// Reads a run directory's request, to resume it.
    pub fn load_config(run_dir: &Path) -> Result<OptimizeRequest> {
        let path = run_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| io_error(format!("--resume {}: cannot read {}", run_dir.display(), path.display()), &e))?;
        serde_json::from_str(&text)
            .map_err(|e| AppError::invalid(format!("--resume: {} line {}: {e}", path.display(), e.line())))
    }

    /// Whether the run in `run_dir` already finished (resuming it replays it from its journal).
    pub fn is_finished(run_dir: &Path) -> bool {
        run_dir.join("state.json").is_file() && run_dir.join("report.json").is_file()
    }

    /// Continues the run in `ctx.run_dir` from its saved request and journal.
    pub async fn resume(&self, ctx: RunContext<'_>) -> Result<OptimizeOutcome> {
        let request = Self::load_config(&ctx.run_dir)?;
        let prepared = self.prepare(request).await?;
        self.run(prepared, ctx).await
    }

    /// Runs the prepared optimization: the engine over the stack's models (journaled in the run
    /// directory), the optimizer, then the artifacts, the registration and the store record.
    pub async fn run(&self, p: Prepared, ctx: RunContext<'_>) -> Result<OptimizeOutcome> {
        self.run_with_checkpoint(p, ctx, None).await
    }

    /// [`run`](Self::run) with the call journal kept in `checkpoint` (the service keeps a
    /// job's in its database) instead of the run directory's `journal.jsonl`.
    pub async fn run_with_checkpoint(
        &self,
        p: Prepared,
        ctx: RunContext<'_>,
        checkpoint: Option<Arc<dyn Checkpoint>>,
    ) -> Result<OptimizeOutcome> {
        let Prepared { mut request, source, program, metric, field, optimizer, splits, .. } = p;
        let dir = ctx.run_dir.clone();
        let models = role_models(ctx.lm);
        let names = role_model_names(&models);
        if let Some(saved) = request.models.as_ref().filter(|saved| **saved != names) {
            return Err(AppError::conflict(format!(
                "--resume {}: the run was started with {}, this command would use {}; its journaled calls \
                 would not match and would be made again. Resume with the same --model / --lm-base-url / \
                 --local-model (and promptsmith.toml roles) as the run started with",
                dir.display(),
                describe_models(saved),
                describe_models(&names)
            )));
        }
        request.models = Some(names);
        std::fs::create_dir_all(&dir)
            .map_err(|e| io_error(format!("cannot create run directory {}", dir.display()), &e))?;
        request.concurrency.get_or_insert(ctx.lm.concurrency);
        write_json(&dir, CONFIG_FILE, &request)?;
        let sizes = (splits.train.len(), splits.val.len(), splits.test.len());
        let record = match &self.store {
            Some(target) => Some(start_run(target, &program.name, &request, optimizer.as_ref(), &dir, sizes).await?),
            None => None,
        };
        let events: Arc<dyn EventSink> = match &record {
            Some(r) => Arc::new(Tee(vec![ctx.events.clone(), r.sink()])),
            None => ctx.events.clone(),
        };
        let job =
            Job { request: &request, source: &source, program: &program, metric, field: &field, splits, checkpoint };
        match self.search(job, optimizer.as_ref(), &dir, ctx.lm, events, ctx.cancel.clone()).await {
            Ok(mut outcome) => {
                let version = outcome.registration.as_ref().and_then(|r| r.as_ref().ok()).map(|r| r.version);
                if let Some(record) = record {
                    outcome.recorded = Some(record.finish(&outcome.report, &outcome.state, version).await);
                }
                Ok(outcome)
            }
            Err(e) => {
                if let Some(record) = record {
                    record.fail(&e).await;
                }
                Err(e)
            }
        }
    }

    /// The engine, the optimizer, the registration and the artifacts (the store record aside).
    async fn search(
        &self,
        job: Job<'_>,
        optimizer: &dyn Optimizer,
        dir: &Path,
        lm: &LmStack,
        events: Arc<dyn EventSink>,
        cancel: CancellationToken,
    ) -> Result<OptimizeOutcome> {
        let Job { request, source, program, metric, field, splits, checkpoint } = job;
        let checkpoint: Arc<dyn Checkpoint> = match checkpoint {
            Some(c) => c,
            None => Arc::new(RunDirCheckpoint::open(dir)?),
        };
        let concurrency = request.concurrency.unwrap_or(lm.concurrency);
        let config = EngineConfig { concurrency, seed: request.seed, budget: request.budget, failure_score: 0.0 };
        let engine = Engine::new(role_models(lm), config, checkpoint, events.clone())?.with_cancel(cancel);
        let replayed_calls = engine.journal_len();
        if replayed_calls > 0 {
            events.emit(&promptsmith_optimize::events::Event::Resumed { replayed_calls });
        }
        let judge: Option<Arc<dyn LanguageModel>> = metric.needs_judge().then(|| engine.lm(LmRole::Judge));
        let metric = metric
            .build(field, judge)
            .map_err(|e| AppError::from(e).context(format!("--metric {}", request.metric)))?;
        let task = OptimizeTask { program: program.clone(), trainset: splits.train, valset: splits.val, metric };
        // A pick that trades score for tokens or a constraint is kept as chosen.
        let options = RunOptions { keep_regression: request.keep_regression || request.trades_score() };
        let (state, report) =
            run_with(optimizer, &engine, &task, &splits.test, options).await.map_err(|e| match e {
                OptimizeError::LmFailed(_) => AppError::unavailable(format!(
                    "{e}\nthe completed calls are saved in {}: once the model answers again, continue with --resume {}",
                    dir.display(),
                    dir.display()
                )),
                e => e.into(),
            })?;
        // Registration compares with production on the same validation examples (through the
        // engine: cached rollouts are free, new ones count against the budget).
        // A cancelled run is not registered: its partial state is in the run directory (and a
        // service job's result), and a resumed run registers once it ends.
        let cancelled = report.stopped.as_ref().is_some_and(|s| s.is_cancelled());
        let registration = match (&request.register, &self.store) {
            (Some(r), Some(store)) if !cancelled => {
                Some(register(store, r, request, source, &engine, &task, &state, &report).await)
            }
            _ => None,
        };
        drop(task);
        drop(engine);
        let (state_path, rejected_path) = write_artifacts(dir, request, program, &state, &report, lm)?;
        Ok(OptimizeOutcome {
            state,
            report,
            run_dir: dir.to_path_buf(),
            state_path,
            rejected_path,
            replayed_calls,
            out: request.out.clone(),
            registration,
            recorded: None,
            data_warnings: splits.warnings,
        })
    }
}

/// What a prepared run searches over.
struct Job<'a> {
    request: &'a OptimizeRequest,
    source: &'a ProgramSource,
    program: &'a Program,
    metric: MetricSpec,
    field: &'a str,
    splits: Splits,
    checkpoint: Option<Arc<dyn Checkpoint>>,
}

/// Writes `state.json`, `report.json`, `rejected-state.json`, `manifest.json` and `--out`.
fn write_artifacts(
    dir: &Path,
    request: &OptimizeRequest,
    program: &Program,
    state: &ProgramState,
    report: &RunReport,
    lm: &LmStack,
) -> Result<(PathBuf, Option<PathBuf>)> {
    let state_path = write_json(dir, "state.json", state)?;
    if let Some(out) = &request.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| io_error(format!("cannot create {}", parent.display()), &e))?;
        }
        std::fs::write(out, state.to_json() + "\n")
            .map_err(|e| io_error(format!("cannot write {}", out.display()), &e))?;
    }
    write_json(dir, "report.json", report)?;
    let rejected_path = match &report.rejected {
        Some(r) => Some(write_json(dir, REJECTED_STATE_FILE, &r.state)?),
        None => None,
    };
    let mut manifest = Manifest::new("optimize");
    manifest.seed = Some(request.seed);
    manifest.model = serde_json::to_value(&lm.info).unwrap_or_default();
    manifest.program = json!({
        "path": request.program,
        "name": program.name,
        "hash": program.hash(),
        "state": request.state.as_ref().map(|p| json!({"path": p.display().to_string(), "sha256": file_sha256(p)})),
    });
    manifest.settings = serde_json::to_value(request).unwrap_or_default();
    write_json(dir, "manifest.json", &manifest)?;
    Ok((state_path, rejected_path))
}

/// The stack's model for every role.
fn role_models(lm: &LmStack) -> RoleModels {
    RoleModels {
        task: lm.task(),
        teacher: Some(lm.role(LmRole::Teacher)),
        proposer: Some(lm.role(LmRole::Proposer)),
        judge: Some(lm.role(LmRole::Judge)),
    }
}

/// The model name behind each role.
fn role_model_names(models: &RoleModels) -> BTreeMap<String, String> {
    LmRole::ALL.into_iter().map(|role| (role.as_str().to_string(), models.for_role(role).model_name())).collect()
}

/// `task 'a', teacher 'b', ...`
fn describe_models(names: &BTreeMap<String, String>) -> String {
    names.iter().map(|(role, name)| format!("{role} '{name}'")).collect::<Vec<_>>().join(", ")
}

/// About how many prompt tokens one task call takes (4 characters a token) and the completion cap.
fn estimate_tokens(program: &Program, examples: &[Example]) -> (u64, u64) {
    let Some(first) = examples.first() else { return (0, 0) };
    let mut prompt = 0u64;
    let mut completion = 0u64;
    for p in &program.predictors {
        let chars: usize = p.format(&first.inputs()).iter().map(|m| m.content.len()).sum();
        prompt += (chars / 4) as u64;
        completion += u64::from(p.options.max_tokens.unwrap_or(promptsmith_core::predict::DEFAULT_MAX_TOKENS));
    }
    (prompt, completion)
}

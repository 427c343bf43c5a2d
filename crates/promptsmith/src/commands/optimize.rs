//! `promptsmith optimize`: find the instructions and demos that score best.
//!
//! Every run has a run directory holding `config.json` (the settings, for `--resume`),
//! `journal.jsonl` (every completed LM call), `trials.jsonl`, and at the end `state.json`,
//! `report.json` and `manifest.json`. `--resume DIR` replays the run from its journal: the
//! optimizers are deterministic given the seed and the model's answers, so the resumed run ends
//! in the state an uninterrupted run would have reached without repeating a completed call.

use super::{cancel_on_ctrl_c, file_sha256, load_program_with_state, sample_dirs};
use crate::data_args::DataArgs;
use crate::lm_setup::{build_lm, role_lm, LmArgs};
use crate::manifest::{run_dir, write_json, Manifest};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use promptsmith_core::{Example, LanguageModel, Program, ProgramState};
use promptsmith_eval::Dataset;
use promptsmith_lm::LmRole;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::checkpoint::RunDirCheckpoint;
use promptsmith_optimize::events::{Event, EventSink, TrialKind};
use promptsmith_optimize::optimizers::bootstrap::{BootstrapFewShot, BootstrapSettings};
use promptsmith_optimize::optimizers::copro::Copro;
use promptsmith_optimize::optimizers::labeled::LabeledFewShot;
use promptsmith_optimize::optimizers::mipro::{Auto, MiproV2};
use promptsmith_optimize::optimizers::random_search::RandomSearch;
use promptsmith_optimize::optimizers::{OptimizeTask, Optimizer};
use promptsmith_optimize::run::{check, run_with, split_like_dspy, RunOptions, RunReport, SplitScore};
use promptsmith_optimize::{Engine, EngineConfig, RoleModels};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `optimize`.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub(crate) struct OptimizeArgs {
    /// Program spec file (JSON or YAML).
    #[arg(long, required_unless_present = "resume")]
    program: Option<PathBuf>,
    /// Start from this program state instead of the program's own instructions and demos.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Training data (and the pool validation/test examples are drawn from when no
    /// --val-data/--test-data is given): a dataset name, spec file or data file (see `eval --help`).
    #[arg(long = "data", required_unless_present = "resume")]
    data_spec: Option<String>,
    /// An input column of a data file: COLUMN or COLUMN=FIELD (repeatable).
    #[arg(long = "input", value_name = "COLUMN[=FIELD]")]
    inputs: Vec<String>,
    /// A label column: COLUMN or COLUMN=FIELD (repeatable).
    #[arg(long = "label", value_name = "COLUMN[=FIELD]")]
    labels: Vec<String>,
    /// Transform applied to every label (see `eval --help`).
    #[arg(long, value_name = "NAME|regex:PATTERN")]
    label_transform: Option<String>,
    /// Validation data (default: drawn from --data; without --val-size, DSPy's split: 80% of
    /// the examples, at most 1000).
    #[arg(long)]
    val_data: Option<String>,
    /// Held-out test data, scored for the report only.
    #[arg(long)]
    test_data: Option<String>,
    /// Training examples to use (a seeded sample).
    #[arg(long)]
    train_size: Option<usize>,
    /// Validation examples to use.
    #[arg(long)]
    val_size: Option<usize>,
    /// Test examples to use.
    #[arg(long)]
    test_size: Option<usize>,
    /// Optimizer: labeled, bootstrap, random_search, mipro, copro.
    #[arg(long, default_value = "mipro")]
    optimizer: String,
    /// MIPROv2 preset: light, medium or heavy (excludes --num-candidates/--num-trials).
    #[arg(long)]
    auto: Option<String>,
    /// MIPROv2 candidates per predictor (without --auto).
    #[arg(long)]
    num_candidates: Option<usize>,
    /// MIPROv2 trials (without --auto).
    #[arg(long)]
    num_trials: Option<usize>,
    /// Bootstrapped demos per predictor (default: 4).
    #[arg(long)]
    max_bootstrapped_demos: Option<usize>,
    /// Demos per predictor in all (default: 16; 4 for mipro).
    #[arg(long)]
    max_labeled_demos: Option<usize>,
    /// Bootstrapping passes over the training set.
    #[arg(long, default_value_t = 1)]
    max_rounds: usize,
    /// Score a teacher trace needs to become a demo.
    #[arg(long, default_value_t = 1.0)]
    metric_threshold: f64,
    /// The teacher program's state for bootstrapping (bootstrap, random_search, mipro): e.g. an
    /// earlier optimized state of this program. Default: the program with labeled demos.
    #[arg(long, value_name = "STATE")]
    teacher_state: Option<PathBuf>,
    /// Demos per predictor for LabeledFewShot.
    #[arg(long, default_value_t = 16)]
    k: usize,
    /// Random-search candidates beyond zero-shot, labeled and unshuffled.
    #[arg(long, default_value_t = 16)]
    num_candidate_programs: usize,
    /// COPRO: instructions per round.
    #[arg(long, default_value_t = 10)]
    breadth: usize,
    /// COPRO: rounds.
    #[arg(long, default_value_t = 3)]
    depth: usize,
    /// COPRO: proposal temperature.
    #[arg(long, default_value_t = 1.0)]
    init_temperature: f32,
    /// MIPROv2 minibatch size.
    #[arg(long, default_value_t = 35)]
    minibatch_size: usize,
    /// MIPROv2: full evaluations only.
    #[arg(long)]
    no_minibatch: bool,
    /// MIPROv2: also search the prompt layout (chat, json, plain) per predictor.
    #[arg(long)]
    search_adapter: bool,
    /// Metric: a built-in id or a metric spec file (see `eval --help`).
    #[arg(long, default_value = "exact_match")]
    metric: String,
    /// Field the metric compares (default: `answer`, else the program's last output).
    #[arg(long)]
    field: Option<String>,
    /// Seed of every random choice (splits, sampling, search).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most LM calls, all roles together.
    #[arg(long)]
    max_calls: Option<u64>,
    /// Most tokens, all roles together.
    #[arg(long)]
    max_tokens: Option<u64>,
    /// Most cost in US dollars at the configured prices.
    #[arg(long)]
    max_cost: Option<f64>,
    /// Most wall-clock seconds.
    #[arg(long)]
    max_time: Option<f64>,
    /// Keep the optimizer's result even when it scores below the program as written on the
    /// validation set (by default the program as written is kept then, and the result is saved
    /// beside it as rejected-state.json).
    #[arg(long)]
    #[serde(default)]
    keep_regression: bool,
    /// Print the planned number of calls (and an estimated cost) and stop before any LM call.
    #[arg(long)]
    #[serde(skip)]
    dry_run: bool,
    /// Where to write the optimized state (also kept in the run directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run directory (default: .promptsmith/runs/<time>-optimize-<program>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Continue a killed run from its run directory (its saved settings are used).
    #[arg(long, value_name = "RUN_DIR")]
    #[serde(skip)]
    resume: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    #[serde(skip)]
    quiet: bool,
    /// The model behind each role when the run started (saved in the run's config, checked on
    /// resume: journaled calls match only the same models).
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    models: Option<std::collections::BTreeMap<String, String>>,
    /// Recording in the store (--no-store, --database-url).
    #[command(flatten)]
    #[serde(skip)]
    store: super::registry::RecordArgs,
    /// Register the result in the store's registry under this name: it becomes `production` when
    /// it beats the production version by --promotion-margin with a significant paired test on
    /// the validation set, else `candidate`.
    #[arg(long, value_name = "NAME")]
    register: Option<String>,
    /// Relative gain over production needed to promote a registered result.
    #[arg(long, default_value_t = 0.05)]
    promotion_margin: f64,
    /// The concurrency the run used (saved for --resume: bootstrapping runs the teacher a window
    /// of this many examples at a time, so it decides which calls are made).
    #[arg(skip)]
    #[serde(default)]
    concurrency: Option<usize>,
}

impl OptimizeArgs {
    /// The dataset options of `--data` (or of another dataset name with the same mapping).
    fn data_args(&self, data: Option<&str>) -> DataArgs {
        DataArgs {
            data: data.or(self.data_spec.as_deref()).unwrap_or_default().to_string(),
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            label_transform: self.label_transform.clone(),
        }
    }
}

/// Settings file of a run directory.
const CONFIG_FILE: &str = "config.json";
/// The optimizer's result when it scored below the program as written and was not kept.
const REJECTED_STATE_FILE: &str = "rejected-state.json";

/// The `--teacher-state` file, checked against the program before any model call.
fn teacher_state(args: &OptimizeArgs, program: &Program) -> Result<Option<ProgramState>> {
    let Some(path) = &args.teacher_state else { return Ok(None) };
    if !matches!(args.optimizer.as_str(), "bootstrap" | "random_search" | "mipro") {
        bail!("--teacher-state applies to the optimizers that bootstrap (bootstrap, random_search, mipro)");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--teacher-state {}: cannot read it", path.display()))?;
    let state = ProgramState::from_json(&text, &path.display().to_string()).map_err(anyhow::Error::msg)?;
    program.with_state(&state).map_err(|e| anyhow!("--teacher-state {}: {e}", path.display()))?;
    Ok(Some(state))
}

fn optimizer(args: &OptimizeArgs, program: &Program) -> Result<Box<dyn Optimizer>> {
    let mipro = args.optimizer == "mipro";
    let bootstrap = BootstrapSettings {
        max_bootstrapped_demos: args.max_bootstrapped_demos.unwrap_or(4),
        max_labeled_demos: args.max_labeled_demos.unwrap_or(if mipro { 4 } else { 16 }),
        max_rounds: args.max_rounds,
        metric_threshold: args.metric_threshold,
        teacher_state: teacher_state(args, program)?,
    };
    let only_mipro = [
        ("--auto", args.auto.is_some()),
        ("--num-candidates", args.num_candidates.is_some()),
        ("--num-trials", args.num_trials.is_some()),
        ("--no-minibatch", args.no_minibatch),
        ("--search-adapter", args.search_adapter),
    ];
    if !mipro {
        if let Some((flag, _)) = only_mipro.iter().find(|(_, set)| *set) {
            bail!("{flag} applies to --optimizer mipro only");
        }
    }
    Ok(match args.optimizer.as_str() {
        "labeled" => Box::new(LabeledFewShot { k: args.k }),
        "bootstrap" => Box::new(BootstrapFewShot { settings: bootstrap }),
        "random_search" => {
            Box::new(RandomSearch { settings: bootstrap, num_candidate_programs: args.num_candidate_programs })
        }
        "mipro" => {
            let auto = match args.auto.as_deref() {
                None if args.num_candidates.is_none() && args.num_trials.is_none() => Some(Auto::Light),
                None => None,
                Some(a) => Some(Auto::parse(a).ok_or_else(|| anyhow!("--auto {a}: expected light, medium or heavy"))?),
            };
            Box::new(MiproV2 {
                auto,
                num_candidates: args.num_candidates,
                num_trials: args.num_trials,
                bootstrap,
                minibatch: !args.no_minibatch,
                minibatch_size: args.minibatch_size,
                search_adapter: args.search_adapter,
                ..MiproV2::default()
            })
        }
        "copro" => Box::new(Copro {
            breadth: args.breadth,
            depth: args.depth,
            init_temperature: args.init_temperature,
            track_stats: false,
        }),
        other => bail!("--optimizer {other}: expected labeled, bootstrap, random_search, mipro or copro"),
    })
}

/// Loads `spec` with the program's inputs.
fn load(spec: &str, args: &OptimizeArgs, program_path: &Path, inputs: &[&str]) -> Result<Dataset> {
    args.data_args(Some(spec)).load(&sample_dirs(program_path), inputs)
}

/// Training, validation and test examples as the arguments say.
fn splits(
    args: &OptimizeArgs,
    program_path: &Path,
    program: &Program,
) -> Result<(Vec<Example>, Vec<Example>, Vec<Example>)> {
    let inputs = program.input_fields();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let data = args.data_args(None);
    let mut pool = data.load(&sample_dirs(program_path), &inputs)?.shuffle(args.seed).into_examples();
    let take = |pool: &mut Vec<Example>, n: usize, what: &str| -> Result<Vec<Example>> {
        if pool.len() < n {
            bail!("--data {data}: {what} needs {n} examples but only {} are left", pool.len());
        }
        let rest = pool.split_off(n);
        Ok(std::mem::replace(pool, rest))
    };
    let test = match (&args.test_data, args.test_size) {
        (Some(t), n) => {
            let mut d = load(t, args, program_path, &inputs)?.shuffle(args.seed).into_examples();
            if let Some(n) = n {
                d.truncate(n);
            }
            d
        }
        (None, Some(n)) => take(&mut pool, n, "--test-size")?,
        (None, None) => Vec::new(),
    };
    let (train, val) = match (&args.val_data, args.val_size) {
        (Some(v), n) => {
            let mut val = load(v, args, program_path, &inputs)?.shuffle(args.seed).into_examples();
            if let Some(n) = n {
                val.truncate(n);
            }
            (pool, val)
        }
        (None, Some(n)) => {
            let val = take(&mut pool, n, "--val-size")?;
            (pool, val)
        }
        // DSPy's split of the pool; --train-size then trims the training part.
        (None, None) => split_like_dspy(pool, args.seed).map_err(|e| anyhow!("--data {data}: {e}"))?,
    };
    let mut train = train;
    if let Some(n) = args.train_size {
        if train.len() < n {
            bail!("--train-size {n}: only {} training examples are available", train.len());
        }
        train.truncate(n);
    }
    Ok((train, val, test))
}

/// Progress on stderr: one line per trial and a bar for the current phase.
struct Progress {
    bar: ProgressBar,
    quiet: bool,
    best: std::sync::Mutex<Option<f64>>,
}

impl EventSink for Progress {
    fn emit(&self, event: &Event) {
        match event {
            Event::Phase { name, steps } => {
                self.bar.reset();
                self.bar.set_length(steps.unwrap_or(0) as u64);
                self.bar.set_prefix(name.clone());
            }
            Event::Step { done } => self.bar.set_position(*done as u64),
            Event::TrialFinished(t) => {
                let kind = match t.kind {
                    TrialKind::Full => "full",
                    TrialKind::Minibatch => "minibatch",
                };
                let best = self.best.lock().ok().and_then(|b| *b);
                let line = format!(
                    "trial {:>3} {:<9} {:>4} ex  score {:>5.1}%{}  calls so far {}",
                    t.number,
                    kind,
                    t.n,
                    t.score * 100.0,
                    best.map(|b| format!("  best {:.1}%", b * 100.0)).unwrap_or_default(),
                    t.spent_calls
                );
                if !self.quiet {
                    self.bar.println(line);
                }
                self.bar.inc(1);
            }
            Event::NewBest { score, .. } => {
                if let Ok(mut b) = self.best.lock() {
                    *b = Some(*score);
                }
            }
            Event::Budget(spent) => {
                let t = spent.total();
                self.bar.set_message(format!("{} calls, {} tokens", t.calls, t.tokens()));
            }
            Event::Message(m) => {
                if !self.quiet {
                    self.bar.println(m.clone());
                }
            }
            Event::TrialStarted { .. } => {}
        }
    }
}

pub(crate) async fn optimize(args: OptimizeArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let store_args = args.store.clone();
    let (args, dir) = match &args.resume {
        Some(dir) => {
            let path = dir.join(CONFIG_FILE);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("--resume {}: cannot read {}", dir.display(), path.display()))?;
            let mut saved: OptimizeArgs = serde_json::from_str(&text)
                .map_err(|e| anyhow!("--resume: {} line {}: {e}", path.display(), e.line()))?;
            saved.quiet = args.quiet;
            saved.store = args.store.clone();
            if dir.join("state.json").is_file() && dir.join("report.json").is_file() {
                eprintln!("note: {} already finished; replaying it from its journal", dir.display());
            }
            (saved, dir.clone())
        }
        None => {
            let program_path = args.program.clone().context("--program is required")?;
            let name = program_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let dir = if args.dry_run { PathBuf::new() } else { run_dir(args.run_dir.as_deref(), "optimize", &name)? };
            (args, dir)
        }
    };
    let program_path = args.program.clone().context("--program is required")?;
    let program = load_program_with_state(&program_path, args.state.as_deref())?;
    let field = super::metric_field(&program, args.field.as_deref())?;
    let metric_spec = super::metric_spec(&args.metric)?;
    let opt = optimizer(&args, &program)?;
    if let Some(name) = &args.register {
        if args.store.no_store {
            bail!("--register {name} needs the store; drop --no-store");
        }
        if !(args.promotion_margin.is_finite() && args.promotion_margin >= 0.0) {
            bail!("--promotion-margin {}: expected a relative gain such as 0.05", args.promotion_margin);
        }
    }
    let (trainset, valset, testset) = splits(&args, &program_path, &program)?;
    super::check_labels(
        &metric_spec,
        &field,
        args.data_spec.as_deref().unwrap_or_default(),
        trainset.first().or(valset.first()),
    )?;
    let budget = Budget {
        max_calls: args.max_calls,
        max_tokens: args.max_tokens,
        max_cost_usd: args.max_cost,
        max_seconds: args.max_time,
    };
    if args.max_calls == Some(0) || args.max_tokens == Some(0) {
        bail!("--max-calls / --max-tokens 0 allow no LM call at all");
    }
    for (flag, v) in [("--max-cost", args.max_cost), ("--max-time", args.max_time)] {
        if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
            bail!("{flag} {}: expected a positive number", v.unwrap_or_default());
        }
    }

    // Everything that can be checked is checked before the first LM call.
    let placeholder: Arc<dyn promptsmith_eval::Metric> =
        Arc::from(promptsmith_eval::metric_by_name("exact_match", &field).map_err(|e| anyhow!("--metric: {e}"))?);
    let preview = OptimizeTask {
        program: program.clone(),
        trainset: trainset.clone(),
        valset: valset.clone(),
        metric: placeholder,
    };
    let (plan, _) = check(opt.as_ref(), &preview).map_err(|e| anyhow!("{e}"))?;
    if args.dry_run {
        println!(
            "{} on {} training / {} validation / {} test examples, seed {}",
            opt.name(),
            trainset.len(),
            valset.len(),
            testset.len(),
            args.seed
        );
        println!(
            "planned LM calls (upper bounds): {} task, {} teacher, {} proposer; {} in all, {} trials",
            plan.task_calls,
            plan.teacher_calls,
            plan.proposer_calls,
            plan.total_calls(),
            plan.trials
        );
        let tokens = estimate_tokens(&program, &trainset);
        println!("estimated tokens per task call: about {} prompt + up to {} completion", tokens.0, tokens.1);
        let config = crate::lm_setup::read_config(&lm_args)?.roles.task;
        let calls = plan.total_calls();
        match config.cost_usd(tokens.0 * calls, tokens.1 * calls) {
            Some(c) => println!("estimated cost: at most ${c:.4} at the configured prices"),
            None => println!("estimated cost: no price configured (set prices in promptsmith.toml [lm])"),
        }
        for note in &plan.notes {
            println!("  - {note}");
        }
        if let Some(max) = budget.max_calls {
            if max < plan.total_calls() {
                println!("  - --max-calls {max} is below the plan: the search will stop early when it is reached");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let handle = build_lm(&lm_args).await?;
    let mut args = args;
    let concurrency = *args.concurrency.get_or_insert(handle.concurrency);
    let models = RoleModels {
        task: handle.lm.clone(),
        teacher: Some(role_lm(&lm_args, &handle, LmRole::Teacher).await?),
        proposer: Some(role_lm(&lm_args, &handle, LmRole::Proposer).await?),
        judge: Some(role_lm(&lm_args, &handle, LmRole::Judge).await?),
    };
    let names = role_model_names(&models);
    if let Some(saved) = args.models.as_ref().filter(|saved| **saved != names) {
        handle.shutdown().await;
        bail!(
            "--resume {}: the run was started with {}, this command would use {}; its journaled calls \
             would not match and would be made again. Resume with the same --model / --lm-base-url / \
             --local-model (and promptsmith.toml roles) as the run started with",
            dir.display(),
            describe_models(saved),
            describe_models(&names)
        );
    }
    args.models = Some(names);
    write_json(&dir, CONFIG_FILE, &args)?;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix:>9} {bar:25} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let events = Arc::new(Progress { bar: bar.clone(), quiet: args.quiet, best: Default::default() });
    let checkpoint = Arc::new(RunDirCheckpoint::open(&dir).map_err(|e| anyhow!("{e}"))?);
    let engine = Engine::new(
        models,
        EngineConfig { concurrency, seed: args.seed, budget, failure_score: 0.0 },
        checkpoint,
        events,
    )
    .map_err(|e| anyhow!("{e}"))?
    .with_cancel(cancel_on_ctrl_c());
    if engine.journal_len() > 0 {
        eprintln!(
            "resuming {}: {} completed calls will be replayed from the journal",
            dir.display(),
            engine.journal_len()
        );
    }
    let judge: Option<Arc<dyn LanguageModel>> = metric_spec.needs_judge().then(|| engine.lm(LmRole::Judge));
    let metric = metric_spec.build(&field, judge).map_err(|e| anyhow!("--metric {}: {e}", args.metric))?;
    let task = OptimizeTask { program: program.clone(), trainset, valset, metric };
    let options = RunOptions { keep_regression: args.keep_regression };
    let result = run_with(opt.as_ref(), &engine, &task, &testset, options).await;
    bar.finish_and_clear();
    let (state, report) = match result {
        Ok(r) => r,
        Err(e) => {
            handle.shutdown().await;
            if matches!(e, promptsmith_optimize::OptimizeError::LmFailed(_)) {
                bail!(
                    "{e}\nthe completed calls are saved in {}: once the model answers again, continue with \
                     --resume {}",
                    dir.display(),
                    dir.display()
                );
            }
            bail!("{e}");
        }
    };
    // Registration compares with production on the same validation examples (through the
    // engine: cached rollouts are free, new ones count against the budget).
    let registration = match &args.register {
        Some(name) if !store_args.no_store => {
            Some(register(name, &args, &program_path, &engine, &task, &state, &report, &store_args).await)
        }
        _ => None,
    };
    let info = handle.info.clone();
    handle.shutdown().await;

    let state_path = write_json(&dir, "state.json", &state)?;
    if let Some(out) = &args.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(out, state.to_json() + "\n").with_context(|| format!("cannot write {}", out.display()))?;
    }
    write_json(&dir, "report.json", &report)?;
    if let Some(r) = &report.rejected {
        write_json(&dir, REJECTED_STATE_FILE, &r.state)?;
    }
    let mut manifest = Manifest::new("optimize");
    manifest.seed = Some(args.seed);
    manifest.model = serde_json::to_value(&info)?;
    manifest.program = json!({
        "path": program_path.display().to_string(),
        "name": program.name,
        "hash": program.hash(),
        "state": args.state.as_ref().map(|p| json!({"path": p.display().to_string(), "sha256": file_sha256(p)})),
    });
    manifest.settings = serde_json::to_value(&args)?;
    write_json(&dir, "manifest.json", &manifest)?;
    print_report(&report, &state_path, args.out.as_deref(), &dir);
    let version = match registration {
        Some(Ok((version, line))) => {
            println!("{line}");
            Some(version)
        }
        Some(Err(e)) => {
            eprintln!("error: registering the result failed (the state is saved in {}): {e:#}", dir.display());
            None
        }
        None => None,
    };
    if !store_args.no_store {
        if let Err(e) = record_run(&store_args, &program.name, opt.name(), &args, &report, &state, &dir, version).await
        {
            eprintln!("warning: the run is saved in {}, but recording it in the store failed: {e:#}", dir.display());
        }
    }
    Ok(if report.stopped.as_ref().is_some_and(|s| s.is_cancelled()) { ExitCode::from(130) } else { ExitCode::SUCCESS })
}

/// The model name behind each role.
fn role_model_names(models: &RoleModels) -> std::collections::BTreeMap<String, String> {
    LmRole::ALL.into_iter().map(|role| (role.as_str().to_string(), models.for_role(role).model_name())).collect()
}

/// `task 'a', teacher 'b', ...`
fn describe_models(names: &std::collections::BTreeMap<String, String>) -> String {
    names.iter().map(|(role, name)| format!("{role} '{name}'")).collect::<Vec<_>>().join(", ")
}

/// Registers `state` under `name`; returns the version and a line to print.
#[allow(clippy::too_many_arguments)]
async fn register(
    name: &str,
    args: &OptimizeArgs,
    program_path: &Path,
    engine: &Engine,
    task: &OptimizeTask,
    state: &promptsmith_core::ProgramState,
    report: &RunReport,
    store_args: &super::registry::RecordArgs,
) -> Result<(i64, String)> {
    use promptsmith_store::{NewVersion, PromotionPolicy, VersionSelector};
    let store = super::registry::StoreArgs { database_url: store_args.database_url.clone() }.open().await?;
    let (spec, parent) = match super::registry::registered_ref(program_path) {
        Some(r) => {
            let v = store.resolve(&r).await?;
            (v.spec, Some(v.version))
        }
        None => (promptsmith_core::ProgramSpec::load(program_path).map_err(anyhow::Error::new)?, None),
    };
    let production = match store.version(name, &VersionSelector::Alias("production".into())).await {
        Ok(v) => Some(v),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let final_scores = promptsmith_optimize::run::score(engine, task, state, &task.valset)
        .await
        .context("cannot score the result on the validation set (budget exhausted?)")?
        .scores;
    let active = match &production {
        None => None,
        Some(v) => {
            let scores = promptsmith_optimize::run::score(engine, task, &v.state, &task.valset)
                .await
                .with_context(|| {
                    format!("cannot score {name}@production (version {}) on the validation set", v.version)
                })?
                .scores;
            Some((v.version, scores))
        }
    };
    let mut new = NewVersion::new(name, spec, state.clone(), &std::env::var("USER").unwrap_or_else(|_| "cli".into()));
    new.parent_version = parent.or(production.as_ref().map(|v| v.version));
    new.optimizer = Some(report.optimizer.clone());
    new.params = report.params.clone();
    new.scores = json!({
        "val": report.final_val.as_ref().map(|s| s.score),
        "test": report.final_test.as_ref().map(|s| s.score),
        "baseline_val": report.baseline_val.as_ref().map(|s| s.score),
    });
    new.note = format!("promptsmith optimize --optimizer {} --seed {}", report.optimizer, args.seed);
    if let Some(r) = &report.rejected {
        new.note.push_str(&format!(
            " (the optimizer's result scored {:.1}% on validation, below the program as written, which is what this version holds)",
            r.val.score * 100.0
        ));
    }
    let policy =
        PromotionPolicy { min_relative_gain: args.promotion_margin, seed: args.seed, ..PromotionPolicy::default() };
    let outcome = store
        .register_optimized(&new, &final_scores, active.as_ref().map(|(v, s)| (*v, s.as_slice())), &policy)
        .await?;
    store.close().await;
    let why = outcome.decision.as_ref().map(|d| format!(": {}", d.reason)).unwrap_or_default();
    Ok((
        outcome.version.version,
        format!("registered {name} version {} as {}{why}", outcome.version.version, outcome.alias),
    ))
}

/// Records the run, its trials and its artifacts in the store.
#[allow(clippy::too_many_arguments)]
async fn record_run(
    store_args: &super::registry::RecordArgs,
    program: &str,
    optimizer: &str,
    args: &OptimizeArgs,
    report: &RunReport,
    state: &promptsmith_core::ProgramState,
    dir: &Path,
    version: Option<i64>,
) -> Result<()> {
    use promptsmith_store::{NewRun, RoleUsage, RunEnd, RunStatus, Trial};
    let store = super::registry::StoreArgs { database_url: store_args.database_url.clone() }.open().await?;
    let run = store
        .create_run(&NewRun {
            kind: "optimize".into(),
            program: args.register.clone().unwrap_or_else(|| program.to_string()),
            optimizer: Some(optimizer.to_string()),
            params: report.params.clone(),
            metadata: json!({"seed": args.seed, "run_dir": dir.display().to_string(), "sizes": report.sizes, "data": args.data_spec}),
        })
        .await?;
    for t in &report.trials {
        store
            .add_trial(
                run.id,
                &Trial {
                    trial: t.number as i64,
                    candidate: t.candidate.clone(),
                    parent_candidate: None,
                    score: Some(t.score),
                    params: json!({"kind": t.kind, "n": t.n, "choice": t.params}),
                    state: None,
                    created_at: 0,
                },
            )
            .await?;
    }
    store.put_artifact(run.id, "state.json", "state", &state.to_json()).await?;
    store.put_artifact(run.id, "report.json", "report", &serde_json::to_string(report)?).await?;
    let role = |r: &promptsmith_optimize::budget::RoleSpend| RoleUsage {
        calls: r.calls,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        cost_usd: r.cost_usd,
    };
    let usage = [
        ("task", role(&report.spent.task)),
        ("teacher", role(&report.spent.teacher)),
        ("proposer", role(&report.spent.proposer)),
        ("judge", role(&report.spent.judge)),
    ]
    .into_iter()
    .filter(|(_, u)| u.calls > 0)
    .map(|(k, u)| (k.to_string(), u))
    .collect();
    let end = RunEnd {
        // A budget stop is a normal end (the best state so far is the result); Ctrl-C is not.
        status: if report.stopped.as_ref().is_some_and(|s| s.is_cancelled()) {
            RunStatus::Cancelled
        } else {
            RunStatus::Succeeded
        },
        usage,
        best_score: report.final_val.as_ref().map(|s| s.score),
        result_version: version,
        error: report.stopped.as_ref().map(ToString::to_string),
    };
    store.finish_run(run.id, &end).await?;
    store.close().await;
    println!("stored: run {} with {} trials in {}", run.id, report.trials.len(), store.url());
    Ok(())
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

fn pct(s: Option<&SplitScore>) -> String {
    s.map(|s| format!("{:.1}% (n={})", s.score * 100.0, s.n)).unwrap_or_else(|| "-".into())
}

fn print_report(report: &RunReport, state: &Path, out: Option<&Path>, dir: &Path) {
    println!("{} finished in {:.1}s, {} trials", report.optimizer, report.wall_seconds, report.trials.len());
    println!("validation: {} -> {}", pct(report.baseline_val.as_ref()), pct(report.final_val.as_ref()));
    if let Some(r) = &report.rejected {
        println!(
            "kept the program as written: the optimizer's result scored {} on validation, below it \
             (saved as {}; --keep-regression keeps such a result instead)",
            pct(Some(&r.val)),
            dir.join(REJECTED_STATE_FILE).display()
        );
    }
    if report.final_test.is_some() {
        println!("test:       {} -> {}", pct(report.baseline_test.as_ref()), pct(report.final_test.as_ref()));
    }
    let s = &report.spent;
    println!(
        "LM calls: {} task, {} teacher, {} proposer, {} judge ({} sent to the model, the rest from the journal); tokens: {}",
        s.task.calls,
        s.teacher.calls,
        s.proposer.calls,
        s.judge.calls,
        report.live_calls,
        s.total().tokens()
    );
    if s.total().cost_usd > 0.0 {
        println!("cost: ${:.4}", s.total().cost_usd);
    }
    if let Some(stop) = &report.stopped {
        println!("stopped early: {stop}");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    println!("optimized state: {}", out.unwrap_or(state).display());
    println!("run: {} (resume with --resume {})", dir.display(), dir.display());
}

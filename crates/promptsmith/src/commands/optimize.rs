//! `promptsmith optimize`: find the instructions and demos that score best.
//!
//! The flags become a [`promptsmith_app::OptimizeRequest`] and the job runs in
//! [`promptsmith_app::OptimizeService`]; this module parses, shows progress and prints.
//! `--program DIR` optimizes a prompt family ([`family`]).

mod evolutionary;
mod family;

use crate::lm_setup::{build_lm, LmArgs};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use promptsmith_app::optimize::{
    BootstrapSpec, CoproSpec, DryRun, GepaSpec, MiproSpec, OptimizeOutcome, RegisterRequest, RunContext, SplitRequest,
};
use promptsmith_app::rundir::create_run_dir;
use promptsmith_app::{DataRequest, OptimizeRequest, OptimizeService, OptimizerSpec, StoreTarget};
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::events::{Event, EventSink, TrialKind};
use promptsmith_optimize::optimizers::gepa::{CandidateSelection, FrontierType, ModuleSelector};
use promptsmith_optimize::optimizers::mipro::Auto;
use promptsmith_optimize::run::{RunReport, SplitScore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The optimizers `--optimizer` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OptimizerName {
    /// LabeledFewShot.
    Labeled,
    /// BootstrapFewShot.
    Bootstrap,
    /// BootstrapFewShotWithRandomSearch.
    #[value(name = "random_search")]
    RandomSearch,
    /// MIPROv2.
    Mipro,
    /// COPRO.
    Copro,
    /// GEPA (reflective prompt evolution).
    Gepa,
    /// A genetic search over instructions and demo sets (NSGA-II with several objectives).
    Evolutionary,
}

/// GEPA's parent selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SelectionName {
    /// From the per-instance Pareto frontier.
    Pareto,
    /// The best validation score.
    #[value(name = "current_best")]
    CurrentBest,
    /// The best, or with probability 0.1 any candidate.
    #[value(name = "epsilon_greedy")]
    EpsilonGreedy,
}

/// What GEPA's frontier is kept over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FrontierName {
    /// Each validation instance.
    Instance,
    /// Each objective of the run (needs --objective besides the score).
    Objective,
    /// Both.
    Hybrid,
    /// Each pair of a validation instance and an objective.
    Cartesian,
}

/// GEPA's choice of predictors per iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModuleSelectorName {
    /// One predictor per iteration, in turn.
    #[value(name = "round_robin")]
    RoundRobin,
    /// Every predictor.
    All,
}

/// GEPA's flags (see the README's GEPA section).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct GepaArgs {
    /// GEPA: the budget in metric calls (one program run on one example, scored).
    #[arg(long)]
    max_metric_calls: Option<u64>,
    /// GEPA: the budget in passes over the training plus validation set.
    #[arg(long)]
    max_full_evals: Option<u64>,
    /// GEPA: training examples per reflection (default 3).
    #[arg(long)]
    reflection_minibatch_size: Option<usize>,
    /// GEPA: how parents are chosen (default pareto).
    #[arg(long, value_enum)]
    candidate_selection_strategy: Option<SelectionName>,
    /// GEPA: what the frontier parents are drawn from is kept over (default instance).
    #[arg(long, value_enum)]
    frontier_type: Option<FrontierName>,
    /// GEPA: which predictors an iteration changes (default round_robin).
    #[arg(long, value_enum)]
    module_selector: Option<ModuleSelectorName>,
    /// GEPA: proposals an iteration makes at once, each from its own parent and minibatch
    /// (default 1).
    #[arg(long)]
    parallel_proposals: Option<usize>,
    /// GEPA: reflect even on minibatches that are already perfect.
    #[arg(long)]
    no_skip_perfect_score: bool,
    /// GEPA: show the reflection model the outputs that could not be parsed.
    #[arg(long)]
    add_format_failure_as_feedback: bool,
    /// GEPA: no merges.
    #[arg(long)]
    no_merge: bool,
    /// GEPA: most accepted merges (default 5).
    #[arg(long)]
    max_merge_invocations: Option<usize>,
    /// GEPA: the score of a perfect example (default 1).
    #[arg(long)]
    perfect_score: Option<f64>,
    /// GEPA: longest proposed instruction in characters (default 3000).
    #[arg(long)]
    max_instruction_chars: Option<usize>,
    /// GEPA: stop after this many iterations without a better candidate.
    #[arg(long)]
    no_improvement_iterations: Option<usize>,
    /// GEPA: stop once the best validation score reaches this.
    #[arg(long)]
    score_threshold: Option<f64>,
    /// GEPA: stop at the next iteration once this file exists.
    #[arg(long)]
    stop_file: Option<PathBuf>,
    /// GEPA: stop once the reflection model's calls cost this many US dollars.
    #[arg(long)]
    max_reflection_cost: Option<f64>,
}

impl GepaArgs {
    /// The first GEPA flag set, if any.
    fn first_set(&self) -> Option<&'static str> {
        let set = [
            ("--max-metric-calls", self.max_metric_calls.is_some()),
            ("--max-full-evals", self.max_full_evals.is_some()),
            ("--reflection-minibatch-size", self.reflection_minibatch_size.is_some()),
            ("--candidate-selection-strategy", self.candidate_selection_strategy.is_some()),
            ("--frontier-type", self.frontier_type.is_some()),
            ("--module-selector", self.module_selector.is_some()),
            ("--parallel-proposals", self.parallel_proposals.is_some()),
            ("--no-skip-perfect-score", self.no_skip_perfect_score),
            ("--add-format-failure-as-feedback", self.add_format_failure_as_feedback),
            ("--no-merge", self.no_merge),
            ("--max-merge-invocations", self.max_merge_invocations.is_some()),
            ("--perfect-score", self.perfect_score.is_some()),
            ("--max-instruction-chars", self.max_instruction_chars.is_some()),
            ("--no-improvement-iterations", self.no_improvement_iterations.is_some()),
            ("--score-threshold", self.score_threshold.is_some()),
            ("--stop-file", self.stop_file.is_some()),
            ("--max-reflection-cost", self.max_reflection_cost.is_some()),
        ];
        set.iter().find(|(_, on)| *on).map(|(flag, _)| *flag)
    }

    fn spec(&self, auto: Option<Auto>) -> GepaSpec {
        let d = GepaSpec::default();
        GepaSpec {
            auto,
            max_metric_calls: self.max_metric_calls,
            max_full_evals: self.max_full_evals,
            reflection_minibatch_size: self.reflection_minibatch_size.unwrap_or(d.reflection_minibatch_size),
            candidate_selection_strategy: self.candidate_selection_strategy.map_or(
                d.candidate_selection_strategy,
                |s| match s {
                    SelectionName::Pareto => CandidateSelection::Pareto,
                    SelectionName::CurrentBest => CandidateSelection::CurrentBest,
                    SelectionName::EpsilonGreedy => CandidateSelection::EpsilonGreedy,
                },
            ),
            frontier_type: self.frontier_type.map_or(d.frontier_type, |f| match f {
                FrontierName::Instance => FrontierType::Instance,
                FrontierName::Objective => FrontierType::Objective,
                FrontierName::Hybrid => FrontierType::Hybrid,
                FrontierName::Cartesian => FrontierType::Cartesian,
            }),
            module_selector: self.module_selector.map_or(d.module_selector, |m| match m {
                ModuleSelectorName::RoundRobin => ModuleSelector::RoundRobin,
                ModuleSelectorName::All => ModuleSelector::All,
            }),
            parallel_proposals: self.parallel_proposals.unwrap_or(d.parallel_proposals),
            skip_perfect_score: !self.no_skip_perfect_score,
            add_format_failure_as_feedback: self.add_format_failure_as_feedback,
            use_merge: !self.no_merge,
            max_merge_invocations: self.max_merge_invocations.unwrap_or(d.max_merge_invocations),
            perfect_score: self.perfect_score.unwrap_or(d.perfect_score),
            max_instruction_chars: self.max_instruction_chars.unwrap_or(d.max_instruction_chars),
            no_improvement_iterations: self.no_improvement_iterations,
            score_threshold: self.score_threshold,
            stop_file: self.stop_file.clone(),
            max_reflection_cost_usd: self.max_reflection_cost,
            ..d
        }
    }
}

/// MIPROv2's presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AutoPreset {
    /// 6 candidates, validation up to 100.
    Light,
    /// 12 candidates, validation up to 300.
    Medium,
    /// 18 candidates, validation up to 1000.
    Heavy,
}

/// Arguments of `optimize`.
#[derive(Debug, Clone, Args)]
pub(crate) struct OptimizeArgs {
    /// Program spec file (JSON or YAML), or a directory of program directories (a prompt
    /// family: each `*/program.json` with its `data/train.jsonl` and optional `data/val.jsonl`,
    /// `data/test.jsonl`, all optimized with these settings under one shared budget).
    #[arg(long, required_unless_present = "resume")]
    program: Option<PathBuf>,
    /// Start from this program state instead of the program's own instructions and demos.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Seed MIPROv2's candidate pool with a related program's instructions and demos: a
    /// registered version (NAME@production, NAME@3) or a spec file; its predictors are matched
    /// to this program's by field names and types (repeatable).
    #[arg(long = "warm-start", value_name = "NAME@VERSION|ALIAS")]
    warm_start: Vec<String>,
    /// Training data (and the pool validation/test examples are drawn from when no
    /// --val-data/--test-data is given): a dataset name, spec file or data file (see `eval --help`).
    /// Not needed for a family (each member's data is in its directory).
    #[arg(long = "data")]
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
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerName::Mipro)]
    optimizer: OptimizerName,
    /// MIPROv2 or GEPA preset (MIPROv2: excludes --num-candidates/--num-trials; GEPA: excludes
    /// --max-metric-calls/--max-full-evals).
    #[arg(long, value_enum)]
    auto: Option<AutoPreset>,
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
    /// GEPA's settings.
    #[command(flatten)]
    gepa: GepaArgs,
    /// The evolutionary search's settings.
    #[command(flatten)]
    evolutionary: evolutionary::EvolutionaryArgs,
    /// Objectives besides the metric, constraints on the result and ensembles (any optimizer).
    #[command(flatten)]
    objectives: evolutionary::ObjectiveArgs,
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
    keep_regression: bool,
    /// Print the planned number of calls (and an estimated cost) and stop before any LM call.
    #[arg(long)]
    dry_run: bool,
    /// Where to write the optimized state (also kept in the run directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run directory (default: .promptsmith/runs/<time>-optimize-<program>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Continue a killed run from its run directory (its saved settings are used).
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Recording in the store (--no-store, --database-url).
    #[command(flatten)]
    store: super::registry::RecordArgs,
    /// Register the result in the store's registry under this name: it becomes `production` when
    /// it beats the production version by --promotion-margin with a significant paired test on
    /// the validation set, else `candidate`.
    #[arg(long, value_name = "NAME")]
    register: Option<String>,
    /// Relative gain over production needed to promote a registered result.
    #[arg(long, default_value_t = 0.05)]
    promotion_margin: f64,
}

/// Progress on stderr: one line per trial and a bar for the current phase.
struct Progress {
    bar: ProgressBar,
    quiet: bool,
    best: std::sync::Mutex<Option<f64>>,
    dir: PathBuf,
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
            Event::Resumed { replayed_calls } => eprintln!(
                "resuming {}: {replayed_calls} completed calls will be replayed from the journal",
                self.dir.display()
            ),
            Event::TrialStarted { .. } => {}
        }
    }
}

impl OptimizeArgs {
    /// The flags that apply to one optimizer only, refused elsewhere.
    fn check_flags(&self) -> Result<()> {
        if self.optimizer != OptimizerName::Gepa {
            if let Some(flag) = self.gepa.first_set() {
                bail!("{flag} applies to --optimizer gepa only");
            }
        }
        if self.optimizer != OptimizerName::Evolutionary {
            if let Some(flag) = self.evolutionary.first_set() {
                bail!("{flag} applies to --optimizer evolutionary only");
            }
        }
        if self.auto.is_some() && !matches!(self.optimizer, OptimizerName::Mipro | OptimizerName::Gepa) {
            bail!("--auto applies to --optimizer mipro or gepa only");
        }
        let only_mipro = [
            ("--num-candidates", self.num_candidates.is_some()),
            ("--num-trials", self.num_trials.is_some()),
            ("--no-minibatch", self.no_minibatch),
            ("--search-adapter", self.search_adapter),
        ];
        if self.optimizer != OptimizerName::Mipro {
            if let Some((flag, _)) = only_mipro.iter().find(|(_, set)| *set) {
                bail!("{flag} applies to --optimizer mipro only");
            }
        }
        let bootstraps =
            matches!(self.optimizer, OptimizerName::Bootstrap | OptimizerName::RandomSearch | OptimizerName::Mipro);
        if self.teacher_state.is_some() && !bootstraps {
            bail!("--teacher-state applies to the optimizers that bootstrap (bootstrap, random_search, mipro)");
        }
        if let Some(name) = &self.register {
            if self.store.no_store {
                bail!("--register {name} needs the store; drop --no-store");
            }
        }
        Ok(())
    }

    fn bootstrap(&self) -> BootstrapSpec {
        BootstrapSpec {
            max_bootstrapped_demos: self.max_bootstrapped_demos,
            max_labeled_demos: self.max_labeled_demos,
            max_rounds: self.max_rounds,
            metric_threshold: self.metric_threshold,
            teacher_state: self.teacher_state.clone(),
        }
    }

    fn auto(&self) -> Option<Auto> {
        self.auto.map(|a| match a {
            AutoPreset::Light => Auto::Light,
            AutoPreset::Medium => Auto::Medium,
            AutoPreset::Heavy => Auto::Heavy,
        })
    }

    fn optimizer_spec(&self) -> OptimizerSpec {
        match self.optimizer {
            OptimizerName::Labeled => OptimizerSpec::Labeled { k: self.k },
            OptimizerName::Bootstrap => OptimizerSpec::Bootstrap(self.bootstrap()),
            OptimizerName::RandomSearch => OptimizerSpec::RandomSearch {
                bootstrap: self.bootstrap(),
                num_candidate_programs: self.num_candidate_programs,
            },
            OptimizerName::Gepa => OptimizerSpec::Gepa(self.gepa.spec(self.auto())),
            OptimizerName::Evolutionary => OptimizerSpec::Evolutionary(self.evolutionary.spec()),
            OptimizerName::Mipro => OptimizerSpec::Mipro(MiproSpec {
                auto: self.auto(),
                num_candidates: self.num_candidates,
                num_trials: self.num_trials,
                bootstrap: self.bootstrap(),
                minibatch: !self.no_minibatch,
                minibatch_size: self.minibatch_size,
                search_adapter: self.search_adapter,
            }),
            OptimizerName::Copro => OptimizerSpec::Copro(CoproSpec {
                breadth: self.breadth,
                depth: self.depth,
                init_temperature: self.init_temperature,
            }),
        }
    }

    /// The job these flags ask for.
    fn request(&self, program: &Path, data: &str) -> Result<OptimizeRequest> {
        self.check_flags()?;
        let data = DataRequest {
            data: data.to_string(),
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            label_transform: self.label_transform.clone(),
        };
        let mut req = OptimizeRequest::new(program.display().to_string(), data, self.optimizer_spec());
        req.state = self.state.clone();
        req.warm_start = self.warm_start.clone();
        req.splits = SplitRequest {
            val_data: self.val_data.clone(),
            test_data: self.test_data.clone(),
            train_size: self.train_size,
            val_size: self.val_size,
            test_size: self.test_size,
        };
        req.metric = self.metric.clone();
        req.field = self.field.clone();
        req.seed = self.seed;
        req.budget = Budget {
            max_calls: self.max_calls,
            max_tokens: self.max_tokens,
            max_cost_usd: self.max_cost,
            max_seconds: self.max_time,
        };
        req.keep_regression = self.keep_regression;
        self.objectives.apply(&mut req)?;
        req.register = self.register.clone().map(|name| RegisterRequest {
            name,
            promotion_margin: self.promotion_margin,
            promote: true,
            actor: None,
        });
        req.out = self.out.clone();
        Ok(req)
    }
}

pub(crate) async fn optimize(args: OptimizeArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let store = (!args.store.no_store).then(|| StoreTarget::new(args.store.database_url.clone()));
    let service = OptimizeService::new(store);
    let (request, dir) = match &args.resume {
        Some(dir) => {
            let request = OptimizeService::load_config(dir)?;
            if OptimizeService::is_finished(dir) {
                eprintln!("note: {} already finished; replaying it from its journal", dir.display());
            }
            (request, dir.clone())
        }
        None if args.program.as_deref().is_some_and(Path::is_dir) => {
            let dir = args.program.clone().unwrap_or_default();
            return family::optimize_family(&args, &lm_args, &service, &dir).await;
        }
        None => {
            let (Some(program), Some(data)) = (&args.program, &args.data_spec) else {
                bail!("--program and --data are required (or --resume RUN_DIR)");
            };
            let request = args.request(program, data)?;
            let name = program.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let dir =
                if args.dry_run { PathBuf::new() } else { create_run_dir(args.run_dir.as_deref(), "optimize", &name)? };
            (request, dir)
        }
    };
    let prepared = service.prepare(request).await?;
    if args.dry_run {
        let pricing = crate::lm_setup::read_config(&lm_args)?.roles.task;
        print_plan(&service.plan(&prepared, &pricing));
        return Ok(ExitCode::SUCCESS);
    }
    let lm = build_lm(&lm_args).await?;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix:>9} {bar:25} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let events = Arc::new(Progress { bar: bar.clone(), quiet: args.quiet, best: Default::default(), dir: dir.clone() });
    let ctx = RunContext { lm: &lm, run_dir: dir.clone(), events, cancel: super::cancel_on_ctrl_c() };
    let outcome = service.run(prepared, ctx).await;
    bar.finish_and_clear();
    lm.shutdown().await;
    let outcome = outcome?;
    print_outcome(&outcome);
    Ok(if outcome.cancelled() { ExitCode::from(130) } else { ExitCode::SUCCESS })
}

fn print_plan(plan: &DryRun) {
    let (train, val, test) = plan.sizes;
    println!("{} on {train} training / {val} validation / {test} test examples, seed {}", plan.optimizer, plan.seed);
    let p = &plan.plan;
    println!(
        "planned LM calls (upper bounds): {} task, {} teacher, {} proposer; {} in all, {} trials",
        p.task_calls,
        p.teacher_calls,
        p.proposer_calls,
        p.total_calls(),
        p.trials
    );
    let (prompt, completion) = plan.tokens_per_call;
    println!("estimated tokens per task call: about {prompt} prompt + up to {completion} completion");
    match plan.estimated_cost_usd {
        Some(c) => println!("estimated cost: at most ${c:.4} at the configured prices"),
        None => println!("estimated cost: no price configured (set prices in promptsmith.toml [lm])"),
    }
    for note in &p.notes {
        println!("  - {note}");
    }
    if let Some(max) = plan.call_cap_below_plan {
        println!("  - --max-calls {max} is below the plan: the search will stop early when it is reached");
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
}

fn print_outcome(o: &OptimizeOutcome) {
    for w in &o.data_warnings {
        eprintln!("warning: {w}");
    }
    print_report(&o.report, &o.state_path, o.out.as_deref(), &o.run_dir);
    match &o.registration {
        Some(Ok(r)) => println!("registered {r}"),
        Some(Err(e)) => {
            eprintln!("error: registering the result failed (the state is saved in {}): {e}", o.run_dir.display())
        }
        None => {}
    }
    match &o.recorded {
        Some(Ok(r)) => println!("stored: run {} with {} trials in {}", r.run_id, r.trials, r.url),
        Some(Err(e)) => {
            eprintln!("warning: the run is saved in {}, but recording it in the store failed: {e}", o.run_dir.display())
        }
        None => {}
    }
}

fn pct(s: Option<&SplitScore>) -> String {
    s.map(|s| format!("{:.1}% (n={})", s.score * 100.0, s.n)).unwrap_or_else(|| "-".into())
}

/// GEPA's candidates, one line each: parents, how it was made, its validation score.
fn print_lineage(details: &serde_json::Value) {
    let Some(candidates) = details["candidates"].as_array() else { return };
    let best = details["best_candidate"].as_u64();
    println!(
        "gepa: {} candidates from {} proposals in {} iterations, {} metric calls{}",
        candidates.len(),
        details["proposals"],
        details["iterations"],
        details["metric_calls_used"],
        details["ended"].as_str().map(|e| format!("; ended: {e}")).unwrap_or_default()
    );
    for c in candidates {
        let how = match c["origin"].as_str() {
            Some("reflection") => format!("reflection on {}", c["predictors"]),
            Some("merge") => format!("merge over ancestor {}", c["ancestor"]),
            _ => "the program as written".into(),
        };
        let mark = if c["index"].as_u64() == best { "  (best)" } else { "" };
        println!(
            "  #{} <- {} {how}: {:.1}%{mark}",
            c["index"],
            c["parents"],
            c["val_score"].as_f64().unwrap_or_default() * 100.0
        );
    }
}

/// The paired test of the result against the program as written on the held-out test split
/// (the comparison the registry's promotion decision makes on validation:
/// [`compare_paired_at`](promptsmith_eval::stats::compare_paired_at) at 95%, McNemar for 0/1
/// scores, else Wilcoxon), as a one-line verdict; `None` without per-example test scores.
fn test_verdict(report: &RunReport) -> Option<String> {
    let (baseline, result) = (report.baseline_test.as_ref()?, report.final_test.as_ref()?);
    if baseline.scores.is_empty() || baseline.scores.len() != result.scores.len() {
        return None;
    }
    let cmp = promptsmith_eval::stats::compare_paired_at(&result.scores, &baseline.scores, 0.95, report.seed).ok()?;
    Some(cmp.verdict("the result", "the program as written"))
}

fn print_report(report: &RunReport, state: &Path, out: Option<&Path>, dir: &Path) {
    println!("{} finished in {:.1}s, {} trials", report.optimizer, report.wall_seconds, report.trials.len());
    println!("validation: {} -> {}", pct(report.baseline_val.as_ref()), pct(report.final_val.as_ref()));
    if let Some(r) = &report.rejected {
        println!(
            "kept the program as written: the optimizer's result scored {} on validation, below it \
             (saved as {}; --keep-regression keeps such a result instead)",
            pct(Some(&r.val)),
            dir.join(promptsmith_app::optimize::REJECTED_STATE_FILE).display()
        );
    }
    if report.final_test.is_some() {
        println!("test:       {} -> {}", pct(report.baseline_test.as_ref()), pct(report.final_test.as_ref()));
        if let Some(verdict) = test_verdict(report) {
            println!("paired test on the test split: {verdict}");
        }
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
    if report.optimizer == "gepa" {
        print_lineage(&report.details);
    }
    if report.optimizer == "evolutionary" {
        evolutionary::print_generations(&report.details);
    }
    evolutionary::print_front(&report.details);
    evolutionary::print_ensemble(&report.details);
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    println!("optimized state: {}", out.unwrap_or(state).display());
    println!("run: {} (resume with --resume {})", dir.display(), dir.display());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_optimize::budget::Spend;

    fn split(scores: &[f64]) -> SplitScore {
        SplitScore {
            score: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
            n: scores.len(),
            scores: scores.to_vec(),
        }
    }

    fn report(baseline: Option<SplitScore>, result: Option<SplitScore>) -> RunReport {
        RunReport {
            optimizer: "mipro".into(),
            params: serde_json::Value::Null,
            seed: 0,
            sizes: (0, 0, result.as_ref().map_or(0, |s| s.n)),
            baseline_val: None,
            final_val: None,
            baseline_test: baseline,
            final_test: result,
            state_hash: String::new(),
            trials: Vec::new(),
            spent: Spend::default(),
            live_calls: 0,
            wall_seconds: 0.0,
            stopped: None,
            details: serde_json::Value::Null,
            warnings: Vec::new(),
            rejected: None,
        }
    }

    /// 0/1 scores: the baseline right on the first `a` of `n`, the result on the first `b`.
    fn firsts(right: usize, n: usize) -> Vec<f64> {
        (0..n).map(|i| if i < right { 1.0 } else { 0.0 }).collect()
    }

    #[test]
    fn the_test_split_gets_the_paired_test_of_result_against_baseline() {
        // 20 examples: the result gains 10 and loses none, so McNemar's exact p = 2 / 2^10.
        let r = report(Some(split(&firsts(2, 20))), Some(split(&firsts(12, 20))));
        let v = test_verdict(&r).unwrap();
        assert!(v.starts_with("the result is better than the program as written by 50.0 points (95% CI"), "{v}");
        assert!(v.contains("McNemar's exact test p = 0.002 < 0.05"), "{v}");
        // Two gained, one lost: not significant, and the verdict says so.
        let mut result = firsts(4, 20);
        result[0] = 0.0;
        let v = test_verdict(&report(Some(split(&firsts(2, 20))), Some(split(&result)))).unwrap();
        assert!(v.starts_with("No significant difference (McNemar's exact test p = 1.000 >= 0.05)"), "{v}");
        // The program as written kept: the same scores on both sides.
        let v = test_verdict(&report(Some(split(&firsts(2, 20))), Some(split(&firsts(2, 20))))).unwrap();
        assert_eq!(v, "No difference: the result and the program as written score the same on all 20 examples.");
    }

    #[test]
    fn no_verdict_without_paired_test_scores() {
        assert_eq!(test_verdict(&report(None, None)), None);
        // A report written before per-example scores were kept.
        let bare = |score| Some(SplitScore { score, n: 20, scores: Vec::new() });
        assert_eq!(test_verdict(&report(bare(0.1), bare(0.3))), None);
        assert_eq!(test_verdict(&report(Some(split(&firsts(2, 20))), Some(split(&firsts(2, 10))))), None);
    }
}

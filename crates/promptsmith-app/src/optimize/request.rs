//! [`OptimizeRequest`]: one optimization job. The same type is the CLI's parsed flags, the run
//! directory's `config.json` (what `--resume` reads), the HTTP body and the queued job.

use crate::data::DataRequest;
use crate::error::{invalid, AppError, Result};
use promptsmith_core::{Program, ProgramState};
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::ensemble::WithEnsemble;
use promptsmith_optimize::objectives::WithObjectives;
use promptsmith_optimize::optimizers::bootstrap::{BootstrapFewShot, BootstrapSettings};
use promptsmith_optimize::optimizers::copro::Copro;
use promptsmith_optimize::optimizers::evolutionary::Evolutionary;
use promptsmith_optimize::optimizers::gepa::{CandidateSelection, FrontierType, Gepa, ModuleSelector};
use promptsmith_optimize::optimizers::labeled::LabeledFewShot;
use promptsmith_optimize::optimizers::mipro::{Auto, MiproV2};
use promptsmith_optimize::optimizers::portfolio::Portfolio;
use promptsmith_optimize::optimizers::random_search::RandomSearch;
use promptsmith_optimize::optimizers::warm::WarmStart;
use promptsmith_optimize::pareto::{Constraint, Measure, Objective, Selection};
use promptsmith_optimize::Optimizer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything an optimization needs, checked before the first model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizeRequest {
    /// A program spec file, or `NAME@VERSION|ALIAS` in the registry.
    pub program: String,
    /// Start from this state instead of the program's own instructions and demos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
    /// Related programs (`NAME@production`, `OTHER@3`, spec files) whose instructions and demos
    /// seed the candidate pool, matched to this program's predictors by their fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warm_start: Vec<String>,
    /// Training data, and the pool validation and test examples are drawn from.
    pub data: DataRequest,
    /// How the examples are split.
    #[serde(default)]
    pub splits: SplitRequest,
    /// The optimizer and its settings.
    pub optimizer: OptimizerSpec,
    /// A built-in metric id or a metric spec file.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The output field the metric compares (default `answer`, else the last output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seed of every random choice (splits, sampling, search).
    #[serde(default)]
    pub seed: u64,
    /// Caps on calls, tokens, cost and time.
    #[serde(default)]
    pub budget: Budget,
    /// Keep the optimizer's result even when it scores below the program as written.
    #[serde(default)]
    pub keep_regression: bool,
    /// Objectives besides the metric (`score:max`, `tokens:min`, `MEASURE:max|min[:WEIGHT]`):
    /// the run keeps the Pareto front over them and picks its result from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<Objective>,
    /// Bounds the picked result must meet (`{"measure": "latency", "max": 200}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Shorthand for a constraint: prompt plus completion tokens per LM call at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_call: Option<f64>,
    /// Ensemble the best candidates: the result is their majority vote when it scores above
    /// the optimizer's own result on the validation set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleRequest>,
    /// Register the result in the store's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterRequest>,
    /// Also write the optimized state here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// The model behind each role when the run started (filled in by the service; checked on
    /// resume: journaled calls match only the same models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<BTreeMap<String, String>>,
    /// The concurrency the run used (filled in by the service; bootstrapping runs the teacher a
    /// window of this many examples at a time, so it decides which calls are made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

fn default_metric() -> String {
    "exact_match".to_string()
}

/// An ensemble of the run's best candidates (`--ensemble K`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnsembleRequest {
    /// Members: the best distinct candidates scored on the validation set (2 to 15).
    pub size: usize,
    /// Outputs voted on (default: every output but `reasoning`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// Where validation and test examples come from and how many of each are used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    /// Validation data (default: drawn from `data`; without `val_size`, DSPy's split: 80% of
    /// the examples, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_data: Option<String>,
    /// Held-out test data, scored for the report only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data: Option<String>,
    /// Training examples to use (a seeded sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_size: Option<usize>,
    /// Validation examples to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_size: Option<usize>,
    /// Test examples to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_size: Option<usize>,
}

/// Registering the result under `name`: it becomes `production` when it beats the production
/// version by `promotion_margin` with a significant paired test on the validation set, else
/// `candidate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Program name in the registry.
    pub name: String,
    /// Relative gain over production needed to promote.
    #[serde(default = "default_margin")]
    pub promotion_margin: f64,
    /// Whether a winner may move `production` (default true; false registers it as
    /// `candidate`, for an experiment to decide).
    #[serde(default = "promote_default")]
    pub promote: bool,
    /// Who registers, for the registry's alias log (set by the service to `job ID`; never read
    /// from a request body; `None`: `$USER`, else `cli`).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

fn promote_default() -> bool {
    true
}

fn default_margin() -> f64 {
    0.05
}

/// An optimizer and its settings, tagged by `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// LabeledFewShot: `k` labeled demos per predictor.
    Labeled {
        /// Demos per predictor.
        #[serde(default = "default_k")]
        k: usize,
    },
    /// BootstrapFewShot.
    Bootstrap(BootstrapSpec),
    /// BootstrapFewShotWithRandomSearch.
    RandomSearch {
        /// Bootstrapping settings.
        #[serde(default)]
        bootstrap: BootstrapSpec,
        /// Candidates beyond zero-shot, labeled and unshuffled.
        #[serde(default = "default_candidate_programs")]
        num_candidate_programs: usize,
    },
    /// MIPROv2 (also accepted as `miprov2`).
    #[serde(alias = "miprov2")]
    Mipro(MiproSpec),
    /// COPRO.
    Copro(CoproSpec),
    /// GEPA (reflective prompt evolution).
    Gepa(GepaSpec),
    /// A genetic search over instructions and demo sets (NSGA-II with several objectives).
    Evolutionary(EvolutionarySpec),
    /// Several optimizers in turn under one budget and rollout cache; the best is kept.
    Portfolio {
        /// The optimizers, in the order they run (none of them a portfolio).
        #[schema(no_recursion)]
        algorithms: Vec<OptimizerSpec>,
    },
}

fn default_k() -> usize {
    16
}
fn default_candidate_programs() -> usize {
    16
}

/// Bootstrapping settings shared by bootstrap, random search and MIPROv2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSpec {
    /// Bootstrapped demos per predictor (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bootstrapped_demos: Option<usize>,
    /// Demos per predictor in all (default 16; 4 for MIPROv2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_labeled_demos: Option<usize>,
    /// Passes over the training set.
    #[serde(default = "one")]
    pub max_rounds: usize,
    /// Score a teacher trace needs to become a demo.
    #[serde(default = "one_f")]
    pub metric_threshold: f64,
    /// The teacher program's state (default: the program with labeled demos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub teacher_state: Option<PathBuf>,
}

impl Default for BootstrapSpec {
    fn default() -> Self {
        Self {
            max_bootstrapped_demos: None,
            max_labeled_demos: None,
            max_rounds: 1,
            metric_threshold: 1.0,
            teacher_state: None,
        }
    }
}

fn one() -> usize {
    1
}
fn one_f() -> f64 {
    1.0
}

/// MIPROv2 settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MiproSpec {
    /// A preset (default light when neither candidates nor trials are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<Auto>,
    /// Candidates per predictor (without `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_candidates: Option<usize>,
    /// Trials (without `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_trials: Option<usize>,
    /// Bootstrapping settings.
    #[serde(default)]
    pub bootstrap: BootstrapSpec,
    /// Score minibatches (default true).
    #[serde(default = "yes")]
    pub minibatch: bool,
    /// Minibatch size (default 35).
    #[serde(default = "default_minibatch")]
    pub minibatch_size: usize,
    /// Also search the prompt layout (chat, json, plain) per predictor.
    #[serde(default)]
    pub search_adapter: bool,
}

impl Default for MiproSpec {
    fn default() -> Self {
        Self {
            auto: None,
            num_candidates: None,
            num_trials: None,
            bootstrap: BootstrapSpec::default(),
            minibatch: true,
            minibatch_size: 35,
            search_adapter: false,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_minibatch() -> usize {
    35
}

/// COPRO settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoproSpec {
    /// Instructions per round.
    #[serde(default = "default_breadth")]
    pub breadth: usize,
    /// Rounds.
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Proposal temperature.
    #[serde(default = "one_f32")]
    pub init_temperature: f32,
}

impl Default for CoproSpec {
    fn default() -> Self {
        Self { breadth: 10, depth: 3, init_temperature: 1.0 }
    }
}

fn default_breadth() -> usize {
    10
}
fn default_depth() -> usize {
    3
}
fn one_f32() -> f32 {
    1.0
}

/// GEPA settings, with `dspy.GEPA`'s names and defaults (see the README's GEPA section). The
/// budget is one of `auto`, `max_metric_calls` and `max_full_evals` (default: `auto` light); the
/// seed is the request's `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GepaSpec {
    /// A budget preset: light, medium or heavy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<Auto>,
    /// The budget in metric calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_metric_calls: Option<u64>,
    /// The budget in passes over training plus validation set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_full_evals: Option<u64>,
    /// Training examples per reflection (default 3).
    #[serde(default = "three")]
    pub reflection_minibatch_size: usize,
    /// pareto (default), current_best or epsilon_greedy.
    #[serde(default)]
    pub candidate_selection_strategy: CandidateSelection,
    /// instance (default), objective, hybrid or cartesian (the last three need `objectives`
    /// besides the score).
    #[serde(default)]
    pub frontier_type: FrontierType,
    /// round_robin (default) or all.
    #[serde(default)]
    pub module_selector: ModuleSelector,
    /// Proposals an iteration makes at once, each from its own parent and minibatch (default 1).
    #[serde(default = "one")]
    pub parallel_proposals: usize,
    /// Skip iterations whose minibatch is already perfect (default true).
    #[serde(default = "yes")]
    pub skip_perfect_score: bool,
    /// Show the reflection model outputs that could not be parsed (default false).
    #[serde(default)]
    pub add_format_failure_as_feedback: bool,
    /// Try merges (default true).
    #[serde(default = "yes")]
    pub use_merge: bool,
    /// Most accepted merges (default 5).
    #[serde(default = "five")]
    pub max_merge_invocations: usize,
    /// GEPA's score for an example whose run failed (default 0).
    #[serde(default)]
    pub failure_score: f64,
    /// The score of a perfect example (default 1).
    #[serde(default = "one_f")]
    pub perfect_score: f64,
    /// Longest proposed instruction in characters (default 3000).
    #[serde(default = "default_instruction_chars")]
    pub max_instruction_chars: usize,
    /// Longest examples-with-feedback text shown to the reflection model (default 12000).
    #[serde(default = "default_reflection_chars")]
    pub max_reflection_chars: usize,
    /// Stop after this many iterations without a better candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_improvement_iterations: Option<usize>,
    /// Stop once the best validation score reaches this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f64>,
    /// Stop at the next iteration once this file exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub stop_file: Option<PathBuf>,
    /// Stop once the reflection model's calls cost this many US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reflection_cost_usd: Option<f64>,
}

impl Default for GepaSpec {
    fn default() -> Self {
        let g = Gepa::default();
        Self {
            auto: None,
            max_metric_calls: None,
            max_full_evals: None,
            reflection_minibatch_size: g.reflection_minibatch_size,
            candidate_selection_strategy: g.candidate_selection_strategy,
            frontier_type: g.frontier_type,
            module_selector: g.module_selector,
            parallel_proposals: g.parallel_proposals,
            skip_perfect_score: g.skip_perfect_score,
            add_format_failure_as_feedback: g.add_format_failure_as_feedback,
            use_merge: g.use_merge,
            max_merge_invocations: g.max_merge_invocations,
            failure_score: g.failure_score,
            perfect_score: g.perfect_score,
            max_instruction_chars: g.max_instruction_chars,
            max_reflection_chars: g.max_reflection_chars,
            no_improvement_iterations: None,
            score_threshold: None,
            stop_file: None,
            max_reflection_cost_usd: None,
        }
    }
}

fn three() -> usize {
    3
}
fn five() -> usize {
    5
}
fn default_instruction_chars() -> usize {
    3000
}
fn default_reflection_chars() -> usize {
    12000
}

impl GepaSpec {
    /// The optimizer (`auto` light when no budget is given).
    pub fn build(&self) -> Gepa {
        let auto = match self.auto {
            None if self.max_metric_calls.is_none() && self.max_full_evals.is_none() => Some(Auto::Light),
            a => a,
        };
        Gepa {
            auto,
            max_metric_calls: self.max_metric_calls,
            max_full_evals: self.max_full_evals,
            reflection_minibatch_size: self.reflection_minibatch_size,
            candidate_selection_strategy: self.candidate_selection_strategy,
            frontier_type: self.frontier_type,
            module_selector: self.module_selector,
            parallel_proposals: self.parallel_proposals,
            skip_perfect_score: self.skip_perfect_score,
            add_format_failure_as_feedback: self.add_format_failure_as_feedback,
            use_merge: self.use_merge,
            max_merge_invocations: self.max_merge_invocations,
            failure_score: self.failure_score,
            perfect_score: self.perfect_score,
            max_instruction_chars: self.max_instruction_chars,
            max_reflection_chars: self.max_reflection_chars,
            no_improvement_iterations: self.no_improvement_iterations,
            score_threshold: self.score_threshold,
            stop_file: self.stop_file.clone(),
            max_reflection_cost_usd: self.max_reflection_cost_usd,
            ..Gepa::default()
        }
    }
}

/// Evolutionary search settings (see the README's "Evolutionary search and multi-objective").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvolutionarySpec {
    /// Genomes per generation (default 12).
    #[serde(default = "default_population")]
    pub population: usize,
    /// Generations bred after generation 0 (default 4).
    #[serde(default = "four")]
    pub generations: usize,
    /// Genomes per tournament (default 2).
    #[serde(default = "two")]
    pub tournament_size: usize,
    /// Chance a child is a crossover (default 0.7).
    #[serde(default = "default_crossover_rate")]
    pub crossover_rate: f64,
    /// Chance per predictor of an LLM rewrite of the instruction (default 0.3).
    #[serde(default = "default_mutation_rate")]
    pub mutation_rate: f64,
    /// Chance per predictor of a demo-set mutation (default 0.3).
    #[serde(default = "default_mutation_rate")]
    pub demo_mutation_rate: f64,
    /// Merge two parents' instructions with the proposer model (default true).
    #[serde(default = "yes")]
    pub llm_crossover: bool,
    /// Best parents kept unchanged with the score as the only objective (default 2).
    #[serde(default = "two")]
    pub elitism: usize,
    /// Most demos per predictor (default 4).
    #[serde(default = "four")]
    pub max_demos: usize,
    /// Objectives selection is made on (default: the request's `objectives`, else the score).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub objectives: Vec<Objective>,
    /// Sampling temperature of the proposer (default 1.0).
    #[serde(default = "one_f32")]
    pub temperature: f32,
    /// Longest proposed instruction in characters (default 2000).
    #[serde(default = "default_evo_instruction_chars")]
    pub max_instruction_chars: usize,
}

impl Default for EvolutionarySpec {
    fn default() -> Self {
        let e = Evolutionary::default();
        Self {
            population: e.population,
            generations: e.generations,
            tournament_size: e.tournament_size,
            crossover_rate: e.crossover_rate,
            mutation_rate: e.mutation_rate,
            demo_mutation_rate: e.demo_mutation_rate,
            llm_crossover: e.llm_crossover,
            elitism: e.elitism,
            max_demos: e.max_demos,
            objectives: Vec::new(),
            temperature: e.temperature,
            max_instruction_chars: e.max_instruction_chars,
        }
    }
}

fn default_population() -> usize {
    12
}
fn four() -> usize {
    4
}
fn two() -> usize {
    2
}
fn default_crossover_rate() -> f64 {
    0.7
}
fn default_mutation_rate() -> f64 {
    0.3
}
fn default_evo_instruction_chars() -> usize {
    2000
}

impl EvolutionarySpec {
    /// The optimizer; `objectives` (the request's) apply when the spec names none.
    pub fn build(&self, objectives: &[Objective]) -> Evolutionary {
        let objectives = if self.objectives.is_empty() { objectives } else { &self.objectives };
        Evolutionary {
            population: self.population,
            generations: self.generations,
            tournament_size: self.tournament_size,
            crossover_rate: self.crossover_rate,
            mutation_rate: self.mutation_rate,
            demo_mutation_rate: self.demo_mutation_rate,
            llm_crossover: self.llm_crossover,
            elitism: self.elitism,
            max_demos: self.max_demos,
            objectives: objectives.to_vec(),
            temperature: self.temperature,
            max_instruction_chars: self.max_instruction_chars,
        }
    }
}

impl OptimizerSpec {
    /// The optimizer's id: `labeled`, `bootstrap`, `random_search`, `mipro`, `copro`, `gepa`.
    pub fn id(&self) -> &'static str {
        match self {
            OptimizerSpec::Labeled { .. } => "labeled",
            OptimizerSpec::Bootstrap(_) => "bootstrap",
            OptimizerSpec::RandomSearch { .. } => "random_search",
            OptimizerSpec::Mipro(_) => "mipro",
            OptimizerSpec::Copro(_) => "copro",
            OptimizerSpec::Gepa(_) => "gepa",
            OptimizerSpec::Evolutionary(_) => "evolutionary",
            OptimizerSpec::Portfolio { .. } => "portfolio",
        }
    }

    /// The bootstrapping settings, for the optimizers that bootstrap.
    pub fn bootstrap(&self) -> Option<&BootstrapSpec> {
        match self {
            OptimizerSpec::Bootstrap(b) | OptimizerSpec::RandomSearch { bootstrap: b, .. } => Some(b),
            OptimizerSpec::Mipro(m) => Some(&m.bootstrap),
            _ => None,
        }
    }

    /// The optimizer, with the teacher state read and checked against `program`.
    pub fn build(&self, program: &Program) -> Result<Box<dyn Optimizer>> {
        self.build_with(program, &[], &[])
    }

    /// The objectives an evolutionary spec selects on (none for the other optimizers).
    pub fn objectives(&self) -> &[Objective] {
        match self {
            OptimizerSpec::Evolutionary(e) => &e.objectives,
            _ => &[],
        }
    }

    /// Whether a warm start seeds this optimizer (MIPROv2, or a portfolio holding it).
    pub fn takes_warm_start(&self) -> bool {
        match self {
            OptimizerSpec::Mipro(_) => true,
            OptimizerSpec::Portfolio { algorithms } => algorithms.iter().any(OptimizerSpec::takes_warm_start),
            _ => false,
        }
    }

    /// [`build`](Self::build), with the request's `objectives` for an evolutionary search that
    /// names none of its own.
    /// `warm` seeds MIPROv2's candidate pool.
    pub fn build_with(
        &self,
        program: &Program,
        objectives: &[Objective],
        warm: &[WarmStart],
    ) -> Result<Box<dyn Optimizer>> {
        let mipro = matches!(self, OptimizerSpec::Mipro(_));
        let bootstrap = |b: &BootstrapSpec| -> Result<BootstrapSettings> {
            Ok(BootstrapSettings {
                max_bootstrapped_demos: b.max_bootstrapped_demos.unwrap_or(4),
                max_labeled_demos: b.max_labeled_demos.unwrap_or(if mipro { 4 } else { 16 }),
                max_rounds: b.max_rounds,
                metric_threshold: b.metric_threshold,
                teacher_state: teacher_state(b, program)?,
            })
        };
        Ok(match self {
            OptimizerSpec::Labeled { k } => Box::new(LabeledFewShot { k: *k }),
            OptimizerSpec::Bootstrap(b) => Box::new(BootstrapFewShot { settings: bootstrap(b)? }),
            OptimizerSpec::RandomSearch { bootstrap: b, num_candidate_programs } => {
                Box::new(RandomSearch { settings: bootstrap(b)?, num_candidate_programs: *num_candidate_programs })
            }
            OptimizerSpec::Mipro(m) => {
                let auto = match m.auto {
                    None if m.num_candidates.is_none() && m.num_trials.is_none() => Some(Auto::Light),
                    a => a,
                };
                Box::new(MiproV2 {
                    auto,
                    num_candidates: m.num_candidates,
                    num_trials: m.num_trials,
                    bootstrap: bootstrap(&m.bootstrap)?,
                    minibatch: m.minibatch,
                    minibatch_size: m.minibatch_size,
                    search_adapter: m.search_adapter,
                    warm_start: warm.to_vec(),
                    ..MiproV2::default()
                })
            }
            OptimizerSpec::Copro(c) => Box::new(Copro {
                breadth: c.breadth,
                depth: c.depth,
                init_temperature: c.init_temperature,
                track_stats: false,
            }),
            OptimizerSpec::Gepa(g) => Box::new(Gepa { objectives: objectives.to_vec(), ..g.build() }),
            OptimizerSpec::Evolutionary(e) => Box::new(e.build(objectives)),
            OptimizerSpec::Portfolio { algorithms } => {
                if algorithms.is_empty() {
                    invalid!("optimizer portfolio: `algorithms` names no optimizer");
                }
                let members = algorithms
                    .iter()
                    .map(|a| match a {
                        OptimizerSpec::Portfolio { .. } => {
                            Err(AppError::invalid("optimizer portfolio: an algorithm cannot itself be a portfolio"))
                        }
                        a => a.build_with(program, objectives, warm),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Box::new(Portfolio { members })
            }
        })
    }
}

/// The teacher state file, checked against the program before any model call.
fn teacher_state(b: &BootstrapSpec, program: &Program) -> Result<Option<ProgramState>> {
    let Some(path) = &b.teacher_state else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::error::io_error(format!("--teacher-state {}: cannot read it", path.display()), &e))?;
    let state = ProgramState::from_json(&text, &path.display().to_string())?;
    if let Err(e) = program.with_state(&state) {
        invalid!("--teacher-state {}: {e}", path.display());
    }
    Ok(Some(state))
}

impl OptimizeRequest {
    /// A request with the defaults for `program`, `data` and `optimizer`.
    pub fn new(program: impl Into<String>, data: DataRequest, optimizer: OptimizerSpec) -> Self {
        Self {
            program: program.into(),
            state: None,
            warm_start: Vec::new(),
            data,
            splits: SplitRequest::default(),
            optimizer,
            metric: default_metric(),
            field: None,
            seed: 0,
            budget: Budget::default(),
            keep_regression: false,
            objectives: Vec::new(),
            constraints: Vec::new(),
            max_tokens_per_call: None,
            ensemble: None,
            register: None,
            out: None,
            models: None,
            concurrency: None,
        }
    }

    /// Checks the settings that need no file or model: the budget and the registration.
    pub fn validate(&self) -> Result<()> {
        let b = &self.budget;
        if b.max_calls == Some(0) || b.max_tokens == Some(0) {
            invalid!("--max-calls / --max-tokens 0 allow no LM call at all");
        }
        for (flag, v) in [("--max-cost", b.max_cost_usd), ("--max-time", b.max_seconds)] {
            if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                invalid!("{flag} {}: expected a positive number", v.unwrap_or_default());
            }
        }
        if let Some(r) = &self.register {
            if !(r.promotion_margin.is_finite() && r.promotion_margin >= 0.0) {
                invalid!("--promotion-margin {}: expected a relative gain such as 0.05", r.promotion_margin);
            }
        }
        self.selection().map(|_| ())
    }

    /// The objectives (the request's, else an evolutionary spec's; score first) and the
    /// constraints (`max_tokens_per_call` among them) the result is picked by.
    pub fn selection(&self) -> Result<Selection> {
        let mut constraints = self.constraints.clone();
        if let Some(t) = self.max_tokens_per_call {
            if !(t.is_finite() && t > 0.0) {
                invalid!("--max-tokens-per-call {t}: expected a positive number");
            }
            constraints.push(Constraint { measure: Measure::Tokens, max: Some(t), min: None });
        }
        let objectives = if self.objectives.is_empty() { self.optimizer.objectives() } else { &self.objectives };
        Selection::new(objectives, &constraints).map_err(|e| AppError::invalid(format!("--objective: {e}")))
    }

    /// Whether the pick may trade score for another objective (weights or constraints): then
    /// the result is kept even when it scores below the program as written (which is on the
    /// front itself, so the pick is a deliberate choice over it).
    pub fn trades_score(&self) -> bool {
        !self.constraints.is_empty()
            || self.max_tokens_per_call.is_some()
            || self.objectives.iter().any(|o| o.weight.is_some())
    }

    /// The optimizer, picking its result from the run's Pareto front when the request names
    /// objectives besides the score or constraints.
    /// `warm` (the loaded `warm_start`) needs an optimizer with a candidate pool to seed.
    pub fn build_optimizer(&self, program: &Program, warm: &[WarmStart]) -> Result<Box<dyn Optimizer>> {
        let selection = self.selection()?;
        if !warm.is_empty() && !self.optimizer.takes_warm_start() {
            invalid!("--warm-start seeds MIPROv2's candidate pool: use --optimizer mipro (or a portfolio with it)");
        }
        let inner = self.optimizer.build_with(program, &self.objectives, warm)?;
        let multi = selection.is_multi();
        let inner = if multi { Box::new(WithObjectives { inner, selection }) } else { inner };
        Ok(match &self.ensemble {
            None => inner,
            Some(_) if multi => {
                invalid!("--ensemble picks by score, --objective/--constraint by a Pareto front: use one or the other")
            }
            Some(e) => Box::new(WithEnsemble { inner, size: e.size, fields: e.fields.clone() }),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_through_json_and_fills_defaults() {
        let mut req = OptimizeRequest::new(
            "examples/gsm8k/program.json",
            DataRequest::named("gsm8k:train"),
            OptimizerSpec::Mipro(MiproSpec { auto: Some(Auto::Medium), ..MiproSpec::default() }),
        );
        req.splits.val_size = Some(12);
        req.budget.max_calls = Some(60);
        req.register = Some(RegisterRequest { name: "qa".into(), promotion_margin: 0.1, promote: true, actor: None });
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(serde_json::from_str::<OptimizeRequest>(&text).unwrap(), req);

        let short: OptimizeRequest = serde_json::from_value(serde_json::json!({
            "program": "p.json", "data": {"data": "d.jsonl"}, "optimizer": {"name": "copro", "depth": 2}
        }))
        .unwrap();
        assert_eq!(short.optimizer, OptimizerSpec::Copro(CoproSpec { depth: 2, ..CoproSpec::default() }));
        assert_eq!(short.metric, "exact_match");
        let err = serde_json::from_value::<OptimizeRequest>(serde_json::json!({
            "program": "p.json", "data": {"data": "d"}, "optimizer": {"name": "mipro", "breadth": 2}
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `breadth`"), "{err}");
    }

    #[test]
    fn the_readme_example_parses() {
        let text = r#"{"program": "examples/gsm8k/program.json",
 "data": {"data": "gsm8k:train"},
 "splits": {"train_size": 8, "val_size": 12},
 "optimizer": {"name": "bootstrap", "max_bootstrapped_demos": 2, "max_labeled_demos": 2},
 "metric": "numeric_match", "seed": 0, "budget": {"max_calls": 60}}"#;
        let req: OptimizeRequest = serde_json::from_str(text).unwrap();
        assert_eq!(req.splits.val_size, Some(12));
        assert_eq!(req.budget.max_calls, Some(60));
        let OptimizerSpec::Bootstrap(b) = &req.optimizer else { panic!("{:?}", req.optimizer) };
        assert_eq!((b.max_bootstrapped_demos, b.max_rounds), (Some(2), 1));
    }

    #[test]
    fn a_gepa_spec_parses_with_the_reference_names_and_defaults() {
        let spec: OptimizerSpec = serde_json::from_value(serde_json::json!({
            "name": "gepa", "max_metric_calls": 300, "candidate_selection_strategy": "current_best",
            "module_selector": "all", "use_merge": false, "parallel_proposals": 4
        }))
        .unwrap();
        let OptimizerSpec::Gepa(g) = &spec else { panic!("{spec:?}") };
        assert_eq!(spec.id(), "gepa");
        assert_eq!((g.reflection_minibatch_size, g.skip_perfect_score, g.max_merge_invocations), (3, true, 5));
        let built = g.build();
        assert_eq!((built.auto, built.max_metric_calls, built.use_merge), (None, Some(300), false));
        assert_eq!(built.candidate_selection_strategy, CandidateSelection::CurrentBest);
        assert_eq!(built.module_selector, ModuleSelector::All);
        assert_eq!(built.parallel_proposals, 4);
        let back: OptimizerSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
        // No budget given: auto light, as dspy's presets.
        assert_eq!(GepaSpec::default().build().auto, Some(Auto::Light));
        for (bad, want) in [
            (serde_json::json!({"name": "gepa", "breadth": 2}), "unknown field `breadth`"),
            (serde_json::json!({"name": "gepa", "frontier_type": "pairs"}), "unknown variant `pairs`"),
            (serde_json::json!({"name": "gepa", "module_selector": "random"}), "unknown variant `random`"),
        ] {
            let err = serde_json::from_value::<OptimizerSpec>(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn an_evolutionary_spec_and_objectives_parse() {
        let req: OptimizeRequest = serde_json::from_value(serde_json::json!({
            "program": "p.json", "data": {"data": "d.jsonl"},
            "optimizer": {"name": "evolutionary", "population": 30, "generations": 2},
            "objectives": ["score:max", "tokens:min"], "max_tokens_per_call": 400
        }))
        .unwrap();
        let OptimizerSpec::Evolutionary(e) = &req.optimizer else { panic!("{:?}", req.optimizer) };
        assert_eq!((e.population, e.generations, e.tournament_size, e.llm_crossover), (30, 2, 2, true));
        assert_eq!(req.optimizer.id(), "evolutionary");
        let sel = req.selection().unwrap();
        assert_eq!(sel.objectives.len(), 2);
        assert_eq!(sel.constraints[0].max, Some(400.0));
        assert!(req.trades_score() && sel.is_multi());
        assert_eq!(e.build(&sel.objectives).objectives.len(), 2);
        let back: OptimizeRequest = serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(back, req);
        for (bad, want) in [
            (serde_json::json!(["speed:min"]), "unknown objective 'speed'"),
            (serde_json::json!(["tokens:min", "tokens:max"]), "named twice"),
        ] {
            let mut r = req.clone();
            r.objectives = serde_json::from_value(bad.clone()).unwrap_or_default();
            if r.objectives.is_empty() {
                let err = serde_json::from_value::<Vec<Objective>>(bad).unwrap_err().to_string();
                assert!(err.contains(want), "{err}");
            } else {
                assert!(r.validate().unwrap_err().message.contains(want));
            }
        }
        let mut r = req.clone();
        r.max_tokens_per_call = Some(-3.0);
        assert!(r.validate().unwrap_err().message.contains("--max-tokens-per-call -3"));
    }

    #[test]
    fn validation_catches_budgets_and_presets() {
        let mut req = OptimizeRequest::new("p", DataRequest::named("d"), OptimizerSpec::Labeled { k: 2 });
        req.budget.max_calls = Some(0);
        assert!(req.validate().unwrap_err().message.contains("allow no LM call"));
        req.budget.max_calls = None;
        req.budget.max_cost_usd = Some(-1.0);
        assert!(req.validate().unwrap_err().message.starts_with("--max-cost -1"));
        req.budget.max_cost_usd = None;
        assert!(req.validate().is_ok());
    }
}

//! MIPROv2: bootstrapped demo-set candidates, grounded instruction proposals, and a
//! Tree-structured Parzen Estimator search over (instruction, demo set) per predictor, with
//! minibatch trials and periodic full evaluations, as published in DSPy.
//!
//! Flow:
//! 1. The baseline (the program as given) is evaluated on the whole validation set.
//! 2. Demo-set candidates per predictor: zero-shot, labeled only, an unshuffled bootstrap and
//!    shuffled bootstraps (see `demo_sets`).
//! 3. Instruction candidates per predictor: candidate 0 is the current instruction, the others
//!    come from the grounded proposer (data summary, program description, demos, a random tip).
//! 4. `num_trials` TPE trials (the baseline combination enqueued first). With minibatches each
//!    trial scores `minibatch_size` random validation examples and every
//!    `minibatch_full_eval_steps` trials (and after the last) the combination with the best mean
//!    minibatch score that has not been fully evaluated yet gets a full evaluation. The best full
//!    evaluation wins.
//!
//! `auto` presets follow DSPy: light / medium / heavy use 6 / 12 / 18 candidates and validation
//! sets of at most 100 / 300 / 1000 examples; instruction candidates are halved when demos are
//! tuned; trials = max(2 * vars * log2(candidates), 1.5 * candidates) with vars = predictors
//! (times 2 with demos); minibatches only when the validation set has more than 50 examples.

use super::bootstrap::BootstrapSettings;
use super::proposer::{dataset_summary, program_description, propose, Grounding, ProposerSettings};
use super::random_search::{demo_sets, DemoSet};
use super::warm::{seed_pool, WarmPick, WarmStart};
use super::{require_examples, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::{Engine, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialKind};
use crate::tpe::{ParamValue, Params, SearchSpace, Tpe, TpeConfig};
use async_trait::async_trait;
use promptsmith_core::{AdapterKind, Example, ProgramState};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Validation sets above this size use minibatches.
pub const MIN_MINIBATCH_VALSET: usize = 50;

/// A preset of candidates, validation size and trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Auto {
    /// 6 candidates, validation set up to 100.
    Light,
    /// 12 candidates, validation set up to 300.
    Medium,
    /// 18 candidates, validation set up to 1000.
    Heavy,
}

impl Auto {
    /// Parses `light`, `medium` or `heavy`.
    pub fn parse(s: &str) -> Option<Auto> {
        match s {
            "light" => Some(Auto::Light),
            "medium" => Some(Auto::Medium),
            "heavy" => Some(Auto::Heavy),
            _ => None,
        }
    }

    fn settings(self) -> (usize, usize) {
        match self {
            Auto::Light => (6, 100),
            Auto::Medium => (12, 300),
            Auto::Heavy => (18, 1000),
        }
    }
}

/// MIPROv2 settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MiproV2 {
    /// A preset; excludes `num_candidates` and `num_trials`.
    pub auto: Option<Auto>,
    /// Candidates (instructions and demo sets) when not using `auto`.
    pub num_candidates: Option<usize>,
    /// Trials when not using `auto`.
    pub num_trials: Option<usize>,
    /// Bootstrapping settings (MIPROv2's defaults: 4 bootstrapped, 4 labeled).
    pub bootstrap: BootstrapSettings,
    /// Score minibatches (when the validation set is large enough).
    pub minibatch: bool,
    /// Minibatch size (default 35).
    pub minibatch_size: usize,
    /// Full evaluation every this many trials (default 5).
    pub minibatch_full_eval_steps: usize,
    /// Proposer settings.
    pub proposer: ProposerSettings,
    /// Also search the prompt layout (chat, json, plain) per predictor (beyond DSPy).
    pub search_adapter: bool,
    /// Related versions whose instructions and demos join the candidate pool, each tried as a
    /// trial right after the baseline.
    pub warm_start: Vec<WarmStart>,
}

impl Default for MiproV2 {
    fn default() -> Self {
        MiproV2 {
            auto: Some(Auto::Light),
            num_candidates: None,
            num_trials: None,
            bootstrap: BootstrapSettings { max_bootstrapped_demos: 4, max_labeled_demos: 4, ..Default::default() },
            minibatch: true,
            minibatch_size: 35,
            minibatch_full_eval_steps: 5,
            proposer: ProposerSettings::default(),
            search_adapter: false,
            warm_start: Vec::new(),
        }
    }
}

/// The resolved numbers of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// Instruction candidates per predictor (including the current one).
    pub instruction_candidates: usize,
    /// Shuffled-bootstrap demo sets (3 fixed sets come on top; 0 when zero-shot).
    pub fewshot_candidates: usize,
    /// TPE trials.
    pub trials: usize,
    /// Validation examples used.
    pub val_size: usize,
    /// Whether trials use minibatches.
    pub minibatch: bool,
    /// Full evaluations interleaved with minibatch trials (the baseline's not included).
    pub full_evals: usize,
}

impl MiproV2 {
    /// Demo-set candidates (bootstrapped, or zero-shot only) and grounded instruction proposals
    /// for every predictor; `Err(stop)` when the budget or a cancel stopped them.
    async fn candidates(
        &self,
        engine: &Engine,
        task: &OptimizeTask,
        names: &[String],
        r: &Resolved,
    ) -> Result<std::result::Result<Candidates, Stop>> {
        // 2. Demo-set candidates.
        let mut sets: Vec<DemoSet> = if r.fewshot_candidates == 0 {
            vec![DemoSet { label: "zero_shot".into(), demos: names.iter().map(|n| (n.clone(), Vec::new())).collect() }]
        } else {
            match demo_sets(engine, task, &self.bootstrap, r.fewshot_candidates, "mipro").await? {
                Ok(s) => s,
                Err(stop) => return Ok(Err(stop)),
            }
        };

        // 3. Instruction candidates.
        engine.emit(Event::Phase { name: "propose".into(), steps: Some(names.len() * r.instruction_candidates) });
        let grounding = match async {
            let data = dataset_summary(engine, &task.trainset, &self.proposer).await?;
            let program = program_description(engine, &task.program, &self.proposer).await?;
            Ok::<_, crate::engine::Stop>(Grounding { data, program })
        }
        .await
        {
            Ok(g) => g,
            Err(stop) => return Ok(Err(stop)),
        };
        let mut instructions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut rejected: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for name in names {
            let proposed = propose(
                engine,
                &task.program,
                name,
                &task.trainset,
                &sets,
                r.instruction_candidates,
                &grounding,
                &self.proposer,
            )
            .await;
            match proposed {
                Ok(p) => {
                    instructions.insert(name.clone(), p.instructions);
                    if !p.rejected.is_empty() {
                        rejected.insert(name.clone(), p.rejected);
                    }
                }
                Err(stop) => return Ok(Err(stop)),
            }
        }
        let warm = seed_pool(&self.warm_start, names, &mut instructions, &mut sets);
        Ok(Ok(Candidates { sets, grounding, instructions, rejected, warm }))
    }

    /// The TPE trials: minibatches of the validation set with a full evaluation of the best
    /// unevaluated combination every `minibatch_full_eval_steps` trials, or full evaluations only.
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        engine: &Engine,
        task: &OptimizeTask,
        valset: &[Example],
        r: &Resolved,
        combos: &Combos<'_>,
        tpe: &mut Tpe,
        search: &mut Search,
    ) -> Result<()> {
        engine.emit(Event::Phase { name: "search".into(), steps: Some(r.trials) });
        let mut minibatch_scores: BTreeMap<String, (Vec<f64>, Params)> = BTreeMap::new();
        let mut batch_rng = engine.rng("mipro-minibatch");
        'trials: for t in 1..=r.trials {
            let trial = tpe.ask();
            let (candidate, shown) = combos.build(&trial.params)?;
            if r.minibatch {
                let mut batch = valset.to_vec();
                batch.shuffle(&mut batch_rng);
                batch.truncate(self.minibatch_size);
                match super::trial(engine, task, &candidate, &batch, TrialKind::Minibatch, shown.clone()).await? {
                    Ok((score, _)) => {
                        tpe.tell(trial.number, score).map_err(|e| OptimizeError::config(e.to_string()))?;
                        minibatch_scores
                            .entry(candidate.id.clone())
                            .or_insert_with(|| (Vec::new(), trial.params.clone()))
                            .0
                            .push(score);
                    }
                    Err(stop) => {
                        search.stopped = Some(stop);
                        break 'trials;
                    }
                }
                if t % self.minibatch_full_eval_steps == 0 || t == r.trials {
                    // The search.best mean minibatch score among combinations not fully evaluated yet.
                    let pick = minibatch_scores
                        .iter()
                        .filter(|(id, _)| !search.fully_evaluated.contains_key(*id))
                        .map(|(id, (s, p))| (id.clone(), s.iter().sum::<f64>() / s.len() as f64, p.clone()))
                        .fold(None::<(String, f64, Params)>, |acc, x| match acc {
                            Some(a) if a.1 >= x.1 => Some(a),
                            _ => Some(x),
                        });
                    if let Some((_, _, params)) = pick {
                        let (c, shown) = combos.build(&params)?;
                        match super::trial(engine, task, &c, valset, TrialKind::Full, shown).await? {
                            Ok((score, _)) => {
                                search.fully_evaluated.insert(c.id.clone(), score);
                                if score > search.best.0 {
                                    search.best = (score, c.state.clone());
                                    engine.emit(Event::NewBest { number: engine.next_trial_number() - 1, score });
                                }
                            }
                            Err(stop) => {
                                search.stopped = Some(stop);
                                break 'trials;
                            }
                        }
                    }
                }
            } else {
                match super::trial(engine, task, &candidate, valset, TrialKind::Full, shown).await? {
                    Ok((score, _)) => {
                        tpe.tell(trial.number, score).map_err(|e| OptimizeError::config(e.to_string()))?;
                        search.fully_evaluated.insert(candidate.id.clone(), score);
                        if score > search.best.0 {
                            search.best = (score, candidate.state.clone());
                            engine.emit(Event::NewBest { number: engine.next_trial_number() - 1, score });
                        }
                    }
                    Err(stop) => {
                        search.stopped = Some(stop);
                        break 'trials;
                    }
                }
            }
        }
        Ok(())
    }

    fn zero_shot(&self) -> bool {
        self.bootstrap.max_bootstrapped_demos == 0 && self.bootstrap.max_labeled_demos == 0
    }

    /// Works out candidates, trials and validation size for `task`.
    pub fn resolve(&self, task: &OptimizeTask) -> Result<Resolved> {
        let predictors = task.program.predictors.len().max(1);
        let zero_shot = self.zero_shot();
        let (n, trials, val_size) = match self.auto {
            Some(auto) => {
                if self.num_candidates.is_some() || self.num_trials.is_some() {
                    return Err(OptimizeError::config(
                        "mipro: `auto` sets the number of candidates and trials itself; drop num_candidates / num_trials, or drop auto to set them by hand",
                    ));
                }
                let (n, val) = auto.settings();
                let vars = if zero_shot { predictors } else { 2 * predictors };
                let trials = (2.0 * vars as f64 * (n as f64).log2()).max(1.5 * n as f64) as usize;
                (n, trials, val.min(task.valset.len()))
            }
            None => {
                let n = self.num_candidates.ok_or_else(|| {
                    OptimizeError::config("mipro: without `auto`, set num_candidates (and num_trials)")
                })?;
                let trials = self.num_trials.ok_or_else(|| {
                    OptimizeError::config("mipro: without `auto`, set num_trials (and num_candidates)")
                })?;
                (n, trials, task.valset.len())
            }
        };
        if n == 0 || trials == 0 {
            return Err(OptimizeError::config("mipro: num_candidates and num_trials must be at least 1"));
        }
        let instruction_candidates = if zero_shot || self.auto.is_none() { n } else { (n / 2).max(1) };
        let minibatch = self.minibatch && val_size > MIN_MINIBATCH_VALSET;
        if minibatch && self.minibatch_full_eval_steps == 0 {
            return Err(OptimizeError::config("mipro: minibatch_full_eval_steps must be at least 1"));
        }
        let full_evals = if minibatch { trials / self.minibatch_full_eval_steps + 1 } else { 0 };
        Ok(Resolved {
            instruction_candidates,
            fewshot_candidates: if zero_shot { 0 } else { n },
            trials,
            val_size,
            minibatch,
            full_evals,
        })
    }
}

fn dim(kind: &str, predictor: usize) -> String {
    format!("{predictor}_predictor_{kind}")
}

/// One predictor's choices in a trial: indices into its instruction candidates, the demo sets
/// and (when the adapter is searched) `AdapterKind::ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Choice {
    instruction: usize,
    demos: usize,
    adapter: Option<usize>,
}

/// The categorical parameter `name`, which the search space has with `len` choices. A missing or
/// out-of-range value is a bug (the sampler returns every dimension of its space), reported as
/// such rather than read as candidate 0.
fn param_index(params: &Params, name: &str, len: usize) -> Result<usize> {
    match params.index(name) {
        Some(i) if i < len => Ok(i),
        Some(i) => Err(OptimizeError::internal(format!(
            "MIPROv2: trial parameter `{name}` = {i} is out of range (it has {len} choices)"
        ))),
        None => {
            let have: Vec<&str> = params.iter().map(|(n, _)| n).collect();
            Err(OptimizeError::internal(format!(
                "MIPROv2: trial parameters lack `{name}` (they have: {})",
                have.join(", ")
            )))
        }
    }
}

/// Predictor `i`'s choices in `params`, for a space of `instructions` instruction candidates,
/// `demo_sets` demo sets (a dimension only when there are several) and, with `search_adapter`,
/// one adapter dimension.
fn choice(params: &Params, i: usize, instructions: usize, demo_sets: usize, search_adapter: bool) -> Result<Choice> {
    Ok(Choice {
        instruction: param_index(params, &dim("instruction", i), instructions)?,
        demos: if demo_sets > 1 { param_index(params, &dim("demos", i), demo_sets)? } else { 0 },
        adapter: if search_adapter {
            Some(param_index(params, &dim("adapter", i), AdapterKind::ALL.len())?)
        } else {
            None
        },
    })
}

/// A seeded sample of `val_size` validation examples (all when there are fewer).
fn validation_sample(engine: &Engine, task: &OptimizeTask, val_size: usize) -> Vec<Example> {
    let mut valset: Vec<Example> = task.valset.clone();
    if valset.len() > val_size {
        valset.shuffle(&mut engine.rng("mipro-valset"));
        valset.truncate(val_size);
    }
    valset
}

/// What the search chooses from: demo sets, and instruction candidates per predictor (with the
/// grounding they were proposed from and the proposals the guard turned away).
struct Candidates {
    sets: Vec<DemoSet>,
    grounding: Grounding,
    instructions: BTreeMap<String, Vec<String>>,
    rejected: BTreeMap<String, Vec<Value>>,
    /// Where each warm start landed in the pool.
    warm: Vec<WarmPick>,
}

/// The search's progress: the best fully evaluated state, every full evaluation, why it stopped.
struct Search {
    best: (f64, ProgramState),
    fully_evaluated: BTreeMap<String, f64>,
    stopped: Option<Stop>,
}

/// The combinations of candidates the TPE searches over, and how a trial's parameters become a
/// program state.
struct Combos<'a> {
    task: &'a OptimizeTask,
    base: &'a ProgramState,
    names: &'a [String],
    c: &'a Candidates,
    search_adapter: bool,
}

impl Combos<'_> {
    fn n_instructions(&self, name: &String) -> usize {
        self.c.instructions.get(name).map(Vec::len).unwrap_or(1).max(1)
    }

    /// The search space (per predictor: instruction, demo set when there are several, adapter
    /// when searched), with the program as written queued as the first trial and each warm
    /// start's picks after it.
    fn tpe(&self, seed: u64) -> Result<Tpe> {
        let cfg = |e: crate::tpe::TpeError| OptimizeError::config(e.to_string());
        let mut space = SearchSpace::new();
        let mut baseline_params = Params::new();
        for (i, name) in self.names.iter().enumerate() {
            space = space.categorical(dim("instruction", i), self.n_instructions(name)).map_err(cfg)?;
            baseline_params.insert(dim("instruction", i), ParamValue::Index(0));
            if self.c.sets.len() > 1 {
                space = space.categorical(dim("demos", i), self.c.sets.len()).map_err(cfg)?;
                baseline_params.insert(dim("demos", i), ParamValue::Index(0));
            }
            if self.search_adapter {
                space = space.categorical(dim("adapter", i), AdapterKind::ALL.len()).map_err(cfg)?;
                let current = self.task.program.predictors[i].adapter;
                let idx = AdapterKind::ALL.iter().position(|a| *a == current).unwrap_or(0);
                baseline_params.insert(dim("adapter", i), ParamValue::Index(idx));
            }
        }
        let mut tpe = Tpe::new(space, TpeConfig::default(), seed).map_err(cfg)?;
        tpe.enqueue(baseline_params.clone()).map_err(cfg)?;
        for pick in &self.c.warm {
            let mut params = baseline_params.clone();
            for (i, name) in self.names.iter().enumerate() {
                let Some((instruction, demos)) = pick.get(name) else { continue };
                if let Some(x) = instruction {
                    params.insert(dim("instruction", i), ParamValue::Index(*x));
                }
                if let Some(d) = demos {
                    params.insert(dim("demos", i), ParamValue::Index(*d));
                }
            }
            tpe.enqueue(params).map_err(cfg)?;
        }
        Ok(tpe)
    }

    /// The candidate a trial's parameters pick, and what it chose per predictor (for the trial log).
    fn build(&self, params: &Params) -> Result<(Candidate, Value)> {
        let mut state = self.base.clone();
        let mut shown = serde_json::Map::new();
        for (i, name) in self.names.iter().enumerate() {
            let Some(p) = state.predictors.get_mut(name) else { continue };
            let c = choice(params, i, self.n_instructions(name), self.c.sets.len(), self.search_adapter)?;
            if c.instruction > 0 {
                p.instruction = self.c.instructions.get(name).and_then(|l| l.get(c.instruction)).cloned();
            }
            // Demo set 0 is zero-shot, which keeps the program's own demos for the baseline.
            if c.demos > 0 {
                p.demos = self.c.sets[c.demos].demos.get(name).cloned().unwrap_or_default();
            }
            let adapter = c.adapter.and_then(|a| AdapterKind::ALL.get(a)).copied();
            if self.search_adapter {
                p.adapter = adapter;
            }
            shown.insert(
                name.clone(),
                json!({"instruction": c.instruction, "demos": self.c.sets[c.demos].label,
                       "adapter": adapter.map(|a| a.name())}),
            );
        }
        Ok((Candidate::new(&self.task.program, state)?, Value::Object(shown)))
    }
}

#[async_trait]
impl Optimizer for MiproV2 {
    fn name(&self) -> &'static str {
        "mipro"
    }

    fn params(&self) -> Value {
        json!({
            "auto": self.auto,
            "num_candidates": self.num_candidates,
            "num_trials": self.num_trials,
            "bootstrap": self.bootstrap.params(),
            "minibatch": self.minibatch,
            "minibatch_size": self.minibatch_size,
            "minibatch_full_eval_steps": self.minibatch_full_eval_steps,
            "search_adapter": self.search_adapter,
            "warm_start": self.warm_start.iter().map(|w| w.source.clone()).collect::<Vec<_>>(),
        })
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        require_examples(task, 1, "mipro")?;
        self.bootstrap.validate("mipro")?;
        if self.minibatch && self.minibatch_size == 0 {
            return Err(OptimizeError::config("mipro: minibatch_size must be at least 1"));
        }
        self.resolve(task).map(|_| ())
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let Ok(r) = self.resolve(task) else { return Plan::default() };
        let predictors = task.program.predictors.len();
        let per_trial = if r.minibatch { self.minibatch_size.min(r.val_size) } else { r.val_size } as u64;
        let boot = if r.fewshot_candidates == 0 {
            0
        } else {
            self.bootstrap.max_teacher_calls(task.trainset.len()) * (r.fewshot_candidates as u64 + 1)
        };
        Plan {
            task_calls: r.val_size as u64 * (1 + r.full_evals as u64) + per_trial * r.trials as u64,
            teacher_calls: boot,
            proposer_calls: self.proposer.max_calls(predictors, r.instruction_candidates, task.trainset.len()),
            trials: (1 + r.trials + r.full_evals) as u64,
            notes: vec![
                format!(
                    "{} instruction and {} demo-set candidates per predictor, {} trials{}, validation set {}",
                    r.instruction_candidates,
                    r.fewshot_candidates + if r.fewshot_candidates > 0 { 3 } else { 0 },
                    r.trials,
                    if r.minibatch { format!(" on minibatches of {}", self.minibatch_size) } else { String::new() },
                    r.val_size
                ),
                "upper bounds: the rollout cache skips examples already scored for a candidate, and bootstrapping stops once enough demos are found".into(),
            ],
        }
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        let r = self.resolve(task)?;
        let valset = validation_sample(engine, task, r.val_size);
        let names: Vec<String> = task.program.predictors.iter().map(|p| p.name.clone()).collect();
        let base = task.program.state();
        let stopped_outcome = |stop: Stop, best: Option<(f64, ProgramState)>| {
            let (val_score, state) = match best {
                Some((s, st)) => (Some(s), st),
                None => (None, base.clone()),
            };
            Outcome { state, val_score, stopped: Some(stop), details: json!({}) }
        };

        // 1. Baseline on the full validation set.
        engine.emit(Event::Phase { name: "baseline".into(), steps: Some(1) });
        let baseline = Candidate::new(&task.program, base.clone())?;
        let baseline_score =
            match super::trial(engine, task, &baseline, &valset, TrialKind::Full, json!({"baseline": true})).await? {
                Ok((s, _)) => s,
                Err(stop) => return Ok(stopped_outcome(stop, None)),
            };
        let best: (f64, ProgramState) = (baseline_score, base.clone());
        engine.emit(Event::NewBest { number: 1, score: baseline_score });

        // 2 and 3. Demo-set and instruction candidates.
        let candidates = match self.candidates(engine, task, &names, &r).await? {
            Ok(c) => c,
            Err(stop) => return Ok(stopped_outcome(stop, Some(best))),
        };
        let mut details = json!({
            "resolved": r,
            "dataset_summary": candidates.grounding.data,
            "program_description": candidates.grounding.program,
            "instructions": candidates.instructions,
            "rejected_proposals": candidates.rejected,
            "demo_sets": candidates.sets.iter().map(|s| s.label.clone()).collect::<Vec<_>>(),
            "baseline_score": baseline_score,
            "warm_start": self.warm_start.iter().map(|w| w.source.clone()).collect::<Vec<_>>(),
        });

        // 4. TPE search.
        let combos = Combos { task, base: &base, names: &names, c: &candidates, search_adapter: self.search_adapter };
        let mut tpe = combos.tpe(engine.config().seed)?;
        let mut search = Search { best, fully_evaluated: BTreeMap::new(), stopped: None };
        search.fully_evaluated.insert(baseline.id.clone(), baseline_score);
        self.search(engine, task, &valset, &r, &combos, &mut tpe, &mut search).await?;
        details["full_evaluations"] = json!(search.fully_evaluated);
        Ok(Outcome { state: search.best.1, val_score: Some(search.best.0), stopped: search.stopped, details })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use promptsmith_core::{ErrorKind, HasKind};

    fn params(entries: &[(&str, ParamValue)]) -> Params {
        entries.iter().fold(Params::new(), |p, (n, v)| p.with(*n, *v))
    }

    #[test]
    fn a_missing_or_out_of_range_parameter_is_an_error_not_candidate_0() {
        let all = params(&[
            ("0_predictor_instruction", ParamValue::Index(2)),
            ("0_predictor_demos", ParamValue::Index(3)),
            ("0_predictor_adapter", ParamValue::Index(1)),
        ]);
        assert_eq!(choice(&all, 0, 3, 4, true).unwrap(), Choice { instruction: 2, demos: 3, adapter: Some(1) });
        // Without demo sets to choose from (one set) or adapter search, those dimensions do not exist.
        let instruction_only = params(&[("0_predictor_instruction", ParamValue::Index(1))]);
        assert_eq!(
            choice(&instruction_only, 0, 3, 1, false).unwrap(),
            Choice { instruction: 1, demos: 0, adapter: None }
        );

        let err = choice(&instruction_only, 0, 3, 4, false).unwrap_err();
        assert!(matches!(err, OptimizeError::Internal(_)), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(
            err.to_string(),
            "internal error (a bug in promptsmith): MIPROv2: trial parameters lack `0_predictor_demos` (they have: \
             0_predictor_instruction)"
        );
        let err = choice(&instruction_only, 0, 3, 1, true).unwrap_err().to_string();
        assert!(err.contains("lack `0_predictor_adapter`"), "{err}");
        // Another predictor's parameters do not stand in for this one's.
        let err = choice(&all, 1, 3, 4, true).unwrap_err().to_string();
        assert!(err.contains("lack `1_predictor_instruction`"), "{err}");
        // Out of range, or not a categorical choice at all.
        let err = choice(&all, 0, 2, 4, true).unwrap_err().to_string();
        assert!(err.contains("`0_predictor_instruction` = 2 is out of range (it has 2 choices)"), "{err}");
        let not_an_index = params(&[("0_predictor_instruction", ParamValue::Int(0))]);
        assert!(choice(&not_an_index, 0, 3, 1, false).is_err());
    }
}

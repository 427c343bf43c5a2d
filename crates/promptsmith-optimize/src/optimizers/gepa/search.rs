//! The GEPA loop: the candidate pool with its lineage, parent selection, reflective iterations
//! and merges, the metric-call budget and the stop conditions.

use super::merge::{self, MergeLog, Texts};
use super::pareto;
use super::reflection::{shorten, Reflect, Reflection};
use super::sampler::EpochSampler;
use super::{CandidateSelection, FrontierType, Gepa, ModuleSelector, Resolved, EPSILON, MERGE_SUBSAMPLE};
use crate::engine::{Engine, Rollout, Stop};
use crate::error::Result;
use crate::events::{Event, TrialKind};
use crate::optimizers::{trial, trials, Candidate, OptimizeTask, Outcome};
use crate::pareto::{Direction, Measure, Measures, Objective};
use promptsmith_core::{Example, ProgramState};
use promptsmith_lm::LmRole;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A step's result: go on, or the run must stop.
type Step = std::result::Result<(), Stop>;

/// Where a candidate came from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "origin", rename_all = "snake_case")]
enum Origin {
    /// The program as written.
    Seed,
    /// A reflection on a minibatch of its parent.
    Reflection {
        /// The predictors it changed.
        predictors: Vec<String>,
        /// The reflection model's diagnosis per predictor.
        reflection: BTreeMap<String, String>,
        /// Training indices of the minibatch.
        minibatch: Vec<usize>,
        /// The parent's scores on it.
        minibatch_before: Vec<f64>,
        /// The child's scores on it.
        minibatch_after: Vec<f64>,
    },
    /// A merge of its two parents.
    Merge {
        /// Their common ancestor.
        ancestor: usize,
        /// The parent each predictor came from.
        sources: BTreeMap<String, usize>,
        /// Validation indices it was judged on.
        subsample: Vec<usize>,
        /// The parents' score sums there.
        parent_sums: [f64; 2],
        /// Its own.
        merged_sum: f64,
    },
}

/// A candidate's lineage, as the report lists it.
#[derive(Debug, Clone, Serialize)]
struct Lineage {
    index: usize,
    candidate: String,
    parents: Vec<usize>,
    #[serde(flatten)]
    origin: Origin,
    val_score: f64,
    iteration: usize,
    metric_calls: u64,
}

/// A candidate in the pool.
struct Member {
    cand: Candidate,
    texts: Texts,
    val: Vec<f64>,
    /// Tokens, latency, cost and prompt length on the validation set (objective frontiers).
    measures: Measures,
    /// The same per validation instance (kept for the cartesian frontier only).
    per_instance: Vec<Measures>,
    /// Round robin: the predictor its next reflection changes.
    next_predictor: usize,
    lineage: Lineage,
}

/// Merge bookkeeping (as the reference schedules them).
#[derive(Default)]
struct Merges {
    due: usize,
    accepted: usize,
    last_found: bool,
    log: MergeLog,
}

/// A run in progress.
pub(crate) struct Search<'a> {
    gepa: &'a Gepa,
    engine: &'a Engine,
    task: &'a OptimizeTask,
    r: Resolved,
    names: Vec<String>,
    seed_texts: Texts,
    pool: Vec<Member>,
    used: u64,
    iteration: usize,
    sampler: EpochSampler,
    select_rng: ChaCha8Rng,
    merge_rng: ChaCha8Rng,
    reflect_rng: ChaCha8Rng,
    merges: Merges,
    improved: bool,
    since_best: usize,
    log: Vec<Value>,
    rejected: Vec<Value>,
    proposals: u64,
}

fn sum(v: &[f64]) -> f64 {
    v.iter().sum()
}

impl<'a> Search<'a> {
    /// A search over `task` with budget `r`.
    pub(crate) fn new(gepa: &'a Gepa, engine: &'a Engine, task: &'a OptimizeTask, r: Resolved) -> Result<Self> {
        let names: Vec<String> = task.program.predictors.iter().map(|p| p.name.clone()).collect();
        let seed_texts = task.program.predictors.iter().map(|p| (p.name.clone(), p.signature.instruction())).collect();
        Ok(Search {
            gepa,
            engine,
            task,
            r,
            names,
            seed_texts,
            pool: Vec::new(),
            used: 0,
            iteration: 0,
            sampler: EpochSampler::new(task.trainset.len(), r.costs.minibatch as usize, engine.rng("gepa-minibatch")),
            select_rng: engine.rng("gepa-select"),
            merge_rng: engine.rng("gepa-merge"),
            reflect_rng: engine.rng("gepa-reflect"),
            merges: Merges::default(),
            improved: false,
            since_best: 0,
            log: Vec::new(),
            rejected: Vec::new(),
            proposals: 0,
        })
    }

    /// Runs the search to its end.
    pub(crate) async fn run(mut self) -> Result<Outcome> {
        self.engine.emit(Event::Phase { name: "gepa".into(), steps: Some(self.r.max_metric_calls as usize) });
        if let Err(stop) = self.seed().await? {
            return Ok(Outcome::stopped_at_start(self.task, &stop));
        }
        let mut stopped = None;
        let ended = loop {
            if let Some(end) = self.end_reason() {
                break Some(end);
            }
            if let Some(stop) = self.engine.should_stop() {
                stopped = Some(stop);
                break None;
            }
            self.iteration += 1;
            self.improved = false;
            let step = match self.merge_step().await? {
                Some(step) => step,
                None => self.reflect_step().await?,
            };
            self.since_best = if self.improved { 0 } else { self.since_best + 1 };
            self.engine.emit(Event::Step { done: self.used as usize });
            if let Err(stop) = step {
                stopped = Some(stop);
                break None;
            }
        };
        Ok(self.outcome(ended.as_deref(), stopped))
    }

    /// Why the search ends before the next iteration, if it does.
    fn end_reason(&self) -> Option<String> {
        let g = self.gepa;
        if self.r.max_metric_calls.saturating_sub(self.used) < self.r.costs.reflection() {
            return Some(format!("metric-call budget spent ({} of {} used)", self.used, self.r.max_metric_calls));
        }
        if g.no_improvement_iterations.is_some_and(|n| self.since_best >= n) {
            return Some(format!("no better candidate in {} iterations", self.since_best));
        }
        if let Some(t) = g.score_threshold.filter(|t| self.agg().iter().any(|s| s >= t)) {
            return Some(format!("score threshold {t} reached"));
        }
        if let Some(f) = g.stop_file.as_ref().filter(|f| f.exists()) {
            return Some(format!("stop file {} found", f.display()));
        }
        if let Some(c) = g.max_reflection_cost_usd.filter(|c| self.engine.spent().proposer.cost_usd >= *c) {
            return Some(format!("reflection cost cap of ${c} reached"));
        }
        None
    }

    fn score(&self, r: &Rollout) -> f64 {
        score_of(self.gepa, r)
    }

    fn scores(&self, rollouts: &[Rollout]) -> Vec<f64> {
        rollouts.iter().map(|r| self.score(r)).collect()
    }

    fn agg(&self) -> Vec<f64> {
        self.pool.iter().map(|m| m.lineage.val_score).collect()
    }

    /// The score table the frontier is kept over: a row per candidate, a column per validation
    /// instance, per objective (oriented so that larger is better), both, or per pair of them.
    fn table(&self) -> Vec<Vec<f64>> {
        let objectives = self.gepa.objective_columns();
        let oriented = |o: &Objective, v: f64| if o.direction == Direction::Max { v } else { -v };
        let by_objective = |m: &Member| -> Vec<f64> {
            objectives
                .iter()
                .map(|o| {
                    oriented(
                        o,
                        if o.measure == Measure::Score { m.lineage.val_score } else { m.measures.get(o.measure) },
                    )
                })
                .collect()
        };
        let by_pair = |m: &Member| -> Vec<f64> {
            let cell = |i: usize, o: &Objective| {
                oriented(o, if o.measure == Measure::Score { m.val[i] } else { m.per_instance[i].get(o.measure) })
            };
            (0..m.val.len()).flat_map(|i| objectives.iter().map(move |o| cell(i, o))).collect()
        };
        self.pool
            .iter()
            .map(|m| match self.gepa.frontier_type {
                FrontierType::Instance => m.val.clone(),
                FrontierType::Objective => by_objective(m),
                FrontierType::Hybrid => m.val.iter().copied().chain(by_objective(m)).collect(),
                FrontierType::Cartesian => by_pair(m),
            })
            .collect()
    }

    /// The state with `texts` (an instruction equal to the program's own is left as the program
    /// has it, so equal instructions make equal states).
    fn state_for(&self, texts: &Texts) -> ProgramState {
        let mut state = self.task.program.state();
        for (name, text) in texts {
            if self.seed_texts.get(name) == Some(text) {
                continue;
            }
            if let Some(p) = state.predictors.get_mut(name) {
                p.instruction = Some(text.clone());
            }
        }
        state
    }

    /// Runs `c` on `examples` as a trial, counting the metric calls.
    async fn trial(
        &mut self,
        c: &Candidate,
        examples: &[Example],
        kind: TrialKind,
        params: Value,
    ) -> Result<std::result::Result<Vec<Rollout>, Stop>> {
        self.used += examples.len() as u64;
        Ok(trial(self.engine, self.task, c, examples, kind, params).await?.map(|(_, r)| r))
    }

    /// Scores the program as written on the validation set: candidate 0.
    async fn seed(&mut self) -> Result<Step> {
        let task = self.task;
        let cand = Candidate::new(&task.program, task.program.state())?;
        let params = json!({"candidate": 0, "parents": [], "lineage": {"origin": "seed"}});
        let val = match self.trial(&cand, &task.valset, TrialKind::Full, params).await? {
            Ok(v) => v,
            Err(stop) => return Ok(Err(stop)),
        };
        self.add(cand, Vec::new(), Origin::Seed, &val, 0);
        Ok(Ok(()))
    }

    /// Adds a fully evaluated candidate to the pool.
    fn add(&mut self, cand: Candidate, parents: Vec<usize>, origin: Origin, val: &[Rollout], next_predictor: usize) {
        let scores = self.scores(val);
        let mean = if scores.is_empty() { 0.0 } else { sum(&scores) / scores.len() as f64 };
        let index = self.pool.len();
        if self.pool.is_empty() || self.agg().iter().all(|s| mean > *s) {
            self.engine.emit(Event::NewBest { number: self.engine.next_trial_number() - 1, score: mean });
            self.improved = true;
        }
        let texts = self
            .names
            .iter()
            .map(|n| (n.clone(), cand.program.predictor(n).map(|p| p.signature.instruction()).unwrap_or_default()))
            .collect();
        let lineage = Lineage {
            index,
            candidate: cand.id.clone(),
            parents,
            origin,
            val_score: mean,
            iteration: self.iteration,
            metric_calls: self.used,
        };
        let measures = Measures::of(val, &cand.program);
        let per_instance = match self.gepa.frontier_type {
            FrontierType::Cartesian => {
                val.iter().map(|r| Measures::of(std::slice::from_ref(r), &cand.program)).collect()
            }
            _ => Vec::new(),
        };
        self.pool.push(Member { cand, texts, val: scores, measures, per_instance, next_predictor, lineage });
    }

    /// Scores an accepted child on the validation set and adds it; its pool index.
    async fn accept(
        &mut self,
        cand: Candidate,
        parents: Vec<usize>,
        origin: Origin,
        next_predictor: usize,
    ) -> Result<std::result::Result<usize, Stop>> {
        let (index, task) = (self.pool.len(), self.task);
        let params = json!({"candidate": index, "parents": parents, "iteration": self.iteration, "lineage": origin});
        let val = match self.trial(&cand, &task.valset, TrialKind::Full, params).await? {
            Ok(v) => v,
            Err(stop) => return Ok(Err(stop)),
        };
        self.add(cand, parents, origin, &val, next_predictor);
        Ok(Ok(index))
    }

    /// Whether the pool holds this candidate already (the reference would score it again and
    /// add a copy; here it is not tried).
    fn known(&self, c: &Candidate) -> bool {
        self.pool.iter().any(|m| m.cand.id == c.id)
    }

    fn select_parent(&mut self) -> usize {
        let agg = self.agg();
        match self.gepa.candidate_selection_strategy {
            CandidateSelection::Pareto => pareto::sample_parent(&self.table(), &agg, &mut self.select_rng),
            CandidateSelection::CurrentBest => pareto::best(&agg),
            CandidateSelection::EpsilonGreedy => {
                if self.select_rng.gen::<f64>() < EPSILON {
                    self.select_rng.gen_range(0..self.pool.len())
                } else {
                    pareto::best(&agg)
                }
            }
        }
    }

    fn select_predictors(&mut self, parent: usize) -> Vec<String> {
        match self.gepa.module_selector {
            ModuleSelector::All => self.names.clone(),
            ModuleSelector::RoundRobin => {
                let m = &mut self.pool[parent];
                let i = m.next_predictor % self.names.len().max(1);
                m.next_predictor += 1;
                self.names.get(i).cloned().into_iter().collect()
            }
        }
    }
}

/// One proposal of an iteration: the parent, its minibatch and the predictors to change.
struct Probe {
    parent: usize,
    idx: Vec<usize>,
    batch: Vec<Example>,
    names: Vec<String>,
    entry: Value,
}

/// What running the parent on its minibatch and reflecting on it gave.
enum Explored {
    /// Every minibatch score perfect (these): nothing to reflect on.
    Perfect(Vec<f64>),
    /// The parent's scores and the reflection on its rollouts.
    Reflected(Vec<f64>, Reflection),
}

/// A child proposed by a reflection, waiting for its minibatch score.
struct Proposed {
    probe: Probe,
    before: Vec<f64>,
    reflection: Reflection,
    child: Candidate,
}

/// Runs the parent `pc` on the probe's minibatch and, unless it is perfect, reflects on it.
async fn explore(
    ctx: (&Engine, &Gepa, &OptimizeTask, usize),
    pc: Candidate,
    probe: &Probe,
    rng: &mut ChaCha8Rng,
) -> std::result::Result<Explored, Stop> {
    let (engine, gepa, task, iteration) = ctx;
    let rollouts = engine.evaluate(&pc.program, &pc.id, &probe.batch, &task.metric, LmRole::Task, 0).await?;
    let scores: Vec<f64> = rollouts.iter().map(|r| score_of(gepa, r)).collect();
    if gepa.skip_perfect_score && scores.iter().all(|s| *s >= gepa.perfect_score) {
        return Ok(Explored::Perfect(scores));
    }
    let reflect = Reflect { engine, gepa, trainset: &task.trainset, iteration };
    let reflection = reflect.propose(&pc.program, &probe.names, &probe.batch, &rollouts, rng).await?;
    Ok(Explored::Reflected(scores, reflection))
}

/// The score GEPA gives a rollout (a failed one gets `failure_score`).
fn score_of(gepa: &Gepa, r: &Rollout) -> f64 {
    if r.failed {
        gepa.failure_score
    } else {
        r.score
    }
}

impl Search<'_> {
    /// One reflective iteration: `parallel_proposals` proposals (fewer when the rest of the
    /// budget covers fewer), each from its own parent and minibatch; the parents' runs and the
    /// reflections go on at once, then the children's minibatch runs, and every child that beats
    /// its parent is scored on the validation set and added, in the order proposed.
    async fn reflect_step(&mut self) -> Result<Step> {
        let left = self.r.max_metric_calls.saturating_sub(self.used);
        let n = (self.gepa.parallel_proposals as u64).min(left / self.r.costs.reflection().max(1)).max(1) as usize;
        let probes: Vec<Probe> = (0..n).map(|_| self.probe()).collect();
        self.used += probes.iter().map(|p| p.batch.len() as u64).sum::<u64>();
        let ctx = (self.engine, self.gepa, self.task, self.iteration);
        let explored = if n == 1 {
            vec![explore(ctx, self.pool[probes[0].parent].cand.clone(), &probes[0], &mut self.reflect_rng).await]
        } else {
            let mut rngs: Vec<ChaCha8Rng> = (0..n).map(|_| ChaCha8Rng::seed_from_u64(self.reflect_rng.gen())).collect();
            let runs = probes.iter().zip(rngs.iter_mut()).map(|(p, rng)| {
                let pc = self.pool[p.parent].cand.clone();
                explore(ctx, pc, p, rng)
            });
            futures::future::join_all(runs).await
        };
        let mut proposed = Vec::new();
        for (probe, explored) in probes.into_iter().zip(explored) {
            match explored {
                Err(stop) => return Ok(Err(stop)),
                Ok(Explored::Perfect(before)) => {
                    let mut entry = probe.entry;
                    entry["parent_sum"] = json!(sum(&before));
                    self.note(entry, "skipped_perfect").ok();
                }
                Ok(Explored::Reflected(before, reflection)) => {
                    if let Some(p) = self.child(probe, before, reflection)? {
                        proposed.push(p);
                    }
                }
            }
        }
        self.judge(proposed).await
    }

    /// Draws the next proposal's parent, minibatch and predictors.
    fn probe(&mut self) -> Probe {
        let parent = self.select_parent();
        let idx = self.sampler.next_batch();
        let batch: Vec<Example> = idx.iter().map(|i| self.task.trainset[*i].clone()).collect();
        let names = self.select_predictors(parent);
        let entry = json!({"iteration": self.iteration, "kind": "reflection", "parent": parent, "minibatch": idx});
        Probe { parent, idx, batch, names, entry }
    }

    /// The child a reflection proposes, unless it proposed nothing or a candidate already in the
    /// pool. (Two proposals of one iteration may propose the same child, each judged on its own
    /// minibatch, as one after the other would be; only the first accepted one is added.)
    fn child(&mut self, mut probe: Probe, before: Vec<f64>, reflection: Reflection) -> Result<Option<Proposed>> {
        self.rejected.extend(reflection.rejected.iter().cloned());
        probe.entry["parent_sum"] = json!(sum(&before));
        probe.entry["predictors"] = json!(probe.names);
        if reflection.texts.is_empty() {
            self.note(probe.entry, "no_proposal").ok();
            return Ok(None);
        }
        let mut texts = self.pool[probe.parent].texts.clone();
        texts.extend(reflection.texts.clone());
        let child = Candidate::new(&self.task.program, self.state_for(&texts))?;
        if self.known(&child) {
            self.note(probe.entry, "duplicate").ok();
            return Ok(None);
        }
        self.proposals += 1;
        Ok(Some(Proposed { probe, before, reflection, child }))
    }

    /// Runs the children on their minibatches (at once) and adds, in order, those that beat
    /// their parents there.
    async fn judge(&mut self, proposed: Vec<Proposed>) -> Result<Step> {
        if proposed.is_empty() {
            return Ok(Ok(()));
        }
        self.used += proposed.iter().map(|p| p.probe.batch.len() as u64).sum::<u64>();
        let runs = proposed
            .iter()
            .map(|p| {
                let changed: Vec<&String> = p.reflection.texts.keys().collect();
                let params = json!({"iteration": self.iteration, "parent": p.probe.parent, "predictors": changed,
                                    "parent_minibatch_sum": sum(&p.before)});
                (&p.child, p.probe.batch.as_slice(), params)
            })
            .collect();
        let afters = match trials(self.engine, self.task, runs, TrialKind::Minibatch).await? {
            Ok(r) => r,
            Err(stop) => return Ok(Err(stop)),
        };
        for (p, (_, rollouts)) in proposed.into_iter().zip(afters) {
            let after = self.scores(&rollouts);
            if let Err(stop) = self.admit(p, after).await? {
                return Ok(Err(stop));
            }
        }
        Ok(Ok(()))
    }

    /// Adds a child that beat its parent on the minibatch (after its validation pass).
    async fn admit(&mut self, p: Proposed, after: Vec<f64>) -> Result<Step> {
        let Proposed { probe, before, reflection, child } = p;
        let mut entry = probe.entry;
        entry["child_sum"] = json!(sum(&after));
        if sum(&after) <= sum(&before) {
            return Ok(self.note(entry, "rejected"));
        }
        if self.known(&child) {
            return Ok(self.note(entry, "duplicate"));
        }
        let diagnoses = reflection.diagnoses.iter().map(|(k, v)| (k.clone(), shorten(v, 1000))).collect();
        let origin = Origin::Reflection {
            predictors: reflection.texts.keys().cloned().collect(),
            reflection: diagnoses,
            minibatch: probe.idx,
            minibatch_before: before,
            minibatch_after: after,
        };
        let next = self.pool[probe.parent].next_predictor;
        match self.accept(child, vec![probe.parent], origin, next).await? {
            Ok(index) => entry["child"] = json!(index),
            Err(stop) => return Ok(Err(stop)),
        }
        self.merges.last_found = true;
        if self.gepa.use_merge && self.merges.accepted < self.gepa.max_merge_invocations {
            self.merges.due += 1;
        }
        Ok(self.note(entry, "accepted"))
    }

    /// Logs an iteration with its outcome.
    fn note(&mut self, mut entry: Value, outcome: &str) -> Step {
        entry["outcome"] = json!(outcome);
        self.log.push(entry);
        Ok(())
    }

    /// A merge, when one is due after an iteration that found a new candidate and one is found;
    /// `None` lets the iteration reflect instead.
    async fn merge_step(&mut self) -> Result<Option<Step>> {
        let due = self.gepa.use_merge && self.merges.due > 0 && self.merges.last_found;
        self.merges.last_found = false;
        let left = self.r.max_metric_calls.saturating_sub(self.used);
        if !due || left < self.r.costs.merge() {
            return Ok(None);
        }
        let (agg, front) = (self.agg(), pareto::dominators(&self.table(), &self.agg()));
        let parents: Vec<Vec<usize>> = self.pool.iter().map(|m| m.lineage.parents.clone()).collect();
        let texts: Vec<Texts> = self.pool.iter().map(|m| m.texts.clone()).collect();
        let Some(pick) = merge::find_merge(&mut self.merge_rng, &front, &parents, &agg, &texts, &mut self.merges.log)
        else {
            return Ok(None);
        };
        let (a, b) = (pick.a, pick.b);
        let sub = merge::subsample(&mut self.merge_rng, &self.pool[a].val, &self.pool[b].val, MERGE_SUBSAMPLE);
        let part = |m: &Member| sub.iter().map(|i| m.val[*i]).sum::<f64>();
        let sums = [part(&self.pool[a]), part(&self.pool[b])];
        let cand = Candidate::new(&self.task.program, self.state_for(&pick.texts))?;
        if self.known(&cand) {
            return Ok(None);
        }
        let examples: Vec<Example> = sub.iter().map(|i| self.task.valset[*i].clone()).collect();
        let params =
            json!({"iteration": self.iteration, "merge": [a, b], "ancestor": pick.ancestor, "parent_sums": sums});
        let merged = match self.trial(&cand, &examples, TrialKind::Minibatch, params).await? {
            Ok(r) => sum(&self.scores(&r)),
            Err(stop) => return Ok(Some(Err(stop))),
        };
        let mut entry = json!({"iteration": self.iteration, "kind": "merge", "parents": [a, b],
                               "ancestor": pick.ancestor, "subsample": sub, "parent_sums": sums, "merged_sum": merged});
        if merged < sums[0].max(sums[1]) {
            return Ok(Some(self.note(entry, "rejected")));
        }
        let origin = Origin::Merge {
            ancestor: pick.ancestor,
            sources: pick.sources,
            subsample: sub,
            parent_sums: sums,
            merged_sum: merged,
        };
        let next = self.pool[a].next_predictor.max(self.pool[b].next_predictor);
        match self.accept(cand, vec![a, b], origin, next).await? {
            Ok(index) => entry["child"] = json!(index),
            Err(stop) => return Ok(Some(Err(stop))),
        }
        self.merges.due -= 1;
        self.merges.accepted += 1;
        Ok(Some(self.note(entry, "accepted")))
    }

    /// The best candidate and the report's details.
    fn outcome(self, ended: Option<&str>, stopped: Option<Stop>) -> Outcome {
        let agg = self.agg();
        let best = pareto::best(&agg);
        let candidates: Vec<Value> = self
            .pool
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(&m.lineage).unwrap_or(Value::Null);
                v["instructions"] = json!(m.texts);
                v
            })
            .collect();
        let details = json!({
            "resolved": self.r,
            "metric_calls_used": self.used,
            "iterations": self.iteration,
            "proposals": self.proposals,
            "merges_accepted": self.merges.accepted,
            "ended": ended,
            "best_candidate": best,
            "pareto_front": pareto::dominators(&self.table(), &agg),
            "candidates": candidates,
            "log": self.log,
            "rejected_proposals": self.rejected,
        });
        let state = self.pool.get(best).map(|m| m.cand.state.clone()).unwrap_or_else(|| self.task.program.state());
        Outcome { state, val_score: agg.get(best).copied(), stopped, details }
    }
}

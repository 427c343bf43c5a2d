//! The generational loop: breeding plans drawn from the seeded streams, the LLM operations they
//! call for, scoring, and survivor selection (elitist truncation, or NSGA-II).

use super::ops::{apply_demo_op, draw_demo_op, draw_tip, Asker, DemoOp, Op};
use super::Evolutionary;
use crate::engine::{Engine, Stop};
use crate::error::Result;
use crate::events::{Event, TrialKind};
use crate::optimizers::labeled::sample_labeled;
use crate::optimizers::{trial, Candidate, OptimizeTask, Outcome};
use crate::pareto::{crowded_cmp, rank_and_crowding, Archive, FrontPoint, Measures, Objective, Selection};
use promptsmith_core::{Demo, ProgramState};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Most dropped proposals listed in the report (the count is always given).
const MAX_REJECTED_LISTED: usize = 20;

/// One scored genome: its state (instruction and demos per predictor) and measures.
#[derive(Debug, Clone)]
pub(super) struct Genome {
    state: ProgramState,
    id: String,
    measures: Measures,
    generation: usize,
}

/// What one predictor of a child gets, drawn before any call.
#[derive(Debug, Clone)]
struct Gene {
    /// The demo set taken (from the first parent, or the second in a crossover).
    from_b_demos: bool,
    /// Instruction: take the first parent's, the second's, or merge them.
    instruction: Pick,
    /// A mutation of the instruction with this tip.
    mutate: Option<&'static str>,
    /// A mutation of the demo set.
    demo_op: Option<DemoOp>,
    /// A fresh demo set instead of the parent's (generation 0).
    fresh: Option<Vec<Demo>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pick {
    A,
    B,
    /// Merge by the proposer; on failure the parent named by the flag (`true`: B).
    Merge(bool),
}

/// A child to breed: its parents and a gene per predictor.
#[derive(Debug, Clone)]
struct Plan {
    a: usize,
    b: usize,
    genes: Vec<Gene>,
}

/// A run in progress.
pub(super) struct Search<'a> {
    evo: &'a Evolutionary,
    engine: &'a Engine,
    task: &'a OptimizeTask,
    objectives: Vec<Objective>,
    names: Vec<String>,
    /// The program as written's candidate id.
    seed_id: String,
    population: Vec<Genome>,
    rng: ChaCha8Rng,
    generation: usize,
    proposals: u64,
    rejected: u64,
    rejected_listed: Vec<Value>,
    log: Vec<Value>,
}

impl<'a> Search<'a> {
    pub(super) fn new(evo: &'a Evolutionary, engine: &'a Engine, task: &'a OptimizeTask) -> Result<Self> {
        let selection = evo.selection()?;
        Ok(Search {
            evo,
            engine,
            task,
            objectives: selection.objectives,
            names: task.program.predictors.iter().map(|p| p.name.clone()).collect(),
            seed_id: crate::engine::state_hash(&task.program.state()),
            population: Vec::with_capacity(evo.population),
            rng: engine.rng("evolutionary"),
            generation: 0,
            proposals: 0,
            rejected: 0,
            rejected_listed: Vec::new(),
            log: Vec::new(),
        })
    }

    /// Runs generation 0 and the bred generations; the best genome wins.
    pub(super) async fn run(mut self) -> Result<Outcome> {
        let steps = self.evo.generations + 1;
        self.engine.emit(Event::Phase { name: "evolutionary".into(), steps: Some(steps) });
        let mut stopped = self.first_generation().await?.err();
        self.note_generation(self.population.len());
        while stopped.is_none() && self.generation < self.evo.generations && !self.population.is_empty() {
            self.generation += 1;
            let (children, stop) = self.breed().await?;
            let n = children.len();
            self.survive(children);
            self.note_generation(n);
            self.engine.emit(Event::Step { done: self.generation + 1 });
            stopped = stop;
        }
        if self.population.is_empty() {
            let stop = stopped.unwrap_or_else(|| Stop::Budget("no genome was scored".into()));
            return Ok(Outcome::stopped_at_start(self.task, &stop));
        }
        Ok(self.outcome(stopped))
    }

    /// The program as written and `population - 1` mutants of it.
    async fn first_generation(&mut self) -> Result<std::result::Result<(), Stop>> {
        let base = self.task.program.state();
        let params = json!({"generation": 0, "origin": "seed"});
        match self.score(base.clone(), params).await? {
            Ok(g) => self.population.push(g),
            Err(stop) => return Ok(Err(stop)),
        }
        let plans: Vec<Vec<Gene>> = (1..self.evo.population).map(|_| self.first_genes()).collect();
        for (i, genes) in plans.into_iter().enumerate() {
            let state = match self.build(&base, &base, &genes, i + 1).await {
                Ok(s) => s,
                Err(stop) => return Ok(Err(stop)),
            };
            let params = json!({"generation": 0, "child": i + 1, "origin": "mutant"});
            match self.score(state, params).await? {
                Ok(g) => self.population.push(g),
                Err(stop) => return Ok(Err(stop)),
            }
        }
        Ok(Ok(()))
    }

    /// Genes of a generation-0 mutant: a fresh random demo set, and maybe a rewrite.
    fn first_genes(&mut self) -> Vec<Gene> {
        let (evo, n_train) = (self.evo, self.task.trainset.len());
        (0..self.names.len())
            .map(|_| {
                let k = if evo.max_demos == 0 || n_train == 0 { 0 } else { self.rng.gen_range(0..=evo.max_demos) };
                let fresh = Some(sample_labeled(&self.task.trainset, k, &mut self.rng));
                let mutate = (self.rng.gen::<f64>() < evo.mutation_rate).then(|| draw_tip(&mut self.rng));
                Gene { from_b_demos: false, instruction: Pick::A, mutate, demo_op: None, fresh }
            })
            .collect()
    }

    /// A tournament winner: the best of `tournament_size` genomes drawn with replacement.
    fn tournament(&mut self, order: &[usize]) -> usize {
        let mut best = self.rng.gen_range(0..order.len());
        for _ in 1..self.evo.tournament_size {
            let other = self.rng.gen_range(0..order.len());
            if order[other] < order[best] {
                best = other;
            }
        }
        best
    }

    /// The breeding plan of one child.
    fn draw_plan(&mut self, order: &[usize]) -> Plan {
        let (a, b) = (self.tournament(order), self.tournament(order));
        let cross = self.rng.gen::<f64>() < self.evo.crossover_rate;
        let mut genes = Vec::with_capacity(self.names.len());
        for k in 0..self.names.len() {
            let from_b_demos = cross && self.rng.gen::<bool>();
            let coin = self.rng.gen::<bool>();
            let instruction = match (cross, self.evo.llm_crossover) {
                (false, _) => Pick::A,
                (true, true) => Pick::Merge(coin),
                (true, false) if coin => Pick::B,
                (true, false) => Pick::A,
            };
            let mutate = (self.rng.gen::<f64>() < self.evo.mutation_rate).then(|| draw_tip(&mut self.rng));
            let demo_op = if self.rng.gen::<f64>() < self.evo.demo_mutation_rate {
                let parent = if from_b_demos { b } else { a };
                let n = self.demos(&self.population[parent].state, k).len();
                draw_demo_op(&mut self.rng, n, self.evo.max_demos, self.task.trainset.len())
            } else {
                None
            };
            genes.push(Gene { from_b_demos, instruction, mutate, demo_op, fresh: None });
        }
        Plan { a, b, genes }
    }

    /// Breeds and scores one generation's children; stops early when the run must.
    async fn breed(&mut self) -> Result<(Vec<Genome>, Option<Stop>)> {
        let order = self.order(&self.population);
        let plans: Vec<Plan> = (0..self.evo.population).map(|_| self.draw_plan(&order)).collect();
        let mut children = Vec::with_capacity(plans.len());
        for (i, plan) in plans.into_iter().enumerate() {
            let (a, b) = (self.population[plan.a].state.clone(), self.population[plan.b].state.clone());
            let state = match self.build(&a, &b, &plan.genes, i).await {
                Ok(s) => s,
                Err(stop) => return Ok((children, Some(stop))),
            };
            let params = json!({"generation": self.generation, "child": i,
                                "parents": [self.population[plan.a].id, self.population[plan.b].id]});
            match self.score(state, params).await? {
                Ok(g) => children.push(g),
                Err(stop) => return Ok((children, Some(stop))),
            }
        }
        Ok((children, None))
    }

    fn demos<'s>(&self, state: &'s ProgramState, k: usize) -> &'s [Demo] {
        state.predictors.get(&self.names[k]).map_or(&[], |p| p.demos.as_slice())
    }

    fn instruction(&self, state: &ProgramState, k: usize) -> String {
        let own = self.task.program.predictors[k].signature.instruction();
        state.predictors.get(&self.names[k]).and_then(|p| p.instruction.clone()).unwrap_or(own)
    }

    /// Rollout id of an operation: distinct per generation, child, predictor and operation.
    fn rollout(&self, child: usize, k: usize, op: u64) -> u64 {
        let child = (self.generation * self.evo.population + child) as u64;
        ((child * self.names.len() as u64 + k as u64) * 2 + op) * 2
    }

    /// The child of `a` and `b` under `genes`: the calls its operations need, in order.
    async fn build(
        &mut self,
        a: &ProgramState,
        b: &ProgramState,
        genes: &[Gene],
        child: usize,
    ) -> std::result::Result<ProgramState, Stop> {
        let mut state = a.clone();
        for (k, gene) in genes.iter().enumerate() {
            let mut demos = match (&gene.fresh, gene.from_b_demos) {
                (Some(fresh), _) => fresh.clone(),
                (None, true) => self.demos(b, k).to_vec(),
                (None, false) => self.demos(a, k).to_vec(),
            };
            if let Some(op) = gene.demo_op {
                apply_demo_op(&mut demos, op, &self.task.trainset);
            }
            let (ia, ib) = (self.instruction(a, k), self.instruction(b, k));
            let mut text = match gene.instruction {
                Pick::A => ia,
                Pick::B => ib,
                Pick::Merge(_) if ia == ib => ia,
                Pick::Merge(fallback_b) => {
                    let op = Op::Crossover { a: ia.clone(), b: ib.clone() };
                    let fallback = if fallback_b { ib } else { ia };
                    self.ask(&op, k, &demos, self.rollout(child, k, 0)).await?.unwrap_or(fallback)
                }
            };
            if let Some(tip) = gene.mutate {
                let op = Op::Mutate { instruction: text.clone(), tip };
                if let Some(new) = self.ask(&op, k, &demos, self.rollout(child, k, 1)).await? {
                    text = new;
                }
            }
            self.set(&mut state, k, text, demos);
        }
        Ok(state)
    }

    /// Writes predictor `k`'s instruction (the program's own stays unset, so equal genomes
    /// have equal states) and demos.
    fn set(&self, state: &mut ProgramState, k: usize, text: String, demos: Vec<Demo>) {
        let own = &self.task.program.predictors[k].signature;
        let instruction = if text == own.instruction() { own.instruction.clone() } else { Some(text) };
        if let Some(p) = state.predictors.get_mut(&self.names[k]) {
            p.instruction = instruction;
            p.demos = demos;
        }
    }

    /// One guarded proposer operation for predictor `k`.
    async fn ask(
        &mut self,
        op: &Op,
        k: usize,
        demos: &[Demo],
        rollout: u64,
    ) -> std::result::Result<Option<String>, Stop> {
        let asker = Asker {
            engine: self.engine,
            trainset: &self.task.trainset,
            temperature: self.evo.temperature,
            max_chars: self.evo.max_instruction_chars,
        };
        let asked = asker.run(op, &self.task.program.predictors[k], demos, rollout).await?;
        self.proposals += 1;
        if let Some((proposal, defect)) = asked.rejected {
            self.rejected += 1;
            if self.rejected_listed.len() < MAX_REJECTED_LISTED {
                let short: String = proposal.chars().take(300).collect();
                self.rejected_listed.push(json!({"predictor": self.names[k], "proposal": short, "defect": defect}));
            }
        }
        Ok(asked.text)
    }

    /// Scores a genome on the whole validation set as a trial.
    async fn score(&mut self, state: ProgramState, params: Value) -> Result<std::result::Result<Genome, Stop>> {
        let c = Candidate::new(&self.task.program, state)?;
        let (engine, task) = (self.engine, self.task);
        let best = self.population.iter().map(|g| g.measures.score).fold(f64::NEG_INFINITY, f64::max);
        match trial(engine, task, &c, &task.valset, TrialKind::Full, params).await? {
            Ok((score, rollouts)) => {
                if score > best {
                    engine.emit(Event::NewBest { number: engine.next_trial_number() - 1, score });
                }
                let measures = Measures::of(&rollouts, &c.program);
                Ok(Ok(Genome { state: c.state, id: c.id, measures, generation: self.generation }))
            }
            Err(stop) => Ok(Err(stop)),
        }
    }
}

impl Search<'_> {
    fn vectors(&self, genomes: &[Genome]) -> Vec<Vec<f64>> {
        genomes.iter().map(|g| self.objectives.iter().map(|o| o.value(&g.measures)).collect()).collect()
    }

    /// Each genome's position in selection order (0 best): by score alone, or NSGA-II's
    /// crowded comparison; then the shorter prompt, then the older genome; a repeat of an
    /// earlier genome's state goes after every distinct one.
    fn order(&self, genomes: &[Genome]) -> Vec<usize> {
        let v = self.vectors(genomes);
        let ranks =
            if self.objectives.len() > 1 { rank_and_crowding(&v) } else { genomes.iter().map(|_| (0, 0.0)).collect() };
        let mut seen = HashSet::new();
        let repeat: Vec<bool> = genomes.iter().map(|g| !seen.insert(g.id.as_str())).collect();
        let mut idx: Vec<usize> = (0..genomes.len()).collect();
        idx.sort_by(|&i, &j| {
            repeat[i]
                .cmp(&repeat[j])
                .then(crowded_cmp(ranks[i], ranks[j]))
                .then(v[j][0].total_cmp(&v[i][0]))
                .then(genomes[i].measures.length.total_cmp(&genomes[j].measures.length))
                .then(i.cmp(&j))
        });
        let mut pos = vec![0; genomes.len()];
        for (p, i) in idx.into_iter().enumerate() {
            pos[i] = p;
        }
        pos
    }

    /// The next population: elites and the best children (one objective), or NSGA-II over
    /// parents and children.
    fn survive(&mut self, children: Vec<Genome>) {
        let p = self.evo.population;
        let parents = std::mem::take(&mut self.population);
        let discarded: HashSet<String> = parents.iter().chain(&children).map(|g| g.id.clone()).collect();
        let pool: Vec<Genome> = if self.objectives.len() > 1 {
            parents.into_iter().chain(children).collect()
        } else {
            let order = self.order(&parents);
            let mut by_rank: Vec<(usize, Genome)> = order.into_iter().zip(parents).collect();
            by_rank.sort_by_key(|(r, _)| *r);
            let mut elites: Vec<Genome> = Vec::with_capacity(p);
            let mut rest = Vec::new();
            for (i, (_, g)) in by_rank.into_iter().enumerate() {
                if i < self.evo.elitism {
                    elites.push(g)
                } else {
                    rest.push(g)
                }
            }
            let kids = self.best(children, p - elites.len().min(p));
            let short = p.saturating_sub(elites.len() + kids.len());
            elites.into_iter().chain(kids).chain(rest.into_iter().take(short)).collect()
        };
        let population = self.best(pool, p);
        self.forget_discarded(&population, &discarded);
        self.population = population;
    }

    /// Frees the rollouts of the genomes that did not survive (the program as written stays:
    /// the report scores it again), so the cache holds about two generations, not all of them.
    fn forget_discarded(&self, survivors: &[Genome], discarded: &HashSet<String>) {
        let keep: HashSet<&str> = survivors.iter().map(|g| g.id.as_str()).chain([self.seed_id.as_str()]).collect();
        let gone: HashSet<String> = discarded.iter().filter(|id| !keep.contains(id.as_str())).cloned().collect();
        self.engine.forget_rollouts(&gone);
    }

    /// The `n` first genomes of `genomes` in selection order.
    fn best(&self, genomes: Vec<Genome>, n: usize) -> Vec<Genome> {
        let order = self.order(&genomes);
        let mut ranked: Vec<(usize, Genome)> = order.into_iter().zip(genomes).collect();
        ranked.sort_by_key(|(r, _)| *r);
        ranked.into_iter().take(n).map(|(_, g)| g).collect()
    }

    fn note_generation(&mut self, evaluated: usize) {
        let scores: Vec<f64> = self.population.iter().map(|g| g.measures.score).collect();
        let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
        let distinct = self.population.iter().map(|g| g.id.as_str()).collect::<HashSet<_>>().len();
        let front = self.front();
        self.engine.emit(Event::Message(format!(
            "generation {}: best {best:.3}, mean {mean:.3}, {distinct} distinct of {}",
            self.generation,
            self.population.len()
        )));
        self.log.push(json!({
            "generation": self.generation, "evaluated": evaluated, "best_score": best, "mean_score": mean,
            "distinct": distinct, "front_size": front.points().len(), "hypervolume": front.hypervolume(),
            "spent_calls": self.engine.spent().total().calls,
        }));
    }

    /// The population's own front over the objectives.
    fn front(&self) -> Archive {
        let selection = Selection { objectives: self.objectives.clone(), constraints: Vec::new() };
        let mut archive = Archive::new(selection);
        for g in &self.population {
            archive.offer(FrontPoint {
                candidate: g.id.clone(),
                trial: None,
                measures: g.measures,
                state: g.state.clone(),
            });
        }
        archive
    }

    fn outcome(self, stopped: Option<Stop>) -> Outcome {
        let front = self.front();
        let pick = front.pick().and_then(|i| front.points().get(i));
        let cmp = |a: &&Genome, b: &&Genome| {
            b.measures.score.total_cmp(&a.measures.score).then(a.measures.length.total_cmp(&b.measures.length))
        };
        let best = match pick {
            Some(p) => self.population.iter().find(|g| g.id == p.candidate),
            None => self.population.iter().min_by(cmp),
        };
        let Some(best) = best.cloned() else {
            return Outcome::stopped_at_start(self.task, &stopped.unwrap_or(Stop::Cancelled));
        };
        let mut top: Vec<&Genome> = self.population.iter().collect();
        top.sort_by(cmp);
        let top: Vec<Value> = top
            .iter()
            .take(10)
            .map(|g| {
                json!({"candidate": g.id, "score": g.measures.score, "length": g.measures.length,
                            "tokens": g.measures.tokens, "generation": g.generation})
            })
            .collect();
        let details = json!({
            "objectives": self.objectives,
            "generations": self.log,
            "best_candidate": best.id,
            "population_top": top,
            "proposals": self.proposals,
            "rejected_proposals_count": self.rejected,
            "rejected_proposals": self.rejected_listed,
        });
        Outcome { state: best.state, val_score: Some(best.measures.score), stopped, details }
    }
}

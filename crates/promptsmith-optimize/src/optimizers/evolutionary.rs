//! A genetic search over genomes, one instruction and one demo set per predictor.
//!
//! Generation 0 is the program as written plus `population - 1` mutants of it (a random
//! labeled demo set per predictor, and with `mutation_rate` an LLM rewrite of its
//! instruction). Each later generation breeds `population` children: two parents drawn by
//! tournament, with `crossover_rate` a crossover (per predictor the demo set of either parent,
//! and the two instructions merged by the proposer model, or one of them taken when
//! `llm_crossover` is off), then per predictor an LLM mutation of the instruction
//! (`mutation_rate`) and a demo-set mutation (`demo_mutation_rate`: add, remove or replace one
//! labeled demo). Every child is scored on the whole validation set (a child equal to a genome
//! scored before costs no call: the rollout cache answers).
//!
//! Survivors: with the score as the only objective, the `elitism` best parents and the best
//! children (at equal score the shorter prompt first); with several objectives, NSGA-II's
//! environmental selection over parents and children (non-dominated fronts, then crowding
//! distance), which is elitist by construction. Tournaments compare in the same order.
//!
//! Every proposal goes through the same guard as MIPROv2's and GEPA's (re-asked once, then
//! dropped: the parent's instruction stays). Every random choice comes from streams derived
//! from the run seed and is drawn before the calls it leads to, and every proposer call has its
//! own rollout id, so a resumed run replays identically from the journal. Only the population
//! lives between generations (and the engine's front when the run keeps one), and the engine's
//! rollouts of discarded genomes are dropped after each generation, so memory does not grow
//! with the generations beyond the engine's call journal (every answer, kept for exact resume)
//! and trial log.

mod ops;
mod search;

use super::{require_examples, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::Engine;
use crate::error::{OptimizeError, Result};
use crate::pareto::{Objective, Selection};
use async_trait::async_trait;
use serde_json::{json, Value};

/// Largest population accepted.
pub const MAX_POPULATION: usize = 100_000;
/// Most generations accepted.
pub const MAX_GENERATIONS: usize = 10_000;
/// Most demos per predictor accepted.
pub const MAX_DEMOS: usize = 64;

/// Evolutionary search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Evolutionary {
    /// Genomes per generation (default 12).
    pub population: usize,
    /// Generations bred after generation 0 (default 4).
    pub generations: usize,
    /// Genomes drawn per tournament (default 2).
    pub tournament_size: usize,
    /// Chance a child is a crossover of two parents (default 0.7).
    pub crossover_rate: f64,
    /// Chance, per predictor, that a child's instruction is rewritten by the proposer (default 0.3).
    pub mutation_rate: f64,
    /// Chance, per predictor, that a child's demo set is mutated (default 0.3).
    pub demo_mutation_rate: f64,
    /// Merge two parents' instructions with the proposer (default true; else take one).
    pub llm_crossover: bool,
    /// Best parents carried over unchanged when the score is the only objective (default 2).
    pub elitism: usize,
    /// Most demos per predictor (default 4).
    pub max_demos: usize,
    /// The objectives selection is made on (empty: the score only; score:max is put first).
    pub objectives: Vec<Objective>,
    /// Sampling temperature of the proposer (default 1.0).
    pub temperature: f32,
    /// Longest instruction a proposal may have, in characters (default 2000).
    pub max_instruction_chars: usize,
}

impl Default for Evolutionary {
    fn default() -> Self {
        Evolutionary {
            population: 12,
            generations: 4,
            tournament_size: 2,
            crossover_rate: 0.7,
            mutation_rate: 0.3,
            demo_mutation_rate: 0.3,
            llm_crossover: true,
            elitism: 2,
            max_demos: 4,
            objectives: Vec::new(),
            temperature: 1.0,
            max_instruction_chars: 2000,
        }
    }
}

impl Evolutionary {
    /// The objectives as a selection (score first).
    pub fn selection(&self) -> Result<Selection> {
        Selection::new(&self.objectives, &[]).map_err(|e| OptimizeError::config(format!("evolutionary: {e}")))
    }

    /// Genomes scored in all: generation 0 and `population` children per generation.
    pub fn evaluations(&self) -> u64 {
        (self.population as u64).saturating_mul(self.generations as u64 + 1)
    }

    /// Upper bound on proposer calls: per predictor of a child, one LLM crossover (children
    /// after generation 0) and one mutation, each asked again once by the guard, each ask
    /// taking a JSON-mode retry.
    pub fn max_proposer_calls(&self, predictors: usize) -> u64 {
        let mutate = u64::from(self.mutation_rate > 0.0);
        let cross = u64::from(self.llm_crossover && self.crossover_rate > 0.0);
        let first = (self.population.saturating_sub(1) as u64) * mutate;
        let later = (self.population as u64).saturating_mul(self.generations as u64).saturating_mul(mutate + cross);
        first.saturating_add(later).saturating_mul(predictors as u64 * 4)
    }

    fn check_numbers(&self) -> Result<()> {
        let bad = |m: String| Err(OptimizeError::config(format!("evolutionary: {m}")));
        if !(2..=MAX_POPULATION).contains(&self.population) {
            return bad(format!("population {} must be between 2 and {MAX_POPULATION}", self.population));
        }
        if !(1..=MAX_GENERATIONS).contains(&self.generations) {
            return bad(format!("generations {} must be between 1 and {MAX_GENERATIONS}", self.generations));
        }
        if self.max_demos > MAX_DEMOS {
            return bad(format!("max_demos {} must be at most {MAX_DEMOS}", self.max_demos));
        }
        if self.tournament_size == 0 || self.tournament_size > self.population {
            return bad(format!("tournament_size {} must be between 1 and the population", self.tournament_size));
        }
        for (name, r) in [
            ("crossover_rate", self.crossover_rate),
            ("mutation_rate", self.mutation_rate),
            ("demo_mutation_rate", self.demo_mutation_rate),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return bad(format!("{name} {r} must be between 0 and 1"));
            }
        }
        if self.elitism >= self.population {
            return bad(format!("elitism {} must be below the population {}", self.elitism, self.population));
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad(format!("temperature {} must be at least 0", self.temperature));
        }
        if self.max_instruction_chars < 100 {
            return bad("max_instruction_chars must be at least 100".into());
        }
        Ok(())
    }
}

#[async_trait]
impl Optimizer for Evolutionary {
    fn name(&self) -> &'static str {
        "evolutionary"
    }

    fn params(&self) -> Value {
        json!({
            "population": self.population,
            "generations": self.generations,
            "tournament_size": self.tournament_size,
            "crossover_rate": self.crossover_rate,
            "mutation_rate": self.mutation_rate,
            "demo_mutation_rate": self.demo_mutation_rate,
            "llm_crossover": self.llm_crossover,
            "elitism": self.elitism,
            "max_demos": self.max_demos,
            "objectives": self.objectives,
            "temperature": self.temperature,
            "max_instruction_chars": self.max_instruction_chars,
        })
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        require_examples(task, usize::from(self.max_demos > 0), "evolutionary")?;
        if task.program.predictors.is_empty() {
            return Err(OptimizeError::config("evolutionary: the program has no predictor"));
        }
        self.check_numbers()?;
        self.selection().map(|_| ())
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let evaluations = self.evaluations();
        Plan {
            task_calls: evaluations.saturating_mul(task.valset.len() as u64),
            proposer_calls: self.max_proposer_calls(task.program.predictors.len()),
            trials: evaluations,
            notes: vec![
                format!(
                    "{} generations after generation 0, {} genomes each: {evaluations} trials on the whole validation \
                     set ({} examples), exactly that many unless the budget stops the search",
                    self.generations,
                    self.population,
                    task.valset.len()
                ),
                "upper bounds on calls: a child equal to a genome scored before costs none (rollout cache), a \
                 JSON-mode retry after an unparsable answer comes on top of task calls, and proposer calls count a \
                 crossover and a mutation for every predictor of every child with a re-ask and a retry each"
                    .into(),
            ],
            ..Plan::default()
        }
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        self.validate(task)?;
        search::Search::new(self, engine, task)?.run().await
    }
}

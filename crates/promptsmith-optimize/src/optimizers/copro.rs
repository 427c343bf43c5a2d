//! COPRO: instruction search by rounds of proposals that learn from scored attempts, as DSPy's
//! `COPRO` optimizer does (instructions only: our signatures have no output-field prefix to tune).
//!
//! Flow, per run:
//! 1. For every predictor the proposer writes `breadth - 1` new instructions from the current
//!    (basic) instruction; the basic instruction itself is a candidate too.
//! 2. `depth` rounds. In each round every predictor in turn has its candidates scored, each with
//!    the other predictors at their current best instruction, and then takes its best-scoring
//!    instruction as its current one. In a one-predictor program a round scores only the
//!    candidates new in that round (the others' scores cannot change); with several predictors
//!    every candidate is scored again, since the others may have changed since (as DSPy does).
//! 3. Between rounds (`depth - 1` times, as in DSPy's loop) the proposer sees, per predictor, the
//!    best `breadth` instructions tried so far with their scores, worst first and best last, and
//!    writes `breadth` new ones.
//!
//! The best-scoring program among all evaluated wins; ties go to the one evaluated first, so the
//! original program wins ties.
//!
//! Where this differs from DSPy:
//! - Candidates are scored on the validation set, like every other optimizer here (DSPy's COPRO
//!   only has a training set and scores on it); the training set is not used.
//! - Identical instructions are proposed once per predictor and an identical program is scored
//!   once per run (its score is reused, no trial is recorded for it).
//! - With several predictors an instruction's score is its score with the others as they stand
//!   in the latest round (DSPy keeps the highest score it ever saw, in whatever context).
//! - Proposals are separate calls with distinct rollout ids rather than one call asking for
//!   `n` completions, so every proposal is cached and journaled on its own.
//! - The proposer also sees the step's signature, and the proposal temperature defaults to 1.0
//!   rather than DSPy's 1.4, which small local models handle badly (it is a setting).
//! - Proposals go through the proposal guard (as MIPROv2's, GEPA's and the evolutionary
//!   optimizer's do): one that quotes a training example, keeps a placeholder, only restates the
//!   signature or repeats the proposer's directions is dropped, with a message. It is not asked
//!   again, so the planned proposer calls stay exact; the round has one candidate fewer.

use super::proposal_guard::ProposalGuard;
use super::proposer::{ask, predictor};
use super::{require_examples, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::{Engine, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialKind};
use async_trait::async_trait;
use promptsmith_core::{Example, Predictor, ProgramState};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// How many of the best attempts the statistics summarize per predictor and round (as DSPy).
const STATS_TOP: usize = 10;

/// COPRO settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Copro {
    /// Instructions proposed per predictor and round (the first round proposes `breadth - 1` and
    /// adds the current instruction); at least 2. Default 10.
    pub breadth: usize,
    /// Rounds of scoring (the proposer sees the scored history `depth - 1` times); at least 1.
    /// Default 3.
    pub depth: usize,
    /// Sampling temperature of every proposal. Default 1.0 (DSPy uses 1.4, which small local
    /// models answer with rambling text).
    pub init_temperature: f32,
    /// Add score statistics per predictor and round to the outcome's details (`stats`).
    pub track_stats: bool,
}

impl Default for Copro {
    fn default() -> Self {
        Copro { breadth: 10, depth: 3, init_temperature: 1.0, track_stats: false }
    }
}

impl Copro {
    /// Upper bound on trials: each round adds at most `breadth` candidates per predictor; with
    /// several predictors every round scores all candidates so far again.
    fn max_trials(&self, predictors: usize) -> u64 {
        let (b, d, p) = (self.breadth as u64, self.depth as u64, predictors as u64);
        if predictors <= 1 {
            b * d
        } else {
            p * b * d * (d + 1) / 2
        }
    }

    /// Upper bound on proposer calls (each proposal may take a JSON-mode retry).
    fn max_proposer_calls(&self, predictors: usize) -> u64 {
        let per_predictor = self.breadth.saturating_sub(1) + self.depth.saturating_sub(1) * self.breadth;
        2 * (predictors * per_predictor) as u64
    }
}

/// One scored instruction of one predictor.
#[derive(Debug, Clone)]
struct Attempt {
    instruction: String,
    score: f64,
    /// Round (from 1) of its latest score.
    round: usize,
}

/// The search's progress, kept outside the search so a stopped run still reports it.
struct Progress {
    /// The program's own state.
    base: ProgramState,
    /// The program's own instruction per predictor.
    originals: BTreeMap<String, String>,
    /// Current instruction per predictor.
    current: BTreeMap<String, String>,
    /// Scored instructions per predictor, in the order they were first scored.
    attempts: BTreeMap<String, Vec<Attempt>>,
    /// Scores of the programs evaluated so far, by candidate id.
    seen: HashMap<String, f64>,
    /// The best program so far.
    best: Option<(f64, ProgramState, BTreeMap<String, String>)>,
    /// Proposer calls made (also the last rollout id used).
    proposals: u64,
    /// Statistics per round (when tracked).
    stats: Vec<Value>,
}

fn summary(scores: &[f64]) -> Value {
    if scores.is_empty() {
        return Value::Null;
    }
    let n = scores.len() as f64;
    let mean = scores.iter().sum::<f64>() / n;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
    json!({
        "max": scores.iter().copied().fold(f64::MIN, f64::max),
        "average": mean,
        "min": scores.iter().copied().fold(f64::MAX, f64::min),
        "std": var.sqrt(),
    })
}

/// The best `limit` attempts, worst first and best last (ties keep the order they were scored in).
fn history(attempts: &[Attempt], limit: usize) -> Vec<&Attempt> {
    let mut sorted: Vec<&Attempt> = attempts.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    sorted.truncate(limit);
    sorted.reverse();
    sorted
}

/// The history as the proposer reads it.
fn render_history(attempts: &[(&str, f64)]) -> String {
    attempts
        .iter()
        .enumerate()
        .map(|(i, (instruction, score))| format!("Attempt {} (score {:.1}%):\n{}", i + 1, score * 100.0, instruction))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// What the proposer is told for a first proposal (also what no proposal may repeat).
const INITIAL_DIRECTIONS: &str =
    "You write instructions for language models. You are shown one step of a language-model program: the \
     fields it reads and writes, and the instruction it is given now. Write one new instruction that would \
     lead a capable model to do this step as well as possible. You may reword it, add guidance on how to \
     reach a good answer, or approach the task from a fresh angle. Answer with the instruction only.";

/// What the proposer is told for a refined proposal (also what no proposal may repeat).
const REFINE_DIRECTIONS: &str =
    "You write instructions for language models. You are shown instructions that were already tried for one \
     step of a language-model program, each with the score it earned on held-out examples (higher is better), \
     ordered from the lowest score to the highest. Work out what the higher-scoring ones do that the others \
     do not, and write one new instruction that should score higher than all of them. Answer with the \
     instruction only.";

/// The proposal guard for `target`'s proposals: the training inputs, the step's signature and
/// the proposer's own directions.
fn guard_for(trainset: &[Example], target: &Predictor) -> ProposalGuard {
    ProposalGuard::new(trainset, std::iter::empty())
        .with_signature(&target.signature)
        .with_directions(&[INITIAL_DIRECTIONS, REFINE_DIRECTIONS])
}

/// Whether `text` passes `guard`; a defective proposal is reported and dropped.
fn passes(engine: &Engine, guard: &ProposalGuard, predictor: &str, text: &str) -> bool {
    match guard.check(text) {
        None => true,
        Some(defect) => {
            engine.emit(Event::Message(format!("COPRO proposal for {predictor} dropped: it {defect}")));
            false
        }
    }
}

impl Copro {
    async fn propose_initial(
        &self,
        engine: &Engine,
        target: &Predictor,
        basic: &str,
        rollout: u64,
    ) -> std::result::Result<Option<String>, Stop> {
        let mut inputs = Map::new();
        inputs.insert("task_signature".into(), Value::String(target.signature.to_signature_string()));
        inputs.insert("basic_instruction".into(), Value::String(basic.to_string()));
        let p = predictor(
            "copro_propose",
            &[
                ("task_signature", "the inputs and outputs of the step"),
                ("basic_instruction", "the instruction the step is given now"),
            ],
            ("proposed_instruction", "the new instruction, exactly as the model would be given it"),
            INITIAL_DIRECTIONS,
        );
        ask(engine, p, inputs, Some(self.init_temperature), Some(rollout)).await
    }

    async fn propose_refined(
        &self,
        engine: &Engine,
        target: &Predictor,
        attempts: &str,
        rollout: u64,
    ) -> std::result::Result<Option<String>, Stop> {
        let mut inputs = Map::new();
        inputs.insert("task_signature".into(), Value::String(target.signature.to_signature_string()));
        inputs.insert("attempted_instructions".into(), Value::String(attempts.to_string()));
        let p = predictor(
            "copro_refine",
            &[
                ("task_signature", "the inputs and outputs of the step"),
                (
                    "attempted_instructions",
                    "instructions already tried for the step, each with its score; worst first, best last",
                ),
            ],
            ("proposed_instruction", "the new instruction, exactly as the model would be given it"),
            REFINE_DIRECTIONS,
        );
        ask(engine, p, inputs, Some(self.init_temperature), Some(rollout)).await
    }

    /// The state with `instructions` (an instruction equal to the program's own is left as the
    /// program has it, so the original program keeps its state and its id).
    fn state_for(
        task: &OptimizeTask,
        progress: &Progress,
        instructions: &BTreeMap<String, String>,
    ) -> Result<Candidate> {
        let mut state = progress.base.clone();
        for (name, instruction) in instructions {
            if progress.originals.get(name) == Some(instruction) {
                continue;
            }
            if let Some(p) = state.predictors.get_mut(name) {
                p.instruction = Some(instruction.clone());
            }
        }
        Candidate::new(&task.program, state)
    }

    /// Scores `name` with `instruction` and the others at their current instruction.
    async fn score(
        &self,
        engine: &Engine,
        task: &OptimizeTask,
        progress: &mut Progress,
        name: &str,
        instruction: &str,
        round: usize,
    ) -> Result<std::result::Result<f64, Stop>> {
        let mut instructions = progress.current.clone();
        instructions.insert(name.to_string(), instruction.to_string());
        let candidate = Self::state_for(task, progress, &instructions)?;
        if let Some(score) = progress.seen.get(&candidate.id) {
            return Ok(Ok(*score));
        }
        let params = json!({"round": round, "predictor": name, "instructions": instructions});
        match super::trial(engine, task, &candidate, &task.valset, TrialKind::Full, params).await? {
            Ok((score, _)) => {
                progress.seen.insert(candidate.id.clone(), score);
                if progress.best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                    engine.emit(Event::NewBest { number: engine.next_trial_number() - 1, score });
                    progress.best = Some((score, candidate.state, instructions));
                }
                Ok(Ok(score))
            }
            Err(stop) => Ok(Err(stop)),
        }
    }

    /// Runs the search, recording progress as it goes; `Err(Stop)` when it ended early.
    async fn search(
        &self,
        engine: &Engine,
        task: &OptimizeTask,
        progress: &mut Progress,
    ) -> Result<std::result::Result<(), Stop>> {
        let names: Vec<String> = task.program.predictors.iter().map(|p| p.name.clone()).collect();
        let several = names.len() > 1;
        let guards: HashMap<&str, ProposalGuard> =
            task.program.predictors.iter().map(|p| (p.name.as_str(), guard_for(&task.trainset, p))).collect();

        // Round 1's candidates: the basic instruction and breadth - 1 proposals from it.
        engine.emit(Event::Phase { name: "propose".into(), steps: Some(names.len() * (self.breadth - 1)) });
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut latest: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut done = 0;
        for target in &task.program.predictors {
            let basic = progress.originals.get(&target.name).cloned().unwrap_or_default();
            let guard = &guards[target.name.as_str()];
            let mut list = vec![basic.clone()];
            for _ in 1..self.breadth {
                if let Some(stop) = engine.should_stop() {
                    return Ok(Err(stop));
                }
                progress.proposals += 1;
                match self.propose_initial(engine, target, &basic, progress.proposals).await {
                    Ok(Some(text)) if !list.contains(&text) && passes(engine, guard, &target.name, &text) => {
                        list.push(text)
                    }
                    Ok(_) => {}
                    Err(stop) => return Ok(Err(stop)),
                }
                done += 1;
                engine.emit(Event::Step { done });
            }
            all.insert(target.name.clone(), list.clone());
            latest.insert(target.name.clone(), list);
        }

        for round in 1..=self.depth {
            let todo_count: usize =
                names.iter().map(|n| if several { &all } else { &latest }.get(n).map_or(0, Vec::len)).sum();
            engine.emit(Event::Phase { name: format!("round {round}/{}", self.depth), steps: Some(todo_count) });
            let mut done = 0;
            let mut round_stats = Map::new();
            for name in &names {
                let todo = if several { &all } else { &latest }.get(name).cloned().unwrap_or_default();
                let mut new_scores = Vec::new();
                for instruction in &todo {
                    let score = match self.score(engine, task, progress, name, instruction, round).await? {
                        Ok(s) => s,
                        Err(stop) => return Ok(Err(stop)),
                    };
                    let list = progress.attempts.entry(name.clone()).or_default();
                    match list.iter_mut().find(|a| a.instruction == *instruction) {
                        Some(a) => {
                            a.score = score;
                            a.round = round;
                        }
                        None => list.push(Attempt { instruction: instruction.clone(), score, round }),
                    }
                    if latest.get(name).is_some_and(|l| l.contains(instruction)) {
                        new_scores.push(score);
                    }
                    done += 1;
                    engine.emit(Event::Step { done });
                }
                // The predictor takes its best instruction before the next one is scored.
                let attempts = progress.attempts.get(name).map(Vec::as_slice).unwrap_or_default();
                let best = attempts.iter().fold(None::<&Attempt>, |acc, a| match acc {
                    Some(b) if b.score >= a.score => Some(b),
                    _ => Some(a),
                });
                if let Some(best) = best {
                    progress.current.insert(name.clone(), best.instruction.clone());
                }
                if self.track_stats {
                    let top: Vec<f64> = history(attempts, STATS_TOP).iter().map(|a| a.score).collect();
                    round_stats.insert(name.clone(), json!({"best": summary(&top), "latest": summary(&new_scores)}));
                }
            }
            if self.track_stats {
                progress.stats.push(json!({"round": round, "predictors": round_stats}));
            }
            if round == self.depth {
                break;
            }

            // The next round's candidates, from the scored history.
            engine.emit(Event::Phase { name: "propose".into(), steps: Some(names.len() * self.breadth) });
            let mut done = 0;
            for target in &task.program.predictors {
                let attempts = progress.attempts.get(&target.name).map(Vec::as_slice).unwrap_or_default();
                let shown: Vec<(&str, f64)> =
                    history(attempts, self.breadth).iter().map(|a| (a.instruction.as_str(), a.score)).collect();
                let text = render_history(&shown);
                let known = all.entry(target.name.clone()).or_default();
                let guard = &guards[target.name.as_str()];
                let mut fresh = Vec::new();
                for _ in 0..self.breadth {
                    if let Some(stop) = engine.should_stop() {
                        return Ok(Err(stop));
                    }
                    progress.proposals += 1;
                    match self.propose_refined(engine, target, &text, progress.proposals).await {
                        Ok(Some(p))
                            if !known.contains(&p)
                                && !fresh.contains(&p)
                                && passes(engine, guard, &target.name, &p) =>
                        {
                            fresh.push(p)
                        }
                        Ok(_) => {}
                        Err(stop) => return Ok(Err(stop)),
                    }
                    done += 1;
                    engine.emit(Event::Step { done });
                }
                known.extend(fresh.iter().cloned());
                latest.insert(target.name.clone(), fresh);
            }
        }
        Ok(Ok(()))
    }
}

#[async_trait]
impl Optimizer for Copro {
    fn name(&self) -> &'static str {
        "copro"
    }

    fn params(&self) -> Value {
        json!({
            "breadth": self.breadth,
            "depth": self.depth,
            "init_temperature": self.init_temperature,
            "track_stats": self.track_stats,
        })
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        require_examples(task, 0, "copro")?;
        if self.breadth < 2 {
            return Err(OptimizeError::config(format!(
                "copro: breadth must be at least 2 (the current instruction plus at least one proposal), got {}",
                self.breadth
            )));
        }
        if self.depth == 0 {
            return Err(OptimizeError::config("copro: depth must be at least 1"));
        }
        if !self.init_temperature.is_finite() || self.init_temperature < 0.0 {
            return Err(OptimizeError::config(format!(
                "copro: init_temperature must be a number of at least 0, got {}",
                self.init_temperature
            )));
        }
        if task.program.predictors.is_empty() {
            return Err(OptimizeError::config("copro: the program has no predictor"));
        }
        Ok(())
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let predictors = task.program.predictors.len();
        let trials = self.max_trials(predictors);
        Plan {
            task_calls: trials * task.valset.len() as u64,
            proposer_calls: self.max_proposer_calls(predictors),
            trials,
            notes: vec![
                format!(
                    "{} round(s) of up to {} instruction candidates per predictor, each scored on the whole validation set ({} examples)",
                    self.depth,
                    self.breadth,
                    task.valset.len()
                ),
                if predictors > 1 {
                    "several predictors: every round scores all candidates so far again, with the others at their current best".into()
                } else {
                    "one predictor: each round scores only its new candidates".into()
                },
                "upper bounds: duplicate proposals and programs already scored cost nothing, and task calls count one program run per example (a JSON-mode retry after an unparsable answer comes on top)".into(),
            ],
            ..Plan::default()
        }
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        self.validate(task)?;
        let current: BTreeMap<String, String> =
            task.program.predictors.iter().map(|p| (p.name.clone(), p.signature.instruction())).collect();
        let mut progress = Progress {
            base: task.program.state(),
            originals: current.clone(),
            current,
            attempts: BTreeMap::new(),
            seen: HashMap::new(),
            best: None,
            proposals: 0,
            stats: Vec::new(),
        };
        let stopped = self.search(engine, task, &mut progress).await?.err();
        let candidates: BTreeMap<&String, Vec<Value>> = progress
            .attempts
            .iter()
            .map(|(name, list)| {
                let mut sorted: Vec<&Attempt> = list.iter().collect();
                sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
                let shown = sorted
                    .iter()
                    .map(|a| json!({"instruction": a.instruction, "score": a.score, "round": a.round}))
                    .collect();
                (name, shown)
            })
            .collect();
        let mut details = json!({
            "candidates": candidates,
            "proposals": progress.proposals,
            "programs_scored": progress.seen.len(),
        });
        if self.track_stats {
            details["stats"] = Value::Array(progress.stats);
        }
        Ok(match progress.best {
            Some((score, state, instructions)) => {
                details["best_instructions"] = json!(instructions);
                Outcome { state, val_score: Some(score), stopped, details }
            }
            None => Outcome { state: progress.base, val_score: None, stopped, details },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attempt(instruction: &str, score: f64) -> Attempt {
        Attempt { instruction: instruction.into(), score, round: 1 }
    }

    #[test]
    fn proposals_may_not_echo_the_proposers_directions() {
        let p = Predictor::new("solve", promptsmith_core::Signature::parse("question -> answer").unwrap());
        let g = guard_for(&[], &p);
        for echo in [
            "Write one new instruction that would lead a capable model to do this step as well as possible.",
            "Work out what the higher-scoring ones do that the others do not.",
        ] {
            assert!(g.check(echo).is_some(), "{echo}");
        }
        assert_eq!(g.check("Answer with one word, taken from the passage."), None);
    }

    #[test]
    fn history_keeps_the_best_worst_first_and_ties_in_scoring_order() {
        let all = [attempt("a", 0.2), attempt("b", 0.9), attempt("c", 0.5), attempt("d", 0.5), attempt("e", 0.1)];
        let kept: Vec<&str> = history(&all, 3).iter().map(|a| a.instruction.as_str()).collect();
        assert_eq!(kept, ["d", "c", "b"], "best last; the earlier-scored of a tie ranks higher");
        assert!(history(&all, 0).is_empty());
    }

    #[test]
    fn summaries_and_the_rendered_history() {
        assert_eq!(summary(&[]), Value::Null);
        let s = summary(&[0.0, 1.0]);
        assert_eq!((s["min"].as_f64(), s["max"].as_f64(), s["average"].as_f64()), (Some(0.0), Some(1.0), Some(0.5)));
        assert_eq!(s["std"].as_f64(), Some(0.5));
        let text = render_history(&[("Be brief.", 0.25), ("Think.", 0.5)]);
        assert_eq!(text, "Attempt 1 (score 25.0%):\nBe brief.\n\nAttempt 2 (score 50.0%):\nThink.");
    }
}

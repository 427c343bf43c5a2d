//! The evolutionary optimizer's flags, the multi-objective flags every optimizer takes
//! (`--objective`, `--constraint`, `--max-tokens-per-call`) and how their results print.

use anyhow::{bail, Result};
use clap::Args;
use promptsmith_app::optimize::{EnsembleRequest, EvolutionarySpec};
use promptsmith_app::OptimizeRequest;
use promptsmith_optimize::pareto::{Constraint, Objective};
use serde_json::Value;

/// The evolutionary optimizer's flags (defaults in brackets).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct EvolutionaryArgs {
    /// Evolutionary: genomes per generation [12].
    #[arg(long)]
    population: Option<usize>,
    /// Evolutionary: generations bred after generation 0 [4].
    #[arg(long)]
    generations: Option<usize>,
    /// Evolutionary: genomes per tournament [2].
    #[arg(long)]
    tournament_size: Option<usize>,
    /// Evolutionary: chance a child is a crossover of two parents [0.7].
    #[arg(long)]
    crossover_rate: Option<f64>,
    /// Evolutionary: chance per predictor of an LLM rewrite of the instruction [0.3].
    #[arg(long)]
    mutation_rate: Option<f64>,
    /// Evolutionary: chance per predictor of a demo-set mutation [0.3].
    #[arg(long)]
    demo_mutation_rate: Option<f64>,
    /// Evolutionary: take one parent's instruction instead of merging both with the proposer.
    #[arg(long)]
    no_llm_crossover: bool,
    /// Evolutionary: best parents kept unchanged with the score as the only objective [2].
    #[arg(long)]
    elitism: Option<usize>,
    /// Evolutionary: most demos per predictor [4].
    #[arg(long)]
    max_demos: Option<usize>,
}

impl EvolutionaryArgs {
    /// The first evolutionary flag set, if any.
    pub(crate) fn first_set(&self) -> Option<&'static str> {
        let set = [
            ("--population", self.population.is_some()),
            ("--generations", self.generations.is_some()),
            ("--tournament-size", self.tournament_size.is_some()),
            ("--crossover-rate", self.crossover_rate.is_some()),
            ("--mutation-rate", self.mutation_rate.is_some()),
            ("--demo-mutation-rate", self.demo_mutation_rate.is_some()),
            ("--no-llm-crossover", self.no_llm_crossover),
            ("--elitism", self.elitism.is_some()),
            ("--max-demos", self.max_demos.is_some()),
        ];
        set.iter().find(|(_, on)| *on).map(|(flag, _)| *flag)
    }

    /// The spec these flags ask for (the request's objectives apply to it).
    pub(crate) fn spec(&self) -> EvolutionarySpec {
        let d = EvolutionarySpec::default();
        EvolutionarySpec {
            population: self.population.unwrap_or(d.population),
            generations: self.generations.unwrap_or(d.generations),
            tournament_size: self.tournament_size.unwrap_or(d.tournament_size),
            crossover_rate: self.crossover_rate.unwrap_or(d.crossover_rate),
            mutation_rate: self.mutation_rate.unwrap_or(d.mutation_rate),
            demo_mutation_rate: self.demo_mutation_rate.unwrap_or(d.demo_mutation_rate),
            llm_crossover: !self.no_llm_crossover,
            elitism: self.elitism.unwrap_or(d.elitism),
            max_demos: self.max_demos.unwrap_or(d.max_demos),
            ..d
        }
    }
}

/// Objectives and constraints, for any optimizer.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ObjectiveArgs {
    /// An objective besides the metric, repeatable: MEASURE:max|min[:WEIGHT] with MEASURE one of
    /// score, prompt_tokens, completion_tokens, tokens (per call), latency (ms per example), cost
    /// (USD per example), length (prompt characters). The run keeps the Pareto front over them
    /// and picks its result from it (by weights when any is given, else in the order given).
    #[arg(long = "objective", value_name = "MEASURE:max|min[:WEIGHT]")]
    objectives: Vec<String>,
    /// A bound the picked result must meet, repeatable: MEASURE<=X or MEASURE>=X.
    #[arg(long = "constraint", value_name = "MEASURE<=X")]
    constraints: Vec<String>,
    /// Prompt plus completion tokens per LM call at most this (a constraint).
    #[arg(long)]
    max_tokens_per_call: Option<f64>,
    /// Ensemble the K best candidates scored on the validation set: the result is their
    /// majority vote when it scores above the optimizer's own result there (2 to 15).
    #[arg(long, value_name = "K")]
    ensemble: Option<usize>,
    /// An output the ensemble votes on, repeatable (default: every output but reasoning).
    #[arg(long = "ensemble-field", value_name = "FIELD", requires = "ensemble")]
    ensemble_fields: Vec<String>,
}

impl ObjectiveArgs {
    /// Sets the request's objectives and constraints.
    pub(crate) fn apply(&self, req: &mut OptimizeRequest) -> Result<()> {
        req.objectives = self
            .objectives
            .iter()
            .map(|o| o.parse::<Objective>().map_err(|e| anyhow::anyhow!("--objective {e}")))
            .collect::<Result<_>>()?;
        req.constraints = self.constraints.iter().map(|c| constraint(c)).collect::<Result<_>>()?;
        req.max_tokens_per_call = self.max_tokens_per_call;
        req.ensemble = self.ensemble.map(|size| EnsembleRequest { size, fields: self.ensemble_fields.clone() });
        Ok(())
    }
}

/// `tokens<=400` or `score>=0.6`.
fn constraint(text: &str) -> Result<Constraint> {
    let (measure, bound, is_max) = match (text.split_once("<="), text.split_once(">=")) {
        (Some((m, b)), None) => (m, b, true),
        (None, Some((m, b))) => (m, b, false),
        _ => bail!("--constraint {text}: expected MEASURE<=X or MEASURE>=X"),
    };
    let measure = measure.parse().map_err(|e| anyhow::anyhow!("--constraint {text}: {e}"))?;
    let Ok(bound) = bound.trim().parse::<f64>() else { bail!("--constraint {text}: '{bound}' is not a number") };
    let (max, min) = if is_max { (Some(bound), None) } else { (None, Some(bound)) };
    Ok(Constraint { measure, max, min })
}

/// The ensemble's outcome, when the run asked for one.
pub(crate) fn print_ensemble(details: &Value) {
    let e = &details["ensemble"];
    if let Some(why) = e["why"].as_str() {
        let members = e["members"].as_array().map_or(0, Vec::len);
        let verdict = if e["kept"] == true { "kept" } else { "not kept" };
        println!("ensemble of {members}: {verdict}: {why}");
    }
}

/// The evolutionary search's generations, one line each.
pub(crate) fn print_generations(details: &Value) {
    let Some(generations) = details["generations"].as_array() else { return };
    println!(
        "evolutionary: {} generations, {} proposals ({} dropped by the guard)",
        generations.len(),
        details["proposals"],
        details["rejected_proposals_count"]
    );
    for g in generations {
        println!(
            "  generation {}: {} scored, best {:.1}%, mean {:.1}%, {} distinct, front {}",
            g["generation"],
            g["evaluated"],
            g["best_score"].as_f64().unwrap_or_default() * 100.0,
            g["mean_score"].as_f64().unwrap_or_default() * 100.0,
            g["distinct"],
            g["front_size"]
        );
    }
}

/// The Pareto front of a multi-objective run, one line per point.
pub(crate) fn print_front(details: &Value) {
    let front = &details["pareto"];
    let Some(points) = front["front"].as_array() else { return };
    println!(
        "pareto front over {}: {} point(s) of {} offered, hypervolume {:.4}",
        front["objectives"],
        points.len(),
        front["candidates_offered"],
        front["hypervolume"].as_f64().unwrap_or_default()
    );
    for p in points {
        let mark = if p["picked"].as_bool() == Some(true) { "  (picked)" } else { "" };
        let measures: Vec<String> = p
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "candidate" | "trial" | "picked"))
            .map(|(k, v)| format!("{k} {}", v.as_f64().map_or_else(|| v.to_string(), |x| format!("{x:.3}"))))
            .collect();
        println!("  {} {}{mark}", p["candidate"].as_str().unwrap_or("?"), measures.join(", "));
    }
    if let Some(why) = front["why"].as_str() {
        println!("  picked {why}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_optimize::pareto::Measure;

    #[test]
    fn constraints_parse_both_ways_and_refuse_nonsense() {
        let c = constraint("tokens<=400").unwrap();
        assert_eq!((c.measure, c.max, c.min), (Measure::Tokens, Some(400.0), None));
        let c = constraint("score>=0.5").unwrap();
        assert_eq!((c.measure, c.max, c.min), (Measure::Score, None, Some(0.5)));
        assert!(constraint("tokens=4").unwrap_err().to_string().contains("expected MEASURE<=X"));
        assert!(constraint("speed<=4").unwrap_err().to_string().contains("unknown objective 'speed'"));
        assert!(constraint("tokens<=lots").unwrap_err().to_string().contains("'lots' is not a number"));
    }
}

#![allow(clippy::unwrap_used)]
//! The evolutionary optimizer and multi-objective fronts against the scripted world of
//! `common`: the hidden rule rewards instructions that say "carefully" or "step by step" and
//! two or three demos; the scripted proposer rewrites instructions by rollout id (one of its
//! answers keeps a placeholder, which the guard must turn away).

mod common;

use promptsmith_core::ChatRequest;
use promptsmith_lm::ScriptedLm;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::checkpoint::{RunDirCheckpoint, JOURNAL_FILE};
use promptsmith_optimize::events::NoEvents;
use promptsmith_optimize::objectives::WithObjectives;
use promptsmith_optimize::optimizers::evolutionary::Evolutionary;
use promptsmith_optimize::optimizers::random_search::RandomSearch;
use promptsmith_optimize::pareto::{Constraint, Measure, Objective, Selection};
use promptsmith_optimize::run::{check, run};
use promptsmith_optimize::{Engine, EngineConfig, Optimizer, RoleModels, Stop};
use std::sync::Arc;

/// Instructions the scripted proposer writes for a mutation or crossover, by rollout id (first
/// asks have even ids; a re-ask, odd, keeps the placeholder, so the guard drops it).
fn rewrite(rollout: u64) -> &'static str {
    const PLACEHOLDER: &str = "You are a [role suited to the task] who adds numbers.";
    if rollout % 2 == 1 {
        return PLACEHOLDER;
    }
    match (rollout / 2) % 5 {
        0 => "Add the numbers carefully and answer with the sum.",
        1 => "Think step by step, then give the sum.",
        2 => "Answer briefly.",
        3 => "Work carefully and think step by step before you give the sum of the numbers.",
        _ => PLACEHOLDER,
    }
}

fn answer(req: &ChatRequest) -> String {
    let system = &req.messages[0].content;
    if system.contains("`new_instruction`") {
        let text = rewrite(req.rollout_id.unwrap_or(0));
        return format!("[[ ## new_instruction ## ]]\n{text}\n\n[[ ## completed ## ]]");
    }
    common::answer(req)
}

fn lm() -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(answer).with_model_name("scripted"))
}

fn evo() -> Evolutionary {
    Evolutionary { population: 6, generations: 3, ..Evolutionary::default() }
}

#[tokio::test]
async fn the_search_improves_on_the_program_as_written_within_its_plan() {
    let task = common::task(12, 30);
    let lm = lm();
    let engine = common::engine(lm.clone(), 7, Budget::default());
    let (plan, _) = check(&evo(), &task).unwrap();
    let (state, report) = run(&evo(), &engine, &task, &[]).await.unwrap();
    let (base, fin) = (report.baseline_val.unwrap().score, report.final_val.unwrap().score);
    assert!(fin > base, "{base} -> {fin}");
    assert_eq!(report.trials.len() as u64, plan.trials, "one trial per genome, as planned");
    let s = report.spent;
    assert!(s.task.calls <= plan.task_calls, "{} > {}", s.task.calls, plan.task_calls);
    assert!(s.proposer.calls <= plan.proposer_calls, "{} > {}", s.proposer.calls, plan.proposer_calls);
    assert!(s.proposer.calls > 0, "instructions were rewritten by the proposer");
    // Only the survivors' rollouts (and the program as written's) stay cached.
    assert!(engine.cached_rollouts() <= 7 * 30, "{} rollouts cached", engine.cached_rollouts());
    let d = &report.details;
    assert_eq!(d["generations"].as_array().unwrap().len(), 4);
    assert!(d["rejected_proposals_count"].as_u64().unwrap() > 0, "the placeholder answer is dropped: {d}");
    let best = d["generations"].as_array().unwrap().iter().map(|g| g["best_score"].as_f64().unwrap());
    let best: Vec<f64> = best.collect();
    assert!(best.windows(2).all(|w| w[1] >= w[0]), "elitism keeps the best: {best:?}");
    assert!(
        state.predictors["solve"].instruction.as_deref()
            != Some("You are a [role suited to the task] who adds numbers.")
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_search() {
    let task = common::task(12, 30);
    let a = run(&evo(), &common::engine(lm(), 3, Budget::default()), &task, &[]).await.unwrap();
    let b = run(&evo(), &common::engine(lm(), 3, Budget::default()), &task, &[]).await.unwrap();
    assert_eq!(a.0, b.0);
    assert_eq!(a.1.trials, b.1.trials);
    assert_eq!(a.1.details, b.1.details);
}

#[tokio::test]
async fn a_budget_stops_the_search_with_the_best_genome_so_far() {
    let task = common::task(12, 30);
    let engine = common::engine(lm(), 7, Budget { max_calls: Some(150), ..Budget::default() });
    let (_, report) = run(&evo(), &engine, &task, &[]).await.unwrap();
    assert!(matches!(report.stopped, Some(Stop::Budget(_))), "{:?}", report.stopped);
    assert!(report.spent.total().calls <= 150);
    assert!(report.final_val.is_some() || report.baseline_val.is_some());
}

#[tokio::test]
async fn bad_settings_are_refused_before_any_call() {
    let task = common::task(12, 30);
    for (bad, want) in [
        (Evolutionary { population: 1, ..evo() }, "population 1 must be between 2 and 100000"),
        (Evolutionary { population: usize::MAX, ..evo() }, "must be between 2 and 100000"),
        (Evolutionary { generations: 0, ..evo() }, "generations 0 must be between 1 and 10000"),
        (Evolutionary { max_demos: 1000, ..evo() }, "max_demos 1000 must be at most 64"),
        (Evolutionary { crossover_rate: 1.5, ..evo() }, "crossover_rate 1.5 must be between 0 and 1"),
        (Evolutionary { elitism: 6, ..evo() }, "elitism 6 must be below the population 6"),
        (Evolutionary { tournament_size: 9, ..evo() }, "tournament_size 9"),
    ] {
        let err = bad.validate(&task).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

fn selection(objectives: &[&str], constraints: &[Constraint]) -> Selection {
    let objs: Vec<Objective> = objectives.iter().map(|o| o.parse().unwrap()).collect();
    Selection::new(&objs, constraints).unwrap()
}

#[tokio::test]
async fn nsga_ii_keeps_a_front_of_score_against_prompt_length() {
    let task = common::task(12, 30);
    let objectives: Vec<Objective> = vec!["score:max".parse().unwrap(), "length:min".parse().unwrap()];
    let inner = Evolutionary { objectives: objectives.clone(), ..evo() };
    let opt = WithObjectives { inner: Box::new(inner), selection: selection(&["score:max", "length:min"], &[]) };
    let engine = common::engine(lm(), 11, Budget::default());
    let (state, report) = run(&opt, &engine, &task, &[]).await.unwrap();
    let front = &report.details["pareto"];
    let points = front["front"].as_array().unwrap();
    assert!(points.len() >= 2, "score and length conflict, so the front holds several points: {front}");
    assert!(front["hypervolume"].as_f64().unwrap() > 0.0);
    assert_eq!(front["candidates_offered"].as_u64().unwrap(), report.trials.len() as u64 + 2);
    // No point of the front dominates another.
    for p in points {
        for q in points {
            let better = q["score"].as_f64() >= p["score"].as_f64() && q["length"].as_f64() <= p["length"].as_f64();
            let strictly = q["score"].as_f64() > p["score"].as_f64() || q["length"].as_f64() < p["length"].as_f64();
            assert!(!(better && strictly), "{q} dominates {p}");
        }
    }
    // In objective order the pick is the best score on the front.
    let top = points.iter().map(|p| p["score"].as_f64().unwrap()).fold(0.0, f64::max);
    assert_eq!(report.final_val.unwrap().score, top);
    assert_eq!(promptsmith_optimize::engine::state_hash(&state), front["picked"].as_str().unwrap());
}

#[tokio::test]
async fn any_optimizer_keeps_a_front_and_the_pick_honours_a_constraint() {
    let task = common::task(12, 30);
    let search = || RandomSearch { num_candidate_programs: 4, ..RandomSearch::default() };
    // Unconstrained: the best score.
    let plain = WithObjectives { inner: Box::new(search()), selection: selection(&["score:max", "tokens:min"], &[]) };
    let (_, free) = run(&plain, &common::engine(lm(), 5, Budget::default()), &task, &[]).await.unwrap();
    let front = &free.details["pareto"];
    assert!(free.details["candidates"].is_array(), "the optimizer's own details stay");
    let points = front["front"].as_array().unwrap();
    let fewest = points.iter().map(|p| p["tokens"].as_f64().unwrap()).fold(f64::INFINITY, f64::min);
    let most = points.iter().map(|p| p["tokens"].as_f64().unwrap()).fold(0.0, f64::max);
    assert!(most > fewest, "demos cost tokens, so the front spans a range: {front}");
    // A bound between the two: the pick is the best score that meets it.
    let bound = (fewest + most) / 2.0;
    let c = Constraint { measure: Measure::Tokens, max: Some(bound), min: None };
    let capped = WithObjectives { inner: Box::new(search()), selection: selection(&["score:max"], &[c]) };
    let (_, r) = run(&capped, &common::engine(lm(), 5, Budget::default()), &task, &[]).await.unwrap();
    let front = &r.details["pareto"];
    assert_eq!(front["constraints_met"], true, "{front}");
    let picked = front["front"].as_array().unwrap().iter().find(|p| p["picked"] == true).unwrap();
    assert!(picked["tokens"].as_f64().unwrap() <= bound, "{picked}");
    let feasible_best = front["front"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["tokens"].as_f64().unwrap() <= bound)
        .map(|p| p["score"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(picked["score"].as_f64().unwrap(), feasible_best);
}

/// A run whose journal holds only its first `kept` lines (what a kill leaves: the journal is
/// written in completion order, one flushed line per call) plus a torn line, resumed.
async fn resumed_from(reference_journal: &str, kept: usize) -> (promptsmith_core::ProgramState, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<&str> = reference_journal.lines().take(kept).collect();
    let torn = "{\"key\":\"0123";
    std::fs::write(dir.path().join(JOURNAL_FILE), format!("{}\n{torn}", lines.join("\n"))).unwrap();
    let engine = Engine::new(
        RoleModels::single(lm()),
        EngineConfig { concurrency: 3, seed: 9, budget: Budget::default(), failure_score: 0.0 },
        Arc::new(RunDirCheckpoint::open(dir.path()).unwrap()),
        Arc::new(NoEvents),
    )
    .unwrap();
    let (state, report) = run(&evo(), &engine, &common::task(12, 30), &[]).await.unwrap();
    (state, report.spent.total().calls, report.live_calls)
}

#[tokio::test]
async fn a_killed_run_resumed_from_its_journal_ends_in_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        RoleModels::single(lm()),
        EngineConfig { concurrency: 3, seed: 9, budget: Budget::default(), failure_score: 0.0 },
        Arc::new(RunDirCheckpoint::open(dir.path()).unwrap()),
        Arc::new(NoEvents),
    )
    .unwrap();
    let (reference, report) = run(&evo(), &engine, &common::task(12, 30), &[]).await.unwrap();
    let calls = report.spent.total().calls;
    let journal = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
    let n = journal.lines().count();
    assert_eq!(n as u64, calls);
    for kept in [n / 10, n / 3, 2 * n / 3, n - 1] {
        let (state, total, live) = resumed_from(&journal, kept).await;
        assert_eq!(state, reference, "resumed after {kept} of {n} calls");
        assert_eq!(total, calls, "the resumed run counts the same calls");
        assert_eq!(live, (n - kept) as u64, "no completed call is made again");
    }
}

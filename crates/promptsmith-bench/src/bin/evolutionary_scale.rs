//! `evolutionary-scale`: the evolutionary optimizer at scale (population 1,000 by default)
//! against an in-process fake model, printing wall time and memory after every generation.
//!
//! The fake answers in the chat adapter's `[[ ## field ## ]]` layout: a sum question right or
//! wrong by a hidden rule over the instruction's words and the number of demos (so the search
//! has something to find), and a rewritten instruction drawn from a vocabulary by a hash of the
//! request (so children are distinct and every generation makes new calls). It keeps no record
//! of the requests it saw, so the memory measured is the optimizer's and the engine's.
//!
//! Memory is read from `/proc/self/status` (`VmRSS`, and `VmHWM`, the peak) at the end of each
//! generation (the optimizer's `generation N` message). The engine's call journal (every
//! answer, kept for exact resume) and rollout cache grow with the calls made; the run reports
//! both how RSS moves per generation and per call.

use anyhow::{Context, Result};
use async_trait::async_trait;
use clap::Parser;
use promptsmith_core::lm::Choice;
use promptsmith_core::{
    ChatRequest, ChatResponse, Example, LanguageModel, LmError, Predictor, Program, Signature, Usage,
};
use promptsmith_eval::{metric_by_name, Metric};
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::checkpoint::NoCheckpoint;
use promptsmith_optimize::events::Event;
use promptsmith_optimize::optimizers::evolutionary::Evolutionary;
use promptsmith_optimize::pareto::Objective;
use promptsmith_optimize::run::run;
use promptsmith_optimize::{Engine, EngineConfig, OptimizeTask, RoleModels};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Runs the evolutionary search at scale against an in-process fake model.
#[derive(Debug, Parser)]
#[command(name = "evolutionary-scale", version)]
struct Args {
    /// Genomes per generation.
    #[arg(long, default_value_t = 1000)]
    population: usize,
    /// Generations after generation 0.
    #[arg(long, default_value_t = 6)]
    generations: usize,
    /// Validation examples every genome is scored on.
    #[arg(long, default_value_t = 20)]
    val: usize,
    /// Training examples demos are drawn from.
    #[arg(long, default_value_t = 40)]
    train: usize,
    /// Call cap (the budget the run must stay within).
    #[arg(long, default_value_t = 200_000)]
    max_calls: u64,
    /// Engine concurrency.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Select on score and prompt length with NSGA-II instead of the score alone.
    #[arg(long)]
    nsga: bool,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Runtime worker threads (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// FNV-1a, for deterministic choices.
fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

const WORDS: &[&str] = &[
    "Add the two numbers carefully.",
    "Think step by step.",
    "Answer with the number only.",
    "Check the sum before you answer.",
    "Be brief.",
    "Read the question twice.",
    "Write the result as digits.",
    "Do not explain.",
];

/// The fake model: stateless, deterministic.
struct Fake;

impl Fake {
    fn rewrite(req: &ChatRequest) -> String {
        let h = hash(&format!("{:?}{}", req.rollout_id, req.messages.last().map_or("", |m| m.content.as_str())));
        let n = 1 + (h % 3) as usize;
        (0..n).map(|i| WORDS[((h >> (8 * i)) % WORDS.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
    }

    fn solve(req: &ChatRequest) -> String {
        let system = &req.messages[0].content;
        let last = req.messages.last().map_or("", |m| m.content.as_str());
        let question = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").split("\n\n").next().unwrap_or("");
        let nums: Vec<i64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
        let right: i64 = nums.iter().skip(1).sum();
        let demos = (req.messages.len().saturating_sub(2) / 2) as u64;
        let mut acc = 10 + if system.contains("carefully") { 25 } else { 0 };
        acc += if system.contains("step by step") { 20 } else { 0 };
        acc += if system.contains("Do not explain") { 0 } else { 10 };
        acc += match demos {
            0 => 0,
            1 => 5,
            2 | 3 => 15,
            _ => 3,
        };
        let correct = hash(question) % 100 < acc;
        format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", if correct { right } else { right + 1 })
    }
}

#[async_trait]
impl LanguageModel for Fake {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LmError> {
        let text = if req.messages[0].content.contains("`new_instruction`") {
            format!("[[ ## new_instruction ## ]]\n{}\n\n[[ ## completed ## ]]", Self::rewrite(req))
        } else {
            Self::solve(req)
        };
        let prompt: usize = req.messages.iter().map(|m| m.content.len()).sum();
        let usage =
            Usage { prompt_tokens: prompt.div_ceil(4) as u64, completion_tokens: text.len().div_ceil(4) as u64 };
        let choices = vec![Choice { text, finish_reason: Some("stop".into()) }];
        Ok(ChatResponse { choices, usage, model: "fake".into(), cached: false, cost_usd: None })
    }

    fn model_name(&self) -> String {
        "fake".into()
    }
}

fn examples(n: usize, offset: usize) -> Vec<Example> {
    (offset..offset + n)
        .map(|i| {
            let (a, b) = (i * 7 % 50, i * 13 % 40);
            Example::default()
                .with("question", format!("Q{i}: what is {a} + {b}?"))
                .with("answer", (a + b) as i64)
                .with_inputs(&["question"])
        })
        .collect()
}

/// `(VmRSS, VmHWM)` in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// What the event sink saw at the end of each generation.
#[derive(Default)]
struct Log {
    calls: u64,
    rows: Vec<(String, f64, f64, f64, u64)>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = promptsmith_bench::runtime(args.threads).context("cannot start the runtime")?;
    runtime.block_on(bench(&args))
}

async fn bench(args: &Args) -> Result<()> {
    let sig = Signature::parse("question -> answer: int").map_err(|e| anyhow::anyhow!("{e}"))?;
    let program = Program::single(Predictor::new("solve", sig));
    let metric: Arc<dyn Metric> = Arc::from(metric_by_name("numeric_match", "answer")?);
    let task = OptimizeTask { program, trainset: examples(args.train, 0), valset: examples(args.val, 10_000), metric };
    let objectives: Vec<Objective> = if args.nsga {
        vec!["score:max".parse().map_err(anyhow::Error::msg)?, "length:min".parse().map_err(anyhow::Error::msg)?]
    } else {
        Vec::new()
    };
    let evo = Evolutionary {
        population: args.population,
        generations: args.generations,
        objectives,
        ..Evolutionary::default()
    };
    let started = Instant::now();
    let log = Arc::new(Mutex::new(Log::default()));
    let sink_log = log.clone();
    let sink = move |e: &Event| {
        let Ok(mut l) = sink_log.lock() else { return };
        match e {
            Event::Budget(spent) => l.calls = spent.total().calls,
            Event::Message(m) if m.starts_with("generation ") => {
                let (rss, hwm) = memory();
                let calls = l.calls;
                l.rows.push((m.clone(), started.elapsed().as_secs_f64(), rss, hwm, calls));
                println!(
                    "{:>7.2}s  rss {rss:>7.1} MiB  peak {hwm:>7.1} MiB  calls {calls:>7}  {m}",
                    started.elapsed().as_secs_f64()
                );
            }
            _ => {}
        }
    };
    let budget = Budget { max_calls: Some(args.max_calls), ..Budget::default() };
    let config = EngineConfig { concurrency: args.concurrency, seed: args.seed, budget, failure_score: 0.0 };
    let engine = Engine::new(RoleModels::single(Arc::new(Fake)), config, Arc::new(NoCheckpoint), Arc::new(sink))?;
    let (before, _) = memory();
    println!(
        "population {}, {} generations, {} validation examples; rss at start {before:.1} MiB",
        args.population, args.generations, args.val
    );
    let (_, report) = run(&evo, &engine, &task, &[]).await?;
    let (rss, hwm) = memory();
    let spent = report.spent.total();
    println!(
        "done in {:.2}s: {} calls ({} task, {} proposer), {} trials, validation {:.3} -> {:.3}, stopped: {:?}; rss {rss:.1} MiB, peak {hwm:.1} MiB",
        report.wall_seconds,
        spent.calls,
        report.spent.task.calls,
        report.spent.proposer.calls,
        report.trials.len(),
        report.baseline_val.map_or(0.0, |s| s.score),
        report.final_val.map_or(0.0, |s| s.score),
        report.stopped,
    );
    println!(
        "engine at the end: {} journaled calls in memory, {} cached rollouts, {} trial records",
        engine.journal_len(),
        engine.cached_rollouts(),
        report.trials.len()
    );
    let rows = log.lock().map(|l| l.rows.clone()).unwrap_or_default();
    if let (Some(first), Some(last)) = (rows.get(1), rows.last()) {
        let gens = (rows.len() - 2).max(1) as f64;
        let calls = last.4.saturating_sub(first.4).max(1) as f64;
        println!(
            "from generation 1 to the last: rss +{:.1} MiB in all, {:.2} MiB per generation, {:.0} bytes per call; {:.2}s per generation",
            last.2 - first.2,
            (last.2 - first.2) / gens,
            (last.2 - first.2) * 1024.0 * 1024.0 / calls,
            (last.1 - first.1) / gens
        );
    }
    Ok(())
}

//! A scripted world for optimizer tests: a model whose accuracy depends on the instruction and
//! the demos in its prompt, by a rule the optimizers cannot see.
#![allow(dead_code)]

use promptsmith_core::{ChatRequest, Example, LanguageModel, Predictor, Program, Signature};
use promptsmith_eval::{metric_by_name, Metric};
use promptsmith_lm::ScriptedLm;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::checkpoint::NoCheckpoint;
use promptsmith_optimize::events::NoEvents;
use promptsmith_optimize::OptimizeTask;
use promptsmith_optimize::{Engine, EngineConfig, RoleModels};
use std::sync::Arc;

/// Instructions the scripted proposer writes, by proposal rollout id.
pub(crate) fn proposal(rollout: u64) -> &'static str {
    match rollout % 4 {
        1 => "Add the two numbers carefully and answer with the sum.",
        2 => "Answer briefly.",
        3 => "Think step by step, then give the sum.",
        _ => "Answer the question.",
    }
}

/// Share of questions the model gets right under a prompt (the hidden rule).
pub(crate) fn accuracy(system: &str, demos: usize) -> f64 {
    let mut acc: f64 = 0.2;
    if system.contains("carefully") {
        acc += 0.35;
    }
    if system.contains("step by step") {
        acc += 0.2;
    }
    // Demos help up to three; more distract the model.
    acc += match demos {
        0 => 0.0,
        1 => 0.1,
        2 | 3 => 0.2,
        _ => 0.05,
    };
    acc.min(1.0)
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = text.find(start)? + start.len();
    let rest = &text[i..];
    Some(rest[..rest.find(end).unwrap_or(rest.len())].trim())
}

/// Deterministic "difficulty" of a question in [0, 1).
fn difficulty(question: &str) -> f64 {
    let mut h: u64 = 1469598103934665603;
    for b in question.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(1099511628211);
    }
    (h % 1000) as f64 / 1000.0
}

/// The scripted model's answer to one request.
pub(crate) fn answer(req: &ChatRequest) -> String {
    let system = &req.messages[0].content;
    let last = &req.messages.last().unwrap().content;
    let field = |name: &str, value: &str| format!("[[ ## {name} ## ]]\n{value}\n\n[[ ## completed ## ]]");
    if system.contains("`proposed_instruction`") {
        return field("proposed_instruction", proposal(req.rollout_id.unwrap_or(0)));
    }
    for out in ["observations", "summary", "description"] {
        if system.contains(&format!("Your output fields are:\n1. `{out}`")) {
            return field(out, "Questions ask for the sum of two small numbers.");
        }
    }
    let question = between(last, "[[ ## question ## ]]", "\n\n").unwrap_or("");
    let nums: Vec<i64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let right = nums.iter().skip(1).sum::<i64>();
    let demos = (req.messages.len() - 2) / 2;
    let correct = difficulty(question) < accuracy(system, demos);
    field("answer", &if correct { right } else { right + 1 }.to_string())
}

/// The scripted model.
pub(crate) fn lm() -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(answer).with_model_name("scripted"))
}

/// `n` sum questions (ids from `offset`).
pub(crate) fn examples(n: usize, offset: usize) -> Vec<Example> {
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

/// The program: `question -> answer: int`, chat adapter.
pub(crate) fn program() -> Program {
    let sig = Signature::parse("question -> answer: int").unwrap();
    Program::single(Predictor::new("solve", sig))
}

/// A task with `train` training and `val` validation examples.
pub(crate) fn task(train: usize, val: usize) -> OptimizeTask {
    let metric: Arc<dyn Metric> = Arc::from(metric_by_name("numeric_match", "answer").unwrap());
    OptimizeTask { program: program(), trainset: examples(train, 0), valset: examples(val, 1000), metric }
}

/// An engine over `lm` with concurrency 4, no checkpoint and no events.
pub(crate) fn engine(lm: Arc<dyn LanguageModel>, seed: u64, budget: Budget) -> Engine {
    Engine::new(
        RoleModels::single(lm),
        EngineConfig { concurrency: 4, seed, budget, failure_score: 0.0 },
        Arc::new(NoCheckpoint),
        Arc::new(NoEvents),
    )
    .unwrap()
}

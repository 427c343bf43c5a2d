//! The genetic operators: LLM crossover and mutation of instructions (through the proposer
//! role, checked by the proposal guard) and mutation of demo sets.

use crate::engine::{Engine, Stop};
use crate::events::Event;
use crate::optimizers::labeled_demo;
use crate::optimizers::proposal_guard::ProposalGuard;
use crate::optimizers::proposer::{ask, predictor, REASK, TIPS};
use promptsmith_core::{Demo, Example, Predictor};
use rand::Rng;
use serde_json::{Map, Value};

/// An instruction operation.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    /// Rewrite `instruction` in the style of a prompting tip.
    Mutate {
        /// The current instruction.
        instruction: String,
        /// The tip (may be empty).
        tip: &'static str,
    },
    /// Merge two instructions into one.
    Crossover {
        /// The first parent's.
        a: String,
        /// The second parent's.
        b: String,
    },
}

/// A demo-set mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DemoOp {
    /// Add the training example at this index.
    Add(usize),
    /// Remove the demo at this position.
    Remove(usize),
    /// Replace the demo at this position by the training example at this index.
    Replace(usize, usize),
}

/// A random demo-set mutation of `demos` (at most `max` demos) from `n_train` examples.
pub(super) fn draw_demo_op(rng: &mut impl Rng, demos: usize, max: usize, n_train: usize) -> Option<DemoOp> {
    if n_train == 0 || max == 0 {
        return (demos > 0).then(|| DemoOp::Remove(rng.gen_range(0..demos)));
    }
    let mut choices = Vec::with_capacity(3);
    if demos < max {
        choices.push(0);
    }
    if demos > 0 {
        choices.extend([1, 2]);
    }
    let pick = *choices.get(rng.gen_range(0..choices.len().max(1)))?;
    let example = rng.gen_range(0..n_train);
    Some(match pick {
        0 => DemoOp::Add(example),
        1 => DemoOp::Remove(rng.gen_range(0..demos)),
        _ => DemoOp::Replace(rng.gen_range(0..demos), example),
    })
}

/// Applies `op` to `demos` (adding a demo already present changes nothing).
pub(super) fn apply_demo_op(demos: &mut Vec<Demo>, op: DemoOp, trainset: &[Example]) {
    let demo = |i: usize| trainset.get(i).map(labeled_demo);
    match op {
        DemoOp::Add(i) => {
            if let Some(d) = demo(i).filter(|d| !demos.contains(d)) {
                demos.push(d);
            }
        }
        DemoOp::Remove(k) if k < demos.len() => {
            demos.remove(k);
        }
        DemoOp::Replace(k, i) if k < demos.len() => {
            if let Some(d) = demo(i).filter(|d| !demos.contains(d)) {
                demos[k] = d;
            }
        }
        _ => {}
    }
}

/// A prompting tip drawn at random (the same tips as MIPROv2's proposals).
pub(super) fn draw_tip(rng: &mut impl Rng) -> &'static str {
    TIPS[rng.gen_range(0..TIPS.len())].1
}

/// What a mutation asks of the proposer (also what no proposal may repeat).
const MUTATE_DIRECTIONS: &str =
    "Rewrite the instruction of one step of a language-model program so that the step does its task better. \
     Keep what works, change what may help, and follow the style suggestion. The instruction must hold for \
     every input of the task. Answer with the new instruction only.";

/// What a crossover asks of the proposer (also what no proposal may repeat).
const CROSSOVER_DIRECTIONS: &str =
    "Combine two instructions for the same step of a language-model program into one instruction that keeps \
     the strengths of both and drops what they repeat. The instruction must hold for every input of the task. \
     Answer with the new instruction only.";

fn mutation_predictor() -> Option<Predictor> {
    predictor(
        "mutate_instruction",
        &[
            ("task_signature", "the inputs and outputs of the step"),
            ("current_instruction", "the instruction the step is given now"),
            ("style", "a suggestion on how to write the instruction (may be empty)"),
            ("note", "a remark on an earlier answer (may be empty)"),
        ],
        ("new_instruction", "the rewritten instruction, exactly as the step will be given it"),
        MUTATE_DIRECTIONS,
    )
}

fn crossover_predictor() -> Option<Predictor> {
    predictor(
        "crossover_instructions",
        &[
            ("task_signature", "the inputs and outputs of the step"),
            ("instruction_a", "one instruction for the step"),
            ("instruction_b", "another instruction for the step"),
            ("note", "a remark on an earlier answer (may be empty)"),
        ],
        ("new_instruction", "the combined instruction, exactly as the step will be given it"),
        CROSSOVER_DIRECTIONS,
    )
}

/// The guard for proposals for `p` showing `demos`: the training inputs, the demos, the step's
/// signature and the operations' own directions.
fn guard(trainset: &[Example], p: &Predictor, demos: &[Demo]) -> ProposalGuard {
    ProposalGuard::new(trainset, demos.iter())
        .with_signature(&p.signature)
        .with_directions(&[MUTATE_DIRECTIONS, CROSSOVER_DIRECTIONS])
}

/// What an operation needs to ask and check.
pub(super) struct Asker<'a> {
    pub(super) engine: &'a Engine,
    pub(super) trainset: &'a [Example],
    pub(super) temperature: f32,
    pub(super) max_chars: usize,
}

/// How one instruction operation went.
#[derive(Debug, Default)]
pub(super) struct Asked {
    /// The new instruction, when one passed the guard.
    pub(super) text: Option<String>,
    /// `(proposal, defect)` of a proposal dropped after its re-ask.
    pub(super) rejected: Option<(String, String)>,
}

impl Asker<'_> {
    fn inputs(op: &Op, p: &Predictor, note: &str) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| {
            m.insert(k.to_string(), Value::String(v.to_string()));
        };
        put("task_signature", &p.signature.to_signature_string());
        match op {
            Op::Mutate { instruction, tip } => {
                put("current_instruction", instruction);
                put("style", tip);
            }
            Op::Crossover { a, b } => {
                put("instruction_a", a);
                put("instruction_b", b);
            }
        }
        put("note", note);
        m
    }

    fn defect(&self, guard: &ProposalGuard, text: &str) -> Option<String> {
        let n = text.chars().count();
        if n > self.max_chars {
            return Some(format!("is {n} characters long, over the cap of {}", self.max_chars));
        }
        guard.check(text).map(|d| d.to_string())
    }

    async fn once(&self, op: &Op, p: &Predictor, note: &str, rollout: u64) -> Result<Option<String>, Stop> {
        let predictor = match op {
            Op::Mutate { .. } => mutation_predictor(),
            Op::Crossover { .. } => crossover_predictor(),
        };
        ask(self.engine, predictor, Self::inputs(op, p, note), Some(self.temperature), Some(rollout)).await
    }

    /// Runs `op` for predictor `p` (whose child will show `demos`) under rollout ids `rollout`
    /// and `rollout + 1` (the re-ask).
    pub(super) async fn run(&self, op: &Op, p: &Predictor, demos: &[Demo], rollout: u64) -> Result<Asked, Stop> {
        let guard = guard(self.trainset, p, demos);
        let Some(text) = self.once(op, p, "", rollout).await? else { return Ok(Asked::default()) };
        let Some(defect) = self.defect(&guard, &text) else { return Ok(Asked { text: Some(text), rejected: None }) };
        self.engine.emit(Event::Message(format!("evolutionary proposal for {} {defect}; asking again", p.name)));
        let note = format!("Your previous instruction was turned away: it {defect}. {REASK}");
        let Some(again) = self.once(op, p, &note, rollout + 1).await? else { return Ok(Asked::default()) };
        match self.defect(&guard, &again) {
            None => Ok(Asked { text: Some(again), rejected: None }),
            Some(defect) => {
                self.engine.emit(Event::Message(format!("evolutionary proposal for {} dropped: it {defect}", p.name)));
                Ok(Asked { text: None, rejected: Some((again, defect)) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn train(n: usize) -> Vec<Example> {
        (0..n).map(|i| Example::default().with("q", format!("q{i}")).with("a", i as i64).with_inputs(&["q"])).collect()
    }

    #[test]
    fn demo_ops_respect_the_cap_and_never_duplicate() {
        let t = train(5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut demos = Vec::new();
        for _ in 0..200 {
            if let Some(op) = draw_demo_op(&mut rng, demos.len(), 3, t.len()) {
                apply_demo_op(&mut demos, op, &t);
            }
            assert!(demos.len() <= 3);
            let mut seen = demos.clone();
            seen.dedup();
            assert_eq!(seen.len(), demos.len());
        }
        assert_eq!(draw_demo_op(&mut rng, 0, 3, 0), None, "nothing to add or remove");
        assert!(matches!(draw_demo_op(&mut rng, 2, 0, 5), Some(DemoOp::Remove(_))));
        assert!(matches!(draw_demo_op(&mut rng, 0, 3, 5), Some(DemoOp::Add(_))));
        let mut d = vec![labeled_demo(&t[0])];
        apply_demo_op(&mut d, DemoOp::Replace(0, 0), &t);
        apply_demo_op(&mut d, DemoOp::Remove(7), &t);
        assert_eq!(d, vec![labeled_demo(&t[0])]);
    }

    #[test]
    fn proposals_may_not_echo_the_operations_directions() {
        let p = Predictor::new("solve", promptsmith_core::Signature::parse("question -> answer").unwrap());
        let g = guard(&train(3), &p, &[]);
        for echo in [
            "Keep what works, change what may help, and follow the style suggestion.",
            "Combine two instructions into one instruction that keeps the strengths of both and drops what they repeat.",
        ] {
            assert!(g.check(echo).is_some(), "{echo}");
        }
        assert_eq!(g.check("Answer with the number only."), None);
    }

    #[test]
    fn operation_prompts_carry_their_inputs() {
        let p = Predictor::new("solve", promptsmith_core::Signature::parse("question -> answer").unwrap());
        let m = Asker::inputs(&Op::Crossover { a: "A".into(), b: "B".into() }, &p, "n");
        assert_eq!((m["instruction_a"].as_str(), m["instruction_b"].as_str()), (Some("A"), Some("B")));
        assert_eq!(m["task_signature"], "question -> answer");
        let m = Asker::inputs(&Op::Mutate { instruction: "I".into(), tip: "t" }, &p, "");
        assert_eq!((m["current_instruction"].as_str(), m["style"].as_str()), (Some("I"), Some("t")));
        assert!(mutation_predictor().is_some() && crossover_predictor().is_some());
    }
}

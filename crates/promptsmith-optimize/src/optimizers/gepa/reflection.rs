//! The reflection step: what one predictor received, produced and was told by the metric on a
//! minibatch, shown (within a size cap) to the reflection model with the predictor's current
//! instruction; its answer is a diagnosis and a new instruction, checked like every proposal.

use super::Gepa;
use crate::engine::{Engine, Rollout, RolloutLm, Stop};
use crate::events::Event;
use crate::optimizers::proposal_guard::ProposalGuard;
use crate::optimizers::proposer::REASK;
use promptsmith_core::{value_to_text, Example, Field, FieldType, Predictor, Program, Signature};
use promptsmith_lm::LmRole;
use rand::Rng;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Longest field value shown per example, in characters.
const VALUE_CHARS: usize = 800;
/// Longest feedback shown per example, in characters.
const FEEDBACK_CHARS: usize = 1000;

/// One example as the reflection model sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// What the predictor received.
    pub(crate) inputs: Map<String, Value>,
    /// What it produced (`None`: its output could not be read).
    pub(crate) outputs: Option<Map<String, Value>>,
    /// The metric's feedback (or, for a failure, what to fix).
    pub(crate) feedback: String,
}

/// What a reflection proposed for the predictors it was asked about.
#[derive(Debug, Default)]
pub(crate) struct Reflection {
    /// New instruction per predictor.
    pub(crate) texts: BTreeMap<String, String>,
    /// The reflection model's diagnosis per predictor.
    pub(crate) diagnoses: BTreeMap<String, String>,
    /// `{"predictor", "proposal", "defect"}` for each proposal turned away after its re-ask.
    pub(crate) rejected: Vec<Value>,
}

/// `text` cut to about `max` characters, keeping its start and its end.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max * 2 / 3).collect();
    let tail: String = text.chars().skip(n - max / 3).collect();
    format!("{head} [... {} characters cut ...] {tail}", n - head.chars().count() - tail.chars().count())
}

/// The minibatch's records for predictor `name`: from its (randomly chosen, when it ran more
/// than once) trace step per example; a failed example only with `with_failures`.
pub(crate) fn records(
    name: &str,
    batch: &[Example],
    rollouts: &[Rollout],
    with_failures: bool,
    rng: &mut impl Rng,
) -> Vec<Record> {
    let mut out = Vec::new();
    for (example, r) in batch.iter().zip(rollouts) {
        let steps: Vec<_> = r.trace.iter().filter(|s| s.predictor == name).collect();
        if steps.is_empty() {
            if r.failed && with_failures {
                let why = r.feedback.clone().unwrap_or_else(|| "the program failed".into());
                out.push(Record {
                    inputs: example.inputs(),
                    outputs: None,
                    feedback: format!(
                        "The output could not be read ({why}). Answer in the expected format, giving every output field."
                    ),
                });
            }
            continue;
        }
        let step = steps[rng.gen_range(0..steps.len())];
        let feedback = r.feedback.clone().unwrap_or_else(|| format!("This output scored {:.2}.", r.score));
        out.push(Record { inputs: step.inputs.clone(), outputs: Some(step.outputs.clone()), feedback });
    }
    out
}

fn fields(map: &Map<String, Value>) -> String {
    map.iter()
        .map(|(k, v)| format!("- {k}: {}", shorten(&value_to_text(v), VALUE_CHARS)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The records as text, at most `max` characters: whole examples while they fit (the first one
/// always, cut), then a note of how many were left out.
pub(crate) fn render(records: &[Record], max: usize) -> String {
    let mut out = String::new();
    for (i, r) in records.iter().enumerate() {
        let outputs = r.outputs.as_ref().map(fields).unwrap_or_else(|| "(could not be read)".into());
        let block = format!(
            "### Example {}\nInputs:\n{}\nOutputs:\n{}\nFeedback: {}\n\n",
            i + 1,
            fields(&r.inputs),
            outputs,
            shorten(&r.feedback, FEEDBACK_CHARS)
        );
        if i > 0 && out.chars().count() + block.chars().count() > max {
            out.push_str(&format!("({} more examples left out to keep this short.)", records.len() - i));
            return out;
        }
        out.push_str(&block);
    }
    let out = out.trim_end().to_string();
    if out.chars().count() > max {
        shorten(&out, max)
    } else {
        out
    }
}

fn field(name: &str, desc: &str) -> Field {
    Field::new(name, FieldType::Str).describe(desc)
}

/// What the reflection model is told to do (also what no proposal may repeat).
fn reflector_instruction(max_chars: usize) -> String {
    format!(
        "You improve the instruction of one step of a language-model program. You see the instruction the step \
         was given and examples of what it received, what it produced, and feedback on how well that scored. In one \
         or two sentences, say what the step got wrong and what it must know or do to get inputs like these right, \
         including any facts about the task the feedback reveals. Then write a complete new instruction for the \
         step. It must hold for every input of the task: do not copy, quote or answer the examples. Keep it under \
         {max_chars} characters."
    )
}

/// The reflection predictor.
fn reflector(max_chars: usize) -> Option<Predictor> {
    let sig = Signature::builder()
        .input(field("current_instruction", "the instruction the step is given now"))
        .input(field("examples_with_feedback", "inputs, outputs and feedback of the step on a few examples"))
        .input(field("note", "a remark on an earlier answer (may be empty)"))
        .output(field("diagnosis", "in one or two sentences, what went wrong and what the step must know or do"))
        .output(field("new_instruction", "the new instruction, exactly as the step will be given it"))
        .instruction(reflector_instruction(max_chars))
        .build()
        .ok()?;
    Some(Predictor::new("gepa_reflect", sig))
}

/// An instruction as the model wrote it, without surrounding fences or quotes.
fn clean(text: &str) -> String {
    let t = text.trim();
    let t = t.strip_prefix("```").map(|r| r.trim_start_matches(|c: char| c.is_alphanumeric())).unwrap_or(t);
    let t = t.strip_suffix("```").unwrap_or(t);
    t.trim().trim_matches('"').trim().to_string()
}

/// The guard for proposals for `p`: the training inputs, `p`'s demos and signature, and the
/// reflection prompt's own directions.
fn guard(trainset: &[Example], p: &Predictor, max_chars: usize) -> ProposalGuard {
    ProposalGuard::new(trainset, p.demos.iter())
        .with_signature(&p.signature)
        .with_directions(&[&reflector_instruction(max_chars)])
}

/// What the engine, the settings and the guard need for one reflection.
pub(crate) struct Reflect<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) gepa: &'a Gepa,
    pub(crate) trainset: &'a [Example],
    pub(crate) iteration: usize,
}

impl Reflect<'_> {
    /// One call of the reflection model: `(diagnosis, instruction)`, `None` when unusable.
    async fn ask(&self, inputs: &Map<String, Value>, rollout: u64) -> Result<Option<(String, String)>, Stop> {
        let Some(mut p) = reflector(self.gepa.max_instruction_chars) else { return Ok(None) };
        p.options.temperature = Some(self.gepa.reflection_temperature);
        p.options.max_tokens = Some((self.gepa.max_instruction_chars / 3 + 512) as u32);
        let lm = RolloutLm { inner: self.engine.lm(LmRole::Proposer), rollout_id: rollout };
        match p.call(&lm, inputs).await {
            Ok((out, _, _)) => {
                let text = |k: &str| out.get(k).map(value_to_text).unwrap_or_default();
                let instruction = clean(&text("new_instruction"));
                Ok((!instruction.is_empty()).then(|| (text("diagnosis").trim().to_string(), instruction)))
            }
            Err(e) => {
                if let Some(stop) = self.engine.should_stop() {
                    return Err(stop);
                }
                self.engine.emit(Event::Message(format!("reflection answer skipped: {e}")));
                Ok(None)
            }
        }
    }

    /// Why `text` cannot be the new instruction of `p`, if it cannot.
    fn defect(&self, p: &Predictor, text: &str) -> Option<String> {
        let n = text.chars().count();
        if n > self.gepa.max_instruction_chars {
            return Some(format!("is {n} characters long, over the cap of {}", self.gepa.max_instruction_chars));
        }
        if text == p.signature.instruction() {
            return Some("repeats the current instruction".into());
        }
        guard(self.trainset, p, self.gepa.max_instruction_chars).check(text).map(|d| d.to_string())
    }

    /// A new instruction for predictor `p` from `records`; the proposal is asked again once
    /// when it is defective and dropped when it still is.
    async fn one(&self, p: &Predictor, k: usize, records: &[Record], out: &mut Reflection) -> Result<(), Stop> {
        let mut inputs = Map::new();
        inputs.insert("current_instruction".into(), Value::String(p.signature.instruction()));
        inputs.insert("examples_with_feedback".into(), Value::String(render(records, self.gepa.max_reflection_chars)));
        inputs.insert("note".into(), Value::String(String::new()));
        let rollout = (self.iteration * 1000 + 2 * k) as u64;
        let Some((mut diagnosis, mut text)) = self.ask(&inputs, rollout).await? else { return Ok(()) };
        if let Some(defect) = self.defect(p, &text) {
            self.engine.emit(Event::Message(format!("reflection for {} {defect}; asking again", p.name)));
            let note = format!(
                "Your previous instruction was turned away: it {defect}. {REASK} Keep it under {} characters.",
                self.gepa.max_instruction_chars
            );
            inputs.insert("note".into(), Value::String(note));
            let Some(again) = self.ask(&inputs, rollout + 1).await? else { return Ok(()) };
            (diagnosis, text) = again;
            if let Some(defect) = self.defect(p, &text) {
                self.engine.emit(Event::Message(format!("reflection for {} dropped: it {defect}", p.name)));
                out.rejected.push(json!({"predictor": p.name, "proposal": shorten(&text, 500), "defect": defect}));
                return Ok(());
            }
        }
        out.diagnoses.insert(p.name.clone(), diagnosis);
        out.texts.insert(p.name.clone(), text);
        Ok(())
    }

    /// New instructions for `names` in `program` from the minibatch `batch` and its `rollouts`.
    pub(crate) async fn propose(
        &self,
        program: &Program,
        names: &[String],
        batch: &[Example],
        rollouts: &[Rollout],
        rng: &mut impl Rng,
    ) -> Result<Reflection, Stop> {
        let mut out = Reflection::default();
        for (k, name) in names.iter().enumerate() {
            let Some(p) = program.predictor(name) else { continue };
            let recs = records(name, batch, rollouts, self.gepa.add_format_failure_as_feedback, rng);
            if recs.is_empty() {
                continue;
            }
            self.one(p, k, &recs, &mut out).await?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptsmith_core::TraceStep;
    use rand::SeedableRng;

    fn map(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
    }

    fn rollout(trace: Vec<TraceStep>, failed: bool, feedback: Option<&str>) -> Rollout {
        Rollout {
            score: 0.0,
            feedback: feedback.map(str::to_string),
            prediction: None,
            trace,
            failed,
            usage: Default::default(),
            lm_calls: 1,
            latency_ms: 0,
            cost_usd: None,
        }
    }

    #[test]
    fn records_come_from_the_predictors_trace_and_failures_only_when_asked() {
        let ex = Example::default().with("question", "q1").with("answer", "a").with_inputs(&["question"]);
        let step = TraceStep {
            predictor: "solve".into(),
            inputs: map(&[("question", "q1")]),
            outputs: map(&[("answer", "b")]),
        };
        let other = TraceStep { predictor: "draft".into(), ..step.clone() };
        let rollouts = [
            rollout(vec![other.clone(), step.clone()], false, Some("expected 'a'")),
            rollout(Vec::new(), true, Some("no [[ ## answer ## ]] field")),
            rollout(vec![step.clone()], false, None),
        ];
        let batch = [ex.clone(), ex.clone(), ex];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let recs = records("solve", &batch, &rollouts, false, &mut rng);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            recs[0],
            Record {
                inputs: step.inputs.clone(),
                outputs: Some(step.outputs.clone()),
                feedback: "expected 'a'".into()
            }
        );
        assert_eq!(recs[1].feedback, "This output scored 0.00.");
        let with = records("solve", &batch, &rollouts, true, &mut rng);
        assert_eq!(with.len(), 3);
        assert_eq!(with[1].outputs, None);
        assert!(with[1].feedback.contains("no [[ ## answer ## ]] field"), "{}", with[1].feedback);
        assert!(records("draft", &batch, &rollouts, false, &mut rng).len() == 1);
    }

    #[test]
    fn long_values_and_feedback_are_shortened_and_the_text_is_capped() {
        let cut = shorten(&"x".repeat(3000), 300);
        assert!(cut.starts_with(&"x".repeat(200)) && cut.ends_with(&"x".repeat(100)), "{cut}");
        assert!(cut.contains("[... 2700 characters cut ...]"), "{cut}");
        assert_eq!(shorten("short", 10), "short");

        let rec = Record {
            inputs: map(&[("question", &"q".repeat(5000))]),
            outputs: Some(map(&[("answer", "7")])),
            feedback: "f".repeat(4000),
        };
        let one = render(std::slice::from_ref(&rec), 100_000);
        assert!(one.starts_with("### Example 1\nInputs:\n- question: qqq"), "{one}");
        assert!(one.contains("Outputs:\n- answer: 7\nFeedback: fff"), "{one}");
        assert!(one.chars().count() < VALUE_CHARS + FEEDBACK_CHARS + 200, "{}", one.chars().count());
        let many = render(&vec![rec; 20], 5000);
        assert!(many.chars().count() <= 5000 + 60, "{}", many.chars().count());
        assert!(many.ends_with("more examples left out to keep this short.)"), "{many}");
        assert!(many.contains("### Example 2") && !many.contains("### Example 5"));
        // A first example longer than the cap is cut, never dropped.
        assert!(render(&[Record { inputs: map(&[("q", "x")]), outputs: None, feedback: "y".repeat(900) }], 1000)
            .contains("(could not be read)"));
    }

    #[test]
    fn the_guard_turns_away_an_echo_of_the_reflection_prompt() {
        let p = Predictor::new("solve", Signature::parse("question -> answer").unwrap());
        let g = guard(&[], &p, 3000);
        let echo = "Say what the step got wrong and what it must know or do to get inputs like these right.";
        assert!(matches!(g.check(echo), Some(crate::optimizers::proposal_guard::Defect::EchoesDirections(_))));
        assert_eq!(g.check("Solve the problem step by step and give the final number."), None);
    }

    #[test]
    fn instructions_lose_fences_and_quotes() {
        assert_eq!(clean("```\nSolve it.\n```"), "Solve it.");
        assert_eq!(clean("```text\nSolve it.```"), "Solve it.");
        assert_eq!(clean("  \"Solve it.\" "), "Solve it.");
    }
}

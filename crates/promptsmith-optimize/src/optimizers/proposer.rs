//! Grounded instruction proposal (MIPROv2's step 2): a summary of the training data, a
//! description of the program, example demos and a randomly drawn prompting tip go to the
//! proposer model, which writes a new instruction for one predictor.

use super::proposal_guard::ProposalGuard;
use super::random_search::DemoSet;
use crate::engine::{Engine, Stop};
use crate::events::Event;
use promptsmith_core::{value_to_text, Example, Field, FieldType, Predictor, Program, Signature};
use promptsmith_lm::LmRole;
use rand::Rng;
use serde_json::{json, Map, Value};

/// Prompting tips, one drawn at random per proposal (`none` adds nothing).
pub const TIPS: &[(&str, &str)] = &[
    ("none", ""),
    ("creative", "Feel free to be inventive in how the instruction frames the task."),
    ("simple", "Keep the instruction short, plain and unambiguous."),
    (
        "description",
        "Make the instruction thorough: say exactly what the inputs are and what a good output looks like.",
    ),
    ("high_stakes", "Frame the task as one where getting the answer exactly right matters a great deal."),
    ("persona", "Start the instruction by giving the model a role suited to the task (for example 'You are a ...')."),
];

/// Proposer settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposerSettings {
    /// Summarize the training data for the proposer.
    pub data_aware: bool,
    /// Describe the program for the proposer.
    pub program_aware: bool,
    /// Draw a prompting tip per proposal.
    pub tips: bool,
    /// Show demos from the candidate demo sets.
    pub demos: bool,
    /// Examples shown per observation call.
    pub view_batch: usize,
    /// Most observation calls for the data summary.
    pub max_observation_calls: usize,
    /// Sampling temperature of proposals.
    pub temperature: f32,
}

impl Default for ProposerSettings {
    fn default() -> Self {
        ProposerSettings {
            data_aware: true,
            program_aware: true,
            tips: true,
            demos: true,
            view_batch: 10,
            max_observation_calls: 3,
            temperature: 1.0,
        }
    }
}

impl ProposerSettings {
    /// Upper bound on proposer calls for `predictors` predictors with `n` candidates each.
    pub(crate) fn max_calls(&self, predictors: usize, n: usize, train: usize) -> u64 {
        let observe = if self.data_aware {
            let batches = train.div_ceil(self.view_batch.max(1)).min(self.max_observation_calls);
            batches as u64 + 1
        } else {
            0
        };
        let describe = u64::from(self.program_aware);
        // Candidate 0 is the current instruction; each proposal may be asked again once by the
        // guard, and each ask may take a JSON retry.
        observe + describe + 4 * (predictors * n.saturating_sub(1)) as u64
    }
}

fn field(name: &str, desc: &str) -> Field {
    Field::new(name, FieldType::Str).describe(desc)
}

/// A predictor with string `inputs` and one string `output` (name, description), for proposer calls.
pub(crate) fn predictor(
    name: &str,
    inputs: &[(&str, &str)],
    output: (&str, &str),
    instruction: &str,
) -> Option<Predictor> {
    let mut b = Signature::builder();
    for (n, d) in inputs {
        b = b.input(field(n, d));
    }
    let sig = b.output(field(output.0, output.1)).instruction(instruction).build().ok()?;
    Some(Predictor::new(name, sig))
}

/// One proposer call; `Ok(None)` when the model's answer was unusable (the proposal is
/// skipped), `Err` when the run must stop.
pub(crate) async fn ask(
    engine: &Engine,
    p: Option<Predictor>,
    inputs: Map<String, Value>,
    temperature: Option<f32>,
    rollout: Option<u64>,
) -> std::result::Result<Option<String>, Stop> {
    let Some(mut p) = p else { return Ok(None) };
    p.options.temperature = temperature;
    p.options.max_tokens = Some(512);
    let lm = engine.lm(LmRole::Proposer);
    let result = match rollout {
        Some(id) => {
            let lm = crate::engine::RolloutLm { inner: lm, rollout_id: id };
            p.call(&lm, &inputs).await
        }
        None => p.call(lm.as_ref(), &inputs).await,
    };
    match result {
        Ok((out, _, _)) => {
            let text = out.values().next().map(value_to_text).unwrap_or_default();
            let text = text.trim().trim_matches('"').trim().to_string();
            Ok((!text.is_empty()).then_some(text))
        }
        Err(e) => {
            if let Some(stop) = engine.should_stop() {
                return Err(stop);
            }
            engine.emit(Event::Message(format!("proposer answer skipped: {e}")));
            Ok(None)
        }
    }
}

fn show(v: &Value, max: usize) -> String {
    let t = value_to_text(v);
    if t.chars().count() > max {
        format!("{}...", t.chars().take(max).collect::<String>())
    } else {
        t
    }
}

fn show_example(fields: &Map<String, Value>) -> String {
    fields.iter().map(|(k, v)| format!("{k}: {}", show(v, 300))).collect::<Vec<_>>().join("\n")
}

/// What the data-summary's observation calls are told.
const OBSERVE_INSTRUCTION: &str = "Study the examples from a dataset and write down concise observations about the \
                                   task, the kind of inputs, the form of the outputs, and anything a model must get \
                                   right. Add to the prior observations rather than repeating them.";
/// What the data-summary's last call is told.
const SUMMARIZE_INSTRUCTION: &str =
    "Summarize the observations into a short description of the dataset and the task it poses.";
/// What the program-description call is told.
const DESCRIBE_INSTRUCTION: &str =
    "Describe what this language-model program does: the task it solves and the role of each step.";
/// Every direction the proposer's own calls are given: no proposal may repeat them.
const PROPOSER_DIRECTIONS: [&str; 4] =
    [PROPOSER_INSTRUCTION, OBSERVE_INSTRUCTION, SUMMARIZE_INSTRUCTION, DESCRIBE_INSTRUCTION];

/// A short description of the training data (observation calls over batches, then a summary).
pub(crate) async fn dataset_summary(
    engine: &Engine,
    trainset: &[Example],
    s: &ProposerSettings,
) -> std::result::Result<String, Stop> {
    if !s.data_aware || trainset.is_empty() {
        return Ok(String::new());
    }
    let mut observations = String::new();
    for (i, batch) in trainset.chunks(s.view_batch.max(1)).take(s.max_observation_calls).enumerate() {
        let examples = batch.iter().map(|e| show_example(&e.fields)).collect::<Vec<_>>().join("\n---\n");
        let mut inputs = Map::new();
        inputs.insert("prior_observations".into(), Value::String(observations.clone()));
        inputs.insert("examples".into(), Value::String(examples));
        let p = predictor(
            "observe_data",
            &[
                ("prior_observations", "what was noted so far (may be empty)"),
                ("examples", "a batch of dataset examples"),
            ],
            ("observations", "a few sentences on patterns that hold across the examples"),
            OBSERVE_INSTRUCTION,
        );
        if let Some(text) = ask(engine, p, inputs, Some(0.0), Some(i as u64)).await? {
            observations = text;
        }
    }
    if observations.is_empty() {
        return Ok(String::new());
    }
    let mut inputs = Map::new();
    inputs.insert("observations".into(), Value::String(observations.clone()));
    let p = predictor(
        "summarize_data",
        &[("observations", "observations about a dataset")],
        ("summary", "two or three sentences"),
        SUMMARIZE_INSTRUCTION,
    );
    Ok(ask(engine, p, inputs, Some(0.0), None).await?.unwrap_or(observations))
}

/// A short description of what the program does, from its predictors' signatures.
pub(crate) async fn program_description(
    engine: &Engine,
    program: &Program,
    s: &ProposerSettings,
) -> std::result::Result<String, Stop> {
    if !s.program_aware {
        return Ok(String::new());
    }
    let listing = program
        .predictors
        .iter()
        .map(|p| {
            format!(
                "predictor '{}' ({:?}): {}\ninstruction: {}",
                p.name,
                p.kind,
                p.signature.to_signature_string(),
                p.signature.instruction()
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut inputs = Map::new();
    inputs.insert("program".into(), Value::String(listing));
    let p = predictor(
        "describe_program",
        &[("program", "the steps of a language-model program")],
        ("description", "two or three sentences"),
        DESCRIBE_INSTRUCTION,
    );
    Ok(ask(engine, p, inputs, Some(0.0), None).await?.unwrap_or_default())
}

/// Context shared by every proposal of a run.
pub(crate) struct Grounding {
    pub(crate) data: String,
    pub(crate) program: String,
}

/// Instruction candidates for one predictor, and the proposals the guard turned away.
#[derive(Debug, Default)]
pub(crate) struct Proposals {
    /// Candidate 0 is the current instruction.
    pub(crate) instructions: Vec<String>,
    /// `{"proposal", "defect"}` for each proposal dropped after its re-ask.
    pub(crate) rejected: Vec<Value>,
}

pub(crate) use super::proposal_guard::REASK;

/// `n` instruction candidates for `predictor`: candidate 0 is its current instruction, the rest
/// are proposals. A proposal that quotes an example or keeps a placeholder is asked again once
/// (see [`ProposalGuard`]); an unusable, duplicate or still defective one is dropped, so fewer
/// may come back.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn propose(
    engine: &Engine,
    program: &Program,
    predictor_name: &str,
    trainset: &[Example],
    demo_sets: &[DemoSet],
    n: usize,
    grounding: &Grounding,
    s: &ProposerSettings,
) -> std::result::Result<Proposals, Stop> {
    let Some(target) = program.predictor(predictor_name) else { return Ok(Proposals::default()) };
    let guard = ProposalGuard::new(trainset, demo_sets.iter().filter_map(|d| d.demos.get(predictor_name)).flatten())
        .with_signature(&target.signature)
        .with_directions(&PROPOSER_DIRECTIONS);
    let current = target.signature.instruction();
    let mut out = Proposals { instructions: vec![current.clone()], rejected: Vec::new() };
    let mut rng = engine.rng(&format!("propose-{predictor_name}"));
    for i in 1..n {
        let tip = if s.tips { TIPS[rng.gen_range(0..TIPS.len())] } else { TIPS[0] };
        let demos = if s.demos && !demo_sets.is_empty() {
            let set = &demo_sets[i % demo_sets.len()];
            set.demos
                .get(predictor_name)
                .map(|d| d.iter().take(3).map(show_example).collect::<Vec<_>>().join("\n---\n"))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let mut inputs = Map::new();
        inputs.insert("dataset_description".into(), Value::String(grounding.data.clone()));
        inputs.insert("program_description".into(), Value::String(grounding.program.clone()));
        inputs.insert("task_signature".into(), Value::String(target.signature.to_signature_string()));
        inputs.insert("task_demos".into(), Value::String(demos));
        inputs.insert("previous_instructions".into(), Value::String(out.instructions.join("\n---\n")));
        inputs.insert("tip".into(), Value::String(tip.1.to_string()));
        let mut text = ask(engine, proposal_predictor(), inputs.clone(), Some(s.temperature), Some(i as u64)).await?;
        if let Some(defect) = text.as_deref().and_then(|t| guard.check(t)) {
            engine.emit(Event::Message(format!("proposal {i} for {predictor_name} {defect}; asking again")));
            inputs.insert("tip".into(), Value::String(format!("{} {REASK}", tip.1).trim().to_string()));
            // A distinct rollout, so the re-ask is a new sample and cached apart.
            text = ask(engine, proposal_predictor(), inputs, Some(s.temperature), Some((REASK_ROLLOUT + i) as u64))
                .await?;
            if let Some(defect) = text.as_deref().and_then(|t| guard.check(t)) {
                engine.emit(Event::Message(format!("proposal {i} for {predictor_name} dropped: it {defect}")));
                out.rejected.push(json!({"proposal": text, "defect": defect.to_string()}));
                text = None;
            }
        }
        if let Some(text) = text {
            if !out.instructions.contains(&text) {
                out.instructions.push(text);
            }
        }
        engine.emit(Event::Step { done: i });
    }
    Ok(out)
}

/// Rollout ids of re-asked proposals start here.
const REASK_ROLLOUT: usize = 1_000;

/// The proposer's own instruction (which no proposal may repeat).
const PROPOSER_INSTRUCTION: &str = "Write a new instruction for one step of a language-model program. Use what is \
                                    known about the data and the program, learn from the worked examples, follow the \
                                    tip, and make it different from the instructions already tried. Answer with the \
                                    instruction only.";

fn proposal_predictor() -> Option<Predictor> {
    predictor(
        "propose_instruction",
        &[
            ("dataset_description", "what the data looks like"),
            ("program_description", "what the program does"),
            ("task_signature", "the inputs and outputs of the step to instruct"),
            ("task_demos", "worked examples of the step (may be empty)"),
            ("previous_instructions", "instructions already tried for this step"),
            ("tip", "a suggestion on how to write the instruction (may be empty)"),
        ],
        ("proposed_instruction", "the new instruction, as it would be given to the model"),
        PROPOSER_INSTRUCTION,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proposal_may_not_echo_the_data_summary_directions() {
        let guard = ProposalGuard::new(&[], std::iter::empty()).with_directions(&PROPOSER_DIRECTIONS);
        let echo = "Write down concise observations about the task, the kind of inputs, and the outputs.";
        let defect = guard.check(echo).map(|d| d.to_string()).unwrap_or_default();
        assert!(defect.starts_with("repeats the directions it was given"), "{defect}");
        assert_eq!(guard.check("Answer with the short phrase the facts support."), None);
    }

    #[test]
    fn examples_are_shown_field_by_field_and_long_values_cut() {
        let mut fields = Map::new();
        fields.insert("question".into(), Value::String("x".repeat(400)));
        fields.insert("answer".into(), serde_json::json!(7));
        let shown = show_example(&fields);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines.contains(&"answer: 7"), "{shown}");
        let q = lines.iter().find(|l| l.starts_with("question: ")).unwrap();
        assert_eq!(q.chars().count(), "question: ".len() + 300 + 3, "cut to 300 characters and '...'");
        assert_eq!(show(&Value::String("short".into()), 300), "short");
    }
}

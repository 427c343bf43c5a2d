//! Predict, ChainOfThought and multi-step programs against a scripted in-test model
//! (logic only; the real model is exercised in the CLI end-to-end tests).

#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use promptsmith_core::{
    AdapterKind, ChatRequest, ChatResponse, Choice, Example, LanguageModel, LmError, Module, PredictError, Predictor,
    Program, ProgramBuilder, Signature, Usage,
};
use serde_json::json;
use std::sync::Mutex;

/// Answers with canned texts in order and records the requests.
struct Canned {
    answers: Mutex<Vec<String>>,
    seen: Mutex<Vec<ChatRequest>>,
}

impl Canned {
    fn new(answers: &[&str]) -> Self {
        Self { answers: Mutex::new(answers.iter().rev().map(|s| s.to_string()).collect()), seen: Mutex::new(vec![]) }
    }
}

#[async_trait]
impl LanguageModel for Canned {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        self.seen.lock().unwrap().push(request.clone());
        let text = self.answers.lock().unwrap().pop().ok_or_else(|| LmError::Other("no more answers".into()))?;
        Ok(ChatResponse {
            choices: vec![Choice { text, finish_reason: None }],
            usage: Usage { prompt_tokens: 10, completion_tokens: 5 },
            model: "canned".into(),
            cached: false,
            cost_usd: None,
        })
    }
    fn model_name(&self) -> String {
        "canned".into()
    }
}

fn question(q: &str) -> Example {
    Example::default().with("question", q).with_inputs(&["question"])
}

#[tokio::test]
async fn chain_of_thought_adds_reasoning_and_stops_at_marker() {
    let lm = Canned::new(&["[[ ## reasoning ## ]]\n2+2=4\n\n[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"]);
    let p = Predictor::chain_of_thought("solve", Signature::parse("question -> answer: int").unwrap());
    let out = p.forward(&lm, &question("2+2?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(4)));
    assert_eq!(out.get("reasoning"), Some(&json!("2+2=4")));
    assert_eq!(out.lm_calls, 1);
    let seen = lm.seen.lock().unwrap();
    assert_eq!(seen[0].stop, vec!["[[ ## completed ## ]]".to_string()]);
    assert_eq!(seen[0].max_tokens, Some(1024));
    assert!(seen[0].messages[0].content.contains("1. `reasoning` (str): \n2. `answer` (int):"));
}

#[tokio::test]
async fn parse_failure_retries_in_json_then_reports_raw() {
    let lm = Canned::new(&["I think 4", "{\"answer\": 4}"]);
    let p = Predictor::new("solve", Signature::parse("question -> answer: int").unwrap());
    let out = p.forward(&lm, &question("2+2?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(4)));
    assert_eq!(out.lm_calls, 2);
    assert_eq!(out.usage.prompt_tokens, 20);
    assert!(lm.seen.lock().unwrap()[1].response_format.is_some(), "retry asks for structured output");

    let lm = Canned::new(&["no idea", "still no idea"]);
    let err = p.forward(&lm, &question("2+2?")).await.unwrap_err();
    match &err {
        PredictError::Parse { predictor, source, usage, lm_calls } => {
            assert_eq!(predictor, "solve");
            assert_eq!((usage.prompt_tokens, *lm_calls), (20, 2), "the failed run's spend is reported");
            assert_eq!(source.raw, "no idea");
            assert!(source.message.contains("JSON retry"), "{}", source.message);
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[tokio::test]
async fn dspy_adapter_rejects_prose_numbers_and_retries_like_dspy() {
    let first = "[[ ## reasoning ## ]]\n12 * 20 = 240\n\n[[ ## answer ## ]]\n240 dozens\n\n[[ ## completed ## ]]";
    let lm = Canned::new(&[first, "```json\n{\"reasoning\": \"12 * 20\", \"answer\": 240}\n```"]);
    let mut p = Predictor::chain_of_thought("solve", Signature::parse("question -> answer: float").unwrap());
    p.adapter = AdapterKind::Dspy;
    let out = p.forward(&lm, &question("eggs?")).await.unwrap();
    assert_eq!((out.get("answer"), out.lm_calls), (Some(&json!(240.0)), 2));
    {
        let seen = lm.seen.lock().unwrap();
        assert!(seen[0].stop.is_empty(), "DSPy sends no stop sequence");
        assert!(seen[1].response_format.is_none(), "DSPy's JSONAdapter retry sends no response_format here");
        assert!(seen[1].messages[0].content.contains("Outputs will be a JSON object with the following fields."));
        assert!(seen[1].messages[1].content.ends_with("`answer` (must be formatted as a valid Python float)."));
    }
    // The lenient chat adapter reads the same completion without a retry.
    let lm = Canned::new(&[first]);
    p.adapter = AdapterKind::Chat;
    assert_eq!(p.forward(&lm, &question("eggs?")).await.unwrap().get("answer"), Some(&json!(240.0)));
}

#[tokio::test]
async fn multi_step_program_wires_outputs() {
    let program = ProgramBuilder::new("qa")
        .predictor(
            Predictor::new("draft", Signature::parse("question -> answer").unwrap()).with_adapter(AdapterKind::Plain),
        )
        .predictor(Predictor::new("refine", Signature::parse("question, draft -> answer: int").unwrap()))
        .step("draft", &[])
        .step("refine", &[("draft", "draft.answer")])
        .output("answer", "refine.answer")
        .build()
        .unwrap();
    let lm = Canned::new(&["Answer: about five", "[[ ## answer ## ]]\n5\n\n[[ ## completed ## ]]"]);
    let out = program.forward(&lm, &question("2+3?")).await.unwrap();
    assert_eq!(out.fields, json!({"answer": 5}).as_object().cloned().unwrap());
    assert_eq!(out.trace.len(), 2);
    assert_eq!(out.trace[1].inputs.get("draft"), Some(&json!("about five")));
    assert!(lm.seen.lock().unwrap()[1].messages.last().unwrap().content.contains("[[ ## draft ## ]]\nabout five"));
    let missing = program.forward(&lm, &Example::default()).await.unwrap_err();
    assert_eq!(missing.to_string(), "predictor 'draft': missing input field 'question'");
}

#[test]
fn builder_reports_bad_wiring() {
    let e = ProgramBuilder::new("x")
        .predictor(Predictor::new("a", Signature::parse("q -> r").unwrap()))
        .step("b", &[])
        .build()
        .unwrap_err();
    assert_eq!(e.to_string(), "steps[0].predictor: unknown predictor 'b' (known: a)");
    let single = Program::single(Predictor::new("a", Signature::parse("q -> r").unwrap()));
    assert_eq!(single.output_fields(), vec!["r"]);
}

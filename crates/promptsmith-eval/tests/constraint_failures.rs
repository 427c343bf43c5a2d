#![allow(clippy::unwrap_used)]
//! A prediction that breaks its predictor's output constraints on every attempt is a failure
//! of kind `constraint`, with the field, the rule and the value in its message and feedback.

use promptsmith_core::{Example, ProgramSpec};
use promptsmith_eval::{metric_by_name, Evaluator, FailureKind, Metric};
use promptsmith_lm::ScriptedLm;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn a_constraint_failure_is_counted_with_its_reason() {
    let spec = json!({"name": "c", "predictors": [
        {"name": "solve", "signature": "question -> answer: int", "constraints": {"answer": {"max": 100}}}
    ]});
    let program = ProgramSpec::parse(&spec.to_string(), false, "p.json").unwrap().build("p.json").unwrap();
    let lm = ScriptedLm::from_fn(|r| {
        let value = if r.messages.last().unwrap().content.contains("big") { 500 } else { 5 };
        format!("[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]")
    });
    let ex = |q: &str, a: i64| Example::default().with("question", q).with("answer", a).with_inputs(&["question"]);
    let metric: Arc<dyn Metric> = Arc::from(metric_by_name("numeric_match", "answer").unwrap());
    let report = Evaluator::new(metric).evaluate(&program, &lm, &[ex("small", 5), ex("big", 500)]).await;
    assert_eq!(report.summary.other_errors, 1);
    assert_eq!(report.summary.mean, 0.5);
    let failed = &report.results[1];
    let error = failed.error.as_ref().unwrap();
    assert_eq!(error.kind, FailureKind::Constraint);
    let reason = "predictor 'solve': output field 'answer' breaks max: 500 is above the maximum 100 (after 3 attempts)";
    assert_eq!(error.message, reason);
    assert_eq!(failed.feedback.as_deref(), Some(reason));
    assert_eq!(failed.lm_calls, 3, "the retries are counted");
    assert!(error.raw_completion.as_deref().unwrap().contains("500"));
    assert_eq!(serde_json::to_value(error).unwrap()["kind"], "constraint");
}

use super::*;
use promptsmith_core::{ChatRequest, Example, LmError, Prediction};
use promptsmith_lm::ScriptedLm;
use serde_json::json;

fn ex() -> Example {
    Example::default().with("question", "What is 6*7?").with("answer", 42).with_inputs(&["question"])
}

fn pred(answer: serde_json::Value, reasoning: &str) -> Prediction {
    let mut p = Prediction::default();
    p.fields.insert("answer".into(), answer);
    p.fields.insert("reasoning".into(), json!(reasoning));
    p
}

fn judge_reply(reasoning: &str, score: &str) -> String {
    format!("[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## score ## ]]\n{score}\n\n[[ ## completed ## ]]")
}

fn yaml(text: &str) -> MetricSpec {
    let spec: MetricSpec = serde_yaml::from_str(text).unwrap();
    spec.validate("").unwrap();
    spec
}

fn score(metric: &dyn Metric, p: &Prediction) -> crate::MetricResult {
    futures::executor::block_on(metric.score(&ex(), p))
}

#[test]
fn judge_scores_on_its_scale_and_sees_task_reference_response_and_rubric() {
    let lm = Arc::new(ScriptedLm::from_fn(|_req: &ChatRequest| judge_reply("Correct and clear.", "4")));
    let spec = yaml("judge: { field: reasoning, reference_field: answer, rubric: Shows the work., min: 1, max: 5 }");
    assert!(spec.needs_judge());
    let metric = spec.build("answer", Some(lm.clone())).unwrap();
    let r = score(metric.as_ref(), &pred(json!(42), "6 times 7 is 42"));
    assert!((r.score - 0.75).abs() < 1e-12, "{r:?}");
    assert_eq!(r.feedback.as_deref(), Some("judge: Correct and clear. (score 4)"));
    assert_eq!(r.spent.lm_calls, 1);
    assert!(r.error.is_none());
    let req = lm.last_request().unwrap();
    let user = &req.messages.last().unwrap().content;
    for needle in ["question: What is 6*7?", "42", "6 times 7 is 42", "Shows the work."] {
        assert!(user.contains(needle), "judge prompt lacks {needle:?}:\n{user}");
    }
    let system = &req.messages[0].content;
    assert!(system.contains("from 1 to 5"), "{system}");
    assert_eq!(req.temperature, Some(0.0));
}

#[test]
fn judge_failure_is_a_metric_error_not_a_silent_zero() {
    let lm =
        Arc::new(ScriptedLm::from_result_fn(|_| Err(LmError::Timeout { url: "http://judge".into(), seconds: 1.0 })));
    let metric = yaml("judge: { rubric: Correct. }").build("answer", Some(lm)).unwrap();
    let r = score(metric.as_ref(), &pred(json!(42), ""));
    assert_eq!(r.score, 0.0);
    assert!(r.error.as_deref().unwrap().starts_with("judge failed"), "{r:?}");
}

#[test]
fn judge_needs_a_model() {
    let err = yaml("judge: { rubric: Correct. }").build("answer", None).err().unwrap();
    assert!(err.to_string().contains("no judge model is configured"), "{err}");
}

#[test]
fn composite_weights_parts_and_keeps_the_breakdown() {
    let lm = Arc::new(ScriptedLm::from_fn(|_| judge_reply("Skips a step.", "0.5")));
    let spec = yaml(
        "name: graded\ncomposite:\n  - {name: accuracy, weight: 5, metric: numeric_match}\n  - {name: reasoning, weight: 3, judge: {field: reasoning, rubric: Complete.}}\n  - {name: short, weight: 2, metric: 'regex:^.{0,10}$', field: reasoning}\n",
    );
    let metric = spec.build("answer", Some(lm)).unwrap();
    assert_eq!(metric.name(), "graded");
    let r = score(metric.as_ref(), &pred(json!(42), "long reasoning text here"));
    // 0.5 * 1 + 0.3 * 0.5 + 0.2 * 0
    assert!((r.score - 0.65).abs() < 1e-12, "{r:?}");
    let names: Vec<_> = r.breakdown.iter().map(|p| (p.name.as_str(), p.score)).collect();
    assert_eq!(names, vec![("accuracy", 1.0), ("reasoning", 0.5), ("short", 0.0)]);
    let fb = r.feedback.unwrap();
    assert!(fb.starts_with("accuracy (50%): 1.00 - correct: 42; reasoning (30%): 0.50 - judge: Skips a step."), "{fb}");
    assert_eq!(r.spent.lm_calls, 1);
}

#[test]
fn bad_specs_say_where_and_what() {
    let cases = [
        ("{}", "metric spec: give one of `metric`, `judge` or `composite`"),
        ("metric: f1\njudge: {rubric: x}", "metric spec: give only one of"),
        ("composite: []", "metric spec.composite: no parts"),
        ("composite:\n  - {metric: f1, weight: 1}", "composite[0]: missing `name`"),
        ("composite:\n  - {name: a, metric: f1}", "composite[0]: missing `weight`"),
        ("composite:\n  - {name: a, weight: -1, metric: f1}", "composite[0].weight: -1 is not a positive number"),
        ("judge: {rubric: ' '}", "metric spec.judge.rubric: empty"),
        ("judge: {rubric: x, min: 5, max: 1}", "max (1) must be above min (5)"),
        ("judge: {rubric: x, adapter: xml}", "unknown adapter 'xml'"),
    ];
    for (text, want) in cases {
        let spec: MetricSpec = serde_yaml::from_str(text).unwrap();
        let err = spec.validate("").unwrap_err();
        assert!(err.contains(want), "{text:?}: got {err:?}, want {want:?}");
    }
}

#[test]
fn spec_files_report_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(&path, "composite:\n  - name: a\n    weight: 1\n    metric: f1\n    colour: red\n").unwrap();
    let err = MetricSpec::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("m.yaml line 5") && err.contains("unknown field `colour`"), "{err}");
    let path = dir.path().join("m.json");
    std::fs::write(&path, "{\"metric\": \"f1\",\n \"judge\": {\"rubric\": \"x\"}}").unwrap();
    let err = MetricSpec::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("m.json") && err.contains("only one of"), "{err}");
    std::fs::write(&path, "{\"metric\": \"f1\", \"field\": \"answer\"}").unwrap();
    assert_eq!(MetricSpec::from_file(&path).unwrap().metric.as_deref(), Some("f1"));
}

#[test]
fn label_match_normalizes_labels() {
    let m = metric_by_name("label_match", "answer").unwrap();
    let e = Example::default().with("q", "x").with("answer", "card_arrival").with_inputs(&["q"]);
    for (got, want) in [("Card Arrival.", 1.0), ("label: card-arrival", 1.0), ("'card_arrival'", 1.0), ("card", 0.0)] {
        let mut p = Prediction::default();
        p.fields.insert("answer".into(), json!(got));
        let r = futures::executor::block_on(m.score(&e, &p));
        assert_eq!(r.score, want, "{got}: {r:?}");
    }
}

#[test]
fn the_evaluator_metrics_need_their_fixed_labels() {
    assert_eq!(yaml("metric: judge").required_labels("confidence"), ["pass"]);
    assert_eq!(yaml("metric: rubric").required_labels("suggestions"), ["score"]);
    assert_eq!(yaml("metric: exact_match").required_labels("answer"), ["answer"]);
}

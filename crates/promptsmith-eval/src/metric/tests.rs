use super::*;
use serde_json::json;

fn ex(answer: Value) -> Example {
    Example::default().with("question", "q").with("answer", answer).with_inputs(&["question"])
}

fn pred(answer: Value) -> Prediction {
    let mut p = Prediction::default();
    p.fields.insert("answer".into(), answer);
    p
}

fn run(id: &str, expected: Value, got: Value) -> MetricResult {
    futures::executor::block_on(metric_by_name(id, "answer").unwrap().score(&ex(expected), &pred(got)))
}

fn score(id: &str, expected: Value, got: Value) -> f64 {
    run(id, expected, got).score
}

#[test]
fn lookup_by_id() {
    for id in METRIC_IDS {
        assert_eq!(metric_by_name(id, "answer").unwrap().name(), *id);
    }
    assert_eq!(
        metric_by_name("bleu", "answer").err().unwrap().to_string(),
        "unknown metric 'bleu' (known: exact_match, numeric_match, f1, contains, regex, label_match, rouge_l, set_f1, set_precision, set_recall, ifeval, judge, rubric)"
    );
    assert_eq!(
        metric_by_name("exact_match:x", "answer").err().unwrap().to_string(),
        "metric 'exact_match': takes no parameter"
    );
    assert!(metric_by_name("regex:(", "answer")
        .err()
        .unwrap()
        .to_string()
        .starts_with("metric 'regex': invalid pattern"));
    assert_eq!(
        metric_by_name("numeric_match:abc", "answer").err().unwrap().to_string(),
        "metric 'numeric_match': tolerance 'abc' is not a non-negative number"
    );
}

#[test]
fn exact_match_normalizes() {
    assert_eq!(score("exact_match", json!("Paris"), json!("  paris ")), 1.0);
    assert_eq!(score("exact_match", json!("New  York"), json!("new york")), 1.0);
    assert_eq!(score("exact_match", json!("New York"), json!("New York City")), 0.0);
    assert_eq!(score("exact_match", json!(18), json!("18")), 1.0);
    assert_eq!(score("exact_match", json!(["yes", "y"]), json!("Y")), 1.0);
    let r = run("exact_match", json!("Paris"), json!("London"));
    assert_eq!(r.feedback.as_deref(), Some("expected 'Paris', got 'London'"));
    let r = run("exact_match", json!(["a", "b"]), json!("c"));
    assert_eq!(r.feedback.as_deref(), Some("expected one of 'a', 'b', got 'c'"));
    assert_eq!(run("exact_match", json!("x"), json!("X")).feedback.as_deref(), Some("correct: 'X'"));
}

#[test]
fn missing_fields_fail_with_reason() {
    let m = ExactMatch::default();
    let r = futures::executor::block_on(m.score(&Example::default().with("question", "q"), &pred(json!("x"))));
    assert_eq!(r, MetricResult::fail("example has no label 'answer' to compare against"));
    let r = futures::executor::block_on(m.score(&ex(json!("x")), &Prediction::default()));
    assert_eq!(r, MetricResult::fail("prediction has no field 'answer'"));
    let r = futures::executor::block_on(NumericMatch::default().score(&ex(json!("x")), &pred(Value::Null)));
    assert_eq!(r.feedback.as_deref(), Some("prediction has no field 'answer'"));
}

#[test]
fn configurable_field() {
    let m = metric_by_name("exact_match", "label").unwrap();
    let e = Example::default().with("text", "t").with("label", "card_arrival");
    let mut p = Prediction::default();
    p.fields.insert("label".into(), json!("Card_Arrival"));
    assert_eq!(futures::executor::block_on(m.score(&e, &p)).score, 1.0);
}

#[test]
fn numeric_match_cases() {
    let cases: &[(Value, Value, f64)] = &[
        (json!("18"), json!("18"), 1.0),
        (json!("18"), json!("18."), 1.0),
        (json!("18"), json!("18.0"), 1.0),
        (json!("18"), json!(18), 1.0),
        (json!(18), json!(18.0), 1.0),
        (json!("1234.5"), json!("$1,234.50"), 1.0),
        (json!("1234"), json!("1,234"), 1.0),
        (json!("42"), json!("The answer is 42"), 1.0),
        (json!("42"), json!("The answer is 42."), 1.0),
        (json!("42"), json!("We have 40 + 2 = 42 apples"), 1.0),
        (json!("42"), json!("42 apples, wait, no, 41"), 0.0),
        (json!("0.75"), json!("3/4"), 1.0),
        (json!("3/4"), json!("0.75"), 1.0),
        (json!("0.5"), json!("\\boxed{\\frac{1}{2}}"), 1.0),
        (json!("-5"), json!("-5"), 1.0),
        (json!("-5"), json!("5"), 0.0),
        (json!("5"), json!("3-5"), 1.0),
        (json!("1000000"), json!("1e6"), 1.0),
        (json!("1000000"), json!("1000000.5"), 1.0),
        (json!("1000000"), json!("1000002"), 0.0),
        (json!("0.33333"), json!("1/3"), 0.0),
        (json!("0.3333333"), json!("1/3"), 1.0),
        (json!("0"), json!("0.0"), 1.0),
        (json!("0"), json!("0.000001"), 0.0),
        (json!("50"), json!("50%"), 1.0),
        (json!("#### 18"), json!("18"), 1.0),
        (json!(["18", "18.5"]), json!("18.5"), 1.0),
        (json!("18"), json!("eighteen"), 0.0),
        (json!("18"), json!(""), 0.0),
        (json!("18"), json!(true), 0.0),
    ];
    for (expected, got, want) in cases {
        assert_eq!(score("numeric_match", expected.clone(), got.clone()), *want, "expected {expected}, got {got}");
    }
}

#[test]
fn numeric_feedback() {
    assert_eq!(run("numeric_match", json!("18"), json!("16")).feedback.as_deref(), Some("expected 18, got 16"));
    assert_eq!(run("numeric_match", json!("18"), json!("The total is 18")).feedback.as_deref(), Some("correct: 18"));
    assert_eq!(
        run("numeric_match", json!("18"), json!("no idea")).feedback.as_deref(),
        Some("expected 18, got no number in 'no idea'")
    );
    assert_eq!(
        run("numeric_match", json!("n/a"), json!("3")).feedback.as_deref(),
        Some("expected value 'n/a' holds no number")
    );
    assert_eq!(
        run("numeric_match", json!(["1", "2"]), json!("3")).feedback.as_deref(),
        Some("expected one of 1, 2, got 3")
    );
    assert_eq!(run("numeric_match", json!("2.5"), json!("-0.1")).feedback.as_deref(), Some("expected 2.5, got -0.1"));
}

#[test]
fn numeric_tolerance_parameter() {
    assert_eq!(score("numeric_match:0.01", json!("100"), json!("100.9")), 1.0);
    assert_eq!(score("numeric_match:0.01", json!("100"), json!("102")), 0.0);
    assert_eq!(score("numeric_match:0", json!("100"), json!("100.0000001")), 0.0);
}

#[test]
fn f1_partial_credit() {
    let r = run("f1", json!("Denver Broncos won"), json!("the Denver Broncos"));
    assert!((r.score - 0.8).abs() < 1e-12);
    assert_eq!(
        r.feedback.as_deref(),
        Some("token F1 0.80 (precision 1.00, recall 0.67): expected 'Denver Broncos won', got 'the Denver Broncos'")
    );
    assert_eq!(score("f1", json!("The Eiffel Tower"), json!("eiffel tower.")), 1.0);
    assert_eq!(score("f1", json!("cat"), json!("dog")), 0.0);
    // Best alternative counts.
    assert_eq!(score("f1", json!(["dog", "cat"]), json!("a cat")), 1.0);
}

#[test]
fn contains_metric() {
    assert_eq!(score("contains", json!("Paris"), json!("It is PARIS, France")), 1.0);
    assert_eq!(score("contains", json!("Paris"), json!("London")), 0.0);
    assert_eq!(
        run("contains", json!("Paris"), json!("London")).feedback.as_deref(),
        Some("expected the answer to contain 'Paris', got 'London'")
    );
}

#[test]
fn regex_modes() {
    // Expected value as the pattern.
    assert_eq!(score("regex", json!("^(A|\\(A\\))$"), json!("(A)")), 1.0);
    assert_eq!(score("regex", json!("^A$"), json!("B")), 0.0);
    assert_eq!(run("regex", json!("^A$"), json!("B")).feedback.as_deref(), Some("'B' does not match /^A$/"));
    assert!(run("regex", json!("("), json!("B")).feedback.unwrap().contains("/(/ is not a valid pattern"));
    // Fixed pattern without groups: format check.
    assert_eq!(score("regex:^\\d+$", json!("ignored"), json!("123")), 1.0);
    assert_eq!(score("regex:^\\d+$", json!("ignored"), json!("12a")), 0.0);
    // Fixed pattern with a group: extract and compare.
    assert_eq!(score(r"regex:answer is \(?([A-E])\)?", json!("b"), json!("So the answer is (B).")), 1.0);
    let r = run(r"regex:answer is ([A-E])", json!("C"), json!("the answer is B"));
    assert_eq!(r.feedback.as_deref(), Some("expected 'C', got 'B' (extracted with /answer is ([A-E])/)"));
    let r = run(r"regex:(?P<x>\d)(?P<answer>[a-z])", json!("q"), json!("5q"));
    assert_eq!(r.score, 1.0);
    let r = run(r"regex:answer: (\w+)", json!("C"), json!("no idea"));
    assert_eq!(r.feedback.as_deref(), Some("expected 'C', but /answer: (\\w+)/ found nothing in 'no idea'"));
}

#[test]
fn scores_are_clamped() {
    assert_eq!(MetricResult::new(1.5, "x").score, 1.0);
    assert_eq!(MetricResult::score_only(-1.0).score, 0.0);
    assert_eq!(MetricResult::score_only(f64::NAN).score, 0.0);
    let m = FnMetric::new("len", |_e: &Example, p: &Prediction| {
        MetricResult::score_only(p.get_text("answer").map_or(0.0, |a| a.len() as f64))
    });
    assert_eq!(m.name(), "len");
    assert_eq!(futures::executor::block_on(m.score(&ex(json!("x")), &pred(json!("abc")))).score, 1.0);
}

#[test]
fn long_values_are_excerpted_in_feedback() {
    let long = "x".repeat(500);
    let r = run("exact_match", json!("y"), json!(long));
    let fb = r.feedback.unwrap();
    assert!(fb.len() < 300, "{fb}");
    assert!(fb.ends_with("…'"));
}

use super::*;
use crate::metric::{metric_by_name, ExactMatch};
use async_trait::async_trait;
use promptsmith_core::{ChatRequest, ChatResponse, LmError, ParseError, Prediction};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A model that must never be called: the mock module does not use it.
struct NoLm;

#[async_trait]
impl LanguageModel for NoLm {
    async fn chat(&self, _request: &ChatRequest) -> std::result::Result<ChatResponse, LmError> {
        Err(LmError::Other("not used".into()))
    }
    fn model_name(&self) -> String {
        "none".into()
    }
}

/// Doubles `x`, sleeping so that later examples finish first; fails on chosen inputs.
#[derive(Default)]
struct Doubler {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    calls: AtomicUsize,
}

#[async_trait]
impl Module for Doubler {
    async fn forward(
        &self,
        _lm: &dyn LanguageModel,
        inputs: &Example,
    ) -> std::result::Result<Prediction, PredictError> {
        if inputs.get("answer").is_some() {
            return Err(PredictError::Program("labels leaked into the inputs".into()));
        }
        let x = inputs
            .get("x")
            .and_then(Value::as_i64)
            .ok_or_else(|| PredictError::MissingInput { predictor: "double".into(), field: "x".into() })?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2 + (20 - (x % 20)) as u64)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        match x {
            3 => Err(PredictError::Parse {
                predictor: "double".into(),
                source: ParseError::field("answer", "expected an integer", "the answer is six-ish"),
                usage: Usage { prompt_tokens: 10, completion_tokens: 2 },
                lm_calls: 2,
            }),
            5 => Err(PredictError::Lm {
                predictor: "double".into(),
                source: LmError::Timeout { url: "http://lm".into(), seconds: 1.0 },
            }),
            // A wrong answer.
            7 => Ok(prediction(json!(15), 2)),
            _ => Ok(prediction(json!(x * 2), 1)),
        }
    }
}

fn prediction(answer: Value, lm_calls: u32) -> Prediction {
    let mut p = Prediction { lm_calls, ..Default::default() };
    p.usage = Usage { prompt_tokens: 10, completion_tokens: 2 };
    p.fields.insert("answer".into(), answer);
    p.trace.push(TraceStep { predictor: "double".into(), inputs: Map::new(), outputs: p.fields.clone() });
    p
}

fn examples(n: i64) -> Vec<Example> {
    (0..n).map(|x| Example::default().with("x", x).with("answer", (x * 2).to_string()).with_inputs(&["x"])).collect()
}

#[tokio::test]
async fn results_in_input_order_with_failures_scored_zero() {
    let module = Doubler::default();
    let report = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_concurrency(4)
        .evaluate(&module, &NoLm, &examples(10))
        .await;
    assert_eq!(report.n, 10);
    assert_eq!(report.results.iter().map(|r| r.index).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    for r in &report.results {
        assert_eq!(r.inputs.get("x"), Some(&json!(r.index)));
        assert_eq!(r.labels.get("answer"), Some(&json!((r.index * 2).to_string())));
    }
    assert_eq!(report.scores(), vec![1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    assert!((report.mean - 0.7).abs() < 1e-12);
    assert_eq!(report.stats.n, 10);

    let parse = &report.results[3];
    let err = parse.error.as_ref().unwrap();
    assert_eq!(err.kind, FailureKind::Parse);
    assert_eq!(err.raw_completion.as_deref(), Some("the answer is six-ish"));
    assert_eq!(
        parse.feedback.as_deref(),
        Some("predictor 'double': could not parse field 'answer': expected an integer")
    );
    assert!(parse.prediction.is_none());

    let lm = report.results[5].error.as_ref().unwrap();
    assert_eq!(lm.kind, FailureKind::Lm);
    assert_eq!(lm.message, "predictor 'double': LM call failed: request to http://lm timed out after 1.0s");
    assert_eq!(lm.raw_completion, None);

    assert_eq!(report.results[7].feedback.as_deref(), Some("expected 14, got 15"));
    assert_eq!(report.results[0].feedback.as_deref(), Some("correct: 0"));
    assert_eq!((report.parse_failures, report.lm_errors, report.other_errors), (1, 1, 0));
    // Usage and calls add up over the 8 successes (one with 2 calls) and the parse failure
    // (2 calls, which spent tokens); the LM error spent nothing.
    assert_eq!(report.lm_calls, 11);
    assert_eq!(report.usage, Usage { prompt_tokens: 90, completion_tokens: 18 });
    assert_eq!((parse.lm_calls, parse.usage.prompt_tokens), (2, 10));
    assert!(report.results.iter().all(|r| r.trace.is_empty()));
    assert_eq!(report.metric, "numeric_match");
}

#[tokio::test]
async fn concurrency_cap_is_respected_and_reached() {
    for cap in [1, 3, 8] {
        let module = Doubler::default();
        let report = Evaluator::for_metric(ExactMatch::default())
            .with_concurrency(cap)
            .evaluate(&module, &NoLm, &examples(24))
            .await;
        assert_eq!(report.n, 24);
        assert_eq!(report.concurrency, cap);
        assert_eq!(module.calls.load(Ordering::SeqCst), 24);
        assert_eq!(module.max_in_flight.load(Ordering::SeqCst), cap, "cap {cap}");
    }
}

#[tokio::test]
async fn progress_reports_every_completion_with_running_mean() {
    let calls: Arc<Mutex<Vec<(usize, usize, f64)>>> = Arc::default();
    let seen = Arc::clone(&calls);
    let module = Doubler::default();
    let report = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_concurrency(3)
        .with_progress(move |done, total, mean| seen.lock().unwrap().push((done, total, mean)))
        .evaluate(&module, &NoLm, &examples(10))
        .await;
    let calls = calls.lock().unwrap();
    assert_eq!(calls.iter().map(|c| c.0).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    assert!(calls.iter().all(|c| c.1 == 10));
    assert!(calls.iter().all(|c| (0.0..=1.0).contains(&c.2)));
    assert!((calls[9].2 - report.mean).abs() < 1e-12);
}

#[tokio::test]
async fn traces_kept_on_request_and_other_errors_counted() {
    let module = Doubler::default();
    let mut data = examples(3);
    data.push(Example::default().with("y", 1).with("answer", "2").with_inputs(&["y"]));
    let report = Evaluator::new(metric_by_name("exact_match", "answer").unwrap())
        .with_traces(true)
        .evaluate(&module, &NoLm, &data)
        .await;
    assert_eq!(report.results[0].trace.len(), 1);
    let missing = report.results[3].error.as_ref().unwrap();
    assert_eq!(missing.kind, FailureKind::MissingInput);
    assert_eq!(report.other_errors, 1);
    assert_eq!(report.failures().count(), 1);
}

#[tokio::test]
async fn empty_input_and_serialization() {
    let module = Doubler::default();
    let evaluator = Evaluator::new(metric_by_name("exact_match", "answer").unwrap());
    let report = evaluator.evaluate(&module, &NoLm, &[]).await;
    assert_eq!((report.n, report.mean), (0, 0.0));

    let report = evaluator.evaluate(&module, &NoLm, &examples(4)).await;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["results"][3]["error"]["kind"], "parse");
    assert_eq!(json["results"][3]["error"]["raw_completion"], "the answer is six-ish");
    assert_eq!(json["results"][0]["prediction"]["answer"], 0);
    assert!(json["results"][0].get("error").is_none());
    assert!(json.get("scores").is_none());
    let back: EvalReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);

    let other = evaluator.evaluate(&module, &NoLm, &examples(4)).await;
    let cmp = report.compare(&other, 1).unwrap();
    assert_eq!(cmp.sign.ties, 4);
}

#[test]
fn evaluate_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let module = Doubler::default();
    let evaluator = Evaluator::new(metric_by_name("exact_match", "answer").unwrap());
    let data = examples(1);
    let fut = evaluator.evaluate(&module, &NoLm, &data);
    assert_send(&fut);
    drop(fut);
}

#[tokio::test]
async fn failure_score_and_pricing_apply() {
    let module = Doubler::default();
    let report = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_failure_score(0.25)
        .with_pricing(|u| Some(u.prompt_tokens as f64 * 0.001 + u.completion_tokens as f64 * 0.002))
        .evaluate(&module, &NoLm, &examples(8))
        .await;
    // 3 (parse) and 5 (LM) failed and score 0.25; 7 is wrong and scores 0.
    assert_eq!(report.scores(), vec![1.0, 1.0, 1.0, 0.25, 1.0, 0.25, 1.0, 0.0]);
    assert_eq!(report.failure_score, 0.25);
    assert_eq!(report.results[0].cost_usd, Some(0.014));
    // Seven results spent 10+2 tokens each (the LM error spent nothing, priced at 0).
    assert!((report.cost_usd.unwrap() - 7.0 * 0.014).abs() < 1e-12, "{:?}", report.cost_usd);
    assert_eq!(report.failure_count(), 2);
    assert_eq!((report.total, report.stopped), (8, None));
}

#[tokio::test]
async fn max_errors_stops_early_and_keeps_finished_results() {
    let module = Doubler::default();
    let report = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_concurrency(1)
        .with_max_errors(Some(1))
        .evaluate(&module, &NoLm, &examples(10))
        .await;
    // Sequential: 0..=5 run, the second failure (5) exceeds max_errors = 1.
    assert_eq!(report.stopped, Some(StopReason::TooManyErrors));
    assert_eq!((report.n, report.total), (6, 10));
    assert_eq!(report.results.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(module.calls.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn cancellation_stops_cleanly_with_finished_results() {
    let module = Doubler::default();
    let token = CancellationToken::new();
    let seen = token.clone();
    let report = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_concurrency(2)
        .with_cancel(token)
        .with_progress(move |done, _, _| {
            if done == 4 {
                seen.cancel();
            }
        })
        .evaluate(&module, &NoLm, &examples(40))
        .await;
    assert_eq!(report.stopped, Some(StopReason::Cancelled));
    assert_eq!((report.n, report.total), (4, 40));
    assert!(report.results.iter().all(|r| r.index < 8), "only early examples had started");
    assert!(module.calls.load(Ordering::SeqCst) < 10);
}

#[tokio::test]
async fn results_files_in_jsonl_and_csv() {
    let module = Doubler::default();
    let report =
        Evaluator::new(metric_by_name("numeric_match", "answer").unwrap()).evaluate(&module, &NoLm, &examples(4)).await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("r.jsonl");
    write_results(&jsonl, &report.results, ResultsFormat::Jsonl).unwrap();
    let lines: Vec<ExampleResult> =
        std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, report.results);
    let csv_path = dir.path().join("r.csv");
    write_results(&csv_path, &report.results, ResultsFormat::Csv).unwrap();
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..4], &["index", "input.x", "label.answer", "output.answer"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[1][col("output.answer")], "2");
    assert_eq!(&rows[1][col("score")], "1");
    assert_eq!(&rows[3][col("error_kind")], "parse");
    assert_eq!(&rows[3][col("output.answer")], "");
    assert_eq!(&rows[3][col("prompt_tokens")], "10");
    let err = write_results(&dir.path().join("missing/r.csv"), &report.results, ResultsFormat::Csv).unwrap_err();
    assert!(err.to_string().contains("missing/r.csv"), "{err}");
}

#[tokio::test]
async fn streamed_results_come_in_input_order_and_match_the_report() {
    let evaluator = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_concurrency(4)
        .with_pricing(|u| Some(u.prompt_tokens as f64 * 0.001));
    let report = evaluator.evaluate(&Doubler::default(), &NoLm, &examples(30)).await;
    let mut streamed = Vec::new();
    let summary = evaluator.evaluate_each(&Doubler::default(), &NoLm, &examples(30), |r| streamed.push(r)).await;
    // Later examples finish first (Doubler sleeps less for larger x), yet the sink sees input order.
    assert_eq!(streamed.iter().map(|r| r.index).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());
    let timeless = |rs: &[ExampleResult]| -> Vec<ExampleResult> {
        rs.iter().map(|r| ExampleResult { latency_ms: 0, ..r.clone() }).collect()
    };
    assert_eq!(timeless(&streamed), timeless(&report.results));
    assert_eq!(summary.scores, report.scores());
    let same_wall = EvalSummary { wall_ms: report.wall_ms, ..summary };
    assert_eq!(same_wall, report.summary);
    // report.json's form: no per-example data at all.
    let json = serde_json::to_value(&same_wall).unwrap();
    assert!(json.get("scores").is_none() && json.get("results").is_none(), "{json}");
    assert_eq!(json["n"], 30);
}

/// Records how far past the slow example 0 any example started before 0 finished.
#[derive(Default)]
struct SlowFirst {
    first_done: std::sync::atomic::AtomicBool,
    furthest_early_start: AtomicUsize,
}

#[async_trait]
impl Module for SlowFirst {
    async fn forward(
        &self,
        _lm: &dyn LanguageModel,
        inputs: &Example,
    ) -> std::result::Result<Prediction, PredictError> {
        let x = inputs.get("x").and_then(Value::as_i64).unwrap_or_default();
        if x == 0 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            self.first_done.store(true, Ordering::SeqCst);
        } else {
            if !self.first_done.load(Ordering::SeqCst) {
                self.furthest_early_start.fetch_max(x as usize, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(prediction(json!(x * 2), 1))
    }
}

#[tokio::test]
async fn the_reorder_window_bounds_how_far_ahead_examples_start() {
    let module = SlowFirst::default();
    let mut seen = Vec::new();
    let summary = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_concurrency(4)
        .with_reorder_window(10)
        .evaluate_each(&module, &NoLm, &examples(50), |r| seen.push(r.index))
        .await;
    assert_eq!(summary.n, 50);
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
    // While example 0 ran, examples 1..=9 could start and finish, but not 10 or later: at most
    // 9 finished results waited for it.
    assert_eq!(module.furthest_early_start.load(Ordering::SeqCst), 9);
}

#[tokio::test]
async fn a_stopped_stream_still_hands_on_the_finished_results_in_order() {
    let token = CancellationToken::new();
    let seen = token.clone();
    let mut streamed = Vec::new();
    let summary = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .with_concurrency(6)
        .with_cancel(token)
        .with_progress(move |done, _, _| {
            if done == 5 {
                seen.cancel();
            }
        })
        .evaluate_each(&Doubler::default(), &NoLm, &examples(40), |r| streamed.push(r.index))
        .await;
    assert_eq!(summary.stopped, Some(StopReason::Cancelled));
    assert_eq!((summary.n, streamed.len(), summary.scores.len()), (5, 5, 5));
    // Doubler's later examples finish first, so these are not 0..5, but they come sorted.
    assert!(streamed.windows(2).all(|w| w[0] < w[1]), "{streamed:?}");
}

#[tokio::test]
async fn jsonl_streamed_to_disk_reads_back_and_converts_to_the_same_csv() {
    let report = Evaluator::new(metric_by_name("numeric_match", "answer").unwrap())
        .evaluate(&Doubler::default(), &NoLm, &examples(6))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("r.jsonl");
    let mut w = JsonlWriter::create(&jsonl).unwrap();
    for r in &report.results {
        w.write(r).unwrap();
    }
    assert_eq!(w.written(), 6);
    assert_eq!(w.finish().unwrap(), 6);
    let back: Vec<ExampleResult> = read_results_jsonl(&jsonl).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(back, report.results);
    let (direct, converted) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    write_results(&direct, &report.results, ResultsFormat::Csv).unwrap();
    jsonl_to_csv(&jsonl, &converted).unwrap();
    assert_eq!(std::fs::read_to_string(&direct).unwrap(), std::fs::read_to_string(&converted).unwrap());

    std::fs::write(&jsonl, "{\"index\": 0}\n").unwrap();
    let err = jsonl_to_csv(&jsonl, &converted).unwrap_err();
    assert!(err.to_string().contains("r.jsonl line 1"), "{err}");
}

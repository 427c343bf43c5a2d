//! Metrics: how well a prediction matches an example's label, as a score in `[0, 1]` plus
//! feedback text that says why (optimizers such as GEPA feed that text back to the model).
//!
//! Built-in metrics are looked up by snake_case id with [`metric_by_name`]; an id may carry one
//! parameter after a colon (`regex:^\(?[A-E]\)?$`, `numeric_match:1e-3`).

/// Number finding, shared with the adapters' parsing (lives in core).
pub use promptsmith_core::numeric;
pub mod composite;
pub mod ifeval;
pub mod judge;
pub mod quality;
pub mod rouge;
pub mod sets;
pub mod spec;
pub mod text;

use crate::error::{EvalError, Result};
use async_trait::async_trait;
use numeric::{find_numbers, format_number, numbers_match};
use promptsmith_core::{value_to_text, Example, Prediction, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use text::{excerpt, normalize_basic, token_f1};

/// The field compared when none is given.
pub const DEFAULT_FIELD: &str = "answer";

/// Ids of the built-in metrics.
pub const METRIC_IDS: &[&str] = &[
    "exact_match",
    "numeric_match",
    "f1",
    "contains",
    "regex",
    "label_match",
    "rouge_l",
    "set_f1",
    "set_precision",
    "set_recall",
    "ifeval",
    "judge",
    "rubric",
];

/// Default relative tolerance of [`NumericMatch`].
pub const DEFAULT_REL_TOL: f64 = 1e-6;

/// Longest excerpt of a value quoted in feedback.
const QUOTE_CHARS: usize = 200;

/// A score in `[0, 1]` and, optionally, text explaining it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricResult {
    /// The score, in `[0, 1]`.
    pub score: f64,
    /// Why the score is what it is (e.g. `expected 18, got 16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// The parts of a composite score, in the order they were configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<PartScore>,
    /// Model calls the metric itself made (an LLM judge).
    #[serde(default, skip_serializing_if = "MetricSpend::is_zero")]
    pub spent: MetricSpend,
    /// Set when the metric could not score at all (e.g. the judge model failed); the score is
    /// then 0 and the evaluator counts a metric error rather than a wrong answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One part of a composite score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartScore {
    /// The part's name (e.g. `accuracy`).
    pub name: String,
    /// Its weight, normalized so the weights sum to 1.
    pub weight: f64,
    /// Its score in `[0, 1]`.
    pub score: f64,
}

/// Tokens and calls a metric spent on its own model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetricSpend {
    /// Tokens.
    pub usage: Usage,
    /// Calls.
    pub lm_calls: u32,
}

impl MetricSpend {
    /// Whether nothing was spent.
    pub fn is_zero(&self) -> bool {
        self.lm_calls == 0 && self.usage.total() == 0
    }
}

impl std::ops::AddAssign for MetricSpend {
    fn add_assign(&mut self, rhs: Self) {
        self.usage += rhs.usage;
        self.lm_calls += rhs.lm_calls;
    }
}

impl MetricResult {
    /// A score with feedback. The score is clamped to `[0, 1]`; NaN becomes 0.
    pub fn new(score: f64, feedback: impl Into<String>) -> Self {
        MetricResult { score: clamp_score(score), feedback: Some(feedback.into()), ..Default::default() }
    }

    /// A score without feedback (clamped like [`MetricResult::new`]).
    pub fn score_only(score: f64) -> Self {
        MetricResult { score: clamp_score(score), ..Default::default() }
    }

    /// The metric could not score: score 0, the reason as both error and feedback.
    pub fn metric_error(message: impl Into<String>) -> Self {
        let message = message.into();
        MetricResult { score: 0.0, feedback: Some(message.clone()), error: Some(message), ..Default::default() }
    }

    /// Score 0 with the given explanation.
    pub fn fail(feedback: impl Into<String>) -> Self {
        MetricResult::new(0.0, feedback)
    }

    /// Whether the score is 1.
    pub fn is_perfect(&self) -> bool {
        self.score >= 1.0
    }
}

pub(crate) fn clamp_score(score: f64) -> f64 {
    if score.is_nan() {
        0.0
    } else {
        score.clamp(0.0, 1.0)
    }
}

/// Scores one prediction against one example.
///
/// Async so that a metric may call a model (an LLM judge); metrics that only compute implement
/// `score` with a body that never awaits. Implement it with `#[async_trait::async_trait]`.
#[async_trait]
pub trait Metric: Send + Sync {
    /// The metric's id (e.g. `exact_match`), for reports.
    fn name(&self) -> &str;

    /// Scores `prediction` against the labels of `example`.
    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult;
}

/// Builds a built-in metric from its id (optionally `id:param`) comparing `field`.
///
/// - `exact_match`: equal after trimming, lowercasing and collapsing whitespace.
/// - `numeric_match[:rel_tol]`: the last number on each side, equal within a relative tolerance
///   (default 1e-6).
/// - `f1`: SQuAD token F1 (partial credit).
/// - `contains`: the prediction contains the expected text (normalized like `exact_match`).
/// - `regex[:pattern]`: see [`RegexMatch`].
/// - `label_match`: a class label, see [`LabelMatch`].
/// - `rouge_l`: ROUGE-L F-measure over tokens, see [`rouge::RougeL`].
/// - `set_f1`, `set_precision`, `set_recall`: lists compared as sets, see [`sets::SetMetric`].
/// - `ifeval[:all|loose|loose_all]`: IFEval instruction checks on the response in `field`, see
///   [`ifeval::IfEvalMetric`].
/// - `judge`: a pass/fail judge's `pass`, `confidence` and `reasoning` against the labelled
///   `pass` (agreement 60%, calibration 20%, reasoning 20%), see [`quality::JudgeMetric`].
/// - `rubric`: a rubric scorer's `score`, `reasoning` and `suggestions` against the reference
///   `score` (accuracy 50%, reasoning 30%, suggestions 20%), see [`quality::RubricMetric`].
///
/// When the expected value is a JSON array, each element is an acceptable answer and the best
/// score counts.
pub fn metric_by_name(id: &str, field: &str) -> Result<Box<dyn Metric>> {
    let (base, param) = match id.split_once(':') {
        Some((base, param)) => (base, Some(param)),
        None => (id, None),
    };
    let no_param = |metric: Box<dyn Metric>| match param {
        Some(_) => Err(EvalError::InvalidMetric { id: base.to_string(), message: "takes no parameter".into() }),
        None => Ok(metric),
    };
    match base {
        "exact_match" => no_param(Box::new(ExactMatch::new(field))),
        "f1" => no_param(Box::new(F1::new(field))),
        "contains" => no_param(Box::new(Contains::new(field))),
        "label_match" => no_param(Box::new(LabelMatch::new(field))),
        "rouge_l" => no_param(Box::new(rouge::RougeL::new(field))),
        "set_f1" => no_param(Box::new(sets::SetMetric::f1(field))),
        "set_precision" => no_param(Box::new(sets::SetMetric::precision(field))),
        "set_recall" => no_param(Box::new(sets::SetMetric::recall(field))),
        "ifeval" => Ok(Box::new(ifeval::IfEvalMetric::from_param(field, param)?)),
        "judge" => no_param(Box::new(quality::JudgeMetric)),
        "rubric" => no_param(Box::new(quality::RubricMetric)),
        "numeric_match" => {
            let rel_tol = match param {
                None => DEFAULT_REL_TOL,
                Some(p) => p.trim().parse::<f64>().ok().filter(|t| t.is_finite() && *t >= 0.0).ok_or_else(|| {
                    EvalError::InvalidMetric {
                        id: base.to_string(),
                        message: format!("tolerance '{p}' is not a non-negative number"),
                    }
                })?,
            };
            Ok(Box::new(NumericMatch::new(field).with_tolerance(rel_tol)))
        }
        "regex" => match param {
            None => Ok(Box::new(RegexMatch::expected_as_pattern(field))),
            Some(pattern) => Ok(Box::new(RegexMatch::with_pattern(field, pattern)?)),
        },
        _ => Err(EvalError::UnknownMetric {
            id: id.to_string(),
            known: METRIC_IDS.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

/// The expected values (several when the label is a JSON array) and the predicted text, or the
/// failing result when either side is missing.
fn sides(
    example: &Example,
    prediction: &Prediction,
    field: &str,
) -> std::result::Result<(Vec<Value>, String), MetricResult> {
    let expected = match example.get(field) {
        None | Some(Value::Null) => {
            return Err(MetricResult::fail(format!("example has no label '{field}' to compare against")))
        }
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(v) => vec![v.clone()],
    };
    let predicted = match prediction.get(field) {
        None | Some(Value::Null) => return Err(MetricResult::fail(format!("prediction has no field '{field}'"))),
        Some(v) => value_to_text(v),
    };
    Ok((expected, predicted))
}

/// [`sides`] with the expected values as text.
fn text_sides(
    example: &Example,
    prediction: &Prediction,
    field: &str,
) -> std::result::Result<(Vec<String>, String), MetricResult> {
    let (expected, predicted) = sides(example, prediction, field)?;
    Ok((expected.iter().map(value_to_text).collect(), predicted))
}

/// Quoted expected value(s) for feedback: `'x'` or `one of 'x', 'y'`.
fn describe_expected(expected: &[String]) -> String {
    match expected {
        [one] => format!("'{}'", excerpt(one, QUOTE_CHARS)),
        many => format!(
            "one of {}",
            many.iter().map(|e| format!("'{}'", excerpt(e, QUOTE_CHARS))).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Declares a metric struct over one field, with `new(field)` and a `Default` on
/// [`DEFAULT_FIELD`].
macro_rules! field_metric {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            field: String,
        }

        impl $name {
            /// Compares `field`.
            pub fn new(field: impl Into<String>) -> Self {
                $name { field: field.into() }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new(DEFAULT_FIELD)
            }
        }
    };
}

field_metric! {
    /// Equal after trimming, lowercasing and collapsing whitespace.
    ExactMatch
}

#[async_trait]
impl Metric for ExactMatch {
    fn name(&self) -> &str {
        "exact_match"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let (expected, predicted) = match text_sides(example, prediction, &self.field) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let got = normalize_basic(&predicted);
        if expected.iter().any(|e| normalize_basic(e) == got) {
            MetricResult::new(1.0, format!("correct: '{}'", excerpt(&predicted, QUOTE_CHARS)))
        } else {
            MetricResult::fail(format!(
                "expected {}, got '{}'",
                describe_expected(&expected),
                excerpt(&predicted, QUOTE_CHARS)
            ))
        }
    }
}

field_metric! {
    /// The prediction contains the expected text (both normalized like [`ExactMatch`]).
    Contains
}

#[async_trait]
impl Metric for Contains {
    fn name(&self) -> &str {
        "contains"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let (expected, predicted) = match text_sides(example, prediction, &self.field) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let got = normalize_basic(&predicted);
        match expected.iter().find(|e| got.contains(&normalize_basic(e))) {
            Some(e) => MetricResult::new(1.0, format!("correct: the answer contains '{}'", excerpt(e, QUOTE_CHARS))),
            None => MetricResult::fail(format!(
                "expected the answer to contain {}, got '{}'",
                describe_expected(&expected),
                excerpt(&predicted, QUOTE_CHARS)
            )),
        }
    }
}

field_metric! {
    /// SQuAD token F1 (lowercase, no punctuation or articles), as partial credit.
    F1
}

#[async_trait]
impl Metric for F1 {
    fn name(&self) -> &str {
        "f1"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let (expected, predicted) = match text_sides(example, prediction, &self.field) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let mut best: Option<(f64, f64, f64, &String)> = None;
        for e in &expected {
            let r = token_f1(&predicted, e);
            if best.is_none_or(|(f1, ..)| r.f1 > f1) {
                best = Some((r.f1, r.precision, r.recall, e));
            }
        }
        let Some((f1, precision, recall, reference)) = best else {
            return MetricResult::fail(format!("example has no label '{}' to compare against", self.field));
        };
        let got = excerpt(&predicted, QUOTE_CHARS);
        let reference = excerpt(reference, QUOTE_CHARS);
        if f1 >= 1.0 {
            MetricResult::new(1.0, format!("correct: '{got}'"))
        } else {
            MetricResult::new(
                f1,
                format!("token F1 {f1:.2} (precision {precision:.2}, recall {recall:.2}): expected '{reference}', got '{got}'"),
            )
        }
    }
}

/// Numbers equal within a relative tolerance. Each side is a JSON number or text; from text the
/// last number is taken (`"The answer is $1,234.50."` gives 1234.5; `3/4` gives 0.75).
#[derive(Debug, Clone)]
pub struct NumericMatch {
    field: String,
    rel_tol: f64,
}

impl NumericMatch {
    /// Compares `field` with the default tolerance (1e-6 relative).
    pub fn new(field: impl Into<String>) -> Self {
        NumericMatch { field: field.into(), rel_tol: DEFAULT_REL_TOL }
    }

    /// Sets the relative tolerance.
    pub fn with_tolerance(mut self, rel_tol: f64) -> Self {
        self.rel_tol = rel_tol;
        self
    }
}

impl Default for NumericMatch {
    fn default() -> Self {
        NumericMatch::new(DEFAULT_FIELD)
    }
}

/// A JSON number as is; text through [`numeric::last_number`].
fn value_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        other => find_numbers(&value_to_text(other)).last().map(|n| n.value),
    }
}

#[async_trait]
impl Metric for NumericMatch {
    fn name(&self) -> &str {
        "numeric_match"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let (expected, predicted_text) = match sides(example, prediction, &self.field) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let expected_numbers: Vec<f64> = expected.iter().filter_map(value_number).collect();
        if expected_numbers.is_empty() {
            let shown: Vec<String> = expected.iter().map(value_to_text).collect();
            return MetricResult::fail(format!("expected value {} holds no number", describe_expected(&shown)));
        }
        let shown_expected = match expected_numbers.as_slice() {
            [one] => format_number(*one),
            many => format!("one of {}", many.iter().map(|n| format_number(*n)).collect::<Vec<_>>().join(", ")),
        };
        let predicted = prediction.get(&self.field).and_then(value_number);
        match predicted {
            None => MetricResult::fail(format!(
                "expected {shown_expected}, got no number in '{}'",
                excerpt(&predicted_text, QUOTE_CHARS)
            )),
            Some(got) if expected_numbers.iter().any(|e| numbers_match(*e, got, self.rel_tol)) => {
                MetricResult::new(1.0, format!("correct: {}", format_number(got)))
            }
            Some(got) => MetricResult::fail(format!("expected {shown_expected}, got {}", format_number(got))),
        }
    }
}

/// Regular-expression metric, in one of three modes:
///
/// - no pattern (`regex`): the expected value is itself a pattern the prediction must match
///   (unanchored; use `^...$` to anchor, `(?i)` for case-insensitivity);
/// - a pattern without capture groups (`regex:^\d+$`): score 1 when the prediction matches;
/// - a pattern with a capture group (`regex:answer is (\w+)`): the text captured by the group
///   named `answer`, else group 1, from the first match must equal the expected value
///   (normalized like [`ExactMatch`]).
#[derive(Debug, Clone)]
pub struct RegexMatch {
    field: String,
    pattern: Option<regex::Regex>,
}

impl RegexMatch {
    /// Treats each example's expected value as the pattern.
    pub fn expected_as_pattern(field: impl Into<String>) -> Self {
        RegexMatch { field: field.into(), pattern: None }
    }

    /// Uses a fixed pattern.
    pub fn with_pattern(field: impl Into<String>, pattern: &str) -> Result<Self> {
        let re = regex::Regex::new(pattern)
            .map_err(|e| EvalError::InvalidMetric { id: "regex".into(), message: format!("invalid pattern: {e}") })?;
        Ok(RegexMatch { field: field.into(), pattern: Some(re) })
    }
}

#[async_trait]
impl Metric for RegexMatch {
    fn name(&self) -> &str {
        "regex"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let got = match prediction.get(&self.field) {
            None | Some(Value::Null) => return MetricResult::fail(format!("prediction has no field '{}'", self.field)),
            Some(v) => value_to_text(v),
        };
        let shown_got = excerpt(&got, QUOTE_CHARS);
        let Some(re) = &self.pattern else {
            let (patterns, _) = match text_sides(example, prediction, &self.field) {
                Ok(s) => s,
                Err(r) => return r,
            };
            let mut invalid = Vec::new();
            for p in &patterns {
                match regex::Regex::new(p) {
                    Ok(re) if re.is_match(&got) => return MetricResult::new(1.0, format!("correct: matches /{p}/")),
                    Ok(_) => {}
                    Err(e) => invalid.push(format!("/{p}/ is not a valid pattern ({e})")),
                }
            }
            let mut feedback = format!("'{shown_got}' does not match {}", describe_patterns(&patterns));
            if !invalid.is_empty() {
                feedback.push_str(&format!("; {}", invalid.join("; ")));
            }
            return MetricResult::fail(feedback);
        };
        if re.captures_len() <= 1 {
            return if re.is_match(&got) {
                MetricResult::new(1.0, format!("correct: matches /{}/", re.as_str()))
            } else {
                MetricResult::fail(format!("'{shown_got}' does not match /{}/", re.as_str()))
            };
        }
        let (expected, _) = match text_sides(example, prediction, &self.field) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let captured = re.captures(&got).and_then(|c| c.name("answer").or_else(|| c.get(1))).map(|m| m.as_str());
        match captured {
            None => MetricResult::fail(format!(
                "expected {}, but /{}/ found nothing in '{shown_got}'",
                describe_expected(&expected),
                re.as_str()
            )),
            Some(c) if expected.iter().any(|e| normalize_basic(e) == normalize_basic(c)) => {
                MetricResult::new(1.0, format!("correct: '{}'", excerpt(c, QUOTE_CHARS)))
            }
            Some(c) => MetricResult::fail(format!(
                "expected {}, got '{}' (extracted with /{}/)",
                describe_expected(&expected),
                excerpt(c, QUOTE_CHARS),
                re.as_str()
            )),
        }
    }
}

fn describe_patterns(patterns: &[String]) -> String {
    match patterns {
        [one] => format!("/{one}/"),
        many => format!("any of {}", many.iter().map(|p| format!("/{p}/")).collect::<Vec<_>>().join(", ")),
    }
}

/// A class label (intent, category): equal after lowercasing, dropping surrounding quotes,
/// brackets and punctuation, a leading `label:`, and treating `_`, `-` and spaces alike, so
/// `"Card Arrival."` matches `card_arrival`.
#[derive(Debug, Clone)]
pub struct LabelMatch {
    field: String,
}

impl LabelMatch {
    /// Compares `field`.
    pub fn new(field: impl Into<String>) -> Self {
        LabelMatch { field: field.into() }
    }
}

/// The canonical form [`LabelMatch`] compares.
pub fn normalize_label(text: &str) -> String {
    let mut t = text.trim();
    if let Some((head, rest)) = t.split_once(':') {
        if matches!(head.trim().to_lowercase().as_str(), "label" | "intent" | "category" | "class" | "answer") {
            t = rest.trim();
        }
    }
    let t = t.trim_matches(|c: char| !c.is_alphanumeric());
    let mut out = String::with_capacity(t.len());
    let mut gap = false;
    for c in t.chars() {
        if c == '_' || c == '-' || c.is_whitespace() {
            gap = !out.is_empty();
        } else {
            if gap {
                out.push('_');
                gap = false;
            }
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[async_trait]
impl Metric for LabelMatch {
    fn name(&self) -> &str {
        "label_match"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let (expected, predicted) = match text_sides(example, prediction, &self.field) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let got = normalize_label(&predicted);
        if expected.iter().any(|e| normalize_label(e) == got) {
            MetricResult::new(1.0, format!("correct label '{got}'"))
        } else {
            MetricResult::fail(format!(
                "expected label {}, got '{}'",
                describe_expected(&expected),
                excerpt(&predicted, QUOTE_CHARS)
            ))
        }
    }
}

/// A metric from a closure, for metrics written in code.
pub struct FnMetric<F> {
    name: String,
    f: F,
}

impl<F> std::fmt::Debug for FnMetric<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnMetric").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<F> FnMetric<F>
where
    F: Fn(&Example, &Prediction) -> MetricResult + Send + Sync,
{
    /// Wraps `f` under `name`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnMetric { name: name.into(), f }
    }
}

#[async_trait]
impl<F> Metric for FnMetric<F>
where
    F: Fn(&Example, &Prediction) -> MetricResult + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let mut r = (self.f)(example, prediction);
        r.score = clamp_score(r.score);
        r
    }
}

#[cfg(test)]
mod tests;

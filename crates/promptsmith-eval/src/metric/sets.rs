//! Set precision, recall and F1 for list outputs (entity and relation extraction).
//!
//! Both sides are turned into sets of normalized items:
//! - a JSON array gives one item per element; a string holding a JSON array (`'["a", "b"]'`) is
//!   parsed as one; any other string is split on commas, semicolons and newlines, and list
//!   markers (`-`, `*`, `•`, `1.`, `2)`) at the start of each piece are dropped;
//! - a string item is trimmed, lowercased and its whitespace collapsed; numbers and booleans use
//!   their JSON text; objects and arrays (relations such as `{"head", "relation", "tail"}`)
//!   become canonical JSON (keys sorted, every string inside normalized), so key order and case
//!   do not matter;
//! - empty items and `null` are dropped, and duplicates count once.

use super::text::{excerpt, normalize_basic};
use super::{Metric, MetricResult, DEFAULT_FIELD};
use promptsmith_core::{Example, Prediction};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Most missing or extra items named in feedback, per kind.
const MAX_LISTED: usize = 5;

/// Longest excerpt of one item quoted in feedback.
const ITEM_CHARS: usize = 80;

/// Which number a set metric reports as its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetScore {
    /// Share of predicted items that are expected.
    Precision,
    /// Share of expected items that were predicted.
    Recall,
    /// Harmonic mean of precision and recall.
    F1,
}

/// Precision, recall and F1 of two sets, with what differs.
#[derive(Debug, Clone, PartialEq)]
pub struct SetComparison {
    /// Share of predicted items that are expected (1 when both sets are empty, 0 when only the
    /// prediction is).
    pub precision: f64,
    /// Share of expected items that were predicted (1 when both sets are empty, 0 when only the
    /// expectation is).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Expected items not predicted, sorted.
    pub missing: Vec<String>,
    /// Predicted items not expected, sorted.
    pub extra: Vec<String>,
}

/// Compares two sets of normalized items.
pub fn compare_sets(expected: &BTreeSet<String>, predicted: &BTreeSet<String>) -> SetComparison {
    let common = expected.intersection(predicted).count() as f64;
    let ratio = |n: usize, other_empty: bool| {
        if n == 0 {
            if other_empty {
                1.0
            } else {
                0.0
            }
        } else {
            common / n as f64
        }
    };
    let precision = ratio(predicted.len(), expected.is_empty());
    let recall = ratio(expected.len(), predicted.is_empty());
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    SetComparison {
        precision,
        recall,
        f1,
        missing: expected.difference(predicted).cloned().collect(),
        extra: predicted.difference(expected).cloned().collect(),
    }
}

/// Normalizes one item; `None` for `null` and empty items.
pub fn normalize_item(item: &Value) -> Option<String> {
    match item {
        Value::Null => None,
        Value::String(s) => Some(normalize_basic(s)).filter(|s| !s.is_empty()),
        Value::Number(_) | Value::Bool(_) => Some(item.to_string()),
        Value::Array(_) | Value::Object(_) => Some(canonical(item).to_string()),
    }
}

/// The value with object keys sorted and every string normalized.
fn canonical(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(normalize_basic(s)),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(normalize_basic(k), canonical(&map[k]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Drops a list marker (`-`, `*`, `•`, `1.`, `2)`) at the start of a piece of text.
fn strip_list_marker(piece: &str) -> &str {
    let t = piece.trim_start();
    if let Some(rest) = t.strip_prefix(['-', '*', '•']) {
        return rest;
    }
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        let rest = &t[digits..];
        if let Some(after) = rest.strip_prefix(['.', ')']) {
            if after.is_empty() || after.starts_with(char::is_whitespace) {
                return after;
            }
        }
    }
    t
}

/// The set of normalized items of a value (see the module docs).
pub fn item_set(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Null => BTreeSet::new(),
        Value::Array(items) => items.iter().filter_map(normalize_item).collect(),
        Value::String(s) => {
            let trimmed = s.trim();
            if trimmed.starts_with('[') {
                if let Ok(parsed @ Value::Array(_)) = serde_json::from_str::<Value>(trimmed) {
                    return item_set(&parsed);
                }
            }
            trimmed
                .split([',', ';', '\n'])
                .filter_map(|piece| normalize_item(&Value::String(strip_list_marker(piece).to_string())))
                .collect()
        }
        other => normalize_item(other).into_iter().collect(),
    }
}

/// `'a', 'b' (and 3 more)`.
fn list_items(items: &[String]) -> String {
    let shown: Vec<String> = items.iter().take(MAX_LISTED).map(|i| format!("'{}'", excerpt(i, ITEM_CHARS))).collect();
    let mut out = shown.join(", ");
    if items.len() > MAX_LISTED {
        out.push_str(&format!(" (and {} more)", items.len() - MAX_LISTED));
    }
    out
}

/// Set precision, recall or F1 over list values (ids `set_precision`, `set_recall`, `set_f1`).
/// The feedback gives all three and names missing and extra items (a few of each).
#[derive(Debug, Clone)]
pub struct SetMetric {
    field: String,
    score: SetScore,
}

impl SetMetric {
    /// Compares `field`, scoring by `score`.
    pub fn new(field: impl Into<String>, score: SetScore) -> Self {
        SetMetric { field: field.into(), score }
    }

    /// Set F1 over `field`.
    pub fn f1(field: impl Into<String>) -> Self {
        SetMetric::new(field, SetScore::F1)
    }

    /// Set precision over `field`.
    pub fn precision(field: impl Into<String>) -> Self {
        SetMetric::new(field, SetScore::Precision)
    }

    /// Set recall over `field`.
    pub fn recall(field: impl Into<String>) -> Self {
        SetMetric::new(field, SetScore::Recall)
    }

    /// The metric id.
    pub fn id(&self) -> &'static str {
        match self.score {
            SetScore::Precision => "set_precision",
            SetScore::Recall => "set_recall",
            SetScore::F1 => "set_f1",
        }
    }

    /// Scores the predicted list against the expected one.
    pub fn score_sync(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let expected = match example.get(&self.field) {
            None => return MetricResult::fail(format!("example has no label '{}' to compare against", self.field)),
            Some(v) => item_set(v),
        };
        let predicted = match prediction.get(&self.field) {
            None => return MetricResult::fail(format!("prediction has no field '{}'", self.field)),
            Some(v) => item_set(v),
        };
        let c = compare_sets(&expected, &predicted);
        let score = match self.score {
            SetScore::Precision => c.precision,
            SetScore::Recall => c.recall,
            SetScore::F1 => c.f1,
        };
        if c.missing.is_empty() && c.extra.is_empty() {
            let what = match expected.len() {
                0 => "both lists are empty".to_string(),
                n => format!("all {n} item(s) match"),
            };
            return MetricResult::new(score, format!("correct: {what}"));
        }
        let mut feedback = format!(
            "precision {:.2}, recall {:.2}, F1 {:.2} ({} of {} expected item(s) found, {} predicted)",
            c.precision,
            c.recall,
            c.f1,
            expected.len() - c.missing.len(),
            expected.len(),
            predicted.len()
        );
        if !c.missing.is_empty() {
            feedback.push_str(&format!("; missing: {}", list_items(&c.missing)));
        }
        if !c.extra.is_empty() {
            feedback.push_str(&format!("; extra: {}", list_items(&c.extra)));
        }
        MetricResult::new(score, feedback)
    }
}

impl Default for SetMetric {
    fn default() -> Self {
        SetMetric::f1(DEFAULT_FIELD)
    }
}

#[async_trait::async_trait]
impl Metric for SetMetric {
    fn name(&self) -> &str {
        self.id()
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        self.score_sync(example, prediction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)] // takes json!() literals
    fn set(v: Value) -> Vec<String> {
        item_set(&v).into_iter().collect()
    }

    fn scored(metric: &SetMetric, expected: Value, predicted: Value) -> MetricResult {
        let ex = Example::default().with("entities", expected);
        let mut p = Prediction::default();
        p.fields.insert("entities".into(), predicted);
        metric.score_sync(&ex, &p)
    }

    #[test]
    fn items_are_normalized_and_deduplicated() {
        assert_eq!(set(json!(["  New   York ", "new york", "Paris", "", null, 3])), vec!["3", "new york", "paris"]);
        assert_eq!(
            set(json!("Paris, London;\n- Rome\n2. Berlin\n* Oslo,")),
            vec!["berlin", "london", "oslo", "paris", "rome"]
        );
        assert_eq!(set(json!("[\"A\", \"b\"]")), vec!["a", "b"]);
        // Not a list marker: a number that is the item itself, or a hyphenated word.
        assert_eq!(set(json!("3.5, x-ray, 1999")), vec!["1999", "3.5", "x-ray"]);
        assert!(set(json!("  ")).is_empty());
        assert!(set(json!(null)).is_empty());
    }

    #[test]
    fn objects_compare_as_canonical_json() {
        let a = set(json!([{"head": "Marie Curie", "relation": "born_in", "tail": "Warsaw"}]));
        let b = set(json!([{"tail": " warsaw", "head": "MARIE  curie", "relation": "born_in"}]));
        assert_eq!(a, b);
        assert_eq!(a, vec![r#"{"head":"marie curie","relation":"born_in","tail":"warsaw"}"#]);
        let c = set(json!([{"head": "Marie Curie", "relation": "died_in", "tail": "Warsaw"}]));
        assert_ne!(a, c);
    }

    #[test]
    fn precision_recall_f1() {
        let e: BTreeSet<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let p: BTreeSet<String> = ["a", "b", "x"].iter().map(|s| s.to_string()).collect();
        let c = compare_sets(&e, &p);
        assert!((c.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.recall - 0.5).abs() < 1e-12);
        assert!((c.f1 - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(c.missing, vec!["c", "d"]);
        assert_eq!(c.extra, vec!["x"]);

        let empty = BTreeSet::new();
        let both = compare_sets(&empty, &empty);
        assert_eq!((both.precision, both.recall, both.f1), (1.0, 1.0, 1.0));
        let none_predicted = compare_sets(&e, &empty);
        assert_eq!((none_predicted.precision, none_predicted.recall, none_predicted.f1), (0.0, 0.0, 0.0));
        let none_expected = compare_sets(&empty, &p);
        assert_eq!((none_expected.precision, none_expected.recall, none_expected.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn metrics_and_feedback() {
        let expected = json!(["Alice", "Bob", "Carol"]);
        let predicted = json!("alice, Dave");
        let f1 = scored(&SetMetric::f1("entities"), expected.clone(), predicted.clone());
        assert!((f1.score - 0.4).abs() < 1e-12);
        assert_eq!(
            f1.feedback.as_deref(),
            Some("precision 0.50, recall 0.33, F1 0.40 (1 of 3 expected item(s) found, 2 predicted); missing: 'bob', 'carol'; extra: 'dave'")
        );
        assert!(
            (scored(&SetMetric::precision("entities"), expected.clone(), predicted.clone()).score - 0.5).abs() < 1e-12
        );
        assert!((scored(&SetMetric::recall("entities"), expected, predicted).score - 1.0 / 3.0).abs() < 1e-12);

        let r = scored(&SetMetric::f1("entities"), json!([]), json!(""));
        assert_eq!((r.score, r.feedback.as_deref()), (1.0, Some("correct: both lists are empty")));
        let r = scored(&SetMetric::f1("entities"), json!(["x"]), json!(["X "]));
        assert_eq!((r.score, r.feedback.as_deref()), (1.0, Some("correct: all 1 item(s) match")));
    }

    #[test]
    fn feedback_lists_only_a_few_items() {
        let expected: Vec<String> = (0..8).map(|i| format!("e{i}")).collect();
        let r = scored(&SetMetric::f1("entities"), json!(expected), json!([]));
        assert_eq!(r.score, 0.0);
        assert!(r.feedback.unwrap_or_default().ends_with("missing: 'e0', 'e1', 'e2', 'e3', 'e4' (and 3 more)"));
    }

    #[test]
    fn missing_fields_fail() {
        let m = SetMetric::f1("entities");
        let r = m.score_sync(&Example::default(), &Prediction::default());
        assert_eq!(r.feedback.as_deref(), Some("example has no label 'entities' to compare against"));
        let ex = Example::default().with("entities", json!(["a"]));
        assert_eq!(
            m.score_sync(&ex, &Prediction::default()).feedback.as_deref(),
            Some("prediction has no field 'entities'")
        );
    }

    #[test]
    fn ids() {
        assert_eq!(SetMetric::f1("x").id(), "set_f1");
        assert_eq!(SetMetric::precision("x").id(), "set_precision");
        assert_eq!(SetMetric::recall("x").id(), "set_recall");
    }
}

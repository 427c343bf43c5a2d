//! ROUGE-L: the F-measure of the longest common subsequence of tokens, as the `rouge-score`
//! package's `rougeL` (sentence-level, no stemming).
//!
//! Tokens are runs of letters and digits after lowercasing; everything else separates them.
//! For ASCII text this is `rouge-score`'s default tokenizer exactly; unlike it, letters outside
//! ASCII are kept as letters (rouge-score replaces them with spaces, so `café` becomes `caf`).

use super::text::excerpt;
use super::{Metric, MetricResult, DEFAULT_FIELD};
use promptsmith_core::{value_to_text, Example, Prediction};
use serde_json::Value;

/// Longest excerpt of a value quoted in feedback.
const QUOTE: usize = 120;

/// ROUGE-L precision, recall and F-measure of one prediction against one reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RougeScore {
    /// LCS length over the number of predicted tokens.
    pub precision: f64,
    /// LCS length over the number of reference tokens.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub fmeasure: f64,
}

/// Lowercased tokens: maximal runs of alphanumeric characters.
pub fn rouge_tokens(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// Length of the longest common subsequence of two token lists (O(n·m) time, O(m) memory).
pub fn lcs_len<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y { prev[j] + 1 } else { cur[j].max(prev[j + 1]) };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// ROUGE-L of `prediction` against `reference`. When both have no tokens the score is 1 (they
/// agree); when only one has none it is 0 (rouge-score gives 0 in both cases).
pub fn rouge_l(prediction: &str, reference: &str) -> RougeScore {
    let pred = rouge_tokens(prediction);
    let gold = rouge_tokens(reference);
    if pred.is_empty() || gold.is_empty() {
        let same = if pred.is_empty() && gold.is_empty() { 1.0 } else { 0.0 };
        return RougeScore { precision: same, recall: same, fmeasure: same };
    }
    let lcs = lcs_len(&pred, &gold) as f64;
    let precision = lcs / pred.len() as f64;
    let recall = lcs / gold.len() as f64;
    let fmeasure = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    RougeScore { precision, recall, fmeasure }
}

/// ROUGE-L F-measure metric (id `rouge_l`). When the expected value is a JSON array, each
/// element is a reference and the best F-measure counts. The feedback gives precision and recall.
#[derive(Debug, Clone)]
pub struct RougeL {
    field: String,
}

impl RougeL {
    /// Compares `field`.
    pub fn new(field: impl Into<String>) -> Self {
        RougeL { field: field.into() }
    }

    /// The metric id.
    pub fn id(&self) -> &'static str {
        "rouge_l"
    }

    /// Scores `prediction` against the example's references.
    pub fn score_sync(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let references: Vec<String> = match example.get(&self.field) {
            None | Some(Value::Null) => {
                return MetricResult::fail(format!("example has no label '{}' to compare against", self.field))
            }
            Some(Value::Array(items)) if !items.is_empty() => items.iter().map(value_to_text).collect(),
            Some(v) => vec![value_to_text(v)],
        };
        let predicted = match prediction.get(&self.field) {
            None | Some(Value::Null) => return MetricResult::fail(format!("prediction has no field '{}'", self.field)),
            Some(v) => value_to_text(v),
        };
        let mut best: Option<(RougeScore, &String)> = None;
        for r in &references {
            let s = rouge_l(&predicted, r);
            if best.is_none_or(|(b, _)| s.fmeasure > b.fmeasure) {
                best = Some((s, r));
            }
        }
        let Some((s, reference)) = best else {
            return MetricResult::fail(format!("example has no label '{}' to compare against", self.field));
        };
        if s.fmeasure >= 1.0 {
            return MetricResult::new(1.0, "ROUGE-L 1.00: the prediction matches the reference");
        }
        MetricResult::new(
            s.fmeasure,
            format!(
                "ROUGE-L F {:.2} (precision {:.2}, recall {:.2}): expected '{}', got '{}'",
                s.fmeasure,
                s.precision,
                s.recall,
                excerpt(reference, QUOTE),
                excerpt(&predicted, QUOTE)
            ),
        )
    }
}

impl Default for RougeL {
    fn default() -> Self {
        RougeL::new(DEFAULT_FIELD)
    }
}

#[async_trait::async_trait]
impl Metric for RougeL {
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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn tokens_lowercase_and_split_on_punctuation() {
        assert_eq!(rouge_tokens("The cat's HAT, 2-3!"), vec!["the", "cat", "s", "hat", "2", "3"]);
        assert_eq!(rouge_tokens("Café ÉTÉ"), vec!["café", "été"]);
        assert!(rouge_tokens(" ... ").is_empty());
    }

    #[test]
    fn lcs_lengths() {
        assert_eq!(lcs_len(&["a", "b", "c", "d"], &["a", "c", "d", "b"]), 3);
        assert_eq!(lcs_len::<&str>(&[], &["a"]), 0);
        assert_eq!(lcs_len(&[1, 2, 3], &[4, 5]), 0);
        assert_eq!(lcs_len(&[1, 2, 1, 2], &[2, 1, 2, 1]), 3);
    }

    #[test]
    fn values_match_rouge_score() {
        // rouge_score.RougeScorer(["rougeL"]).score("the cat sat on the mat", "the cat was on the mat"):
        // precision = recall = fmeasure = 5/6.
        let s = rouge_l("the cat was on the mat", "the cat sat on the mat");
        assert!(close(s.precision, 5.0 / 6.0) && close(s.recall, 5.0 / 6.0) && close(s.fmeasure, 5.0 / 6.0));
        // Prediction "police killed the gunman" vs reference "police kill the gunman": LCS 3 of 4.
        let s = rouge_l("police killed the gunman", "police kill the gunman");
        assert!(close(s.fmeasure, 0.75));
        // Unequal lengths: LCS("a b", "a x b y") = 2: precision 1, recall 0.5, F 2/3.
        let s = rouge_l("a b", "a x b y");
        assert!(close(s.precision, 1.0) && close(s.recall, 0.5) && close(s.fmeasure, 2.0 / 3.0));
        assert_eq!(rouge_l("", "").fmeasure, 1.0);
        assert_eq!(rouge_l("", "x").fmeasure, 0.0);
        assert_eq!(rouge_l("x y", "z").fmeasure, 0.0);
    }

    #[test]
    fn metric_feedback_and_best_reference() {
        let m = RougeL::new("summary");
        let ex = Example::default().with("summary", json!(["something else entirely", "the cat sat on the mat"]));
        let mut p = Prediction::default();
        p.fields.insert("summary".into(), json!("The cat was on the mat."));
        let r = m.score_sync(&ex, &p);
        assert!(close(r.score, 5.0 / 6.0));
        assert_eq!(
            r.feedback.as_deref(),
            Some(
                "ROUGE-L F 0.83 (precision 0.83, recall 0.83): expected 'the cat sat on the mat', got 'The cat was on the mat.'"
            )
        );
        p.fields.insert("summary".into(), json!("THE CAT SAT ON THE MAT!"));
        assert_eq!(m.score_sync(&ex, &p).score, 1.0);
        assert_eq!(m.score_sync(&Example::default(), &p).score, 0.0);
        assert_eq!(
            m.score_sync(&ex, &Prediction::default()).feedback.as_deref(),
            Some("prediction has no field 'summary'")
        );
    }
}

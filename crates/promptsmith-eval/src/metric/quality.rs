//! The self-improving evaluators' metrics and the heuristic quality scorer behind them.
//!
//! - [`JudgeMetric`] (`judge`): a pass/fail judge's output (`pass`, `confidence`, `reasoning`)
//!   against a labelled judgment (`pass`): agreement 60%, confidence calibration 20% (one minus
//!   the Brier score of the confidence in its own judgment), reasoning 20%.
//! - [`RubricMetric`] (`rubric`): a rubric scorer's output (`score` in [0, 1], `reasoning`,
//!   `suggestions`) against a reference `score`: score accuracy 50% (one minus the absolute
//!   error), reasoning 30%, suggestions 20%.
//! - [`reasoning_quality`], [`suggestion_quality`], [`judge_quality`], [`rubric_quality`]: the
//!   label-free heuristics (completeness, depth, reference to the criteria or artifact,
//!   actionability, validity), usable as a metric part and as a filter for training data.
//!
//! The texts a reasoning should refer to are the example's other fields (the artifact, the
//! criteria, the question, the context): every string field but the labels and outputs.

use super::{Metric, MetricResult, PartScore};
use async_trait::async_trait;
use promptsmith_core::{value_to_text, Example, Prediction};
use serde_json::Value;
use std::collections::BTreeSet;

/// Words of a reasoning that count as complete (more adds nothing).
const FULL_REASONING_WORDS: usize = 25;
/// Past this many words a reasoning is rambling and loses a little.
const LONG_REASONING_WORDS: usize = 300;
/// Distinct content words of the referenced texts that a reasoning should mention.
const REFERENCE_WORDS: usize = 5;

const STOPWORDS: &[&str] = &[
    "about", "after", "also", "because", "been", "before", "being", "does", "from", "have", "into", "more", "most",
    "only", "other", "should", "some", "such", "than", "that", "their", "them", "then", "there", "these", "they",
    "this", "very", "were", "what", "when", "where", "which", "while", "will", "with", "would", "your",
];

const CONNECTIVES: &[&str] = &["because", "since", "therefore", "so", "but", "however", "although", "as", "thus"];

const ACTION_VERBS: &[&str] = &[
    "add",
    "avoid",
    "change",
    "check",
    "cite",
    "clarify",
    "consider",
    "cut",
    "define",
    "delete",
    "describe",
    "document",
    "explain",
    "expand",
    "fix",
    "focus",
    "give",
    "include",
    "list",
    "make",
    "mention",
    "move",
    "provide",
    "reduce",
    "remove",
    "rephrase",
    "rename",
    "reorder",
    "replace",
    "restructure",
    "rewrite",
    "shorten",
    "simplify",
    "split",
    "state",
    "support",
    "test",
    "use",
    "verify",
];

/// Lowercased words of `text` (letters and digits).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Distinct content words (four letters or more, no stopwords).
fn content_words(text: &str) -> BTreeSet<String> {
    words(text).into_iter().filter(|w| w.chars().count() >= 4 && !STOPWORDS.contains(&w.as_str())).collect()
}

/// Share of the referenced texts' content words the reasoning mentions, against
/// [`REFERENCE_WORDS`] (or fewer when the texts have fewer); 1 when there is nothing to refer to.
fn reference_score(text: &str, references: &[String]) -> f64 {
    let wanted: BTreeSet<String> = references.iter().flat_map(|r| content_words(r)).collect();
    if wanted.is_empty() {
        return 1.0;
    }
    let have = content_words(text);
    let hits = wanted.intersection(&have).count();
    (hits as f64 / wanted.len().min(REFERENCE_WORDS) as f64).min(1.0)
}

/// A reasoning's quality in [0, 1]: complete (enough words, more than one sentence or a
/// connective such as "because") 60%, referring to the artifact or criteria 40%.
pub fn reasoning_quality(reasoning: &str, references: &[String]) -> f64 {
    let w = words(reasoning);
    if w.is_empty() {
        return 0.0;
    }
    let mut complete = (w.len() as f64 / FULL_REASONING_WORDS as f64).min(1.0);
    if w.len() > LONG_REASONING_WORDS {
        complete *= 0.8;
    }
    let sentences = reasoning.split(['.', '!', '?', ';']).filter(|s| !s.trim().is_empty()).count();
    let argued = sentences >= 2 || w.iter().any(|x| CONNECTIVES.contains(&x.as_str()));
    let complete = if argued { complete } else { complete * 0.7 };
    0.6 * complete + 0.4 * reference_score(reasoning, references)
}

/// The items of a suggestion list: a JSON array's elements, else lines, bullets or semicolons.
fn suggestion_items(value: &Value) -> Vec<String> {
    let from_text = |t: &str| -> Vec<String> {
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(t) {
            return items.iter().map(value_to_text).collect();
        }
        t.split(['\n', ';'])
            .map(|s| s.trim().trim_start_matches(['-', '*', '•', ' ']).trim())
            .map(|s| s.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')').trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    match value {
        Value::Array(items) => items.iter().map(value_to_text).collect(),
        Value::String(s) => from_text(s),
        Value::Null => Vec::new(),
        other => from_text(&value_to_text(other)),
    }
}

/// Suggestions' quality in [0, 1]: the share of items that are actionable (start with or use an
/// action verb, or say "should"/"could", and have at least four words); 0 without any item.
pub fn suggestion_quality(suggestions: &Value) -> f64 {
    let items = suggestion_items(suggestions);
    if items.is_empty() {
        return 0.0;
    }
    let actionable = items
        .iter()
        .filter(|item| {
            let w = words(item);
            w.len() >= 4 && w.iter().any(|x| ACTION_VERBS.contains(&x.as_str()) || x == "should" || x == "could")
        })
        .count();
    actionable as f64 / items.len() as f64
}

/// A number in [0, 1] from a value (a number or numeric text), if it is one.
fn unit_number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (0.0..=1.0).contains(&n).then_some(n)
}

/// A judgment from a value: booleans, `pass`/`fail`, `yes`/`no`, `true`/`false`.
fn judgment(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_lowercase().trim_matches(|c: char| !c.is_alphanumeric()) {
            "true" | "pass" | "passed" | "yes" | "1" => Some(true),
            "false" | "fail" | "failed" | "no" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_f64().map(|x| x >= 0.5),
        _ => None,
    }
}

/// The texts a reasoning should refer to: the example's string fields other than `skip`.
fn referenced_texts(example: &Example, skip: &[&str]) -> Vec<String> {
    example.fields.iter().filter(|(k, _)| !skip.contains(&k.as_str())).map(|(_, v)| value_to_text(v)).collect()
}

/// A label-free score of a judge's output: judgment clarity (a readable pass/fail), confidence
/// validity (a number in [0, 1]), reasoning depth and reference to the artifact (the inputs),
/// equally weighted.
pub fn judge_quality(inputs: &Example, prediction: &Prediction) -> Vec<PartScore> {
    let references = referenced_texts(inputs, &["pass"]);
    let reasoning = prediction.get("reasoning").map(value_to_text).unwrap_or_default();
    parts(&[
        ("judgment_clarity", 0.25, f64::from(u8::from(judgment(prediction.get("pass")).is_some()))),
        ("confidence_validity", 0.25, f64::from(u8::from(unit_number(prediction.get("confidence")).is_some()))),
        ("reasoning_depth", 0.25, reasoning_quality(&reasoning, &[])),
        ("artifact_reference", 0.25, reference_score(&reasoning, &references)),
    ])
}

/// A label-free score of a rubric scorer's output: score validity, reasoning completeness,
/// suggestion actionability and reference to the criteria, equally weighted.
pub fn rubric_quality(inputs: &Example, prediction: &Prediction) -> Vec<PartScore> {
    let criteria: Vec<String> = inputs.get("criteria").map(value_to_text).into_iter().collect();
    let reasoning = prediction.get("reasoning").map(value_to_text).unwrap_or_default();
    let suggestions = prediction.get("suggestions").cloned().unwrap_or(Value::Null);
    parts(&[
        ("score_validity", 0.25, f64::from(u8::from(unit_number(prediction.get("score")).is_some()))),
        ("reasoning_completeness", 0.25, reasoning_quality(&reasoning, &[])),
        ("suggestion_actionability", 0.25, suggestion_quality(&suggestions)),
        ("criteria_reference", 0.25, reference_score(&reasoning, &criteria)),
    ])
}

fn parts(list: &[(&str, f64, f64)]) -> Vec<PartScore> {
    list.iter()
        .map(|(name, weight, score)| PartScore { name: (*name).into(), weight: *weight, score: *score })
        .collect()
}

/// The weighted sum of parts, with feedback naming the weakest ones.
fn combine(parts: Vec<PartScore>, notes: Vec<String>) -> MetricResult {
    let score: f64 = parts.iter().map(|p| p.weight * p.score).sum();
    let mut weak: Vec<String> =
        parts.iter().filter(|p| p.score < 0.75).map(|p| format!("{} {:.2}", p.name, p.score)).collect();
    weak.extend(notes);
    let feedback = if weak.is_empty() { "every part is good".to_string() } else { weak.join("; ") };
    MetricResult { breakdown: parts, ..MetricResult::new(score, feedback) }
}

/// `judge`: agreement with the labelled `pass` 60%, calibration 20%, reasoning 20%.
#[derive(Debug, Clone, Copy, Default)]
pub struct JudgeMetric;

#[async_trait]
impl Metric for JudgeMetric {
    fn name(&self) -> &str {
        "judge"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let Some(expected) = judgment(example.get("pass")) else {
            return MetricResult::fail("example has no readable label 'pass' (true/false) to compare against");
        };
        let mut notes = Vec::new();
        let predicted = judgment(prediction.get("pass"));
        let agree = predicted == Some(expected);
        if !agree {
            notes.push(match predicted {
                Some(p) => format!("judged {} but the labelled judgment is {}", verdict(p), verdict(expected)),
                None => "the output has no readable pass/fail judgment".into(),
            });
        }
        let calibration = match unit_number(prediction.get("confidence")) {
            Some(c) => 1.0 - (c - f64::from(u8::from(agree))).powi(2),
            None => {
                notes.push("confidence is not a number in [0, 1]".into());
                0.0
            }
        };
        let reasoning = prediction.get("reasoning").map(value_to_text).unwrap_or_default();
        let references = referenced_texts(example, &["pass", "confidence", "reasoning"]);
        combine(
            parts(&[
                ("agreement", 0.6, f64::from(u8::from(agree))),
                ("calibration", 0.2, calibration),
                ("reasoning", 0.2, reasoning_quality(&reasoning, &references)),
            ]),
            notes,
        )
    }
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "pass"
    } else {
        "fail"
    }
}

/// `rubric`: score accuracy against the reference `score` 50%, reasoning 30%, suggestions 20%.
#[derive(Debug, Clone, Copy, Default)]
pub struct RubricMetric;

#[async_trait]
impl Metric for RubricMetric {
    fn name(&self) -> &str {
        "rubric"
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let Some(reference) = unit_number(example.get("score")) else {
            return MetricResult::fail("example has no reference 'score' in [0, 1] to compare against");
        };
        let mut notes = Vec::new();
        let accuracy = match unit_number(prediction.get("score")) {
            Some(s) => {
                if (s - reference).abs() > 0.2 {
                    notes.push(format!("scored {s:.2}, the reference is {reference:.2}"));
                }
                1.0 - (s - reference).abs()
            }
            None => {
                notes.push("the output's score is not a number in [0, 1]".into());
                0.0
            }
        };
        let reasoning = prediction.get("reasoning").map(value_to_text).unwrap_or_default();
        let criteria: Vec<String> = example.get("criteria").map(value_to_text).into_iter().collect();
        let suggestions = prediction.get("suggestions").cloned().unwrap_or(Value::Null);
        combine(
            parts(&[
                ("score_accuracy", 0.5, accuracy),
                ("reasoning", 0.3, reasoning_quality(&reasoning, &criteria)),
                ("suggestions", 0.2, suggestion_quality(&suggestions)),
            ]),
            notes,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::needless_pass_by_value)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ex(v: Value) -> Example {
        v.as_object().unwrap().iter().fold(Example::default(), |e, (k, v)| e.with(k, v.clone()))
    }

    fn pred(v: Value) -> Prediction {
        let mut p = Prediction::default();
        p.fields.extend(v.as_object().unwrap().clone());
        p
    }

    #[test]
    fn reasoning_that_argues_and_refers_scores_above_a_bare_verdict() {
        let refs = vec!["The Eiffel Tower is in Paris and was completed in 1889.".to_string()];
        let good = "The answer says the tower was completed in 1889, which the context states. \
                    It is supported because the context names Paris and the completion year.";
        assert!(reasoning_quality(good, &refs) > 0.8, "{}", reasoning_quality(good, &refs));
        assert!(reasoning_quality("Looks fine", &refs) < 0.3);
        assert_eq!(reasoning_quality("", &refs), 0.0);
    }

    #[test]
    fn actionable_suggestions_are_told_from_vague_ones() {
        assert_eq!(
            suggestion_quality(&json!([
                "Add a concrete example of the API call",
                "Remove the repeated intro paragraph"
            ])),
            1.0
        );
        assert_eq!(suggestion_quality(&json!("- good\n- nice")), 0.0);
        assert_eq!(suggestion_quality(&json!("1. Shorten the summary to two sentences; 2. it is ok")), 0.5);
        assert_eq!(suggestion_quality(&Value::Null), 0.0);
    }

    #[tokio::test]
    async fn a_judge_is_scored_on_agreement_calibration_and_reasoning() {
        let example = ex(json!({"context": "Paris is the capital of France.", "answer": "Paris", "pass": true}));
        let reasoning = "The answer Paris matches the context, which says Paris is the capital of France.";
        let right = pred(json!({"pass": true, "confidence": 0.9, "reasoning": reasoning}));
        let r = JudgeMetric.score(&example, &right).await;
        assert!(r.score > 0.9, "{r:?}");
        let wrong = pred(json!({"pass": "fail", "confidence": 0.9, "reasoning": reasoning}));
        let w = JudgeMetric.score(&example, &wrong).await;
        // Wrong and confident: no agreement and a poor calibration.
        assert!(w.score < 0.3, "{w:?}");
        assert!(w.feedback.unwrap().contains("judged fail but the labelled judgment is pass"));
        let unsure = pred(json!({"pass": "fail", "confidence": 0.1, "reasoning": reasoning}));
        assert!(
            JudgeMetric.score(&example, &unsure).await.score > w.score,
            "a wrong but unsure judge is better calibrated"
        );
        assert_eq!(r.breakdown.iter().map(|p| p.weight).sum::<f64>(), 1.0);
    }

    #[tokio::test]
    async fn a_rubric_score_is_scored_on_accuracy_reasoning_and_suggestions() {
        let example =
            ex(json!({"artifact": "def f(): pass", "criteria": "readability, naming, documentation", "score": 0.4}));
        let out = pred(json!({
            "score": 0.5,
            "reasoning": "Naming is poor because f says nothing. There is no documentation, so readability suffers.",
            "suggestions": ["Rename f to describe what it computes", "Add a docstring explaining the return value"]
        }));
        let r = RubricMetric.score(&example, &out).await;
        assert!(r.score > 0.8, "{r:?}");
        let bad = pred(json!({"score": "7/10", "reasoning": "ok", "suggestions": ""}));
        let b = RubricMetric.score(&example, &bad).await;
        assert!(b.score < 0.2, "{b:?}");
        assert!(b.feedback.unwrap().contains("not a number in [0, 1]"));
    }

    #[test]
    fn the_label_free_scores_need_no_label() {
        let inputs = ex(json!({"artifact": "A short essay on rivers", "criteria": "structure, evidence"}));
        let out = pred(
            json!({"score": 0.7, "reasoning": "The structure is clear but evidence is thin.", "suggestions": ["Add two sources as evidence"]}),
        );
        let q = rubric_quality(&inputs, &out);
        assert_eq!(q.len(), 4);
        assert!(q.iter().all(|p| p.score > 0.4), "{q:?}");
        let judge = judge_quality(&inputs, &pred(json!({"pass": "maybe"})));
        assert_eq!(judge[0].score, 0.0, "an unreadable judgment is unclear");
    }
}

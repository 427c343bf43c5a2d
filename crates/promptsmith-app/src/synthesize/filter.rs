//! What a generated row must pass to be kept: the program's fields with valid typed values, no
//! copy or near-copy of a seed or of a row kept before, and a label-free quality score.

use super::fields::DataField;
use promptsmith_core::adapter::coerce::coerce_value;
use promptsmith_core::{value_to_text, Example, Prediction};
use promptsmith_eval::metric::quality::{judge_quality, rubric_quality};
use promptsmith_eval::metric::PartScore;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};

/// Why a generated row was dropped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Drop {
    /// The item was not a JSON object.
    NotAnObject,
    /// A field was missing or empty.
    MissingField(String),
    /// A field's value did not fit its type.
    InvalidValue(String, String),
    /// Its inputs equal a seed's (after normalisation).
    CopiesSeed,
    /// Its inputs equal a row kept before.
    Duplicate,
    /// Its inputs are nearly those of a seed or a kept row (word-pair Jaccard similarity).
    NearDuplicate(f64),
    /// The quality score fell below the minimum; names the weakest part.
    LowQuality(f64, String),
}

impl Drop {
    /// The reason's key in the report.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Drop::NotAnObject => "not_an_object",
            Drop::MissingField(_) => "missing_field",
            Drop::InvalidValue(..) => "invalid_value",
            Drop::CopiesSeed => "copies_a_seed",
            Drop::Duplicate => "duplicate",
            Drop::NearDuplicate(_) => "near_duplicate",
            Drop::LowQuality(..) => "low_quality",
        }
    }

    /// The reason in words.
    pub(crate) fn detail(&self) -> String {
        match self {
            Drop::NotAnObject => "not a JSON object".into(),
            Drop::MissingField(f) => format!("field '{f}' missing or empty"),
            Drop::InvalidValue(f, why) => format!("field '{f}': {why}"),
            Drop::CopiesSeed => "its inputs copy a seed".into(),
            Drop::Duplicate => "its inputs repeat a kept example".into(),
            Drop::NearDuplicate(s) => format!("its inputs are {:.0}% the same as an earlier example's", s * 100.0),
            Drop::LowQuality(q, part) => format!("quality {q:.2}, weakest part {part}"),
        }
    }
}

/// Inputs as one normalised string: lowercase, letters and digits, single spaces.
fn normalized(inputs: &[String]) -> String {
    let joined = inputs.join(" \u{1f} ").to_lowercase();
    let words: Vec<&str> = joined.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.join(" ")
}

/// Word pairs (one word alone for one-word texts) of a normalised text.
fn shingles(text: &str) -> BTreeSet<String> {
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() < 2 {
        return words.iter().map(|w| w.to_string()).collect();
    }
    words.windows(2).map(|w| format!("{} {}", w[0], w[1])).collect()
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let common = a.intersection(b).count();
    common as f64 / (a.len() + b.len() - common) as f64
}

/// The rows seen so far (seeds and kept rows), for duplicate checks.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    seeds: HashSet<String>,
    kept: HashSet<String>,
    shingles: Vec<BTreeSet<String>>,
    /// Shortest and longest seed input text, in characters.
    lengths: Option<(usize, usize)>,
}

impl Seen {
    /// Remembers a seed's inputs.
    pub(crate) fn add_seed(&mut self, inputs: &[String]) {
        let len = inputs.iter().map(|s| s.chars().count()).sum::<usize>();
        self.lengths = Some(match self.lengths {
            None => (len, len),
            Some((lo, hi)) => (lo.min(len), hi.max(len)),
        });
        let key = normalized(inputs);
        self.shingles.push(shingles(&key));
        self.seeds.insert(key);
    }

    fn check(&self, inputs: &[String], max_similarity: f64) -> Result<(String, BTreeSet<String>), Drop> {
        let key = normalized(inputs);
        if self.seeds.contains(&key) {
            return Err(Drop::CopiesSeed);
        }
        if self.kept.contains(&key) {
            return Err(Drop::Duplicate);
        }
        let mine = shingles(&key);
        let closest = self.shingles.iter().map(|s| jaccard(&mine, s)).fold(0.0, f64::max);
        if closest >= max_similarity {
            return Err(Drop::NearDuplicate(closest));
        }
        Ok((key, mine))
    }

    fn keep(&mut self, key: String, shingles: BTreeSet<String>) {
        self.kept.insert(key);
        self.shingles.push(shingles);
    }
}

/// Checks one generated item; on success it is remembered and returned as a row.
pub(crate) fn admit(
    item: &Value,
    fields: &[DataField],
    seen: &mut Seen,
    max_similarity: f64,
    min_quality: f64,
) -> Result<Map<String, Value>, Drop> {
    let obj = item.as_object().ok_or(Drop::NotAnObject)?;
    let row = typed_row(obj, fields)?;
    let inputs: Vec<String> = fields
        .iter()
        .filter(|f| f.input)
        .map(|f| row.get(&f.field.name).map(value_to_text).unwrap_or_default())
        .collect();
    let (key, shingles) = seen.check(&inputs, max_similarity)?;
    let parts = row_quality(&row, fields, &inputs, seen.lengths);
    let quality: f64 = parts.iter().map(|p| p.weight * p.score).sum::<f64>() / weights(&parts);
    if quality < min_quality {
        let weakest = parts
            .iter()
            .min_by(|a, b| a.score.total_cmp(&b.score))
            .map(|p| format!("{} {:.2}", p.name, p.score))
            .unwrap_or_default();
        return Err(Drop::LowQuality(quality, weakest));
    }
    seen.keep(key, shingles);
    Ok(row)
}

fn weights(parts: &[PartScore]) -> f64 {
    parts.iter().map(|p| p.weight).sum::<f64>().max(f64::MIN_POSITIVE)
}

/// The item's fields, in the program's order, with values coerced to their types.
fn typed_row(obj: &Map<String, Value>, fields: &[DataField]) -> Result<Map<String, Value>, Drop> {
    let mut row = Map::new();
    for f in fields {
        let name = &f.field.name;
        let value = obj.get(name).filter(|v| !is_empty(v)).ok_or_else(|| Drop::MissingField(name.clone()))?;
        let typed = coerce_value(value, &f.field.ty).map_err(|why| Drop::InvalidValue(name.clone(), why))?;
        row.insert(name.clone(), typed);
    }
    Ok(row)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A label-free score of a data row (each part in [0, 1]):
/// - `input_substance`: every text input has at least three words;
/// - `length_in_range`: the inputs are between a third of the shortest and three times the
///   longest seed's inputs;
/// - `label_not_copied`: no text label repeats an input verbatim;
/// - for rows that carry a judge's or a rubric scorer's outputs (`pass` or `score` with
///   `reasoning`), the quality scorer's parts for those outputs.
pub(crate) fn row_quality(
    row: &Map<String, Value>,
    fields: &[DataField],
    inputs: &[String],
    seed_lengths: Option<(usize, usize)>,
) -> Vec<PartScore> {
    let part = |name: &str, score: f64| PartScore { name: name.into(), weight: 1.0, score };
    let substance = inputs.iter().map(|t| (t.split_whitespace().count() as f64 / 3.0).min(1.0)).fold(1.0, f64::min);
    let len: usize = inputs.iter().map(|s| s.chars().count()).sum();
    let in_range = seed_lengths.is_none_or(|(lo, hi)| len * 3 >= lo && len <= hi.saturating_mul(3));
    let copied = fields
        .iter()
        .filter(|f| !f.input)
        .filter_map(|f| row.get(&f.field.name).and_then(Value::as_str))
        .any(|label| label.split_whitespace().count() > 2 && inputs.iter().any(|i| i.trim() == label.trim()));
    let mut parts = vec![
        part("input_substance", substance),
        part("length_in_range", f64::from(u8::from(in_range))),
        part("label_not_copied", f64::from(u8::from(!copied))),
    ];
    parts.extend(output_quality(row, fields));
    parts
}

/// The quality scorer's parts for a row holding judge or rubric outputs.
fn output_quality(row: &Map<String, Value>, fields: &[DataField]) -> Vec<PartScore> {
    let has = |name: &str| row.contains_key(name);
    if !has("reasoning") {
        return Vec::new();
    }
    let input_names: Vec<&str> = fields.iter().filter(|f| f.input).map(|f| f.field.name.as_str()).collect();
    let inputs = Example::new(
        row.iter().filter(|(k, _)| input_names.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
        &input_names,
    );
    let outputs = Prediction {
        fields: row
            .iter()
            .filter(|(k, _)| !input_names.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Prediction::default()
    };
    // Their weights sum to one: together they count as one part.
    if has("pass") {
        judge_quality(&inputs, &outputs)
    } else if has("score") && has("suggestions") {
        rubric_quality(&inputs, &outputs)
    } else {
        Vec::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::signature::{Field, FieldType};
    use serde_json::json;

    fn fields() -> Vec<DataField> {
        vec![
            DataField { field: Field::new("query", FieldType::Str), input: true },
            DataField {
                field: Field::new("label", FieldType::Enum(vec!["refund".into(), "card".into()])),
                input: false,
            },
        ]
    }

    fn seen() -> Seen {
        let mut s = Seen::default();
        s.add_seed(&["I want my money back for this order".into()]);
        s
    }

    #[test]
    fn keeps_a_valid_new_row_with_typed_values() {
        let mut s = seen();
        let row = admit(
            &json!({"query": "My card stopped working at the shop", "label": "Card", "x": 1}),
            &fields(),
            &mut s,
            0.8,
            0.75,
        )
        .unwrap();
        assert_eq!(Value::Object(row), json!({"query": "My card stopped working at the shop", "label": "card"}));
    }

    #[test]
    fn drops_rows_with_missing_or_invalid_fields() {
        let mut s = seen();
        let f = fields();
        assert_eq!(admit(&json!("text"), &f, &mut s, 0.8, 0.75), Err(Drop::NotAnObject));
        assert_eq!(
            admit(&json!({"query": " ", "label": "card"}), &f, &mut s, 0.8, 0.75),
            Err(Drop::MissingField("query".into()))
        );
        let bad = admit(&json!({"query": "Where is my new card now", "label": "loan"}), &f, &mut s, 0.8, 0.75);
        assert!(matches!(bad, Err(Drop::InvalidValue(ref name, _)) if name == "label"), "{bad:?}");
    }

    #[test]
    fn drops_copies_and_near_copies_of_seeds_and_kept_rows() {
        let mut s = seen();
        let f = fields();
        let copy = json!({"query": "I want my MONEY back, for this order!", "label": "refund"});
        assert_eq!(admit(&copy, &f, &mut s, 0.8, 0.75), Err(Drop::CopiesSeed));
        let near = json!({"query": "I want my money back for this order please", "label": "refund"});
        assert!(matches!(admit(&near, &f, &mut s, 0.8, 0.75), Err(Drop::NearDuplicate(x)) if x >= 0.8));
        let new = json!({"query": "The card machine ate my debit card", "label": "card"});
        admit(&new, &f, &mut s, 0.8, 0.75).unwrap();
        assert_eq!(admit(&new, &f, &mut s, 0.8, 0.75), Err(Drop::Duplicate));
    }

    #[test]
    fn drops_rows_the_quality_score_rejects() {
        let mut s = seen();
        let short = admit(&json!({"query": "card", "label": "card"}), &fields(), &mut s, 0.8, 0.75);
        assert!(matches!(short, Err(Drop::LowQuality(q, _)) if q < 0.75), "{short:?}");
        let mut s = seen();
        let terse = admit(&json!({"query": "my card again and", "label": "card"}), &fields(), &mut s, 0.8, 0.75);
        assert!(terse.is_ok(), "{terse:?}");
    }

    #[test]
    fn judge_rows_are_scored_by_the_judge_quality_parts() {
        let f = vec![
            DataField { field: Field::new("answer", FieldType::Str), input: true },
            DataField { field: Field::new("reasoning", FieldType::Str), input: false },
            DataField { field: Field::new("pass", FieldType::Bool), input: false },
        ];
        let row = json!({"answer": "Paris is the capital of France", "reasoning": "ok", "pass": true});
        let parts = row_quality(row.as_object().unwrap(), &f, &["Paris is the capital of France".into()], None);
        assert!(parts.iter().any(|p| p.name == "judgment_clarity"), "{parts:?}");
        assert!(parts.iter().any(|p| p.name == "reasoning_depth" && p.score < 0.5), "{parts:?}");
    }
}

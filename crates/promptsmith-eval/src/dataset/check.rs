//! Data checks: duplicate inputs, the readiness check (enough labelled examples), and
//! per-field summaries and label distributions for `promptsmith data check`.

use super::Dataset;
use crate::error::{EvalError, Result};
use promptsmith_core::{value_to_text, Example};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// The default minimum number of labelled examples for [`Dataset::check_ready`].
pub const DEFAULT_MIN_LABELLED: usize = 50;

/// Examples that share the same inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateGroup {
    /// Where each copy is (`line 3`, ...), the first occurrence first.
    pub places: Vec<String>,
    /// Whether the copies disagree on their labels.
    pub conflicting_labels: bool,
}

/// All groups of examples with the same inputs, in order of their first occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Duplicates {
    /// The groups (each of two or more examples).
    pub groups: Vec<DuplicateGroup>,
}

impl Duplicates {
    /// Whether no two examples share their inputs.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// How many examples repeat the inputs of an earlier one.
    pub fn repeated(&self) -> usize {
        self.groups.iter().map(|g| g.places.len() - 1).sum()
    }

    /// One line: how many repeats, in how many groups, and the first `shown` groups
    /// (`line 9 = line 2`), e.g. `3 examples repeat the inputs of an earlier one (2 groups, 1 with
    /// different labels): line 4 = line 1; line 9 = line 2 = line 7`.
    pub fn summary(&self, shown: usize) -> String {
        if self.is_empty() {
            return "no duplicate inputs".into();
        }
        let conflicting = self.groups.iter().filter(|g| g.conflicting_labels).count();
        let examples: Vec<String> = self.groups.iter().take(shown).map(|g| g.places.join(" = ")).collect();
        let more =
            if self.groups.len() > shown { format!("; {} more", self.groups.len() - shown) } else { String::new() };
        format!(
            "{} example{} repeat{} the inputs of an earlier one ({} group{}, {conflicting} with different labels): {}{more}",
            self.repeated(),
            if self.repeated() == 1 { "" } else { "s" },
            if self.repeated() == 1 { "s" } else { "" },
            self.groups.len(),
            if self.groups.len() == 1 { "" } else { "s" },
            examples.join("; ")
        )
    }
}

/// What one field looks like across a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSummary {
    /// Field name.
    pub name: String,
    /// `input`, `label` or `other`.
    pub role: &'static str,
    /// How many examples have it (not null).
    pub present: usize,
    /// The JSON types seen (`string`, `number`, ...), in first-seen order.
    pub kinds: Vec<&'static str>,
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// A value counts as a label when it is present, not null, and not an empty or blank string.
fn has_value(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// Inputs with whitespace runs collapsed, as a comparable key.
fn input_key(e: &Example) -> String {
    let mut keys: Vec<&String> = e.input_keys.iter().collect();
    keys.sort();
    keys.iter()
        .map(|k| {
            let text = e.get(k).map(value_to_text).unwrap_or_default();
            format!("{k}\u{1f}{}", text.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect::<Vec<_>>()
        .join("\u{1e}")
}

impl Dataset {
    /// Groups of examples whose inputs are equal (after collapsing runs of whitespace), with the
    /// places they came from.
    pub fn duplicates(&self) -> Duplicates {
        // The first example of each distinct input, found by a 64-bit hash of its key (8 bytes
        // an example, not a copy of every input); a hash match is confirmed on the keys, and
        // keys whose hash collides with a different one fall back to a map of whole keys.
        let mut first: HashMap<u64, usize> = HashMap::with_capacity(self.examples.len());
        let mut collided: HashMap<String, usize> = HashMap::new();
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<usize, usize> = HashMap::new();
        let hasher = std::collections::hash_map::RandomState::new();
        for (i, e) in self.examples.iter().enumerate() {
            let key = input_key(e);
            let earlier = match first.entry(hasher.hash_one(&key)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                    None
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    let j = *o.get();
                    if input_key(&self.examples[j]) == key {
                        Some(j)
                    } else {
                        match collided.get(&key).copied() {
                            Some(j) => Some(j),
                            None => {
                                collided.insert(key, i);
                                None
                            }
                        }
                    }
                }
            };
            if let Some(j) = earlier {
                let g = *group_of.entry(j).or_insert_with(|| {
                    groups.push((j, Vec::new()));
                    groups.len() - 1
                });
                groups[g].1.push(i);
            }
        }
        let groups = groups
            .into_iter()
            .map(|(j, copies)| {
                let labels = |i: usize| self.label_values(&self.examples[i]);
                DuplicateGroup {
                    places: std::iter::once(j).chain(copies.iter().copied()).map(|i| self.place_of(i)).collect(),
                    conflicting_labels: copies.iter().any(|&i| labels(i) != labels(j)),
                }
            })
            .collect();
        Duplicates { groups }
    }

    fn place_of(&self, i: usize) -> String {
        self.place(i).unwrap_or_else(|| format!("example {}", i + 1))
    }

    fn label_values(&self, e: &Example) -> Vec<Option<Value>> {
        if self.labels.is_empty() {
            e.labels().into_iter().map(|(_, v)| Some(v)).collect()
        } else {
            self.labels.iter().map(|l| e.get(l).cloned()).collect()
        }
    }

    /// Whether an example is labelled: it has every label field with a value (not null, not blank);
    /// when no label fields are named, some non-input field with a value.
    pub fn is_labelled(&self, e: &Example) -> bool {
        if self.labels.is_empty() {
            e.fields.iter().any(|(k, v)| !e.is_input(k) && has_value(Some(v)))
        } else {
            self.labels.iter().all(|l| has_value(e.get(l)))
        }
    }

    /// How many examples are labelled (see [`Dataset::is_labelled`]).
    pub fn labelled_count(&self) -> usize {
        self.examples.iter().filter(|e| self.is_labelled(e)).count()
    }

    /// Checks there are at least `min_labelled` labelled examples (the default is
    /// [`DEFAULT_MIN_LABELLED`]) and returns how many there are; the error names the dataset, the
    /// counts and what to do.
    pub fn check_ready(&self, min_labelled: usize) -> Result<usize> {
        let labelled = self.labelled_count();
        if labelled >= min_labelled {
            return Ok(labelled);
        }
        let rule = if self.labels.is_empty() {
            "a labelled example has a value in some field besides its inputs".to_string()
        } else {
            let names: Vec<String> = self.labels.iter().map(|l| format!("'{l}'")).collect();
            format!("a labelled example has a value in {}", names.join(" and "))
        };
        Err(EvalError::NotReady {
            dataset: self.name.clone(),
            labelled,
            total: self.examples.len(),
            min: min_labelled,
            rule,
        })
    }

    /// One summary per field, inputs first, then labels, then the other fields in first-seen order.
    pub fn field_summaries(&self) -> Vec<FieldSummary> {
        let mut order: Vec<String> = self.inputs.clone();
        order.extend(self.labels.iter().filter(|l| !order.contains(l)).cloned().collect::<Vec<_>>());
        for e in &self.examples {
            for k in e.fields.keys() {
                if !order.contains(k) {
                    order.push(k.clone());
                }
            }
        }
        order
            .into_iter()
            .map(|name| {
                let mut kinds = Vec::new();
                let mut present = 0;
                for v in self.examples.iter().filter_map(|e| e.get(&name)) {
                    if !v.is_null() {
                        present += 1;
                    }
                    let k = kind_name(v);
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                let role = if self.inputs.contains(&name) {
                    "input"
                } else if self.labels.contains(&name) || self.labels.is_empty() {
                    "label"
                } else {
                    "other"
                };
                FieldSummary { name, role, present, kinds }
            })
            .collect()
    }

    /// How often each value of `field` occurs (as text), most frequent first, ties by value.
    pub fn label_distribution(&self, field: &str) -> Vec<(String, usize)> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for v in self.examples.iter().filter_map(|e| e.get(field)).filter(|v| has_value(Some(v))) {
            *counts.entry(value_to_text(v)).or_default() += 1;
        }
        let mut out: Vec<(String, usize)> = counts.into_iter().collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Whether `field` looks categorical: the spec lists categories, or its values are strings,
    /// numbers or booleans with at most 50 distinct values, each seen twice on average.
    pub fn is_categorical(&self, field: &str) -> bool {
        if self.categories.is_some() && self.labels.iter().any(|l| l == field) {
            return true;
        }
        let values: Vec<&Value> =
            self.examples.iter().filter_map(|e| e.get(field)).filter(|v| has_value(Some(v))).collect();
        if values.iter().any(|v| v.is_array() || v.is_object()) {
            return false;
        }
        let distinct = self.label_distribution(field).len();
        distinct > 0 && distinct <= 50 && distinct * 2 <= values.len()
    }
}

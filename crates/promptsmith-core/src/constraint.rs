//! Output constraints: rules on a predictor's output fields (`enum`, `regex`, `min_length`,
//! `max_length`, `min`, `max`) written in a spec, plus custom checks in Rust.
//!
//! ```json
//! "constraints": {"answer": {"min": 0, "max": 100}, "code": {"regex": "[A-Z]{2}-\\d+"}}
//! ```
//! A violation makes the predictor call the model again with the violation as feedback in the
//! prompt, up to `max_retries` times (default [`DEFAULT_MAX_RETRIES`]); when the retries run
//! out the call fails with [`crate::PredictError::Constraint`], which names the field, the rule
//! and the value.

use crate::example::value_to_text;
use crate::numeric::format_number;
use crate::signature::{Field, FieldType};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Retries after a violation when the spec names none.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The most retries a spec may ask for.
pub const MAX_RETRIES_LIMIT: u32 = 10;

/// Rules on one output field, as written in a spec. Every rule given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRules {
    /// The value must be one of these (strings compare ignoring case and surrounding
    /// space, and the listed spelling is kept).
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    /// The whole value (as text) must match this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Fewest characters (text) or items (lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Most characters (text) or items (lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Smallest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// Rules that do not fit their field: the rule (`regex`, `min`...) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {message}")]
pub struct RuleError {
    /// The rule's key in the spec (empty for the field's rules as a whole).
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

fn rule_err(rule: &str, message: impl Into<String>) -> RuleError {
    RuleError { rule: rule.to_string(), message: message.into() }
}

impl FieldRules {
    /// Checks the rules against the field's type and compiles them.
    pub fn compile(&self, field: &Field) -> Result<CompiledRules, RuleError> {
        let numeric = matches!(field.ty, FieldType::Int | FieldType::Float | FieldType::Json);
        let sized = matches!(field.ty, FieldType::Str | FieldType::ListStr | FieldType::Json);
        let ty = field.ty.type_name();
        for (rule, given) in [("min", self.min.is_some()), ("max", self.max.is_some())] {
            if given && !numeric {
                return Err(rule_err(rule, format!("applies to int and float fields; '{}' is {ty}", field.name)));
            }
        }
        for (rule, given) in [("min_length", self.min_length.is_some()), ("max_length", self.max_length.is_some())] {
            if given && !sized {
                return Err(rule_err(rule, format!("applies to text and list fields; '{}' is {ty}", field.name)));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            if lo > hi {
                return Err(rule_err("min", format!("{} is above max {}", format_number(lo), format_number(hi))));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_length, self.max_length) {
            if lo > hi {
                return Err(rule_err("min_length", format!("{lo} is above max_length {hi}")));
            }
        }
        for (rule, x) in [("min", self.min), ("max", self.max)] {
            if x.is_some_and(|x| !x.is_finite()) {
                return Err(rule_err(rule, "expected a finite number"));
            }
        }
        if self.one_of.as_ref().is_some_and(Vec::is_empty) {
            return Err(rule_err("enum", "expected at least one allowed value"));
        }
        let regex = match &self.regex {
            Some(p) => {
                Some(Regex::new(&format!("^(?:{p})$")).map_err(|e| rule_err("regex", format!("invalid regex: {e}")))?)
            }
            None => None,
        };
        Ok(CompiledRules { field: field.name.clone(), rules: self.clone(), regex })
    }
}

/// [`FieldRules`] checked against a field and ready to run.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    field: String,
    rules: FieldRules,
    regex: Option<Regex>,
}

impl PartialEq for CompiledRules {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.rules == other.rules
    }
}

impl CompiledRules {
    /// The field the rules are about.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rules as written.
    pub fn rules(&self) -> &FieldRules {
        &self.rules
    }

    /// Checks `value`; an `enum` match is rewritten to the listed spelling.
    fn check(&self, value: &mut Value) -> Option<Violation> {
        let fail = |rule: &str, message: String, value: &Value| {
            Some(Violation {
                field: Some(self.field.clone()),
                constraint: rule.to_string(),
                value: Some(value.clone()),
                message,
            })
        };
        if let Some(allowed) = &self.rules.one_of {
            match allowed.iter().find(|a| enum_matches(a, value)) {
                Some(a) => *value = a.clone(),
                None => {
                    let list = allowed.iter().map(short).collect::<Vec<_>>().join(", ");
                    return fail("enum", format!("{} is not one of {list}", short(value)), value);
                }
            }
        }
        if let Some(re) = &self.regex {
            if !re.is_match(&value_to_text(value)) {
                let pattern = self.rules.regex.as_deref().unwrap_or_default();
                return fail("regex", format!("{} does not match /{pattern}/", short(value)), value);
            }
        }
        if let Some(v) = self.check_length(value) {
            return Some(v);
        }
        self.check_range(value)
    }

    fn check_length(&self, value: &Value) -> Option<Violation> {
        if self.rules.min_length.is_none() && self.rules.max_length.is_none() {
            return None;
        }
        let (len, unit) = match value {
            Value::String(s) => (s.chars().count(), "characters"),
            Value::Array(a) => (a.len(), "items"),
            other => (value_to_text(other).chars().count(), "characters"),
        };
        let v = |rule: &str, message: String| Violation {
            field: Some(self.field.clone()),
            constraint: rule.to_string(),
            value: Some(value.clone()),
            message,
        };
        if let Some(lo) = self.rules.min_length.filter(|lo| len < *lo) {
            return Some(v("min_length", format!("{} has {len} {unit}, fewer than {lo}", short(value))));
        }
        if let Some(hi) = self.rules.max_length.filter(|hi| len > *hi) {
            return Some(v("max_length", format!("{} has {len} {unit}, more than {hi}", short(value))));
        }
        None
    }

    fn check_range(&self, value: &Value) -> Option<Violation> {
        if self.rules.min.is_none() && self.rules.max.is_none() {
            return None;
        }
        let v = |rule: &str, message: String| Violation {
            field: Some(self.field.clone()),
            constraint: rule.to_string(),
            value: Some(value.clone()),
            message,
        };
        let Some(x) = value.as_f64() else {
            let rule = if self.rules.min.is_some() { "min" } else { "max" };
            return Some(v(rule, format!("{} is not a number", short(value))));
        };
        if let Some(lo) = self.rules.min.filter(|lo| x < *lo) {
            return Some(v("min", format!("{} is below the minimum {}", format_number(x), format_number(lo))));
        }
        if let Some(hi) = self.rules.max.filter(|hi| x > *hi) {
            return Some(v("max", format!("{} is above the maximum {}", format_number(x), format_number(hi))));
        }
        None
    }
}

fn enum_matches(allowed: &Value, value: &Value) -> bool {
    match (allowed, value) {
        (Value::String(a), Value::String(v)) => a.trim().eq_ignore_ascii_case(v.trim()),
        (Value::Number(a), Value::Number(v)) => a.as_f64() == v.as_f64(),
        (Value::Number(a), Value::String(v)) => v.trim().parse::<f64>().ok() == a.as_f64(),
        _ => allowed == value,
    }
}

/// A value for a message: JSON form, cut to 120 characters.
pub(crate) fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 120 {
        return text;
    }
    let cut: String = text.chars().take(117).collect();
    format!("{cut}...")
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The output field, when the rule is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The rule: `enum`, `regex`, `min_length`, `max_length`, `min`, `max`, or
    /// `check:NAME` for a custom check.
    pub constraint: String,
    /// The offending value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// What is wrong, with the value.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "output field '{field}' breaks {}: {}", self.constraint, self.message),
            None => write!(f, "outputs break {}: {}", self.constraint, self.message),
        }
    }
}

/// The function behind a [`CustomCheck`]: `Err(reason)` when the outputs are not acceptable.
pub type CheckFn = dyn Fn(&Map<String, Value>) -> Result<(), String> + Send + Sync;

/// A check written in Rust, run on a predictor's outputs after the spec's rules.
#[derive(Clone)]
pub struct CustomCheck {
    name: String,
    field: Option<String>,
    check: Arc<CheckFn>,
}

impl CustomCheck {
    /// A check named `name` (shown in violations as `check:NAME`), optionally about one field.
    pub fn new(
        name: impl Into<String>,
        field: Option<&str>,
        check: impl Fn(&Map<String, Value>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        Self { name: name.into(), field: field.map(str::to_string), check: Arc::new(check) }
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, outputs: &Map<String, Value>) -> Option<Violation> {
        let message = (self.check)(outputs).err()?;
        let value = self.field.as_ref().and_then(|f| outputs.get(f)).cloned();
        Some(Violation { field: self.field.clone(), constraint: format!("check:{}", self.name), value, message })
    }
}

impl std::fmt::Debug for CustomCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomCheck").field("name", &self.name).field("field", &self.field).finish()
    }
}

impl PartialEq for CustomCheck {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.field == other.field && Arc::ptr_eq(&self.check, &other.check)
    }
}

/// All the constraints of one predictor and how often to retry after a violation.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraints {
    rules: Vec<CompiledRules>,
    checks: Vec<CustomCheck>,
    /// Retries after a violation (the call is made at most `max_retries + 1` times).
    pub max_retries: u32,
}

impl Default for Constraints {
    fn default() -> Self {
        Self { rules: Vec::new(), checks: Vec::new(), max_retries: DEFAULT_MAX_RETRIES }
    }
}

impl Constraints {
    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.checks.is_empty()
    }

    /// Adds (or replaces) the rules of one field.
    pub fn set_rules(&mut self, rules: CompiledRules) {
        self.rules.retain(|r| r.field != rules.field);
        self.rules.push(rules);
    }

    /// Adds a custom check.
    pub fn add_check(&mut self, check: CustomCheck) {
        self.checks.push(check);
    }

    /// The field rules, in the order they were added.
    pub fn rules(&self) -> &[CompiledRules] {
        &self.rules
    }

    /// The custom checks.
    pub fn checks(&self) -> &[CustomCheck] {
        &self.checks
    }

    /// Checks `outputs`, rewriting `enum` matches to their listed spelling; returns every
    /// violation (empty: all hold). A field missing from the outputs breaks its rules.
    pub fn check(&self, outputs: &mut Map<String, Value>) -> Vec<Violation> {
        let mut out = Vec::new();
        for r in &self.rules {
            match outputs.get_mut(&r.field) {
                Some(value) => out.extend(r.check(value)),
                None => out.push(Violation {
                    field: Some(r.field.clone()),
                    constraint: "present".into(),
                    value: None,
                    message: "the field is missing".into(),
                }),
            }
        }
        if out.is_empty() {
            out.extend(self.checks.iter().filter_map(|c| c.run(outputs)));
        }
        out
    }

    /// A stable text of the constraints, for program hashes.
    pub(crate) fn fingerprint(&self) -> String {
        let rules: Vec<_> = self.rules.iter().map(|r| (r.field.as_str(), &r.rules)).collect();
        let checks: Vec<_> = self.checks.iter().map(|c| (c.name.as_str(), c.field.as_deref())).collect();
        format!("{}|{checks:?}|{}", serde_json::to_string(&rules).unwrap_or_default(), self.max_retries)
    }
}

/// The retry prompt's account of violations: one line per violation.
pub fn violations_feedback(violations: &[Violation]) -> String {
    violations.iter().map(|v| format!("- {v}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::needless_pass_by_value)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(field: Field, rules: Value) -> Result<CompiledRules, RuleError> {
        serde_json::from_value::<FieldRules>(rules).unwrap().compile(&field)
    }

    fn check(c: &CompiledRules, value: Value) -> (Value, Option<String>) {
        let mut v = value;
        let out = c.check(&mut v).map(|v| v.to_string());
        (v, out)
    }

    #[test]
    fn each_rule_names_field_rule_and_value() {
        let n = rules(Field::new("answer", FieldType::Int), json!({"min": 0, "max": 100})).unwrap();
        assert_eq!(check(&n, json!(42)).1, None);
        assert_eq!(check(&n, json!(142)).1.unwrap(), "output field 'answer' breaks max: 142 is above the maximum 100");
        assert_eq!(check(&n, json!(-1)).1.unwrap(), "output field 'answer' breaks min: -1 is below the minimum 0");
        let r = rules(Field::new("code", FieldType::Str), json!({"regex": "[A-Z]{2}-\\d+"})).unwrap();
        assert_eq!(check(&r, json!("AB-12")).1, None);
        assert_eq!(
            check(&r, json!("xAB-12")).1.unwrap(),
            "output field 'code' breaks regex: \"xAB-12\" does not match /[A-Z]{2}-\\d+/"
        );
        let l = rules(Field::new("tags", FieldType::ListStr), json!({"min_length": 1, "max_length": 2})).unwrap();
        assert!(check(&l, json!([])).1.unwrap().contains("min_length: [] has 0 items, fewer than 1"));
        assert!(check(&l, json!(["a", "b", "c"])).1.unwrap().contains("has 3 items, more than 2"));
        let e = rules(Field::new("label", FieldType::Str), json!({"enum": ["positive", "negative"]})).unwrap();
        assert_eq!(check(&e, json!(" Positive ")), (json!("positive"), None), "the listed spelling is kept");
        assert_eq!(
            check(&e, json!("meh")).1.unwrap(),
            "output field 'label' breaks enum: \"meh\" is not one of \"positive\", \"negative\""
        );
    }

    #[test]
    fn rules_that_do_not_fit_are_refused() {
        let s = Field::new("answer", FieldType::Str);
        assert_eq!(
            rules(s.clone(), json!({"min": 1})).unwrap_err().to_string(),
            "min: applies to int and float fields; 'answer' is str"
        );
        let i = Field::new("n", FieldType::Int);
        assert!(rules(i.clone(), json!({"max_length": 3}))
            .unwrap_err()
            .to_string()
            .starts_with("max_length: applies to text"));
        assert_eq!(rules(i, json!({"min": 5, "max": 1})).unwrap_err().to_string(), "min: 5 is above max 1");
        let e = rules(s.clone(), json!({"regex": "(unclosed"})).unwrap_err();
        assert_eq!(e.rule, "regex");
        assert!(e.message.starts_with("invalid regex:"), "{e}");
        assert!(rules(s, json!({"enum": []})).unwrap_err().to_string().contains("at least one"));
    }

    #[test]
    fn custom_checks_run_after_the_rules() {
        let mut c = Constraints::default();
        c.set_rules(rules(Field::new("answer", FieldType::Int), json!({"max": 10})).unwrap());
        c.add_check(CustomCheck::new("even", Some("answer"), |o| match o["answer"].as_i64() {
            Some(n) if n % 2 == 0 => Ok(()),
            _ => Err("must be even".into()),
        }));
        let mut out = json!({"answer": 3}).as_object().cloned().unwrap();
        let v = c.check(&mut out);
        assert_eq!(v[0].to_string(), "output field 'answer' breaks check:even: must be even");
        assert_eq!(v[0].value, Some(json!(3)));
        let mut out = json!({"answer": 4}).as_object().cloned().unwrap();
        assert!(c.check(&mut out).is_empty());
        let mut out = json!({"other": 4}).as_object().cloned().unwrap();
        assert_eq!(c.check(&mut out)[0].constraint, "present");
    }
}

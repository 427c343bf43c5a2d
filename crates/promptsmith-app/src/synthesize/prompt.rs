//! The generation prompt (the task, the fields, a few seeds, what to vary this time) and the
//! reading of its answer (a JSON array of rows, repaired when slightly broken).

use super::fields::DataField;
use promptsmith_core::adapter::coerce::parse_json_repair;
use promptsmith_core::signature::FieldType;
use promptsmith_core::ChatMessage;
use serde_json::{Map, Value};

/// Difficulty asked for, in turn.
const DIFFICULTIES: &[&str] = &["easy", "of medium difficulty", "hard"];

/// What each call varies, in turn, so that calls do not all write the same examples.
const VARIATIONS: &[&str] = &[
    "about topics and situations that none of the examples above cover",
    "with wording and sentence structure unlike the examples above",
    "covering unusual but valid cases",
    "with longer, more detailed inputs",
    "with short, terse inputs",
    "as different people would write them (formal, casual, hurried)",
];

/// What one call asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ask {
    /// Rows wanted.
    pub(crate) count: usize,
    /// The call's number (picks the difficulty and the variation).
    pub(crate) call: usize,
    /// Seeds shown as examples.
    pub(crate) shown: Vec<Map<String, Value>>,
    /// For a program with one enum label: the labels the rows should carry, in order.
    pub(crate) labels: Vec<String>,
}

fn describe(f: &DataField) -> String {
    let kind = if f.input { "input" } else { "label" };
    let ty = match &f.field.ty {
        FieldType::Enum(labels) => format!("one of: {}", labels.join(", ")),
        other => other.type_name(),
    };
    let about = f.field.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
    format!("- `{}` ({kind}, {ty}){about}", f.field.name)
}

/// The messages of one generation call.
pub(crate) fn messages(task: &str, fields: &[DataField], ask: &Ask) -> Vec<ChatMessage> {
    let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.field.name)).collect();
    let list: Vec<String> = fields.iter().map(describe).collect();
    let system = format!(
        "You write training data for a program whose task is: {task}\n\nEach example is a JSON object with \
         these fields:\n{}\n\nThe labels must be exactly what a careful expert would give for the inputs.",
        list.join("\n")
    );
    let shown: Vec<String> = ask.shown.iter().map(|r| Value::Object(r.clone()).to_string()).collect();
    let difficulty = DIFFICULTIES[ask.call % DIFFICULTIES.len()];
    let variation = VARIATIONS[ask.call % VARIATIONS.len()];
    let labels = if ask.labels.is_empty() {
        String::new()
    } else {
        format!(" Give them these labels, in this order: {}.", ask.labels.join(", "))
    };
    let user = format!(
        "Examples:\n{}\n\nWrite {} new examples, {difficulty}, {variation}.{labels} Do not copy or reword the \
         examples above, and make each new example different from the others. Answer with a JSON array of {} \
         objects with exactly the fields {}, and nothing else.",
        shown.join("\n"),
        ask.count,
        ask.count,
        names.join(", ")
    );
    vec![ChatMessage::system(system), ChatMessage::user(user)]
}

/// The rows of an answer: a JSON array, an object holding one (`{"examples": [...]}`), one
/// object, or one object per line; `None` when nothing in it parses.
pub(crate) fn rows(text: &str) -> Option<Vec<Value>> {
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l.trim().trim_end_matches(',')).ok())
        .collect();
    if lines.len() > 1 {
        return Some(lines);
    }
    let body = text.find('[').map(|start| &text[start..]).unwrap_or(text);
    match parse_json_repair(body)? {
        Value::Array(items) => Some(items),
        Value::Object(obj) => match obj.values().find_map(Value::as_array) {
            Some(items) => Some(items.clone()),
            None => Some(vec![Value::Object(obj)]),
        },
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::signature::Field;
    use serde_json::json;

    #[test]
    fn the_prompt_names_the_fields_the_labels_and_what_to_vary() {
        let fields = vec![
            DataField { field: Field::new("query", FieldType::Str).describe("a customer message"), input: true },
            DataField { field: Field::new("label", FieldType::Enum(vec!["a".into(), "b".into()])), input: false },
        ];
        let ask = Ask {
            count: 2,
            call: 4,
            shown: vec![json!({"query": "hi", "label": "a"}).as_object().unwrap().clone()],
            labels: vec!["b".into(), "a".into()],
        };
        let m = messages("Classify.", &fields, &ask);
        assert!(m[0].content.contains("- `query` (input, str): a customer message"), "{}", m[0].content);
        assert!(m[0].content.contains("- `label` (label, one of: a, b)"), "{}", m[0].content);
        assert!(m[1].content.contains("{\"query\":\"hi\",\"label\":\"a\"}"), "{}", m[1].content);
        assert!(m[1].content.contains("Write 2 new examples, of medium difficulty, with short, terse inputs."));
        assert!(m[1].content.contains("these labels, in this order: b, a."));
    }

    #[test]
    fn answers_are_read_as_arrays_wrapped_arrays_objects_or_lines() {
        assert_eq!(rows("Sure:\n[{\"a\": 1}, {\"a\": 2}]").unwrap().len(), 2);
        assert_eq!(rows("{\"examples\": [{\"a\": 1}]}").unwrap(), vec![json!({"a": 1})]);
        assert_eq!(rows("{\"a\": 1}").unwrap(), vec![json!({"a": 1})]);
        assert_eq!(rows("{\"a\": 1},\n{\"a\": 2}").unwrap().len(), 2);
        assert_eq!(rows("no data here"), None);
    }
}

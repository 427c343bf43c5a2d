//! What the fake model answers: the output fields of the requested signature, read from
//! DSPy's chat-adapter system prompt, filled with deterministic values.
//!
//! The system prompt of DSPy's `ChatAdapter` (and of promptsmith's byte-compatible copy, and
//! of the JSON adapters of both) lists the fields as
//!
//! ```text
//! Your output fields are:
//! 1. `reasoning` (str):
//! 2. `answer` (int): the final number
//! All interactions will be structured in the following way, ...
//! ```
//!
//! Values depend only on the request: numeric fields get the sum of the integers in the last
//! user message's inputs (so synthetic "has 17, gets 5 more" questions come out right and
//! "gives 5 away" ones wrong, and both frameworks must score the same), other types get
//! fixed text or a choice picked by a hash of the inputs.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The header before the numbered list of output fields.
const OUTPUTS_HEADER: &str = "Your output fields are:";
/// The line that follows the field lists in DSPy's system prompt.
const STRUCTURE_LINE: &str = "All interactions will be structured";
/// Where DSPy's last user message stops listing inputs.
const RESPOND_MARKER: &str = "Respond with the corresponding output fields";
/// The marker that ends a chat-adapter answer.
pub const COMPLETED_MARKER: &str = "[[ ## completed ## ]]";

/// One output field: its name and DSPy's type annotation (`str`, `int`, `list[str]`,
/// `Literal['a', 'b']`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputField {
    /// Field name.
    pub name: String,
    /// Type annotation as printed in the prompt.
    pub annotation: String,
}

/// Reads the output fields listed in a DSPy-style system prompt; empty when there is none.
pub fn output_fields(system_prompt: &str) -> Vec<OutputField> {
    let Some(start) = system_prompt.find(OUTPUTS_HEADER) else { return Vec::new() };
    let mut fields = Vec::new();
    for line in system_prompt[start + OUTPUTS_HEADER.len()..].lines() {
        if line.starts_with(STRUCTURE_LINE) || line.starts_with("Your input fields are:") {
            break;
        }
        if let Some(field) = parse_field_line(line) {
            fields.push(field);
        }
    }
    fields
}

/// `2. `answer` (int): description` -> (answer, int). Lines of multi-line descriptions that
/// do not have this shape are skipped.
fn parse_field_line(line: &str) -> Option<OutputField> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = line[digits..].strip_prefix(". `")?;
    let (name, rest) = rest.split_once('`')?;
    let rest = rest.strip_prefix(" (")?;
    let end = annotation_end(rest)?;
    Some(OutputField { name: name.to_string(), annotation: rest[..end].to_string() })
}

/// Index of the `)` closing an annotation that started just before `text`, skipping brackets
/// and quoted strings inside it (`Literal['a)', 'b']`).
fn annotation_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, ')') if depth == 0 => return Some(i),
            (None, ')') => depth -= 1,
            (None, _) => {}
        }
    }
    None
}

/// The part of the last user message that holds the inputs (before DSPy's "Respond with ...").
pub fn input_text(last_user: &str) -> &str {
    match last_user.find(RESPOND_MARKER) {
        Some(i) => &last_user[..i],
        None => last_user,
    }
}

/// Sum of the unsigned integers written in `text` (wrapping; digits of decimals count as
/// separate integers).
pub fn sum_of_integers(text: &str) -> i64 {
    let mut sum: i64 = 0;
    let mut current: Option<i64> = None;
    for b in text.bytes() {
        if b.is_ascii_digit() {
            let d = i64::from(b - b'0');
            current = Some(current.unwrap_or(0).wrapping_mul(10).wrapping_add(d));
        } else if let Some(n) = current.take() {
            sum = sum.wrapping_add(n);
        }
    }
    sum.wrapping_add(current.unwrap_or(0))
}

/// The deterministic answer to one request: field values computed from the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// (field name, value) in the order of the signature.
    pub values: Vec<(String, Value)>,
}

impl Answer {
    /// Answers the request whose system prompt is `system` and whose last user message is
    /// `last_user`. `None` when the system prompt lists no output fields.
    pub fn for_request(system: &str, last_user: &str) -> Option<Answer> {
        let fields = output_fields(system);
        if fields.is_empty() {
            return None;
        }
        let inputs = input_text(last_user);
        let sum = sum_of_integers(inputs);
        let digest = Sha256::digest(inputs.as_bytes());
        let pick = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]);
        let values = fields
            .into_iter()
            .map(|f| {
                let value = value_for(&f, sum, pick);
                (f.name, value)
            })
            .collect();
        Some(Answer { values })
    }

    /// The answer in DSPy's chat layout: `[[ ## field ## ]]` blocks, then the completed marker.
    pub fn chat_text(&self) -> String {
        let mut out = String::with_capacity(64 * self.values.len() + 32);
        for (name, value) in &self.values {
            out.push_str("[[ ## ");
            out.push_str(name);
            out.push_str(" ## ]]\n");
            match value {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
            out.push_str("\n\n");
        }
        out.push_str(COMPLETED_MARKER);
        out
    }

    /// The answer as one JSON object (for JSON-mode requests).
    pub fn json_text(&self) -> String {
        let object: Map<String, Value> = self.values.iter().cloned().collect();
        Value::Object(object).to_string()
    }
}

fn value_for(field: &OutputField, sum: i64, pick: u64) -> Value {
    let ann = field.annotation.trim();
    if ann == "int" || ann == "float" {
        return Value::from(sum);
    }
    if ann == "bool" {
        return Value::Bool(sum % 2 == 0);
    }
    if let Some(options) = literal_options(ann) {
        if !options.is_empty() {
            let i = usize::try_from(pick % options.len() as u64).unwrap_or(0);
            return Value::String(options[i].clone());
        }
    }
    if ann.starts_with("list[") {
        return Value::Array(vec![Value::from(format!("{} item 1", field.name)), Value::from(sum.to_string())]);
    }
    if ann.starts_with("dict[") {
        return serde_json::json!({ "sum": sum });
    }
    if field.name == "reasoning" || field.name == "rationale" {
        return Value::String(format!("Adding up the numbers in the question gives {sum}."));
    }
    Value::String(format!("{} {:08x}", field.name, pick >> 32))
}

/// The options of `Literal['a', 'b']` (quotes removed); `None` for other annotations.
fn literal_options(annotation: &str) -> Option<Vec<String>> {
    let inner = annotation.strip_prefix("Literal[")?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .map(|o| o.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .filter(|o| !o.is_empty())
            .collect(),
    )
}

/// Cuts `text` before the earliest occurrence of any stop sequence, as OpenAI-compatible
/// servers do. Returns whether a stop sequence was found.
pub fn apply_stop(text: &mut String, stop: &[String]) -> bool {
    let cut = stop.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min();
    match cut {
        Some(i) => {
            text.truncate(i);
            true
        }
        None => false,
    }
}

/// A rough token count (4 bytes a token, at least 1 for non-empty text) for `usage`.
pub fn approx_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COT_SYSTEM: &str = "Your input fields are:\n1. `question` (str):\nYour output fields are:\n1. `reasoning` (str): \n2. `answer` (int):\nAll interactions will be structured in the following way, with the appropriate values filled in.\n\n[[ ## question ## ]]\n{question}\n\n[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## answer ## ]]\n{answer}        # note: the value you produce must be a single int value\n\n[[ ## completed ## ]]\nIn adhering to this structure, your objective is: \n        Given the fields `question`, produce the fields `answer`.";

    const COT_USER: &str = "[[ ## question ## ]]\nA farmer has 17 sheep and buys 5 more. How many sheep now?\n\nRespond with the corresponding output fields, starting with the field `[[ ## reasoning ## ]]`, then `[[ ## answer ## ]]` (must be formatted as a valid Python int), and then ending with the marker for `[[ ## completed ## ]]`.";

    #[test]
    fn reads_output_fields_from_dspy_system_prompt() {
        let fields = output_fields(COT_SYSTEM);
        assert_eq!(
            fields,
            vec![
                OutputField { name: "reasoning".into(), annotation: "str".into() },
                OutputField { name: "answer".into(), annotation: "int".into() },
            ]
        );
    }

    #[test]
    fn reads_literal_and_list_annotations_and_skips_description_lines() {
        let system = "Your input fields are:\n1. `text` (str): the text\nYour output fields are:\n1. `label` (Literal['positive', 'negative']): one of\n   several lines (not a field)\n2. `tags` (list[str]): tags\n3. `score` (float): x (y): z\nAll interactions will be structured";
        let fields = output_fields(system);
        let names: Vec<(&str, &str)> = fields.iter().map(|f| (f.name.as_str(), f.annotation.as_str())).collect();
        assert_eq!(
            names,
            vec![("label", "Literal['positive', 'negative']"), ("tags", "list[str]"), ("score", "float")]
        );
        assert_eq!(
            parse_field_line("1. `x` (Literal['a)', 'b']): d").map(|f| f.annotation),
            Some("Literal['a)', 'b']".into())
        );
        assert_eq!(parse_field_line("not a field"), None);
        assert_eq!(parse_field_line("2. `unclosed` (str"), None);
    }

    #[test]
    fn no_output_section_gives_no_fields() {
        assert!(output_fields("You are a helpful assistant.").is_empty());
        assert!(Answer::for_request("You are a helpful assistant.", "hi").is_none());
    }

    #[test]
    fn chat_answer_has_every_field_in_order_and_the_completed_marker() {
        let answer = Answer::for_request(COT_SYSTEM, COT_USER).unwrap();
        assert_eq!(
            answer.chat_text(),
            "[[ ## reasoning ## ]]\nAdding up the numbers in the question gives 22.\n\n[[ ## answer ## ]]\n22\n\n[[ ## completed ## ]]"
        );
        // Deterministic: the same request gives the same bytes.
        assert_eq!(answer, Answer::for_request(COT_SYSTEM, COT_USER).unwrap());
    }

    #[test]
    fn numbers_in_the_respond_instruction_are_ignored() {
        assert_eq!(
            input_text(COT_USER),
            "[[ ## question ## ]]\nA farmer has 17 sheep and buys 5 more. How many sheep now?\n\n"
        );
        assert_eq!(sum_of_integers("a 12 b 3.5 c 100"), 120);
        assert_eq!(sum_of_integers("no digits"), 0);
        assert_eq!(sum_of_integers("7"), 7);
    }

    #[test]
    fn json_answer_is_an_object_with_typed_values() {
        let answer = Answer::for_request(COT_SYSTEM, COT_USER).unwrap();
        let v: Value = serde_json::from_str(&answer.json_text()).unwrap();
        assert_eq!(v["answer"], Value::from(22));
        assert_eq!(v.as_object().map(|o| o.len()), Some(2));
    }

    #[test]
    fn other_types_get_valid_values() {
        let system = "Your output fields are:\n1. `ok` (bool):\n2. `label` (Literal['a', 'b', 'c']):\n3. `items` (list[str]):\n4. `summary` (str):\nAll interactions will be structured";
        let answer = Answer::for_request(system, "[[ ## x ## ]]\n3").unwrap();
        let map: Map<String, Value> = answer.values.iter().cloned().collect();
        assert_eq!(map["ok"], Value::Bool(false));
        assert!(["a", "b", "c"].contains(&map["label"].as_str().unwrap()));
        assert_eq!(map["items"].as_array().map(Vec::len), Some(2));
        assert!(map["summary"].as_str().unwrap().starts_with("summary "));
    }

    #[test]
    fn stop_sequences_cut_the_text() {
        let mut t = String::from("[[ ## answer ## ]]\n1\n\n[[ ## completed ## ]]");
        assert!(apply_stop(&mut t, &["[[ ## completed ## ]]".into()]));
        assert_eq!(t, "[[ ## answer ## ]]\n1\n\n");
        let mut u = String::from("abc");
        assert!(!apply_stop(&mut u, &["x".into(), String::new()]));
        assert_eq!(u, "abc");
        assert_eq!(approx_tokens(0), 0);
        assert_eq!(approx_tokens(5), 2);
    }
}

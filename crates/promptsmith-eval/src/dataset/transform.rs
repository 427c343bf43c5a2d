//! Field transforms: how a raw value becomes a label (or a cleaner input). Named transforms
//! (`gsm8k_final_answer`, `strip`, ...) and regexes with one capture group.

use super::load::kind;
use promptsmith_core::value_to_text;
use regex::Regex;
use serde_json::{Map, Value};

/// A named, built-in transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedTransform {
    /// GSM8K answers (`"<worked solution>\n#### 1,234"`): the number after the last `####`,
    /// commas removed (`"1234"`).
    Gsm8kFinalAnswer,
    /// GSM8K answers: the worked solution before `####`, without `<<...>>` calculator annotations.
    Gsm8kRationale,
    /// Removes leading and trailing whitespace.
    Strip,
    /// Lowercases the text.
    Lowercase,
    /// Category labels: an integer is an index into the spec's `categories` list and becomes the
    /// category's name; a string must be one of the categories.
    CategoryName,
    /// HotpotQA paragraphs: `{"title": [...], "sentences": [[...], ...]}` (or a list of
    /// `[title, sentences]` pairs) becomes text, one `title: sentences` paragraph per title.
    TitledParagraphs,
}

impl NamedTransform {
    /// Every named transform with its name and a one-line description, for help texts.
    pub const ALL: &'static [(NamedTransform, &'static str, &'static str)] = &[
        (NamedTransform::Gsm8kFinalAnswer, "gsm8k_final_answer", "the number after '####', commas removed"),
        (NamedTransform::Gsm8kRationale, "gsm8k_rationale", "the text before '####', without <<...>> annotations"),
        (NamedTransform::Strip, "strip", "remove leading and trailing whitespace"),
        (NamedTransform::Lowercase, "lowercase", "lowercase the text"),
        (
            NamedTransform::CategoryName,
            "category_name",
            "an index into `categories` becomes its name; a name must be one of them",
        ),
        (
            NamedTransform::TitledParagraphs,
            "titled_paragraphs",
            "{title: [...], sentences: [[...]]} becomes 'title: text' paragraphs",
        ),
    ];

    /// Other names accepted for a transform (`banking77` is the category transform BANKING77 uses).
    const ALIASES: &'static [(&'static str, NamedTransform)] = &[("banking77", NamedTransform::CategoryName)];

    /// Looks a transform up by name (or alias).
    pub fn from_name(name: &str) -> Option<NamedTransform> {
        NamedTransform::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(t, _, _)| *t)
            .or_else(|| NamedTransform::ALIASES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t))
    }

    /// The transform's name.
    pub fn name(self) -> &'static str {
        NamedTransform::ALL.iter().find(|(t, _, _)| *t == self).map(|(_, n, _)| *n).unwrap_or("?")
    }

    /// The names of all transforms, for error messages.
    pub fn names() -> Vec<&'static str> {
        NamedTransform::ALL.iter().map(|(_, n, _)| *n).collect()
    }
}

/// What a [`FieldTransform`] does to a value.
#[derive(Debug, Clone)]
pub enum TransformOp {
    /// A built-in transform.
    Named(NamedTransform),
    /// A regex with exactly one capture group; the value (as text) must match, and the group's
    /// text is the result.
    Regex(Regex),
}

/// A column mapping, transform or row that cannot be used; the message says which field and what
/// was expected (callers add the file, line or flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(pub String);

impl promptsmith_core::HasKind for MappingError {
    fn kind(&self) -> promptsmith_core::ErrorKind {
        promptsmith_core::ErrorKind::InvalidInput
    }
}

impl TransformOp {
    /// Parses `name` or `regex:PATTERN`. A regex must have exactly one capture group.
    pub fn parse(text: &str) -> Result<TransformOp, MappingError> {
        match text.strip_prefix("regex:") {
            Some(pattern) => TransformOp::regex(pattern),
            None => NamedTransform::from_name(text).map(TransformOp::Named).ok_or_else(|| {
                MappingError(format!(
                    "unknown transform '{text}' (known: {}; or regex:PATTERN with one capture group)",
                    NamedTransform::names().join(", ")
                ))
            }),
        }
    }

    /// Compiles a regex transform, checking it has exactly one capture group.
    pub fn regex(pattern: &str) -> Result<TransformOp, MappingError> {
        let re = Regex::new(pattern).map_err(|e| MappingError(format!("invalid regex `{pattern}`: {e}")))?;
        let groups = re.captures_len() - 1;
        if groups != 1 {
            return Err(MappingError(format!(
                "regex `{pattern}` must have exactly one capture group, it has {groups}"
            )));
        }
        Ok(TransformOp::Regex(re))
    }

    /// How the transform is shown in messages and manifests.
    pub fn describe(&self) -> String {
        match self {
            TransformOp::Named(t) => t.name().to_string(),
            TransformOp::Regex(re) => format!("regex:{}", re.as_str()),
        }
    }

    /// Whether applying this transform needs the dataset's category list.
    pub fn needs_categories(&self) -> bool {
        matches!(self, TransformOp::Named(NamedTransform::CategoryName))
    }
}

/// A transform applied to one field of every row, writing its result to `into` (default: the
/// same field).
#[derive(Debug, Clone)]
pub struct FieldTransform {
    /// The field read.
    pub field: String,
    /// The field written; `None` overwrites `field`.
    pub into: Option<String>,
    /// What is done.
    pub op: TransformOp,
}

impl FieldTransform {
    /// A transform of `field` in place.
    pub fn new(field: impl Into<String>, op: TransformOp) -> FieldTransform {
        FieldTransform { field: field.into(), into: None, op }
    }

    /// Applies the transform to a row. A missing or null field is an error; the message names the field.
    pub fn apply(&self, row: &mut Map<String, Value>, categories: Option<&[String]>) -> Result<(), MappingError> {
        let field = &self.field;
        let value = match row.get(field) {
            None => {
                return Err(MappingError(format!(
                    "field '{field}' missing (needed by transform {})",
                    self.op.describe()
                )))
            }
            Some(Value::Null) => {
                return Err(MappingError(format!(
                    "field '{field}' is null (needed by transform {})",
                    self.op.describe()
                )))
            }
            Some(v) => v,
        };
        let out = apply_op(&self.op, field, value, categories).map_err(MappingError)?;
        row.insert(self.into.clone().unwrap_or_else(|| field.clone()), out);
        Ok(())
    }
}

fn text<'a>(field: &str, value: &'a Value, what: &str) -> Result<&'a str, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("field '{field}' should be a string for {what}, found {}", kind(other))),
    }
}

fn apply_op(op: &TransformOp, field: &str, value: &Value, categories: Option<&[String]>) -> Result<Value, String> {
    let named = match op {
        TransformOp::Regex(re) => {
            let text = value_to_text(value);
            let caught = re.captures(&text).and_then(|c| c.get(1)).map(|m| m.as_str().to_string());
            return caught
                .map(Value::String)
                .ok_or_else(|| format!("field '{field}' does not match regex `{}`", re.as_str()));
        }
        TransformOp::Named(t) => *t,
    };
    match named {
        NamedTransform::Gsm8kFinalAnswer => {
            let answer = text(field, value, named.name())?;
            let (_, number) =
                answer.rsplit_once("####").ok_or_else(|| format!("field '{field}' has no '#### <number>' marker"))?;
            let number = number.trim().replace(',', "");
            if number.is_empty() {
                return Err(format!("field '{field}' has nothing after '####'"));
            }
            Ok(Value::String(number))
        }
        NamedTransform::Gsm8kRationale => {
            let answer = text(field, value, named.name())?;
            let (rationale, _) =
                answer.rsplit_once("####").ok_or_else(|| format!("field '{field}' has no '#### <number>' marker"))?;
            Ok(Value::String(strip_annotations(rationale).trim().to_string()))
        }
        NamedTransform::Strip => Ok(Value::String(text(field, value, named.name())?.trim().to_string())),
        NamedTransform::Lowercase => Ok(Value::String(text(field, value, named.name())?.to_lowercase())),
        NamedTransform::CategoryName => category_name(field, value, categories.unwrap_or_default()),
        NamedTransform::TitledParagraphs => titled_paragraphs(field, value),
    }
}

fn category_name(field: &str, value: &Value, categories: &[String]) -> Result<Value, String> {
    let index = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !categories.contains(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match (index, value) {
        (Some(i), _) => {
            usize::try_from(i).ok().and_then(|i| categories.get(i)).map(|name| Value::String(name.clone())).ok_or_else(
                || {
                    format!(
                        "field '{field}': category index {i} is out of range (there are {} categories)",
                        categories.len()
                    )
                },
            )
        }
        (None, Value::String(s)) if categories.contains(s) => Ok(value.clone()),
        (None, Value::String(s)) => {
            Err(format!("field '{field}': '{s}' is not one of the {} categories", categories.len()))
        }
        (None, other) => Err(format!("field '{field}' should be a category name or index, found {}", kind(other))),
    }
}

/// Removes GSM8K calculator annotations (`<<16-3-4=9>>`); an unclosed `<<` is kept as text.
fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        match rest[start + 2..].find(">>") {
            Some(len) => {
                out.push_str(&rest[..start]);
                rest = &rest[start + 2 + len + 2..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

fn paragraph(title: &Value, sentences: &Value) -> String {
    let title = value_to_text(title);
    let body: String = match sentences {
        Value::Array(s) => s.iter().map(value_to_text).collect::<Vec<_>>().concat(),
        other => value_to_text(other),
    };
    format!("{title}: {}", body.trim())
}

fn titled_paragraphs(field: &str, value: &Value) -> Result<Value, String> {
    let paragraphs: Vec<String> = match value {
        Value::String(_) => return Ok(value.clone()),
        Value::Object(ctx) => {
            let (Some(Value::Array(titles)), Some(Value::Array(sentences))) = (ctx.get("title"), ctx.get("sentences"))
            else {
                return Err(format!("field '{field}' should have 'title' and 'sentences' lists"));
            };
            if titles.len() != sentences.len() {
                return Err(format!(
                    "field '{field}' has {} titles but {} sentence lists",
                    titles.len(),
                    sentences.len()
                ));
            }
            titles.iter().zip(sentences).map(|(t, s)| paragraph(t, s)).collect()
        }
        Value::Array(pairs) => pairs
            .iter()
            .enumerate()
            .map(|(i, pair)| match pair.as_array().map(Vec::as_slice) {
                Some([title, sentences]) => Ok(paragraph(title, sentences)),
                _ => Err(format!("field '{field}'[{i}] should be a [title, sentences] pair")),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "field '{field}' should be an object with 'title' and 'sentences', found {}",
                kind(other)
            ))
        }
    };
    Ok(Value::String(paragraphs.join("\n\n")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(op: &str, value: Value) -> Result<Value, String> {
        run_with(op, value, None)
    }

    fn run_with(op: &str, value: Value, categories: Option<&[String]>) -> Result<Value, String> {
        let t = FieldTransform::new("f", TransformOp::parse(op).map_err(|e| e.0)?);
        let mut row = Map::new();
        row.insert("f".into(), value);
        t.apply(&mut row, categories).map_err(|e| e.0)?;
        Ok(row["f"].clone())
    }

    #[test]
    fn gsm8k_answer_and_rationale() {
        let answer = json!("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\nShe makes $<<9*2=18>>18.\n#### 1,018");
        assert_eq!(run("gsm8k_final_answer", answer.clone()).unwrap(), "1018");
        assert_eq!(run("gsm8k_rationale", answer).unwrap(), "Janet sells 16 - 3 - 4 = 9 duck eggs.\nShe makes $18.");
        assert_eq!(
            run("gsm8k_final_answer", json!("no marker")).unwrap_err(),
            "field 'f' has no '#### <number>' marker"
        );
        assert_eq!(run("gsm8k_final_answer", json!("x ####  ")).unwrap_err(), "field 'f' has nothing after '####'");
        assert_eq!(
            run("gsm8k_final_answer", json!(3)).unwrap_err(),
            "field 'f' should be a string for gsm8k_final_answer, found a number"
        );
    }

    #[test]
    fn annotations_stripped() {
        assert_eq!(strip_annotations("a <<1+1=2>>2 b <<x>>"), "a 2 b ");
        assert_eq!(strip_annotations("keep << open"), "keep << open");
        assert_eq!(strip_annotations("<<a>><<b>>c"), "c");
    }

    #[test]
    fn strip_lowercase_regex() {
        assert_eq!(run("strip", json!("  Yes \n")).unwrap(), "Yes");
        assert_eq!(run("lowercase", json!("Yes")).unwrap(), "yes");
        assert_eq!(run(r"regex:answer is (\d+)", json!("so the answer is 42.")).unwrap(), "42");
        assert_eq!(run(r"regex:(\d+)", json!(17)).unwrap(), "17");
        assert_eq!(
            run(r"regex:answer is (\d+)", json!("none")).unwrap_err(),
            r"field 'f' does not match regex `answer is (\d+)`"
        );
        assert_eq!(
            TransformOp::parse(r"regex:(\d+)-(\d+)").unwrap_err().0,
            r"regex `(\d+)-(\d+)` must have exactly one capture group, it has 2"
        );
        assert!(TransformOp::parse("regex:(").unwrap_err().0.starts_with("invalid regex `(`: "));
        assert!(TransformOp::parse("upper")
            .unwrap_err()
            .0
            .starts_with("unknown transform 'upper' (known: gsm8k_final_answer, "));
        assert_eq!(TransformOp::parse("banking77").unwrap().describe(), "category_name");
    }

    #[test]
    fn category_names() {
        let cats: Vec<String> = vec!["card_arrival".into(), "card_linking".into()];
        let c = Some(cats.as_slice());
        assert_eq!(run_with("category_name", json!(1), c).unwrap(), "card_linking");
        assert_eq!(run_with("category_name", json!("0"), c).unwrap(), "card_arrival");
        assert_eq!(run_with("category_name", json!("card_linking"), c).unwrap(), "card_linking");
        assert_eq!(
            run_with("category_name", json!(5), c).unwrap_err(),
            "field 'f': category index 5 is out of range (there are 2 categories)"
        );
        assert_eq!(
            run_with("category_name", json!("lost_card"), c).unwrap_err(),
            "field 'f': 'lost_card' is not one of the 2 categories"
        );
    }

    #[test]
    fn paragraphs_from_object_or_pairs() {
        let ctx = json!({"title": ["T1", "T2"], "sentences": [["a. ", "b."], ["c."]]});
        assert_eq!(run("titled_paragraphs", ctx).unwrap(), "T1: a. b.\n\nT2: c.");
        let pairs = json!([["T1", ["a."]], ["T2", ["b."]]]);
        assert_eq!(run("titled_paragraphs", pairs).unwrap(), "T1: a.\n\nT2: b.");
        assert_eq!(run("titled_paragraphs", json!("already text")).unwrap(), "already text");
        assert_eq!(
            run("titled_paragraphs", json!({"title": []})).unwrap_err(),
            "field 'f' should have 'title' and 'sentences' lists"
        );
    }

    #[test]
    fn missing_field_and_into() {
        let t = FieldTransform {
            field: "answer".into(),
            into: Some("rationale".into()),
            op: TransformOp::parse("gsm8k_rationale").unwrap(),
        };
        let mut row = Map::new();
        assert_eq!(
            t.apply(&mut row, None).unwrap_err().0,
            "field 'answer' missing (needed by transform gsm8k_rationale)"
        );
        row.insert("answer".into(), json!("x\n#### 1"));
        t.apply(&mut row, None).unwrap();
        assert_eq!(row["rationale"], "x");
        assert_eq!(row["answer"], "x\n#### 1");
    }
}

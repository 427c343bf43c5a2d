//! Known-format adapters for named benchmark datasets: where each split lives, which fields are
//! inputs, and how a raw row becomes an example. Adding a dataset is adding a row to [`ADAPTERS`].

use super::load::kind;
use serde_json::{Map, Value};

/// Turns one raw row into the example's fields, or says what was wrong with it.
pub type RowTransform = fn(Map<String, Value>) -> std::result::Result<Map<String, Value>, String>;

/// How to load one named dataset.
#[derive(Debug, Clone, Copy)]
pub struct Adapter {
    /// Dataset name, as used in `name:split` selectors.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Fixed splits: `(split, path relative to a data directory)`.
    pub splits: &'static [(&'static str, &'static str)],
    /// For datasets whose splits are files in a folder (e.g. BBH tasks): a path template where
    /// `{split}` stands for the split name, e.g. `bbh/{split}.json`.
    pub split_template: Option<&'static str>,
    /// Split used when the selector names none; `None` means a split must be given.
    pub default_split: Option<&'static str>,
    /// Input fields of the produced examples.
    pub input_keys: &'static [&'static str],
    /// Row conversion; `None` keeps rows as they are.
    pub transform: Option<RowTransform>,
}

impl Adapter {
    /// The relative path of `split`, or `None` when the adapter has no such split.
    pub fn split_path(&self, split: &str) -> Option<String> {
        if let Some((_, path)) = self.splits.iter().find(|(s, _)| *s == split) {
            return Some((*path).to_string());
        }
        let valid = !split.is_empty() && !split.contains(['/', '\\']) && split != "." && split != "..";
        self.split_template.filter(|_| valid).map(|t| t.replace("{split}", split))
    }
}

/// The known datasets.
pub static ADAPTERS: &[Adapter] = &[
    Adapter {
        name: "gsm8k",
        description: "grade-school math word problems; answer is the final number, rationale the worked solution",
        splits: &[("test", "gsm8k/test.jsonl"), ("train", "gsm8k/train.jsonl")],
        split_template: None,
        default_split: Some("test"),
        input_keys: &["question"],
        transform: Some(gsm8k_row),
    },
    Adapter {
        name: "hotpotqa",
        description: "multi-hop QA: `dev` (question only) or `distractor` (with 10 paragraphs as `context`)",
        splits: &[("dev", "hotpotqa/dev_simplified.json"), ("distractor", "hotpotqa/distractor_sample100.jsonl")],
        split_template: None,
        default_split: Some("dev"),
        input_keys: &["question"],
        transform: Some(hotpotqa_row),
    },
    Adapter {
        name: "banking77",
        description: "banking customer query (`text`) -> intent label (`category`)",
        splits: &[("test", "banking77/test.csv"), ("train", "banking77/train.csv")],
        split_template: None,
        default_split: Some("test"),
        input_keys: &["text"],
        transform: None,
    },
    Adapter {
        name: "bbh",
        description: "BIG-Bench Hard; the split is the task name, e.g. bbh:snarks (`input` -> `target`)",
        splits: &[],
        split_template: Some("bbh/{split}.json"),
        default_split: None,
        input_keys: &["input"],
        transform: None,
    },
    Adapter {
        name: "math500",
        description: "competition math (`problem` -> `answer`)",
        splits: &[("test", "math500/test.jsonl")],
        split_template: None,
        default_split: Some("test"),
        input_keys: &["problem"],
        transform: None,
    },
];

/// The adapter for a dataset name, if it is a known one.
pub fn find_adapter(name: &str) -> Option<&'static Adapter> {
    ADAPTERS.iter().find(|a| a.name == name)
}

fn text_field(row: &Map<String, Value>, key: &str) -> Result<String, String> {
    match row.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("field '{key}' should be a string, found {}", kind(other))),
        None => Err(format!("field '{key}' missing")),
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

/// GSM8K: `answer` is "<worked solution>\n#### <number>". Produces `question`, `answer` (the
/// number with commas removed) and `rationale` (the solution without `<<...>>` annotations).
fn gsm8k_row(row: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let question = text_field(&row, "question")?;
    let answer = text_field(&row, "answer")?;
    let (rationale, number) =
        answer.rsplit_once("####").ok_or_else(|| "field 'answer' has no '#### <number>' marker".to_string())?;
    let number = number.trim().replace(',', "");
    if number.is_empty() {
        return Err("field 'answer' has nothing after '####'".into());
    }
    let rationale = strip_annotations(rationale).trim().to_string();
    let mut out = Map::new();
    out.insert("question".into(), Value::String(question));
    out.insert("answer".into(), Value::String(number));
    out.insert("rationale".into(), Value::String(rationale));
    Ok(out)
}

/// HotpotQA: keeps rows as they are, except that a structured `context`
/// (`{"title": [...], "sentences": [[...], ...]}`) becomes text, one paragraph per title.
fn hotpotqa_row(mut row: Map<String, Value>) -> Result<Map<String, Value>, String> {
    if let Some(Value::Object(ctx)) = row.get("context") {
        let (Some(Value::Array(titles)), Some(Value::Array(sentences))) = (ctx.get("title"), ctx.get("sentences"))
        else {
            return Err("field 'context' should have 'title' and 'sentences' lists".into());
        };
        let paragraphs: Vec<String> = titles
            .iter()
            .zip(sentences)
            .map(|(title, sents)| {
                let title = promptsmith_core::value_to_text(title);
                let body: String = match sents {
                    Value::Array(s) => s.iter().map(promptsmith_core::value_to_text).collect::<Vec<_>>().concat(),
                    other => promptsmith_core::value_to_text(other),
                };
                format!("{title}: {}", body.trim())
            })
            .collect();
        row.insert("context".into(), Value::String(paragraphs.join("\n\n")));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn gsm8k_extracts_number_and_rationale() {
        let row = obj(json!({
            "question": "Q?",
            "answer": "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 1,018"
        }));
        let out = gsm8k_row(row).unwrap();
        assert_eq!(out["question"], "Q?");
        assert_eq!(out["answer"], "1018");
        assert_eq!(out["rationale"], "Janet sells 16 - 3 - 4 = 9 duck eggs.\nShe makes 9 * 2 = $18.");
        assert_eq!(out.keys().collect::<Vec<_>>(), ["question", "answer", "rationale"]);
    }

    #[test]
    fn annotations_stripped() {
        assert_eq!(strip_annotations("a <<1+1=2>>2 b <<x>>"), "a 2 b ");
        assert_eq!(strip_annotations("keep << open"), "keep << open");
        assert_eq!(strip_annotations("<<a>><<b>>c"), "c");
    }

    #[test]
    fn gsm8k_errors() {
        assert_eq!(
            gsm8k_row(obj(json!({"question": "Q", "answer": "no marker"}))).unwrap_err(),
            "field 'answer' has no '#### <number>' marker"
        );
        assert_eq!(gsm8k_row(obj(json!({"question": "Q"}))).unwrap_err(), "field 'answer' missing");
        assert_eq!(
            gsm8k_row(obj(json!({"question": 3, "answer": "#### 1"}))).unwrap_err(),
            "field 'question' should be a string, found a number"
        );
        assert_eq!(
            gsm8k_row(obj(json!({"question": "Q", "answer": "x ####  "}))).unwrap_err(),
            "field 'answer' has nothing after '####'"
        );
    }

    #[test]
    fn hotpotqa_context_becomes_text() {
        let row = obj(json!({
            "question": "Q", "answer": "A",
            "context": {"title": ["T1", "T2"], "sentences": [["a. ", "b."], ["c."]]}
        }));
        let out = hotpotqa_row(row).unwrap();
        assert_eq!(out["context"], "T1: a. b.\n\nT2: c.");
    }

    #[test]
    fn split_paths() {
        let gsm = find_adapter("gsm8k").unwrap();
        assert_eq!(gsm.split_path("train").as_deref(), Some("gsm8k/train.jsonl"));
        assert_eq!(gsm.split_path("dev"), None);
        let bbh = find_adapter("bbh").unwrap();
        assert_eq!(bbh.split_path("snarks").as_deref(), Some("bbh/snarks.json"));
        assert_eq!(bbh.split_path("../x"), None);
        assert!(find_adapter("nope").is_none());
    }
}

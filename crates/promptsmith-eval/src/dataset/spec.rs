//! Declarative dataset specs (TOML): which files make each split, how columns become fields,
//! which fields are inputs and labels, label transforms, and seeded fraction splits. The specs
//! of the benchmark sets in `../shared/data` ship inside the binary (`datasets/*.toml`); a user
//! can write their own and pass its path to `--data`. See `datasets/README.md` for every key.

use super::load::{DataFormat, LoadOptions};
use super::transform::{FieldTransform, TransformOp};
use crate::error::{EvalError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The specs shipped with promptsmith: `(path in the repository, TOML text)`.
const BUILTIN: &[(&str, &str)] = &[
    ("datasets/gsm8k.toml", include_str!("../../../../datasets/gsm8k.toml")),
    ("datasets/banking77.toml", include_str!("../../../../datasets/banking77.toml")),
    ("datasets/hotpotqa.toml", include_str!("../../../../datasets/hotpotqa.toml")),
    ("datasets/hotpotqa_questions.toml", include_str!("../../../../datasets/hotpotqa_questions.toml")),
    ("datasets/bbh.toml", include_str!("../../../../datasets/bbh.toml")),
    ("datasets/ifeval.toml", include_str!("../../../../datasets/ifeval.toml")),
    ("datasets/math500.toml", include_str!("../../../../datasets/math500.toml")),
];

/// Seeded fraction splits made from one file split (see [`super::Dataset::splits`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedSplits {
    /// The file split they are cut from.
    pub from: String,
    /// Shuffle seed.
    pub seed: u64,
    /// Fraction of examples in `train`.
    pub train: f64,
    /// Fraction of examples in `val`.
    pub val: f64,
    /// Fraction of examples in `test`.
    pub test: f64,
}

impl DerivedSplits {
    /// The split names with a non-zero fraction, in order train, val, test.
    pub fn names(&self) -> Vec<&'static str> {
        [("train", self.train), ("val", self.val), ("test", self.test)]
            .into_iter()
            .filter(|(_, f)| *f > 0.0)
            .map(|(n, _)| n)
            .collect()
    }
}

/// A parsed, validated dataset spec.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    /// Name used in `--data NAME[:SPLIT]` (and `NAME/TASK[:SPLIT]` for task families).
    pub name: String,
    /// One line about the dataset.
    pub description: String,
    /// Where the files come from, shown when they are not found.
    pub source: Option<String>,
    /// The dataset's folder as the spec gives it: relative to a data directory for built-in
    /// specs (default: the name), to the spec's own folder for a spec file (default: that folder).
    pub dir: Option<String>,
    /// For a spec read from a file: the folder `dir` is relative to. `None` for built-in specs,
    /// whose `dir` is looked up on the data search path.
    pub base: Option<PathBuf>,
    /// Format of every file; `None` chooses each file's format from its extension.
    pub format: Option<DataFormat>,
    /// File splits: `(split, file relative to the dataset folder)`; with tasks, `{task}` stands for the task.
    pub files: Vec<(String, String)>,
    /// Task names, for task families such as BBH.
    pub tasks: Vec<String>,
    /// Split used when none is named.
    pub default_split: Option<String>,
    /// Column renames `(column, field)`.
    pub rename: Vec<(String, String)>,
    /// Transforms, applied in order after the renames.
    pub transforms: Vec<FieldTransform>,
    /// Input fields.
    pub inputs: Vec<String>,
    /// Label fields.
    pub labels: Vec<String>,
    /// Other fields kept; when non-empty, all other fields are dropped.
    pub metadata: Vec<String>,
    /// JSON file (relative to the dataset folder) listing the category names.
    pub categories: Option<String>,
    /// Seeded fraction splits made from one file split.
    pub derived: Option<DerivedSplits>,
    /// Where the spec came from (`datasets/gsm8k.toml` or the path of a user's file).
    pub origin: String,
    /// The spec's TOML text.
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Spanned<String>,
    description: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    files: Spanned<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    tasks: Vec<Spanned<String>>,
    #[serde(default)]
    default_split: Option<Spanned<String>>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
    #[serde(default)]
    transform: Vec<Spanned<RawTransform>>,
    inputs: Spanned<Vec<String>>,
    #[serde(default)]
    labels: Vec<Spanned<String>>,
    #[serde(default)]
    metadata: Vec<String>,
    #[serde(default)]
    categories: Option<String>,
    #[serde(default)]
    splits: Option<Spanned<RawSplits>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransform {
    field: String,
    #[serde(default)]
    into: Option<String>,
    #[serde(default)]
    apply: Option<Spanned<String>>,
    #[serde(default)]
    regex: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSplits {
    from: Spanned<String>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    train: f64,
    #[serde(default)]
    val: f64,
    #[serde(default)]
    test: f64,
}

/// The spec text being parsed, for errors that name the file, line and column. Each step of
/// [`DatasetSpec::parse`] checks one part of the raw spec.
struct Place<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Place<'_> {
    fn err(&self, span: Option<Range<usize>>, message: String) -> EvalError {
        EvalError::data(locate(self.origin, self.text, span), message)
    }

    fn name(&self, raw: &RawSpec) -> Result<String> {
        let name = raw.name.get_ref().clone();
        if !valid_name(&name) {
            return Err(self.err(
                Some(raw.name.span()),
                format!("name '{name}' should be letters, digits, '_', '-' or '.' (no '/' or ':')"),
            ));
        }
        Ok(name)
    }

    fn format(&self, raw: &RawSpec) -> Result<Option<DataFormat>> {
        let Some(f) = &raw.format else { return Ok(None) };
        DataFormat::from_name(f.get_ref()).map(Some).ok_or_else(|| {
            self.err(Some(f.span()), format!("unknown format '{}' (expected jsonl, json, csv or tsv)", f.get_ref()))
        })
    }

    /// `[files]`: valid split names, `{task}` exactly when `tasks` are listed, a known format.
    fn files(&self, raw: &RawSpec, format: Option<DataFormat>) -> Result<Vec<(String, String)>> {
        if raw.files.get_ref().is_empty() {
            return Err(self.err(Some(raw.files.span()), "[files] names no file".into()));
        }
        let family = !raw.tasks.is_empty();
        let mut files = Vec::new();
        for (split, file) in raw.files.get_ref() {
            let fail = |message: String| Err(self.err(Some(file.span()), message));
            if !valid_name(split) {
                return fail(format!("split name '{split}' should be letters, digits, '_', '-' or '.'"));
            }
            let has_task = file.get_ref().contains("{task}");
            if family && !has_task {
                return fail(format!("file '{}' of a spec with `tasks` should contain {{task}}", file.get_ref()));
            }
            if !family && has_task {
                return fail(format!("file '{}' uses {{task}} but no `tasks` are listed", file.get_ref()));
            }
            if format.is_none() && DataFormat::from_path(Path::new(file.get_ref())).is_none() {
                return fail(format!(
                    "cannot tell the format of '{}' from its extension; name it .jsonl, .json, .csv or .tsv, \
                     or set `format`",
                    file.get_ref()
                ));
            }
            files.push((split.clone(), file.get_ref().clone()));
        }
        Ok(files)
    }

    fn tasks(&self, raw: &RawSpec) -> Result<Vec<String>> {
        let mut tasks = Vec::new();
        for task in &raw.tasks {
            if !valid_name(task.get_ref()) || tasks.contains(task.get_ref()) {
                return Err(
                    self.err(Some(task.span()), format!("task '{}' is not a valid, unique name", task.get_ref()))
                );
            }
            tasks.push(task.get_ref().clone());
        }
        Ok(tasks)
    }

    /// `inputs` (at least one) and `labels` (none of them an input).
    fn fields(&self, raw: &RawSpec) -> Result<(Vec<String>, Vec<String>)> {
        let inputs = raw.inputs.get_ref().clone();
        if inputs.is_empty() {
            return Err(self.err(Some(raw.inputs.span()), "`inputs` names no field".into()));
        }
        let mut labels = Vec::new();
        for label in &raw.labels {
            if inputs.contains(label.get_ref()) {
                return Err(
                    self.err(Some(label.span()), format!("field '{}' is both an input and a label", label.get_ref()))
                );
            }
            labels.push(label.get_ref().clone());
        }
        Ok((inputs, labels))
    }

    /// `[[transform]]`s: one of `apply` or `regex` each, `categories` when one needs them.
    fn transforms(&self, raw: &RawSpec) -> Result<Vec<FieldTransform>> {
        let mut transforms = Vec::new();
        for t in &raw.transform {
            let span = Some(t.span());
            let t = t.get_ref();
            let op = match (&t.apply, &t.regex) {
                (Some(name), None) => {
                    TransformOp::parse(name.get_ref()).map_err(|m| self.err(Some(name.span()), m.to_string()))?
                }
                (None, Some(re)) => {
                    TransformOp::regex(re.get_ref()).map_err(|m| self.err(Some(re.span()), m.to_string()))?
                }
                _ => return Err(self.err(span, "a [[transform]] needs exactly one of `apply` or `regex`".into())),
            };
            if op.needs_categories() && raw.categories.is_none() {
                return Err(self.err(span, format!("transform {} needs a `categories` file", op.describe())));
            }
            transforms.push(FieldTransform { field: t.field.clone(), into: t.into.clone(), op });
        }
        Ok(transforms)
    }

    /// `[splits]`: seeded fractions of one file split, none clashing with a file split.
    fn derived(&self, raw: &RawSpec, files: &[(String, String)]) -> Result<Option<DerivedSplits>> {
        let Some(s) = &raw.splits else { return Ok(None) };
        let span = Some(s.span());
        let r = s.get_ref();
        if !files.iter().any(|(split, _)| split == r.from.get_ref()) {
            return Err(self
                .err(Some(r.from.span()), format!("[splits] from '{}' is not a split in [files]", r.from.get_ref())));
        }
        let fractions = [r.train, r.val, r.test];
        if fractions.iter().any(|f| !f.is_finite() || *f < 0.0) || fractions.iter().sum::<f64>() > 1.0 + 1e-9 {
            return Err(self.err(span, "[splits] fractions should be between 0 and 1 and add up to at most 1".into()));
        }
        let d =
            DerivedSplits { from: r.from.get_ref().clone(), seed: r.seed, train: r.train, val: r.val, test: r.test };
        if d.names().is_empty() {
            return Err(self.err(span, "[splits] gives every split a fraction of 0".into()));
        }
        if let Some(clash) = d.names().into_iter().find(|n| files.iter().any(|(s, _)| s == n)) {
            return Err(self.err(span, format!("[splits] makes a '{clash}' split, but [files] already has one")));
        }
        Ok(Some(d))
    }

    /// `default_split`: one of the spec's splits; the only file split when there is one.
    fn default_split(&self, given: Option<&Spanned<String>>, spec: &DatasetSpec) -> Result<Option<String>> {
        match given {
            Some(d) if spec.splits().iter().any(|s| s == d.get_ref()) => Ok(Some(d.get_ref().clone())),
            Some(d) => Err(self.err(
                Some(d.span()),
                format!("default_split '{}' is not one of the splits ({})", d.get_ref(), spec.splits().join(", ")),
            )),
            None if spec.files.len() == 1 => Ok(Some(spec.files[0].0.clone())),
            None => Ok(None),
        }
    }
}

/// `origin line L column C` for a byte offset into `text`.
fn locate(origin: &str, text: &str, span: Option<Range<usize>>) -> String {
    let Some(span) = span else { return origin.to_string() };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{origin} line {line} column {column}")
}

/// Whether `name` is usable as a dataset, split or task name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl DatasetSpec {
    /// Parses a spec's TOML text. `origin` names it in error messages, which give the line and
    /// column of the offending key.
    pub fn parse(origin: &str, text: &str) -> Result<DatasetSpec> {
        let at = Place { origin, text };
        let raw: RawSpec = toml::from_str(text).map_err(|e| at.err(e.span(), e.message().trim().to_string()))?;
        let name = at.name(&raw)?;
        let format = at.format(&raw)?;
        let files = at.files(&raw, format)?;
        let tasks = at.tasks(&raw)?;
        let (inputs, labels) = at.fields(&raw)?;
        let transforms = at.transforms(&raw)?;
        let derived = at.derived(&raw, &files)?;
        let spec = DatasetSpec {
            dir: raw.dir,
            name,
            description: raw.description,
            source: raw.source,
            base: None,
            format,
            files,
            tasks,
            default_split: None,
            rename: raw.rename.into_iter().collect(),
            transforms,
            inputs,
            labels,
            metadata: raw.metadata,
            categories: raw.categories,
            derived,
            origin: origin.to_string(),
            text: text.to_string(),
        };
        let default_split = at.default_split(raw.default_split.as_ref(), &spec)?;
        Ok(DatasetSpec { default_split, ..spec })
    }

    /// Reads a spec file; its `dir` (default: the file's folder itself) is relative to the file's folder.
    pub fn from_file(path: &Path) -> Result<DatasetSpec> {
        let text =
            std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })?;
        let mut spec = DatasetSpec::parse(&path.display().to_string(), &text)?;
        spec.base = Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
        Ok(spec)
    }

    /// The dataset's folder: for a spec file, its `dir` under the spec's folder; for a built-in
    /// spec, its `dir` (default: the name) under `data_dir`.
    pub fn folder(&self, data_dir: &Path) -> PathBuf {
        match &self.base {
            Some(base) => base.join(self.dir.as_deref().unwrap_or_default()),
            None => data_dir.join(self.dir.as_deref().unwrap_or(&self.name)),
        }
    }

    /// All split names: the file splits, then the derived ones.
    pub fn splits(&self) -> Vec<String> {
        let mut out: Vec<String> = self.files.iter().map(|(s, _)| s.clone()).collect();
        if let Some(d) = &self.derived {
            out.extend(d.names().into_iter().map(str::to_string));
        }
        out
    }

    /// Whether this spec is a family of tasks (`bbh/<task>`).
    pub fn is_family(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// The file split a split is read from (itself, or the one derived splits are cut from), and
    /// the file's path relative to the dataset folder. `None` for an unknown split.
    pub fn file_for(&self, split: &str, task: Option<&str>) -> Option<(String, String)> {
        let file_split = match &self.derived {
            Some(d) if d.names().contains(&split) => d.from.as_str(),
            _ => split,
        };
        let (name, file) = self.files.iter().find(|(s, _)| s == file_split)?;
        Some((name.clone(), file.replace("{task}", task.unwrap_or_default())))
    }

    /// The row options this spec describes (categories are read separately, from the data folder).
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            format: self.format,
            rename: self.rename.clone(),
            transforms: self.transforms.clone(),
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            categories: None,
        }
    }

    /// Fields kept when `metadata` is given: inputs, labels, metadata and transform outputs.
    pub(crate) fn kept_fields(&self) -> Option<Vec<String>> {
        if self.metadata.is_empty() {
            return None;
        }
        let mut keep: Vec<String> = self.inputs.iter().chain(&self.labels).chain(&self.metadata).cloned().collect();
        keep.extend(self.transforms.iter().filter_map(|t| t.into.clone()));
        Some(keep)
    }

    /// The dataset names this spec offers: `name`, or `name/<task>` for each task.
    pub fn names(&self) -> Vec<String> {
        if self.is_family() {
            self.tasks.iter().map(|t| format!("{}/{t}", self.name)).collect()
        } else {
            vec![self.name.clone()]
        }
    }
}

/// The specs shipped with promptsmith, in a fixed order (gsm8k, banking77, hotpotqa,
/// hotpotqa_questions, bbh, ifeval, math500).
pub fn builtin_specs() -> Result<Vec<DatasetSpec>> {
    BUILTIN.iter().map(|(origin, text)| DatasetSpec::parse(origin, text)).collect()
}

/// The built-in spec with this name, if any.
pub fn builtin_spec(name: &str) -> Result<Option<DatasetSpec>> {
    Ok(builtin_specs()?.into_iter().find(|s| s.name == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        DatasetSpec::parse("my.toml", text).unwrap_err().to_string()
    }

    const MINIMAL: &str = "name = \"qa\"\ndescription = \"d\"\ninputs = [\"q\"]\n[files]\nall = \"qa.jsonl\"\n";

    #[test]
    fn builtin_specs_parse() {
        let specs = builtin_specs().unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gsm8k", "banking77", "hotpotqa", "hotpotqa_questions", "bbh", "ifeval", "math500"]);
        let gsm = &specs[0];
        assert_eq!(gsm.splits(), ["test", "train"]);
        assert_eq!(gsm.default_split.as_deref(), Some("test"));
        assert_eq!(gsm.folder(Path::new("d")), PathBuf::from("d/gsm8k"));
        let bbh = builtin_spec("bbh").unwrap().unwrap();
        assert_eq!(bbh.tasks.len(), 23);
        assert_eq!(bbh.splits(), ["all", "train", "val", "test"]);
        assert_eq!(bbh.file_for("val", Some("snarks")), Some(("all".into(), "snarks.json".into())));
        assert_eq!(bbh.file_for("dev", Some("snarks")), None);
        let questions = builtin_spec("hotpotqa_questions").unwrap().unwrap();
        assert_eq!(questions.folder(Path::new("d")), PathBuf::from("d/hotpotqa"));
        assert!(builtin_spec("nope").unwrap().is_none());
    }

    #[test]
    fn minimal_spec_defaults() {
        let spec = DatasetSpec::parse("my.toml", MINIMAL).unwrap();
        assert_eq!(spec.default_split.as_deref(), Some("all"));
        assert_eq!(spec.folder(Path::new("d")), PathBuf::from("d/qa"));
        assert!(spec.labels.is_empty() && spec.derived.is_none() && !spec.is_family());
        assert_eq!(spec.names(), ["qa"]);
    }

    #[test]
    fn errors_are_located() {
        assert_eq!(
            parse_err(&format!("colour = 1\n{MINIMAL}")),
            "my.toml line 1 column 1: unknown field `colour`, expected one of `name`, `description`, `source`, `dir`, \
             `format`, `files`, `tasks`, `default_split`, `rename`, `transform`, `inputs`, `labels`, `metadata`, \
             `categories`, `splits`"
        );
        assert_eq!(
            parse_err("name = \"qa\"\ninputs = [\"q\"]\n[files]\nall = \"qa.jsonl\"\n"),
            "my.toml line 1 column 1: missing field `description`"
        );
        assert_eq!(
            parse_err(&format!("{MINIMAL}[[transform]]\nfield = \"a\"\napply = \"upper\"\n")),
            "my.toml line 8 column 9: unknown transform 'upper' (known: gsm8k_final_answer, gsm8k_rationale, strip, \
             lowercase, category_name, titled_paragraphs; or regex:PATTERN with one capture group)"
        );
        assert_eq!(
            parse_err(&format!("{MINIMAL}[[transform]]\nfield = \"a\"\nregex = \"(a)(b)\"\n")),
            "my.toml line 8 column 9: regex `(a)(b)` must have exactly one capture group, it has 2"
        );
        assert_eq!(
            parse_err(&format!("{MINIMAL}[[transform]]\nfield = \"a\"\n")),
            "my.toml line 6 column 1: a [[transform]] needs exactly one of `apply` or `regex`"
        );
        assert_eq!(
            parse_err(&format!("{MINIMAL}[[transform]]\nfield = \"a\"\napply = \"category_name\"\n")),
            "my.toml line 6 column 1: transform category_name needs a `categories` file"
        );
        assert_eq!(
            parse_err(&MINIMAL.replace("all = \"qa.jsonl\"", "all = \"qa.txt\"")),
            "my.toml line 5 column 7: cannot tell the format of 'qa.txt' from its extension; name it .jsonl, .json, \
             .csv or .tsv, or set `format`"
        );
        assert_eq!(
            parse_err(&format!("default_split = \"dev\"\n{MINIMAL}")),
            "my.toml line 1 column 17: default_split 'dev' is not one of the splits (all)"
        );
        assert_eq!(
            parse_err(&format!("{MINIMAL}[splits]\nfrom = \"x\"\ntrain = 0.5\n")),
            "my.toml line 7 column 8: [splits] from 'x' is not a split in [files]"
        );
        assert_eq!(
            parse_err(&format!("{MINIMAL}[splits]\nfrom = \"all\"\ntrain = 0.8\ntest = 0.4\n")),
            "my.toml line 6 column 1: [splits] fractions should be between 0 and 1 and add up to at most 1"
        );
        assert_eq!(
            parse_err(&format!("labels = [\"q\"]\n{MINIMAL}")),
            "my.toml line 1 column 11: field 'q' is both an input and a label"
        );
        assert_eq!(
            parse_err(&MINIMAL.replace("all = \"qa.jsonl\"", "all = \"{task}.jsonl\"")),
            "my.toml line 5 column 7: file '{task}.jsonl' uses {task} but no `tasks` are listed"
        );
        assert_eq!(
            parse_err(&MINIMAL.replace("name = \"qa\"", "name = \"a/b\"")),
            "my.toml line 1 column 8: name 'a/b' should be letters, digits, '_', '-' or '.' (no '/' or ':')"
        );
        assert_eq!(parse_err("name = \n"), "my.toml line 1 column 8: invalid string\nexpected `\"`, `'`");
    }

    #[test]
    fn derived_splits_and_clashes() {
        let spec = DatasetSpec::parse(
            "my.toml",
            &format!("{MINIMAL}[splits]\nfrom = \"all\"\nseed = 3\ntrain = 0.7\nval = 0.3\n"),
        )
        .unwrap();
        assert_eq!(spec.splits(), ["all", "train", "val"]);
        assert_eq!(spec.file_for("train", None), Some(("all".into(), "qa.jsonl".into())));
        let clash = MINIMAL.replace("all = \"qa.jsonl\"", "all = \"qa.jsonl\"\ntest = \"t.jsonl\"");
        assert_eq!(
            parse_err(&format!("{clash}[splits]\nfrom = \"all\"\ntest = 0.5\n")),
            "my.toml line 7 column 1: [splits] makes a 'test' split, but [files] already has one"
        );
    }
}

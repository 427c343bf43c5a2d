//! Named-dataset resolution: `gsm8k:test`, `bbh/snarks`, `my_set.toml:train`, `my_data`, or a
//! plain path, and column mappings (`--input text=question`) for plain files.

use super::load::{DataFormat, LoadOptions};
use super::spec::{builtin_specs, DatasetSpec};
use super::transform::{FieldTransform, TransformOp};
use super::Dataset;
use crate::error::{EvalError, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Environment variable naming a directory of datasets, searched first.
pub const DATA_DIR_ENV: &str = "PROMPTSMITH_DATA_DIR";

/// One directory on the data search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDir {
    /// How to show it in messages (e.g. `$PROMPTSMITH_DATA_DIR`).
    pub label: String,
    /// The directory.
    pub path: PathBuf,
}

/// Directories searched, in order, for named datasets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSearchPath {
    dirs: Vec<SearchDir>,
    notes: Vec<String>,
}

/// A column of a plain data file and the field it becomes: `question`, or `text=question` to rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    /// Column (or key) in the file.
    pub column: String,
    /// Field name in the examples.
    pub field: String,
}

impl ColumnMapping {
    /// Parses `column` or `column=field`.
    pub fn parse(text: &str) -> std::result::Result<ColumnMapping, super::transform::MappingError> {
        let (column, field) = text.split_once('=').unwrap_or((text, text));
        let (column, field) = (column.trim(), field.trim());
        if column.is_empty() || field.is_empty() {
            return Err(super::transform::MappingError(format!("'{text}' should be COLUMN or COLUMN=FIELD")));
        }
        Ok(ColumnMapping { column: column.to_string(), field: field.to_string() })
    }

    /// Whether the column is renamed.
    pub fn renames(&self) -> bool {
        self.column != self.field
    }
}

/// How to map a file's columns to fields: for a plain file, the input and label columns (with
/// renames) and a transform applied to every label; for a dataset with a spec, replacements for
/// the spec's inputs and labels (no renames) and an extra label transform.
#[derive(Debug, Clone, Default)]
pub struct FieldMapping {
    /// Input columns.
    pub inputs: Vec<ColumnMapping>,
    /// Label columns.
    pub labels: Vec<ColumnMapping>,
    /// A transform applied to every label field after the others.
    pub label_transform: Option<TransformOp>,
}

impl FieldMapping {
    /// A mapping naming only input fields.
    pub fn inputs(keys: &[&str]) -> FieldMapping {
        FieldMapping {
            inputs: keys.iter().map(|k| ColumnMapping { column: k.to_string(), field: k.to_string() }).collect(),
            ..FieldMapping::default()
        }
    }
}

/// Where a dataset selector points.
#[derive(Debug, Clone)]
pub struct ResolvedDataset {
    /// Canonical name: `name:split` (or `family/task:split`) for datasets with a spec, the path
    /// as given otherwise.
    pub name: String,
    /// The data file read (for a derived split, the file it is cut from).
    pub path: PathBuf,
    /// The split, for datasets with a spec.
    pub split: Option<String>,
    /// The task, for task families.
    pub task: Option<String>,
    /// The spec, for named datasets and spec files.
    pub spec: Option<DatasetSpec>,
    /// The dataset's folder (where `categories` is read from).
    folder: PathBuf,
}

impl ResolvedDataset {
    /// Loads the data. `input_keys` replaces the spec's inputs; a plain file needs them.
    pub fn load(&self, input_keys: Option<&[&str]>) -> Result<Dataset> {
        self.load_mapped(&FieldMapping::inputs(input_keys.unwrap_or_default()))
    }

    /// Loads the data with a column mapping (see [`FieldMapping`]).
    pub fn load_mapped(&self, mapping: &FieldMapping) -> Result<Dataset> {
        let shown = self.path.display().to_string();
        let dataset = match &self.spec {
            Some(spec) => self.load_spec(spec, mapping)?,
            None => {
                if mapping.inputs.is_empty() {
                    let known: Vec<String> = builtin_specs()?.iter().map(|s| s.name.clone()).collect();
                    return Err(EvalError::data(
                        shown,
                        format!(
                            "no input fields given: name the input columns (--input COLUMN), or use a dataset with \
                             a spec ({})",
                            known.join(", ")
                        ),
                    ));
                }
                if mapping.label_transform.is_some() && mapping.labels.is_empty() {
                    return Err(EvalError::data(shown, "a label transform needs the label columns (--label COLUMN)"));
                }
                let fields = |m: &[ColumnMapping]| m.iter().map(|c| c.field.clone()).collect::<Vec<_>>();
                let mut options = LoadOptions {
                    rename: mapping
                        .inputs
                        .iter()
                        .chain(&mapping.labels)
                        .filter(|c| c.renames())
                        .map(|c| (c.column.clone(), c.field.clone()))
                        .collect(),
                    inputs: fields(&mapping.inputs),
                    labels: fields(&mapping.labels),
                    ..LoadOptions::default()
                };
                add_label_transform(&mut options, mapping);
                Dataset::load_with(&self.path, &options)?
            }
        };
        Ok(dataset.with_name(self.name.clone()))
    }

    fn load_spec(&self, spec: &DatasetSpec, mapping: &FieldMapping) -> Result<Dataset> {
        let mut options = spec.load_options();
        for (list, flag, target) in
            [(&mapping.inputs, "input", &mut options.inputs), (&mapping.labels, "label", &mut options.labels)]
        {
            if let Some(c) = list.iter().find(|c| c.renames()) {
                return Err(EvalError::data(
                    &spec.origin,
                    format!(
                        "dataset '{}' has a spec, so its columns cannot be renamed with --{flag} {}={}; copy the spec \
                         (promptsmith data show {} --spec) and add a [rename] entry",
                        spec.name, c.column, c.field, spec.name
                    ),
                ));
            }
            if !list.is_empty() {
                *target = list.iter().map(|c| c.field.clone()).collect();
            }
        }
        options.labels.retain(|l| !options.inputs.contains(l));
        add_label_transform(&mut options, mapping);
        if let Some(file) = &spec.categories {
            options.categories = Some(read_categories(&self.folder.join(file))?);
        }
        let mut dataset = Dataset::load_with(&self.path, &options)?;
        if let Some(keep) = spec.kept_fields() {
            for e in &mut dataset.examples {
                e.fields.retain(|k, _| keep.contains(k));
            }
        }
        match (&spec.derived, self.split.as_deref()) {
            (Some(d), Some(split)) if d.names().contains(&split) => {
                let parts = dataset.splits(d.train, d.val, d.test, d.seed)?;
                Ok(match split {
                    "train" => parts.train,
                    "val" => parts.val,
                    _ => parts.test,
                })
            }
            _ => Ok(dataset),
        }
    }
}

fn add_label_transform(options: &mut LoadOptions, mapping: &FieldMapping) {
    if let Some(op) = &mapping.label_transform {
        for label in &options.labels {
            options.transforms.push(FieldTransform::new(label.clone(), op.clone()));
        }
    }
}

/// Reads a JSON list of category names.
fn read_categories(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })?;
    let shown = path.display().to_string();
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        EvalError::data(format!("{shown} line {}", e.line()), format!("invalid JSON at col {}: {e}", e.column()))
    })?;
    let Value::Array(items) = value else {
        return Err(EvalError::data(shown, "expected a JSON list of category names"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s),
            other => Err(EvalError::data(
                format!("{shown} $[{i}]"),
                format!("expected a category name (a string), found {}", super::load::kind(&other)),
            )),
        })
        .collect()
}

/// A parsed `name[/task][:split]` selector.
#[derive(Debug, Clone, Copy)]
struct Selector<'a> {
    name: &'a str,
    split: Option<&'a str>,
}

impl DataSearchPath {
    /// A search path over exactly these directories (labelled by their paths).
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        let dirs = dirs.into_iter().map(|path| SearchDir { label: path.display().to_string(), path }).collect();
        DataSearchPath { dirs, notes: Vec::new() }
    }

    /// The standard search path: `$PROMPTSMITH_DATA_DIR` when set, then `../shared/data` relative
    /// to the current directory when it exists, then `sample_dirs` (e.g. `examples/*/data`).
    pub fn from_env(sample_dirs: &[PathBuf]) -> Self {
        let mut search = DataSearchPath::default();
        match std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => search.push(format!("${DATA_DIR_ENV}"), PathBuf::from(dir)),
            None => search.notes.push(format!("${DATA_DIR_ENV} is unset")),
        }
        let shared = PathBuf::from("../shared/data");
        if shared.is_dir() {
            search.push("../shared/data".into(), shared);
        } else {
            search.notes.push("../shared/data does not exist".into());
        }
        for dir in sample_dirs {
            search.push(dir.display().to_string(), dir.clone());
        }
        search
    }

    /// Adds a directory at the end.
    pub fn push(&mut self, label: String, path: PathBuf) {
        self.dirs.push(SearchDir { label, path });
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> &[SearchDir] {
        &self.dirs
    }

    /// Resolves a selector:
    /// - an existing file: a `.toml` file is a dataset spec (its default split), any other a plain
    ///   data file; `spec.toml:split` picks a split of a spec file;
    /// - `name[:split]` for a built-in spec (`gsm8k:train`), `family/task[:split]` for a task
    ///   family (`bbh/snarks`, also written `bbh:snarks`), whose files are looked up in each
    ///   directory of the search path in order;
    /// - otherwise a plain name, looked up as `name`, `name.{jsonl,json,csv,tsv}`, a folder `name/`
    ///   holding one data file, or, with a split, `name/split.{jsonl,json,csv,tsv}`.
    pub fn resolve(&self, selector: &str) -> Result<ResolvedDataset> {
        let as_path = Path::new(selector);
        if as_path.is_file() {
            if is_spec_file(as_path) {
                return self.resolve_spec(&DatasetSpec::from_file(as_path)?, None, None);
            }
            return Ok(ResolvedDataset {
                name: selector.to_string(),
                path: as_path.to_path_buf(),
                split: None,
                task: None,
                spec: None,
                folder: as_path.parent().map(Path::to_path_buf).unwrap_or_default(),
            });
        }
        let parsed = parse_selector(selector);
        let spec_path = Path::new(parsed.name);
        if is_spec_file(spec_path) && spec_path.is_file() {
            return self.resolve_spec(&DatasetSpec::from_file(spec_path)?, None, parsed.split);
        }
        let (family, task) = match parsed.name.split_once('/') {
            Some((family, task)) => (family, Some(task)),
            None => (parsed.name, None),
        };
        let specs = builtin_specs()?;
        match specs.iter().find(|s| s.name == family) {
            Some(spec) if spec.is_family() => match (task, parsed.split) {
                (Some(task), split) => self.resolve_spec(spec, Some(task), split),
                // `bbh:snarks`: the older way to name a task.
                (None, Some(split)) if spec.tasks.iter().any(|t| t == split) => {
                    self.resolve_spec(spec, Some(split), None)
                }
                (None, _) => Err(EvalError::TaskRequired {
                    dataset: spec.name.clone(),
                    problem: "no task given".into(),
                    tasks: spec.tasks.clone(),
                }),
            },
            Some(spec) if task.is_none() => self.resolve_spec(spec, None, parsed.split),
            _ => self.resolve_generic(selector, parsed),
        }
    }

    /// Resolves a spec's split (its default when `None`) to a file.
    pub fn resolve_spec(&self, spec: &DatasetSpec, task: Option<&str>, split: Option<&str>) -> Result<ResolvedDataset> {
        if spec.is_family() {
            match task {
                Some(t) if spec.tasks.iter().any(|x| x == t) => {}
                Some(t) => {
                    return Err(EvalError::TaskRequired {
                        dataset: spec.name.clone(),
                        problem: format!("it has no task '{t}'"),
                        tasks: spec.tasks.clone(),
                    })
                }
                None => {
                    return Err(EvalError::TaskRequired {
                        dataset: spec.name.clone(),
                        problem: "no task given".into(),
                        tasks: spec.tasks.clone(),
                    })
                }
            }
        }
        let shown_name = match task {
            Some(t) if spec.is_family() => format!("{}/{t}", spec.name),
            _ => spec.name.clone(),
        };
        let Some(split) = split.or(spec.default_split.as_deref()) else {
            return Err(EvalError::SplitRequired { dataset: shown_name, available: spec.splits() });
        };
        let Some((_, relative)) = spec.file_for(split, task) else {
            return Err(EvalError::UnknownSplit {
                dataset: shown_name,
                split: split.to_string(),
                available: spec.splits(),
            });
        };
        let name = format!("{shown_name}:{split}");
        let resolved = |folder: PathBuf| ResolvedDataset {
            name: name.clone(),
            path: folder.join(&relative),
            split: Some(split.to_string()),
            task: task.map(str::to_string),
            spec: Some(spec.clone()),
            folder,
        };
        if spec.base.is_some() {
            let folder = spec.folder(Path::new(""));
            let found = resolved(folder);
            if found.path.is_file() {
                return Ok(found);
            }
            return Err(EvalError::DatasetNotFound {
                name,
                detail: format!(
                    "{} does not exist (the files of a spec file are relative to its folder{})",
                    found.path.display(),
                    if spec.dir.is_some() { ", joined with its `dir`" } else { "" }
                ),
            });
        }
        if let Some(dir) = self.dirs.iter().find(|d| spec.folder(&d.path).join(&relative).is_file()) {
            return Ok(resolved(spec.folder(&dir.path)));
        }
        let folder = spec.dir.as_deref().unwrap_or(&spec.name);
        let source = spec.source.as_deref().map(|s| format!("; the files come from {s}")).unwrap_or_default();
        Err(EvalError::DatasetNotFound {
            name,
            detail: format!(
                "looked for {folder}/{relative} in {}{source}; put them in a folder {folder}/ inside a data directory \
                 and set ${DATA_DIR_ENV} to that directory",
                self.describe()
            ),
        })
    }

    /// The data directory holding a spec's files (checking its default split, or for a task family
    /// each task), and for families how many tasks were found there.
    pub fn locate(&self, spec: &DatasetSpec) -> Option<(&SearchDir, usize)> {
        let split = spec.default_split.clone().or_else(|| spec.files.first().map(|(s, _)| s.clone()))?;
        let tasks: Vec<Option<&str>> =
            if spec.is_family() { spec.tasks.iter().map(|t| Some(t.as_str())).collect() } else { vec![None] };
        self.dirs
            .iter()
            .map(|dir| {
                let found = tasks
                    .iter()
                    .filter(|t| {
                        spec.file_for(&split, **t).is_some_and(|(_, rel)| spec.folder(&dir.path).join(rel).is_file())
                    })
                    .count();
                (dir, found)
            })
            .find(|(_, found)| *found > 0)
    }

    fn resolve_generic(&self, spec: &str, selector: Selector<'_>) -> Result<ResolvedDataset> {
        let Selector { name, split } = selector;
        let base = match split {
            Some(split) => format!("{name}/{split}"),
            None => name.to_string(),
        };
        let mut candidates = vec![base.clone()];
        candidates.extend(DataFormat::EXTENSIONS.iter().map(|ext| format!("{base}.{ext}")));
        let plain = |path: PathBuf| ResolvedDataset {
            name: spec.to_string(),
            folder: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            path,
            split: split.map(str::to_string),
            task: None,
            spec: None,
        };
        for dir in &self.dirs {
            if let Some(path) = candidates.iter().map(|c| dir.path.join(c)).find(|p| p.is_file()) {
                return Ok(plain(path));
            }
            let folder = dir.path.join(name);
            if split.is_none() && folder.is_dir() {
                let files = data_files(&folder);
                match files.as_slice() {
                    [only] => return Ok(plain(only.clone())),
                    [] => {}
                    several => {
                        return Err(EvalError::SplitRequired {
                            dataset: name.to_string(),
                            available: several.iter().filter_map(|p| file_stem(p)).collect(),
                        })
                    }
                }
            }
        }
        Err(EvalError::DatasetNotFound {
            name: spec.to_string(),
            detail: format!("not an existing file; looked for {} in {}", candidates.join(", "), self.describe()),
        })
    }

    /// The directories searched, with notes on the ones skipped (`$PROMPTSMITH_DATA_DIR is unset`).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .dirs
            .iter()
            .map(|d| {
                let shown = d.path.display().to_string();
                if shown == d.label {
                    shown
                } else {
                    format!("{} ({shown})", d.label)
                }
            })
            .collect();
        if parts.is_empty() {
            parts.push("no data directories".into());
        }
        let mut text = parts.join(", ");
        if !self.notes.is_empty() {
            text.push_str(&format!("; {}", self.notes.join("; ")));
        }
        text
    }
}

fn is_spec_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Splits `name:split` (the split must not contain a path separator).
fn parse_selector(spec: &str) -> Selector<'_> {
    match spec.rsplit_once(':') {
        Some((name, split)) if !name.is_empty() && !split.is_empty() && !split.contains(['/', '\\']) => {
            Selector { name, split: Some(split) }
        }
        _ => Selector { name: spec, split: None },
    }
}

/// Data files directly inside `dir`, sorted.
fn data_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && DataFormat::from_path(p).is_some())
        .collect();
    files.sort();
    files
}

fn file_stem(path: &Path) -> Option<String> {
    path.file_stem()?.to_str().map(str::to_string)
}

/// Resolves a path or `name[:split]` on the standard search path ([`DataSearchPath::from_env`]).
pub fn resolve_dataset(name_or_path: &str, sample_dirs: &[PathBuf]) -> Result<ResolvedDataset> {
    DataSearchPath::from_env(sample_dirs).resolve(name_or_path)
}

/// Resolves and loads in one step; `input_keys` replaces a named dataset's inputs.
pub fn load_dataset(name_or_path: &str, sample_dirs: &[PathBuf], input_keys: Option<&[&str]>) -> Result<Dataset> {
    resolve_dataset(name_or_path, sample_dirs)?.load(input_keys)
}

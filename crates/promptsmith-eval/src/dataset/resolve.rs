//! Named-dataset resolution: `gsm8k:test`, `bbh:snarks`, `my_data`, or a plain path.

use super::adapters::{find_adapter, Adapter, ADAPTERS};
use super::load::DataFormat;
use super::Dataset;
use crate::error::{EvalError, Result};
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

/// A dataset selector resolved to a file, ready to load.
#[derive(Debug, Clone, Copy)]
struct Selector<'a> {
    name: &'a str,
    split: Option<&'a str>,
}

/// Where a dataset selector points.
#[derive(Debug, Clone)]
pub struct ResolvedDataset {
    /// Canonical name: `name:split` for named datasets, the path as given otherwise.
    pub name: String,
    /// The data file.
    pub path: PathBuf,
    /// The split, for named datasets.
    pub split: Option<String>,
    /// The known-format adapter, for known datasets.
    pub adapter: Option<&'static Adapter>,
}

impl ResolvedDataset {
    /// Loads the file. `input_keys` overrides the adapter's; without an adapter they are required.
    pub fn load(&self, input_keys: Option<&[&str]>) -> Result<Dataset> {
        let keys: &[&str] = match (input_keys, self.adapter) {
            (Some(keys), _) => keys,
            (None, Some(adapter)) => adapter.input_keys,
            (None, None) => {
                let known: Vec<&str> = ADAPTERS.iter().map(|a| a.name).collect();
                return Err(EvalError::data(
                    self.path.display().to_string(),
                    format!("no input keys given; only known datasets ({}) have default input keys", known.join(", ")),
                ));
            }
        };
        let format = DataFormat::from_path(&self.path).ok_or_else(|| {
            EvalError::data(
                self.path.display().to_string(),
                "unknown data format: expected a .jsonl, .ndjson, .json, .csv or .tsv file",
            )
        })?;
        let transform = self.adapter.and_then(|a| a.transform);
        Ok(Dataset::load_with(&self.path, format, keys, transform)?.with_name(self.name.clone()))
    }
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

    /// Resolves a path or a `name[:split]` selector. An existing file wins; otherwise the name is
    /// looked up in each directory in order, using its adapter's layout when it is a known dataset,
    /// else as `name`, `name.{jsonl,json,csv,tsv}`, a folder `name/` holding one data file, or,
    /// with a split, `name/split.{jsonl,json,csv,tsv}`.
    pub fn resolve(&self, name_or_path: &str) -> Result<ResolvedDataset> {
        let as_path = Path::new(name_or_path);
        if as_path.is_file() {
            return Ok(ResolvedDataset {
                name: name_or_path.to_string(),
                path: as_path.to_path_buf(),
                split: None,
                adapter: None,
            });
        }
        let selector = parse_selector(name_or_path);
        match find_adapter(selector.name) {
            Some(adapter) => self.resolve_known(adapter, selector.split),
            None => self.resolve_generic(name_or_path, selector),
        }
    }

    fn resolve_known(&self, adapter: &'static Adapter, split: Option<&str>) -> Result<ResolvedDataset> {
        let Some(split) = split.or(adapter.default_split) else {
            return Err(EvalError::SplitRequired {
                dataset: adapter.name.to_string(),
                available: self.available_splits(adapter),
            });
        };
        let Some(relative) = adapter.split_path(split) else {
            return Err(EvalError::UnknownSplit {
                dataset: adapter.name.to_string(),
                split: split.to_string(),
                available: self.available_splits(adapter),
            });
        };
        if let Some(path) = self.dirs.iter().map(|d| d.path.join(&relative)).find(|p| p.is_file()) {
            return Ok(ResolvedDataset {
                name: format!("{}:{split}", adapter.name),
                path,
                split: Some(split.to_string()),
                adapter: Some(adapter),
            });
        }
        if adapter.split_template.is_some() {
            let available = self.available_splits(adapter);
            if !available.is_empty() {
                return Err(EvalError::UnknownSplit {
                    dataset: adapter.name.to_string(),
                    split: split.to_string(),
                    available,
                });
            }
        }
        Err(EvalError::DatasetNotFound {
            name: format!("{}:{split}", adapter.name),
            detail: format!("looked for {relative} in {}", self.describe()),
        })
    }

    fn resolve_generic(&self, spec: &str, selector: Selector<'_>) -> Result<ResolvedDataset> {
        let Selector { name, split } = selector;
        let base = match split {
            Some(split) => format!("{name}/{split}"),
            None => name.to_string(),
        };
        let mut candidates = vec![base.clone()];
        candidates.extend(DataFormat::EXTENSIONS.iter().map(|ext| format!("{base}.{ext}")));
        for dir in &self.dirs {
            if let Some(path) = candidates.iter().map(|c| dir.path.join(c)).find(|p| p.is_file()) {
                return Ok(ResolvedDataset {
                    name: spec.to_string(),
                    path,
                    split: split.map(str::to_string),
                    adapter: None,
                });
            }
            let folder = dir.path.join(name);
            if split.is_none() && folder.is_dir() {
                let files = data_files(&folder);
                match files.as_slice() {
                    [only] => {
                        return Ok(ResolvedDataset {
                            name: spec.to_string(),
                            path: only.clone(),
                            split: None,
                            adapter: None,
                        })
                    }
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

    /// Split names a known dataset offers: its fixed splits, plus files matching its template.
    fn available_splits(&self, adapter: &Adapter) -> Vec<String> {
        let mut out: Vec<String> = adapter.splits.iter().map(|(s, _)| s.to_string()).collect();
        if let Some(template) = adapter.split_template {
            let (folder, file) = template.rsplit_once('/').unwrap_or(("", template));
            let (prefix, suffix) = file.split_once("{split}").unwrap_or((file, ""));
            for dir in &self.dirs {
                let Ok(entries) = std::fs::read_dir(dir.path.join(folder)) else { continue };
                let mut found: Vec<String> = entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|n| n.strip_prefix(prefix)?.strip_suffix(suffix).map(str::to_string))
                    .filter(|s| !s.is_empty())
                    .collect();
                found.sort();
                for s in found {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }

    fn describe(&self) -> String {
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

/// Resolves and loads in one step; `input_keys` overrides a known dataset's defaults.
pub fn load_dataset(name_or_path: &str, sample_dirs: &[PathBuf], input_keys: Option<&[&str]>) -> Result<Dataset> {
    resolve_dataset(name_or_path, sample_dirs)?.load(input_keys)
}

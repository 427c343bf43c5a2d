//! `promptsmith data`: list the built-in datasets, check one (counts, fields, labels,
//! duplicates, readiness), show its examples or spec, and write seeded splits.

use super::sample_dirs;
use crate::data_args::DataArgs;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use promptsmith_eval::dataset::{builtin_specs, DataSearchPath, DatasetSpec, DEFAULT_MIN_LABELLED};
use promptsmith_eval::Dataset;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Subcommands of `data`.
#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// List the built-in datasets, their splits, and where their files were found.
    List,
    /// Check a dataset: counts, fields, label distribution, duplicates and readiness (exit
    /// status 1 when it has fewer labelled examples than --min-labelled).
    Check(CheckArgs),
    /// Print the first examples of a dataset, or with --spec the spec that describes it.
    Show(ShowArgs),
    /// Write seeded train/val/test splits of a dataset as JSONL files.
    Split(SplitArgs),
    /// Write a JSONL dataset built from the store's human feedback (--from-feedback): the
    /// evaluated inputs with the corrected outputs (or the label).
    Export(super::feedback::DataExportArgs),
}

/// Arguments of `data check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Labelled examples needed for the dataset to count as ready.
    #[arg(long, default_value_t = DEFAULT_MIN_LABELLED)]
    min_labelled: usize,
}

/// Arguments of `data show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    data: DataArgs,
    /// How many examples to print.
    #[arg(long, default_value_t = 3)]
    limit: usize,
    /// Print the dataset's spec (TOML) instead of examples; a start for writing your own.
    #[arg(long)]
    spec: bool,
}

/// Arguments of `data split`.
#[derive(Debug, Args)]
pub(crate) struct SplitArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Fraction of examples in train.jsonl.
    #[arg(long, default_value_t = 0.8)]
    train: f64,
    /// Fraction of examples in val.jsonl.
    #[arg(long, default_value_t = 0.1)]
    val: f64,
    /// Fraction of examples in test.jsonl.
    #[arg(long, default_value_t = 0.1)]
    test: f64,
    /// Shuffle seed: the same seed gives the same splits.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for train.jsonl, val.jsonl and test.jsonl.
    #[arg(long)]
    out: PathBuf,
}

/// Runs a `data` subcommand.
pub(crate) fn data(command: DataCommand) -> Result<ExitCode> {
    let samples = sample_dirs(Path::new(""));
    match command {
        DataCommand::List => list(&DataSearchPath::from_env(&samples)),
        DataCommand::Check(a) => check(&a, &samples),
        DataCommand::Show(a) => show(&a, &samples),
        DataCommand::Split(a) => split(&a, &samples),
        DataCommand::Export(a) => super::feedback::data_export(&a),
    }
}

fn list(search: &DataSearchPath) -> Result<ExitCode> {
    let specs = builtin_specs()?;
    let width = specs.iter().map(|s| shown_name(s).len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for spec in &specs {
        let splits: Vec<String> = spec
            .splits()
            .into_iter()
            .map(|s| if spec.default_split.as_deref() == Some(s.as_str()) { format!("{s}*") } else { s })
            .collect();
        let found = match search.locate(spec) {
            Some((dir, n)) if spec.is_family() => format!("found in {} ({n} of {} tasks)", dir.label, spec.tasks.len()),
            Some((dir, _)) => format!("found in {}", dir.label),
            None => "NOT FOUND".to_string(),
        };
        writeln!(out, "{:width$}  [{}]  {found}", shown_name(spec), splits.join(", "))?;
        writeln!(out, "{:width$}  {}", "", spec.description)?;
        if spec.is_family() {
            for line in wrap(&format!("tasks: {}", spec.tasks.join(", ")), 90) {
                writeln!(out, "{:width$}  {line}", "")?;
            }
        }
        if search.locate(spec).is_none() {
            if let Some(source) = &spec.source {
                writeln!(out, "{:width$}  get the files from {source}", "")?;
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "* default split. Searched: {}.", search.describe())?;
    writeln!(
        out,
        "Set $PROMPTSMITH_DATA_DIR to a folder holding the datasets' folders (gsm8k/, banking77/, ...); \
         `promptsmith data show --data NAME --spec` prints a spec to start your own from."
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Splits text at spaces into lines of at most `width` characters (longer words stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

fn shown_name(spec: &DatasetSpec) -> String {
    if spec.is_family() {
        format!("{}/<task>", spec.name)
    } else {
        spec.name.clone()
    }
}

fn check(args: &CheckArgs, samples: &[PathBuf]) -> Result<ExitCode> {
    let dataset = load(&args.data, samples)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "dataset     {}", dataset.name())?;
    if let Some(path) = dataset.source() {
        writeln!(out, "file        {}", path.display())?;
    }
    writeln!(out, "sha256      {}", dataset.content_hash())?;
    if !dataset.transforms().is_empty() {
        writeln!(out, "made by     {}", dataset.transforms().join(", "))?;
    }
    let labelled = dataset.labelled_count();
    writeln!(out, "examples    {} ({labelled} labelled)", dataset.len())?;
    let fields = dataset.field_summaries();
    let width = fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for (i, f) in fields.iter().enumerate() {
        let head = if i == 0 { "fields" } else { "" };
        writeln!(out, "{head:11} {:width$}  {:5}  {:>6}  {}", f.name, f.role, f.present, f.kinds.join("|"))?;
    }
    let labels: Vec<String> = if dataset.label_keys().is_empty() {
        fields.iter().filter(|f| f.role == "label").map(|f| f.name.clone()).collect()
    } else {
        dataset.label_keys().to_vec()
    };
    for label in &labels {
        write_distribution(&mut out, &dataset, label)?;
    }
    let duplicates = dataset.duplicates();
    writeln!(out, "duplicates  {}", duplicates.summary(5))?;
    match dataset.check_ready(args.min_labelled) {
        Ok(n) => {
            writeln!(out, "ready       yes: {n} labelled examples (at least {} needed)", args.min_labelled)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(out, "ready       no: {labelled} labelled examples (at least {} needed)", args.min_labelled)?;
            out.flush()?;
            Err(anyhow!("{e} (or lower --min-labelled)"))
        }
    }
}

/// Label counts for a categorical label; a one-line note otherwise.
fn write_distribution(out: &mut impl Write, dataset: &Dataset, label: &str) -> Result<()> {
    let counts = dataset.label_distribution(label);
    if !dataset.is_categorical(label) {
        writeln!(out, "label       {label}: {} distinct values (not categorical)", counts.len())?;
        return Ok(());
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let mut head = format!("label       {label}: {} categories", counts.len());
    if let Some(categories) = dataset.categories() {
        let unseen: Vec<&String> = categories.iter().filter(|c| !counts.iter().any(|(v, _)| v == *c)).collect();
        head.push_str(&format!(" of {} listed", categories.len()));
        if !unseen.is_empty() {
            let names: Vec<&str> = unseen.iter().take(5).map(|s| s.as_str()).collect();
            head.push_str(&format!("; {} without examples: {}", unseen.len(), names.join(", ")));
        }
    }
    writeln!(out, "{head}")?;
    const SHOWN: usize = 10;
    let width = counts.iter().take(SHOWN).map(|(v, _)| v.chars().count()).max().unwrap_or(0);
    for (value, n) in counts.iter().take(SHOWN) {
        let share = 100.0 * *n as f64 / total.max(1) as f64;
        writeln!(out, "            {value:width$}  {n:>6}  {share:5.1}%")?;
    }
    if counts.len() > SHOWN {
        let rest: usize = counts.iter().skip(SHOWN).map(|(_, n)| n).sum();
        let least = counts.last().map(|(v, n)| format!("; least common: {v} {n}")).unwrap_or_default();
        writeln!(out, "            ... {} more categories with {rest} examples{least}", counts.len() - SHOWN)?;
    }
    Ok(())
}

fn load(args: &DataArgs, samples: &[PathBuf]) -> Result<Dataset> {
    let mapping = args.mapping()?;
    args.resolve(samples)?.load_mapped(&mapping).map_err(|e| anyhow!("--data {args}: {e}"))
}

fn show(args: &ShowArgs, samples: &[PathBuf]) -> Result<ExitCode> {
    if args.spec {
        print!("{}", spec_text(&args.data.data)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dataset = load(&args.data, samples)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# {}: {} examples; inputs: {}; labels: {}",
        dataset.name(),
        dataset.len(),
        dataset.input_keys().join(", "),
        if dataset.label_keys().is_empty() { "every other field".to_string() } else { dataset.label_keys().join(", ") }
    )?;
    for (i, e) in dataset.iter().take(args.limit).enumerate() {
        writeln!(out, "{}: {}", dataset.place(i).as_deref().unwrap_or("?"), serde_json::to_string(&e.fields)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The TOML text of a built-in spec (`gsm8k`, `gsm8k:train`, `bbh/snarks`, `bbh`) or a spec file.
fn spec_text(selector: &str) -> Result<String> {
    let name = selector.rsplit_once(':').map_or(selector, |(n, _)| n);
    if Path::new(name).is_file() {
        return std::fs::read_to_string(name).with_context(|| format!("cannot read {name}"));
    }
    let family = name.split_once('/').map_or(name, |(f, _)| f);
    let specs = builtin_specs()?;
    match specs.iter().find(|s| s.name == family) {
        Some(spec) => Ok(spec.text.clone()),
        None => {
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            bail!("--data {selector}: no spec: not a built-in dataset ({}) or a spec file", names.join(", "))
        }
    }
}

fn split(args: &SplitArgs, samples: &[PathBuf]) -> Result<ExitCode> {
    let dataset = load(&args.data, samples)?;
    let name = dataset.name().to_string();
    let parts = dataset.splits(args.train, args.val, args.test, args.seed).map_err(|e| anyhow!("{e}"))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    for (part, ds) in [("train", &parts.train), ("val", &parts.val), ("test", &parts.test)] {
        let path = args.out.join(format!("{part}.jsonl"));
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
        );
        for e in ds {
            writeln!(file, "{}", serde_json::to_string(&e.fields)?)?;
        }
        file.flush().with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}: {} examples", path.display(), ds.len());
    }
    println!("from {name}, shuffled with seed {}", args.seed);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("a verylongword b", 4), ["a", "verylongword", "b"]);
        assert_eq!(wrap("", 4), [""]);
    }
}

//! `promptsmith registry`: the versioned program registry (list, show, register, diff, activate,
//! rollback, alias), plus what other commands need from the store: the `--database-url` option,
//! `NAME@alias` program references, and recording `eval` results.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use promptsmith_core::{ProgramSpec, ProgramState};
use promptsmith_store::{diff_versions, NewVersion, ProgramRef, Store, VersionSelector, PRODUCTION};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Which database to use.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct StoreArgs {
    /// Database: an SQLite file path or `sqlite://PATH`, or `postgres://…`
    /// (default: ./promptsmith.db).
    #[arg(long, env = "PROMPTSMITH_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

impl StoreArgs {
    /// Opens the store (creating it when missing), with the database named in errors. For
    /// commands that record something new: `registry register`, `eval`, `optimize`.
    pub(crate) async fn open(&self) -> Result<Store> {
        Store::open_default(self.database_url.as_deref()).await.map_err(anyhow::Error::new)
    }

    /// Opens the store only if it exists: for commands that read it or change what is already
    /// in it. A missing SQLite file is an error saying so, and no file is created.
    pub(crate) async fn open_existing(&self) -> Result<Store> {
        Store::open_default_existing(self.database_url.as_deref()).await.map_err(|e| match e {
            promptsmith_store::StoreError::Missing { path } => {
                anyhow::anyhow!("no store at {path} (nothing has been recorded yet; --database-url to use another)")
            }
            e => anyhow::Error::new(e),
        })
    }
}

/// Whether and where `eval` records its results.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct RecordArgs {
    /// Do not record the results in the store.
    #[arg(long)]
    pub(crate) no_store: bool,
    /// Database to record into: an SQLite file path or `sqlite://PATH`, or `postgres://…`
    /// (default: ./promptsmith.db).
    #[arg(long, env = "PROMPTSMITH_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

/// Who is acting, for the alias log: `--actor`, else `$USER`, else `cli`.
fn actor(given: &Option<String>) -> String {
    promptsmith_app::actor(given.as_deref())
}

/// `registry` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// List programs with their version counts and aliases.
    List(ListArgs),
    /// Show a program (versions, aliases, alias log) or one version (`NAME@3`, `NAME@production`).
    Show(ShowArgs),
    /// Register a program spec and state as a new immutable version.
    Register(RegisterArgs),
    /// Show changed instructions and demos between two versions.
    Diff(DiffArgs),
    /// Point `production` at a version.
    Activate(ActivateArgs),
    /// Move an alias (default `production`) back to where it pointed before its last move.
    Rollback(RollbackArgs),
    /// Point an alias at a version, remove it, or list a program's aliases.
    Alias(AliasArgs),
}

/// Arguments of `registry list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `registry show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// `NAME` or `NAME@VERSION|ALIAS`.
    target: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Print only the version's state JSON (to save as a state file).
    #[arg(long)]
    state: bool,
}

/// Arguments of `registry register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// Program name in the registry.
    name: String,
    /// Program spec file (JSON or YAML).
    #[arg(long)]
    program: PathBuf,
    /// State file (default: the spec's own instructions and demos).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Version it derives from.
    #[arg(long)]
    parent: Option<i64>,
    /// Scores as JSON, e.g. '{"dev": 0.71}'.
    #[arg(long)]
    scores: Option<String>,
    /// Point this alias at the new version (e.g. candidate, production).
    #[arg(long)]
    alias: Option<String>,
    /// Note.
    #[arg(long, default_value = "")]
    note: String,
    /// Who registers it (default: $USER).
    #[arg(long)]
    actor: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `registry diff`.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// Program name.
    name: String,
    /// Old version (number or alias).
    from: String,
    /// New version (number or alias).
    to: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `registry activate`.
#[derive(Debug, Args)]
pub(crate) struct ActivateArgs {
    /// Program name.
    name: String,
    /// Version number (or an alias, e.g. candidate).
    version: String,
    /// Why (kept in the alias log).
    #[arg(long, default_value = "")]
    reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    actor: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `registry rollback`.
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// Program name.
    name: String,
    /// Alias to move back.
    #[arg(long, default_value = PRODUCTION)]
    alias: String,
    /// Why (kept in the alias log).
    #[arg(long, default_value = "")]
    reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    actor: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `registry alias`.
#[derive(Debug, Args)]
pub(crate) struct AliasArgs {
    /// Program name.
    name: String,
    /// Alias name (omit to list the aliases and their log).
    alias: Option<String>,
    /// Version to point it at (number or another alias).
    version: Option<String>,
    /// Remove the alias.
    #[arg(long, conflicts_with = "version")]
    remove: bool,
    /// Why (kept in the alias log).
    #[arg(long, default_value = "")]
    reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    actor: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

fn selector(text: &str) -> VersionSelector {
    VersionSelector::parse(text)
}

async fn version_number(store: &Store, name: &str, text: &str) -> Result<i64> {
    Ok(store.version(name, &selector(text)).await?.version)
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn format_time(ms: i64) -> String {
    promptsmith_core::clock::display_time(ms)
}

/// Runs a `registry` subcommand.
pub(crate) async fn registry(command: RegistryCommand) -> Result<ExitCode> {
    match command {
        RegistryCommand::List(a) => list(a).await,
        RegistryCommand::Show(a) => show(a).await,
        RegistryCommand::Register(a) => register(a).await,
        RegistryCommand::Diff(a) => diff(a).await,
        RegistryCommand::Activate(a) => {
            let store = a.store.open_existing().await?;
            let v = version_number(&store, &a.name, &a.version).await?;
            let before = store.activate(&a.name, v, &actor(&a.actor), &a.reason).await?;
            match before {
                Some(b) if b == v => println!("{}@production already points at version {v}", a.name),
                Some(b) => println!("{}@production: version {b} -> {v}", a.name),
                None => println!("{}@production: version {v}", a.name),
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Rollback(a) => {
            let store = a.store.open_existing().await?;
            let before = store.version(&a.name, &VersionSelector::Alias(a.alias.clone())).await?.version;
            let now = store.rollback(&a.name, &a.alias, &actor(&a.actor), &a.reason).await?;
            println!("{}@{}: version {before} -> {now} (rolled back)", a.name, a.alias);
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Alias(a) => alias(a).await,
    }
}

async fn list(a: ListArgs) -> Result<ExitCode> {
    let store = a.store.open_existing().await?;
    let programs = store.list_programs().await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&programs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if programs.is_empty() {
        println!("no programs registered in {}", store.url());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<24} {:>8}  aliases", "program", "versions");
    for p in programs {
        let aliases: Vec<String> = p.aliases.iter().map(|(a, v)| format!("{a}={v}")).collect();
        println!("{:<24} {:>8}  {}", p.name, p.versions, aliases.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(a: ShowArgs) -> Result<ExitCode> {
    let store = a.store.open_existing().await?;
    if let Some(reference) = ProgramRef::parse(&a.target) {
        let v = store.resolve(&reference).await?;
        if a.state {
            println!("{}", v.state.to_json());
        } else if a.json {
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print_version(&store, &v).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.state {
        bail!("--state needs a version: {}@VERSION or {}@ALIAS", a.target, a.target);
    }
    let summary = store.program(&a.target).await?;
    let versions = store.list_versions(&a.target).await?;
    let log = store.alias_log(&a.target).await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"program": summary, "versions": versions, "alias_log": log}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_program(&summary, &versions, &log);
    Ok(ExitCode::SUCCESS)
}

/// `registry show NAME@VERSION`: one version's record and its predictors.
async fn print_version(store: &Store, v: &promptsmith_store::ProgramVersion) -> Result<()> {
    let aliases = store.program(&v.program).await?.aliases;
    let mine: Vec<&String> = aliases.iter().filter(|(_, n)| **n == v.version).map(|(a, _)| a).collect();
    println!("{} version {}", v.program, v.version);
    println!("  created:   {} by {}", format_time(v.created_at), v.created_by);
    if !mine.is_empty() {
        println!("  aliases:   {}", mine.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
    }
    if let Some(p) = v.parent_version {
        println!("  parent:    {p}");
    }
    if let Some(o) = &v.optimizer {
        println!("  optimizer: {o} {}", v.params);
    }
    println!("  scores:    {}", v.scores);
    if let Some(h) = &v.dataset_hash {
        println!("  dataset:   {h}");
    }
    if let Some(r) = v.run_id {
        println!("  run:       {r}");
    }
    if !v.note.is_empty() {
        println!("  note:      {}", v.note);
    }
    let program = v.program()?;
    for p in &program.predictors {
        println!(
            "  predictor {}: {} demos; instruction: {}",
            p.name,
            p.demos.len(),
            p.signature.instruction.as_deref().unwrap_or("(default)")
        );
    }
    Ok(())
}

/// `registry show NAME`: every version and the alias log.
fn print_program(
    summary: &promptsmith_store::ProgramSummary,
    versions: &[promptsmith_store::ProgramVersion],
    log: &[promptsmith_store::AliasMove],
) {
    println!("{}: {} versions", summary.name, summary.versions);
    for v in versions {
        let aliases: Vec<&String> = summary.aliases.iter().filter(|(_, n)| **n == v.version).map(|(a, _)| a).collect();
        let tag = if aliases.is_empty() {
            String::new()
        } else {
            format!(" [{}]", aliases.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
        };
        let parent = v.parent_version.map(|p| format!(" from {p}")).unwrap_or_default();
        println!(
            "  {:>4}{tag}  {}  {}{parent}  scores {}",
            v.version,
            format_time(v.created_at),
            v.optimizer.as_deref().unwrap_or("-"),
            v.scores
        );
    }
    if !log.is_empty() {
        println!("alias log:");
        for m in log {
            println!(
                "  {:>4}  {}  {:<12} {:?}: {} -> {}  by {}{}",
                m.seq,
                format_time(m.at),
                m.alias,
                m.action,
                m.from_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                m.to_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                m.actor,
                if m.reason.is_empty() { String::new() } else { format!(" ({})", m.reason) }
            );
        }
    }
}

async fn register(a: RegisterArgs) -> Result<ExitCode> {
    let spec = ProgramSpec::load(&a.program).map_err(anyhow::Error::new)?;
    let state = match &a.state {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read state {}", path.display()))?;
            ProgramState::from_json(&text, &path.display().to_string()).map_err(anyhow::Error::msg)?
        }
        None => spec.build(&a.program.display().to_string()).map_err(anyhow::Error::new)?.state(),
    };
    let scores = match &a.scores {
        Some(s) => serde_json::from_str(s).with_context(|| format!("--scores is not valid JSON: {s}"))?,
        None => json!({}),
    };
    let who = actor(&a.actor);
    let mut new = NewVersion::new(&a.name, spec, state, &who);
    new.parent_version = a.parent;
    new.scores = scores;
    new.note = a.note.clone();
    let store = a.store.open().await?;
    let v = match &a.alias {
        Some(alias) => store.register_version_with_alias(&new, Some((alias, "registered"))).await,
        None => store.register_version(&new).await,
    }
    .map_err(|e| match &a.state {
        Some(p) => anyhow::anyhow!("{}: {e}", p.display()),
        None => anyhow::anyhow!("{e}"),
    })?;
    let alias = a.alias.as_ref().map(|al| format!(" ({al})")).unwrap_or_default();
    println!("registered {} version {}{alias}", v.program, v.version);
    Ok(ExitCode::SUCCESS)
}

async fn diff(a: DiffArgs) -> Result<ExitCode> {
    let store = a.store.open_existing().await?;
    let old = store.version(&a.name, &selector(&a.from)).await?;
    let new = store.version(&a.name, &selector(&a.to)).await?;
    let d = diff_versions(&old, &new)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", d.render());
    }
    Ok(ExitCode::SUCCESS)
}

async fn alias(a: AliasArgs) -> Result<ExitCode> {
    let store = a.store.open_existing().await?;
    let who = actor(&a.actor);
    match (&a.alias, &a.version, a.remove) {
        (None, _, true) => bail!("--remove needs the alias to remove"),
        (None, _, false) => {
            let p = store.program(&a.name).await?;
            if p.aliases.is_empty() {
                println!("{} has no aliases", a.name);
            }
            for (alias, v) in &p.aliases {
                println!("{alias} -> {v}");
            }
        }
        (Some(alias), _, true) => {
            let v = store.remove_alias(&a.name, alias, &who, &a.reason).await?;
            println!("{}@{alias} removed (it pointed at version {v})", a.name);
        }
        (Some(alias), Some(version), false) => {
            let v = version_number(&store, &a.name, version).await?;
            let before = store.set_alias(&a.name, alias, v, &who, &a.reason).await?;
            let from = before.map(|b| format!("version {b} -> ")).unwrap_or_default();
            println!("{}@{alias}: {from}version {v}", a.name);
        }
        (Some(alias), None, false) => {
            let v = store.version(&a.name, &VersionSelector::Alias(alias.clone())).await?;
            println!("{}@{alias} -> {}", a.name, v.version);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a future to completion from synchronous code inside or outside the runtime.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(fut)),
        Err(_) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(fut),
            Err(e) => panic!("cannot start a runtime: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_read_numbers_aliases_and_latest() {
        assert_eq!(selector("3"), VersionSelector::Number(3));
        assert_eq!(selector("v3"), VersionSelector::Number(3));
        assert_eq!(selector("latest"), VersionSelector::Latest);
        assert_eq!(selector("candidate"), VersionSelector::Alias("candidate".into()));
    }
}

//! The program registry, MLflow-style: programs by name, immutable versions numbered 1, 2, 3…
//! per program, and movable aliases (`production`, `candidate`, any name) whose every move is
//! logged (who, when, why).
//!
//! Concurrency: every write first bumps a counter on the program's row (`next_version` to
//! number a version, `alias_seq` to order alias moves). On PostgreSQL that takes the row lock,
//! on SQLite the transaction already holds the write lock (`BEGIN IMMEDIATE`), so writers on
//! one program are serialized: version numbers stay contiguous and the alias log's sequence is
//! the order the moves happened in.

use crate::crypto::Keyring;
use crate::db::{now_ms, parse_json, to_json, with_pool, BeginWrite, RowExt, Store};
use crate::error::{Result, StoreError};
use promptsmith_core::{Program, ProgramSpec, ProgramState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The alias `activate` moves and servers serve.
pub const PRODUCTION: &str = "production";
/// The alias an optimization result gets when it does not replace production.
pub const CANDIDATE: &str = "candidate";

/// A version to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVersion {
    /// Program name (letters, digits, `_`, `-`, `.`).
    pub program: String,
    /// The program spec.
    pub spec: ProgramSpec,
    /// The learned state; must fit the spec.
    pub state: ProgramState,
    /// The version it was derived from.
    pub parent_version: Option<i64>,
    /// Optimizer that produced it.
    pub optimizer: Option<String>,
    /// Optimizer parameters.
    pub params: Value,
    /// Scores (e.g. `{"dev": 0.71}`).
    pub scores: Value,
    /// Hash of the training data.
    pub dataset_hash: Option<String>,
    /// Run that produced it.
    pub run_id: Option<i64>,
    /// Who registered it.
    pub created_by: String,
    /// Free-text note.
    pub note: String,
}

impl NewVersion {
    /// A version with just a spec and a state (no lineage, no scores), registered by `actor`.
    pub fn new(program: &str, spec: ProgramSpec, state: ProgramState, actor: &str) -> NewVersion {
        NewVersion {
            program: program.to_string(),
            spec,
            state,
            parent_version: None,
            optimizer: None,
            params: Value::Object(Default::default()),
            scores: Value::Object(Default::default()),
            dataset_hash: None,
            run_id: None,
            created_by: actor.to_string(),
            note: String::new(),
        }
    }
}

/// A registered, immutable version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgramVersion {
    /// Program name.
    pub program: String,
    /// Version number (1, 2, …).
    pub version: i64,
    /// The learned state (as `program.save()` writes it).
    #[schema(value_type = Object)]
    pub state: ProgramState,
    /// The program spec.
    #[schema(value_type = Object)]
    pub spec: ProgramSpec,
    /// Version it was derived from.
    pub parent_version: Option<i64>,
    /// Optimizer that produced it.
    pub optimizer: Option<String>,
    /// Optimizer parameters.
    pub params: Value,
    /// Scores.
    pub scores: Value,
    /// Hash of the training data.
    pub dataset_hash: Option<String>,
    /// Run that produced it.
    pub run_id: Option<i64>,
    /// Who registered it.
    pub created_by: String,
    /// Free-text note.
    pub note: String,
    /// When (Unix ms).
    pub created_at: i64,
}

impl ProgramVersion {
    /// The runnable program: the spec built, with the state applied.
    pub fn program(&self) -> Result<Program> {
        build_program(&self.program, &self.spec, &self.state)
    }
}

/// A program in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgramSummary {
    /// Name.
    pub name: String,
    /// Number of versions (the latest version's number).
    pub versions: i64,
    /// Aliases and the versions they point at.
    pub aliases: BTreeMap<String, i64>,
    /// When it was first registered (Unix ms).
    pub created_at: i64,
}

/// What an alias-log entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AliasAction {
    /// Pointed the alias at a version (activate, alias set).
    Set,
    /// Moved it back along its history.
    Rollback,
    /// Removed it.
    Delete,
}

impl AliasAction {
    fn as_str(self) -> &'static str {
        match self {
            AliasAction::Set => "set",
            AliasAction::Rollback => "rollback",
            AliasAction::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Result<AliasAction> {
        match s {
            "set" => Ok(AliasAction::Set),
            "rollback" => Ok(AliasAction::Rollback),
            "delete" => Ok(AliasAction::Delete),
            other => Err(StoreError::Invalid(format!("unknown alias action '{other}' in the alias log"))),
        }
    }
}

/// One logged alias move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AliasMove {
    /// Program name.
    pub program: String,
    /// Position in the program's alias log (1, 2, …).
    pub seq: i64,
    /// Alias.
    pub alias: String,
    /// What happened.
    pub action: AliasAction,
    /// Version it pointed at before (`None`: it did not exist).
    pub from_version: Option<i64>,
    /// Version it points at after (`None`: removed).
    pub to_version: Option<i64>,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When (Unix ms).
    pub at: i64,
}

/// Which version of a program: a number, an alias, or the latest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionSelector {
    /// A version number.
    Number(i64),
    /// An alias name.
    Alias(String),
    /// The highest version number.
    Latest,
}

/// A reference to a registered version: `NAME@production`, `NAME@3`, `NAME@latest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRef {
    /// Program name.
    pub name: String,
    /// Version selector.
    pub selector: VersionSelector,
}

impl VersionSelector {
    /// The one reading of a selector: a version number (`3`, `v3`), `latest`, or an alias name
    /// (not checked here: a bad alias name is simply not found).
    pub fn parse(text: &str) -> VersionSelector {
        let digits = text.strip_prefix('v').unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = digits.parse() {
                return VersionSelector::Number(n);
            }
        }
        if text == "latest" {
            VersionSelector::Latest
        } else {
            VersionSelector::Alias(text.to_string())
        }
    }
}

impl ProgramRef {
    /// Parses `NAME@SELECTOR`; `None` when the text is not of that form (e.g. a file path).
    /// The selector is read by [`VersionSelector::parse`]; an alias must be a valid alias name.
    pub fn parse(text: &str) -> Option<ProgramRef> {
        let (name, sel) = text.rsplit_once('@')?;
        if validate_name(name, "program").is_err() || sel.is_empty() {
            return None;
        }
        let selector = VersionSelector::parse(sel);
        if let VersionSelector::Alias(a) = &selector {
            validate_name(a, "alias").ok()?;
        }
        Some(ProgramRef { name: name.to_string(), selector })
    }
}

impl std::fmt::Display for ProgramRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.selector {
            VersionSelector::Number(n) => write!(f, "{}@{n}", self.name),
            VersionSelector::Alias(a) => write!(f, "{}@{a}", self.name),
            VersionSelector::Latest => write!(f, "{}@latest", self.name),
        }
    }
}

/// Program and alias names: non-empty, at most 128 characters of letters, digits, `_`, `-`, `.`;
/// alias names must not be all digits (those are version numbers) nor `latest`. A program name
/// may carry its tenant before one `:` (`acme:qa`, as the service stores other tenants' programs).
pub fn validate_name(name: &str, what: &str) -> Result<()> {
    if let (Some((tenant, rest)), "program") = (name.split_once(':'), what) {
        validate_name(tenant, "tenant")?;
        return validate_name(rest, "program");
    }
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > 128 || !ok_chars {
        return Err(StoreError::Invalid(format!(
            "{what} name '{name}' is not valid: use 1 to 128 letters, digits, '_', '-' or '.'"
        )));
    }
    if what == "alias" && (name.bytes().all(|b| b.is_ascii_digit()) || name == "latest") {
        return Err(StoreError::Invalid(format!(
            "alias name '{name}' is reserved (numbers name versions; 'latest' names the newest)"
        )));
    }
    Ok(())
}

/// Builds the program a spec describes and applies a state, with errors that say which is wrong.
pub fn build_program(name: &str, spec: &ProgramSpec, state: &ProgramState) -> Result<Program> {
    let program = spec
        .build(&format!("spec of '{name}'"))
        .map_err(|e| StoreError::Invalid(format!("invalid program spec: {e}")))?;
    program.with_state(state).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Where an alias points after replaying its log entries in order, and the history stack that
/// `rollback` pops: every `set` pushes the version it moved away from, every `rollback` pops
/// one, and `delete` clears the history.
pub fn replay_alias(log: &[AliasMove]) -> (Option<i64>, Vec<i64>) {
    let mut current = None;
    let mut history = Vec::new();
    for m in log {
        match m.action {
            AliasAction::Set => {
                if let Some(from) = m.from_version {
                    history.push(from);
                }
            }
            AliasAction::Rollback => {
                history.pop();
            }
            AliasAction::Delete => history.clear(),
        }
        current = m.to_version;
    }
    (current, history)
}

fn version_from_row(keyring: &Keyring, program: &str, r: &impl RowExt) -> Result<ProgramVersion> {
    Ok(ProgramVersion {
        program: program.to_string(),
        version: r.i64("version")?,
        state: parse_json(&keyring.open(&r.string("state_json")?)?, "version state")?,
        spec: parse_json(&r.string("spec_json")?, "version spec")?,
        parent_version: r.opt_i64("parent_version")?,
        optimizer: r.opt_string("optimizer")?,
        params: parse_json(&r.string("params_json")?, "version params")?,
        scores: parse_json(&r.string("scores_json")?, "version scores")?,
        dataset_hash: r.opt_string("dataset_hash")?,
        run_id: r.opt_i64("run_id")?,
        created_by: r.string("created_by")?,
        note: r.string("note")?,
        created_at: r.i64("created_at")?,
    })
}

fn move_from_row(program: &str, r: &impl RowExt) -> Result<AliasMove> {
    Ok(AliasMove {
        program: program.to_string(),
        seq: r.i64("seq")?,
        alias: r.string("alias")?,
        action: AliasAction::parse(&r.string("action")?)?,
        from_version: r.opt_i64("from_version")?,
        to_version: r.opt_i64("to_version")?,
        actor: r.string("actor")?,
        reason: r.string("reason")?,
        at: r.i64("at")?,
    })
}

fn no_program(name: &str) -> StoreError {
    StoreError::NotFound(format!("no program named '{name}' in the registry"))
}

/// One alias change, as the write helpers take it.
pub(crate) struct AliasChange<'a> {
    pub(crate) alias: &'a str,
    pub(crate) actor: &'a str,
    pub(crate) reason: &'a str,
}

/// The registry's write steps, written once for both backends (see [`with_pool`]).
macro_rules! registry_tx {
    // Bumps the alias sequence (locks the program row) and returns (program id, new seq).
    (lock_aliases, $tx:expr, $name:expr) => {{
        let row = sqlx::query("UPDATE programs SET alias_seq = alias_seq + 1 WHERE name = $1 RETURNING id, alias_seq")
            .bind($name)
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            Some(r) => (r.i64("id")?, r.i64("alias_seq")?),
            None => return Err(no_program($name)),
        }
    }};
    // Where an alias points now.
    (current_alias, $tx:expr, $pid:expr, $alias:expr) => {{
        let row = sqlx::query("SELECT version FROM aliases WHERE program_id = $1 AND alias = $2")
            .bind($pid)
            .bind($alias)
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            Some(r) => Some(r.i64("version")?),
            None => None,
        }
    }};
    // Whether a version exists.
    (version_exists, $tx:expr, $pid:expr, $version:expr) => {{
        sqlx::query("SELECT version FROM program_versions WHERE program_id = $1 AND version = $2")
            .bind($pid)
            .bind($version)
            .fetch_optional(&mut *$tx)
            .await?
            .is_some()
    }};
    // Points the alias at `to` (or removes it when `to` is None) and logs the move.
    (write_alias, $tx:expr, $pid:expr, $seq:expr, $change:expr, $action:expr, $from:expr, $to:expr) => {{
        let now = now_ms();
        match $to {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO aliases (program_id, alias, version, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (program_id, alias) DO UPDATE SET version = excluded.version, \
                     updated_at = excluded.updated_at",
                )
                .bind($pid)
                .bind($change.alias)
                .bind(v)
                .bind(now)
                .execute(&mut *$tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM aliases WHERE program_id = $1 AND alias = $2")
                    .bind($pid)
                    .bind($change.alias)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO alias_log (program_id, seq, alias, action, from_version, to_version, actor, reason, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($pid)
        .bind($seq)
        .bind($change.alias)
        .bind($action.as_str())
        .bind($from)
        .bind($to)
        .bind($change.actor)
        .bind($change.reason)
        .bind(now)
        .execute(&mut *$tx)
        .await?;
    }};
}

impl Store {
    /// Registers a new immutable version and returns it. The state must fit the spec (an
    /// unknown predictor or field is refused); a parent version must exist.
    pub async fn register_version(&self, new: &NewVersion) -> Result<ProgramVersion> {
        self.register_version_with_alias(new, None).await
    }

    /// Registers a new version and, in the same transaction, points `alias` at it.
    pub async fn register_version_with_alias(
        &self,
        new: &NewVersion,
        alias: Option<(&str, &str)>,
    ) -> Result<ProgramVersion> {
        validate_name(&new.program, "program")?;
        if let Some((a, _)) = alias {
            validate_name(a, "alias")?;
        }
        build_program(&new.program, &new.spec, &new.state)?;
        let state_json = self.keyring.seal(&to_json(&new.state, "version state")?)?;
        let spec_json = to_json(&new.spec, "version spec")?;
        let params_json = to_json(&new.params, "version params")?;
        let scores_json = to_json(&new.scores, "version scores")?;
        let now = now_ms();
        let name = new.program.as_str();
        let version = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO programs (name, next_version, alias_seq, created_at) VALUES ($1, 1, 0, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(
                "UPDATE programs SET next_version = next_version + 1 WHERE name = $1 RETURNING id, next_version",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            let pid = row.i64("id")?;
            let version = row.i64("next_version")? - 1;
            if let Some(parent) = new.parent_version {
                if !registry_tx!(version_exists, tx, pid, parent) {
                    return Err(StoreError::NotFound(format!(
                        "parent version {parent} of program '{name}' does not exist"
                    )));
                }
            }
            sqlx::query(
                "INSERT INTO program_versions (program_id, version, state_json, spec_json, parent_version, optimizer, \
                 params_json, scores_json, dataset_hash, run_id, created_by, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(pid)
            .bind(version)
            .bind(&state_json)
            .bind(&spec_json)
            .bind(new.parent_version)
            .bind(new.optimizer.as_deref())
            .bind(&params_json)
            .bind(&scores_json)
            .bind(new.dataset_hash.as_deref())
            .bind(new.run_id)
            .bind(&new.created_by)
            .bind(&new.note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some((alias, reason)) = alias {
                let (pid, seq) = registry_tx!(lock_aliases, tx, name);
                let from = registry_tx!(current_alias, tx, pid, alias);
                let change = AliasChange { alias, actor: &new.created_by, reason };
                registry_tx!(write_alias, tx, pid, seq, change, AliasAction::Set, from, Some(version));
            }
            tx.commit().await?;
            version
        });
        Ok(ProgramVersion {
            program: new.program.clone(),
            version,
            state: new.state.clone(),
            spec: new.spec.clone(),
            parent_version: new.parent_version,
            optimizer: new.optimizer.clone(),
            params: new.params.clone(),
            scores: new.scores.clone(),
            dataset_hash: new.dataset_hash.clone(),
            run_id: new.run_id,
            created_by: new.created_by.clone(),
            note: new.note.clone(),
            created_at: now,
        })
    }

    /// Every program with its version count and aliases, by name.
    pub async fn list_programs(&self) -> Result<Vec<ProgramSummary>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, name, next_version, created_at FROM programs ORDER BY name")
                .fetch_all(pool)
                .await?;
            let alias_rows = sqlx::query("SELECT program_id, alias, version FROM aliases").fetch_all(pool).await?;
            let mut aliases: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
            for r in &alias_rows {
                aliases.entry(r.i64("program_id")?).or_default().insert(r.string("alias")?, r.i64("version")?);
            }
            rows.iter()
                .map(|r| {
                    Ok(ProgramSummary {
                        name: r.string("name")?,
                        versions: r.i64("next_version")? - 1,
                        aliases: aliases.remove(&r.i64("id")?).unwrap_or_default(),
                        created_at: r.i64("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// One program's summary.
    pub async fn program(&self, name: &str) -> Result<ProgramSummary> {
        let found = with_pool!(self, pool => {
            let row = sqlx::query("SELECT id, name, next_version, created_at FROM programs WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
            match row {
                None => None,
                Some(r) => {
                    let alias_rows = sqlx::query("SELECT alias, version FROM aliases WHERE program_id = $1")
                        .bind(r.i64("id")?)
                        .fetch_all(pool)
                        .await?;
                    let mut aliases = BTreeMap::new();
                    for a in &alias_rows {
                        aliases.insert(a.string("alias")?, a.i64("version")?);
                    }
                    Some(ProgramSummary {
                        name: r.string("name")?,
                        versions: r.i64("next_version")? - 1,
                        aliases,
                        created_at: r.i64("created_at")?,
                    })
                }
            }
        });
        found.ok_or_else(|| no_program(name))
    }

    /// Every version of a program, oldest first.
    pub async fn list_versions(&self, name: &str) -> Result<Vec<ProgramVersion>> {
        let versions = with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT v.* FROM program_versions v JOIN programs p ON p.id = v.program_id \
                 WHERE p.name = $1 ORDER BY v.version",
            )
            .bind(name)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| version_from_row(&self.keyring, name, r)).collect::<Result<Vec<_>>>()?
        });
        if versions.is_empty() {
            self.program(name).await?;
        }
        Ok(versions)
    }

    /// One version, by number, alias or latest.
    pub async fn version(&self, name: &str, selector: &VersionSelector) -> Result<ProgramVersion> {
        let number = match selector {
            VersionSelector::Number(n) => *n,
            VersionSelector::Latest => {
                let p = self.program(name).await?;
                if p.versions == 0 {
                    return Err(StoreError::NotFound(format!("program '{name}' has no versions")));
                }
                p.versions
            }
            VersionSelector::Alias(alias) => {
                let p = self.program(name).await?;
                match p.aliases.get(alias) {
                    Some(v) => *v,
                    None => {
                        let known = p.aliases.keys().cloned().collect::<Vec<_>>().join(", ");
                        return Err(StoreError::NotFound(format!(
                            "program '{name}' has no alias '{alias}' (aliases: {})",
                            if known.is_empty() { "none" } else { known.as_str() }
                        )));
                    }
                }
            }
        };
        let found = with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT v.* FROM program_versions v JOIN programs p ON p.id = v.program_id \
                 WHERE p.name = $1 AND v.version = $2",
            )
            .bind(name)
            .bind(number)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(|r| version_from_row(&self.keyring, name, r)).transpose()?
        });
        match found {
            Some(v) => Ok(v),
            None => {
                let p = self.program(name).await?;
                Err(StoreError::NotFound(format!(
                    "program '{name}' has no version {number} (it has versions 1 to {})",
                    p.versions
                )))
            }
        }
    }

    /// Resolves `NAME@production`, `NAME@3`, `NAME@latest`.
    pub async fn resolve(&self, reference: &ProgramRef) -> Result<ProgramVersion> {
        self.version(&reference.name, &reference.selector).await
    }

    /// Points `alias` at `version`, logging the move. Moving an alias to where it already points
    /// changes nothing and logs nothing. Returns the version it pointed at before.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        actor: &str,
        reason: &str,
    ) -> Result<Option<i64>> {
        validate_name(alias, "alias")?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (pid, seq) = registry_tx!(lock_aliases, tx, name);
            if !registry_tx!(version_exists, tx, pid, version) {
                return Err(StoreError::NotFound(format!("program '{name}' has no version {version}")));
            }
            let from = registry_tx!(current_alias, tx, pid, alias);
            if from == Some(version) {
                return Ok(from); // dropping the transaction rolls the sequence bump back
            }
            let change = AliasChange { alias, actor, reason };
            registry_tx!(write_alias, tx, pid, seq, change, AliasAction::Set, from, Some(version));
            tx.commit().await?;
            Ok(from)
        })
    }

    /// Moves `production` to `version`.
    pub async fn activate(&self, name: &str, version: i64, actor: &str, reason: &str) -> Result<Option<i64>> {
        self.set_alias(name, PRODUCTION, version, actor, reason).await
    }

    /// Returns `alias` to the version it pointed at before its last move; repeated rollbacks walk
    /// further back. Returns the version it now points at.
    pub async fn rollback(&self, name: &str, alias: &str, actor: &str, reason: &str) -> Result<i64> {
        validate_name(alias, "alias")?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (pid, seq) = registry_tx!(lock_aliases, tx, name);
            let rows = sqlx::query("SELECT * FROM alias_log WHERE program_id = $1 AND alias = $2 ORDER BY seq")
                .bind(pid)
                .bind(alias)
                .fetch_all(&mut *tx)
                .await?;
            let log = rows.iter().map(|r| move_from_row(name, r)).collect::<Result<Vec<_>>>()?;
            let (current, history) = replay_alias(&log);
            let Some(current) = current else {
                return Err(StoreError::NotFound(format!("program '{name}' has no alias '{alias}' to roll back")));
            };
            let Some(&target) = history.last() else {
                return Err(StoreError::Invalid(format!(
                    "alias '{alias}' of program '{name}' has no earlier version to roll back to (it points at {current})"
                )));
            };
            let change = AliasChange { alias, actor, reason };
            registry_tx!(write_alias, tx, pid, seq, change, AliasAction::Rollback, Some(current), Some(target));
            tx.commit().await?;
            Ok(target)
        })
    }

    /// Removes an alias (logged).
    pub async fn remove_alias(&self, name: &str, alias: &str, actor: &str, reason: &str) -> Result<i64> {
        validate_name(alias, "alias")?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (pid, seq) = registry_tx!(lock_aliases, tx, name);
            let Some(from) = registry_tx!(current_alias, tx, pid, alias) else {
                return Err(StoreError::NotFound(format!("program '{name}' has no alias '{alias}'")));
            };
            let change = AliasChange { alias, actor, reason };
            registry_tx!(write_alias, tx, pid, seq, change, AliasAction::Delete, Some(from), None::<i64>);
            tx.commit().await?;
            Ok(from)
        })
    }

    /// A program's alias log, oldest first.
    pub async fn alias_log(&self, name: &str) -> Result<Vec<AliasMove>> {
        let moves = with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT l.* FROM alias_log l JOIN programs p ON p.id = l.program_id WHERE p.name = $1 ORDER BY l.seq",
            )
            .bind(name)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| move_from_row(name, r)).collect::<Result<Vec<_>>>()?
        });
        if moves.is_empty() {
            self.program(name).await?;
        }
        Ok(moves)
    }

    /// Registry consistency problems: versions not numbered 1..=n, a `next_version` counter out
    /// of step, or an alias table that differs from what replaying the alias log gives.
    pub(crate) async fn check_registry_consistency(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for p in self.list_programs().await? {
            let versions = self.list_versions(&p.name).await?;
            let numbers: Vec<i64> = versions.iter().map(|v| v.version).collect();
            let expected: Vec<i64> = (1..=p.versions).collect();
            if numbers != expected {
                problems.push(format!(
                    "program '{}': versions {:?} are not 1..={} without gaps",
                    p.name, numbers, p.versions
                ));
            }
            let log = self.alias_log(&p.name).await?;
            let mut by_alias: BTreeMap<&str, Vec<AliasMove>> = BTreeMap::new();
            for m in &log {
                by_alias.entry(m.alias.as_str()).or_default().push(m.clone());
            }
            let replayed: BTreeMap<String, i64> = by_alias
                .iter()
                .filter_map(|(alias, moves)| replay_alias(moves).0.map(|v| (alias.to_string(), v)))
                .collect();
            if replayed != p.aliases {
                problems.push(format!(
                    "program '{}': alias table {:?} differs from the alias log's replay {:?}",
                    p.name, p.aliases, replayed
                ));
            }
            let seqs: Vec<i64> = log.iter().map(|m| m.seq).collect();
            if seqs.iter().enumerate().any(|(i, s)| *s != i as i64 + 1) {
                problems.push(format!("program '{}': alias log sequence has gaps: {seqs:?}", p.name));
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(action: AliasAction, from: Option<i64>, to: Option<i64>) -> AliasMove {
        AliasMove {
            program: "p".into(),
            seq: 0,
            alias: "production".into(),
            action,
            from_version: from,
            to_version: to,
            actor: "t".into(),
            reason: String::new(),
            at: 0,
        }
    }

    #[test]
    fn parses_program_references() {
        let r = ProgramRef::parse("qa@production").unwrap();
        assert_eq!(r, ProgramRef { name: "qa".into(), selector: VersionSelector::Alias("production".into()) });
        assert_eq!(ProgramRef::parse("qa@3").unwrap().selector, VersionSelector::Number(3));
        assert_eq!(ProgramRef::parse("qa@v12").unwrap().selector, VersionSelector::Number(12));
        assert_eq!(ProgramRef::parse("qa@latest").unwrap().selector, VersionSelector::Latest);
        assert_eq!(ProgramRef::parse("my.prog-2@candidate").unwrap().to_string(), "my.prog-2@candidate");
        for not_ref in ["qa", "examples/qa.json", "@prod", "qa@", "dir/qa@prod", "qa@pro d"] {
            assert_eq!(ProgramRef::parse(not_ref), None, "{not_ref}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("qa_v2.x-1", "program").is_ok());
        assert!(validate_name("", "program").is_err());
        assert!(validate_name("a/b", "program").is_err());
        assert!(validate_name("12", "alias").is_err());
        assert!(validate_name("latest", "alias").is_err());
        assert!(validate_name("12", "program").is_ok());
    }

    #[test]
    fn replay_walks_back_through_history() {
        use AliasAction::*;
        let log = vec![mv(Set, None, Some(1)), mv(Set, Some(1), Some(2)), mv(Set, Some(2), Some(3))];
        assert_eq!(replay_alias(&log), (Some(3), vec![1, 2]));
        let mut log2 = log.clone();
        log2.push(mv(Rollback, Some(3), Some(2)));
        assert_eq!(replay_alias(&log2), (Some(2), vec![1]));
        log2.push(mv(Rollback, Some(2), Some(1)));
        assert_eq!(replay_alias(&log2), (Some(1), vec![]));
        log2.push(mv(Set, Some(1), Some(4)));
        assert_eq!(replay_alias(&log2), (Some(4), vec![1]));
        log2.push(mv(Delete, Some(4), None));
        assert_eq!(replay_alias(&log2), (None, vec![]));
        assert_eq!(replay_alias(&[]), (None, vec![]));
    }
}

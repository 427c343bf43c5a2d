//! Evaluation records: every prediction with its score, metric breakdown, judge reasoning,
//! latency, tokens, cost and metadata. Inserts are batched (multi-row `INSERT … RETURNING`) in
//! one transaction, which also updates the per-version rollup (`eval_stats`) so per-version
//! statistics cost one indexed row read however many evaluations are stored. An evaluation
//! run's results can be recorded straight from an iterator (e.g. read back from its
//! `results.jsonl`), a statement's worth of rows at a time, so recording a large run does not
//! hold it in memory.

use crate::crypto::Keyring;
use crate::db::{bind_args, now_ms, parse_json, to_json, with_pool, Arg, BeginWrite, DbKind, RowExt, Store};
use crate::error::{Result, StoreError};
use promptsmith_eval::{EvalReport, ExampleResult};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Rows per `INSERT` statement (17 binds each; well under both engines' bind limits).
const ROWS_PER_STATEMENT: usize = 500;

const EVAL_COLUMNS: &str = "program, version, run_id, example_index, inputs_json, outputs_json, labels_json, score, \
     metrics_json, judge_reasoning, error, latency_ms, prompt_tokens, completion_tokens, cost_usd, metadata_json, \
     created_at, experiment_id, arm";
const EVAL_COLUMN_COUNT: usize = 19;

/// One evaluation to store.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewEvaluation {
    /// Program name.
    pub program: String,
    /// Registered version evaluated (`None`: an unregistered program).
    pub version: Option<i64>,
    /// Run this evaluation belongs to.
    pub run_id: Option<i64>,
    /// Position of the example in its dataset.
    pub example_index: Option<i64>,
    /// Inputs given to the program.
    pub inputs: Map<String, Value>,
    /// Outputs it produced (`None` when it failed).
    pub outputs: Option<Map<String, Value>>,
    /// The example's labels.
    pub labels: Option<Map<String, Value>>,
    /// Overall score in `[0, 1]`.
    pub score: f64,
    /// Metric breakdown (sub-metric name -> value).
    pub metrics: Option<Map<String, Value>>,
    /// The judge's (or metric's) reasoning.
    pub judge_reasoning: Option<String>,
    /// Error message when the program failed.
    pub error: Option<String>,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cost in US dollars.
    pub cost_usd: f64,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it happened (Unix ms); `None`: now.
    pub created_at: Option<i64>,
    /// The experiment that routed it, for a prediction served in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    /// Its arm there: `control` or `challenger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
}

/// A stored evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Row id.
    pub id: i64,
    /// When it happened (Unix ms).
    pub created_at: i64,
    /// Program name.
    pub program: String,
    /// Registered version (`None`: an unregistered program).
    pub version: Option<i64>,
    /// Run it belongs to.
    pub run_id: Option<i64>,
    /// Position of the example in its dataset.
    pub example_index: Option<i64>,
    /// Inputs.
    pub inputs: Map<String, Value>,
    /// Outputs.
    pub outputs: Option<Map<String, Value>>,
    /// Labels.
    pub labels: Option<Map<String, Value>>,
    /// Score.
    pub score: f64,
    /// Metric breakdown.
    pub metrics: Option<Map<String, Value>>,
    /// Judge reasoning.
    pub judge_reasoning: Option<String>,
    /// Error message.
    pub error: Option<String>,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cost in US dollars.
    pub cost_usd: f64,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// The experiment that routed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    /// Its arm there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
}

/// A filter over stored evaluations. Every field narrows the result; results come newest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalQuery {
    /// Program name.
    pub program: Option<String>,
    /// Version (`Some(None)`: unregistered evaluations only).
    pub version: Option<Option<i64>>,
    /// Run id.
    pub run_id: Option<i64>,
    /// From this time (Unix ms, inclusive).
    pub since: Option<i64>,
    /// Until this time (Unix ms, exclusive).
    pub until: Option<i64>,
    /// Minimum score (inclusive).
    pub min_score: Option<f64>,
    /// Maximum score (inclusive).
    pub max_score: Option<f64>,
    /// At most this many rows (default 100).
    pub limit: Option<i64>,
}

/// Statistics of one program version's evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionStats {
    /// Program name.
    pub program: String,
    /// Version (`None`: unregistered).
    pub version: Option<i64>,
    /// Number of evaluations.
    pub n: i64,
    /// Evaluations that ended in an error.
    pub errors: i64,
    /// Mean score.
    pub mean_score: f64,
    /// Sample standard deviation of the score.
    pub std_score: f64,
    /// Lowest score.
    pub min_score: f64,
    /// Highest score.
    pub max_score: f64,
    /// Mean latency in milliseconds.
    pub mean_latency_ms: f64,
    /// Prompt tokens in all.
    pub prompt_tokens: i64,
    /// Completion tokens in all.
    pub completion_tokens: i64,
    /// Cost in all (USD).
    pub cost_usd: f64,
    /// Mean cost per evaluation (USD).
    pub cost_per_call: f64,
    /// First evaluation (Unix ms).
    pub first_at: i64,
    /// Last evaluation (Unix ms).
    pub last_at: i64,
}

/// How [`Store::record_eval_report`] files an evaluation report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordOptions {
    /// Registered version evaluated.
    pub version: Option<i64>,
    /// Run the report belongs to.
    pub run_id: Option<i64>,
    /// Metadata attached to every row (model, dataset, manifest...).
    pub metadata: Option<Value>,
    /// Price per million prompt tokens (USD), for results that carry no cost of their own.
    pub price_per_1m_prompt: Option<f64>,
    /// Price per million completion tokens (USD).
    pub price_per_1m_completion: Option<f64>,
}

/// Version as stored: 0 stands for "not a registered version" (registered versions start at 1).
pub(crate) fn version_to_db(v: Option<i64>) -> i64 {
    v.unwrap_or(0)
}

pub(crate) fn version_from_db(v: i64) -> Option<i64> {
    (v > 0).then_some(v)
}

fn opt_json<T: Serialize>(v: &Option<T>, what: &str) -> Result<Option<String>> {
    v.as_ref().map(|v| to_json(v, what)).transpose()
}

fn opt_parse<T: serde::de::DeserializeOwned>(v: Option<String>, what: &str) -> Result<Option<T>> {
    v.map(|t| parse_json(&t, what)).transpose()
}

/// A sealed JSON column's value (inputs, outputs and labels are data: sealed like datasets).
fn open_json<T: serde::de::DeserializeOwned>(keyring: &Keyring, v: Option<String>, what: &str) -> Result<Option<T>> {
    v.map(|t| parse_json(&keyring.open(&t)?, what)).transpose()
}

fn seal_json<T: Serialize>(keyring: &Keyring, v: &Option<T>, what: &str) -> Result<Option<String>> {
    v.as_ref().map(|v| keyring.seal(&to_json(v, what)?)).transpose()
}

pub(crate) fn evaluation_from_row(r: &impl RowExt, keyring: &Keyring) -> Result<Evaluation> {
    Ok(Evaluation {
        id: r.i64("id")?,
        created_at: r.i64("created_at")?,
        program: r.string("program")?,
        version: version_from_db(r.i64("version")?),
        run_id: r.opt_i64("run_id")?,
        example_index: r.opt_i64("example_index")?,
        inputs: parse_json(&keyring.open(&r.string("inputs_json")?)?, "evaluation inputs")?,
        outputs: open_json(keyring, r.opt_string("outputs_json")?, "evaluation outputs")?,
        labels: open_json(keyring, r.opt_string("labels_json")?, "evaluation labels")?,
        score: r.f64("score")?,
        metrics: opt_parse(r.opt_string("metrics_json")?, "evaluation metrics")?,
        judge_reasoning: r.opt_string("judge_reasoning")?,
        error: r.opt_string("error")?,
        latency_ms: r.i64("latency_ms")?,
        prompt_tokens: r.i64("prompt_tokens")?,
        completion_tokens: r.i64("completion_tokens")?,
        cost_usd: r.f64("cost_usd")?,
        metadata: opt_parse(r.opt_string("metadata_json")?, "evaluation metadata")?,
        experiment_id: r.opt_string("experiment_id")?,
        arm: r.opt_string("arm")?,
    })
}

fn stats_from_row(r: &impl RowExt) -> Result<VersionStats> {
    let n = r.i64("n")?;
    let nf = n.max(1) as f64;
    let sum = r.f64("sum_score")?;
    let sum_sq = r.f64("sum_score_sq")?;
    let mean = sum / nf;
    let var = if n > 1 { ((sum_sq - sum * sum / n as f64) / (n as f64 - 1.0)).max(0.0) } else { 0.0 };
    let cost = r.f64("sum_cost_usd")?;
    Ok(VersionStats {
        program: r.string("program")?,
        version: version_from_db(r.i64("version")?),
        n,
        errors: r.i64("errors")?,
        mean_score: mean,
        std_score: var.sqrt(),
        min_score: r.f64("min_score")?,
        max_score: r.f64("max_score")?,
        mean_latency_ms: r.i64("sum_latency_ms")? as f64 / nf,
        prompt_tokens: r.i64("sum_prompt_tokens")?,
        completion_tokens: r.i64("sum_completion_tokens")?,
        cost_usd: cost,
        cost_per_call: cost / nf,
        first_at: r.i64("first_at")?,
        last_at: r.i64("last_at")?,
    })
}

/// Per-(program, version) sums of one batch, for the rollup.
#[derive(Debug, Default)]
struct Rollup {
    n: i64,
    errors: i64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    latency: i64,
    prompt: i64,
    completion: i64,
    cost: f64,
    first: i64,
    last: i64,
}

fn rollups(rows: &[(&NewEvaluation, i64)]) -> BTreeMap<(String, i64), Rollup> {
    let mut out: BTreeMap<(String, i64), Rollup> = BTreeMap::new();
    add_to_rollups(&mut out, rows.iter().map(|(e, at)| (*e, *at)));
    out
}

/// Adds rows to per-(program, version) sums.
fn add_to_rollups<'a>(out: &mut BTreeMap<(String, i64), Rollup>, rows: impl Iterator<Item = (&'a NewEvaluation, i64)>) {
    for (e, at) in rows {
        let r = out.entry((e.program.clone(), version_to_db(e.version))).or_insert_with(|| Rollup {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            first: i64::MAX,
            last: i64::MIN,
            ..Rollup::default()
        });
        r.n += 1;
        r.errors += i64::from(e.error.is_some());
        r.sum += e.score;
        r.sum_sq += e.score * e.score;
        r.min = r.min.min(e.score);
        r.max = r.max.max(e.score);
        r.latency += e.latency_ms;
        r.prompt += e.prompt_tokens;
        r.completion += e.completion_tokens;
        r.cost += e.cost_usd;
        r.first = r.first.min(at);
        r.last = r.last.max(at);
    }
}

fn validate(e: &NewEvaluation) -> Result<()> {
    if e.program.trim().is_empty() {
        return Err(StoreError::Invalid("an evaluation needs a program name".into()));
    }
    if !e.score.is_finite() {
        return Err(StoreError::Invalid(format!("evaluation of '{}': score {} is not a number", e.program, e.score)));
    }
    if !e.cost_usd.is_finite() || e.latency_ms < 0 || e.prompt_tokens < 0 || e.completion_tokens < 0 {
        return Err(StoreError::Invalid(format!(
            "evaluation of '{}': latency, tokens and cost must be non-negative numbers",
            e.program
        )));
    }
    if matches!(e.version, Some(v) if v < 1) {
        return Err(StoreError::Invalid(format!("evaluation of '{}': versions start at 1", e.program)));
    }
    Ok(())
}

const ROLLUP_SQL: &str = "INSERT INTO eval_stats (program, version, n, errors, sum_score, sum_score_sq, min_score, \
     max_score, sum_latency_ms, sum_prompt_tokens, sum_completion_tokens, sum_cost_usd, first_at, last_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (program, version) DO UPDATE SET \
     n = eval_stats.n + excluded.n, errors = eval_stats.errors + excluded.errors, \
     sum_score = eval_stats.sum_score + excluded.sum_score, \
     sum_score_sq = eval_stats.sum_score_sq + excluded.sum_score_sq, \
     min_score = CASE WHEN excluded.min_score < eval_stats.min_score THEN excluded.min_score ELSE eval_stats.min_score END, \
     max_score = CASE WHEN excluded.max_score > eval_stats.max_score THEN excluded.max_score ELSE eval_stats.max_score END, \
     sum_latency_ms = eval_stats.sum_latency_ms + excluded.sum_latency_ms, \
     sum_prompt_tokens = eval_stats.sum_prompt_tokens + excluded.sum_prompt_tokens, \
     sum_completion_tokens = eval_stats.sum_completion_tokens + excluded.sum_completion_tokens, \
     sum_cost_usd = eval_stats.sum_cost_usd + excluded.sum_cost_usd, \
     first_at = CASE WHEN excluded.first_at < eval_stats.first_at THEN excluded.first_at ELSE eval_stats.first_at END, \
     last_at = CASE WHEN excluded.last_at > eval_stats.last_at THEN excluded.last_at ELSE eval_stats.last_at END";

/// Adds each rollup in `$sums` to `eval_stats` inside the transaction `$tx`. Sorted keys:
/// concurrent writers take the rollup row locks in the same order.
macro_rules! write_rollups {
    ($tx:expr, $sums:expr) => {
        for ((program, version), r) in $sums {
            sqlx::query(ROLLUP_SQL)
                .bind(program)
                .bind(*version)
                .bind(r.n)
                .bind(r.errors)
                .bind(r.sum)
                .bind(r.sum_sq)
                .bind(r.min)
                .bind(r.max)
                .bind(r.latency)
                .bind(r.prompt)
                .bind(r.completion)
                .bind(r.cost)
                .bind(r.first)
                .bind(r.last)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// One per-example result as a row to store.
fn result_row(program: &str, metric: &str, r: ExampleResult, options: &RecordOptions, now: i64) -> NewEvaluation {
    let price = |tokens: u64, per_1m: Option<f64>| per_1m.map(|p| tokens as f64 * p / 1e6).unwrap_or(0.0);
    let mut metrics = Map::new();
    metrics.insert(metric.to_string(), Value::from(r.score));
    for part in &r.breakdown {
        metrics.insert(part.name.clone(), serde_json::json!({"score": part.score, "weight": part.weight}));
    }
    if let Some(e) = &r.metric_error {
        metrics.insert("metric_error".into(), Value::String(e.clone()));
    }
    metrics.insert("lm_calls".into(), Value::from(r.lm_calls));
    NewEvaluation {
        program: program.to_string(),
        version: options.version,
        run_id: options.run_id,
        example_index: Some(r.index as i64),
        cost_usd: r.cost_usd.unwrap_or_else(|| {
            price(r.usage.prompt_tokens, options.price_per_1m_prompt)
                + price(r.usage.completion_tokens, options.price_per_1m_completion)
        }),
        inputs: r.inputs,
        outputs: r.prediction,
        labels: Some(r.labels),
        score: r.score,
        metrics: Some(metrics),
        judge_reasoning: r.feedback,
        error: r.error.map(|e| e.message),
        latency_ms: r.latency_ms as i64,
        prompt_tokens: r.usage.prompt_tokens as i64,
        completion_tokens: r.usage.completion_tokens as i64,
        metadata: options.metadata.clone(),
        created_at: Some(now),
        experiment_id: None,
        arm: None,
    }
}

/// The multi-row insert. PostgreSQL gets numbered placeholders (`$1`, `$2`, …); SQLite gets
/// anonymous `?` ones, because looking up SQLite's named parameters is linear in their count,
/// which makes binding thousands of `$N` parameters quadratic.
fn insert_sql(rows: usize, numbered: bool) -> String {
    let mut sql = format!("INSERT INTO evaluations ({EVAL_COLUMNS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..EVAL_COLUMN_COUNT {
            if c > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push_str(&format!("${}", r * EVAL_COLUMN_COUNT + c + 1));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql.push_str(" RETURNING id");
    sql
}

fn row_args(e: &NewEvaluation, at: i64, keyring: &Keyring, out: &mut Vec<Arg>) -> Result<()> {
    out.push(Arg::S(e.program.clone()));
    out.push(Arg::I(version_to_db(e.version)));
    out.push(Arg::OI(e.run_id));
    out.push(Arg::OI(e.example_index));
    out.push(Arg::S(keyring.seal(&to_json(&e.inputs, "evaluation inputs")?)?));
    out.push(Arg::OS(seal_json(keyring, &e.outputs, "evaluation outputs")?));
    out.push(Arg::OS(seal_json(keyring, &e.labels, "evaluation labels")?));
    out.push(Arg::F(e.score));
    out.push(Arg::OS(opt_json(&e.metrics, "evaluation metrics")?));
    out.push(Arg::OS(e.judge_reasoning.clone()));
    out.push(Arg::OS(e.error.clone()));
    out.push(Arg::I(e.latency_ms));
    out.push(Arg::I(e.prompt_tokens));
    out.push(Arg::I(e.completion_tokens));
    out.push(Arg::F(e.cost_usd));
    out.push(Arg::OS(opt_json(&e.metadata, "evaluation metadata")?));
    out.push(Arg::I(at));
    out.push(Arg::OS(e.experiment_id.clone()));
    out.push(Arg::OS(e.arm.clone()));
    Ok(())
}

impl Store {
    /// Stores evaluations in one transaction (all or none) and returns their ids, in input order.
    pub async fn insert_evaluations(&self, evals: &[NewEvaluation]) -> Result<Vec<i64>> {
        self.insert_rows(evals, false).await
    }

    /// Stores served predictions: evaluations without a score yet (their `score` is ignored,
    /// stored as 0 and marked unscored), left out of per-version score statistics and samples
    /// until feedback scores them. One transaction for the batch; ids in input order.
    pub async fn insert_predictions(&self, predictions: &[NewEvaluation]) -> Result<Vec<i64>> {
        self.insert_rows(predictions, true).await
    }

    async fn insert_rows(&self, evals: &[NewEvaluation], unscored: bool) -> Result<Vec<i64>> {
        if evals.is_empty() {
            return Ok(Vec::new());
        }
        for e in evals {
            validate(e)?;
        }
        let now = now_ms();
        let rows: Vec<(&NewEvaluation, i64)> = evals.iter().map(|e| (e, e.created_at.unwrap_or(now))).collect();
        let sums = rollups(&rows);
        let numbered = self.kind() == DbKind::Postgres;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = insert_sql(chunk.len(), numbered);
                let mut args = Vec::with_capacity(chunk.len() * EVAL_COLUMN_COUNT);
                for (e, at) in chunk {
                    row_args(e, *at, &self.keyring, &mut args)?;
                }
                let q = bind_args!(sqlx::query(&sql), args);
                let mut chunk_ids = Vec::with_capacity(chunk.len());
                for row in q.fetch_all(&mut *tx).await? {
                    chunk_ids.push(row.i64("id")?);
                }
                // Ids are assigned in row order within one statement; RETURNING's order is not
                // promised, so sort.
                chunk_ids.sort_unstable();
                if unscored {
                    let list: Vec<String> = chunk_ids.iter().map(i64::to_string).collect();
                    sqlx::query(&format!("UPDATE evaluations SET unscored = 1 WHERE id IN ({})", list.join(", ")))
                        .execute(&mut *tx)
                        .await?;
                }
                ids.extend(chunk_ids);
            }
            if !unscored {
                write_rollups!(tx, &sums);
            }
            tx.commit().await?;
            Ok(ids)
        })
    }

    /// Stores every per-example result of an evaluation report under `program`.
    pub async fn record_eval_report(
        &self,
        program: &str,
        report: &EvalReport,
        options: &RecordOptions,
    ) -> Result<Vec<i64>> {
        let now = now_ms();
        let rows: Vec<NewEvaluation> =
            report.results.iter().map(|r| result_row(program, &report.metric, r.clone(), options, now)).collect();
        self.insert_evaluations(&rows).await
    }

    /// Stores an evaluation's per-example results under `program` as `results` yields them
    /// (scored with `metric`), in one transaction (all or none, as [`Store::record_eval_report`])
    /// but converted and inserted a statement's worth of rows at a time, so memory stays flat
    /// however many there are. An error from `results` stops the recording and stores nothing.
    /// Returns the number of evaluations stored.
    pub async fn record_eval_results<I, E>(
        &self,
        program: &str,
        metric: &str,
        results: I,
        options: &RecordOptions,
    ) -> Result<usize>
    where
        I: IntoIterator<Item = std::result::Result<ExampleResult, E>>,
        I::IntoIter: Send,
        E: std::fmt::Display,
    {
        let now = now_ms();
        let mut results = results.into_iter();
        let mut next_chunk = move || -> Result<Vec<NewEvaluation>> {
            let mut chunk = Vec::with_capacity(ROWS_PER_STATEMENT);
            for r in results.by_ref() {
                let r = r.map_err(|e| StoreError::Invalid(format!("cannot read the results to record: {e}")))?;
                let row = result_row(program, metric, r, options, now);
                validate(&row)?;
                chunk.push(row);
                if chunk.len() == ROWS_PER_STATEMENT {
                    break;
                }
            }
            Ok(chunk)
        };
        let mut chunk = next_chunk()?;
        if chunk.is_empty() {
            return Ok(0);
        }
        let numbered = self.kind() == DbKind::Postgres;
        let mut sums: BTreeMap<(String, i64), Rollup> = BTreeMap::new();
        let mut stored = 0usize;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            while !chunk.is_empty() {
                let sql = insert_sql(chunk.len(), numbered);
                let mut args = Vec::with_capacity(chunk.len() * EVAL_COLUMN_COUNT);
                for e in &chunk {
                    row_args(e, now, &self.keyring, &mut args)?;
                }
                bind_args!(sqlx::query(&sql), args).execute(&mut *tx).await?;
                add_to_rollups(&mut sums, chunk.iter().map(|e| (e, now)));
                stored += chunk.len();
                chunk = next_chunk()?;
            }
            write_rollups!(tx, &sums);
            tx.commit().await?;
        });
        Ok(stored)
    }

    /// One stored evaluation.
    pub async fn evaluation(&self, id: i64) -> Result<Evaluation> {
        let row = with_pool!(self, pool => {
            match sqlx::query("SELECT * FROM evaluations WHERE id = $1").bind(id).fetch_optional(pool).await? {
                Some(r) => Some(evaluation_from_row(&r, &self.keyring)?),
                None => None,
            }
        });
        row.ok_or_else(|| StoreError::NotFound(format!("no evaluation with id {id}")))
    }

    /// Evaluations matching a filter, newest first.
    pub async fn query_evaluations(&self, q: &EvalQuery) -> Result<Vec<Evaluation>> {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        let mut add = |clause: &str, arg: Arg| {
            args.push(arg);
            clauses.push(clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(p) = &q.program {
            add("program = ?", Arg::S(p.clone()));
        }
        if let Some(v) = q.version {
            add("version = ?", Arg::I(version_to_db(v)));
        }
        if let Some(r) = q.run_id {
            add("run_id = ?", Arg::I(r));
        }
        if let Some(t) = q.since {
            add("created_at >= ?", Arg::I(t));
        }
        if let Some(t) = q.until {
            add("created_at < ?", Arg::I(t));
        }
        if let Some(s) = q.min_score {
            add("score >= ?", Arg::F(s));
        }
        if let Some(s) = q.max_score {
            add("score <= ?", Arg::F(s));
        }
        let limit = q.limit.unwrap_or(100).max(0);
        args.push(Arg::I(limit));
        let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        // Ids first (from an index alone when one covers the filter), then the rows.
        let sql = format!(
            "SELECT * FROM evaluations WHERE id IN (SELECT id FROM evaluations{filter} \
             ORDER BY created_at DESC, id DESC LIMIT ${}) ORDER BY created_at DESC, id DESC",
            args.len()
        );
        with_pool!(self, pool => {
            let rows = bind_args!(sqlx::query(&sql), args).fetch_all(pool).await?;
            rows.iter().map(|r| evaluation_from_row(r, &self.keyring)).collect()
        })
    }

    /// Statistics of one version's evaluations (`None` when it has none).
    pub async fn version_stats(&self, program: &str, version: Option<i64>) -> Result<Option<VersionStats>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM eval_stats WHERE program = $1 AND version = $2")
                .bind(program)
                .bind(version_to_db(version))
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(stats_from_row).transpose()
        })
    }

    /// Statistics of every version of a program that has evaluations, by version.
    pub async fn program_stats(&self, program: &str) -> Result<Vec<VersionStats>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM eval_stats WHERE program = $1 ORDER BY version")
                .bind(program)
                .fetch_all(pool)
                .await?;
            rows.iter().map(stats_from_row).collect()
        })
    }

    /// Score, latency and cost of a version's evaluations in `[since, until)`, oldest first.
    pub async fn eval_samples(
        &self,
        program: &str,
        version: Option<i64>,
        since: i64,
        until: i64,
    ) -> Result<Vec<EvalSample>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT score, latency_ms, cost_usd, created_at FROM evaluations \
                 WHERE program = $1 AND version = $2 AND created_at >= $3 AND created_at < $4 AND unscored = 0 \
                 ORDER BY created_at, id",
            )
            .bind(program)
            .bind(version_to_db(version))
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(EvalSample {
                        score: r.f64("score")?,
                        latency_ms: r.i64("latency_ms")?,
                        cost_usd: r.f64("cost_usd")?,
                        at: r.i64("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// Number of stored evaluations.
    pub async fn count_evaluations(&self) -> Result<i64> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM evaluations").fetch_one(pool).await?;
            row.i64("n")
        })
    }
}

/// The numbers of one evaluation that performance history needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalSample {
    /// Score.
    pub score: f64,
    /// Latency (ms).
    pub latency_ms: i64,
    /// Cost (USD).
    pub cost_usd: f64,
    /// When (Unix ms).
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_placeholders_row_by_row() {
        let sql = insert_sql(2, true);
        assert!(sql.contains("($1, $2,"), "{sql}");
        assert!(sql.contains("$19), ($20,"), "{sql}");
        assert!(sql.ends_with("$38) RETURNING id"), "{sql}");
        let sql = insert_sql(2, false);
        assert_eq!(sql.matches('?').count(), 38);
        assert!(!sql.contains('$'));
    }

    #[test]
    fn rollup_sums_per_program_and_version() {
        let e = |p: &str, v: Option<i64>, s: f64, err: bool| NewEvaluation {
            program: p.into(),
            version: v,
            score: s,
            latency_ms: 10,
            prompt_tokens: 3,
            error: err.then(|| "boom".into()),
            ..NewEvaluation::default()
        };
        let (a, b, c) = (e("a", Some(1), 1.0, false), e("a", Some(1), 0.0, true), e("a", None, 0.5, false));
        let rows = vec![(&a, 5), (&b, 9), (&c, 7)];
        let sums = rollups(&rows);
        assert_eq!(sums.len(), 2);
        let r = &sums[&("a".to_string(), 1)];
        assert_eq!((r.n, r.errors, r.sum, r.sum_sq, r.min, r.max), (2, 1, 1.0, 1.0, 0.0, 1.0));
        assert_eq!((r.latency, r.prompt, r.first, r.last), (20, 6, 5, 9));
        assert_eq!(sums[&("a".to_string(), 0)].n, 1);
    }

    #[test]
    fn refuses_bad_values() {
        let ok = NewEvaluation { program: "p".into(), score: 0.5, ..NewEvaluation::default() };
        assert!(validate(&ok).is_ok());
        assert!(validate(&NewEvaluation { score: f64::NAN, ..ok.clone() }).is_err());
        assert!(validate(&NewEvaluation { program: " ".into(), ..ok.clone() }).is_err());
        assert!(validate(&NewEvaluation { latency_ms: -1, ..ok.clone() }).is_err());
        assert!(validate(&NewEvaluation { version: Some(0), ..ok }).is_err());
    }
}

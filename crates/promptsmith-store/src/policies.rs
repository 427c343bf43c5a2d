//! Continuous-optimization policies (one per program, kept as JSON: the application layer owns
//! their shape) and the timeline of the policy engine's decisions, each with its reason.

use crate::db::{now_ms, parse_json, to_json, with_pool, RowExt, Store};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// The program (registry name).
    pub program: String,
    /// Owner.
    pub tenant: String,
    /// The policy.
    pub policy: Value,
    /// Unix ms.
    pub updated_at: i64,
}

/// One decision of the policy engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Its id (increasing).
    pub id: i64,
    /// The program (registry name).
    pub program: String,
    /// When (Unix ms, the engine's clock).
    pub at: i64,
    /// What was considered (`trigger`, `optimization`, `deployment`).
    pub kind: String,
    /// What was decided (`skipped`, `started`, `finished`, `not_deployed`, `experiment_started`, …).
    pub decision: String,
    /// Why, in words.
    pub reason: String,
    /// Details (job id, counts, scores).
    pub data: Value,
}

fn policy_from_row(r: &impl RowExt) -> Result<StoredPolicy> {
    Ok(StoredPolicy {
        program: r.string("program")?,
        tenant: r.string("tenant")?,
        policy: parse_json(&r.string("policy_json")?, "policy")?,
        updated_at: r.i64("updated_at")?,
    })
}

fn entry_from_row(r: &impl RowExt) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        id: r.i64("id")?,
        program: r.string("program")?,
        at: r.i64("at")?,
        kind: r.string("kind")?,
        decision: r.string("decision")?,
        reason: r.string("reason")?,
        data: parse_json(&r.string("data_json")?, "timeline data")?,
    })
}

impl Store {
    /// Sets `program`'s policy (replacing any).
    pub async fn put_policy(&self, program: &str, tenant: &str, policy: &Value) -> Result<StoredPolicy> {
        let json = to_json(policy, "policy")?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO policies (program, tenant, policy_json, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (program) DO UPDATE SET tenant = excluded.tenant, policy_json = excluded.policy_json, \
                 updated_at = excluded.updated_at",
            )
            .bind(program)
            .bind(tenant)
            .bind(&json)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(self.policy(program).await?.unwrap_or(StoredPolicy {
            program: program.into(),
            tenant: tenant.into(),
            policy: policy.clone(),
            updated_at: now_ms(),
        }))
    }

    /// `program`'s policy, if it has one.
    pub async fn policy(&self, program: &str) -> Result<Option<StoredPolicy>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM policies WHERE program = $1").bind(program).fetch_optional(pool).await?;
            row.as_ref().map(policy_from_row).transpose()
        })
    }

    /// Every program's policy.
    pub async fn policies(&self) -> Result<Vec<StoredPolicy>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM policies ORDER BY program").fetch_all(pool).await?;
            rows.iter().map(policy_from_row).collect()
        })
    }

    /// Appends a decision to `program`'s timeline; returns its id.
    pub async fn append_timeline(
        &self,
        program: &str,
        at: i64,
        kind: &str,
        decision: &str,
        reason: &str,
        data: &Value,
    ) -> Result<i64> {
        let json = to_json(data, "timeline data")?;
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar(
                "INSERT INTO timeline (program, at, kind, decision, reason, data_json) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING id",
            )
            .bind(program)
            .bind(at)
            .bind(kind)
            .bind(decision)
            .bind(reason)
            .bind(&json)
            .fetch_one(pool)
            .await?)
        })
    }

    /// `program`'s last `limit` decisions, newest first.
    pub async fn timeline(&self, program: &str, limit: i64) -> Result<Vec<TimelineEntry>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM timeline WHERE program = $1 ORDER BY id DESC LIMIT $2")
                .bind(program)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?;
            rows.iter().map(entry_from_row).collect()
        })
    }

    /// `program`'s last decision of `kind` and `decision`, if any.
    pub async fn last_decision(&self, program: &str, kind: &str, decision: &str) -> Result<Option<TimelineEntry>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT * FROM timeline WHERE program = $1 AND kind = $2 AND decision = $3 ORDER BY id DESC LIMIT 1",
            )
            .bind(program)
            .bind(kind)
            .bind(decision)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(entry_from_row).transpose()
        })
    }
}

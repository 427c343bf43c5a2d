//! Durable jobs: a queue table that any number of workers claim from (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, the write lock on SQLite), holding a lease they renew; a job whose lease ran
//! out is claimed again. Each job keeps its call journal (so a new worker resumes without
//! repeating a completed call) and its event log (so a client that connects late replays it).
//! Only the worker holding the lease can finish a job, so a job completes exactly once.

use crate::crypto::Keyring;
use crate::db::{now_ms, parse_json, to_json, with_pool, BeginWrite, DbKind, RowExt, Store};
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Claimed by a worker (whose lease may have run out).
    Running,
    /// Finished with a result.
    Completed,
    /// Stopped by an error.
    Failed,
    /// Cancelled on request (a partial result may be kept).
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Queued, JobStatus::Running, JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Reads a stored (or query) name.
    pub fn parse(s: &str) -> Result<JobStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            StoreError::Invalid(format!(
                "unknown job status '{s}' (expected one of queued, running, completed, failed, cancelled)"
            ))
        })
    }

    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Its id (the caller makes it: unguessable, e.g. `job_` and 24 random hex digits).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// `optimize`, …
    pub kind: String,
    /// The program it is about (for listing).
    pub program: String,
    /// What the worker runs.
    pub payload: Value,
    /// What was planned when it was accepted (calls, cost, …).
    pub plan: Value,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Kind.
    pub kind: String,
    /// Program.
    pub program: String,
    /// Status.
    pub status: JobStatus,
    /// What the worker runs.
    pub payload: Value,
    /// The plan made at submission.
    pub plan: Value,
    /// The latest progress the worker reported.
    pub progress: Value,
    /// The result, once finished (or the partial result of a cancelled job).
    pub result: Option<Value>,
    /// The error, when failed.
    pub error: Option<String>,
    /// Cancellation was asked for.
    pub cancel_requested: bool,
    /// How many times a worker claimed it.
    pub attempts: i64,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// Until when (Unix ms) that worker's lease holds.
    pub lease_until: Option<i64>,
    /// Submission time (Unix ms).
    pub created_at: i64,
    /// First claim.
    pub started_at: Option<i64>,
    /// End.
    pub finished_at: Option<i64>,
    /// Last change.
    pub updated_at: i64,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only this tenant's (always set by the service).
    pub tenant: Option<String>,
    /// Only in this status.
    pub status: Option<JobStatus>,
    /// Only about this program.
    pub program: Option<String>,
    /// Only created before this job (for paging: newest first).
    pub before: Option<(i64, String)>,
    /// At most this many.
    pub limit: i64,
}

/// Jobs by status, for `/metrics` and the queue limits.
pub type JobCounts = std::collections::BTreeMap<JobStatus, i64>;

impl PartialOrd for JobStatus {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for JobStatus {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

const CLAIMABLE: &str = "(status = 'queued' OR (status = 'running' AND lease_until < $3)) AND cancel_requested = 0";

impl Store {
    /// Enqueues a job.
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<Job> {
        let now = now_ms();
        // The payload holds inline programs and rows: sealed like datasets.
        let payload = self.keyring.seal(&to_json(&job.payload, "job payload")?)?;
        let plan = to_json(&job.plan, "job plan")?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO jobs (id, tenant, kind, program, status, payload_json, plan_json, progress_json, \
                 cancel_requested, attempts, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'queued', $5, $6, '{}', 0, 0, $7, $7)",
            )
            .bind(&job.id)
            .bind(&job.tenant)
            .bind(&job.kind)
            .bind(&job.program)
            .bind(&payload)
            .bind(&plan)
            .bind(now)
            .execute(pool)
            .await?;
        });
        self.job(&job.id).await
    }

    /// The job `id`.
    pub async fn job(&self, id: &str) -> Result<Job> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id).fetch_optional(pool).await?;
            match row {
                Some(r) => job_from_row(&r, &self.keyring),
                None => Err(StoreError::NotFound(format!("no job '{id}'"))),
            }
        })
    }

    /// Jobs matching `q`, newest first.
    pub async fn jobs(&self, q: &JobQuery) -> Result<Vec<Job>> {
        let mut sql = String::from("SELECT * FROM jobs WHERE 1 = 1");
        let mut args = Vec::new();
        let mut push = |cond: &str, arg: crate::db::Arg, args: &mut Vec<crate::db::Arg>| {
            args.push(arg);
            sql.push_str(&cond.replace('?', &format!("${}", args.len())));
        };
        if let Some(t) = &q.tenant {
            push(" AND tenant = ?", crate::db::Arg::S(t.clone()), &mut args);
        }
        if let Some(s) = q.status {
            push(" AND status = ?", crate::db::Arg::S(s.as_str().into()), &mut args);
        }
        if let Some(p) = &q.program {
            push(" AND program = ?", crate::db::Arg::S(p.clone()), &mut args);
        }
        if let Some((at, id)) = &q.before {
            args.push(crate::db::Arg::I(*at));
            args.push(crate::db::Arg::S(id.clone()));
            let (a, b) = (args.len() - 1, args.len());
            sql.push_str(&format!(" AND (created_at < ${a} OR (created_at = ${a} AND id < ${b}))"));
        }
        args.push(crate::db::Arg::I(q.limit.clamp(1, 1000)));
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", args.len()));
        with_pool!(self, pool => {
            let rows = crate::db::bind_args!(sqlx::query(&sql), args).fetch_all(pool).await?;
            rows.iter().map(|r| job_from_row(r, &self.keyring)).collect()
        })
    }

    /// How many jobs are in each status (of `tenant`, or all).
    pub async fn job_counts(&self, tenant: Option<&str>) -> Result<JobCounts> {
        with_pool!(self, pool => {
            let rows: Vec<(String, i64)> = match tenant {
                Some(t) => sqlx::query_as("SELECT status, COUNT(*) FROM jobs WHERE tenant = $1 GROUP BY status")
                    .bind(t)
                    .fetch_all(pool)
                    .await?,
                None => sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetch_all(pool).await?,
            };
            let mut counts: JobCounts = JobStatus::ALL.into_iter().map(|s| (s, 0)).collect();
            for (status, n) in rows {
                counts.insert(JobStatus::parse(&status)?, n);
            }
            Ok(counts)
        })
    }

    /// Claims the oldest claimable job (queued, or running with an expired lease) for `owner`
    /// until `lease_ms` from now, first in first out (jobs submitted within one millisecond in
    /// insertion order); `None` when there is none. Concurrent claimers never get the
    /// same job.
    pub async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<Job>> {
        let now = now_ms();
        let pick = match self.kind() {
            DbKind::Postgres => {
                format!("SELECT id FROM jobs WHERE {CLAIMABLE} ORDER BY created_at, enqueued_seq LIMIT 1 FOR UPDATE SKIP LOCKED")
            }
            DbKind::Sqlite => format!("SELECT id FROM jobs WHERE {CLAIMABLE} ORDER BY created_at, rowid LIMIT 1"),
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             started_at = COALESCE(started_at, $3), updated_at = $3 WHERE id = ({pick}) RETURNING *"
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query(&sql).bind(owner).bind(now + lease_ms).bind(now).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            row.as_ref().map(|r| job_from_row(r, &self.keyring)).transpose()
        })
    }

    /// Renews `owner`'s lease on job `id` and saves its progress. Returns whether cancellation
    /// was asked for; a lost lease (another worker took the job) is a conflict error.
    pub async fn heartbeat_job(&self, id: &str, owner: &str, lease_ms: i64, progress: &Value) -> Result<bool> {
        let now = now_ms();
        let progress = to_json(progress, "job progress")?;
        with_pool!(self, pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "UPDATE jobs SET lease_until = $1, progress_json = $2, updated_at = $3 \
                 WHERE id = $4 AND lease_owner = $5 AND status = 'running' RETURNING cancel_requested",
            )
            .bind(now + lease_ms)
            .bind(&progress)
            .bind(now)
            .bind(id)
            .bind(owner)
            .fetch_optional(pool)
            .await?;
            match row {
                Some((cancel,)) => Ok(cancel != 0),
                None => Err(StoreError::Conflict(format!("job '{id}': worker '{owner}' no longer holds its lease"))),
            }
        })
    }

    /// Ends job `id` (held by `owner`) in `status` with its result or error. Fails with a
    /// conflict when `owner` lost the lease, so a job is finished once.
    pub async fn finish_job(
        &self,
        id: &str,
        owner: &str,
        status: JobStatus,
        result: Option<&Value>,
        error: Option<&str>,
    ) -> Result<Job> {
        if !status.is_final() {
            return Err(StoreError::Invalid(format!("job '{id}': '{}' is not a final status", status.as_str())));
        }
        let now = now_ms();
        let result = result.map(|r| self.keyring.seal(&to_json(r, "job result")?)).transpose()?;
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET status = $1, result_json = $2, error = $3, finished_at = $4, updated_at = $4, \
                 lease_owner = NULL, lease_until = NULL WHERE id = $5 AND lease_owner = $6 AND status = 'running'",
            )
            .bind(status.as_str())
            .bind(&result)
            .bind(error)
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::Conflict(format!("job '{id}': worker '{owner}' no longer holds its lease")));
        }
        self.job(id).await
    }

    /// Hands job `id` back to the queue (a worker shutting down before it finished): the
    /// next worker resumes it from its journal.
    pub async fn release_job(&self, id: &str, owner: &str) -> Result<()> {
        let now = now_ms();
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = $1 \
                 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
            )
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Puts failed job `id` back in the queue (its journal kept, so it resumes where it
    /// stopped); a job in any other status is a conflict.
    pub async fn requeue_job(&self, id: &str) -> Result<Job> {
        let now = now_ms();
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET status = 'queued', error = NULL, result_json = NULL, finished_at = NULL, \
                 updated_at = $1 WHERE id = $2 AND status = 'failed'",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        let job = self.job(id).await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("job '{id}' is {}, not failed", job.status.as_str())));
        }
        Ok(job)
    }

    /// Asks for job `id` to stop: a queued job is cancelled at once, a running one by its
    /// worker at its next heartbeat. Returns the job as it now is.
    pub async fn cancel_job(&self, id: &str) -> Result<Job> {
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = $1, updated_at = $1 \
                 WHERE id = $2 AND status = 'queued'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE jobs SET cancel_requested = 1, updated_at = $1 WHERE id = $2 AND status = 'running'")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.job(id).await
    }

    /// Deletes jobs that finished before `before` (Unix ms) with their journals and events;
    /// returns how many.
    pub async fn purge_jobs(&self, before: i64) -> Result<u64> {
        let done = "SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1";
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for table in ["job_journal", "job_events"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE job_id IN ({done})")).bind(before).execute(&mut *tx).await?;
            }
            let n = sqlx::query("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Appends completed calls to job `id`'s journal (each entry opaque JSON text) after its
    /// last one; returns the last sequence number.
    pub async fn append_job_journal(&self, id: &str, entries: &[String]) -> Result<i64> {
        // Entries hold prompts and answers, so the data: sealed like it.
        let entries: Vec<String> = entries.iter().map(|e| self.keyring.seal(e)).collect::<Result<_>>()?;
        let lock_sql = self.lock_job_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Concurrent appends to one job (calls in flight, a worker taking over) take turns:
            // the job's row is locked first (SQLite's write lock already serializes them).
            sqlx::query(&lock_sql).bind(id).execute(&mut *tx).await?;
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM job_journal WHERE job_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let mut seq = last.unwrap_or(0);
            for entry in &entries {
                seq += 1;
                sqlx::query("INSERT INTO job_journal (job_id, seq, entry_json) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(seq)
                    .bind(entry)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(seq)
        })
    }

    /// The statement that locks a job's row for the rest of a transaction.
    fn lock_job_sql(&self) -> String {
        match self.kind() {
            DbKind::Postgres => "SELECT id FROM jobs WHERE id = $1 FOR UPDATE".into(),
            DbKind::Sqlite => "SELECT id FROM jobs WHERE id = $1".into(),
        }
    }

    /// Job `id`'s journal, in order.
    pub async fn job_journal(&self, id: &str) -> Result<Vec<String>> {
        with_pool!(self, pool => {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT entry_json FROM job_journal WHERE job_id = $1 ORDER BY seq")
                    .bind(id)
                    .fetch_all(pool)
                    .await?;
            rows.into_iter().map(|(e,)| self.keyring.open(&e)).collect()
        })
    }

    /// Appends events (kind, payload) to job `id`'s log; returns the last sequence number.
    pub async fn append_job_events(&self, id: &str, events: &[(String, Value)]) -> Result<i64> {
        let rows: Vec<(String, String)> = events
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.keyring.seal(&to_json(v, "job event")?)?)))
            .collect::<Result<_>>()?;
        let at = now_ms();
        let lock_sql = self.lock_job_sql();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Concurrent appends to one job (calls in flight, a worker taking over) take turns:
            // the job's row is locked first (SQLite's write lock already serializes them).
            sqlx::query(&lock_sql).bind(id).execute(&mut *tx).await?;
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM job_events WHERE job_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let mut seq = last.unwrap_or(0);
            for (kind, data) in &rows {
                seq += 1;
                sqlx::query("INSERT INTO job_events (job_id, seq, kind, data_json, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(seq)
                    .bind(kind)
                    .bind(data)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(seq)
        })
    }

    /// Job `id`'s events after sequence number `after`, at most `limit`.
    pub async fn job_events(&self, id: &str, after: i64, limit: i64) -> Result<Vec<JobEvent>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(id)
                .bind(after)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(JobEvent {
                        seq: r.i64("seq")?,
                        kind: r.string("kind")?,
                        data: parse_json(&self.keyring.open(&r.string("data_json")?)?, "job event")?,
                        created_at: r.i64("created_at")?,
                    })
                })
                .collect()
        })
    }
}

/// One stored job event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// Position in the job's log, from 1, without gaps.
    pub seq: i64,
    /// `progress`, `trial`, `result`, `error`, …
    pub kind: String,
    /// Payload.
    pub data: Value,
    /// Unix ms.
    pub created_at: i64,
}

fn job_from_row(r: &impl RowExt, keyring: &Keyring) -> Result<Job> {
    Ok(Job {
        id: r.string("id")?,
        tenant: r.string("tenant")?,
        kind: r.string("kind")?,
        program: r.string("program")?,
        status: JobStatus::parse(&r.string("status")?)?,
        payload: parse_json(&keyring.open(&r.string("payload_json")?)?, "job payload")?,
        plan: parse_json(&r.string("plan_json")?, "job plan")?,
        progress: parse_json(&r.string("progress_json")?, "job progress")?,
        result: r.opt_string("result_json")?.map(|t| parse_json(&keyring.open(&t)?, "job result")).transpose()?,
        error: r.opt_string("error")?,
        cancel_requested: r.i64("cancel_requested")? != 0,
        attempts: r.i64("attempts")?,
        lease_owner: r.opt_string("lease_owner")?,
        lease_until: r.opt_i64("lease_until")?,
        created_at: r.i64("created_at")?,
        started_at: r.opt_i64("started_at")?,
        finished_at: r.opt_i64("finished_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

//! The events of a run (progress, trials, results), kept in order so that a client that
//! connects late, or reconnects after the sequence number it last saw, replays what it missed.

use crate::db::{now_ms, parse_json, to_json, with_pool, BeginWrite, RowExt, Store};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// The run.
    pub run_id: i64,
    /// Position in the run, from 1, without gaps.
    pub seq: i64,
    /// `progress`, `trial`, `result`, `error`, ... (the caller's vocabulary).
    pub kind: String,
    /// The event's payload.
    pub data: Value,
    /// Unix time, milliseconds.
    pub created_at: i64,
}

impl Store {
    /// Appends events to run `run_id` after its last one, in one transaction; returns the
    /// sequence number of the last appended (the run's last when `events` is empty).
    pub async fn append_run_events(&self, run_id: i64, events: &[(String, Value)]) -> Result<i64> {
        self.run(run_id).await?;
        let rows: Vec<(String, String)> =
            events.iter().map(|(k, v)| Ok((k.clone(), to_json(v, "run event")?))).collect::<Result<_>>()?;
        let at = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM run_events WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(&mut *tx)
                .await?;
            let mut seq = last.unwrap_or(0);
            for (kind, data) in &rows {
                seq += 1;
                sqlx::query("INSERT INTO run_events (run_id, seq, kind, data_json, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(run_id)
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

    /// Run `run_id`'s events with a sequence number above `after` (0: all), in order, at most `limit`.
    pub async fn run_events(&self, run_id: i64, after: i64, limit: i64) -> Result<Vec<RunEvent>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(run_id)
            .bind(after)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(RunEvent {
                        run_id: r.i64("run_id")?,
                        seq: r.i64("seq")?,
                        kind: r.string("kind")?,
                        data: parse_json(&r.string("data_json")?, "run event")?,
                        created_at: r.i64("created_at")?,
                    })
                })
                .collect()
        })
    }
}

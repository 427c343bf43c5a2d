//! Key rotation: re-sealing every encrypted (or plain) value under the current key, row by
//! row, each in its own small statement: program states, datasets, trial states, run
//! artifacts, evaluation inputs, outputs and labels, feedback corrections, and the service's job
//! payloads (inline programs and rows), results, journals and events, and webhook secrets.

use crate::db::{with_pool, RowExt, Store};
use crate::error::Result;

/// What a rotation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResealCount {
    /// Program versions re-sealed.
    pub states: u64,
    /// Datasets re-sealed.
    pub datasets: u64,
    /// Trial states and run artifacts re-sealed.
    pub runs: u64,
    /// Job payloads, results and events, and webhook secrets, re-sealed.
    pub jobs: u64,
    /// Evaluation inputs, outputs and labels and feedback corrections re-sealed.
    pub evaluations: u64,
}

impl ResealCount {
    /// All values re-sealed.
    pub fn total(&self) -> u64 {
        self.states + self.datasets + self.runs + self.jobs + self.evaluations
    }
}

/// A sealed column and the key that finds its row.
struct Sealed {
    table: &'static str,
    /// Key columns: name and whether it is text (else an integer).
    key: &'static [(&'static str, bool)],
    column: &'static str,
}

const STATES: [Sealed; 1] =
    [Sealed { table: "program_versions", key: &[("program_id", false), ("version", false)], column: "state_json" }];
const DATASETS: [Sealed; 1] = [Sealed { table: "datasets", key: &[("id", true)], column: "content" }];
const RUNS: [Sealed; 2] = [
    Sealed { table: "trials", key: &[("run_id", false), ("trial", false)], column: "state_json" },
    Sealed { table: "artifacts", key: &[("id", false)], column: "content" },
];
const EVALUATIONS: [Sealed; 4] = [
    Sealed { table: "evaluations", key: &[("id", false)], column: "inputs_json" },
    Sealed { table: "evaluations", key: &[("id", false)], column: "outputs_json" },
    Sealed { table: "evaluations", key: &[("id", false)], column: "labels_json" },
    Sealed { table: "feedback", key: &[("id", false)], column: "corrected_json" },
];
const JOBS: [Sealed; 5] = [
    Sealed { table: "webhooks", key: &[("id", true)], column: "secret" },
    Sealed { table: "job_journal", key: &[("job_id", true), ("seq", false)], column: "entry_json" },
    Sealed { table: "jobs", key: &[("id", true)], column: "payload_json" },
    Sealed { table: "jobs", key: &[("id", true)], column: "result_json" },
    Sealed { table: "job_events", key: &[("job_id", true), ("seq", false)], column: "data_json" },
];

/// One key value.
enum Key {
    Text(String),
    Int(i64),
}

impl Store {
    /// Re-seals every sealed value not sealed under the current key (nothing to do without a key).
    pub async fn reseal_all(&self) -> Result<ResealCount> {
        let mut count = ResealCount::default();
        if self.keyring.current_id().is_none() {
            return Ok(count);
        }
        for (columns, n) in [
            (&STATES[..], &mut count.states),
            (&DATASETS[..], &mut count.datasets),
            (&RUNS[..], &mut count.runs),
            (&JOBS[..], &mut count.jobs),
            (&EVALUATIONS[..], &mut count.evaluations),
        ] {
            for c in columns {
                *n += self.reseal_column(c).await?;
            }
        }
        Ok(count)
    }

    /// Re-seals one column's values that need it; returns how many.
    async fn reseal_column(&self, c: &Sealed) -> Result<u64> {
        let keys: Vec<&str> = c.key.iter().map(|(k, _)| *k).collect();
        let select = format!("SELECT {}, {} FROM {}", keys.join(", "), c.column, c.table);
        let filter: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("{k} = ${}", i + 2)).collect();
        let update = format!("UPDATE {} SET {} = $1 WHERE {}", c.table, c.column, filter.join(" AND "));
        let mut done = 0;
        with_pool!(self, pool => {
            let rows = sqlx::query(&select).fetch_all(pool).await?;
            for row in &rows {
                let Some(stored) = row.opt_string(c.column)? else { continue };
                if !self.keyring.needs_reseal(&stored) {
                    continue;
                }
                let sealed = self.keyring.seal(&self.keyring.open(&stored)?)?;
                let mut values = Vec::with_capacity(c.key.len());
                for (k, text) in c.key {
                    values.push(if *text { Key::Text(row.string(k)?) } else { Key::Int(row.i64(k)?) });
                }
                let mut q = sqlx::query(&update).bind(sealed);
                for v in values {
                    q = match v {
                        Key::Text(s) => q.bind(s),
                        Key::Int(i) => q.bind(i),
                    };
                }
                q.execute(pool).await?;
                done += 1;
            }
        });
        Ok(done)
    }
}

//! Event sinks of the application layer: [`StoreEvents`] keeps a run's events in the store (in
//! order, so live progress can be replayed by a client that connects late) without blocking the
//! run, and [`Tee`] sends every event to several sinks.

use crate::error::{AppError, Result};
use promptsmith_optimize::events::{Event, EventSink};
use promptsmith_store::Store;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Most events written in one transaction.
const BATCH: usize = 256;

/// Forwards events to run `run_id`'s event log. `emit` only queues (it never waits on the
/// database); a writer task appends what is queued in batches, in order.
#[derive(Debug)]
pub struct StoreEvents {
    tx: mpsc::UnboundedSender<(String, Value)>,
    writer: JoinHandle<Result<i64>>,
}

/// The sending half of [`StoreEvents`], to give to the engine.
#[derive(Debug, Clone)]
pub struct StoreEventSink {
    tx: mpsc::UnboundedSender<(String, Value)>,
}

/// Which event log a [`StoreEvents`] writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventLog {
    /// A run's (`run_events`).
    Run(i64),
    /// A service job's (`job_events`).
    Job(String),
}

impl StoreEvents {
    /// Starts the writer for `run_id` (on the current tokio runtime).
    pub fn start(store: Store, run_id: i64) -> Self {
        Self::start_log(store, EventLog::Run(run_id))
    }

    /// Starts the writer for `log` (on the current tokio runtime).
    pub fn start_log(store: Store, log: EventLog) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Value)>();
        let writer = tokio::spawn(async move {
            let mut last = 0;
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                last = match &log {
                    EventLog::Run(id) => store.append_run_events(*id, &batch).await?,
                    EventLog::Job(id) => store.append_job_events(id, &batch).await?,
                };
                batch.clear();
            }
            Ok(last)
        });
        Self { tx, writer }
    }

    /// A sink that queues into this log.
    pub fn sink(&self) -> StoreEventSink {
        StoreEventSink { tx: self.tx.clone() }
    }

    /// Queues one event of `kind` directly (e.g. the final `result` or `error`).
    pub fn push(&self, kind: &str, data: Value) {
        let _ = self.tx.send((kind.to_string(), data));
    }

    /// Waits until everything queued is written (every sink must be dropped first); returns
    /// the last sequence number written.
    pub async fn finish(self) -> Result<i64> {
        drop(self.tx);
        self.writer.await.map_err(|e| AppError::internal(format!("event writer: {e}")))?
    }
}

impl EventSink for StoreEventSink {
    fn emit(&self, event: &Event) {
        let data = serde_json::to_value(event).unwrap_or(Value::Null);
        let kind = data.get("event").and_then(Value::as_str).unwrap_or("event").to_string();
        let _ = self.tx.send((kind, data));
    }
}

/// Sends every event to each of its sinks, in order.
pub struct Tee(pub Vec<Arc<dyn EventSink>>);

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tee({} sinks)", self.0.len())
    }
}

impl EventSink for Tee {
    fn emit(&self, event: &Event) {
        for sink in &self.0 {
            sink.emit(event);
        }
    }
}

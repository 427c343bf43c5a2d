//! A job's live progress: the engine's events turned into the client's messages
//! (`progress`, `result`, `error`, each with `progress`, `current_iteration`, `best_score`,
//! `algorithm`), appended to the job's event log in the store (what SSE and WebSocket clients
//! read, late or not), and the latest state, which the worker's heartbeat saves on the job.

use crate::events::{EventLog, StoreEvents};
use promptsmith_optimize::events::{Event, EventSink};
use promptsmith_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Where a running job is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Share of the planned calls made, 0..1 (1 once finished).
    pub progress: f64,
    /// Trials finished.
    pub current_iteration: u64,
    /// Best validation score so far.
    pub best_score: Option<f64>,
    /// The optimizer.
    pub algorithm: String,
    /// The phase the optimizer is in.
    pub phase: Option<String>,
    /// Calls made (all roles).
    pub calls: u64,
    /// Tokens used (all roles).
    pub tokens: u64,
    /// Cost so far (USD).
    pub cost_usd: f64,
}

/// The sink a job's engine reports to.
#[derive(Debug, Clone)]
pub struct JobProgress {
    state: Arc<Mutex<Progress>>,
    planned_calls: u64,
    last_sent: Arc<Mutex<f64>>,
    log: Arc<StoreEvents>,
}

impl JobProgress {
    /// Starts job `job_id`'s event writer.
    pub fn start(store: Store, job_id: &str, algorithm: &str, planned_calls: u64) -> JobProgress {
        let state = Progress { algorithm: algorithm.to_string(), ..Progress::default() };
        JobProgress {
            state: Arc::new(Mutex::new(state)),
            planned_calls: planned_calls.max(1),
            last_sent: Arc::new(Mutex::new(-1.0)),
            log: Arc::new(StoreEvents::start_log(store, EventLog::Job(job_id.to_string()))),
        }
    }

    /// The latest progress.
    pub fn snapshot(&self) -> Progress {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends a final `result` or `error` message with `data` beside the progress.
    pub fn push_final(&self, kind: &str, extra: Value) {
        let mut p = self.snapshot();
        if kind == "result" {
            p.progress = 1.0;
        }
        let mut data = serde_json::to_value(&p).unwrap_or(Value::Null);
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        self.log.push(kind, data);
    }

    /// Waits until every queued message is written (this must be the last clone; otherwise it
    /// cannot wait, and says so in the log).
    pub async fn finish(self) {
        match Arc::try_unwrap(self.log) {
            Ok(log) => {
                if let Err(e) = log.finish().await {
                    tracing::warn!("job events: {e}");
                }
            }
            Err(_) => tracing::warn!("job events: still in use elsewhere; not waiting for them to be written"),
        }
    }

    fn update(&self, event: &Event) -> Option<Progress> {
        let mut s = self.state.lock().ok()?;
        let mut notable = true;
        match event {
            Event::Budget(spend) => {
                let total = spend.total();
                s.calls = total.calls;
                s.tokens = total.tokens();
                s.cost_usd = total.cost_usd;
                s.progress = (total.calls as f64 / self.planned_calls as f64).min(0.99);
                notable = false;
            }
            Event::TrialFinished(t) => s.current_iteration = s.current_iteration.max(t.number as u64),
            Event::NewBest { score, .. } => s.best_score = Some(*score),
            Event::Phase { name, .. } => match promptsmith_optimize::optimizers::portfolio::algorithm_of(event) {
                // A portfolio's member starts: it is the job's current algorithm.
                Some(member) => s.algorithm = member.to_string(),
                None => s.phase = Some(name.clone()),
            },
            Event::Resumed { .. } | Event::Message(_) => {}
            Event::Step { .. } | Event::TrialStarted { .. } => notable = false,
        }
        let mut last = self.last_sent.lock().ok()?;
        // Budget updates are sent once per hundredth of the plan, the rest every time.
        if notable || s.progress >= *last + 0.01 {
            *last = s.progress;
            return Some(s.clone());
        }
        None
    }
}

impl EventSink for JobProgress {
    fn emit(&self, event: &Event) {
        if let Some(p) = self.update(event) {
            let mut data = serde_json::to_value(&p).unwrap_or(Value::Null);
            if let Value::Object(d) = &mut data {
                d.insert("event".into(), serde_json::to_value(event).unwrap_or(Value::Null));
            }
            self.log.push("progress", data);
        }
    }
}

/// The queued message of a job just accepted.
pub(super) fn queued_message(plan: &Value) -> Value {
    json!({"progress": 0.0, "current_iteration": 0, "best_score": null, "status": "queued", "plan": plan})
}

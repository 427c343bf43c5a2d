//! Events an optimization emits (they drive the CLI's progress bar now and the server's live
//! progress later) and the trial records it logs.

use crate::budget::Spend;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a trial evaluated its candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialKind {
    /// On the whole validation set.
    Full,
    /// On a minibatch of the validation set.
    Minibatch,
}

/// One evaluated candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Trial number, from 1.
    pub number: usize,
    /// Full or minibatch.
    pub kind: TrialKind,
    /// Content hash of the candidate state.
    pub candidate: String,
    /// What the optimizer chose (e.g. instruction and demo-set indices per predictor).
    pub params: Value,
    /// Mean score.
    pub score: f64,
    /// Examples scored.
    pub n: usize,
    /// Spending of the whole run when the trial finished.
    pub spent_calls: u64,
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A phase began (e.g. `bootstrap`, `propose`, `search`).
    Phase {
        /// Phase name.
        name: String,
        /// Planned steps in the phase, when known.
        steps: Option<usize>,
    },
    /// One step of the current phase finished.
    Step {
        /// Steps done in the phase.
        done: usize,
    },
    /// A trial started.
    TrialStarted {
        /// Trial number.
        number: usize,
        /// Full or minibatch.
        kind: TrialKind,
        /// Examples it will score.
        n: usize,
    },
    /// A trial finished.
    TrialFinished(TrialRecord),
    /// A candidate beat the best full-evaluation score so far.
    NewBest {
        /// Trial number.
        number: usize,
        /// Its score.
        score: f64,
    },
    /// Spending after a trial.
    Budget(Spend),
    /// A note for the user.
    Message(String),
    /// The run resumes an earlier attempt: this many completed calls will be answered from its
    /// journal (emitted once, before the search starts).
    Resumed {
        /// Journaled calls.
        replayed_calls: usize,
    },
}

/// Receives events.
pub trait EventSink: Send + Sync {
    /// Handles one event.
    fn emit(&self, event: &Event);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: &Event) {}
}

impl<F: Fn(&Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: &Event) {
        self(event)
    }
}

//! The call journal: every LM call a run completes, keyed by its request, written through the
//! run's [`Checkpoint`](crate::checkpoint::Checkpoint) as it completes.
//!
//! Resuming works by replay: optimizers are deterministic given their seed and the model's
//! answers, so a resumed run starts again from the beginning and every call the killed run
//! completed is answered from the journal instead of the model. The resumed run therefore ends
//! in exactly the state an uninterrupted run would have reached, and no completed call is made
//! twice (a call still in flight when the process died was not completed and is made again).

use promptsmith_core::ChatResponse;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

/// One completed call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Request key (hex SHA-256 of role, model and request).
    pub key: String,
    /// Role that made the call.
    pub role: String,
    /// The model's answer.
    pub response: ChatResponse,
}

/// Completed calls by request key.
#[derive(Debug, Default)]
pub struct Journal {
    entries: Mutex<HashMap<String, ChatResponse>>,
}

impl Journal {
    /// A journal holding `entries` (from a checkpoint).
    pub fn from_entries(entries: impl IntoIterator<Item = JournalEntry>) -> Self {
        Journal { entries: Mutex::new(entries.into_iter().map(|e| (e.key, e.response)).collect()) }
    }

    /// The recorded answer to `key`.
    pub fn get(&self, key: &str) -> Option<ChatResponse> {
        self.entries.lock().ok().and_then(|m| m.get(key).cloned())
    }

    /// Records an answer.
    pub fn insert(&self, key: String, response: ChatResponse) {
        if let Ok(mut m) = self.entries.lock() {
            m.insert(key, response);
        }
    }

    /// Number of recorded calls.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

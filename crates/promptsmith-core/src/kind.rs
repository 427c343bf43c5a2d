//! [`ErrorKind`]: what sort of failure an error is, so that the CLI maps kinds to exit
//! codes and the server maps them to HTTP statuses, each in one place.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The class of a failure, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request, a file or a setting is malformed or inconsistent (HTTP 400/422).
    InvalidInput,
    /// No valid credentials were presented (HTTP 401).
    Unauthorized,
    /// The credentials do not allow this (HTTP 403).
    Forbidden,
    /// Something named does not exist: a file, a program version, a run (HTTP 404).
    NotFound,
    /// The request clashes with the current state: an alias already moved, a run already
    /// finished with other settings (HTTP 409).
    Conflict,
    /// The thing existed but was removed after its retention time (HTTP 410).
    Gone,
    /// A limit was reached: a full queue, a rate limit (HTTP 429/503).
    LimitExceeded,
    /// A needed service does not answer: the model endpoint, the database (HTTP 503).
    Unavailable,
    /// A bug or an unexpected I/O failure (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidInput,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Gone,
        ErrorKind::LimitExceeded,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    /// `invalid_input`, `not_found`, ...
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Gone => "gone",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its [`ErrorKind`].
pub trait HasKind {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_names() {
        for kind in ErrorKind::ALL {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
    }
}

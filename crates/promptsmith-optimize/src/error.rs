//! The crate's error type.

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, OptimizeError>;

/// Everything that can stop an optimization.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// Settings or data are unusable; raised before the first LM call.
    #[error("{0}")]
    Config(String),
    /// A checkpoint could not be written or read.
    #[error("checkpoint {location}: {message}")]
    Checkpoint {
        /// File or record.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// A candidate state did not fit the program (a bug in an optimizer).
    #[error("candidate state: {0}")]
    State(#[from] promptsmith_core::StateError),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The model stopped answering; the completed calls are journaled, so the run can resume.
    #[error("{0}")]
    LmFailed(String),
    /// An optimizer's own invariant broke (a bug in promptsmith, never the user's input).
    #[error("internal error (a bug in promptsmith): {0}")]
    Internal(String),
}

impl promptsmith_core::HasKind for OptimizeError {
    fn kind(&self) -> promptsmith_core::ErrorKind {
        use promptsmith_core::ErrorKind;
        match self {
            OptimizeError::Config(_) => ErrorKind::InvalidInput,
            OptimizeError::Cancelled => ErrorKind::Conflict,
            OptimizeError::LmFailed(_) => ErrorKind::Unavailable,
            OptimizeError::Checkpoint { .. } | OptimizeError::State(_) | OptimizeError::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }
}

impl OptimizeError {
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        OptimizeError::Config(message.into())
    }

    /// A broken invariant (a bug).
    pub fn internal(message: impl Into<String>) -> Self {
        OptimizeError::Internal(message.into())
    }

    /// A checkpoint error at `location`.
    pub fn checkpoint(location: impl Into<String>, message: impl std::fmt::Display) -> Self {
        OptimizeError::Checkpoint { location: location.into(), message: message.to_string() }
    }
}

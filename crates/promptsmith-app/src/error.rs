//! [`AppError`]: every failure of a job, with the [`ErrorKind`] that the CLI maps to an exit
//! status and the server to an HTTP status.

use promptsmith_core::{ErrorKind, HasKind};

/// A job's failure: what kind it is and a message that says which file, field or setting and
/// what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// The whole message, ready to print.
    pub message: String,
}

/// Result of the application layer.
pub type Result<T> = std::result::Result<T, AppError>;

impl AppError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// Malformed or inconsistent input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// Something named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A clash with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// A needed service does not answer.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// An unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The same error with `prefix: ` before its message.
    pub fn context(self, prefix: impl std::fmt::Display) -> Self {
        Self { kind: self.kind, message: format!("{prefix}: {}", self.message) }
    }

    /// Any error that knows its kind.
    pub fn from_kinded(e: &(impl HasKind + std::fmt::Display)) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl HasKind for AppError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

macro_rules! from_kinded {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self {
                AppError::from_kinded(&e)
            }
        }
    )*};
}

from_kinded!(
    promptsmith_lm::StackError,
    promptsmith_store::StoreError,
    promptsmith_optimize::OptimizeError,
    promptsmith_eval::EvalError,
    promptsmith_core::StateFileError,
    promptsmith_core::StateError,
);

impl From<promptsmith_core::SpecError> for AppError {
    fn from(e: promptsmith_core::SpecError) -> Self {
        AppError::invalid(e.to_string())
    }
}

/// A file that cannot be read or written, named in the message.
pub(crate) fn io_error(what: impl std::fmt::Display, e: &std::io::Error) -> AppError {
    let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Internal };
    AppError::new(kind, format!("{what}: {e}"))
}

/// A `bail!`-like early return with an invalid-input error.
macro_rules! invalid {
    ($($arg:tt)*) => { return Err($crate::error::AppError::invalid(format!($($arg)*))) };
}
pub(crate) use invalid;

//! The crate's error type.

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything that can go wrong in the store. Messages say which program, version, alias,
/// file or row was involved and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL could not be understood.
    #[error("database URL '{url}': {message}")]
    BadUrl {
        /// The URL as given (passwords removed).
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The database file exists but is not a usable SQLite database.
    #[error("{path}: not a usable promptsmith database ({message}); the file was left untouched")]
    Corrupt {
        /// The file.
        path: String,
        /// What SQLite said.
        message: String,
    },
    /// A command that only reads found no SQLite file where the store should be (nothing was
    /// created).
    #[error("no store at {path} (nothing has been recorded yet)")]
    Missing {
        /// The file, as it was named.
        path: String,
    },
    /// The database could not be reached or opened.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL (passwords removed).
        url: String,
        /// Underlying error.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("database {url}: migration failed: {source}")]
    Migrate {
        /// The URL (passwords removed).
        url: String,
        /// Underlying error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A named thing (program, version, alias, evaluation, run) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the current state (a lease another worker holds, a name
    /// already taken).
    #[error("{0}")]
    Conflict(String),
    /// The input was refused (bad name, state that does not fit the program, bad rating...).
    #[error("{0}")]
    Invalid(String),
    /// A stored JSON column could not be read back.
    #[error("stored {what} is not valid JSON: {source}")]
    Json {
        /// Which column.
        what: String,
        /// Underlying error.
        source: serde_json::Error,
    },
    /// A statistics computation failed.
    #[error("statistics: {0}")]
    Stats(#[from] promptsmith_eval::EvalError),
}

impl promptsmith_core::HasKind for StoreError {
    fn kind(&self) -> promptsmith_core::ErrorKind {
        use promptsmith_core::ErrorKind;
        match self {
            StoreError::BadUrl { .. } | StoreError::Invalid(_) => ErrorKind::InvalidInput,
            StoreError::NotFound(_) | StoreError::Missing { .. } => ErrorKind::NotFound,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Connect { .. } => ErrorKind::Unavailable,
            StoreError::Corrupt { .. }
            | StoreError::Migrate { .. }
            | StoreError::Db(_)
            | StoreError::Json { .. }
            | StoreError::Stats(_) => ErrorKind::Internal,
        }
    }
}

impl StoreError {
    /// Whether this is a "does not exist" error.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound(_))
    }

    /// Whether this is "there is no store file at all" ([`Store::open_existing`](crate::Store::open_existing)).
    pub fn is_missing(&self) -> bool {
        matches!(self, StoreError::Missing { .. })
    }
}

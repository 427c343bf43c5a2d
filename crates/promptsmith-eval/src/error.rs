//! The crate's error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, EvalError>;

/// Everything that can go wrong loading data, building metrics or computing statistics.
///
/// Messages name the file and place (line, row, JSON path) and the field, and say what was expected.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A data file has bad content at a known place.
    #[error("{location}: {message}")]
    Data {
        /// File and place, e.g. `data.jsonl line 7` or `data.json $.examples[3]`.
        location: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A named dataset could not be found anywhere on the search path.
    #[error("dataset '{name}' not found: {detail}")]
    DatasetNotFound {
        /// The name or path asked for.
        name: String,
        /// Where it was looked for.
        detail: String,
    },
    /// A `name:split` selector named a split the dataset does not have.
    #[error("dataset '{dataset}' has no split '{split}' (available: {})", available.join(", "))]
    UnknownSplit {
        /// Dataset name.
        dataset: String,
        /// The split asked for.
        split: String,
        /// Splits that exist.
        available: Vec<String>,
    },
    /// A dataset has several splits and the selector named none.
    #[error("dataset '{dataset}' needs a split: use {dataset}:<split> (available: {})", available.join(", "))]
    SplitRequired {
        /// Dataset name.
        dataset: String,
        /// Splits that exist.
        available: Vec<String>,
    },
    /// A task family (e.g. `bbh`) was named without one of its tasks, or with an unknown one.
    #[error("dataset '{dataset}' is a family of tasks; {problem}: use {dataset}/<task> (tasks: {})", tasks.join(", "))]
    TaskRequired {
        /// The family's name.
        dataset: String,
        /// What was wrong (`no task given`, `no task 'x'`).
        problem: String,
        /// The tasks it has.
        tasks: Vec<String>,
    },
    /// A dataset has fewer labelled examples than a job needs.
    #[error(
        "dataset '{dataset}' is not ready: {labelled} of its {total} examples are labelled ({rule}), and at least \
         {min} are needed; add labelled examples, or point the labels at the column that holds them"
    )]
    NotReady {
        /// Dataset name.
        dataset: String,
        /// Labelled examples found.
        labelled: usize,
        /// All examples.
        total: usize,
        /// The minimum asked for.
        min: usize,
        /// What counts as labelled, e.g. `a labelled example has a value in 'answer'`.
        rule: String,
    },
    /// No metric has this id.
    #[error("unknown metric '{id}' (known: {})", known.join(", "))]
    UnknownMetric {
        /// The id asked for.
        id: String,
        /// Ids that exist.
        known: Vec<String>,
    },
    /// A metric's parameter is invalid (e.g. a bad regex).
    #[error("metric '{id}': {message}")]
    InvalidMetric {
        /// Metric id.
        id: String,
        /// What was wrong.
        message: String,
    },
    /// Statistics were asked for with unusable input (e.g. paired vectors of different lengths).
    #[error("statistics: {0}")]
    Stats(String),
    /// An IFEval instruction id that no check implements (never scored as a pass).
    #[error("unknown IFEval instruction id '{id}'")]
    UnknownInstruction {
        /// The id asked for.
        id: String,
    },
    /// An IFEval instruction's kwargs are missing, mistyped or out of range, or its labels are malformed.
    #[error("IFEval instruction '{id}': {message}")]
    InvalidInstruction {
        /// The instruction id (or the label name when the list itself is malformed).
        id: String,
        /// What was wrong, naming the kwarg.
        message: String,
    },
}

impl promptsmith_core::HasKind for EvalError {
    fn kind(&self) -> promptsmith_core::ErrorKind {
        use promptsmith_core::ErrorKind;
        match self {
            EvalError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            EvalError::DatasetNotFound { .. } => ErrorKind::NotFound,
            EvalError::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidInput,
        }
    }
}

impl EvalError {
    /// A data error at `location`.
    pub fn data(location: impl Into<String>, message: impl Into<String>) -> Self {
        EvalError::Data { location: location.into(), message: message.into() }
    }
}

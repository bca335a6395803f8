//! The one error type of the storage crate, with the context a log line needs.

use std::path::PathBuf;

/// Why a storage operation failed.
///
/// Messages name the failed step; the SQLite error is the `source`, so print
/// the chain (`{:#}` with anyhow) to see both.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database file could not be opened or configured.
    #[error("cannot open database {}", path.display())]
    Open {
        /// Path given to [`crate::Store::open`].
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer Augur, or its version is not ours.
    #[error(
        "database {} has schema version {found}; this build supports up to {supported}",
        path.display()
    )]
    UnsupportedSchema {
        /// Path of the database.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A batch breaks a rule of [`crate::BatchWrite`]; nothing was stored.
    #[error("invalid batch {batch_id:?}: {reason}")]
    InvalidBatch {
        /// The batch's idempotency key.
        batch_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch uses a profile type with another unit than the one stored;
    /// merging the two would mix incompatible values. Nothing was stored.
    #[error("profile type {profile_type:?} is stored in {stored:?}, batch says {received:?}")]
    UnitConflict {
        /// Name of the profile type, e.g. `cpu`.
        profile_type: String,
        /// Unit already on file.
        stored: String,
        /// Unit in the batch.
        received: String,
    },
    /// A SQLite statement failed.
    #[error("database error while trying to {operation}")]
    Sqlite {
        /// What storage was doing, e.g. `intern a frame`.
        operation: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Stored rows contradict each other (a stack node whose parent is
    /// missing, an unknown frame kind...). The file was damaged or written by
    /// something else.
    /// A user's SQL query (`augur sql`) was refused: it does not parse, is
    /// not read-only, or ran too long.
    #[error("query refused: {message}")]
    Query {
        /// Why, in the backend's words.
        message: String,
    },
    /// ClickHouse refused a statement or could not be reached.
    #[error("ClickHouse error while trying to {operation}: {message}")]
    ClickHouse {
        /// What was being done.
        operation: &'static str,
        /// The server's or the transport's message.
        message: String,
        /// Whether retrying later may help (unreachable, overloaded).
        transient: bool,
    },
    #[error("database is inconsistent: {what}")]
    Corrupt {
        /// What was found.
        what: String,
    },
}

impl StorageError {
    /// A short, stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            StorageError::Open { .. } => "open",
            StorageError::UnsupportedSchema { .. } => "unsupported_schema",
            StorageError::InvalidBatch { .. } => "invalid_batch",
            StorageError::UnitConflict { .. } => "unit_conflict",
            StorageError::Sqlite { source, .. } if is_busy(source) => "busy",
            StorageError::Sqlite { .. } => "sqlite",
            StorageError::Corrupt { .. } => "corrupt",
            StorageError::ClickHouse { .. } => "clickhouse",
            StorageError::Query { .. } => "query",
        }
    }

    /// True when retrying the same call later may succeed: the database was
    /// locked by another process or the disk was full. Invalid input, unit
    /// conflicts and corruption are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Sqlite { source, .. } | StorageError::Open { source, .. } => {
                is_busy(source) || source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
            }
            StorageError::ClickHouse { transient, .. } => *transient,
            _ => false,
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Attaches the failed step to a SQLite error.
pub(crate) trait Context<T> {
    fn context(self, operation: &'static str) -> Result<T, StorageError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn context(self, operation: &'static str) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::Sqlite { operation, source })
    }
}

//! The one error type of promodb.
//!
//! Every public fallible function returns [`Error`]. Context lives in fields (table, column,
//! row, path), so callers can match on it; [`Error::kind`] groups the variants for callers
//! that only need to know whose fault it was.

use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Result type of promodb.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in promodb.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The table is not one of the canonical tables of the promo fact model.
    #[error("unknown table '{table}': expected one of {known}")]
    UnknownTable {
        /// The name that was asked for.
        table: String,
        /// The known table names, comma separated.
        known: String,
    },

    /// A column that may not be NULL is missing from an incoming batch.
    #[error("{table}.{column}: required column is missing")]
    MissingColumn {
        /// Canonical table.
        table: String,
        /// Canonical column.
        column: String,
    },

    /// A NULL arrived in a column that may not be NULL.
    #[error("{table}.{column}: NULL at row {row}, but the column is NOT NULL")]
    NullValue {
        /// Canonical table.
        table: String,
        /// Canonical column.
        column: String,
        /// Zero-based row of the first NULL in the incoming batch.
        row: usize,
    },

    /// A value could not be converted to the column's canonical type.
    #[error("{table}.{column}: row {row}: {reason}")]
    InvalidValue {
        /// Canonical table.
        table: String,
        /// Canonical column.
        column: String,
        /// Zero-based row of the first bad value in the incoming batch.
        row: usize,
        /// What is wrong with it, quoting the value.
        reason: String,
    },

    /// A column has a type that cannot be converted to the canonical type at all.
    #[error("{table}.{column}: cannot convert {found} to {expected}")]
    TypeMismatch {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// The Arrow type that arrived.
        found: String,
        /// The type the column has.
        expected: String,
    },

    /// A file could not be read, or its content is not what its extension says.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// Data in a file does not fit the canonical schema; `error` says how (its row is
    /// counted from the first data row of the file, from 0).
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its data.
        error: Box<Error>,
    },

    /// An operating system error on a path.
    #[error("i/o error on {path}")]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Data on disk is damaged: a WAL record, a Parquet file or the manifest does not
    /// check out. Recovery stops here rather than skip data.
    #[error("corrupt {}: at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage (of the record, for the WAL).
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// Another process (or another handle in this one) has the database directory open.
    #[error("the database is in use: {} is locked by another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// A write or fsync of the durable database failed earlier; appends are refused until
    /// the database is reopened (recovery then restores everything acknowledged).
    #[error("writes are refused until the database is reopened: {reason}")]
    WritesRefused {
        /// The failure that stopped writes.
        reason: String,
    },

    /// More data waits to be persisted than the configured bound, and the persister did
    /// not catch up in time.
    #[error(
        "backpressure: {unpersisted_bytes} bytes wait to be persisted, over the bound of {limit_bytes}"
    )]
    Backpressure {
        /// Bytes appended and not yet persisted.
        unpersisted_bytes: usize,
        /// The configured bound.
        limit_bytes: usize,
    },

    /// An alert rule file is malformed.
    #[error("{}: {item}: {}{reason}", path.display(), if field.is_empty() { String::new() } else { format!("field '{field}': ") })]
    RuleFile {
        /// The file.
        path: PathBuf,
        /// Which rule (`rule 'low stock'`, `rule #3`) or sink (`sink #1`), or `file`.
        item: String,
        /// The field at fault; empty for a problem with the whole item.
        field: String,
        /// What is wrong.
        reason: String,
    },

    /// The SQL could not be parsed, planned or executed.
    #[error("sql: {0}")]
    Sql(String),

    /// An argument of a call is out of its allowed range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A broken invariant inside promodb: a bug, please report it.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What kind of failure an [`Error`] is, for callers that only branch on that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The data handed in does not fit the canonical schema.
    Schema,
    /// A table, column or file that was named does not exist.
    NotFound,
    /// SQL that cannot be planned or run.
    Sql,
    /// A file or the operating system failed.
    Io,
    /// A bad argument to an API call.
    InvalidArgument,
    /// Data on disk is damaged.
    Corrupt,
    /// The database cannot take writes now: locked, refusing writes, or backpressure.
    Unavailable,
    /// A bug in promodb.
    Internal,
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownTable { .. } => ErrorKind::NotFound,
            Error::MissingColumn { .. }
            | Error::NullValue { .. }
            | Error::InvalidValue { .. }
            | Error::TypeMismatch { .. } => ErrorKind::Schema,
            Error::InFile { error, .. } => error.kind(),
            Error::File { .. } | Error::Io { .. } => ErrorKind::Io,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Locked { .. } | Error::WritesRefused { .. } | Error::Backpressure { .. } => {
                ErrorKind::Unavailable
            }
            Error::Sql(_) => ErrorKind::Sql,
            Error::InvalidArgument(_) | Error::RuleFile { .. } => ErrorKind::InvalidArgument,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Error::File {
            path: path.into(),
            reason: one_line(&reason.to_string()),
        }
    }

    /// Places a batch-level error in a file, counting its row from the file's first row.
    pub(crate) fn in_file(self, path: impl Into<PathBuf>, first_row: usize) -> Self {
        let error = match self {
            Error::NullValue { table, column, row } => Error::NullValue {
                table,
                column,
                row: row + first_row,
            },
            Error::InvalidValue {
                table,
                column,
                row,
                reason,
            } => Error::InvalidValue {
                table,
                column,
                row: row + first_row,
                reason,
            },
            other => other,
        };
        Error::InFile {
            path: path.into(),
            error: Box::new(error),
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: &str) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            reason: one_line(reason),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<DataFusionError> for Error {
    fn from(err: DataFusionError) -> Self {
        // A promodb error that travelled through DataFusion (e.g. raised inside a scan or
        // a function) comes back as itself.
        let err = match err {
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(ours) => return *ours,
                Err(other) => DataFusionError::External(other),
            },
            other => other,
        };
        Error::Sql(one_line(&err.strip_backtrace()))
    }
}

impl From<ArrowError> for Error {
    fn from(err: ArrowError) -> Self {
        match err {
            ArrowError::ExternalError(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::Internal(one_line(&other.to_string())),
            },
            other => Error::Internal(one_line(&other.to_string())),
        }
    }
}

/// Error messages are printed on one line (the CLI contract): fold newlines and
/// runs of spaces that DataFusion puts into some messages.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

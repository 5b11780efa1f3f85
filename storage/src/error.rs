//! Errors, each with the SQLSTATE PostgreSQL gives for the same failure.
//!
//! The engine decides the class of a failure (a unique violation, a
//! serialization failure, a corrupt log); the server only forwards the code.
//! `Corrupt` and `Io` are never the client's fault and never silently ignored.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// 23505: a unique index already has a live row with this key.
    UniqueViolation { constraint: String, detail: String },
    /// 23502: NULL into a NOT NULL column.
    NotNullViolation { column: String, table: String },
    /// 23502: SET NOT NULL on a column that holds a NULL.
    ColumnContainsNulls { column: String, table: String },
    /// 23503: a foreign key points at nothing, or a referenced row is still referenced.
    ForeignKeyViolation { constraint: String, detail: String },
    /// 23514: a CHECK constraint failed.
    CheckViolation { constraint: String, table: String },
    /// 40001: under REPEATABLE READ, a row this transaction wants to change was
    /// changed by a transaction it cannot see.
    SerializationFailure(String),
    /// 40P01: waiting would close a cycle of waiting transactions.
    Deadlock(String),
    /// Internal to READ COMMITTED: a row changed under the statement; the caller
    /// rolls the statement back and runs it again on a new snapshot. Never reaches a client.
    RetryStatement,
    /// 42P01
    UndefinedTable(String),
    /// 42703
    UndefinedColumn(String),
    /// 42704: an undefined index, sequence or other object.
    UndefinedObject(String),
    /// 42P07 (relation) / 42710 (other object)
    DuplicateObject { what: &'static str, name: String },
    /// 42701
    DuplicateColumn(String),
    /// 42804
    DatatypeMismatch(String),
    /// 22003
    NumericOutOfRange(String),
    /// 22001
    StringTooLong(String),
    /// 22P02
    InvalidText(String),
    /// 22P02 / 22P05 / 22003 / 54001: json or jsonb input that does not
    /// parse, with PostgreSQL's detail and `JSON data, line N` context.
    InvalidJson(crate::json::JsonError),
    /// 0A000
    FeatureNotSupported(String),
    /// 42P16 and friends: a definition that cannot be carried out.
    InvalidDefinition(String),
    /// 2BP01: dropping an object others depend on.
    DependentObjects(String),
    /// 25006
    ReadOnly(String),
    /// 3B001
    NoSuchSavepoint(String),
    /// 55000: a sequence or object in a state that does not allow the operation.
    ObjectNotInPrerequisiteState(String),
    /// 57014: the statement was cancelled (timeout or cancel request).
    Cancelled(String),
    /// 42501
    InsufficientPrivilege(String),
    /// XX001: data on disk failed a check (bad CRC in the middle of the log, a
    /// checkpoint that does not parse).
    Corrupt(String),
    /// 58030: the operating system failed us.
    Io(String),
    /// XX000: a bug.
    Internal(String),
}

impl Error {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Error::UniqueViolation { .. } => "23505",
            Error::NotNullViolation { .. } | Error::ColumnContainsNulls { .. } => "23502",
            Error::ForeignKeyViolation { .. } => "23503",
            Error::CheckViolation { .. } => "23514",
            Error::SerializationFailure(_) | Error::RetryStatement => "40001",
            Error::Deadlock(_) => "40P01",
            Error::UndefinedTable(_) => "42P01",
            Error::UndefinedColumn(_) => "42703",
            Error::UndefinedObject(_) => "42704",
            Error::DuplicateObject { what: "relation", .. } => "42P07",
            Error::DuplicateObject { .. } => "42710",
            Error::DuplicateColumn(_) => "42701",
            Error::DatatypeMismatch(_) => "42804",
            Error::NumericOutOfRange(_) => "22003",
            Error::StringTooLong(_) => "22001",
            Error::InvalidText(_) => "22P02",
            Error::InvalidJson(e) => e.code,
            Error::FeatureNotSupported(_) => "0A000",
            Error::InvalidDefinition(_) => "42P16",
            Error::DependentObjects(_) => "2BP01",
            Error::ReadOnly(_) => "25006",
            Error::NoSuchSavepoint(_) => "3B001",
            Error::ObjectNotInPrerequisiteState(_) => "55000",
            Error::Cancelled(_) => "57014",
            Error::InsufficientPrivilege(_) => "42501",
            Error::Corrupt(_) => "XX001",
            Error::Io(_) => "58030",
            Error::Internal(_) => "XX000",
        }
    }

    /// DETAIL line, where PostgreSQL gives one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::UniqueViolation { detail, .. } | Error::ForeignKeyViolation { detail, .. } => Some(detail),
            Error::InvalidJson(e) => e.detail.as_deref(),
            _ => None,
        }
    }

    /// PostgreSQL's CONTEXT line, where the error has one of its own.
    pub fn context(&self) -> Option<&str> {
        match self {
            Error::InvalidJson(e) => e.context.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UniqueViolation { constraint, .. } => {
                write!(f, "duplicate key value violates unique constraint \"{constraint}\"")
            }
            Error::NotNullViolation { column, table } => {
                write!(f, "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint")
            }
            Error::ColumnContainsNulls { column, table } => write!(f, "column \"{column}\" of relation \"{table}\" contains null values"),
            Error::ForeignKeyViolation { constraint, .. } => {
                write!(f, "foreign key constraint \"{constraint}\" is violated")
            }
            Error::CheckViolation { constraint, table } => {
                write!(f, "new row for relation \"{table}\" violates check constraint \"{constraint}\"")
            }
            Error::SerializationFailure(m) => write!(f, "could not serialize access due to {m}"),
            Error::Deadlock(m) => write!(f, "deadlock detected: {m}"),
            Error::RetryStatement => write!(f, "row changed concurrently; statement must be retried"),
            Error::UndefinedTable(n) => write!(f, "relation \"{n}\" does not exist"),
            Error::UndefinedColumn(m) => f.write_str(m),
            Error::UndefinedObject(m) => f.write_str(m),
            Error::DuplicateObject { what, name } => write!(f, "{what} \"{name}\" already exists"),
            Error::DuplicateColumn(m) => f.write_str(m),
            Error::DatatypeMismatch(m)
            | Error::NumericOutOfRange(m)
            | Error::StringTooLong(m)
            | Error::InvalidText(m)
            | Error::FeatureNotSupported(m)
            | Error::InvalidDefinition(m)
            | Error::DependentObjects(m)
            | Error::ReadOnly(m)
            | Error::ObjectNotInPrerequisiteState(m)
            | Error::Cancelled(m)
            | Error::InsufficientPrivilege(m) => f.write_str(m),
            Error::InvalidJson(e) => f.write_str(&e.message),
            Error::NoSuchSavepoint(n) => write!(f, "savepoint \"{n}\" does not exist"),
            Error::Corrupt(m) => write!(f, "data corrupted: {m}"),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::json::JsonError> for Error {
    fn from(e: crate::json::JsonError) -> Self {
        Error::InvalidJson(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Io(format!("parquet: {e}"))
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Internal(format!("arrow: {e}"))
    }
}

//! SQL errors as clients see them: severity, SQLSTATE, message, and where it
//! helps, detail, hint and the cursor position in the statement.
//!
//! Every failure path ends here. Engine errors carry their own SQLSTATE;
//! DataFusion's are classified by kind and message (a missing column is 42703
//! whether the engine or the planner noticed).

use std::fmt;

use datafusion::error::DataFusionError;
use pgwire::messages::response::ErrorResponse;

#[derive(Clone, Debug, PartialEq)]
pub struct SqlError {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the query text.
    pub position: Option<usize>,
    /// Where it happened (`COPY t, line 3`), PostgreSQL's CONTEXT.
    pub context: Option<String>,
    /// The constraint / table / column involved, for drivers that report them.
    pub constraint: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
}

pub type SqlResult<T> = Result<T, SqlError>;

impl SqlError {
    pub fn new(code: &'static str, message: impl Into<String>) -> SqlError {
        SqlError {
            severity: "ERROR",
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
            context: None,
            constraint: None,
            table: None,
            column: None,
        }
    }

    pub fn fatal(code: &'static str, message: impl Into<String>) -> SqlError {
        SqlError { severity: "FATAL", ..SqlError::new(code, message) }
    }

    pub fn with_detail(mut self, d: impl Into<String>) -> SqlError {
        self.detail = Some(d.into());
        self
    }

    pub fn with_hint(mut self, h: impl Into<String>) -> SqlError {
        self.hint = Some(h.into());
        self
    }

    pub fn with_context(mut self, c: impl Into<String>) -> SqlError {
        self.context = Some(match self.context.take() {
            Some(inner) => format!("{inner}\n{}", c.into()),
            None => c.into(),
        });
        self
    }

    pub fn with_position(mut self, p: usize) -> SqlError {
        self.position = Some(p);
        self
    }

    pub fn syntax(message: impl Into<String>) -> SqlError {
        SqlError::new("42601", message)
    }

    pub fn unsupported(what: impl Into<String>) -> SqlError {
        SqlError::new("0A000", what)
    }

    pub fn internal(message: impl Into<String>) -> SqlError {
        SqlError::new("XX000", message)
    }

    pub fn protocol(message: impl Into<String>) -> SqlError {
        SqlError::new("08P01", message)
    }

    pub fn invalid_text(type_name: &str, input: &str) -> SqlError {
        SqlError::new("22P02", format!("invalid input syntax for type {type_name}: \"{input}\""))
    }

    pub fn aborted_transaction() -> SqlError {
        SqlError::new("25P02", "current transaction is aborted, commands ignored until end of transaction block")
    }

    /// See [`STALE_TEMPLATE`].
    pub fn stale_template() -> SqlError {
        SqlError::new(STALE_TEMPLATE, "template planned against an older catalog")
    }

    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse::new(self.fields())
    }

    /// The message's fields as the protocol carries them (an ErrorResponse's
    /// or, for a notice or warning, a NoticeResponse's).
    pub fn fields(&self) -> Vec<(u8, String)> {
        let mut fields = vec![
            (b'S', self.severity.to_string()),
            (b'V', self.severity.to_string()),
            (b'C', self.code.to_string()),
            (b'M', truncate(&self.message, 8000)),
        ];
        if let Some(d) = &self.detail {
            fields.push((b'D', truncate(d, 8000)));
        }
        if let Some(h) = &self.hint {
            fields.push((b'H', truncate(h, 4000)));
        }
        if let Some(p) = self.position {
            fields.push((b'P', p.to_string()));
        }
        if let Some(w) = &self.context {
            fields.push((b'W', truncate(w, 4000)));
        }
        for (tag, v) in [(b't', &self.table), (b'c', &self.column), (b'n', &self.constraint)] {
            if let Some(v) = v {
                fields.push((tag, v.clone()));
            }
        }
        fields
    }
}

/// Messages are bounded (libpq limits backend message sizes).
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SqlError {}

/// A PostgreSQL error raised inside DataFusion (a function, an analyzer
/// rule); `From<DataFusionError>` takes it back out with its SQLSTATE.
impl From<SqlError> for DataFusionError {
    fn from(e: SqlError) -> DataFusionError {
        DataFusionError::External(Box::new(e))
    }
}

/// Internal code for the engine's READ COMMITTED "run the statement again";
/// the session consumes it, clients never see it.
pub const RETRY_STATEMENT: &str = "XRTRY";
/// Internal: a cached simple-query template was planned against an older
/// catalog; the statement is parsed afresh (never reaches a client).
pub const STALE_TEMPLATE: &str = "XSTAL";

impl From<duetdb_storage::Error> for SqlError {
    fn from(e: duetdb_storage::Error) -> Self {
        if matches!(e, duetdb_storage::Error::RetryStatement) {
            return SqlError::new(RETRY_STATEMENT, e.to_string());
        }
        let detail = e.detail().map(str::to_string);
        let mut err = SqlError::new(e.sqlstate(), e.to_string());
        err.detail = detail;
        err.context = e.context().map(str::to_string);
        use duetdb_storage::Error as E;
        match &e {
            E::UniqueViolation { constraint, .. } | E::ForeignKeyViolation { constraint, .. } => err.constraint = Some(constraint.clone()),
            E::CheckViolation { constraint, table } => {
                err.constraint = Some(constraint.clone());
                err.table = Some(table.clone());
            }
            E::NotNullViolation { column, table } | E::ColumnContainsNulls { column, table } => {
                err.column = Some(column.clone());
                err.table = Some(table.clone());
            }
            _ => {}
        }
        if matches!(e, duetdb_storage::Error::SerializationFailure(_)) {
            err.hint = Some("The transaction might succeed if retried.".into());
        }
        err
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        classify_datafusion(e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for SqlError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        classify_arrow(&e.to_string())
    }
}

impl From<std::io::Error> for SqlError {
    fn from(e: std::io::Error) -> Self {
        SqlError::new("58030", format!("I/O error: {e}"))
    }
}

fn classify_datafusion(e: DataFusionError) -> SqlError {
    use DataFusionError as D;
    match e {
        D::External(inner) => match inner.downcast::<SqlError>() {
            Ok(s) => *s,
            Err(inner) => match inner.downcast::<duetdb_storage::Error>() {
                Ok(s) => SqlError::from(*s),
                Err(inner) => SqlError::internal(inner.to_string()),
            },
        },
        D::Context(_, inner) => classify_datafusion(*inner),
        D::Shared(inner) => classify_datafusion(DataFusionError::Internal(inner.to_string())),
        D::ArrowError(ae, _) => classify_arrow(&ae.to_string()),
        D::SQL(pe, _) => SqlError::syntax(clean(&pe.to_string())),
        D::SchemaError(se, _) => {
            let msg = se.to_string();
            if msg.contains("No field named") || msg.contains("not found") {
                missing_column(&msg)
            } else if msg.contains("Ambiguous") || msg.contains("ambiguous") {
                SqlError::new("42702", clean(&msg))
            } else if msg.contains("duplicate") || msg.contains("Duplicate") {
                SqlError::new("42701", clean(&msg))
            } else {
                SqlError::new("42P10", clean(&msg))
            }
        }
        D::Plan(msg) => classify_message(&msg, "42601"),
        D::NotImplemented(msg) if msg.contains("OuterReferenceColumn") => outer_reference(),
        // An unnest (a set-returning function) inside an aggregate or a filter.
        D::NotImplemented(msg) if msg.contains("Unnest should be rewritten") => {
            SqlError::new("0A000", "set-returning functions are not allowed here")
        }
        D::NotImplemented(msg) => SqlError::unsupported(clean(&msg)),
        D::Execution(msg) => classify_message(&msg, "XX000"),
        D::ResourcesExhausted(msg) => SqlError::new("53200", clean(&msg)),
        other => {
            let msg = other.to_string();
            classify_message(&msg, "XX000")
        }
    }
}

/// A correlated subquery DataFusion could not turn into a join (its own
/// message names planner internals).
fn outer_reference() -> SqlError {
    SqlError::unsupported("subqueries that reference the outer query here (such as a LATERAL subquery with LIMIT) are not supported")
        .with_hint("Rewrite it as a join, or pick one row per key with row_number() OVER (PARTITION BY …).")
}

fn classify_arrow(msg: &str) -> SqlError {
    let m = clean(msg);
    if m.contains("Divide by zero") || m.contains("divide by zero") {
        SqlError::new("22012", "division by zero")
    } else if m.contains("Overflow") || m.contains("overflow") || m.contains("out of range") {
        SqlError::new("22003", m)
    } else if m.contains("Cast error") || m.contains("Cannot cast") || m.contains("Parser error") || m.contains("invalid") {
        SqlError::new("22P02", m)
    } else {
        SqlError::new("XX000", m)
    }
}

fn classify_message(msg: &str, default: &'static str) -> SqlError {
    if let Some(e) = embedded_sql_error(msg) {
        return e;
    }
    let m = clean(msg);
    let lower = m.to_ascii_lowercase();
    if lower.contains("outerreferencecolumn") {
        return outer_reference();
    }
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        SqlError::new("22012", "division by zero")
    } else if lower.contains("table")
        && (lower.contains("not found") || lower.contains("doesn't exist") || lower.contains("does not exist"))
    {
        SqlError::new("42P01", table_message(&m))
    } else if lower.contains("no field named") || lower.contains("column") && lower.contains("not found") {
        missing_column(&m)
    } else if lower.contains("invalid function")
        || lower.contains("function") && lower.contains("not found")
        || lower.contains("unknown parameter name")
    {
        SqlError::new("42883", m)
    } else if lower.contains("overflow") || lower.contains("out of range") {
        SqlError::new("22003", m)
    } else if lower.contains("cannot cast")
        || lower.contains("cast error")
        || lower.contains("cannot parse")
        || lower.contains("invalid input")
    {
        SqlError::new("22P02", m)
    } else if lower.contains("coerce") || lower.contains("does not support") && lower.contains("type") || lower.contains("no operator") {
        SqlError::new("42804", m)
    } else if lower.contains("unsupported") || lower.contains("not supported") || lower.contains("not implemented") {
        SqlError::new("0A000", m)
    } else if lower.contains("duplicate key") {
        SqlError::new("23505", m)
    } else if lower.contains("subquery") && lower.contains("more than one row") {
        SqlError::new("21000", "more than one row returned by a subquery used as an expression")
    } else {
        SqlError::new(default, m)
    }
}

/// One of our errors that DataFusion flattened into text (an error raised
/// while it folded constants comes back as `Internal("External error: 22023:
/// message")`): the SQLSTATE and message, without DataFusion's bug-report line.
fn embedded_sql_error(msg: &str) -> Option<SqlError> {
    // The codes functions raise (a fixed list: the text may echo user input).
    const CODES: [&str; 16] = [
        "22023", "22P02", "22003", "22012", "22007", "22008", "2202E", "22004", "22011", "22001", "22025", "2201B", "22030", "0A000",
        "42883", "42804",
    ];
    let rest = msg.split("External error: ").nth(1)?;
    let (code, message) = rest.split_once(": ")?;
    let code = CODES.iter().copied().find(|c| *c == code)?;
    let message = message.split("\nThis issue was likely caused by a bug").next().unwrap_or(message).trim_end_matches('.');
    Some(SqlError::new(code, message.trim()))
}

/// Strips DataFusion's layered prefixes ("Error during planning: …").
fn clean(msg: &str) -> String {
    let mut m = msg.trim();
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "Arrow error: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "SQL error: ",
        "Optimizer rule",
        "External error: ",
        "Invalid argument error: ",
        "Compute error: ",
        "ParserError(\"",
    ] {
        while let Some(rest) = m.strip_prefix(prefix) {
            m = rest.trim();
        }
    }
    m.trim_end_matches("\")").to_string()
}

fn table_message(m: &str) -> String {
    // "table 'postgres.public.foo' not found" → relation "foo" does not exist
    if let Some(start) = m.find('\'')
        && let Some(end) = m[start + 1..].find('\'')
    {
        let full = &m[start + 1..start + 1 + end];
        let name = full.rsplit('.').next().unwrap_or(full);
        return format!("relation \"{name}\" does not exist");
    }
    m.to_string()
}

/// DataFusion's "No field named o.x. Valid fields are o.a, o.b." as
/// PostgreSQL words it: `column o.x does not exist`, `column "x" does not
/// exist`, or — when no table in scope has that qualifier —
/// `missing FROM-clause entry for table "q"` (42P01).
fn missing_column(m: &str) -> SqlError {
    let Some(rest) = m.split("No field named ").nth(1) else { return SqlError::new("42703", clean(m)) };
    let end = [". Did you mean", ".\nValid fields", ". Valid fields"].iter().filter_map(|s| rest.find(s)).min();
    let name = end.map_or(rest.trim_end_matches('.'), |e| &rest[..e]);
    let valid = rest.split("Valid fields are ").nth(1).map(|v| v.trim_end_matches('.'));
    let unquote = |s: &str| s.trim_matches('"').to_string();
    let qualified = !(name.starts_with('"') && name.ends_with('"')) && name.contains('.');
    match name.rsplit_once('.').filter(|_| qualified) {
        Some((qualifier, column)) => {
            let q = unquote(qualifier.rsplit('.').next().unwrap_or(qualifier));
            let in_scope = |field: &str| field.split_once('.').is_some_and(|(fq, _)| unquote(fq) == q);
            if valid.is_some_and(|v| !v.split(", ").any(in_scope)) {
                return SqlError::new("42P01", format!("missing FROM-clause entry for table \"{q}\""));
            }
            SqlError::new("42703", format!("column {q}.{} does not exist", unquote(column)))
        }
        None => SqlError::new("42703", format!("column \"{}\" does not exist", unquote(name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datafusion_errors_get_postgres_codes() {
        let e: SqlError = DataFusionError::Plan("table 'postgres.public.nope' not found".into()).into();
        assert_eq!((e.code, e.message.as_str()), ("42P01", "relation \"nope\" does not exist"));
        let e: SqlError = DataFusionError::Execution("Divide by zero error".into()).into();
        assert_eq!(e.code, "22012");
        let e: SqlError =
            duetdb_storage::Error::UniqueViolation { constraint: "t_pkey".into(), detail: "Key (id)=(1) already exists.".into() }.into();
        assert_eq!(e.code, "23505");
        assert_eq!(e.detail.as_deref(), Some("Key (id)=(1) already exists."));
    }

    // PostgreSQL 15's wording for each.
    #[test]
    fn missing_columns_are_named_as_postgres_names_them() {
        let e = |m: &str| {
            let e = missing_column(m);
            (e.code, e.message)
        };
        let fields = "Valid fields are o.id, o.customer_id, \"C\".region.";
        assert_eq!(e(&format!("No field named o.created_at. {fields}")), ("42703", "column o.created_at does not exist".into()));
        assert_eq!(e(&format!("No field named created_at.\n{fields}")), ("42703", "column \"created_at\" does not exist".into()));
        assert_eq!(e(&format!("No field named x.created_at. {fields}")), ("42P01", "missing FROM-clause entry for table \"x\"".into()));
        assert_eq!(
            e(&format!("No field named \"C\".nope. Did you mean 'C.region'?\n{fields}")),
            ("42703", "column C.nope does not exist".into())
        );
        assert_eq!(e("No field named \"t1.c0\". Valid fields are t1.c1."), ("42703", "column \"t1.c0\" does not exist".into()));
    }
}

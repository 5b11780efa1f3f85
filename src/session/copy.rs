//! COPY FROM STDIN and COPY TO STDOUT, text and CSV formats.
//!
//! COPY FROM streams: CopyData chunks are cut into records as they arrive (a
//! record may span chunks; a CSV field may span lines), parsed with the column
//! types' input functions, and inserted in batches of 1000 rows, so loading
//! millions of rows uses a bounded amount of memory. An error names the line,
//! as PostgreSQL's `CONTEXT: COPY t, line 3` does.
//!
//! COPY TO runs the query (or table scan) as a row stream and writes each row
//! as one CopyData message.

use std::borrow::Cow;
use std::sync::Arc;

use smallvec::SmallVec;

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement};
use duetdb_storage::{TableDef, Value};

use super::Session;
use super::output::{Outcome, RowStream, Tag};
use crate::error::{SqlError, SqlResult};
use crate::pg::decode::parse_value;
use crate::pg::encode::{Style, value_text};
use crate::sql::names;

const BATCH: usize = 1000;
/// Longest record accepted (a defence against a client that never sends a newline).
const MAX_RECORD: usize = 256 << 20;

#[derive(Clone, Debug, PartialEq)]
pub enum CopyFormat {
    Text { delimiter: char, null: String },
    Csv { delimiter: char, null: String, quote: char, escape: char, header: bool },
}

impl CopyFormat {
    pub fn is_csv(&self) -> bool {
        matches!(self, CopyFormat::Csv { .. })
    }
}

/// What the protocol needs to start CopyIn (CopyInResponse).
pub struct CopyIn {
    pub columns: usize,
    pub csv: bool,
}

/// An active COPY FROM STDIN.
pub struct CopyState {
    def: Arc<TableDef>,
    /// The physical column each field of a record goes to.
    columns: Vec<usize>,
    /// `columns` is every physical column in order (the common `COPY t FROM
    /// STDIN`): a record's values are the row as they come.
    all_in_order: bool,
    /// Physical columns not loaded that have a DEFAULT (filled per batch).
    defaulted: Vec<usize>,
    format: CopyFormat,
    buf: Vec<u8>,
    batch: Vec<Vec<Value>>,
    /// Line of `batch[0]`: row `i` of a batch came from line `batch_line + i`.
    batch_line: u64,
    /// The text of each batch row, kept only for a table with CHECK
    /// constraints: a violation quotes the line, as PostgreSQL's does.
    records: Option<Vec<String>>,
    line: u64,
    rows: u64,
    header_pending: bool,
    done: bool,
    style: Style,
}

impl CopyState {
    /// Queues the row parsed from line `self.line` (its text: `record`).
    fn push(&mut self, row: Vec<Value>, record: Option<String>) {
        if self.batch.is_empty() {
            self.batch_line = self.line;
        }
        self.batch.push(row);
        if let (Some(r), Some(text)) = (&mut self.records, record) {
            r.push(text);
        }
    }

    /// A record's text, when the batch keeps it.
    fn record_text(&self, record: &[u8]) -> Option<String> {
        self.records.as_ref().map(|_| String::from_utf8_lossy(record).into_owned())
    }
}

fn options(stmt_options: &[CopyOption], legacy: &[CopyLegacyOption]) -> SqlResult<CopyFormat> {
    let mut csv = false;
    let mut header = false;
    let mut delimiter = None;
    let mut null = None;
    let mut quote = '"';
    let mut escape = None;
    for o in stmt_options {
        match o {
            CopyOption::Format(f) => match names::ident(f).as_str() {
                "csv" => csv = true,
                "text" => csv = false,
                "binary" => return Err(SqlError::unsupported("COPY BINARY").with_hint("Use FORMAT text or csv.")),
                other => return Err(SqlError::new("22023", format!("COPY format \"{other}\" not recognized"))),
            },
            CopyOption::Header(h) => header = *h,
            CopyOption::Delimiter(d) => delimiter = Some(*d),
            CopyOption::Null(n) => null = Some(n.clone()),
            CopyOption::Quote(q) => quote = *q,
            CopyOption::Escape(e) => escape = Some(*e),
            CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
            // A hint that rows may be written pre-frozen; every load here is as fast either way.
            CopyOption::Freeze(_) => {}
            other => return Err(SqlError::unsupported(format!("COPY option {other}"))),
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Csv(opts) => {
                csv = true;
                for c in opts {
                    match c {
                        CopyLegacyCsvOption::Header => header = true,
                        CopyLegacyCsvOption::Quote(q) => quote = *q,
                        CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                        other => return Err(SqlError::unsupported(format!("COPY option {other}"))),
                    }
                }
            }
            CopyLegacyOption::Delimiter(d) => delimiter = Some(*d),
            CopyLegacyOption::Null(n) => null = Some(n.clone()),
            CopyLegacyOption::Binary => return Err(SqlError::unsupported("COPY BINARY")),
            other => return Err(SqlError::unsupported(format!("COPY option {other}"))),
        }
    }
    Ok(if csv {
        CopyFormat::Csv {
            delimiter: delimiter.unwrap_or(','),
            null: null.unwrap_or_default(),
            quote,
            escape: escape.unwrap_or(quote),
            header,
        }
    } else {
        if header {
            return Err(SqlError::unsupported("COPY HEADER in text format"));
        }
        CopyFormat::Text { delimiter: delimiter.unwrap_or('\t'), null: null.unwrap_or_else(|| "\\N".into()) }
    })
}

impl Session {
    pub async fn start_copy(&mut self, s: &Statement) -> SqlResult<Outcome> {
        let Statement::Copy { source, to, target, options: opts, legacy_options, values } = s else { unreachable!() };
        if !values.is_empty() {
            return Err(SqlError::unsupported("COPY with inline data"));
        }
        let format = options(opts, legacy_options)?;
        match (to, target) {
            (false, CopyTarget::Stdin) => {
                let CopySource::Table { table_name, columns } = source else {
                    return Err(SqlError::syntax("COPY FROM needs a table"));
                };
                let view = self.begin_statement()?;
                let (schema, name) = names::qualified(table_name)?;
                let def = view
                    .catalog
                    .table_by_name(&schema, &name)
                    .cloned()
                    .ok_or_else(|| SqlError::new("42P01", format!("relation \"{name}\" does not exist")))?;
                if self.server().is_standby() {
                    return Err(SqlError::new("25006", "cannot execute COPY FROM in a read-only transaction"));
                }
                // Generated columns are computed, never loaded (as in PostgreSQL).
                let cols: Vec<usize> = if columns.is_empty() {
                    def.live_columns().filter(|(_, c)| c.generated.is_none()).map(|(i, _)| i).collect()
                } else {
                    columns.iter().map(|c| def.column(&names::ident(c)).map_err(SqlError::from)).collect::<SqlResult<_>>()?
                };
                if let Some(&g) = cols.iter().find(|&&c| def.columns[c].generated.is_some()) {
                    return Err(generated_in_copy(&def.columns[g].name));
                }
                let header = matches!(format, CopyFormat::Csv { header: true, .. });
                let n = cols.len();
                let csv = format.is_csv();
                let all_in_order = cols.len() == def.columns.len() && cols.iter().enumerate().all(|(k, &c)| k == c);
                let defaulted = def
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(i, c)| !c.dropped && c.default.is_some() && !cols.contains(i))
                    .map(|(i, _)| i)
                    .collect();
                let records = (!def.checks.is_empty()).then(Vec::new);
                self.copy_in = Some(CopyState {
                    def,
                    columns: cols,
                    all_in_order,
                    defaulted,
                    format,
                    buf: Vec::new(),
                    batch: Vec::with_capacity(BATCH),
                    batch_line: 0,
                    records,
                    line: 0,
                    rows: 0,
                    header_pending: header,
                    done: false,
                    style: self.env.style(),
                });
                Ok(Outcome::CopyIn(CopyIn { columns: n, csv }))
            }
            (true, CopyTarget::Stdout) => {
                let query = match source {
                    CopySource::Query(q) => Statement::Query(q.clone()),
                    CopySource::Table { table_name, columns } => {
                        let view = self.begin_statement()?;
                        let (schema, name) = names::qualified(table_name)?;
                        let def = view.catalog.table_by_name(&schema, &name).cloned();
                        let generated = |n: &str| {
                            def.as_ref()
                                .and_then(|d| d.column_index(n))
                                .is_some_and(|c| def.as_ref().unwrap().columns[c].generated.is_some())
                        };
                        let cols = if columns.is_empty() {
                            match &def {
                                // PostgreSQL 15 leaves generated columns out of COPY TO.
                                Some(d) if d.columns.iter().any(|c| c.generated.is_some()) => d
                                    .live_columns()
                                    .filter(|(_, c)| c.generated.is_none())
                                    .map(|(_, c)| crate::sql::format::quote_ident(&c.name))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                _ => "*".to_string(),
                            }
                        } else {
                            if let Some(c) = columns.iter().find(|c| generated(&names::ident(c))) {
                                return Err(generated_in_copy(&names::ident(c)));
                            }
                            columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
                        };
                        let text = format!("SELECT {cols} FROM {table_name}");
                        let piece = crate::sql::parse::Piece { text, offset: 0 };
                        match crate::sql::parse::parse(&piece)? {
                            crate::sql::parse::Parsed::Sql(s) => *s,
                            _ => unreachable!(),
                        }
                    }
                };
                let Statement::Query(q) = &query else { unreachable!() };
                let out = Box::pin(self.run(&super::execute::Stmt::Sql(Box::new(query.clone())), "", &[], None)).await?;
                let _ = q;
                match out {
                    Outcome::Rows(mut rs) => {
                        rs.tag = Tag::Copy;
                        Ok(Outcome::CopyOut(rs, format))
                    }
                    _ => Err(SqlError::internal("COPY query returned no rows")),
                }
            }
            _ => Err(SqlError::unsupported("COPY to or from a file or program")
                .with_hint("Use COPY … FROM STDIN / TO STDOUT (psql's \\copy does this).")),
        }
    }

    /// A CopyData chunk of COPY FROM STDIN.
    pub async fn copy_data(&mut self, data: &[u8]) -> SqlResult<()> {
        let Some(st) = self.copy_in.as_mut() else { return Err(SqlError::protocol("unexpected CopyData")) };
        if st.done {
            return Ok(());
        }
        st.buf.extend_from_slice(data);
        let mut start = 0;
        loop {
            let Some(end) = record_end(&st.buf[start..], &st.format) else { break };
            let record = &st.buf[start..start + end];
            start += end + 1;
            st.line += 1;
            let rec = record.strip_suffix(b"\r").unwrap_or(record);
            // End of data, in CSV too when unquoted and alone on its line.
            if rec == b"\\." {
                st.done = true;
                break;
            }
            if st.header_pending {
                st.header_pending = false;
                continue;
            }
            let row = parse_record(rec, st).map_err(|e| copy_context(e, &st.def.name, st.line))?;
            let text = st.record_text(rec);
            st.push(row, text);
        }
        st.buf.drain(..start);
        if st.buf.len() > MAX_RECORD {
            return Err(SqlError::new("54000", "COPY record is too long"));
        }
        if st.batch.len() >= BATCH {
            self.flush_copy().await?;
        }
        Ok(())
    }

    async fn flush_copy(&mut self) -> SqlResult<()> {
        let st = self.copy_in.as_mut().unwrap();
        if st.batch.is_empty() {
            return Ok(());
        }
        let def = st.def.clone();
        let mut rows = std::mem::replace(&mut st.batch, Vec::with_capacity(BATCH));
        let line = st.line;
        let n = rows.len() as u64;
        if !st.defaulted.is_empty() {
            let defaults = self.copy_defaults(&def)?;
            let st = self.copy_in.as_ref().unwrap();
            for row in &mut rows {
                for &c in &st.defaulted {
                    row[c] = defaults[c].clone();
                }
            }
        }
        // CHECK and FOREIGN KEY hold for loaded rows as for inserted ones
        // (PostgreSQL's COPY checks both); tables without them pay nothing.
        // A CHECK error quotes the line; a foreign key error has no line, as
        // in PostgreSQL, whose foreign key checks run after the rows are in.
        let records = self.copy_in.as_mut().unwrap().records.as_mut().map(std::mem::take);
        if let Some(g) = self.generator(&def).await? {
            for row in rows.iter_mut() {
                self.fill_generated(&g, &def, row).await?;
            }
        }
        if !def.checks.is_empty() || !def.foreign_keys.is_empty() {
            let first = self.copy_in.as_ref().unwrap().batch_line;
            for (i, row) in rows.iter().enumerate() {
                self.check_constraints(&def, row).map_err(|e| {
                    let text = records.as_ref().and_then(|r| r.get(i)).map(|r| r.as_str()).unwrap_or_default();
                    e.with_context(format!("COPY {}, line {}: \"{}\"", def.name, first + i as u64, excerpt(text)))
                })?;
                self.check_fk_child(&def, row, None).await?;
            }
        }
        let txn = self.txn.txn.as_mut().ok_or_else(|| SqlError::internal("COPY without a transaction"))?;
        txn.insert_batch(&def, rows).await.map_err(|e| copy_context(e.into(), &def.name, line))?;
        self.copy_in.as_mut().unwrap().rows += n;
        Ok(())
    }

    /// Values for columns COPY does not load: their defaults (NULL without one).
    fn copy_defaults(&self, def: &TableDef) -> SqlResult<Vec<Value>> {
        let given = &self.copy_in.as_ref().unwrap().columns;
        let zone = self.env.zone();
        let mut out = Vec::with_capacity(def.columns.len());
        for (i, c) in def.columns.iter().enumerate() {
            if c.dropped || given.contains(&i) {
                out.push(Value::Null);
                continue;
            }
            out.push(match &c.default {
                None => Value::Null,
                Some(d) => {
                    let ex = super::dml::compile_default(d).ok_or_else(|| SqlError::unsupported(format!("DEFAULT {d}")))?;
                    let env = self.env.clone();
                    let mut next = move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
                    let mut e = crate::sql::expr::Env {
                        row: &[],
                        params: &[],
                        now: self.env.transaction_start_micros(),
                        zone: &zone,
                        nextval: &mut next,
                    };
                    crate::sql::expr::assign(crate::sql::expr::eval_typed(&ex, &mut e, Some(&c.ty))?, &c.ty, &zone)?
                }
            });
        }
        if def.columns.iter().any(|c| c.default.as_deref().is_some_and(|d| d.contains("nextval(")))
            && def
                .columns
                .iter()
                .enumerate()
                .any(|(i, c)| !given.contains(&i) && c.default.as_deref().is_some_and(|d| d.contains("nextval(")))
        {
            return Err(SqlError::unsupported("COPY into a table with a serial column not listed in the COPY")
                .with_hint("List the columns to load, or include the serial column."));
        }
        Ok(out)
    }

    /// CopyDone: the last rows, then `COPY n`.
    pub async fn copy_done(&mut self) -> SqlResult<String> {
        if let Some(st) = self.copy_in.as_mut()
            && !st.buf.is_empty()
            && !st.done
        {
            // A last record without a trailing newline.
            let rec = std::mem::take(&mut st.buf);
            let rec = rec.strip_suffix(b"\r").unwrap_or(&rec).to_vec();
            st.line += 1;
            if rec == b"\\." {
                st.done = true;
            } else if st.header_pending {
                st.header_pending = false;
            } else {
                let row = parse_record(&rec, st).map_err(|e| copy_context(e, &st.def.name, st.line))?;
                let text = st.record_text(&rec);
                st.push(row, text);
            }
        }
        self.flush_copy().await?;
        let st = self.copy_in.take().unwrap();
        Ok(format!("COPY {}", st.rows))
    }

    pub fn copy_fail(&mut self, message: &str) -> SqlError {
        self.copy_in = None;
        SqlError::new("57014", format!("COPY from stdin failed: {message}"))
    }
}

/// A line as an error quotes it: PostgreSQL's first 100 characters and "...".
fn excerpt(line: &str) -> String {
    match line.char_indices().nth(100) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_string(),
    }
}

fn copy_context(e: SqlError, table: &str, line: u64) -> SqlError {
    e.with_context(format!("COPY {table}, line {line}"))
}

/// Position of the newline ending the first complete record in `buf`.
fn record_end(buf: &[u8], format: &CopyFormat) -> Option<usize> {
    match format {
        CopyFormat::Text { .. } => memchr(b'\n', buf),
        CopyFormat::Csv { quote, escape, .. } => {
            let (q, e) = (*quote as u8, *escape as u8);
            let mut in_quotes = false;
            let mut i = 0;
            while i < buf.len() {
                let b = buf[i];
                if in_quotes {
                    if b == e && e != q && i + 1 < buf.len() && buf[i + 1] == q {
                        i += 2;
                        continue;
                    }
                    if b == q {
                        if i + 1 < buf.len() && buf[i + 1] == q && e == q {
                            i += 2;
                            continue;
                        }
                        in_quotes = false;
                    }
                } else if b == q {
                    in_quotes = true;
                } else if b == b'\n' {
                    return Some(i);
                }
                i += 1;
            }
            None
        }
    }
}

fn memchr(c: u8, b: &[u8]) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

fn parse_record(rec: &[u8], st: &CopyState) -> SqlResult<Vec<Value>> {
    let text = std::str::from_utf8(rec).map_err(|_| SqlError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
    let fields = match &st.format {
        CopyFormat::Text { delimiter, null } => split_text(text, *delimiter, null)?,
        CopyFormat::Csv { delimiter, null, quote, escape, .. } => split_csv(text, *delimiter, null, *quote, *escape)?,
    };
    if fields.len() != st.columns.len() {
        return Err(if fields.len() < st.columns.len() {
            SqlError::new("22P04", format!("missing data for column \"{}\"", st.def.columns[st.columns[fields.len()]].name))
        } else {
            SqlError::new("22P04", "extra data after last expected column")
        });
    }
    // The physical row: values where the fields go, NULL elsewhere (dropped
    // columns, and columns whose defaults flush_copy fills in).
    let width = st.def.columns.len();
    let mut row = Vec::with_capacity(width);
    if !st.all_in_order {
        row.resize(width, Value::Null);
    }
    for (k, f) in fields.into_iter().enumerate() {
        let c = st.columns[k];
        let col = &st.def.columns[c];
        let v = match f {
            None => Value::Null,
            Some(s) => parse_value(&s, &col.ty, &st.style.zone).map_err(|mut e| {
                e.message = format!("{} (column \"{}\")", e.message, col.name);
                e
            })?,
        };
        if st.all_in_order {
            row.push(v);
        } else {
            row[c] = v;
        }
    }
    Ok(row)
}

/// A record's fields (`None` for NULL); inline for up to 16 columns, so a
/// record costs no allocation for its field list.
type Fields<'a> = SmallVec<[Option<Cow<'a, str>>; 16]>;

/// Text format: delimiter-separated, `\N` for NULL, backslash escapes.
/// Fields without escapes borrow from the record (the common case: no
/// allocation per field).
fn split_text<'a>(s: &'a str, delim: char, null: &str) -> SqlResult<Fields<'a>> {
    let mut out = Fields::new();
    for raw in s.split(delim) {
        if raw == null {
            out.push(None);
            continue;
        }
        if !raw.contains('\\') {
            out.push(Some(Cow::Borrowed(raw)));
            continue;
        }
        let mut v = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                v.push(c);
                continue;
            }
            match chars.next() {
                Some('b') => v.push('\x08'),
                Some('f') => v.push('\x0c'),
                Some('n') => v.push('\n'),
                Some('r') => v.push('\r'),
                Some('t') => v.push('\t'),
                Some('v') => v.push('\x0b'),
                Some('x') => {
                    let mut hex = String::new();
                    while hex.len() < 2 && chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                        hex.push(chars.next().unwrap());
                    }
                    v.push(u8::from_str_radix(&hex, 16).map(|b| b as char).unwrap_or('x'));
                }
                Some(d @ '0'..='7') => {
                    let mut oct = d.to_string();
                    while oct.len() < 3 && chars.peek().is_some_and(|c| ('0'..='7').contains(c)) {
                        oct.push(chars.next().unwrap());
                    }
                    v.push(u8::from_str_radix(&oct, 8).map(|b| b as char).unwrap_or('0'));
                }
                Some(other) => v.push(other),
                None => v.push('\\'),
            }
        }
        out.push(Some(Cow::Owned(v)));
    }
    Ok(out)
}

/// CSV: quoted fields may contain the delimiter, quotes (doubled) and newlines;
/// an unquoted field equal to the NULL string is NULL.
fn split_csv<'a>(s: &'a str, delim: char, null: &str, quote: char, escape: char) -> SqlResult<Fields<'a>> {
    if !s.contains(quote) {
        // No quoting anywhere: fields are the pieces between delimiters,
        // borrowed from the record.
        return Ok(s.split(delim).map(|f| if f == null { None } else { Some(Cow::Borrowed(f)) }).collect());
    }
    let mut out = Fields::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut v = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            match chars.next() {
                None => break,
                Some(c) if quoted => {
                    if c == escape && chars.peek() == Some(&quote) && escape != quote {
                        v.push(chars.next().unwrap());
                    } else if c == quote {
                        if chars.peek() == Some(&quote) && escape == quote {
                            v.push(chars.next().unwrap());
                        } else {
                            quoted = false;
                        }
                    } else {
                        v.push(c);
                    }
                }
                Some(c) if c == quote => {
                    quoted = true;
                    was_quoted = true;
                }
                Some(c) if c == delim => {
                    out.push(csv_value(v, was_quoted, null));
                    v = String::new();
                    was_quoted = false;
                    continue;
                }
                Some(c) => v.push(c),
            }
            if chars.peek().is_none() && !quoted {
                break;
            }
        }
        if quoted {
            return Err(SqlError::new("22P04", "unterminated CSV quoted field"));
        }
        out.push(csv_value(v, was_quoted, null));
        return Ok(out);
    }
}

fn csv_value(v: String, quoted: bool, null: &str) -> Option<Cow<'static, str>> {
    if !quoted && v == null { None } else { Some(Cow::Owned(v)) }
}

/// One row of COPY TO output.
pub fn format_row(values: &[Option<String>], format: &CopyFormat) -> Vec<u8> {
    let mut out = String::new();
    match format {
        CopyFormat::Text { delimiter, null } => {
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(*delimiter);
                }
                match v {
                    None => out.push_str(null),
                    Some(s) => {
                        for c in s.chars() {
                            match c {
                                '\\' => out.push_str("\\\\"),
                                '\n' => out.push_str("\\n"),
                                '\r' => out.push_str("\\r"),
                                '\t' => out.push_str("\\t"),
                                c if c == *delimiter => {
                                    out.push('\\');
                                    out.push(c);
                                }
                                c => out.push(c),
                            }
                        }
                    }
                }
            }
        }
        CopyFormat::Csv { delimiter, null, quote, escape, .. } => {
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(*delimiter);
                }
                match v {
                    None => out.push_str(null),
                    Some(s) => {
                        let needs = s.is_empty() && null.is_empty()
                            || s == null
                            || s.chars().any(|c| c == *delimiter || c == *quote || c == '\n' || c == '\r');
                        if needs {
                            out.push(*quote);
                            for c in s.chars() {
                                if c == *quote || c == *escape {
                                    out.push(*escape);
                                }
                                out.push(c);
                            }
                            out.push(*quote);
                        } else {
                            out.push_str(s);
                        }
                    }
                }
            }
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// The header line of COPY TO … CSV HEADER.
pub fn header_row(stream: &RowStream, format: &CopyFormat) -> Option<Vec<u8>> {
    match format {
        CopyFormat::Csv { header: true, .. } => {
            let names: Vec<Option<String>> = stream.fields.iter().map(|f| Some(f.name.clone())).collect();
            Some(format_row(&names, format))
        }
        _ => None,
    }
}

#[allow(dead_code)]
fn _text(v: &Value) -> String {
    value_text(v, &Style::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_csv_fields() {
        assert_eq!(split_text("1\tab\\tc\t\\N", '\t', "\\N").unwrap().into_vec(), vec![Some("1".into()), Some("ab\tc".into()), None]);
        assert_eq!(
            split_csv("200,\"csv, b\",,2", ',', "", '"', '"').unwrap().into_vec(),
            vec![Some("200".into()), Some("csv, b".into()), None, Some("2".into())]
        );
        assert_eq!(split_csv("\"a\"\"b\",\"\"", ',', "", '"', '"').unwrap().into_vec(), vec![Some("a\"b".into()), Some("".into())]);
        assert!(split_csv("\"open", ',', "", '"', '"').is_err());
        // Without quotes (the fast path) the same rules: empty is NULL by default.
        assert_eq!(split_csv("1,,x y,", ',', "", '"', '"').unwrap().into_vec(), vec![Some("1".into()), None, Some("x y".into()), None]);
        assert_eq!(split_csv("NULL|a", '|', "NULL", '"', '"').unwrap().into_vec(), vec![None, Some("a".into())]);
        assert_eq!(split_csv("1,\"\",", ',', "", '"', '"').unwrap().into_vec(), vec![Some("1".into()), Some("".into()), None]);
    }

    #[test]
    fn records_span_chunks_and_csv_newlines() {
        let csv = CopyFormat::Csv { delimiter: ',', null: String::new(), quote: '"', escape: '"', header: false };
        assert_eq!(record_end(b"a,\"x\ny\"\nb", &csv), Some(7));
        assert_eq!(record_end(b"a,\"x\ny", &csv), None);
        let text = CopyFormat::Text { delimiter: '\t', null: "\\N".into() };
        assert_eq!(record_end(b"1\t2\n3", &text), Some(3));
    }

    #[test]
    fn output_escapes() {
        let text = CopyFormat::Text { delimiter: '\t', null: "\\N".into() };
        assert_eq!(format_row(&[Some("a\tb".into()), None], &text), b"a\\tb\t\\N\n");
        let csv = CopyFormat::Csv { delimiter: ',', null: String::new(), quote: '"', escape: '"', header: true };
        assert_eq!(format_row(&[Some("x,y".into()), Some("".into()), None], &csv), b"\"x,y\",\"\",\n");
    }
}

fn generated_in_copy(column: &str) -> SqlError {
    SqlError::new("42P10", format!("column \"{column}\" is a generated column")).with_detail("Generated columns cannot be used in COPY.")
}

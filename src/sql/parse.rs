//! From query text to statements.
//!
//! ```text
//!   "BEGIN; UPDATE …; COMMIT"  ──split──►  ["BEGIN", "UPDATE …", "COMMIT"]   (quotes, comments,
//!                                                                            dollar quotes respected)
//!   each piece ──► a duetdb command (WAIT FOR LSN, CHECKPOINT, replication…)  or
//!                  sqlparser (PostgreSQL dialect) ──► rewrite ──► Statement
//! ```
//!
//! The rewrite turns PostgreSQL spellings DataFusion does not know into ones it
//! does, without changing meaning: casts to `regclass`/`oid`/`pg_lsn`/`uuid`/
//! `jsonb` become function calls, `OPERATOR(pg_catalog.~)` becomes `~`,
//! `COLLATE "C"` is dropped (text compares bytewise anyway), `->`/`->>` become
//! JSON functions, `pg_catalog.f()` becomes `f()`.
//!
//! Syntax errors carry PostgreSQL's 42601 and the position of the offending
//! token, counted in characters from the start of the whole query string.

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart, OrderBy, OrderByKind, SelectItem, SetExpr, Statement,
    Value, ValueWithSpan, visit_expressions, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::error::{SqlError, SqlResult};

/// A statement and where it sits in the query string.
#[derive(Clone, Debug)]
pub struct Piece {
    pub text: String,
    /// Character offset of `text` in the whole query.
    pub offset: usize,
}

/// Splits a query string into statements at top-level semicolons.
pub fn split(sql: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    // Bytes, not chars: every character that matters here is ASCII, and
    // UTF-8 never puts an ASCII byte inside a multi-byte character.
    let b = sql.as_bytes();
    let push = |out: &mut Vec<Piece>, from: usize, to: usize| {
        let s = &sql[from..to];
        let trimmed = s.trim();
        if !trimmed.is_empty() {
            let lead = s.len() - s.trim_start().len();
            out.push(Piece { text: trimmed.to_string(), offset: sql[..from + lead].chars().count() });
        }
    };
    if !sql.contains(';') {
        push(&mut out, 0, b.len());
        return out;
    }
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                // Quoted literal/identifier; doubled quotes escape. E'…' allows backslash escapes.
                let escapes = c == b'\'' && i > 0 && matches!(b[i - 1], b'E' | b'e');
                i += 1;
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == c {
                        if i + 1 < b.len() && b[i + 1] == c {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' => {
                // Dollar quoting: $tag$ … $tag$ (tag characters as in PostgreSQL's
                // lexer: letters, digits but not first, underscore, any non-ASCII).
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
                    j += 1;
                }
                if j < b.len() && b[j] == b'$' && !b[i + 1..j].first().is_some_and(|c| c.is_ascii_digit()) {
                    let tag = &sql[i..=j];
                    match sql[j + 1..].find(tag) {
                        Some(p) => i = j + 1 + p + tag.len(),
                        None => i = b.len(),
                    }
                } else {
                    i += 1;
                }
            }
            b';' => {
                push(&mut out, start, i);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push(&mut out, start, b.len().max(start));
    out
}

/// Statements duetdb handles itself before (or instead of) sqlparser.
#[derive(Clone, Debug, PartialEq)]
pub enum Special {
    /// PostgreSQL 19: `WAIT FOR LSN '…' [WITH (TIMEOUT …)]`.
    WaitForLsn {
        lsn: String,
        timeout_ms: Option<u64>,
    },
    Checkpoint,
    /// `VACUUM [FULL] [ANALYZE] [VERBOSE] [table, …]`
    Vacuum {
        tables: Vec<String>,
        analyze: bool,
    },
    /// `ANALYZE [VERBOSE] [table, …]`
    Analyze {
        tables: Vec<String>,
    },
    /// `ALTER SYSTEM SET name = value` / `ALTER SYSTEM RESET name`.
    AlterSystem {
        name: String,
        value: Option<String>,
    },
    /// `DISCARD ALL|PLANS|SEQUENCES|TEMP`.
    Discard,
    /// `LISTEN`/`UNLISTEN`/`NOTIFY`: accepted, nothing is delivered.
    Listen,
    /// `SHOW ALL`.
    ShowAll,
    /// `SELECT pg_promote(…)`: this standby becomes a primary.
    Promote,
    /// Replication protocol: `IDENTIFY_SYSTEM`.
    IdentifySystem,
    /// `START_REPLICATION [SLOT name] [PHYSICAL] X/Y [TIMELINE n]`.
    StartReplication {
        slot: Option<String>,
        lsn: String,
        timeline: Option<u32>,
    },
    /// `BASE_BACKUP [SLOT name]`: the consistent base snapshot a new standby starts from.
    BaseBackup {
        slot: Option<String>,
    },
    /// `CREATE_REPLICATION_SLOT name PHYSICAL` / `DROP_REPLICATION_SLOT name`.
    CreateSlot {
        name: String,
    },
    DropSlot {
        name: String,
    },
    /// `DEALLOCATE ALL` (sqlparser wants a name).
    DeallocateAll,
    /// `GRANT …` / `REVOKE …`: accepted with a warning, privileges are not enforced.
    Privileges,
    /// `COMMENT ON …`: accepted, comments are not stored.
    Comment,
    /// `SET SESSION CHARACTERISTICS AS TRANSACTION …`
    SessionCharacteristics(String),
    /// `MOVE [n] [FROM|IN] cursor` / `FETCH …` forms sqlparser lacks are parsed by it; MOVE is ours.
    Move {
        count: i64,
        cursor: String,
    },
}

pub enum Parsed {
    Empty,
    Special(Special),
    Sql(Box<Statement>),
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(|w| w.to_string()).collect()
}

fn unquote(s: &str) -> String {
    let t = s.trim().trim_end_matches(';');
    if let Some(x) = t.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return x.replace("''", "'");
    }
    if let Some(x) = t.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        return x.replace("\"\"", "\"");
    }
    t.to_lowercase()
}

/// `SELECT pg_promote()` with any arguments (wait, wait_seconds: the call
/// always waits until the promotion is done).
fn is_pg_promote(rest: &str) -> bool {
    let r: String = rest.chars().filter(|c| !c.is_whitespace()).collect();
    let r = r.trim_end_matches(';');
    r.starts_with("PG_PROMOTE(") && r.ends_with(')') && !r.contains("FROM") && r.matches('(').count() == 1
}

/// First words of the statements `special` recognizes.
const SPECIAL_LEADERS: [&str; 23] = [
    "SELECT",
    "WAIT",
    "CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    "ANALYSE",
    "ALTER",
    "DISCARD",
    "LISTEN",
    "UNLISTEN",
    "NOTIFY",
    "SHOW",
    "IDENTIFY_SYSTEM",
    "START_REPLICATION",
    "BASE_BACKUP",
    "CREATE_REPLICATION_SLOT",
    "DROP_REPLICATION_SLOT",
    "DEALLOCATE",
    "GRANT",
    "REVOKE",
    "COMMENT",
    "SET",
    "MOVE",
];

fn contains_ignore_case(text: &str, needle: &str) -> bool {
    text.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Recognizes duetdb's own commands by their leading words.
pub fn special(text: &str) -> SqlResult<Option<Special>> {
    // Most statements are not ours: decide that from the first word alone.
    let first = text.split_whitespace().next().unwrap_or("").trim_end_matches(';');
    if !SPECIAL_LEADERS.iter().any(|l| first.eq_ignore_ascii_case(l))
        || (first.eq_ignore_ascii_case("SELECT") && !contains_ignore_case(text, "pg_promote"))
    {
        return Ok(None);
    }
    let w = words(text);
    let up: Vec<String> = w.iter().map(|x| x.to_ascii_uppercase().trim_end_matches(';').to_string()).collect();
    let first = up.first().map(String::as_str).unwrap_or("");
    let second = up.get(1).map(String::as_str).unwrap_or("");
    Ok(Some(match (first, second) {
        ("SELECT", _) if is_pg_promote(&up[1..].join(" ")) => Special::Promote,
        ("WAIT", "FOR") => {
            // WAIT FOR LSN 'x/y' [WITH (TIMEOUT '10s' | 10000)]
            if up.get(2).map(String::as_str) != Some("LSN") || w.len() < 4 {
                return Err(SqlError::syntax("syntax error: expected WAIT FOR LSN '<lsn>' [WITH (TIMEOUT <duration>)]"));
            }
            let lsn = unquote(&w[3]);
            let rest = up[4..].join(" ");
            let timeout_ms = if rest.is_empty() {
                None
            } else {
                let orig = w[4..].join(" ");
                let inner = orig
                    .trim()
                    .strip_prefix("WITH")
                    .or_else(|| orig.trim().strip_prefix("with"))
                    .map(|x| x.trim().trim_start_matches('(').trim_end_matches(';').trim_end_matches(')').trim())
                    .ok_or_else(|| SqlError::syntax(format!("syntax error at or near \"{}\"", w[4])))?;
                let (k, v) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
                if !k.eq_ignore_ascii_case("timeout") {
                    return Err(SqlError::syntax(format!("unrecognized WAIT FOR option \"{k}\"")));
                }
                let v = v.trim().trim_start_matches('=').trim().trim_matches('\'');
                Some(
                    crate::settings::parse_duration_ms(v)
                        .ok_or_else(|| SqlError::new("22023", format!("invalid timeout value \"{v}\"")))?,
                )
            };
            Special::WaitForLsn { lsn, timeout_ms }
        }
        ("CHECKPOINT", _) if up.len() == 1 => Special::Checkpoint,
        ("VACUUM", _) => {
            let mut analyze = false;
            let mut tables = Vec::new();
            let rest = w[1..].join(" ");
            let rest = rest.trim_end_matches(';');
            // VACUUM (ANALYZE, VERBOSE) t  |  VACUUM FULL ANALYZE t
            let (opts, targets) = match rest.trim().strip_prefix('(') {
                Some(r) => r.split_once(')').map(|(o, t)| (o.to_string(), t.to_string())).unwrap_or((r.to_string(), String::new())),
                None => (String::new(), rest.to_string()),
            };
            if opts.to_ascii_uppercase().contains("ANALYZE") {
                analyze = true;
            }
            for t in targets.split(',') {
                let t = t.trim();
                let mut parts = t.split_whitespace().filter(|p| {
                    let u = p.to_ascii_uppercase();
                    if u == "ANALYZE" || u == "ANALYSE" {
                        analyze = true;
                    }
                    !matches!(u.as_str(), "FULL" | "FREEZE" | "VERBOSE" | "ANALYZE" | "ANALYSE")
                });
                if let Some(name) = parts.next() {
                    tables.push(name.split('(').next().unwrap_or(name).to_string());
                }
            }
            Special::Vacuum { tables, analyze }
        }
        ("ANALYZE" | "ANALYSE", _) => Special::Analyze {
            tables: w[1..]
                .join(" ")
                .trim_end_matches(';')
                .split(',')
                .map(|t| t.trim().split_whitespace().last().unwrap_or("").to_string())
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("verbose"))
                .collect(),
        },
        ("ALTER", "SYSTEM") => {
            let rest = w[2..].join(" ");
            let rest = rest.trim_end_matches(';').trim();
            let up_rest = rest.to_ascii_uppercase();
            if let Some(r) = up_rest.strip_prefix("SET ") {
                let orig = &rest[rest.len() - r.len()..];
                let (name, value) = orig
                    .split_once('=')
                    .or_else(|| orig.split_once(" TO "))
                    .or_else(|| orig.split_once(" to "))
                    .ok_or_else(|| SqlError::syntax("syntax error: ALTER SYSTEM SET name = value"))?;
                let value = value.trim();
                let value = if value.eq_ignore_ascii_case("default") { None } else { Some(unquote_value(value)) };
                Special::AlterSystem { name: name.trim().to_string(), value }
            } else if let Some(r) = up_rest.strip_prefix("RESET ") {
                let name = rest[rest.len() - r.len()..].trim().to_string();
                Special::AlterSystem { name, value: None }
            } else {
                return Err(SqlError::syntax("syntax error: ALTER SYSTEM SET|RESET"));
            }
        }
        ("DISCARD", _) => Special::Discard,
        ("LISTEN" | "UNLISTEN" | "NOTIFY", _) => Special::Listen,
        ("SHOW", "ALL") if up.len() == 2 => Special::ShowAll,
        ("IDENTIFY_SYSTEM", _) => Special::IdentifySystem,
        ("START_REPLICATION", _) => {
            let mut slot = None;
            let mut lsn = None;
            let mut timeline = None;
            let mut i = 1;
            while i < up.len() {
                match up[i].as_str() {
                    "SLOT" => {
                        slot = w.get(i + 1).map(|s| unquote(s));
                        i += 2;
                    }
                    "PHYSICAL" | "LOGICAL" => i += 1,
                    "TIMELINE" => {
                        timeline = w.get(i + 1).and_then(|s| s.trim_end_matches(';').parse().ok());
                        i += 2;
                    }
                    _ => {
                        lsn = Some(w[i].trim_end_matches(';').to_string());
                        i += 1;
                    }
                }
            }
            Special::StartReplication { slot, lsn: lsn.ok_or_else(|| SqlError::syntax("START_REPLICATION needs a start LSN"))?, timeline }
        }
        ("BASE_BACKUP", _) => {
            let slot = up.iter().position(|x| x == "SLOT").and_then(|i| w.get(i + 1)).map(|s| unquote(s));
            Special::BaseBackup { slot }
        }
        ("CREATE_REPLICATION_SLOT", _) => Special::CreateSlot {
            name: w.get(1).map(|s| unquote(s)).ok_or_else(|| SqlError::syntax("CREATE_REPLICATION_SLOT needs a name"))?,
        },
        ("DROP_REPLICATION_SLOT", _) => {
            Special::DropSlot { name: w.get(1).map(|s| unquote(s)).ok_or_else(|| SqlError::syntax("DROP_REPLICATION_SLOT needs a name"))? }
        }
        ("DEALLOCATE", "ALL") | ("DEALLOCATE", "PREPARE")
            if up.get(2).is_none_or(|x| x == "ALL") && up.last().map(String::as_str) == Some("ALL") =>
        {
            Special::DeallocateAll
        }
        ("GRANT" | "REVOKE", _) => Special::Privileges,
        ("COMMENT", "ON") => Special::Comment,
        ("SET", "SESSION") if up.get(2).map(String::as_str) == Some("CHARACTERISTICS") => {
            Special::SessionCharacteristics(up[5..].join(" "))
        }
        ("MOVE", _) => {
            let rest: Vec<&String> =
                w[1..].iter().filter(|x| !matches!(x.to_ascii_uppercase().as_str(), "FROM" | "IN" | "FORWARD")).collect();
            let (count, cursor) = match rest.as_slice() {
                [c] => (1, c.to_string()),
                [n, c] => (if n.eq_ignore_ascii_case("all") { i64::MAX } else { n.parse().unwrap_or(1) }, c.to_string()),
                _ => return Err(SqlError::syntax("syntax error in MOVE")),
            };
            Special::Move { count, cursor: unquote(&cursor) }
        }
        _ => return Ok(None),
    }))
}

fn unquote_value(v: &str) -> String {
    let t = v.trim();
    if let Some(x) = t.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return x.replace("''", "'");
    }
    t.to_string()
}

/// Parses one statement (a piece from [`split`]).
pub fn parse(piece: &Piece) -> SqlResult<Parsed> {
    if piece.text.trim().is_empty() {
        return Ok(Parsed::Empty);
    }
    if let Some(s) = transaction_control(&piece.text) {
        return Ok(Parsed::Sql(Box::new(s)));
    }
    if let Some(s) = special(&piece.text)? {
        return Ok(Parsed::Special(s));
    }
    let normalized = normalize_copy_options(&piece.text);
    let overriding = strip_overriding(&piece.text);
    let text = match (&normalized, &overriding) {
        (Some(t), _) | (None, Some((t, _))) => t.as_str(),
        (None, None) => &piece.text,
    };
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, text).map_err(|e| parse_error(e, piece))?;
    match stmts.len() {
        0 => Ok(Parsed::Empty),
        1 => {
            let mut s = stmts.pop().unwrap();
            if let Some((_, o)) = overriding {
                set_overriding(&mut s, o)?;
            }
            check_literals(&s, piece)?;
            // Names first: they are figured from the statement as written.
            // Only queries have output names (DML without one: nothing to name).
            let dml = matches!(s, Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_));
            if !dml || contains_ignore_case(text, "select") {
                crate::sql::colnames::name_outputs(&mut s);
            }
            rewrite_text(&mut s, text);
            Ok(Parsed::Sql(Box::new(s)))
        }
        _ => Err(SqlError::syntax("cannot insert multiple commands into a prepared statement")),
    }
}

/// The bare transaction-control words every OLTP client sends around each
/// transaction, parsed once: their parse trees never change.
fn transaction_control(text: &str) -> Option<Statement> {
    static PARSED: LazyLock<Vec<(&str, Statement)>> = LazyLock::new(|| {
        ["begin", "commit", "end", "rollback"]
            .into_iter()
            .map(|w| (w, Parser::parse_sql(&PostgreSqlDialect {}, w).expect("sqlparser parses BEGIN/COMMIT/END/ROLLBACK").remove(0)))
            .collect()
    });
    if text.len() > 8 {
        return None;
    }
    PARSED.iter().find(|(w, _)| text.eq_ignore_ascii_case(w)).map(|(_, s)| s.clone())
}

/// PostgreSQL's COPY option list accepts any boolean spelling (`FREEZE on`,
/// `HEADER 1`) where sqlparser wants TRUE/FALSE. Rewrites those tokens inside
/// the parenthesized option list of a COPY; None when there is nothing to do.
fn normalize_copy_options(text: &str) -> Option<String> {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    if !text.trim_start().get(..4).is_some_and(|w| w.eq_ignore_ascii_case("copy")) {
        return None;
    }
    let mut tokens = Tokenizer::new(&PostgreSqlDialect {}, text).tokenize().ok()?;
    let mut depth = 0;
    let mut changed = false;
    let mut last_word: Option<String> = None;
    for t in tokens.iter_mut() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma => {}
            Token::Whitespace(_) => continue,
            Token::Word(w) if depth == 1 => {
                let boolean_option = last_word.as_deref().is_some_and(|o| matches!(o, "FREEZE" | "HEADER"));
                let upper = w.value.to_ascii_uppercase();
                if boolean_option && w.quote_style.is_none() && matches!(upper.as_str(), "ON" | "OFF" | "YES" | "NO") {
                    *t = Token::make_keyword(if matches!(upper.as_str(), "ON" | "YES") { "TRUE" } else { "FALSE" });
                    changed = true;
                }
                last_word = Some(upper);
                continue;
            }
            Token::Number(n, _) if depth == 1 && last_word.as_deref().is_some_and(|o| matches!(o, "FREEZE" | "HEADER")) => {
                *t = Token::make_keyword(if n == "0" { "FALSE" } else { "TRUE" });
                changed = true;
            }
            _ => {}
        }
        last_word = None;
    }
    changed.then(|| tokens.iter().map(|t| t.to_string()).collect())
}

/// An expression the catalog stores as text (a DEFAULT, a CHECK), parsed
/// and rewritten as a statement's expressions are.
pub fn stored_expr(text: &str) -> Option<Expr> {
    let mut e = Parser::new(&PostgreSqlDialect {}).try_with_sql(text).ok()?.parse_expr().ok()?;
    let _ = visit_expressions_mut(&mut e, |x| {
        rewrite_expr(x);
        ControlFlow::<()>::Continue(())
    });
    Some(e)
}

/// `INSERT … OVERRIDING {SYSTEM | USER} VALUE`: which values identity columns take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overriding {
    /// Values the INSERT gives are stored, even for GENERATED ALWAYS columns.
    System,
    /// Values the INSERT gives identity columns are ignored for the sequence's.
    User,
}

/// The INSERT setting that carries [`Overriding`] (see [`strip_overriding`]).
const OVERRIDING_SETTING: &str = "__overriding";

/// sqlparser 0.62 has no OVERRIDING clause. Its three words are blanked out
/// of the text (spaces of the same length, so error positions still point at
/// the right character) and the choice is put back on the parsed INSERT by
/// [`set_overriding`] as a setting — a field PostgreSQL's INSERT otherwise
/// never fills — so it travels with the statement into plans and prepared
/// statements. None when the text has no such clause.
fn strip_overriding(text: &str) -> Option<(String, Overriding)> {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    if !contains_ignore_case(text, "overriding") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text).tokenize().ok()?;
    let word = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    // Positions of the tokens that are not whitespace, with their paren depth.
    let mut depth = 0i32;
    let mut solid = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Whitespace(_) => continue,
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        solid.push((i, depth));
    }
    if word(&tokens[solid.first()?.0]).as_deref() != Some("INSERT") {
        return None;
    }
    let found = solid.windows(3).find_map(|w| {
        let [(a, 0), (b, 0), (c, 0)] = w else { return None };
        let kind = match (word(&tokens[*a])?.as_str(), word(&tokens[*b])?.as_str(), word(&tokens[*c])?.as_str()) {
            ("OVERRIDING", "SYSTEM", "VALUE") => Overriding::System,
            ("OVERRIDING", "USER", "VALUE") => Overriding::User,
            _ => return None,
        };
        Some(([*a, *b, *c], kind))
    })?;
    let (blank, kind) = found;
    let text = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| if blank.contains(&i) { " ".repeat(t.to_string().chars().count()) } else { t.to_string() })
        .collect();
    Some((text, kind))
}

fn set_overriding(stmt: &mut Statement, o: Overriding) -> SqlResult<()> {
    use datafusion::sql::sqlparser::ast::Setting;
    let Statement::Insert(ins) = stmt else { return Err(SqlError::syntax("OVERRIDING is only allowed in INSERT")) };
    let value = match o {
        Overriding::System => "system",
        Overriding::User => "user",
    };
    ins.settings = Some(vec![Setting { key: Ident::new(OVERRIDING_SETTING), value: Expr::value(Value::SingleQuotedString(value.into())) }]);
    Ok(())
}

/// The OVERRIDING clause of a parsed INSERT, if it had one.
pub fn overriding(ins: &datafusion::sql::sqlparser::ast::Insert) -> Option<Overriding> {
    let s = ins.settings.as_ref()?.iter().find(|s| s.key.value == OVERRIDING_SETTING)?;
    match &s.value {
        Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(v), .. }) if v == "system" => Some(Overriding::System),
        Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(v), .. }) if v == "user" => Some(Overriding::User),
        _ => None,
    }
}

/// Turns sqlparser's error into 42601 with PostgreSQL's wording and a position.
fn parse_error(e: ParserError, piece: &Piece) -> SqlError {
    let msg = match &e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => {
            return SqlError::new("54001", "statement is too deeply nested (stack depth limit exceeded)");
        }
    };
    // "... at Line: 1, Column: 8"
    let position = msg.rsplit_once("at Line: ").and_then(|(_, lc)| {
        let (l, c) = lc.split_once(", Column: ")?;
        let line: usize = l.trim().parse().ok()?;
        let col: usize = c.trim().trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
        position_of(piece, line, col)
    });
    let near = msg.split("found: ").nth(1).map(|f| f.split(" at Line").next().unwrap_or(f).trim().to_string());
    let text = match near {
        Some(tok) if tok == "EOF" => "syntax error at end of input".to_string(),
        Some(tok) => format!("syntax error at or near \"{}\"", tok.trim_matches('\'')),
        None => format!("syntax error: {}", msg.split(" at Line").next().unwrap_or(&msg)),
    };
    let mut err = SqlError::syntax(text);
    if let Some(p) = position {
        err = err.with_position(p);
    }
    err
}

/// The 1-based character position in the whole query of sqlparser's
/// (1-based) line and column in `piece`.
fn position_of(piece: &Piece, line: usize, column: usize) -> Option<usize> {
    let mut off = 0;
    for (i, text_line) in piece.text.split('\n').enumerate() {
        if i + 1 == line {
            return Some(piece.offset + off + column);
        }
        off += text_line.chars().count() + 1;
    }
    None
}

/// `interval '…'` with no field qualifier (`interval '1' day` keeps
/// DataFusion's reading): the literal PostgreSQL's interval input reads.
fn without_qualifier(iv: &datafusion::sql::sqlparser::ast::Interval) -> bool {
    iv.leading_field.is_none() && iv.last_field.is_none() && iv.leading_precision.is_none() && iv.fractional_seconds_precision.is_none()
}

/// Checks the literals that our own parsers read (intervals) while the
/// statement still knows where they are, so an invalid one is reported at
/// its position (psql's `LINE 1: … ^`), as PostgreSQL reports it, and not
/// later, without one, when the plan folds it.
fn check_literals(stmt: &Statement, piece: &Piece) -> SqlResult<()> {
    let mut error = None;
    let _ = visit_expressions(stmt, |e| {
        let literal = match e {
            Expr::Interval(iv) if without_qualifier(iv) => iv.value.as_ref(),
            Expr::Cast { expr, data_type: SqlType::Interval { .. }, .. } => expr.as_ref(),
            _ => return ControlFlow::Continue(()),
        };
        if let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), span }) = literal
            && let Err(err) = crate::pg::interval_in::parse_interval(text)
        {
            error = Some(match position_of(piece, span.start.line as usize, span.start.column as usize) {
                Some(p) => err.with_position(p),
                None => err,
            });
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    error.map_or(Ok(()), Err)
}

// ---------------------------------------------------------------------------
// Rewrites
// ---------------------------------------------------------------------------

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `x = ANY('{1,2}')` and `x <> ALL('{1,2}')` with an untyped array literal:
/// PostgreSQL types the literal as an array of x's type. As an IN list of
/// untyped strings it is typed the same way here (`sql::text_input`), and
/// means the same, NULL elements included; an empty array is false for ANY
/// and true for ALL, whatever x is. Other forms are left as they are.
fn untyped_array_comparison(e: &Expr) -> Option<Expr> {
    let (left, right, negated) = match e {
        Expr::AnyOp { left, compare_op: BinaryOperator::Eq, right, .. } => (left, right, false),
        Expr::AllOp { left, compare_op: BinaryOperator::NotEq, right } => (left, right, true),
        _ => return None,
    };
    let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), .. }) = right.as_ref() else { return None };
    let items = crate::pg::decode::parse_array_literal(text)?;
    if items.is_empty() {
        return Some(Expr::value(Value::Boolean(negated)));
    }
    let list = items.into_iter().map(|i| Expr::value(i.map_or(Value::Null, Value::SingleQuotedString))).collect();
    Some(Expr::InList { expr: left.clone(), list, negated })
}

fn is_string_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_), .. }))
}

/// A type name (schema already stripped) that sqlparser knows as a standard
/// type when spelled on its own: `text`, `int4`, `bpchar`…
fn standard_type(name: &str) -> Option<SqlType> {
    let name = match name {
        "bpchar" => "char",
        "float4" => "real",
        n => n,
    };
    let t = Parser::new(&PostgreSqlDialect {}).try_with_sql(name).ok()?.parse_data_type().ok()?;
    (!matches!(t, SqlType::Custom(..))).then_some(t)
}

/// The custom (PostgreSQL-only) type name of a cast target, lowercased.
fn custom_type(t: &SqlType) -> Option<String> {
    match t {
        SqlType::Custom(name, _) => Some(name.to_string().to_lowercase().trim_start_matches("pg_catalog.").trim_matches('"').to_string()),
        SqlType::Regclass => Some("regclass".into()),
        SqlType::JSON => Some("json".into()),
        SqlType::JSONB => Some("jsonb".into()),
        SqlType::Uuid => Some("uuid".into()),
        _ => None,
    }
}

/// Rewrites PostgreSQL-only syntax in place (see the module comment).
pub fn rewrite(stmt: &mut Statement) {
    // `FROM pg_catalog.generate_series(…)`: table functions live unqualified.
    strip_table_function_schema(stmt);
    json_set_returning(stmt);
    exists_in_select_lists(stmt);
    fetch_as_limit(stmt);
    rewrite_exprs(stmt);
}

/// `rewrite` for a statement parsed from `text`: the set-returning-function
/// pass only when the text names what it changes (for most statements it
/// would walk the whole tree to change nothing).
fn rewrite_text(stmt: &mut Statement, text: &str) {
    if ["generate_series", "unnest", "pg_catalog"].iter().any(|n| contains_ignore_case(text, n)) {
        strip_table_function_schema(stmt);
    }
    if contains_ignore_case(text, "json") {
        json_set_returning(stmt);
    }
    if contains_ignore_case(text, "exists") {
        exists_in_select_lists(stmt);
    }
    if contains_ignore_case(text, "fetch") {
        fetch_as_limit(stmt);
    }
    rewrite_exprs(stmt);
}

/// The SQL standard's `[OFFSET n ROWS] FETCH {FIRST|NEXT} [m] {ROW|ROWS}
/// ONLY` is PostgreSQL's `LIMIT m OFFSET n` (m defaults to 1), which is what
/// DataFusion plans. `WITH TIES` and `PERCENT` are left for the planner to
/// refuse.
fn fetch_as_limit(stmt: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{LimitClause, Query, Value, VisitMut, VisitorMut};
    struct Fetches;
    impl VisitorMut for Fetches {
        type Break = ();
        fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            let Some(fetch) = q.fetch.as_ref().filter(|f| !f.with_ties && !f.percent) else { return ControlFlow::Continue(()) };
            let count = fetch.quantity.clone().unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
            match &mut q.limit_clause {
                None => q.limit_clause = Some(LimitClause::LimitOffset { limit: Some(count), offset: None, limit_by: vec![] }),
                // OFFSET n ROWS, parsed as a limit clause without a limit.
                Some(LimitClause::LimitOffset { limit: limit @ None, .. }) => *limit = Some(count),
                // Both LIMIT and FETCH: PostgreSQL refuses it; so will the planner.
                Some(_) => return ControlFlow::Continue(()),
            }
            q.fetch = None;
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Fetches);
}

fn rewrite_exprs(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        rewrite_expr(e);
        ControlFlow::<()>::Continue(())
    });
}

/// Set-returning functions where PostgreSQL and DataFusion differ:
/// - `FROM pg_catalog.generate_series(…)`: table functions live unqualified;
/// - `FROM generate_series(1, 3) g`: PostgreSQL names the single column of a
///   scalar-returning function after the table alias (`SELECT g …`), so
///   the alias gets that column name: `g(g)`;
/// - `SELECT generate_series(1, 3)`: a set-returning call in a select list
///   yields rows, which DataFusion spells `unnest(generate_series(…))`.
fn strip_table_function_schema(stmt: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{SelectItem, TableAliasColumnDef, TableFactor};
    const SCALAR_SRFS: [&str; 2] = ["generate_series", "unnest"];
    let item = |item: &mut SelectItem| {
        let (expr, unnamed) = match item {
            SelectItem::UnnamedExpr(e) => (e, true),
            SelectItem::ExprWithAlias { expr, .. } => (expr, false),
            _ => return,
        };
        if let Expr::Function(f) = expr
            && names_function(f, "generate_series")
        {
            let wrapped = call("unnest", vec![expr.clone()]);
            *item = if unnamed {
                SelectItem::ExprWithAlias { expr: wrapped, alias: Ident::new("generate_series") }
            } else {
                match std::mem::replace(item, SelectItem::Wildcard(Default::default())) {
                    SelectItem::ExprWithAlias { alias, .. } => SelectItem::ExprWithAlias { expr: wrapped, alias },
                    other => other,
                }
            };
        }
    };
    let table = |t: &mut TableFactor| {
        if let TableFactor::Table { name, args: Some(_), alias, .. } = t {
            if name.0.len() == 2
                && let ObjectNamePart::Identifier(schema) = &name.0[0]
                && schema.value.eq_ignore_ascii_case("pg_catalog")
            {
                name.0.remove(0);
            }
            if let Some(alias) = alias
                && alias.columns.is_empty()
                && let [ObjectNamePart::Identifier(f)] = name.0.as_slice()
                && SCALAR_SRFS.iter().any(|s| f.value.eq_ignore_ascii_case(s))
            {
                alias.columns.push(TableAliasColumnDef { name: alias.name.clone(), data_type: None });
            }
        }
    };
    visit_select_items_and_tables(stmt, item, table);
}

/// Runs `item` on every select-list item of every query in `stmt` (both
/// sides of UNION / INTERSECT / EXCEPT included) and `table` on every FROM
/// item: the walk the set-returning-function rewrites share.
fn visit_select_items_and_tables(
    stmt: &mut Statement,
    item: impl FnMut(&mut datafusion::sql::sqlparser::ast::SelectItem),
    table: impl FnMut(&mut datafusion::sql::sqlparser::ast::TableFactor),
) {
    use datafusion::sql::sqlparser::ast::{Query, SelectItem, SetExpr, TableFactor, VisitMut, VisitorMut};
    fn select_items(body: &mut SetExpr, item: &mut impl FnMut(&mut SelectItem)) {
        match body {
            SetExpr::Select(select) => select.projection.iter_mut().for_each(&mut *item),
            SetExpr::SetOperation { left, right, .. } => {
                select_items(left, item);
                select_items(right, item);
            }
            _ => {}
        }
    }
    struct Walk<I, T>(I, T);
    impl<I: FnMut(&mut SelectItem), T: FnMut(&mut TableFactor)> VisitorMut for Walk<I, T> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            select_items(&mut q.body, &mut self.0);
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
            (self.1)(t);
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Walk(item, table));
}

/// The json set-returning functions, as `unnest` of the per-row lists that
/// `json_srf_*` build (`sql::json_functions`). In a select list the call
/// becomes the unnest (several zip row by row, as in PostgreSQL); in FROM, a
/// derived table with PostgreSQL's column names (`value`; `key, value`; the
/// alias or the function's name for `*_object_keys`). A FROM call whose
/// argument reads a column (it can only be another FROM item's: an implicit
/// LATERAL, which DataFusion cannot plan here) becomes `json_srf_lateral`,
/// which refuses it with 0A000 and says to call it in the select list.
fn json_set_returning(stmt: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr, TableFactor};

    /// `unnest(list_fn(arg, 'name'))` and the type its json pieces are cast to.
    fn unnest_of(name: &str, arg: &str) -> (impl Fn(&str) -> String, &'static str) {
        let flavor = if name.starts_with("jsonb_") { "jsonb" } else { "json" };
        let (name, arg) = (name.to_string(), arg.to_string());
        (move |f: &str| format!("unnest({f}({arg}, '{name}'))"), flavor)
    }

    /// `name(arg)` in a select list, as the unnest that replaces it.
    fn in_select_list(name: &str, arg: &str) -> Option<String> {
        let base = name.strip_prefix("pg_catalog.").unwrap_or(name);
        let (list, flavor) = unnest_of(base, arg);
        Some(match base.split_once('_')?.1 {
            "array_elements" => format!("CAST({} AS {flavor})", list("json_srf_elements")),
            "array_elements_text" => list("json_srf_elements_text"),
            "object_keys" => list("json_srf_keys"),
            _ => return None,
        })
    }

    /// `FROM name(arg) [AS alias]`, as the query of a derived table.
    fn in_from(name: &str, arg: &str, alias: Option<&str>) -> Option<String> {
        let (list, flavor) = unnest_of(name, arg);
        Some(match name.split_once('_')?.1 {
            "array_elements" => format!("SELECT CAST({} AS {flavor}) AS value", list("json_srf_elements")),
            "array_elements_text" => format!("SELECT {} AS value", list("json_srf_elements_text")),
            "object_keys" => format!("SELECT {} AS {}", list("json_srf_keys"), crate::sql::format::quote_ident(alias.unwrap_or(name))),
            "each" => format!("SELECT {} AS key, CAST({} AS {flavor}) AS value", list("json_srf_keys"), list("json_srf_values")),
            "each_text" => format!("SELECT {} AS key, {} AS value", list("json_srf_keys"), list("json_srf_values_text")),
            _ => return None,
        })
    }

    fn is_srf(name: &str) -> bool {
        let base = name.strip_prefix("pg_catalog.").unwrap_or(name);
        (base.starts_with("json_") || base.starts_with("jsonb_"))
            && matches!(
                base.split_once('_').map(|p| p.1),
                Some("array_elements" | "array_elements_text" | "object_keys" | "each" | "each_text")
            )
    }

    fn parse_expr(sql: &str) -> Option<Expr> {
        Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).ok()?.parse_expr().ok()
    }

    /// The single plain argument of a call, as SQL text.
    fn single_arg(args: &[FunctionArg]) -> Option<String> {
        match args {
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e.to_string()),
            _ => None,
        }
    }

    let item = |item: &mut SelectItem| {
        let (expr, unnamed) = match item {
            SelectItem::UnnamedExpr(e) => (e, true),
            SelectItem::ExprWithAlias { expr, .. } => (expr, false),
            _ => return,
        };
        // A bare call is named after its function, as in PostgreSQL.
        let bare = match &*expr {
            Expr::Function(f) if unnamed => Some(crate::sql::names::parts(&f.name).last().cloned().unwrap_or_default()),
            _ => None,
        };
        let mut replaced = false;
        let _ = visit_expressions_mut(expr, |e| {
            if let Expr::Function(f) = e
                && let name = crate::sql::names::parts(&f.name).join(".")
                && is_srf(&name)
                && let FunctionArguments::List(list) = &f.args
                && let Some(arg) = single_arg(&list.args)
                && let Some(sql) = in_select_list(&name, &arg)
                && let Some(new) = parse_expr(&sql)
            {
                *e = new;
                replaced = true;
            }
            ControlFlow::<()>::Continue(())
        });
        if replaced && let Some(name) = bare {
            let expr = expr.clone();
            *item = SelectItem::ExprWithAlias { expr, alias: Ident::new(name) };
        }
    };
    let table = |t: &mut TableFactor| {
        let TableFactor::Table { name, args: Some(args), alias, .. } = t else { return };
        let parts = crate::sql::names::parts(name);
        let Some(fname) = parts.last().filter(|_| parts.len() == 1 || (parts.len() == 2 && parts[0] == "pg_catalog")) else {
            return;
        };
        if !is_srf(fname) {
            return;
        }
        let Some(arg) = single_arg(&args.args) else { return };
        let alias_name = alias.as_ref().map(|a| a.name.value.clone());
        let Some(mut sql) = in_from(fname, &arg, alias_name.as_deref()) else { return };
        // A column in the argument can only be another FROM item's: refuse
        // that clearly rather than as a missing column.
        let mut reads_columns = false;
        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = &args.args[0] {
            let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |x| {
                reads_columns |= matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                ControlFlow::<()>::Continue(())
            });
        }
        if reads_columns {
            sql = format!("SELECT json_srf_lateral('{fname}') AS value");
        }
        let wrapped = format!("SELECT * FROM ({sql}) AS {}", crate::sql::format::quote_ident(fname));
        let Ok(mut parsed) = Parser::parse_sql(&PostgreSqlDialect {}, &wrapped) else { return };
        let Some(Statement::Query(q)) = parsed.pop() else { return };
        let SetExpr::Select(select) = *q.body else { return };
        let Some(from) = select.from.into_iter().next() else { return };
        let mut derived = from.relation;
        if let (TableFactor::Derived { alias: a, .. }, Some(original)) = (&mut derived, alias.take()) {
            *a = Some(original);
        }
        *t = derived;
    };
    visit_select_items_and_tables(stmt, item, table);
}

/// `EXISTS (subquery)` as a value in a select list (`SELECT EXISTS (SELECT …
/// WHERE …) AS anon_1`, SQLAlchemy's `exists()`): DataFusion plans EXISTS only
/// as a filter (a semi join), so in a select list it becomes a count:
///
/// ```text
///   EXISTS (SELECT 1 FROM t WHERE c)   →   (SELECT count(*) FROM t WHERE c) > 0
///   EXISTS (anything else)             →   (SELECT count(*) FROM (anything else) AS exists_rows) > 0
/// ```
///
/// The first form keeps a correlated subquery decorrelatable; it is used only
/// when the subquery's rows are plain (no grouping, DISTINCT, LIMIT, set
/// operation or computed output that could be an aggregate: `EXISTS (SELECT
/// max(x) … WHERE false)` is true, its count of matching rows is not).
/// EXISTS in WHERE is left alone.
fn exists_in_select_lists(stmt: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{Query, SelectItem, SetExpr, VisitMut, VisitorMut, visit_expressions_mut};
    struct Items;
    impl VisitorMut for Items {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Select(select) = q.body.as_mut() {
                for item in &mut select.projection {
                    if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                        let _ = visit_expressions_mut(e, |e| {
                            if let Expr::Exists { subquery, negated } = e {
                                *e = exists_as_count(subquery, *negated);
                            }
                            ControlFlow::<()>::Continue(())
                        });
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Items);
}

fn exists_as_count(subquery: &datafusion::sql::sqlparser::ast::Query, negated: bool) -> Expr {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr, TableFactor};
    let plain_item = |i: &SelectItem| match i {
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => true,
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
            matches!(e, Expr::Value(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        }
        _ => false,
    };
    let plain = match subquery.body.as_ref() {
        SetExpr::Select(s) => {
            s.distinct.is_none()
                && s.having.is_none()
                && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, m) if g.is_empty() && m.is_empty())
                && s.projection.iter().all(plain_item)
                && subquery.limit_clause.is_none()
                && subquery.fetch.is_none()
                && subquery.with.is_none()
        }
        _ => false,
    };
    let parse_query = |sql: &str| match Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("a fixed query parses").pop() {
        Some(Statement::Query(q)) => q,
        _ => unreachable!("a SELECT is a query"),
    };
    let mut count = parse_query("SELECT count(*) FROM (SELECT 1) AS exists_rows");
    if plain {
        let mut q = subquery.clone();
        q.order_by = None;
        if let (SetExpr::Select(s), SetExpr::Select(c)) = (q.body.as_mut(), count.body.as_ref()) {
            s.projection = c.projection.clone();
        }
        count = Box::new(q);
    } else if let SetExpr::Select(c) = count.body.as_mut()
        && let TableFactor::Derived { subquery: inner, .. } = &mut c.from[0].relation
    {
        *inner = Box::new(subquery.clone());
    }
    let zero = Expr::value(Value::Number("0".into(), false));
    let op = if negated { BinaryOperator::Eq } else { BinaryOperator::Gt };
    Expr::Nested(Box::new(Expr::BinaryOp { left: Box::new(Expr::Subquery(count)), op, right: Box::new(zero) }))
}

/// An expression that is an interval by its syntax alone (the rewrite runs before typing).
fn is_interval_expr(e: &Expr) -> bool {
    match e {
        Expr::Interval(_) => true,
        Expr::Cast { data_type: SqlType::Interval { .. }, .. } => true,
        Expr::Nested(inner) => is_interval_expr(inner),
        Expr::Function(f) => names_function(f, "pg_interval_mul") || names_function(f, "make_interval"),
        _ => false,
    }
}

/// A timestamp literal in the full form Arrow's parser takes: PostgreSQL
/// accepts `'2024-03-01 01:00'` (no seconds), `'2024-03-01T01:00'` and more,
/// Arrow only `HH:MM:SS`. None when it is not a plain finite timestamp.
fn canonical_timestamp(text: &str) -> Option<String> {
    let micros = crate::pg::datetime::parse_timestamp(text)?;
    let s = crate::pg::datetime::format_timestamp(micros);
    (s.as_bytes().first().is_some_and(u8::is_ascii_digit) && !s.ends_with("BC")).then_some(s)
}

fn is_timestamptz(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Timestamp(
            _,
            datafusion::sql::sqlparser::ast::TimezoneInfo::Tz | datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone
        )
    )
}

fn is_plain_timestamp(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Timestamp(
            _,
            datafusion::sql::sqlparser::ast::TimezoneInfo::None | datafusion::sql::sqlparser::ast::TimezoneInfo::WithoutTimeZone
        )
    )
}

/// PostgreSQL's SIMILAR TO pattern as an anchored regular expression (what
/// its `similar_to_escape` does): `%` is `.*`, `_` is `.`, `|`, `*`, `+`,
/// `?`, `{…}`, `(…)` and `[…]` keep their regex meaning, other regex
/// characters are literal, and `escape` (a backslash by default) makes the
/// next character literal. DataFusion's SIMILAR TO reads the pattern as a
/// regex as it stands, so `'(a|b)%'` matched nothing: a wrong answer.
fn similar_to_regex(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(n) = chars.next() {
                out.push_str(&regex_literal(n));
            }
            continue;
        }
        if in_class {
            out.push(c);
            in_class = c != ']';
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '[' => {
                in_class = true;
                out.push(c)
            }
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' | ',' => out.push(c),
            _ => out.push_str(&regex_literal(c)),
        }
    }
    out.push_str(")$");
    out
}

/// `c` as a regex matching itself (the characters `regex::escape` escapes).
fn regex_literal(c: char) -> String {
    if "\\.+*?()|[]{}^$#&-~".contains(c) { format!("\\{c}") } else { c.to_string() }
}

fn rewrite_expr(e: &mut Expr) {
    match e {
        Expr::AnyOp { .. } | Expr::AllOp { .. } => {
            if let Some(in_list) = untyped_array_comparison(e) {
                *e = in_list;
            }
        }
        Expr::SimilarTo { negated, expr, pattern, escape_char, .. }
            if matches!(pattern.as_ref(), Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(_), .. })) =>
        {
            let escape = match escape_char {
                None => Some('\\'),
                Some(ValueWithSpan { value: Value::SingleQuotedString(s), .. }) => s.chars().next(),
                Some(_) => return,
            };
            let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(p), .. }) = pattern.as_ref() else { unreachable!() };
            let regex = Expr::value(Value::SingleQuotedString(similar_to_regex(p, escape)));
            let op = if *negated { BinaryOperator::PGRegexNotMatch } else { BinaryOperator::PGRegexMatch };
            let subject = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
            *e = Expr::BinaryOp { left: Box::new(subject), op, right: Box::new(regex) };
        }
        Expr::TypedString(t) if is_timestamptz(&t.data_type) => {
            // timestamptz '2024-01-03 00:00': read in the session's TimeZone.
            if let Value::SingleQuotedString(v) = &t.value.value {
                *e = call("pg_timestamptz_in", vec![Expr::value(Value::SingleQuotedString(v.clone()))]);
            }
        }
        Expr::TypedString(t) if is_plain_timestamp(&t.data_type) => {
            if let Value::SingleQuotedString(v) = &mut t.value.value
                && let Some(c) = canonical_timestamp(v)
            {
                *v = c;
            }
        }
        Expr::Interval(iv) if without_qualifier(iv) && is_string_literal(&iv.value) => {
            // interval '3 days 04:05:06': a cast, which sql::text_input reads as PostgreSQL does.
            let value = std::mem::replace(iv.value.as_mut(), Expr::value(Value::Null));
            *e = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(value),
                data_type: SqlType::Interval { fields: None, precision: None },
                array: false,
                format: None,
            };
        }
        Expr::Collate { expr, .. } => {
            let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
            *e = inner;
        }
        Expr::Cast { kind, expr, data_type, .. } if matches!(kind, CastKind::DoubleColon | CastKind::Cast) => {
            if let SqlType::Array(elem) = data_type
                && (is_string_literal(expr) || matches!(expr.as_ref(), Expr::Value(ValueWithSpan { value: Value::Placeholder(_), .. })))
            {
                // `'{a,b}'::text[]`, `$1::int[]`: parse the array literal (see pg_array_in).
                let elem = match elem {
                    datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(t, _)
                    | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::AngleBracket(t)
                    | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::Parenthesis(t) => Some(t.to_string()),
                    datafusion::sql::sqlparser::ast::ArrayElemTypeDef::None => None,
                };
                if let Some(elem) = elem {
                    let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                    *e = call("pg_array_in", vec![inner, Expr::value(Value::SingleQuotedString(elem))]);
                }
                return;
            }
            // '2024-03-01 01:00+09'::timestamptz: read in the session's TimeZone.
            if is_timestamptz(data_type)
                && let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(v), .. }) = expr.as_ref()
            {
                *e = call("pg_timestamptz_in", vec![Expr::value(Value::SingleQuotedString(v.clone()))]);
                return;
            }
            // '2024-03-01 01:00'::timestamp: the literal in Arrow's form.
            if is_plain_timestamp(data_type)
                && let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(v), .. }) = expr.as_mut()
            {
                if let Some(c) = canonical_timestamp(v) {
                    *v = c;
                }
                return;
            }
            // Character types with a length: DataFusion has none; explicit casts truncate.
            use datafusion::sql::sqlparser::ast::CharacterLength;
            let length = |l: &Option<CharacterLength>| match l {
                Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
                _ => None,
            };
            let (func, len) = match data_type {
                SqlType::Varchar(l) | SqlType::CharacterVarying(l) | SqlType::CharVarying(l) => ("pg_varchar", length(l)),
                SqlType::Char(l) | SqlType::Character(l) => ("pg_bpchar", length(l).or(Some(1))),
                _ => ("", None),
            };
            if let Some(n) = len {
                let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                *e = call(func, vec![inner, Expr::value(Value::Number(n.to_string(), false))]);
                return;
            }
            match data_type {
                SqlType::CharacterVarying(None) | SqlType::CharVarying(None) => *data_type = SqlType::Varchar(None),
                SqlType::Timestamp(Some(_), tz) => *data_type = SqlType::Timestamp(None, *tz),
                SqlType::Time(Some(_), tz) => *data_type = SqlType::Time(None, *tz),
                SqlType::Double(_) => *data_type = SqlType::DoublePrecision,
                _ => {}
            }
            let Some(t) = custom_type(data_type) else { return };
            let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
            let literal = is_string_literal(&inner);
            // A parameter cast to regclass is a name coming in, as a literal is
            // (drivers bind `CAST(%(name)s AS REGCLASS)` to compare with oids).
            let input = literal || matches!(&inner, Expr::Value(ValueWithSpan { value: Value::Placeholder(_), .. }));
            *e = match t.as_str() {
                "regclass" => call(if input { "regclass_in" } else { "regclass_out" }, vec![inner]),
                "regtype" => call(if literal { "regtype_in" } else { "regtype_out" }, vec![inner]),
                "regnamespace" => call("regnamespace_out", vec![inner]),
                "regproc" | "regprocedure" => call("regproc_out", vec![inner]),
                // `x::regclass::oid` names a relation by oid or by name: the
                // inner cast became regclass_out(x) (oid to name), which here
                // turns into the lookup that takes either.
                "oid" if regclass_out_arg(&inner).is_some() => call("regclass_in", vec![regclass_out_arg(&inner).unwrap()]),
                "oid" | "xid" | "regrole" | "cid" => call("pg_oid", vec![inner]),
                "name" => call("pg_name", vec![inner]),
                "char" | "\"char\"" => call("pg_char", vec![inner]),
                "pg_lsn" => call("pg_lsn", vec![inner]),
                "uuid" => call("pg_uuid", vec![inner]),
                "jsonb" => call("pg_jsonb", vec![inner]),
                "json" => call("pg_json", vec![inner]),
                "int2vector" | "oidvector" | "aclitem" | "pg_node_tree" | "anyarray" => inner,
                other => {
                    // `pg_catalog.text`, `int4`…: a standard type under another spelling.
                    if let Some(std) = standard_type(other) {
                        *data_type = std;
                    }
                    // Otherwise unknown to us too: DataFusion reports it.
                    *expr = Box::new(inner);
                    return;
                }
            };
        }
        Expr::BinaryOp { op, left, right } => {
            if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                let sym = parts.last().cloned().unwrap_or_default();
                if let Some(std) = standard_operator(&sym) {
                    *op = std;
                }
            }
            match op {
                // json operators become calls (see sql::json_functions).
                BinaryOperator::Arrow
                | BinaryOperator::LongArrow
                | BinaryOperator::HashArrow
                | BinaryOperator::HashLongArrow
                | BinaryOperator::AtArrow
                | BinaryOperator::ArrowAt
                | BinaryOperator::Question
                | BinaryOperator::QuestionPipe
                | BinaryOperator::QuestionAnd => {
                    let (f, swap) = match op {
                        BinaryOperator::Arrow => ("json_get", false),
                        BinaryOperator::LongArrow => ("json_get_text", false),
                        BinaryOperator::HashArrow => ("json_path", false),
                        BinaryOperator::HashLongArrow => ("json_path_text", false),
                        BinaryOperator::AtArrow => ("jsonb_contains", false),
                        BinaryOperator::ArrowAt => ("jsonb_contains", true),
                        BinaryOperator::Question => ("jsonb_exists", false),
                        BinaryOperator::QuestionPipe => ("jsonb_exists_any", false),
                        _ => ("jsonb_exists_all", false),
                    };
                    let l = std::mem::replace(left.as_mut(), Expr::value(Value::Null));
                    let r = std::mem::replace(right.as_mut(), Expr::value(Value::Null));
                    *e = call(f, if swap { vec![r, l] } else { vec![l, r] });
                }
                // `n * INTERVAL '1 minute'`, `INTERVAL '1 day' / 4` (see sql::interval_arith).
                BinaryOperator::Multiply | BinaryOperator::Divide if is_interval_expr(left) || is_interval_expr(right) => {
                    let divide = matches!(op, BinaryOperator::Divide);
                    let l = std::mem::replace(left.as_mut(), Expr::value(Value::Null));
                    let r = std::mem::replace(right.as_mut(), Expr::value(Value::Null));
                    let (interval, factor) = if is_interval_expr(&l) { (l, r) } else { (r, l) };
                    if divide && !is_interval_expr(&interval) {
                        return;
                    }
                    let factor = if divide {
                        Expr::BinaryOp {
                            left: Box::new(Expr::value(Value::Number("1.0".into(), false))),
                            op: BinaryOperator::Divide,
                            right: Box::new(factor),
                        }
                    } else {
                        factor
                    };
                    *e = call("pg_interval_mul", vec![interval, factor]);
                }
                _ => {}
            }
        }
        Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. }
            if escape_char.as_ref().is_some_and(|c| !matches!(&c.value, Value::SingleQuotedString(s) if s == "\\")) =>
        {
            let esc = escape_char.take().unwrap();
            let p = std::mem::replace(pattern.as_mut(), Expr::value(Value::Null));
            **pattern = call("pg_like_escape", vec![p, Expr::Value(esc)]);
        }
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("array") && matches!(f.args, FunctionArguments::Subquery(_)) => {
            // ARRAY(SELECT x … ORDER BY k) → (SELECT array_agg(x ORDER BY k) …).
            // (No rows gives NULL here where PostgreSQL gives '{}'.)
            let FunctionArguments::Subquery(q) = &f.args else { unreachable!() };
            let mut q = q.as_ref().clone();
            let order = q.order_by.take();
            let SetExpr::Select(sel) = q.body.as_mut() else { return };
            if sel.projection.len() != 1 {
                return;
            }
            let value = match &sel.projection[0] {
                SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. } => x.clone(),
                _ => return,
            };
            let mut clauses = vec![];
            if let Some(OrderBy { kind: OrderByKind::Expressions(mut exprs), .. }) = order {
                for o in exprs.iter_mut() {
                    if matches!(&o.expr, Expr::Value(ValueWithSpan { value: Value::Number(n, _), .. }) if n == "1") {
                        o.expr = value.clone();
                    }
                }
                clauses.push(FunctionArgumentClause::OrderBy(exprs));
            }
            let mut agg = call("array_agg", vec![value]);
            if let Expr::Function(Function { args: FunctionArguments::List(l), .. }) = &mut agg {
                l.clauses = clauses;
            }
            sel.projection = vec![SelectItem::UnnamedExpr(agg)];
            *e = Expr::Subquery(Box::new(q));
        }
        Expr::Function(f) if names_function(f, "pg_partition_ancestors") => {
            // No table is partitioned: a relation's only ancestor is itself (a set of one row).
            if let FunctionArguments::List(list) = &f.args
                && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(rel))] = list.args.as_slice()
            {
                *e = call("unnest", vec![call("make_array", vec![call("pg_oid", vec![rel.clone()])])]);
            }
        }
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("generate_subscripts") => {
            // generate_subscripts(a, d) in a select list: the subscripts of `a`,
            // in step with an unnest(a) beside it.
            if let FunctionArguments::List(list) = &f.args
                && list.args.len() == 2
                && let (FunctionArg::Unnamed(FunctionArgExpr::Expr(arr)), FunctionArg::Unnamed(FunctionArgExpr::Expr(dim))) =
                    (&list.args[0], &list.args[1])
            {
                let len = call("array_length", vec![arr.clone(), dim.clone()]);
                *e = call("unnest", vec![call("generate_series", vec![Expr::value(Value::Number("1".into(), false)), len])]);
            }
        }
        Expr::Function(f) if names_function(f, "make_interval") => {
            // Named arguments become positional ones, the gaps filled with 0
            // (every parameter has that default; see sql::make_interval).
            if let FunctionArguments::List(list) = &mut f.args
                && let Some(args) = positional_make_interval(&list.args)
            {
                list.args = args;
            }
        }
        Expr::Function(f) if names_function(f, "mod") => {
            // mod(a, b) is PostgreSQL's spelling of a % b (same types, same division-by-zero error).
            if let FunctionArguments::List(list) = &f.args
                && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(a)), FunctionArg::Unnamed(FunctionArgExpr::Expr(b))] =
                    list.args.as_slice()
            {
                let nested = |x: &Expr| Box::new(Expr::Nested(Box::new(x.clone())));
                *e = Expr::BinaryOp { left: nested(a), op: BinaryOperator::Modulo, right: nested(b) };
            }
        }
        Expr::Function(f) => {
            // pg_catalog.func(…) → func(…)
            if f.name.0.len() == 2
                && let ObjectNamePart::Identifier(schema) = &f.name.0[0]
                && schema.value.eq_ignore_ascii_case("pg_catalog")
            {
                f.name.0.remove(0);
            }
            // PostgreSQL's historical name for the sample variance.
            if names_function(f, "variance") {
                f.name = ObjectName::from(vec![Ident::new("var_samp")]);
            }
            // sign() is DataFusion's signum (-1, 0 or 1; NULL stays NULL).
            if names_function(f, "sign") {
                f.name = ObjectName::from(vec![Ident::new("signum")]);
            }
            // json_agg(x [ORDER BY …]) → json_agg_finish(array_agg(to_json(x) [ORDER BY …])):
            // array_agg keeps the order, the NULLs, DISTINCT, FILTER and OVER.
            for (agg, element, finish) in [("json_agg", "to_json", "json_agg_finish"), ("jsonb_agg", "to_jsonb", "jsonb_agg_finish")] {
                if names_function(f, agg)
                    && let FunctionArguments::List(list) = &f.args
                    && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] = list.args.as_slice()
                {
                    let mut inner = f.clone();
                    inner.name = ObjectName::from(vec![Ident::new("array_agg")]);
                    if let FunctionArguments::List(l) = &mut inner.args {
                        l.args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(call(element, vec![x.clone()])))];
                    }
                    *e = call(finish, vec![Expr::Function(inner)]);
                    return;
                }
            }
            // json_object_agg(k, v …) likewise, over `"k" : v` pairs.
            for (agg, finish) in [("json_object_agg", "json_object_agg_finish"), ("jsonb_object_agg", "jsonb_object_agg_finish")] {
                if names_function(f, agg)
                    && let FunctionArguments::List(list) = &f.args
                    && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(k)), FunctionArg::Unnamed(FunctionArgExpr::Expr(v))] =
                        list.args.as_slice()
                {
                    let mut inner = f.clone();
                    inner.name = ObjectName::from(vec![Ident::new("array_agg")]);
                    if let FunctionArguments::List(l) = &mut inner.args {
                        l.args =
                            vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(call("json_object_agg_pair", vec![k.clone(), v.clone()])))];
                    }
                    *e = call(finish, vec![Expr::Function(inner)]);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// `make_interval`'s arguments in parameter order when some are named; None
/// when none are, or a name is unknown or repeated, or a positional argument
/// follows a named one (DataFusion reports those with PostgreSQL's codes).
fn positional_make_interval(args: &[FunctionArg]) -> Option<Vec<FunctionArg>> {
    use crate::sql::make_interval::PARAMETERS;
    let mut slots: Vec<Option<FunctionArgExpr>> = vec![None; PARAMETERS.len()];
    let mut named = false;
    for (i, a) in args.iter().enumerate() {
        // `name => v` parses as named; `name := v` as an assignment expression.
        let (name, value) = match a {
            FunctionArg::Named { name, arg, .. } => (Some(name), arg.clone()),
            FunctionArg::ExprNamed { name: Expr::Identifier(name), arg, .. } => (Some(name), arg.clone()),
            FunctionArg::ExprNamed { .. } => return None,
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp { left, op: BinaryOperator::Assignment, right })) => match &**left {
                Expr::Identifier(name) => (Some(name), FunctionArgExpr::Expr((**right).clone())),
                _ => return None,
            },
            FunctionArg::Unnamed(v) => (None, v.clone()),
        };
        let at = match name {
            Some(name) => {
                named = true;
                PARAMETERS.iter().position(|p| name.value.eq_ignore_ascii_case(p))?
            }
            None if named => return None, // positional after named: refused
            None => i,
        };
        if at >= slots.len() || slots[at].is_some() {
            return None;
        }
        slots[at] = Some(value);
    }
    if !named {
        return None;
    }
    let given = slots.iter().rposition(Option::is_some)? + 1;
    let zero = || FunctionArgExpr::Expr(Expr::value(Value::Number("0".into(), false)));
    Some(slots.into_iter().take(given).map(|s| FunctionArg::Unnamed(s.unwrap_or_else(zero))).collect())
}

/// Is `f` a call of `name` (optionally `pg_catalog.`-qualified)?
/// `x` of a `regclass_out(x)` call.
fn regclass_out_arg(e: &Expr) -> Option<Expr> {
    let Expr::Function(f) = e else { return None };
    if !names_function(f, "regclass_out") {
        return None;
    }
    match &f.args {
        FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn names_function(f: &Function, name: &str) -> bool {
    let p = crate::sql::names::parts(&f.name);
    p.last().is_some_and(|n| n == name) && (p.len() == 1 || (p.len() == 2 && p[0] == "pg_catalog"))
}

fn standard_operator(sym: &str) -> Option<BinaryOperator> {
    Some(match sym {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "~~" => return None,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn splits_respecting_quotes_and_comments() {
        assert_eq!(texts("SELECT 1; SELECT 'a;b'"), vec!["SELECT 1", "SELECT 'a;b'"]);
        assert_eq!(texts("SELECT $$x;y$$; SELECT 2;"), vec!["SELECT $$x;y$$", "SELECT 2"]);
        assert_eq!(texts("-- c;\nSELECT 1 /* ; */"), vec!["-- c;\nSELECT 1 /* ; */"]);
        assert_eq!(texts("SELECT \"a;\" FROM t; ;"), vec!["SELECT \"a;\" FROM t"]);
        assert_eq!(texts("SELECT E'it\\'s;'"), vec!["SELECT E'it\\'s;'"]);
        assert!(texts("  ;  ").is_empty());
        assert_eq!(split("SELECT 1;  SELECT 2")[1].offset, 11);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let piece = Piece { text: "SELEC 1".into(), offset: 0 };
        let Err(e) = parse(&piece) else { panic!() };
        assert_eq!(e.code, "42601");
        assert!(e.message.contains("SELEC"), "{}", e.message);
        assert_eq!(e.position, Some(1));
        let piece = Piece { text: "SELECT * FROM".into(), offset: 10 };
        let Err(e) = parse(&piece) else { panic!() };
        assert_eq!(e.message, "syntax error at end of input");
    }

    #[test]
    fn rewrites_pg_only_syntax() {
        // The rewrite alone (parse() also names the outputs, see colnames).
        let sql = |s: &str| {
            let mut st = Parser::parse_sql(&PostgreSqlDialect {}, s).unwrap().pop().unwrap();
            rewrite(&mut st);
            st.to_string()
        };
        assert_eq!(sql("SELECT 't'::regclass"), "SELECT regclass_in('t')");
        assert_eq!(sql("SELECT c.oid::regclass FROM pg_class c"), "SELECT regclass_out(c.oid) FROM pg_class c");
        assert_eq!(sql("SELECT CAST(CAST(f(x) AS REGCLASS) AS OID)"), "SELECT regclass_in(f(x))");
        assert_eq!(sql("SELECT 1 WHERE c = CAST($1 AS REGCLASS)"), "SELECT 1 WHERE c = regclass_in($1)");
        assert_eq!(sql("SELECT a OPERATOR(pg_catalog.~) '^x$' COLLATE pg_catalog.default"), "SELECT a ~ '^x$'");
        assert_eq!(sql("SELECT pg_catalog.format_type(1, 2)"), "SELECT format_type(1, 2)");
        assert_eq!(sql("SELECT d ->> 'a'"), "SELECT json_get_text(d, 'a')");
        assert_eq!(sql("SELECT '0/16B3740'::pg_lsn"), "SELECT pg_lsn('0/16B3740')");
        assert_eq!(sql("SELECT 3 * INTERVAL '1 minute'"), "SELECT pg_interval_mul(CAST('1 minute' AS INTERVAL), 3)");
        assert_eq!(sql("SELECT '1 day'::interval / 4"), "SELECT pg_interval_mul('1 day'::INTERVAL, 1.0 / 4)");
        assert_eq!(sql("SELECT 3 / 4"), "SELECT 3 / 4");
        assert_eq!(sql("SELECT a FROM t ORDER BY a FETCH FIRST 2 ROWS ONLY"), "SELECT a FROM t ORDER BY a LIMIT 2");
        assert_eq!(sql("SELECT a FROM t OFFSET 5 ROWS FETCH NEXT ROW ONLY"), "SELECT a FROM t LIMIT 1 OFFSET 5 ROWS");
        assert_eq!(sql("SELECT (SELECT b FROM u FETCH FIRST 1 ROWS ONLY) FROM t"), "SELECT (SELECT b FROM u LIMIT 1) FROM t");
        assert_eq!(sql("SELECT a FROM t FETCH FIRST 2 ROWS WITH TIES"), "SELECT a FROM t FETCH FIRST 2 ROWS WITH TIES");
        assert_eq!(sql("SELECT g FROM generate_series(1, 3) g"), "SELECT g FROM generate_series(1, 3) g (g)");
        assert_eq!(sql("SELECT generate_series(1, 3)"), "SELECT unnest(generate_series(1, 3)) AS generate_series");
        assert_eq!(sql("SELECT generate_series(1, 3) AS n"), "SELECT unnest(generate_series(1, 3)) AS n");
        assert_eq!(sql("SELECT x FROM generate_series(1, 3) AS g (x)"), "SELECT x FROM generate_series(1, 3) AS g (x)");
        assert_eq!(sql("SELECT a::pg_catalog.text"), "SELECT a::TEXT");
        assert_eq!(sql("SELECT $1::int[]"), "SELECT pg_array_in($1, 'INT')");
        assert_eq!(sql("SELECT 'abc'::varchar(2)"), "SELECT pg_varchar('abc', 2)");
        assert_eq!(sql("SELECT a LIKE 'x/_%' ESCAPE '/'"), "SELECT a LIKE pg_like_escape('x/_%', '/')");
        assert_eq!(sql("SELECT mod(a, 3)"), "SELECT (a) % (3)");
        assert_eq!(sql("SELECT a SIMILAR TO '(a|b)%'"), "SELECT a ~ '^(?:(a|b).*)$'");
        assert_eq!(sql("SELECT a NOT SIMILAR TO 'x._\\%[a-c.]$' ESCAPE '\\'"), "SELECT a !~ '^(?:x\\..%[a-c.]\\$)$'");
        assert_eq!(
            sql("SELECT TIMESTAMP '2024-03-01 1:00', '2024-03-01T01:00:05.5'::timestamp"),
            "SELECT TIMESTAMP '2024-03-01 01:00:00', '2024-03-01 01:00:05.5'::TIMESTAMP"
        );
        assert_eq!(
            sql("SELECT EXISTS (SELECT 1 FROM t WHERE t.a = u.b ORDER BY 1) FROM u"),
            "SELECT ((SELECT count(*) FROM t WHERE t.a = u.b) > 0) FROM u"
        );
        assert_eq!(
            sql("SELECT NOT EXISTS (SELECT max(a) FROM t)"),
            "SELECT ((SELECT count(*) FROM (SELECT max(a) FROM t) AS exists_rows) = 0)"
        );
        assert_eq!(sql("SELECT 1 WHERE EXISTS (SELECT 1 FROM t)"), "SELECT 1 WHERE EXISTS (SELECT 1 FROM t)");
    }

    #[test]
    fn copy_options_take_any_boolean_spelling() {
        assert_eq!(
            normalize_copy_options("copy pgbench_accounts from stdin with (freeze on)").as_deref(),
            Some("copy pgbench_accounts from stdin with (freeze TRUE)")
        );
        assert_eq!(
            normalize_copy_options("COPY t FROM STDIN (FORMAT csv, HEADER 1)").as_deref(),
            Some("COPY t FROM STDIN (FORMAT csv, HEADER TRUE)")
        );
        assert_eq!(normalize_copy_options("COPY t FROM STDIN (FORMAT csv, HEADER true)"), None);
        assert_eq!(normalize_copy_options("SELECT 'on'"), None);
        assert!(matches!(parse(&Piece { text: "copy t from stdin with (freeze on)".into(), offset: 0 }), Ok(Parsed::Sql(_))));
    }

    #[test]
    fn overriding_rides_on_the_insert() {
        let insert = |text: &str| match parse(&Piece { text: text.into(), offset: 0 }) {
            Ok(Parsed::Sql(s)) => match *s {
                Statement::Insert(i) => i,
                other => panic!("{other}"),
            },
            _ => panic!("{text} does not parse"),
        };
        assert_eq!(overriding(&insert("INSERT INTO t (a) OVERRIDING SYSTEM VALUE VALUES (1)")), Some(Overriding::System));
        assert_eq!(overriding(&insert("insert into t overriding user value select 1")), Some(Overriding::User));
        assert_eq!(overriding(&insert("INSERT INTO t VALUES ('OVERRIDING SYSTEM VALUE')")), None);
        // Blanked, not removed: an error further on points where it did.
        let (text, _) = strip_overriding("INSERT INTO t OVERRIDING SYSTEM VALUE VALUES (1,,)").unwrap();
        assert_eq!(text.len(), "INSERT INTO t OVERRIDING SYSTEM VALUE VALUES (1,,)".len());
        let Err(e) = parse(&Piece { text: "INSERT INTO t OVERRIDING SYSTEM VALUE VALUES (1,,)".into(), offset: 0 }) else { panic!() };
        assert_eq!(e.position, Some(49)); // the second comma
        // Only an INSERT's clause is taken out.
        assert!(strip_overriding("SELECT overriding system value").is_none());
    }

    #[test]
    fn special_commands() {
        assert_eq!(
            special("WAIT FOR LSN '0/16B3740' WITH (TIMEOUT '5s')").unwrap(),
            Some(Special::WaitForLsn { lsn: "0/16B3740".into(), timeout_ms: Some(5000) })
        );
        assert_eq!(special("wait for lsn '0/1'").unwrap(), Some(Special::WaitForLsn { lsn: "0/1".into(), timeout_ms: None }));
        assert_eq!(
            special("VACUUM ANALYZE pgbench_branches").unwrap(),
            Some(Special::Vacuum { tables: vec!["pgbench_branches".into()], analyze: true })
        );
        assert_eq!(
            special("ALTER SYSTEM SET work_mem = '8MB'").unwrap(),
            Some(Special::AlterSystem { name: "work_mem".into(), value: Some("8MB".into()) })
        );
        assert_eq!(special("SELECT 1").unwrap(), None);
        assert!(special("WAIT FOR x").is_err());
    }
}

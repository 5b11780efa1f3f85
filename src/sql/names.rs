//! Identifiers as PostgreSQL treats them: unquoted names fold to lower case,
//! quoted names keep their case, names are at most 63 bytes, and `a.b`
//! qualifies `b` by schema `a`.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::error::{SqlError, SqlResult};

/// The name an identifier denotes (folded unless quoted, cut to 63 bytes).
pub fn ident(i: &Ident) -> String {
    let s = if i.quote_style.is_some() { i.value.clone() } else { i.value.to_lowercase() };
    duetdb_storage::catalog::truncate_identifier(&s)
}

/// The parts of an object name.
pub fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect()
}

/// (schema, name) of a possibly qualified name; the schema defaults to `public`.
/// A database qualifier (`db.schema.name`) is accepted and ignored.
pub fn qualified(name: &ObjectName) -> SqlResult<(String, String)> {
    let p = parts(name);
    match p.as_slice() {
        [n] => Ok(("public".into(), n.clone())),
        [s, n] => Ok((s.clone(), n.clone())),
        [_, s, n] => Ok((s.clone(), n.clone())),
        _ => Err(SqlError::syntax(format!("improper qualified name (too many dotted names): {name}"))),
    }
}

/// The last part of a name (the object itself).
pub fn last(name: &ObjectName) -> String {
    parts(name).pop().unwrap_or_default()
}

/// Splits `schema.name`, `"Quoted"."Name"` text (as in `'t'::regclass`).
pub fn split_qualified(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                out.push(if was_quoted { std::mem::take(&mut cur) } else { std::mem::take(&mut cur).to_lowercase() });
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    out.push(if was_quoted { cur } else { cur.to_lowercase() });
    out
}

/// Keywords that must be quoted when used as identifiers (PostgreSQL's reserved set).
pub fn is_reserved(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ];
    RESERVED.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_regclass_input() {
        assert_eq!(split_qualified("public.Foo"), vec!["public", "foo"]);
        assert_eq!(split_qualified("\"My.Table\""), vec!["My.Table"]);
        assert_eq!(split_qualified("s.\"A\"\"b\""), vec!["s", "A\"b"]);
    }
}

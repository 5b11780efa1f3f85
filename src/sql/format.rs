//! PostgreSQL's `format(template, args…)`.
//!
//! A template is text with conversions, each
//! `%[position$][-][width]type`:
//!
//! ```text
//!   %s   the argument's text (NULL → empty)
//!   %I   an SQL identifier, quoted where needed (NULL → error 22004)
//!   %L   an SQL literal, quoted (NULL → NULL unquoted)
//!   %%   a percent sign
//! ```
//!
//! Arguments are taken in order; `n$` takes the n-th and the next one in
//! order is then n+1. A width pads to that many characters, on the left, or
//! on the right with `-`; `*` (or `*n$`) reads the width from an argument, a
//! negative one meaning `-`. Arguments arrive as PostgreSQL's text of each
//! value (None for NULL).

use crate::error::SqlError;

/// Renders `template` with `args` (each argument's text, None for NULL).
pub fn format(template: &str, args: &[Option<String>]) -> Result<String, SqlError> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next_arg = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let spec = Spec::read(&mut chars)?;
        let mut left = spec.left;
        let width = match spec.width {
            Width::None => None,
            Width::Fixed(w) => Some(w),
            Width::FromArg(pos) => {
                let i = pos.unwrap_or(next_arg);
                next_arg = i + 1;
                let w = arg(args, i)?.as_deref().map_or(Ok(0), |s| {
                    s.trim().parse::<i64>().map_err(|_| SqlError::new("22P02", format!("invalid input syntax for type integer: \"{s}\"")))
                })?;
                left |= w < 0;
                Some(w.unsigned_abs() as usize)
            }
        };
        let i = spec.position.unwrap_or(next_arg);
        next_arg = i + 1;
        let value = arg(args, i)?;
        let text = match (spec.kind, value) {
            ('s', v) => v.clone().unwrap_or_default(),
            ('I', Some(v)) => quote_ident(v),
            ('I', None) => return Err(SqlError::new("22004", "null values cannot be formatted as an SQL identifier")),
            ('L', Some(v)) => quote_literal(v),
            ('L', None) => "NULL".to_string(),
            _ => unreachable!("Spec::read accepts only s, I and L"),
        };
        let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&text);
        }
    }
    Ok(out)
}

fn arg(args: &[Option<String>], i: usize) -> Result<&Option<String>, SqlError> {
    args.get(i).ok_or_else(|| SqlError::new("22023", "too few arguments for format()"))
}

enum Width {
    None,
    Fixed(usize),
    /// `*` (the next argument) or `*n$`.
    FromArg(Option<usize>),
}

struct Spec {
    position: Option<usize>,
    left: bool,
    width: Width,
    kind: char,
}

impl Spec {
    /// Reads what follows a `%`.
    fn read(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Spec, SqlError> {
        let unterminated = || SqlError::new("22023", "unterminated format() type specifier").with_hint("For a single \"%\" use \"%%\".");
        let mut spec = Spec { position: None, left: false, width: Width::None, kind: 's' };
        // A leading number is a position if `$` follows, else a width.
        if let Some(n) = digits(chars)? {
            if chars.peek() == Some(&'$') {
                chars.next();
                spec.position = Some(position(n)?);
            } else {
                spec.width = Width::Fixed(n);
            }
        }
        if matches!(spec.width, Width::None) {
            while chars.peek() == Some(&'-') {
                chars.next();
                spec.left = true;
            }
            if chars.peek() == Some(&'*') {
                chars.next();
                let from = match digits(chars)? {
                    Some(n) if chars.next_if_eq(&'$').is_some() => Some(position(n)?),
                    Some(_) => return Err(unterminated()),
                    None => None,
                };
                spec.width = Width::FromArg(from);
            } else if let Some(n) = digits(chars)? {
                spec.width = Width::Fixed(n);
            }
        }
        spec.kind = chars.next().ok_or_else(unterminated)?;
        if !matches!(spec.kind, 's' | 'I' | 'L') {
            return Err(SqlError::new("22023", format!("unrecognized format() type specifier \"{}\"", spec.kind))
                .with_hint("For a single \"%\" use \"%%\"."));
        }
        Ok(spec)
    }
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Option<usize>, SqlError> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some(
            n.unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(d as usize))
                .filter(|n| *n <= i32::MAX as usize)
                .ok_or_else(|| SqlError::new("22003", "number is out of range"))?,
        );
    }
    Ok(n)
}

/// A 1-based argument position as an index.
fn position(n: usize) -> Result<usize, SqlError> {
    n.checked_sub(1).ok_or_else(|| SqlError::new("22023", "format specifies argument 0, but arguments are numbered from 1"))
}

/// `quote_ident`: double quotes unless the name is a plain lower-case identifier.
pub fn quote_ident(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !crate::sql::names::is_reserved(s);
    if plain { s.to_string() } else { format!("\"{}\"", s.replace('"', "\"\"")) }
}

/// `quote_literal`: single quotes doubled; with a backslash, an E'' string.
pub fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') { format!("E'{}'", body.replace('\\', "\\\\")) } else { format!("'{body}'") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(template: &str, args: &[Option<&str>]) -> Result<String, String> {
        let args: Vec<Option<String>> = args.iter().map(|a| a.map(str::to_string)).collect();
        format(template, &args).map_err(|e| format!("{} {}", e.code, e.message))
    }

    #[test]
    fn formats_as_postgres() {
        // PostgreSQL 15's answers
        assert_eq!(f("Hello %s", &[Some("World")]).unwrap(), "Hello World");
        assert_eq!(f("%s-%s", &[Some("a"), Some("1")]).unwrap(), "a-1");
        assert_eq!(
            f("INSERT INTO %I VALUES(%L)", &[Some("Foo bar"), Some("O'Reilly")]).unwrap(),
            "INSERT INTO \"Foo bar\" VALUES('O''Reilly')"
        );
        assert_eq!(f("%L", &[Some("C:\\x")]).unwrap(), "E'C:\\\\x'");
        assert_eq!(f("%s|%L|%I", &[None, None, Some("ok")]).unwrap(), "|NULL|ok");
        assert_eq!(f("|%10s|%-10s|", &[Some("foo"), Some("bar")]).unwrap(), "|       foo|bar       |");
        assert_eq!(f("|%*s|%-*s|", &[Some("5"), Some("x"), Some("-4"), Some("y")]).unwrap(), "|    x|y   |");
        assert_eq!(f("%2$s %1$s %s", &[Some("a"), Some("b")]).unwrap(), "b a b");
        assert_eq!(f("%1$s %s", &[Some("a"), Some("b")]).unwrap(), "a b");
        assert_eq!(f("100%%", &[]).unwrap(), "100%");
        assert_eq!(f("%I", &[Some("select")]).unwrap(), "\"select\"");
        assert_eq!(f("%I", &[Some("ok_1")]).unwrap(), "ok_1");
        assert_eq!(f("%s", &[Some("héllo")]).unwrap(), "héllo");
        assert_eq!(f("|%6s|", &[Some("héllo")]).unwrap(), "| héllo|");
    }

    #[test]
    fn bad_templates_are_errors() {
        assert_eq!(f("%s %s", &[Some("a")]).unwrap_err(), "22023 too few arguments for format()");
        assert_eq!(f("%", &[]).unwrap_err(), "22023 unterminated format() type specifier");
        assert_eq!(f("%d", &[Some("1")]).unwrap_err(), "22023 unrecognized format() type specifier \"d\"");
        assert_eq!(f("%I", &[None]).unwrap_err(), "22004 null values cannot be formatted as an SQL identifier");
        assert_eq!(f("%0$s", &[Some("a")]).unwrap_err(), "22023 format specifies argument 0, but arguments are numbered from 1");
        assert_eq!(f("%99999999999999999999s", &[Some("a")]).unwrap_err(), "22003 number is out of range");
    }
}

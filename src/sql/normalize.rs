//! Literal normalisation: the key of the simple-query statement cache.
//!
//! pgbench's default mode, psycopg2 and many ORMs send every statement with
//! its values spelled inline, and parsing each one with sqlparser costs more
//! than running it on the fast path. This lexer replaces each constant by a
//! numbered parameter, so statements that differ only in their values share
//! one key:
//!
//! ```text
//!   UPDATE t SET a = a + -1234 WHERE id = 5678
//!     ──► key       "UPDATE t SET a = a + $1 WHERE id = $2"
//!         literals  [Number "-1234", Number "5678"]
//! ```
//!
//! The session keeps a plan per key (see `session::template`) and runs it with
//! the literals bound as parameters.
//!
//! Invariant: normalising never changes what a statement means. Where a
//! constant is more than a value the lexer gives up (None) and the statement
//! is parsed as usual: positional `ORDER BY 1` / `GROUP BY 1` / `DISTINCT ON
//! (1)`, typed literals (`DATE '…'`, `E'…'`, `INTERVAL '1' DAY` — a string
//! after a word other than a few operators-as-words), comments, dollar quotes
//! and existing `$n`, numbers glued to letters (`0x1F`, `1_000`, `1e`). A
//! leading minus joins its number only after `(`, `,`, `[` or an operator
//! that PostgreSQL's lexer ends before a `-` (so `a+-1` is `a + $1` with
//! `-1`, while `a-1` stays `a - $1` with `1`).

use std::borrow::Cow;

/// Statements longer than this, or with more constants, are not cached: they
/// are one-off bulk statements (a 1000-row VALUES list), not a hot loop.
pub const MAX_TEXT: usize = 8 * 1024;
pub const MAX_LITERALS: usize = 64;

#[derive(Debug, PartialEq)]
pub enum Literal<'a> {
    /// A numeric constant as written, sign included (`-1234`, `1.5`, `2e3`).
    Number(&'a str),
    /// A quoted string with `''` unescaped (PostgreSQL's `unknown` type).
    Text(Cow<'a, str>),
}

impl Literal<'_> {
    /// Integer constants (no point, no exponent) can become integer parameters.
    pub fn is_integer(&self) -> bool {
        matches!(self, Literal::Number(n) if n.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
    }

    pub fn text(&self) -> &str {
        match self {
            Literal::Number(n) => n,
            Literal::Text(t) => t,
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct Normalized<'a> {
    pub key: String,
    pub literals: Vec<Literal<'a>>,
}

/// What came before the current token.
#[derive(Clone, Copy, PartialEq)]
enum Prev {
    Start,
    /// A keyword or identifier; `true` if a string may follow it as a value.
    Word(bool),
    /// A value: a constant, a quoted identifier, `)` or `]`.
    Value,
    /// `(`, `,`, `[` or an operator after which `-5` is a negative number.
    Open,
    /// Any other punctuation or operator.
    Other,
}

/// Words after which a quoted string is an ordinary value rather than the
/// text of a typed literal (`DATE '…'`).
const VALUE_WORDS: &[&str] = &["and", "or", "not", "like", "ilike", "then", "else", "when", "between", "select", "in"];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Normalises one statement (a piece from `parse::split`), or None when it
/// must be parsed as written.
pub fn normalize(text: &str) -> Option<Normalized<'_>> {
    let b = text.as_bytes();
    if b.len() > MAX_TEXT || b.contains(&b'$') {
        return None;
    }
    let mut key = String::with_capacity(text.len() + 8);
    let mut literals: Vec<Literal> = Vec::new();
    let mut prev = Prev::Start;
    let mut i = 0;
    let mut copied = 0; // text[copied..i] is still to be appended to key
    while i < b.len() {
        let c = b[i];
        // A constant found here: where it ends, and its value.
        let constant: Option<(usize, Literal)> = match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                None
            }
            b'-' if b.get(i + 1) == Some(&b'-') => return None,
            b'/' if b.get(i + 1) == Some(&b'*') => return None,
            b'\'' => {
                if !matches!(prev, Prev::Open | Prev::Word(true)) {
                    return None;
                }
                let (value, end) = quoted(text, i)?;
                // 'a' 'b' (continued across a newline) is one literal: not ours.
                if b[end..].iter().find(|x| !x.is_ascii_whitespace()) == Some(&b'\'') {
                    return None;
                }
                Some((end, Literal::Text(value)))
            }
            b'"' => {
                i = quoted(text, i)?.1;
                prev = Prev::Value;
                None
            }
            b'0'..=b'9' | b'.' | b'-' if starts_number(b, i, prev) => {
                // `t.5` is not a qualified name, and `t$1` would be an identifier.
                if c == b'.' && i > 0 && is_word_byte(b[i - 1]) {
                    return None;
                }
                let end = number_end(b, if c == b'-' { i + 1 } else { i })?;
                Some((end, Literal::Number(&text[i..end])))
            }
            c if is_word_byte(c) => {
                let start = i;
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
                let word = &text[start..i];
                // Positional references: ORDER BY 1, GROUP BY 1, DISTINCT ON (1).
                if word.eq_ignore_ascii_case("by") || word.eq_ignore_ascii_case("distinct") {
                    return None;
                }
                prev = Prev::Word(VALUE_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w)));
                None
            }
            _ => {
                i += 1;
                prev = match c {
                    b')' | b']' => Prev::Value,
                    b'(' | b',' | b'[' | b'=' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' => Prev::Open,
                    _ => Prev::Other,
                };
                None
            }
        };
        if let Some((end, literal)) = constant {
            if literals.len() == MAX_LITERALS {
                return None;
            }
            key.push_str(&text[copied..i]);
            literals.push(literal);
            key.push('$');
            key.push_str(&literals.len().to_string());
            i = end;
            copied = end;
            prev = Prev::Value;
        }
    }
    if literals.is_empty() {
        return None;
    }
    key.push_str(&text[copied..]);
    Some(Normalized { key, literals })
}

/// Whether a number starts at `i`: a digit; a point before a digit, unless
/// it follows a value (`t.c`); a minus before a digit where it can only be a
/// sign (see the module comment).
fn starts_number(b: &[u8], i: usize, prev: Prev) -> bool {
    let digit_at = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
    match b[i] {
        b'0'..=b'9' => true,
        b'.' => digit_at(i + 1) && prev != Prev::Value,
        b'-' => prev == Prev::Open && (digit_at(i + 1) || (b.get(i + 1) == Some(&b'.') && digit_at(i + 2))),
        _ => false,
    }
}

/// A quoted string or identifier starting at `start`: its unescaped content
/// and the index after the closing quote (None if unterminated).
fn quoted(text: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    let q = b[start];
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        match b.get(i) {
            None => return None,
            Some(&c) if c == q => {
                if b.get(i + 1) == Some(&q) {
                    escaped = true;
                    i += 2;
                } else {
                    break;
                }
            }
            Some(_) => i += 1,
        }
    }
    let inner = &text[start + 1..i];
    let value = if escaped {
        let pair = if q == b'\'' { "''" } else { "\"\"" };
        Cow::Owned(inner.replace(pair, &pair[..1]))
    } else {
        Cow::Borrowed(inner)
    };
    Some((value, i + 1))
}

/// The end of a number starting at `i` (digits, an optional fraction, an
/// optional exponent); None if letters are glued to it.
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    digits(&mut i);
    if b.get(i) == Some(&b'.') && b.get(i + 1) != Some(&b'.') {
        i += 1;
        digits(&mut i);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if b.get(i).is_some_and(|&c| is_word_byte(c) || c == b'.') {
        return None;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Option<(String, Vec<String>)> {
        normalize(s).map(|n| (n.key, n.literals.iter().map(|l| l.text().to_string()).collect()))
    }

    #[test]
    fn pgbench_statements() {
        assert_eq!(
            key("UPDATE pgbench_accounts SET abalance = abalance + -1234 WHERE aid = 5678;"),
            Some(("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;".into(), vec!["-1234".into(), "5678".into()]))
        );
        assert_eq!(
            key("SELECT abalance FROM pgbench_accounts WHERE aid = 42"),
            Some(("SELECT abalance FROM pgbench_accounts WHERE aid = $1".into(), vec!["42".into()]))
        );
        assert_eq!(
            key("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 5678, -1234, CURRENT_TIMESTAMP)"),
            Some((
                "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)".into(),
                vec!["3".into(), "1".into(), "5678".into(), "-1234".into()]
            ))
        );
    }

    #[test]
    fn strings_and_signs() {
        assert_eq!(
            key("UPDATE t SET name = 'it''s', x = -.5 WHERE id = 1.5e3"),
            Some(("UPDATE t SET name = $1, x = $2 WHERE id = $3".into(), vec!["it's".into(), "-.5".into(), "1.5e3".into()]))
        );
        // A minus after a value is subtraction.
        assert_eq!(key("SELECT a-1 FROM t"), Some(("SELECT a-$1 FROM t".into(), vec!["1".into()])));
        assert_eq!(key("SELECT a - -1 FROM t"), Some(("SELECT a - $1 FROM t".into(), vec!["-1".into()])));
        // An operator PostgreSQL lexes together with the minus keeps it.
        assert_eq!(key("SELECT a @-1 FROM t"), Some(("SELECT a @-$1 FROM t".into(), vec!["1".into()])));
        assert_eq!(key(r#"SELECT "we""ird" FROM t WHERE x IN ('a', 'b')"#).unwrap().1, vec!["a", "b"]);
        assert!(key("SELECT * FROM t WHERE name LIKE 'a%' AND x = 1").is_some());
        // Identifiers that contain digits are not numbers.
        assert_eq!(key("SELECT c1 FROM t2 WHERE c1 = 3").unwrap().1, vec!["3"]);
    }

    #[test]
    fn gives_up_where_a_constant_is_more_than_a_value() {
        for s in [
            "SELECT a FROM t ORDER BY 1",
            "SELECT a, count(*) FROM t GROUP BY 1",
            "SELECT DISTINCT ON (1) a FROM t",
            "SELECT * FROM t WHERE d = DATE '2020-01-01'",
            "SELECT * FROM t WHERE s = E'\\n'",
            "SELECT now() - INTERVAL '1' DAY",
            "SELECT * FROM t WHERE x = 1 -- comment",
            "SELECT /* c */ 1",
            "SELECT $1",
            "SELECT $$x$$",
            "SELECT 0x1F",
            "SELECT 1_000",
            "SELECT 1e",
            "SELECT 'a'\n'b'",
            "SELECT 'unterminated",
            "SELECT a FROM t",
        ] {
            assert_eq!(key(s), None, "{s}");
        }
    }

    /// Putting each constant back where its `$n` stands gives the statement
    /// as written, for any input (and no input panics).
    fn restore(n: &Normalized) -> String {
        let mut out = String::new();
        let mut rest = n.key.as_str();
        while let Some(p) = rest.find('$') {
            out.push_str(&rest[..p]);
            let digits = rest[p + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let k: usize = rest[p + 1..p + 1 + digits].parse().unwrap();
            match &n.literals[k - 1] {
                Literal::Number(t) => out.push_str(t),
                Literal::Text(t) => out.push_str(&format!("'{}'", t.replace('\'', "''"))),
            }
            rest = &rest[p + 1 + digits..];
        }
        out + rest
    }

    proptest::proptest! {
        #[test]
        fn normalising_loses_nothing(s in "(SELECT|UPDATE t SET|INSERT INTO t VALUES|[a-z]{1,3}|[-+*/=<>(),.'\" ]|[0-9]{1,4}|e|é|''){0,24}") {
            if let Some(n) = normalize(&s) {
                proptest::prop_assert_eq!(restore(&n), s);
            }
        }

        #[test]
        fn any_text_is_safe(s in "\\PC{0,64}") {
            if let Some(n) = normalize(&s) {
                proptest::prop_assert_eq!(restore(&n), s);
            }
        }
    }

    #[test]
    fn bounded() {
        let many = format!("INSERT INTO t VALUES {}", vec!["(1)"; MAX_LITERALS + 1].join(","));
        assert_eq!(key(&many), None);
        let long = format!("SELECT 1 FROM t WHERE name = '{}'", "x".repeat(MAX_TEXT));
        assert_eq!(key(&long), None);
    }
}

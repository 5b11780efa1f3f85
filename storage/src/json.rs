//! JSON text, checked as PostgreSQL checks it, and jsonb's canonical form.
//!
//! json and jsonb columns hold text (a `Value::Text`, Arrow `Utf8` tagged
//! with the type's OID). A json value is stored exactly as written once it
//! parses; a jsonb value is stored in its canonical form, which is the text
//! PostgreSQL prints for a jsonb:
//!
//! ```text
//!   input                          json stores                 jsonb stores
//!   {"b":1, "a":[1,2.50], "b":2}   {"b":1, "a":[1,2.50], "b":2}  {"a": [1, 2.50], "b": 2}
//!   1e2                            1e2                         100
//!   "\u0041\t"                     "\u0041\t"                  "A\t"
//! ```
//!
//! Canonical means: keys sorted shorter first, then bytewise (jsonb's order);
//! of duplicate keys the last one wins; numbers in numeric's text form (the
//! exponent folded in, the scale kept: `1.50e1` is `15.0`); strings with
//! their escapes resolved and re-escaped the one way PostgreSQL prints them;
//! `", "` and `": "` between items. The canonical text of a value contains
//! the canonical text of each of its parts, so a path lookup (`->`, `#>`) can
//! return a slice of the stored text, for both types.
//!
//! Errors carry PostgreSQL's message, detail and `JSON data, line N: …`
//! context (the wording of its `jsonapi.c`), because clients and tests match
//! on them. Nesting deeper than [`MAX_DEPTH`] is refused (54001) so that no
//! input can exhaust the stack of the thread parsing it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 1000;
/// Largest exponent a number may have (numeric's limit is in this range too).
const MAX_EXPONENT: i64 = 131_072;

/// Which of the two types a text is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Json,
    Jsonb,
}

/// A parse failure, as PostgreSQL reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// 22P02, 22P05 (`\u0000` in a jsonb), 22003 (a number too large), 54001 (too deep).
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    /// `JSON data, line 1: {"a":}`: the input up to the offending token.
    pub context: Option<String>,
}

/// A parsed value. Strings borrow from the input unless they had escapes.
#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// The number as written (already checked to be a JSON number).
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Item<'a>>),
    /// Members in input order, duplicates included.
    Object(Vec<(Cow<'a, str>, Item<'a>)>),
}

/// A value with the byte range of the input it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Item<'a> {
    pub value: Json<'a>,
    pub start: usize,
    pub end: usize,
}

/// Parses `text` as a `flavor` value. jsonb refuses `\u0000` (it cannot
/// become text); json accepts it, as PostgreSQL does.
pub fn parse(text: &str, flavor: Flavor) -> Result<Item<'_>, JsonError> {
    let mut p = Parser { lex: Lexer::new(text, flavor), depth: 0 };
    p.lex.advance()?;
    let item = p.value()?;
    if p.lex.tok != Tok::End {
        return Err(p.lex.structure_error(Expect::End));
    }
    Ok(item)
}

/// Checks `text` as json input; the text itself is what json stores.
pub fn check_json(text: &str) -> Result<(), JsonError> {
    parse(text, Flavor::Json).map(|_| ())
}

/// The canonical jsonb text of `text`.
pub fn canonical_jsonb(text: &str) -> Result<String, JsonError> {
    let item = parse(text, Flavor::Jsonb)?;
    let mut out = String::with_capacity(text.len() + 8);
    write_canonical(&item.value, &mut out)?;
    Ok(out)
}

/// Writes `v` in jsonb's canonical form.
pub fn write_canonical(v: &Json<'_>, out: &mut String) -> Result<(), JsonError> {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&canonical_number(n)?),
        Json::String(s) => write_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_canonical(&it.value, out)?;
            }
            out.push(']');
        }
        Json::Object(_) => {
            out.push('{');
            for (i, (k, it)) in object_members(v).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(k, out);
                out.push_str(": ");
                write_canonical(&it.value, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// An object's members in jsonb's order (shorter keys first, then bytewise),
/// the last of duplicate keys kept. Empty for anything but an object.
pub fn object_members<'v, 'a>(v: &'v Json<'a>) -> Vec<(&'v str, &'v Item<'a>)> {
    let Json::Object(members) = v else { return Vec::new() };
    let mut sorted: Vec<(usize, &str, &Item<'a>)> = members.iter().enumerate().map(|(i, (k, it))| (i, k.as_ref(), it)).collect();
    // Stable by key, then the later duplicate first so dedup keeps it.
    sorted.sort_by(|a, b| key_order(a.1, b.1).then(b.0.cmp(&a.0)));
    sorted.dedup_by(|later, earlier| later.1 == earlier.1);
    sorted.into_iter().map(|(_, k, it)| (k, it)).collect()
}

/// jsonb's key order: shorter first, then bytewise.
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// `s` as a JSON string literal, escaped the way PostgreSQL prints it.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number in numeric's text form: `1e2` → `100`, `1.50e1` → `15.0`,
/// `-0` → `0`, `1E-2` → `0.01`.
pub fn canonical_number(n: &str) -> Result<String, JsonError> {
    let (negative, rest) = match n.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, n),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().unwrap_or(i64::MAX)),
        None => (rest, 0),
    };
    if exponent.abs() > MAX_EXPONENT {
        return Err(JsonError { code: "22003", message: "value overflows numeric format".into(), detail: None, context: None });
    }
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // All digits, with the decimal point `point` digits from the left.
    let digits: String = format!("{int_part}{frac_part}");
    let point = int_part.len() as i64 + exponent;
    let scale = (frac_part.len() as i64 - exponent).max(0) as usize;
    let mut int_digits = if point <= 0 {
        String::new()
    } else if point as usize >= digits.len() {
        let mut s = digits.clone();
        s.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        s
    } else {
        digits[..point as usize].to_string()
    };
    let mut frac_digits = String::with_capacity(scale);
    for i in 0..scale as i64 {
        let at = point + i;
        frac_digits.push(if at >= 0 && (at as usize) < digits.len() { digits.as_bytes()[at as usize] as char } else { '0' });
    }
    let trimmed = int_digits.trim_start_matches('0');
    int_digits = if trimmed.is_empty() { "0".into() } else { trimmed.to_string() };
    let zero = int_digits == "0" && frac_digits.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(int_digits.len() + frac_digits.len() + 2);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(&int_digits);
    if !frac_digits.is_empty() {
        out.push('.');
        out.push_str(&frac_digits);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Lexer: one token of lookahead, positions kept for error context.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    ObjectStart,
    ObjectEnd,
    ArrayStart,
    ArrayEnd,
    Comma,
    Colon,
    String,
    Number,
    True,
    False,
    Null,
    End,
}

/// What the parser wanted when it met the wrong token (PostgreSQL's parse contexts).
#[derive(Clone, Copy)]
enum Expect {
    Value,
    String,
    ObjectFirst,
    ObjectNext,
    Colon,
    ArrayNext,
    End,
}

struct Lexer<'a> {
    input: &'a str,
    flavor: Flavor,
    tok: Tok,
    /// The current token's bytes.
    start: usize,
    end: usize,
    /// The current string token's value (escapes resolved).
    string: Option<Cow<'a, str>>,
    line: usize,
    line_start: usize,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a str, flavor: Flavor) -> Self {
        Lexer { input, flavor, tok: Tok::End, start: 0, end: 0, string: None, line: 1, line_start: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.input.as_bytes()
    }

    /// Reads the next token into `tok`/`start`/`end`.
    fn advance(&mut self) -> Result<(), JsonError> {
        let b = self.bytes();
        let mut s = self.end;
        while s < b.len() && matches!(b[s], b' ' | b'\t' | b'\n' | b'\r') {
            if b[s] == b'\n' {
                self.line += 1;
                self.line_start = s + 1;
            }
            s += 1;
        }
        self.start = s;
        self.string = None;
        if s >= b.len() {
            self.tok = Tok::End;
            self.end = s;
            return Ok(());
        }
        let single = |t| (t, s + 1);
        let (tok, end) = match b[s] {
            b'{' => single(Tok::ObjectStart),
            b'}' => single(Tok::ObjectEnd),
            b'[' => single(Tok::ArrayStart),
            b']' => single(Tok::ArrayEnd),
            b',' => single(Tok::Comma),
            b':' => single(Tok::Colon),
            b'"' => return self.lex_string(),
            b'-' => (Tok::Number, self.lex_number(s + 1)?),
            b'0'..=b'9' => (Tok::Number, self.lex_number(s)?),
            _ => {
                let mut p = s;
                while p < b.len() && alphanumeric(b[p]) {
                    p += 1;
                }
                if p == s {
                    // Stray punctuation: complain about that one character.
                    let one = s + self.input[s..].chars().next().map_or(1, char::len_utf8);
                    return Err(self.lex_error(s, one, Detail::InvalidToken));
                }
                match &self.input[s..p] {
                    "true" => (Tok::True, p),
                    "false" => (Tok::False, p),
                    "null" => (Tok::Null, p),
                    _ => return Err(self.lex_error(s, p, Detail::InvalidToken)),
                }
            }
        };
        self.tok = tok;
        self.end = end;
        Ok(())
    }

    /// A number from `s` (after any minus sign); returns where it ends.
    fn lex_number(&mut self, mut s: usize) -> Result<usize, JsonError> {
        let b = self.bytes();
        let digit = |i: usize| i < b.len() && b[i].is_ascii_digit();
        let mut bad = false;
        if s < b.len() && b[s] == b'0' {
            s += 1;
        } else if digit(s) {
            while digit(s) {
                s += 1;
            }
        } else {
            bad = true;
        }
        if s < b.len() && b[s] == b'.' {
            s += 1;
            if !digit(s) {
                bad = true;
            }
            while digit(s) {
                s += 1;
            }
        }
        if s < b.len() && (b[s] == b'e' || b[s] == b'E') {
            s += 1;
            if s < b.len() && (b[s] == b'+' || b[s] == b'-') {
                s += 1;
            }
            if !digit(s) {
                bad = true;
            }
            while digit(s) {
                s += 1;
            }
        }
        // Trailing letters belong to the (bad) token, for the message.
        while s < b.len() && alphanumeric(b[s]) {
            bad = true;
            s += 1;
        }
        if bad {
            return Err(self.lex_error(self.start, s, Detail::InvalidToken));
        }
        Ok(s)
    }

    fn lex_string(&mut self) -> Result<(), JsonError> {
        let b = self.bytes();
        let open = self.start;
        let mut s = open + 1;
        let mut owned: Option<String> = None;
        let mut run = s; // start of the unescaped run not yet copied into `owned`
        let mut high: Option<u32> = None;
        loop {
            if s >= b.len() {
                return Err(self.lex_error(open, s, Detail::InvalidToken));
            }
            let c = b[s];
            if c == b'"' {
                break;
            }
            if c < 0x20 {
                return Err(self.lex_error(open, s, Detail::EscapingRequired(c)));
            }
            if c != b'\\' {
                if high.is_some() {
                    return Err(self.lex_error(open, s, Detail::LowSurrogate));
                }
                s += 1;
                continue;
            }
            let out = owned.get_or_insert_with(String::new);
            out.push_str(&self.input[run..s]);
            s += 1;
            if s >= b.len() {
                return Err(self.lex_error(open, s, Detail::InvalidToken));
            }
            if b[s] == b'u' {
                s += 1;
                let mut code = 0u32;
                for _ in 0..4 {
                    if s >= b.len() {
                        return Err(self.lex_error(open, s, Detail::InvalidToken));
                    }
                    match (b[s] as char).to_digit(16) {
                        Some(d) => code = code * 16 + d,
                        None => {
                            let one = s + self.input[s..].chars().next().map_or(1, char::len_utf8);
                            return Err(self.lex_error(open, one, Detail::UnicodeEscapeFormat));
                        }
                    }
                    s += 1;
                }
                if (0xD800..=0xDBFF).contains(&code) {
                    if high.is_some() {
                        return Err(self.lex_error(open, s, Detail::HighSurrogate));
                    }
                    high = Some(code);
                } else if (0xDC00..=0xDFFF).contains(&code) {
                    let Some(h) = high.take() else { return Err(self.lex_error(open, s, Detail::LowSurrogate)) };
                    let cp = 0x10000 + ((h - 0xD800) << 10) + (code - 0xDC00);
                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                } else {
                    if high.is_some() {
                        return Err(self.lex_error(open, s, Detail::LowSurrogate));
                    }
                    if code == 0 && self.flavor == Flavor::Jsonb {
                        return Err(self.lex_error(open, s, Detail::CodePointZero));
                    }
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
            } else {
                if high.is_some() {
                    return Err(self.lex_error(open, s, Detail::LowSurrogate));
                }
                let esc = match b[s] {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    _ => {
                        let one = s + self.input[s..].chars().next().map_or(1, char::len_utf8);
                        return Err(self.lex_error(s, one, Detail::EscapingInvalid));
                    }
                };
                out.push(esc);
                s += 1;
            }
            run = s;
        }
        if high.is_some() {
            return Err(self.lex_error(open, s + 1, Detail::LowSurrogate));
        }
        let value = match owned {
            Some(mut o) => {
                o.push_str(&self.input[run..s]);
                Cow::Owned(o)
            }
            None => Cow::Borrowed(&self.input[open + 1..s]),
        };
        self.tok = Tok::String;
        self.string = Some(value);
        self.end = s + 1;
        Ok(())
    }

    /// An error found while reading the token at `start..end`.
    fn lex_error(&self, start: usize, end: usize, detail: Detail) -> JsonError {
        let token = &self.input[start.min(end)..end];
        let (code, message, detail) = match detail {
            Detail::InvalidToken => ("22P02", None, format!("Token \"{token}\" is invalid.")),
            Detail::EscapingInvalid => ("22P02", None, format!("Escape sequence \"\\{token}\" is invalid.")),
            Detail::EscapingRequired(c) => ("22P02", None, format!("Character with value 0x{c:02x} must be escaped.")),
            Detail::UnicodeEscapeFormat => ("22P02", None, "\"\\u\" must be followed by four hexadecimal digits.".to_string()),
            Detail::HighSurrogate => ("22P02", None, "Unicode high surrogate must not follow a high surrogate.".to_string()),
            Detail::LowSurrogate => ("22P02", None, "Unicode low surrogate must follow a high surrogate.".to_string()),
            Detail::CodePointZero => {
                ("22P05", Some("unsupported Unicode escape sequence"), "\\u0000 cannot be converted to text.".to_string())
            }
        };
        JsonError {
            code,
            message: message.unwrap_or("invalid input syntax for type json").to_string(),
            detail: Some(detail),
            context: Some(self.context(end, false)),
        }
    }

    /// The current token is not what the grammar allows here.
    fn structure_error(&self, expected: Expect) -> JsonError {
        let token = &self.input[self.start..self.end];
        let detail = if self.tok == Tok::End {
            "The input string ended unexpectedly.".to_string()
        } else {
            match expected {
                Expect::Value => format!("Expected JSON value, but found \"{token}\"."),
                Expect::String => format!("Expected string, but found \"{token}\"."),
                Expect::ObjectFirst => format!("Expected string or \"}}\", but found \"{token}\"."),
                Expect::ObjectNext => format!("Expected \",\" or \"}}\", but found \"{token}\"."),
                Expect::Colon => format!("Expected \":\", but found \"{token}\"."),
                Expect::ArrayNext => format!("Expected \",\" or \"]\", but found \"{token}\"."),
                Expect::End => format!("Expected end of input, but found \"{token}\"."),
            }
        };
        JsonError {
            code: "22P02",
            message: "invalid input syntax for type json".into(),
            detail: Some(detail),
            context: Some(self.context(self.end, self.tok == Tok::End)),
        }
    }

    /// `JSON data, line N: …`: the current line up to `end`, at most about
    /// 50 bytes of it, with `...` where it is cut (PostgreSQL's rules).
    fn context(&self, end: usize, at_end_token: bool) -> String {
        let line_start = self.line_start.min(end);
        let mut from = line_start;
        while end - from >= 50 {
            from += self.input[from..].chars().next().map_or(1, char::len_utf8);
        }
        if from - line_start <= 3 {
            from = line_start;
        }
        let prefix = if from > line_start { "..." } else { "" };
        let b = self.bytes();
        let suffix = if !at_end_token && end < b.len() && b[end] != b'\n' && b[end] != b'\r' { "..." } else { "" };
        format!("JSON data, line {}: {prefix}{}{suffix}", self.line, &self.input[from..end])
    }
}

enum Detail {
    InvalidToken,
    EscapingInvalid,
    EscapingRequired(u8),
    UnicodeEscapeFormat,
    HighSurrogate,
    LowSurrogate,
    CodePointZero,
}

/// Characters PostgreSQL's lexer takes as part of a word or number token.
fn alphanumeric(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

// ---------------------------------------------------------------------------
// Parser: recursive descent, bounded depth.
// ---------------------------------------------------------------------------

struct Parser<'a> {
    lex: Lexer<'a>,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// A value starting at the current token; leaves the token after it current.
    fn value(&mut self) -> Result<Item<'a>, JsonError> {
        let start = self.lex.start;
        let value = match self.lex.tok {
            Tok::ObjectStart => return self.nested(Self::object),
            Tok::ArrayStart => return self.nested(Self::array),
            Tok::String => Json::String(self.lex.string.take().unwrap_or_default()),
            Tok::Number => Json::Number(&self.lex.input[self.lex.start..self.lex.end]),
            Tok::True => Json::Bool(true),
            Tok::False => Json::Bool(false),
            Tok::Null => Json::Null,
            _ => return Err(self.lex.structure_error(Expect::Value)),
        };
        let end = self.lex.end;
        self.lex.advance()?;
        Ok(Item { value, start, end })
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Item<'a>, JsonError>) -> Result<Item<'a>, JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(JsonError {
                code: "54001",
                message: "stack depth limit exceeded".into(),
                detail: Some(format!("JSON nesting deeper than {MAX_DEPTH} levels.")),
                context: None,
            });
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn object(&mut self) -> Result<Item<'a>, JsonError> {
        let start = self.lex.start;
        self.lex.advance()?;
        let mut members = Vec::new();
        match self.lex.tok {
            Tok::ObjectEnd => {}
            Tok::String => loop {
                if self.lex.tok != Tok::String {
                    return Err(self.lex.structure_error(Expect::String));
                }
                let key = self.lex.string.take().unwrap_or_default();
                self.lex.advance()?;
                if self.lex.tok != Tok::Colon {
                    return Err(self.lex.structure_error(Expect::Colon));
                }
                self.lex.advance()?;
                let v = self.value()?;
                members.push((key, v));
                if self.lex.tok != Tok::Comma {
                    break;
                }
                self.lex.advance()?;
            },
            _ => return Err(self.lex.structure_error(Expect::ObjectFirst)),
        }
        if self.lex.tok != Tok::ObjectEnd {
            return Err(self.lex.structure_error(Expect::ObjectNext));
        }
        let end = self.lex.end;
        self.lex.advance()?;
        Ok(Item { value: Json::Object(members), start, end })
    }

    fn array(&mut self) -> Result<Item<'a>, JsonError> {
        let start = self.lex.start;
        self.lex.advance()?;
        let mut items = Vec::new();
        if self.lex.tok != Tok::ArrayEnd {
            loop {
                items.push(self.value()?);
                if self.lex.tok != Tok::Comma {
                    break;
                }
                self.lex.advance()?;
            }
        }
        if self.lex.tok != Tok::ArrayEnd {
            return Err(self.lex.structure_error(Expect::ArrayNext));
        }
        let end = self.lex.end;
        self.lex.advance()?;
        Ok(Item { value: Json::Array(items), start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (String, String) {
        let e = canonical_jsonb(text).unwrap_err();
        (e.detail.unwrap_or_default(), e.context.unwrap_or_default())
    }

    #[test]
    fn jsonb_text_is_canonical() {
        let cases = [
            (r#"{"b":1, "a":[1,2.50],"b":2}"#, r#"{"a": [1, 2.50], "b": 2}"#),
            (r#"{"aa":1,"b":2,"c":{"y":null,"x":true}}"#, r#"{"b": 2, "c": {"x": true, "y": null}, "aa": 1}"#),
            ("  1e2 ", "100"),
            ("1.50e1", "15.0"),
            ("-0", "0"),
            ("-0.0", "0.0"),
            ("1E-2", "0.01"),
            ("12345e-2", "123.45"),
            ("0.00", "0.00"),
            ("-12.5", "-12.5"),
            (r#""\u0041\t\/\"é""#, r#""A\t/\"é""#),
            (r#""\u00e9\ud83d\ude00""#, "\"é😀\""),
            (r#""a\u001fb""#, r#""a\u001fb""#),
            ("[]", "[]"),
            ("{}", "{}"),
            ("[[],{}]", "[[], {}]"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_jsonb(input).unwrap(), want, "input {input}");
        }
    }

    #[test]
    fn json_keeps_what_jsonb_refuses() {
        assert!(check_json(r#""\u0000""#).is_ok());
        let e = canonical_jsonb(r#""\u0000""#).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("22P05", "unsupported Unicode escape sequence"));
    }

    #[test]
    fn errors_read_as_postgres_writes_them() {
        assert_eq!(err(r#"{"a":}"#), (r#"Expected JSON value, but found "}"."#.into(), r#"JSON data, line 1: {"a":}"#.into()));
        assert_eq!(err(r#"{"a" 1}"#), (r#"Expected ":", but found "1"."#.into(), r#"JSON data, line 1: {"a" 1..."#.into()));
        assert_eq!(err("[1,2"), ("The input string ended unexpectedly.".into(), "JSON data, line 1: [1,2".into()));
        assert_eq!(err("{\"a\": tru}"), (r#"Token "tru" is invalid."#.into(), r#"JSON data, line 1: {"a": tru..."#.into()));
        assert_eq!(err("01"), (r#"Token "01" is invalid."#.into(), "JSON data, line 1: 01".into()));
        assert_eq!(err("[1] 2"), (r#"Expected end of input, but found "2"."#.into(), "JSON data, line 1: [1] 2".into()));
        assert_eq!(err("[,]"), (r#"Expected JSON value, but found ","."#.into(), "JSON data, line 1: [,...".into()));
        assert_eq!(err("{1:2}"), (r#"Expected string or "}", but found "1"."#.into(), "JSON data, line 1: {1...".into()));
        assert_eq!(err(r#"{"a":1,}"#), (r#"Expected string, but found "}"."#.into(), r#"JSON data, line 1: {"a":1,}"#.into()));
        assert_eq!(err(r#"{"a":1 "b"}"#).0, r#"Expected "," or "}", but found ""b""."#);
        assert_eq!(err(r#"["\x"]"#).0, r#"Escape sequence "\x" is invalid."#);
        assert_eq!(err("\"a\nb\"").0, "Character with value 0x0a must be escaped.");
        assert_eq!(err(r#""\u12""#).0, r#""\u" must be followed by four hexadecimal digits."#);
        assert_eq!(err(r#""\ude00""#).0, "Unicode low surrogate must follow a high surrogate.");
        assert_eq!(err("").0, "The input string ended unexpectedly.");
        assert_eq!(err("[1,\n2,\nx]"), (r#"Token "x" is invalid."#.into(), "JSON data, line 3: x...".into()));
        let long = format!("[{}x]", "1,".repeat(40));
        assert_eq!(err(&long).1, format!("JSON data, line 1: ...{}x...", "1,".repeat(24)));
        assert_eq!(err(r#""\ud83d""#).1, r#"JSON data, line 1: "\ud83d""#);
        assert_eq!(err(r#"["\x"]"#).1, r#"JSON data, line 1: ["\x..."#);
        assert_eq!(err("\"a\nb\"").1, "JSON data, line 1: \"a");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let deep = "[".repeat(100_000);
        let e = canonical_jsonb(&deep).unwrap_err();
        assert_eq!(e.code, "54001");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(check_json(&ok).is_ok());
    }

    #[test]
    fn spans_of_a_canonical_text_are_canonical() {
        let text = canonical_jsonb(r#"{"b":{"y":[1,  2], "x":1e1}, "a":"s"}"#).unwrap();
        let item = parse(&text, Flavor::Jsonb).unwrap();
        let members = object_members(&item.value);
        let (k, b) = members[1];
        assert_eq!(k, "b");
        assert_eq!(&text[b.start..b.end], r#"{"x": 10, "y": [1, 2]}"#);
    }

    #[test]
    fn huge_exponents_are_refused() {
        assert_eq!(canonical_jsonb("1e999999999").unwrap_err().code, "22003");
        assert_eq!(canonical_jsonb("1e5").unwrap(), "100000");
    }
}

//! Column types and values.
//!
//! The engine stores the PostgreSQL types an OLTP schema needs, each with one
//! in-memory form that is also its Arrow form, so a row turns into a column
//! without conversion:
//!
//! ```text
//!   SQL type                 Value                 Arrow
//!   boolean                  Bool(bool)            Boolean
//!   smallint / int / bigint  Int16 / Int32 / Int64 Int16 / Int32 / Int64
//!   real / double precision  Float32 / Float64    Float32 / Float64
//!   numeric(p,s)             Numeric(i128, s)      Decimal128(p, s)
//!   text / varchar(n) / char(n)  Text(String)      Utf8
//!   bytea                    Bytea(Vec<u8>)        Binary
//!   json / jsonb             Text(String)          Utf8 (jsonb in canonical form, see `json`)
//!   date                     Date(days since 1970) Date32
//!   timestamp                Timestamp(µs since 1970, no zone)  Timestamp(µs)
//!   timestamptz              TimestampTz(µs since 1970 UTC)     Timestamp(µs, "UTC")
//! ```
//!
//! A value stored in a column always has that column's exact shape: a numeric
//! carries the column's scale, a char(n) has no trailing blanks (they are insignificant; output pads to n), a varchar(n) is at
//! most n characters. [`DataType::coerce`] is the one place that enforces it, with
//! PostgreSQL's error codes (22003 out of range, 22001 too long).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest precision a numeric column may have: what fits in an i128 (Arrow's Decimal128).
pub const MAX_NUMERIC_PRECISION: u8 = 38;
/// Precision and scale used for `numeric` without a type modifier (DataFusion's choice too).
pub const DEFAULT_NUMERIC: (u8, u8) = (38, 10);

/// The SQL type of a column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// `numeric(precision, scale)`; `typmod` false when declared without one.
    Numeric {
        precision: u8,
        scale: u8,
        typmod: bool,
    },
    Text,
    Varchar(Option<u32>),
    Char(u32),
    Bytea,
    Date,
    Timestamp,
    TimestampTz,
    /// Text that parses as JSON, kept as written.
    Json,
    /// JSON in its canonical text form (`json::canonical_jsonb`).
    Jsonb,
    /// A UUID, kept in its canonical text form (`format_uuid`: lowercase,
    /// hyphenated), whose order as text is PostgreSQL's byte order.
    Uuid,
}

impl DataType {
    /// PostgreSQL's type OID, as clients see it in RowDescription and pg_type.
    pub fn pg_oid(&self) -> u32 {
        match self {
            DataType::Bool => 16,
            DataType::Int16 => 21,
            DataType::Int32 => 23,
            DataType::Int64 => 20,
            DataType::Float32 => 700,
            DataType::Float64 => 701,
            DataType::Numeric { .. } => 1700,
            DataType::Text => 25,
            DataType::Varchar(_) => 1043,
            DataType::Char(_) => 1042,
            DataType::Bytea => 17,
            DataType::Date => 1082,
            DataType::Timestamp => 1114,
            DataType::TimestampTz => 1184,
            DataType::Json => 114,
            DataType::Jsonb => 3802,
            DataType::Uuid => 2950,
        }
    }

    /// PostgreSQL's atttypmod for this type (-1 when there is none).
    pub fn pg_typmod(&self) -> i32 {
        match self {
            DataType::Numeric { precision, scale, typmod: true } => (((*precision as i32) << 16) | *scale as i32) + 4,
            DataType::Varchar(Some(n)) | DataType::Char(n) => *n as i32 + 4,
            _ => -1,
        }
    }

    /// The name `format_type()` prints, e.g. `numeric(10,2)`, `character varying(20)`.
    pub fn pg_name(&self) -> String {
        match self {
            DataType::Bool => "boolean".into(),
            DataType::Int16 => "smallint".into(),
            DataType::Int32 => "integer".into(),
            DataType::Int64 => "bigint".into(),
            DataType::Float32 => "real".into(),
            DataType::Float64 => "double precision".into(),
            DataType::Numeric { precision, scale, typmod: true } => format!("numeric({precision},{scale})"),
            DataType::Numeric { .. } => "numeric".into(),
            DataType::Text => "text".into(),
            DataType::Varchar(Some(n)) => format!("character varying({n})"),
            DataType::Varchar(None) => "character varying".into(),
            DataType::Char(n) => format!("character({n})"),
            DataType::Bytea => "bytea".into(),
            DataType::Date => "date".into(),
            DataType::Timestamp => "timestamp without time zone".into(),
            DataType::TimestampTz => "timestamp with time zone".into(),
            DataType::Json => "json".into(),
            DataType::Jsonb => "jsonb".into(),
            DataType::Uuid => "uuid".into(),
        }
    }

    /// Size in bytes of the fixed-width encoding, or None for variable-width types.
    pub fn fixed_width(&self) -> Option<usize> {
        match self {
            DataType::Bool => Some(1),
            DataType::Int16 => Some(2),
            DataType::Int32 | DataType::Float32 | DataType::Date => Some(4),
            DataType::Int64 | DataType::Float64 | DataType::Timestamp | DataType::TimestampTz => Some(8),
            DataType::Numeric { .. } => Some(16),
            DataType::Text
            | DataType::Varchar(_)
            | DataType::Char(_)
            | DataType::Bytea
            | DataType::Json
            | DataType::Jsonb
            | DataType::Uuid => None,
        }
    }

    /// The numeric scale of this type, if it is a numeric.
    pub fn numeric_scale(&self) -> Option<u8> {
        match self {
            DataType::Numeric { scale, .. } => Some(*scale),
            _ => None,
        }
    }

    /// Converts `value` into this column type's exact shape, or fails with the
    /// error PostgreSQL gives for an assignment of that value.
    pub fn coerce(&self, value: Value) -> Result<Value> {
        use Value as V;
        // A value already of the column's exact type with nothing to check
        // (typed input: COPY, binary parameters) stays as it is.
        match (self, &value) {
            (_, V::Null)
            | (DataType::Bool, V::Bool(_))
            | (DataType::Int16, V::Int16(_))
            | (DataType::Int32, V::Int32(_))
            | (DataType::Int64, V::Int64(_))
            | (DataType::Float32, V::Float32(_))
            | (DataType::Float64, V::Float64(_))
            | (DataType::Text, V::Text(_))
            | (DataType::Bytea, V::Bytea(_))
            | (DataType::Date, V::Date(_))
            | (DataType::Timestamp, V::Timestamp(_))
            | (DataType::TimestampTz, V::TimestampTz(_)) => return Ok(value),
            _ => {}
        }
        let mismatch = |v: &Value| {
            Error::DatatypeMismatch(format!("value of type {} cannot be stored in a column of type {}", v.type_name(), self.pg_name()))
        };
        let out_of_range = |what: &str| Error::NumericOutOfRange(format!("{what} out of range"));
        Ok(match self {
            DataType::Bool => match value {
                V::Bool(b) => V::Bool(b),
                v => return Err(mismatch(&v)),
            },
            DataType::Int16 => match value.as_i128_integer().or_else(|| numeric_to_integer(&value)) {
                Some(i) => V::Int16(i16::try_from(i).map_err(|_| out_of_range("smallint"))?),
                None => match value {
                    V::Float32(_) | V::Float64(_) => {
                        let f = rint(value.as_f64().unwrap_or(f64::NAN));
                        if !(i16::MIN as f64..=i16::MAX as f64).contains(&f) {
                            return Err(out_of_range("smallint"));
                        }
                        V::Int16(f as i16)
                    }
                    v => return Err(mismatch(&v)),
                },
            },
            DataType::Int32 => match value.as_i128_integer().or_else(|| numeric_to_integer(&value)) {
                Some(i) => V::Int32(i32::try_from(i).map_err(|_| out_of_range("integer"))?),
                None => match value {
                    V::Float32(_) | V::Float64(_) => {
                        let f = rint(value.as_f64().unwrap_or(f64::NAN));
                        if !(i32::MIN as f64..=i32::MAX as f64).contains(&f) {
                            return Err(out_of_range("integer"));
                        }
                        V::Int32(f as i32)
                    }
                    v => return Err(mismatch(&v)),
                },
            },
            DataType::Int64 => match value.as_i128_integer().or_else(|| numeric_to_integer(&value)) {
                Some(i) => V::Int64(i64::try_from(i).map_err(|_| out_of_range("bigint"))?),
                None => match value {
                    V::Float32(_) | V::Float64(_) => {
                        let f = rint(value.as_f64().unwrap_or(f64::NAN));
                        if !(-9.223372036854776e18..9.223372036854776e18).contains(&f) {
                            return Err(out_of_range("bigint"));
                        }
                        V::Int64(f as i64)
                    }
                    v => return Err(mismatch(&v)),
                },
            },
            DataType::Float32 => match value.as_f64() {
                Some(f) => {
                    let g = f as f32;
                    if g.is_infinite() && f.is_finite() {
                        return Err(out_of_range("value"));
                    }
                    V::Float32(g)
                }
                None => return Err(mismatch(&value)),
            },
            DataType::Float64 => match value.as_f64() {
                Some(f) => V::Float64(f),
                None => return Err(mismatch(&value)),
            },
            DataType::Numeric { precision, scale, .. } => {
                let (m, s) = match value {
                    V::Numeric(m, s) => (m, s),
                    V::Int16(i) => (i as i128, 0),
                    V::Int32(i) => (i as i128, 0),
                    V::Int64(i) => (i as i128, 0),
                    V::Float32(f) => float_to_decimal(f as f64, *scale)?,
                    V::Float64(f) => float_to_decimal(f, *scale)?,
                    v => return Err(mismatch(&v)),
                };
                let m = rescale(m, s, *scale).ok_or_else(|| numeric_overflow(*precision, *scale))?;
                if m.unsigned_abs() >= 10u128.pow(*precision as u32) {
                    return Err(numeric_overflow(*precision, *scale));
                }
                V::Numeric(m, *scale)
            }
            DataType::Text => match value {
                V::Text(s) => V::Text(s),
                v => return Err(mismatch(&v)),
            },
            DataType::Varchar(limit) => match value {
                V::Text(s) => {
                    if let Some(n) = limit {
                        V::Text(truncate_chars(s, *n as usize, "character varying")?)
                    } else {
                        V::Text(s)
                    }
                }
                v => return Err(mismatch(&v)),
            },
            DataType::Char(n) => match value {
                // PostgreSQL's bpchar: trailing blanks are insignificant (in
                // comparisons, length(), casts to text), so the value is kept
                // without them; the wire encoder pads to n on output. Excess
                // length that is only blanks is not an error.
                V::Text(s) => {
                    let trimmed = s.trim_end_matches(' ');
                    let s = if trimmed.len() == s.len() { s } else { trimmed.to_string() };
                    V::Text(truncate_chars(s, *n as usize, "character")?)
                }
                v => return Err(mismatch(&v)),
            },
            DataType::Bytea => match value {
                V::Bytea(b) => V::Bytea(b),
                v => return Err(mismatch(&v)),
            },
            DataType::Json => match value {
                V::Text(s) => {
                    crate::json::check_json(&s).map_err(Error::from)?;
                    V::Text(s)
                }
                v => return Err(mismatch(&v)),
            },
            DataType::Jsonb => match value {
                V::Text(s) => V::Text(crate::json::canonical_jsonb(&s).map_err(Error::from)?),
                v => return Err(mismatch(&v)),
            },
            DataType::Uuid => match value {
                V::Text(s) => match canonical_uuid(&s) {
                    Some(c) => V::Text(c),
                    None => return Err(Error::InvalidText(format!("invalid input syntax for type uuid: \"{s}\""))),
                },
                v => return Err(mismatch(&v)),
            },
            DataType::Date => match value {
                V::Date(d) => V::Date(d),
                V::Timestamp(t) | V::TimestampTz(t) => V::Date(t.div_euclid(MICROS_PER_DAY) as i32),
                v => return Err(mismatch(&v)),
            },
            DataType::Timestamp => match value {
                V::Timestamp(t) | V::TimestampTz(t) => V::Timestamp(t),
                V::Date(d) => V::Timestamp(d as i64 * MICROS_PER_DAY),
                v => return Err(mismatch(&v)),
            },
            DataType::TimestampTz => match value {
                V::Timestamp(t) | V::TimestampTz(t) => V::TimestampTz(t),
                V::Date(d) => V::TimestampTz(d as i64 * MICROS_PER_DAY),
                v => return Err(mismatch(&v)),
            },
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pg_name())
    }
}

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A UUID's 16 bytes from its text, as PostgreSQL's `uuid_in` reads it: 32
/// hex digits in either case, optionally in braces, with at most one hyphen
/// after any group of four digits (`a0eebc99-9c0b-…`, `{A0EEBC99…}`,
/// `a0ee-bc99-…`). Nothing else, not even surrounding blanks.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let body = match s.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => s,
    };
    let digits = body.as_bytes();
    let mut out = [0u8; 16];
    let mut at = 0;
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = digits.get(at..at + 2)?;
        let hex = |c: u8| (c as char).to_digit(16);
        *byte = (hex(pair[0])? * 16 + hex(pair[1])?) as u8;
        at += 2;
        if i % 2 == 1 && i < 15 && digits.get(at) == Some(&b'-') {
            at += 1;
        }
    }
    (at == digits.len()).then_some(out)
}

/// A UUID's text in canonical form (`parse_uuid`, then `format_uuid`): how
/// uuid values are kept and compared.
pub fn canonical_uuid(s: &str) -> Option<String> {
    parse_uuid(s).map(|b| format_uuid(&b))
}

/// The canonical text of a UUID: lowercase, hyphenated 8-4-4-4-12.
pub fn format_uuid(b: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(x >> 4)] as char);
        out.push(HEX[usize::from(x & 15)] as char);
    }
    out
}

fn numeric_overflow(precision: u8, scale: u8) -> Error {
    Error::NumericOutOfRange(format!(
        "numeric field overflow: a field with precision {precision}, scale {scale} must round to an \
         absolute value less than 10^{}",
        precision - scale
    ))
}

/// PostgreSQL rounds float → integer with rint() (half to even); numeric
/// → integer rounds half away from zero, exactly (`numeric_to_integer`).
fn rint(f: f64) -> f64 {
    f.round_ties_even()
}

/// A numeric rounded to an integer as PostgreSQL's numeric → integer casts
/// round: half away from zero, on the exact decimal (no float on the way).
fn numeric_to_integer(v: &Value) -> Option<i128> {
    let Value::Numeric(m, s) = *v else { return None };
    let unit = 10i128.checked_pow(s as u32)?;
    let (q, r) = (m / unit, m % unit);
    Some(if r.unsigned_abs() * 2 >= unit.unsigned_abs() { q + m.signum() } else { q })
}

fn truncate_chars(s: String, n: usize, type_name: &str) -> Result<String> {
    if s.len() <= n || s.chars().count() <= n {
        return Ok(s);
    }
    // PostgreSQL allows an over-long value when the excess is only spaces.
    let cut: String = s.chars().take(n).collect();
    if s.chars().skip(n).all(|c| c == ' ') {
        Ok(cut)
    } else {
        Err(Error::StringTooLong(format!("value too long for type {type_name}({n})")))
    }
}

/// Changes a decimal mantissa from scale `from` to scale `to`, rounding half away
/// from zero as PostgreSQL does. None on overflow.
pub fn rescale(m: i128, from: u8, to: u8) -> Option<i128> {
    use std::cmp::Ordering::*;
    match to.cmp(&from) {
        Equal => Some(m),
        Greater => m.checked_mul(10i128.checked_pow((to - from) as u32)?),
        Less => {
            let div = 10i128.checked_pow((from - to) as u32)?;
            let q = m / div;
            let r = m % div;
            if r.unsigned_abs() * 2 >= div.unsigned_abs() { Some(q + m.signum()) } else { Some(q) }
        }
    }
}

fn float_to_decimal(f: f64, scale: u8) -> Result<(i128, u8)> {
    if !f.is_finite() {
        return Err(Error::FeatureNotSupported("NaN and Infinity are not supported in numeric columns".into()));
    }
    let scaled = (f * 10f64.powi(scale as i32)).round();
    if scaled.abs() >= 1e38 {
        return Err(Error::NumericOutOfRange("numeric field overflow".into()));
    }
    Ok((scaled as i128, scale))
}

/// A single SQL value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    /// Mantissa and scale: `Numeric(1234, 2)` is 12.34.
    Numeric(i128, u8),
    Text(String),
    Bytea(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00, no time zone.
    Timestamp(i64),
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    TimestampTz(i64),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The SQL name of this value's own type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "unknown",
            Value::Bool(_) => "boolean",
            Value::Int16(_) => "smallint",
            Value::Int32(_) => "integer",
            Value::Int64(_) => "bigint",
            Value::Float32(_) => "real",
            Value::Float64(_) => "double precision",
            Value::Numeric(..) => "numeric",
            Value::Text(_) => "text",
            Value::Bytea(_) => "bytea",
            Value::Date(_) => "date",
            Value::Timestamp(_) => "timestamp without time zone",
            Value::TimestampTz(_) => "timestamp with time zone",
        }
    }

    /// The value as an exact integer, if it is one (integers, and numerics with no fraction are not).
    pub fn as_i128_integer(&self) -> Option<i128> {
        match self {
            Value::Int16(i) => Some(*i as i128),
            Value::Int32(i) => Some(*i as i128),
            Value::Int64(i) => Some(*i as i128),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int16(i) => Some(*i as i64),
            Value::Int32(i) => Some(*i as i64),
            Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int16(i) => Some(*i as f64),
            Value::Int32(i) => Some(*i as f64),
            Value::Int64(i) => Some(*i as f64),
            Value::Float32(f) => Some(*f as f64),
            Value::Float64(f) => Some(*f),
            Value::Numeric(m, s) => Some(*m as f64 / 10f64.powi(*s as i32)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Formats a decimal mantissa at a scale the way PostgreSQL prints numeric: `-12.30`.
/// The same value at the smallest scale that holds it (`1.2500` → `1.25`).
pub fn trim_decimal(mut m: i128, mut scale: u8) -> (i128, u8) {
    while scale > 0 && m % 10 == 0 {
        m /= 10;
        scale -= 1;
    }
    (m, scale)
}

/// `m` at scale `from` rounded half away from zero to scale `to` ≤ `from`.
pub fn round_decimal(m: i128, from: u8, to: u8) -> i128 {
    debug_assert!(to <= from);
    let Some(div) = 10i128.checked_pow(u32::from(from - to)) else { return 0 };
    let (q, r) = (m / div, m % div);
    if r.unsigned_abs() >= (div / 2 + div % 2) as u128 && div > 1 { q + m.signum() } else { q }
}

pub fn format_decimal(m: i128, scale: u8) -> String {
    let neg = m < 0;
    let digits = m.unsigned_abs().to_string();
    let scale = scale as usize;
    let mut out = String::with_capacity(digits.len() + 3);
    if neg {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(&digits);
    } else if digits.len() > scale {
        out.push_str(&digits[..digits.len() - scale]);
        out.push('.');
        out.push_str(&digits[digits.len() - scale..]);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
    out
}

/// Parses a decimal literal (`-12.30`, `1e3`, `.5`) into a mantissa and its natural scale.
pub fn parse_decimal(s: &str) -> Option<(i128, u8)> {
    let s = s.trim();
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, mant) = match mant.as_bytes().first()? {
        b'-' => (true, &mant[1..]),
        b'+' => (false, &mant[1..]),
        _ => (false, mant),
    };
    let (int_part, frac_part) = match mant.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mant, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut m: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        m = m.checked_mul(10)?.checked_add((b - b'0') as i128)?;
    }
    let mut scale = frac_part.len() as i32 - exp;
    if scale < 0 {
        m = m.checked_mul(10i128.checked_pow((-scale) as u32)?)?;
        scale = 0;
    }
    if scale > MAX_NUMERIC_PRECISION as i32 * 2 {
        return None;
    }
    Some((if neg { -m } else { m }, scale as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_read_as_postgresql_reads_them() {
        let canonical = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for ok in [
            canonical,
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        ] {
            assert_eq!(parse_uuid(ok).map(|b| format_uuid(&b)).as_deref(), Some(canonical), "{ok}");
        }
        for bad in [
            "",
            " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 ",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            "+0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad:?}");
        }
        assert_eq!(DataType::Uuid.coerce(Value::Text("{A0EEBC999C0B4EF8BB6D6BB9BD380A11}".into())).unwrap(), Value::Text(canonical.into()));
        assert!(matches!(DataType::Uuid.coerce(Value::Text("nope".into())), Err(Error::InvalidText(_))));
    }

    fn num(p: u8, s: u8) -> DataType {
        DataType::Numeric { precision: p, scale: s, typmod: true }
    }

    #[test]
    fn coerce_enforces_column_shape() {
        assert_eq!(DataType::Int16.coerce(Value::Int64(7)).unwrap(), Value::Int16(7));
        assert_eq!(DataType::Int16.coerce(Value::Int64(70000)).unwrap_err().sqlstate(), "22003");
        assert_eq!(DataType::Int32.coerce(Value::Float64(2.5)).unwrap(), Value::Int32(2));
        assert_eq!(num(5, 2).coerce(Value::Numeric(12345, 3)).unwrap(), Value::Numeric(1235, 2));
        assert_eq!(num(5, 2).coerce(Value::Int32(1000)).unwrap_err().sqlstate(), "22003");
        assert_eq!(num(5, 2).coerce(Value::Int32(999)).unwrap(), Value::Numeric(99900, 2));
        assert_eq!(DataType::Char(4).coerce(Value::Text("ab".into())).unwrap(), Value::Text("ab".into()));
        assert_eq!(DataType::Char(4).coerce(Value::Text("ab      ".into())).unwrap(), Value::Text("ab".into()));
        assert!(DataType::Char(2).coerce(Value::Text("abc".into())).is_err());
        assert_eq!(DataType::Varchar(Some(2)).coerce(Value::Text("abc".into())).unwrap_err().sqlstate(), "22001");
        assert_eq!(DataType::Varchar(Some(2)).coerce(Value::Text("ab  ".into())).unwrap(), Value::Text("ab".into()));
        assert_eq!(DataType::Bool.coerce(Value::Int32(1)).unwrap_err().sqlstate(), "42804");
        assert_eq!(DataType::Int64.coerce(Value::Null).unwrap(), Value::Null);
        // numeric → integer: half away from zero, exactly; float → integer: half to even.
        assert_eq!(DataType::Int32.coerce(Value::Numeric(500, 3)).unwrap(), Value::Int32(1));
        assert_eq!(DataType::Int32.coerce(Value::Numeric(-25, 1)).unwrap(), Value::Int32(-3));
        assert_eq!(DataType::Int32.coerce(Value::Numeric(2499, 3)).unwrap(), Value::Int32(2));
        assert_eq!(DataType::Int64.coerce(Value::Numeric(90071992547409931, 1)).unwrap(), Value::Int64(9007199254740993));
        assert_eq!(DataType::Int16.coerce(Value::Numeric(327675, 1)).unwrap_err().sqlstate(), "22003");
    }

    #[test]
    fn decimals_round_trip_through_text() {
        for (text, m, s) in [("12.30", 1230, 2), ("-0.05", -5, 2), ("7", 7, 0), ("1e3", 1000, 0), (".5", 5, 1)] {
            assert_eq!(parse_decimal(text), Some((m, s)), "{text}");
        }
        assert_eq!(format_decimal(1230, 2), "12.30");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(7, 0), "7");
        assert_eq!(parse_decimal("abc"), None);
        assert_eq!(parse_decimal("1.2.3"), None);
        assert_eq!(rescale(125, 2, 1), Some(13));
        assert_eq!(rescale(-125, 2, 1), Some(-13));
    }

    #[test]
    fn typmods_match_postgres() {
        assert_eq!(num(10, 2).pg_typmod(), (10 << 16 | 2) + 4);
        assert_eq!(DataType::Varchar(Some(20)).pg_typmod(), 24);
        assert_eq!(DataType::Char(84).pg_typmod(), 88);
        assert_eq!(DataType::Varchar(None).pg_typmod(), -1);
        assert_eq!(DataType::Text.pg_typmod(), -1);
    }
}

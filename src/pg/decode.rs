//! Reading values clients send: Bind parameters (text or binary) and text
//! input (COPY, literals assigned to columns), with PostgreSQL's input rules
//! and its 22P02 / 22003 errors for bad input.
//!
//! Parameters become DataFusion `ScalarValue`s: the type is the one the client
//! declared (Parse), else the one the planner inferred, else text — which the
//! engine converts on assignment, as PostgreSQL does for `unknown` literals.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType as A, Field, TimeUnit};
use datafusion::scalar::ScalarValue;
use duetdb_storage::types::{DataType, Value, parse_decimal};

use super::datetime::{self, PG_EPOCH_DAYS, PG_EPOCH_MICROS, Zone};
use super::encode::Format;
use super::numbers::decode_numeric_binary;
use super::oid;
use crate::error::{SqlError, SqlResult};

/// The Arrow type a parameter of PostgreSQL type `oid` is given.
pub fn arrow_type_for_oid(o: u32) -> Option<A> {
    Some(match o {
        oid::BOOL => A::Boolean,
        oid::INT2 => A::Int16,
        oid::INT4 => A::Int32,
        oid::INT8 => A::Int64,
        oid::OID | oid::REGCLASS | oid::REGTYPE | oid::XID => A::UInt32,
        oid::FLOAT4 => A::Float32,
        oid::FLOAT8 => A::Float64,
        oid::NUMERIC => A::Decimal128(38, 10),
        oid::TEXT
        | oid::VARCHAR
        | oid::BPCHAR
        | oid::NAME
        | oid::CHAR
        | oid::UUID
        | oid::JSON
        | oid::JSONB
        | oid::UNKNOWN
        | oid::PG_LSN => A::Utf8,
        oid::BYTEA => A::Binary,
        oid::DATE => A::Date32,
        oid::TIMESTAMP => A::Timestamp(TimeUnit::Microsecond, None),
        oid::TIMESTAMPTZ => A::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        oid::TIME => A::Time64(TimeUnit::Microsecond),
        oid::INTERVAL => A::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
        o => {
            let elem = oid::element_of(o)?;
            A::List(Arc::new(Field::new("item", arrow_type_for_oid(elem)?, true)))
        }
    })
}

/// Decodes one Bind parameter. `oid` 0 means unspecified: `hint` (the planner's
/// inferred type) decides, else the value stays text.
pub fn decode_param(bytes: Option<&[u8]>, fmt: Format, o: u32, hint: Option<&A>, zone: &Zone) -> SqlResult<ScalarValue> {
    let target = match arrow_type_for_oid(o) {
        Some(t) if o != oid::UNKNOWN && o != 0 => t,
        _ => hint.cloned().unwrap_or(A::Utf8),
    };
    let Some(bytes) = bytes else { return ScalarValue::try_from(&target).map_err(|e| SqlError::internal(e.to_string())) };
    match fmt {
        Format::Text => {
            let s = std::str::from_utf8(bytes).map_err(|_| SqlError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
            match o {
                oid::UUID => uuid_text(s),
                oid::JSON | oid::JSONB => json_text(s, o),
                o if Some(o) == oid::array_of(oid::UUID) => parse_array(s, &A::Utf8, uuid_text),
                _ => parse_scalar(s, &target, zone),
            }
        }
        Format::Binary => decode_binary(bytes, o, &target),
    }
}

/// A uuid parameter in text: bound as its canonical text (how uuids travel
/// here), read as PostgreSQL's uuid_in reads it.
fn uuid_text(s: &str) -> SqlResult<ScalarValue> {
    Ok(ScalarValue::Utf8(Some(canonical_uuid(s)?)))
}

/// A json or jsonb parameter, read as a column of its type reads it (json_in /
/// jsonb_in): json keeps its text, jsonb becomes its canonical text, so that
/// `jsonb_col = $1` compares like with like.
fn json_text(s: &str, o: u32) -> SqlResult<ScalarValue> {
    let column = if o == oid::JSONB { DataType::Jsonb } else { DataType::Json };
    match column.coerce(Value::Text(s.to_string()))? {
        Value::Text(text) => Ok(ScalarValue::Utf8(Some(text))),
        v => unreachable!("json and jsonb hold text, not {v:?}"),
    }
}

/// A uuid's canonical text, or PostgreSQL's error for text that is none.
pub fn canonical_uuid(s: &str) -> SqlResult<String> {
    duetdb_storage::types::canonical_uuid(s).ok_or_else(|| SqlError::invalid_text("uuid", s))
}

/// An array literal (`{a,b,NULL}`) of elements of type `element`, each read by `parse`.
fn parse_array(s: &str, element: &A, parse: impl Fn(&str) -> SqlResult<ScalarValue>) -> SqlResult<ScalarValue> {
    let elems = parse_array_literal(s).ok_or_else(|| SqlError::new("22P02", format!("malformed array literal: \"{s}\"")))?;
    let mut values = Vec::with_capacity(elems.len());
    for e in elems {
        values.push(match e {
            None => ScalarValue::try_from(element).map_err(|e| SqlError::internal(e.to_string()))?,
            Some(e) => parse(&e)?,
        });
    }
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(&values, element)))
}

/// PostgreSQL text input for a value of Arrow type `t`.
pub fn parse_scalar(s: &str, t: &A, zone: &Zone) -> SqlResult<ScalarValue> {
    let bad = |name: &str| SqlError::invalid_text(name, s);
    let range = |name: &str| SqlError::new("22003", format!("value \"{s}\" is out of range for type {name}"));
    let int = |name: &str, min: i128, max: i128| -> SqlResult<i128> {
        let v: i128 = s.trim().parse().map_err(|_| bad(name))?;
        if v < min || v > max { Err(range(name)) } else { Ok(v) }
    };
    Ok(match t {
        A::Utf8 | A::LargeUtf8 | A::Utf8View => ScalarValue::Utf8(Some(s.to_string())),
        A::Boolean => ScalarValue::Boolean(Some(parse_bool(s).ok_or_else(|| bad("boolean"))?)),
        A::Int16 => ScalarValue::Int16(Some(int("smallint", i16::MIN as i128, i16::MAX as i128)? as i16)),
        A::Int32 => ScalarValue::Int32(Some(int("integer", i32::MIN as i128, i32::MAX as i128)? as i32)),
        A::Int64 => ScalarValue::Int64(Some(int("bigint", i64::MIN as i128, i64::MAX as i128)? as i64)),
        A::UInt32 => ScalarValue::UInt32(Some(int("oid", 0, u32::MAX as i128)? as u32)),
        A::UInt64 => ScalarValue::UInt64(Some(int("bigint", 0, u64::MAX as i128)? as u64)),
        A::Float32 => ScalarValue::Float32(Some(parse_float(s).ok_or_else(|| bad("real"))? as f32)),
        A::Float64 => ScalarValue::Float64(Some(parse_float(s).ok_or_else(|| bad("double precision"))?)),
        A::Decimal128(p, sc) => {
            let (m, scale) = parse_decimal(s).ok_or_else(|| bad("numeric"))?;
            let m = duetdb_storage::types::rescale(m, scale, *sc as u8).ok_or_else(|| range("numeric"))?;
            ScalarValue::Decimal128(Some(m), *p, *sc)
        }
        A::Binary | A::LargeBinary => ScalarValue::Binary(Some(parse_bytea(s).ok_or_else(|| bad("bytea"))?)),
        A::Date32 => ScalarValue::Date32(Some(
            datetime::parse_date(s).ok_or_else(|| SqlError::new("22007", format!("invalid input syntax for type date: \"{s}\"")))?,
        )),
        A::Timestamp(_, None) => ScalarValue::TimestampMicrosecond(
            Some(
                datetime::parse_timestamp(s)
                    .ok_or_else(|| SqlError::new("22007", format!("invalid input syntax for type timestamp: \"{s}\"")))?,
            ),
            None,
        ),
        A::Timestamp(_, Some(tz)) => ScalarValue::TimestampMicrosecond(
            Some(
                datetime::parse_timestamptz(s, zone)
                    .ok_or_else(|| SqlError::new("22007", format!("invalid input syntax for type timestamp with time zone: \"{s}\"")))?,
            ),
            Some(tz.clone()),
        ),
        A::Time64(_) => {
            let t = datetime::parse_time_of_day(s.trim())
                .ok_or_else(|| SqlError::new("22007", format!("invalid input syntax for type time: \"{s}\"")))?;
            ScalarValue::Time64Microsecond(Some(datetime::micros_of_time(t)))
        }
        A::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano) => {
            ScalarValue::IntervalMonthDayNano(Some(super::interval_in::parse_interval(s)?.to_arrow()?))
        }
        A::List(f) => parse_array(s, f.data_type(), |e| parse_scalar(e, f.data_type(), zone))?,
        other => {
            // Let DataFusion's cast do the rest (intervals and rarer types).
            let v = ScalarValue::Utf8(Some(s.to_string()));
            v.cast_to(other).map_err(|_| SqlError::invalid_text(&other.to_string(), s))?
        }
    })
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "+infinity" | "inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => t.parse::<f64>().ok().filter(|_| !t.is_empty()),
    }
}

/// `\x0001ff` (hex) or the escape format (`abc\000`).
pub fn parse_bytea(s: &str) -> Option<Vec<u8>> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if hex.len() % 2 != 0 {
            return None;
        }
        return hex.chunks(2).map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok()).collect();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else if i + 3 < b.len() + 0 && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = u16::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).ok()?, 8).ok()?;
                out.push(u8::try_from(v).ok()?);
                i += 4;
            } else {
                return None;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The elements of a one-dimensional array literal in PostgreSQL's text form
/// (`{a,"b c",NULL}`; None for an unquoted NULL), read as PostgreSQL reads
/// them: blanks around unquoted elements dropped, backslash escapes, and a
/// quoted or escaped "NULL" is the string. None for anything else — nested
/// or decorated arrays (`[1:2]={…}`), empty elements, malformed text.
pub fn parse_array_literal(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let mut item = String::new();
        let mut quoted = false;
        match chars.peek() {
            Some('"') => {
                quoted = true;
                chars.next();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => item.push(chars.next()?),
                        c => item.push(c),
                    }
                }
                while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
            }
            Some('{') | None => return None,
            Some(_) => {
                // Up to the next comma; trailing blanks are not part of it,
                // escaped ones are.
                let mut kept = 0;
                while let Some(c) = chars.next_if(|c| *c != ',' && *c != '"' && *c != '{' && *c != '}') {
                    if c == '\\' {
                        item.push(chars.next()?);
                        kept = item.len();
                        quoted = true;
                    } else {
                        item.push(c);
                        if !c.is_ascii_whitespace() {
                            kept = item.len();
                        }
                    }
                }
                item.truncate(kept);
                if item.is_empty() {
                    return None;
                }
            }
        }
        items.push(if !quoted && item.eq_ignore_ascii_case("null") { None } else { Some(item) });
        match chars.next() {
            None => return Some(items),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

fn decode_binary(b: &[u8], o: u32, target: &A) -> SqlResult<ScalarValue> {
    let bad = || SqlError::protocol(format!("incorrect binary data format in bind parameter (type {o})"));
    let fixed = |n: usize| if b.len() == n { Ok(()) } else { Err(bad()) };
    Ok(match o {
        oid::BOOL => {
            fixed(1)?;
            ScalarValue::Boolean(Some(b[0] != 0))
        }
        oid::INT2 => {
            fixed(2)?;
            ScalarValue::Int16(Some(i16::from_be_bytes([b[0], b[1]])))
        }
        oid::INT4 => {
            fixed(4)?;
            ScalarValue::Int32(Some(i32::from_be_bytes(b.try_into().unwrap())))
        }
        oid::INT8 => {
            fixed(8)?;
            ScalarValue::Int64(Some(i64::from_be_bytes(b.try_into().unwrap())))
        }
        oid::OID | oid::REGCLASS | oid::REGTYPE | oid::XID => {
            fixed(4)?;
            ScalarValue::UInt32(Some(u32::from_be_bytes(b.try_into().unwrap())))
        }
        oid::FLOAT4 => {
            fixed(4)?;
            ScalarValue::Float32(Some(f32::from_be_bytes(b.try_into().unwrap())))
        }
        oid::FLOAT8 => {
            fixed(8)?;
            ScalarValue::Float64(Some(f64::from_be_bytes(b.try_into().unwrap())))
        }
        oid::NUMERIC => {
            let s = decode_numeric_binary(b).ok_or_else(bad)?;
            let (m, sc) = parse_decimal(&s).ok_or_else(|| SqlError::unsupported(format!("numeric value {s}")))?;
            let m = duetdb_storage::types::rescale(m, sc, 10).ok_or_else(|| SqlError::new("22003", "numeric value out of range"))?;
            ScalarValue::Decimal128(Some(m), 38, 10)
        }
        oid::BYTEA => ScalarValue::Binary(Some(b.to_vec())),
        oid::DATE => {
            fixed(4)?;
            let d = i32::from_be_bytes(b.try_into().unwrap());
            ScalarValue::Date32(Some(if d == i32::MAX || d == i32::MIN { d } else { d + PG_EPOCH_DAYS }))
        }
        oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            fixed(8)?;
            let t = i64::from_be_bytes(b.try_into().unwrap());
            let t = if t == i64::MAX || t == i64::MIN { t } else { t + PG_EPOCH_MICROS };
            let tz = if o == oid::TIMESTAMPTZ { Some("UTC".into()) } else { None };
            ScalarValue::TimestampMicrosecond(Some(t), tz)
        }
        oid::INTERVAL => {
            // Microseconds, days, months (PostgreSQL's interval_send).
            fixed(16)?;
            let micros = i64::from_be_bytes(b[0..8].try_into().unwrap());
            let days = i32::from_be_bytes(b[8..12].try_into().unwrap());
            let months = i32::from_be_bytes(b[12..16].try_into().unwrap());
            let nanos = micros.checked_mul(1000).ok_or_else(|| SqlError::new("22015", "interval out of range"))?;
            ScalarValue::IntervalMonthDayNano(Some(datafusion::arrow::datatypes::IntervalMonthDayNano::new(months, days, nanos)))
        }
        oid::UUID => {
            fixed(16)?;
            ScalarValue::Utf8(Some(duetdb_storage::types::format_uuid(b.try_into().expect("16 bytes"))))
        }
        oid::JSONB => {
            if b.first() != Some(&1) {
                return Err(bad());
            }
            json_text(std::str::from_utf8(&b[1..]).map_err(|_| bad())?, o)?
        }
        oid::JSON => json_text(std::str::from_utf8(b).map_err(|_| bad())?, o)?,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN | 0 => {
            let s = std::str::from_utf8(b).map_err(|_| SqlError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
            match target {
                A::Utf8 => ScalarValue::Utf8(Some(s.to_string())),
                t => parse_scalar(s, t, &Zone::Utc)?,
            }
        }
        o if oid::element_of(o).is_some() => decode_binary_array(b, target)?,
        _ => return Err(SqlError::unsupported(format!("binary format for parameters of type {o}"))),
    })
}

fn decode_binary_array(b: &[u8], target: &A) -> SqlResult<ScalarValue> {
    let bad = || SqlError::protocol("incorrect binary data format in array parameter");
    let rd_i32 = |at: usize| -> SqlResult<i32> { b.get(at..at + 4).map(|x| i32::from_be_bytes(x.try_into().unwrap())).ok_or_else(bad) };
    let ndim = rd_i32(0)?;
    let elem_oid = rd_i32(8)? as u32;
    let A::List(f) = target else { return Err(bad()) };
    if ndim == 0 {
        return Ok(ScalarValue::List(ScalarValue::new_list_nullable(&[], f.data_type())));
    }
    if ndim != 1 {
        return Err(SqlError::unsupported("multidimensional array parameters"));
    }
    let n = rd_i32(12)?;
    if !(0..=1_000_000).contains(&n) {
        return Err(bad());
    }
    let mut pos = 20;
    let mut values = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = rd_i32(pos)?;
        pos += 4;
        if len < 0 {
            values.push(ScalarValue::try_from(f.data_type()).map_err(|e| SqlError::internal(e.to_string()))?);
            continue;
        }
        let e = b.get(pos..pos + len as usize).ok_or_else(bad)?;
        pos += len as usize;
        values.push(decode_binary(e, elem_oid, f.data_type())?);
    }
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(&values, f.data_type())))
}

/// Date/time input errors are 22007 (invalid_datetime_format) in PostgreSQL.
fn bad_datetime(ty: &DataType, s: &str) -> SqlError {
    SqlError::new("22007", format!("invalid input syntax for type {}: \"{s}\"", ty.pg_name()))
}

/// PostgreSQL's input function for a column type: the text becomes a value of
/// exactly that type (used by COPY and for text assigned to typed columns).
pub fn parse_value(s: &str, ty: &DataType, zone: &Zone) -> SqlResult<Value> {
    let bad = || SqlError::invalid_text(&ty.pg_name(), s);
    let v = match ty {
        DataType::Bool => Value::Bool(parse_bool(s).ok_or_else(bad)?),
        DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            // PostgreSQL's int input: ASCII blanks around an optional sign and digits.
            let t = s.trim_ascii();
            let out_of_range = || SqlError::new("22003", format!("value \"{s}\" is out of range for type {}", ty.pg_name()));
            let i: i64 = match t.parse() {
                Ok(i) => i,
                Err(_) => {
                    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
                    let well_formed = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                    return Err(if well_formed { out_of_range() } else { bad() });
                }
            };
            match ty {
                DataType::Int16 => Value::Int16(i16::try_from(i).map_err(|_| out_of_range())?),
                DataType::Int32 => Value::Int32(i32::try_from(i).map_err(|_| out_of_range())?),
                _ => Value::Int64(i),
            }
        }
        DataType::Float32 => Value::Float32(parse_float(s).ok_or_else(bad)? as f32),
        DataType::Float64 => Value::Float64(parse_float(s).ok_or_else(bad)?),
        DataType::Numeric { .. } => {
            let (m, sc) = parse_decimal(s).ok_or_else(bad)?;
            ty.coerce(Value::Numeric(m, sc))?
        }
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Json | DataType::Jsonb | DataType::Uuid => {
            ty.coerce(Value::Text(s.to_string()))?
        }
        DataType::Bytea => Value::Bytea(parse_bytea(s).ok_or_else(bad)?),
        DataType::Date => Value::Date(datetime::parse_date(s).ok_or_else(|| bad_datetime(ty, s))?),
        DataType::Timestamp => Value::Timestamp(datetime::parse_timestamp(s).ok_or_else(|| bad_datetime(ty, s))?),
        DataType::TimestampTz => Value::TimestampTz(datetime::parse_timestamptz(s, zone).ok_or_else(|| bad_datetime(ty, s))?),
    };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_split_as_postgresql_reads_them() {
        let items =
            |t: &str| parse_array_literal(t).map(|v| v.into_iter().map(|i| i.unwrap_or_else(|| "<null>".into())).collect::<Vec<_>>());
        assert_eq!(items("{1,2, 3 }"), Some(vec!["1".into(), "2".into(), "3".into()]));
        assert_eq!(
            items(r#"{"a,b", c d ,NULL,"NULL",x\,y,"x\"y"}"#),
            Some(vec!["a,b".into(), "c d".into(), "<null>".into(), "NULL".into(), "x,y".into(), "x\"y".into()])
        );
        assert_eq!(items(r"{\NULL,nuLL}"), Some(vec!["NULL".into(), "<null>".into()]));
        assert_eq!(items("{}"), Some(vec![]));
        assert_eq!(items(" { } "), Some(vec![]));
        for bad in ["{1,,2}", "{{1,2}}", "[1:2]={1,2}", "1,2", "{1,2", r#"{"a}"#, "{a\"b}", "{1,}"] {
            assert_eq!(items(bad), None, "{bad}");
        }
    }

    #[test]
    fn bytea_forms() {
        assert_eq!(parse_bytea("\\x0001ff"), Some(vec![0, 1, 255]));
        assert_eq!(parse_bytea("ab\\000\\\\"), Some(vec![b'a', b'b', 0, b'\\']));
        assert_eq!(parse_bytea("\\x0"), None);
    }

    #[test]
    fn column_input_rules() {
        let z = Zone::Utc;
        assert_eq!(parse_value("42", &DataType::Int32, &z).unwrap(), Value::Int32(42));
        assert_eq!(parse_value("99999999999", &DataType::Int32, &z).unwrap_err().code, "22003");
        assert_eq!(parse_value(" -32768 ", &DataType::Int16, &z).unwrap(), Value::Int16(-32768));
        assert_eq!(parse_value("32768", &DataType::Int16, &z).unwrap_err().code, "22003");
        assert_eq!(parse_value("+9223372036854775807", &DataType::Int64, &z).unwrap(), Value::Int64(i64::MAX));
        assert_eq!(parse_value("123456789012345678901234567890123456789012", &DataType::Int64, &z).unwrap_err().code, "22003");
        assert_eq!(parse_value("12a", &DataType::Int64, &z).unwrap_err().code, "22P02");
        assert_eq!(parse_value("-", &DataType::Int64, &z).unwrap_err().code, "22P02");
        assert_eq!(parse_value("1\u{a0}", &DataType::Int32, &z).unwrap_err().code, "22P02");
        assert_eq!(parse_value("abc", &DataType::Int32, &z).unwrap_err().code, "22P02");
        assert_eq!(parse_value("yes", &DataType::Bool, &z).unwrap(), Value::Bool(true));
        let num = DataType::Numeric { precision: 10, scale: 2, typmod: true };
        assert_eq!(parse_value("1.5", &num, &z).unwrap(), Value::Numeric(150, 2));
    }
}

//! Encoding result cells for DataRow messages, in text or binary format.
//!
//! Results come either as Arrow arrays (DataFusion) or as engine values (the
//! OLTP fast path). Both go through the same primitives, so a value looks the
//! same whichever path produced it. Which wire type a column has is decided
//! once, when the RowDescription is built (`wire_type`), and the encoders
//! follow that decision — a binary int4 is always 4 bytes.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Field;
use datafusion::arrow::datatypes::{
    DataType as A, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use duetdb_storage::{DataType, Value};

use super::datetime::{self, PG_EPOCH_DAYS, PG_EPOCH_MICROS, Zone};
use super::numbers::{encode_numeric_binary, format_f32, format_f64};
use super::oid::{self, PgType};

/// Field metadata keys that pin a column's wire type (set by catalog tables and
/// functions whose Arrow type alone is ambiguous, e.g. `varchar(20)` or `uuid`).
pub const META_OID: &str = "pg.oid";
pub const META_TYPMOD: &str = "pg.typmod";
pub const META_TABLE: &str = "pg.table";
pub const META_ATTNUM: &str = "pg.attnum";
/// Marks a numeric quotient (`a / b`, `avg`), shown at PostgreSQL's scale for
/// its magnitude; the value is the operands' larger scale (see [`NumericDisplay`]).
pub const META_QUOTIENT: &str = "duetdb.quotient_min_scale";

/// How a numeric result column shows its values. PostgreSQL keeps a scale
/// per value (`1.25` stays `1.25`; `2 / 3.0` has 20 decimals, `10 / 4.0` 16);
/// an Arrow decimal column has one, so:
///
/// ```text
///   Column              the column's scale (numeric(10,2) → 19.99)
///   Trimmed             numeric without a type modifier, kept at one fixed
///                       scale (38,10), and `::numeric`: without that scale's
///                       trailing zeros (1.2500000000 → 1.25)
///   Quotient{min}       `/` and `avg`, computed at 20 decimals: PostgreSQL's
///                       16 significant digits for the quotient's magnitude
///                       (20 decimals below 1, 16 up to 9999, 12 up to 10^8…),
///                       never fewer than the operands' `min`
/// ```
///
/// A declared `numeric(38,10)` carries its type modifier and keeps its zeros.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NumericDisplay {
    #[default]
    Column,
    Trimmed,
    Quotient {
        min_scale: u8,
    },
}

impl NumericDisplay {
    pub fn of_field(f: &Field) -> NumericDisplay {
        let A::Decimal128(p, s) = *f.data_type() else { return NumericDisplay::Column };
        let md = f.metadata();
        if let Some(min_scale) = md.get(META_QUOTIENT).and_then(|v| v.parse().ok()) {
            return NumericDisplay::Quotient { min_scale };
        }
        let typmod: i32 = md.get(META_TYPMOD).and_then(|v| v.parse().ok()).unwrap_or(-1);
        let (dp, ds) = duetdb_storage::types::DEFAULT_NUMERIC;
        if typmod == -1 && (p, s) == (dp, ds as i8) { NumericDisplay::Trimmed } else { NumericDisplay::Column }
    }

    /// The mantissa and scale to show for `m` at the column's `scale`.
    pub fn apply(self, m: i128, scale: u8) -> (i128, u8) {
        match self {
            NumericDisplay::Column => (m, scale),
            NumericDisplay::Trimmed => duetdb_storage::types::trim_decimal(m, scale),
            NumericDisplay::Quotient { min_scale } => {
                let shown = quotient_display_scale(m, scale).max(min_scale).min(scale);
                (duetdb_storage::types::round_decimal(m, scale, shown), shown)
            }
        }
    }
}

/// PostgreSQL's `select_div_scale` read from the quotient: 16 significant
/// digits counted from its leading base-10000 digit group.
fn quotient_display_scale(m: i128, scale: u8) -> u8 {
    let digits = m.unsigned_abs().checked_ilog10().map_or(0, |d| d as i32 + 1); // 0 for zero
    let integer_digits = digits - i32::from(scale); // ≤ 0 below 1
    // The weight of the leading base-10000 group: 0 for 1..9999, -1 for 0.0001..0.9999.
    let weight = if integer_digits > 0 { (integer_digits - 1) / 4 } else { -((-integer_digits) / 4) - 1 };
    (16 - 4 * weight).clamp(0, 255) as u8
}

/// Encodes a numeric value (mantissa, scale) as [`NumericDisplay::apply`] gave it.
pub fn encode_numeric(buf: &mut BytesMut, (m, s): (i128, u8), fmt: Format) {
    match fmt {
        Format::Text => put_text(buf, &duetdb_storage::types::format_decimal(m, s)),
        Format::Binary => put_with_len(buf, |b| encode_numeric_binary(b, m, s)),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

impl Format {
    pub fn from_code(code: i16) -> Format {
        if code == 1 { Format::Binary } else { Format::Text }
    }
}

/// Session settings that change how values print.
#[derive(Clone, Debug)]
pub struct Style {
    pub zone: Zone,
}

impl Default for Style {
    fn default() -> Self {
        Style { zone: Zone::Utc }
    }
}

/// Types whose values never travel as Arrow strings.
const NOT_TEXT: &[u32] = &[
    oid::BOOL,
    oid::INT2,
    oid::INT4,
    oid::INT8,
    oid::OID,
    oid::FLOAT4,
    oid::FLOAT8,
    oid::NUMERIC,
    oid::DATE,
    oid::TIMESTAMP,
    oid::TIMESTAMPTZ,
    oid::BYTEA,
    oid::PG_LSN,
];

/// The PostgreSQL type `field` is tagged with (`META_OID`), if any.
pub fn tagged_oid(field: &Field) -> Option<u32> {
    field.metadata().get(META_OID).and_then(|v| v.parse().ok())
}

/// The PostgreSQL type a result column is sent as.
pub fn wire_type(field: &Field) -> PgType {
    let md = field.metadata();
    if let Some(o) = tagged_oid(field) {
        // A cast to text the statement wrote is tagged text (`sql::text_casts`);
        // one that type coercion adds keeps its input's tag (DataFusion
        // carries field metadata through casts): its text values go as text.
        if matches!(field.data_type(), A::Utf8 | A::LargeUtf8 | A::Utf8View) && NOT_TEXT.contains(&o) {
            return PgType { oid: oid::TEXT, typmod: -1 };
        }
        let typmod = md.get(META_TYPMOD).and_then(|v| v.parse().ok()).unwrap_or(-1);
        return PgType { oid: o, typmod };
    }
    arrow_wire_type(field.data_type())
}

pub fn arrow_wire_type(t: &A) -> PgType {
    let oid = match t {
        A::Boolean => oid::BOOL,
        A::Int8 | A::Int16 | A::UInt8 => oid::INT2,
        A::Int32 | A::UInt16 => oid::INT4,
        A::Int64 | A::UInt64 => oid::INT8,
        A::UInt32 => oid::OID,
        A::Float16 | A::Float32 => oid::FLOAT4,
        A::Float64 => oid::FLOAT8,
        A::Decimal32(p, s) | A::Decimal64(p, s) => return numeric_type(*p, *s),
        A::Decimal128(p, s) | A::Decimal256(p, s) => return numeric_type(*p, *s),
        A::Utf8 | A::LargeUtf8 | A::Utf8View => oid::TEXT,
        A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => oid::BYTEA,
        A::Date32 | A::Date64 => oid::DATE,
        A::Timestamp(_, None) => oid::TIMESTAMP,
        A::Timestamp(_, Some(_)) => oid::TIMESTAMPTZ,
        A::Time32(_) | A::Time64(_) => oid::TIME,
        A::Interval(_) | A::Duration(_) => oid::INTERVAL,
        A::List(f) | A::LargeList(f) | A::FixedSizeList(f, _) | A::ListView(f) | A::LargeListView(f) => {
            let elem = wire_type(f).oid;
            return PgType::new(oid::array_of(elem).unwrap_or(oid::array_of(oid::TEXT).unwrap()));
        }
        A::Dictionary(_, v) => return arrow_wire_type(v),
        A::Struct(_) => oid::RECORD,
        A::Null => oid::TEXT,
        _ => oid::TEXT,
    };
    PgType::new(oid)
}

fn numeric_type(p: u8, s: i8) -> PgType {
    // Arrow always has a precision; report a typmod only when it looks declared.
    let _ = (p, s);
    PgType::new(oid::NUMERIC)
}

/// Appends a NULL cell.
#[inline]
pub fn put_null(buf: &mut BytesMut) {
    buf.put_i32(-1);
}

#[inline]
fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

#[inline]
fn put_text(buf: &mut BytesMut, s: &str) {
    put_bytes(buf, s.as_bytes());
}

/// Reserves the 4-byte length, runs `f` to write the body, then fills the length in.
#[inline]
fn put_with_len(buf: &mut BytesMut, f: impl FnOnce(&mut BytesMut)) {
    let at = buf.len();
    buf.put_i32(0);
    f(buf);
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

// ---------------------------------------------------------------------------
// Engine values (fast path)
// ---------------------------------------------------------------------------

/// Encodes an engine value of column type `ty`.
/// A char(n) value (stored without trailing blanks) as PostgreSQL sends it:
/// blank-padded to n characters.
fn bpchar_padded(s: &str, ty: PgType) -> std::borrow::Cow<'_, str> {
    if ty.oid != oid::BPCHAR || ty.typmod <= 4 {
        return s.into();
    }
    let n = (ty.typmod - 4) as usize;
    let len = if s.is_ascii() { s.len() } else { s.chars().count() };
    if len >= n {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + n - len);
    out.push_str(s);
    out.extend(std::iter::repeat_n(' ', n - len));
    out.into()
}

/// jsonb's binary form (jsonb_send): a version byte, then the text.
fn jsonb_send(b: &mut BytesMut, text: &str) {
    b.put_u8(1);
    b.put_slice(text.as_bytes());
}

/// uuid's binary form (uuid_send): its 16 bytes, from the canonical text it
/// is held as.
fn uuid_send(b: &mut BytesMut, text: &str) {
    b.put_slice(&duetdb_storage::types::parse_uuid(text).unwrap_or([0; 16]));
}

pub fn encode_value(buf: &mut BytesMut, v: &Value, ty: &DataType, fmt: Format, style: &Style) {
    if v.is_null() {
        return put_null(buf);
    }
    if let (Value::Numeric(m, s), DataType::Numeric { typmod: false, .. }) = (v, ty) {
        return encode_numeric(buf, NumericDisplay::Trimmed.apply(*m, *s), fmt);
    }
    if let (Value::Text(s), DataType::Char(n)) = (v, ty) {
        let padded = bpchar_padded(s, PgType { oid: oid::BPCHAR, typmod: *n as i32 + 4 });
        return match fmt {
            Format::Text => put_text(buf, &padded),
            Format::Binary => put_with_len(buf, |b| b.put_slice(padded.as_bytes())),
        };
    }
    match fmt {
        Format::Text => put_text(buf, &value_text(v, style)),
        Format::Binary => put_with_len(buf, |b| value_binary(b, v, ty)),
    }
}

/// A value's PostgreSQL text form.
pub fn value_text(v: &Value, style: &Style) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "t" } else { "f" }.into(),
        Value::Int16(i) => i.to_string(),
        Value::Int32(i) => i.to_string(),
        Value::Int64(i) => i.to_string(),
        Value::Float32(f) => format_f32(*f),
        Value::Float64(f) => format_f64(*f),
        Value::Numeric(m, s) => duetdb_storage::types::format_decimal(*m, *s),
        Value::Text(s) => s.clone(),
        Value::Bytea(b) => bytea_hex(b),
        Value::Date(d) => datetime::format_date(*d),
        Value::Timestamp(t) => datetime::format_timestamp(*t),
        Value::TimestampTz(t) => datetime::format_timestamptz(*t, &style.zone),
    }
}

fn value_binary(b: &mut BytesMut, v: &Value, ty: &DataType) {
    match (v, ty) {
        (Value::Bool(x), _) => b.put_u8(*x as u8),
        (Value::Int16(x), _) => b.put_i16(*x),
        (Value::Int32(x), _) => b.put_i32(*x),
        (Value::Int64(x), _) => b.put_i64(*x),
        (Value::Float32(x), _) => b.put_f32(*x),
        (Value::Float64(x), _) => b.put_f64(*x),
        (Value::Numeric(m, s), _) => encode_numeric_binary(b, *m, *s),
        (Value::Text(s), DataType::Jsonb) => jsonb_send(b, s),
        (Value::Text(s), DataType::Uuid) => uuid_send(b, s),
        (Value::Text(s), _) => b.put_slice(s.as_bytes()),
        (Value::Bytea(x), _) => b.put_slice(x),
        (Value::Date(d), _) => b.put_i32(date_to_pg(*d)),
        (Value::Timestamp(t), _) | (Value::TimestampTz(t), _) => b.put_i64(ts_to_pg(*t)),
        (Value::Null, _) => unreachable!(),
    }
}

pub fn bytea_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("\\x");
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

fn date_to_pg(d: i32) -> i32 {
    match d {
        i32::MAX | i32::MIN => d,
        d => d - PG_EPOCH_DAYS,
    }
}

fn ts_to_pg(t: i64) -> i64 {
    match t {
        i64::MAX | i64::MIN => t,
        t => t - PG_EPOCH_MICROS,
    }
}

// ---------------------------------------------------------------------------
// Arrow arrays (DataFusion results)
// ---------------------------------------------------------------------------

/// Encodes row `i` of `array`, sent as `ty`.
pub fn encode_cell(buf: &mut BytesMut, array: &ArrayRef, i: usize, ty: PgType, fmt: Format, style: &Style) {
    if array.is_null(i) {
        return put_null(buf);
    }
    match fmt {
        Format::Text => {
            let mut s = String::new();
            cell_text(&mut s, array, i, ty, style, false);
            put_text(buf, &s);
        }
        Format::Binary => put_with_len(buf, |b| cell_binary(b, array, i, ty, style)),
    }
}

macro_rules! prim {
    ($a:expr, $t:ty, $i:expr) => {
        $a.as_primitive::<$t>().value($i)
    };
}

/// Microseconds since the Unix epoch from any timestamp unit.
fn ts_micros(array: &ArrayRef, i: usize, unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => prim!(array, TimestampSecondType, i).saturating_mul(1_000_000),
        TimeUnit::Millisecond => prim!(array, TimestampMillisecondType, i).saturating_mul(1000),
        TimeUnit::Microsecond => prim!(array, TimestampMicrosecondType, i),
        TimeUnit::Nanosecond => prim!(array, TimestampNanosecondType, i).div_euclid(1000),
    }
}

fn time_micros(array: &ArrayRef, i: usize) -> i64 {
    match array.data_type() {
        A::Time32(TimeUnit::Second) => prim!(array, Time32SecondType, i) as i64 * 1_000_000,
        A::Time32(_) => prim!(array, Time32MillisecondType, i) as i64 * 1000,
        A::Time64(TimeUnit::Microsecond) => prim!(array, Time64MicrosecondType, i),
        A::Time64(_) => prim!(array, Time64NanosecondType, i) / 1000,
        _ => 0,
    }
}

/// (months, days, micros) of an interval or duration cell.
fn interval_parts(array: &ArrayRef, i: usize) -> (i32, i32, i64) {
    match array.data_type() {
        A::Interval(IntervalUnit::YearMonth) => (prim!(array, IntervalYearMonthType, i), 0, 0),
        A::Interval(IntervalUnit::DayTime) => {
            let v = prim!(array, IntervalDayTimeType, i);
            (0, v.days, v.milliseconds as i64 * 1000)
        }
        A::Interval(IntervalUnit::MonthDayNano) => {
            let v = prim!(array, IntervalMonthDayNanoType, i);
            (v.months, v.days, v.nanoseconds / 1000)
        }
        A::Duration(unit) => {
            let micros = match unit {
                TimeUnit::Second => array.as_primitive::<datafusion::arrow::datatypes::DurationSecondType>().value(i) * 1_000_000,
                TimeUnit::Millisecond => array.as_primitive::<datafusion::arrow::datatypes::DurationMillisecondType>().value(i) * 1000,
                TimeUnit::Microsecond => array.as_primitive::<datafusion::arrow::datatypes::DurationMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<datafusion::arrow::datatypes::DurationNanosecondType>().value(i) / 1000,
            };
            (0, 0, micros)
        }
        _ => (0, 0, 0),
    }
}

fn str_of(array: &ArrayRef, i: usize) -> Option<&str> {
    match array.data_type() {
        A::Utf8 => Some(array.as_string::<i32>().value(i)),
        A::LargeUtf8 => Some(array.as_string::<i64>().value(i)),
        A::Utf8View => Some(array.as_string_view().value(i)),
        _ => None,
    }
}

fn bin_of(array: &ArrayRef, i: usize) -> Option<&[u8]> {
    match array.data_type() {
        A::Binary => Some(array.as_binary::<i32>().value(i)),
        A::LargeBinary => Some(array.as_binary::<i64>().value(i)),
        A::BinaryView => Some(array.as_binary_view().value(i)),
        A::FixedSizeBinary(_) => Some(array.as_fixed_size_binary().value(i)),
        _ => None,
    }
}

/// Elements of a list cell, as an array.
fn list_of(array: &ArrayRef, i: usize) -> Option<ArrayRef> {
    match array.data_type() {
        A::List(_) => Some(array.as_list::<i32>().value(i)),
        A::LargeList(_) => Some(array.as_list::<i64>().value(i)),
        A::FixedSizeList(..) => Some(array.as_fixed_size_list().value(i)),
        _ => None,
    }
}

/// Writes the text form of a (non-null) cell. `in_array` applies array-element quoting.
pub fn cell_text(out: &mut String, array: &ArrayRef, i: usize, ty: PgType, style: &Style, in_array: bool) {
    use std::fmt::Write;
    let t = array.data_type();
    match t {
        A::Boolean => out.push(if array.as_boolean().value(i) { 't' } else { 'f' }),
        A::Int8 => write!(out, "{}", prim!(array, Int8Type, i)).unwrap(),
        A::Int16 => write!(out, "{}", prim!(array, Int16Type, i)).unwrap(),
        A::Int32 => write!(out, "{}", prim!(array, Int32Type, i)).unwrap(),
        A::Int64 => write!(out, "{}", prim!(array, Int64Type, i)).unwrap(),
        A::UInt8 => write!(out, "{}", prim!(array, UInt8Type, i)).unwrap(),
        A::UInt16 => write!(out, "{}", prim!(array, UInt16Type, i)).unwrap(),
        A::UInt32 => write!(out, "{}", prim!(array, UInt32Type, i)).unwrap(),
        A::UInt64 if ty.oid == oid::PG_LSN => write!(out, "{}", duetdb_storage::Lsn(prim!(array, UInt64Type, i))).unwrap(),
        A::UInt64 => write!(out, "{}", prim!(array, UInt64Type, i)).unwrap(),
        A::Float16 => out.push_str(&format_f32(prim!(array, Float16Type, i).to_f32())),
        A::Float32 => out.push_str(&format_f32(prim!(array, Float32Type, i))),
        A::Float64 => out.push_str(&format_f64(prim!(array, Float64Type, i))),
        A::Decimal128(_, s) => {
            out.push_str(&decimal_text(prim!(array, Decimal128Type, i), *s));
        }
        A::Decimal256(_, s) => {
            let v = prim!(array, Decimal256Type, i);
            out.push_str(&decimal256_text(&v.to_string(), *s));
        }
        A::Utf8 | A::LargeUtf8 | A::Utf8View => {
            let s = bpchar_padded(str_of(array, i).unwrap(), ty);
            if in_array { push_array_elem(out, &s) } else { out.push_str(&s) }
        }
        A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => {
            let h = bytea_hex(bin_of(array, i).unwrap());
            if in_array { push_array_elem(out, &h) } else { out.push_str(&h) }
        }
        A::Date32 => out.push_str(&datetime::format_date(prim!(array, Date32Type, i))),
        A::Date64 => out.push_str(&datetime::format_date((prim!(array, Date64Type, i) / 86_400_000) as i32)),
        A::Timestamp(unit, tz) => {
            let m = ts_micros(array, i, unit);
            let s = if tz.is_some() || ty.oid == oid::TIMESTAMPTZ {
                datetime::format_timestamptz(m, &style.zone)
            } else {
                datetime::format_timestamp(m)
            };
            if in_array { push_array_elem(out, &s) } else { out.push_str(&s) }
        }
        A::Time32(_) | A::Time64(_) => out.push_str(&datetime::format_time(time_micros(array, i))),
        A::Interval(_) | A::Duration(_) => {
            let (m, d, us) = interval_parts(array, i);
            let s = datetime::format_interval(m, d, us);
            if in_array { push_array_elem(out, &s) } else { out.push_str(&s) }
        }
        A::List(_) | A::LargeList(_) | A::FixedSizeList(..) if ty.oid == oid::INT2VECTOR || ty.oid == oid::OIDVECTOR => {
            // int2vector / oidvector print space-separated, without braces.
            let elems = list_of(array, i).unwrap();
            for j in 0..elems.len() {
                if j > 0 {
                    out.push(' ');
                }
                cell_text(out, &elems, j, PgType::new(oid::TEXT), style, false);
            }
        }
        A::List(_) | A::LargeList(_) | A::FixedSizeList(..) => {
            let elems = list_of(array, i).unwrap();
            let elem_ty = PgType::new(oid::element_of(ty.oid).unwrap_or(oid::TEXT));
            out.push('{');
            for j in 0..elems.len() {
                if j > 0 {
                    out.push(',');
                }
                if elems.is_null(j) {
                    out.push_str("NULL");
                } else {
                    cell_text(out, &elems, j, elem_ty, style, true);
                }
            }
            out.push('}');
        }
        A::Struct(_) => {
            let s = array.as_struct();
            out.push('(');
            for (k, col) in s.columns().iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                if !col.is_null(i) {
                    let mut v = String::new();
                    cell_text(&mut v, col, i, wire_type(&s.fields()[k]), style, false);
                    if v.is_empty() || v.contains([',', '(', ')', '"', '\\', ' ']) {
                        out.push('"');
                        out.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
                        out.push('"');
                    } else {
                        out.push_str(&v);
                    }
                }
            }
            out.push(')');
        }
        A::Dictionary(..) => {
            let values = datafusion::arrow::compute::cast(&array.slice(i, 1), &dictionary_value_type(t)).unwrap();
            cell_text(out, &values, 0, ty, style, in_array);
        }
        A::Null => {}
        other => write!(out, "<{other}>").unwrap(),
    }
}

fn dictionary_value_type(t: &A) -> A {
    match t {
        A::Dictionary(_, v) => (**v).clone(),
        t => t.clone(),
    }
}

/// Array element quoting: `{a,"b c","x\"y",NULL-as-text}`.
fn push_array_elem(out: &mut String, s: &str) {
    let needs =
        s.is_empty() || s.eq_ignore_ascii_case("null") || s.chars().any(|c| matches!(c, ',' | '{' | '}' | '"' | '\\' | ' ' | '\t' | '\n'));
    if !needs {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

pub fn decimal_text(v: i128, scale: i8) -> String {
    if scale >= 0 { duetdb_storage::types::format_decimal(v, scale as u8) } else { format!("{}{}", v, "0".repeat((-scale) as usize)) }
}

fn decimal256_text(digits: &str, scale: i8) -> String {
    let (neg, d) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits),
    };
    let s = scale.max(0) as usize;
    let body = if d.len() > s {
        if s == 0 { d.to_string() } else { format!("{}.{}", &d[..d.len() - s], &d[d.len() - s..]) }
    } else {
        format!("0.{}{}", "0".repeat(s - d.len()), d)
    };
    if neg { format!("-{body}") } else { body }
}

fn cell_binary(b: &mut BytesMut, array: &ArrayRef, i: usize, ty: PgType, style: &Style) {
    let t = array.data_type();
    // Integers go out at the width the RowDescription promised.
    let int_value = || -> Option<i128> {
        Some(match t {
            A::Int8 => prim!(array, Int8Type, i) as i128,
            A::Int16 => prim!(array, Int16Type, i) as i128,
            A::Int32 => prim!(array, Int32Type, i) as i128,
            A::Int64 => prim!(array, Int64Type, i) as i128,
            A::UInt8 => prim!(array, UInt8Type, i) as i128,
            A::UInt16 => prim!(array, UInt16Type, i) as i128,
            A::UInt32 => prim!(array, UInt32Type, i) as i128,
            A::UInt64 => prim!(array, UInt64Type, i) as i128,
            _ => return None,
        })
    };
    match ty.oid {
        oid::BOOL => b.put_u8(array.as_boolean().value(i) as u8),
        oid::INT2 => b.put_i16(int_value().unwrap_or(0) as i16),
        oid::INT4 => b.put_i32(int_value().unwrap_or(0) as i32),
        oid::INT8 => b.put_i64(int_value().unwrap_or(0) as i64),
        // A regtype that travels as its name (pg_typeof, to_regtype) goes as its oid.
        oid::REGTYPE => b.put_u32(match str_of(array, i) {
            Some(name) => oid::oid_for_name(name).unwrap_or(0),
            None => int_value().unwrap_or(0) as u32,
        }),
        oid::OID | oid::REGCLASS | oid::REGNAMESPACE | oid::XID => b.put_u32(int_value().unwrap_or(0) as u32),
        oid::FLOAT4 => b.put_f32(match t {
            A::Float16 => prim!(array, Float16Type, i).to_f32(),
            A::Float32 => prim!(array, Float32Type, i),
            _ => prim!(array, Float64Type, i) as f32,
        }),
        oid::FLOAT8 => b.put_f64(match t {
            A::Float32 => prim!(array, Float32Type, i) as f64,
            _ => prim!(array, Float64Type, i),
        }),
        oid::NUMERIC => match t {
            A::Decimal128(_, s) if *s >= 0 => encode_numeric_binary(b, prim!(array, Decimal128Type, i), *s as u8),
            _ => {
                let mut s = String::new();
                cell_text(&mut s, array, i, ty, style, false);
                match duetdb_storage::types::parse_decimal(&s) {
                    Some((m, sc)) => encode_numeric_binary(b, m, sc),
                    None => encode_numeric_binary(b, 0, 0),
                }
            }
        },
        oid::BYTEA => b.put_slice(bin_of(array, i).unwrap_or_default()),
        oid::DATE => b.put_i32(date_to_pg(match t {
            A::Date64 => (prim!(array, Date64Type, i) / 86_400_000) as i32,
            _ => prim!(array, Date32Type, i),
        })),
        oid::TIMESTAMP | oid::TIMESTAMPTZ => match t {
            A::Timestamp(unit, _) => b.put_i64(ts_to_pg(ts_micros(array, i, unit))),
            _ => b.put_i64(0),
        },
        oid::TIME => b.put_i64(time_micros(array, i)),
        oid::INTERVAL => {
            let (m, d, us) = interval_parts(array, i);
            b.put_i64(us);
            b.put_i32(d);
            b.put_i32(m);
        }
        oid::UUID => uuid_send(b, str_of(array, i).unwrap_or("")),
        oid::JSONB => jsonb_send(b, str_of(array, i).unwrap_or("")),
        oid::PG_LSN => match array.data_type() {
            A::UInt64 => b.put_u64(prim!(array, UInt64Type, i)),
            _ => {
                let s = str_of(array, i).unwrap_or("0/0");
                b.put_u64(s.parse::<duetdb_storage::Lsn>().map(|l| l.0).unwrap_or(0));
            }
        },
        elem_array if oid::element_of(elem_array).is_some() => {
            let elem_oid = oid::element_of(elem_array).unwrap();
            let elems = list_of(array, i).unwrap_or_else(|| Arc::new(datafusion::arrow::array::NullArray::new(0)));
            b.put_i32(1);
            b.put_i32(elems.null_count().min(1) as i32);
            b.put_u32(elem_oid);
            b.put_i32(elems.len() as i32);
            b.put_i32(1);
            for j in 0..elems.len() {
                if elems.is_null(j) {
                    b.put_i32(-1);
                } else {
                    put_with_len(b, |b| cell_binary(b, &elems, j, PgType::new(elem_oid), style));
                }
            }
        }
        _ => {
            // Text-like types (text, varchar, bpchar, name, char, json, record…):
            // the binary form is the text form.
            match str_of(array, i) {
                Some(s) => b.put_slice(bpchar_padded(s, ty).as_bytes()),
                None => {
                    let mut s = String::new();
                    cell_text(&mut s, array, i, ty, style, false);
                    b.put_slice(s.as_bytes());
                }
            }
        }
    }
}

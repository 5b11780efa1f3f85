//! The compact row format.
//!
//! Tables live in memory, so a row's size is the engine's memory bill. Each row
//! version is one heap allocation holding this encoding — the same bytes the WAL
//! carries and replicas decode:
//!
//! ```text
//!   +--------+----------------+----------------------------------------------+
//!   | ncols  | null bitmap    | values of the non-null columns, in order      |
//!   | u16 LE | ceil(ncols/8)  | fixed-width: little-endian, 1/2/4/8/16 bytes  |
//!   |        | bit set = NULL | variable:    u32 LE length, then the bytes    |
//!   +--------+----------------+----------------------------------------------+
//! ```
//!
//! Columns are *physical*: a dropped column keeps its slot (stored as NULL from
//! then on) and an added column gets a new slot at the end, so a row written
//! before `ALTER TABLE … ADD COLUMN` simply has fewer columns, and the reader
//! fills the missing tail from the column's default at the time it was added.
//! Rows are therefore never rewritten by DDL.
//!
//! Decoding needs the column types (the row does not repeat them); a row is read
//! by walking it once, which for the narrow rows of OLTP tables is as fast as an
//! offset table and smaller.

use crate::error::{Error, Result};
use crate::types::{DataType, Value};

/// An encoded row, one allocation.
pub type RowBuf = Box<[u8]>;

/// A borrowed column value: what a decoder hands out without allocating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    Numeric(i128, u8),
    Text(&'a str),
    Bytea(&'a [u8]),
    Date(i32),
    Timestamp(i64),
    TimestampTz(i64),
}

impl ValueRef<'_> {
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int16(i) => Value::Int16(i),
            ValueRef::Int32(i) => Value::Int32(i),
            ValueRef::Int64(i) => Value::Int64(i),
            ValueRef::Float32(f) => Value::Float32(f),
            ValueRef::Float64(f) => Value::Float64(f),
            ValueRef::Numeric(m, s) => Value::Numeric(m, s),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Bytea(b) => Value::Bytea(b.to_vec()),
            ValueRef::Date(d) => Value::Date(d),
            ValueRef::Timestamp(t) => Value::Timestamp(t),
            ValueRef::TimestampTz(t) => Value::TimestampTz(t),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, ValueRef::Null)
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int16(i) => ValueRef::Int16(*i),
            Value::Int32(i) => ValueRef::Int32(*i),
            Value::Int64(i) => ValueRef::Int64(*i),
            Value::Float32(f) => ValueRef::Float32(*f),
            Value::Float64(f) => ValueRef::Float64(*f),
            Value::Numeric(m, s) => ValueRef::Numeric(*m, *s),
            Value::Text(s) => ValueRef::Text(s),
            Value::Bytea(b) => ValueRef::Bytea(b),
            Value::Date(d) => ValueRef::Date(*d),
            Value::Timestamp(t) => ValueRef::Timestamp(*t),
            Value::TimestampTz(t) => ValueRef::TimestampTz(*t),
        }
    }
}

/// Encodes `values` (already coerced to `types`) as a row.
///
/// Panics if a value does not have its column's shape: the caller coerces first,
/// so a mismatch here is a bug, not bad input.
pub fn encode_row(types: &[DataType], values: &[Value]) -> RowBuf {
    if values.len() <= 16 {
        // Short rows: borrow into a stack array instead of allocating a Vec.
        let mut refs = [ValueRef::Null; 16];
        for (r, v) in refs.iter_mut().zip(values) {
            *r = ValueRef::from(v);
        }
        return encode_row_refs(types, &refs[..values.len()]);
    }
    let refs: Vec<ValueRef<'_>> = values.iter().map(ValueRef::from).collect();
    encode_row_refs(types, &refs)
}

/// Encodes borrowed values as a row (see [`encode_row`]).
pub fn encode_row_refs(types: &[DataType], values: &[ValueRef<'_>]) -> RowBuf {
    assert_eq!(types.len(), values.len(), "row has {} values for {} columns", values.len(), types.len());
    assert!(types.len() <= u16::MAX as usize);
    let ncols = types.len();
    let bitmap_len = ncols.div_ceil(8);
    let mut size = 2 + bitmap_len;
    for (ty, v) in types.iter().zip(values) {
        size += match v {
            ValueRef::Null => 0,
            ValueRef::Text(s) => 4 + s.len(),
            ValueRef::Bytea(b) => 4 + b.len(),
            _ => ty.fixed_width().expect("fixed-width value in a variable-width column"),
        };
    }
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(&(ncols as u16).to_le_bytes());
    buf.resize(2 + bitmap_len, 0);
    for (i, (ty, v)) in types.iter().zip(values).enumerate() {
        match (ty, v) {
            (_, ValueRef::Null) => buf[2 + i / 8] |= 1 << (i % 8),
            (DataType::Bool, ValueRef::Bool(b)) => buf.push(*b as u8),
            (DataType::Int16, ValueRef::Int16(x)) => buf.extend_from_slice(&x.to_le_bytes()),
            (DataType::Int32, ValueRef::Int32(x)) => buf.extend_from_slice(&x.to_le_bytes()),
            (DataType::Int64, ValueRef::Int64(x)) => buf.extend_from_slice(&x.to_le_bytes()),
            (DataType::Float32, ValueRef::Float32(x)) => buf.extend_from_slice(&x.to_le_bytes()),
            (DataType::Float64, ValueRef::Float64(x)) => buf.extend_from_slice(&x.to_le_bytes()),
            (DataType::Numeric { scale, .. }, ValueRef::Numeric(m, s)) => {
                assert_eq!(scale, s, "numeric value at scale {s} in a column of scale {scale}");
                buf.extend_from_slice(&m.to_le_bytes())
            }
            (
                DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Json | DataType::Jsonb | DataType::Uuid,
                ValueRef::Text(s),
            ) => {
                buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
            (DataType::Bytea, ValueRef::Bytea(b)) => {
                buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
                buf.extend_from_slice(b);
            }
            (DataType::Date, ValueRef::Date(d)) => buf.extend_from_slice(&d.to_le_bytes()),
            (DataType::Timestamp, ValueRef::Timestamp(t)) | (DataType::TimestampTz, ValueRef::TimestampTz(t)) => {
                buf.extend_from_slice(&t.to_le_bytes())
            }
            (ty, v) => panic!("value {v:?} does not fit column type {ty}"),
        }
    }
    debug_assert_eq!(buf.len(), size);
    buf.into_boxed_slice()
}

/// Number of physical columns stored in an encoded row.
pub fn row_ncols(row: &[u8]) -> usize {
    u16::from_le_bytes([row[0], row[1]]) as usize
}

/// Calls `f(column, value)` for each of the first `types.len()` physical columns
/// of `row`. Columns the row does not have (added after it was written) are
/// reported as `None` so the caller can substitute the column's missing-value default.
#[inline]
pub fn for_each_value<'a>(types: &[DataType], row: &'a [u8], mut f: impl FnMut(usize, Option<ValueRef<'a>>)) {
    let ncols = row_ncols(row);
    let bitmap = &row[2..2 + ncols.div_ceil(8)];
    let mut pos = 2 + bitmap.len();
    for (i, ty) in types.iter().enumerate() {
        if i >= ncols {
            f(i, None);
            continue;
        }
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            f(i, Some(ValueRef::Null));
            continue;
        }
        let (v, len) = decode_value(ty, &row[pos..]);
        pos += len;
        f(i, Some(v));
    }
}

#[inline]
fn decode_value<'a>(ty: &DataType, b: &'a [u8]) -> (ValueRef<'a>, usize) {
    fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
        b[..N].try_into().unwrap()
    }
    match ty {
        DataType::Bool => (ValueRef::Bool(b[0] != 0), 1),
        DataType::Int16 => (ValueRef::Int16(i16::from_le_bytes(arr(b))), 2),
        DataType::Int32 => (ValueRef::Int32(i32::from_le_bytes(arr(b))), 4),
        DataType::Int64 => (ValueRef::Int64(i64::from_le_bytes(arr(b))), 8),
        DataType::Float32 => (ValueRef::Float32(f32::from_le_bytes(arr(b))), 4),
        DataType::Float64 => (ValueRef::Float64(f64::from_le_bytes(arr(b))), 8),
        DataType::Numeric { scale, .. } => (ValueRef::Numeric(i128::from_le_bytes(arr(b)), *scale), 16),
        DataType::Date => (ValueRef::Date(i32::from_le_bytes(arr(b))), 4),
        DataType::Timestamp => (ValueRef::Timestamp(i64::from_le_bytes(arr(b))), 8),
        DataType::TimestampTz => (ValueRef::TimestampTz(i64::from_le_bytes(arr(b))), 8),
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Json | DataType::Jsonb | DataType::Uuid => {
            let n = u32::from_le_bytes(arr(b)) as usize;
            // Rows are validated when they enter (WAL replay, checkpoints, the network):
            // an invalid sequence here cannot happen, but must not be undefined behaviour.
            let s = std::str::from_utf8(&b[4..4 + n]).unwrap_or("\u{FFFD}");
            (ValueRef::Text(s), 4 + n)
        }
        DataType::Bytea => {
            let n = u32::from_le_bytes(arr(b)) as usize;
            (ValueRef::Bytea(&b[4..4 + n]), 4 + n)
        }
    }
}

/// Decodes the whole row into owned values, filling missing columns from `missing`.
pub fn decode_row(types: &[DataType], missing: &[Value], row: &[u8]) -> Vec<Value> {
    let mut out = Vec::with_capacity(types.len());
    for_each_value(types, row, |i, v| {
        out.push(match v {
            Some(v) => v.to_owned(),
            None => missing.get(i).cloned().unwrap_or(Value::Null),
        })
    });
    out
}

/// Reads one column (owned), or the missing-value default when the row predates it.
pub fn decode_column(types: &[DataType], missing: &[Value], row: &[u8], col: usize) -> Value {
    let mut out = Value::Null;
    // Walk only as far as needed.
    for_each_value(&types[..=col], row, |i, v| {
        if i == col {
            out = match v {
                Some(v) => v.to_owned(),
                None => missing.get(i).cloned().unwrap_or(Value::Null),
            }
        }
    });
    out
}

/// Checks that untrusted bytes (from the WAL, a checkpoint, the network) form a
/// well-formed row for `types`, so that decoding them later cannot fail.
pub fn validate_row(types: &[DataType], row: &[u8]) -> Result<()> {
    let bad = |why: &str| Err(Error::Corrupt(format!("malformed row: {why}")));
    if row.len() < 2 {
        return bad("shorter than its header");
    }
    let ncols = row_ncols(row);
    if ncols > types.len() {
        return bad("more columns than the table has");
    }
    let bitmap_len = ncols.div_ceil(8);
    if row.len() < 2 + bitmap_len {
        return bad("truncated null bitmap");
    }
    let mut pos = 2 + bitmap_len;
    for (i, ty) in types.iter().take(ncols).enumerate() {
        if row[2 + i / 8] & (1 << (i % 8)) != 0 {
            continue;
        }
        let len = match ty.fixed_width() {
            Some(w) => w,
            None => {
                if row.len() < pos + 4 {
                    return bad("truncated length");
                }
                let n = u32::from_le_bytes(row[pos..pos + 4].try_into().unwrap()) as usize;
                if row.len() < pos + 4 + n {
                    return bad("truncated value");
                }
                if ty != &DataType::Bytea && std::str::from_utf8(&row[pos + 4..pos + 4 + n]).is_err() {
                    return bad("invalid UTF-8 in a text column");
                }
                4 + n
            }
        };
        if row.len() < pos + len {
            return bad("truncated value");
        }
        pos += len;
    }
    if pos != row.len() {
        return bad("trailing bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn types() -> Vec<DataType> {
        vec![
            DataType::Int32,
            DataType::Text,
            DataType::Numeric { precision: 10, scale: 2, typmod: true },
            DataType::Bool,
            DataType::Bytea,
            DataType::TimestampTz,
        ]
    }

    #[test]
    fn round_trip_with_nulls() {
        let values = vec![
            Value::Int32(-7),
            Value::Text("héllo".into()),
            Value::Null,
            Value::Bool(true),
            Value::Bytea(vec![0, 1, 255]),
            Value::TimestampTz(1_700_000_000_000_000),
        ];
        let row = encode_row(&types(), &values);
        validate_row(&types(), &row).unwrap();
        assert_eq!(decode_row(&types(), &[], &row), values);
        assert_eq!(decode_column(&types(), &[], &row, 1), Value::Text("héllo".into()));
    }

    #[test]
    fn old_rows_read_added_columns_from_missing_defaults() {
        let old_types = vec![DataType::Int32];
        let row = encode_row(&old_types, &[Value::Int32(1)]);
        let new_types = vec![DataType::Int32, DataType::Int64];
        let missing = vec![Value::Null, Value::Int64(42)];
        assert_eq!(decode_row(&new_types, &missing, &row), vec![Value::Int32(1), Value::Int64(42)]);
    }

    #[test]
    fn validation_rejects_garbage() {
        let row = encode_row(&types(), &[Value::Int32(1), Value::Text("x".into()), Value::Null, Value::Null, Value::Null, Value::Null]);
        for cut in 0..row.len() {
            assert!(validate_row(&types(), &row[..cut]).is_err(), "accepted a row cut at {cut}");
        }
        let mut bad_utf8 = row.to_vec();
        let pos = bad_utf8.len() - 1;
        bad_utf8[pos] = 0xFF;
        assert!(validate_row(&types(), &bad_utf8).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_rows_round_trip(i in any::<Option<i32>>(), s in any::<Option<String>>(), b in any::<Option<Vec<u8>>>()) {
            let types = vec![DataType::Int32, DataType::Text, DataType::Bytea];
            let values = vec![
                i.map(Value::Int32).unwrap_or(Value::Null),
                s.map(Value::Text).unwrap_or(Value::Null),
                b.map(Value::Bytea).unwrap_or(Value::Null),
            ];
            let row = encode_row(&types, &values);
            prop_assert!(validate_row(&types, &row).is_ok());
            prop_assert_eq!(decode_row(&types, &[], &row), values);
        }

        #[test]
        fn validation_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = validate_row(&types(), &bytes);
        }
    }
}

//! Order-preserving key encoding for indexes.
//!
//! An index is an ordered set of byte strings; for that to order rows the way
//! SQL orders values, a key's bytes must compare like its values. Each value is
//! encoded so that `memcmp` order equals value order, and the encodings are
//! self-delimiting, so a composite key is just their concatenation and a key is
//! a prefix of every index entry that carries it:
//!
//! ```text
//!   entry = enc(v1) enc(v2) … enc(vn) rowid(8 bytes BE)
//!
//!   enc(NULL)   = 0x02                 NULLs sort last, as in PostgreSQL's ASC
//!   enc(v)      = 0x01 body(v)
//!   body(int)   = big-endian with the sign bit flipped
//!   body(float) = IEEE bits, all flipped if negative, else sign flipped
//!   body(text)  = bytes with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x01
//! ```
//!
//! Text compares bytewise (the "C" collation). Numerics are compared as their
//! mantissa at the column's scale, so keys of one column always agree on scale.

use crate::row::ValueRef;

const NOT_NULL: u8 = 0x01;
const NULL: u8 = 0x02;

/// Appends the encoding of one key column to `out`.
pub fn encode_value(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => out.push(NULL),
        v => {
            out.push(NOT_NULL);
            encode_body(out, v)
        }
    }
}

fn encode_body(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => unreachable!(),
        ValueRef::Bool(b) => out.push(b as u8),
        ValueRef::Int16(i) => out.extend_from_slice(&((i as u16) ^ 0x8000).to_be_bytes()),
        ValueRef::Int32(i) | ValueRef::Date(i) => out.extend_from_slice(&((i as u32) ^ 0x8000_0000).to_be_bytes()),
        ValueRef::Int64(i) | ValueRef::Timestamp(i) | ValueRef::TimestampTz(i) => {
            out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes())
        }
        ValueRef::Numeric(m, _) => out.extend_from_slice(&((m as u128) ^ (1 << 127)).to_be_bytes()),
        ValueRef::Float32(f) => out.extend_from_slice(&float_bits(f as f64).to_be_bytes()),
        ValueRef::Float64(f) => out.extend_from_slice(&float_bits(f).to_be_bytes()),
        ValueRef::Text(s) => encode_bytes(out, s.as_bytes()),
        ValueRef::Bytea(b) => encode_bytes(out, b),
    }
}

/// Floats are widened to f64 so a real column's keys compare like double's.
/// -0.0 equals 0.0 and every NaN is one value sorting above infinity, as in PostgreSQL.
fn float_bits(f: f64) -> u64 {
    let f = if f == 0.0 {
        0.0
    } else if f.is_nan() {
        f64::NAN
    } else {
        f
    };
    let bits = f.to_bits();
    if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) }
}

fn encode_bytes(out: &mut Vec<u8>, b: &[u8]) {
    for &byte in b {
        if byte == 0 {
            out.extend_from_slice(&[0x00, 0xFF]);
        } else {
            out.push(byte);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Encodes a whole key.
pub fn encode_key<'a>(values: impl IntoIterator<Item = ValueRef<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    for v in values {
        encode_value(&mut out, v);
    }
    out
}

/// True if any column of the encoded key is NULL. NULLs never conflict in a
/// unique index (they are distinct from each other), as in PostgreSQL.
pub fn key_has_null(values: &[ValueRef<'_>]) -> bool {
    values.iter().any(|v| v.is_null())
}

/// The smallest byte string greater than every string that starts with `prefix`,
/// or None if there is none (the prefix is all 0xFF). Used as an exclusive upper
/// bound for "all entries with this key".
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(v: ValueRef<'_>) -> Vec<u8> {
        encode_key([v])
    }

    proptest! {
        #[test]
        fn integers_order_like_values(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(a.cmp(&b), key(ValueRef::Int64(a)).cmp(&key(ValueRef::Int64(b))));
        }

        #[test]
        fn floats_order_like_values(a in any::<f64>(), b in any::<f64>()) {
            prop_assume!(!a.is_nan() && !b.is_nan());
            prop_assert_eq!(a.partial_cmp(&b).unwrap(), key(ValueRef::Float64(a)).cmp(&key(ValueRef::Float64(b))));
        }

        #[test]
        fn strings_order_like_bytes_and_compose(a in ".*", b in ".*", x in any::<i32>(), y in any::<i32>()) {
            // Composite keys: order by first column, then second — the delimiter must
            // keep "a" < "ab" even when a longer second column follows.
            let ka = encode_key([ValueRef::Text(&a), ValueRef::Int32(x)]);
            let kb = encode_key([ValueRef::Text(&b), ValueRef::Int32(y)]);
            let expected = a.as_bytes().cmp(b.as_bytes()).then(x.cmp(&y));
            prop_assert_eq!(expected, ka.cmp(&kb));
        }

        #[test]
        fn decimals_order_like_values(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(a.cmp(&b), key(ValueRef::Numeric(a as i128, 2)).cmp(&key(ValueRef::Numeric(b as i128, 2))));
        }
    }

    #[test]
    fn nulls_sort_last_and_zero_bytes_escape() {
        assert!(key(ValueRef::Int32(i32::MAX)) < key(ValueRef::Null));
        assert!(key(ValueRef::Text("a")) < key(ValueRef::Text("a\0")));
        assert!(key(ValueRef::Text("a\0")) < key(ValueRef::Text("a\0b")));
        assert_eq!(key(ValueRef::Float64(-0.0)), key(ValueRef::Float64(0.0)));
        assert!(key(ValueRef::Float64(f64::INFINITY)) < key(ValueRef::Float64(f64::NAN)));
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}

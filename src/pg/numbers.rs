//! Numbers in PostgreSQL's wire forms.
//!
//! Floats print as PostgreSQL 12+ does (shortest text that reads back exactly,
//! switching to exponent form below 1e-4 and from 1e15 — 1e6 for real), and
//! numerics travel in binary as base-10000 digit groups.

use bytes::{BufMut, BytesMut};

pub fn format_f64(f: f64) -> String {
    format_float(f, 15, |f| format!("{f:e}"), |f| format!("{f}"))
}

pub fn format_f32(f: f32) -> String {
    let g = f as f64;
    if g.is_nan() || g.is_infinite() {
        return format_f64(g);
    }
    format_float(g, 6, |_| format!("{f:e}"), |_| format!("{f}"))
}

fn format_float(f: f64, max_exp: i32, sci: impl Fn(f64) -> String, plain: impl Fn(f64) -> String) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let s = sci(f);
    let (mant, exp) = s.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if exp < -4 || exp >= max_exp { format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()) } else { plain(f) }
}

/// Writes a decimal (mantissa at `scale`) in PostgreSQL's binary numeric form.
pub fn encode_numeric_binary(buf: &mut BytesMut, m: i128, scale: u8) {
    let neg = m < 0;
    let digits = m.unsigned_abs().to_string();
    let scale = scale as usize;
    let (int_part, frac_part) = if digits.len() > scale {
        (digits[..digits.len() - scale].to_string(), digits[digits.len() - scale..].to_string())
    } else {
        ("0".to_string(), format!("{}{}", "0".repeat(scale - digits.len()), digits))
    };
    // Integer groups of 4 from the right, fraction groups of 4 from the left.
    let int_trim = int_part.trim_start_matches('0');
    let pad = (4 - int_trim.len() % 4) % 4;
    let int_padded = format!("{}{}", "0".repeat(pad), int_trim);
    let mut groups: Vec<i16> = int_padded.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap().parse().unwrap()).collect();
    let int_groups = groups.len() as i16;
    let fpad = (4 - frac_part.len() % 4) % 4;
    let frac_padded = format!("{frac_part}{}", "0".repeat(fpad));
    groups.extend(frac_padded.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap().parse::<i16>().unwrap()));
    let mut weight = int_groups - 1;
    // Strip leading zero groups (adjusting weight) and trailing zero groups.
    let mut start = 0;
    while start < groups.len() && groups[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = groups.len();
    while end > start && groups[end - 1] == 0 {
        end -= 1;
    }
    let groups = &groups[start..end];
    if groups.is_empty() {
        weight = 0;
    }
    buf.put_i16(groups.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if neg && !groups.is_empty() { 0x4000 } else { 0 });
    buf.put_i16(scale as i16);
    for g in groups {
        buf.put_i16(*g);
    }
}

/// Reads PostgreSQL's binary numeric into a decimal string (handles NaN and ±Infinity).
pub fn decode_numeric_binary(b: &[u8]) -> Option<String> {
    if b.len() < 8 {
        return None;
    }
    let rd = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
    let ndigits = rd(0) as usize;
    let weight = rd(2) as i32;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    let dscale = rd(6) as usize;
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0 | 0x4000 => {}
        _ => return None,
    }
    if b.len() != 8 + ndigits * 2 {
        return None;
    }
    let digits: Vec<i16> = (0..ndigits).map(|i| rd(8 + i * 2)).collect();
    if digits.iter().any(|d| !(0..10000).contains(d)) {
        return None;
    }
    let mut int_part = String::new();
    for i in 0..=weight.max(-1) {
        let d = digits.get(i as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 {
                int_part.push_str(&d.to_string());
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut i = weight + 1;
    while (frac.len()) < dscale {
        let d = if i >= 0 { digits.get(i as usize).copied().unwrap_or(0) } else { 0 };
        frac.push_str(&format!("{d:04}"));
        i += 1;
    }
    frac.truncate(dscale);
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    s.push_str(&int_part);
    if dscale > 0 {
        s.push('.');
        s.push_str(&frac);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_postgres() {
        assert_eq!(format_f64(1.25), "1.25");
        assert_eq!(format_f64(0.1), "0.1");
        assert_eq!(format_f64(1e15), "1e+15");
        assert_eq!(format_f64(123456789012345.0), "123456789012345");
        assert_eq!(format_f64(0.0001), "0.0001");
        assert_eq!(format_f64(0.00001), "1e-05");
        assert_eq!(format_f64(-2.5e-10), "-2.5e-10");
        assert_eq!(format_f64(f64::NAN), "NaN");
        assert_eq!(format_f64(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(format_f32(1e6), "1e+06");
        assert_eq!(format_f32(100000.0), "100000");
        assert_eq!(format_f32(0.1), "0.1");
    }

    #[test]
    fn numeric_binary_round_trips() {
        for (m, s, text) in [
            (999i128, 2u8, "9.99"),
            (-12345678, 4, "-1234.5678"),
            (0, 2, "0.00"),
            (1, 0, "1"),
            (100000000, 0, "100000000"),
            (5, 5, "0.00005"),
            (123450000000, 2, "1234500000.00"),
        ] {
            let mut buf = BytesMut::new();
            encode_numeric_binary(&mut buf, m, s);
            assert_eq!(decode_numeric_binary(&buf).as_deref(), Some(text), "{m} scale {s}");
        }
        assert!(decode_numeric_binary(&[0, 1]).is_none());
    }
}

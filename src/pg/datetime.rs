//! Dates and times in PostgreSQL's text forms (DateStyle ISO).
//!
//! Values are days / microseconds since the Unix epoch (Arrow's convention);
//! the binary protocol counts from 2000-01-01, hence `PG_EPOCH_*`.
//! `timestamptz` prints in the session's `TimeZone`, with PostgreSQL's
//! shortest offset form (`+00`, `+05:30`).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

pub const PG_EPOCH_DAYS: i32 = 10_957; // 2000-01-01 - 1970-01-01
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A session time zone: a fixed offset or a tz database zone.
#[derive(Clone, Debug, PartialEq)]
pub enum Zone {
    Utc,
    Fixed(i32),
    Named(Tz),
}

impl Zone {
    /// Parses `UTC`, `Europe/Paris`, `+02`, `-05:30`, `GMT`…
    pub fn parse(s: &str) -> Option<Zone> {
        let t = s.trim().trim_matches('\'');
        let upper = t.to_ascii_uppercase();
        if matches!(upper.as_str(), "UTC" | "GMT" | "Z" | "ETC/UTC" | "UCT" | "ZULU" | "UNIVERSAL") {
            return Some(Zone::Utc);
        }
        if let Some(secs) = parse_offset(t) {
            return Some(if secs == 0 { Zone::Utc } else { Zone::Fixed(secs) });
        }
        t.parse::<Tz>().ok().or_else(|| chrono_tz::TZ_VARIANTS.iter().find(|z| z.name().eq_ignore_ascii_case(t)).copied()).map(Zone::Named)
    }

    pub fn name(&self) -> String {
        match self {
            Zone::Utc => "UTC".into(),
            Zone::Fixed(s) => format_offset(*s),
            Zone::Named(tz) => tz.name().into(),
        }
    }

    /// Offset from UTC (seconds) at a UTC instant.
    pub fn offset_at(&self, utc_micros: i64) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(s) => *s,
            Zone::Named(tz) => {
                let dt = DateTime::from_timestamp_micros(utc_micros).unwrap_or_default().naive_utc();
                tz.offset_from_utc_datetime(&dt).fix().local_minus_utc()
            }
        }
    }

    /// Offset from UTC (seconds) for a local wall-clock time in this zone.
    pub fn offset_for_local(&self, local_micros: i64) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(s) => *s,
            Zone::Named(tz) => {
                let dt = DateTime::from_timestamp_micros(local_micros).unwrap_or_default().naive_utc();
                tz.offset_from_local_datetime(&dt).earliest().map(|o| o.fix().local_minus_utc()).unwrap_or(0)
            }
        }
    }
}

/// `+05:30` → 19800 seconds; also `+05`, `-0530`.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m, sec) = if let Some((h, rest)) = rest.split_once(':') {
        let (m, s) = rest.split_once(':').unwrap_or((rest, "0"));
        (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?, s.parse::<i32>().ok()?)
    } else if rest.len() == 4 {
        (rest[..2].parse().ok()?, rest[2..].parse().ok()?, 0)
    } else {
        (rest.parse().ok()?, 0, 0)
    };
    if h > 15 || m > 59 || sec > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + sec))
}

/// PostgreSQL's offset form: `+00`, `-08`, `+05:30`.
pub fn format_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
    }
}

pub fn format_date(days: i32) -> String {
    match NaiveDate::from_num_days_from_ce_opt(days + 719_163) {
        Some(d) if d.year() > 0 => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        Some(d) => format!("{:04}-{:02}-{:02} BC", 1 - d.year(), d.month(), d.day()),
        None => {
            if days > 0 {
                "infinity".into()
            } else {
                "-infinity".into()
            }
        }
    }
}

fn format_time_of_day(out: &mut String, micros_of_day: i64) {
    let secs = micros_of_day / 1_000_000;
    let frac = micros_of_day % 1_000_000;
    out.push_str(&format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60));
    if frac != 0 {
        let f = format!("{frac:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

pub fn format_timestamp(micros: i64) -> String {
    if micros == i64::MAX {
        return "infinity".into();
    }
    if micros == i64::MIN {
        return "-infinity".into();
    }
    let days = micros.div_euclid(MICROS_PER_DAY);
    let tod = micros.rem_euclid(MICROS_PER_DAY);
    let date = format_date(days as i32);
    let (date, bc) = match date.strip_suffix(" BC") {
        Some(d) => (d.to_string(), true),
        None => (date, false),
    };
    let mut out = date;
    out.push(' ');
    format_time_of_day(&mut out, tod);
    if bc {
        out.push_str(" BC");
    }
    out
}

pub fn format_timestamptz(utc_micros: i64, zone: &Zone) -> String {
    if utc_micros == i64::MAX || utc_micros == i64::MIN {
        return format_timestamp(utc_micros);
    }
    let off = zone.offset_at(utc_micros);
    let mut s = format_timestamp(utc_micros + off as i64 * 1_000_000);
    s.push_str(&format_offset(off));
    s
}

pub fn format_time(micros: i64) -> String {
    let mut s = String::new();
    format_time_of_day(&mut s, micros.rem_euclid(MICROS_PER_DAY));
    s
}

/// Parses a date: `2024-05-07`, `20240507`, `infinity`, `epoch`, `today`.
pub fn parse_date(s: &str) -> Option<i32> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "infinity" => return Some(i32::MAX),
        "-infinity" => return Some(i32::MIN),
        "epoch" => return Some(0),
        "today" | "now" => return Some(Utc::now().date_naive().num_days_from_ce() - 719_163),
        _ => {}
    }
    // A timestamp string is acceptable input for a date: keep the date part.
    let date_part = t.split([' ', 'T']).next()?;
    let d = NaiveDate::parse_from_str(date_part, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(date_part, "%Y%m%d")).ok()?;
    Some(d.num_days_from_ce() - 719_163)
}

/// Parses a timestamp (local wall clock, any zone suffix returned separately).
/// Returns (micros as if UTC, explicit offset seconds if the text had one).
pub fn parse_timestamp_parts(s: &str) -> Option<(i64, Option<i32>)> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "infinity" => return Some((i64::MAX, None)),
        "-infinity" => return Some((i64::MIN, None)),
        "epoch" => return Some((0, Some(0))),
        "now" => return Some((Utc::now().timestamp_micros(), Some(0))),
        "today" => {
            let d = Utc::now().date_naive().num_days_from_ce() - 719_163;
            return Some((d as i64 * MICROS_PER_DAY, None));
        }
        _ => {}
    }
    let (date_part, rest) = match t.find([' ', 'T']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()?;
    if rest.is_empty() {
        let dt = date.and_hms_opt(0, 0, 0)?;
        return Some((dt.and_utc().timestamp_micros(), None));
    }
    // Split a zone suffix: Z, +HH[:MM], -HH[:MM], or a name after a space.
    let (time_part, zone) = split_zone(rest);
    let time = parse_time_of_day(time_part)?;
    let dt = NaiveDateTime::new(date, time);
    let offset = match zone {
        None => None,
        Some(z) => match z {
            "Z" | "z" => Some(0),
            z => Some(match parse_offset(z) {
                Some(o) => o,
                None => {
                    let zone = Zone::parse(z)?;
                    zone.offset_for_local(dt.and_utc().timestamp_micros())
                }
            }),
        },
    };
    Some((dt.and_utc().timestamp_micros(), offset))
}

fn split_zone(rest: &str) -> (&str, Option<&str>) {
    if let Some(stripped) = rest.strip_suffix(['Z', 'z']) {
        return (stripped.trim(), Some("Z"));
    }
    if let Some(i) = rest.rfind(['+', '-']) {
        return (rest[..i].trim(), Some(&rest[i..]));
    }
    if let Some((t, z)) = rest.split_once(' ') {
        return (t, Some(z.trim()));
    }
    (rest, None)
}

pub fn parse_time_of_day(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f").or_else(|_| NaiveTime::parse_from_str(s, "%H:%M")).ok()
}

/// `timestamp` input: a zone in the text is ignored, as PostgreSQL does.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    parse_timestamp_parts(s).map(|(m, _)| m)
}

/// `timestamptz` input: a zone in the text wins, else the session zone applies.
pub fn parse_timestamptz(s: &str, zone: &Zone) -> Option<i64> {
    let (local, off) = parse_timestamp_parts(s)?;
    if local == i64::MAX || local == i64::MIN {
        return Some(local);
    }
    let off = off.unwrap_or_else(|| zone.offset_for_local(local));
    Some(local - off as i64 * 1_000_000)
}

pub fn micros_of_time(t: NaiveTime) -> i64 {
    t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64
}

/// PostgreSQL's `postgres` IntervalStyle: `1 year 2 mons 3 days 04:05:06.5`.
/// A unit is singular only for exactly 1 (`-1 days`), and once a part was
/// negative a positive one after it carries a `+` (`-1 days +02:00:00`).
pub fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let mut parts = Vec::new();
    let mut before_negative = false;
    let (y, m) = (months / 12, months % 12);
    for (value, unit) in [(y as i64, "year"), (m as i64, "mon"), (days as i64, "day")] {
        if value != 0 {
            let sign = if before_negative && value > 0 { "+" } else { "" };
            parts.push(format!("{sign}{value} {unit}{}", if value == 1 { "" } else { "s" }));
            before_negative |= value < 0;
        }
    }
    if micros != 0 || parts.is_empty() {
        // Hours may exceed 24 here (days are a separate field).
        let secs = micros.abs() / 1_000_000;
        let frac = micros.abs() % 1_000_000;
        let mut t2 = format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60);
        if frac != 0 {
            t2.push('.');
            t2.push_str(format!("{frac:06}").trim_end_matches('0'));
        }
        let sign = if micros < 0 {
            "-"
        } else if before_negative {
            "+"
        } else {
            ""
        };
        parts.push(format!("{sign}{t2}"));
    }
    parts.join(" ")
}

pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_postgres() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(19_850), "2024-05-07");
        assert_eq!(format_timestamp(1_715_040_000_123_400), "2024-05-07 00:00:00.1234");
        assert_eq!(format_timestamptz(0, &Zone::Utc), "1970-01-01 00:00:00+00");
        assert_eq!(format_timestamptz(0, &Zone::Fixed(19_800)), "1970-01-01 05:30:00+05:30");
        let ny = Zone::parse("America/New_York").unwrap();
        assert_eq!(format_timestamptz(1_715_040_000_000_000, &ny), "2024-05-06 20:00:00-04");
        assert_eq!(format_interval(14, 3, 4 * 3_600_000_000 + 500_000), "1 year 2 mons 3 days 04:00:00.5");
        assert_eq!(format_interval(0, 0, 0), "00:00:00");
        // PostgreSQL 15: interval '-1 day +2 hours', '1 day -2 hours', '-1 year 2 mons', '-13 mons -1 day'
        assert_eq!(format_interval(0, -1, 2 * 3_600_000_000), "-1 days +02:00:00");
        assert_eq!(format_interval(0, 1, -2 * 3_600_000_000), "1 day -02:00:00");
        assert_eq!(format_interval(-10, 0, 0), "-10 mons");
        assert_eq!(format_interval(-12 + 2, 0, 0), "-10 mons");
        assert_eq!(format_interval(-13, -1, 0), "-1 years -1 mons -1 days");
    }

    #[test]
    fn parses_like_postgres() {
        assert_eq!(parse_date("2024-05-07"), Some(19_850));
        assert_eq!(parse_timestamp("2024-05-07 00:00:00.1234"), Some(1_715_040_000_123_400));
        assert_eq!(parse_timestamp("2024-05-07T00:00:00"), Some(1_715_040_000_000_000));
        assert_eq!(parse_timestamptz("2024-05-07 02:00:00+02", &Zone::Utc), Some(1_715_040_000_000_000));
        assert_eq!(parse_timestamptz("2024-05-07 00:00:00", &Zone::Fixed(3600)), Some(1_715_040_000_000_000 - 3_600_000_000));
        assert_eq!(parse_timestamptz("2024-05-07 00:00:00Z", &Zone::Fixed(3600)), Some(1_715_040_000_000_000));
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_timestamp("yesterday-ish").is_none());
        assert_eq!(Zone::parse("+05:30"), Some(Zone::Fixed(19_800)));
        assert_eq!(Zone::parse("Etc/UTC"), Some(Zone::Utc));
    }
}

//! `to_char` for dates, times and intervals: PostgreSQL's template patterns.
//!
//! A template is compiled once into a list of items, then rendered per value:
//!
//! ```text
//!   'FMDay, DD "of" Month YYYY'
//!     ──► [Day(fill) ", " DD " of " Month " " YYYY]
//!     ──► 'Tuesday, 05 of March     2024'
//! ```
//!
//! As in PostgreSQL: keywords are matched longest first and case-sensitively
//! in the spellings PostgreSQL knows (`YYYY`/`yyyy`, `Month`/`MONTH`/`month`);
//! `FM` before a keyword drops its padding (zeros of numbers, blanks after
//! names), `TH`/`th` after a number adds its ordinal suffix, `"…"` is literal
//! text, and anything else is copied as is. Numbers pad to their width
//! (`MM` → `03`), names to nine characters (`Month` → `March    `).
//!
//! Intervals render the fields they have (years, months, days, hours that
//! may exceed 24, minutes, seconds); a calendar field such as `Day` or `J`
//! has no meaning for one and is refused (22007, as PostgreSQL does).

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use crate::error::SqlError;

/// One compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text(String),
    Field { field: Field, fill: bool, suffix: Option<Case> },
}

/// How a name or a suffix is capitalised.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Upper,
    Title,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Hour12,
    Hour24,
    Minute,
    Second,
    Millis,
    Micros,
    Fraction(u8),
    SecondsOfDay,
    Meridiem { dots: bool, case: Case },
    YearComma,
    Year(u8),
    IsoYear(u8),
    Era { dots: bool, case: Case },
    MonthName(Case),
    MonthAbbrev(Case),
    Month,
    DayName(Case),
    DayAbbrev(Case),
    DayOfYear,
    IsoDayOfYear,
    DayOfMonth,
    DayOfWeek,
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    Julian,
    Quarter,
    RomanMonth(Case),
    ZoneName(Case),
    ZoneHours,
    ZoneMinutes,
    Offset,
}

/// Keywords in matching order: a keyword comes before every keyword that is
/// a prefix of it (`HH24` before `HH`, `DDD` before `DD` before `D`).
const KEYWORDS: &[(&str, Field)] = {
    use Case::*;
    use Field::*;
    &[
        ("A.D.", Era { dots: true, case: Upper }),
        ("A.M.", Meridiem { dots: true, case: Upper }),
        ("AD", Era { dots: false, case: Upper }),
        ("AM", Meridiem { dots: false, case: Upper }),
        ("B.C.", Era { dots: true, case: Upper }),
        ("BC", Era { dots: false, case: Upper }),
        ("CC", Century),
        ("DAY", DayName(Upper)),
        ("DDD", DayOfYear),
        ("DD", DayOfMonth),
        ("DY", DayAbbrev(Upper)),
        ("Day", DayName(Title)),
        ("Dy", DayAbbrev(Title)),
        ("D", DayOfWeek),
        ("FF1", Fraction(1)),
        ("FF2", Fraction(2)),
        ("FF3", Fraction(3)),
        ("FF4", Fraction(4)),
        ("FF5", Fraction(5)),
        ("FF6", Fraction(6)),
        ("HH24", Hour24),
        ("HH12", Hour12),
        ("HH", Hour12),
        ("IDDD", IsoDayOfYear),
        ("ID", IsoDayOfWeek),
        ("IW", IsoWeek),
        ("IYYY", IsoYear(4)),
        ("IYY", IsoYear(3)),
        ("IY", IsoYear(2)),
        ("I", IsoYear(1)),
        ("J", Julian),
        ("MI", Minute),
        ("MM", Month),
        ("MONTH", MonthName(Upper)),
        ("MON", MonthAbbrev(Upper)),
        ("MS", Millis),
        ("Month", MonthName(Title)),
        ("Mon", MonthAbbrev(Title)),
        ("OF", Offset),
        ("P.M.", Meridiem { dots: true, case: Upper }),
        ("PM", Meridiem { dots: false, case: Upper }),
        ("Q", Quarter),
        ("RM", RomanMonth(Upper)),
        ("SSSSS", SecondsOfDay),
        ("SSSS", SecondsOfDay),
        ("SS", Second),
        ("TZH", ZoneHours),
        ("TZM", ZoneMinutes),
        ("TZ", ZoneName(Upper)),
        ("US", Micros),
        ("WW", WeekOfYear),
        ("W", WeekOfMonth),
        ("Y,YYY", YearComma),
        ("YYYY", Year(4)),
        ("YYY", Year(3)),
        ("YY", Year(2)),
        ("Y", Year(1)),
        ("a.d.", Era { dots: true, case: Lower }),
        ("a.m.", Meridiem { dots: true, case: Lower }),
        ("ad", Era { dots: false, case: Lower }),
        ("am", Meridiem { dots: false, case: Lower }),
        ("b.c.", Era { dots: true, case: Lower }),
        ("bc", Era { dots: false, case: Lower }),
        ("cc", Century),
        ("day", DayName(Lower)),
        ("ddd", DayOfYear),
        ("dd", DayOfMonth),
        ("dy", DayAbbrev(Lower)),
        ("d", DayOfWeek),
        ("ff1", Fraction(1)),
        ("ff2", Fraction(2)),
        ("ff3", Fraction(3)),
        ("ff4", Fraction(4)),
        ("ff5", Fraction(5)),
        ("ff6", Fraction(6)),
        ("hh24", Hour24),
        ("hh12", Hour12),
        ("hh", Hour12),
        ("iddd", IsoDayOfYear),
        ("id", IsoDayOfWeek),
        ("iw", IsoWeek),
        ("iyyy", IsoYear(4)),
        ("iyy", IsoYear(3)),
        ("iy", IsoYear(2)),
        ("i", IsoYear(1)),
        ("j", Julian),
        ("mi", Minute),
        ("mm", Month),
        ("month", MonthName(Lower)),
        ("mon", MonthAbbrev(Lower)),
        ("ms", Millis),
        ("of", Offset),
        ("p.m.", Meridiem { dots: true, case: Lower }),
        ("pm", Meridiem { dots: false, case: Lower }),
        ("q", Quarter),
        ("rm", RomanMonth(Lower)),
        ("sssss", SecondsOfDay),
        ("ssss", SecondsOfDay),
        ("ss", Second),
        ("tzh", ZoneHours),
        ("tzm", ZoneMinutes),
        ("tz", ZoneName(Lower)),
        ("us", Micros),
        ("ww", WeekOfYear),
        ("w", WeekOfMonth),
        ("y,yyy", YearComma),
        ("yyyy", Year(4)),
        ("yyy", Year(3)),
        ("yy", Year(2)),
        ("y", Year(1)),
    ]
};

impl Template {
    /// Compiles a template; every input is a valid template (unknown text is literal).
    pub fn compile(pattern: &str) -> Template {
        let mut items = Vec::new();
        let mut text = String::new();
        let mut rest = pattern;
        let mut fill = false;
        while let Some(c) = rest.chars().next() {
            // Prefixes: FM (fill mode) applies to the next keyword; TM and FX change nothing here.
            if let Some(r) = strip_either(rest, "FM", "fm") {
                fill = true;
                rest = r;
                continue;
            }
            if let Some(r) = strip_either(rest, "TM", "tm").or_else(|| strip_either(rest, "FX", "fx")) {
                rest = r;
                continue;
            }
            if let Some((kw, field)) = KEYWORDS.iter().find(|(kw, _)| rest.starts_with(kw)) {
                rest = &rest[kw.len()..];
                let suffix = if rest.starts_with("TH") {
                    Some(Case::Upper)
                } else if rest.starts_with("th") {
                    Some(Case::Lower)
                } else {
                    None
                };
                if suffix.is_some() {
                    rest = &rest[2..];
                }
                if !text.is_empty() {
                    items.push(Item::Text(std::mem::take(&mut text)));
                }
                items.push(Item::Field { field: *field, fill, suffix });
                fill = false;
                continue;
            }
            match c {
                '"' => {
                    let (quoted, len) = quoted_text(rest);
                    text.push_str(&quoted);
                    rest = &rest[len..];
                }
                '\\' if rest[1..].starts_with('"') => {
                    text.push('"');
                    rest = &rest[2..];
                }
                _ => {
                    text.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !text.is_empty() {
            items.push(Item::Text(text));
        }
        Template { items }
    }

    /// Renders a point in time: its local wall-clock time and, for a
    /// `timestamptz`, its zone (offset seconds east of UTC and abbreviation).
    pub fn render_datetime(&self, t: NaiveDateTime, zone: Option<(i32, &str)>, out: &mut String) {
        for item in &self.items {
            match item {
                Item::Text(s) => out.push_str(s),
                Item::Field { field, fill, suffix } => render_field(*field, *fill, *suffix, &When::Point(t, zone), out),
            }
        }
    }

    /// Renders an interval (months, days, microseconds as PostgreSQL keeps them).
    pub fn render_interval(&self, months: i32, days: i32, micros: i64, out: &mut String) -> Result<(), SqlError> {
        for item in &self.items {
            match item {
                Item::Text(s) => out.push_str(s),
                Item::Field { field, fill, suffix } => {
                    if !interval_field(*field) {
                        return Err(SqlError::new("22007", "invalid format specification for an interval value")
                            .with_hint("Intervals are not tied to specific calendar dates."));
                    }
                    render_field(*field, *fill, *suffix, &When::Span { months, days, micros }, out)
                }
            }
        }
        Ok(())
    }
}

/// The text of a `"quoted"` part at the start of `rest` (a backslash escapes
/// the next character) and the bytes it spans; unterminated, it runs to the end.
pub(crate) fn quoted_text(rest: &str) -> (String, usize) {
    debug_assert!(rest.starts_with('"'));
    let mut text = String::new();
    let mut chars = rest[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (text, i + 2),
            '\\' => {
                if let Some((_, e)) = chars.next() {
                    text.push(e);
                }
            }
            _ => text.push(c),
        }
    }
    (text, rest.len())
}

/// What `to_date` / `to_timestamp` read from their input.
#[derive(Debug, Default)]
struct Fields {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: u32,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    micros: u32,
    bc: bool,
    /// Seconds east of UTC, from TZH and TZM (which takes TZH's sign: -05:30).
    offset: Option<i32>,
    offset_negative: bool,
    julian: Option<i64>,
}

impl Template {
    /// Reads `input` with this template, as `to_timestamp(text, template)`
    /// does: the wall-clock time it names and, if the input gives one, its UTC
    /// offset. PostgreSQL's lenient (non-`FX`) reading: a literal in the
    /// template skips one non-alphanumeric character of the input (spaces skip
    /// all spaces), numbers may be shorter than their width when a separator
    /// follows, names match case-insensitively, `YY` is the year nearest 2020.
    pub fn parse(&self, input: &str) -> Result<(NaiveDateTime, Option<i32>), SqlError> {
        let mut f = Fields::default();
        let mut rest = input;
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Text(t) => {
                    for c in t.chars() {
                        if c.is_whitespace() {
                            rest = rest.trim_start();
                        } else if rest.chars().next().is_some_and(|n| !n.is_alphanumeric()) {
                            rest = &rest[rest.chars().next().map_or(0, char::len_utf8)..];
                        }
                    }
                }
                Item::Field { field, .. } => {
                    // A number may run past its width only up to a separator: 'YYYYMMDD' needs all eight digits.
                    let bounded = matches!(self.items.get(i + 1), Some(Item::Field { .. }));
                    rest = read_field(*field, rest.trim_start(), bounded, &mut f)?;
                }
            }
        }
        let out_of_range = || SqlError::new("22008", format!("date/time field value out of range: \"{input}\""));
        let date = if let Some(j) = f.julian {
            NaiveDate::from_num_days_from_ce_opt((j - 1_721_425) as i32).ok_or_else(out_of_range)?
        } else {
            let mut year = f.year.unwrap_or(1) as i32;
            if f.bc {
                year = 1 - year;
            }
            match (f.month, f.day, f.day_of_year) {
                (None, None, Some(doy)) => NaiveDate::from_yo_opt(year, doy).ok_or_else(out_of_range)?,
                (m, d, _) => NaiveDate::from_ymd_opt(year, m.unwrap_or(1), d.unwrap_or(1)).ok_or_else(out_of_range)?,
            }
        };
        let hour = match f.pm {
            Some(pm) => {
                if !(1..=12).contains(&f.hour) {
                    return Err(SqlError::new("22008", format!("hour \"{}\" is invalid for the 12-hour clock", f.hour))
                        .with_hint("Use the 24-hour clock, or give an hour between 1 and 12."));
                }
                f.hour % 12 + if pm { 12 } else { 0 }
            }
            None => f.hour,
        };
        let time = chrono::NaiveTime::from_hms_micro_opt(hour, f.minute, f.second, f.micros).ok_or_else(out_of_range)?;
        Ok((date.and_time(time), f.offset))
    }
}

/// Reads one field at the start of `s`; returns what follows it.
fn read_field<'a>(field: Field, s: &'a str, bounded: bool, f: &mut Fields) -> Result<&'a str, SqlError> {
    use Field::*;
    // PostgreSQL quotes as much of the input as the field is wide.
    let invalid = |what: &str, width: usize, detail: &str| {
        let shown: String = s.chars().take_while(|c| !c.is_whitespace()).take(width).collect();
        SqlError::new("22007", format!("invalid value \"{shown}\" for \"{what}\"")).with_detail(detail.to_string())
    };
    let number = |width: usize, what: &str| -> Result<(i64, &'a str), SqlError> {
        let (sign, body) = match s.strip_prefix('-') {
            Some(b) if what.starts_with('Y') => (-1, b),
            _ => (1, s),
        };
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        let n = if bounded { digits.min(width) } else { digits };
        if n == 0 {
            return Err(invalid(what, width, "Value must be an integer."));
        }
        let v: i64 = body[..n].parse().map_err(|_| invalid(what, width, "Value must be an integer."))?;
        Ok((sign * v, &body[n..]))
    };
    let name = |names: &[&str], len: Option<usize>, what: &str| -> Result<(usize, &'a str), SqlError> {
        for (i, n) in names.iter().enumerate() {
            let candidate = len.map_or(*n, |l| &n[..l]);
            if s.len() >= candidate.len() && s.is_char_boundary(candidate.len()) && s[..candidate.len()].eq_ignore_ascii_case(candidate) {
                return Ok((i, &s[candidate.len()..]));
            }
        }
        Err(invalid(what, len.unwrap_or(9), "The given value did not match any of the allowed values for this field."))
    };
    Ok(match field {
        Year(4) | YearComma => {
            let (mut v, mut r) = number(4, "YYYY")?;
            if field == YearComma
                && let Some(after) = r.strip_prefix(',')
            {
                let (low, r2) = number(3, "Y,YYY")?;
                let _ = after;
                v = v * 1000 + low;
                r = r2;
            }
            f.year = Some(v);
            r
        }
        Year(n) | IsoYear(n) => {
            let (v, r) = number(n as usize, "YY")?;
            // PostgreSQL picks the year nearest 2020 for short years.
            f.year = Some(match n {
                1 => 2020 + v,
                2 if v < 70 => 2000 + v,
                2 => 1900 + v,
                3 if v < 100 => 2000 + v,
                3 => 1000 + v,
                _ => v,
            });
            r
        }
        Month => {
            let (v, r) = number(2, "MM")?;
            f.month = Some(v as u32);
            r
        }
        MonthName(_) => {
            let (i, r) = name(&MONTHS, None, "Month")?;
            f.month = Some(i as u32 + 1);
            r
        }
        MonthAbbrev(_) => {
            let (i, r) = name(&MONTHS, Some(3), "Mon")?;
            f.month = Some(i as u32 + 1);
            r
        }
        RomanMonth(_) => {
            // Longest first: VIII before VII before VI before V.
            let mut order: Vec<usize> = (0..12).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(ROMAN[i].len()));
            let i = order
                .into_iter()
                .find(|&i| s.get(..ROMAN[i].len()).is_some_and(|w| w.eq_ignore_ascii_case(ROMAN[i])))
                .ok_or_else(|| invalid("RM", 4, "The given value did not match any of the allowed values for this field."))?;
            f.month = Some(i as u32 + 1);
            &s[ROMAN[i].len()..]
        }
        DayName(_) => name(&DAYS, None, "Day")?.1,
        DayAbbrev(_) => name(&DAYS, Some(3), "Dy")?.1,
        DayOfMonth => {
            let (v, r) = number(2, "DD")?;
            f.day = Some(v as u32);
            r
        }
        DayOfYear | IsoDayOfYear => {
            let (v, r) = number(3, "DDD")?;
            f.day_of_year = Some(v as u32);
            r
        }
        Hour24 | Hour12 => {
            let (v, r) = number(2, "HH")?;
            f.hour = v as u32;
            r
        }
        Minute => {
            let (v, r) = number(2, "MI")?;
            f.minute = v as u32;
            r
        }
        Second => {
            let (v, r) = number(2, "SS")?;
            f.second = v as u32;
            r
        }
        Millis | Micros | Fraction(_) => {
            let width = match field {
                Millis => 3,
                Micros => 6,
                Fraction(n) => n as usize,
                _ => unreachable!(),
            };
            let digits = s.bytes().take_while(u8::is_ascii_digit).count().min(width);
            if digits == 0 {
                return Err(invalid("US", width, "Value must be an integer."));
            }
            // Digits are a fraction of a second: "5" for MS is 500 ms, as PostgreSQL reads it.
            let v: u32 = s[..digits].parse().map_err(|_| invalid("US", width, "Value must be an integer."))?;
            f.micros = v * 10u32.pow(6 - digits as u32);
            &s[digits..]
        }
        SecondsOfDay => {
            let (v, r) = number(5, "SSSS")?;
            f.hour = (v / 3600) as u32;
            f.minute = ((v / 60) % 60) as u32;
            f.second = (v % 60) as u32;
            r
        }
        Meridiem { dots, .. } => {
            let (am, pm) = if dots { ("A.M.", "P.M.") } else { ("AM", "PM") };
            let take = am.len().min(s.len());
            let word = s.get(..take).unwrap_or("");
            f.pm = Some(if word.eq_ignore_ascii_case(pm) {
                true
            } else if word.eq_ignore_ascii_case(am) {
                false
            } else {
                return Err(invalid(am, am.len(), "The given value did not match any of the allowed values for this field."));
            });
            &s[take..]
        }
        Era { dots, .. } => {
            let (ad, bc) = if dots { ("A.D.", "B.C.") } else { ("AD", "BC") };
            let take = ad.len().min(s.len());
            let word = s.get(..take).unwrap_or("");
            f.bc = word.eq_ignore_ascii_case(bc);
            if !f.bc && !word.eq_ignore_ascii_case(ad) {
                return Err(invalid(ad, ad.len(), "The given value did not match any of the allowed values for this field."));
            }
            &s[take..]
        }
        Julian => {
            let (v, r) = number(usize::MAX, "J")?;
            f.julian = Some(v);
            r
        }
        ZoneHours => {
            let (sign, body) = match s.as_bytes().first() {
                Some(b'-') => (-1, &s[1..]),
                Some(b'+') => (1, &s[1..]),
                _ => (1, s),
            };
            let digits = body.bytes().take_while(u8::is_ascii_digit).count().min(2);
            let h: i32 = body[..digits].parse().map_err(|_| invalid("TZH", 2, "Value must be an integer."))?;
            f.offset = Some(sign * h * 3600);
            f.offset_negative = sign < 0;
            &body[digits..]
        }
        ZoneMinutes => {
            let (v, r) = number(2, "TZM")?;
            let minutes = v as i32 * 60 * if f.offset_negative { -1 } else { 1 };
            f.offset = Some(f.offset.unwrap_or(0) + minutes);
            r
        }
        ZoneName(_) | Offset => {
            let what = if field == Offset { "OF" } else { "TZ" };
            return Err(SqlError::new("0A000", format!("formatting field \"{what}\" is only supported in to_char")));
        }
        Century | Quarter | WeekOfMonth | WeekOfYear | IsoWeek | DayOfWeek | IsoDayOfWeek => {
            // Read and ignored, as PostgreSQL ignores them when a full date is given.
            number(2, "field")?.1
        }
    })
}

fn strip_either<'a>(s: &'a str, upper: &str, lower: &str) -> Option<&'a str> {
    s.strip_prefix(upper).or_else(|| s.strip_prefix(lower))
}

fn interval_field(field: Field) -> bool {
    use Field::*;
    matches!(
        field,
        Hour12
            | Hour24
            | Minute
            | Second
            | Millis
            | Micros
            | Fraction(_)
            | SecondsOfDay
            | Meridiem { .. }
            | Year(_)
            | YearComma
            | Month
            | DayOfMonth
            | Century
    )
}

/// What is being rendered.
enum When<'a> {
    Point(NaiveDateTime, Option<(i32, &'a str)>),
    Span { months: i32, days: i32, micros: i64 },
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const ROMAN: [&str; 12] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];

fn render_field(field: Field, fill: bool, suffix: Option<Case>, when: &When, out: &mut String) {
    use Field::*;
    // The parts every field is computed from.
    let (year, month, day, hour, minute, second, micros) = match when {
        When::Point(t, _) => (
            t.year() as i64,
            t.month() as i64,
            t.day() as i64,
            t.hour() as i64,
            t.minute() as i64,
            t.second() as i64,
            (t.nanosecond() / 1000) as i64,
        ),
        When::Span { months, days, micros } => {
            let secs = micros / 1_000_000;
            ((*months / 12) as i64, (*months % 12) as i64, *days as i64, secs / 3600, (secs / 60) % 60, secs % 60, micros % 1_000_000)
        }
    };
    let date = match when {
        When::Point(t, _) => Some(t.date()),
        When::Span { .. } => None,
    };
    let number = |out: &mut String, n: i64, width: usize| {
        let s = if fill {
            n.to_string()
        } else if n < 0 {
            format!("-{:0w$}", -n, w = width.saturating_sub(1))
        } else {
            format!("{n:0width$}")
        };
        out.push_str(&s);
        if let Some(case) = suffix {
            out.push_str(ordinal_suffix(n.unsigned_abs(), case == Case::Upper));
        }
    };
    let name = |out: &mut String, s: &str, case: Case, pad: usize| {
        let s = match case {
            Case::Upper => s.to_uppercase(),
            Case::Lower => s.to_lowercase(),
            Case::Title => s.to_string(),
        };
        out.push_str(&s);
        if !fill {
            out.extend(std::iter::repeat_n(' ', pad.saturating_sub(s.chars().count())));
        }
    };
    // PostgreSQL counts years before 1 AD as 1 BC, 2 BC…
    let era_year = if year <= 0 && date.is_some() { 1 - year } else { year };
    match field {
        Hour24 => number(out, hour, 2),
        Hour12 => number(out, if hour % 12 == 0 { 12 } else { hour % 12 }, 2),
        Minute => number(out, minute, 2),
        Second => number(out, second, 2),
        Millis => number(out, micros / 1000, 3),
        Micros => number(out, micros, 6),
        Fraction(n) => number(out, micros / 10i64.pow(6 - n as u32), n as usize),
        SecondsOfDay => number(out, hour * 3600 + minute * 60 + second, 0),
        Meridiem { dots, case } => {
            let pm = hour % 24 >= 12;
            let s = match (pm, dots) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            out.push_str(&if case == Case::Lower { s.to_lowercase() } else { s.to_string() });
        }
        Era { dots, case } => {
            let ad = year > 0;
            let s = match (ad, dots) {
                (true, false) => "AD",
                (false, false) => "BC",
                (true, true) => "A.D.",
                (false, true) => "B.C.",
            };
            out.push_str(&if case == Case::Lower { s.to_lowercase() } else { s.to_string() });
        }
        YearComma => {
            out.push_str(&format!("{},{:03}", era_year / 1000, era_year % 1000));
            if let Some(case) = suffix {
                out.push_str(ordinal_suffix(era_year.unsigned_abs(), case == Case::Upper));
            }
        }
        Year(4) => number(out, era_year, 4),
        Year(n) => number(out, era_year % 10i64.pow(n as u32), n as usize),
        IsoYear(n) => {
            let iso = date.map(|d| d.iso_week().year() as i64).unwrap_or(year);
            let v = if n == 4 { iso } else { iso % 10i64.pow(n as u32) };
            number(out, v, n as usize)
        }
        Month => number(out, month, 2),
        MonthName(case) => name(out, MONTHS[month as usize - 1], case, 9),
        MonthAbbrev(case) => name(out, &MONTHS[month as usize - 1][..3], case, 0),
        RomanMonth(case) => name(out, ROMAN[month as usize - 1], case, 4),
        DayOfMonth => number(out, day, 2),
        Century => {
            let c = if year > 0 { (year + 99) / 100 } else { -((99 - year) / 100) };
            number(out, c, 2)
        }
        Quarter => number(out, (month - 1) / 3 + 1, 0),
        _ => {
            let d = date.expect("calendar fields are refused for intervals");
            let dow = d.weekday().num_days_from_sunday() as usize;
            match field {
                DayName(case) => name(out, DAYS[dow], case, 9),
                DayAbbrev(case) => name(out, &DAYS[dow][..3], case, 0),
                DayOfYear => number(out, d.ordinal() as i64, 3),
                IsoDayOfYear => {
                    let week = d.iso_week();
                    let first = NaiveDate::from_isoywd_opt(week.year(), 1, chrono::Weekday::Mon).unwrap_or(d);
                    number(out, (d - first).num_days() + 1, 3)
                }
                DayOfWeek => number(out, dow as i64 + 1, 0),
                IsoDayOfWeek => number(out, d.weekday().number_from_monday() as i64, 0),
                WeekOfMonth => number(out, (day - 1) / 7 + 1, 0),
                WeekOfYear => number(out, (d.ordinal0() / 7 + 1) as i64, 2),
                IsoWeek => number(out, d.iso_week().week() as i64, 2),
                Julian => number(out, d.num_days_from_ce() as i64 + 1_721_425, 0),
                ZoneName(_) | ZoneHours | ZoneMinutes | Offset => {
                    let When::Point(_, zone) = when else { unreachable!("zone fields are refused for intervals") };
                    render_zone(field, *zone, out);
                }
                _ => unreachable!("every field is rendered above"),
            }
        }
    }
}

/// Zone fields: empty for a `timestamp` (it has no zone), as in PostgreSQL.
fn render_zone(field: Field, zone: Option<(i32, &str)>, out: &mut String) {
    let Some((offset, abbrev)) = zone else { return };
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    match field {
        Field::ZoneName(Case::Lower) => out.push_str(&abbrev.to_lowercase()),
        Field::ZoneName(_) => out.push_str(abbrev),
        Field::ZoneHours => out.push_str(&format!("{sign}{:02}", a / 3600)),
        Field::ZoneMinutes => out.push_str(&format!("{:02}", (a / 60) % 60)),
        _ => out.push_str(&crate::pg::datetime::format_offset(offset)),
    }
}

/// English ordinal suffix of a number: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st.
pub(crate) fn ordinal_suffix(n: u64, upper: bool) -> &'static str {
    match (n % 100 / 10 == 1, n % 10, upper) {
        (false, 1, false) => "st",
        (false, 2, false) => "nd",
        (false, 3, false) => "rd",
        (false, 1, true) => "ST",
        (false, 2, true) => "ND",
        (false, 3, true) => "RD",
        (_, _, false) => "th",
        (_, _, true) => "TH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    fn render(t: &str, pattern: &str) -> String {
        let mut out = String::new();
        Template::compile(pattern).render_datetime(at(t), None, &mut out);
        out
    }

    // Expected values are PostgreSQL 15's answers (see tests/regress/sql/to_char.sql for more).
    #[test]
    fn renders_like_postgres() {
        let t = "2024-03-05 14:07:09.123456";
        assert_eq!(render(t, "YYYY-MM-DD HH24:MI:SS"), "2024-03-05 14:07:09");
        assert_eq!(render(t, "Month DD, YYYY"), "March     05, 2024");
        assert_eq!(render(t, "FMMonth FMDD, YYYY"), "March 5, 2024");
        assert_eq!(render(t, "D ID DDD IDDD W WW IW Q CC J"), "3 2 065 065 1 10 10 1 21 2460375");
        assert_eq!(render("2021-01-03 12:30:00.0", "IYYY IYY IY I YYY YY Y Y,YYY"), "2020 020 20 0 021 21 1 2,021");
        assert_eq!(render("1999-12-31 00:00:00.0", "D ID DDD IDDD W WW IW"), "6 5 365 362 5 53 52");
        assert_eq!(render("2021-01-03 12:30:00.0", "DDth DDTH FMDDth Mth"), "03rd 03RD 3rd Mth");
        assert_eq!(render(t, "\"Quarter\" Q \"of\" YYYY"), "Quarter 1 of 2024");
        assert_eq!(render(t, "RM rm"), "III  iii ");
        assert_eq!(render(t, "TZ OF"), " ");
    }

    fn parse(input: &str, pattern: &str) -> String {
        match Template::compile(pattern).parse(input) {
            Ok((t, None)) => t.to_string(),
            Ok((t, Some(o))) => format!("{t} {o}"),
            Err(e) => format!("{} {}", e.code, e.message),
        }
    }

    // PostgreSQL 15's answers (to_timestamp shown as wall-clock time and offset).
    #[test]
    fn parses_like_postgres() {
        assert_eq!(parse("05 Mar 2024", "DD Mon YYYY"), "2024-03-05 00:00:00");
        assert_eq!(parse("2024-03-05 14:07", "YYYY-MM-DD HH24:MI"), "2024-03-05 14:07:00");
        assert_eq!(parse("20240305", "YYYYMMDD"), "2024-03-05 00:00:00");
        assert_eq!(parse("2024-3-5", "YYYY-MM-DD"), "2024-03-05 00:00:00");
        assert_eq!(parse("march 5, 24 2:07:09.5 pm", "Month DD, YY HH12:MI:SS.MS AM"), "2024-03-05 14:07:09.500");
        assert_eq!(parse("12:00 AM", "HH:MI AM"), "0001-01-01 00:00:00");
        assert_eq!(parse("2024-03-05 14:07 -05:30", "YYYY-MM-DD HH24:MI TZH:TZM"), "2024-03-05 14:07:00 -19800");
        assert_eq!(parse("2024-03-05 14:07 +05", "YYYY-MM-DD HH24:MI OF"), "0A000 formatting field \"OF\" is only supported in to_char");
        assert_eq!(parse("2024-02-30", "YYYY-MM-DD"), "22008 date/time field value out of range: \"2024-02-30\"");
        assert_eq!(parse("2024-xx-01", "YYYY-MM-DD"), "22007 invalid value \"xx\" for \"MM\"");
        // Input that is not ASCII where a field expects it is an error, never a panic.
        for (input, pattern) in [("é", "RM"), ("é", "Mon"), ("1é", "HH AM"), ("é", "AD"), ("+é", "TZH"), ("1.é", "SS.US")] {
            assert!(Template::compile(pattern).parse(input).is_err(), "{input} {pattern}");
        }
    }

    #[test]
    fn intervals_render_their_fields_and_refuse_calendar_ones() {
        let mut out = String::new();
        Template::compile("HH24:MI").render_interval(0, 0, 50 * 3_600_000_000, &mut out).unwrap();
        assert_eq!(out, "50:00");
        let err = Template::compile("Day").render_interval(0, 1, 0, &mut String::new()).unwrap_err();
        assert_eq!(err.code, "22007");
    }
}

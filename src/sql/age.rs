//! `age(a, b)` and `age(a)`: PostgreSQL's symbolic difference of two timestamps.
//!
//! Unlike `a - b` (days and time only), `age` counts whole years and months
//! first, field by field, borrowing from the next field up when one goes
//! negative — a day borrow takes the length of the *earlier* timestamp's
//! month, as PostgreSQL does:
//!
//! ```text
//!   age('2024-03-15', '2024-01-31')  =  1 mon 15 days
//!     fields: 2024-03-15 minus 2024-01-31 = 0 y, 2 mon, -16 days
//!     borrow: -16 + 31 (January) = 15 days, 1 mon
//! ```
//!
//! `age(x)` is `age(current_date, x)`, today's midnight in the session's
//! `TimeZone`. A `timestamptz` is taken at its wall-clock time in that zone.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, IntervalMonthDayNanoArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as A, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};

use crate::error::SqlError;
use crate::pg::datetime::Zone;
use crate::sql::functions::{EnvHandle, FunctionEnv};

const MICROS_PER_DAY: i64 = 86_400_000_000;

pub fn age(env: Arc<dyn FunctionEnv>) -> ScalarUDF {
    let signature = Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Stable);
    ScalarUDF::new_from_impl(Age { signature, env: EnvHandle(env) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Age {
    signature: Signature,
    env: EnvHandle,
}

/// The difference `later - earlier` (later ≥ earlier) as months, days, microseconds.
fn symbolic_difference(later: NaiveDateTime, earlier: NaiveDateTime) -> (i32, i32, i64) {
    let micros = |t: &NaiveDateTime| (t.nanosecond() / 1000) as i64;
    let mut usec = micros(&later) - micros(&earlier);
    let mut sec = later.second() as i64 - earlier.second() as i64;
    let mut min = later.minute() as i64 - earlier.minute() as i64;
    let mut hour = later.hour() as i64 - earlier.hour() as i64;
    let mut day = later.day() as i64 - earlier.day() as i64;
    let mut month = later.month() as i64 - earlier.month() as i64;
    let mut year = later.year() as i64 - earlier.year() as i64;
    // A negative field borrows one unit of the field above it.
    let borrow = |low: &mut i64, high: &mut i64, base: i64| {
        if *low < 0 {
            *low += base;
            *high -= 1;
        }
    };
    borrow(&mut usec, &mut sec, 1_000_000);
    borrow(&mut sec, &mut min, 60);
    borrow(&mut min, &mut hour, 60);
    borrow(&mut hour, &mut day, 24);
    while day < 0 {
        day += days_in_month(earlier.year(), earlier.month()) as i64;
        month -= 1;
    }
    while month < 0 {
        month += 12;
        year -= 1;
    }
    ((year * 12 + month) as i32, day as i32, ((hour * 60 + min) * 60 + sec) * 1_000_000 + usec)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    match (next, NaiveDate::from_ymd_opt(year, month, 1)) {
        (Some(n), Some(f)) => (n - f).num_days() as u32,
        _ => 31,
    }
}

/// `age` of two wall-clock times in microseconds since the epoch.
pub fn age_micros(a: i64, b: i64) -> Option<IntervalMonthDayNano> {
    let (x, y) = (DateTime::from_timestamp_micros(a)?.naive_utc(), DateTime::from_timestamp_micros(b)?.naive_utc());
    let (months, days, micros) = if x >= y {
        symbolic_difference(x, y)
    } else {
        let (m, d, u) = symbolic_difference(y, x);
        (-m, -d, -u)
    };
    Some(IntervalMonthDayNano::new(months, days, micros * 1000))
}

impl Age {
    /// Wall-clock microseconds of a date, timestamp or timestamptz column.
    fn local_micros(&self, values: &ArrayRef, zone: &Zone) -> DfResult<TimestampMicrosecondArray> {
        let zoned = match values.data_type() {
            A::Date32 | A::Date64 | A::Timestamp(_, None) | A::Null => false,
            A::Timestamp(_, Some(_)) => true,
            A::Utf8 | A::LargeUtf8 | A::Utf8View => false,
            other => {
                return Err(DataFusionError::External(Box::new(
                    SqlError::new("42883", format!("function age({other}) does not exist"))
                        .with_hint("age takes timestamps (or dates): age(timestamp, timestamp) or age(timestamp)."),
                )));
            }
        };
        let tz = zoned.then(|| Arc::<str>::from("UTC"));
        let a = cast(values, &A::Timestamp(TimeUnit::Microsecond, tz))?;
        let a = a.as_any().downcast_ref::<TimestampMicrosecondArray>().expect("cast to timestamp(us)").clone();
        if !zoned {
            return Ok(a.with_timezone_opt(None::<Arc<str>>));
        }
        Ok(a.unary_opt::<_, datafusion::arrow::datatypes::TimestampMicrosecondType>(|utc| {
            Some(utc + zone.offset_at(utc) as i64 * 1_000_000)
        })
        .with_timezone_opt(None::<Arc<str>>))
    }
}

impl ScalarUDFImpl for Age {
    fn name(&self) -> &str {
        "age"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(A::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let env = &self.env.0;
        let zone = self.env.zone();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (later, earlier) = match arrays.as_slice() {
            [x] => {
                // current_date: the transaction's start, at midnight in the session's zone.
                let start = env.transaction_start();
                let local = start + zone.offset_at(start) as i64 * 1_000_000;
                let today = local - local.rem_euclid(MICROS_PER_DAY);
                let n = x.len();
                (TimestampMicrosecondArray::from(vec![today; n]), self.local_micros(x, &zone)?)
            }
            [a, b] => (self.local_micros(a, &zone)?, self.local_micros(b, &zone)?),
            _ => unreachable!("the signature takes one or two arguments"),
        };
        let out: IntervalMonthDayNanoArray = later
            .iter()
            .zip(earlier.iter())
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => {
                    age_micros(a, b).map(Some).ok_or_else(|| DataFusionError::from(SqlError::new("22008", "timestamp out of range")))
                }
                _ => Ok(None),
            })
            .collect::<DfResult<_>>()?;
        let out: ArrayRef = Arc::new(out);
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_micros()
    }

    // PostgreSQL 15's answers.
    #[test]
    fn counts_years_and_months_then_borrows() {
        let hour = 3_600_000_000_000i64;
        assert_eq!(age_micros(at("2024-03-15 00:00:00"), at("2024-01-01 00:00:00")), Some(IntervalMonthDayNano::new(2, 14, 0)));
        assert_eq!(age_micros(at("2024-03-15 00:00:00"), at("2024-01-31 00:00:00")), Some(IntervalMonthDayNano::new(1, 15, 0)));
        assert_eq!(age_micros(at("2024-01-01 00:00:00"), at("2024-03-15 00:00:00")), Some(IntervalMonthDayNano::new(-2, -14, 0)));
        assert_eq!(age_micros(at("2001-04-10 00:00:00"), at("1957-06-13 00:00:00")), Some(IntervalMonthDayNano::new(43 * 12 + 9, 27, 0)));
        assert_eq!(age_micros(at("2024-03-01 01:00:00"), at("2024-02-28 23:00:00")), Some(IntervalMonthDayNano::new(0, 1, 2 * hour)));
    }
}

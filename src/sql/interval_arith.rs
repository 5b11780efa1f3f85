//! `interval * number` and `interval / number`, as PostgreSQL computes them.
//!
//! DataFusion has no kernel for scaling an interval: it coerces the number to
//! an interval and then fails (`Interval * Interval`). PostgreSQL scripts use
//! the form all the time (`now() - g * INTERVAL '1 minute'`), so the SQL
//! rewrite (`sql::parse`) turns an operation on an interval literal into a
//! call of this function:
//!
//! ```text
//!   n * INTERVAL '1 minute'   →   pg_interval_mul(INTERVAL '1 minute', n)
//!   i / n                     →   pg_interval_mul(i, 1.0 / n)
//! ```
//!
//! PostgreSQL's arithmetic: months, days and microseconds scale separately,
//! and a fractional month spills into days (30 per month), a fractional day
//! into time (24 hours per day).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as A, IntervalMonthDayNano, IntervalUnit};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

pub fn interval_mul() -> ScalarUDF {
    ScalarUDF::new_from_impl(IntervalMul { signature: Signature::any(2, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalMul {
    signature: Signature,
}

const NANOS_PER_DAY: f64 = 86_400e9;

/// One interval scaled by `f`, PostgreSQL's way (see the module comment).
fn scale(v: IntervalMonthDayNano, f: f64) -> Option<IntervalMonthDayNano> {
    let months = v.months as f64 * f;
    let days = v.days as f64 * f + months.fract() * 30.0;
    let nanos = v.nanoseconds as f64 * f + days.fract() * NANOS_PER_DAY;
    let fits = |x: f64, max: f64| x.is_finite() && x.abs() <= max;
    if !fits(months, i32::MAX as f64) || !fits(days, i32::MAX as f64) || !fits(nanos, i64::MAX as f64) {
        return None;
    }
    // Round to whole microseconds, PostgreSQL's resolution.
    let nanos = ((nanos / 1e3).round() * 1e3) as i64;
    Some(IntervalMonthDayNano::new(months.trunc() as i32, days.trunc() as i32, nanos))
}

impl ScalarUDFImpl for IntervalMul {
    fn name(&self) -> &str {
        "pg_interval_mul"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(A::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let intervals = cast(&arrays[0], &A::Interval(IntervalUnit::MonthDayNano))?;
        let factors = cast(&arrays[1], &A::Float64)?;
        let intervals = intervals.as_any().downcast_ref::<IntervalMonthDayNanoArray>().expect("cast to MonthDayNano");
        let factors = factors.as_any().downcast_ref::<Float64Array>().expect("cast to Float64");
        let mut out = Vec::with_capacity(intervals.len());
        for (i, f) in intervals.iter().zip(factors.iter()) {
            out.push(match (i, f) {
                (Some(i), Some(f)) => {
                    Some(scale(i, f).ok_or_else(|| DataFusionError::from(crate::error::SqlError::new("22008", "interval out of range")))?)
                }
                _ => None,
            });
        }
        let out: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from(out));
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Whole days of the time part moved to days.
fn time_into_days(days: i32, micros: i64) -> Option<(i32, i64)> {
    Some((days.checked_add(i32::try_from(micros / MICROS_PER_DAY).ok()?)?, micros % MICROS_PER_DAY))
}

/// Days and time given one sign (`1 day -1 hour` → `23:00:00`).
fn days_and_time_agree(days: i32, micros: i64) -> (i32, i64) {
    if days > 0 && micros < 0 {
        (days - 1, micros + MICROS_PER_DAY)
    } else if days < 0 && micros > 0 {
        (days + 1, micros - MICROS_PER_DAY)
    } else {
        (days, micros)
    }
}

/// `justify_hours`: whole days of the time part move to days (signs made to agree, as PostgreSQL does).
pub fn justify_hours(months: i32, days: i32, micros: i64) -> Option<(i32, i32, i64)> {
    let (days, micros) = time_into_days(days, micros)?;
    let (days, micros) = days_and_time_agree(days, micros);
    Some((months, days, micros))
}

/// `justify_days`: 30-day periods move to months.
pub fn justify_days(mut months: i32, mut days: i32, micros: i64) -> Option<(i32, i32, i64)> {
    months = months.checked_add(days / 30)?;
    days %= 30;
    if months > 0 && days < 0 {
        days += 30;
        months -= 1;
    } else if months < 0 && days > 0 {
        days -= 30;
        months += 1;
    }
    Some((months, days, micros))
}

/// `justify_interval`: both, with one sign across months, days and time.
pub fn justify_interval(mut months: i32, days: i32, micros: i64) -> Option<(i32, i32, i64)> {
    let (mut days, micros) = time_into_days(days, micros)?;
    months = months.checked_add(days / 30)?;
    days %= 30;
    if months > 0 && (days < 0 || (days == 0 && micros < 0)) {
        days += 30;
        months -= 1;
    } else if months < 0 && (days > 0 || (days == 0 && micros > 0)) {
        days -= 30;
        months += 1;
    }
    let (days, micros) = days_and_time_agree(days, micros);
    Some((months, days, micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    // PostgreSQL 15's answers.
    #[test]
    fn justifies_like_postgres() {
        let h = 3_600_000_000i64;
        assert_eq!(justify_hours(0, 0, 36 * h), Some((0, 1, 12 * h))); // 1 day 12:00:00
        assert_eq!(justify_days(0, 40, 0), Some((1, 10, 0))); // 1 mon 10 days
        assert_eq!(justify_interval(1, 0, -h), Some((0, 29, 23 * h))); // 29 days 23:00:00
        assert_eq!(justify_hours(0, 1, -h), Some((0, 0, 23 * h)));
        assert_eq!(justify_days(1, -40, 0), Some((0, -10, 0)));
    }

    #[test]
    fn scales_like_postgres() {
        let minute = IntervalMonthDayNano::new(0, 0, 60_000_000_000);
        assert_eq!(scale(minute, 90.0), Some(IntervalMonthDayNano::new(0, 0, 5_400_000_000_000)));
        // '1 month' * 1.5 = '1 mon 15 days'
        assert_eq!(scale(IntervalMonthDayNano::new(1, 0, 0), 1.5), Some(IntervalMonthDayNano::new(1, 15, 0)));
        // '1 day' / 4 = '06:00:00'
        assert_eq!(scale(IntervalMonthDayNano::new(0, 1, 0), 0.25), Some(IntervalMonthDayNano::new(0, 0, 21_600_000_000_000)));
        assert_eq!(scale(IntervalMonthDayNano::new(i32::MAX, 0, 0), 2.0), None);
    }
}

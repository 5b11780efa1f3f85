//! `make_interval(years, months, weeks, days, hours, mins, secs)`: an interval
//! from its fields, as PostgreSQL builds it.
//!
//! Every argument is optional and defaults to 0; PostgreSQL callers usually
//! name the ones they give (`make_interval(days => 10)`). DataFusion's named
//! arguments cannot leave a gap before a given one, so the parser's rewrite
//! (`sql::parse`) turns named calls into positional ones with the gaps filled
//! by 0, and this function only ever sees positional arguments:
//!
//! ```text
//!   make_interval(days => 10, secs => 1.5)
//!     ─rewrite─► make_interval(0, 0, 0, 10, 0, 0, 1.5)
//!     ─────────► months = years·12 + months       (12 months never become a year)
//!                days   = weeks·7 + days
//!                time   = (hours·60 + mins)·60 s + secs, rounded to the microsecond (half to even)
//! ```
//!
//! The first six are integers, `secs` double precision; a NULL anywhere gives
//! NULL (the function is strict). A field that overflows, and a `secs` that is
//! NaN or infinite, fail with 22008 "interval out of range" as in PostgreSQL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as A, IntervalMonthDayNano, IntervalUnit};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::error::SqlError;

/// The parameters, in order; named arguments are matched against these.
pub const PARAMETERS: [&str; 7] = ["years", "months", "weeks", "days", "hours", "mins", "secs"];

pub fn make_interval() -> ScalarUDF {
    // The names only serve DataFusion's errors for calls the parser's rewrite
    // leaves named (an unknown or repeated name, a positional one after them).
    let signature = Signature::user_defined(Volatility::Immutable)
        .with_parameter_names(PARAMETERS.to_vec())
        .expect("a user-defined signature takes any names");
    ScalarUDF::new_from_impl(MakeInterval { signature })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeInterval {
    signature: Signature,
}

/// The type argument `i` is computed in, if `t` can be passed there: integers
/// for the fields, any number for `secs` (PostgreSQL's casts allow no more),
/// and text read as their input (`days => '10'`, an untyped literal there).
fn fitting_type(i: usize, t: &A) -> Option<A> {
    let integer = t.is_integer() || t.is_null() || matches!(t, A::Utf8 | A::LargeUtf8 | A::Utf8View);
    match i {
        0..=5 if integer => Some(A::Int64),
        6 if integer || t.is_floating() || matches!(t, A::Decimal128(..) | A::Decimal256(..)) => Some(A::Float64),
        _ => None,
    }
}

fn out_of_range() -> DataFusionError {
    DataFusionError::from(SqlError::new("22008", "interval out of range"))
}

/// One row's interval from its seven fields.
fn build(f: [i64; 6], secs: f64) -> DfResult<IntervalMonthDayNano> {
    let [years, months, weeks, days, hours, mins] = f;
    let months = years.checked_mul(12).and_then(|y| y.checked_add(months)).and_then(|m| i32::try_from(m).ok());
    let days = weeks.checked_mul(7).and_then(|w| w.checked_add(days)).and_then(|d| i32::try_from(d).ok());
    if !secs.is_finite() {
        return Err(out_of_range());
    }
    // Microseconds, as PostgreSQL keeps them (rounded half to even, its
    // rint()); Arrow's unit is the nanosecond.
    let secs_micros = (secs * 1e6).round_ties_even();
    let micros = hours
        .checked_mul(60)
        .and_then(|h| h.checked_add(mins))
        .and_then(|m| m.checked_mul(60_000_000))
        .and_then(|m| (secs_micros.abs() < 9.2e18).then(|| m.checked_add(secs_micros as i64)).flatten());
    match (months, days, micros.and_then(|u| u.checked_mul(1000))) {
        (Some(m), Some(d), Some(ns)) => Ok(IntervalMonthDayNano::new(m, d, ns)),
        _ => Err(out_of_range()),
    }
}

impl ScalarUDFImpl for MakeInterval {
    fn name(&self) -> &str {
        "make_interval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[A]) -> DfResult<Vec<A>> {
        // Types that fit are widened; the rest pass unchanged for
        // `return_type` to refuse (an error here would lose its SQLSTATE
        // inside DataFusion's coercion message).
        Ok(args.iter().enumerate().map(|(i, t)| fitting_type(i, t).unwrap_or_else(|| t.clone())).collect())
    }

    fn return_type(&self, args: &[A]) -> DfResult<A> {
        let fits = args.len() <= PARAMETERS.len() && args.iter().enumerate().all(|(i, t)| fitting_type(i, t).as_ref() == Some(t));
        if !fits {
            let names: Vec<String> = args
                .iter()
                .map(|t| {
                    let oid = crate::pg::encode::arrow_wire_type(t).oid;
                    crate::sql::system::format_type(oid, -1).unwrap_or_else(|| "unknown".into())
                })
                .collect();
            return Err(DataFusionError::from(
                SqlError::new("42883", format!("function make_interval({}) does not exist", names.join(", ")))
                    .with_hint("make_interval takes up to six integers (years, months, weeks, days, hours, mins) and secs."),
            ));
        }
        Ok(A::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut ints: Vec<Int64Array> = Vec::with_capacity(6);
        for a in arrays.iter().take(6) {
            ints.push(cast(a, &A::Int64)?.as_any().downcast_ref::<Int64Array>().expect("cast to int64").clone());
        }
        let secs = match arrays.get(6) {
            Some(a) => Some(cast(a, &A::Float64)?.as_any().downcast_ref::<Float64Array>().expect("cast to float64").clone()),
            None => None,
        };
        let out: IntervalMonthDayNanoArray = (0..n)
            .map(|row| {
                let mut fields = [0i64; 6];
                for (f, a) in fields.iter_mut().zip(&ints) {
                    if a.is_null(row) {
                        return Ok(None);
                    }
                    *f = a.value(row);
                }
                let s = match &secs {
                    Some(a) if a.is_null(row) => return Ok(None),
                    Some(a) => a.value(row),
                    None => 0.0,
                };
                build(fields, s).map(Some)
            })
            .collect::<DfResult<_>>()?;
        let out: ArrayRef = Arc::new(out);
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_NS: i64 = 3_600_000_000_000;

    // PostgreSQL 15's answers.
    #[test]
    fn fields_add_up_without_normalising() {
        assert_eq!(build([1, 2, 3, 4, 5, 6], 7.5).unwrap(), IntervalMonthDayNano::new(14, 25, 5 * HOUR_NS + 367_500_000_000));
        assert_eq!(build([0, 13, 0, 40, 25, 0], 0.0).unwrap(), IntervalMonthDayNano::new(13, 40, 25 * HOUR_NS));
        assert_eq!(build([0, 0, 0, 0, 0, 0], -1.0000005).unwrap(), IntervalMonthDayNano::new(0, 0, -1_000_001_000));
        // Half a microsecond rounds to even: 2.5 -> 2, 1.5 -> 2, 0.5 -> 0.
        assert_eq!(build([0; 6], 0.0000025).unwrap(), IntervalMonthDayNano::new(0, 0, 2_000));
        assert_eq!(build([0; 6], 1.5e-6).unwrap(), IntervalMonthDayNano::new(0, 0, 2_000));
        assert_eq!(build([0; 6], 0.0000005).unwrap(), IntervalMonthDayNano::new(0, 0, 0));
    }

    #[test]
    fn overflow_and_non_finite_seconds_are_out_of_range() {
        for (f, s) in
            [([200_000_000, 0, 0, 0, 0, 0], 0.0), ([0, 0, 400_000_000, 0, 0, 0], 0.0), ([0; 6], f64::NAN), ([0; 6], f64::INFINITY)]
        {
            let e = build(f, s).unwrap_err();
            assert!(e.to_string().contains("interval out of range"), "{e}");
        }
    }
}

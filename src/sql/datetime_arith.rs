//! Date and time arithmetic with PostgreSQL's result types.
//!
//! **`date ± interval` is a timestamp.** PostgreSQL adds an interval to a date by first making the date a
//! timestamp at midnight: `date '2024-01-01' + interval '1 hour'` is
//! `2024-01-01 01:00:00`. DataFusion keeps the date and drops the time
//! (`2024-01-01`), a silently wrong answer. This analyzer rule runs *before*
//! type coercion and casts the date operand of `+`/`-` with an interval to
//! `timestamp`, so coercion then types the expression, and everything that
//! compares or combines with it, as a timestamp:
//!
//! ```text
//!   d + i      (date, interval)   →   CAST(d AS timestamp) + i
//!   i + d      (interval, date)   →   i + CAST(d AS timestamp)
//!   d - i      (date, interval)   →   CAST(d AS timestamp) - i
//! ```
//!
//! `date ± integer` (days) and `date - date` (an integer) are untouched.
//!
//! **`timestamp - timestamp` counts whole days as days.** PostgreSQL's
//! difference is `justify_hours` of the elapsed time (`2 days 02:00:00`);
//! DataFusion's keeps hours (`50:00:00`). So the difference is wrapped:
//!
//! ```text
//!   a - b      (timestamp, timestamp)   →   pg_timestamp_difference(a - b)
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as A, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct DatetimeArithmetic;

/// The type of `e` if it can be told before coercion (placeholders may not).
fn type_of(e: &Expr, schema: &DFSchema) -> Option<A> {
    e.get_type(schema).ok()
}

fn as_timestamp(e: Expr) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), A::Timestamp(TimeUnit::Microsecond, None)))
}

impl AnalyzerRule for DatetimeArithmetic {
    fn name(&self) -> &str {
        "datetime_arithmetic"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if matches!(op, Operator::Plus | Operator::Minus) => {
                let (lt, rt) = (type_of(&left, schema), type_of(&right, schema));
                let (left, right) = match (lt, rt) {
                    (Some(A::Date32 | A::Date64), Some(A::Interval(_))) => (Box::new(as_timestamp(*left)), right),
                    (Some(A::Interval(_)), Some(A::Date32 | A::Date64)) if op == Operator::Plus => (left, Box::new(as_timestamp(*right))),
                    (Some(A::Timestamp(..)), Some(A::Timestamp(..))) if op == Operator::Minus => {
                        let difference = Expr::BinaryExpr(BinaryExpr { left, op, right });
                        return Ok(Transformed::yes(timestamp_difference().call(vec![difference])));
                    }
                    _ => return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
                };
                Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr { left, op, right })))
            }
            e => Ok(Transformed::no(e)),
        })
    }
}

fn timestamp_difference() -> ScalarUDF {
    ScalarUDF::new_from_impl(TimestampDifference { signature: Signature::any(1, Volatility::Immutable) })
}

/// A difference of timestamps as PostgreSQL gives it: `justify_hours` of
/// the elapsed time (DataFusion's difference has no months or days).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampDifference {
    signature: Signature,
}

impl ScalarUDFImpl for TimestampDifference {
    fn name(&self) -> &str {
        "pg_timestamp_difference"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(A::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let elapsed = cast(&arrays[0], &A::Interval(IntervalUnit::MonthDayNano))?;
        let elapsed = elapsed.as_any().downcast_ref::<IntervalMonthDayNanoArray>().expect("cast to MonthDayNano");
        let justified = elapsed
            .iter()
            .map(|v| {
                v.map(|v| {
                    let (m, d, us) = crate::sql::interval_arith::justify_hours(v.months, v.days, v.nanoseconds / 1000)
                        .ok_or_else(|| DataFusionError::from(crate::error::SqlError::new("22008", "interval out of range")))?;
                    Ok(IntervalMonthDayNano::new(m, d, us * 1000))
                })
                .transpose()
            })
            .collect::<DfResult<IntervalMonthDayNanoArray>>()?;
        let out: ArrayRef = Arc::new(justified);
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

//! Text becomes an interval, a timestamp or a date as PostgreSQL reads it.
//!
//! Arrow's parsers, which DataFusion's casts use, take few of PostgreSQL's
//! forms: for intervals not the one PostgreSQL (and duetdb) prints (`3 days
//! 04:05:06`), not psycopg's timedelta (`-1 day 2:00:00.000005`), not
//! `-1 day +2 hours`, `1-2`, `P1Y2M` or `… ago` (and `1.5 weeks` came out
//! as 7 days 84 hours); for timestamps not `2024-01-01 03:00` without
//! seconds. After type coercion this analyzer rule gives every cast from
//! text to one of these types to PostgreSQL's parsers instead — literals
//! (`interval '…'` and `'…'::interval` are casts after sql::parse), text
//! parameters and columns, and the casts coercion adds (`ts > '2024-01-01 03:00'`):
//!
//! ```text
//!   CAST(text AS interval | timestamp | date)   →   pg_text_in(text) of that type
//! ```
//!
//! (timestamptz input is read in the session's TimeZone by its own
//! function, sql::parse's `pg_timestamptz_in`.) The function is immutable,
//! so a literal is folded once at planning.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Builder, IntervalMonthDayNanoBuilder, TimestampMicrosecondBuilder};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options};
use datafusion::arrow::datatypes::{DataType as A, IntervalUnit, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TryCast, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::SqlError;
use crate::pg::datetime::{parse_date, parse_timestamp};
use crate::pg::interval_in::parse_interval;

#[derive(Debug, Default)]
pub struct TextInput;

fn is_text(e: &Expr, schema: &DFSchema) -> bool {
    e.get_type(schema).is_ok_and(|t| matches!(t, A::Utf8 | A::LargeUtf8 | A::Utf8View))
}

/// The types read here (a timestamp without time zone in any unit).
fn is_target(t: &A) -> bool {
    matches!(t, A::Interval(IntervalUnit::MonthDayNano) | A::Timestamp(_, None) | A::Date32)
}

impl AnalyzerRule for TextInput {
    fn name(&self) -> &str {
        "text_input"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field })
                if is_target(field.data_type()) && is_text(&expr, schema) =>
            {
                Ok(Transformed::yes(text_in(field.data_type().clone()).call(vec![*expr])))
            }
            e => Ok(Transformed::no(e)),
        })
    }
}

/// Casts that cross into or out of timestamptz, through the session's
/// `TimeZone` as PostgreSQL does:
///
/// ```text
///   CAST(text AS timestamptz)        →  pg_timestamptz_in(text)   (unless the text names an offset)
///   CAST(timestamp AS timestamptz)   →  pg_timestamp_to_timestamptz(ts)   wall clock read in the zone
///   CAST(date AS timestamptz)        →  the same, at the date's midnight
///   CAST(timestamptz AS timestamp)   →  pg_timestamptz_to_timestamp(tz)   the zone's wall clock
/// ```
///
/// Apart from `TextInput` because the functions are the session's (they read
/// its zone), so the rule holds that session's instances. Arrow's casts work
/// in UTC, and its text parser refused forms PostgreSQL takes (`tz_col >
/// '2024-01-01 10:00'` failed for want of seconds).
#[derive(Debug)]
pub struct TimestamptzInput {
    pub timestamptz_in: Arc<ScalarUDF>,
    pub to_timestamptz: Arc<ScalarUDF>,
    pub to_timestamp: Arc<ScalarUDF>,
}

impl AnalyzerRule for TimestamptzInput {
    fn name(&self) -> &str {
        "timestamptz_input"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| {
            let (expr, target) = match &e {
                Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type()),
                _ => return Ok(Transformed::no(e)),
            };
            let udf = match (expr.get_type(schema).ok(), target) {
                (Some(A::Utf8 | A::LargeUtf8 | A::Utf8View), A::Timestamp(_, Some(_))) => &self.timestamptz_in,
                (Some(A::Timestamp(_, None) | A::Date32 | A::Date64), A::Timestamp(_, Some(_))) => &self.to_timestamptz,
                (Some(A::Timestamp(_, Some(_))), A::Timestamp(_, None)) => &self.to_timestamp,
                _ => return Ok(Transformed::no(e)),
            };
            let converted = udf.call(vec![(**expr).clone()]);
            // The functions give microseconds; the cast's target may differ in unit or zone name.
            let same = converted.get_type(schema).is_ok_and(|t| &t == target);
            Ok(Transformed::yes(if same { converted } else { Expr::Cast(Cast::new(Box::new(converted), target.clone())) }))
        })
    }
}

fn text_in(target: A) -> ScalarUDF {
    ScalarUDF::new_from_impl(TextIn { target, signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextIn {
    target: A,
    signature: Signature,
}

impl TextIn {
    /// Every value read by PostgreSQL's parser for the target type.
    fn read(&self, text: &datafusion::arrow::array::StringArray) -> Result<ArrayRef, SqlError> {
        let invalid = |ty: &str, s: &str| SqlError::new("22007", format!("invalid input syntax for type {ty}: \"{s}\""));
        Ok(match self.target {
            A::Interval(_) => {
                let mut out = IntervalMonthDayNanoBuilder::with_capacity(text.len());
                for v in text.iter() {
                    match v {
                        None => out.append_null(),
                        Some(s) => {
                            out.append_value(parse_interval(s)?.to_arrow()?);
                        }
                    }
                }
                Arc::new(out.finish())
            }
            A::Date32 => {
                let mut out = Date32Builder::with_capacity(text.len());
                for v in text.iter() {
                    out.append_option(v.map(|s| parse_date(s).ok_or_else(|| invalid("date", s))).transpose()?);
                }
                Arc::new(out.finish())
            }
            _ => {
                let mut out = TimestampMicrosecondBuilder::with_capacity(text.len());
                for v in text.iter() {
                    out.append_option(v.map(|s| parse_timestamp(s).ok_or_else(|| invalid("timestamp", s))).transpose()?);
                }
                Arc::new(out.finish())
            }
        })
    }
}

impl ScalarUDFImpl for TextIn {
    fn name(&self) -> &str {
        "pg_text_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let input = ColumnarValue::values_to_arrays(&args.args)?.remove(0);
        let text = cast(&input, &A::Utf8)?;
        let read = self.read(text.as_string::<i32>())?;
        // Timestamps are read in microseconds; the cast may want another unit
        // (an overflow is an error, not a NULL).
        let array = match self.target {
            A::Timestamp(TimeUnit::Microsecond, None) | A::Interval(_) | A::Date32 => read,
            _ => cast_with_options(&read, &self.target, &CastOptions { safe: false, ..Default::default() })?,
        };
        crate::sql::functions::columnar_result(array, &args.args)
    }
}

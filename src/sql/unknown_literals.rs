//! An untyped string literal next to a date, time or interval operand of
//! `+` or `-` takes the type PostgreSQL's operator resolution gives it.
//!
//! PostgreSQL first tries an unknown operand as the other operand's type;
//! only `timestamp + timestamp` (and `time + time`) do not exist, so there
//! the interval operator wins, and `date + unknown` matches two operators
//! (`date + integer`, `date + interval`) and is refused:
//!
//! ```text
//!   ts - '…'   '…' - ts    →  timestamp - timestamp (an interval)
//!   ts + '…'   '…' + ts    →  timestamp + interval   (time likewise)
//!   d - '…'    '…' - d     →  date - date (days)
//!   d + '…'    '…' + d     →  42725 operator is not unique
//!   iv ± '…'   '…' ± iv    →  interval ± interval
//!   n ± '…'    '…' ± n     →  n's type (integer or float)
//!   x ± '1.25'             →  numeric(3,2) next to a numeric x
//! ```
//!
//! A timestamptz operand works the same way, its literal read in the
//! session's TimeZone (`text_input::TimestamptzInput`). Next to a numeric
//! the literal is a numeric of its own precision and scale — not the other
//! operand's type, whose scale would round it (`amount + '1.255'` with
//! `amount numeric(10,2)` must add 1.255); exponent forms are refused.
//!
//! DataFusion types the literal as text and refuses `timestamp + Utf8` while
//! it builds the plan, before any analyzer rule runs, so this is an
//! `ExprPlanner`: the SQL planner hands it each binary operator with its
//! operands planned. The literal becomes a cast, which `text_input` reads
//! with PostgreSQL's parsers — `ts - '1 day'` fails as PostgreSQL's does
//! (22007: `1 day` is not a timestamp).

use datafusion::arrow::datatypes::{DataType as A, IntervalUnit};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Cast, Expr, ExprSchemable};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::error::SqlError;

#[derive(Debug, Default)]
pub struct UnknownLiterals;

impl ExprPlanner for UnknownLiterals {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let minus = match expr.op {
            BinaryOperator::Minus => true,
            BinaryOperator::Plus => false,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let RawBinaryExpr { op, left, right } = expr;
        let (text, known, unknown_left) = match (unknown_text(&left), unknown_text(&right)) {
            (Some(text), None) => (text, right.get_type(schema).ok(), true),
            (None, Some(text)) => (text, left.get_type(schema).ok(), false),
            _ => return Ok(PlannerResult::Original(RawBinaryExpr { op, left, right })),
        };
        let Some(target) = resolve(known, text, minus)? else { return Ok(PlannerResult::Original(RawBinaryExpr { op, left, right })) };
        let cast = |e: Expr| Expr::Cast(Cast::new(Box::new(e), target.clone()));
        let (left, right) = if unknown_left { (cast(left), right) } else { (left, cast(right)) };
        Ok(PlannerResult::Original(RawBinaryExpr { op, left, right }))
    }
}

/// The numeric type that holds an untyped literal's digits exactly:
/// `'1.255'` is numeric(4,3). Text that is not a number fails as
/// PostgreSQL's numeric input does; exponent forms and NaN are refused.
fn numeric_type(text: &str) -> DfResult<A> {
    let text = text.trim();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !(int.is_empty() && frac.is_empty()) && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    let (precision, scale) = (int.trim_start_matches('0').len() + frac.len(), frac.len());
    if !plain && text.parse::<f64>().is_ok() {
        // '1e5', 'NaN': numeric input PostgreSQL takes and Decimal128 does not here.
        return Err(SqlError::unsupported(format!("numeric literal \"{text}\" in arithmetic: cast it (CAST('{text}' AS numeric))")).into());
    }
    if !plain || precision > 38 {
        return Err(SqlError::new("22P02", format!("invalid input syntax for type numeric: \"{text}\"")).into());
    }
    Ok(A::Decimal128(precision.max(scale).max(1) as u8, scale as i8))
}

/// The text of a string literal as the parser gives an untyped one.
fn unknown_text(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Some(s),
        _ => None,
    }
}

/// The type an unknown operand `text` of `+`/`-` takes next to one of type
/// `known`; None leaves the expression to DataFusion.
fn resolve(known: Option<A>, text: &str, minus: bool) -> DfResult<Option<A>> {
    let interval = A::Interval(IntervalUnit::MonthDayNano);
    Ok(match known {
        // numeric ± '…': a numeric of the literal's own precision and scale
        // (the other operand's scale would round it).
        Some(A::Decimal128(..) | A::Decimal256(..)) => Some(numeric_type(text)?),
        // (timestamptz - '…': the cast to timestamptz reads the text in the
        // session's TimeZone, sql::text_input's TimestamptzInput.)
        Some(t @ (A::Timestamp(..) | A::Time32(_) | A::Time64(_))) => Some(if minus { t } else { interval }),
        Some(t @ (A::Date32 | A::Date64)) if minus => Some(t),
        Some(A::Date32 | A::Date64) => {
            return Err(SqlError::new("42725", "operator is not unique: date + unknown")
                .with_hint("Could not choose a best candidate operator. You might need to add explicit type casts.")
                .into());
        }
        Some(A::Interval(_)) => Some(interval),
        // integer + '2': the integer's type, as PostgreSQL does.
        Some(t @ (A::Int16 | A::Int32 | A::Int64 | A::Float32 | A::Float64)) => Some(t),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn unknowns_resolve_as_postgresql_does() {
        let ts = A::Timestamp(TimeUnit::Microsecond, None);
        let iv = A::Interval(IntervalUnit::MonthDayNano);
        assert_eq!(resolve(Some(ts.clone()), "2024-01-01", true).unwrap(), Some(ts.clone()));
        assert_eq!(resolve(Some(ts), "1 day", false).unwrap(), Some(iv.clone()));
        assert_eq!(resolve(Some(A::Date32), "2024-01-01", true).unwrap(), Some(A::Date32));
        assert!(resolve(Some(A::Date32), "1", false).is_err());
        assert_eq!(resolve(Some(iv.clone()), "1 hour", true).unwrap(), Some(iv));
        assert_eq!(resolve(Some(A::Int32), "2", true).unwrap(), Some(A::Int32));
        assert_eq!(resolve(Some(A::Decimal128(10, 2)), "1.255", true).unwrap(), Some(A::Decimal128(4, 3)));
        assert_eq!(numeric_type("1.255").unwrap(), A::Decimal128(4, 3));
        assert_eq!(numeric_type("-0.5").unwrap(), A::Decimal128(1, 1));
        assert_eq!(numeric_type("42").unwrap(), A::Decimal128(2, 0));
        assert!(numeric_type("1e5").is_err() && numeric_type("abc").is_err() && numeric_type(".").is_err());
        let tz = A::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        assert_eq!(resolve(Some(tz.clone()), "2024-01-01", true).unwrap(), Some(tz));
        assert_eq!(resolve(None, "x", false).unwrap(), None);
    }
}

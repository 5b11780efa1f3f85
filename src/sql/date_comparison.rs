//! A date compared with a constant timestamp is compared as a date.
//!
//! `date ± interval` is a timestamp (sql::datetime_arith, as in
//! PostgreSQL), so the filter every report writes —
//! `d < date '1994-01-01' + interval '1 year'` — compares the date column
//! cast to a timestamp with a timestamp constant. Right, but each row pays a
//! cast, and a cast column prunes no segment or row group by its min/max.
//! Once the constant is folded, this optimizer rule compares the date itself
//! with the date that gives the same answer for every row:
//!
//! ```text
//!   CAST(d AS timestamp) <  T    →   d <  day(T)      T at midnight
//!                                    d <= day(T)      T later in its day
//!   CAST(d AS timestamp) <= T    →   d <= day(T)
//!   CAST(d AS timestamp) >  T    →   d >  day(T)
//!   CAST(d AS timestamp) >= T    →   d >= day(T)      T at midnight
//!                                    d >  day(T)      T later in its day
//!   CAST(d AS timestamp) =, <> T →   d =, <> day(T)   T at midnight only
//! ```
//!
//! (a date as a timestamp is its day's midnight, so against a T inside a
//! day D it is below T exactly when it is D or earlier). A constant on the
//! left is turned around first. Only filters are rewritten (a filter's
//! expression has no output name to keep): Filter nodes and the filters
//! pushed into table scans, which is where pruning reads them.

use datafusion::arrow::datatypes::DataType as A;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct DateTimestampComparison;

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl OptimizerRule for DateTimestampComparison {
    fn name(&self) -> &str {
        "date_timestamp_comparison"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> DfResult<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Filter(mut filter) => {
                let schema = filter.input.schema().clone();
                let predicate = std::mem::replace(&mut filter.predicate, Expr::Literal(ScalarValue::Null, None));
                let t = rewrite_predicate(predicate, &schema)?;
                filter.predicate = t.data;
                Ok(Transformed::new_transformed(LogicalPlan::Filter(filter), t.transformed))
            }
            LogicalPlan::TableScan(mut scan) if !scan.filters.is_empty() => {
                let Ok(schema) = DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema()) else {
                    return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
                };
                let mut changed = false;
                let filters = std::mem::take(&mut scan.filters);
                for f in filters {
                    let t = rewrite_predicate(f, &schema)?;
                    changed |= t.transformed;
                    scan.filters.push(t.data);
                }
                Ok(Transformed::new_transformed(LogicalPlan::TableScan(scan), changed))
            }
            plan => Ok(Transformed::no(plan)),
        }
    }
}

fn rewrite_predicate(predicate: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
    predicate.transform_up(|e| {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else { return Ok(Transformed::no(e)) };
        // The cast date on the left, the constant on the right.
        let (date, op, micros) = match (date_as_timestamp(&left, schema), timestamp_micros(&right)) {
            (Some(d), Some(t)) => (d, op, t),
            _ => match (timestamp_micros(&left), date_as_timestamp(&right, schema), op.swap()) {
                (Some(t), Some(d), Some(swapped)) => (d, swapped, t),
                _ => return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
            },
        };
        let day = micros.div_euclid(MICROS_PER_DAY);
        let midnight = micros.rem_euclid(MICROS_PER_DAY) == 0;
        let (op, day) = match (op, midnight) {
            (Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq | Operator::Eq | Operator::NotEq, true) => (op, day),
            (Operator::Lt | Operator::LtEq, false) => (Operator::LtEq, day),
            (Operator::Gt | Operator::GtEq, false) => (Operator::Gt, day),
            _ => return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
        };
        let Ok(day) = i32::try_from(day) else { return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))) };
        let date_literal = Expr::Literal(ScalarValue::Date32(Some(day)), None);
        Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(Box::new(date), op, Box::new(date_literal)))))
    })
}

/// `d` when `e` is `CAST(d AS timestamp)` of a date `d`.
fn date_as_timestamp(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let Expr::Cast(Cast { expr, field }) = e else { return None };
    (matches!(field.data_type(), A::Timestamp(_, None)) && matches!(expr.get_type(schema).ok()?, A::Date32)).then(|| expr.as_ref().clone())
}

/// A non-null timestamp (without time zone) constant, in microseconds.
/// A constant with sub-microsecond digits keeps its comparison (rare, and
/// the day arithmetic above counts whole microseconds).
fn timestamp_micros(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::TimestampSecond(Some(s), None) => s.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(ms), None) => ms.checked_mul(1000),
        ScalarValue::TimestampMicrosecond(Some(us), None) => Some(*us),
        ScalarValue::TimestampNanosecond(Some(ns), None) if ns % 1000 == 0 => Some(ns / 1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};
    use datafusion::logical_expr::col;

    fn literal(unit: TimeUnit, micros: i64) -> Expr {
        Expr::Literal(
            match unit {
                TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(micros), None),
                _ => ScalarValue::TimestampNanosecond(Some(micros * 1000), None),
            },
            None,
        )
    }

    fn schema() -> DFSchema {
        DFSchema::try_from(Schema::new(vec![Field::new("d", A::Date32, true)])).unwrap()
    }

    fn cast_d() -> Expr {
        Expr::Cast(Cast::new(Box::new(col("d")), A::Timestamp(TimeUnit::Nanosecond, None)))
    }

    fn rewritten(e: Expr) -> String {
        rewrite_predicate(e, &schema()).unwrap().data.to_string()
    }

    #[test]
    fn comparisons_become_date_comparisons() {
        // 1995-01-01 is day 9131; noon is half a day later.
        let midnight = 9131 * MICROS_PER_DAY;
        let noon = midnight + MICROS_PER_DAY / 2;
        let cmp = |l: Expr, op, r: Expr| Expr::BinaryExpr(BinaryExpr::new(Box::new(l), op, Box::new(r)));
        let lit = |m| literal(TimeUnit::Nanosecond, m);
        assert_eq!(rewritten(cmp(cast_d(), Operator::Lt, lit(midnight))), "d < Date32(\"1995-01-01\")");
        assert_eq!(rewritten(cmp(cast_d(), Operator::Lt, lit(noon))), "d <= Date32(\"1995-01-01\")");
        assert_eq!(rewritten(cmp(cast_d(), Operator::GtEq, lit(midnight))), "d >= Date32(\"1995-01-01\")");
        assert_eq!(rewritten(cmp(cast_d(), Operator::GtEq, lit(noon))), "d > Date32(\"1995-01-01\")");
        assert_eq!(rewritten(cmp(cast_d(), Operator::Gt, lit(noon))), "d > Date32(\"1995-01-01\")");
        assert_eq!(rewritten(cmp(cast_d(), Operator::LtEq, lit(noon))), "d <= Date32(\"1995-01-01\")");
        // The constant on the left: T > d is d < T.
        assert_eq!(rewritten(cmp(lit(midnight), Operator::Gt, cast_d())), "d < Date32(\"1995-01-01\")");
        // Equality with a time inside a day is left as it is.
        assert_eq!(rewritten(cmp(cast_d(), Operator::Eq, lit(midnight))), "d = Date32(\"1995-01-01\")");
        assert!(rewritten(cmp(cast_d(), Operator::Eq, lit(noon))).contains("CAST"));
        // Before 1970: days round down.
        assert_eq!(rewritten(cmp(cast_d(), Operator::Lt, lit(-MICROS_PER_DAY / 2))), "d <= Date32(\"1969-12-31\")");
    }
}

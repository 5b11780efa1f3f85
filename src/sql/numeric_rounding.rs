//! `ceil`, `floor` and `trunc` of a numeric have PostgreSQL's scale.
//!
//! DataFusion rounds a decimal in place and keeps its scale (`ceil(2.1)` is
//! `3.0`, `trunc(2.678, 1)` is `2.600`); PostgreSQL's result has the scale
//! the rounding asked for (`3`, `2.6`; `trunc(2.5, 3)` is `2.500`). The value
//! is the same, so after type coercion this analyzer rule casts the rounded
//! value to that scale, which is exact:
//!
//! ```text
//!   ceil(n), floor(n), trunc(n)   n numeric(p,s)   →   CAST(… AS numeric(38,0))
//!   trunc(n, k)                   k a constant     →   CAST(… AS numeric(38,max(k,0)))
//! ```
//!
//! `round(n, k)` already has PostgreSQL's scale in DataFusion.

use datafusion::arrow::datatypes::DataType as A;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct NumericRoundingScale;

/// The scale PostgreSQL gives `f(args)`, for a numeric rounding function.
fn rounded_scale(f: &ScalarFunction) -> Option<i8> {
    match (f.func.name(), f.args.as_slice()) {
        ("ceil" | "floor" | "trunc", [_]) => Some(0),
        ("trunc", [_, Expr::Literal(k, _)]) => {
            let k = match k {
                ScalarValue::Int64(Some(k)) => *k,
                ScalarValue::Int32(Some(k)) => i64::from(*k),
                _ => return None,
            };
            Some(k.clamp(0, 38) as i8)
        }
        _ => None,
    }
}

impl AnalyzerRule for NumericRoundingScale {
    fn name(&self) -> &str {
        "numeric_rounding_scale"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::ScalarFunction(f) => {
                let scale = rounded_scale(&f);
                match (scale, e_type(&f, schema)) {
                    (Some(to), Some(A::Decimal128(_, from))) if to != from => {
                        Ok(Transformed::yes(Expr::Cast(Cast::new(Box::new(Expr::ScalarFunction(f)), A::Decimal128(38, to)))))
                    }
                    _ => Ok(Transformed::no(Expr::ScalarFunction(f))),
                }
            }
            e => Ok(Transformed::no(e)),
        })
    }
}

fn e_type(f: &ScalarFunction, schema: &datafusion::common::DFSchema) -> Option<A> {
    f.args.first()?.get_type(schema).ok()
}

//! Casts to integer types round, as PostgreSQL's do.
//!
//! Arrow's cast truncates (`1.5::int` is 1, `-2.7::int` is -2) and turns an
//! out-of-range value into an Arrow error; PostgreSQL rounds and raises
//! `integer out of range` (22003). A truncated number is a silently wrong
//! answer, so this analyzer rule, after type coercion, replaces each cast of
//! a floating or decimal value to an integer type with one that rounds:
//!
//! ```text
//!   CAST(f AS int)       f double precision   → pg_to_int32(f)   half to even (float8 → int4 is rint)
//!   CAST(n AS bigint)    n numeric            → pg_to_int64(n)   half away from zero (numeric's rounding)
//! ```
//!
//! Decimal literals are numeric (`datafusion.sql_parser.parse_float_as_decimal`),
//! so `2.5::int` rounds as numeric does, to 3. Row-store DML converts values
//! itself (`Type::coerce`, which rounds half away from zero).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Decimal128Array, Float64Array, Int16Array, Int32Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType as A;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::SqlError;

#[derive(Debug, Default)]
pub struct RoundingIntegerCasts;

impl AnalyzerRule for RoundingIntegerCasts {
    fn name(&self) -> &str {
        "rounding_integer_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::Cast(cast) if matches!(cast.field.data_type(), A::Int16 | A::Int32 | A::Int64) => {
                let rounding = match cast.expr.get_type(schema)? {
                    A::Float16 | A::Float32 | A::Float64 => Rounding::HalfEven,
                    A::Decimal128(..) => Rounding::HalfAway,
                    _ => return Ok(Transformed::no(Expr::Cast(cast))),
                };
                let Cast { expr, field } = cast;
                Ok(Transformed::yes(to_int(field.data_type().clone(), rounding).call(vec![*expr])))
            }
            e => Ok(Transformed::no(e)),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rounding {
    HalfEven,
    HalfAway,
}

fn to_int(target: A, rounding: Rounding) -> ScalarUDF {
    ScalarUDF::new_from_impl(ToInt { target, rounding, signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToInt {
    target: A,
    rounding: Rounding,
    signature: Signature,
}

impl ToInt {
    fn out_of_range(&self) -> DataFusionError {
        let name = match self.target {
            A::Int16 => "smallint",
            A::Int32 => "integer",
            _ => "bigint",
        };
        DataFusionError::from(SqlError::new("22003", format!("{name} out of range")))
    }

    fn bounds(&self) -> (i128, i128) {
        match self.target {
            A::Int16 => (i16::MIN as i128, i16::MAX as i128),
            A::Int32 => (i32::MIN as i128, i32::MAX as i128),
            _ => (i64::MIN as i128, i64::MAX as i128),
        }
    }

    /// One value, rounded; None for an input NULL.
    fn convert(&self, values: &ArrayRef) -> DfResult<Vec<Option<i128>>> {
        let (lo, hi) = self.bounds();
        let check = |v: i128| if (lo..=hi).contains(&v) { Ok(v) } else { Err(self.out_of_range()) };
        if let A::Decimal128(_, scale) = values.data_type() {
            let a = values.as_any().downcast_ref::<Decimal128Array>().expect("decimal128");
            let p = 10i128.pow((*scale).max(0) as u32);
            return a
                .iter()
                .map(|v| {
                    v.map(|m| {
                        let (q, r) = (m / p, m % p);
                        // Half away from zero: |r| ≥ p/2 moves one step away.
                        let q = if r.unsigned_abs() * 2 >= p.unsigned_abs() { q + m.signum() } else { q };
                        check(q)
                    })
                    .transpose()
                })
                .collect();
        }
        let f = cast(values, &A::Float64)?;
        let f = f.as_any().downcast_ref::<Float64Array>().expect("cast to float64");
        f.iter()
            .map(|v| {
                v.map(|x| {
                    let r = match self.rounding {
                        Rounding::HalfEven => x.round_ties_even(),
                        Rounding::HalfAway => x.round(),
                    };
                    // NaN and the infinities fail the range check too.
                    if !(lo as f64..=hi as f64).contains(&r) {
                        return Err(self.out_of_range());
                    }
                    check(r as i128)
                })
                .transpose()
            })
            .collect()
    }
}

impl ScalarUDFImpl for ToInt {
    fn name(&self) -> &str {
        match self.target {
            A::Int16 => "pg_to_int16",
            A::Int32 => "pg_to_int32",
            _ => "pg_to_int64",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let values = self.convert(&arrays[0])?;
        let out: ArrayRef = match self.target {
            A::Int16 => Arc::new(values.into_iter().map(|v| v.map(|v| v as i16)).collect::<Int16Array>()),
            A::Int32 => Arc::new(values.into_iter().map(|v| v.map(|v| v as i32)).collect::<Int32Array>()),
            _ => Arc::new(values.into_iter().map(|v| v.map(|v| v as i64)).collect::<Int64Array>()),
        };
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

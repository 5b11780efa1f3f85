//! Arithmetic that fails where PostgreSQL's fails.
//!
//! DataFusion's `+`, `-`, `*` and unary `-` on integers wrap around
//! (`2147483647::int + 1` is `-2147483648`); PostgreSQL raises
//! `integer out of range` (22003). Its `/` and `%` on floating-point values
//! return Infinity or NaN for a zero divisor; PostgreSQL raises `division by
//! zero` (22012). A silently wrong sum is the worst kind of answer, so after
//! type coercion (and before constant folding) this analyzer rule replaces
//! each such operation with a function that uses Arrow's kernels —
//! vectorized like the original — and checks:
//!
//! ```text
//!   a + b   (Int32, Int32)       →   pg_int_add(a, b)       names preserved
//!   a / b   (Float64, Float64)   →   pg_float_div(a, b)
//! ```
//!
//! Row-store DML evaluates its own expressions (`sql::expr`), which already
//! check.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType as A;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct CheckedIntegerArithmetic;

fn is_float(t: &A) -> bool {
    matches!(t, A::Float16 | A::Float32 | A::Float64)
}

fn is_integer(t: &A) -> bool {
    matches!(t, A::Int8 | A::Int16 | A::Int32 | A::Int64 | A::UInt8 | A::UInt16 | A::UInt32 | A::UInt64)
}

impl AnalyzerRule for CheckedIntegerArithmetic {
    fn name(&self) -> &str {
        "checked_integer_arithmetic"
    }

    /// Runs after type coercion and before the optimizer, whose constant
    /// folding would otherwise compute `2147483647::int + 1` with wrapping.
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) => {
                let (lt, rt) = (left.get_type(schema)?, right.get_type(schema)?);
                if is_integer(&lt) && lt == rt {
                    let f = match op {
                        Operator::Plus => Op::Add,
                        Operator::Minus => Op::Sub,
                        _ => Op::Mul,
                    };
                    Ok(Transformed::yes(checked(f).call(vec![*left, *right])))
                } else {
                    Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right })))
                }
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if matches!(op, Operator::Divide | Operator::Modulo) => {
                let (lt, rt) = (left.get_type(schema)?, right.get_type(schema)?);
                if is_float(&lt) && lt == rt {
                    let f = if op == Operator::Divide { Op::FloatDiv } else { Op::FloatRem };
                    Ok(Transformed::yes(checked(f).call(vec![*left, *right])))
                } else {
                    Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right })))
                }
            }
            Expr::Negative(x) if x.get_type(schema).is_ok_and(|t| is_integer(&t)) => Ok(Transformed::yes(checked(Op::Neg).call(vec![*x]))),
            e => Ok(Transformed::no(e)),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Sub,
    Mul,
    Neg,
    FloatDiv,
    FloatRem,
}

fn checked(op: Op) -> ScalarUDF {
    let arity = if op == Op::Neg { 1 } else { 2 };
    ScalarUDF::new_from_impl(Checked { op, signature: Signature::any(arity, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Op,
    signature: Signature,
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "pg_int_add",
            Op::Sub => "pg_int_sub",
            Op::Mul => "pg_int_mul",
            Op::Neg => "pg_int_neg",
            Op::FloatDiv => "pg_float_div",
            Op::FloatRem => "pg_float_mod",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[A]) -> DfResult<A> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        if matches!(self.op, Op::FloatDiv | Op::FloatRem) {
            reject_zero_divisor(&arrays[0], &arrays[1])?;
        }
        let out: ArrayRef = match self.op {
            Op::Add => numeric::add(&arrays[0], &arrays[1]),
            Op::Sub => numeric::sub(&arrays[0], &arrays[1]),
            Op::Mul => numeric::mul(&arrays[0], &arrays[1]),
            Op::Neg => numeric::neg(&arrays[0]),
            Op::FloatDiv => numeric::div(&arrays[0], &arrays[1]),
            Op::FloatRem => numeric::rem(&arrays[0], &arrays[1]),
        }
        .map_err(|e| match e {
            datafusion::arrow::error::ArrowError::ArithmeticOverflow(_) => DataFusionError::External(Box::new(
                crate::error::SqlError::new("22003", format!("{} out of range", pg_name(args.return_field.data_type()))),
            )),
            other => DataFusionError::ArrowError(Box::new(other), None),
        })?;
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

/// PostgreSQL's float division: a zero divisor is an error unless the dividend is NaN.
fn reject_zero_divisor(dividend: &ArrayRef, divisor: &ArrayRef) -> DfResult<()> {
    use datafusion::arrow::array::{Array, Float64Array};
    use datafusion::arrow::compute::cast;
    let (x, y) = (cast(dividend, &A::Float64)?, cast(divisor, &A::Float64)?);
    let x = x.as_any().downcast_ref::<Float64Array>().expect("cast to float64");
    let y = y.as_any().downcast_ref::<Float64Array>().expect("cast to float64");
    let zero = (0..y.len()).any(|i| y.is_valid(i) && y.value(i) == 0.0 && x.is_valid(i) && !x.value(i).is_nan());
    if zero {
        return Err(DataFusionError::from(crate::error::SqlError::new("22012", "division by zero")));
    }
    Ok(())
}

fn pg_name(t: &A) -> &'static str {
    match t {
        A::Int8 | A::Int16 | A::UInt8 => "smallint",
        A::Int32 | A::UInt16 => "integer",
        _ => "bigint",
    }
}

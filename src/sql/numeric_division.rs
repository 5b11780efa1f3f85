//! Numeric division and `avg` with PostgreSQL's precision.
//!
//! PostgreSQL's numeric `/` keeps at least 16 significant digits
//! (`19.99 / 3` is `6.6633333333333333`) and rounds the last one half away
//! from zero; `avg` of numeric and of integers is that same division of the
//! sum by the count. DataFusion divides decimals at `max(6, …)` decimals and
//! truncates (`6.663333`), and averages at the input's scale + 4 — a third
//! of the digits a PostgreSQL user gets. So:
//!
//! ```text
//!   a / b        both decimal (after coercion)  →  pg_numeric_div(a, b)   scale max(16, s1, s2)
//!   avg(x)       x numeric or integer            →  this module's avg      scale max(16, s)
//!   avg(x)       x double precision or real      →  DataFusion's avg (float8 as in PostgreSQL)
//! ```
//!
//! PostgreSQL picks the scale per value (16 significant digits from the
//! quotient's leading base-10000 digit group: `10 / 4.0` has 16 decimals,
//! `2 / 3.0` 20, `1000000 / 3.0` 12). An Arrow column has one scale, so the
//! quotient is computed at 20 decimals (exact to PostgreSQL's digits for
//! quotients from 0.0001 up) and the result field is marked
//! ([`META_QUOTIENT`]) for the wire encoder to show each value at
//! PostgreSQL's scale for its magnitude ([`NumericDisplay::Quotient`]).
//! A quotient must fit `numeric(38, 20)` (below 10^18); beyond it the answer
//! is 22003, never a wrapped value.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Decimal256Array, UInt64Array};
use datafusion::arrow::compute::kernels::arity::try_binary;
use datafusion::arrow::datatypes::{DataType as A, Decimal128Type, Decimal256Type, Field, FieldRef, UInt64Type, i256};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::functions_aggregate::average::Avg;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, BinaryExpr, ColumnarValue, EmitTo, Expr, ExprSchemable, GroupsAccumulator, LogicalPlan,
    Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::SqlError;
use crate::pg::encode::META_QUOTIENT;

/// The result field of a quotient of operands at scales `s1`, `s2`.
fn quotient_field(name: &str, s1: i8, s2: i8) -> FieldRef {
    let min_scale = s1.max(s2).max(0).to_string();
    let field = Field::new(name, A::Decimal128(MAX_PRECISION, quotient_scale(s1, s2)), true);
    Arc::new(field.with_metadata([(META_QUOTIENT.to_string(), min_scale)].into()))
}

/// Decimals a quotient is computed at: what PostgreSQL shows for quotients
/// from 0.0001 to 0.9999 (16 significant digits, `NUMERIC_MIN_SIG_DIGITS`,
/// counted from the leading base-10000 group); larger quotients show fewer.
const QUOTIENT_SCALE: i8 = 20;
/// Digits of Arrow's Decimal128, the widest numeric duetdb stores.
const MAX_PRECISION: u8 = 38;

/// The scale of `a / b` for operands of scales `s1`, `s2`.
pub fn quotient_scale(s1: i8, s2: i8) -> i8 {
    QUOTIENT_SCALE.max(s1).max(s2).min(MAX_PRECISION as i8)
}

/// A result past numeric's 38 digits (22003 once it reaches the client, see [`sql_error`]).
fn overflow() -> ArrowError {
    ArrowError::ArithmeticOverflow("numeric".into())
}

/// `n / d` rounded half away from zero, as PostgreSQL rounds numerics.
fn divide_rounded(n: i256, d: i256) -> Result<i256, ArrowError> {
    if d == i256::ZERO {
        return Err(ArrowError::DivideByZero);
    }
    let q = n.checked_div(d).ok_or_else(overflow)?;
    let r = n.checked_rem(d).ok_or_else(overflow)?;
    // |2r| ≥ |d| ⇔ |r| ≥ |d| − |r|, which cannot overflow.
    let (r, d_abs) = (r.wrapping_abs(), d.wrapping_abs());
    if r >= d_abs.wrapping_sub(r) && r != i256::ZERO {
        let away = if (n < i256::ZERO) != (d < i256::ZERO) { i256::MINUS_ONE } else { i256::ONE };
        return q.checked_add(away).ok_or_else(overflow);
    }
    Ok(q)
}

/// The common case in 128 bits (256-bit division is several times slower):
/// None when the scaled numerator does not fit or the divisor is zero.
fn divide_scaled_i128(n: i256, d: i256, shift: i32) -> Option<i128> {
    let (n, d) = (n.to_i128()?, d.to_i128()?);
    if shift < 0 || d == 0 {
        return None;
    }
    let n = n.checked_mul(10i128.checked_pow(shift as u32)?)?;
    let (q, r) = (n.checked_div(d)?, n.checked_rem(d)?);
    let (r, d_abs) = (r.unsigned_abs(), d.unsigned_abs());
    let q = if r != 0 && r >= d_abs - r { q + if (n < 0) != (d < 0) { -1 } else { 1 } } else { q };
    (q.unsigned_abs() < 10u128.pow(u32::from(MAX_PRECISION))).then_some(q)
}

fn pow10(k: u32) -> Result<i256, ArrowError> {
    i256::from_i128(10).checked_pow(k).ok_or_else(overflow)
}

/// `n·10^-ns / d·10^-ds` as a mantissa at scale `scale`, fitting 38 digits.
fn divide_scaled(n: i256, ns: i8, d: i256, ds: i8, scale: i8) -> Result<i128, ArrowError> {
    // q·10^-scale = n·10^-ns / (d·10^-ds)  ⇒  q = n·10^(scale − ns + ds) / d
    let shift = i32::from(scale) - i32::from(ns) + i32::from(ds);
    if let Some(q) = divide_scaled_i128(n, d, shift) {
        return Ok(q);
    }
    let (n, d) = if shift >= 0 {
        (n.checked_mul(pow10(shift as u32)?).ok_or_else(overflow)?, d)
    } else {
        (n, d.checked_mul(pow10(shift.unsigned_abs())?).ok_or_else(overflow)?)
    };
    let q = divide_rounded(n, d)?;
    let limit = pow10(u32::from(MAX_PRECISION))?;
    match q.to_i128() {
        Some(q) if i256::from_i128(q).wrapping_abs() < limit => Ok(q),
        _ => Err(overflow()),
    }
}

fn sql_error(e: ArrowError) -> DataFusionError {
    match e {
        ArrowError::DivideByZero => SqlError::new("22012", "division by zero").into(),
        ArrowError::ArithmeticOverflow(_) => SqlError::new("22003", "value overflows numeric format").into(),
        other => DataFusionError::ArrowError(Box::new(other), None),
    }
}

/// Rewrites decimal `/` into [`numeric_div`].
#[derive(Debug, Default)]
pub struct NumericDivision;

impl AnalyzerRule for NumericDivision {
    fn name(&self) -> &str {
        "numeric_division"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Divide, right })
                if matches!(left.get_type(schema)?, A::Decimal128(..)) && matches!(right.get_type(schema)?, A::Decimal128(..)) =>
            {
                Ok(Transformed::yes(numeric_div().call(vec![*left, *right])))
            }
            e => Ok(Transformed::no(e)),
        })
    }
}

pub fn numeric_div() -> ScalarUDF {
    ScalarUDF::new_from_impl(NumericDiv { signature: Signature::any(2, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericDiv {
    signature: Signature,
}

fn decimal_scale(t: &A) -> DfResult<i8> {
    match t {
        A::Decimal128(_, s) => Ok(*s),
        other => Err(DataFusionError::Internal(format!("pg_numeric_div of {other}"))),
    }
}

impl ScalarUDFImpl for NumericDiv {
    fn name(&self) -> &str {
        "pg_numeric_div"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[A]) -> DfResult<A> {
        Ok(A::Decimal128(MAX_PRECISION, quotient_scale(decimal_scale(&args[0])?, decimal_scale(&args[1])?)))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(quotient_field(self.name(), decimal_scale(args.arg_fields[0].data_type())?, decimal_scale(args.arg_fields[1].data_type())?))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (ns, ds) = (decimal_scale(arrays[0].data_type())?, decimal_scale(arrays[1].data_type())?);
        let scale = quotient_scale(ns, ds);
        let quotients: Decimal128Array =
            try_binary(arrays[0].as_primitive::<Decimal128Type>(), arrays[1].as_primitive::<Decimal128Type>(), |n, d| {
                divide_scaled(i256::from_i128(n), ns, i256::from_i128(d), ds, scale)
            })
            .map_err(sql_error)?;
        let out: ArrayRef = Arc::new(quotients.with_precision_and_scale(MAX_PRECISION, scale)?);
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

/// `avg` as PostgreSQL computes it: numeric for numeric and integer input,
/// double precision for floating-point input (DataFusion's avg does those).
pub fn avg() -> AggregateUDF {
    AggregateUDF::new_from_impl(PgAvg { float_avg: Avg::new(), signature: Signature::user_defined(Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgAvg {
    float_avg: Avg,
    signature: Signature,
}

/// The scale of a numeric input. Its sum accumulates exactly in 256 bits
/// (checked: an overflow is 22003, never a wrapped sum).
fn numeric_input(t: &A) -> Option<i8> {
    match t {
        A::Decimal128(_, s) => Some(*s),
        _ => None,
    }
}

/// The partial-aggregate state type of a numeric sum at scale `scale`.
fn sum_type(scale: i8) -> A {
    A::Decimal256(76, scale)
}

impl AggregateUDFImpl for PgAvg {
    fn name(&self) -> &str {
        "avg"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[A]) -> DfResult<Vec<A>> {
        let [t] = args else {
            return Err(SqlError::new("42883", format!("function avg takes one argument, not {}", args.len())).into());
        };
        Ok(vec![match t {
            A::Int8 | A::UInt8 => A::Decimal128(3, 0),
            A::Int16 | A::UInt16 => A::Decimal128(5, 0),
            A::Int32 | A::UInt32 => A::Decimal128(10, 0),
            A::Int64 | A::UInt64 => A::Decimal128(20, 0),
            A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal128(p, s) => A::Decimal128(*p, *s),
            A::Float16 | A::Float32 | A::Float64 | A::Null => A::Float64,
            A::Duration(_) | A::Decimal256(..) => t.clone(),
            other => {
                return Err(SqlError::new(
                    "42883",
                    format!(
                        "function avg({}) does not exist",
                        crate::pg::oid::type_name(crate::pg::encode::wire_type(&Field::new("", other.clone(), true)).oid)
                            .unwrap_or("unknown")
                    ),
                )
                .into());
            }
        }])
    }

    fn return_type(&self, args: &[A]) -> DfResult<A> {
        match numeric_input(&args[0]) {
            Some(s) => Ok(A::Decimal128(MAX_PRECISION, quotient_scale(s, 0))),
            None => self.float_avg.return_type(args),
        }
    }

    fn return_field(&self, args: &[FieldRef]) -> DfResult<FieldRef> {
        match numeric_input(args[0].data_type()) {
            Some(s) => Ok(quotient_field(self.name(), s, 0)),
            None => self.float_avg.return_field(args),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        match numeric_input(args.input_fields[0].data_type()) {
            Some(scale) if !args.is_distinct => Ok(vec![
                Arc::new(Field::new(format!("{}[count]", args.name), A::UInt64, true)),
                Arc::new(Field::new(format!("{}[sum]", args.name), sum_type(scale), true)),
            ]),
            _ => self.float_avg.state_fields(args),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        match numeric_input(args.expr_fields[0].data_type()) {
            Some(scale) if !args.is_distinct => Ok(Box::new(NumericAvg { sum: i256::ZERO, count: 0, scale })),
            _ => self.float_avg.accumulator(args),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        match numeric_input(args.expr_fields[0].data_type()) {
            Some(_) => !args.is_distinct,
            None => self.float_avg.groups_accumulator_supported(args),
        }
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn GroupsAccumulator>> {
        match numeric_input(args.expr_fields[0].data_type()) {
            Some(scale) => Ok(Box::new(NumericAvgGroups { sums: Vec::new(), counts: Vec::new(), scale })),
            None => self.float_avg.create_groups_accumulator(args),
        }
    }

    fn aliases(&self) -> &[String] {
        &[]
    }
}

/// The mean of `count` values summing to `sum` (at scale `scale`), at the
/// quotient scale.
fn average(sum: i256, count: u64, scale: i8) -> Result<i128, ArrowError> {
    divide_scaled(sum, scale, i256::from_i128(i128::from(count)), 0, quotient_scale(scale, 0))
}

fn sum_overflow() -> DataFusionError {
    sql_error(overflow())
}

/// One group's numeric average (DISTINCT goes to DataFusion's accumulator).
#[derive(Debug)]
struct NumericAvg {
    sum: i256,
    count: u64,
    scale: i8,
}

impl Accumulator for NumericAvg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let values = values[0].as_primitive::<Decimal128Type>();
        for v in values.iter().flatten() {
            self.sum = self.sum.checked_add(i256::from_i128(v)).ok_or_else(sum_overflow)?;
            self.count += 1;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let (counts, sums) = (states[0].as_primitive::<UInt64Type>(), states[1].as_primitive::<Decimal256Type>());
        for (n, sum) in counts.iter().zip(sums.iter()) {
            self.count += n.unwrap_or(0);
            self.sum = self.sum.checked_add(sum.unwrap_or(i256::ZERO)).ok_or_else(sum_overflow)?;
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::UInt64(Some(self.count)), ScalarValue::Decimal256(Some(self.sum), 76, self.scale)])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let mean = match self.count {
            0 => None,
            n => Some(average(self.sum, n, self.scale).map_err(sql_error)?),
        };
        Ok(ScalarValue::Decimal128(mean, MAX_PRECISION, quotient_scale(self.scale, 0)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

/// Numeric averages of many groups (GROUP BY), indexed by group.
#[derive(Debug)]
struct NumericAvgGroups {
    sums: Vec<i256>,
    counts: Vec<u64>,
    scale: i8,
}

impl NumericAvgGroups {
    fn add(&mut self, group: usize, sum: i256, count: u64) -> DfResult<()> {
        self.sums[group] = self.sums[group].checked_add(sum).ok_or_else(sum_overflow)?;
        self.counts[group] += count;
        Ok(())
    }

    fn resize(&mut self, groups: usize) {
        self.sums.resize(groups, i256::ZERO);
        self.counts.resize(groups, 0);
    }
}

/// Whether row `i` passes the FILTER clause (a null filter value does not).
fn passes(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

impl GroupsAccumulator for NumericAvgGroups {
    fn update_batch(&mut self, values: &[ArrayRef], groups: &[usize], filter: Option<&BooleanArray>, total: usize) -> DfResult<()> {
        self.resize(total);
        let values = values[0].as_primitive::<Decimal128Type>();
        for (i, &g) in groups.iter().enumerate() {
            if values.is_valid(i) && passes(filter, i) {
                self.add(g, i256::from_i128(values.value(i)), 1)?;
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef], groups: &[usize], total: usize) -> DfResult<()> {
        self.resize(total);
        let (counts, sums) = (states[0].as_primitive::<UInt64Type>(), states[1].as_primitive::<Decimal256Type>());
        for (i, &g) in groups.iter().enumerate() {
            if counts.is_valid(i) && sums.is_valid(i) {
                self.add(g, sums.value(i), counts.value(i))?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let (sums, counts) = (emit_to.take_needed(&mut self.sums), emit_to.take_needed(&mut self.counts));
        let means = sums
            .into_iter()
            .zip(counts)
            .map(|(sum, n)| if n == 0 { Ok(None) } else { average(sum, n, self.scale).map(Some) })
            .collect::<Result<Decimal128Array, ArrowError>>()
            .map_err(sql_error)?;
        Ok(Arc::new(means.with_precision_and_scale(MAX_PRECISION, quotient_scale(self.scale, 0))?))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let (sums, counts) = (emit_to.take_needed(&mut self.sums), emit_to.take_needed(&mut self.counts));
        let sums = Decimal256Array::from(sums).with_precision_and_scale(76, self.scale)?;
        Ok(vec![Arc::new(UInt64Array::from(counts)), Arc::new(sums)])
    }

    /// Each row as its own partial state (count 1 and the value, or count 0).
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> DfResult<Vec<ArrayRef>> {
        let values = values[0].as_primitive::<Decimal128Type>();
        let counted = |i: usize| values.is_valid(i) && passes(filter, i);
        let counts: UInt64Array = (0..values.len()).map(|i| Some(u64::from(counted(i)))).collect();
        let sums: Decimal256Array =
            (0..values.len()).map(|i| Some(if counted(i) { i256::from_i128(values.value(i)) } else { i256::ZERO })).collect();
        Ok(vec![Arc::new(counts), Arc::new(sums.with_precision_and_scale(76, self.scale)?)])
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<i256>() + self.counts.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::encode::NumericDisplay;

    fn div(n: i128, ns: i8, d: i128, ds: i8) -> Result<i128, ArrowError> {
        divide_scaled(i256::from_i128(n), ns, i256::from_i128(d), ds, quotient_scale(ns, ds))
    }

    /// The quotient as PostgreSQL 15 shows it.
    fn shown(n: i128, ns: i8, d: i128, ds: i8) -> String {
        let q = div(n, ns, d, ds).unwrap();
        let (m, s) = NumericDisplay::Quotient { min_scale: ns.max(ds) as u8 }.apply(q, quotient_scale(ns, ds) as u8);
        duetdb_storage::types::format_decimal(m, s)
    }

    #[test]
    fn quotients_round_half_away_at_postgres_scale() {
        assert_eq!(shown(1999, 2, 3, 0), "6.6633333333333333"); // 19.99 / 3
        assert_eq!(shown(2, 0, 3, 0), "0.66666666666666666667");
        assert_eq!(shown(-2, 0, 3, 0), "-0.66666666666666666667");
        assert_eq!(shown(2, 0, -3, 0), "-0.66666666666666666667");
        assert_eq!(shown(10, 0, 40, 1), "2.5000000000000000"); // 10 / 4.0
        assert_eq!(shown(10, 2, 3, 0), "0.03333333333333333333"); // 0.10 / 3
        assert_eq!(shown(1_000_000, 0, 30, 1), "333333.333333333333"); // 1000000 / 3.0
        assert_eq!(shown(123_456_789, 0, 1, 0), "123456789.00000000"); // weight 2: 8 decimals
        assert_eq!(shown(0, 0, 3, 0), "0.00000000000000000000");
        assert_eq!(shown(3, 25, 3, 0), "0.0000000000000000000000001"); // an operand's scale above 20 sets it
    }

    #[test]
    fn the_128_bit_path_agrees_with_the_256_bit_one() {
        for (n, d) in [(1999i128, 3i128), (-7, 2), (7, -2), (5, 10), (-5, 10), (123_456_789_012_345, 97), (1, 3)] {
            for shift in [0, 1, 16, 20] {
                let fast = divide_scaled_i128(i256::from_i128(n), i256::from_i128(d), shift).unwrap();
                let wide = divide_rounded(i256::from_i128(n) * pow10(shift as u32).unwrap(), i256::from_i128(d)).unwrap();
                assert_eq!(i256::from_i128(fast), wide, "{n} / {d} shifted {shift}");
            }
        }
        // numerators that do not fit 128 bits once scaled take the wide path
        assert_eq!(divide_scaled_i128(i256::from_i128(10i128.pow(30)), i256::ONE, 20), None);
    }

    #[test]
    fn zero_and_overflow_are_errors() {
        assert!(matches!(div(1, 0, 0, 0), Err(ArrowError::DivideByZero)));
        // 10^18 does not fit 38 digits at scale 20
        assert!(matches!(div(10i128.pow(18), 0, 1, 0), Err(ArrowError::ArithmeticOverflow(_))));
        assert!(div(10i128.pow(18) - 1, 0, 1, 0).is_ok());
        assert!(matches!(div(i128::MAX, 0, 1, 0), Err(ArrowError::ArithmeticOverflow(_))));
        assert!(matches!(div(i128::MIN, 0, -1, 0), Err(ArrowError::ArithmeticOverflow(_))));
    }

    #[test]
    fn averages_are_sum_over_count() {
        // avg of 19.99, 5.25, 0.10 = 8.4466666666666667 (PostgreSQL 15)
        assert_eq!(average(i256::from_i128(2534), 3, 2).unwrap(), 844_666_666_666_666_666_667);
        // avg of 3, 4 = 3.5
        assert_eq!(average(i256::from_i128(7), 2, 0).unwrap(), 35 * 10i128.pow(19));
    }
}

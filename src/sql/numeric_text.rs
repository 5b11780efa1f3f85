//! A numeric's text (`::text`, `||`) shows what the wire shows.
//!
//! The wire encoder shows a numeric at PostgreSQL's scale where Arrow's one
//! scale per column differs from it ([`NumericDisplay`]: unconstrained
//! `numeric` without trailing zeros, quotients at the scale for their
//! magnitude). A cast to text would print the column's scale instead
//! (`'ratio ' || 1.25` as `ratio 1.2500000000`, `(10 / 4.0)::text` with 20
//! decimals), so after type coercion this analyzer rule turns such casts
//! into a function that formats as the encoder does:
//!
//! ```text
//!   CAST(n AS text)   n shown Trimmed or as a Quotient   →   pg_numeric_text(n)
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType as A, Decimal128Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::pg::encode::NumericDisplay;

#[derive(Debug, Default)]
pub struct NumericText;

/// How the wire would show `e`, if it is a numeric whose display differs from its column scale.
fn display_of(e: &Expr, schema: &DFSchema) -> Option<NumericDisplay> {
    let (_, field) = e.to_field(schema).ok()?;
    Some(NumericDisplay::of_field(&field)).filter(|d| *d != NumericDisplay::Column)
}

impl AnalyzerRule for NumericText {
    fn name(&self) -> &str {
        "numeric_text"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::Cast(Cast { expr, field }) if matches!(field.data_type(), A::Utf8) => match display_of(&expr, schema) {
                Some(display) => Ok(Transformed::yes(numeric_text(display).call(vec![*expr]))),
                None => Ok(Transformed::no(Expr::Cast(Cast { expr, field }))),
            },
            e => Ok(Transformed::no(e)),
        })
    }
}

fn numeric_text(display: NumericDisplay) -> ScalarUDF {
    ScalarUDF::new_from_impl(NumericTextFn { display, signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericTextFn {
    display: NumericDisplay,
    signature: Signature,
}

impl ScalarUDFImpl for NumericTextFn {
    fn name(&self) -> &str {
        "pg_numeric_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(A::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let A::Decimal128(_, scale @ 0..) = *arrays[0].data_type() else {
            return Err(DataFusionError::Internal(format!("pg_numeric_text of {}", arrays[0].data_type())));
        };
        let texts: StringArray = arrays[0]
            .as_primitive::<Decimal128Type>()
            .iter()
            .map(|m| {
                m.map(|m| {
                    let (m, s) = self.display.apply(m, scale as u8);
                    duetdb_storage::types::format_decimal(m, s)
                })
            })
            .collect();
        let out: ArrayRef = Arc::new(texts);
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

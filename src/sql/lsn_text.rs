//! `pg_lsn` to text as PostgreSQL prints it.
//!
//! duetdb carries `pg_lsn` values as a `UInt64` tagged with the pg_lsn type
//! oid in the field metadata (the wire encoder prints the tag as `16/B374D848`).
//! A cast to text would drop the tag and print the integer, so
//! `pg_current_wal_lsn()::text` — what monitoring scripts and clients feed
//! back into `WAIT FOR LSN` — would be unusable. This analyzer rule turns
//! every such cast into a call that formats the LSN:
//!
//! ```text
//!   CAST(lsn AS text)   (UInt64 tagged pg_lsn)   →   pg_lsn_out(lsn)
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder, UInt64Array};
use datafusion::arrow::datatypes::DataType as A;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use duetdb_storage::Lsn;

use crate::pg::encode::tagged_oid;
use crate::pg::oid;

#[derive(Debug, Default)]
pub struct LsnToText;

fn is_text(t: &A) -> bool {
    matches!(t, A::Utf8 | A::Utf8View | A::LargeUtf8)
}

impl AnalyzerRule for LsnToText {
    fn name(&self) -> &str {
        "pg_lsn_to_text"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| {
            let is_lsn =
                |e: &Expr| e.to_field(schema).is_ok_and(|(_, f)| f.data_type() == &A::UInt64 && tagged_oid(&f) == Some(oid::PG_LSN));
            match e {
                Expr::Cast(Cast { expr, field }) if is_text(field.data_type()) && is_lsn(&expr) => {
                    Ok(Transformed::yes(lsn_out().call(vec![*expr])))
                }
                Expr::TryCast(TryCast { expr, field }) if is_text(field.data_type()) && is_lsn(&expr) => {
                    Ok(Transformed::yes(lsn_out().call(vec![*expr])))
                }
                e => Ok(Transformed::no(e)),
            }
        })
    }
}

fn lsn_out() -> ScalarUDF {
    ScalarUDF::new_from_impl(LsnOut { signature: Signature::exact(vec![A::UInt64], Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LsnOut {
    signature: Signature,
}

impl ScalarUDFImpl for LsnOut {
    fn name(&self) -> &str {
        "pg_lsn_out"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(A::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::UInt64(v)) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(v.map(|v| Lsn(v).to_string())))),
            ColumnarValue::Array(a) => {
                let a = a
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .ok_or_else(|| DataFusionError::Internal("pg_lsn_out: not a UInt64 array".into()))?;
                let mut out = StringBuilder::with_capacity(a.len(), a.len() * 12);
                for v in a.iter() {
                    out.append_option(v.map(|v| Lsn(v).to_string()));
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
            }
            other => Err(DataFusionError::Internal(format!("pg_lsn_out: unexpected argument {other:?}"))),
        }
    }
}

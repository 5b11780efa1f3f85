//! jsonb's operators that share a symbol with other types: `||`, `-`, `#-`,
//! and comparisons with an untyped literal.
//!
//! Which operator `a || b` or `a - b` means depends on the operands' types,
//! known only once they are planned, so this is an `ExprPlanner` (like
//! `unknown_literals`): DataFusion hands it each binary operator with its
//! operands planned, and a jsonb operand (by its `pg.oid` tag) turns the
//! operator into a call of `sql::json_functions`:
//!
//! ```text
//!   jsonb || x        jsonb_concat(a, b)       (either side jsonb)
//!   jsonb - text/int  jsonb_delete(a, b)       jsonb - text[]  (each key)
//!   jsonb #- text[]   jsonb_delete_path(a, p)
//!   jsonb = '…'       a = pg_jsonb('…')        (the literal read as jsonb, so
//!                                               '{"a":1}' equals the stored {"a": 1})
//!   jsonb['k'][0]     jsonb_subscript(…)       (PostgreSQL 14's subscripting; a
//!                                               text subscript of an array is an index)
//! ```

use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, RawFieldAccessExpr};
use datafusion::logical_expr::{Expr, ExprSchemable, GetFieldAccess};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::error::SqlError;
use crate::pg::encode::tagged_oid;
use crate::pg::oid;
use crate::sql::json_functions::udf;

#[derive(Debug, Default)]
pub struct JsonOperators;

impl ExprPlanner for JsonOperators {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let (l, r) = (is_jsonb(&expr.left, schema), is_jsonb(&expr.right, schema));
        if !l && !r {
            return Ok(PlannerResult::Original(expr));
        }
        let RawBinaryExpr { op, left, right } = expr;
        let call = |name: &str, args: Vec<Expr>| -> DfResult<PlannerResult<RawBinaryExpr>> {
            let f = udf(name).expect("a json function registered in json_functions::all");
            Ok(PlannerResult::Planned(f.call(args)))
        };
        match op {
            BinaryOperator::StringConcat => call("jsonb_concat", vec![as_jsonb(left, l), as_jsonb(right, r)]),
            BinaryOperator::Minus if l => call("jsonb_delete", vec![left, right]),
            BinaryOperator::HashMinus if l => call("jsonb_delete_path", vec![left, right]),
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq => Ok(PlannerResult::Original(RawBinaryExpr { op, left: as_jsonb(left, l), right: as_jsonb(right, r) })),
            op => Ok(PlannerResult::Original(RawBinaryExpr { op, left, right })),
        }
    }

    fn plan_field_access(&self, expr: RawFieldAccessExpr, schema: &DFSchema) -> DfResult<PlannerResult<RawFieldAccessExpr>> {
        if !is_jsonb(&expr.expr, schema) {
            return Ok(PlannerResult::Original(expr));
        }
        let key = match expr.field_access {
            GetFieldAccess::NamedStructField { name } => Expr::Literal(name, None),
            GetFieldAccess::ListIndex { key } => *key,
            GetFieldAccess::ListRange { .. } => return Err(SqlError::new("0A000", "jsonb subscript does not support slices").into()),
        };
        let f = udf("jsonb_subscript").expect("jsonb_subscript is registered");
        Ok(PlannerResult::Planned(f.call(vec![expr.expr, key])))
    }
}

/// Whether `e` is tagged jsonb.
fn is_jsonb(e: &Expr, schema: &DFSchema) -> bool {
    e.to_field(schema).is_ok_and(|(_, f)| tagged_oid(&f) == Some(oid::JSONB))
}

/// An untyped string literal next to a jsonb is read as jsonb.
fn as_jsonb(e: Expr, tagged: bool) -> Expr {
    match &e {
        Expr::Literal(ScalarValue::Utf8(Some(_)) | ScalarValue::LargeUtf8(Some(_)) | ScalarValue::Utf8View(Some(_)), None) if !tagged => {
            udf("pg_jsonb").expect("pg_jsonb is registered").call(vec![e])
        }
        _ => e,
    }
}

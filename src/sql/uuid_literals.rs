//! A string literal compared with a uuid is read as a uuid.
//!
//! uuid values travel through the query engine as their canonical text
//! (lowercase, hyphenated; tagged uuid in the field metadata, see
//! `pg::encode::META_OID`), so comparing two uuids is comparing two strings
//! — and the canonical text orders as PostgreSQL's bytes do. A literal is
//! another matter: PostgreSQL reads `'{A0EEBC99-9C0B…}'` next to a uuid as
//! a uuid, and a plain string comparison would miss the row. After type
//! coercion this analyzer rule puts every such literal in canonical form,
//! and refuses one that is no uuid as PostgreSQL does (22P02):
//!
//! ```text
//!   id = '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'   →   id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
//!   id IN ('A0EE…', …)                               →   id IN ('a0ee…', …)
//! ```
//!
//! Statements on the row store's fast path bind such literals as parameters
//! typed by the column, which canonicalizes them the same way
//! (`DataType::Uuid`'s coerce).

use crate::pg::{decode::canonical_uuid, encode::tagged_oid, oid};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator, expr::InList};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct UuidLiterals;

impl AnalyzerRule for UuidLiterals {
    fn name(&self) -> &str {
        "uuid_literals"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
                let (l, r) = (is_uuid(&left, schema), is_uuid(&right, schema));
                let (left, l_changed) = if r { as_uuid(*left)? } else { (*left, false) };
                let (right, r_changed) = if l { as_uuid(*right)? } else { (*right, false) };
                let e = Expr::BinaryExpr(BinaryExpr { left: Box::new(left), op, right: Box::new(right) });
                Ok(if l_changed || r_changed { Transformed::yes(e) } else { Transformed::no(e) })
            }
            Expr::InList(InList { expr, list, negated }) if is_uuid(&expr, schema) => {
                let mut changed = false;
                let list = list
                    .into_iter()
                    .map(|item| {
                        let (item, c) = as_uuid(item)?;
                        changed |= c;
                        Ok(item)
                    })
                    .collect::<DfResult<Vec<_>>>()?;
                let e = Expr::InList(InList { expr, list, negated });
                Ok(if changed { Transformed::yes(e) } else { Transformed::no(e) })
            }
            e => Ok(Transformed::no(e)),
        })
    }
}

fn is_comparison(op: Operator) -> bool {
    use Operator::*;
    matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom)
}

/// Whether `e` is a uuid (a column, a cast, `gen_random_uuid()`…).
fn is_uuid(e: &Expr, schema: &DFSchema) -> bool {
    e.to_field(schema).is_ok_and(|(_, f)| tagged_oid(&f) == Some(oid::UUID))
}

/// A string literal in canonical uuid form (and whether it changed); any
/// other expression as it is.
fn as_uuid(e: Expr) -> DfResult<(Expr, bool)> {
    let Expr::Literal(value, md) = &e else { return Ok((e, false)) };
    let (ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s))) = value else {
        return Ok((e, false));
    };
    let canonical = canonical_uuid(s)?;
    if canonical == *s {
        return Ok((e, false));
    }
    // The same string type as before: coercion matched it to the other side.
    let value = match value {
        ScalarValue::LargeUtf8(_) => ScalarValue::LargeUtf8(Some(canonical)),
        ScalarValue::Utf8View(_) => ScalarValue::Utf8View(Some(canonical)),
        _ => ScalarValue::Utf8(Some(canonical)),
    };
    Ok((Expr::Literal(value, md.clone()), true))
}

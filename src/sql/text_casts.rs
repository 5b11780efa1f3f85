//! A cast to text is text.
//!
//! duetdb tells PostgreSQL types apart where Arrow's do not by a tag in the
//! field metadata (`pg::encode::META_OID`): a uuid, json or jsonb column is
//! an Arrow string tagged with its type. DataFusion carries a source's
//! metadata through a cast that names only a type, so `u::text` stayed a
//! "uuid" — and everything that reads the tag took it for one:
//!
//! ```text
//!   u::text = 'foo'        the literal read as a uuid (uuid_literals): 22P02, where PostgreSQL says false
//!   u::text = $1           $1 described to the client as uuid, not text
//!   SELECT j::text         the column described as json
//! ```
//!
//! Before type coercion (so only casts the statement wrote are seen), this
//! analyzer rule wraps every cast of a tagged expression to a string type in
//! `pg_text`, which passes its argument through and is tagged text:
//!
//! ```text
//!   CAST(u AS Utf8)   (u tagged uuid)   →   pg_text(CAST(u AS Utf8))
//! ```
//!
//! (An explicit target field on the cast would do for the analyzed plan, but
//! the optimizer drops a cast from a string type to the same one, tag and
//! all; a function call stays.)
//!
//! Casts that compute a text form of their own (pg_lsn's, a numeric's) are
//! still recognized by their later rules, which look at the source.
//!
//! A parameter compared with such a cast is typed while the statement is
//! planned, before any analyzer rule, from the cast as it was then;
//! [`text_cast_param_types`] finds those so that they are described as text.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType as A, Field, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::pg::encode::{META_OID, tagged_oid};
use crate::pg::oid;

#[derive(Debug, Default)]
pub struct TextCasts;

fn is_string(t: &A) -> bool {
    matches!(t, A::Utf8 | A::Utf8View | A::LargeUtf8)
}

/// Whether `e` carries a type tag other than text's.
fn tagged_not_text(e: &Expr, schema: &DFSchema) -> bool {
    e.to_field(schema).is_ok_and(|(_, f)| tagged_oid(&f).is_some_and(|o| o != oid::TEXT))
}

/// A cast of a tagged expression to a string type that names only the type
/// (a target field of its own would not inherit the tag).
fn is_text_cast(e: &Expr, schema: &DFSchema) -> bool {
    match e {
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            is_string(field.data_type()) && field.metadata().is_empty() && tagged_not_text(expr, schema)
        }
        _ => false,
    }
}

impl AnalyzerRule for TextCasts {
    fn name(&self) -> &str {
        "text_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::sql::expr_rules::rewrite_exprs(plan, |e, schema| {
            Ok(if is_text_cast(&e, schema) { Transformed::yes(pg_text().call(vec![e])) } else { Transformed::no(e) })
        })
    }
}

fn pg_text() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgText { signature: Signature::any(1, Volatility::Immutable) })
}

/// Its string argument as it is, tagged text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgText {
    signature: Signature,
}

impl ScalarUDFImpl for PgText {
    fn name(&self) -> &str {
        "pg_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[A]) -> DfResult<A> {
        Ok(args[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let tag = HashMap::from([(META_OID.to_string(), oid::TEXT.to_string())]);
        Ok(Arc::new(Field::new(self.name(), args.arg_fields[0].data_type().clone(), true).with_metadata(tag)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(args.args.into_iter().next().expect("pg_text takes one argument"))
    }
}

/// Parameters compared with a cast to text of a tagged expression
/// (`u::text = $1`), by position, with the string type they take: the
/// planner typed them by the cast's inherited tag, which [`TextCasts`]
/// only removes afterwards.
pub fn text_cast_param_types(plan: &LogicalPlan) -> Vec<(usize, A)> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut found = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        let schema = crate::sql::query::inputs_schema(node);
        let text_cast = |e: &Expr| match e {
            Expr::Cast(Cast { field, .. }) | Expr::TryCast(TryCast { field, .. }) if is_text_cast(e, &schema) => {
                Some(field.data_type().clone())
            }
            _ => None,
        };
        let placeholder = |e: &Expr| match e {
            Expr::Placeholder(p) => crate::sql::query::placeholder_index(&p.id),
            _ => None,
        };
        node.apply_expressions(|e| {
            e.apply(|x| {
                if let Expr::BinaryExpr(BinaryExpr { left, right, .. }) = x {
                    for (param, other) in [(left, right), (right, left)] {
                        if let (Some(i), Some(t)) = (placeholder(param), text_cast(other)) {
                            found.push((i, t));
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

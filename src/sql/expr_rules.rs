//! The skeleton the analyzer rules here share: rewrite every expression of
//! every plan node (subqueries included), bottom-up, typed against the node's
//! input, keeping the output column names the user sees.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Applies `f` to each expression node of `plan` (children first). A
/// rewrite may change a type (`a / b` on numerics gets PostgreSQL's scale),
/// so once anything changed, every node visited after it — its ancestors
/// among them — recomputes its schema.
pub fn rewrite_exprs(plan: LogicalPlan, f: impl Fn(Expr, &DFSchema) -> DfResult<Transformed<Expr>>) -> DfResult<LogicalPlan> {
    let changed = std::cell::Cell::new(false);
    Ok(plan
        .transform_up_with_subqueries(|node| {
            // Expressions of a node are typed against its input (a join's against both sides).
            let schema = match node.inputs().as_slice() {
                [one] => Arc::clone(one.schema()),
                _ => Arc::clone(node.schema()),
            };
            let names = NamePreserver::new(&node);
            let node = node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let rewritten = expr.transform_up(|e| f(e, schema.as_ref()))?;
                Ok(rewritten.update_data(|e| saved.restore(e)))
            })?;
            changed.set(changed.get() || node.transformed);
            if changed.get() { node.map_data(|n| n.recompute_schema()).map(|t| Transformed::yes(t.data)) } else { Ok(node) }
        })?
        .data)
}

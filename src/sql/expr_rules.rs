//! The skeleton the analyzer rules here share: rewrite every expression of
//! every plan node (subqueries included), bottom-up, typed against the node's
//! input, keeping the output column names the user sees.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Applies `f` to each expression node of `plan` (children first).
pub fn rewrite_exprs(plan: LogicalPlan, f: impl Fn(Expr, &DFSchema) -> DfResult<Transformed<Expr>>) -> DfResult<LogicalPlan> {
    Ok(plan
        .transform_up_with_subqueries(|node| {
            // Expressions of a node are typed against its input (a join's against both sides).
            let schema = match node.inputs().as_slice() {
                [one] => Arc::clone(one.schema()),
                _ => Arc::clone(node.schema()),
            };
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let rewritten = expr.transform_up(|e| f(e, schema.as_ref()))?;
                Ok(rewritten.update_data(|e| saved.restore(e)))
            })
        })?
        .data)
}

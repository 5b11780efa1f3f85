//! Rewrites for the catalog queries clients send (psql `\d`, SQLAlchemy
//! reflection). Applied only to statements that read pg_catalog or
//! information_schema, so user queries keep their exact semantics.
//!
//! - A scalar subquery `(SELECT x FROM … WHERE <correlated>)` that is not
//!   aggregated becomes `(SELECT first_value(x) FROM …)`: DataFusion can only
//!   decorrelate aggregated scalar subqueries, and in catalog queries these
//!   subqueries return at most one row by construction (PostgreSQL would raise
//!   an error otherwise, which catalog queries are written never to trigger).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
    ObjectName, ObjectNamePart, SelectItem, SetExpr, Statement, visit_expressions_mut,
};

pub fn fix(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Subquery(q) = e
            && q.limit_clause.is_none()
            && let SetExpr::Select(s) = q.body.as_mut()
            && s.projection.len() == 1
            && matches!(&s.group_by, GroupByExpr::Expressions(g, _) if g.is_empty())
            && s.having.is_none()
            && !s.from.is_empty()
        {
            let wrap = |x: Expr| -> Expr {
                if is_aggregate(&x) {
                    return x;
                }
                Expr::Function(Function {
                    name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("first_value"))]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(x))],
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                })
            };
            match s.projection.remove(0) {
                SelectItem::UnnamedExpr(x) => s.projection.push(SelectItem::UnnamedExpr(wrap(x))),
                SelectItem::ExprWithAlias { expr, alias } => s.projection.push(SelectItem::ExprWithAlias { expr: wrap(expr), alias }),
                other => s.projection.push(other),
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn is_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            let n = f.name.to_string().to_lowercase();
            matches!(
                n.as_str(),
                "count" | "sum" | "min" | "max" | "avg" | "array_agg" | "string_agg" | "bool_and" | "bool_or" | "first_value" | "last_value"
            )
        }
        Expr::Nested(x) | Expr::Cast { expr: x, .. } => is_aggregate(x),
        _ => false,
    }
}

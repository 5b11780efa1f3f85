//! Rewrites for the catalog queries clients send (psql `\d`, SQLAlchemy
//! reflection). Applied only to statements that read pg_catalog or
//! information_schema, so user queries keep their exact semantics.
//!
//! - A scalar subquery `(SELECT x FROM … WHERE <correlated>)` that is not
//!   aggregated becomes `(SELECT first_value(x) FROM …)`: DataFusion can only
//!   decorrelate aggregated scalar subqueries, and in catalog queries these
//!   subqueries return at most one row by construction (PostgreSQL would raise
//!   an error otherwise, which catalog queries are written never to trigger).
//! - In such a subquery, WHERE conjuncts that reference the outer query other
//!   than as `inner = outer` (psql's `a.attcollation <> t.typcollation`,
//!   SQLAlchemy's `a.atthasdef`) are hoisted: `(SELECT x … WHERE eq AND p)`
//!   becomes `CASE WHEN p' THEN (SELECT x … WHERE eq) END`, where `p'` reads
//!   each inner column through its own `(SELECT first_value(col) … WHERE eq)`.
//!   DataFusion decorrelates only equality predicates below an aggregate, and
//!   for a subquery of at most one row both forms give the same result.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
    ObjectName, ObjectNamePart, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, visit_expressions, visit_expressions_mut,
};

pub fn fix(stmt: &mut Statement) {
    prune_empty_selects(stmt);
    let _ = visit_expressions_mut(stmt, |e| {
        // `ARRAY(SELECT … FROM unnest(tc.reloptions) …)` (psql's TOAST options):
        // there are no TOAST tables, so `tc` is always the NULL side of a LEFT
        // JOIN and the array is empty. (DataFusion cannot plan the lateral unnest.)
        if let Expr::Subquery(q) = e
            && unnests_reloptions(q)
        {
            *e = Expr::Cast {
                kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
                expr: Box::new(Expr::value(datafusion::sql::sqlparser::ast::Value::Null)),
                data_type: datafusion::sql::sqlparser::ast::DataType::Array(
                    datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(
                        Box::new(datafusion::sql::sqlparser::ast::DataType::Text),
                        None,
                    ),
                ),
                array: false,
                format: None,
            };
            return ControlFlow::Continue(());
        }
        // `pol.polroles = '{0}'`: compare the array's text form with the literal.
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right } = e {
            let wrap_left = is_array_literal(right);
            let wrap_right = is_array_literal(left);
            for (col, wrap) in [(left, wrap_left), (right, wrap_right)] {
                if wrap && matches!(col.as_ref(), Expr::CompoundIdentifier(_) | Expr::Identifier(_)) {
                    let c = std::mem::replace(col.as_mut(), Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
                    **col = Expr::Function(Function {
                        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("pg_array_text"))]),
                        uses_odbc_syntax: false,
                        parameters: FunctionArguments::None,
                        args: FunctionArguments::List(FunctionArgumentList {
                            duplicate_treatment: None,
                            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(c))],
                            clauses: vec![],
                        }),
                        filter: None,
                        null_treatment: None,
                        over: None,
                        within_group: vec![],
                    });
                    break;
                }
            }
            return ControlFlow::Continue(());
        }
        if let Expr::Subquery(q) = e
            && q.limit_clause.is_none()
            && let SetExpr::Select(s) = q.body.as_mut()
            && s.projection.len() == 1
            && matches!(&s.group_by, GroupByExpr::Expressions(g, _) if g.is_empty())
            && s.having.is_none()
            && !s.from.is_empty()
            && matches!(s.projection[0], SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. })
        {
            let inner = inner_names(&s.from);
            // Split WHERE: what DataFusion decorrelates stays, the rest is hoisted.
            let moved = s.selection.take().and_then(|w| {
                let (keep, moved): (Vec<Expr>, Vec<Expr>) = conjuncts(w).into_iter().partition(|c| decorrelatable(c, &inner));
                s.selection = and_all(keep);
                and_all(moved)
            });
            let (value, alias) = match s.projection.remove(0) {
                SelectItem::UnnamedExpr(x) => (x, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
                _ => unreachable!("checked above"),
            };
            let hoist_value = references_outer(&value, &inner) && !is_aggregate(&value);
            let item = |x: Expr| match &alias {
                Some(a) => SelectItem::ExprWithAlias { expr: x, alias: a.clone() },
                None => SelectItem::UnnamedExpr(x),
            };
            if !hoist_value {
                s.projection.push(item(first_value(value.clone())));
            }
            if moved.is_none() && !hoist_value {
                return ControlFlow::Continue(());
            }
            // The subquery with its decorrelatable WHERE, projecting `x`.
            let template = {
                let mut t = q.as_ref().clone();
                if let SetExpr::Select(sel) = t.body.as_mut() {
                    sel.projection.clear();
                }
                t
            };
            let project = |x: Expr| {
                let mut sub = template.clone();
                if let SetExpr::Select(sel) = sub.body.as_mut() {
                    sel.projection = vec![SelectItem::UnnamedExpr(x)];
                }
                Expr::Subquery(Box::new(sub))
            };
            let mut conditions = Vec::new();
            if let Some(mut m) = moved {
                read_inner_through(&mut m, &inner, &|c| project(first_value(c)));
                conditions.push(m);
            }
            let result = if hoist_value {
                // Zero rows must still give NULL, as the original subquery did.
                let count = Expr::Function(Function {
                    name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("count"))]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
                conditions.push(Expr::BinaryOp {
                    left: Box::new(project(count)),
                    op: BinaryOperator::Gt,
                    right: Box::new(Expr::value(datafusion::sql::sqlparser::ast::Value::Number("0".into(), false))),
                });
                let mut v = value;
                read_inner_through(&mut v, &inner, &|c| project(first_value(c)));
                v
            } else {
                std::mem::replace(e, Expr::value(datafusion::sql::sqlparser::ast::Value::Null))
            };
            *e = Expr::Case {
                case_token: AttachedToken::empty(),
                end_token: AttachedToken::empty(),
                operand: None,
                conditions: vec![CaseWhen { condition: and_all(conditions).expect("a condition"), result }],
                else_result: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Replaces each column of the subquery (`inner` qualifiers, or unqualified)
/// in `e` by `read(column)`.
fn read_inner_through(e: &mut Expr, inner: &[String], read: &dyn Fn(Expr) -> Expr) {
    let _ = visit_expressions_mut(e, |x| {
        let is_inner = match x {
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => inner.contains(&parts[parts.len() - 2].value.to_lowercase()),
            Expr::Identifier(_) => true,
            _ => false,
        };
        if is_inner {
            *x = read(x.clone());
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `first_value(x)`, unless `x` is an aggregate already.
fn first_value(x: Expr) -> Expr {
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
}

fn is_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            let n = f.name.to_string().to_lowercase();
            matches!(
                n.as_str(),
                "count"
                    | "sum"
                    | "min"
                    | "max"
                    | "avg"
                    | "array_agg"
                    | "string_agg"
                    | "bool_and"
                    | "bool_or"
                    | "first_value"
                    | "last_value"
            )
        }
        Expr::Nested(x) | Expr::Cast { expr: x, .. } => is_aggregate(x),
        _ => false,
    }
}

fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut v = conjuncts(*left);
            v.extend(conjuncts(*right));
            v
        }
        Expr::Nested(x) if matches!(x.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => conjuncts(*x),
        e => vec![e],
    }
}

fn and_all(v: Vec<Expr>) -> Option<Expr> {
    v.into_iter().reduce(|a, b| Expr::BinaryOp { left: Box::new(a), op: BinaryOperator::And, right: Box::new(b) })
}

/// Names a subquery's FROM introduces (aliases, else table names), lowercased.
fn inner_names(from: &[TableWithJoins]) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |t: &TableFactor| match t {
        TableFactor::Table { name, alias, .. } => match alias {
            Some(a) => out.push(a.name.value.to_lowercase()),
            None => {
                if let Some(ObjectNamePart::Identifier(i)) = name.0.last() {
                    out.push(i.value.to_lowercase());
                }
            }
        },
        TableFactor::Derived { alias: Some(a), .. } => out.push(a.name.value.to_lowercase()),
        _ => {}
    };
    for twj in from {
        add(&twj.relation);
        for j in &twj.joins {
            add(&j.relation);
        }
    }
    out
}

/// Does `e` reference a qualified column whose qualifier is not one of `inner`?
fn references_outer(e: &Expr, inner: &[String]) -> bool {
    let mut found = false;
    let _ = visit_expressions(e, |x| {
        if let Expr::CompoundIdentifier(parts) = x
            && parts.len() >= 2
            && !inner.contains(&parts[parts.len() - 2].value.to_lowercase())
        {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// May this conjunct stay in the subquery's WHERE? Purely inner ones, and
/// `inner = outer` equalities (what DataFusion decorrelates).
fn decorrelatable(c: &Expr, inner: &[String]) -> bool {
    if !references_outer(c, inner) {
        return true;
    }
    match c {
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => references_outer(left, inner) != references_outer(right, inner),
        _ => false,
    }
}

fn is_array_literal(e: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{Value, ValueWithSpan};
    matches!(e, Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(s), .. }) if s.starts_with('{') && s.ends_with('}'))
}

fn unnests_reloptions(q: &datafusion::sql::sqlparser::ast::Query) -> bool {
    let SetExpr::Select(s) = q.body.as_ref() else { return false };
    let [twj] = s.from.as_slice() else { return false };
    let TableFactor::Table { name, args: Some(args), .. } = &twj.relation else { return false };
    crate::sql::names::last(name) == "unnest" && args.args.iter().any(|a| a.to_string().to_lowercase().ends_with("reloptions"))
}

/// A SELECT that inner-joins a table in `system::ALWAYS_EMPTY` returns no rows
/// (unless it aggregates without GROUP BY): it becomes `SELECT NULL AS … WHERE
/// false`, keeping its column names. psql unions such branches (publications)
/// whose other parts DataFusion could not plan.
fn prune_empty_selects(stmt: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{JoinOperator, Query, VisitMut, VisitorMut};
    struct Pruner;
    impl VisitorMut for Pruner {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            // A pruned plain SELECT has no rows to order, nor the columns its ORDER BY named.
            if prune_set_expr(q.body.as_mut()) && matches!(q.body.as_ref(), SetExpr::Select(_)) {
                q.order_by = None;
            }
            ControlFlow::Continue(())
        }
    }
    fn empty_table(t: &TableFactor) -> bool {
        match t {
            TableFactor::Table { name, args: None, .. } => {
                let p = crate::sql::names::parts(name);
                let n = p.last().map(String::as_str).unwrap_or("");
                (p.len() == 1 || p[p.len() - 2] == "pg_catalog") && crate::sql::system::ALWAYS_EMPTY.contains(&n)
            }
            _ => false,
        }
    }
    /// Prunes empty SELECTs in `body`; true if `body` itself was pruned.
    fn prune_set_expr(body: &mut SetExpr) -> bool {
        match body {
            SetExpr::SetOperation { left, right, .. } => {
                prune_set_expr(left);
                prune_set_expr(right);
                false
            }
            SetExpr::Select(s) => {
                let grouped = !matches!(&s.group_by, GroupByExpr::Expressions(g, _) if g.is_empty()) || s.having.is_some();
                let aggregates = s.projection.iter().any(|i| match i {
                    SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. } => contains_aggregate(x),
                    _ => true,
                });
                let joins_empty = s.from.iter().any(|twj| {
                    empty_table(&twj.relation)
                        || twj.joins.iter().any(|j| {
                            matches!(j.join_operator, JoinOperator::Inner(_) | JoinOperator::Join(_) | JoinOperator::CrossJoin(_))
                                && empty_table(&j.relation)
                        })
                });
                if !joins_empty || (aggregates && !grouped) {
                    return false;
                }
                let null = || Expr::value(datafusion::sql::sqlparser::ast::Value::Null);
                s.projection = s
                    .projection
                    .iter()
                    .map(|i| match i {
                        SelectItem::ExprWithAlias { alias, .. } => SelectItem::ExprWithAlias { expr: null(), alias: alias.clone() },
                        SelectItem::UnnamedExpr(Expr::Identifier(id)) => SelectItem::ExprWithAlias { expr: null(), alias: id.clone() },
                        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => {
                            SelectItem::ExprWithAlias { expr: null(), alias: p.last().cloned().unwrap_or_else(|| Ident::new("?column?")) }
                        }
                        _ => SelectItem::UnnamedExpr(null()),
                    })
                    .collect();
                s.from.clear();
                s.group_by = GroupByExpr::Expressions(vec![], vec![]);
                s.having = None;
                s.selection = Some(Expr::value(datafusion::sql::sqlparser::ast::Value::Boolean(false)));
                true
            }
            _ => false,
        }
    }
    let _ = stmt.visit(&mut Pruner);
}

/// Does `e` aggregate (not counting aggregates inside its subqueries)?
fn contains_aggregate(e: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{Query, Visit, Visitor};
    struct Finder {
        depth: usize,
        found: bool,
    }
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, x: &Expr) -> ControlFlow<()> {
            if self.depth == 0 && is_aggregate(x) {
                self.found = true;
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Finder { depth: 0, found: false };
    let _ = e.visit(&mut f);
    f.found
}

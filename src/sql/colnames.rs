//! Result column names as PostgreSQL gives them.
//!
//! PostgreSQL names an unaliased select-list item after what it is
//! (`FigureColname`): a column by its name, a function call by the function
//! (`count(*)` → `count`), a cast by its operand or else its type (`1::text`
//! → `text`), `CASE` → `case`, anything else `?column?`. Several items may
//! share a name (`SELECT 1, 1`). DataFusion instead names items by their
//! expression text and rejects duplicates, so before planning every SELECT
//! gets explicit aliases:
//!
//! ```text
//!   SELECT count(*), a, a, 1 FROM t
//!   SELECT count(*) AS count, a, a AS "a\0 1", 1 AS "?column?" FROM t
//! ```
//!
//! A repeated name carries a hidden suffix after a NUL (which no client name
//! can contain); [`visible`] strips it when results are described. Derived
//! tables and CTEs get the same names, so `(SELECT count(*) FROM t) s`
//! exposes `s.count`, as in PostgreSQL.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, CastKind, DataType as SqlType, Expr, Ident, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

/// Separates a visible name from the suffix that makes it unique.
pub const HIDDEN: char = '\0';

/// The name a client sees for an output column.
pub fn visible(name: &str) -> &str {
    name.split(HIDDEN).next().unwrap_or(name)
}

/// Gives every select-list item of every SELECT in `stmt` its PostgreSQL name.
pub fn name_outputs(stmt: &mut Statement) {
    if let Statement::Query(q) = stmt {
        unshadow_order_by(q);
    }
    struct Namer;
    impl VisitorMut for Namer {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            name_set_expr(q.body.as_mut());
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Namer);
}

/// `SELECT c.y * 2 AS y FROM c ORDER BY c.y`: in PostgreSQL the ORDER BY
/// names the input column. DataFusion sorts by adding `c.y` to the
/// projection beside the alias `y` and rejects the pair as ambiguous, so the
/// alias gets a hidden suffix (the client still sees `y`). Only at the top
/// level, where no outer query refers to the name, and only when no bare
/// `ORDER BY y` means the alias.
fn unshadow_order_by(q: &mut Query) {
    use datafusion::sql::sqlparser::ast::{OrderBy, OrderByKind, visit_expressions};
    let Some(OrderBy { kind: OrderByKind::Expressions(exprs), .. }) = &q.order_by else { return };
    let (mut qualified, mut bare) = (HashSet::new(), HashSet::new());
    for o in exprs {
        let _ = visit_expressions(&o.expr, |e| {
            match e {
                Expr::CompoundIdentifier(parts) if parts.len() > 1 => {
                    qualified.insert(crate::sql::names::ident(parts.last().unwrap()));
                }
                Expr::Identifier(i) => {
                    bare.insert(crate::sql::names::ident(i));
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if qualified.is_empty() {
        return;
    }
    let SetExpr::Select(select) = q.body.as_mut() else { return };
    for (i, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::ExprWithAlias { expr, alias } = item else { continue };
        let name = crate::sql::names::ident(alias);
        let same_column = matches!(expr, Expr::CompoundIdentifier(p) if p.last().is_some_and(|l| crate::sql::names::ident(l) == name))
            || matches!(expr, Expr::Identifier(x) if crate::sql::names::ident(x) == name);
        if qualified.contains(&name) && !bare.contains(&name) && !same_column {
            *alias = Ident::with_quote('"', format!("{name}{HIDDEN}o{i}"));
        }
    }
}

fn name_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(s) => name_items(&mut s.projection),
        SetExpr::SetOperation { left, right, .. } => {
            name_set_expr(left);
            name_set_expr(right);
        }
        _ => {}
    }
}

fn name_items(items: &mut [SelectItem]) {
    let mut seen: HashSet<String> = HashSet::new();
    for (i, item) in items.iter_mut().enumerate() {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let name = figure(e);
                let plain_column = matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                let unique = seen.insert(name.clone());
                if plain_column && unique {
                    continue; // DataFusion already names it so
                }
                let alias = if unique { name } else { format!("{name}{HIDDEN}{i}") };
                let expr = std::mem::replace(e, Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
                *item = SelectItem::ExprWithAlias { expr, alias: Ident::with_quote('"', alias) };
            }
            SelectItem::ExprWithAlias { alias, .. } => {
                let name = crate::sql::names::ident(alias);
                if !seen.insert(name.clone()) {
                    *alias = Ident::with_quote('"', format!("{name}{HIDDEN}{i}"));
                }
            }
            // `*` and `t.*`: DataFusion names (and checks) those columns itself.
            _ => {}
        }
    }
}

/// PostgreSQL's FigureColname for an expression.
fn figure(e: &Expr) -> String {
    figure_opt(e).unwrap_or_else(|| "?column?".to_string())
}

fn figure_opt(e: &Expr) -> Option<String> {
    figure_with_strength(e).map(|(name, _)| name)
}

/// How firmly a name was figured: a cast's own type name (1) gives way to the
/// name of what an outer cast converts (`2.5::float8::int` is `int4`), a
/// column's or function's name (2) does not (`x::float8::int` is `x`).
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Strength {
    TypeName,
    Named,
}

fn figure_with_strength(e: &Expr) -> Option<(String, Strength)> {
    let named = Some(match e {
        Expr::Identifier(i) => crate::sql::names::ident(i),
        Expr::CompoundIdentifier(parts) => crate::sql::names::ident(parts.last()?),
        Expr::Function(f) => crate::sql::names::last(&f.name),
        Expr::Cast { expr, data_type, kind, .. } if !matches!(kind, CastKind::TryCast | CastKind::SafeCast) => {
            return match figure_with_strength(expr) {
                Some(inner @ (_, Strength::Named)) => Some(inner),
                _ => Some((type_name(data_type), Strength::TypeName)),
            };
        }
        Expr::Nested(x) => return figure_with_strength(x),
        // `body['name']`, `arr[1]`: subscripts keep the name of what they index.
        Expr::CompoundFieldAccess { root, access_chain } if access_chain.iter().all(|a| matches!(a, AccessExpr::Subscript(_))) => {
            return figure_with_strength(root);
        }
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Array(_) => "array".into(),
        Expr::Subquery(q) => subquery_name(q)?,
        Expr::Extract { .. } => "extract".into(),
        Expr::Substring { shorthand: true, .. } => "substr".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Overlay { .. } => "overlay".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::Interval(_) => return Some(("interval".into(), Strength::TypeName)),
        Expr::TypedString(t) => return Some((type_name(&t.data_type), Strength::TypeName)),
        _ => return None,
    });
    named.map(|name| (name, Strength::Named))
}

/// A scalar subquery is named after its single output.
fn subquery_name(q: &Query) -> Option<String> {
    match q.body.as_ref() {
        SetExpr::Select(s) => match s.projection.first()? {
            SelectItem::UnnamedExpr(e) => figure_opt(e),
            SelectItem::ExprWithAlias { alias, .. } => Some(visible(&crate::sql::names::ident(alias)).to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The PostgreSQL name of a type written in SQL (`integer` → `int4`).
fn type_name(t: &SqlType) -> String {
    match crate::sql::expr::sql_type(t) {
        Some(ty) => crate::pg::oid::type_name(ty.pg_oid()).unwrap_or("?column?").to_string(),
        None => t.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn named(sql: &str) -> String {
        let mut s = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().pop().unwrap();
        name_outputs(&mut s);
        s.to_string().replace(HIDDEN, "~")
    }

    #[test]
    fn names_follow_postgres() {
        assert_eq!(named("SELECT count(*), a, 1 FROM t"), r#"SELECT count(*) AS "count", a, 1 AS "?column?" FROM t"#);
        assert_eq!(named("SELECT a, a FROM t"), r#"SELECT a, a AS "a~1" FROM t"#);
        assert_eq!(named("SELECT NULL, NULL"), r#"SELECT NULL AS "?column?", NULL AS "?column?~1""#);
        assert_eq!(
            named("SELECT 1::text, b::int, CASE WHEN x THEN 1 END"),
            r#"SELECT 1::TEXT AS "text", b::INT AS "b", CASE WHEN x THEN 1 END AS "case""#
        );
        assert_eq!(
            named("SELECT 2.5::float8::int, b::float8::int, date '2024-01-01'::text"),
            r#"SELECT 2.5::FLOAT8::INT AS "int4", b::FLOAT8::INT AS "b", DATE '2024-01-01'::TEXT AS "text""#
        );
        assert_eq!(
            named("SELECT substr(a, 2), substring(a FROM 2)"),
            r#"SELECT SUBSTR(a, 2) AS "substr", SUBSTRING(a FROM 2) AS "substring""#
        );
        assert_eq!(named("SELECT s.count FROM (SELECT count(*) FROM t) s"), r#"SELECT s.count FROM (SELECT count(*) AS "count" FROM t) s"#);
        assert_eq!(named("SELECT x AS y, z AS y"), r#"SELECT x AS y, z AS "y~1""#);
        assert_eq!(visible("a\u{0}1"), "a");
    }
}

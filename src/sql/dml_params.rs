//! Parameter types of INSERT, UPDATE and DELETE, as PostgreSQL infers them.
//!
//! A driver that prepares `UPDATE t SET v = $2 WHERE id > $1` asks for the
//! parameters' types (ParameterDescription) and encodes its values by them —
//! tokio-postgres, JDBC, asyncpg, Npgsql do. A missing or wrong type fails
//! on the client before the statement runs ("expected 0 parameters", "cannot
//! convert i32 to text"). The types come from three sources, the first that
//! knows a parameter wins:
//!
//! ```text
//!   1. $n::type                          the cast's type           (query::cast_param_types)
//!   2. the compiled plan (param_types):  col op $n → col's type;
//!      a bare $n assigned to a column — a VALUES position, INSERT … SELECT's
//!      select-list position, SET col = $n, ON CONFLICT's SET — that column's type
//!   3. DataFusion over a probe query     the statement's expressions in their own scope:
//!      (probe_query)                     UPDATE → SELECT <SET values>, <RETURNING> FROM t WHERE …
//!                                        DELETE → SELECT 1, <RETURNING> FROM t USING … WHERE …
//!                                        INSERT … SELECT / VALUES with subqueries → that query
//! ```
//!
//! What none of them types is text, as PostgreSQL resolves an unknown.
//! The probe is planned only when 1 and 2 leave a parameter untyped, so the
//! statements ORMs and pgbench send (keys, SET col = $n) cost no planning.

use datafusion::arrow::datatypes::DataType as A;
use datafusion::sql::sqlparser::ast::{Expr, SelectItem, SetExpr, Statement, Value, ValueWithSpan, visit_expressions};
use duetdb_storage::TableDef;

use crate::sql::dmlplan::{DmlPlan, Filter, InsertSource};
use crate::sql::expr::Ex;
use crate::sql::query::column_param_hint;

impl DmlPlan {
    /// Parameter types the plan implies ($1 → index 0), where it knows them.
    pub fn param_types(&self) -> Vec<Option<A>> {
        let mut out: Vec<Option<A>> = Vec::new();
        let def = self.def().clone();
        match self {
            DmlPlan::Insert { columns, source, on_conflict, .. } => {
                match source {
                    InsertSource::Values(rows) => {
                        for row in rows {
                            for (i, e) in row.iter().enumerate() {
                                if let Some(e) = e {
                                    note(&mut out, e, columns.get(i).copied(), &def);
                                }
                            }
                        }
                    }
                    // A bare `$n` in a position of VALUES or of the select
                    // list is assigned to that position's column.
                    InsertSource::Query(q) => {
                        let rows: Vec<Vec<&Expr>> = match q.body.as_ref() {
                            SetExpr::Values(v) => v.rows.iter().map(|r| r.content.iter().collect()).collect(),
                            SetExpr::Select(s) => vec![
                                s.projection
                                    .iter()
                                    .filter_map(|item| match item {
                                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
                                        _ => None,
                                    })
                                    .collect(),
                            ],
                            _ => Vec::new(),
                        };
                        for row in rows {
                            for (i, e) in row.into_iter().enumerate() {
                                if let (Some(p), Some(&c)) = (placeholder(e), columns.get(i)) {
                                    set_first(&mut out, p, Some(column_param_hint(&def.columns[c].ty)));
                                }
                            }
                        }
                    }
                    InsertSource::DefaultValues => {}
                }
                if let Some(oc) = on_conflict {
                    for (c, e) in oc.update.iter().flatten() {
                        note(&mut out, e, Some(*c), &def);
                    }
                    if let Some(w) = &oc.update_where {
                        note(&mut out, w, None, &def);
                    }
                }
            }
            DmlPlan::Update { sets, set_exprs, filter, .. } => {
                match sets {
                    Some(sets) => sets.iter().for_each(|(c, e)| note(&mut out, e, Some(*c), &def)),
                    // SET values DataFusion computes: only a bare `$n` is typed here.
                    None => {
                        for (c, e) in set_exprs {
                            if let Some(p) = placeholder(e) {
                                set_first(&mut out, p, Some(column_param_hint(&def.columns[*c].ty)));
                            }
                        }
                    }
                }
                key_params(&mut out, filter, &def);
            }
            DmlPlan::Delete { filter, .. } | DmlPlan::Select { filter, .. } => key_params(&mut out, filter, &def),
        }
        out
    }

    /// A query whose planning types the parameters this statement's
    /// expressions hold in their own scope (see the module comment), as SQL
    /// text; None for an INSERT of plain values (the plan types them all).
    pub fn probe_query(&self) -> Option<String> {
        let target = |def: &TableDef, alias: &str| format!("{}.{} AS {}", quoted(&def.schema), quoted(&def.name), quoted(alias));
        let returning = |r: &Option<Vec<SelectItem>>| r.iter().flatten().map(|i| format!(", {i}")).collect::<String>();
        let tail = |extra: &[datafusion::sql::sqlparser::ast::TableWithJoins], selection: &Option<Expr>| {
            let mut s: String = extra.iter().map(|t| format!(", {t}")).collect();
            if let Some(w) = selection {
                s.push_str(&format!(" WHERE {w}"));
            }
            s
        };
        match self {
            DmlPlan::Insert { source: InsertSource::Query(q), .. } => Some(q.to_string()),
            DmlPlan::Insert { .. } | DmlPlan::Select { .. } => None,
            DmlPlan::Update { def, alias, set_exprs, from, selection, returning: r, .. } => {
                let values: Vec<String> = set_exprs.iter().map(|(_, e)| format!("({e})")).collect();
                let list = if values.is_empty() { "1".to_string() } else { values.join(", ") };
                Some(format!("SELECT {list}{} FROM {}{}", returning(r), target(def, alias), tail(from, selection)))
            }
            DmlPlan::Delete { def, alias, using, selection, returning: r, .. } => {
                Some(format!("SELECT 1{} FROM {}{}", returning(r), target(def, alias), tail(using, selection)))
            }
        }
    }
}

/// The highest `$n` a statement holds (0: none).
pub fn max_placeholder(stmt: &Statement) -> usize {
    let mut max = 0;
    let _ = visit_expressions(stmt, |e| {
        if let Some(i) = placeholder(e) {
            max = max.max(i + 1);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    max
}

/// `$n` as a parameter index ($1 → 0).
fn placeholder(e: &Expr) -> Option<usize> {
    match e {
        Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) => crate::sql::query::placeholder_index(p),
        Expr::Nested(x) => placeholder(x),
        _ => None,
    }
}

fn set_first(out: &mut Vec<Option<A>>, i: usize, ty: Option<A>) {
    if out.len() <= i {
        out.resize(i + 1, None);
    }
    if out[i].is_none() {
        out[i] = ty;
    }
}

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn key_params(out: &mut Vec<Option<A>>, filter: &Filter, def: &TableDef) {
    if let Filter::Key { index, values, residual } = filter {
        if let Some(idx) = def.indexes.iter().find(|i| i.id == *index) {
            for (k, v) in values.iter().enumerate() {
                note(out, v, idx.columns.get(k).copied(), def);
            }
        }
        if let Some(r) = residual {
            note(out, r, None, def);
        }
    }
}

/// Types the `$n` in `ex` by their use; `col` is the column `ex` is assigned to.
fn note(out: &mut Vec<Option<A>>, ex: &Ex, col: Option<usize>, def: &TableDef) {
    visit_params(ex, &mut |i, use_| {
        let ty = match use_ {
            ParamUse::Cast(ty) => Some(column_param_hint(ty)),
            ParamUse::Column(c) => Some(column_param_hint(&def.columns[c].ty)),
            ParamUse::Bare => col.map(|c| column_param_hint(&def.columns[c].ty)),
        };
        set_first(out, i, ty);
    });
}

/// How a `$n` is used, which decides its type: `$n::type` is that type,
/// `col op $n` takes the column's, a bare `$n` the target column's.
enum ParamUse<'a> {
    Cast(&'a duetdb_storage::DataType),
    Column(usize),
    Bare,
}

/// Calls `f(param index, use)` for each `$n`.
fn visit_params<'a>(e: &'a Ex, f: &mut dyn FnMut(usize, ParamUse<'a>)) {
    match e {
        Ex::Param(i) => f(*i, ParamUse::Bare),
        Ex::Cast(x, ty) if matches!(x.as_ref(), Ex::Param(_)) => {
            let Ex::Param(i) = x.as_ref() else { unreachable!() };
            f(*i, ParamUse::Cast(ty))
        }
        Ex::Bin(_, a, b) => {
            // `col op $n`: the parameter takes the column's type.
            match (a.as_ref(), b.as_ref()) {
                (Ex::Col(c), Ex::Param(i)) | (Ex::Param(i), Ex::Col(c)) => f(*i, ParamUse::Column(*c)),
                _ => {
                    visit_params(a, f);
                    visit_params(b, f);
                }
            }
        }
        Ex::Neg(x) | Ex::Not(x) | Ex::IsNull(x, _) | Ex::Cast(x, _) => visit_params(x, f),
        Ex::Coalesce(xs) => xs.iter().for_each(|x| visit_params(x, f)),
        _ => {}
    }
}

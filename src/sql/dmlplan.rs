//! Planning INSERT, UPDATE, DELETE — and key-lookup SELECTs — for the row store.
//!
//! A plan says which table, which columns, and how rows are found:
//!
//! ```text
//!   Filter::Key      every column of a unique index is pinned to a compiled
//!                    expression (`WHERE aid = $1`): one index probe, no DataFusion
//!   Filter::General  anything else: DataFusion computes the row ids (and for
//!                    UPDATE the new values) from `SELECT __rowid, … FROM t$rowid …`
//! ```
//!
//! INSERT sources are likewise either compiled VALUES rows or a query for
//! DataFusion. The fast forms are what pgbench and ORMs send; the general ones
//! accept any PostgreSQL expression DataFusion can plan, subqueries included.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, BinaryOperator, ConflictTarget, Expr, FromTable, GroupByExpr, Insert, OnConflictAction, OnInsert, Query, SelectItem,
    SetExpr, Statement, TableFactor, TableObject, TableWithJoins,
};
use duetdb_storage::catalog::Identity;
use duetdb_storage::{Catalog, DataType, TableDef};

use crate::error::{SqlError, SqlResult};
use crate::sql::expr::{self, Ex};
use crate::sql::names;
use crate::sql::parse::{self, Overriding};

#[derive(Debug)]
pub enum Filter {
    Key { index: u32, values: Vec<Ex>, residual: Option<Ex> },
    General,
}

#[derive(Debug)]
pub enum InsertSource {
    /// Rows of compiled expressions; None = DEFAULT.
    Values(Vec<Vec<Option<Ex>>>),
    /// Anything else (INSERT … SELECT, VALUES with subqueries): planned by DataFusion.
    Query(Box<Query>),
    DefaultValues,
}

#[derive(Debug)]
pub struct OnConflict {
    /// Unique index the conflict is detected on (None: any unique index, DO NOTHING only).
    pub index: Option<u32>,
    /// DO UPDATE SET: (column, expression over the existing row and `excluded`).
    pub update: Option<Vec<(usize, Ex)>>,
    pub update_where: Option<Ex>,
}

#[derive(Debug)]
pub enum DmlPlan {
    Insert {
        def: Arc<TableDef>,
        columns: Vec<usize>,
        source: InsertSource,
        on_conflict: Option<OnConflict>,
        returning: Option<Vec<SelectItem>>,
        /// Positions in `columns` whose given values are replaced by the
        /// default (identity columns under OVERRIDING USER VALUE).
        ignored: Vec<usize>,
        /// No column list: a query with fewer columns fills the first ones.
        implicit_columns: bool,
    },
    Update {
        def: Arc<TableDef>,
        alias: String,
        /// Compiled SET list (None: use DataFusion for values too).
        sets: Option<Vec<(usize, Ex)>>,
        set_exprs: Vec<(usize, Expr)>,
        filter: Filter,
        from: Vec<TableWithJoins>,
        selection: Option<Expr>,
        returning: Option<Vec<SelectItem>>,
    },
    Delete {
        def: Arc<TableDef>,
        alias: String,
        filter: Filter,
        using: Vec<TableWithJoins>,
        selection: Option<Expr>,
        returning: Option<Vec<SelectItem>>,
    },
    /// `SELECT <columns> FROM t WHERE <unique key> = …`: one index probe.
    Select { def: Arc<TableDef>, columns: Vec<usize>, names: Vec<String>, filter: Filter },
}

impl DmlPlan {
    pub fn def(&self) -> &Arc<TableDef> {
        match self {
            DmlPlan::Insert { def, .. } | DmlPlan::Update { def, .. } | DmlPlan::Delete { def, .. } | DmlPlan::Select { def, .. } => def,
        }
    }

    pub fn returning(&self) -> Option<&Vec<SelectItem>> {
        match self {
            DmlPlan::Insert { returning, .. } | DmlPlan::Update { returning, .. } | DmlPlan::Delete { returning, .. } => returning.as_ref(),
            DmlPlan::Select { .. } => None,
        }
    }

    /// One line for EXPLAIN.
    pub fn describe(&self) -> String {
        let access = |f: &Filter| match f {
            Filter::Key { index, .. } => {
                let idx = self.def().indexes.iter().find(|i| i.id == *index).map(|i| i.name.clone()).unwrap_or_default();
                format!("Index Lookup using {idx}")
            }
            Filter::General => "Scan (DataFusion)".into(),
        };
        match self {
            DmlPlan::Insert { def, source, .. } => format!(
                "Insert on {} ({})",
                def.name,
                match source {
                    InsertSource::Values(r) => format!("{} row(s) of values", r.len()),
                    InsertSource::Query(_) => "query".into(),
                    InsertSource::DefaultValues => "default values".into(),
                }
            ),
            DmlPlan::Update { def, filter, .. } => format!("Update on {}: {}", def.name, access(filter)),
            DmlPlan::Delete { def, filter, .. } => format!("Delete on {}: {}", def.name, access(filter)),
            DmlPlan::Select { def, filter, .. } => format!("Select on {}: {}", def.name, access(filter)),
        }
    }
}

fn table_of(name: &datafusion::sql::sqlparser::ast::ObjectName, catalog: &Catalog) -> SqlResult<Arc<TableDef>> {
    let (schema, table) = names::qualified(name)?;
    catalog.table_by_name(&schema, &table).cloned().ok_or_else(|| {
        if catalog.view_by_name(&schema, &table).is_some() {
            SqlError::new("55000", format!("cannot change view \"{table}\"")).with_detail("Views are not updatable.")
        } else {
            SqlError::new("42P01", format!("relation \"{table}\" does not exist"))
        }
    })
}

/// Plans a DML statement against `catalog`.
pub fn plan(stmt: &Statement, catalog: &Catalog) -> SqlResult<DmlPlan> {
    match stmt {
        Statement::Insert(ins) => {
            let TableObject::TableName(name) = &ins.table else {
                return Err(SqlError::unsupported("INSERT into a table function"));
            };
            let def = table_of(name, catalog)?;
            let columns: Vec<usize> = if ins.columns.is_empty() {
                def.live_columns().map(|(i, _)| i).collect()
            } else {
                let mut cols = Vec::new();
                for c in &ins.columns {
                    let n = names::last(c);
                    let i = def.column(&n)?;
                    if cols.contains(&i) {
                        return Err(SqlError::new("42701", format!("column \"{n}\" specified more than once")));
                    }
                    cols.push(i);
                }
                cols
            };
            // Without a column list, VALUES fills the first columns and the
            // rest take their defaults, as in PostgreSQL.
            let mut columns = columns;
            if ins.columns.is_empty()
                && let Some(q) = &ins.source
                && let SetExpr::Values(v) = q.body.as_ref()
                && let Some(first) = v.rows.first()
            {
                if v.rows.iter().any(|r| r.content.len() != first.content.len()) {
                    return Err(SqlError::syntax("VALUES lists must all be the same length"));
                }
                columns.truncate(first.content.len());
            }
            let ignored = identity_targets(&def, &columns, ins)?;
            let resolve = |n: &str| def.column_index(n);
            let source = match &ins.source {
                None => InsertSource::DefaultValues,
                Some(q) => match (q.body.as_ref(), &q.order_by, &q.limit_clause, &q.with) {
                    (SetExpr::Values(v), None, None, None) => {
                        let mut rows = Vec::new();
                        let mut all_compiled = true;
                        for r in &v.rows {
                            if r.content.len() != columns.len() {
                                return Err(SqlError::syntax(if r.content.len() > columns.len() {
                                    "INSERT has more expressions than target columns"
                                } else {
                                    "INSERT has more target columns than expressions"
                                }));
                            }
                            let mut row = Vec::with_capacity(r.content.len());
                            for (k, e) in r.content.iter().enumerate() {
                                if is_default(e) || ignored.contains(&k) {
                                    row.push(None);
                                } else if let Some(ex) = expr::compile(e, None) {
                                    row.push(Some(ex));
                                } else {
                                    all_compiled = false;
                                    break;
                                }
                            }
                            if !all_compiled {
                                break;
                            }
                            rows.push(row);
                        }
                        if all_compiled { InsertSource::Values(rows) } else { InsertSource::Query(q.clone()) }
                    }
                    _ => InsertSource::Query(q.clone()),
                },
            };
            let on_conflict = match &ins.on {
                None => None,
                Some(OnInsert::OnConflict(oc)) => {
                    let index = match &oc.conflict_target {
                        None => None,
                        Some(ConflictTarget::Columns(cols)) => {
                            let cols: Vec<usize> =
                                cols.iter().map(|c| def.column(&names::ident(c)).map_err(SqlError::from)).collect::<SqlResult<_>>()?;
                            Some(
                                def.indexes
                                    .iter()
                                    .find(|i| i.unique && i.columns.len() == cols.len() && cols.iter().all(|c| i.columns.contains(c)))
                                    .map(|i| i.id)
                                    .ok_or_else(|| {
                                        SqlError::new(
                                            "42P10",
                                            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                                        )
                                    })?,
                            )
                        }
                        Some(ConflictTarget::OnConstraint(name)) => {
                            let n = names::last(name);
                            Some(def.indexes.iter().find(|i| i.unique && i.name == n).map(|i| i.id).ok_or_else(|| {
                                SqlError::new("42704", format!("constraint \"{n}\" for table \"{}\" does not exist", def.name))
                            })?)
                        }
                    };
                    let (update, update_where) = match &oc.action {
                        OnConflictAction::DoNothing => (None, None),
                        OnConflictAction::DoUpdate(du) => {
                            if index.is_none() {
                                return Err(SqlError::new(
                                    "42601",
                                    "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                                )
                                .with_hint("For example, ON CONFLICT (column_name)."));
                            }
                            // Columns of the existing row are 0..n, `excluded.x` are n..2n.
                            let n = def.columns.len();
                            let resolve_both = |name: &str| -> Option<usize> {
                                if let Some(col) = name.strip_prefix("excluded.") {
                                    return def.column_index(col).map(|c| c + n);
                                }
                                def.column_index(name)
                            };
                            let mut sets = Vec::new();
                            for a in &du.assignments {
                                let col = assignment_column(&a.target, &def)?;
                                update_allowed(&def, col, &a.value)?;
                                let value = assigned_value(&def, col, &a.value)?;
                                let ex = compile_with_excluded(&value, &resolve_both)
                                    .filter(|x| !on_json(&def, x))
                                    .ok_or_else(|| SqlError::unsupported(format!("ON CONFLICT DO UPDATE expression {}", a.value)))?;
                                sets.push((col, ex));
                            }
                            let w = match &du.selection {
                                Some(w) => Some(
                                    compile_with_excluded(w, &resolve_both)
                                        .filter(|x| !on_json(&def, x))
                                        .ok_or_else(|| SqlError::unsupported(format!("ON CONFLICT DO UPDATE WHERE {w}")))?,
                                ),
                                None => None,
                            };
                            (Some(sets), w)
                        }
                    };
                    Some(OnConflict { index, update, update_where })
                }
                Some(_) => return Err(SqlError::unsupported("ON DUPLICATE KEY UPDATE")),
            };
            let _ = resolve;
            let implicit_columns = ins.columns.is_empty();
            Ok(DmlPlan::Insert { def, columns, source, on_conflict, returning: ins.returning.clone(), ignored, implicit_columns })
        }
        Statement::Update(up) => {
            let (def, alias) = target_table(&up.table, catalog)?;
            let mut set_exprs = Vec::new();
            for a in &up.assignments {
                let col = assignment_column(&a.target, &def)?;
                update_allowed(&def, col, &a.value)?;
                set_exprs.push((col, assigned_value(&def, col, &a.value)?));
            }
            let from: Vec<TableWithJoins> = match &up.from {
                None => vec![],
                Some(datafusion::sql::sqlparser::ast::UpdateTableFromKind::BeforeSet(f))
                | Some(datafusion::sql::sqlparser::ast::UpdateTableFromKind::AfterSet(f)) => f.clone(),
            };
            let resolve = |n: &str| column_in(&def, &alias, n);
            let sets = if from.is_empty() {
                set_exprs
                    .iter()
                    .map(|(c, e)| expr::compile(e, Some(&resolve)).filter(|x| !on_json(&def, x)).map(|x| (*c, x)))
                    .collect::<Option<Vec<_>>>()
            } else {
                None
            };
            let filter = if from.is_empty() && sets.is_some() { key_filter(&def, &alias, up.selection.as_ref()) } else { Filter::General };
            Ok(DmlPlan::Update {
                def,
                alias,
                sets,
                set_exprs,
                filter,
                from,
                selection: up.selection.clone(),
                returning: up.returning.clone(),
            })
        }
        Statement::Delete(del) => {
            let tables = match &del.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            if tables.len() != 1 || !del.tables.is_empty() {
                return Err(SqlError::unsupported("DELETE from several tables"));
            }
            let (def, alias) = target_table(&tables[0], catalog)?;
            let using = del.using.clone().unwrap_or_default();
            let filter = if using.is_empty() { key_filter(&def, &alias, del.selection.as_ref()) } else { Filter::General };
            Ok(DmlPlan::Delete { def, alias, filter, using, selection: del.selection.clone(), returning: del.returning.clone() })
        }
        _ => Err(SqlError::internal("not a DML statement")),
    }
}

/// Recognizes `SELECT cols FROM t WHERE <unique key pinned>` (no joins,
/// grouping, ordering, functions): the OLTP read.
pub fn plan_select(stmt: &Statement, catalog: &Catalog) -> Option<DmlPlan> {
    let Statement::Query(q) = stmt else { return None };
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() || !q.locks.is_empty() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else { return None };
    if s.distinct.is_some()
        || s.from.len() != 1
        || !s.from[0].joins.is_empty()
        || s.having.is_some()
        || !matches!(&s.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
        || s.selection.is_none()
    {
        return None;
    }
    let (def, alias) = target_table(&s.from[0], catalog).ok()?;
    let mut columns = Vec::new();
    let mut out_names = Vec::new();
    for item in &s.projection {
        match item {
            SelectItem::Wildcard(_) => {
                for (i, c) in def.live_columns() {
                    columns.push(i);
                    out_names.push(c.name.clone());
                }
            }
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => {
                let n = names::ident(i);
                columns.push(def.column_index(&n)?);
                out_names.push(n);
            }
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) if p.len() == 2 && names::ident(&p[0]) == alias => {
                let n = names::ident(&p[1]);
                columns.push(def.column_index(&n)?);
                out_names.push(n);
            }
            SelectItem::ExprWithAlias { expr: Expr::Identifier(i), alias: a } => {
                columns.push(def.column_index(&names::ident(i))?);
                out_names.push(names::ident(a));
            }
            _ => return None,
        }
    }
    let filter = key_filter(&def, &alias, s.selection.as_ref());
    matches!(filter, Filter::Key { .. }).then_some(DmlPlan::Select { def, columns, names: out_names, filter })
}

/// Identity columns among an INSERT's targets: a GENERATED ALWAYS column
/// takes only DEFAULT unless the INSERT says OVERRIDING SYSTEM VALUE, and
/// OVERRIDING USER VALUE replaces what is given to any identity column by the
/// sequence's value. Returns the positions in `columns` whose values are
/// ignored.
fn identity_targets(def: &TableDef, columns: &[usize], ins: &Insert) -> SqlResult<Vec<usize>> {
    let overriding = parse::overriding(ins);
    let mut ignored = Vec::new();
    let all_default = |k: usize| match ins.source.as_deref().map(|q| q.body.as_ref()) {
        None => true,
        Some(SetExpr::Values(v)) => v.rows.iter().all(|r| r.content.get(k).is_none_or(is_default)),
        Some(_) => false,
    };
    for (k, &c) in columns.iter().enumerate() {
        let col = &def.columns[c];
        if col.generated.is_some() {
            // Computed from the row, whatever OVERRIDING says.
            if !all_default(k) {
                return Err(SqlError::new("428C9", format!("cannot insert a non-DEFAULT value into column \"{}\"", col.name))
                    .with_detail(format!("Column \"{}\" is a generated column.", col.name)));
            }
            ignored.push(k);
            continue;
        }
        match (col.identity, overriding) {
            (None, _) | (Some(_), Some(Overriding::System)) | (Some(Identity::ByDefault), None) => {}
            (Some(_), Some(Overriding::User)) => ignored.push(k),
            (Some(Identity::Always), None) => {
                // Every row must say DEFAULT here; a query's values never do.
                if !all_default(k) {
                    return Err(SqlError::new("428C9", format!("cannot insert a non-DEFAULT value into column \"{}\"", col.name))
                        .with_detail(format!("Column \"{}\" is an identity column defined as GENERATED ALWAYS.", col.name))
                        .with_hint("Use OVERRIDING SYSTEM VALUE to override."));
                }
            }
        }
    }
    Ok(ignored)
}

/// UPDATE may set a generated column or a GENERATED ALWAYS identity column only to DEFAULT.
fn update_allowed(def: &TableDef, c: usize, value: &Expr) -> SqlResult<()> {
    let col = &def.columns[c];
    let why = if col.generated.is_some() {
        "a generated column"
    } else if col.identity == Some(Identity::Always) {
        "an identity column defined as GENERATED ALWAYS"
    } else {
        return Ok(());
    };
    if !is_default(value) {
        return Err(SqlError::new("428C9", format!("column \"{}\" can only be updated to DEFAULT", col.name))
            .with_detail(format!("Column \"{}\" is {why}.", col.name)));
    }
    Ok(())
}

/// What `SET c = value` stores: `DEFAULT` is the column's default (NULL without one).
fn assigned_value(def: &TableDef, c: usize, value: &Expr) -> SqlResult<Expr> {
    if !is_default(value) {
        return Ok(value.clone());
    }
    match &def.columns[c].default {
        Some(text) => parse::stored_expr(text).ok_or_else(|| SqlError::internal(format!("DEFAULT {text} does not parse"))),
        None => Ok(Expr::value(datafusion::sql::sqlparser::ast::Value::Null)),
    }
}

fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

fn target_table(t: &TableWithJoins, catalog: &Catalog) -> SqlResult<(Arc<TableDef>, String)> {
    if !t.joins.is_empty() {
        return Err(SqlError::unsupported("joins in the target of UPDATE/DELETE"));
    }
    let TableFactor::Table { name, alias, .. } = &t.relation else {
        return Err(SqlError::unsupported("UPDATE/DELETE of something other than a table"));
    };
    let def = table_of(name, catalog)?;
    let alias = alias.as_ref().map(|a| names::ident(&a.name)).unwrap_or_else(|| def.name.clone());
    Ok((def, alias))
}

fn assignment_column(t: &AssignmentTarget, def: &TableDef) -> SqlResult<usize> {
    match t {
        AssignmentTarget::ColumnName(n) => Ok(def.column(&names::last(n))?),
        AssignmentTarget::Tuple(_) => Err(SqlError::unsupported("multiple-column assignment (a, b) = (…)")),
    }
}

/// An operator of `ex` works on a json/jsonb column of `def` (see
/// `expr::operates_on_json`). Positions past the table's columns are
/// `excluded`'s (ON CONFLICT numbers them n..2n), hence the modulo.
fn on_json(def: &TableDef, ex: &Ex) -> bool {
    let n = def.columns.len().max(1);
    let is_json = |c: usize| def.columns.get(c % n).is_some_and(|col| matches!(col.ty, DataType::Json | DataType::Jsonb));
    expr::operates_on_json(ex, &is_json)
}

fn column_in(def: &TableDef, alias: &str, name: &str) -> Option<usize> {
    let _ = alias;
    def.column_index(name)
}

/// Compiles with `excluded.col` distinguished from the target row's `col`.
fn compile_with_excluded(e: &Expr, resolve: &dyn Fn(&str) -> Option<usize>) -> Option<Ex> {
    // Rewrite `excluded.x` identifiers into names the resolver understands.
    let mut e = e.clone();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x| {
        if let Expr::CompoundIdentifier(p) = x
            && p.len() == 2
            && names::ident(&p[0]) == "excluded"
        {
            *x = Expr::Identifier(datafusion::sql::sqlparser::ast::Ident::with_quote('"', format!("excluded.{}", names::ident(&p[1]))));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    let r = |n: &str| resolve(n);
    expr::compile(&e, Some(&r))
}

/// Finds a unique index whose every column is pinned by `col = <compiled expr>`
/// conjuncts; the remaining conjuncts become the residual filter.
fn key_filter(def: &TableDef, alias: &str, selection: Option<&Expr>) -> Filter {
    let Some(sel) = selection else { return Filter::General };
    let mut conjuncts = Vec::new();
    split_and(sel, &mut conjuncts);
    let resolve = |n: &str| column_in(def, alias, n);
    let mut pinned: Vec<(usize, Ex, usize)> = Vec::new();
    let mut rest: Vec<&Expr> = Vec::new();
    for (k, c) in conjuncts.iter().enumerate() {
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = c {
            let col = |e: &Expr| match e {
                Expr::Identifier(i) => resolve(&names::ident(i)),
                Expr::CompoundIdentifier(p) if p.len() == 2 && names::ident(&p[0]) == alias => resolve(&names::ident(&p[1])),
                Expr::Nested(inner) => match inner.as_ref() {
                    Expr::Identifier(i) => resolve(&names::ident(i)),
                    _ => None,
                },
                _ => None,
            };
            let pinned_value = |e: &Expr| expr::compile(e, None);
            if let (Some(c), Some(v)) = (col(left), pinned_value(right)) {
                pinned.push((c, v, k));
                continue;
            }
            if let (Some(c), Some(v)) = (col(right), pinned_value(left)) {
                pinned.push((c, v, k));
                continue;
            }
        }
        rest.push(c);
    }
    let mut indexes: Vec<_> = def.indexes.iter().filter(|i| i.unique).collect();
    indexes.sort_by_key(|i| (!i.primary, i.columns.len()));
    for idx in indexes {
        let mut values = Vec::new();
        let mut used = Vec::new();
        for c in &idx.columns {
            match pinned.iter().find(|(pc, _, _)| pc == c) {
                Some((_, v, k)) => {
                    values.push(v.clone());
                    used.push(*k);
                }
                None => break,
            }
        }
        if values.len() != idx.columns.len() {
            continue;
        }
        // Everything not used for the key must still hold.
        let mut residual: Option<Ex> = None;
        for (k, c) in conjuncts.iter().enumerate() {
            if used.contains(&k) {
                continue;
            }
            let Some(ex) = expr::compile(c, Some(&resolve)).filter(|x| !on_json(def, x)) else { return Filter::General };
            residual = Some(match residual {
                None => ex,
                Some(r) => Ex::Bin(expr::Op::And, Box::new(r), Box::new(ex)),
            });
        }
        return Filter::Key { index: idx.id, values, residual };
    }
    Filter::General
}

fn split_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => split_and(inner, out),
        e => out.push(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType as A;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use duetdb_storage::DataType;
    use duetdb_storage::catalog::{ColumnDef, IndexDef};

    fn catalog() -> Catalog {
        let mut c = Catalog::bootstrap("duet", None);
        let col = |n: &str, ty| ColumnDef::new(n, ty, true);
        c.tables.insert(
            16384,
            Arc::new(TableDef {
                indexes: vec![IndexDef { id: 16385, name: "pk".into(), columns: vec![0], unique: true, primary: true, constraint: true }],
                ..TableDef::new(
                    16384,
                    "public",
                    "pgbench_accounts",
                    1,
                    vec![col("aid", DataType::Int32), col("bid", DataType::Int32), col("abalance", DataType::Int32)],
                )
            }),
        );
        c
    }

    fn stmt(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().pop().unwrap()
    }

    #[test]
    fn pgbench_statements_take_the_fast_path() {
        let c = catalog();
        let p = plan(&stmt("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"), &c).unwrap();
        assert!(matches!(p, DmlPlan::Update { filter: Filter::Key { .. }, sets: Some(_), .. }), "{p:?}");
        assert_eq!(p.param_types(), vec![Some(A::Int32), Some(A::Int32)]);
        let p = plan(&stmt("UPDATE pgbench_accounts SET abalance = abalance + -5 WHERE aid = 3"), &c).unwrap();
        assert!(matches!(p, DmlPlan::Update { filter: Filter::Key { .. }, .. }));
        let p = plan_select(&stmt("SELECT abalance FROM pgbench_accounts WHERE aid = $1"), &c).unwrap();
        assert!(matches!(p, DmlPlan::Select { .. }));
        assert!(plan_select(&stmt("SELECT abalance FROM pgbench_accounts WHERE bid = 1"), &c).is_none());
        let p = plan(&stmt("INSERT INTO pgbench_accounts (aid, bid, abalance) VALUES (1, 2, DEFAULT)"), &c).unwrap();
        assert!(matches!(p, DmlPlan::Insert { source: InsertSource::Values(_), .. }));
        let p = plan(&stmt("DELETE FROM pgbench_accounts WHERE aid IN (SELECT 1)"), &c).unwrap();
        assert!(matches!(p, DmlPlan::Delete { filter: Filter::General, .. }));
        let p = plan(&stmt("UPDATE pgbench_accounts SET abalance = 0 WHERE aid = 1 AND abalance > 5"), &c).unwrap();
        assert!(matches!(p, DmlPlan::Update { filter: Filter::Key { residual: Some(_), .. }, .. }));
    }

    #[test]
    fn bad_targets_fail_like_postgres() {
        let c = catalog();
        assert_eq!(plan(&stmt("INSERT INTO nope VALUES (1)"), &c).unwrap_err().code, "42P01");
        assert_eq!(plan(&stmt("INSERT INTO pgbench_accounts (zz) VALUES (1)"), &c).unwrap_err().code, "42703");
        assert_eq!(plan(&stmt("INSERT INTO pgbench_accounts (aid) VALUES (1, 2)"), &c).unwrap_err().code, "42601");
        assert_eq!(plan(&stmt("UPDATE pgbench_accounts SET nope = 1"), &c).unwrap_err().code, "42703");
    }
}

//! Executing INSERT, UPDATE, DELETE and key-lookup SELECTs on the row store.
//!
//! A DML statement runs in a loop: if the engine reports that a row changed
//! under a READ COMMITTED statement, everything the statement did is rolled
//! back to its start and it runs again on a fresh snapshot.
//!
//! Constraints are checked row by row as PostgreSQL does: NOT NULL and types by
//! the engine, CHECK by the expression evaluator, UNIQUE by the engine's index
//! insert, and FOREIGN KEY against the latest committed state of the other
//! table (waiting for writers in flight), with CASCADE / SET NULL / SET DEFAULT
//! actions on the referencing rows.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{Expr, Query, SelectItem, Statement};
use duetdb_storage::catalog::{FkAction, ForeignKeyDef, TableDef};
use duetdb_storage::keycode;
use duetdb_storage::row::{ValueRef, decode_row};
use duetdb_storage::{DataType, ReadView, RowId, Value, WriteOutcome};

use super::Session;
use super::execute::{CachedPlan, Prepared, is_retry};
use super::generated::Generator;
use super::output::{Outcome, RowStream, Tag};
use crate::error::{SqlError, SqlResult};
use crate::pg::oid::PgType;
use crate::sql::dmlplan::{self, DmlPlan, Filter, InsertSource, OnConflict};
use crate::sql::expr::{self, Env, Ex};
use crate::sql::provider::{ROWID_SUFFIX, scalar_to_value};
use crate::sql::query::{self, FieldInfo};
use crate::sql::{names, parse};

const MAX_FK_DEPTH: usize = 32;

/// Rows a statement changed, for RETURNING.
struct Changed {
    rows: Vec<Vec<Value>>,
}

impl Session {
    /// INSERT / UPDATE / DELETE with READ COMMITTED restarts.
    pub async fn run_dml(&mut self, stmt: &Statement, params: &[ScalarValue], prepared: Option<&Prepared>) -> SqlResult<Outcome> {
        if self.server().is_standby() {
            let verb = stmt.to_string().split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            return Err(SqlError::new("25006", format!("cannot execute {verb} in a read-only transaction"))
                .with_hint("This server is a standby; send writes to the primary."));
        }
        let values: Vec<Value> = params.iter().map(|p| scalar_to_value(p).unwrap_or(Value::Null)).collect();
        loop {
            let view = self.begin_statement()?;
            let plan = self.dml_plan(stmt, &view, prepared)?;
            let result = self.exec_dml(&plan, stmt, params, &values, &view).await;
            match result {
                Err(e) if is_retry(&e) => {
                    self.restarts += 1;
                    self.txn.txn.as_mut().unwrap().rollback_statement()?;
                    continue;
                }
                r => return r,
            }
        }
    }

    fn dml_plan(&self, stmt: &Statement, view: &ReadView, prepared: Option<&Prepared>) -> SqlResult<Arc<DmlPlan>> {
        let key = Arc::as_ptr(&view.catalog) as usize;
        if let Some(p) = prepared
            && let Some(CachedPlan::Dml { plan, catalog }) = &*p.plan.lock()
            && *catalog == key
        {
            return Ok(plan.clone());
        }
        if prepared.is_some_and(|p| p.template) {
            return Err(SqlError::stale_template());
        }
        let plan = Arc::new(dmlplan::plan(stmt, &view.catalog)?);
        if let Some(p) = prepared {
            *p.plan.lock() = Some(CachedPlan::Dml { plan: plan.clone(), catalog: key });
        }
        Ok(plan)
    }

    async fn exec_dml(
        &mut self,
        plan: &DmlPlan,
        stmt: &Statement,
        params: &[ScalarValue],
        values: &[Value],
        view: &ReadView,
    ) -> SqlResult<Outcome> {
        let (tag, changed) = match plan {
            DmlPlan::Insert { .. } => self.exec_insert(plan, params, values).await?,
            DmlPlan::Update { .. } => self.exec_update(plan, params, values, view).await?,
            DmlPlan::Delete { .. } => self.exec_delete(plan, params, values, view).await?,
            DmlPlan::Select { .. } => return Err(SqlError::internal("select plan in DML")),
        };
        let _ = stmt;
        match plan.returning() {
            None => Ok(Outcome::Command(tag)),
            Some(items) => {
                let (fields, types, rows) = Box::pin(self.returning(plan, items, changed.rows)).await?;
                Ok(Outcome::Rows(RowStream::from_values(fields, types, rows, Tag::Fixed(tag))))
            }
        }
    }

    // ------------------------------------------------------------------
    // Finding rows
    // ------------------------------------------------------------------

    fn eval_env<'a>(
        &self,
        row: &'a [Value],
        params: &'a [Value],
        zone: &'a crate::pg::datetime::Zone,
        next: &'a mut (dyn FnMut(&str) -> SqlResult<i64> + Send),
    ) -> Env<'a> {
        Env { row, params, now: self.env.transaction_start_micros(), zone, nextval: next }
    }

    /// Rows a key filter selects, as this statement sees them: (row id, values).
    fn key_rows(
        &self,
        def: &Arc<TableDef>,
        index: u32,
        key_values: &[Ex],
        residual: Option<&Ex>,
        params: &[Value],
        view: &ReadView,
    ) -> SqlResult<Vec<(RowId, Vec<Value>)>> {
        let idx_def = def.indexes.iter().find(|i| i.id == index).ok_or_else(|| SqlError::internal("index vanished"))?;
        let zone = self.env.zone();
        let env = self.env.clone();
        let mut next = move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
        let mut key = Vec::new();
        for (k, ex) in key_values.iter().enumerate() {
            let ty = &def.columns[idx_def.columns[k]].ty;
            let mut e = self.eval_env(&[], params, &zone, &mut next);
            let v = expr::eval_typed(ex, &mut e, Some(ty))?;
            if v.is_null() {
                return Ok(vec![]); // `key = NULL` matches nothing
            }
            let v = match expr::assign(v, ty, &zone) {
                Ok(v) => v,
                // A value that cannot be a key of this type (1.5 for an int) matches nothing…
                Err(e) if e.code == "22003" || e.code == "22001" => return Ok(vec![]),
                Err(e) => return Err(e),
            };
            keycode::encode_value(&mut key, ValueRef::from(&v));
        }
        let Some(index) = view.index(def, index) else { return Ok(vec![]) };
        let candidates = index.lookup(&key);
        let layout = def.layout();
        let mut out = Vec::new();
        view.fetch(def, &candidates, |r, row| {
            if index.key_of(&layout.types, &layout.missing, row).0 == key {
                out.push((r, decode_row(&layout.types, &layout.missing, row)));
            }
            ControlFlow::Continue(())
        });
        if let Some(res) = residual {
            let mut kept = Vec::new();
            for (r, row) in out {
                let mut e = self.eval_env(&row, params, &zone, &mut next);
                if expr::eval(res, &mut e)? == Value::Bool(true) {
                    kept.push((r, row));
                }
            }
            out = kept;
        }
        Ok(out)
    }

    /// Runs a generated `SELECT __rowid, … FROM t$rowid …` and returns its rows.
    pub(super) async fn general_rows(&mut self, sql: &str, params: &[ScalarValue]) -> SqlResult<Vec<Vec<Value>>> {
        let piece = parse::Piece { text: sql.to_string(), offset: 0 };
        let parse::Parsed::Sql(stmt) = parse::parse(&piece)? else { return Err(SqlError::internal("generated SQL did not parse")) };
        let plan = self.plan_sql(&stmt).await?;
        let bound = query::bind(&plan, params)?;
        let stream = query::execute(&self.df, &bound).await?;
        let mut rs = RowStream::from_stream(vec![], stream, Tag::Select);
        let batches = rs.collect_batches().await?;
        let mut rows = Vec::new();
        for b in batches {
            for i in 0..b.num_rows() {
                let mut row = Vec::with_capacity(b.num_columns());
                for c in b.columns() {
                    let s = ScalarValue::try_from_array(c, i)?;
                    row.push(scalar_to_value(&s).ok_or_else(|| {
                        SqlError::new("42804", format!("value of type {} cannot be assigned to a column", s.data_type()))
                    })?);
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }

    // ------------------------------------------------------------------
    // UPDATE
    // ------------------------------------------------------------------

    async fn exec_update(
        &mut self,
        plan: &DmlPlan,
        params: &[ScalarValue],
        values: &[Value],
        view: &ReadView,
    ) -> SqlResult<(String, Changed)> {
        let DmlPlan::Update { def, alias, sets, set_exprs, filter, from, selection, .. } = plan else { unreachable!() };
        let zone = self.env.zone();
        // (row id, current row, new values for the SET columns)
        let mut work: Vec<(RowId, Vec<Value>, Vec<(usize, Value)>)> = Vec::new();
        match (filter, sets) {
            (Filter::Key { index, values: kv, residual }, Some(sets)) => {
                let env = self.env.clone();
                let mut next = move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
                for (rowid, row) in self.key_rows(def, *index, kv, residual.as_ref(), values, view)? {
                    let mut new = Vec::with_capacity(sets.len());
                    for (c, ex) in sets {
                        let mut e = self.eval_env(&row, values, &zone, &mut next);
                        new.push((*c, expr::eval_typed(ex, &mut e, Some(&def.columns[*c].ty))?));
                    }
                    work.push((rowid, row, new));
                }
            }
            _ => {
                let mut sql = format!("SELECT {}.\"__rowid\"", quote(alias));
                for (_, e) in set_exprs {
                    sql.push_str(&format!(", ({e})"));
                }
                sql.push_str(&format!(
                    " FROM {}.{} AS {}",
                    quote(&def.schema),
                    quote(&format!("{}{ROWID_SUFFIX}", def.name)),
                    quote(alias)
                ));
                for f in from {
                    sql.push_str(&format!(", {f}"));
                }
                if let Some(w) = selection {
                    sql.push_str(&format!(" WHERE {w}"));
                }
                let layout = def.layout();
                let mut seen = HashSet::new();
                for r in Box::pin(self.general_rows(&sql, params)).await? {
                    let Some(rowid) = r[0].as_i64().map(|x| x as RowId) else { continue };
                    if !seen.insert(rowid) {
                        continue; // joined more than once: PostgreSQL updates it once
                    }
                    let Some(current) = view.get(def, rowid) else { continue };
                    let row = decode_row(&layout.types, &layout.missing, &current);
                    let new = set_exprs.iter().zip(r.into_iter().skip(1)).map(|((c, _), v)| (*c, v)).collect();
                    work.push((rowid, row, new));
                }
            }
        }
        let mut changed = Changed { rows: Vec::new() };
        let generator = self.generator(def).await?;
        for (rowid, old, new) in work {
            let mut row = old.clone();
            for (c, v) in new {
                row[c] = expr::assign_column(v, &def.columns[c], &zone)?;
            }
            if let Some(g) = &generator {
                self.fill_generated(g, def, &mut row).await?;
            }
            self.check_constraints(def, &row)?;
            self.check_fk_child(def, &row, Some(&old)).await?;
            let txn = self.txn.txn.as_mut().unwrap();
            match txn.update(def, rowid, row.clone()).await? {
                WriteOutcome::Done => {
                    self.fk_parent_changed(def, &old, Some(&row), 0).await?;
                    changed.rows.push(row);
                }
                WriteOutcome::NotVisible | WriteOutcome::SelfModified => {}
            }
        }
        Ok((format!("UPDATE {}", changed.rows.len()), changed))
    }

    // ------------------------------------------------------------------
    // DELETE
    // ------------------------------------------------------------------

    async fn exec_delete(
        &mut self,
        plan: &DmlPlan,
        params: &[ScalarValue],
        values: &[Value],
        view: &ReadView,
    ) -> SqlResult<(String, Changed)> {
        let DmlPlan::Delete { def, alias, filter, using, selection, .. } = plan else { unreachable!() };
        let layout = def.layout();
        let targets: Vec<(RowId, Vec<Value>)> = match filter {
            Filter::Key { index, values: kv, residual } => self.key_rows(def, *index, kv, residual.as_ref(), values, view)?,
            Filter::General => {
                let mut sql = format!(
                    "SELECT {}.\"__rowid\" FROM {}.{} AS {}",
                    quote(alias),
                    quote(&def.schema),
                    quote(&format!("{}{ROWID_SUFFIX}", def.name)),
                    quote(alias)
                );
                for u in using {
                    sql.push_str(&format!(", {u}"));
                }
                if let Some(w) = selection {
                    sql.push_str(&format!(" WHERE {w}"));
                }
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for r in Box::pin(self.general_rows(&sql, params)).await? {
                    let Some(rowid) = r[0].as_i64().map(|x| x as RowId) else { continue };
                    if !seen.insert(rowid) {
                        continue;
                    }
                    if let Some(current) = view.get(def, rowid) {
                        out.push((rowid, decode_row(&layout.types, &layout.missing, &current)));
                    }
                }
                out
            }
        };
        let mut changed = Changed { rows: Vec::new() };
        for (rowid, old) in targets {
            if self.delete_row(def, rowid, &old, 0).await? {
                changed.rows.push(old);
            }
        }
        Ok((format!("DELETE {}", changed.rows.len()), changed))
    }

    /// Deletes one row and applies foreign key actions on rows referencing it.
    fn delete_row<'a>(
        &'a mut self,
        def: &'a Arc<TableDef>,
        rowid: RowId,
        old: &'a [Value],
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = SqlResult<bool>> + Send + 'a>> {
        Box::pin(async move {
            let txn = self.txn.txn.as_mut().unwrap();
            match txn.delete(def, rowid).await? {
                WriteOutcome::Done => {
                    self.fk_parent_changed(def, old, None, depth).await?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    // ------------------------------------------------------------------
    // INSERT
    // ------------------------------------------------------------------

    async fn exec_insert(&mut self, plan: &DmlPlan, params: &[ScalarValue], values: &[Value]) -> SqlResult<(String, Changed)> {
        let DmlPlan::Insert { def, columns, source, on_conflict, ignored, implicit_columns, .. } = plan else { unreachable!() };
        let zone = self.env.zone();
        let defaults = self.compiled_defaults(def)?;
        // Source rows: values for `columns`, None = DEFAULT.
        let source_rows: Vec<Vec<Option<Value>>> = match source {
            InsertSource::DefaultValues => vec![vec![None; columns.len()]],
            InsertSource::Values(rows) => {
                let env = self.env.clone();
                let mut next = move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut vals = Vec::with_capacity(r.len());
                    for (i, ex) in r.iter().enumerate() {
                        vals.push(match ex {
                            None => None,
                            Some(ex) => {
                                let mut e = self.eval_env(&[], values, &zone, &mut next);
                                Some(expr::eval_typed(ex, &mut e, Some(&def.columns[columns[i]].ty))?)
                            }
                        });
                    }
                    out.push(vals);
                }
                out
            }
            InsertSource::Query(q) => {
                let mut rows = Box::pin(self.query_source_rows(q, columns.len(), *implicit_columns, params)).await?;
                for row in &mut rows {
                    for &k in ignored {
                        row[k] = None;
                    }
                }
                rows
            }
        };
        let mut changed = Changed { rows: Vec::new() };
        let mut inserted = 0u64;
        let generator = self.generator(def).await?;
        for src in source_rows {
            // Defaults for the columns not named and for those given as DEFAULT.
            let explicit: Vec<usize> = src.iter().enumerate().filter(|(_, v)| v.is_some()).map(|(i, _)| columns[i]).collect();
            let mut row = self.default_row(def, &defaults, &explicit, &zone)?;
            for (i, v) in src.into_iter().enumerate() {
                if let Some(v) = v {
                    row[columns[i]] = expr::assign_column(v, &def.columns[columns[i]], &zone)?;
                }
            }
            if let Some(g) = &generator {
                self.fill_generated(g, def, &mut row).await?;
            }
            self.check_constraints(def, &row)?;
            self.check_fk_child(def, &row, None).await?;
            match on_conflict {
                None => {
                    self.txn.txn.as_mut().unwrap().insert(def, row.clone()).await?;
                    inserted += 1;
                    changed.rows.push(row);
                }
                Some(oc) => {
                    if let Some(r) = Box::pin(self.insert_on_conflict(def, oc, row, &zone, generator.as_ref())).await? {
                        inserted += 1;
                        changed.rows.push(r);
                    }
                }
            }
        }
        Ok((format!("INSERT 0 {inserted}"), changed))
    }

    /// INSERT … ON CONFLICT: returns the row inserted or updated (None: nothing done).
    /// The rows of `INSERT … SELECT`: the query run through DataFusion.
    /// With `implicit_columns` (no column list) a query with fewer columns
    /// fills the first ones; the rest are None (their defaults).
    async fn query_source_rows(
        &mut self,
        q: &Query,
        ncolumns: usize,
        implicit_columns: bool,
        params: &[ScalarValue],
    ) -> SqlResult<Vec<Vec<Option<Value>>>> {
        let stmt = Statement::Query(Box::new(q.clone()));
        let plan = self.plan_sql(&stmt).await?;
        let n = plan.schema().fields().len();
        if n != ncolumns && !(implicit_columns && n < ncolumns) {
            return Err(SqlError::syntax(if n > ncolumns {
                "INSERT has more expressions than target columns"
            } else {
                "INSERT has more target columns than expressions"
            }));
        }
        let bound = query::bind(&plan, params)?;
        let stream = query::execute(&self.df, &bound).await?;
        let mut rs = RowStream::from_stream(vec![], stream, Tag::Select);
        let mut out = Vec::new();
        for b in rs.collect_batches().await? {
            for i in 0..b.num_rows() {
                let mut row = Vec::with_capacity(n);
                for c in b.columns() {
                    let s = ScalarValue::try_from_array(c, i)?;
                    row.push(Some(
                        scalar_to_value(&s)
                            .ok_or_else(|| SqlError::new("42804", format!("value of type {} cannot be inserted", s.data_type())))?,
                    ));
                }
                row.resize(ncolumns, None);
                out.push(row);
            }
        }
        Ok(out)
    }

    async fn insert_on_conflict(
        &mut self,
        def: &Arc<TableDef>,
        oc: &OnConflict,
        row: Vec<Value>,
        zone: &crate::pg::datetime::Zone,
        generator: Option<&Generator>,
    ) -> SqlResult<Option<Vec<Value>>> {
        let indexes: Vec<_> = def.indexes.iter().filter(|i| i.unique && oc.index.is_none_or(|x| x == i.id)).cloned().collect();
        loop {
            // Does a row with one of these keys exist (latest state)?
            let mut existing = None;
            for idx in &indexes {
                let key: Vec<Value> = idx.columns.iter().map(|&c| row[c].clone()).collect();
                if key.iter().any(|v| v.is_null()) {
                    continue;
                }
                let txn = self.txn.txn.as_mut().unwrap();
                let rows = txn.latest_rows_with(def, &idx.columns, &key).await?;
                if let Some(r) = rows.first() {
                    existing = Some(*r);
                    break;
                }
            }
            if let Some(rowid) = existing {
                let Some(sets) = &oc.update else { return Ok(None) };
                let view = self.txn.txn.as_ref().unwrap().read_view();
                let layout = def.layout();
                let Some(current) = view.get(def, rowid) else {
                    // Committed after our snapshot: READ COMMITTED re-runs the statement.
                    return match self.txn.txn.as_ref().unwrap().isolation() {
                        duetdb_storage::Isolation::ReadCommitted => Err(SqlError::new(crate::error::RETRY_STATEMENT, "retry")),
                        _ => Err(SqlError::new("40001", "could not serialize access due to concurrent update")),
                    };
                };
                let old = decode_row(&layout.types, &layout.missing, &current);
                let mut both = old.clone();
                both.extend(row.iter().cloned());
                let env = self.env.clone();
                let mut next = move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
                if let Some(w) = &oc.update_where {
                    let mut e = self.eval_env(&both, &[], zone, &mut next);
                    if expr::eval(w, &mut e)? != Value::Bool(true) {
                        return Ok(None);
                    }
                }
                let mut new = old.clone();
                for (c, ex) in sets {
                    let mut e = self.eval_env(&both, &[], zone, &mut next);
                    new[*c] = expr::assign_column(expr::eval_typed(ex, &mut e, Some(&def.columns[*c].ty))?, &def.columns[*c], zone)?;
                }
                if let Some(g) = generator {
                    self.fill_generated(g, def, &mut new).await?;
                }
                self.check_constraints(def, &new)?;
                self.check_fk_child(def, &new, Some(&old)).await?;
                let txn = self.txn.txn.as_mut().unwrap();
                return match txn.update(def, rowid, new.clone()).await? {
                    WriteOutcome::Done => {
                        self.fk_parent_changed(def, &old, Some(&new), 0).await?;
                        Ok(Some(new))
                    }
                    WriteOutcome::SelfModified => {
                        Err(SqlError::new("21000", "ON CONFLICT DO UPDATE command cannot affect row a second time").with_hint(
                            "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
                        ))
                    }
                    WriteOutcome::NotVisible => Ok(None),
                };
            }
            // No conflict seen: insert, but a concurrent insert may still win the race.
            let txn = self.txn.txn.as_mut().unwrap();
            txn.savepoint("__on_conflict")?;
            match txn.insert(def, row.clone()).await {
                Ok(_) => {
                    txn.release_savepoint("__on_conflict")?;
                    return Ok(Some(row));
                }
                Err(duetdb_storage::Error::UniqueViolation { .. }) => {
                    txn.rollback_to_savepoint("__on_conflict")?;
                    txn.release_savepoint("__on_conflict")?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Compiled DEFAULT expressions of a table, by physical column.
    fn compiled_defaults(&self, def: &TableDef) -> SqlResult<Vec<Option<Ex>>> {
        let mut out = Vec::with_capacity(def.columns.len());
        for c in &def.columns {
            out.push(match (&c.default, c.dropped) {
                (Some(d), false) => Some(
                    compile_default(d).ok_or_else(|| SqlError::unsupported(format!("DEFAULT expression {d} of column \"{}\"", c.name)))?,
                ),
                _ => None,
            });
        }
        Ok(out)
    }

    /// A full physical row of defaults (for the columns not given).
    fn default_row(
        &self,
        def: &TableDef,
        defaults: &[Option<Ex>],
        given: &[usize],
        zone: &crate::pg::datetime::Zone,
    ) -> SqlResult<Vec<Value>> {
        let env = self.env.clone();
        let mut next = move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
        let mut row = Vec::with_capacity(def.columns.len());
        for (i, c) in def.columns.iter().enumerate() {
            if c.dropped || given.contains(&i) {
                row.push(Value::Null);
                continue;
            }
            row.push(match &defaults[i] {
                Some(ex) => {
                    let mut e = self.eval_env(&[], &[], zone, &mut next);
                    let v = expr::eval_typed(ex, &mut e, Some(&c.ty))?;
                    expr::assign(v, &c.ty, zone)?
                }
                None => Value::Null,
            });
        }
        Ok(row)
    }

    // ------------------------------------------------------------------
    // Constraints
    // ------------------------------------------------------------------

    pub(super) fn check_constraints(&self, def: &TableDef, row: &[Value]) -> SqlResult<()> {
        if def.checks.is_empty() {
            return Ok(());
        }
        let zone = self.env.zone();
        let resolve = |n: &str| def.column_index(n);
        for c in &def.checks {
            let e = parse::stored_expr(&c.expr).ok_or_else(|| SqlError::internal(format!("CHECK {} does not parse", c.expr)))?;
            let ex = expr::compile(&e, Some(&resolve)).ok_or_else(|| SqlError::unsupported(format!("CHECK ({})", c.expr)))?;
            let mut never = |_: &str| -> SqlResult<i64> { Err(SqlError::unsupported("nextval() in CHECK")) };
            let mut env = self.eval_env(row, &[], &zone, &mut never);
            if expr::eval(&ex, &mut env)? == Value::Bool(false) {
                return Err(SqlError::new(
                    "23514",
                    format!("new row for relation \"{}\" violates check constraint \"{}\"", def.name, c.name),
                )
                .with_detail(failing_row(def, row, &self.env.style())));
            }
        }
        Ok(())
    }

    /// The referenced row must exist for every foreign key of `def` (MATCH SIMPLE:
    /// a NULL in the key skips the check). On UPDATE, unchanged keys are not re-checked.
    pub(super) async fn check_fk_child(&mut self, def: &Arc<TableDef>, row: &[Value], old: Option<&[Value]>) -> SqlResult<()> {
        if def.foreign_keys.is_empty() {
            return Ok(());
        }
        let catalog = self.txn.txn.as_ref().unwrap().catalog();
        for fk in &def.foreign_keys {
            let key: Vec<Value> = fk.columns.iter().map(|&c| row[c].clone()).collect();
            if key.iter().any(|v| v.is_null()) {
                continue;
            }
            if let Some(old) = old
                && fk.columns.iter().all(|&c| old[c] == row[c])
            {
                continue;
            }
            let parent = catalog.tables.get(&fk.ref_table).cloned().ok_or_else(|| SqlError::internal("referenced table vanished"))?;
            let key: Vec<Value> =
                fk.ref_columns.iter().zip(&key).map(|(&c, v)| parent.columns[c].ty.coerce(v.clone())).collect::<Result<_, _>>()?;
            let found = self.txn.txn.as_mut().unwrap().latest_rows_with(&parent, &fk.ref_columns, &key).await?;
            if found.is_empty() {
                return Err(SqlError::new(
                    "23503",
                    format!("insert or update on table \"{}\" violates foreign key constraint \"{}\"", def.name, fk.name),
                )
                .with_detail(format!(
                    "Key ({})=({}) is not present in table \"{}\".",
                    fk.columns.iter().map(|&c| def.columns[c].name.clone()).collect::<Vec<_>>().join(", "),
                    key.iter().map(expr::display).collect::<Vec<_>>().join(", "),
                    parent.name
                )));
            }
        }
        Ok(())
    }

    /// A row of a referenced table was deleted (`new` None) or updated: apply
    /// each referencing foreign key's action to the rows that pointed at it.
    fn fk_parent_changed<'a>(
        &'a mut self,
        def: &'a Arc<TableDef>,
        old: &'a [Value],
        new: Option<&'a [Value]>,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = SqlResult<()>> + Send + 'a>> {
        Box::pin(async move {
            let catalog = self.txn.txn.as_ref().unwrap().catalog();
            let refs: Vec<(Arc<TableDef>, ForeignKeyDef)> = catalog.referencing(def.id).map(|(t, fk)| (t.clone(), fk.clone())).collect();
            if refs.is_empty() {
                return Ok(());
            }
            if depth > MAX_FK_DEPTH {
                return Err(SqlError::new("54001", "foreign key actions nested too deeply"));
            }
            for (child, fk) in refs {
                let key: Vec<Value> = fk.ref_columns.iter().map(|&c| old[c].clone()).collect();
                if key.iter().any(|v| v.is_null()) {
                    continue;
                }
                if let Some(new) = new
                    && fk.ref_columns.iter().all(|&c| old[c] == new[c])
                {
                    continue;
                }
                let ckey: Vec<Value> =
                    fk.columns.iter().zip(&key).map(|(&c, v)| child.columns[c].ty.coerce(v.clone())).collect::<Result<_, _>>()?;
                let rows = self.txn.txn.as_mut().unwrap().latest_rows_with(&child, &fk.columns, &ckey).await?;
                if rows.is_empty() {
                    continue;
                }
                let action = if new.is_some() { fk.on_update } else { fk.on_delete };
                let violation = || {
                    SqlError::new(
                        "23503",
                        format!(
                            "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                            def.name, fk.name, child.name
                        ),
                    )
                    .with_detail(format!(
                        "Key ({})=({}) is still referenced from table \"{}\".",
                        fk.ref_columns.iter().map(|&c| def.columns[c].name.clone()).collect::<Vec<_>>().join(", "),
                        key.iter().map(expr::display).collect::<Vec<_>>().join(", "),
                        child.name
                    ))
                };
                match action {
                    FkAction::NoAction | FkAction::Restrict => return Err(violation()),
                    FkAction::Cascade | FkAction::SetNull | FkAction::SetDefault => {
                        let view = self.txn.txn.as_ref().unwrap().read_view();
                        let layout = child.layout();
                        let zone = self.env.zone();
                        let generator = self.generator(&child).await?;
                        for r in rows {
                            let Some(bytes) = view.get(&child, r) else {
                                // A referencing row our snapshot cannot see: we cannot act on it.
                                return Err(SqlError::new("40001", "could not serialize access due to concurrent update"));
                            };
                            let crow = decode_row(&layout.types, &layout.missing, &bytes);
                            match (action, new) {
                                (FkAction::Cascade, None) => {
                                    self.delete_row(&child, r, &crow, depth + 1).await?;
                                }
                                _ => {
                                    let mut updated = crow.clone();
                                    for (k, &c) in fk.columns.iter().enumerate() {
                                        updated[c] = match (action, new) {
                                            (FkAction::Cascade, Some(new)) => new[fk.ref_columns[k]].clone(),
                                            (FkAction::SetNull, _) => Value::Null,
                                            _ => match &child.columns[c].default {
                                                Some(d) => {
                                                    let ex =
                                                        compile_default(d).ok_or_else(|| SqlError::unsupported(format!("DEFAULT {d}")))?;
                                                    let env = self.env.clone();
                                                    let mut next =
                                                        move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
                                                    let mut e = self.eval_env(&[], &[], &zone, &mut next);
                                                    expr::assign(
                                                        expr::eval_typed(&ex, &mut e, Some(&child.columns[c].ty))?,
                                                        &child.columns[c].ty,
                                                        &zone,
                                                    )?
                                                }
                                                None => Value::Null,
                                            },
                                        };
                                    }
                                    if let Some(g) = &generator {
                                        self.fill_generated(g, &child, &mut updated).await?;
                                    }
                                    let txn = self.txn.txn.as_mut().unwrap();
                                    txn.update(&child, r, updated.clone()).await?;
                                    self.fk_parent_changed(&child, &crow, Some(&updated), depth + 1).await?;
                                }
                            }
                        }
                    }
                }
            }
            Ok(())
        })
    }

    // ------------------------------------------------------------------
    // RETURNING
    // ------------------------------------------------------------------

    /// Evaluates RETURNING items over the changed rows.
    async fn returning(
        &mut self,
        plan: &DmlPlan,
        items: &[SelectItem],
        rows: Vec<Vec<Value>>,
    ) -> SqlResult<(Vec<FieldInfo>, Vec<DataType>, Vec<Vec<Value>>)> {
        let def = plan.def();
        // Plain columns and `*`: project directly.
        if let Some(cols) = simple_returning(def, items) {
            let fields = cols.iter().map(|(c, name)| column_field(def, *c, name)).collect();
            let types = cols.iter().map(|(c, _)| def.columns[*c].ty.clone()).collect();
            let out = rows.into_iter().map(|r| cols.iter().map(|(c, _)| r[*c].clone()).collect()).collect();
            return Ok((fields, types, out));
        }
        // Anything else: DataFusion over the rows, written as a VALUES list.
        let sql = returning_sql(def, items, &rows);
        let out = self.general_rows(&sql, &[]).await?;
        let piece = parse::Piece { text: sql, offset: 0 };
        let parse::Parsed::Sql(stmt) = parse::parse(&piece)? else { unreachable!() };
        let lp = self.plan_sql(&stmt).await?;
        let fields = query::fields_of(lp.schema());
        let types = lp.schema().fields().iter().map(|f| arrow_to_engine(f.data_type())).collect::<SqlResult<Vec<_>>>()?;
        Ok((fields, types, out))
    }

    /// Row description of a DML statement's RETURNING (for Describe).
    pub async fn dml_returning_fields(&mut self, plan: &DmlPlan, _stmt: &Statement) -> SqlResult<Option<Vec<FieldInfo>>> {
        let Some(items) = plan.returning() else { return Ok(None) };
        let def = plan.def();
        if let Some(cols) = simple_returning(def, items) {
            return Ok(Some(cols.iter().map(|(c, name)| column_field(def, *c, name)).collect()));
        }
        let sql = returning_sql(def, items, &[]);
        let piece = parse::Piece { text: sql, offset: 0 };
        let parse::Parsed::Sql(stmt) = parse::parse(&piece)? else { unreachable!() };
        let lp = self.plan_sql(&stmt).await?;
        Ok(Some(query::fields_of(lp.schema())))
    }

    // ------------------------------------------------------------------
    // Key-lookup SELECT (fast path)
    // ------------------------------------------------------------------

    /// Serves `SELECT cols FROM t WHERE <unique key> = …` without DataFusion.
    pub async fn fast_select(
        &mut self,
        stmt: &Statement,
        params: &[ScalarValue],
        prepared: Option<&Prepared>,
    ) -> SqlResult<Option<Outcome>> {
        // Only when the statement's shape allows it; decided once per prepared statement.
        // Outside a transaction block the lookup needs no transaction: it reads
        // through an engine reader (a snapshot, no id, nothing to commit).
        let reader = self.autocommit_reader()?;
        let statement_view;
        let view = match &reader {
            Some(r) => r.view(),
            None => {
                statement_view = self.begin_statement()?;
                &statement_view
            }
        };
        let key = Arc::as_ptr(&view.catalog) as usize;
        let plan = match prepared {
            Some(p) => {
                let cached = match &*p.plan.lock() {
                    Some(CachedPlan::Dml { plan, catalog }) if *catalog == key => Some(plan.clone()),
                    Some(CachedPlan::Query { catalog, .. }) if *catalog == key => return Ok(None),
                    _ => None,
                };
                match cached {
                    Some(p) => p,
                    None if p.template => return Err(SqlError::stale_template()),
                    None => match dmlplan::plan_select(stmt, &view.catalog) {
                        Some(plan) => {
                            let plan = Arc::new(plan);
                            *p.plan.lock() = Some(CachedPlan::Dml { plan: plan.clone(), catalog: key });
                            plan
                        }
                        None => return Ok(None),
                    },
                }
            }
            None => match dmlplan::plan_select(stmt, &view.catalog) {
                Some(p) => Arc::new(p),
                None => return Ok(None),
            },
        };
        let DmlPlan::Select { def, columns, names, filter: Filter::Key { index, values: kv, residual } } = plan.as_ref() else {
            return Ok(None);
        };
        let values: Vec<Value> = params.iter().map(|p| scalar_to_value(p).unwrap_or(Value::Null)).collect();
        let rows = self.key_rows(def, *index, kv, residual.as_ref(), &values, view)?;
        let fields = columns.iter().zip(names).map(|(c, n)| column_field(def, *c, n)).collect();
        let types = columns.iter().map(|c| def.columns[*c].ty.clone()).collect();
        let out = rows.into_iter().map(|(_, r)| columns.iter().map(|c| r[*c].clone()).collect()).collect();
        Ok(Some(Outcome::Rows(RowStream::from_values(fields, types, out, Tag::Select))))
    }
}

/// PostgreSQL's "Failing row contains (…)": the live columns as text, NULL as `null`.
fn failing_row(def: &TableDef, row: &[Value], style: &crate::pg::encode::Style) -> String {
    let values: Vec<String> = def
        .live_columns()
        .map(|(i, _)| match &row[i] {
            Value::Null => "null".to_string(),
            v => crate::pg::encode::value_text(v, style),
        })
        .collect();
    format!("Failing row contains ({}).", values.join(", "))
}

pub(super) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn column_field(def: &TableDef, c: usize, name: &str) -> FieldInfo {
    FieldInfo {
        name: name.to_string(),
        ty: PgType::of(&def.columns[c].ty),
        table_oid: def.id,
        attnum: c as i16 + 1,
        format: crate::pg::encode::Format::Text,
        numeric: crate::pg::encode::NumericDisplay::Column,
    }
}

/// RETURNING made only of columns / `*` / `col AS name`: (column, output name).
fn simple_returning(def: &TableDef, items: &[SelectItem]) -> Option<Vec<(usize, String)>> {
    let mut out = Vec::new();
    for it in items {
        match it {
            SelectItem::Wildcard(_) => out.extend(def.live_columns().map(|(i, c)| (i, c.name.clone()))),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => {
                let n = names::ident(i);
                out.push((def.column_index(&n)?, n));
            }
            SelectItem::ExprWithAlias { expr: Expr::Identifier(i), alias } => {
                out.push((def.column_index(&names::ident(i))?, names::ident(alias)));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `SELECT <items> FROM (VALUES (…), …) AS t(cols)` over the changed rows.
fn returning_sql(def: &TableDef, items: &[SelectItem], rows: &[Vec<Value>]) -> String {
    let live: Vec<(usize, &duetdb_storage::ColumnDef)> = def.live_columns().collect();
    let cols = live.iter().map(|(_, c)| quote(&c.name)).collect::<Vec<_>>().join(", ");
    let items = items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let values = if rows.is_empty() {
        let nulls = live.iter().map(|(_, c)| format!("CAST(NULL AS {})", c.ty.pg_name())).collect::<Vec<_>>().join(", ");
        format!("(VALUES ({nulls})) AS {}({cols}) WHERE false", quote(&def.name))
    } else {
        let rows = rows
            .iter()
            .map(|r| format!("({})", live.iter().map(|(i, c)| sql_literal(&r[*i], &c.ty)).collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join(", ");
        format!("(VALUES {rows}) AS {}({cols})", quote(&def.name))
    };
    format!("SELECT {items} FROM {values}")
}

/// A value as a typed SQL literal.
pub fn sql_literal(v: &Value, ty: &DataType) -> String {
    let t = ty.pg_name();
    match v {
        Value::Null => format!("CAST(NULL AS {t})"),
        Value::Bool(b) => b.to_string(),
        v => {
            let text = crate::pg::encode::value_text(v, &Default::default());
            format!("CAST('{}' AS {t})", text.replace('\'', "''"))
        }
    }
}

fn arrow_to_engine(t: &datafusion::arrow::datatypes::DataType) -> SqlResult<DataType> {
    use datafusion::arrow::datatypes::DataType as A;
    Ok(match t {
        A::Boolean => DataType::Bool,
        A::Int8 | A::Int16 | A::UInt8 => DataType::Int16,
        A::Int32 | A::UInt16 => DataType::Int32,
        A::Int64 | A::UInt32 | A::UInt64 => DataType::Int64,
        A::Float32 => DataType::Float32,
        A::Float64 => DataType::Float64,
        A::Decimal128(p, s) => DataType::Numeric { precision: *p, scale: (*s).max(0) as u8, typmod: true },
        A::Utf8 | A::LargeUtf8 | A::Utf8View | A::Null => DataType::Text,
        A::Binary | A::LargeBinary | A::BinaryView => DataType::Bytea,
        A::Date32 | A::Date64 => DataType::Date,
        A::Timestamp(_, None) => DataType::Timestamp,
        A::Timestamp(_, Some(_)) => DataType::TimestampTz,
        other => return Err(SqlError::unsupported(format!("RETURNING of type {other}"))),
    })
}

/// Compiles a stored DEFAULT expression.
pub fn compile_default(text: &str) -> Option<Ex> {
    expr::compile(&parse::stored_expr(text)?, None)
}

//! Running statements: dispatch, transaction control, queries, prepared
//! statements, portals and cursors.
//!
//! Every statement, whichever protocol brought it, goes through
//! [`Session::run`]: the statement (parsed once, at Parse or PREPARE), its
//! bound parameters, and an optional cached plan. Plans are cached in the
//! prepared statement and reused while the catalog they were made against is
//! still current.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::datatypes::DataType as A;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{
    BeginTransactionKind, CloseCursor, Expr, FetchDirection, Query, SetExpr, Statement, TransactionAccessMode, TransactionIsolationLevel,
    TransactionMode,
};
use duetdb_storage::{Catalog, Isolation};
use parking_lot::Mutex;

use super::Session;
use super::output::{Outcome, RowStream, Tag};
use crate::error::{RETRY_STATEMENT, STALE_TEMPLATE, SqlError, SqlResult};
use crate::pg::decode;
use crate::pg::encode::Format;
use crate::pg::oid::{self, PgType};
use crate::sql::dml_params;
use crate::sql::dmlplan::{self, DmlPlan};
use crate::sql::parse::{self, Parsed, Piece, Special};
use crate::sql::query::{self, FieldInfo};
use crate::sql::{names, provider};

/// A parsed statement.
pub enum Stmt {
    Sql(Box<Statement>),
    Special(Special),
    Empty,
}

impl Stmt {
    fn from_parsed(p: Parsed) -> Stmt {
        match p {
            Parsed::Empty => Stmt::Empty,
            Parsed::Special(s) => Stmt::Special(s),
            Parsed::Sql(s) => Stmt::Sql(s),
        }
    }
}

/// What a prepared statement remembers between executions.
pub enum CachedPlan {
    /// `system`: the plan reads session state through system tables, which
    /// must be republished before each run.
    Query {
        plan: LogicalPlan,
        catalog: usize,
        system: bool,
    },
    Dml {
        plan: Arc<DmlPlan>,
        catalog: usize,
    },
}

pub struct Prepared {
    pub name: String,
    pub sql: String,
    pub stmt: Stmt,
    /// Parameter type OIDs (declared at Parse, else inferred; 0 = unknown, read as text).
    pub param_types: Vec<u32>,
    /// Arrow types the planner inferred for parameters (decoding hints).
    pub param_hints: Vec<Option<A>>,
    /// Row description, or None for statements that return no rows.
    pub fields: Option<Vec<FieldInfo>>,
    pub plan: Mutex<Option<CachedPlan>>,
    pub from_sql: bool,
    /// A simple-query template (see `template`): never re-planned in place.
    pub template: bool,
    pub created: i64,
}

pub enum PortalState {
    NotStarted,
    Running(RowStream),
    Done,
}

pub struct Portal {
    pub stmt: Arc<Prepared>,
    pub params: Vec<ScalarValue>,
    pub result_formats: Vec<i16>,
    pub state: PortalState,
}

impl Portal {
    pub fn holdable(&self) -> bool {
        false
    }
}

pub struct Cursor {
    pub stream: RowStream,
    pub query: String,
}

fn catalog_key(c: &Arc<Catalog>) -> usize {
    Arc::as_ptr(c) as usize
}

impl Session {
    // ------------------------------------------------------------------
    // Entry points
    // ------------------------------------------------------------------

    /// Parses one piece of a simple Query and runs it.
    pub async fn run_text(&mut self, piece: &Piece) -> SqlResult<Outcome> {
        if let Some(c) = &self.activity {
            c.set_query(&piece.text);
        }
        if let Some(outcome) = self.run_template(&piece.text).await {
            return outcome;
        }
        let parsed = parse::parse(piece)?;
        let stmt = Stmt::from_parsed(parsed);
        self.run(&stmt, &piece.text, &[], None).await
    }

    /// Runs a statement with bound parameters; `prepared` carries a plan cache.
    pub async fn run(&mut self, stmt: &Stmt, sql: &str, params: &[ScalarValue], prepared: Option<&Prepared>) -> SqlResult<Outcome> {
        self.env.cancelled.store(false, Ordering::Relaxed);
        let result = self.dispatch(stmt, sql, params, prepared).await;
        // A stale template did nothing yet: the caller parses the text afresh.
        if let Err(e) = &result
            && !is_txn_control(stmt)
            && e.code != STALE_TEMPLATE
        {
            self.statement_failed();
        }
        result
    }

    /// Every branch off the OLTP path (DDL, COPY, EXPLAIN, cursors, planning
    /// through DataFusion) is awaited through `Box::pin`. A future holds the
    /// largest of the futures it awaits inline, and moving it copies all of it:
    /// with those branches inline, a prepared `UPDATE … WHERE key = $1` carried
    /// a 30 KB future that was copied several times per statement (memcpy was
    /// 11 % of server CPU in tpcb at opt-level 2). Boxed, it is 2.3 KB.
    async fn dispatch(&mut self, stmt: &Stmt, sql: &str, params: &[ScalarValue], prepared: Option<&Prepared>) -> SqlResult<Outcome> {
        let s = match stmt {
            Stmt::Empty => return Ok(Outcome::Empty),
            Stmt::Special(sp) => {
                self.check_not_failed_special(sp)?;
                return Box::pin(self.run_special(sp)).await;
            }
            Stmt::Sql(s) => s.as_ref(),
        };
        if self.txn.failed && !is_txn_control(stmt) {
            return Err(SqlError::aborted_transaction());
        }
        match s {
            Statement::StartTransaction { modes, begin, transaction, .. } => {
                let _ = (begin, transaction);
                self.begin_block(modes)
            }
            Statement::Commit { chain, .. } => {
                let _ = chain;
                self.commit_block().await
            }
            Statement::Rollback { savepoint: Some(name), .. } => self.rollback_to(&names::ident(name)),
            Statement::Rollback { .. } => self.rollback_block(),
            Statement::Savepoint { name } => self.savepoint(&names::ident(name)),
            Statement::ReleaseSavepoint { name } => self.release(&names::ident(name)),
            Statement::Query(q) => self.run_query(q, s, params, prepared).await,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => self.run_dml(s, params, prepared).await,
            Statement::Copy { .. } => Box::pin(self.start_copy(s)).await,
            Statement::Explain { statement, analyze, verbose, .. } => Box::pin(self.explain(statement, *analyze, *verbose, params)).await,
            Statement::Prepare { name, data_types, statement } => {
                let text = statement.to_string();
                let types: Vec<u32> = data_types.iter().map(|t| oid::oid_for_name(&t.to_string()).unwrap_or(0)).collect();
                let p = Box::pin(self.prepare_statement(&names::ident(name), Stmt::Sql(statement.clone()), &text, &types, true)).await?;
                self.prepared.insert(p.name.clone(), Arc::new(p));
                Ok(Outcome::Command("PREPARE".into()))
            }
            Statement::Execute { name, parameters, .. } => {
                let name = name.as_ref().map(names::last).unwrap_or_default();
                let p = self
                    .prepared
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| SqlError::new("26000", format!("prepared statement \"{name}\" does not exist")))?;
                let values = self.eval_constants(parameters, &p)?;
                let outcome = Box::pin(self.run(&p.stmt, &p.sql, &values, Some(&p))).await?;
                Ok(outcome)
            }
            Statement::Deallocate { name, .. } => {
                let n = names::ident(name);
                if self.prepared.remove(&n).is_none() {
                    return Err(SqlError::new("26000", format!("prepared statement \"{n}\" does not exist")));
                }
                Ok(Outcome::Command("DEALLOCATE".into()))
            }
            Statement::Declare { stmts } => Box::pin(self.declare(stmts, sql)).await,
            Statement::Fetch { name, direction, .. } => Box::pin(self.fetch(&names::ident(name), direction)).await,
            Statement::Close { cursor } => {
                match cursor {
                    CloseCursor::All => self.cursors.clear(),
                    CloseCursor::Specific { name } => {
                        let n = names::ident(name);
                        if self.cursors.remove(&n).is_none() {
                            return Err(SqlError::new("34000", format!("cursor \"{n}\" does not exist")));
                        }
                    }
                }
                Ok(Outcome::Command("CLOSE CURSOR".into()))
            }
            Statement::Set(_) | Statement::ShowVariable { .. } | Statement::Reset(_) | Statement::ShowVariables { .. } => {
                self.run_utility(s).await
            }
            _ => Box::pin(self.run_ddl(s)).await,
        }
    }

    fn check_not_failed_special(&self, sp: &Special) -> SqlResult<()> {
        if self.txn.failed && !matches!(sp, Special::Discard) {
            return Err(SqlError::aborted_transaction());
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Transaction control
    // ------------------------------------------------------------------

    fn begin_block(&mut self, modes: &[TransactionMode]) -> SqlResult<Outcome> {
        if self.txn.explicit {
            self.notice("WARNING", "there is already a transaction in progress");
            return Ok(Outcome::Command("BEGIN".into()));
        }
        self.txn.explicit = true;
        self.set_transaction_modes(modes)?;
        Ok(Outcome::Command("BEGIN".into()))
    }

    fn set_transaction_modes(&mut self, modes: &[TransactionMode]) -> SqlResult<()> {
        for m in modes {
            match m {
                TransactionMode::IsolationLevel(l) => {
                    let iso = match l {
                        TransactionIsolationLevel::RepeatableRead | TransactionIsolationLevel::Serializable => Isolation::RepeatableRead,
                        _ => Isolation::ReadCommitted,
                    };
                    if let Some(t) = self.txn.txn.as_mut() {
                        t.set_isolation(iso)?;
                    }
                    self.txn.isolation = Some(iso);
                }
                TransactionMode::AccessMode(a) => {
                    let ro = matches!(a, TransactionAccessMode::ReadOnly);
                    if let Some(t) = self.txn.txn.as_mut() {
                        t.set_read_only(ro)?;
                    }
                    self.txn.read_only = Some(ro);
                }
            }
        }
        Ok(())
    }

    async fn commit_block(&mut self) -> SqlResult<Outcome> {
        if !self.txn.explicit {
            self.notice("WARNING", "there is no transaction in progress");
            return Ok(Outcome::Command("COMMIT".into()));
        }
        if self.txn.failed {
            self.rollback_txn();
            return Ok(Outcome::Command("ROLLBACK".into()));
        }
        self.commit_txn().await?;
        Ok(Outcome::Command("COMMIT".into()))
    }

    fn rollback_block(&mut self) -> SqlResult<Outcome> {
        if !self.txn.explicit {
            self.notice("WARNING", "there is no transaction in progress");
        }
        self.rollback_txn();
        Ok(Outcome::Command("ROLLBACK".into()))
    }

    fn savepoint(&mut self, name: &str) -> SqlResult<Outcome> {
        if !self.txn.explicit {
            return Err(SqlError::new("25P01", "SAVEPOINT can only be used in transaction blocks"));
        }
        self.txn_mut()?.savepoint(name)?;
        self.txn.savepoints.push(name.to_string());
        Ok(Outcome::Command("SAVEPOINT".into()))
    }

    fn release(&mut self, name: &str) -> SqlResult<Outcome> {
        if !self.txn.explicit {
            return Err(SqlError::new("25P01", "RELEASE SAVEPOINT can only be used in transaction blocks"));
        }
        if self.txn.failed {
            return Err(SqlError::aborted_transaction());
        }
        self.txn_mut()?.release_savepoint(name)?;
        if let Some(p) = self.txn.savepoints.iter().rposition(|s| s == name) {
            self.txn.savepoints.truncate(p);
        }
        Ok(Outcome::Command("RELEASE".into()))
    }

    fn rollback_to(&mut self, name: &str) -> SqlResult<Outcome> {
        if !self.txn.explicit {
            return Err(SqlError::new("25P01", "ROLLBACK TO SAVEPOINT can only be used in transaction blocks"));
        }
        let Some(txn) = self.txn.txn.as_mut() else {
            return Err(SqlError::new("3B001", format!("savepoint \"{name}\" does not exist")));
        };
        txn.rollback_to_savepoint(name)?;
        if let Some(p) = self.txn.savepoints.iter().rposition(|s| s == name) {
            self.txn.savepoints.truncate(p + 1);
        }
        self.txn.failed = false;
        Ok(Outcome::Command("ROLLBACK".into()))
    }

    // ------------------------------------------------------------------
    // Queries
    // ------------------------------------------------------------------

    /// Plans `stmt` against the current view: views expanded, catalog-query fixes applied.
    pub async fn plan_sql(&mut self, stmt: &Statement) -> SqlResult<LogicalPlan> {
        // Boxed: the statement copy and DataFusion's planner live on the heap,
        // not inside every statement future that can reach planning.
        Box::pin(self.plan_sql_boxed(stmt)).await
    }

    async fn plan_sql_boxed(&mut self, stmt: &Statement) -> SqlResult<LogicalPlan> {
        let catalog = self.env.catalog_now();
        let mut s = stmt.clone();
        query::expand_views(&mut s, &catalog)?;
        if query::touches_system_catalog(&s) {
            self.publish_system_view();
            crate::sql::catalog_queries::fix(&mut s);
        }
        query::plan(&self.df, &s).await
    }

    async fn run_query(&mut self, q: &Query, stmt: &Statement, params: &[ScalarValue], prepared: Option<&Prepared>) -> SqlResult<Outcome> {
        if self.server().is_standby() {
            return Box::pin(self.run_standby_query(q, stmt, params)).await;
        }
        if query::locking(q) {
            return Box::pin(self.select_for_update(q, params)).await;
        }
        if let Some(out) = self.fast_select(stmt, params, prepared).await? {
            return Ok(out);
        }
        Box::pin(self.run_planned_query(stmt, params, prepared)).await
    }

    /// A query through DataFusion: the plan cached in `prepared` if it is for
    /// this catalog, else planned now.
    async fn run_planned_query(&mut self, stmt: &Statement, params: &[ScalarValue], prepared: Option<&Prepared>) -> SqlResult<Outcome> {
        let view = self.begin_statement()?;
        let key = catalog_key(&view.catalog);
        let cached = prepared.and_then(|p| match &*p.plan.lock() {
            Some(CachedPlan::Query { plan, catalog, system }) if *catalog == key => Some((plan.clone(), *system)),
            _ => None,
        });
        let plan = match cached {
            Some((p, system)) => {
                if system {
                    self.publish_system_view();
                }
                p
            }
            None => {
                let p = self.plan_sql(stmt).await?;
                if let Some(prep) = prepared {
                    let system = query::touches_system_catalog(stmt);
                    *prep.plan.lock() = Some(CachedPlan::Query { plan: p.clone(), catalog: key, system });
                }
                p
            }
        };
        let fields = query::fields_of(plan.schema());
        let bound = query::bind(&plan, params)?;
        let stream = query::execute(&self.df, &bound).await?;
        Ok(Outcome::Rows(RowStream::from_stream(fields, stream, Tag::Select)))
    }

    /// A query on a standby: after `recovery_target_lsn` (read-your-writes) is
    /// replayed, planned afresh over this statement's column snapshot (a cached
    /// plan would hold an old snapshot's tables).
    async fn run_standby_query(&mut self, q: &Query, stmt: &Statement, params: &[ScalarValue]) -> SqlResult<Outcome> {
        if query::locking(q) {
            return Err(SqlError::new("25006", "cannot execute SELECT FOR UPDATE/SHARE in a read-only transaction")
                .with_hint("This server is a standby; send writes to the primary."));
        }
        let target = self.setting("recovery_target_lsn");
        if !target.trim().is_empty() {
            let target: duetdb_storage::Lsn = target.trim().parse().map_err(|e: String| SqlError::new("22023", e))?;
            let timeout = self.env.settings.lock().duration_ms("recovery_target_timeout");
            self.wait_for_replay(target, timeout).await?;
        }
        self.begin_statement()?;
        let plan = self.plan_sql(stmt).await?;
        let fields = query::fields_of(plan.schema());
        let bound = query::bind(&plan, params)?;
        let stream = query::execute(&self.df, &bound).await?;
        Ok(Outcome::Rows(RowStream::from_stream(fields, stream, Tag::Select)))
    }

    /// `SELECT … FOR UPDATE/SHARE` on one table: read the rows with their ids,
    /// lock each (waiting for other writers), then return them.
    async fn select_for_update(&mut self, q: &Query, params: &[ScalarValue]) -> SqlResult<Outcome> {
        let Some((schema, table, alias)) = query::single_table(q) else {
            return Err(SqlError::unsupported("FOR UPDATE/SHARE on a query other than a single-table SELECT"));
        };
        let mut inner = query::without_locks(q);
        // SELECT <alias>.__rowid, <original projection> FROM t$rowid AS <alias> …
        let qualifier = alias.clone().unwrap_or_else(|| table.clone());
        if let SetExpr::Select(sel) = inner.body.as_mut() {
            let rowid_col = Expr::CompoundIdentifier(vec![
                datafusion::sql::sqlparser::ast::Ident::new(&qualifier),
                datafusion::sql::sqlparser::ast::Ident::with_quote('"', duetdb_storage::arrow_conv::ROWID_COLUMN),
            ]);
            sel.projection.insert(0, datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(rowid_col));
            if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, alias: a, .. } = &mut sel.from[0].relation {
                *name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
                    datafusion::sql::sqlparser::ast::Ident::new(&schema),
                    datafusion::sql::sqlparser::ast::Ident::with_quote('"', format!("{table}{}", provider::ROWID_SUFFIX)),
                ]);
                if a.is_none() {
                    *a = Some(datafusion::sql::sqlparser::ast::TableAlias {
                        explicit: true,
                        name: datafusion::sql::sqlparser::ast::Ident::new(&table),
                        columns: vec![],
                        at: None,
                    });
                }
            }
        }
        let stmt = Statement::Query(Box::new(inner));
        loop {
            let view = self.begin_statement()?;
            let def = view
                .catalog
                .table_by_name(&schema, &table)
                .cloned()
                .ok_or_else(|| SqlError::new("42P01", format!("relation \"{table}\" does not exist")))?;
            let plan = self.plan_sql(&stmt).await?;
            let mut fields = query::fields_of(plan.schema());
            fields.remove(0);
            let bound = query::bind(&plan, params)?;
            let stream = query::execute(&self.df, &bound).await?;
            let mut rs = RowStream::from_stream(vec![], stream, Tag::Select);
            let batches = rs.collect_batches().await?;
            let mut out = Vec::new();
            let mut retry = false;
            'rows: for b in &batches {
                let ids = b.column(0).as_any().downcast_ref::<datafusion::arrow::array::UInt64Array>().unwrap();
                let mut keep = Vec::new();
                for i in 0..b.num_rows() {
                    let txn = self.txn.txn.as_mut().unwrap();
                    match txn.lock_row(&def, ids.value(i), duetdb_storage::RowLockMode::Update).await {
                        Ok(duetdb_storage::WriteOutcome::Done) => keep.push(i as u32),
                        Ok(_) => {}
                        Err(duetdb_storage::Error::RetryStatement) => {
                            retry = true;
                            break 'rows;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                let idx = datafusion::arrow::array::UInt32Array::from(keep);
                let taken = datafusion::arrow::compute::take_record_batch(b, &idx)?;
                out.push(taken.project(&(1..taken.num_columns()).collect::<Vec<_>>())?);
            }
            if retry {
                self.txn.txn.as_mut().unwrap().rollback_statement()?;
                continue;
            }
            return Ok(Outcome::Rows(RowStream::from_batches(fields, out, Tag::Select)));
        }
    }

    async fn explain(&mut self, inner: &Statement, analyze: bool, verbose: bool, params: &[ScalarValue]) -> SqlResult<Outcome> {
        let text = match inner {
            Statement::Query(_) => {
                self.begin_statement()?;
                let wrapped = Statement::Explain {
                    describe_alias: datafusion::sql::sqlparser::ast::DescribeAlias::Explain,
                    analyze,
                    verbose,
                    query_plan: false,
                    estimate: false,
                    statement: Box::new(inner.clone()),
                    format: None,
                    options: None,
                };
                let plan = self.plan_sql(&wrapped).await?;
                let bound = query::bind(&plan, params)?;
                let stream = query::execute(&self.df, &bound).await?;
                let mut rs = RowStream::from_stream(vec![], stream, Tag::Select);
                let batches = rs.collect_batches().await?;
                let mut lines = Vec::new();
                for b in batches {
                    let kinds = datafusion::arrow::compute::cast(b.column(0), &A::Utf8)?;
                    let plans = datafusion::arrow::compute::cast(b.column(1), &A::Utf8)?;
                    let kinds = kinds.as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
                    let plans = plans.as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
                    for i in 0..b.num_rows() {
                        lines.push(format!("{}:", kinds.value(i)));
                        lines.extend(plans.value(i).lines().map(|l| format!("  {l}")));
                    }
                }
                lines
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
                let view = self.begin_statement()?;
                let plan = dmlplan::plan(inner, &view.catalog)?;
                vec![plan.describe()]
            }
            other => vec![format!("Utility statement: {}", other.to_string().split_whitespace().next().unwrap_or(""))],
        };
        let rows = text.into_iter().map(|l| vec![duetdb_storage::Value::Text(l)]).collect();
        Ok(Outcome::Rows(RowStream::from_values(
            vec![FieldInfo::new("QUERY PLAN", PgType::new(oid::TEXT))],
            vec![duetdb_storage::DataType::Text],
            rows,
            Tag::Fixed("EXPLAIN".into()),
        )))
    }

    // ------------------------------------------------------------------
    // Prepared statements (Parse and PREPARE)
    // ------------------------------------------------------------------

    /// Parses and analyzes a statement: parameter types and result columns.
    pub async fn prepare_statement(
        &mut self,
        name: &str,
        mut stmt: Stmt,
        sql: &str,
        declared: &[u32],
        from_sql: bool,
    ) -> SqlResult<Prepared> {
        if let Stmt::Sql(s) = &mut stmt {
            query::cast_declared_intervals(s, declared);
        }
        let mut param_types: Vec<u32> = declared.to_vec();
        let mut hints: Vec<Option<A>> = Vec::new();
        let mut fields = None;
        let mut cached = None;
        let mut query_plan = None;
        if let Stmt::Sql(s) = &stmt {
            match s.as_ref() {
                Statement::Query(q) if !query::locking(q) => {
                    self.planning_view()?;
                    let plan = self.plan_sql(s).await?;
                    hints = merge_hints(query::cast_param_types(s), query::param_types(&plan)?);
                    fields = Some(query::fields_of(plan.schema()));
                    let view_catalog = self.env.slot.get().map(|v| v.catalog).ok();
                    let key = view_catalog.as_ref().map(catalog_key).unwrap_or(0);
                    // A key lookup (`SELECT … WHERE pk = $1`) runs on the fast path, not DataFusion.
                    let fast = view_catalog
                        .as_ref()
                        .and_then(|c| dmlplan::plan_select(s, c))
                        .filter(|p| matches!(p, DmlPlan::Select { filter: dmlplan::Filter::Key { .. }, .. }));
                    cached = Some(match fast {
                        Some(p) => CachedPlan::Dml { plan: Arc::new(p), catalog: key },
                        None => {
                            query_plan = Some(plan.clone());
                            CachedPlan::Query { plan, catalog: key, system: query::touches_system_catalog(s) }
                        }
                    });
                }
                Statement::Query(q) => {
                    self.planning_view()?;
                    let plan = self.plan_sql(&Statement::Query(Box::new(query::without_locks(q)))).await?;
                    hints = merge_hints(query::cast_param_types(s), query::param_types(&plan)?);
                    fields = Some(query::fields_of(plan.schema()));
                    query_plan = Some(plan);
                }
                Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
                    self.planning_view()?;
                    let catalog = self.env.catalog_now();
                    let plan = dmlplan::plan(s, &catalog)?;
                    hints = merge_hints(query::cast_param_types(s), plan.param_types());
                    let untyped = hints.len() < dml_params::max_placeholder(s) || hints.iter().any(Option::is_none);
                    // A probe that does not plan (a function DataFusion lacks)
                    // leaves the rest to the text default.
                    if untyped
                        && let Some(probe) = plan.probe_query()
                        && let Some(piece) = parse::split(&probe).first()
                        && let Ok(Parsed::Sql(probe)) = parse::parse(piece)
                        && let Ok(planned) = self.plan_sql(&probe).await
                    {
                        hints = merge_hints(hints, query::param_types(&planned).unwrap_or_default());
                    }
                    fields = self.dml_returning_fields(&plan, s).await?;
                    cached = Some(CachedPlan::Dml { plan: Arc::new(plan), catalog: catalog_key(&catalog) });
                }
                Statement::ShowVariable { variable } => {
                    fields = Some(vec![FieldInfo::new(names::ident(&variable[0]).to_lowercase(), PgType::new(oid::TEXT))]);
                }
                Statement::Explain { .. } => {
                    fields = Some(vec![FieldInfo::new("QUERY PLAN", PgType::new(oid::TEXT))]);
                }
                Statement::Execute { name, .. } => {
                    // The row shape of the prepared statement it runs.
                    let n = name.as_ref().map(names::last).unwrap_or_default();
                    fields = self.prepared.get(&n).and_then(|p| p.fields.clone());
                }
                Statement::Fetch { name, .. } => {
                    fields = self.cursors.get(&names::ident(name)).map(|c| c.stream.fields.clone());
                }
                _ => {}
            }
        }
        if let Stmt::Special(Special::ShowAll) = &stmt {
            fields = Some(vec![
                FieldInfo::new("name", PgType::new(oid::TEXT)),
                FieldInfo::new("setting", PgType::new(oid::TEXT)),
                FieldInfo::new("description", PgType::new(oid::TEXT)),
            ]);
        }
        if param_types.len() < hints.len() {
            param_types.resize(hints.len(), 0);
        }
        for (i, h) in hints.iter().enumerate() {
            if param_types[i] == 0
                && let Some(t) = h
            {
                param_types[i] = query::param_oid(t);
            }
        }
        // Describe what Execute will send: the columns once the parameters
        // have their types and the analyzer has typed the expressions
        // (`date + interval` is a timestamp, `$1::timestamp - $2` with $2 an
        // interval too). The unanalyzed plan is the fallback; a key lookup
        // (the fast path: columns of one row) needs no second look.
        if let Some(plan) = &query_plan
            && let Ok(described) = query::describe(&self.df, plan, &param_types)
        {
            fields = Some(described);
        }
        Ok(Prepared {
            name: name.to_string(),
            sql: sql.to_string(),
            stmt,
            param_types,
            param_hints: hints,
            fields,
            plan: Mutex::new(cached),
            from_sql,
            template: false,
            created: crate::pg::datetime::now_micros(),
        })
    }

    /// Parse message.
    pub async fn parse_message(&mut self, name: &str, sql: &str, declared: &[u32]) -> SqlResult<()> {
        if !name.is_empty() && self.prepared.contains_key(name) {
            return Err(SqlError::new("42P05", format!("prepared statement \"{name}\" already exists")));
        }
        let pieces = parse::split(sql);
        if pieces.len() > 1 {
            return Err(SqlError::syntax("cannot insert multiple commands into a prepared statement"));
        }
        let stmt = match pieces.first() {
            Some(p) => Stmt::from_parsed(parse::parse(p)?),
            None => Stmt::Empty,
        };
        let p = match self.prepare_statement(name, stmt, sql, declared, false).await {
            Ok(p) => p,
            Err(e) => {
                // Parsing outside a transaction must not leave a planning view behind.
                if self.txn.txn.is_none() {
                    self.env.slot.clear();
                }
                return Err(e);
            }
        };
        if self.txn.txn.is_none() {
            self.env.slot.clear();
        }
        self.prepared.insert(name.to_string(), Arc::new(p));
        Ok(())
    }

    /// Bind message: decodes parameters and creates a portal.
    pub fn bind_message(
        &mut self,
        portal: &str,
        stmt: &str,
        formats: &[i16],
        params: &[Option<bytes::Bytes>],
        result_formats: &[i16],
    ) -> SqlResult<()> {
        let p = self
            .prepared
            .get(stmt)
            .cloned()
            .ok_or_else(|| SqlError::new("26000", format!("prepared statement \"{stmt}\" does not exist")))?;
        if params.len() != p.param_types.len() && !(p.param_types.is_empty() && params.is_empty()) {
            // Statements whose parameter count we could not infer accept what the client sends.
            if params.len() < p.param_types.len() {
                return Err(SqlError::protocol(format!(
                    "bind message supplies {} parameters, but prepared statement \"{stmt}\" requires {}",
                    params.len(),
                    p.param_types.len()
                )));
            }
        }
        let zone = self.env.zone();
        let mut values = Vec::with_capacity(params.len());
        for (i, v) in params.iter().enumerate() {
            let fmt = match formats.len() {
                0 => Format::Text,
                1 => Format::from_code(formats[0]),
                _ => Format::from_code(formats.get(i).copied().unwrap_or(0)),
            };
            let o = p.param_types.get(i).copied().unwrap_or(0);
            let hint = p.param_hints.get(i).and_then(|h| h.as_ref());
            values.push(decode::decode_param(v.as_deref(), fmt, o, hint, &zone)?);
        }
        self.portals.insert(
            portal.to_string(),
            Portal { stmt: p, params: values, result_formats: result_formats.to_vec(), state: PortalState::NotStarted },
        );
        Ok(())
    }

    /// Execute message: runs (or continues) a portal, sending at most `max_rows` rows.
    pub async fn execute_portal(&mut self, name: &str) -> SqlResult<Option<Outcome>> {
        let Some(portal) = self.portals.get_mut(name) else {
            return Err(SqlError::new("34000", format!("portal \"{name}\" does not exist")));
        };
        match std::mem::replace(&mut portal.state, PortalState::Done) {
            PortalState::Running(rs) => Ok(Some(Outcome::Rows(rs))),
            PortalState::Done => Ok(None),
            PortalState::NotStarted => {
                let stmt = portal.stmt.clone();
                let params = portal.params.clone();
                let formats = portal.result_formats.clone();
                if let Some(c) = &self.activity {
                    c.set_query(&stmt.sql);
                }
                let mut out = self.run(&stmt.stmt, &stmt.sql, &params, Some(&stmt)).await?;
                if let Outcome::Rows(rs) = &mut out {
                    rs.set_formats(&formats);
                }
                Ok(Some(out))
            }
        }
    }

    /// Puts a partly consumed row stream back into its portal (PortalSuspended).
    pub fn suspend_portal(&mut self, name: &str, rs: RowStream) {
        if let Some(p) = self.portals.get_mut(name) {
            p.state = PortalState::Running(rs);
        }
    }

    /// Describe of a portal: its row description.
    pub fn describe_portal(&self, name: &str) -> SqlResult<Option<Vec<FieldInfo>>> {
        // A cursor is a portal too (DECLARE then Describe Portal, as psycopg does).
        if !self.portals.contains_key(name)
            && let Some(c) = self.cursors.get(name)
        {
            return Ok(Some(c.stream.fields.clone()));
        }
        let p = self.portals.get(name).ok_or_else(|| SqlError::new("34000", format!("portal \"{name}\" does not exist")))?;
        Ok(p.stmt.fields.clone().map(|mut f| {
            let codes = &p.result_formats;
            for (i, x) in f.iter_mut().enumerate() {
                let code = match codes.len() {
                    0 => 0,
                    1 => codes[0],
                    _ => codes.get(i).copied().unwrap_or(0),
                };
                x.format = Format::from_code(code);
            }
            f
        }))
    }

    pub fn describe_statement(&self, name: &str) -> SqlResult<(Vec<u32>, Option<Vec<FieldInfo>>)> {
        let p = self.prepared.get(name).ok_or_else(|| SqlError::new("26000", format!("prepared statement \"{name}\" does not exist")))?;
        Ok((p.param_types.iter().map(|&t| if t == 0 { oid::TEXT } else { t }).collect(), p.fields.clone()))
    }

    /// Evaluates `EXECUTE name(args)` arguments (constants) into parameter values.
    fn eval_constants(&self, args: &[Expr], p: &Prepared) -> SqlResult<Vec<ScalarValue>> {
        let zone = self.env.zone();
        let mut out = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let ex = crate::sql::expr::compile(a, None)
                .ok_or_else(|| SqlError::unsupported(format!("EXECUTE parameter {a} (only constants are supported)")))?;
            let mut never = |_: &str| -> SqlResult<i64> { Err(SqlError::unsupported("nextval() in EXECUTE parameters")) };
            let mut env =
                crate::sql::expr::Env { row: &[], params: &[], now: self.env.transaction_start_micros(), zone: &zone, nextval: &mut never };
            let v = crate::sql::expr::eval(&ex, &mut env)?;
            let text = match &v {
                duetdb_storage::Value::Null => None,
                v => Some(crate::pg::encode::value_text(v, &self.env.style())),
            };
            let o = p.param_types.get(i).copied().unwrap_or(0);
            let hint = p.param_hints.get(i).and_then(|h| h.as_ref());
            out.push(decode::decode_param(text.as_deref().map(str::as_bytes), Format::Text, o, hint, &zone)?);
        }
        Ok(out)
    }

    // ------------------------------------------------------------------
    // Cursors
    // ------------------------------------------------------------------

    async fn declare(&mut self, stmts: &[datafusion::sql::sqlparser::ast::Declare], sql: &str) -> SqlResult<Outcome> {
        if !self.txn.explicit {
            return Err(SqlError::new("25P01", "DECLARE CURSOR can only be used in transaction blocks"));
        }
        for d in stmts {
            let name = d.names.first().map(names::ident).unwrap_or_default();
            let Some(q) = &d.for_query else {
                return Err(SqlError::unsupported("DECLARE without FOR query"));
            };
            if self.cursors.contains_key(&name) {
                return Err(SqlError::new("42P03", format!("cursor \"{name}\" already exists")));
            }
            let stmt = Statement::Query(q.clone());
            let out = self.run_query(q, &stmt, &[], None).await?;
            let Outcome::Rows(stream) = out else { return Err(SqlError::internal("cursor query returned no rows")) };
            self.cursors.insert(name, Cursor { stream, query: sql.to_string() });
        }
        Ok(Outcome::Command("DECLARE CURSOR".into()))
    }

    async fn fetch(&mut self, name: &str, direction: &FetchDirection) -> SqlResult<Outcome> {
        let n: usize = match direction {
            FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
                limit.to_string().parse::<i64>().map_err(|_| SqlError::syntax("bad FETCH count"))?.max(0) as usize
            }
            FetchDirection::Next | FetchDirection::Forward { limit: None } => 1,
            FetchDirection::All | FetchDirection::ForwardAll => usize::MAX,
            _ => return Err(SqlError::unsupported("cursor can only scan forward")),
        };
        let cursor = self.cursors.get_mut(name).ok_or_else(|| SqlError::new("34000", format!("cursor \"{name}\" does not exist")))?;
        let fields = cursor.stream.fields.clone();
        let batches = cursor.stream.take(n).await?;
        Ok(Outcome::Rows(RowStream::from_batches(fields, batches, Tag::Fetch)))
    }

    pub async fn move_cursor(&mut self, name: &str, count: i64) -> SqlResult<Outcome> {
        let cursor = self.cursors.get_mut(name).ok_or_else(|| SqlError::new("34000", format!("cursor \"{name}\" does not exist")))?;
        let batches = cursor.stream.take(count.max(0) as usize).await?;
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        Ok(Outcome::Command(format!("MOVE {n}")))
    }
}

impl super::SessionEnv {
    pub fn transaction_start_micros(&self) -> i64 {
        self.txn_start.load(Ordering::Relaxed)
    }
}

/// Parameter types from `$n::type` casts win over what the planner inferred.
fn merge_hints(casts: Vec<Option<A>>, planned: Vec<Option<A>>) -> Vec<Option<A>> {
    let n = casts.len().max(planned.len());
    (0..n).map(|i| casts.get(i).cloned().flatten().or_else(|| planned.get(i).cloned().flatten())).collect()
}

fn is_txn_control(stmt: &Stmt) -> bool {
    matches!(
        stmt,
        Stmt::Sql(s) if matches!(
            s.as_ref(),
            Statement::Commit { .. } | Statement::Rollback { .. } | Statement::StartTransaction { .. }
        )
    )
}

/// The BeginTransactionKind is not needed but keep the import meaningful for readers.
#[allow(dead_code)]
fn _kinds(_: BeginTransactionKind) {}

/// RC restarts: errors that mean "run the statement again".
pub fn is_retry(e: &SqlError) -> bool {
    e.code == RETRY_STATEMENT
}

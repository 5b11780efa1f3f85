//! DDL: statements that change the catalog.
//!
//! Each DDL statement builds the next catalog (a copy of the transaction's
//! current one, changed) and hands it to the engine, which locks what it
//! touches, builds or checks storage (indexes, NOT NULL) and logs it. So DDL is
//! transactional, and rolls back with the transaction.
//!
//! Implicit objects get PostgreSQL's names — `t_pkey`, `t_a_key`, `t_b_fkey`,
//! `t_id_seq`, `t_a_idx` — so tools that expect them find them.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterRoleOperation, AlterTableOperation, ColumnDef as SqlColumnDef, ColumnOption, CreateTableOptions,
    DataType as SqlType, Expr, GeneratedAs, ObjectName, ObjectType, Password, ReferentialAction, RoleOption, SequenceOptions, SqlOption,
    Statement, TableConstraint,
};
use duetdb_storage::catalog::{
    Catalog, CheckDef, ColumnDef, FkAction, ForeignKeyDef, Identity, IndexDef, RoleDef, SequenceDef, TableDef, ViewColumn, ViewDef,
    truncate_identifier,
};
use duetdb_storage::{DataType, Value};

use super::Session;
use super::generated;
use super::output::Outcome;
use super::rewrite::{self, Rewrite};
use crate::error::{SqlError, SqlResult};
use crate::sql::expr;
use crate::sql::names;

fn exists(what: &'static str, name: &str) -> SqlError {
    SqlError::new(if what == "relation" { "42P07" } else { "42710" }, format!("{what} \"{name}\" already exists"))
}

fn no_relation(name: &str) -> SqlError {
    SqlError::new("42P01", format!("relation \"{name}\" does not exist"))
}

impl Session {
    /// Runs a DDL statement (or reports it unsupported).
    pub async fn run_ddl(&mut self, s: &Statement) -> SqlResult<Outcome> {
        self.begin_statement()?;
        if self.server().is_standby() {
            return Err(SqlError::new("25006", "cannot execute DDL in a read-only transaction"));
        }
        let txn = self.txn_mut()?;
        if txn.is_read_only() {
            return Err(SqlError::new("25006", "cannot execute this statement in a read-only transaction"));
        }
        let mut cat = (*txn.catalog()).clone();
        let tag = match s {
            Statement::CreateTable(ct) => {
                if ct.temporary {
                    return Err(SqlError::unsupported("temporary tables").with_hint("Use a regular table."));
                }
                let (schema, name) = names::qualified(&ct.name)?;
                if !cat.schemas.contains_key(&schema) {
                    return Err(SqlError::new("3F000", format!("schema \"{schema}\" does not exist")));
                }
                if cat.relation_name_taken(&schema, &name) {
                    if ct.if_not_exists {
                        self.notice("NOTICE", format!("relation \"{name}\" already exists, skipping"));
                        return Ok(Outcome::Command("CREATE TABLE".into()));
                    }
                    return Err(exists("relation", &name));
                }
                if let Some(q) = &ct.query {
                    return self.create_table_as(cat, &schema, &name, q, &ct.columns).await;
                }
                create_table(&mut cat, &schema, &name, &ct.columns, &ct.constraints, &ct.table_options)?;
                if let Some(t) = cat.table_by_name(&schema, &name).cloned() {
                    self.check_generated(&t, 0).await?;
                }
                "CREATE TABLE"
            }
            Statement::Drop { object_type, if_exists, names: objs, cascade, .. } => {
                for n in objs {
                    let (schema, name) = names::qualified(n)?;
                    let found = drop_object(&mut cat, *object_type, &schema, &name, *cascade)?;
                    if !found {
                        if *if_exists {
                            self.notice("NOTICE", format!("{} \"{name}\" does not exist, skipping", object_word(*object_type)));
                        } else {
                            return Err(match object_type {
                                ObjectType::Index => SqlError::new("42704", format!("index \"{name}\" does not exist")),
                                ObjectType::Sequence => SqlError::new("42P01", format!("sequence \"{name}\" does not exist")),
                                ObjectType::View => SqlError::new("42P01", format!("view \"{name}\" does not exist")),
                                ObjectType::Schema => SqlError::new("3F000", format!("schema \"{name}\" does not exist")),
                                ObjectType::Role | ObjectType::User => SqlError::new("42704", format!("role \"{name}\" does not exist")),
                                _ => SqlError::new("42P01", format!("table \"{name}\" does not exist")),
                            });
                        }
                    }
                }
                match object_type {
                    ObjectType::Table => "DROP TABLE",
                    ObjectType::Index => "DROP INDEX",
                    ObjectType::Sequence => "DROP SEQUENCE",
                    ObjectType::View => "DROP VIEW",
                    ObjectType::Schema => "DROP SCHEMA",
                    ObjectType::Role => "DROP ROLE",
                    ObjectType::User => "DROP ROLE",
                    ObjectType::Database => return Err(SqlError::unsupported("DROP DATABASE")),
                    _ => return Err(SqlError::unsupported(format!("DROP {object_type}"))),
                }
            }
            Statement::AlterTable(at) => {
                let (schema, name) = names::qualified(&at.name)?;
                let Some(def) = cat.table_by_name(&schema, &name).cloned() else {
                    if at.if_exists {
                        self.notice("NOTICE", format!("relation \"{name}\" does not exist, skipping"));
                        return Ok(Outcome::Command("ALTER TABLE".into()));
                    }
                    return Err(no_relation(&name));
                };
                let mut work = AlterWork::default();
                let mut t = (*def).clone();
                for op in &at.operations {
                    alter_table(&mut cat, &mut t, op, &mut work, &mut self.notices)?;
                }
                t.layout = Default::default();
                for r in &work.rewrite {
                    check_default_converts(&t, r.column, &self.env.zone())?;
                }
                self.check_generated(&t, def.columns.len()).await?;
                let regenerate = t.columns[def.columns.len()..].iter().any(|c| c.generated.is_some());
                cat.tables.insert(t.id, Arc::new(t));
                if work.rewrite.is_empty() && !regenerate {
                    let txn = self.txn_mut()?;
                    txn.set_catalog(cat).await?;
                    for &col in &work.backfill {
                        self.backfill_column(&schema, &name, col).await?;
                    }
                } else {
                    self.rewrite_table(&def, cat, &work.rewrite, &work.backfill).await?;
                }
                let backfill = work.backfill;
                self.validate_added(&schema, &name, &def, &backfill).await?;
                return Ok(Outcome::Command("ALTER TABLE".into()));
            }
            Statement::CreateIndex(ci) => {
                let (schema, table) = names::qualified(&ci.table_name)?;
                let def = cat.table_by_name(&schema, &table).cloned().ok_or_else(|| no_relation(&table))?;
                let mut cols = Vec::new();
                for c in &ci.columns {
                    match &c.column.expr {
                        Expr::Identifier(i) => cols.push(def.column(&names::ident(i))?),
                        other => return Err(SqlError::unsupported(format!("index on expression {other}"))),
                    }
                }
                if ci.predicate.is_some() {
                    return Err(SqlError::unsupported("partial indexes (CREATE INDEX … WHERE)"));
                }
                let name = match &ci.name {
                    Some(n) => names::last(n),
                    None => {
                        let colnames: Vec<&str> = cols.iter().map(|&c| def.columns[c].name.as_str()).collect();
                        cat.unique_relation_name(&schema, &format!("{}_{}_idx", def.name, colnames.join("_")))
                    }
                };
                if cat.relation_name_taken(&schema, &name) {
                    if ci.if_not_exists {
                        self.notice("NOTICE", format!("relation \"{name}\" already exists, skipping"));
                        return Ok(Outcome::Command("CREATE INDEX".into()));
                    }
                    return Err(exists("relation", &name));
                }
                let id = cat.alloc_oid();
                let mut t = (*def).clone();
                t.indexes.push(IndexDef { id, name, columns: cols, unique: ci.unique, primary: false, constraint: false });
                cat.tables.insert(t.id, Arc::new(t));
                "CREATE INDEX"
            }
            Statement::Truncate(tr) => {
                let restart = matches!(tr.identity, Some(datafusion::sql::sqlparser::ast::TruncateIdentityOption::Restart));
                let cascade = matches!(tr.cascade, Some(datafusion::sql::sqlparser::ast::CascadeOption::Cascade));
                let mut ids: Vec<u32> = Vec::new();
                for t in &tr.table_names {
                    let (schema, name) = names::qualified(&t.name)?;
                    let def = cat.table_by_name(&schema, &name).ok_or_else(|| no_relation(&name))?;
                    ids.push(def.id);
                }
                // Tables referencing truncated ones must be truncated too (CASCADE) or it fails.
                let mut i = 0;
                while i < ids.len() {
                    let refs: Vec<(u32, String, String)> =
                        cat.referencing(ids[i]).map(|(t, fk)| (t.id, t.name.clone(), fk.name.clone())).collect();
                    for (rid, rname, fkname) in refs {
                        if ids.contains(&rid) {
                            continue;
                        }
                        if !cascade {
                            let tname = cat.tables[&ids[i]].name.clone();
                            return Err(SqlError::unsupported("cannot truncate a table referenced in a foreign key constraint")
                                .with_detail(format!("Table \"{rname}\" references \"{tname}\" (constraint \"{fkname}\")."))
                                .with_hint(format!("Truncate table \"{rname}\" at the same time, or use TRUNCATE ... CASCADE.")));
                        }
                        self.notice("NOTICE", format!("truncate cascades to table \"{rname}\""));
                        ids.push(rid);
                    }
                    i += 1;
                }
                for id in ids {
                    let mut t = (*cat.tables[&id]).clone();
                    t.relfilenode = cat.alloc_relfilenode();
                    if restart {
                        let seqs: Vec<Arc<SequenceDef>> =
                            cat.sequences.values().filter(|s| s.owned_by.is_some_and(|(tid, _)| tid == id)).cloned().collect();
                        for s in seqs {
                            self.env.setval_internal(&s, s.start, false)?;
                        }
                    }
                    cat.tables.insert(id, Arc::new(t));
                }
                "TRUNCATE TABLE"
            }
            Statement::CreateSequence { if_not_exists, name, data_type, sequence_options, owned_by, temporary } => {
                if *temporary {
                    return Err(SqlError::unsupported("temporary sequences"));
                }
                let (schema, n) = names::qualified(name)?;
                if cat.relation_name_taken(&schema, &n) {
                    if *if_not_exists {
                        self.notice("NOTICE", format!("relation \"{n}\" already exists, skipping"));
                        return Ok(Outcome::Command("CREATE SEQUENCE".into()));
                    }
                    return Err(exists("relation", &n));
                }
                let ty = match data_type {
                    Some(t) => expr::sql_type(t).ok_or_else(|| SqlError::unsupported(format!("sequence type {t}")))?,
                    None => DataType::Int64,
                };
                let mut seq = new_sequence(&mut cat, &schema, &n, ty);
                apply_sequence_options(&mut seq, sequence_options)?;
                if let Some(o) = owned_by {
                    let p = names::parts(o);
                    if p.len() >= 2 {
                        let t = cat.table_by_name("public", &p[p.len() - 2]).ok_or_else(|| no_relation(&p[p.len() - 2]))?;
                        seq.owned_by = Some((t.id, t.column(&p[p.len() - 1])?));
                    }
                }
                cat.sequences.insert(seq.id, Arc::new(seq));
                "CREATE SEQUENCE"
            }
            Statement::CreateView(cv) => {
                if cv.materialized {
                    return Err(SqlError::unsupported("materialized views"));
                }
                let (schema, name) = names::qualified(&cv.name)?;
                let existing = cat.view_by_name(&schema, &name).map(|v| v.id);
                if existing.is_none() && cat.relation_name_taken(&schema, &name) {
                    return Err(exists("relation", &name));
                }
                if existing.is_some() && !cv.or_replace {
                    if cv.if_not_exists {
                        return Ok(Outcome::Command("CREATE VIEW".into()));
                    }
                    return Err(exists("relation", &name));
                }
                let q = Statement::Query(cv.query.clone());
                let plan = self.plan_sql(&q).await?;
                let mut columns: Vec<ViewColumn> = plan
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        let t = crate::pg::encode::wire_type(f);
                        ViewColumn { name: f.name().clone(), type_oid: t.oid, typmod: t.typmod }
                    })
                    .collect();
                for (i, c) in cv.columns.iter().enumerate() {
                    if let Some(col) = columns.get_mut(i) {
                        col.name = names::ident(&c.name);
                    }
                }
                let id = existing.unwrap_or_else(|| cat.alloc_oid());
                cat.views.insert(id, Arc::new(ViewDef { id, schema, name, sql: cv.query.to_string(), columns }));
                "CREATE VIEW"
            }
            Statement::CreateSchema { schema_name, if_not_exists, .. } => {
                let name = names::ident(match schema_name {
                    datafusion::sql::sqlparser::ast::SchemaName::Simple(n) => {
                        n.0.last().and_then(|p| p.as_ident()).ok_or_else(|| SqlError::syntax("bad schema name"))?
                    }
                    datafusion::sql::sqlparser::ast::SchemaName::UnnamedAuthorization(i) => i,
                    datafusion::sql::sqlparser::ast::SchemaName::NamedAuthorization(n, _) => {
                        n.0.last().and_then(|p| p.as_ident()).ok_or_else(|| SqlError::syntax("bad schema name"))?
                    }
                });
                if cat.schemas.contains_key(&name) || name == "pg_catalog" || name == "information_schema" {
                    if *if_not_exists {
                        self.notice("NOTICE", format!("schema \"{name}\" already exists, skipping"));
                        return Ok(Outcome::Command("CREATE SCHEMA".into()));
                    }
                    return Err(SqlError::new("42P06", format!("schema \"{name}\" already exists")));
                }
                let oid = cat.alloc_oid();
                cat.schemas.insert(name, oid);
                "CREATE SCHEMA"
            }
            Statement::CreateRole(cr) => {
                for n in &cr.names {
                    let name = names::last(n);
                    if cat.roles.contains_key(&name) {
                        if cr.if_not_exists {
                            continue;
                        }
                        return Err(SqlError::new("42710", format!("role \"{name}\" already exists")));
                    }
                    let oid = cat.alloc_oid();
                    let password = match &cr.password {
                        Some(Password::Password(e)) => Some(scram_verifier(e)?),
                        _ => None,
                    };
                    cat.roles.insert(
                        name.clone(),
                        RoleDef {
                            oid,
                            name,
                            superuser: cr.superuser.unwrap_or(false),
                            login: cr.login.unwrap_or(false),
                            replication: cr.replication.unwrap_or(false),
                            password,
                        },
                    );
                }
                "CREATE ROLE"
            }
            Statement::AlterRole { name, operation } => {
                let n = names::ident(name);
                let mut role = cat.roles.get(&n).cloned().ok_or_else(|| SqlError::new("42704", format!("role \"{n}\" does not exist")))?;
                match operation {
                    AlterRoleOperation::WithOptions { options } => {
                        for o in options {
                            match o {
                                RoleOption::Password(Password::Password(e)) => role.password = Some(scram_verifier(e)?),
                                RoleOption::Password(Password::NullPassword) => role.password = None,
                                RoleOption::SuperUser(b) => role.superuser = *b,
                                RoleOption::Login(b) => role.login = *b,
                                RoleOption::Replication(b) => role.replication = *b,
                                _ => {}
                            }
                        }
                    }
                    AlterRoleOperation::RenameRole { role_name } => {
                        let new = names::ident(role_name);
                        cat.roles.remove(&n);
                        role.name = new;
                    }
                    _ => return Err(SqlError::unsupported(format!("ALTER ROLE {operation}"))),
                }
                cat.roles.insert(role.name.clone(), role);
                "ALTER ROLE"
            }
            Statement::CreateDatabase { db_name, .. } => {
                return Err(SqlError::unsupported(format!("CREATE DATABASE {db_name}: duetdb serves one database, \"postgres\""))
                    .with_hint("Use a schema (CREATE SCHEMA) to separate applications."));
            }
            Statement::CreateExtension(_) => return Err(SqlError::unsupported("extensions")),
            Statement::CreateFunction(_) | Statement::CreateTrigger(_) | Statement::CreateProcedure { .. } => {
                return Err(SqlError::unsupported("functions, procedures and triggers"));
            }
            other => {
                let word = other.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                return Err(SqlError::unsupported(format!("statement not supported: {word}")));
            }
        };
        let txn = self.txn_mut()?;
        txn.set_catalog(cat).await?;
        Ok(Outcome::Command(tag.into()))
    }

    /// CREATE TABLE … AS query: the query's columns become the table.
    async fn create_table_as(
        &mut self,
        mut cat: Catalog,
        schema: &str,
        name: &str,
        q: &datafusion::sql::sqlparser::ast::Query,
        columns: &[SqlColumnDef],
    ) -> SqlResult<Outcome> {
        let stmt = Statement::Query(Box::new(q.clone()));
        let plan = self.plan_sql(&stmt).await?;
        let mut cols = Vec::new();
        for (i, f) in plan.schema().fields().iter().enumerate() {
            let ty = arrow_column_type(f)?;
            let cname = columns.get(i).map(|c| names::ident(&c.name)).unwrap_or_else(|| f.name().clone());
            cols.push(ColumnDef::new(cname, ty, true));
        }
        let id = cat.alloc_oid();
        let relfilenode = cat.alloc_relfilenode();
        cat.tables.insert(id, Arc::new(TableDef::new(id, schema, name, relfilenode, cols)));
        let def = cat.tables[&id].clone();
        self.txn_mut()?.set_catalog(cat).await?;
        // Insert the query's rows.
        self.begin_statement()?;
        let bound = crate::sql::query::bind(&plan, &[])?;
        let stream = crate::sql::query::execute(&self.df, &bound).await?;
        let mut rs = super::RowStream::from_stream(vec![], stream, super::output::Tag::Select);
        let mut n = 0u64;
        let zone = self.env.zone();
        for b in rs.collect_batches().await? {
            let mut rows = Vec::with_capacity(b.num_rows());
            for i in 0..b.num_rows() {
                let mut row = Vec::with_capacity(b.num_columns());
                for (c, col) in b.columns().iter().enumerate() {
                    let s = datafusion::common::ScalarValue::try_from_array(col, i)?;
                    let v = crate::sql::provider::scalar_to_value(&s).unwrap_or(Value::Null);
                    row.push(expr::assign(v, &def.columns[c].ty, &zone)?);
                }
                rows.push(row);
            }
            n += self.txn_mut()?.insert_batch(&def, rows).await?;
        }
        Ok(Outcome::Command(format!("SELECT {n}")))
    }

    /// What ALTER TABLE added must hold for the rows already there, as in
    /// PostgreSQL: a NOT NULL column without a default (23502), a CHECK
    /// constraint (23514), a foreign key (23503). `old` is the table before;
    /// `backfilled` columns were just filled from their defaults.
    async fn validate_added(&mut self, schema: &str, table: &str, old: &TableDef, backfilled: &[usize]) -> SqlResult<()> {
        let view = self.begin_statement()?;
        let def = view.catalog.table_by_name(schema, table).cloned().ok_or_else(|| no_relation(table))?;
        let not_null: Vec<usize> = (old.columns.len()..def.columns.len())
            .filter(|&c| {
                let col = &def.columns[c];
                !col.dropped && !col.nullable && col.missing.is_none() && !backfilled.contains(&c)
            })
            .collect();
        let checks: Vec<_> = def.checks.iter().filter(|c| !old.checks.iter().any(|o| o.id == c.id)).cloned().collect();
        let fks: Vec<_> = def.foreign_keys.iter().filter(|f| !old.foreign_keys.iter().any(|o| o.id == f.id)).cloned().collect();
        if not_null.is_empty() && checks.is_empty() && fks.is_empty() {
            return Ok(());
        }
        // One pass over the rows, decoding each once: NOT NULL fails at the
        // first row, a CHECK at its first violation; only the keys of new
        // foreign keys are kept (their parents are looked up afterwards).
        let layout = def.layout();
        let only_checks: Vec<TableDef> = checks.iter().map(|c| TableDef { checks: vec![c.clone()], ..(*def).clone() }).collect();
        let fk_cols: Vec<usize> = fks.iter().flat_map(|f| f.columns.iter().copied()).collect();
        let mut fk_rows: Vec<Vec<Value>> = Vec::new();
        let mut failed: Option<SqlError> = None;
        view.scan(&def, |_, raw| {
            if let Some(&c) = not_null.first() {
                failed = Some(
                    duetdb_storage::Error::ColumnContainsNulls { column: def.columns[c].name.clone(), table: def.name.clone() }.into(),
                );
                return std::ops::ControlFlow::Break(());
            }
            let row = duetdb_storage::row::decode_row(&layout.types, &layout.missing, raw);
            for only in &only_checks {
                match self.check_constraints(only, &row) {
                    Ok(()) => {}
                    Err(e) if e.code == "23514" => {
                        failed = Some(SqlError::new(
                            "23514",
                            format!("check constraint \"{}\" of relation \"{}\" is violated by some row", only.checks[0].name, def.name),
                        ));
                        return std::ops::ControlFlow::Break(());
                    }
                    Err(e) => {
                        failed = Some(e);
                        return std::ops::ControlFlow::Break(());
                    }
                }
            }
            if !fk_cols.is_empty() {
                // Only the key columns are read by the check.
                let mut keys = vec![Value::Null; row.len()];
                for &c in &fk_cols {
                    keys[c] = row[c].clone();
                }
                fk_rows.push(keys);
            }
            std::ops::ControlFlow::Continue(())
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if !fks.is_empty() {
            let only = Arc::new(TableDef { foreign_keys: fks, ..(*def).clone() });
            for row in &fk_rows {
                self.check_fk_child(&only, row, None).await?;
            }
        }
        Ok(())
    }

    /// PostgreSQL's rules for the generation expressions of `t`'s columns
    /// from position `from` on, and a trial plan of them (an unknown
    /// function or a type error fails the DDL, not the first INSERT).
    async fn check_generated(&mut self, t: &TableDef, from: usize) -> SqlResult<()> {
        let mut any = false;
        for c in from..t.columns.len() {
            if t.columns[c].generated.is_some() && !t.columns[c].dropped {
                generated::check_expression(t, c)?;
                any = true;
            }
        }
        if any {
            self.generator(t).await?;
        }
        Ok(())
    }

    /// Fills a newly added column whose default must be evaluated per row (serial).
    async fn backfill_column(&mut self, schema: &str, table: &str, col: usize) -> SqlResult<()> {
        let view = self.begin_statement()?;
        let def = view.catalog.table_by_name(schema, table).cloned().ok_or_else(|| no_relation(table))?;
        let Some(d) = def.columns[col].default.clone() else { return Ok(()) };
        let ex = super::dml::compile_default(&d).ok_or_else(|| SqlError::unsupported(format!("DEFAULT {d}")))?;
        let rows = duetdb_storage::transaction::collect_rows(&view, &def);
        for (rowid, mut row) in rows {
            row[col] = self.default_value(&ex, &def.columns[col].ty)?;
            self.txn_mut()?.update(&def, rowid, row).await?;
        }
        Ok(())
    }
}

impl super::SessionEnv {
    pub fn setval_internal(&self, s: &SequenceDef, value: i64, is_called: bool) -> SqlResult<()> {
        let engine = self.server.engine()?;
        let lsn = engine.setval(s, value, is_called)?;
        self.flush_needed.fetch_max(lsn.0, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

fn object_word(t: ObjectType) -> &'static str {
    match t {
        ObjectType::Table => "table",
        ObjectType::Index => "index",
        ObjectType::Sequence => "sequence",
        ObjectType::View => "view",
        ObjectType::Schema => "schema",
        ObjectType::Role | ObjectType::User => "role",
        _ => "object",
    }
}

fn scram_verifier(e: &Expr) -> SqlResult<String> {
    let Expr::Value(v) = e else { return Err(SqlError::syntax("password must be a string literal")) };
    let p = match &v.value {
        datafusion::sql::sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
        _ => return Err(SqlError::syntax("password must be a string literal")),
    };
    if p.starts_with("SCRAM-SHA-256$") {
        return Ok(p);
    }
    Ok(postgres_protocol::password::scram_sha_256(p.as_bytes()))
}

/// A sequence with PostgreSQL's defaults for its type.
fn new_sequence(cat: &mut Catalog, schema: &str, name: &str, ty: DataType) -> SequenceDef {
    let max = integer_range(&ty).map_or(i64::MAX, |(_, max)| max);
    SequenceDef {
        id: cat.alloc_oid(),
        schema: schema.into(),
        name: name.into(),
        ty,
        start: 1,
        increment: 1,
        min: 1,
        max,
        cycle: false,
        owned_by: None,
    }
}

fn const_i64(e: &Expr) -> SqlResult<i64> {
    let ex = expr::compile(e, None).ok_or_else(|| SqlError::syntax(format!("expected a number, got {e}")))?;
    let mut never = |_: &str| -> SqlResult<i64> { Err(SqlError::syntax("unexpected nextval")) };
    let mut env = expr::Env { row: &[], params: &[], now: 0, zone: &crate::pg::datetime::Zone::Utc, nextval: &mut never };
    expr::eval(&ex, &mut env)?.as_i64().ok_or_else(|| SqlError::syntax(format!("expected an integer, got {e}")))
}

fn apply_sequence_options(seq: &mut SequenceDef, opts: &[SequenceOptions]) -> SqlResult<()> {
    let mut start_given = false;
    for o in opts {
        match o {
            SequenceOptions::IncrementBy(e, _) => {
                seq.increment = const_i64(e)?;
                if seq.increment == 0 {
                    return Err(SqlError::new("22023", "INCREMENT must not be zero"));
                }
                if seq.increment < 0 {
                    std::mem::swap(&mut seq.min, &mut seq.max);
                    seq.max = -1;
                    seq.min = match seq.ty {
                        DataType::Int16 => i16::MIN as i64,
                        DataType::Int32 => i32::MIN as i64,
                        _ => i64::MIN,
                    };
                    if !start_given {
                        seq.start = -1;
                    }
                }
            }
            SequenceOptions::MinValue(Some(e)) => seq.min = const_i64(e)?,
            SequenceOptions::MaxValue(Some(e)) => seq.max = const_i64(e)?,
            SequenceOptions::MinValue(None) | SequenceOptions::MaxValue(None) => {}
            SequenceOptions::StartWith(e, _) => {
                seq.start = const_i64(e)?;
                start_given = true;
            }
            SequenceOptions::Cache(_) => {}
            SequenceOptions::Cycle(c) => seq.cycle = !*c,
        }
    }
    if !start_given && seq.increment > 0 {
        seq.start = seq.min;
    }
    if seq.start < seq.min || seq.start > seq.max {
        return Err(SqlError::new("22023", format!("START value ({}) cannot be outside [{}, {}]", seq.start, seq.min, seq.max)));
    }
    Ok(())
}

/// PostgreSQL's built-in types that columns here cannot have yet (arrays
/// are told apart by their syntax).
#[rustfmt::skip]
const UNSUPPORTED_BUILTIN_TYPES: &[&str] = &[
    "interval", "time", "timetz", "time with time zone", "time without time zone", "inet", "cidr", "macaddr",
    "macaddr8", "money", "xml", "oid", "regclass", "bit", "bit varying", "varbit", "tsvector", "tsquery", "point", "line",
    "lseg", "box", "path", "polygon", "circle", "int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange",
    "pg_lsn", "txid_snapshot", "name",
];

/// The error for a column type `sql_type` does not know: a PostgreSQL type
/// not implemented here is 0A000 (the statement is valid SQL, the feature
/// is missing), any other name is PostgreSQL's own 42704.
fn unknown_column_type(t: &SqlType) -> SqlError {
    let name = t.to_string().to_lowercase();
    let base = name.split('(').next().unwrap_or(&name).trim();
    if matches!(t, SqlType::Array(_)) || name.ends_with("[]") || UNSUPPORTED_BUILTIN_TYPES.contains(&base) {
        SqlError::unsupported(format!("type \"{name}\" is not supported for columns yet")).with_hint(
            "Column types here: boolean, smallint, integer, bigint, real, double precision, numeric, text, varchar, char, \
             bytea, date, timestamp, timestamptz, json, jsonb, uuid.",
        )
    } else {
        SqlError::new("42704", format!("type \"{name}\" does not exist"))
    }
}

/// Column type from SQL, including `serial` kinds (returned as the integer type + true).
fn column_type(t: &SqlType) -> SqlResult<(DataType, bool)> {
    if let SqlType::Custom(name, _) = t {
        match name.to_string().to_lowercase().as_str() {
            "serial" | "serial4" => return Ok((DataType::Int32, true)),
            "bigserial" | "serial8" => return Ok((DataType::Int64, true)),
            "smallserial" | "serial2" => return Ok((DataType::Int16, true)),
            _ => {}
        }
    }
    let ty = expr::sql_type(t).ok_or_else(|| unknown_column_type(t))?;
    if let DataType::Numeric { precision, scale, .. } = ty {
        if precision == 0 || precision > duetdb_storage::types::MAX_NUMERIC_PRECISION {
            return Err(SqlError::unsupported(format!("NUMERIC precision {precision} (1 to 38 is supported)")));
        }
        if scale > precision {
            return Err(SqlError::new("22023", format!("NUMERIC scale {scale} must be between 0 and precision {precision}")));
        }
    }
    Ok((ty, false))
}

/// The column type for a query's result field (CREATE TABLE AS): its Arrow
/// type, and for text its PostgreSQL type where the field carries one (a
/// uuid, json or jsonb column stays one, as in PostgreSQL).
fn arrow_column_type(f: &datafusion::arrow::datatypes::Field) -> SqlResult<DataType> {
    use crate::pg::oid;
    use datafusion::arrow::datatypes::DataType as A;
    Ok(match f.data_type() {
        A::Utf8 | A::LargeUtf8 | A::Utf8View | A::Null => match crate::pg::encode::tagged_oid(f) {
            Some(oid::UUID) => DataType::Uuid,
            Some(oid::JSON) => DataType::Json,
            Some(oid::JSONB) => DataType::Jsonb,
            _ => DataType::Text,
        },
        A::Boolean => DataType::Bool,
        A::Int8 | A::Int16 | A::UInt8 => DataType::Int16,
        A::Int32 | A::UInt16 => DataType::Int32,
        A::Int64 | A::UInt32 | A::UInt64 => DataType::Int64,
        A::Float16 | A::Float32 => DataType::Float32,
        A::Float64 => DataType::Float64,
        A::Decimal128(p, s) => DataType::Numeric { precision: (*p).min(38), scale: (*s).max(0) as u8, typmod: true },
        A::Binary | A::LargeBinary | A::BinaryView => DataType::Bytea,
        A::Date32 | A::Date64 => DataType::Date,
        A::Timestamp(_, None) => DataType::Timestamp,
        A::Timestamp(_, Some(_)) => DataType::TimestampTz,
        other => return Err(SqlError::unsupported(format!("column of type {other}"))),
    })
}

fn options(opts: &CreateTableOptions) -> Vec<(String, String)> {
    match opts {
        CreateTableOptions::With(v)
        | CreateTableOptions::Options(v)
        | CreateTableOptions::Plain(v)
        | CreateTableOptions::TableProperties(v) => v
            .iter()
            .filter_map(|o| match o {
                SqlOption::KeyValue { key, value } => Some((names::ident(key), value.to_string().trim_matches('\'').to_string())),
                _ => None,
            })
            .collect(),
        CreateTableOptions::None => vec![],
    }
}

fn fk_action(a: &Option<ReferentialAction>) -> FkAction {
    match a {
        None | Some(ReferentialAction::NoAction) => FkAction::NoAction,
        Some(ReferentialAction::Restrict) => FkAction::Restrict,
        Some(ReferentialAction::Cascade) => FkAction::Cascade,
        Some(ReferentialAction::SetNull) => FkAction::SetNull,
        Some(ReferentialAction::SetDefault) => FkAction::SetDefault,
    }
}

/// Builds a table definition from CREATE TABLE's column and constraint lists.
fn create_table(
    cat: &mut Catalog,
    schema: &str,
    name: &str,
    columns: &[SqlColumnDef],
    constraints: &[TableConstraint],
    opts: &CreateTableOptions,
) -> SqlResult<()> {
    let id = cat.alloc_oid();
    let relfilenode = cat.alloc_relfilenode();
    let mut t = TableDef { options: options(opts), ..TableDef::new(id, schema, name, relfilenode, vec![]) };
    // Register the table name first so implicit names skip it.
    cat.tables.insert(id, Arc::new(t.clone()));
    let mut column_constraints = Vec::new();
    for c in columns {
        let cname = names::ident(&c.name);
        if t.column_index(&cname).is_some() {
            return Err(SqlError::new("42701", format!("column \"{cname}\" specified more than once")));
        }
        let col = add_column_def(cat, &mut t, c, &mut column_constraints)?;
        let _ = col;
    }
    if t.columns.is_empty() && constraints.is_empty() {
        // PostgreSQL allows zero-column tables.
    }
    for (col, cons) in column_constraints {
        add_constraint(cat, &mut t, &cons, Some(col))?;
    }
    for c in constraints {
        add_constraint(cat, &mut t, c, None)?;
    }
    cat.tables.insert(id, Arc::new(t));
    Ok(())
}

/// Adds a column (with its inline options) to `t`; returns its position.
/// Inline constraints are returned for the caller to add once all columns exist.
fn add_column_def(cat: &mut Catalog, t: &mut TableDef, c: &SqlColumnDef, cons: &mut Vec<(usize, TableConstraint)>) -> SqlResult<usize> {
    let cname = truncate_identifier(&names::ident(&c.name));
    let (ty, serial) = column_type(&c.data_type)?;
    let pos = t.columns.len();
    let mut col = ColumnDef::new(cname.clone(), ty.clone(), true);
    if serial {
        let seq_name = cat.unique_relation_name(&t.schema, &format!("{}_{}_seq", t.name, cname));
        let mut seq = new_sequence(cat, &t.schema, &seq_name, ty.clone());
        seq.owned_by = Some((t.id, pos));
        col.default = Some(format!("nextval('{}'::regclass)", seq_name));
        col.nullable = false;
        cat.sequences.insert(seq.id, Arc::new(seq));
    }
    let mut explicit_default = false;
    let identity_and_generated =
        || SqlError::syntax(format!("both identity and generation expression specified for column \"{cname}\" of table \"{}\"", t.name));
    for opt in &c.options {
        let cname_opt = opt.name.as_ref().map(names::ident);
        match &opt.option {
            ColumnOption::Null => col.nullable = true,
            ColumnOption::NotNull => col.nullable = false,
            ColumnOption::Default(e) => {
                let text = e.to_string();
                if super::dml::compile_default(&text).is_none() {
                    return Err(SqlError::unsupported(format!("DEFAULT expression {text}"))
                        .with_hint("Defaults may use literals, arithmetic, casts, now(), current_date, nextval() and gen_random_uuid()."));
                }
                col.default = Some(text);
                explicit_default = true;
            }
            ColumnOption::PrimaryKey(pk) => {
                let mut pk = pk.clone();
                pk.name = pk.name.or_else(|| cname_opt.clone().map(datafusion::sql::sqlparser::ast::Ident::new));
                cons.push((pos, TableConstraint::PrimaryKey(pk)));
            }
            ColumnOption::Unique(u) => {
                let mut u = u.clone();
                u.name = u.name.or_else(|| cname_opt.clone().map(datafusion::sql::sqlparser::ast::Ident::new));
                cons.push((pos, TableConstraint::Unique(u)));
            }
            ColumnOption::ForeignKey(fk) => {
                let mut fk = fk.clone();
                fk.name = fk.name.or_else(|| cname_opt.clone().map(datafusion::sql::sqlparser::ast::Ident::new));
                cons.push((pos, TableConstraint::ForeignKey(fk)));
            }
            ColumnOption::Check(ch) => {
                let mut ch = ch.clone();
                ch.name = ch.name.or_else(|| cname_opt.clone().map(datafusion::sql::sqlparser::ast::Ident::new));
                cons.push((pos, TableConstraint::Check(ch)));
            }
            ColumnOption::Generated { generation_expr: Some(e), generation_expr_mode, .. } => {
                if !matches!(generation_expr_mode, Some(datafusion::sql::sqlparser::ast::GeneratedExpressionMode::Stored)) {
                    return Err(SqlError::unsupported(format!("virtual generated column \"{cname}\""))
                        .with_hint("Add STORED: GENERATED ALWAYS AS (…) STORED."));
                }
                if serial || col.identity.is_some() {
                    return Err(identity_and_generated());
                }
                col.generated = Some(e.to_string());
            }
            ColumnOption::Generated { generated_as, sequence_options, .. } => {
                if col.generated.is_some() {
                    return Err(identity_and_generated());
                }
                if col.identity.is_some() || serial {
                    return Err(SqlError::syntax(format!(
                        "multiple identity specifications for column \"{cname}\" of table \"{}\"",
                        t.name
                    )));
                }
                make_identity(cat, t, pos, &mut col, Some(generated_as), sequence_options.as_deref())?;
            }
            ColumnOption::Collation(_) | ColumnOption::Comment(_) => {}
            other => return Err(SqlError::unsupported(format!("column option {other}"))),
        }
    }
    if explicit_default && col.generated.is_some() {
        return Err(SqlError::syntax(format!(
            "both default and generation expression specified for column \"{cname}\" of table \"{}\"",
            t.name
        )));
    }
    if explicit_default && col.identity.is_some() {
        return Err(SqlError::syntax(format!("both default and identity specified for column \"{cname}\" of table \"{}\"", t.name)));
    }
    t.columns.push(col);
    Ok(pos)
}

/// Makes column `pos` (`col`, of table `t`) an identity column: an owned
/// sequence, as for serial, plus whether INSERT may supply the value.
fn make_identity(
    cat: &mut Catalog,
    t: &TableDef,
    pos: usize,
    col: &mut ColumnDef,
    generated_as: Option<&GeneratedAs>,
    options: Option<&[SequenceOptions]>,
) -> SqlResult<()> {
    if !matches!(col.ty, DataType::Int16 | DataType::Int32 | DataType::Int64) {
        return Err(SqlError::new("22023", "identity column type must be smallint, integer, or bigint"));
    }
    let seq_name = cat.unique_relation_name(&t.schema, &format!("{}_{}_seq", t.name, col.name));
    let mut seq = new_sequence(cat, &t.schema, &seq_name, col.ty.clone());
    apply_sequence_options(&mut seq, options.unwrap_or_default())?;
    seq.owned_by = Some((t.id, pos));
    col.default = Some(format!("nextval('{}'::regclass)", seq_name));
    col.nullable = false;
    col.identity = Some(match generated_as {
        Some(GeneratedAs::ByDefault) => Identity::ByDefault,
        _ => Identity::Always,
    });
    cat.sequences.insert(seq.id, Arc::new(seq));
    Ok(())
}

/// ALTER COLUMN on an identity column may not touch what makes it one.
fn not_on_identity(t: &TableDef, c: usize) -> SqlResult<()> {
    match t.columns[c].identity {
        Some(_) => Err(SqlError::syntax(format!("column \"{}\" of relation \"{}\" is an identity column", t.columns[c].name, t.name))),
        None => Ok(()),
    }
}

/// Adds a table constraint. `column` is set for inline column constraints.
fn add_constraint(cat: &mut Catalog, t: &mut TableDef, c: &TableConstraint, column: Option<usize>) -> SqlResult<()> {
    let cols_of = |t: &TableDef, cols: &[datafusion::sql::sqlparser::ast::IndexColumn]| -> SqlResult<Vec<usize>> {
        if cols.is_empty()
            && let Some(c) = column
        {
            return Ok(vec![c]);
        }
        cols.iter()
            .map(|ic| match &ic.column.expr {
                Expr::Identifier(i) => t.column(&names::ident(i)).map_err(SqlError::from),
                other => Err(SqlError::unsupported(format!("constraint on expression {other}"))),
            })
            .collect()
    };
    match c {
        TableConstraint::PrimaryKey(pk) => {
            if t.primary_key().is_some() {
                return Err(SqlError::new("42P16", format!("multiple primary keys for table \"{}\" are not allowed", t.name)));
            }
            let cols = cols_of(t, &pk.columns)?;
            for &c in &cols {
                t.columns[c].nullable = false;
            }
            let name = match &pk.name {
                Some(n) => names::ident(n),
                None => cat.unique_relation_name(&t.schema, &format!("{}_pkey", t.name)),
            };
            if cat.relation_name_taken(&t.schema, &name) {
                return Err(exists("relation", &name));
            }
            let id = cat.alloc_oid();
            t.indexes.push(IndexDef { id, name, columns: cols, unique: true, primary: true, constraint: true });
        }
        TableConstraint::Unique(u) => {
            let cols = cols_of(t, &u.columns)?;
            let name = match &u.name {
                Some(n) => names::ident(n),
                None => {
                    let colnames: Vec<&str> = cols.iter().map(|&c| t.columns[c].name.as_str()).collect();
                    cat.unique_relation_name(&t.schema, &format!("{}_{}_key", t.name, colnames.join("_")))
                }
            };
            if cat.relation_name_taken(&t.schema, &name) || t.indexes.iter().any(|i| i.name == name) {
                return Err(exists("relation", &name));
            }
            let id = cat.alloc_oid();
            t.indexes.push(IndexDef { id, name, columns: cols, unique: true, primary: false, constraint: true });
        }
        TableConstraint::ForeignKey(fk) => {
            let cols: Vec<usize> = if fk.columns.is_empty() {
                vec![column.ok_or_else(|| SqlError::syntax("FOREIGN KEY needs columns"))?]
            } else {
                fk.columns.iter().map(|c| t.column(&names::ident(c)).map_err(SqlError::from)).collect::<SqlResult<_>>()?
            };
            let (rschema, rname) = names::qualified(&fk.foreign_table)?;
            // A table may reference itself.
            let parent: TableDef = if rname == t.name && rschema == t.schema {
                t.clone()
            } else {
                (**cat.table_by_name(&rschema, &rname).ok_or_else(|| no_relation(&rname))?).clone()
            };
            let rcols: Vec<usize> = if fk.referred_columns.is_empty() {
                parent
                    .primary_key()
                    .map(|p| p.columns.clone())
                    .ok_or_else(|| SqlError::new("42830", format!("there is no primary key for referenced table \"{rname}\"")))?
            } else {
                fk.referred_columns.iter().map(|c| parent.column(&names::ident(c)).map_err(SqlError::from)).collect::<SqlResult<_>>()?
            };
            if rcols.len() != cols.len() {
                return Err(SqlError::new("42830", "number of referencing and referenced columns for foreign key disagree"));
            }
            if !parent.indexes.iter().any(|i| i.unique && i.columns.len() == rcols.len() && rcols.iter().all(|c| i.columns.contains(c))) {
                return Err(SqlError::new(
                    "42830",
                    format!("there is no unique constraint matching given keys for referenced table \"{rname}\""),
                ));
            }
            for (a, b) in cols.iter().zip(&rcols) {
                let (ta, tb) = (&t.columns[*a].ty, &parent.columns[*b].ty);
                if !fk_types_compatible(ta, tb) {
                    return Err(SqlError::new(
                        "42804",
                        format!(
                            "foreign key constraint cannot be implemented: key columns \"{}\" and \"{}\" are of incompatible types: {ta} and {tb}",
                            t.columns[*a].name, parent.columns[*b].name
                        ),
                    ));
                }
            }
            let name = match &fk.name {
                Some(n) => names::ident(n),
                None => {
                    let colnames: Vec<&str> = cols.iter().map(|&c| t.columns[c].name.as_str()).collect();
                    format!("{}_{}_fkey", t.name, colnames.join("_"))
                }
            };
            let id = cat.alloc_oid();
            t.foreign_keys.push(ForeignKeyDef {
                id,
                name,
                columns: cols,
                ref_table: parent.id,
                ref_columns: rcols,
                on_delete: fk_action(&fk.on_delete),
                on_update: fk_action(&fk.on_update),
            });
        }
        TableConstraint::Check(ch) => {
            let text = ch.expr.to_string();
            let resolve = |n: &str| t.column_index(n);
            // Compiled as it will be when rows are checked: from the stored text.
            if crate::sql::parse::stored_expr(&text).and_then(|e| expr::compile(&e, Some(&resolve))).is_none() {
                return Err(SqlError::unsupported(format!("CHECK ({text})"))
                    .with_hint("CHECK constraints may use columns, literals, arithmetic, comparisons, AND/OR/NOT and IS NULL."));
            }
            let name = match &ch.name {
                Some(n) => names::ident(n),
                None => match column {
                    Some(c) => format!("{}_{}_check", t.name, t.columns[c].name),
                    None => format!("{}_check", t.name),
                },
            };
            let id = cat.alloc_oid();
            t.checks.push(CheckDef { id, name, expr: text });
        }
        other => return Err(SqlError::unsupported(format!("constraint {other}"))),
    }
    Ok(())
}

/// What an ALTER TABLE leaves to do once its catalog is built.
#[derive(Default)]
struct AlterWork {
    /// Added columns whose default is evaluated per row (serial).
    backfill: Vec<usize>,
    /// Columns whose type change rewrites the table.
    rewrite: Vec<Rewrite>,
}

fn alter_table(
    cat: &mut Catalog,
    t: &mut TableDef,
    op: &AlterTableOperation,
    work: &mut AlterWork,
    notices: &mut Vec<SqlError>,
) -> SqlResult<()> {
    let backfill = &mut work.backfill;
    let notice = |notices: &mut Vec<SqlError>, m: String| {
        let mut n = SqlError::new("00000", m);
        n.severity = "NOTICE";
        notices.push(n);
    };
    match op {
        AlterTableOperation::AddColumn { if_not_exists, column_def, .. } => {
            let n = names::ident(&column_def.name);
            if t.column_index(&n).is_some() {
                if *if_not_exists {
                    notice(notices, format!("column \"{n}\" of relation \"{}\" already exists, skipping", t.name));
                    return Ok(());
                }
                return Err(SqlError::new("42701", format!("column \"{n}\" of relation \"{}\" already exists", t.name)));
            }
            let mut cons = Vec::new();
            let pos = add_column_def(cat, t, column_def, &mut cons)?;
            // Existing rows read the default as their value; per-row defaults (serial) are filled in.
            if let Some(d) = t.columns[pos].default.clone() {
                if d.contains("nextval(") {
                    backfill.push(pos);
                } else if let Some(v) = constant_default(&d, &t.columns[pos].ty, &crate::pg::datetime::Zone::Utc) {
                    let v = v?;
                    t.columns[pos].missing = (!v.is_null()).then_some(v);
                }
            }
            if !backfill.contains(&pos) && !t.columns[pos].nullable && t.columns[pos].missing.is_none() {
                // NOT NULL without a default: fine only on an empty table (the engine checks).
            }
            for (col, c) in cons {
                add_constraint(cat, t, &c, Some(col))?;
            }
        }
        AlterTableOperation::DropColumn { column_names, if_exists, drop_behavior, .. } => {
            for cn in column_names {
                let n = names::ident(cn);
                let Some(c) = t.column_index(&n) else {
                    if *if_exists {
                        notice(notices, format!("column \"{n}\" of relation \"{}\" does not exist, skipping", t.name));
                        continue;
                    }
                    return Err(SqlError::new("42703", format!("column \"{n}\" of relation \"{}\" does not exist", t.name)));
                };
                let cascade = matches!(drop_behavior, Some(datafusion::sql::sqlparser::ast::DropBehavior::Cascade));
                let referenced = cat.referencing(t.id).any(|(_, fk)| fk.ref_columns.contains(&c));
                if referenced && !cascade {
                    return Err(SqlError::new(
                        "2BP01",
                        format!("cannot drop column {n} of table {} because other objects depend on it", t.name),
                    )
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
                if referenced {
                    drop_referencing_fks(cat, t.id, Some(c));
                }
                let dependents: Vec<usize> = (0..t.columns.len())
                    .filter(|&g| !t.columns[g].dropped && g != c)
                    .filter(|&g| t.columns[g].generated.as_deref().is_some_and(|e| generated::referenced_columns(t, e).contains(&c)))
                    .collect();
                if let Some(&g) = dependents.first() {
                    if !cascade {
                        return Err(SqlError::new(
                            "2BP01",
                            format!("cannot drop column {n} of table {} because other objects depend on it", t.name),
                        )
                        .with_detail(format!("column {} of table {} depends on column {n} of table {}", t.columns[g].name, t.name, t.name))
                        .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                    }
                    for &g in &dependents {
                        notice(notices, format!("drop cascades to column {} of table {}", t.columns[g].name, t.name));
                        t.columns[g].dropped = true;
                        t.columns[g].generated = None;
                        t.columns[g].nullable = true;
                        t.indexes.retain(|i| !i.columns.contains(&g));
                    }
                }
                t.columns[c].dropped = true;
                t.columns[c].generated = None;
                t.columns[c].default = None;
                t.columns[c].nullable = true;
                t.indexes.retain(|i| !i.columns.contains(&c));
                t.foreign_keys.retain(|f| !f.columns.contains(&c));
                let seqs: Vec<u32> = cat.sequences.values().filter(|s| s.owned_by == Some((t.id, c))).map(|s| s.id).collect();
                for s in seqs {
                    cat.sequences.remove(&s);
                }
            }
        }
        AlterTableOperation::AddConstraint { constraint, .. } => add_constraint(cat, t, constraint, None)?,
        AlterTableOperation::DropConstraint { if_exists, name, drop_behavior } => {
            let n = names::ident(name);
            let before = (t.indexes.len(), t.foreign_keys.len(), t.checks.len());
            let cascade = matches!(drop_behavior, Some(datafusion::sql::sqlparser::ast::DropBehavior::Cascade));
            if let Some(i) = t.indexes.iter().find(|i| i.constraint && i.name == n) {
                let cols = i.columns.clone();
                let needed = cat.referencing(t.id).any(|(_, fk)| fk.ref_columns == cols);
                if needed && !cascade {
                    return Err(SqlError::new(
                        "2BP01",
                        format!("cannot drop constraint {n} on table {} because other objects depend on it", t.name),
                    )
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
            }
            t.indexes.retain(|i| !(i.constraint && i.name == n));
            t.foreign_keys.retain(|f| f.name != n);
            t.checks.retain(|c| c.name != n);
            if before == (t.indexes.len(), t.foreign_keys.len(), t.checks.len()) && !*if_exists {
                return Err(SqlError::new("42704", format!("constraint \"{n}\" of relation \"{}\" does not exist", t.name)));
            }
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let n = names::ident(column_name);
            let c = t.column(&n)?;
            match op {
                AlterColumnOperation::SetNotNull => t.columns[c].nullable = false,
                AlterColumnOperation::DropNotNull => {
                    not_on_identity(t, c)?;
                    if t.primary_key().is_some_and(|p| p.columns.contains(&c)) {
                        return Err(SqlError::new("42P16", format!("column \"{n}\" is in a primary key")));
                    }
                    t.columns[c].nullable = true;
                }
                AlterColumnOperation::SetDefault { value } => {
                    not_on_identity(t, c)?;
                    if t.columns[c].generated.is_some() {
                        return Err(SqlError::new("42809", format!("column \"{n}\" of relation \"{}\" is a generated column", t.name)));
                    }
                    let text = value.to_string();
                    if super::dml::compile_default(&text).is_none() {
                        return Err(SqlError::unsupported(format!("DEFAULT expression {text}")));
                    }
                    t.columns[c].default = Some(text);
                }
                AlterColumnOperation::DropDefault => {
                    not_on_identity(t, c).map_err(|e| e.with_hint("Use ALTER TABLE ... ALTER COLUMN ... DROP IDENTITY instead."))?;
                    t.columns[c].default = None;
                }
                AlterColumnOperation::AddGenerated { generated_as, sequence_options } => {
                    let col = &t.columns[c];
                    if col.identity.is_some() {
                        return Err(SqlError::new(
                            "42611",
                            format!("column \"{n}\" of relation \"{}\" is already an identity column", t.name),
                        ));
                    }
                    if col.default.is_some() {
                        return Err(SqlError::new(
                            "42611",
                            format!("column \"{n}\" of relation \"{}\" already has a default value", t.name),
                        ));
                    }
                    if col.nullable {
                        return Err(SqlError::new(
                            "55000",
                            format!("column \"{n}\" of relation \"{}\" must be declared NOT NULL before identity can be added", t.name),
                        ));
                    }
                    let mut col = col.clone();
                    make_identity(cat, t, c, &mut col, generated_as.as_ref(), sequence_options.as_deref())?;
                    t.columns[c] = col;
                }
                AlterColumnOperation::SetDataType { data_type, using, .. } => {
                    let (ty, _) = column_type(data_type)?;
                    let from = t.columns[c].ty.clone();
                    let plain_using = using.as_ref().is_none_or(|u| matches!(u, Expr::Identifier(i) if names::ident(i) == n));
                    if ty == from && plain_using {
                        return Ok(());
                    }
                    if work.rewrite.iter().any(|r| r.column == c) {
                        return Err(SqlError::new("42601", format!("cannot alter type of column \"{n}\" twice")));
                    }
                    if using.is_none() && !rewrite::assignment_cast(&from, &ty) {
                        return Err(SqlError::new(
                            "42804",
                            format!("column \"{n}\" cannot be cast automatically to type {}", ty.pg_name()),
                        )
                        .with_hint(format!(
                            "You might need to specify \"USING {}::{}\".",
                            crate::sql::format::quote_ident(&n),
                            ty.pg_name()
                        )));
                    }
                    check_fk_types(cat, t, c, &ty)?;
                    if let Some(g) = t
                        .columns
                        .iter()
                        .find(|g| !g.dropped && g.generated.as_deref().is_some_and(|e| generated::referenced_columns(t, e).contains(&c)))
                    {
                        return Err(SqlError::unsupported("cannot alter type of a column used by a generated column")
                            .with_detail(format!("Column \"{n}\" is used by generated column \"{}\".", g.name)));
                    }
                    if t.columns[c].identity.is_some() {
                        retype_identity_sequence(cat, t, c, &ty)?;
                    }
                    if !(plain_using && rewrite::in_place(&from, &ty)) {
                        let using = using.clone().filter(|_| !plain_using);
                        work.rewrite.push(Rewrite { column: c, using });
                        let zone = crate::pg::datetime::Zone::Utc;
                        let missing = t.columns[c].missing.take();
                        t.columns[c].missing = missing.and_then(|v| rewrite::cast_value(v, &ty, &zone).ok());
                    }
                    t.columns[c].ty = ty;
                }
            }
        }
        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
            let old = names::ident(old_column_name);
            let new = names::ident(new_column_name);
            let c = t.column(&old)?;
            if t.column_index(&new).is_some() {
                return Err(SqlError::new("42701", format!("column \"{new}\" of relation \"{}\" already exists", t.name)));
            }
            for col in t.columns.iter_mut() {
                if let Some(e) = &col.generated {
                    col.generated = Some(generated::rename_column_in(e, &old, &new));
                }
            }
            for ch in t.checks.iter_mut() {
                ch.expr = generated::rename_column_in(&ch.expr, &old, &new);
            }
            t.columns[c].name = new;
        }
        AlterTableOperation::RenameTable { table_name } => {
            let new = names::last(match table_name {
                datafusion::sql::sqlparser::ast::RenameTableNameKind::As(n)
                | datafusion::sql::sqlparser::ast::RenameTableNameKind::To(n) => n,
            });
            if cat.relation_name_taken(&t.schema, &new) {
                return Err(exists("relation", &new));
            }
            t.name = new;
        }
        AlterTableOperation::RenameConstraint { old_name, new_name } => {
            let (old, new) = (names::ident(old_name), names::ident(new_name));
            let mut found = false;
            for i in t.indexes.iter_mut().filter(|i| i.name == old) {
                i.name = new.clone();
                found = true;
            }
            for f in t.foreign_keys.iter_mut().filter(|f| f.name == old) {
                f.name = new.clone();
                found = true;
            }
            for c in t.checks.iter_mut().filter(|c| c.name == old) {
                c.name = new.clone();
                found = true;
            }
            if !found {
                return Err(SqlError::new("42704", format!("constraint \"{old}\" for table \"{}\" does not exist", t.name)));
            }
        }
        AlterTableOperation::OwnerTo { .. } => {}
        AlterTableOperation::SetTblProperties { .. } => {}
        other => return Err(SqlError::unsupported(format!("ALTER TABLE {other}"))),
    }
    Ok(())
}

/// Drops foreign keys that reference table `id` (all, or those using column `col`).
fn drop_referencing_fks(cat: &mut Catalog, id: u32, col: Option<usize>) {
    let ids: Vec<u32> = cat.tables.keys().copied().collect();
    for tid in ids {
        let t = &cat.tables[&tid];
        if t.foreign_keys.iter().any(|f| f.ref_table == id && col.is_none_or(|c| f.ref_columns.contains(&c))) {
            let mut nt = (**t).clone();
            nt.foreign_keys.retain(|f| !(f.ref_table == id && col.is_none_or(|c| f.ref_columns.contains(&c))));
            cat.tables.insert(tid, Arc::new(nt));
        }
    }
}

/// Drops one object; false if it does not exist.
fn drop_object(cat: &mut Catalog, kind: ObjectType, schema: &str, name: &str, cascade: bool) -> SqlResult<bool> {
    match kind {
        ObjectType::Table => {
            let Some(t) = cat.table_by_name(schema, name).cloned() else {
                if cat.view_by_name(schema, name).is_some() {
                    return Err(SqlError::new("42809", format!("\"{name}\" is not a table")).with_hint("Use DROP VIEW to remove a view."));
                }
                return Ok(false);
            };
            let refs: Vec<(String, String)> =
                cat.referencing(t.id).filter(|(rt, _)| rt.id != t.id).map(|(rt, fk)| (rt.name.clone(), fk.name.clone())).collect();
            if !refs.is_empty() {
                if !cascade {
                    return Err(SqlError::new("2BP01", format!("cannot drop table {name} because other objects depend on it"))
                        .with_detail(
                            refs.iter()
                                .map(|(t, f)| format!("constraint {f} on table {t} depends on table {name}"))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        )
                        .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
                drop_referencing_fks(cat, t.id, None);
            }
            cat.tables.remove(&t.id);
            let owned: Vec<u32> = cat.sequences.values().filter(|s| s.owned_by.is_some_and(|(tid, _)| tid == t.id)).map(|s| s.id).collect();
            for s in owned {
                cat.sequences.remove(&s);
            }
            Ok(true)
        }
        ObjectType::Index => {
            let Some((t, i)) = cat.index_by_name(schema, name).map(|(t, i)| (t.clone(), i)) else { return Ok(false) };
            let idx = &t.indexes[i];
            if idx.constraint {
                return Err(SqlError::new(
                    "2BP01",
                    format!("cannot drop index {name} because constraint {name} on table {} requires it", t.name),
                )
                .with_hint(format!("You can drop constraint {name} on table {} instead.", t.name)));
            }
            let mut nt = (*t).clone();
            nt.indexes.remove(i);
            cat.tables.insert(nt.id, Arc::new(nt));
            Ok(true)
        }
        ObjectType::Sequence => {
            let Some(s) = cat.sequence_by_name(schema, name).cloned() else { return Ok(false) };
            let used = cat
                .tables
                .values()
                .any(|t| t.columns.iter().any(|c| c.default.as_deref().is_some_and(|d| d.contains(&format!("'{name}'")))));
            if used && !cascade {
                return Err(SqlError::new("2BP01", format!("cannot drop sequence {name} because other objects depend on it"))
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            cat.sequences.remove(&s.id);
            Ok(true)
        }
        ObjectType::View => {
            let Some(v) = cat.view_by_name(schema, name).cloned() else { return Ok(false) };
            cat.views.remove(&v.id);
            Ok(true)
        }
        ObjectType::Schema => {
            let s = name.to_string();
            if !cat.schemas.contains_key(&s) {
                return Ok(false);
            }
            let has = cat.tables.values().any(|t| t.schema == s)
                || cat.views.values().any(|v| v.schema == s)
                || cat.sequences.values().any(|q| q.schema == s);
            if has && !cascade {
                return Err(SqlError::new("2BP01", format!("cannot drop schema {s} because other objects depend on it"))
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            cat.tables.retain(|_, t| t.schema != s);
            cat.views.retain(|_, v| v.schema != s);
            cat.sequences.retain(|_, q| q.schema != s);
            cat.schemas.remove(&s);
            Ok(true)
        }
        ObjectType::Role | ObjectType::User => {
            if cat.roles.get(name).is_some_and(|r| r.oid == duetdb_storage::catalog::BOOTSTRAP_SUPERUSER_OID) {
                return Err(SqlError::new("55006", format!("cannot drop role {name}: it is the bootstrap superuser")));
            }
            Ok(cat.roles.remove(name).is_some())
        }
        other => Err(SqlError::unsupported(format!("DROP {other}"))),
    }
}

#[allow(dead_code)]
fn _use(_: ObjectName) {}

/// Whether a foreign key may join columns of these types (the engine
/// compares integers across widths and strings across kinds).
fn fk_types_compatible(a: &DataType, b: &DataType) -> bool {
    let int = |x: &DataType| matches!(x, DataType::Int16 | DataType::Int32 | DataType::Int64);
    let text = |x: &DataType| matches!(x, DataType::Text | DataType::Varchar(_) | DataType::Char(_));
    a == b || (int(a) && int(b)) || (text(a) && text(b))
}

/// A type change must leave every foreign key on or to the column joinable.
fn check_fk_types(cat: &Catalog, t: &TableDef, c: usize, ty: &DataType) -> SqlResult<()> {
    let incompatible = |fk: &str, a: &str, b: &str, ta: &DataType, tb: &DataType| {
        SqlError::new("42804", format!("foreign key constraint \"{fk}\" cannot be implemented")).with_detail(format!(
            "Key columns \"{a}\" and \"{b}\" are of incompatible types: {} and {}.",
            ta.pg_name(),
            tb.pg_name()
        ))
    };
    for fk in &t.foreign_keys {
        for (&a, &b) in fk.columns.iter().zip(&fk.ref_columns) {
            let parent_col = if fk.ref_table == t.id { &t.columns[b] } else { &cat.tables[&fk.ref_table].columns[b] };
            let ta = if a == c { ty } else { &t.columns[a].ty };
            let tb = if fk.ref_table == t.id && b == c { ty } else { &parent_col.ty };
            if (a == c || (fk.ref_table == t.id && b == c)) && !fk_types_compatible(ta, tb) {
                return Err(incompatible(&fk.name, &t.columns[a].name, &parent_col.name, ta, tb));
            }
        }
    }
    for (child, fk) in cat.referencing(t.id).filter(|(ch, _)| ch.id != t.id) {
        for (&a, &b) in fk.columns.iter().zip(&fk.ref_columns) {
            if b == c && !fk_types_compatible(&child.columns[a].ty, ty) {
                return Err(incompatible(&fk.name, &child.columns[a].name, &t.columns[b].name, &child.columns[a].ty, ty));
            }
        }
    }
    Ok(())
}

/// An identity column's sequence follows its type (as in PostgreSQL), and
/// a bound left at the old type's default moves to the new type's.
fn retype_identity_sequence(cat: &mut Catalog, t: &TableDef, c: usize, ty: &DataType) -> SqlResult<()> {
    let Some((new_min, new_max)) = integer_range(ty) else {
        return Err(SqlError::new("22023", "identity column type must be smallint, integer, or bigint"));
    };
    let Some(seq) = cat.sequences.values().find(|s| s.owned_by == Some((t.id, c))).cloned() else { return Ok(()) };
    let (old_min, old_max) = integer_range(&seq.ty).unwrap_or((i64::MIN, i64::MAX));
    let mut s = (*seq).clone();
    s.ty = ty.clone();
    if s.max == old_max {
        s.max = new_max;
    }
    if s.min == old_min {
        s.min = new_min;
    }
    if s.max > new_max || s.min < new_min {
        let (what, v) = if s.max > new_max { ("MAXVALUE", s.max) } else { ("MINVALUE", s.min) };
        return Err(SqlError::new("22023", format!("{what} ({v}) is out of range for sequence data type {}", ty.pg_name())));
    }
    cat.sequences.insert(s.id, Arc::new(s));
    Ok(())
}

/// PostgreSQL converts a changed column's default to the new type, and
/// refuses the change when it cannot (a per-row default, nextval, converts
/// when it runs).
fn check_default_converts(t: &TableDef, c: usize, zone: &crate::pg::datetime::Zone) -> SqlResult<()> {
    let col = &t.columns[c];
    let Some(d) = col.default.as_deref() else { return Ok(()) };
    if d.contains("nextval(") {
        return Ok(());
    }
    match constant_default(d, &col.ty, zone) {
        None | Some(Ok(_)) => Ok(()),
        Some(Err(_)) => Err(SqlError::new(
            "42804",
            format!("default for column \"{}\" cannot be cast automatically to type {}", col.name, col.ty.pg_name()),
        )),
    }
}

/// The range of an integer type (what a sequence of that type may reach).
fn integer_range(ty: &DataType) -> Option<(i64, i64)> {
    match ty {
        DataType::Int16 => Some((i16::MIN as i64, i16::MAX as i64)),
        DataType::Int32 => Some((i32::MIN as i64, i32::MAX as i64)),
        DataType::Int64 => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

/// A default without nextval evaluated once, as a `ty` value (None when the
/// statement evaluator cannot compile it).
fn constant_default(text: &str, ty: &DataType, zone: &crate::pg::datetime::Zone) -> Option<SqlResult<Value>> {
    let ex = super::dml::compile_default(text)?;
    let mut never = |_: &str| -> SqlResult<i64> { Err(SqlError::internal("nextval")) };
    let mut env = expr::Env { row: &[], params: &[], now: crate::pg::datetime::now_micros(), zone, nextval: &mut never };
    Some(expr::eval_typed(&ex, &mut env, Some(ty)).and_then(|v| expr::assign(v, ty, zone)))
}

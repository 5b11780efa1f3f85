//! `pg_catalog` and `information_schema`: the catalog as PostgreSQL shows it.
//!
//! psql's `\d`, SQLAlchemy's reflection, pandas and drivers learn about tables
//! by querying these views, so their names, columns and types follow
//! PostgreSQL 15. Each table is generated when scanned, from the statement's
//! catalog (so a transaction sees its own DDL) and from session/server state
//! (settings, prepared statements, activity, replication).
//!
//! A table is a list of columns and a row generator; cells are a small enum so
//! the definitions below read like the documentation they mirror.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType as A, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use duetdb_storage::catalog::{
    BOOTSTRAP_SUPERUSER_OID, Catalog, FkAction, Identity, PG_CATALOG_SCHEMA_OID, PUBLIC_SCHEMA_OID, SequenceDef, TableDef,
};
use duetdb_storage::{DataType, ReadView};

use crate::pg::encode::{META_OID, META_TYPMOD};
use crate::pg::oid;
use crate::sql::provider::ViewSlot;

pub const INFORMATION_SCHEMA_OID: u32 = 13_000;
pub const HEAP_AM: u32 = 2;
pub const BTREE_AM: u32 = 403;
pub const DEFAULT_TABLESPACE: u32 = 1663;
/// Constraint OIDs for PRIMARY KEY / UNIQUE are derived from their index's OID.
pub const CONSTRAINT_OID_OFFSET: u32 = 1_000_000_000;

/// What system tables need to know beyond the catalog.
pub trait SystemContext: Send + Sync {
    fn user(&self) -> String;
    fn database(&self) -> String;
    fn settings(&self) -> Vec<SettingRow>;
    fn prepared_statements(&self) -> Vec<PreparedRow>;
    fn activity(&self) -> Vec<ActivityRow>;
    fn locks(&self) -> Vec<crate::server::LockRow>;
    fn replication(&self) -> Vec<ReplicationRow>;
    fn slots(&self) -> Vec<SlotRow>;
    fn cursors(&self) -> Vec<(String, String)>;
    fn in_recovery(&self) -> bool;
    fn sequence_last_value(&self, id: u32) -> Option<i64>;
    fn table_rows(&self, def: &TableDef) -> i64;
}

pub struct SettingRow {
    pub name: String,
    pub setting: String,
    pub unit: Option<String>,
    pub category: String,
    pub description: String,
    pub context: String,
    pub vartype: String,
    pub source: String,
    pub min: Option<String>,
    pub max: Option<String>,
    pub enumvals: Option<Vec<String>>,
    pub boot: String,
    pub reset: String,
    pub pending_restart: bool,
}

pub struct PreparedRow {
    pub name: String,
    pub statement: String,
    pub prepare_time: i64,
    pub parameter_types: Vec<String>,
    pub from_sql: bool,
}

pub struct ActivityRow {
    pub pid: i32,
    pub database: String,
    pub user: String,
    pub application_name: String,
    pub client_addr: Option<String>,
    pub client_port: Option<i32>,
    pub backend_start: i64,
    pub xact_start: Option<i64>,
    pub query_start: Option<i64>,
    pub state: String,
    pub query: String,
    pub backend_type: String,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    pub backend_xid: Option<u64>,
}

pub struct ReplicationRow {
    pub pid: i32,
    pub user: String,
    pub application_name: String,
    pub client_addr: String,
    pub client_port: i32,
    pub backend_start: i64,
    pub state: String,
    pub sent_lsn: String,
    pub write_lsn: String,
    pub flush_lsn: String,
    pub replay_lsn: String,
    /// Lags in microseconds (None when unknown / caught up long ago).
    pub write_lag: Option<i64>,
    pub flush_lag: Option<i64>,
    pub replay_lag: Option<i64>,
    pub sync_priority: i32,
    pub sync_state: String,
    pub reply_time: Option<i64>,
}

pub struct SlotRow {
    pub name: String,
    pub active: bool,
    pub active_pid: Option<i32>,
    pub restart_lsn: String,
    pub wal_status: String,
}

#[derive(Clone, Debug)]
pub enum Cell {
    Null,
    Oid(u32),
    Str(String),
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Ts(i64),
    StrList(Vec<String>),
    I16List(Vec<i16>),
    OidList(Vec<u32>),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Str(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Str(s)
    }
}
impl From<bool> for Cell {
    fn from(b: bool) -> Cell {
        Cell::Bool(b)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(o: Option<T>) -> Cell {
        o.map(Into::into).unwrap_or(Cell::Null)
    }
}

/// Column types of system tables (Arrow type + the PostgreSQL type shown).
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Oid,
    Name,
    Text,
    Char,
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Ts,
    TextArr,
    Int2Vector,
    I16Arr,
    OidVector,
    OidArr,
    Regproc,
    Xid,
    Lsn,
    Regtype,
    Interval,
}

impl Ty {
    fn arrow(self) -> A {
        match self {
            Ty::Oid | Ty::Xid => A::UInt32,
            Ty::Name | Ty::Text | Ty::Char | Ty::Regproc | Ty::Regtype => A::Utf8,
            // pg_lsn is a tagged u64 everywhere (see sql::functions), so it compares as a number.
            Ty::Lsn => A::UInt64,
            Ty::Bool => A::Boolean,
            Ty::I16 => A::Int16,
            Ty::I32 => A::Int32,
            Ty::I64 => A::Int64,
            Ty::F32 => A::Float32,
            Ty::F64 => A::Float64,
            Ty::Interval => A::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
            Ty::Ts => A::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Ty::TextArr => A::List(Arc::new(Field::new("item", A::Utf8, true))),
            Ty::Int2Vector | Ty::I16Arr => A::List(Arc::new(Field::new("item", A::Int16, true))),
            Ty::OidVector | Ty::OidArr => A::List(Arc::new(Field::new("item", A::UInt32, true))),
        }
    }

    fn pg_oid(self) -> u32 {
        match self {
            Ty::Oid => oid::OID,
            Ty::Xid => oid::XID,
            Ty::Name => oid::NAME,
            Ty::Text => oid::TEXT,
            Ty::Char => oid::CHAR,
            Ty::Regproc => oid::REGPROC,
            Ty::Lsn => oid::PG_LSN,
            Ty::Regtype => oid::REGTYPE,
            Ty::Bool => oid::BOOL,
            Ty::I16 => oid::INT2,
            Ty::I32 => oid::INT4,
            Ty::I64 => oid::INT8,
            Ty::F32 => oid::FLOAT4,
            Ty::F64 => oid::FLOAT8,
            Ty::Interval => oid::INTERVAL,
            Ty::Ts => oid::TIMESTAMPTZ,
            Ty::TextArr => 1009,
            Ty::Int2Vector => oid::INT2VECTOR,
            Ty::I16Arr => 1005,
            Ty::OidVector => oid::OIDVECTOR,
            Ty::OidArr => 1028,
        }
    }
}

type Rows = fn(&Ctx) -> Vec<Vec<Cell>>;

pub struct TableSpec {
    pub schema: &'static str,
    pub name: &'static str,
    pub oid: u32,
    pub columns: &'static [(&'static str, Ty)],
    rows: Rows,
}

/// Everything a row generator may look at.
pub struct Ctx {
    pub catalog: Arc<Catalog>,
    pub view: Option<ReadView>,
    pub system: Option<Arc<dyn SystemContext>>,
}

impl Ctx {
    fn user(&self) -> String {
        self.system.as_ref().map(|s| s.user()).unwrap_or_else(|| "duet".into())
    }
    fn database(&self) -> String {
        self.system.as_ref().map(|s| s.database()).unwrap_or_else(|| "postgres".into())
    }
}

pub struct SystemTable {
    spec: &'static TableSpec,
    schema: SchemaRef,
    slot: Arc<ViewSlot>,
}

impl fmt::Debug for SystemTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SystemTable({}.{})", self.spec.schema, self.spec.name)
    }
}

pub fn spec_schema(spec: &TableSpec) -> SchemaRef {
    Arc::new(Schema::new(
        spec.columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.arrow(), true).with_metadata(HashMap::from([(META_OID.to_string(), t.pg_oid().to_string())])))
            .collect::<Vec<_>>(),
    ))
}

impl SystemTable {
    pub fn lookup(schema: &str, name: &str, slot: Arc<ViewSlot>) -> Option<SystemTable> {
        let spec = TABLES.iter().find(|t| t.schema == schema && t.name == name)?;
        Some(SystemTable { spec, schema: spec_schema(spec), slot })
    }

    pub fn build(spec: &TableSpec, schema: &SchemaRef, ctx: &Ctx) -> DfResult<RecordBatch> {
        let rows = (spec.rows)(ctx);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(spec.columns.len());
        for (c, (_, ty)) in spec.columns.iter().enumerate() {
            arrays.push(build_column(*ty, rows.iter().map(|r| r.get(c).unwrap_or(&Cell::Null))));
        }
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let view = self.slot.get().ok();
        let catalog = self.slot.catalog().unwrap_or_else(|| Arc::new(Catalog::bootstrap("duet", None)));
        let ctx = Ctx { catalog, view, system: self.slot.system() };
        let batch = SystemTable::build(self.spec, &self.schema, &ctx)?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned())?)
    }
}

fn build_column<'a>(ty: Ty, cells: impl Iterator<Item = &'a Cell>) -> ArrayRef {
    macro_rules! prim {
        ($b:expr, $pat:pat => $v:expr) => {{
            let mut b = $b;
            for c in cells {
                match c {
                    $pat => b.append_value($v),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }};
    }
    match ty {
        Ty::Oid | Ty::Xid => prim!(UInt32Builder::new(), Cell::Oid(v) => *v),
        Ty::Bool => prim!(BooleanBuilder::new(), Cell::Bool(v) => *v),
        Ty::I16 => prim!(Int16Builder::new(), Cell::I16(v) => *v),
        Ty::I32 => prim!(Int32Builder::new(), Cell::I32(v) => *v),
        Ty::I64 => prim!(Int64Builder::new(), Cell::I64(v) => *v),
        Ty::F32 => prim!(Float32Builder::new(), Cell::F32(v) => *v),
        Ty::F64 => prim!(Float64Builder::new(), Cell::F64(v) => *v),
        // Microseconds (Cell::I64) as an interval, PostgreSQL's type for lags and ages.
        Ty::Interval => prim!(datafusion::arrow::array::IntervalMonthDayNanoBuilder::new(),
            Cell::I64(us) => datafusion::arrow::datatypes::IntervalMonthDayNano::new(0, 0, us.saturating_mul(1000))),
        Ty::Ts => {
            let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
            for c in cells {
                match c {
                    Cell::Ts(v) => b.append_value(*v),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Ty::Name | Ty::Text | Ty::Char | Ty::Regproc | Ty::Regtype => {
            prim!(StringBuilder::new(), Cell::Str(v) => v)
        }
        Ty::Lsn => {
            let mut b = UInt64Builder::new();
            for c in cells {
                match c {
                    Cell::Str(v) => b.append_option(v.parse::<duetdb_storage::Lsn>().ok().map(|l| l.0)),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        Ty::TextArr => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for c in cells {
                match c {
                    Cell::StrList(v) => {
                        for s in v {
                            b.values().append_value(s);
                        }
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        Ty::Int2Vector | Ty::I16Arr => {
            let mut b = ListBuilder::new(Int16Builder::new());
            for c in cells {
                match c {
                    Cell::I16List(v) => {
                        for s in v {
                            b.values().append_value(*s);
                        }
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        Ty::OidVector | Ty::OidArr => {
            let mut b = ListBuilder::new(UInt32Builder::new());
            for c in cells {
                match c {
                    Cell::OidList(v) => {
                        for s in v {
                            b.values().append_value(*s);
                        }
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the tables and by catalog functions
// ---------------------------------------------------------------------------

pub fn namespace_oid(catalog: &Catalog, schema: &str) -> u32 {
    match schema {
        "pg_catalog" => PG_CATALOG_SCHEMA_OID,
        "information_schema" => INFORMATION_SCHEMA_OID,
        s => catalog.schemas.get(s).copied().unwrap_or(PUBLIC_SCHEMA_OID),
    }
}

pub fn namespace_name(catalog: &Catalog, oid: u32) -> Option<String> {
    match oid {
        PG_CATALOG_SCHEMA_OID => Some("pg_catalog".into()),
        INFORMATION_SCHEMA_OID => Some("information_schema".into()),
        o => catalog.schemas.iter().find(|(_, v)| **v == o).map(|(k, _)| k.clone()),
    }
}

pub fn role_name(catalog: &Catalog, oid: u32) -> Option<String> {
    catalog.roles.values().find(|r| r.oid == oid).map(|r| r.name.clone())
}

/// Relation kinds by OID: what `::regclass` and pg_class agree on.
pub enum Relation<'a> {
    Table(&'a Arc<TableDef>),
    Index(&'a Arc<TableDef>, usize),
    Sequence(&'a Arc<duetdb_storage::catalog::SequenceDef>),
    View(&'a Arc<duetdb_storage::catalog::ViewDef>),
    System(&'static TableSpec),
}

pub fn relation_by_oid(catalog: &Catalog, oid: u32) -> Option<Relation<'_>> {
    if let Some(t) = catalog.tables.get(&oid) {
        return Some(Relation::Table(t));
    }
    if let Some(s) = catalog.sequences.get(&oid) {
        return Some(Relation::Sequence(s));
    }
    if let Some(v) = catalog.views.get(&oid) {
        return Some(Relation::View(v));
    }
    for t in catalog.tables.values() {
        if let Some(i) = t.indexes.iter().position(|i| i.id == oid) {
            return Some(Relation::Index(t, i));
        }
    }
    TABLES.iter().find(|t| t.oid == oid).map(Relation::System)
}

/// Resolves a relation name (optionally schema-qualified) to its OID, as `::regclass` does.
/// The schema of relation `oid` (tables, indexes, sequences, views, system tables).
pub fn relation_schema(catalog: &Catalog, oid: u32) -> Option<String> {
    if let Some(t) = TABLES.iter().find(|t| t.oid == oid) {
        return Some(t.schema.to_string());
    }
    if let Some(t) = catalog.tables.get(&oid) {
        return Some(t.schema.clone());
    }
    if let Some(t) = catalog.tables.values().find(|t| t.indexes.iter().any(|i| i.id == oid)) {
        return Some(t.schema.clone());
    }
    if let Some(q) = catalog.sequences.get(&oid) {
        return Some(q.schema.clone());
    }
    catalog.views.get(&oid).map(|v| v.schema.clone())
}

/// Is `oid` found by an unqualified name? Schemas searched: pg_catalog, then
/// the search path (`"$user", public`), and the first relation of a name wins.
pub fn relation_is_visible(catalog: &Catalog, oid: u32, user: &str) -> bool {
    let Some(schema) = relation_schema(catalog, oid) else { return false };
    if schema == "pg_catalog" {
        return true;
    }
    if schema != "public" && schema != user {
        return false;
    }
    // Shadowed by a pg_catalog relation of the same name?
    let name = catalog
        .tables
        .get(&oid)
        .map(|t| t.name.clone())
        .or_else(|| catalog.sequences.get(&oid).map(|q| q.name.clone()))
        .or_else(|| catalog.views.get(&oid).map(|v| v.name.clone()));
    !name.is_some_and(|n| TABLES.iter().any(|t| t.schema == "pg_catalog" && t.name == n))
}

pub fn relation_oid(catalog: &Catalog, name: &str) -> Option<u32> {
    let name = name.trim();
    let parts = crate::sql::names::split_qualified(name);
    let (schema, rel) = match parts.as_slice() {
        [r] => (None, r.as_str()),
        [s, r] => (Some(s.as_str()), r.as_str()),
        [_, s, r] => (Some(s.as_str()), r.as_str()),
        _ => return None,
    };
    let schemas: Vec<&str> = match schema {
        Some(s) => vec![s],
        None => vec!["pg_catalog", "public"],
    };
    for s in schemas {
        if s == "pg_catalog" || s == "information_schema" {
            if let Some(t) = TABLES.iter().find(|t| t.schema == s && t.name == rel) {
                return Some(t.oid);
            }
            continue;
        }
        if let Some(t) = catalog.table_by_name(s, rel) {
            return Some(t.id);
        }
        if let Some(q) = catalog.sequence_by_name(s, rel) {
            return Some(q.id);
        }
        if let Some(v) = catalog.view_by_name(s, rel) {
            return Some(v.id);
        }
        if let Some((t, i)) = catalog.index_by_name(s, rel) {
            return Some(t.indexes[i].id);
        }
    }
    None
}

/// `format_type(oid, typmod)`.
pub fn format_type(type_oid: u32, typmod: i32) -> Option<String> {
    Some(match type_oid {
        oid::BOOL => "boolean".into(),
        oid::INT2 => "smallint".into(),
        oid::INT4 => "integer".into(),
        oid::INT8 => "bigint".into(),
        oid::FLOAT4 => "real".into(),
        oid::FLOAT8 => "double precision".into(),
        oid::NUMERIC if typmod >= 4 => {
            let t = typmod - 4;
            format!("numeric({},{})", t >> 16, t & 0xFFFF)
        }
        oid::NUMERIC => "numeric".into(),
        oid::VARCHAR if typmod >= 4 => format!("character varying({})", typmod - 4),
        oid::VARCHAR => "character varying".into(),
        oid::BPCHAR if typmod >= 4 => format!("character({})", typmod - 4),
        oid::BPCHAR => "bpchar".into(),
        oid::TIMESTAMP => "timestamp without time zone".into(),
        oid::TIMESTAMPTZ => "timestamp with time zone".into(),
        oid::TIME => "time without time zone".into(),
        oid::CHAR => "\"char\"".into(),
        o => {
            if let Some(e) = oid::element_of(o) {
                return format_type(e, typmod).map(|n| format!("{n}[]"));
            }
            oid::type_name(o)?.to_string()
        }
    })
}

fn fk_action_char(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "a",
        FkAction::Restrict => "r",
        FkAction::Cascade => "c",
        FkAction::SetNull => "n",
        FkAction::SetDefault => "d",
    }
}

fn fk_action_sql(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "NO ACTION",
        FkAction::Restrict => "RESTRICT",
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
    }
}

pub use crate::sql::format::quote_ident;

fn column_list(def: &TableDef, cols: &[usize]) -> String {
    cols.iter().map(|&c| quote_ident(&def.columns[c].name)).collect::<Vec<_>>().join(", ")
}

/// `pg_get_indexdef(index oid)`.
pub fn index_def(catalog: &Catalog, index_oid: u32) -> Option<String> {
    let Relation::Index(t, i) = relation_by_oid(catalog, index_oid)? else { return None };
    let idx = &t.indexes[i];
    Some(format!(
        "CREATE {}INDEX {} ON {}.{} USING btree ({})",
        if idx.unique { "UNIQUE " } else { "" },
        quote_ident(&idx.name),
        quote_ident(&t.schema),
        quote_ident(&t.name),
        column_list(t, &idx.columns)
    ))
}

/// All constraints as (oid, name, table, kind, definition, index oid, referenced table).
pub fn constraints(catalog: &Catalog) -> Vec<ConstraintInfo<'_>> {
    let mut out = Vec::new();
    for t in catalog.tables.values() {
        for idx in t.indexes.iter().filter(|i| i.constraint) {
            out.push(ConstraintInfo {
                oid: idx.id + CONSTRAINT_OID_OFFSET,
                name: idx.name.clone(),
                table: t,
                kind: if idx.primary { 'p' } else { 'u' },
                def: format!("{} ({})", if idx.primary { "PRIMARY KEY" } else { "UNIQUE" }, column_list(t, &idx.columns)),
                index: idx.id,
                columns: idx.columns.clone(),
                fk: None,
            });
        }
        for fk in &t.foreign_keys {
            let Some(rt) = catalog.tables.get(&fk.ref_table) else { continue };
            let mut def = format!(
                "FOREIGN KEY ({}) REFERENCES {}({})",
                column_list(t, &fk.columns),
                if rt.schema == "public" {
                    quote_ident(&rt.name)
                } else {
                    format!("{}.{}", quote_ident(&rt.schema), quote_ident(&rt.name))
                },
                column_list(rt, &fk.ref_columns)
            );
            if fk.on_update != FkAction::NoAction {
                def.push_str(&format!(" ON UPDATE {}", fk_action_sql(fk.on_update)));
            }
            if fk.on_delete != FkAction::NoAction {
                def.push_str(&format!(" ON DELETE {}", fk_action_sql(fk.on_delete)));
            }
            let index = rt.indexes.iter().find(|i| i.unique && i.columns == fk.ref_columns).map(|i| i.id).unwrap_or(0);
            out.push(ConstraintInfo {
                oid: fk.id,
                name: fk.name.clone(),
                table: t,
                kind: 'f',
                def,
                index,
                columns: fk.columns.clone(),
                fk: Some(fk),
            });
        }
        for c in &t.checks {
            out.push(ConstraintInfo {
                oid: c.id,
                name: c.name.clone(),
                table: t,
                kind: 'c',
                def: format!("CHECK ({})", c.expr),
                index: 0,
                columns: vec![],
                fk: None,
            });
        }
    }
    out
}

pub struct ConstraintInfo<'a> {
    pub oid: u32,
    pub name: String,
    pub table: &'a Arc<TableDef>,
    pub kind: char,
    pub def: String,
    pub index: u32,
    pub columns: Vec<usize>,
    pub fk: Option<&'a duetdb_storage::catalog::ForeignKeyDef>,
}

fn attnums(cols: &[usize]) -> Vec<i16> {
    cols.iter().map(|&c| c as i16 + 1).collect()
}

fn type_cells(ty: &DataType) -> (u32, i32) {
    (ty.pg_oid(), ty.pg_typmod())
}

// ---------------------------------------------------------------------------
// The tables
// ---------------------------------------------------------------------------

use Ty::*;

/// System tables that never have rows here (no publications, triggers,
/// policies, inheritance, extensions…). Catalog queries may treat an inner
/// join with one of them as empty (see `catalog_queries`). Keep in step with
/// the `rows: |_| vec![]` entries below.
pub const ALWAYS_EMPTY: &[&str] = &[
    "pg_shdescription",
    "pg_inherits",
    "pg_trigger",
    "pg_rewrite",
    "pg_policy",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_publication_tables",
    "pg_subscription",
    "pg_partitioned_table",
    "pg_foreign_table",
    "pg_foreign_server",
    "pg_foreign_data_wrapper",
    "pg_enum",
    "pg_range",
    "pg_extension",
    "pg_event_trigger",
    "pg_conversion",
    "pg_default_acl",
    "pg_init_privs",
    "pg_seclabel",
];

pub static TABLES: &[TableSpec] = &[
    TableSpec {
        schema: "pg_catalog",
        name: "pg_namespace",
        oid: 2615,
        columns: &[("oid", Oid), ("nspname", Name), ("nspowner", Oid), ("nspacl", TextArr)],
        rows: |ctx| {
            let mut v = vec![
                vec![Cell::Oid(PG_CATALOG_SCHEMA_OID), "pg_catalog".into(), Cell::Oid(BOOTSTRAP_SUPERUSER_OID), Cell::Null],
                vec![Cell::Oid(INFORMATION_SCHEMA_OID), "information_schema".into(), Cell::Oid(BOOTSTRAP_SUPERUSER_OID), Cell::Null],
            ];
            for (name, oid) in &ctx.catalog.schemas {
                v.push(vec![Cell::Oid(*oid), name.as_str().into(), Cell::Oid(BOOTSTRAP_SUPERUSER_OID), Cell::Null]);
            }
            v
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_class",
        oid: 1259,
        columns: &[
            ("oid", Oid),
            ("relname", Name),
            ("relnamespace", Oid),
            ("reltype", Oid),
            ("reloftype", Oid),
            ("relowner", Oid),
            ("relam", Oid),
            ("relfilenode", Oid),
            ("reltablespace", Oid),
            ("relpages", I32),
            ("reltuples", F32),
            ("relallvisible", I32),
            ("reltoastrelid", Oid),
            ("relhasindex", Bool),
            ("relisshared", Bool),
            ("relpersistence", Char),
            ("relkind", Char),
            ("relnatts", I16),
            ("relchecks", I16),
            ("relhasrules", Bool),
            ("relhastriggers", Bool),
            ("relhassubclass", Bool),
            ("relrowsecurity", Bool),
            ("relforcerowsecurity", Bool),
            ("relispopulated", Bool),
            ("relreplident", Char),
            ("relispartition", Bool),
            ("relrewrite", Oid),
            ("relfrozenxid", Xid),
            ("relminmxid", Xid),
            ("relacl", TextArr),
            ("reloptions", TextArr),
            ("relpartbound", Text),
        ],
        rows: |ctx| {
            let cat = &ctx.catalog;
            let mut v = Vec::new();
            let row = |oid: u32,
                       name: &str,
                       ns: u32,
                       am: u32,
                       kind: &str,
                       natts: usize,
                       hasindex: bool,
                       checks: usize,
                       tuples: f32,
                       options: Option<Vec<String>>| {
                vec![
                    Cell::Oid(oid),
                    name.into(),
                    Cell::Oid(ns),
                    Cell::Oid(0),
                    Cell::Oid(0),
                    Cell::Oid(BOOTSTRAP_SUPERUSER_OID),
                    Cell::Oid(am),
                    Cell::Oid(oid),
                    Cell::Oid(0),
                    Cell::I32(0),
                    Cell::F32(tuples),
                    Cell::I32(0),
                    Cell::Oid(0),
                    hasindex.into(),
                    false.into(),
                    "p".into(),
                    kind.into(),
                    Cell::I16(natts as i16),
                    Cell::I16(checks as i16),
                    false.into(),
                    false.into(),
                    false.into(),
                    false.into(),
                    false.into(),
                    true.into(),
                    "d".into(),
                    false.into(),
                    Cell::Oid(0),
                    Cell::Oid(0),
                    Cell::Oid(0),
                    Cell::Null,
                    options.map(Cell::StrList).unwrap_or(Cell::Null),
                    Cell::Null,
                ]
            };
            for t in cat.tables.values() {
                let ns = namespace_oid(cat, &t.schema);
                let opts = (!t.options.is_empty()).then(|| t.options.iter().map(|(k, v)| format!("{k}={v}")).collect());
                let tuples = ctx.system.as_ref().map(|s| s.table_rows(t) as f32).unwrap_or(-1.0);
                v.push(row(t.id, &t.name, ns, HEAP_AM, "r", t.columns.len(), !t.indexes.is_empty(), t.checks.len(), tuples, opts));
                // PostgreSQL enforces foreign keys with triggers on both tables, and
                // psql looks for FKs only where relhastriggers says so.
                let fk = !t.foreign_keys.is_empty() || cat.tables.values().any(|o| o.foreign_keys.iter().any(|f| f.ref_table == t.id));
                if let Some(r) = v.last_mut() {
                    r[20] = Cell::Bool(fk);
                }
                for i in &t.indexes {
                    v.push(row(i.id, &i.name, ns, BTREE_AM, "i", i.columns.len(), false, 0, 0.0, None));
                }
            }
            for s in cat.sequences.values() {
                v.push(row(s.id, &s.name, namespace_oid(cat, &s.schema), 0, "S", 3, false, 0, 1.0, None));
            }
            for w in cat.views.values() {
                v.push(row(w.id, &w.name, namespace_oid(cat, &w.schema), 0, "v", w.columns.len(), false, 0, -1.0, None));
            }
            for t in TABLES {
                let ns = if t.schema == "pg_catalog" { PG_CATALOG_SCHEMA_OID } else { INFORMATION_SCHEMA_OID };
                v.push(row(t.oid, t.name, ns, 0, "v", t.columns.len(), false, 0, -1.0, None));
            }
            v
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_attribute",
        oid: 1249,
        columns: &[
            ("attrelid", Oid),
            ("attname", Name),
            ("atttypid", Oid),
            ("attstattarget", I32),
            ("attlen", I16),
            ("attnum", I16),
            ("attndims", I32),
            ("attcacheoff", I32),
            ("atttypmod", I32),
            ("attbyval", Bool),
            ("attalign", Char),
            ("attstorage", Char),
            ("attcompression", Char),
            ("attnotnull", Bool),
            ("atthasdef", Bool),
            ("atthasmissing", Bool),
            ("attidentity", Char),
            ("attgenerated", Char),
            ("attisdropped", Bool),
            ("attislocal", Bool),
            ("attinhcount", I32),
            ("attcollation", Oid),
            ("attacl", TextArr),
            ("attoptions", TextArr),
            ("attfdwoptions", TextArr),
            ("attmissingval", TextArr),
        ],
        rows: |ctx| {
            let mut v = Vec::new();
            let row = |rel: u32,
                       name: &str,
                       typ: u32,
                       typmod: i32,
                       num: i16,
                       notnull: bool,
                       hasdef: bool,
                       identity: &str,
                       generated: bool,
                       dropped: bool| {
                let collation = if matches!(typ, oid::TEXT | oid::VARCHAR | oid::BPCHAR) { 100 } else { 0 };
                vec![
                    Cell::Oid(rel),
                    name.into(),
                    Cell::Oid(typ),
                    Cell::I32(-1),
                    Cell::I16(oid::type_len(typ)),
                    Cell::I16(num),
                    Cell::I32(if oid::element_of(typ).is_some() { 1 } else { 0 }),
                    Cell::I32(-1),
                    Cell::I32(typmod),
                    (oid::type_len(typ) > 0 && oid::type_len(typ) <= 8).into(),
                    "i".into(),
                    "p".into(),
                    "".into(),
                    notnull.into(),
                    hasdef.into(),
                    false.into(),
                    identity.into(),
                    (if generated { "s" } else { "" }).into(),
                    dropped.into(),
                    true.into(),
                    Cell::I32(0),
                    Cell::Oid(collation),
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                ]
            };
            for t in ctx.catalog.tables.values() {
                for (i, c) in t.columns.iter().enumerate() {
                    let (typ, typmod) = type_cells(&c.ty);
                    let name = if c.dropped { format!("........pg.dropped.{}........", i + 1) } else { c.name.clone() };
                    v.push(row(
                        t.id,
                        &name,
                        if c.dropped { 0 } else { typ },
                        typmod,
                        i as i16 + 1,
                        !c.nullable,
                        // An identity column's sequence is not a default to PostgreSQL;
                        // a generation expression is (pg_attrdef holds it).
                        (c.default.is_some() && c.identity.is_none()) || c.generated.is_some(),
                        identity_code(c.identity),
                        c.generated.is_some(),
                        c.dropped,
                    ));
                }
                for idx in &t.indexes {
                    for (k, &c) in idx.columns.iter().enumerate() {
                        let (typ, typmod) = type_cells(&t.columns[c].ty);
                        v.push(row(idx.id, &t.columns[c].name, typ, typmod, k as i16 + 1, false, false, "", false, false));
                    }
                }
            }
            for w in ctx.catalog.views.values() {
                for (i, c) in w.columns.iter().enumerate() {
                    v.push(row(w.id, &c.name, c.type_oid, c.typmod, i as i16 + 1, false, false, "", false, false));
                }
            }
            for s in ctx.catalog.sequences.values() {
                for (i, (n, t)) in [("last_value", oid::INT8), ("log_cnt", oid::INT8), ("is_called", oid::BOOL)].iter().enumerate() {
                    v.push(row(s.id, n, *t, -1, i as i16 + 1, true, false, "", false, false));
                }
            }
            v
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_type",
        oid: 1247,
        columns: &[
            ("oid", Oid),
            ("typname", Name),
            ("typnamespace", Oid),
            ("typowner", Oid),
            ("typlen", I16),
            ("typbyval", Bool),
            ("typtype", Char),
            ("typcategory", Char),
            ("typispreferred", Bool),
            ("typisdefined", Bool),
            ("typdelim", Char),
            ("typrelid", Oid),
            ("typsubscript", Regproc),
            ("typelem", Oid),
            ("typarray", Oid),
            ("typinput", Regproc),
            ("typoutput", Regproc),
            ("typreceive", Regproc),
            ("typsend", Regproc),
            ("typmodin", Regproc),
            ("typmodout", Regproc),
            ("typanalyze", Regproc),
            ("typalign", Char),
            ("typstorage", Char),
            ("typnotnull", Bool),
            ("typbasetype", Oid),
            ("typtypmod", I32),
            ("typndims", I32),
            ("typcollation", Oid),
            ("typdefaultbin", Text),
            ("typdefault", Text),
            ("typacl", TextArr),
        ],
        rows: |_| {
            let mut v = Vec::new();
            let mut push = |o: u32, name: &str, len: i16, elem: u32, array: u32, cat: char, typtype: &str| {
                v.push(vec![
                    Cell::Oid(o),
                    name.into(),
                    Cell::Oid(PG_CATALOG_SCHEMA_OID),
                    Cell::Oid(BOOTSTRAP_SUPERUSER_OID),
                    Cell::I16(len),
                    (len > 0 && len <= 8).into(),
                    typtype.into(),
                    cat.to_string().into(),
                    false.into(),
                    true.into(),
                    ",".into(),
                    Cell::Oid(0),
                    (if elem != 0 { "array_subscript_handler" } else { "-" }).into(),
                    Cell::Oid(elem),
                    Cell::Oid(array),
                    format!("{name}in").into(),
                    format!("{name}out").into(),
                    format!("{name}recv").into(),
                    format!("{name}send").into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "i".into(),
                    "p".into(),
                    false.into(),
                    Cell::Oid(0),
                    Cell::I32(-1),
                    Cell::I32(0),
                    Cell::Oid(if matches!(o, oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME) { 100 } else { 0 }),
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                ]);
            };
            for &(o, name, len, array, cat) in oid::TYPES {
                push(o, name, len, 0, array, cat, if cat == 'P' { "p" } else { "b" });
                if array != 0 {
                    push(array, &format!("_{name}"), -1, o, 0, 'A', "b");
                }
            }
            v
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_index",
        oid: 2610,
        columns: &[
            ("indexrelid", Oid),
            ("indrelid", Oid),
            ("indnatts", I16),
            ("indnkeyatts", I16),
            ("indisunique", Bool),
            ("indnullsnotdistinct", Bool),
            ("indisprimary", Bool),
            ("indisexclusion", Bool),
            ("indimmediate", Bool),
            ("indisclustered", Bool),
            ("indisvalid", Bool),
            ("indcheckxmin", Bool),
            ("indisready", Bool),
            ("indislive", Bool),
            ("indisreplident", Bool),
            ("indkey", Int2Vector),
            ("indcollation", OidVector),
            ("indclass", OidVector),
            ("indoption", Int2Vector),
            ("indexprs", Text),
            ("indpred", Text),
        ],
        rows: |ctx| {
            let mut v = Vec::new();
            for t in ctx.catalog.tables.values() {
                for i in &t.indexes {
                    let n = i.columns.len();
                    v.push(vec![
                        Cell::Oid(i.id),
                        Cell::Oid(t.id),
                        Cell::I16(n as i16),
                        Cell::I16(n as i16),
                        i.unique.into(),
                        false.into(),
                        i.primary.into(),
                        false.into(),
                        true.into(),
                        false.into(),
                        true.into(),
                        false.into(),
                        true.into(),
                        true.into(),
                        false.into(),
                        Cell::I16List(attnums(&i.columns)),
                        Cell::OidList(vec![0; n]),
                        Cell::OidList(vec![0; n]),
                        Cell::I16List(vec![0; n]),
                        Cell::Null,
                        Cell::Null,
                    ]);
                }
            }
            v
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_constraint",
        oid: 2606,
        columns: &[
            ("oid", Oid),
            ("conname", Name),
            ("connamespace", Oid),
            ("contype", Char),
            ("condeferrable", Bool),
            ("condeferred", Bool),
            ("convalidated", Bool),
            ("conrelid", Oid),
            ("contypid", Oid),
            ("conindid", Oid),
            ("conparentid", Oid),
            ("confrelid", Oid),
            ("confupdtype", Char),
            ("confdeltype", Char),
            ("confmatchtype", Char),
            ("conislocal", Bool),
            ("coninhcount", I32),
            ("connoinherit", Bool),
            ("conkey", I16Arr),
            ("confkey", I16Arr),
            ("conpfeqop", OidArr),
            ("conppeqop", OidArr),
            ("conffeqop", OidArr),
            ("confdelsetcols", I16Arr),
            ("conexclop", OidArr),
            ("conbin", Text),
        ],
        rows: |ctx| {
            constraints(&ctx.catalog)
                .into_iter()
                .map(|c| {
                    let ns = namespace_oid(&ctx.catalog, &c.table.schema);
                    let (frel, fupd, fdel, fkey) = match c.fk {
                        Some(fk) => (
                            fk.ref_table,
                            fk_action_char(fk.on_update),
                            fk_action_char(fk.on_delete),
                            Cell::I16List(attnums(&fk.ref_columns)),
                        ),
                        None => (0, " ", " ", Cell::Null),
                    };
                    vec![
                        Cell::Oid(c.oid),
                        c.name.clone().into(),
                        Cell::Oid(ns),
                        c.kind.to_string().into(),
                        false.into(),
                        false.into(),
                        true.into(),
                        Cell::Oid(c.table.id),
                        Cell::Oid(0),
                        Cell::Oid(c.index),
                        Cell::Oid(0),
                        Cell::Oid(frel),
                        fupd.into(),
                        fdel.into(),
                        (if c.fk.is_some() { "s" } else { " " }).into(),
                        true.into(),
                        Cell::I32(0),
                        false.into(),
                        if c.columns.is_empty() { Cell::Null } else { Cell::I16List(attnums(&c.columns)) },
                        fkey,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        if c.kind == 'c' { Cell::Str(c.def.trim_start_matches("CHECK ").to_string()) } else { Cell::Null },
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_attrdef",
        oid: 2604,
        columns: &[("oid", Oid), ("adrelid", Oid), ("adnum", I16), ("adbin", Text)],
        rows: |ctx| {
            let mut v = Vec::new();
            for t in ctx.catalog.tables.values() {
                for (i, c) in t.columns.iter().enumerate() {
                    if let Some(d) = c.generated.as_ref().or(c.default.as_ref())
                        && !c.dropped
                        && c.identity.is_none()
                    {
                        v.push(vec![Cell::Oid(t.id * 1000 + i as u32), Cell::Oid(t.id), Cell::I16(i as i16 + 1), d.as_str().into()]);
                    }
                }
            }
            v
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_database",
        oid: 1262,
        columns: &[
            ("oid", Oid),
            ("datname", Name),
            ("datdba", Oid),
            ("encoding", I32),
            ("datlocprovider", Char),
            ("datistemplate", Bool),
            ("datallowconn", Bool),
            ("datconnlimit", I32),
            ("datfrozenxid", Xid),
            ("datminmxid", Xid),
            ("dattablespace", Oid),
            ("datcollate", Text),
            ("datctype", Text),
            ("daticulocale", Text),
            ("datcollversion", Text),
            ("datacl", TextArr),
        ],
        rows: |ctx| {
            ctx.catalog
                .databases
                .iter()
                .map(|(name, o)| {
                    vec![
                        Cell::Oid(*o),
                        name.as_str().into(),
                        Cell::Oid(BOOTSTRAP_SUPERUSER_OID),
                        Cell::I32(6),
                        "c".into(),
                        false.into(),
                        true.into(),
                        Cell::I32(-1),
                        Cell::Oid(0),
                        Cell::Oid(1),
                        Cell::Oid(DEFAULT_TABLESPACE),
                        "C".into(),
                        "C".into(),
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_roles",
        oid: 11_000,
        columns: &[
            ("rolname", Name),
            ("rolsuper", Bool),
            ("rolinherit", Bool),
            ("rolcreaterole", Bool),
            ("rolcreatedb", Bool),
            ("rolcanlogin", Bool),
            ("rolreplication", Bool),
            ("rolconnlimit", I32),
            ("rolpassword", Text),
            ("rolvaliduntil", Ts),
            ("rolbypassrls", Bool),
            ("rolconfig", TextArr),
            ("oid", Oid),
        ],
        rows: |ctx| {
            ctx.catalog
                .roles
                .values()
                .map(|r| {
                    vec![
                        r.name.as_str().into(),
                        r.superuser.into(),
                        true.into(),
                        r.superuser.into(),
                        r.superuser.into(),
                        r.login.into(),
                        r.replication.into(),
                        Cell::I32(-1),
                        "********".into(),
                        Cell::Null,
                        r.superuser.into(),
                        Cell::Null,
                        Cell::Oid(r.oid),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_user",
        oid: 11_001,
        columns: &[
            ("usename", Name),
            ("usesysid", Oid),
            ("usecreatedb", Bool),
            ("usesuper", Bool),
            ("userepl", Bool),
            ("usebypassrls", Bool),
            ("passwd", Text),
            ("valuntil", Ts),
            ("useconfig", TextArr),
        ],
        rows: |ctx| {
            ctx.catalog
                .roles
                .values()
                .filter(|r| r.login)
                .map(|r| {
                    vec![
                        r.name.as_str().into(),
                        Cell::Oid(r.oid),
                        r.superuser.into(),
                        r.superuser.into(),
                        r.replication.into(),
                        r.superuser.into(),
                        "********".into(),
                        Cell::Null,
                        Cell::Null,
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_auth_members",
        oid: 1261,
        columns: &[("oid", Oid), ("roleid", Oid), ("member", Oid), ("grantor", Oid), ("admin_option", Bool)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_am",
        oid: 2601,
        columns: &[("oid", Oid), ("amname", Name), ("amhandler", Regproc), ("amtype", Char)],
        rows: |_| {
            vec![
                vec![Cell::Oid(HEAP_AM), "heap".into(), "heap_tableam_handler".into(), "t".into()],
                vec![Cell::Oid(BTREE_AM), "btree".into(), "bthandler".into(), "i".into()],
            ]
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_tablespace",
        oid: 1213,
        columns: &[("oid", Oid), ("spcname", Name), ("spcowner", Oid), ("spcacl", TextArr), ("spcoptions", TextArr)],
        rows: |_| {
            vec![
                vec![Cell::Oid(DEFAULT_TABLESPACE), "pg_default".into(), Cell::Oid(BOOTSTRAP_SUPERUSER_OID), Cell::Null, Cell::Null],
                vec![Cell::Oid(1664), "pg_global".into(), Cell::Oid(BOOTSTRAP_SUPERUSER_OID), Cell::Null, Cell::Null],
            ]
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_collation",
        oid: 3456,
        columns: &[
            ("oid", Oid),
            ("collname", Name),
            ("collnamespace", Oid),
            ("collowner", Oid),
            ("collprovider", Char),
            ("collisdeterministic", Bool),
            ("collencoding", I32),
            ("collcollate", Text),
            ("collctype", Text),
        ],
        rows: |_| {
            [(100u32, "default", "d"), (950, "C", "c"), (951, "POSIX", "c")]
                .iter()
                .map(|(o, n, p)| {
                    vec![
                        Cell::Oid(*o),
                        (*n).into(),
                        Cell::Oid(PG_CATALOG_SCHEMA_OID),
                        Cell::Oid(BOOTSTRAP_SUPERUSER_OID),
                        (*p).into(),
                        true.into(),
                        Cell::I32(-1),
                        "C".into(),
                        "C".into(),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_sequence",
        oid: 2224,
        columns: &[
            ("seqrelid", Oid),
            ("seqtypid", Oid),
            ("seqstart", I64),
            ("seqincrement", I64),
            ("seqmax", I64),
            ("seqmin", I64),
            ("seqcache", I64),
            ("seqcycle", Bool),
        ],
        rows: |ctx| {
            ctx.catalog
                .sequences
                .values()
                .map(|s| {
                    vec![
                        Cell::Oid(s.id),
                        Cell::Oid(s.ty.pg_oid()),
                        Cell::I64(s.start),
                        Cell::I64(s.increment),
                        Cell::I64(s.max),
                        Cell::I64(s.min),
                        Cell::I64(1),
                        s.cycle.into(),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_sequences",
        oid: 11_002,
        columns: &[
            ("schemaname", Name),
            ("sequencename", Name),
            ("sequenceowner", Name),
            ("data_type", Regtype),
            ("start_value", I64),
            ("min_value", I64),
            ("max_value", I64),
            ("increment_by", I64),
            ("cycle", Bool),
            ("cache_size", I64),
            ("last_value", I64),
        ],
        rows: |ctx| {
            ctx.catalog
                .sequences
                .values()
                .map(|s| {
                    let last = ctx.system.as_ref().and_then(|x| x.sequence_last_value(s.id));
                    vec![
                        s.schema.as_str().into(),
                        s.name.as_str().into(),
                        ctx.user().into(),
                        s.ty.pg_name().into(),
                        Cell::I64(s.start),
                        Cell::I64(s.min),
                        Cell::I64(s.max),
                        Cell::I64(s.increment),
                        s.cycle.into(),
                        Cell::I64(1),
                        last.map(Cell::I64).unwrap_or(Cell::Null),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_tables",
        oid: 11_003,
        columns: &[
            ("schemaname", Name),
            ("tablename", Name),
            ("tableowner", Name),
            ("tablespace", Name),
            ("hasindexes", Bool),
            ("hasrules", Bool),
            ("hastriggers", Bool),
            ("rowsecurity", Bool),
        ],
        rows: |ctx| {
            ctx.catalog
                .tables
                .values()
                .map(|t| {
                    vec![
                        t.schema.as_str().into(),
                        t.name.as_str().into(),
                        ctx.user().into(),
                        Cell::Null,
                        (!t.indexes.is_empty()).into(),
                        false.into(),
                        false.into(),
                        false.into(),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_views",
        oid: 11_004,
        columns: &[("schemaname", Name), ("viewname", Name), ("viewowner", Name), ("definition", Text)],
        rows: |ctx| {
            ctx.catalog
                .views
                .values()
                .map(|w| vec![w.schema.as_str().into(), w.name.as_str().into(), ctx.user().into(), format!(" {};", w.sql).into()])
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_matviews",
        oid: 11_005,
        columns: &[("schemaname", Name), ("matviewname", Name), ("matviewowner", Name), ("definition", Text)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_indexes",
        oid: 11_006,
        columns: &[("schemaname", Name), ("tablename", Name), ("indexname", Name), ("tablespace", Name), ("indexdef", Text)],
        rows: |ctx| {
            let mut v = Vec::new();
            for t in ctx.catalog.tables.values() {
                for i in &t.indexes {
                    v.push(vec![
                        t.schema.as_str().into(),
                        t.name.as_str().into(),
                        i.name.as_str().into(),
                        Cell::Null,
                        index_def(&ctx.catalog, i.id).into(),
                    ]);
                }
            }
            v
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_settings",
        oid: 11_007,
        columns: &[
            ("name", Text),
            ("setting", Text),
            ("unit", Text),
            ("category", Text),
            ("short_desc", Text),
            ("extra_desc", Text),
            ("context", Text),
            ("vartype", Text),
            ("source", Text),
            ("min_val", Text),
            ("max_val", Text),
            ("enumvals", TextArr),
            ("boot_val", Text),
            ("reset_val", Text),
            ("sourcefile", Text),
            ("sourceline", I32),
            ("pending_restart", Bool),
        ],
        rows: |ctx| {
            let Some(sys) = &ctx.system else { return vec![] };
            sys.settings()
                .into_iter()
                .map(|s| {
                    vec![
                        s.name.into(),
                        s.setting.into(),
                        s.unit.into(),
                        s.category.into(),
                        s.description.into(),
                        Cell::Null,
                        s.context.into(),
                        s.vartype.into(),
                        s.source.into(),
                        s.min.into(),
                        s.max.into(),
                        s.enumvals.map(Cell::StrList).unwrap_or(Cell::Null),
                        s.boot.into(),
                        s.reset.into(),
                        Cell::Null,
                        Cell::Null,
                        s.pending_restart.into(),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_prepared_statements",
        oid: 11_008,
        columns: &[
            ("name", Text),
            ("statement", Text),
            ("prepare_time", Ts),
            ("parameter_types", TextArr),
            ("result_types", TextArr),
            ("from_sql", Bool),
            ("generic_plans", I64),
            ("custom_plans", I64),
        ],
        rows: |ctx| {
            let Some(sys) = &ctx.system else { return vec![] };
            sys.prepared_statements()
                .into_iter()
                .map(|p| {
                    vec![
                        p.name.into(),
                        p.statement.into(),
                        Cell::Ts(p.prepare_time),
                        Cell::StrList(p.parameter_types),
                        Cell::Null,
                        p.from_sql.into(),
                        Cell::I64(0),
                        Cell::I64(0),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_cursors",
        oid: 11_009,
        columns: &[
            ("name", Text),
            ("statement", Text),
            ("is_holdable", Bool),
            ("is_binary", Bool),
            ("is_scrollable", Bool),
            ("creation_time", Ts),
        ],
        rows: |ctx| {
            let Some(sys) = &ctx.system else { return vec![] };
            sys.cursors().into_iter().map(|(n, q)| vec![n.into(), q.into(), false.into(), false.into(), false.into(), Cell::Null]).collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_stat_activity",
        oid: 11_010,
        columns: &[
            ("datid", Oid),
            ("datname", Name),
            ("pid", I32),
            ("leader_pid", I32),
            ("usesysid", Oid),
            ("usename", Name),
            ("application_name", Text),
            ("client_addr", Text),
            ("client_hostname", Text),
            ("client_port", I32),
            ("backend_start", Ts),
            ("xact_start", Ts),
            ("query_start", Ts),
            ("state_change", Ts),
            ("wait_event_type", Text),
            ("wait_event", Text),
            ("state", Text),
            ("backend_xid", Xid),
            ("backend_xmin", Xid),
            ("query_id", I64),
            ("query", Text),
            ("backend_type", Text),
        ],
        rows: |ctx| {
            let Some(sys) = &ctx.system else { return vec![] };
            sys.activity()
                .into_iter()
                .map(|a| {
                    vec![
                        Cell::Oid(5),
                        a.database.into(),
                        Cell::I32(a.pid),
                        Cell::Null,
                        Cell::Oid(BOOTSTRAP_SUPERUSER_OID),
                        a.user.into(),
                        a.application_name.into(),
                        a.client_addr.into(),
                        Cell::Null,
                        a.client_port.map(Cell::I32).unwrap_or(Cell::Null),
                        Cell::Ts(a.backend_start),
                        a.xact_start.map(Cell::Ts).unwrap_or(Cell::Null),
                        a.query_start.map(Cell::Ts).unwrap_or(Cell::Null),
                        a.query_start.map(Cell::Ts).unwrap_or(Cell::Null),
                        a.wait_event_type.into(),
                        a.wait_event.into(),
                        a.state.into(),
                        a.backend_xid.map(|x| Cell::Oid(x as u32)).unwrap_or(Cell::Null),
                        Cell::Null,
                        Cell::Null,
                        a.query.into(),
                        a.backend_type.into(),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_stat_replication",
        oid: 11_011,
        columns: &[
            ("pid", I32),
            ("usesysid", Oid),
            ("usename", Name),
            ("application_name", Text),
            ("client_addr", Text),
            ("client_hostname", Text),
            ("client_port", I32),
            ("backend_start", Ts),
            ("backend_xmin", Xid),
            ("state", Text),
            ("sent_lsn", Lsn),
            ("write_lsn", Lsn),
            ("flush_lsn", Lsn),
            ("replay_lsn", Lsn),
            ("write_lag", Interval),
            ("flush_lag", Interval),
            ("replay_lag", Interval),
            ("sync_priority", I32),
            ("sync_state", Text),
            ("reply_time", Ts),
        ],
        rows: |ctx| {
            let Some(sys) = &ctx.system else { return vec![] };
            let lag = |l: Option<i64>| l.map(Cell::I64).unwrap_or(Cell::Null);
            sys.replication()
                .into_iter()
                .map(|r| {
                    vec![
                        Cell::I32(r.pid),
                        Cell::Oid(BOOTSTRAP_SUPERUSER_OID),
                        r.user.into(),
                        r.application_name.into(),
                        r.client_addr.into(),
                        Cell::Null,
                        Cell::I32(r.client_port),
                        Cell::Ts(r.backend_start),
                        Cell::Null,
                        r.state.into(),
                        r.sent_lsn.into(),
                        r.write_lsn.into(),
                        r.flush_lsn.into(),
                        r.replay_lsn.into(),
                        lag(r.write_lag),
                        lag(r.flush_lag),
                        lag(r.replay_lag),
                        Cell::I32(r.sync_priority),
                        r.sync_state.into(),
                        r.reply_time.map(Cell::Ts).unwrap_or(Cell::Null),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_replication_slots",
        oid: 11_012,
        columns: &[
            ("slot_name", Name),
            ("plugin", Name),
            ("slot_type", Text),
            ("datoid", Oid),
            ("database", Name),
            ("temporary", Bool),
            ("active", Bool),
            ("active_pid", I32),
            ("xmin", Xid),
            ("catalog_xmin", Xid),
            ("restart_lsn", Lsn),
            ("confirmed_flush_lsn", Lsn),
            ("wal_status", Text),
            ("safe_wal_size", I64),
        ],
        rows: |ctx| {
            let Some(sys) = &ctx.system else { return vec![] };
            sys.slots()
                .into_iter()
                .map(|s| {
                    vec![
                        s.name.into(),
                        Cell::Null,
                        "physical".into(),
                        Cell::Null,
                        Cell::Null,
                        false.into(),
                        s.active.into(),
                        s.active_pid.map(Cell::I32).unwrap_or(Cell::Null),
                        Cell::Null,
                        Cell::Null,
                        s.restart_lsn.into(),
                        Cell::Null,
                        s.wal_status.into(),
                        Cell::Null,
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_stat_user_tables",
        oid: 11_013,
        columns: &[
            ("relid", Oid),
            ("schemaname", Name),
            ("relname", Name),
            ("seq_scan", I64),
            ("seq_tup_read", I64),
            ("idx_scan", I64),
            ("idx_tup_fetch", I64),
            ("n_tup_ins", I64),
            ("n_tup_upd", I64),
            ("n_tup_del", I64),
            ("n_live_tup", I64),
            ("n_dead_tup", I64),
        ],
        rows: |ctx| {
            ctx.catalog
                .tables
                .values()
                .map(|t| {
                    let live = ctx.system.as_ref().map(|s| s.table_rows(t)).unwrap_or(0);
                    let dead = ctx
                        .view
                        .as_ref()
                        .and_then(|v| v.table_data(t))
                        .map(|d| d.dead_versions.load(std::sync::atomic::Ordering::Relaxed) as i64)
                        .unwrap_or(0);
                    vec![
                        Cell::Oid(t.id),
                        t.schema.as_str().into(),
                        t.name.as_str().into(),
                        Cell::I64(0),
                        Cell::I64(0),
                        Cell::I64(0),
                        Cell::I64(0),
                        Cell::I64(0),
                        Cell::I64(0),
                        Cell::I64(0),
                        Cell::I64(live),
                        Cell::I64(dead),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_locks",
        oid: 11_014,
        columns: &[("locktype", Text), ("relation", Oid), ("transactionid", Xid), ("mode", Text), ("granted", Bool), ("pid", I32)],
        rows: |ctx| {
            let Some(sys) = &ctx.system else { return vec![] };
            sys.locks()
                .into_iter()
                .map(|l| {
                    vec![
                        l.locktype.into(),
                        l.relation.map(Cell::Oid).unwrap_or(Cell::Null),
                        l.transactionid.map(|x| Cell::Oid(x as u32)).unwrap_or(Cell::Null),
                        l.mode.into(),
                        Cell::Bool(l.granted),
                        Cell::I32(l.pid),
                    ]
                })
                .collect()
        },
    },
    // Empty catalogs that tools join against (listed in ALWAYS_EMPTY).
    TableSpec {
        schema: "pg_catalog",
        name: "pg_description",
        oid: 2609,
        columns: &[("objoid", Oid), ("classoid", Oid), ("objsubid", I32), ("description", Text)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_shdescription",
        oid: 2396,
        columns: &[("objoid", Oid), ("classoid", Oid), ("description", Text)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_inherits",
        oid: 2611,
        columns: &[("inhrelid", Oid), ("inhparent", Oid), ("inhseqno", I32), ("inhdetachpending", Bool)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_trigger",
        oid: 2620,
        columns: &[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgparentid", Oid),
            ("tgname", Name),
            ("tgfoid", Oid),
            ("tgtype", I16),
            ("tgenabled", Char),
            ("tgisinternal", Bool),
            ("tgconstrrelid", Oid),
            ("tgconstrindid", Oid),
            ("tgconstraint", Oid),
            ("tgdeferrable", Bool),
            ("tginitdeferred", Bool),
            ("tgnargs", I16),
        ],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_rewrite",
        oid: 2618,
        columns: &[("oid", Oid), ("rulename", Name), ("ev_class", Oid), ("ev_type", Char), ("ev_enabled", Char), ("is_instead", Bool)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_policy",
        oid: 3256,
        columns: &[
            ("oid", Oid),
            ("polname", Name),
            ("polrelid", Oid),
            ("polcmd", Char),
            ("polpermissive", Bool),
            ("polroles", OidArr),
            ("polqual", Text),
            ("polwithcheck", Text),
        ],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_statistic_ext",
        oid: 3381,
        columns: &[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Name),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", I32),
            ("stxkeys", Int2Vector),
            ("stxkind", TextArr),
        ],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_publication",
        oid: 6104,
        columns: &[
            ("oid", Oid),
            ("pubname", Name),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_publication_namespace",
        oid: 6237,
        columns: &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_publication_rel",
        oid: 6106,
        columns: &[("oid", Oid), ("prpubid", Oid), ("prrelid", Oid)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_publication_tables",
        oid: 11_015,
        columns: &[("pubname", Name), ("schemaname", Name), ("tablename", Name)],
        rows: |_| vec![],
    },
    TableSpec { schema: "pg_catalog", name: "pg_subscription", oid: 6100, columns: &[("oid", Oid), ("subname", Name)], rows: |_| vec![] },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_partitioned_table",
        oid: 3350,
        columns: &[("partrelid", Oid), ("partstrat", Char), ("partnatts", I16), ("partdefid", Oid), ("partattrs", Int2Vector)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_foreign_table",
        oid: 3118,
        columns: &[("ftrelid", Oid), ("ftserver", Oid), ("ftoptions", TextArr)],
        rows: |_| vec![],
    },
    TableSpec { schema: "pg_catalog", name: "pg_foreign_server", oid: 1417, columns: &[("oid", Oid), ("srvname", Name)], rows: |_| vec![] },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_foreign_data_wrapper",
        oid: 2328,
        columns: &[("oid", Oid), ("fdwname", Name)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_enum",
        oid: 3501,
        columns: &[("oid", Oid), ("enumtypid", Oid), ("enumsortorder", F32), ("enumlabel", Name)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_range",
        oid: 3541,
        columns: &[("rngtypid", Oid), ("rngsubtype", Oid), ("rngmultitypid", Oid)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_depend",
        oid: 2608,
        columns: &[
            ("classid", Oid),
            ("objid", Oid),
            ("objsubid", I32),
            ("refclassid", Oid),
            ("refobjid", Oid),
            ("refobjsubid", I32),
            ("deptype", Char),
        ],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_extension",
        oid: 3079,
        columns: &[
            ("oid", Oid),
            ("extname", Name),
            ("extowner", Oid),
            ("extnamespace", Oid),
            ("extrelocatable", Bool),
            ("extversion", Text),
            ("extconfig", OidArr),
            ("extcondition", TextArr),
        ],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_event_trigger",
        oid: 3466,
        columns: &[("oid", Oid), ("evtname", Name), ("evtevent", Name), ("evtenabled", Char)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_opclass",
        oid: 2616,
        columns: &[
            ("oid", Oid),
            ("opcmethod", Oid),
            ("opcname", Name),
            ("opcnamespace", Oid),
            ("opcowner", Oid),
            ("opcfamily", Oid),
            ("opcintype", Oid),
            ("opcdefault", Bool),
            ("opckeytype", Oid),
        ],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_operator",
        oid: 2617,
        columns: &[("oid", Oid), ("oprname", Name), ("oprnamespace", Oid), ("oprleft", Oid), ("oprright", Oid), ("oprresult", Oid)],
        rows: |_| vec![],
    },
    TableSpec { schema: "pg_catalog", name: "pg_conversion", oid: 2607, columns: &[("oid", Oid), ("conname", Name)], rows: |_| vec![] },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_language",
        oid: 2612,
        columns: &[("oid", Oid), ("lanname", Name), ("lanowner", Oid), ("lanispl", Bool), ("lanpltrusted", Bool)],
        rows: |_| {
            vec![
                vec![Cell::Oid(12), "internal".into(), Cell::Oid(10), false.into(), false.into()],
                vec![Cell::Oid(14), "sql".into(), Cell::Oid(10), false.into(), true.into()],
            ]
        },
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_cast",
        oid: 2605,
        columns: &[("oid", Oid), ("castsource", Oid), ("casttarget", Oid), ("castfunc", Oid), ("castcontext", Char), ("castmethod", Char)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_default_acl",
        oid: 826,
        columns: &[("oid", Oid), ("defaclrole", Oid), ("defaclnamespace", Oid), ("defaclobjtype", Char), ("defaclacl", TextArr)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_init_privs",
        oid: 3394,
        columns: &[("objoid", Oid), ("classoid", Oid), ("objsubid", I32), ("privtype", Char), ("initprivs", TextArr)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_seclabel",
        oid: 3596,
        columns: &[("objoid", Oid), ("classoid", Oid), ("objsubid", I32), ("provider", Text), ("label", Text)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_ts_config",
        oid: 3602,
        columns: &[("oid", Oid), ("cfgname", Name), ("cfgnamespace", Oid)],
        rows: |_| vec![],
    },
    TableSpec {
        schema: "pg_catalog",
        name: "pg_proc",
        oid: 1255,
        columns: &[
            ("oid", Oid),
            ("proname", Name),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prolang", Oid),
            ("procost", F32),
            ("prorows", F32),
            ("provariadic", Oid),
            ("prosupport", Regproc),
            ("prokind", Char),
            ("prosecdef", Bool),
            ("proleakproof", Bool),
            ("proisstrict", Bool),
            ("proretset", Bool),
            ("provolatile", Char),
            ("proparallel", Char),
            ("pronargs", I16),
            ("pronargdefaults", I16),
            ("prorettype", Oid),
            ("proargtypes", OidVector),
            ("proallargtypes", OidArr),
            ("proargmodes", TextArr),
            ("proargnames", TextArr),
            ("proargdefaults", Text),
            ("protrftypes", OidArr),
            ("prosrc", Text),
            ("probin", Text),
            ("prosqlbody", Text),
            ("proconfig", TextArr),
            ("proacl", TextArr),
        ],
        rows: |_| vec![],
    },
    // information_schema
    TableSpec {
        schema: "information_schema",
        name: "schemata",
        oid: 13_001,
        columns: &[
            ("catalog_name", Name),
            ("schema_name", Name),
            ("schema_owner", Name),
            ("default_character_set_catalog", Name),
            ("default_character_set_schema", Name),
            ("default_character_set_name", Name),
            ("sql_path", Text),
        ],
        rows: |ctx| {
            let mut names = vec!["pg_catalog".to_string(), "information_schema".to_string()];
            names.extend(ctx.catalog.schemas.keys().cloned());
            names
                .into_iter()
                .map(|n| vec![ctx.database().into(), n.into(), ctx.user().into(), Cell::Null, Cell::Null, Cell::Null, Cell::Null])
                .collect()
        },
    },
    TableSpec {
        schema: "information_schema",
        name: "tables",
        oid: 13_002,
        columns: &[
            ("table_catalog", Name),
            ("table_schema", Name),
            ("table_name", Name),
            ("table_type", Text),
            ("self_referencing_column_name", Name),
            ("reference_generation", Text),
            ("user_defined_type_catalog", Name),
            ("user_defined_type_schema", Name),
            ("user_defined_type_name", Name),
            ("is_insertable_into", Text),
            ("is_typed", Text),
            ("commit_action", Text),
        ],
        rows: |ctx| {
            let db = ctx.database();
            let mut v: Vec<Vec<Cell>> = ctx
                .catalog
                .tables
                .values()
                .map(|t| {
                    vec![
                        db.as_str().into(),
                        t.schema.as_str().into(),
                        t.name.as_str().into(),
                        "BASE TABLE".into(),
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        "YES".into(),
                        "NO".into(),
                        Cell::Null,
                    ]
                })
                .collect();
            for w in ctx.catalog.views.values() {
                v.push(vec![
                    db.as_str().into(),
                    w.schema.as_str().into(),
                    w.name.as_str().into(),
                    "VIEW".into(),
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    "NO".into(),
                    "NO".into(),
                    Cell::Null,
                ]);
            }
            v
        },
    },
    TableSpec {
        schema: "information_schema",
        name: "views",
        oid: 13_003,
        columns: &[
            ("table_catalog", Name),
            ("table_schema", Name),
            ("table_name", Name),
            ("view_definition", Text),
            ("check_option", Text),
            ("is_updatable", Text),
            ("is_insertable_into", Text),
        ],
        rows: |ctx| {
            ctx.catalog
                .views
                .values()
                .map(|w| {
                    vec![
                        ctx.database().into(),
                        w.schema.as_str().into(),
                        w.name.as_str().into(),
                        w.sql.as_str().into(),
                        "NONE".into(),
                        "NO".into(),
                        "NO".into(),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "information_schema",
        name: "columns",
        oid: 13_004,
        columns: &[
            ("table_catalog", Name),
            ("table_schema", Name),
            ("table_name", Name),
            ("column_name", Name),
            ("ordinal_position", I32),
            ("column_default", Text),
            ("is_nullable", Text),
            ("data_type", Text),
            ("character_maximum_length", I32),
            ("character_octet_length", I32),
            ("numeric_precision", I32),
            ("numeric_precision_radix", I32),
            ("numeric_scale", I32),
            ("datetime_precision", I32),
            ("udt_catalog", Name),
            ("udt_schema", Name),
            ("udt_name", Name),
            ("is_identity", Text),
            ("identity_generation", Text),
            ("identity_start", Text),
            ("identity_increment", Text),
            ("identity_maximum", Text),
            ("identity_minimum", Text),
            ("identity_cycle", Text),
            ("is_generated", Text),
            ("generation_expression", Text),
            ("is_updatable", Text),
        ],
        rows: |ctx| {
            let db = ctx.database();
            let mut v = Vec::new();
            for t in ctx.catalog.tables.values() {
                for (pos, (phys, c)) in t.live_columns().enumerate() {
                    let (char_len, num_prec, num_scale, dt_prec) = match &c.ty {
                        DataType::Varchar(n) => (n.map(|n| n as i32), None, None, None),
                        DataType::Char(n) => (Some(*n as i32), None, None, None),
                        DataType::Int16 => (None, Some(16), Some(0), None),
                        DataType::Int32 => (None, Some(32), Some(0), None),
                        DataType::Int64 => (None, Some(64), Some(0), None),
                        DataType::Float32 => (None, Some(24), None, None),
                        DataType::Float64 => (None, Some(53), None, None),
                        DataType::Numeric { precision, scale, typmod: true } => (None, Some(*precision as i32), Some(*scale as i32), None),
                        DataType::Date => (None, None, None, Some(0)),
                        DataType::Timestamp | DataType::TimestampTz => (None, None, None, Some(6)),
                        _ => (None, None, None, None),
                    };
                    let udt = oid::type_name(c.ty.pg_oid()).unwrap_or("text");
                    // An identity column shows its sequence's settings, not a default.
                    let seq = c.identity.and_then(|_| ctx.catalog.sequences.values().find(|s| s.owned_by == Some((t.id, phys))));
                    let seq_cell = |f: fn(&duetdb_storage::catalog::SequenceDef) -> String| -> Cell { seq.map(|s| f(s)).into() };
                    let mut row = vec![
                        db.as_str().into(),
                        t.schema.as_str().into(),
                        t.name.as_str().into(),
                        c.name.as_str().into(),
                        Cell::I32(pos as i32 + 1),
                        c.default.clone().filter(|_| c.identity.is_none()).into(),
                        (if c.nullable { "YES" } else { "NO" }).into(),
                        c.ty.pg_name().split('(').next().unwrap_or("").to_string().into(),
                        char_len.map(Cell::I32).unwrap_or(Cell::Null),
                        char_len.map(|n| Cell::I32(n * 4)).unwrap_or(Cell::Null),
                        num_prec.map(Cell::I32).unwrap_or(Cell::Null),
                        num_prec.map(|_| Cell::I32(if matches!(c.ty, DataType::Numeric { .. }) { 10 } else { 2 })).unwrap_or(Cell::Null),
                        num_scale.map(Cell::I32).unwrap_or(Cell::Null),
                        dt_prec.map(Cell::I32).unwrap_or(Cell::Null),
                        db.as_str().into(),
                        "pg_catalog".into(),
                        udt.into(),
                        (if c.identity.is_some() { "YES" } else { "NO" }).into(),
                        match c.identity {
                            Some(Identity::Always) => "ALWAYS".into(),
                            Some(Identity::ByDefault) => "BY DEFAULT".into(),
                            None => Cell::Null,
                        },
                    ];
                    row.extend([
                        seq_cell(|s| s.start.to_string()),
                        seq_cell(|s| s.increment.to_string()),
                        seq_cell(|s| s.max.to_string()),
                        seq_cell(|s| s.min.to_string()),
                        seq_cell(|s| if s.cycle { "YES" } else { "NO" }.to_string()),
                        (if c.generated.is_some() { "ALWAYS" } else { "NEVER" }).into(),
                        c.generated.clone().into(),
                        "YES".into(),
                    ]);
                    v.push(row);
                }
            }
            for w in ctx.catalog.views.values() {
                for (pos, c) in w.columns.iter().enumerate() {
                    v.push(vec![
                        db.as_str().into(),
                        w.schema.as_str().into(),
                        w.name.as_str().into(),
                        c.name.as_str().into(),
                        Cell::I32(pos as i32 + 1),
                        Cell::Null,
                        "YES".into(),
                        format_type(c.type_oid, -1).unwrap_or_else(|| "text".into()).into(),
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        db.as_str().into(),
                        "pg_catalog".into(),
                        oid::type_name(c.type_oid).unwrap_or("text").into(),
                        "NO".into(),
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        "NEVER".into(),
                        Cell::Null,
                        "NO".into(),
                    ]);
                }
            }
            v
        },
    },
    TableSpec {
        schema: "information_schema",
        name: "table_constraints",
        oid: 13_005,
        columns: &[
            ("constraint_catalog", Name),
            ("constraint_schema", Name),
            ("constraint_name", Name),
            ("table_catalog", Name),
            ("table_schema", Name),
            ("table_name", Name),
            ("constraint_type", Text),
            ("is_deferrable", Text),
            ("initially_deferred", Text),
            ("enforced", Text),
            ("nulls_distinct", Text),
        ],
        rows: |ctx| {
            let db = ctx.database();
            constraints(&ctx.catalog)
                .into_iter()
                .map(|c| {
                    let kind = match c.kind {
                        'p' => "PRIMARY KEY",
                        'u' => "UNIQUE",
                        'f' => "FOREIGN KEY",
                        _ => "CHECK",
                    };
                    vec![
                        db.as_str().into(),
                        c.table.schema.as_str().into(),
                        c.name.into(),
                        db.as_str().into(),
                        c.table.schema.as_str().into(),
                        c.table.name.as_str().into(),
                        kind.into(),
                        "NO".into(),
                        "NO".into(),
                        "YES".into(),
                        (if c.kind == 'u' { "YES" } else { "" }).into(),
                    ]
                })
                .collect()
        },
    },
    TableSpec {
        schema: "information_schema",
        name: "key_column_usage",
        oid: 13_006,
        columns: &[
            ("constraint_catalog", Name),
            ("constraint_schema", Name),
            ("constraint_name", Name),
            ("table_catalog", Name),
            ("table_schema", Name),
            ("table_name", Name),
            ("column_name", Name),
            ("ordinal_position", I32),
            ("position_in_unique_constraint", I32),
        ],
        rows: |ctx| {
            let db = ctx.database();
            let mut v = Vec::new();
            for c in constraints(&ctx.catalog) {
                for (k, &col) in c.columns.iter().enumerate() {
                    v.push(vec![
                        db.as_str().into(),
                        c.table.schema.as_str().into(),
                        c.name.clone().into(),
                        db.as_str().into(),
                        c.table.schema.as_str().into(),
                        c.table.name.as_str().into(),
                        c.table.columns[col].name.as_str().into(),
                        Cell::I32(k as i32 + 1),
                        if c.kind == 'f' { Cell::I32(k as i32 + 1) } else { Cell::Null },
                    ]);
                }
            }
            v
        },
    },
    TableSpec {
        schema: "information_schema",
        name: "referential_constraints",
        oid: 13_007,
        columns: &[
            ("constraint_catalog", Name),
            ("constraint_schema", Name),
            ("constraint_name", Name),
            ("unique_constraint_catalog", Name),
            ("unique_constraint_schema", Name),
            ("unique_constraint_name", Name),
            ("match_option", Text),
            ("update_rule", Text),
            ("delete_rule", Text),
        ],
        rows: |ctx| {
            let db = ctx.database();
            let mut v = Vec::new();
            for c in constraints(&ctx.catalog) {
                let Some(fk) = c.fk else { continue };
                let uname = ctx
                    .catalog
                    .tables
                    .get(&fk.ref_table)
                    .and_then(|t| t.indexes.iter().find(|i| i.unique && i.columns == fk.ref_columns).map(|i| i.name.clone()));
                v.push(vec![
                    db.as_str().into(),
                    c.table.schema.as_str().into(),
                    c.name.into(),
                    db.as_str().into(),
                    c.table.schema.as_str().into(),
                    uname.into(),
                    "NONE".into(),
                    fk_action_sql(fk.on_update).into(),
                    fk_action_sql(fk.on_delete).into(),
                ]);
            }
            v
        },
    },
    TableSpec {
        schema: "information_schema",
        name: "sequences",
        oid: 13_008,
        columns: &[
            ("sequence_catalog", Name),
            ("sequence_schema", Name),
            ("sequence_name", Name),
            ("data_type", Text),
            ("numeric_precision", I32),
            ("numeric_precision_radix", I32),
            ("numeric_scale", I32),
            ("start_value", Text),
            ("minimum_value", Text),
            ("maximum_value", Text),
            ("increment", Text),
            ("cycle_option", Text),
        ],
        rows: |ctx| {
            // An identity column's sequence is internal to it: PostgreSQL
            // leaves it out of this view (pg_sequences still shows it).
            let identity = |s: &&Arc<SequenceDef>| {
                s.owned_by
                    .is_some_and(|(t, c)| ctx.catalog.tables.get(&t).and_then(|t| t.columns.get(c)).is_some_and(|c| c.identity.is_some()))
            };
            ctx.catalog
                .sequences
                .values()
                .filter(|s| !identity(s))
                .map(|s| {
                    vec![
                        ctx.database().into(),
                        s.schema.as_str().into(),
                        s.name.as_str().into(),
                        s.ty.pg_name().into(),
                        Cell::I32(match s.ty {
                            DataType::Int16 => 16,
                            DataType::Int32 => 32,
                            _ => 64,
                        }),
                        Cell::I32(2),
                        Cell::I32(0),
                        s.start.to_string().into(),
                        s.min.to_string().into(),
                        s.max.to_string().into(),
                        s.increment.to_string().into(),
                        (if s.cycle { "YES" } else { "NO" }).into(),
                    ]
                })
                .collect()
        },
    },
];

/// Keeps `typmod` metadata constant reachable for callers that tag fields.
pub const TYPMOD_KEY: &str = META_TYPMOD;

/// `pg_attribute.attidentity`: 'a' GENERATED ALWAYS, 'd' BY DEFAULT, '' none.
fn identity_code(identity: Option<Identity>) -> &'static str {
    match identity {
        Some(Identity::Always) => "a",
        Some(Identity::ByDefault) => "d",
        None => "",
    }
}

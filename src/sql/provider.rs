//! DataFusion tables over the row store.
//!
//! Each session has one DataFusion context whose catalog resolves names
//! against the *current statement's* read view, held in a [`ViewSlot`]. A
//! `RowTable` does not capture a snapshot when it is planned: it reads the slot
//! when the scan runs, so a prepared statement's cached plan is correct in
//! every later statement and transaction.
//!
//! ```text
//!   planner ──► CatalogList ──► SchemaProvider("public") ──► RowTable(def)
//!                                                            │ scan(filters, projection, limit)
//!                                        ViewSlot ◄──────────┘ reads the current ReadView
//!                                                            ▼
//!              index point / range lookup when a filter pins an indexed column,
//!              else a chunked sequential scan (bounded batches, lock per 1024 rows)
//! ```
//!
//! Filters are `Inexact` pushdowns: the scan uses them to pick rows, DataFusion
//! still applies them, so a scan may over-deliver but never under-deliver.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::common::{Column, DataFusionError, Result as DfResult, ScalarValue, Statistics, stats::Precision};
use datafusion::datasource::TableType;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use duetdb_storage::arrow_conv::{BatchBuilder, ROWID_COLUMN, arrow_type};
use duetdb_storage::keycode;
use duetdb_storage::row::ValueRef;
use duetdb_storage::{ReadView, RowId, TableDef, Value};
use parking_lot::RwLock;

use crate::pg::encode::{META_ATTNUM, META_OID, META_TABLE, META_TYPMOD};
use crate::sql::system::{SystemContext, SystemTable};

pub const BATCH_ROWS: usize = 8192;
/// Suffix that makes a table name resolve to the table *with* its `__rowid`
/// column (how UPDATE/DELETE find the rows they change).
pub const ROWID_SUFFIX: &str = "$rowid";

/// Where a statement's data comes from when it is not the row store: a
/// standby's columnar snapshot. Same catalog, different table providers.
pub trait DataSource: Send + Sync {
    fn catalog(&self) -> Arc<duetdb_storage::Catalog>;
    fn table(&self, def: &Arc<TableDef>) -> Option<Arc<dyn TableProvider>>;
}

/// The read view (and session context) the current statement runs with.
#[derive(Default)]
pub struct ViewSlot {
    view: RwLock<Option<ReadView>>,
    source: RwLock<Option<Arc<dyn DataSource>>>,
    system: RwLock<Option<Arc<dyn SystemContext>>>,
}

impl ViewSlot {
    /// A standby statement's snapshot (replaces the row store view).
    pub fn set_source(&self, s: Option<Arc<dyn DataSource>>) {
        *self.source.write() = s;
    }

    pub fn source(&self) -> Option<Arc<dyn DataSource>> {
        self.source.read().clone()
    }

    /// The catalog the current statement sees, whichever the data source.
    pub fn catalog(&self) -> Option<Arc<duetdb_storage::Catalog>> {
        if let Some(s) = self.source.read().as_ref() {
            return Some(s.catalog());
        }
        self.view.read().as_ref().map(|v| v.catalog.clone())
    }

    pub fn set(&self, view: ReadView) {
        *self.view.write() = Some(view);
    }

    pub fn clear(&self) {
        *self.view.write() = None;
        *self.source.write() = None;
    }

    pub fn get(&self) -> DfResult<ReadView> {
        self.view.read().clone().ok_or_else(|| DataFusionError::Internal("no read view for this statement".into()))
    }

    pub fn set_system(&self, s: Arc<dyn SystemContext>) {
        *self.system.write() = Some(s);
    }

    pub fn system(&self) -> Option<Arc<dyn SystemContext>> {
        self.system.read().clone()
    }
}

impl fmt::Debug for ViewSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ViewSlot")
    }
}

/// The Arrow schema SQL sees for a table: live columns, each tagged with its
/// PostgreSQL type (so `varchar(20)` reaches clients as such) and position.
pub fn sql_schema(def: &TableDef, with_rowid: bool) -> SchemaRef {
    let mut fields = Vec::new();
    if with_rowid {
        fields.push(Field::new(ROWID_COLUMN, ArrowType::UInt64, false));
    }
    for (i, c) in def.live_columns() {
        let md = HashMap::from([
            (META_OID.to_string(), c.ty.pg_oid().to_string()),
            (META_TYPMOD.to_string(), c.ty.pg_typmod().to_string()),
            (META_TABLE.to_string(), def.id.to_string()),
            (META_ATTNUM.to_string(), (i + 1).to_string()),
        ]);
        fields.push(Field::new(&c.name, arrow_type(&c.ty), c.nullable).with_metadata(md));
    }
    Arc::new(Schema::new(fields))
}

// ---------------------------------------------------------------------------
// Catalog resolution
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct CatalogList {
    pub database: String,
    catalog: Arc<DbCatalog>,
}

impl CatalogList {
    pub fn new(database: &str, slot: Arc<ViewSlot>) -> CatalogList {
        CatalogList { database: database.to_string(), catalog: Arc::new(DbCatalog { slot }) }
    }
}

impl CatalogProviderList for CatalogList {
    fn register_catalog(&self, _: String, _: Arc<dyn CatalogProvider>) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![self.database.clone()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        // Any database name resolves: a connection only ever sees its own database.
        let _ = name;
        Some(self.catalog.clone())
    }
}

#[derive(Debug)]
struct DbCatalog {
    slot: Arc<ViewSlot>,
}

impl CatalogProvider for DbCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self.slot.catalog() {
            Some(c) => c.schemas.keys().cloned().collect(),
            None => vec!["public".into()],
        };
        names.push("pg_catalog".into());
        names.push("information_schema".into());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let known = name == "pg_catalog"
            || name == "information_schema"
            || self.slot.catalog().map(|c| c.schemas.contains_key(name)).unwrap_or(name == "public");
        known.then(|| Arc::new(DbSchema { name: name.to_string(), slot: self.slot.clone() }) as Arc<dyn SchemaProvider>)
    }
}

#[derive(Debug)]
struct DbSchema {
    name: String,
    slot: Arc<ViewSlot>,
}

impl DbSchema {
    fn system_table(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        let schema = if self.name == "information_schema" { "information_schema" } else { "pg_catalog" };
        SystemTable::lookup(schema, name, self.slot.clone()).map(|t| Arc::new(t) as Arc<dyn TableProvider>)
    }
}

#[async_trait]
impl SchemaProvider for DbSchema {
    fn table_names(&self) -> Vec<String> {
        match self.slot.catalog() {
            Some(c) => c.tables.values().filter(|t| t.schema == self.name).map(|t| t.name.clone()).collect(),
            None => Vec::new(),
        }
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.name == "pg_catalog" || self.name == "information_schema" {
            return Ok(self.system_table(name));
        }
        let (base, with_rowid) = match name.strip_suffix(ROWID_SUFFIX) {
            Some(b) => (b, true),
            None => (name, false),
        };
        if let Some(source) = self.slot.source() {
            // A standby: its columnar snapshot serves the tables.
            if let Some(def) = source.catalog().table_by_name(&self.name, base).cloned()
                && !with_rowid
            {
                return Ok(source.table(&def));
            }
            return Ok(self.system_table(name));
        }
        let view = self.slot.get()?;
        if let Some(def) = view.catalog.table_by_name(&self.name, base) {
            return Ok(Some(Arc::new(RowTable::new(def.clone(), with_rowid, self.slot.clone()))));
        }
        // PostgreSQL searches pg_catalog before the search path: pg_class etc.
        // resolve unqualified too (user tables of the same name shadow them here).
        Ok(self.system_table(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.slot.catalog().map(|c| c.table_by_name(&self.name, name).is_some()).unwrap_or(false)
    }
}

// ---------------------------------------------------------------------------
// Row tables
// ---------------------------------------------------------------------------

pub struct RowTable {
    pub def: Arc<TableDef>,
    schema: SchemaRef,
    with_rowid: bool,
    slot: Arc<ViewSlot>,
}

impl fmt::Debug for RowTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowTable({})", self.def.name)
    }
}

impl RowTable {
    pub fn new(def: Arc<TableDef>, with_rowid: bool, slot: Arc<ViewSlot>) -> RowTable {
        RowTable { schema: sql_schema(&def, with_rowid), def, with_rowid, slot }
    }

    /// Column name → physical position, for filter analysis.
    fn physical(&self, name: &str) -> Option<usize> {
        self.def.column_index(name)
    }
}

#[async_trait]
impl TableProvider for RowTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        let view = self.slot.get().ok()?;
        let data = view.table_data(&self.def)?;
        let mut s = Statistics::new_unknown(&self.schema);
        s.num_rows = Precision::Inexact(data.next_rowid().saturating_sub(1) as usize);
        Some(s)
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let view = self.slot.get()?;
        // Output columns: schema positions → physical positions.
        let schema_cols: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let out_schema = Arc::new(self.schema.project(&schema_cols)?);
        let offset = self.with_rowid as usize;
        let want_rowid = self.with_rowid && schema_cols.contains(&0);
        let physical: Vec<usize> = schema_cols
            .iter()
            .filter(|&&c| !(self.with_rowid && c == 0))
            .map(|&c| self.physical(self.schema.field(c).name()).expect("schema column exists"))
            .collect();
        let _ = offset;
        let access = choose_access(&view, &self.def, filters);
        let limit = if filters.is_empty() { limit } else { None };
        let parts: Vec<Arc<dyn PartitionStream>> = match access {
            Access::Rows(rowids) => vec![Arc::new(RowScan {
                view,
                def: self.def.clone(),
                columns: physical,
                with_rowid: want_rowid,
                schema: out_schema.clone(),
                range: ScanRange::Rows(Arc::new(rowids)),
                limit,
            })],
            Access::Full => {
                // Split the row id space for parallel scans of big tables.
                let next = view.table_data(&self.def).map(|d| d.next_rowid()).unwrap_or(1);
                let n = if next > 200_000 && limit.is_none() { 2 } else { 1 };
                let step = next.div_ceil(n);
                (0..n)
                    .map(|i| {
                        Arc::new(RowScan {
                            view: view.clone(),
                            def: self.def.clone(),
                            columns: physical.clone(),
                            with_rowid: want_rowid,
                            schema: out_schema.clone(),
                            range: ScanRange::Span(i * step, ((i + 1) * step).min(next)),
                            limit,
                        }) as Arc<dyn PartitionStream>
                    })
                    .collect()
            }
        };
        Ok(Arc::new(StreamingTableExec::try_new(out_schema, parts, None, vec![], false, None)?))
    }
}

enum Access {
    Full,
    /// Candidate row ids from an index (visibility and filters still apply).
    Rows(Vec<RowId>),
}

/// Picks an index that the filters pin: all key columns equal to constants
/// (point lookups, `IN` lists expand), else a range on the leading column.
fn choose_access(view: &ReadView, def: &TableDef, filters: &[Expr]) -> Access {
    let mut eq: HashMap<usize, Vec<ScalarValue>> = HashMap::new();
    let mut lower: HashMap<usize, (ScalarValue, bool)> = HashMap::new();
    let mut upper: HashMap<usize, (ScalarValue, bool)> = HashMap::new();
    for f in filters {
        for conj in split_and(f) {
            collect_bounds(def, conj, &mut eq, &mut lower, &mut upper);
        }
    }
    if eq.is_empty() && lower.is_empty() && upper.is_empty() {
        return Access::Full;
    }
    let Some(data) = view.table_data(def) else { return Access::Full };
    let indexes = data.indexes();
    let mut ordered: Vec<_> = indexes.iter().collect();
    ordered.sort_by_key(|i| (!i.unique, i.columns.len()));
    // Point lookups: every key column pinned.
    for idx in &ordered {
        if idx.columns.iter().all(|c| eq.contains_key(c)) {
            let combos = key_combinations(def, &idx.columns, &eq);
            let Some(keys) = combos else { continue };
            if keys.len() > 10_000 {
                continue;
            }
            let mut rows = Vec::new();
            for k in keys {
                rows.extend(idx.lookup(&k));
            }
            rows.sort_unstable();
            rows.dedup();
            return Access::Rows(rows);
        }
    }
    // Range on a leading column (equality on it is a degenerate range).
    for idx in &ordered {
        let c = idx.columns[0];
        let ty = &def.columns[c].ty;
        let enc = |v: &ScalarValue| -> Option<Vec<u8>> {
            let val = ty.coerce(scalar_to_value(v)?).ok()?;
            Some(keycode::encode_key([ValueRef::from(&val)]))
        };
        if let Some(vals) = eq.get(&c)
            && vals.len() == 1
        {
            let Some(k) = enc(&vals[0]) else { continue };
            return Access::Rows(idx.range(Bound::Included(&k), Bound::Included(&k), usize::MAX));
        }
        let lo = lower.get(&c).and_then(|(v, inc)| enc(v).map(|k| (k, *inc)));
        let hi = upper.get(&c).and_then(|(v, inc)| enc(v).map(|k| (k, *inc)));
        if lo.is_none() && hi.is_none() {
            continue;
        }
        // Without an upper bound, stop before NULL keys (they sort last).
        let null_start = vec![0x02u8];
        let lo_b = match &lo {
            Some((k, true)) => Bound::Included(k.as_slice()),
            Some((k, false)) => Bound::Excluded(k.as_slice()),
            None => Bound::Unbounded,
        };
        let hi_b = match &hi {
            Some((k, true)) => Bound::Included(k.as_slice()),
            Some((k, false)) => Bound::Excluded(k.as_slice()),
            None => Bound::Excluded(null_start.as_slice()),
        };
        let mut rows = idx.range(lo_b, hi_b, usize::MAX);
        rows.sort_unstable();
        return Access::Rows(rows);
    }
    Access::Full
}

fn key_combinations(def: &TableDef, cols: &[usize], eq: &HashMap<usize, Vec<ScalarValue>>) -> Option<Vec<Vec<u8>>> {
    let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
    for &c in cols {
        let ty = &def.columns[c].ty;
        let mut next = Vec::new();
        for v in &eq[&c] {
            let Some(val) = scalar_to_value(v) else { return None };
            // A constant that does not fit the column (e.g. 1.5 for an int) matches no row;
            // leave it to the full scan rather than guess.
            let val = ty.coerce(val).ok()?;
            if val.is_null() {
                continue;
            }
            for k in &keys {
                let mut k2 = k.clone();
                keycode::encode_value(&mut k2, ValueRef::from(&val));
                next.push(k2);
            }
        }
        keys = next;
    }
    Some(keys)
}

fn split_and(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            let mut v = split_and(left);
            v.extend(split_and(right));
            v
        }
        e => vec![e],
    }
}

fn column_of(def: &TableDef, e: &Expr) -> Option<usize> {
    match e {
        Expr::Column(Column { name, .. }) => def.column_index(name),
        Expr::Cast(c) => column_of(def, &c.expr),
        Expr::TryCast(c) => column_of(def, &c.expr),
        _ => None,
    }
}

fn literal_of(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Cast(c) => {
            let v = literal_of(&c.expr)?;
            v.cast_to(c.field.data_type()).ok()
        }
        _ => None,
    }
}

fn collect_bounds(
    def: &TableDef,
    e: &Expr,
    eq: &mut HashMap<usize, Vec<ScalarValue>>,
    lower: &mut HashMap<usize, (ScalarValue, bool)>,
    upper: &mut HashMap<usize, (ScalarValue, bool)>,
) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col, lit, op) = match (column_of(def, left), literal_of(right)) {
                (Some(c), Some(l)) => (c, l, *op),
                _ => match (literal_of(left), column_of(def, right)) {
                    (Some(l), Some(c)) => (c, l, op.swap().unwrap_or(*op)),
                    _ => return,
                },
            };
            if lit.is_null() {
                return;
            }
            match op {
                Operator::Eq => {
                    eq.insert(col, vec![lit]);
                }
                Operator::Gt => {
                    lower.insert(col, (lit, false));
                }
                Operator::GtEq => {
                    lower.insert(col, (lit, true));
                }
                Operator::Lt => {
                    upper.insert(col, (lit, false));
                }
                Operator::LtEq => {
                    upper.insert(col, (lit, true));
                }
                _ => {}
            }
        }
        Expr::InList(list) if !list.negated => {
            if let Some(c) = column_of(def, &list.expr) {
                let lits: Option<Vec<ScalarValue>> = list.list.iter().map(literal_of).collect();
                if let Some(lits) = lits {
                    eq.insert(c, lits);
                }
            }
        }
        Expr::Between(b) if !b.negated => {
            if let (Some(c), Some(lo), Some(hi)) = (column_of(def, &b.expr), literal_of(&b.low), literal_of(&b.high)) {
                lower.insert(c, (lo, true));
                upper.insert(c, (hi, true));
            }
        }
        _ => {}
    }
}

/// The engine value of a DataFusion scalar (None for types the engine does not store).
pub fn scalar_to_value(v: &ScalarValue) -> Option<Value> {
    Some(match v {
        v if v.is_null() => Value::Null,
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(Some(i)) => Value::Int16(*i as i16),
        ScalarValue::Int16(Some(i)) => Value::Int16(*i),
        ScalarValue::Int32(Some(i)) => Value::Int32(*i),
        ScalarValue::Int64(Some(i)) => Value::Int64(*i),
        ScalarValue::UInt8(Some(i)) => Value::Int16(*i as i16),
        ScalarValue::UInt16(Some(i)) => Value::Int32(*i as i32),
        ScalarValue::UInt32(Some(i)) => Value::Int64(*i as i64),
        ScalarValue::UInt64(Some(i)) => Value::Int64(i64::try_from(*i).ok()?),
        ScalarValue::Float32(Some(f)) => Value::Float32(*f),
        ScalarValue::Float64(Some(f)) => Value::Float64(*f),
        ScalarValue::Decimal128(Some(m), _, s) if *s >= 0 => Value::Numeric(*m, *s as u8),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Value::Text(s.clone()),
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) | ScalarValue::BinaryView(Some(b)) => Value::Bytea(b.clone()),
        ScalarValue::Date32(Some(d)) => Value::Date(*d),
        ScalarValue::TimestampMicrosecond(Some(t), tz) => {
            if tz.is_some() {
                Value::TimestampTz(*t)
            } else {
                Value::Timestamp(*t)
            }
        }
        ScalarValue::TimestampNanosecond(Some(t), tz) => {
            let t = t.div_euclid(1000);
            if tz.is_some() { Value::TimestampTz(t) } else { Value::Timestamp(t) }
        }
        ScalarValue::TimestampMillisecond(Some(t), tz) => {
            let t = t * 1000;
            if tz.is_some() { Value::TimestampTz(t) } else { Value::Timestamp(t) }
        }
        ScalarValue::TimestampSecond(Some(t), tz) => {
            let t = t * 1_000_000;
            if tz.is_some() { Value::TimestampTz(t) } else { Value::Timestamp(t) }
        }
        _ => return None,
    })
}

/// The DataFusion scalar of an engine value.
pub fn value_to_scalar(v: &Value, ty: &duetdb_storage::DataType) -> ScalarValue {
    let null = || ScalarValue::try_from(&arrow_type(ty)).unwrap_or(ScalarValue::Null);
    match v {
        Value::Null => null(),
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::Int16(i) => ScalarValue::Int16(Some(*i)),
        Value::Int32(i) => ScalarValue::Int32(Some(*i)),
        Value::Int64(i) => ScalarValue::Int64(Some(*i)),
        Value::Float32(f) => ScalarValue::Float32(Some(*f)),
        Value::Float64(f) => ScalarValue::Float64(Some(*f)),
        Value::Numeric(m, s) => match ty {
            duetdb_storage::DataType::Numeric { precision, .. } => ScalarValue::Decimal128(Some(*m), *precision, *s as i8),
            _ => ScalarValue::Decimal128(Some(*m), 38, *s as i8),
        },
        Value::Text(s) => ScalarValue::Utf8(Some(s.clone())),
        Value::Bytea(b) => ScalarValue::Binary(Some(b.clone())),
        Value::Date(d) => ScalarValue::Date32(Some(*d)),
        Value::Timestamp(t) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        Value::TimestampTz(t) => ScalarValue::TimestampMicrosecond(Some(*t), Some("UTC".into())),
    }
}

// ---------------------------------------------------------------------------
// Scans
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum ScanRange {
    /// Row ids [from, to).
    Span(RowId, RowId),
    Rows(Arc<Vec<RowId>>),
}

struct RowScan {
    view: ReadView,
    def: Arc<TableDef>,
    columns: Vec<usize>,
    with_rowid: bool,
    schema: SchemaRef,
    range: ScanRange,
    limit: Option<usize>,
}

impl fmt::Debug for RowScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowScan({}, {:?})", self.def.name, self.range)
    }
}

impl PartitionStream for RowScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut state = ScanState {
            view: self.view.clone(),
            def: self.def.clone(),
            builder: BatchBuilder::new(&self.def, &self.columns, self.with_rowid, self.schema.clone(), BATCH_ROWS),
            range: self.range.clone(),
            pos: 0,
            done: false,
            remaining: self.limit.unwrap_or(usize::MAX),
        };
        let iter = std::iter::from_fn(move || state.next_batch().map(Ok));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), futures::stream::iter(iter)))
    }
}

struct ScanState {
    view: ReadView,
    def: Arc<TableDef>,
    builder: BatchBuilder,
    range: ScanRange,
    /// Next row id (Span) or index into the row list (Rows).
    pos: u64,
    done: bool,
    remaining: usize,
}

impl ScanState {
    /// Scans until a batch is full (bounded work per call).
    fn next_batch(&mut self) -> Option<RecordBatch> {
        if self.done || self.remaining == 0 {
            return None;
        }
        let cap = BATCH_ROWS.min(self.remaining);
        let builder = &mut self.builder;
        match &self.range {
            ScanRange::Span(from, to) => {
                let start = (*from).max(self.pos);
                let end = *to;
                let next = self.view.scan_from(&self.def, start, |r, row| {
                    if r >= end {
                        return ControlFlow::Break(());
                    }
                    builder.push(r, row);
                    if builder.len() >= cap { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                });
                match next {
                    Some(n) if n < end && builder.len() >= cap => self.pos = n,
                    _ => self.done = true,
                }
            }
            ScanRange::Rows(rows) => {
                let start = self.pos as usize;
                let mut consumed = 0;
                let slice = &rows[start.min(rows.len())..];
                for &r in slice {
                    consumed += 1;
                    self.view.fetch(&self.def, &[r], |rid, row| {
                        builder.push(rid, row);
                        ControlFlow::Continue(())
                    });
                    if builder.len() >= cap {
                        break;
                    }
                }
                self.pos += consumed as u64;
                if self.pos as usize >= rows.len() {
                    self.done = true;
                }
            }
        }
        if self.builder.is_empty() {
            return if self.done { None } else { self.next_batch() };
        }
        let batch = self.builder.finish();
        self.remaining = self.remaining.saturating_sub(batch.num_rows());
        Some(batch)
    }
}

//! Transactions: reads through snapshots, writes with row locks, savepoints,
//! transactional DDL, and the commit protocol.
//!
//! A transaction runs statements. Each statement gets a `ReadView` — a fresh
//! snapshot under READ COMMITTED, the transaction's first one under REPEATABLE
//! READ — and a new command id. Writes go straight into the shared version
//! chains, stamped with this transaction's id, and are remembered twice:
//!
//! ```text
//!   undo log:  what to put back on ROLLBACK / ROLLBACK TO SAVEPOINT (precise, newest first)
//!   change buf: the redo the WAL will carry (flushed early as `Changes` records past 1 MiB)
//! ```
//!
//! Writing a row first locks it (see `lock_for_write`): the version this
//! statement sees must be the newest one and nobody else's lock may be on it.
//! Otherwise:
//!
//! ```text
//!   newer version / lock by a running txn X  → wait for X, then look again
//!   newer version by a committed txn X       → REPEATABLE READ: 40001
//!                                            → READ COMMITTED: RetryStatement — the
//!                                              caller rolls the statement back and runs it
//!                                              on a new snapshot (Oracle-style restart; the
//!                                              result is what PostgreSQL's re-check gives)
//! ```
//!
//! Commit is three steps so the server can put synchronous replication between
//! them, exactly where PostgreSQL waits for its standbys:
//!
//! ```text
//!   prepare_commit()  append the Commit record (the last changes + commit)  → LSN
//!   wait_flushed()    group commit: wait until that LSN is on disk
//!   finish()          stamp XMIN/XMAX_COMMITTED on every touched version, publish
//!                     the catalog if DDL ran, leave the running set (now visible), release locks
//! ```
//!
//! DDL is "propose a new catalog" ([`Transaction::set_catalog`]): the engine
//! diffs it against the current one, takes EXCLUSIVE locks on the tables it
//! touches, creates or rebuilds storage and indexes, validates (unique keys,
//! NOT NULL) and logs the catalog. DDL transactions run one at a time.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::catalog::{Catalog, RelFileNode, SequenceDef, TableDef};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::index::{HashedKeys, Index, Key, insert_if_absent, insert_in};
use crate::keycode;
use crate::lock::TableLockMode;
use crate::lsn::Lsn;
use crate::row::{RowBuf, decode_row, encode_row, for_each_value};
use crate::table::TableData;
use crate::txn::{DataMap, Isolation, Snapshot, TxnShared};
use crate::types::Value;
use crate::version::{Version, View, XMAX_COMMITTED, XMAX_LOCK_ONLY, XMIN_COMMITTED};
use crate::view::ReadView;
use crate::wal::record::{ChangeBuf, Kind, encode_abort, encode_changes_payload, encode_sub_abort};
use crate::{RowId, TxnId};
use smallvec::SmallVec;

/// Index builds of at least this many entries fill a unique index's hash map
/// on a second thread (below it, starting a thread costs more than it saves).
const PARALLEL_HASH_MIN: usize = 1 << 15;

/// A transaction's change buffer is written out as a `Changes` record past this size.
pub const SPILL_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The row was changed (or locked).
    Done,
    /// This statement cannot see the row (deleted meanwhile): skip it.
    NotVisible,
    /// This same statement already changed the row: skip it, as PostgreSQL does.
    SelfModified,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLockMode {
    /// FOR UPDATE / FOR NO KEY UPDATE.
    Update,
    /// FOR SHARE / FOR KEY SHARE. Taken as an exclusive lock: correct, less concurrent.
    Share,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    /// A statement failed: only ROLLBACK (or ROLLBACK TO SAVEPOINT) is allowed.
    Failed,
    Done,
}

/// How to put a row back. `t` indexes `Transaction::tables`.
#[derive(Clone, Copy, Debug)]
enum Undo {
    Insert {
        t: u32,
        rowid: RowId,
        count: u32,
    },
    /// Stamped xmax on the old version and pushed a new one.
    Update {
        t: u32,
        rowid: RowId,
        prev: XmaxState,
    },
    Delete {
        t: u32,
        rowid: RowId,
        prev: XmaxState,
    },
    Lock {
        t: u32,
        rowid: RowId,
        prev: XmaxState,
    },
}

#[derive(Clone, Copy, Debug)]
struct XmaxState {
    xmax: TxnId,
    cmax: u32,
    flags: u8,
}

impl XmaxState {
    fn of(v: &Version) -> XmaxState {
        XmaxState { xmax: v.xmax, cmax: v.cmax, flags: v.flags }
    }
    fn restore(self, v: &mut Version) {
        v.xmax = self.xmax;
        v.cmax = self.cmax;
        v.flags = (v.flags & XMIN_COMMITTED) | (self.flags & !XMIN_COMMITTED);
    }
}

/// Private catalog of a transaction that ran DDL, with the storage map it implies.
struct Ddl {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    catalog: Arc<Catalog>,
    data: Arc<DataMap>,
}

/// A point to roll back to: a savepoint or the start of the current statement.
#[derive(Clone)]
struct Mark {
    undo_len: usize,
    seq: u64,
    buf_len: usize,
    buf_count: u32,
    spilled_seq: u64,
    ddl: Option<(Arc<Catalog>, Arc<DataMap>)>,
}

struct Savepoint {
    name: String,
    mark: Mark,
}

pub struct Transaction {
    engine: Arc<Engine>,
    shared: Arc<TxnShared>,
    isolation: Isolation,
    read_only: bool,
    state: State,

    snapshot: Option<Arc<Snapshot>>,
    base_catalog: Arc<Catalog>,
    base_data: Arc<DataMap>,
    cid: u32,

    undo: Vec<Undo>,
    /// Undo entries below this index belong to before the latest savepoint or
    /// statement start and must not absorb new inserts (rollback needs the boundary).
    undo_floor: usize,
    /// Storage touched by this transaction, with the definition used to read its keys.
    tables: Vec<(Arc<TableData>, Arc<TableDef>)>,
    table_slot: HashMap<RelFileNode, u32>,
    changes: ChangeBuf,
    /// Changes with sequence numbers below this are already in the WAL.
    spilled_seq: u64,
    wrote_wal: bool,
    /// Highest LSN this transaction depends on without a change of its own (nextval).
    flush_needed: Lsn,

    ddl: Option<Ddl>,
    locked: HashMap<u32, TableLockMode>,
    savepoints: Vec<Savepoint>,
    statement: Option<Mark>,
}

impl Transaction {
    pub(crate) fn new(engine: Arc<Engine>, isolation: Isolation, read_only: bool) -> Transaction {
        let shared = engine.txns.begin();
        let (catalog, data) = engine.txns.committed_catalog();
        Transaction {
            engine,
            shared,
            isolation,
            read_only,
            state: State::Active,
            snapshot: None,
            base_catalog: catalog,
            base_data: data,
            cid: 0,
            undo: Vec::new(),
            undo_floor: 0,
            tables: Vec::new(),
            table_slot: HashMap::new(),
            changes: ChangeBuf::default(),
            spilled_seq: 0,
            wrote_wal: false,
            flush_needed: Lsn::ZERO,
            ddl: None,
            locked: HashMap::new(),
            savepoints: Vec::new(),
            statement: None,
        }
    }

    pub fn id(&self) -> TxnId {
        self.shared.id
    }

    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    pub fn set_isolation(&mut self, isolation: Isolation) -> Result<()> {
        if self.snapshot.is_some() {
            return Err(Error::ObjectNotInPrerequisiteState("SET TRANSACTION ISOLATION LEVEL must be called before any query".into()));
        }
        self.isolation = isolation;
        Ok(())
    }

    pub fn set_read_only(&mut self, read_only: bool) -> Result<()> {
        if !read_only && self.engine.is_read_only() {
            return Err(Error::ReadOnly("cannot set transaction read-write mode during recovery".into()));
        }
        self.read_only = read_only;
        Ok(())
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// True once this transaction has changed anything (it will write a commit record).
    pub fn has_writes(&self) -> bool {
        !self.undo.is_empty() || self.ddl.is_some() || self.wrote_wal || !self.changes.is_empty()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Marks the transaction failed after a statement error: PostgreSQL's
    /// "current transaction is aborted" state (25P02 for anything but ROLLBACK).
    pub fn fail(&mut self) {
        if self.state == State::Active {
            self.state = State::Failed;
        }
    }

    fn check_active(&self) -> Result<()> {
        match self.state {
            State::Active => Ok(()),
            State::Failed => Err(Error::Internal("transaction is aborted".into())),
            State::Done => Err(Error::Internal("transaction already ended".into())),
        }
    }

    fn check_writable(&self) -> Result<()> {
        self.check_active()?;
        if self.read_only {
            return Err(Error::ReadOnly("cannot execute this statement in a read-only transaction".into()));
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Statements and read views
    // ------------------------------------------------------------------

    /// Starts a statement: new command id, and a new snapshot under READ COMMITTED.
    pub fn begin_statement(&mut self) -> Result<()> {
        self.check_active()?;
        self.cid += 1;
        let need_new = self.snapshot.is_none() || self.isolation == Isolation::ReadCommitted;
        if need_new {
            let (snap, catalog, data) = self.engine.txns.snapshot(&self.shared);
            self.snapshot = Some(Arc::new(snap));
            self.base_catalog = catalog;
            self.base_data = data;
        } else {
            // Catalog lookups always use the newest committed catalog, as in PostgreSQL.
            let (catalog, data) = self.engine.txns.committed_catalog();
            self.base_catalog = catalog;
            self.base_data = data;
        }
        self.statement = Some(self.mark());
        Ok(())
    }

    /// Rolls back what the current statement did and begins it again on a new
    /// snapshot (the READ COMMITTED answer to `Error::RetryStatement`).
    pub fn restart_statement(&mut self) -> Result<()> {
        let mark = self.statement.clone().ok_or_else(|| Error::Internal("no statement to restart".into()))?;
        self.rollback_to_mark(&mark)?;
        self.cid -= 1;
        self.snapshot = None;
        self.begin_statement()
    }

    /// Rolls back the current statement's effects, keeping the transaction
    /// usable (used when a statement fails inside an implicit savepoint).
    pub fn rollback_statement(&mut self) -> Result<()> {
        if let Some(mark) = self.statement.clone() {
            self.rollback_to_mark(&mark)?;
        }
        Ok(())
    }

    /// What the current statement sees.
    pub fn read_view(&self) -> ReadView {
        let snapshot = self.snapshot.clone().expect("read_view before begin_statement");
        let (catalog, data) = self.catalog_and_data();
        ReadView { snapshot, me: self.id(), cid: self.cid, catalog, data }
    }

    /// The catalog this transaction sees (its own DDL included).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog_and_data().0
    }

    fn catalog_and_data(&self) -> (Arc<Catalog>, Arc<DataMap>) {
        match &self.ddl {
            Some(d) => (d.catalog.clone(), d.data.clone()),
            None => (self.base_catalog.clone(), self.base_data.clone()),
        }
    }

    fn data_for(&self, def: &TableDef) -> Result<Arc<TableData>> {
        let data = match &self.ddl {
            Some(d) => d.data.get(&def.relfilenode).cloned(),
            None => self.base_data.get(&def.relfilenode).cloned(),
        };
        data.ok_or_else(|| Error::UndefinedTable(def.name.clone()))
    }

    fn view(&self) -> View<'_> {
        View { snapshot: self.snapshot.as_ref().expect("write before begin_statement"), me: self.id(), cid: self.cid }
    }

    fn table_slot(&mut self, data: &Arc<TableData>, def: &Arc<TableDef>) -> u32 {
        if let Some(&t) = self.table_slot.get(&data.relfilenode) {
            // Keep the newest definition (it has every column written since).
            if self.tables[t as usize].1.columns.len() < def.columns.len() {
                self.tables[t as usize].1 = def.clone();
            }
            return t;
        }
        let t = self.tables.len() as u32;
        self.tables.push((data.clone(), def.clone()));
        self.table_slot.insert(data.relfilenode, t);
        t
    }

    // ------------------------------------------------------------------
    // Waiting
    // ------------------------------------------------------------------

    async fn wait_for(&self, holders: Vec<TxnId>) -> Result<()> {
        let _guard = self.engine.waits.begin_wait(self.id(), &holders)?;
        for h in holders {
            if let Some(t) = self.engine.txns.running(h) {
                let mut rx = t.done_receiver();
                let _ = rx.wait_for(|done| *done).await;
            }
        }
        Ok(())
    }

    /// Takes a table's EXCLUSIVE lock ahead of a catalog change that will
    /// need it anyway, so that what the transaction reads of the table before
    /// the change (a rewrite's rows) cannot change under it.
    pub async fn lock_table_exclusive(&mut self, table: u32) -> Result<()> {
        self.check_writable()?;
        self.lock_table(table, TableLockMode::Exclusive).await
    }

    async fn lock_table(&mut self, table: u32, mode: TableLockMode) -> Result<()> {
        match self.locked.get(&table) {
            Some(TableLockMode::Exclusive) => return Ok(()),
            Some(TableLockMode::Shared) if mode == TableLockMode::Shared => return Ok(()),
            _ => {}
        }
        loop {
            match self.engine.table_locks.try_lock(table, self.id(), mode) {
                Ok(()) => {
                    self.locked.insert(table, mode);
                    return Ok(());
                }
                Err(holders) => self.wait_for(holders).await?,
            }
        }
    }

    // ------------------------------------------------------------------
    // Row writes
    // ------------------------------------------------------------------

    /// Checks and converts a full physical row for `def`, in place.
    fn prepare_row(&self, def: &TableDef, mut values: Vec<Value>) -> Result<Vec<Value>> {
        if values.len() != def.columns.len() {
            return Err(Error::Internal(format!("row has {} values for {} columns of \"{}\"", values.len(), def.columns.len(), def.name)));
        }
        for (col, v) in def.columns.iter().zip(values.iter_mut()) {
            if col.dropped {
                *v = Value::Null;
                continue;
            }
            let taken = std::mem::replace(v, Value::Null);
            *v = col.ty.coerce(taken)?;
            if v.is_null() && !col.nullable {
                return Err(Error::NotNullViolation { column: col.name.clone(), table: def.name.clone() });
            }
        }
        Ok(values)
    }

    /// Inserts a row (values for every physical column) and returns its row id.
    pub async fn insert(&mut self, def: &Arc<TableDef>, values: Vec<Value>) -> Result<RowId> {
        Ok(self.insert_rows(def, vec![values]).await?.expect("one row inserted"))
    }

    /// Inserts many rows (COPY, INSERT … SELECT) and returns how many.
    pub async fn insert_batch(&mut self, def: &Arc<TableDef>, rows: Vec<Vec<Value>>) -> Result<u64> {
        let n = rows.len() as u64;
        self.insert_rows(def, rows).await?;
        Ok(n)
    }

    /// Inserts rows (one for `insert`, a batch for `insert_batch`) and returns
    /// the first row id (None for no rows). Per-row overheads are paid once
    /// per call:
    ///
    /// ```text
    ///   rows ──prepare+encode all──▶ (a bad row fails here, nothing installed)
    ///        ──one id range───────▶ first..first+n
    ///        ──redo for each row──▶ ChangeBuf (spilled as it fills)
    ///        ──versions───────────▶ one chunk lock per 1024 rows, one undo entry
    ///        ──index entries──────▶ per row; unique ones checked, waiting for a running holder
    /// ```
    ///
    /// Until every index has a row, a failure must take the rows back out: the
    /// undo entry covers the whole range (removing index entries that were
    /// never added is a no-op), so a unique violation part-way fails the
    /// statement cleanly. The table's index list is read once: adding an index
    /// takes the table's exclusive lock, which waits for our shared one.
    async fn insert_rows(&mut self, def: &Arc<TableDef>, rows: Vec<Vec<Value>>) -> Result<Option<RowId>> {
        take_turn().await;
        self.check_writable()?;
        self.lock_table(def.id, TableLockMode::Shared).await?;
        let data = self.data_for(def)?;
        let t = self.table_slot(&data, def);
        let (indexes, layout) = (data.indexes(), def.layout());
        let n = rows.len();
        if n == 0 {
            return Ok(None);
        }
        assert!(n <= u32::MAX as usize, "insert of {n} rows exceeds one undo entry");
        let mut encoded = Vec::with_capacity(n);
        let mut keys: Vec<SmallVec<[(Vec<u8>, bool); 2]>> = Vec::with_capacity(if indexes.is_empty() { 0 } else { n });
        for values in rows {
            let values = self.prepare_row(def, values)?;
            encoded.push(encode_row(&layout.types, &values));
            if !indexes.is_empty() {
                keys.push(indexes.iter().map(|i| i.key_of_values(&values)).collect());
            }
        }
        let first = data.alloc_rowids(n as u64);
        // Redo first (a copy of the bytes), then the versions take the rows themselves.
        for (i, row) in encoded.iter().enumerate() {
            self.changes.insert(def.id, first + i as u64, row);
            self.maybe_spill()?;
        }
        let (me, cid) = (self.id(), self.cid);
        let mut versions = encoded.into_iter();
        data.with_chains_mut(first..first + n as u64, |rowid, chain| {
            debug_assert!(chain.is_empty(), "fresh row id {rowid} already has versions");
            chain.push(Version::new(me, cid, versions.next().expect("one encoded row per id")));
        });
        self.push_insert_undo(t, first, n as u32);
        for (i, row_keys) in keys.into_iter().enumerate() {
            let rowid = first + i as u64;
            for (index, (key, has_null)) in indexes.iter().zip(row_keys) {
                if !index.unique || has_null {
                    index.insert(&key, rowid);
                    continue;
                }
                while let Some(holder) = self.try_unique_insert(&data, def, index, &key, rowid)? {
                    self.wait_for(vec![holder]).await?;
                }
            }
        }
        Ok(Some(first))
    }

    /// Records that rows `rowid..rowid + n` were inserted, extending the last
    /// entry when it lies above the latest mark (savepoint or statement start)
    /// and ends where this range begins.
    fn push_insert_undo(&mut self, t: u32, rowid: RowId, n: u32) {
        if self.undo.len() > self.undo_floor
            && let Some(Undo::Insert { t: lt, rowid: first, count }) = self.undo.last_mut()
            && *lt == t
            && *first + *count as u64 == rowid
            && let Some(sum) = count.checked_add(n)
        {
            *count = sum;
            return;
        }
        self.undo.push(Undo::Insert { t, rowid, count: n });
    }

    /// Replaces the row this statement sees with `values`.
    pub async fn update(&mut self, def: &Arc<TableDef>, rowid: RowId, values: Vec<Value>) -> Result<WriteOutcome> {
        take_turn().await;
        self.check_writable()?;
        let values = self.prepare_row(def, values)?;
        self.lock_table(def.id, TableLockMode::Shared).await?;
        let data = self.data_for(def)?;
        let row = encode_row(&def.layout().types, &values);
        let old_row = loop {
            let me = self.id();
            let cid = self.cid;
            let step = {
                let view = self.view();
                data.with_chain_mut(rowid, |chain| match lock_check(chain, &view, self.isolation) {
                    Check::Free(i) => {
                        let prev = XmaxState::of(&chain[i]);
                        let old = chain[i].row.clone();
                        let v = &mut chain[i];
                        v.xmax = me;
                        v.cmax = cid;
                        v.flags &= !(XMAX_LOCK_ONLY | XMAX_COMMITTED);
                        chain.push(Version::new(me, cid, row.clone()));
                        Step::Done((old, prev))
                    }
                    Check::Stop(o) => Step::Stop(o),
                    Check::Wait(x) => Step::Wait(x),
                    Check::Err(e) => Step::Err(e),
                })
                .unwrap_or(Step::Stop(WriteOutcome::NotVisible))
            };
            match step {
                Step::Done(r) => break r,
                Step::Stop(o) => return Ok(o),
                Step::Wait(x) => self.wait_for(vec![x]).await?,
                Step::Err(e) => return Err(e),
            }
        };
        let (old, prev) = old_row;
        let t = self.table_slot(&data, def);
        self.undo.push(Undo::Update { t, rowid, prev });
        data.dead_versions.fetch_add(1, Ordering::Relaxed);
        self.changes.update(def.id, rowid, &row);
        self.add_index_entries(&data, def, rowid, &row, Some(&old)).await?;
        self.maybe_spill()?;
        self.engine.prune_row(&data, def, rowid);
        Ok(WriteOutcome::Done)
    }

    /// Deletes the row this statement sees.
    pub async fn delete(&mut self, def: &Arc<TableDef>, rowid: RowId) -> Result<WriteOutcome> {
        take_turn().await;
        self.check_writable()?;
        self.lock_table(def.id, TableLockMode::Shared).await?;
        let data = self.data_for(def)?;
        let prev = match self.stamp_xmax(&data, rowid, false).await? {
            Ok(prev) => prev,
            Err(outcome) => return Ok(outcome),
        };
        let t = self.table_slot(&data, def);
        self.undo.push(Undo::Delete { t, rowid, prev });
        data.dead_versions.fetch_add(1, Ordering::Relaxed);
        self.changes.delete(def.id, rowid);
        self.maybe_spill()?;
        Ok(WriteOutcome::Done)
    }

    /// SELECT … FOR UPDATE / FOR SHARE: locks the row this statement sees.
    pub async fn lock_row(&mut self, def: &Arc<TableDef>, rowid: RowId, _mode: RowLockMode) -> Result<WriteOutcome> {
        self.check_active()?;
        let data = self.data_for(def)?;
        let prev = match self.stamp_xmax(&data, rowid, true).await? {
            Ok(prev) => prev,
            Err(outcome) => return Ok(outcome),
        };
        if prev.xmax == self.id() {
            return Ok(WriteOutcome::Done); // already ours
        }
        let t = self.table_slot(&data, def);
        self.undo.push(Undo::Lock { t, rowid, prev });
        Ok(WriteOutcome::Done)
    }

    /// Locks the visible version for a delete (or a bare lock), waiting as needed.
    async fn stamp_xmax(
        &mut self,
        data: &Arc<TableData>,
        rowid: RowId,
        lock_only: bool,
    ) -> Result<std::result::Result<XmaxState, WriteOutcome>> {
        loop {
            let me = self.id();
            let cid = self.cid;
            let step = {
                let view = self.view();
                data.with_chain_mut(rowid, |chain| match lock_check(chain, &view, self.isolation) {
                    Check::Free(i) => {
                        let v = &mut chain[i];
                        let prev = XmaxState::of(v);
                        if lock_only && v.xmax == me {
                            return Step::Done(prev); // we hold a lock on it already
                        }
                        v.xmax = me;
                        v.cmax = cid;
                        v.flags &= !(XMAX_LOCK_ONLY | XMAX_COMMITTED);
                        if lock_only {
                            v.flags |= XMAX_LOCK_ONLY;
                        }
                        Step::Done(prev)
                    }
                    Check::Stop(o) => Step::Stop(o),
                    Check::Wait(x) => Step::Wait(x),
                    Check::Err(e) => Step::Err(e),
                })
                .unwrap_or(Step::Stop(WriteOutcome::NotVisible))
            };
            match step {
                Step::Done(prev) => return Ok(Ok(prev)),
                Step::Stop(o) => return Ok(Err(o)),
                Step::Wait(x) => self.wait_for(vec![x]).await?,
                Step::Err(e) => return Err(e),
            }
        }
    }

    /// Adds index entries for a new version; for an update (`old` given) only
    /// where the key changed. Unique indexes check for a live duplicate first.
    async fn add_index_entries(
        &mut self,
        data: &Arc<TableData>,
        def: &TableDef,
        rowid: RowId,
        row: &[u8],
        old: Option<&[u8]>,
    ) -> Result<()> {
        let layout = def.layout();
        let (types, missing) = (&layout.types, &layout.missing);
        for index in data.indexes().iter() {
            let (key, has_null) = index.key_of(&types, &missing, row);
            if let Some(old) = old
                && index.key_of(&types, &missing, old).0 == key
            {
                continue;
            }
            if !index.unique || has_null {
                index.insert(&key, rowid);
                continue;
            }
            loop {
                match self.try_unique_insert(data, def, index, &key, rowid)? {
                    None => break,
                    Some(holder) => self.wait_for(vec![holder]).await?,
                }
            }
        }
        Ok(())
    }

    /// Under the index lock: fail on a live duplicate, report a running
    /// transaction to wait for, or add the entry.
    fn try_unique_insert(&self, data: &TableData, def: &TableDef, index: &Index, key: &[u8], rowid: RowId) -> Result<Option<TxnId>> {
        let layout = def.layout();
        let (types, missing) = (&layout.types, &layout.missing);
        let me = self.id();
        let mut tree = index.write();
        let Some(others) = insert_if_absent(&mut tree, key, rowid) else { return Ok(None) };
        let mut wait = None;
        for other in others {
            let verdict = data
                .with_chain(other, |chain| {
                    let mut verdict = Dup::None;
                    for v in chain.iter().rev() {
                        if index.key_of(&types, &missing, &v.row).0 != key {
                            continue;
                        }
                        if v.xmin != me && !v.xmin_committed() {
                            verdict = verdict.max(Dup::Wait(v.xmin));
                            continue;
                        }
                        // Created by a committed transaction or by us: is it still there?
                        if v.xmax == 0 || v.lock_only() {
                            return Dup::Conflict;
                        }
                        if v.xmax == me || v.xmax_committed() {
                            continue; // deleted or replaced
                        }
                        verdict = verdict.max(Dup::Wait(v.xmax));
                    }
                    verdict
                })
                .unwrap_or(Dup::None);
            match verdict {
                Dup::Conflict => {
                    let row = data.with_chain(rowid, |c| c.last().map(|v| v.row.clone())).flatten();
                    return Err(Error::UniqueViolation {
                        constraint: index.name.clone(),
                        detail: row.map(|r| key_detail(def, &index.columns, &r, "already exists")).unwrap_or_default(),
                    });
                }
                Dup::Wait(x) => wait = Some(x),
                Dup::None => {}
            }
        }
        if wait.is_some() {
            return Ok(wait);
        }
        insert_in(&mut tree, key, rowid);
        Ok(None)
    }

    /// Rows whose latest state (committed, or written by this transaction) has
    /// `values` in `columns` — what foreign keys check, whatever the snapshot.
    /// A row being inserted or deleted by another running transaction is
    /// waited for, then looked at again, as PostgreSQL's RI checks do.
    pub async fn latest_rows_with(&mut self, def: &Arc<TableDef>, columns: &[usize], values: &[Value]) -> Result<Vec<RowId>> {
        self.check_active()?;
        let data = self.data_for(def)?;
        let layout = def.layout();
        let key = {
            let mut k = Vec::new();
            for v in values {
                crate::keycode::encode_value(&mut k, crate::row::ValueRef::from(v));
            }
            k
        };
        let index = data.indexes().iter().find(|i| i.columns.starts_with(columns)).cloned();
        loop {
            let candidates: Vec<RowId> = match &index {
                Some(i) => i.lookup(&key),
                None => {
                    let mut all = Vec::new();
                    for (ci, chunk) in data.chunks().iter().enumerate() {
                        let slots = chunk.slots.read();
                        for (si, chain) in slots.iter().enumerate() {
                            if !chain.is_empty() {
                                all.push(((ci as u64) << crate::table::CHUNK_BITS) + si as u64);
                            }
                        }
                    }
                    all
                }
            };
            let me = self.id();
            let matches_key = |row: &[u8]| -> bool {
                let mut k = Vec::new();
                for &c in columns {
                    let v = crate::row::decode_column(&layout.types, &layout.missing, row, c);
                    crate::keycode::encode_value(&mut k, crate::row::ValueRef::from(&v));
                }
                k == key
            };
            let mut found = Vec::new();
            let mut wait = None;
            for r in candidates {
                let verdict = data
                    .with_chain(r, |chain| {
                        let mut verdict = Dup::None;
                        for v in chain.iter().rev() {
                            if !matches_key(&v.row) {
                                continue;
                            }
                            if v.xmin != me && !v.xmin_committed() {
                                verdict = verdict.max(Dup::Wait(v.xmin));
                                continue;
                            }
                            if v.xmax == 0 || v.lock_only() {
                                return Dup::Conflict;
                            }
                            if v.xmax == me || v.xmax_committed() {
                                continue;
                            }
                            verdict = verdict.max(Dup::Wait(v.xmax));
                        }
                        verdict
                    })
                    .unwrap_or(Dup::None);
                match verdict {
                    Dup::Conflict => found.push(r),
                    Dup::Wait(x) => wait = Some(x),
                    Dup::None => {}
                }
            }
            match wait {
                Some(x) => self.wait_for(vec![x]).await?,
                None => return Ok(found),
            }
        }
    }

    fn maybe_spill(&mut self) -> Result<()> {
        if self.changes.bytes.len() < SPILL_BYTES {
            return Ok(());
        }
        let payload = encode_changes_payload(self.id(), self.spilled_seq, None, &self.changes);
        self.reserve_first_lsn();
        self.engine.wal.append(Kind::Changes, &payload)?;
        self.spilled_seq += self.changes.count as u64;
        self.changes.clear();
        self.wrote_wal = true;
        Ok(())
    }

    /// Publishes a lower bound of this transaction's first WAL position, once,
    /// *before* its first append. It must precede the append: a checkpoint
    /// cut taken between the append and the publication would see this
    /// transaction running (so its snapshot lacks it) yet start replay after
    /// its record — losing a committed transaction. The bound is read under
    /// the transaction manager's lock, which the cut holds too (see
    /// `TxnManager::reserve_first_lsn`).
    fn reserve_first_lsn(&self) {
        if self.shared.first_lsn.load(Ordering::Acquire) == 0 {
            self.engine.txns.reserve_first_lsn(&self.shared, || self.engine.wal.insert_lsn().0);
        }
    }

    // ------------------------------------------------------------------
    // Sequences
    // ------------------------------------------------------------------

    /// Makes the commit wait for `lsn` to be durable even if this transaction
    /// wrote nothing itself (e.g. it handed out sequence values).
    pub fn require_flush(&mut self, lsn: Lsn) {
        self.flush_needed = self.flush_needed.max(lsn);
    }

    /// `nextval()`: not undone by rollback; logged ahead (see `sequence`).
    pub fn nextval(&mut self, def: &SequenceDef) -> Result<i64> {
        self.check_active()?;
        let (value, lsn) = self.engine.nextval(def)?;
        if let Some(end) = lsn {
            self.flush_needed = self.flush_needed.max(end);
        }
        Ok(value)
    }

    /// `setval()`.
    pub fn setval(&mut self, def: &SequenceDef, value: i64, is_called: bool) -> Result<i64> {
        self.check_active()?;
        let end = self.engine.setval(def, value, is_called)?;
        self.flush_needed = self.flush_needed.max(end);
        Ok(value)
    }

    // ------------------------------------------------------------------
    // DDL
    // ------------------------------------------------------------------

    /// Makes `new` this transaction's catalog: locks, creates and validates
    /// storage for what changed, and logs it. See the module comment.
    pub async fn set_catalog(&mut self, new: Catalog) -> Result<()> {
        self.check_writable()?;
        if self.ddl.is_none() {
            let guard = self.engine.ddl_lock.clone().lock_owned().await;
            // Another DDL transaction may have committed while we waited.
            let (catalog, data) = self.engine.txns.committed_catalog();
            self.base_catalog = catalog.clone();
            self.base_data = data.clone();
            self.ddl = Some(Ddl { _guard: guard, catalog, data });
        }
        let (old, old_data) = self.catalog_and_data();
        let plan = plan_catalog_change(&old, &new);
        for &t in &plan.lock {
            self.lock_table(t, TableLockMode::Exclusive).await?;
        }
        let mut data: DataMap = (*old_data).clone();
        for rel in &plan.dropped_storage {
            data.remove(rel);
        }
        for &table_id in &plan.new_storage {
            let def = &new.tables[&table_id];
            let td = Arc::new(TableData::new(def.id, def.relfilenode));
            for idx in &def.indexes {
                td.add_index(TableData::new_index(idx));
            }
            data.insert(def.relfilenode, td);
        }
        for &(table_id, index_id) in &plan.new_indexes {
            let def = &new.tables[&table_id];
            let td = data[&def.relfilenode].clone();
            let idef = def.indexes.iter().find(|i| i.id == index_id).unwrap();
            let index = TableData::new_index(idef);
            self.build_index(&td, def, &index)?;
            td.add_index(index);
        }
        for &(table_id, index_id) in &plan.dropped_indexes {
            if let Some(def) = old.tables.get(&table_id)
                && let Some(td) = data.get(&def.relfilenode)
            {
                td.drop_index(index_id);
            }
        }
        for &(table_id, col) in &plan.new_not_null {
            let def = &new.tables[&table_id];
            self.check_no_nulls(&data[&def.relfilenode], def, col)?;
        }
        self.changes.catalog(&new);
        let new = Arc::new(new);
        let ddl = self.ddl.as_mut().unwrap();
        ddl.catalog = new;
        ddl.data = Arc::new(data);
        self.maybe_spill()?;
        Ok(())
    }

    /// Fills a new index from every version of every row (old snapshots use it
    /// too). For a unique index, two live rows with one key fail the DDL.
    fn build_index(&self, data: &TableData, def: &TableDef, index: &Index) -> Result<()> {
        let layout = def.layout();
        let (types, missing) = (&layout.types, &layout.missing);
        // Every version's (key, row), and whether it is the row's latest live
        // state (what a unique index must not hold twice under one key).
        let mut entries: Vec<(Key, RowId, bool)> = Vec::with_capacity(data.next_rowid() as usize);
        let mut key = Vec::with_capacity(16);
        for (ci, chunk) in data.chunks().iter().enumerate() {
            let slots = chunk.slots.read();
            for (si, chain) in slots.iter().enumerate() {
                let rowid = ((ci as u64) << crate::table::CHUNK_BITS) + si as u64;
                let n = chain.len();
                for (vi, v) in chain.iter().enumerate() {
                    key.clear();
                    let has_null = index.key_into(types, missing, &v.row, &mut key);
                    // Latest state: the newest version unless its deletion committed or is ours.
                    let live = index.unique && vi + 1 == n && !has_null && {
                        let gone = (v.deleted_committed() || (v.xmax == self.id() && !v.lock_only()))
                            || (v.xmin != self.id() && !v.xmin_committed());
                        !gone
                    };
                    entries.push((Key::new(&key), rowid, live));
                }
            }
        }
        // A unique index's hash map needs no order: a second thread fills it
        // from the pairs as scanned while this one sorts them and builds the
        // ordered map; bulk_load waits for it last.
        let pairs: Vec<(Key, RowId)> = match index.unique && entries.len() >= PARALLEL_HASH_MIN {
            true => entries.iter().map(|(k, r, _)| (k.clone(), *r)).collect(),
            false => Vec::new(),
        };
        std::thread::scope(|scope| {
            let hashed = match pairs.is_empty() {
                true => None,
                false => std::thread::Builder::new()
                    .name("duetdb-index-build".into())
                    .spawn_scoped(scope, || HashedKeys::one_row_per_key(&pairs))
                    // No thread to be had: bulk_load builds the map itself.
                    .inspect_err(|e| tracing::warn!("index build on one thread: {e}"))
                    .ok(),
            };
            // One sort serves both the uniqueness check (equal keys side by side)
            // and the bottom-up build.
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            if index.unique {
                let mut last_live: Option<&Key> = None;
                for (key, rowid, _) in entries.iter().filter(|e| e.2) {
                    if last_live == Some(key) {
                        let row = data.with_chain(*rowid, |c| c.last().map(|v| v.row.clone())).flatten().expect("a live row");
                        return Err(Error::UniqueViolation {
                            constraint: index.name.clone(),
                            detail: key_detail(def, &index.columns, &row, "is duplicated"),
                        });
                    }
                    last_live = Some(key);
                }
            }
            let hashed = || hashed.map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            index.write().bulk_load(entries.into_iter().map(|(k, r, _)| (k, r)), hashed);
            Ok(())
        })
    }

    fn check_no_nulls(&self, data: &TableData, def: &TableDef, col: usize) -> Result<()> {
        let layout = def.layout();
        let (types, missing) = (&layout.types, &layout.missing);
        for chunk in data.chunks() {
            let slots = chunk.slots.read();
            for chain in slots.iter() {
                let Some(v) = chain.last() else { continue };
                if v.deleted_committed() || (v.xmax == self.id() && !v.lock_only()) {
                    continue;
                }
                let mut null = false;
                for_each_value(&types[..=col], &v.row, |i, val| {
                    if i == col {
                        null = match val {
                            Some(val) => val.is_null(),
                            None => missing[col].is_null(),
                        }
                    }
                });
                if null {
                    return Err(Error::ColumnContainsNulls { column: def.columns[col].name.clone(), table: def.name.clone() });
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Savepoints
    // ------------------------------------------------------------------

    fn mark(&mut self) -> Mark {
        self.undo_floor = self.undo.len();
        Mark {
            undo_len: self.undo.len(),
            seq: self.spilled_seq + self.changes.count as u64,
            buf_len: self.changes.bytes.len(),
            buf_count: self.changes.count,
            spilled_seq: self.spilled_seq,
            ddl: self.ddl.as_ref().map(|d| (d.catalog.clone(), d.data.clone())),
        }
    }

    pub fn savepoint(&mut self, name: &str) -> Result<()> {
        self.check_active()?;
        let mark = self.mark();
        self.savepoints.push(Savepoint { name: name.to_string(), mark });
        Ok(())
    }

    pub fn release_savepoint(&mut self, name: &str) -> Result<()> {
        self.check_active()?;
        let pos = self.find_savepoint(name)?;
        self.savepoints.truncate(pos);
        Ok(())
    }

    /// ROLLBACK TO SAVEPOINT: undoes everything since, keeps the savepoint, and
    /// makes a failed transaction usable again.
    pub fn rollback_to_savepoint(&mut self, name: &str) -> Result<()> {
        if self.state == State::Done {
            return Err(Error::Internal("transaction already ended".into()));
        }
        let pos = self.find_savepoint(name)?;
        let mark = self.savepoints[pos].mark.clone();
        self.rollback_to_mark(&mark)?;
        self.savepoints.truncate(pos + 1);
        self.state = State::Active;
        Ok(())
    }

    fn find_savepoint(&self, name: &str) -> Result<usize> {
        self.savepoints.iter().rposition(|s| s.name == name).ok_or_else(|| Error::NoSuchSavepoint(name.to_string()))
    }

    fn rollback_to_mark(&mut self, mark: &Mark) -> Result<()> {
        while self.undo.len() > mark.undo_len {
            let u = self.undo.pop().unwrap();
            self.apply_undo(u);
        }
        self.undo_floor = mark.undo_len;
        if self.spilled_seq == mark.spilled_seq && self.spilled_seq <= mark.seq {
            // Nothing since the mark reached the WAL: just forget the buffered changes.
            self.changes.bytes.truncate(mark.buf_len);
            self.changes.count = mark.buf_count;
        } else {
            // Some of it is in the WAL already: tell readers to drop it.
            self.reserve_first_lsn();
            self.engine.wal.append(Kind::SubAbort, &encode_sub_abort(self.id(), mark.seq))?;
            self.changes.clear();
            self.spilled_seq = mark.seq;
        }
        if let Some(ddl) = self.ddl.as_mut() {
            match &mark.ddl {
                Some((c, d)) => {
                    ddl.catalog = c.clone();
                    ddl.data = d.clone();
                }
                None => {
                    ddl.catalog = self.base_catalog.clone();
                    ddl.data = self.base_data.clone();
                }
            }
        }
        Ok(())
    }

    /// Puts one change back exactly as it was (newest first).
    fn apply_undo(&mut self, u: Undo) {
        let me = self.id();
        match u {
            Undo::Insert { t, rowid, count } => {
                let (data, def) = self.tables[t as usize].clone();
                for r in rowid..rowid + count as u64 {
                    let removed = data.with_chain_mut(r, |chain| {
                        debug_assert!(chain.len() == 1 && chain[0].xmin == me, "undo insert of row {r}: {chain:?}");
                        chain.pop()
                    });
                    if let Some(Some(v)) = removed {
                        self.engine.remove_index_entries(&data, &def, r, std::slice::from_ref(&v.row));
                    }
                }
            }
            Undo::Update { t, rowid, prev } => {
                let (data, def) = self.tables[t as usize].clone();
                let removed = data.with_chain_mut(rowid, |chain| {
                    let new = chain.pop();
                    debug_assert!(new.as_ref().is_some_and(|v| v.xmin == me));
                    if let Some(old) = chain.last_mut() {
                        prev.restore(old);
                    }
                    new
                });
                if let Some(Some(v)) = removed {
                    self.engine.remove_index_entries(&data, &def, rowid, std::slice::from_ref(&v.row));
                }
            }
            Undo::Delete { t, rowid, prev } | Undo::Lock { t, rowid, prev } => {
                let data = self.tables[t as usize].0.clone();
                data.with_chain_mut(rowid, |chain| {
                    if let Some(v) = chain.last_mut() {
                        prev.restore(v);
                    }
                });
            }
        }
    }

    // ------------------------------------------------------------------
    // Commit and rollback
    // ------------------------------------------------------------------

    /// Writes the commit record. The commit is durable once the WAL is flushed
    /// to `PendingCommit::lsn`, and visible after `PendingCommit::finish`.
    pub fn prepare_commit(mut self) -> Result<PendingCommit> {
        match self.state {
            State::Active => {}
            State::Failed => {
                // COMMIT of a failed transaction rolls it back, as in PostgreSQL.
                self.rollback_inner();
                return Ok(PendingCommit { txn: None, lsn: None, rolled_back: true });
            }
            State::Done => return Err(Error::Internal("transaction already ended".into())),
        }
        let lsn = if self.has_writes() {
            let time = now_micros();
            let payload = encode_changes_payload(self.id(), self.spilled_seq, Some(time), &self.changes);
            self.reserve_first_lsn();
            let (_, end) = self.engine.wal.append(Kind::Commit, &payload)?;
            self.changes.clear();
            Some(end.max(self.flush_needed))
        } else if self.flush_needed > Lsn::ZERO {
            Some(self.flush_needed)
        } else {
            None
        };
        Ok(PendingCommit { txn: Some(self), lsn, rolled_back: false })
    }

    /// Commits and waits for durability (the local flush only).
    pub async fn commit(self) -> Result<Option<Lsn>> {
        let pending = self.prepare_commit()?;
        pending.wait_flushed().await?;
        Ok(pending.finish())
    }

    /// Rolls back everything.
    pub fn rollback(mut self) {
        self.rollback_inner();
    }

    fn rollback_inner(&mut self) {
        if self.state == State::Done {
            return;
        }
        while let Some(u) = self.undo.pop() {
            self.apply_undo(u);
        }
        if self.wrote_wal {
            // Readers buffered our early Changes records; let them drop them. If
            // this append fails the log is dead anyway, and recovery discards
            // transactions without a commit record.
            let _ = self.engine.wal.append(Kind::Abort, &encode_abort(self.id()));
        }
        self.end(None);
    }

    /// Leaves the running set and releases locks; `install` publishes DDL.
    fn end(&mut self, install: Option<(Arc<Catalog>, Arc<DataMap>)>) {
        self.state = State::Done;
        self.engine.txns.finish(&self.shared, install);
        self.engine.table_locks.release(self.id(), self.locked.keys().copied());
        self.locked.clear();
        self.ddl = None;
    }

    /// Stamps the commit on every version this transaction touched.
    fn stamp_committed(&mut self) {
        let me = self.id();
        let stamp = |chain: &mut crate::table::Chain| {
            for v in chain.iter_mut() {
                if v.xmin == me {
                    v.flags |= XMIN_COMMITTED;
                }
                if v.xmax == me {
                    if v.lock_only() {
                        v.xmax = 0;
                        v.flags &= !XMAX_LOCK_ONLY;
                    } else {
                        v.flags |= XMAX_COMMITTED;
                    }
                }
            }
        };
        for u in &self.undo {
            let (t, first, count) = match *u {
                Undo::Insert { t, rowid, count } => (t, rowid, count as u64),
                Undo::Update { t, rowid, .. } | Undo::Delete { t, rowid, .. } | Undo::Lock { t, rowid, .. } => (t, rowid, 1),
            };
            self.tables[t as usize].0.with_chains_mut(first..first + count, |_, chain| stamp(chain));
        }
        self.undo.clear();
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // A transaction dropped without COMMIT (client vanished, task cancelled) rolls back.
        if self.state != State::Done {
            self.rollback_inner();
        }
    }
}

/// A transaction whose commit record is in the WAL.
pub struct PendingCommit {
    txn: Option<Transaction>,
    lsn: Option<Lsn>,
    rolled_back: bool,
}

impl PendingCommit {
    /// End LSN of the commit record (None for a transaction that wrote nothing).
    pub fn lsn(&self) -> Option<Lsn> {
        self.lsn
    }

    /// True if the transaction had failed and COMMIT rolled it back.
    pub fn rolled_back(&self) -> bool {
        self.rolled_back
    }

    /// Group commit: waits until the commit record is on disk.
    pub async fn wait_flushed(&self) -> Result<()> {
        match (&self.txn, self.lsn) {
            (Some(t), Some(lsn)) => t.engine.wal.wait_flushed(lsn).await,
            _ => Ok(()),
        }
    }

    /// Makes the commit visible and releases the transaction's locks.
    pub fn finish(mut self) -> Option<Lsn> {
        self.finish_inner();
        self.lsn
    }

    fn finish_inner(&mut self) {
        let Some(mut txn) = self.txn.take() else { return };
        txn.stamp_committed();
        let install = txn.ddl.as_ref().map(|d| (d.catalog.clone(), d.data.clone()));
        if let Some((catalog, _)) = &install {
            txn.engine.on_catalog_committed(&txn.base_catalog, catalog);
        }
        let ddl = install.is_some();
        txn.end(install);
        if ddl {
            // The storage a DDL commit replaced: freed off this thread.
            crate::reclaim::later(std::mem::take(&mut txn.base_data));
        }
    }
}

impl Drop for PendingCommit {
    fn drop(&mut self) {
        // The commit record is in the WAL and will be replayed after a crash, so
        // the commit cannot be taken back: finish it. Wait for the flush first so
        // nobody sees data a crash could still lose.
        if let (Some(t), Some(lsn)) = (&self.txn, self.lsn) {
            let _ = t.engine.wal.wait_flushed_blocking(lsn);
        }
        self.finish_inner();
    }
}

enum Step<T> {
    Done(T),
    Stop(WriteOutcome),
    Wait(TxnId),
    Err(Error),
}

enum Check {
    /// The visible version (index) is the newest and free to lock.
    Free(usize),
    Stop(WriteOutcome),
    Wait(TxnId),
    Err(Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dup {
    None,
    Wait(TxnId),
    Conflict,
}

/// May this statement write the row whose chain this is? See the module comment.
fn lock_check(chain: &[Version], view: &View<'_>, isolation: Isolation) -> Check {
    let Some(i) = view.find(chain) else { return Check::Stop(WriteOutcome::NotVisible) };
    let v = &chain[i];
    let me = view.me;
    let changed_by_committed = |x: TxnId| -> Check {
        match isolation {
            Isolation::RepeatableRead => Check::Err(Error::SerializationFailure(format!("concurrent update (by transaction {x})"))),
            Isolation::ReadCommitted => Check::Err(Error::RetryStatement),
        }
    };
    if i + 1 < chain.len() {
        // Someone made a newer version than the one we see.
        let newer = &chain[i + 1];
        if newer.xmin == me {
            return Check::Stop(WriteOutcome::SelfModified);
        }
        return if newer.xmin_committed() { changed_by_committed(newer.xmin) } else { Check::Wait(newer.xmin) };
    }
    if v.xmax == 0 {
        return Check::Free(i);
    }
    if v.xmax == me {
        return if v.lock_only() { Check::Free(i) } else { Check::Stop(WriteOutcome::SelfModified) };
    }
    if v.lock_only() {
        // Lock-only xmax is cleared at the holder's end, so a set one means it is running.
        return Check::Wait(v.xmax);
    }
    if v.xmax_committed() { changed_by_committed(v.xmax) } else { Check::Wait(v.xmax) }
}

/// `Key (a, b)=(1, x) already exists.` — PostgreSQL's DETAIL for key errors.
pub fn key_detail(def: &TableDef, columns: &[usize], row: &[u8], what: &str) -> String {
    let values = {
        let l = def.layout();
        decode_row(&l.types, &l.missing, row)
    };
    let names: Vec<&str> = columns.iter().map(|&c| def.columns[c].name.as_str()).collect();
    let vals: Vec<String> = columns.iter().map(|&c| display_value(&values[c])).collect();
    format!("Key ({})=({}) {what}.", names.join(", "), vals.join(", "))
}

fn display_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "t" } else { "f" }.into(),
        Value::Int16(i) => i.to_string(),
        Value::Int32(i) => i.to_string(),
        Value::Int64(i) => i.to_string(),
        Value::Float32(f) => f.to_string(),
        Value::Float64(f) => f.to_string(),
        Value::Numeric(m, s) => crate::types::format_decimal(*m, *s),
        Value::Text(s) => s.clone(),
        Value::Bytea(b) => format!("\\x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        Value::Date(d) => format!("date {d}"),
        Value::Timestamp(t) | Value::TimestampTz(t) => format!("timestamp {t}"),
    }
}

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// What a catalog change requires of storage.
#[derive(Debug, Default)]
pub(crate) struct CatalogPlan {
    /// Tables (existing before) whose definition or storage changes: EXCLUSIVE lock.
    pub lock: Vec<u32>,
    /// Tables that need a new, empty storage (created, or truncated).
    pub new_storage: Vec<u32>,
    pub dropped_storage: Vec<RelFileNode>,
    /// (table, index) pairs to build over existing storage.
    pub new_indexes: Vec<(u32, u32)>,
    pub dropped_indexes: Vec<(u32, u32)>,
    /// (table, column) that became NOT NULL on existing storage.
    pub new_not_null: Vec<(u32, usize)>,
}

pub(crate) fn plan_catalog_change(old: &Catalog, new: &Catalog) -> CatalogPlan {
    let mut plan = CatalogPlan::default();
    for (id, old_def) in &old.tables {
        match new.tables.get(id) {
            None => {
                plan.lock.push(*id);
                plan.dropped_storage.push(old_def.relfilenode);
            }
            Some(new_def) if new_def != old_def => {
                plan.lock.push(*id);
                if new_def.relfilenode != old_def.relfilenode {
                    plan.dropped_storage.push(old_def.relfilenode);
                    plan.new_storage.push(*id);
                    continue;
                }
                for idx in &new_def.indexes {
                    if !old_def.indexes.iter().any(|o| o.id == idx.id) {
                        plan.new_indexes.push((*id, idx.id));
                    }
                }
                for idx in &old_def.indexes {
                    if !new_def.indexes.iter().any(|n| n.id == idx.id) {
                        plan.dropped_indexes.push((*id, idx.id));
                    }
                }
                for (c, col) in new_def.columns.iter().enumerate() {
                    let was_nullable = old_def.columns.get(c).is_none_or(|o| o.nullable);
                    if !col.dropped && !col.nullable && was_nullable && c < old_def.columns.len() {
                        plan.new_not_null.push((*id, c));
                    }
                }
            }
            Some(_) => {}
        }
    }
    for id in new.tables.keys() {
        if !old.tables.contains_key(id) {
            plan.new_storage.push(*id);
        }
    }
    plan
}

/// Collects the visible rows of a table as owned values (tests and tools).
pub fn collect_rows(view: &ReadView, def: &TableDef) -> Vec<(RowId, Vec<Value>)> {
    let layout = def.layout();
    let (types, missing) = (&layout.types, &layout.missing);
    let mut out = Vec::new();
    view.scan(def, |r, row| {
        out.push((r, decode_row(&types, &missing, row)));
        ControlFlow::Continue(())
    });
    out
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Transaction>();
    is_send::<PendingCommit>();
    let _: Option<RowBuf> = None;
    let _ = keycode::prefix_end;
}

/// Each row write (or batch of inserted rows) spends from tokio's cooperative
/// budget, so a statement writing many rows yields every so often: sessions
/// share a connection thread, and its thread-mates are not held up for the
/// statement's whole length. A single-row write never waits here — a
/// session's budget starts afresh each time it is woken.
async fn take_turn() {
    tokio::task::consume_budget().await;
}

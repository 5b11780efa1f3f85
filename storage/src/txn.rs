//! Transaction ids, the set of running transactions, and snapshots.
//!
//! Every transaction gets an id from one counter. A snapshot records which
//! transactions had committed when it was taken, PostgreSQL-style:
//!
//! ```text
//!   ids:   … 95  96  97  98  99 | 100 101 …
//!               ▲       ▲        ▲
//!               │       │        xmax = next id: 100 and later had not started
//!               running at snapshot time: active = {96, 98}
//!   xmin = 96: the oldest id still running (everything below it had finished)
//!
//!   sees(t) = t < xmax && t ∉ active
//! ```
//!
//! A version created by `t` is visible when `t` committed and the snapshot sees
//! `t`; aborted transactions remove their versions before they leave the
//! running set, so "not running, below xmax, and still has versions" means
//! committed. A transaction's commit becomes visible at one instant: when it
//! leaves the running set, under the same lock that snapshots are taken with —
//! which is also where the committed catalog is swapped, so every snapshot pairs
//! with exactly the catalog of the transactions it sees.
//!
//! A statement that can only read (an autocommit key lookup) needs a snapshot
//! but no id: it registers as a *reader* — its snapshot's xmin counted in the
//! horizon, nothing in the running set — and reads with `me = NO_TXN`, which
//! is no version's xmin or xmax. Taking and ending one costs a lock each and
//! consumes no id, as PostgreSQL's read-only transactions use a virtual xid.
//!
//! The horizon is the oldest xmin of any running transaction or reader: a
//! version deleted by a transaction committed below it is invisible to every
//! present and future snapshot, so garbage collection may remove it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::TxnId;
use crate::catalog::{Catalog, RelFileNode};
use crate::table::TableData;

/// The id of the bootstrap "transaction" that wrote every row loaded from a
/// checkpoint: committed, older than everything, visible to every snapshot.
pub const FROZEN_TXN: TxnId = 1;
/// The first id handed to a real transaction in a new cluster.
pub const FIRST_TXN: TxnId = 2;
/// The `me` of a reader without a transaction id: above every id ever handed
/// out, so it is no version's creator or deleter and no snapshot sees it.
pub const NO_TXN: TxnId = TxnId::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    /// Snapshot isolation, as PostgreSQL's REPEATABLE READ. SERIALIZABLE maps here too.
    RepeatableRead,
}

/// The tables' row storage, by relfilenode. Copy-on-write: replaced whole at
/// a DDL commit, shared by every reader otherwise.
pub type DataMap = HashMap<RelFileNode, Arc<TableData>>;

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub xmin: TxnId,
    pub xmax: TxnId,
    /// Running (uncommitted) transactions at snapshot time, sorted.
    pub active: Arc<[TxnId]>,
}

impl Snapshot {
    #[inline]
    pub fn sees(&self, txn: TxnId) -> bool {
        txn < self.xmax && (txn < self.xmin || self.active.binary_search(&txn).is_err())
    }

    /// A snapshot that sees everything committed so far and nothing running (for recovery).
    pub fn all_committed(xmax: TxnId) -> Snapshot {
        Snapshot { xmin: xmax, xmax, active: Arc::from([]) }
    }
}

/// What other parts of the engine know about a running transaction.
pub struct TxnShared {
    pub id: TxnId,
    /// Oldest id its snapshots may consider running; feeds the GC horizon.
    pub xmin: AtomicU64,
    /// LSN of its first WAL record (0 before it writes one): checkpoints must
    /// replay from here if the transaction is still running when they snapshot.
    pub first_lsn: AtomicU64,
    pub started: Instant,
    /// Wakes the transactions waiting for this one to end. The channel is made
    /// on first demand: most transactions are never waited for, and making
    /// one per transaction cost ≈ 3 % of a read-only statement's CPU.
    done: Mutex<Done>,
}

enum Done {
    Running(Option<watch::Sender<bool>>),
    Finished,
}

impl TxnShared {
    /// A receiver whose value becomes true when the transaction ends (already
    /// true if it has).
    pub fn done_receiver(&self) -> watch::Receiver<bool> {
        match &mut *self.done.lock() {
            Done::Finished => watch::channel(true).1,
            Done::Running(tx) => tx.get_or_insert_with(|| watch::channel(false).0).subscribe(),
        }
    }

    fn finished(&self) {
        // Under the same lock as done_receiver: a waiter either subscribed
        // before this (and is woken here) or sees Finished.
        if let Done::Running(Some(tx)) = std::mem::replace(&mut *self.done.lock(), Done::Finished) {
            tx.send_replace(true);
        }
    }
}

struct State {
    next_id: TxnId,
    active: BTreeMap<TxnId, Arc<TxnShared>>,
    /// The keys of `active`, sorted: snapshots copy this slice.
    ids: Vec<TxnId>,
    /// `ids` as a snapshot's running set, made on first demand after `ids`
    /// changed: readers between two begins or ends share one copy.
    ids_shared: Option<Arc<[TxnId]>>,
    /// The xmins of registered readers, with how many hold each.
    readers: BTreeMap<TxnId, u32>,
    catalog: Arc<Catalog>,
    data: Arc<DataMap>,
}

/// Hands out ids and snapshots, tracks who is running, and owns the committed
/// catalog and table storage map.
pub struct TxnManager {
    state: Mutex<State>,
    horizon: AtomicU64,
}

impl TxnManager {
    pub fn new(next_id: TxnId, catalog: Arc<Catalog>, data: Arc<DataMap>) -> TxnManager {
        assert!(next_id >= FIRST_TXN);
        TxnManager {
            state: Mutex::new(State {
                next_id,
                active: BTreeMap::new(),
                ids: Vec::new(),
                ids_shared: None,
                readers: BTreeMap::new(),
                catalog,
                data,
            }),
            horizon: AtomicU64::new(next_id),
        }
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Arc<TxnShared> {
        let mut st = self.state.lock();
        let id = st.next_id;
        st.next_id += 1;
        let xmin = st.active.keys().next().copied().unwrap_or(id);
        let shared = Arc::new(TxnShared {
            id,
            xmin: AtomicU64::new(xmin),
            first_lsn: AtomicU64::new(0),
            started: Instant::now(),
            done: Mutex::new(Done::Running(None)),
        });
        st.active.insert(id, shared.clone());
        debug_assert!(st.ids.last().is_none_or(|&l| l < id));
        st.ids.push(id);
        st.ids_shared = None;
        shared
    }

    /// Registers a reader (see the module comment): a snapshot of everything
    /// committed now, with the catalog and storage it pairs with. The caller
    /// must `end_reader(snapshot.xmin)` exactly once when it stops reading.
    pub fn begin_reader(&self) -> (Snapshot, Arc<Catalog>, Arc<DataMap>) {
        let mut st = self.state.lock();
        let snap = snapshot_locked(&mut st, NO_TXN);
        // The stored horizon never exceeds a running transaction's xmin, and
        // `xmin` is at least the oldest running id: GC cannot already have
        // removed a version this snapshot needs.
        debug_assert!(snap.xmin >= self.horizon.load(Ordering::Acquire));
        *st.readers.entry(snap.xmin).or_insert(0) += 1;
        (snap, st.catalog.clone(), st.data.clone())
    }

    /// Unregisters a reader whose snapshot had `xmin`.
    pub fn end_reader(&self, xmin: TxnId) {
        let mut st = self.state.lock();
        let n = st.readers.get_mut(&xmin).expect("end_reader of a reader that was not registered");
        *n -= 1;
        if *n == 0 {
            st.readers.remove(&xmin);
        }
        // A stale, lower horizon is safe (GC keeps more); refresh only when
        // nothing else will: no transaction is left to finish.
        if st.active.is_empty() {
            self.horizon.store(horizon_locked(&st), Ordering::Release);
        }
    }

    /// Takes a snapshot for `me` together with the committed catalog and storage map it pairs with.
    pub fn snapshot(&self, me: &TxnShared) -> (Snapshot, Arc<Catalog>, Arc<DataMap>) {
        let mut st = self.state.lock();
        let snap = snapshot_locked(&mut st, me.id);
        me.xmin.store(snap.xmin, Ordering::Release);
        (snap, st.catalog.clone(), st.data.clone())
    }

    /// Ends a transaction: from this instant its commit is visible (or, after an
    /// abort, it is simply gone). `install` runs under the same lock, so a new
    /// catalog and the commit that made it appear together.
    pub fn finish(&self, me: &TxnShared, install: Option<(Arc<Catalog>, Arc<DataMap>)>) {
        // The replaced catalog and storage are dropped after the lock (a
        // dropped table's last reference frees it: see `reclaim`).
        let mut replaced = None;
        {
            let mut st = self.state.lock();
            if let Some((catalog, data)) = install {
                replaced = Some((std::mem::replace(&mut st.catalog, catalog), std::mem::replace(&mut st.data, data)));
            }
            let removed = st.active.remove(&me.id);
            assert!(removed.is_some(), "transaction {} finished twice", me.id);
            let pos = st.ids.binary_search(&me.id).expect("running ids track active");
            st.ids.remove(pos);
            st.ids_shared = None;
            // The horizon is the minimum xmin of running transactions and readers.
            // Removing one above the minimum cannot change it; only then is a
            // rescan needed. (A stale, lower horizon is always safe: GC just keeps more.)
            if me.xmin.load(Ordering::Acquire) <= self.horizon.load(Ordering::Acquire) || st.active.is_empty() {
                self.horizon.store(horizon_locked(&st), Ordering::Release);
            }
        }
        me.finished();
        if let Some(replaced) = replaced {
            crate::reclaim::later(replaced);
        }
    }

    /// The running transaction `id`, if it is still running.
    pub fn running(&self, id: TxnId) -> Option<Arc<TxnShared>> {
        self.state.lock().active.get(&id).cloned()
    }

    /// Ids below the horizon that committed are visible to every snapshot, now and later.
    pub fn horizon(&self) -> TxnId {
        self.horizon.load(Ordering::Acquire)
    }

    /// Recomputes the horizon now (background GC calls this; commits keep it roughly current).
    pub fn refresh_horizon(&self) -> TxnId {
        let st = self.state.lock();
        let h = horizon_locked(&st);
        self.horizon.store(h, Ordering::Release);
        h
    }

    pub fn next_id(&self) -> TxnId {
        self.state.lock().next_id
    }

    pub fn committed_catalog(&self) -> (Arc<Catalog>, Arc<DataMap>) {
        let st = self.state.lock();
        (st.catalog.clone(), st.data.clone())
    }

    /// Replaces the committed catalog outside any transaction (recovery, replicas).
    pub fn install(&self, catalog: Arc<Catalog>, data: Arc<DataMap>) {
        let mut st = self.state.lock();
        st.catalog = catalog;
        st.data = data;
    }

    /// Running transactions, oldest first (for monitoring).
    pub fn running_list(&self) -> Vec<Arc<TxnShared>> {
        self.state.lock().active.values().cloned().collect()
    }

    /// Sets `me.first_lsn` to `now()` (the WAL insert position) unless set. Done
    /// under the lock `checkpoint_cut` holds, so a cut either sees the bound, or
    /// came first and then every record `me` appends lies after the cut's LSN.
    pub fn reserve_first_lsn(&self, me: &TxnShared, now: impl FnOnce() -> u64) {
        let _st = self.state.lock();
        if me.first_lsn.load(Ordering::Acquire) == 0 {
            me.first_lsn.store(now().max(1), Ordering::Release);
        }
    }

    /// A consistent cut for a checkpoint: a snapshot, its catalog and storage,
    /// the WAL position `now()` returns while no transaction can finish, and the
    /// oldest first-LSN of any running transaction that already wrote WAL.
    pub fn checkpoint_cut<T>(&self, me: &TxnShared, now: impl FnOnce() -> T) -> (Snapshot, Arc<Catalog>, Arc<DataMap>, T, Option<u64>) {
        let mut st = self.state.lock();
        let snap = snapshot_locked(&mut st, me.id);
        me.xmin.store(snap.xmin, Ordering::Release);
        let t = now();
        let oldest_first_lsn =
            st.active.values().filter(|t| t.id != me.id).map(|t| t.first_lsn.load(Ordering::Acquire)).filter(|&l| l != 0).min();
        (snap, st.catalog.clone(), st.data.clone(), t, oldest_first_lsn)
    }
}

/// The oldest xmin of any running transaction or reader (the next id if none).
fn horizon_locked(st: &State) -> TxnId {
    let running = st.active.values().map(|t| t.xmin.load(Ordering::Acquire)).min();
    let reading = st.readers.keys().next().copied();
    running.into_iter().chain(reading).min().unwrap_or(st.next_id)
}

/// A snapshot for `me`: everything running now but `me` counts as not seen.
/// A reader (`me` not running) shares the one copy of the running set made
/// since `ids` last changed.
fn snapshot_locked(st: &mut State, me: TxnId) -> Snapshot {
    let active: Arc<[TxnId]> = match st.ids.binary_search(&me) {
        Ok(i) => {
            let mut v = Vec::with_capacity(st.ids.len() - 1);
            v.extend_from_slice(&st.ids[..i]);
            v.extend_from_slice(&st.ids[i + 1..]);
            Arc::from(v)
        }
        Err(_) => st.ids_shared.get_or_insert_with(|| Arc::from(&st.ids[..])).clone(),
    };
    let xmin = st.ids.first().copied().unwrap_or(st.next_id);
    Snapshot { xmin, xmax: st.next_id, active }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_see_only_what_committed_before_them() {
        let m = TxnManager::new(FIRST_TXN, Arc::new(Catalog::bootstrap("u", None)), Arc::new(DataMap::new()));
        let a = m.begin();
        let b = m.begin();
        let (snap_b, _, _) = m.snapshot(&b);
        assert!(!snap_b.sees(a.id), "a is running");
        assert!(snap_b.sees(FROZEN_TXN));
        m.finish(&a, None);
        assert!(!snap_b.sees(a.id), "b's old snapshot keeps a invisible");
        let (snap_b2, _, _) = m.snapshot(&b);
        assert!(snap_b2.sees(a.id), "a new snapshot sees a");
        let c = m.begin();
        assert!(!snap_b2.sees(c.id), "c started after the snapshot");
        assert_eq!(m.horizon(), a.id, "computed when a finished: b still had a snapshot from before");
        assert_eq!(m.refresh_horizon(), b.id);
        m.finish(&b, None);
        m.finish(&c, None);
        assert_eq!(m.horizon(), c.id + 1);
    }

    #[test]
    fn readers_hold_the_horizon_without_taking_an_id() {
        let m = TxnManager::new(FIRST_TXN, Arc::new(Catalog::bootstrap("u", None)), Arc::new(DataMap::new()));
        let a = m.begin();
        let next = m.next_id();
        let (r1, _, _) = m.begin_reader();
        assert_eq!(m.next_id(), next, "a reader consumes no id");
        assert!(!r1.sees(a.id) && !r1.sees(NO_TXN) && r1.sees(FROZEN_TXN));
        assert_eq!(r1.xmin, a.id);
        let (r2, _, _) = m.begin_reader();
        assert!(Arc::ptr_eq(&r1.active, &r2.active), "no begin or end between: one shared running set");
        m.finish(&a, None);
        // Both readers still need what a's commit might have replaced.
        assert_eq!(m.horizon(), a.id);
        assert_eq!(m.refresh_horizon(), a.id);
        let (r3, _, _) = m.begin_reader();
        assert!(r3.sees(a.id) && !Arc::ptr_eq(&r1.active, &r3.active), "a new running set after a's end");
        m.end_reader(r1.xmin);
        assert_eq!(m.refresh_horizon(), a.id, "r2 still reads at a's xmin");
        m.end_reader(r2.xmin);
        assert_eq!(m.horizon(), r3.xmin, "no transaction running: the last reader's end refreshes it");
        m.end_reader(r3.xmin);
        assert_eq!(m.horizon(), m.next_id());
    }

    #[test]
    fn waiters_learn_of_the_end_whether_they_came_before_or_after_it() {
        let m = TxnManager::new(FIRST_TXN, Arc::new(Catalog::bootstrap("u", None)), Arc::new(DataMap::new()));
        let a = m.begin();
        let early = a.done_receiver();
        let early2 = a.done_receiver();
        assert!(!*early.borrow());
        m.finish(&a, None);
        assert!(*early.borrow() && *early2.borrow(), "subscribed before the end: woken with true");
        assert!(*a.done_receiver().borrow(), "subscribed after the end: true at once");
        // A transaction nobody waited for ends without ever making a channel.
        let b = m.begin();
        m.finish(&b, None);
        assert!(matches!(*b.done.lock(), Done::Finished));
    }
}

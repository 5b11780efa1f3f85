//! Waiting for other transactions: table locks and deadlock detection.
//!
//! Row locks live in the rows themselves (`xmax`, see `version`). Tables have
//! two lock modes: SHARED, taken by any transaction that writes rows of the
//! table, and EXCLUSIVE, taken by DDL on it. Plain reads take none: they read
//! immutable snapshots and never block or get blocked.
//!
//! Every wait — for a row lock, a table lock, or a conflicting unique key — is
//! "transaction A waits until transactions B… finish". Those edges form the
//! wait-for graph; before a transaction starts waiting, we look for a path back
//! to it. If there is one, waiting would never end, so the transaction that
//! would close the cycle fails with 40P01 instead (PostgreSQL checks after
//! `deadlock_timeout`; we check at once, which costs a graph walk per wait).
//!
//! ```text
//!   A ──waits for──► B ──waits for──► C
//!   ▲                                 │
//!   └────────── C would wait for A ───┘   → C gets "deadlock detected"
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::TxnId;
use crate::error::{Error, Result};

#[derive(Default)]
pub struct WaitGraph {
    edges: Mutex<HashMap<TxnId, Vec<TxnId>>>,
}

/// Removes the waiter's edges when the wait ends (or is abandoned).
pub struct WaitGuard {
    graph: Arc<WaitGraph>,
    waiter: TxnId,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.graph.edges.lock().remove(&self.waiter);
    }
}

impl WaitGraph {
    /// Records that `waiter` is about to wait for `holders`; fails with a
    /// deadlock error if one of them (transitively) waits for `waiter`.
    pub fn begin_wait(self: &Arc<Self>, waiter: TxnId, holders: &[TxnId]) -> Result<WaitGuard> {
        let mut edges = self.edges.lock();
        let mut seen = HashSet::new();
        let mut stack: Vec<TxnId> = holders.to_vec();
        while let Some(t) = stack.pop() {
            if t == waiter {
                return Err(Error::Deadlock(format!("transaction {waiter} waits for {holders:?}, which wait for it")));
            }
            if seen.insert(t)
                && let Some(next) = edges.get(&t)
            {
                stack.extend(next.iter().copied());
            }
        }
        edges.insert(waiter, holders.to_vec());
        Ok(WaitGuard { graph: self.clone(), waiter })
    }

    /// Who `txn` is waiting for (monitoring).
    pub fn waiting_for(&self, txn: TxnId) -> Option<Vec<TxnId>> {
        self.edges.lock().get(&txn).cloned()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableLockMode {
    /// Row writes (INSERT/UPDATE/DELETE/SELECT FOR UPDATE).
    Shared,
    /// DDL on the table.
    Exclusive,
}

#[derive(Default)]
struct TableLockState {
    shared: HashSet<TxnId>,
    exclusive: Option<TxnId>,
}

#[derive(Default)]
pub struct TableLocks {
    tables: Mutex<HashMap<u32, TableLockState>>,
}

impl TableLocks {
    /// Takes the lock, or returns the transactions that must finish first.
    /// Locks are held until the transaction ends ([`TableLocks::release`]).
    pub fn try_lock(&self, table: u32, txn: TxnId, mode: TableLockMode) -> Result<(), Vec<TxnId>> {
        let mut tables = self.tables.lock();
        let st = tables.entry(table).or_default();
        match mode {
            TableLockMode::Shared => match st.exclusive {
                Some(x) if x != txn => Err(vec![x]),
                _ => {
                    st.shared.insert(txn);
                    Ok(())
                }
            },
            TableLockMode::Exclusive => {
                let mut blockers: Vec<TxnId> = st.shared.iter().copied().filter(|&t| t != txn).collect();
                if let Some(x) = st.exclusive
                    && x != txn
                {
                    blockers.push(x);
                }
                if blockers.is_empty() {
                    st.exclusive = Some(txn);
                    Ok(())
                } else {
                    blockers.sort_unstable();
                    Err(blockers)
                }
            }
        }
    }

    pub fn release(&self, txn: TxnId, tables: impl IntoIterator<Item = u32>) {
        let mut all = self.tables.lock();
        for t in tables {
            if let Some(st) = all.get_mut(&t) {
                st.shared.remove(&txn);
                if st.exclusive == Some(txn) {
                    st.exclusive = None;
                }
                if st.shared.is_empty() && st.exclusive.is_none() {
                    all.remove(&t);
                }
            }
        }
    }

    /// Current holders, for monitoring: (table, txn, mode).
    pub fn holders(&self) -> Vec<(u32, TxnId, TableLockMode)> {
        let all = self.tables.lock();
        let mut out = Vec::new();
        for (&t, st) in all.iter() {
            out.extend(st.shared.iter().map(|&x| (t, x, TableLockMode::Shared)));
            if let Some(x) = st.exclusive {
                out.push((t, x, TableLockMode::Exclusive));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_refused_to_the_closer() {
        let g = Arc::new(WaitGraph::default());
        let _a = g.begin_wait(1, &[2]).unwrap();
        let _b = g.begin_wait(2, &[3]).unwrap();
        let err = g.begin_wait(3, &[1]).err().unwrap();
        assert_eq!(err.sqlstate(), "40P01");
        drop(_b);
        let _c = g.begin_wait(3, &[1]).unwrap();
    }

    #[test]
    fn table_lock_modes() {
        let l = TableLocks::default();
        l.try_lock(7, 1, TableLockMode::Shared).unwrap();
        l.try_lock(7, 2, TableLockMode::Shared).unwrap();
        assert_eq!(l.try_lock(7, 3, TableLockMode::Exclusive), Err(vec![1, 2]));
        assert_eq!(l.try_lock(7, 1, TableLockMode::Exclusive), Err(vec![2]));
        l.release(2, [7]);
        l.try_lock(7, 1, TableLockMode::Exclusive).unwrap();
        assert_eq!(l.try_lock(7, 3, TableLockMode::Shared), Err(vec![1]));
        l.release(1, [7]);
        l.try_lock(7, 3, TableLockMode::Shared).unwrap();
    }
}

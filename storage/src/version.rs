//! Row versions and the visibility rule.
//!
//! Each logical row (one row id) has a chain of versions, oldest first. An
//! UPDATE never overwrites: it stamps the current version's `xmax` and appends a
//! new one, so readers with older snapshots keep seeing the old row:
//!
//! ```text
//!   row 17:  [ v1: xmin=40 ✓  xmax=52 ✓ ]  →  [ v2: xmin=52 ✓  xmax=0 ]
//!            seen by snapshots that          seen by snapshots that see 52
//!            see 40 but not 52
//!   ✓ = the *_COMMITTED flag: set when that transaction committed
//! ```
//!
//! `xmax` doubles as the row lock: a transaction that updates, deletes or
//! `SELECT … FOR UPDATE`s a row writes its id there (with `XMAX_LOCK_ONLY` for a
//! bare lock) and any other writer must wait for it to finish. Within a
//! transaction, command ids (`cmin`/`cmax`) hide a statement's own changes from
//! itself, so `UPDATE t SET k = k + 1` never revisits the rows it just wrote.

use crate::TxnId;
use crate::row::RowBuf;
use crate::txn::Snapshot;

pub const XMIN_COMMITTED: u8 = 1;
pub const XMAX_COMMITTED: u8 = 2;
pub const XMAX_LOCK_ONLY: u8 = 4;

#[derive(Clone, Debug)]
pub struct Version {
    pub xmin: TxnId,
    /// 0 = not deleted, not locked.
    pub xmax: TxnId,
    pub cmin: u32,
    pub cmax: u32,
    pub flags: u8,
    pub row: RowBuf,
}

impl Version {
    pub fn new(xmin: TxnId, cmin: u32, row: RowBuf) -> Version {
        Version { xmin, xmax: 0, cmin, cmax: 0, flags: 0, row }
    }

    /// A version that every snapshot sees (loaded from a checkpoint or replayed).
    pub fn frozen(row: RowBuf) -> Version {
        Version { xmin: crate::txn::FROZEN_TXN, xmax: 0, cmin: 0, cmax: 0, flags: XMIN_COMMITTED, row }
    }

    pub fn xmin_committed(&self) -> bool {
        self.flags & XMIN_COMMITTED != 0
    }

    pub fn xmax_committed(&self) -> bool {
        self.flags & XMAX_COMMITTED != 0
    }

    pub fn lock_only(&self) -> bool {
        self.flags & XMAX_LOCK_ONLY != 0
    }

    /// Deleted (or replaced) by a transaction that committed.
    pub fn deleted_committed(&self) -> bool {
        self.xmax != 0 && !self.lock_only() && self.xmax_committed()
    }
}

/// One statement's view: a snapshot, who is looking, and which of its own
/// commands it may see (those before `cid`).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub snapshot: &'a Snapshot,
    pub me: TxnId,
    pub cid: u32,
}

impl View<'_> {
    #[inline]
    pub fn created_visible(&self, v: &Version) -> bool {
        if v.xmin == self.me {
            return v.cmin < self.cid;
        }
        v.xmin_committed() && self.snapshot.sees(v.xmin)
    }

    #[inline]
    pub fn deleted_visible(&self, v: &Version) -> bool {
        if v.xmax == 0 || v.lock_only() {
            return false;
        }
        if v.xmax == self.me {
            return v.cmax < self.cid;
        }
        v.xmax_committed() && self.snapshot.sees(v.xmax)
    }

    #[inline]
    pub fn visible(&self, v: &Version) -> bool {
        self.created_visible(v) && !self.deleted_visible(v)
    }

    /// Index of the version of `chain` this view sees, if any (at most one can be).
    #[inline]
    pub fn find(&self, chain: &[Version]) -> Option<usize> {
        (0..chain.len()).rev().find(|&i| self.visible(&chain[i]))
    }
}

/// The version that is current in the latest committed-or-own state (what
/// constraint checks look at, regardless of snapshots), if the row exists there.
/// Returns None when the newest version is deleted by a committed transaction.
pub fn latest(chain: &[Version]) -> Option<&Version> {
    let v = chain.last()?;
    if v.deleted_committed() { None } else { Some(v) }
}

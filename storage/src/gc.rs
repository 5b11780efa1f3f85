//! Garbage collection of row versions (VACUUM).
//!
//! A version is garbage once no running or future snapshot can see it. With the
//! horizon H (see `txn`): the newest version created by a transaction that
//! committed below H is visible to everyone, so everything older in the chain
//! is dead; and if that version's deletion also committed below H, the whole
//! row is dead.
//!
//! ```text
//!   H = 60
//!   [x40 ✓ d52 ✓] [x52 ✓ d58 ✓] [x58 ✓ ] [x71 running]
//!    dead           dead          base (58 < 60, committed)  kept
//! ```
//!
//! Pruning happens in two places: right after an UPDATE on the row it touched
//! (so a hot row — pgbench's branches — never grows a long chain), and in a
//! background pass over tables with many dead versions. Index entries whose key
//! no remaining version has are removed afterwards, under the index lock and
//! with a re-check, so a concurrent writer that re-adds the key never loses it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::RowId;
use crate::TxnId;
use crate::catalog::TableDef;
use crate::index::remove_in;
use crate::row::RowBuf;
use crate::table::{CHUNK_BITS, Chain, TableData};
use crate::version::Version;

/// Removes versions of one chain that nobody can see; returns them.
pub fn prune_chain(chain: &mut Chain, horizon: TxnId) -> Vec<Version> {
    let Some(base) = (0..chain.len()).rev().find(|&i| chain[i].xmin_committed() && chain[i].xmin < horizon) else {
        return Vec::new();
    };
    let mut removed: Vec<Version> = chain.drain(..base).collect();
    if chain.len() == 1 && chain[0].deleted_committed() && chain[0].xmax < horizon {
        removed.extend(chain.pop());
    }
    if chain.capacity() > 4 && chain.len() < chain.capacity() / 4 {
        chain.shrink_to_fit();
    }
    removed
}

/// Removes index entries of `rowid` for keys that only `removed` versions had.
pub fn remove_index_entries(data: &TableData, def: &TableDef, rowid: RowId, removed: &[RowBuf]) {
    let indexes = data.indexes();
    if indexes.is_empty() || removed.is_empty() {
        return;
    }
    let layout = def.layout();
    let (types, missing) = (&layout.types, &layout.missing);
    for index in indexes.iter() {
        let mut keys: Vec<Vec<u8>> = removed.iter().map(|r| index.key_of(&types, &missing, r).0).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let has_key = |chain: &Chain| chain.iter().any(|v| index.key_of(&types, &missing, &v.row).0 == key);
            // Cheap check first: most prunes keep the key (updates of non-key columns).
            if data.with_chain(rowid, has_key).unwrap_or(false) {
                continue;
            }
            let mut tree = index.write();
            if !data.with_chain(rowid, has_key).unwrap_or(false) {
                remove_in(&mut tree, &key, rowid);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VacuumStats {
    pub versions_removed: u64,
    pub rows_removed: u64,
}

/// One pass over a table.
pub fn vacuum_table(data: &Arc<TableData>, def: &TableDef, horizon: TxnId) -> VacuumStats {
    let mut stats = VacuumStats::default();
    data.dead_versions.store(0, Ordering::Relaxed);
    for (ci, chunk) in data.chunks().iter().enumerate() {
        let mut garbage: Vec<(RowId, Vec<RowBuf>)> = Vec::new();
        {
            let mut slots = chunk.slots.write();
            for (si, chain) in slots.iter_mut().enumerate() {
                if chain.len() < 2 && chain.first().is_none_or(|v| v.xmax == 0) {
                    continue;
                }
                let removed = prune_chain(chain, horizon);
                if removed.is_empty() {
                    continue;
                }
                stats.versions_removed += removed.len() as u64;
                if chain.is_empty() {
                    stats.rows_removed += 1;
                    *chain = Chain::new();
                }
                let rowid = ((ci as u64) << CHUNK_BITS) + si as u64;
                garbage.push((rowid, removed.into_iter().map(|v| v.row).collect()));
            }
        }
        for (rowid, rows) in garbage {
            remove_index_entries(data, def, rowid, &rows);
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{XMAX_COMMITTED, XMIN_COMMITTED};

    fn v(xmin: TxnId, xmax: TxnId, committed: bool) -> Version {
        let mut v = Version::new(xmin, 0, Box::new([0, 0]));
        v.xmax = xmax;
        if committed {
            v.flags |= XMIN_COMMITTED;
            if xmax != 0 {
                v.flags |= XMAX_COMMITTED;
            }
        }
        v
    }

    #[test]
    fn prunes_only_what_no_snapshot_sees() {
        let mut chain: Chain = smallvec::smallvec![v(40, 52, true), v(52, 58, true), v(58, 0, true), v(71, 0, false)];
        let removed = prune_chain(&mut chain, 60);
        assert_eq!(removed.len(), 2);
        assert_eq!(chain.iter().map(|v| v.xmin).collect::<Vec<_>>(), vec![58, 71]);

        let mut chain: Chain = smallvec::smallvec![v(40, 52, true), v(52, 0, true)];
        assert!(prune_chain(&mut chain, 52).is_empty(), "52 is not below the horizon");

        let mut deleted: Chain = smallvec::smallvec![v(40, 50, true)];
        assert_eq!(prune_chain(&mut deleted, 60).len(), 1);
        assert!(deleted.is_empty());

        let mut recently_deleted: Chain = smallvec::smallvec![v(40, 65, true)];
        assert!(prune_chain(&mut recently_deleted, 60).is_empty());
    }
}

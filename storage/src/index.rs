//! Ordered indexes: primary keys, unique constraints, secondary indexes.
//!
//! An index is an ordered set of entries `key ‖ rowid` (see `keycode`). Entries
//! point at rows, not versions: a row gets an entry for every distinct key any
//! of its versions has, so a snapshot that still sees an old key still finds the
//! row. Readers therefore treat an entry as a *candidate* — they fetch the
//! version they can see and check its key — and an UPDATE that leaves the key
//! alone adds no entry at all (the common case: pgbench's `abalance`).
//!
//! ```text
//!   entries (sorted):  (5,row 9) (7,row 3) (7,row 9) (9,row 4)
//!   row 9 was updated from key 5 to key 7; a snapshot before that update finds
//!   it under 5, a newer one under 7; GC drops (5,row 9) once no version has 5.
//! ```
//!
//! Uniqueness is checked against the latest state (committed or running
//! transactions), not a snapshot, exactly as PostgreSQL does; see `transaction`.
//! Small entries (≤ 30 bytes: integer keys, short strings) are stored inline,
//! without a heap allocation each.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::RowId;
use crate::keycode;
use crate::row::{ValueRef, for_each_value};
use crate::types::{DataType, Value};

const INLINE: usize = 30;

/// One index entry: key bytes followed by the row id in big-endian.
#[derive(Clone)]
pub enum Entry {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Entry {
    pub fn new(key: &[u8], rowid: RowId) -> Entry {
        let len = key.len() + 8;
        if len <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            bytes[key.len()..len].copy_from_slice(&rowid.to_be_bytes());
            Entry::Inline { len: len as u8, bytes }
        } else {
            let mut v = Vec::with_capacity(len);
            v.extend_from_slice(key);
            v.extend_from_slice(&rowid.to_be_bytes());
            Entry::Heap(v.into_boxed_slice())
        }
    }

    /// A bare key (no row id) used as a search bound.
    fn bound(key: &[u8]) -> Entry {
        if key.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            Entry::Inline { len: key.len() as u8, bytes }
        } else {
            Entry::Heap(key.to_vec().into_boxed_slice())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Entry::Inline { len, bytes } => &bytes[..*len as usize],
            Entry::Heap(b) => b,
        }
    }

    pub fn rowid(&self) -> RowId {
        let s = self.as_slice();
        RowId::from_be_bytes(s[s.len() - 8..].try_into().unwrap())
    }

    pub fn key(&self) -> &[u8] {
        let s = self.as_slice();
        &s[..s.len() - 8]
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

pub struct Index {
    pub id: u32,
    pub name: String,
    /// Physical column positions forming the key.
    pub columns: Vec<usize>,
    pub unique: bool,
    tree: RwLock<BTreeSet<Entry>>,
}

impl Index {
    pub fn new(id: u32, name: String, columns: Vec<usize>, unique: bool) -> Index {
        Index { id, name, columns, unique, tree: RwLock::new(BTreeSet::new()) }
    }

    /// The encoded key of `row`, and whether any key column is NULL.
    pub fn key_of(&self, types: &[DataType], missing: &[Value], row: &[u8]) -> (Vec<u8>, bool) {
        let mut vals: Vec<Option<ValueRef<'_>>> = vec![None; self.columns.len()];
        let max = self.columns.iter().copied().max().unwrap_or(0);
        for_each_value(&types[..=max], row, |i, v| {
            for (k, &c) in self.columns.iter().enumerate() {
                if c == i {
                    vals[k] = Some(v.unwrap_or_else(|| missing.get(i).map(ValueRef::from).unwrap_or(ValueRef::Null)));
                }
            }
        });
        let refs: Vec<ValueRef<'_>> = vals.into_iter().map(|v| v.unwrap_or(ValueRef::Null)).collect();
        (keycode::encode_key(refs.iter().copied()), keycode::key_has_null(&refs))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, BTreeSet<Entry>> {
        self.tree.read()
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, BTreeSet<Entry>> {
        self.tree.write()
    }

    pub fn insert(&self, key: &[u8], rowid: RowId) {
        self.tree.write().insert(Entry::new(key, rowid));
    }

    pub fn remove(&self, key: &[u8], rowid: RowId) -> bool {
        self.tree.write().remove(&Entry::new(key, rowid))
    }

    pub fn len(&self) -> usize {
        self.tree.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row ids with exactly this (full or leading-columns) key.
    pub fn lookup(&self, key: &[u8]) -> Vec<RowId> {
        lookup_in(&self.tree.read(), key)
    }

    /// Row ids of entries between two encoded key bounds, deduplicated, in key order
    /// of their first entry. `limit` caps how many distinct rows are returned.
    pub fn range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, limit: usize) -> Vec<RowId> {
        let tree = self.tree.read();
        let lo = match lower {
            Bound::Included(k) => Bound::Included(Entry::bound(k)),
            // "> k": skip every entry that starts with k.
            Bound::Excluded(k) => match keycode::prefix_end(k) {
                Some(e) => Bound::Included(Entry::bound(&e)),
                None => return Vec::new(),
            },
            Bound::Unbounded => Bound::Unbounded,
        };
        let hi = match upper {
            // "<= k": include every entry that starts with k.
            Bound::Included(k) => match keycode::prefix_end(k) {
                Some(e) => Bound::Excluded(Entry::bound(&e)),
                None => Bound::Unbounded,
            },
            Bound::Excluded(k) => Bound::Excluded(Entry::bound(k)),
            Bound::Unbounded => Bound::Unbounded,
        };
        if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) = (&lo, &hi)
            && l > h
        {
            return Vec::new();
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in tree.range((lo, hi)) {
            let r = e.rowid();
            if seen.insert(r) {
                out.push(r);
                if out.len() >= limit {
                    break;
                }
            }
        }
        out
    }

    /// All entries (for GC and tests).
    pub fn entries(&self) -> Vec<(Vec<u8>, RowId)> {
        self.tree.read().iter().map(|e| (e.key().to_vec(), e.rowid())).collect()
    }
}

/// Row ids whose entries start with `key`, from an already-locked tree.
pub fn lookup_in(tree: &BTreeSet<Entry>, key: &[u8]) -> Vec<RowId> {
    let lo = Bound::Included(Entry::bound(key));
    let hi = match keycode::prefix_end(key) {
        Some(e) => Bound::Excluded(Entry::bound(&e)),
        None => Bound::Unbounded,
    };
    tree.range((lo, hi)).map(|e| e.rowid()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: i32) -> Vec<u8> {
        keycode::encode_key([ValueRef::Int32(i)])
    }

    #[test]
    fn lookups_and_ranges() {
        let idx = Index::new(1, "i".into(), vec![0], false);
        for (key, row) in [(5, 9), (7, 3), (7, 9), (9, 4), (11, 1)] {
            idx.insert(&k(key), row);
        }
        assert_eq!(idx.lookup(&k(7)), vec![3, 9]);
        assert_eq!(idx.lookup(&k(6)), Vec::<RowId>::new());
        let r = |lo: Bound<&[u8]>, hi: Bound<&[u8]>| idx.range(lo, hi, usize::MAX);
        assert_eq!(r(Bound::Included(&k(7)), Bound::Included(&k(9))), vec![3, 9, 4]);
        assert_eq!(r(Bound::Excluded(&k(7)), Bound::Unbounded), vec![4, 1]);
        assert_eq!(r(Bound::Unbounded, Bound::Excluded(&k(7))), vec![9]);
        // row 9 appears under two keys but is returned once
        assert_eq!(r(Bound::Included(&k(5)), Bound::Included(&k(7))), vec![9, 3]);
        assert_eq!(r(Bound::Included(&k(9)), Bound::Included(&k(5))), Vec::<RowId>::new());
        assert!(idx.remove(&k(7), 9));
        assert_eq!(idx.lookup(&k(7)), vec![3]);
    }

    #[test]
    fn long_keys_go_to_the_heap() {
        let idx = Index::new(1, "i".into(), vec![0], true);
        let long = keycode::encode_key([ValueRef::Text(&"x".repeat(100))]);
        idx.insert(&long, 42);
        assert_eq!(idx.lookup(&long), vec![42]);
        assert!(matches!(Entry::new(&long, 1), Entry::Heap(_)));
        assert!(matches!(Entry::new(&k(1), 1), Entry::Inline { .. }));
    }
}

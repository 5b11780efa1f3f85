//! Ordered indexes: primary keys, unique constraints, secondary indexes.
//!
//! An index maps encoded keys (see `keycode`) to the rows that have them. It
//! points at rows, not versions: a row is listed under every distinct key any
//! of its versions has, so a snapshot that still sees an old key still finds
//! the row. Readers treat the rows they get as *candidates* — they fetch the
//! version they can see and check its key — and an UPDATE that leaves the key
//! alone touches no index at all (the common case: pgbench's `abalance`).
//!
//! ```text
//!   key 5 → [row 9]        row 9 was updated from key 5 to key 7: a snapshot
//!   key 7 → [row 3, row 9] before that update finds it under 5, a newer one
//!   key 9 → [row 4]        under 7; GC drops row 9 from key 5 once no version has 5.
//! ```
//!
//! Uniqueness is checked against the latest state (committed or running
//! transactions), not a snapshot, exactly as PostgreSQL does; see `transaction`.
//! Unique indexes keep a hash map beside the ordered map, under the same lock:
//! point lookups and uniqueness checks cost one hash probe instead of a walk
//! down a tree of cache misses, and ranges still use the ordered map. Keys up
//! to 22 bytes (integers, short strings, pairs of integers) are stored inline
//! and compared as big-endian machine words rather than through `memcmp`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Bound;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use smallvec::SmallVec;

use crate::RowId;
use crate::keycode;
use crate::row::{ValueRef, for_each_value};
use crate::types::{DataType, Value};

const INLINE: usize = 22;

/// An encoded key, inline when short.
#[derive(Clone)]
pub enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            Key::Inline { len: key.len() as u8, bytes }
        } else {
            Key::Heap(key.into())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(b) => b,
        }
    }
}

#[inline]
fn words(b: &[u8; INLINE]) -> (u64, u64, u64) {
    let w0 = u64::from_be_bytes(b[0..8].try_into().unwrap());
    let w1 = u64::from_be_bytes(b[8..16].try_into().unwrap());
    let mut last = [0u8; 8];
    last[..6].copy_from_slice(&b[16..22]);
    (w0, w1, u64::from_be_bytes(last))
}

impl Ord for Key {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Zero padding makes word order equal byte order, with length breaking ties
            // ("ab" < "ab\0…" because the shorter string is a prefix).
            (Key::Inline { len: la, bytes: a }, Key::Inline { len: lb, bytes: b }) => words(a).cmp(&words(b)).then(la.cmp(lb)),
            _ => self.as_slice().cmp(other.as_slice()),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

/// The rows listed under one key (almost always one).
pub type Rows = SmallVec<[RowId; 1]>;

/// The index contents: the ordered map, and for unique indexes a hash map with
/// the same entries (kept equal by every mutation below).
#[derive(Default)]
pub struct Tree {
    ordered: BTreeMap<Key, Rows>,
    hashed: Option<HashMap<Key, Rows, ahash::RandomState>>,
}

impl Tree {
    fn new(unique: bool) -> Tree {
        Tree { ordered: BTreeMap::new(), hashed: unique.then(HashMap::default) }
    }

    /// Fills an empty tree from (key, row) pairs in bulk — one sort and a
    /// bottom-up build instead of a tree descent per row (CREATE INDEX,
    /// ADD PRIMARY KEY on a loaded table).
    pub fn bulk_load(&mut self, mut entries: Vec<(Key, RowId)>) {
        assert!(self.ordered.is_empty(), "bulk_load fills an empty index");
        entries.sort_unstable();
        entries.dedup();
        let mut grouped: Vec<(Key, Rows)> = Vec::new();
        for (k, r) in entries {
            match grouped.last_mut() {
                Some((last, rows)) if *last == k => rows.push(r),
                _ => grouped.push((k, Rows::from_elem(r, 1))),
            }
        }
        if let Some(h) = &mut self.hashed {
            h.reserve(grouped.len());
            for (k, rows) in &grouped {
                h.insert(k.clone(), rows.clone());
            }
        }
        // Sorted and distinct: BTreeMap builds it bottom-up.
        self.ordered = grouped.into_iter().collect();
    }

    /// Rows under exactly `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Rows> {
        let k = Key::new(key);
        match &self.hashed {
            Some(h) => h.get(&k),
            None => self.ordered.get(&k),
        }
    }

    pub fn range(&self, lo: Bound<Key>, hi: Bound<Key>) -> impl Iterator<Item = (&Key, &Rows)> {
        self.ordered.range((lo, hi))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Rows)> {
        self.ordered.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &Rows> {
        self.ordered.values()
    }
}

pub struct Index {
    pub id: u32,
    pub name: String,
    /// Physical column positions forming the key.
    pub columns: Vec<usize>,
    pub unique: bool,
    tree: RwLock<Tree>,
}

impl Index {
    pub fn new(id: u32, name: String, columns: Vec<usize>, unique: bool) -> Index {
        Index { id, name, columns, unique, tree: RwLock::new(Tree::new(unique)) }
    }

    /// The encoded key of `row`, and whether any key column is NULL.
    pub fn key_of(&self, types: &[DataType], missing: &[Value], row: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(16);
        let mut has_null = false;
        if let [col] = self.columns[..] {
            // Single-column keys (the common case): one pass, no temporary vector.
            for_each_value(&types[..=col], row, |i, v| {
                if i == col {
                    let v = v.unwrap_or_else(|| missing.get(i).map(ValueRef::from).unwrap_or(ValueRef::Null));
                    has_null = v.is_null();
                    keycode::encode_value(&mut out, v);
                }
            });
            return (out, has_null);
        }
        let mut vals: Vec<Option<ValueRef<'_>>> = vec![None; self.columns.len()];
        let max = self.columns.iter().copied().max().unwrap_or(0);
        for_each_value(&types[..=max], row, |i, v| {
            for (k, &c) in self.columns.iter().enumerate() {
                if c == i {
                    vals[k] = Some(v.unwrap_or_else(|| missing.get(i).map(ValueRef::from).unwrap_or(ValueRef::Null)));
                }
            }
        });
        for v in vals {
            let v = v.unwrap_or(ValueRef::Null);
            has_null |= v.is_null();
            keycode::encode_value(&mut out, v);
        }
        (out, has_null)
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Tree> {
        self.tree.read()
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Tree> {
        self.tree.write()
    }

    pub fn insert(&self, key: &[u8], rowid: RowId) {
        insert_in(&mut self.tree.write(), key, rowid);
    }

    pub fn remove(&self, key: &[u8], rowid: RowId) -> bool {
        remove_in(&mut self.tree.write(), key, rowid)
    }

    /// Number of (key, row) entries.
    pub fn len(&self) -> usize {
        self.tree.read().values().map(|r| r.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.read().is_empty()
    }

    /// Row ids with exactly this key, or whose key starts with it (a prefix of a
    /// composite key's columns).
    pub fn lookup(&self, key: &[u8]) -> Vec<RowId> {
        lookup_in(&self.tree.read(), key)
    }

    /// Row ids of keys between two encoded bounds (keys, or leading-column
    /// prefixes), deduplicated, in key order of their first appearance. `limit`
    /// caps how many distinct rows are returned.
    pub fn range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, limit: usize) -> Vec<RowId> {
        let tree = self.tree.read();
        let lo = match lower {
            Bound::Included(k) => Bound::Included(Key::new(k)),
            // "> k": skip every key that starts with k.
            Bound::Excluded(k) => match keycode::prefix_end(k) {
                Some(e) => Bound::Included(Key::new(&e)),
                None => return Vec::new(),
            },
            Bound::Unbounded => Bound::Unbounded,
        };
        let hi = match upper {
            // "<= k": include every key that starts with k.
            Bound::Included(k) => match keycode::prefix_end(k) {
                Some(e) => Bound::Excluded(Key::new(&e)),
                None => Bound::Unbounded,
            },
            Bound::Excluded(k) => Bound::Excluded(Key::new(k)),
            Bound::Unbounded => Bound::Unbounded,
        };
        if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) = (&lo, &hi)
            && (l > h || (l == h && (matches!(lo, Bound::Excluded(_)) || matches!(hi, Bound::Excluded(_)))))
        {
            return Vec::new();
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (_, rows) in tree.range(lo, hi) {
            for &r in rows {
                if seen.insert(r) {
                    out.push(r);
                    if out.len() >= limit {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// All (key, row) entries (for GC and tests).
    pub fn entries(&self) -> Vec<(Vec<u8>, RowId)> {
        let tree = self.tree.read();
        tree.iter().flat_map(|(k, rows)| rows.iter().map(move |&r| (k.as_slice().to_vec(), r))).collect()
    }
}

pub fn insert_in(tree: &mut Tree, key: &[u8], rowid: RowId) {
    let k = Key::new(key);
    if let Some(h) = &mut tree.hashed {
        let rows = h.entry(k.clone()).or_default();
        if rows.contains(&rowid) {
            return;
        }
        rows.push(rowid);
    }
    let rows = tree.ordered.entry(k).or_default();
    if !rows.contains(&rowid) {
        rows.push(rowid);
    }
}

/// Adds `rowid` under `key` if no *other* row is listed there; otherwise
/// returns the rows that are (the caller decides whether they conflict).
pub fn insert_if_absent(tree: &mut Tree, key: &[u8], rowid: RowId) -> Option<Vec<RowId>> {
    let others: Vec<RowId> = tree.get(key).map(|r| r.iter().copied().filter(|&x| x != rowid).collect()).unwrap_or_default();
    if !others.is_empty() {
        return Some(others);
    }
    insert_in(tree, key, rowid);
    None
}

pub fn remove_in(tree: &mut Tree, key: &[u8], rowid: RowId) -> bool {
    let k = Key::new(key);
    if let Some(h) = &mut tree.hashed
        && let Some(rows) = h.get_mut(&k)
    {
        rows.retain(|r| *r != rowid);
        if rows.is_empty() {
            h.remove(&k);
        }
    }
    let Some(rows) = tree.ordered.get_mut(&k) else { return false };
    let before = rows.len();
    rows.retain(|r| *r != rowid);
    let removed = rows.len() != before;
    if rows.is_empty() {
        tree.ordered.remove(&k);
    }
    removed
}

/// Row ids whose keys equal or start with `key`, from an already-locked tree.
pub fn lookup_in(tree: &Tree, key: &[u8]) -> Vec<RowId> {
    if let Some(rows) = tree.get(key) {
        // An exact key can also prefix longer keys only in a composite index
        // searched by its leading columns, where there is no exact entry.
        return rows.to_vec();
    }
    let lo = Bound::Included(Key::new(key));
    let hi = match keycode::prefix_end(key) {
        Some(e) => Bound::Excluded(Key::new(&e)),
        None => Bound::Unbounded,
    };
    tree.range(lo, hi).flat_map(|(_, rows)| rows.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert!(!idx.remove(&k(7), 9));
        assert_eq!(idx.lookup(&k(7)), vec![3]);
        assert_eq!(idx.len(), 4);
    }

    #[test]
    fn composite_prefix_lookup() {
        let idx = Index::new(1, "i".into(), vec![0, 1], false);
        let key = |a: i32, b: &str| keycode::encode_key([ValueRef::Int32(a), ValueRef::Text(b)]);
        idx.insert(&key(1, "x"), 10);
        idx.insert(&key(1, "y"), 11);
        idx.insert(&key(2, "x"), 12);
        assert_eq!(idx.lookup(&k(1)), vec![10, 11]);
        assert_eq!(idx.lookup(&key(1, "y")), vec![11]);
    }

    #[test]
    fn long_keys_go_to_the_heap() {
        let idx = Index::new(1, "i".into(), vec![0], true);
        let long = keycode::encode_key([ValueRef::Text(&"x".repeat(100))]);
        idx.insert(&long, 42);
        assert_eq!(idx.lookup(&long), vec![42]);
        assert!(matches!(Key::new(&long), Key::Heap(_)));
        assert!(matches!(Key::new(&k(1)), Key::Inline { .. }));
    }

    proptest! {
        #[test]
        fn key_order_is_byte_order(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(Key::new(&a).cmp(&Key::new(&b)), a.cmp(&b));
        }
    }
}

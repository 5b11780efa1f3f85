//! An in-memory B+tree: the ordered map under every index.
//!
//! Why not `std::collections::BTreeMap`: its nodes hold at most 11 keys and
//! are searched linearly, so an ascending load (serial keys, COPY of a sorted
//! file, `pgbench -i`) compares each new key with every key on the rightmost
//! path — a third of a bulk load's CPU went to key comparisons. Here nodes are
//! wider and searched by bisection, and a key greater than the largest one
//! (kept beside the root: one comparison) walks the right spine and is
//! appended with no further comparison:
//!
//! ```text
//!                 [ 40 | 80 ]                       inner: separators + children
//!               /      |      \
//!     [10 20 30]  [40 50 60 70]  [80 90 …]          leaves: sorted (key, value)
//!                                        ▲
//!                       key > 90: walk right, push  (PostgreSQL's rightmost-leaf fast path)
//! ```
//!
//! Leaves have no sibling links (a node owns its children); a range walk
//! keeps the path from the root on a stack instead.
//!
//! Invariants (checked by `check` in tests after every step of random histories):
//! - Every leaf is at the same depth; a node holds at most `CAP` entries or children.
//! - Keys are strictly increasing across the leaves, left to right.
//! - For separator `s = keys[i]` of an inner node, every key in `children[..=i]`
//!   is `< s` and every key in `children[i+1..]` is `>= s`. Separators are
//!   bounds, not necessarily present keys: a removal leaves them alone.
//! - Only the root may be empty. A node that a removal leaves below `CAP / 4`
//!   is merged with a neighbour when both fit in one node, so memory stays in
//!   proportion to the entries that remain (the newest rightmost leaf, and a
//!   small node between two full ones, may stay under-full).
//!
//! Splits keep the left node full when the new entry is the rightmost one (an
//! ascending load packs leaves solid) and halve the node otherwise.

use std::cmp::Ordering;
use std::ops::Bound;

/// Entries per leaf and children per inner node: 64 keeps a node's keys in a
/// few cache lines for bisection while the tree stays 4 levels deep at 10M keys.
/// Unit tests use 8, so small random histories still build deep trees and
/// exercise inner-node splits and merges.
const CAP: usize = if cfg!(test) { 8 } else { 64 };
const MIN: usize = CAP / 4;

enum Node<K, V> {
    Leaf(Vec<(K, V)>),
    Inner(Inner<K, V>),
}

struct Inner<K, V> {
    /// `keys.len() == children.len() - 1`.
    keys: Vec<K>,
    children: Vec<Node<K, V>>,
}

impl<K, V> Node<K, V> {
    fn len(&self) -> usize {
        match self {
            Node::Leaf(e) => e.len(),
            Node::Inner(i) => i.children.len(),
        }
    }
}

/// What an insertion below a node did to it: a node that overflowed hands its
/// new right sibling (and the separator in front of it) to the parent.
type Split<K, V> = Option<(K, Node<K, V>)>;

pub struct BPlusTree<K, V> {
    root: Node<K, V>,
    len: usize,
    /// The largest key, kept beside the root so the append test touches no node.
    max: Option<K>,
}

impl<K: Ord + Clone, V> Default for BPlusTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Clone, V> BPlusTree<K, V> {
    pub fn new() -> Self {
        BPlusTree { root: Node::Leaf(Vec::new()), len: 0, max: None }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Builds a tree from entries sorted by key with no key twice, bottom-up
    /// (CREATE INDEX, ADD PRIMARY KEY): no search, leaves full.
    pub fn from_sorted(entries: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut level: Vec<(Option<K>, Node<K, V>)> = Vec::new();
        let mut leaf: Vec<(K, V)> = Vec::with_capacity(CAP + 1);
        let mut len = 0;
        for (k, v) in entries {
            if let Some((last, _)) = leaf.last() {
                assert!(*last < k, "from_sorted: keys must be sorted and distinct");
            }
            if leaf.len() == CAP {
                let first = leaf[0].0.clone();
                level.push((Some(first), Node::Leaf(std::mem::replace(&mut leaf, Vec::with_capacity(CAP + 1)))));
            }
            leaf.push((k, v));
            len += 1;
        }
        if !leaf.is_empty() || level.is_empty() {
            let first = leaf.first().map(|(k, _)| k.clone());
            level.push((first, Node::Leaf(leaf)));
        }
        // Each pass puts the nodes of a level under parents, spread evenly so
        // no parent is left with a lone child; a parent's low key is its first child's.
        while level.len() > 1 {
            let parents_n = level.len().div_ceil(CAP);
            let (each, extra) = (level.len() / parents_n, level.len() % parents_n);
            let mut parents = Vec::with_capacity(parents_n);
            let mut it = level.into_iter();
            for p in 0..parents_n {
                let size = each + usize::from(p < extra);
                let mut keys = Vec::with_capacity(CAP);
                let mut children = Vec::with_capacity(CAP + 1);
                let mut low = None;
                for (i, (k, node)) in it.by_ref().take(size).enumerate() {
                    if i == 0 {
                        low = k;
                    } else {
                        keys.push(k.expect("only a lone empty leaf has no low key"));
                    }
                    children.push(node);
                }
                parents.push((low, Node::Inner(Inner { keys, children })));
            }
            level = parents;
        }
        let root = level.pop().map(|(_, n)| n).unwrap_or(Node::Leaf(Vec::new()));
        let mut tree = BPlusTree { root, len, max: None };
        tree.max = tree.last_key().cloned();
        tree
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let mut node = &self.root;
        loop {
            match node {
                Node::Inner(inner) => node = &inner.children[child_for(&inner.keys, key)],
                Node::Leaf(entries) => {
                    return entries.binary_search_by(|(k, _)| k.cmp(key)).ok().map(|i| &entries[i].1);
                }
            }
        }
    }

    /// Calls `update` on the value under `key`, or inserts `make()` if there is none.
    pub fn upsert(&mut self, key: K, make: impl FnOnce() -> V, update: impl FnOnce(&mut V)) {
        let append = self.max.as_ref().is_none_or(|m| *m < key);
        if append {
            self.max = Some(key.clone());
        }
        let mut inserted = false;
        let split = insert(&mut self.root, key, make, update, append, &mut inserted);
        if inserted {
            self.len += 1;
        }
        if let Some((sep, right)) = split {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            let mut keys = Vec::with_capacity(CAP);
            keys.push(sep);
            let mut children = Vec::with_capacity(CAP + 1);
            children.push(left);
            children.push(right);
            self.root = Node::Inner(Inner { keys, children });
        }
    }

    /// The rightmost leaf's last key.
    fn last_key(&self) -> Option<&K> {
        let mut node = &self.root;
        loop {
            match node {
                Node::Inner(inner) => node = inner.children.last().expect("inner nodes have children"),
                Node::Leaf(entries) => return entries.last().map(|(k, _)| k),
            }
        }
    }

    /// Calls `f` on the value under `key`; removes the entry if `f` says so.
    /// Returns what `f` returned, or `None` if the key is absent.
    pub fn modify<R>(&mut self, key: &K, f: impl FnOnce(&mut V) -> (R, bool)) -> Option<R> {
        let (out, removed) = modify(&mut self.root, key, f)?;
        if removed {
            self.len -= 1;
            if self.max.as_ref() == Some(key) {
                self.max = self.last_key().cloned();
            }
            // A root with one child gives way to it (the tree gets shorter).
            while let Node::Inner(inner) = &mut self.root
                && inner.children.len() == 1
            {
                let only = inner.children.pop().expect("one child");
                self.root = only;
            }
        }
        Some(out)
    }

    pub fn remove(&mut self, key: &K) -> Option<V>
    where
        V: Default,
    {
        self.modify(key, |v| (std::mem::take(v), true))
    }

    /// Entries with keys within the bounds, in key order.
    pub fn range(&self, lo: Bound<K>, hi: Bound<K>) -> Range<'_, K, V> {
        let mut stack = Vec::new();
        let mut node = &self.root;
        loop {
            match node {
                Node::Inner(inner) => {
                    let i = match &lo {
                        Bound::Included(k) | Bound::Excluded(k) => child_for(&inner.keys, k),
                        Bound::Unbounded => 0,
                    };
                    stack.push((inner, i + 1));
                    node = &inner.children[i];
                }
                Node::Leaf(entries) => {
                    let pos = match &lo {
                        Bound::Included(k) => entries.partition_point(|(x, _)| x < k),
                        Bound::Excluded(k) => entries.partition_point(|(x, _)| x <= k),
                        Bound::Unbounded => 0,
                    };
                    return Range { stack, leaf: entries, pos, hi };
                }
            }
        }
    }

    pub fn iter(&self) -> Range<'_, K, V> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Panics if an invariant in the module comment is broken (tests).
    pub fn check(&self) {
        let mut depth = None;
        let mut count = 0;
        let mut prev: Option<&K> = None;
        check_node(&self.root, None, None, 0, true, &mut depth, &mut count, &mut prev);
        assert_eq!(count, self.len, "len matches the entries");
        assert!(self.max.as_ref() == prev, "max is the last key");
    }
}

/// The child of an inner node whose subtree may hold `key`: the number of
/// separators `<= key`.
#[inline]
fn child_for<K: Ord>(keys: &[K], key: &K) -> usize {
    keys.partition_point(|s| s <= key)
}

fn insert<K: Ord + Clone, V>(
    node: &mut Node<K, V>,
    key: K,
    make: impl FnOnce() -> V,
    update: impl FnOnce(&mut V),
    append: bool,
    inserted: &mut bool,
) -> Split<K, V> {
    match node {
        Node::Leaf(entries) => {
            let pos = if append {
                entries.len()
            } else {
                match entries.binary_search_by(|(k, _)| k.cmp(&key)) {
                    Ok(i) => {
                        update(&mut entries[i].1);
                        return None;
                    }
                    Err(i) => i,
                }
            };
            *inserted = true;
            if entries.capacity() == 0 {
                entries.reserve_exact(CAP + 1); // nodes overflow by one, then split
            }
            entries.insert(pos, (key, make()));
            if entries.len() <= CAP {
                return None;
            }
            // Rightmost append: the left leaf stays full, the new one starts with the new key.
            let at = if append { CAP } else { entries.len() / 2 };
            let mut right = Vec::with_capacity(CAP + 1);
            right.extend(entries.drain(at..));
            Some((right[0].0.clone(), Node::Leaf(right)))
        }
        Node::Inner(inner) => {
            let i = if append { inner.children.len() - 1 } else { child_for(&inner.keys, &key) };
            let (sep, child) = insert(&mut inner.children[i], key, make, update, append, inserted)?;
            inner.keys.insert(i, sep);
            inner.children.insert(i + 1, child);
            if inner.children.len() <= CAP {
                return None;
            }
            // Children [0, at) stay; keys[at - 1] moves up; the rest go right.
            let at = if append { CAP } else { inner.children.len() / 2 };
            let mut keys = Vec::with_capacity(CAP);
            keys.extend(inner.keys.drain(at..));
            let up = inner.keys.pop().expect("a split inner node has a key to hand up");
            let mut children = Vec::with_capacity(CAP + 1);
            children.extend(inner.children.drain(at..));
            Some((up, Node::Inner(Inner { keys, children })))
        }
    }
}

/// Returns `f`'s result and whether the entry was removed.
fn modify<K: Ord, V, R>(node: &mut Node<K, V>, key: &K, f: impl FnOnce(&mut V) -> (R, bool)) -> Option<(R, bool)> {
    match node {
        Node::Leaf(entries) => {
            let i = entries.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
            let (out, remove) = f(&mut entries[i].1);
            if remove {
                entries.remove(i);
            }
            Some((out, remove))
        }
        Node::Inner(inner) => {
            let i = child_for(&inner.keys, key);
            let (out, removed) = modify(&mut inner.children[i], key, f)?;
            if removed && inner.children[i].len() < MIN {
                rebalance(inner, i);
            }
            Some((out, removed))
        }
    }
}

/// Child `i` fell below `MIN`: drop it if empty, else merge it with a
/// neighbour when the two fit in one node.
fn rebalance<K: Ord, V>(inner: &mut Inner<K, V>, i: usize) {
    if inner.children[i].len() == 0 {
        inner.children.remove(i);
        if !inner.keys.is_empty() {
            // The separator in front of it (or after it, for the first child).
            inner.keys.remove(i.saturating_sub(1));
        }
        return; // a now-childless node is dropped by its own parent in turn
    }
    let fits = |a: &Node<K, V>, b: &Node<K, V>| a.len() + b.len() <= CAP;
    let left = if i + 1 < inner.children.len() && fits(&inner.children[i], &inner.children[i + 1]) {
        i
    } else if i > 0 && fits(&inner.children[i - 1], &inner.children[i]) {
        i - 1
    } else {
        return; // both neighbours are well filled: an under-full node among them is bounded waste
    };
    let right = inner.children.remove(left + 1);
    let sep = inner.keys.remove(left);
    match (&mut inner.children[left], right) {
        (Node::Leaf(a), Node::Leaf(b)) => a.extend(b),
        (Node::Inner(a), Node::Inner(b)) => {
            // The separator between them comes down: it bounds b's first child.
            a.keys.push(sep);
            a.keys.extend(b.keys);
            a.children.extend(b.children);
        }
        _ => unreachable!("siblings are at the same depth"),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_node<'a, K: Ord, V>(
    node: &'a Node<K, V>,
    lo: Option<&K>,
    hi: Option<&K>,
    depth: usize,
    root: bool,
    leaf_depth: &mut Option<usize>,
    count: &mut usize,
    prev: &mut Option<&'a K>,
) {
    assert!(node.len() <= CAP, "node over capacity");
    if !root {
        assert!(node.len() > 0, "empty non-root node");
    }
    match node {
        Node::Leaf(entries) => {
            assert_eq!(*leaf_depth.get_or_insert(depth), depth, "leaves at one depth");
            for (k, _) in entries {
                assert!(prev.is_none_or(|p| p < k), "keys strictly increase");
                assert!(lo.is_none_or(|l| l <= k) && hi.is_none_or(|h| k < h), "key within its separators");
                *prev = Some(k);
                *count += 1;
            }
        }
        Node::Inner(inner) => {
            assert_eq!(inner.keys.len() + 1, inner.children.len(), "one separator between children");
            if root {
                assert!(inner.children.len() >= 2, "an inner root has two children");
            }
            for (i, child) in inner.children.iter().enumerate() {
                let clo = if i == 0 { lo } else { Some(&inner.keys[i - 1]) };
                let chi = inner.keys.get(i).or(hi);
                check_node(child, clo, chi, depth + 1, false, leaf_depth, count, prev);
            }
        }
    }
}

/// An in-order walk from a lower bound, stopping at the upper bound.
pub struct Range<'a, K, V> {
    /// Inner nodes on the path to `leaf`, each with the next child to visit.
    stack: Vec<(&'a Inner<K, V>, usize)>,
    leaf: &'a [(K, V)],
    pos: usize,
    hi: Bound<K>,
}

impl<'a, K: Ord, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos == self.leaf.len() {
            self.next_leaf()?;
        }
        let (k, v) = &self.leaf[self.pos];
        let within = match &self.hi {
            Bound::Included(h) => k.cmp(h) != Ordering::Greater,
            Bound::Excluded(h) => k < h,
            Bound::Unbounded => true,
        };
        if !within {
            self.leaf = &[];
            self.pos = 0;
            self.stack.clear();
            return None;
        }
        self.pos += 1;
        Some((k, v))
    }
}

impl<'a, K, V> Range<'a, K, V> {
    /// Moves to the leftmost leaf of the next subtree on the stack.
    fn next_leaf(&mut self) -> Option<()> {
        let mut node = loop {
            let (inner, next) = self.stack.last_mut()?;
            if *next < inner.children.len() {
                *next += 1;
                break &inner.children[*next - 1];
            }
            self.stack.pop();
        };
        loop {
            match node {
                Node::Inner(inner) => {
                    self.stack.push((inner, 1));
                    node = &inner.children[0];
                }
                Node::Leaf(entries) => {
                    self.leaf = entries;
                    self.pos = 0;
                    return Some(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn upsert(t: &mut BPlusTree<u32, u32>, k: u32, v: u32) {
        t.upsert(k, || v, |x| *x = v);
    }

    #[test]
    fn ascending_load_packs_leaves_and_reads_back() {
        let mut t = BPlusTree::new();
        for k in 0..100_000u32 {
            upsert(&mut t, k, k * 2);
        }
        t.check();
        assert_eq!(t.len(), 100_000);
        assert_eq!(t.get(&77_777), Some(&155_554));
        assert_eq!(t.get(&100_000), None);
        let got: Vec<u32> = t.range(Bound::Included(500), Bound::Excluded(505)).map(|(k, _)| *k).collect();
        assert_eq!(got, vec![500, 501, 502, 503, 504]);
        // Full leaves: 100_000 / 64 leaves, not twice that.
        let mut leaves = 0;
        fn count<K, V>(n: &Node<K, V>, leaves: &mut usize) {
            match n {
                Node::Leaf(_) => *leaves += 1,
                Node::Inner(i) => i.children.iter().for_each(|c| count(c, leaves)),
            }
        }
        count(&t.root, &mut leaves);
        assert_eq!(leaves, 100_000usize.div_ceil(CAP));
    }

    #[test]
    fn removing_everything_shrinks_back_to_one_leaf() {
        let mut t = BPlusTree::new();
        for k in 0..20_000u32 {
            upsert(&mut t, k.wrapping_mul(2_654_435_761) % 50_000, k);
        }
        let keys: Vec<u32> = t.iter().map(|(k, _)| *k).collect();
        for (n, k) in keys.iter().enumerate() {
            assert!(t.remove(k).is_some());
            if n % 997 == 0 {
                t.check();
            }
        }
        t.check();
        assert!(t.is_empty());
        assert!(matches!(t.root, Node::Leaf(_)));
    }

    #[test]
    fn bulk_build_matches_inserts() {
        for n in [0usize, 1, 63, 64, 65, 4096, 4097, 300_000] {
            let t = BPlusTree::from_sorted((0..n as u32).map(|k| (k * 3, k)));
            t.check();
            assert_eq!(t.len(), n);
            assert_eq!(t.iter().count(), n);
            if n > 0 {
                assert_eq!(t.get(&((n as u32 - 1) * 3)), Some(&(n as u32 - 1)));
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Upsert(u16, u32),
        Append(u32),
        Remove(u16),
        /// Removes a run of keys: empties whole subtrees, so inner nodes merge.
        RemoveRun(u16, u16),
        Range(u16, u16, bool, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u16>(), any::<u32>()).prop_map(|(k, v)| Op::Upsert(k % 2_000, v)),
            2 => any::<u32>().prop_map(Op::Append),
            3 => any::<u16>().prop_map(|k| Op::Remove(k % 2_000)),
            1 => (any::<u16>(), any::<u16>()).prop_map(|(k, n)| Op::RemoveRun(k % 2_000, n % 400)),
            1 => (any::<u16>(), any::<u16>(), any::<bool>(), any::<bool>())
                .prop_map(|(a, b, x, y)| Op::Range(a % 2_200, b % 2_200, x, y)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random histories agree with std's BTreeMap, and every invariant holds after each step.
        #[test]
        fn behaves_like_a_btreemap(ops in proptest::collection::vec(op(), 1..1_500), seed in proptest::collection::vec(0u16..2_000, 0..1_500)) {
            let mut sorted = seed.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let mut t = BPlusTree::from_sorted(sorted.iter().map(|&k| (k as u32, 0u32)));
            let mut model: BTreeMap<u32, u32> = sorted.iter().map(|&k| (k as u32, 0)).collect();
            let mut next_append = 10_000u32;
            for op in ops {
                match op {
                    Op::Upsert(k, v) => {
                        upsert(&mut t, k as u32, v);
                        model.insert(k as u32, v);
                    }
                    Op::Append(v) => {
                        next_append += 1 + v % 3;
                        upsert(&mut t, next_append, v);
                        model.insert(next_append, v);
                    }
                    Op::Remove(k) => prop_assert_eq!(t.remove(&(k as u32)), model.remove(&(k as u32))),
                    Op::RemoveRun(k, n) => {
                        for k in k as u32..k as u32 + n as u32 {
                            prop_assert_eq!(t.remove(&k), model.remove(&k));
                        }
                    }
                    Op::Range(a, b, x, y) => {
                        let (a, b) = (a as u32, b as u32);
                        if a > b || (a == b && !(x && y)) { continue; }
                        let lo = if x { Bound::Included(a) } else { Bound::Excluded(a) };
                        let hi = if y { Bound::Included(b) } else { Bound::Excluded(b) };
                        let got: Vec<_> = t.range(lo, hi).map(|(k, v)| (*k, *v)).collect();
                        let want: Vec<_> = model.range((lo, hi)).map(|(k, v)| (*k, *v)).collect();
                        prop_assert_eq!(got, want);
                    }
                }
                t.check();
                prop_assert_eq!(t.len(), model.len());
            }
            let all: Vec<_> = t.iter().map(|(k, v)| (*k, *v)).collect();
            let want: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(all, want);
        }
    }
}

//! Row id → (segment slot, offset): where each live row of a table is, in
//! about a quarter of a byte per row when rows sit in segments in row-id
//! order, and never more than the flat map's eight.
//!
//! The primary hands out row ids densely, so the map is a vector of pages of
//! `PAGE` consecutive row ids. A page is one of:
//!
//! ```text
//!   Empty                 no live row
//!   Run  slot, base       every row of the page that the segment in `slot`
//!        members ▓░▓▓░▓…  holds (a bit per row id), at consecutive offsets
//!        live    ▓░▓░░▓…  from `base`: offset(i) = base + members below i
//!                         (264 bytes for 1,024 rows)
//!   Dense [slot:offset; PAGE] with ABSENT holes (8 KiB for 1,024 rows)
//! ```
//!
//! A bulk load seals the delta into segments whose rows are in row-id order,
//! so its pages are runs; the pages an update scatters (the row moves to the
//! delta, its page then has rows in two segments) become dense. `assign`
//! re-points a whole segment at once (a sealed delta, a merge, a restart) and
//! turns a page back into a run when the segment holds every live row of it.
//!
//! Invariant: `get` answers exactly as a flat map of the same `set`s and
//! `clear`s would (the property test at the bottom checks it).

/// Row ids per page.
const PAGE: usize = 1024;
const WORDS: usize = PAGE / 64;
const ABSENT: u64 = u64::MAX;

#[derive(Clone, Debug)]
struct Run {
    slot: u32,
    base: u32,
    /// Members (rows of the segment in this page), and how many.
    members: [u64; WORDS],
    count: u32,
    /// The highest member's index in the page (appends go after it).
    last: u32,
    live: [u64; WORDS],
}

impl Run {
    fn new(slot: u32, i: usize, offset: u32) -> Run {
        let mut r = Run { slot, base: offset, members: [0; WORDS], count: 1, last: i as u32, live: [0; WORDS] };
        set_bit(&mut r.members, i);
        set_bit(&mut r.live, i);
        r
    }

    /// Offset of member `i`: `base` plus the members below it.
    fn offset(&self, i: usize) -> u32 {
        let (w, b) = (i / 64, i % 64);
        let below: u32 = self.members[..w].iter().map(|x| x.count_ones()).sum::<u32>() + (self.members[w] & ((1u64 << b) - 1)).count_ones();
        self.base + below
    }

    fn get(&self, i: usize) -> Option<(u32, u32)> {
        bit(&self.live, i).then(|| (self.slot, self.offset(i)))
    }

    /// Extends the run by row `i` at `offset`, if it continues it.
    fn try_append(&mut self, slot: u32, i: usize, offset: u32) -> bool {
        if slot != self.slot || i as u32 <= self.last || Some(offset) != self.base.checked_add(self.count) {
            return false;
        }
        set_bit(&mut self.members, i);
        set_bit(&mut self.live, i);
        self.count += 1;
        self.last = i as u32;
        true
    }

    fn dense(&self) -> Box<Dense> {
        let mut d = Dense::empty();
        for i in ones(&self.live) {
            d.set(i, self.slot, self.offset(i));
        }
        d
    }
}

#[derive(Clone, Debug)]
struct Dense {
    locs: [u64; PAGE],
    present: u32,
}

impl Dense {
    fn empty() -> Box<Dense> {
        Box::new(Dense { locs: [ABSENT; PAGE], present: 0 })
    }

    fn get(&self, i: usize) -> Option<(u32, u32)> {
        let v = self.locs[i];
        (v != ABSENT).then_some(((v >> 32) as u32, v as u32))
    }

    fn set(&mut self, i: usize, slot: u32, offset: u32) {
        if self.locs[i] == ABSENT {
            self.present += 1;
        }
        self.locs[i] = ((slot as u64) << 32) | offset as u64;
    }
}

#[derive(Clone, Debug, Default)]
enum Page {
    #[default]
    Empty,
    Run(Run),
    Dense(Box<Dense>),
}

/// The map of one table (see the module comment).
#[derive(Debug, Default)]
pub struct RowLocations {
    pages: Vec<Page>,
}

impl RowLocations {
    pub fn new() -> RowLocations {
        RowLocations::default()
    }

    pub fn get(&self, rowid: u64) -> Option<(u32, u32)> {
        let (p, i) = split(rowid);
        match self.pages.get(p)? {
            Page::Empty => None,
            Page::Run(r) => r.get(i),
            Page::Dense(d) => d.get(i),
        }
    }

    /// Row `rowid` is now at (`slot`, `offset`).
    pub fn set(&mut self, rowid: u64, slot: u32, offset: u32) {
        assert!(slot != u32::MAX || offset != u32::MAX, "(u32::MAX, u32::MAX) is the absent marker");
        let (p, i) = split(rowid);
        let page = self.page_mut(p);
        match page {
            Page::Empty => *page = Page::Run(Run::new(slot, i, offset)),
            Page::Run(r) => {
                if !r.try_append(slot, i, offset) {
                    let mut d = r.dense();
                    d.set(i, slot, offset);
                    *page = Page::Dense(d);
                }
            }
            Page::Dense(d) => d.set(i, slot, offset),
        }
    }

    /// Row `rowid` is gone; returns where it was.
    pub fn clear(&mut self, rowid: u64) -> Option<(u32, u32)> {
        let (p, i) = split(rowid);
        let page = self.pages.get_mut(p)?;
        let was = match page {
            Page::Empty => None,
            Page::Run(r) => {
                let was = r.get(i);
                clear_bit(&mut r.live, i);
                if r.live.iter().all(|&w| w == 0) {
                    *page = Page::Empty;
                }
                was
            }
            Page::Dense(d) => {
                let was = d.get(i);
                if was.is_some() {
                    d.locs[i] = ABSENT;
                    d.present -= 1;
                    if d.present == 0 {
                        *page = Page::Empty;
                    }
                }
                was
            }
        };
        was
    }

    /// Points the rows of the segment in `slot` at their offsets: row
    /// `rowids[k]` is at offset `k`, where `live(k)`. Where the segment holds
    /// every live row of a page, in row-id order, the page becomes one run.
    pub fn assign(&mut self, rowids: &[u64], live: impl Fn(usize) -> bool, slot: u32) {
        let mut k = 0;
        while k < rowids.len() {
            // The longest stretch from k in one page with ascending row ids.
            let (p, _) = split(rowids[k]);
            let mut end = k + 1;
            while end < rowids.len() && split(rowids[end]).0 == p && rowids[end] > rowids[end - 1] {
                end += 1;
            }
            if !self.replace_with_run(p, &rowids[k..end], k, &live, slot) {
                for (j, &id) in rowids.iter().enumerate().take(end).skip(k) {
                    if live(j) {
                        self.set(id, slot, j as u32);
                    }
                }
            }
            k = end;
        }
    }

    /// Makes page `p` the run of `ids` (ascending, at offsets from `first`)
    /// if every row live in the page now is live in `ids`.
    fn replace_with_run(&mut self, p: usize, ids: &[u64], first: usize, live: &impl Fn(usize) -> bool, slot: u32) -> bool {
        let Ok(base) = u32::try_from(first) else { return false };
        if u32::try_from(first + ids.len()).is_err() {
            return false;
        }
        let mut members = [0u64; WORDS];
        let mut live_bits = [0u64; WORDS];
        for (j, &id) in ids.iter().enumerate() {
            let i = split(id).1;
            set_bit(&mut members, i);
            if live(first + j) {
                set_bit(&mut live_bits, i);
            }
        }
        // Every row live in the page now must be live in the run (a row dead
        // in this segment may be live in another one).
        let covered = match self.pages.get(p) {
            None | Some(Page::Empty) => true,
            Some(Page::Run(r)) => r.live.iter().zip(&live_bits).all(|(old, new)| old & !new == 0),
            Some(Page::Dense(d)) => (0..PAGE).all(|i| d.locs[i] == ABSENT || bit(&live_bits, i)),
        };
        if !covered {
            return false;
        }
        let last = ids.last().map(|&id| split(id).1 as u32).unwrap_or(0);
        let page = self.page_mut(p);
        *page = if live_bits.iter().all(|&w| w == 0) {
            Page::Empty
        } else {
            Page::Run(Run { slot, base, members, count: ids.len() as u32, last, live: live_bits })
        };
        true
    }

    fn page_mut(&mut self, p: usize) -> &mut Page {
        if p >= self.pages.len() {
            self.pages.resize_with((p + 1).max(self.pages.len() * 2), Page::default);
        }
        &mut self.pages[p]
    }

    /// Bytes the map holds (pages and dense blocks).
    pub fn bytes(&self) -> usize {
        let dense = self.pages.iter().filter(|p| matches!(p, Page::Dense(_))).count();
        self.pages.capacity() * std::mem::size_of::<Page>() + dense * std::mem::size_of::<Dense>()
    }
}

fn split(rowid: u64) -> (usize, usize) {
    ((rowid / PAGE as u64) as usize, (rowid % PAGE as u64) as usize)
}

fn bit(words: &[u64; WORDS], i: usize) -> bool {
    words[i / 64] & (1 << (i % 64)) != 0
}

fn set_bit(words: &mut [u64; WORDS], i: usize) {
    words[i / 64] |= 1 << (i % 64);
}

fn clear_bit(words: &mut [u64; WORDS], i: usize) {
    words[i / 64] &= !(1 << (i % 64));
}

fn ones(words: &[u64; WORDS]) -> impl Iterator<Item = usize> + '_ {
    (0..PAGE).filter(|&i| bit(words, i))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Set(u64, u32, u32),
        Clear(u64),
        /// A segment of these row ids (live unless the bit says otherwise).
        Assign(Vec<(u64, bool)>, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Row ids within a few pages, so pages fill, split and come back.
        let id = 0u64..(3 * PAGE as u64);
        prop_oneof![
            (id.clone(), 0u32..4, 0u32..5000).prop_map(|(r, s, o)| Op::Set(r, s, o)),
            id.clone().prop_map(Op::Clear),
            (0u64..(3 * PAGE as u64), 1usize..1500, any::<bool>(), 0u32..4, any::<u64>()).prop_map(|(start, n, sorted, slot, seed)| {
                // A stretch of row ids, in order or shuffled, some of them dead.
                let mut ids: Vec<u64> = (start..start + n as u64).filter(|r| (r ^ seed) % 7 != 0).collect();
                if !sorted {
                    let k = ids.len();
                    for i in 0..k {
                        ids.swap(i, ((seed.rotate_left(i as u32 % 64) ^ i as u64) % k as u64) as usize);
                    }
                }
                Op::Assign(ids.into_iter().map(|r| (r, (r.wrapping_mul(seed | 1) >> 7) % 5 != 0)).collect(), slot)
            }),
        ]
    }

    proptest! {
        /// Any sequence of sets, clears and segment assignments answers as a
        /// flat map does.
        #[test]
        fn answers_as_a_flat_map(ops in proptest::collection::vec(op(), 1..60)) {
            let mut map = RowLocations::new();
            let mut model: HashMap<u64, (u32, u32)> = HashMap::new();
            for op in ops {
                match op {
                    Op::Set(r, s, o) => { map.set(r, s, o); model.insert(r, (s, o)); }
                    Op::Clear(r) => { prop_assert_eq!(map.clear(r), model.remove(&r)); }
                    Op::Assign(rows, slot) => {
                        let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
                        map.assign(&ids, |k| rows[k].1, slot);
                        for (k, (r, live)) in rows.iter().enumerate() {
                            if *live { model.insert(*r, (slot, k as u32)); }
                        }
                    }
                }
                for r in 0..(4 * PAGE as u64) {
                    prop_assert_eq!(map.get(r), model.get(&r).copied(), "row {}", r);
                }
            }
        }
    }

    /// A bulk load — rows appended to the delta in order, then sealed into
    /// segments — keeps every page a run: a fraction of a byte per row.
    #[test]
    fn a_bulk_load_costs_a_fraction_of_a_byte_per_row() {
        let mut map = RowLocations::new();
        let rows = 1_000_000u64;
        let seg = 256 * 1024;
        for r in 0..rows {
            map.set(r, u32::MAX, (r % seg) as u32);
            if (r + 1) % seg == 0 || r + 1 == rows {
                let first = r - r % seg;
                let ids: Vec<u64> = (first..=r).collect();
                map.assign(&ids, |_| true, (r / seg) as u32);
            }
        }
        assert_eq!(map.get(5), Some((0, 5)));
        assert_eq!(map.get(seg + 7), Some((1, 7)));
        assert_eq!(map.get(rows - 1), Some((3, ((rows - 1) % seg) as u32)));
        let per_row = map.bytes() as f64 / rows as f64;
        assert!(per_row < 0.6, "{per_row} bytes per row");

        // Updates scatter rows into the delta: their pages become dense, and
        // a page is empty again once its last row is gone.
        map.set(10, u32::MAX, 0);
        assert_eq!(map.get(10), Some((u32::MAX, 0)));
        assert_eq!(map.get(11), Some((0, 11)));
        for r in 0..PAGE as u64 {
            map.clear(r);
        }
        assert!(matches!(map.pages[0], Page::Empty));
    }
}

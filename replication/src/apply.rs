//! WAL frames → committed transactions → the column store.
//!
//! The rules are crash recovery's (`storage::recovery`): a transaction's
//! changes are buffered until its Commit record and dropped at its Abort;
//! SubAbort cuts a buffer back to a savepoint; transactions the base snapshot
//! already contains are skipped. Each frame is checked before it is used:
//!
//! ```text
//!   frame = header(crc, len, lsn, durable, kind) payload
//!   lsn must equal the end of the previous frame (no gap, no overlap)
//!   crc32c must match (what the primary wrote is what arrived)
//! ```
//!
//! A large transaction is not held in memory: once an open transaction's
//! records pass `SPILL_BYTES` of WAL, its buffered changes are dropped and
//! only their count and its savepoint rollbacks are kept. Its Commit then
//! reads the transaction's records back from the standby's local WAL copy
//! (which holds everything from the oldest open transaction's first record,
//! see `local_wal`) and applies them in chunks of `APPLY_CHUNK` changes:
//!
//! ```text
//!   open txn ── records ──► buffer ──(> SPILL_BYTES)──► count + sub-aborts only
//!   Commit ──► local WAL [first record, commit) ──► changes of this txn that
//!              no later SubAbort cut ──► store.apply, chunk by chunk
//! ```
//!
//! The chunks are applied inside one `feed` call and published only after it,
//! so a query still never sees part of a transaction; the segments they fill
//! leave memory meanwhile when it is short (`segment_writer`).
//!
//! `received` is the end of the last complete frame: a broken connection
//! resumes there with the in-flight buffers kept, so nothing is applied twice
//! and nothing is missed.
//!
//! A restarted standby resumes from a persisted snapshot (`persist`) at
//! applied LSN P: it replays from the first record of the oldest transaction
//! open at P, and before P keeps only the records of transactions open at P —
//! all others were applied before the snapshot.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use duetdb_storage::sequence::SeqState;
use duetdb_storage::txn::Snapshot;
use duetdb_storage::wal::record::{Change, FrameHeader, HEADER_LEN, WalRecord, decode_payload, frame_crc_ok, parse_header};
use duetdb_storage::{Lsn, TxnId};

use crate::columnar::{ApplyError, ColumnStore};
use crate::local_wal::LocalWal;
use crate::persist::ResumePoint;

/// WAL bytes of one open transaction past which its changes are no longer
/// buffered but read back from the local WAL at its commit.
pub const SPILL_BYTES: usize = 16 << 20;
/// Changes applied at a time when a spilled transaction commits.
const APPLY_CHUNK: usize = 64 * 1024;
/// Local WAL bytes read at a time when a spilled transaction commits.
const READ_CHUNK: usize = 4 << 20;

/// A transaction begun but not yet committed or aborted.
struct OpenTxn {
    /// LSN of its first record (a restart or a spilled commit reads from here).
    first: Lsn,
    /// Its changes so far, unless spilled.
    changes: Vec<Change>,
    /// How many changes it has so far (the next record continues there).
    count: u64,
    /// WAL bytes of its records so far.
    wal_bytes: usize,
    /// Its changes are in the local WAL only.
    spilled: bool,
    /// Savepoint rollbacks: (LSN of the SubAbort, changes kept). A change
    /// read back from the WAL is live unless a later one cut it.
    sub_aborts: Vec<(Lsn, u64)>,
}

impl OpenTxn {
    fn new(first: Lsn) -> OpenTxn {
        OpenTxn { first, changes: Vec::new(), count: 0, wal_bytes: 0, spilled: false, sub_aborts: Vec::new() }
    }

    /// A record at `at` must continue the transaction where it stands.
    fn continues_at(&self, txn: TxnId, first_seq: u64, at: Lsn) -> Result<(), ApplyError> {
        if self.count != first_seq {
            return Err(ApplyError::Invalid(format!(
                "WAL record at {at}: transaction {txn} continues at change {first_seq}, but {} were received",
                self.count
            )));
        }
        Ok(())
    }

    /// Whether change `seq` of a record at `at` survived every savepoint
    /// rollback after it.
    fn live(&self, at: Lsn, seq: u64) -> bool {
        self.sub_aborts.iter().all(|&(cut_at, kept)| cut_at < at || seq < kept)
    }
}

pub struct Applier {
    /// The base backup's snapshot: transactions it sees are already loaded.
    base: Snapshot,
    /// Open transactions.
    pending: HashMap<TxnId, OpenTxn>,
    /// The local WAL copy (`local_wal`): when set, large transactions spill.
    spill_dir: Option<PathBuf>,
    /// Transactions whose changes were read back from the local WAL.
    pub spilled_commits: u64,
    /// After a restart: records before `replay_from.0` count only for the
    /// transactions in `replay_from.1` (see the module comment).
    replay_from: Option<(Lsn, HashSet<TxnId>)>,
    /// End of the last complete frame received.
    pub received: Lsn,
    /// Partial frame carried over from the previous XLogData message.
    carry: Vec<u8>,
    pub transactions: u64,
    pub rows: u64,
    /// What a promoted standby needs beyond its tables (see `promote`):
    /// sequence states as the WAL last logged them, the primary's timeline,
    /// and the highest transaction id the stream has shown.
    pub sequences: HashMap<u32, SeqState>,
    pub timeline: u32,
    pub max_txn: TxnId,
}

impl Applier {
    /// Starts at the base backup's redo point.
    pub fn new(base: Snapshot, start: Lsn) -> Applier {
        let max_txn = base.xmax.saturating_sub(1);
        Applier {
            base,
            pending: HashMap::new(),
            spill_dir: None,
            spilled_commits: 0,
            replay_from: None,
            received: start,
            carry: Vec::new(),
            transactions: 0,
            rows: 0,
            sequences: HashMap::new(),
            timeline: 1,
            max_txn,
        }
    }

    /// The sequence states and timeline of the base backup (its manifest).
    pub fn with_origin(mut self, sequences: HashMap<u32, SeqState>, timeline: u32) -> Applier {
        self.sequences = sequences;
        self.timeline = timeline;
        self
    }

    /// Large open transactions are read back from the local WAL in `dir`
    /// at their commit instead of being held in memory.
    pub fn spill_to(mut self, dir: PathBuf) -> Applier {
        self.spill_dir = Some(dir);
        self
    }

    /// Continues after a persisted snapshot (its store holds everything
    /// applied up to `point.lsn`).
    pub fn resume(point: &ResumePoint) -> Applier {
        let mut a = Applier::new(point.base(), point.resume).with_origin(point.sequences.iter().cloned().collect(), point.timeline);
        a.max_txn = a.max_txn.max(point.max_txn);
        if point.resume < point.lsn {
            a.replay_from = Some((point.lsn, point.in_flight.iter().copied().collect()));
        }
        a
    }

    /// Where a restart would continue if the store were persisted as of
    /// `received` now.
    pub fn resume_point(&self) -> ResumePoint {
        let resume = self.pending.values().map(|t| t.first).min().unwrap_or(self.received).min(self.received);
        ResumePoint {
            lsn: self.received,
            resume,
            in_flight: self.pending.keys().copied().collect(),
            base_xmin: self.base.xmin,
            base_xmax: self.base.xmax,
            base_active: self.base.active.to_vec(),
            sequences: self.sequences.iter().map(|(k, v)| (*k, v.clone())).collect(),
            timeline: self.timeline,
            max_txn: self.max_txn,
        }
    }

    /// The open transactions (a promotion logs an Abort for each).
    pub fn in_flight_txns(&self) -> Vec<TxnId> {
        let mut v: Vec<TxnId> = self.pending.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Bytes of a partial frame held back (the local WAL holds them too).
    pub fn partial_len(&self) -> usize {
        self.carry.len()
    }

    /// Transactions begun but not yet committed, as far as the stream has shown.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Forgets a partial frame (after a reconnect: the stream resumes at `received`).
    pub fn reset_partial(&mut self) {
        self.carry.clear();
    }

    /// Feeds the frames of one XLogData message that starts at `start`;
    /// applies every transaction whose Commit is among them. Returns how many
    /// transactions were applied.
    pub fn feed(&mut self, start: Lsn, bytes: &[u8], store: &mut ColumnStore) -> Result<usize, ApplyError> {
        let expected = Lsn(self.received.0 + self.carry.len() as u64);
        if start != expected {
            return Err(ApplyError::Invalid(format!("WAL stream jumped: expected data at {expected}, got {start}")));
        }
        let data: Vec<u8>;
        let mut buf: &[u8] = if self.carry.is_empty() {
            bytes
        } else {
            self.carry.extend_from_slice(bytes);
            data = std::mem::take(&mut self.carry);
            &data
        };
        let mut applied = 0;
        while let Some((h, record)) = next_frame(buf, self.received)? {
            applied += self.record(record, &h, store)?;
            self.received = Lsn(h.lsn.0 + (HEADER_LEN + h.len) as u64);
            buf = &buf[HEADER_LEN + h.len..];
        }
        self.carry = buf.to_vec();
        Ok(applied)
    }

    fn record(&mut self, record: WalRecord, h: &FrameHeader, store: &mut ColumnStore) -> Result<usize, ApplyError> {
        let at = h.lsn;
        if let WalRecord::Changes { txn, .. } | WalRecord::Commit { txn, .. } | WalRecord::Abort { txn } | WalRecord::SubAbort { txn, .. } =
            &record
        {
            self.max_txn = self.max_txn.max(*txn);
        }
        if let Some((until, open)) = &self.replay_from {
            if at >= *until {
                self.replay_from = None;
            } else {
                let txn = match &record {
                    WalRecord::Changes { txn, .. }
                    | WalRecord::Commit { txn, .. }
                    | WalRecord::Abort { txn }
                    | WalRecord::SubAbort { txn, .. } => Some(*txn),
                    _ => None,
                };
                if !txn.is_some_and(|t| open.contains(&t)) {
                    return Ok(0);
                }
                debug_assert!(
                    !matches!(record, WalRecord::Commit { .. } | WalRecord::Abort { .. }),
                    "open at the snapshot, so it ends after it"
                );
            }
        }
        match record {
            WalRecord::Changes { txn, first_seq, changes } => {
                if !self.base.sees(txn) {
                    self.buffer(txn, first_seq, changes, h)?;
                }
            }
            WalRecord::Commit { txn, first_seq, changes, .. } => {
                if !self.base.sees(txn) {
                    if self.pending.get(&txn).is_some_and(|t| t.spilled) {
                        // Its earlier changes are in the local WAL; the
                        // Commit record's own come after them.
                        let open = self.pending.remove(&txn).expect("checked just now");
                        open.continues_at(txn, first_seq, at)?;
                        self.apply_spilled(txn, &open, at, store)?;
                        self.rows += changes.len() as u64;
                        store.apply(changes)?;
                        self.spilled_commits += 1;
                    } else {
                        self.buffer(txn, first_seq, changes, h)?;
                        let open = self.pending.remove(&txn).expect("buffered just now");
                        self.rows += open.changes.len() as u64;
                        store.apply(open.changes)?;
                    }
                    self.transactions += 1;
                    return Ok(1);
                }
            }
            WalRecord::Abort { txn } => {
                self.pending.remove(&txn);
            }
            WalRecord::SubAbort { txn, seq } => {
                if let Some(open) = self.pending.get_mut(&txn) {
                    if seq > open.count {
                        return Err(ApplyError::Invalid(format!(
                            "WAL record at {at}: transaction {txn} rolls back to change {seq} of {}",
                            open.count
                        )));
                    }
                    open.count = seq;
                    open.changes.truncate(seq as usize);
                    open.sub_aborts.push((at, seq));
                }
            }
            // Sequences and timelines matter to a promoted primary, not to the
            // column store; the rule is recovery's (the logged value is the
            // highest one handed out).
            WalRecord::Sequence { id, value, is_called } => {
                self.sequences.insert(id, SeqState { last_value: value, is_called, logged: value });
            }
            WalRecord::Timeline { timeline } => self.timeline = timeline,
        }
        Ok(0)
    }

    fn buffer(&mut self, txn: TxnId, first_seq: u64, changes: Vec<Change>, h: &FrameHeader) -> Result<(), ApplyError> {
        let at = h.lsn;
        let open = self.pending.entry(txn).or_insert_with(|| OpenTxn::new(at));
        open.continues_at(txn, first_seq, at)?;
        open.count += changes.len() as u64;
        open.wal_bytes += HEADER_LEN + h.len;
        if !open.spilled {
            if self.spill_dir.is_some() && open.wal_bytes > SPILL_BYTES {
                open.spilled = true;
                open.changes = Vec::new();
            } else {
                open.changes.extend(changes);
            }
        }
        debug_assert!(open.spilled || open.changes.len() as u64 == open.count);
        Ok(())
    }

    /// Applies the changes a spilled transaction logged before its Commit
    /// record at `commit`: its records from the local WAL, in order, without
    /// the changes a savepoint rollback cut, a chunk at a time.
    fn apply_spilled(&mut self, txn: TxnId, open: &OpenTxn, commit: Lsn, store: &mut ColumnStore) -> Result<(), ApplyError> {
        let dir = self.spill_dir.as_ref().expect("only spilled with a local WAL");
        let mut expect = open.first;
        let mut carry: Vec<u8> = Vec::new();
        let mut chunk: Vec<Change> = Vec::with_capacity(APPLY_CHUNK);
        let mut applied = 0u64;
        LocalWal::read_range::<ApplyError>(dir, open.first, commit, READ_CHUNK, |_, bytes| {
            carry.extend_from_slice(bytes);
            let mut buf = &carry[..];
            while let Some((h, record)) = next_frame(buf, expect)? {
                if let WalRecord::Changes { txn: t, first_seq, changes } = record
                    && t == txn
                {
                    for (i, c) in changes.into_iter().enumerate() {
                        if open.live(h.lsn, first_seq + i as u64) {
                            chunk.push(c);
                        }
                    }
                    if chunk.len() >= APPLY_CHUNK {
                        applied += chunk.len() as u64;
                        store.apply(std::mem::replace(&mut chunk, Vec::with_capacity(APPLY_CHUNK)))?;
                    }
                }
                expect = Lsn(h.lsn.0 + (HEADER_LEN + h.len) as u64);
                buf = &buf[HEADER_LEN + h.len..];
            }
            let used = carry.len() - buf.len();
            carry.drain(..used);
            Ok(())
        })
        .map_err(|e| match e {
            ApplyError::Invalid(m) => ApplyError::Invalid(format!("reading spilled transaction {txn} back from the local WAL: {m}")),
            e => e,
        })?;
        applied += chunk.len() as u64;
        store.apply(chunk)?;
        if applied != open.count || !carry.is_empty() {
            return Err(ApplyError::Invalid(format!(
                "spilled transaction {txn}: the local WAL from {} to {commit} holds {applied} of its {} changes",
                open.first, open.count
            )));
        }
        self.rows += applied;
        Ok(())
    }
}

/// The first frame of `buf`, which must start at `expect`, checked (LSN,
/// length, CRC) and decoded; None when `buf` holds only part of it.
fn next_frame(buf: &[u8], expect: Lsn) -> Result<Option<(FrameHeader, WalRecord)>, ApplyError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let header: &[u8; HEADER_LEN] = buf[..HEADER_LEN].try_into().unwrap();
    let h = parse_header(header);
    if h.lsn != expect {
        return Err(ApplyError::Invalid(format!("WAL frame at {} where {} was expected", h.lsn, expect)));
    }
    if h.len > duetdb_storage::wal::record::MAX_PAYLOAD {
        return Err(ApplyError::Invalid(format!("WAL frame at {} claims {} bytes", h.lsn, h.len)));
    }
    if buf.len() < HEADER_LEN + h.len {
        return Ok(None);
    }
    let payload = &buf[HEADER_LEN..HEADER_LEN + h.len];
    if !frame_crc_ok(header, payload) {
        return Err(ApplyError::Invalid(format!("WAL frame at {} fails its CRC check", h.lsn)));
    }
    let record = decode_payload(h.kind, payload).map_err(|e| ApplyError::Invalid(format!("WAL record at {}: {e}", h.lsn)))?;
    Ok(Some((h, record)))
}

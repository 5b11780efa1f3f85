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
//! `received` is the end of the last complete frame: a broken connection
//! resumes there with the in-flight buffers kept, so nothing is applied twice
//! and nothing is missed.
//!
//! A restarted standby resumes from a persisted snapshot (`persist`) at
//! applied LSN P: it replays from the first record of the oldest transaction
//! open at P, and before P keeps only the records of transactions open at P —
//! all others were applied before the snapshot.

use std::collections::{HashMap, HashSet};

use duetdb_storage::sequence::SeqState;
use duetdb_storage::txn::Snapshot;
use duetdb_storage::wal::record::{Change, HEADER_LEN, WalRecord, decode_payload, frame_crc_ok, parse_header};
use duetdb_storage::{Lsn, TxnId};

use crate::columnar::{ApplyError, ColumnStore};
use crate::persist::ResumePoint;

pub struct Applier {
    /// The base backup's snapshot: transactions it sees are already loaded.
    base: Snapshot,
    /// Open transactions: the LSN of their first record, their changes so far.
    pending: HashMap<TxnId, (Lsn, Vec<Change>)>,
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
        let resume = self.pending.values().map(|(first, _)| *first).min().unwrap_or(self.received).min(self.received);
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
        while buf.len() >= HEADER_LEN {
            let header: &[u8; HEADER_LEN] = buf[..HEADER_LEN].try_into().unwrap();
            let h = parse_header(header);
            if h.lsn != self.received {
                return Err(ApplyError::Invalid(format!("WAL frame at {} where {} was expected", h.lsn, self.received)));
            }
            if h.len > duetdb_storage::wal::record::MAX_PAYLOAD {
                return Err(ApplyError::Invalid(format!("WAL frame at {} claims {} bytes", h.lsn, h.len)));
            }
            if buf.len() < HEADER_LEN + h.len {
                break;
            }
            let payload = &buf[HEADER_LEN..HEADER_LEN + h.len];
            if !frame_crc_ok(header, payload) {
                return Err(ApplyError::Invalid(format!("WAL frame at {} fails its CRC check", h.lsn)));
            }
            let record = decode_payload(h.kind, payload).map_err(|e| ApplyError::Invalid(format!("WAL record at {}: {e}", h.lsn)))?;
            applied += self.record(record, h.lsn, store)?;
            self.received = Lsn(h.lsn.0 + (HEADER_LEN + h.len) as u64);
            buf = &buf[HEADER_LEN + h.len..];
        }
        self.carry = buf.to_vec();
        Ok(applied)
    }

    fn record(&mut self, record: WalRecord, at: Lsn, store: &mut ColumnStore) -> Result<usize, ApplyError> {
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
                    self.buffer(txn, first_seq, changes, at)?;
                }
            }
            WalRecord::Commit { txn, first_seq, changes, .. } => {
                if !self.base.sees(txn) {
                    self.buffer(txn, first_seq, changes, at)?;
                    let all = self.pending.remove(&txn).map(|(_, c)| c).unwrap_or_default();
                    self.rows += all.len() as u64;
                    store.apply(all)?;
                    self.transactions += 1;
                    return Ok(1);
                }
            }
            WalRecord::Abort { txn } => {
                self.pending.remove(&txn);
            }
            WalRecord::SubAbort { txn, seq } => {
                if let Some((_, b)) = self.pending.get_mut(&txn) {
                    b.truncate(seq as usize);
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

    fn buffer(&mut self, txn: TxnId, first_seq: u64, changes: Vec<Change>, at: Lsn) -> Result<(), ApplyError> {
        let (_, buf) = self.pending.entry(txn).or_insert_with(|| (at, Vec::new()));
        if buf.len() as u64 != first_seq {
            return Err(ApplyError::Invalid(format!(
                "WAL record at {at}: transaction {txn} continues at change {first_seq}, but {} were received",
                buf.len()
            )));
        }
        buf.extend(changes);
        Ok(())
    }
}

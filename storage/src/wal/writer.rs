//! The WAL writer: appends, group commit, durability notifications.
//!
//! Appenders copy framed records into an in-memory buffer under a short lock;
//! one writer thread takes the whole buffer and makes it durable with one
//! synchronous write (`segment_file`: direct I/O, or write + `fdatasync`), then
//! announces the new flushed LSN. Commits that arrive while a flush runs pile
//! up in the next buffer and share the next flush — group commit falls out of
//! the structure, with no timers:
//!
//! ```text
//!   committers ──append──► [ buffer A ]      writer thread: take A, write durably
//!   committers ──append──► [ buffer B ]  ◄── (meanwhile B fills)  then take B, …
//!   waiters: wait_flushed(my_lsn) ◄── flushed LSN (watch channel) ── after each flush
//! ```
//!
//! Invariants:
//! - LSNs are assigned in append order and the log has no gaps: the record at
//!   `lsn` ends where the next begins.
//! - The flushed LSN only moves forward and only past bytes whose durable
//!   write returned. A commit is acknowledged only after its LSN is flushed.
//! - A new segment is a zero-filled file from `prealloc` when one is ready, so
//!   a flush persists data, not a growing file size; the never-written rest
//!   of a segment reads as zeros, which the reader takes as the end of the log.
//! - The buffer is bounded (`max_buffer`): appenders wait for the writer instead
//!   of growing memory without limit during a bulk load.
//! - An I/O error while writing or syncing is fatal for the log: after a failed
//!   fsync the page cache can no longer be trusted (PostgreSQL PANICs here), so
//!   every waiter and every later append gets the error and the server stops.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::prealloc::{self, Preallocator};
use super::record::{Kind, encode_frame};
use super::segment::{list_segments, segment_for, segment_path, sync_dir};
use super::segment_file::SegmentFile;
use crate::error::{Error, Result};
use crate::lsn::Lsn;

/// Where a brand-new log begins. LSN 0 stays free to mean "none", as in PostgreSQL.
pub const FIRST_LSN: Lsn = Lsn(0x0100_0000);

#[derive(Clone, Debug)]
pub struct WalConfig {
    /// Target size of a segment file.
    pub segment_size: u64,
    /// Most bytes appended but not yet taken by the writer.
    pub max_buffer: usize,
    /// Skip fdatasync (tests and throwaway demos only: nothing is durable).
    pub fsync: bool,
    /// Zero-fill the next segment ahead of time (see `prealloc`); only with `fsync`.
    pub preallocate: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig { segment_size: 16 << 20, max_buffer: 32 << 20, fsync: true, preallocate: true }
    }
}

struct InsertState {
    /// Framed records not yet taken by the writer; `buf[0]` is at `buf_start`.
    buf: Vec<u8>,
    buf_start: Lsn,
    /// Where the next record goes.
    next: Lsn,
    /// Start of the segment the next record would go into.
    seg_start: Lsn,
    /// New segments that begin inside `buf`, in order.
    boundaries: Vec<Lsn>,
}

/// Counters for metrics and benchmarks.
#[derive(Default, Debug)]
pub struct WalStats {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub flushes: AtomicU64,
    /// Flushes written with direct I/O (see `segment_file`).
    pub direct_flushes: AtomicU64,
    pub flush_micros: AtomicU64,
}

struct Shared {
    dir: PathBuf,
    config: WalConfig,
    insert: Mutex<InsertState>,
    data_ready: Condvar,
    space_ready: Condvar,
    flushed_tx: watch::Sender<Lsn>,
    flushed: AtomicU64,
    failure: Mutex<Option<String>>,
    shutdown: AtomicBool,
    /// Live `Follower`s: while there are any, appends go through the page cache.
    followers: AtomicUsize,
    stats: WalStats,
    prealloc: Option<Preallocator>,
}

/// A reader tailing the live log; see [`Wal::follow`].
pub struct Follower {
    /// Each new flushed LSN.
    pub flushed: watch::Receiver<Lsn>,
    shared: Arc<Shared>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.shared.followers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Handle to the write-ahead log. Dropping it flushes what was appended and stops the writer.
pub struct Wal {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Wal {
    /// Opens the log in `dir` for appending at `end` (where recovery found the
    /// last valid record to end). Segment files past `end` are garbage from a
    /// torn tail and are removed; in the file holding `end`, whatever follows
    /// `end` is zeroed (the file keeps its length: a preallocated segment
    /// stays preallocated).
    pub fn open(dir: &Path, end: Lsn, config: WalConfig) -> Result<Wal> {
        std::fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        for &s in segments.iter().filter(|&&s| s > end) {
            std::fs::remove_file(segment_path(dir, s))?;
        }
        let seg_start = match segment_for(&segments, end) {
            Some(s) => s,
            None => end,
        };
        let path = segment_path(dir, seg_start);
        let file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path)?;
        let wiped = prealloc::zero_tail(&file, end.0 - seg_start.0)?;
        if wiped > 0 {
            tracing::info!(bytes = wiped, at = %end, "zeroed what a torn write left after the end of the log");
        }
        file.sync_all()?;
        drop(file);
        sync_dir(dir)?;
        let file = SegmentFile::open(&path, end.0 - seg_start.0, config.fsync)?;
        let prealloc = if config.fsync && config.preallocate { Some(Preallocator::start(dir, config.segment_size)?) } else { None };

        let (flushed_tx, _) = watch::channel(end);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            config,
            insert: Mutex::new(InsertState {
                buf: Vec::with_capacity(1 << 20),
                buf_start: end,
                next: end,
                seg_start,
                boundaries: Vec::new(),
            }),
            data_ready: Condvar::new(),
            space_ready: Condvar::new(),
            flushed_tx,
            flushed: AtomicU64::new(end.0),
            failure: Mutex::new(None),
            shutdown: AtomicBool::new(false),
            followers: AtomicUsize::new(0),
            stats: WalStats::default(),
            prealloc,
        });
        let writer_shared = shared.clone();
        let thread = std::thread::Builder::new().name("wal-writer".into()).spawn(move || writer_loop(writer_shared, file, seg_start))?;
        Ok(Wal { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Appends one record; returns its (start, end) LSNs. The record is not
    /// durable until `flushed_lsn() >= end`.
    pub fn append(&self, kind: Kind, payload: &[u8]) -> Result<(Lsn, Lsn)> {
        self.check_failed()?;
        let s = &self.shared;
        let frame_len = super::record::HEADER_LEN + payload.len();
        let mut st = s.insert.lock();
        // Bounded buffer: wait for the writer rather than grow without limit.
        while !st.buf.is_empty() && st.buf.len() + frame_len > s.config.max_buffer {
            // The writer records a failure under this lock, so it is seen
            // here or its wakeup reaches the wait.
            if s.failure.lock().is_some() {
                drop(st);
                self.check_failed()?;
                unreachable!();
            }
            s.space_ready.wait(&mut st);
        }
        let lsn = st.next;
        if lsn.0 - st.seg_start.0 >= s.config.segment_size {
            st.boundaries.push(lsn);
            st.seg_start = lsn;
        }
        let durable = Lsn(s.flushed.load(Ordering::Acquire));
        encode_frame(&mut st.buf, lsn, durable, kind, payload);
        st.next = Lsn(lsn.0 + frame_len as u64);
        debug_assert_eq!(st.buf_start.0 + st.buf.len() as u64, st.next.0);
        let end = st.next;
        drop(st);
        s.stats.records.fetch_add(1, Ordering::Relaxed);
        s.stats.bytes.fetch_add(frame_len as u64, Ordering::Relaxed);
        s.data_ready.notify_one();
        Ok((lsn, end))
    }

    /// Where the next record will go (everything before it has been appended).
    pub fn insert_lsn(&self) -> Lsn {
        self.shared.insert.lock().next
    }

    /// Everything before this LSN is on disk.
    pub fn flushed_lsn(&self) -> Lsn {
        Lsn(self.shared.flushed.load(Ordering::Acquire))
    }

    /// A reader tailing the live log (a WAL sender) announces itself with
    /// this, and is woken through it after each flush. While any follower
    /// exists the writer goes through the page cache (see `segment_file`),
    /// where the follower then finds what was just written instead of
    /// reading it back from the device (PostgreSQL, too, writes its WAL
    /// directly only where no WAL sender can read it).
    pub fn follow(&self) -> Follower {
        self.shared.followers.fetch_add(1, Ordering::SeqCst);
        Follower { flushed: self.shared.flushed_tx.subscribe(), shared: self.shared.clone() }
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    fn check_failed(&self) -> Result<()> {
        match &*self.shared.failure.lock() {
            Some(e) => Err(Error::Io(format!("write-ahead log failed earlier: {e}"))),
            None => Ok(()),
        }
    }

    /// Waits until the log is durable up to `lsn`.
    pub async fn wait_flushed(&self, lsn: Lsn) -> Result<()> {
        if self.flushed_lsn() >= lsn {
            return Ok(());
        }
        let mut rx = self.shared.flushed_tx.subscribe();
        let _ = rx.wait_for(|f| *f >= lsn).await;
        self.check_failed()
    }

    /// Blocking form of [`Wal::wait_flushed`], for threads outside the async runtime.
    pub fn wait_flushed_blocking(&self, lsn: Lsn) -> Result<()> {
        if self.flushed_lsn() >= lsn {
            return Ok(());
        }
        futures::executor::block_on(self.wait_flushed(lsn))
    }

    /// Removes segment files that hold only log before `keep_from`. The segment
    /// being written is never removed.
    pub fn remove_before(&self, keep_from: Lsn) -> Result<usize> {
        let current = self.shared.insert.lock().seg_start;
        let segments = list_segments(&self.shared.dir)?;
        let mut removed = 0;
        for pair in segments.windows(2) {
            let (seg, next) = (pair[0], pair[1]);
            if next <= keep_from && seg < current {
                std::fs::remove_file(segment_path(&self.shared.dir, seg))?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(&self.shared.dir)?;
        }
        Ok(removed)
    }

    /// Oldest LSN still on disk.
    pub fn oldest_lsn(&self) -> Result<Lsn> {
        Ok(list_segments(&self.shared.dir)?.first().copied().unwrap_or_else(|| self.flushed_lsn()))
    }

    /// Flushes everything appended so far and stops the writer thread.
    pub fn shutdown(&self) {
        let end = self.insert_lsn();
        let _ = self.wait_flushed_blocking(end);
        {
            // Under the lock the writer checks the flag with: otherwise the
            // notification can fall between its check and its wait, and it
            // sleeps forever (a lost wakeup; seen as a hang in Engine drop).
            let _st = self.shared.insert.lock();
            self.shared.shutdown.store(true, Ordering::Release);
            self.shared.data_ready.notify_all();
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        if let Some(p) = &self.shared.prealloc {
            p.shutdown();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn writer_loop(s: Arc<Shared>, mut file: SegmentFile, mut file_start: Lsn) {
    let mut spare: Vec<u8> = Vec::with_capacity(1 << 20);
    // The segment for which a spare file was last requested.
    let mut requested_for = None;
    loop {
        let (bytes, start, boundaries) = {
            let mut st = s.insert.lock();
            while st.buf.is_empty() {
                if s.shutdown.load(Ordering::Acquire) {
                    return;
                }
                #[cfg(test)]
                tests::widen_shutdown_race();
                s.data_ready.wait(&mut st);
            }
            let start = st.buf_start;
            std::mem::swap(&mut st.buf, &mut spare);
            st.buf_start = st.next;
            let boundaries = std::mem::take(&mut st.boundaries);
            (std::mem::take(&mut spare), start, boundaries)
        };
        s.space_ready.notify_all();

        let end = Lsn(start.0 + bytes.len() as u64);
        let began = Instant::now();
        let result = write_batch(&s, &mut file, &mut file_start, start, &bytes, &boundaries);
        if let Err(e) = result {
            tracing::error!(error = %e, "write-ahead log write failed; the log is unusable until restart");
            {
                let _st = s.insert.lock();
                *s.failure.lock() = Some(e.to_string());
                // Wake everyone: waiters re-check the failure.
                s.space_ready.notify_all();
            }
            s.flushed_tx.send_replace(Lsn(u64::MAX));
            return;
        }
        // Half way through a segment, have the next one zero-filled.
        if let Some(p) = &s.prealloc
            && requested_for != Some(file_start)
            && end.0 - file_start.0 >= s.config.segment_size / 2
        {
            p.request();
            requested_for = Some(file_start);
        }
        s.stats.flushes.fetch_add(1, Ordering::Relaxed);
        s.stats.flush_micros.fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
        s.flushed.store(end.0, Ordering::Release);
        s.flushed_tx.send_replace(end);

        spare = bytes;
        spare.clear();
        if spare.capacity() > 8 << 20 {
            spare = Vec::with_capacity(1 << 20);
        }
    }
}

fn write_batch(s: &Shared, file: &mut SegmentFile, file_start: &mut Lsn, start: Lsn, bytes: &[u8], boundaries: &[Lsn]) -> Result<()> {
    // A follower reads what this batch writes right after it: through the
    // page cache it finds it there, around it it would read the device.
    let direct = s.followers.load(Ordering::SeqCst) == 0;
    let mut pos = start;
    for &b in boundaries {
        assert!(b >= pos && b.0 <= start.0 + bytes.len() as u64, "segment boundary outside the batch");
        // The old file is complete and durable before the next one begins,
        // in a zero-filled file if one is ready.
        file.append(&bytes[(pos.0 - start.0) as usize..(b.0 - start.0) as usize], direct)?;
        let path = segment_path(&s.dir, b);
        *file = match &s.prealloc {
            Some(p) if p.take(&path) => SegmentFile::open(&path, 0, s.config.fsync)?,
            _ => SegmentFile::create(&path, s.config.fsync)?,
        };
        if s.config.fsync {
            sync_dir(&s.dir)?;
        }
        *file_start = b;
        pos = b;
    }
    file.append(&bytes[(pos.0 - start.0) as usize..], direct)?;
    if direct && file.can_write_direct() {
        s.stats.direct_flushes.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    static WIDEN: AtomicBool = AtomicBool::new(false);

    /// Fault injection: stretches the writer's moment between checking the
    /// shutdown flag and waiting, where a shutdown's wakeup could be lost.
    pub(super) fn widen_shutdown_race() {
        if WIDEN.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Dropping a log stops its writer thread every time, even when the
    /// shutdown lands while the writer is between its check and its wait.
    #[test]
    fn drop_never_hangs_on_the_writer_thread() {
        WIDEN.store(true, Ordering::Relaxed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let config = WalConfig { fsync: false, ..WalConfig::default() };
            let mut end = Lsn(0);
            for i in 0..200 {
                let wal = Wal::open(&path, end, config.clone()).unwrap();
                if i % 2 == 0 {
                    end = wal.append(Kind::Abort, &[0; 8]).unwrap().1;
                }
                drop(wal);
            }
            done_tx.send(()).unwrap();
        });
        done_rx.recv_timeout(Duration::from_secs(60)).expect("a Wal drop hung waiting for its writer thread");
    }
}

//! Writing a segment's rows to a Parquet file of its own: by the persist that
//! names the segment in a manifest, or sooner, while a transaction too large
//! for the standby's memory is still being applied.
//!
//! A transaction is published whole, after its last change is applied
//! (`apply`), and a segment can leave memory only once it has a file. So
//! without help, a 50-million-row transaction would hold all its sealed
//! segments in memory until its commit is published and persisted. Apply
//! therefore hands each segment it seals mid-transaction, while the pool is
//! over its limit, to the [`SealedWriter`]: a thread of its own that writes
//! the file and evicts the rows. Its queue is bounded, so apply waits when
//! the disk is slower than the WAL:
//!
//! ```text
//!   apply ── seal (pool over limit) ──► queue (≤ QUEUE) ──► writer thread: encode, put, attach, evict
//!                                                                 │
//!   publish ─► snapshot names the segment ─► persist: file already there, manifest names it
//! ```
//!
//! A file nobody names yet must not be swept by a concurrent persist
//! (`Persister::remove_unreferenced` deletes what no segment names): the
//! writer reserves the name in the pool before the file exists and holds it
//! until the segment names it. A crash leaves such files unnamed by any
//! manifest; the next persist sweeps them. Each segment is written at most
//! once: writers of the same segment take its write lock and the second finds
//! the file attached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use bytes::Bytes;
use datafusion::arrow::record_batch::RecordBatch;
use object_store::ObjectStoreExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::column_stats::SKETCH_MIN_ROWS;
use crate::persist::PersistError;
use crate::segment::{ROW_GROUP_ROWS, Segment, SegmentFile};

/// Sealed segments waiting for the writer thread at most (each is at most
/// `columnar::MAX_DELTA_ROWS` rows): past this, apply waits.
const QUEUE: usize = 2;

/// Writes `segment`'s rows (it must be resident, or have a file already) to
/// a new file named `<prefix>_…`, unless another writer did. Returns the
/// bytes written (0: the file was there).
pub async fn write_file(segment: &Arc<Segment>, prefix: &str) -> Result<u64, PersistError> {
    let _one_writer = segment.write_lock.lock().await;
    if segment.file().is_some() {
        return Ok(0);
    }
    let batch = segment.data().expect("a segment without a file is in memory");
    let seg = segment.clone();
    let data = tokio::task::spawn_blocking(move || encode(&seg, &batch))
        .await
        .map_err(|e| PersistError::Manifest(format!("encoding a segment: {e}")))??;
    let data = Bytes::from(data);
    let meta = SegmentFile::footer_of(&data)?;
    let pool = segment.pool();
    let name = pool.new_file_name(prefix);
    let size = data.len() as u64;
    // Reserved before the file exists, released once the segment names it.
    pool.add_ref(&name);
    let put = pool.location().store.put(&pool.path(&name), data.into()).await;
    let attached = put.map_err(PersistError::from).and_then(|_| {
        let groups = meta.metadata().num_row_groups();
        segment.attach_file(SegmentFile::new(name.clone(), size, meta, 0..groups)?);
        Ok(size)
    });
    pool.drop_ref(&name);
    attached
}

/// A segment's rows as a Parquet file, with the distinct-count sketches of
/// its columns in the footer (`column_stats`) when it is large enough to
/// keep them. Computing the segment's column statistics here, off the
/// query path, also spares the first query that plans over it.
fn encode(segment: &Segment, batch: &RecordBatch) -> Result<Vec<u8>, PersistError> {
    let mut sketches: Vec<KeyValue> = Vec::new();
    for fc in 1..batch.num_columns() {
        if let Some(summary) = segment.summary(fc)
            && batch.num_rows() >= SKETCH_MIN_ROWS
            && let Some(kv) = summary.sketch_metadata(fc)
        {
            sketches.push(kv);
        }
    }
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata((!sketches.is_empty()).then_some(sketches))
        .build();
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 2);
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(buf)
}

/// The writer thread of one column store (see the module comment).
pub struct SealedWriter {
    tx: SyncSender<(Arc<Segment>, String)>,
    /// Segments submitted and not yet written (or failed).
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for SealedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedWriter")
    }
}

impl SealedWriter {
    /// Starts the thread; it does its I/O on `runtime` and ends when the
    /// last handle is dropped and its queue is empty.
    pub fn start(runtime: tokio::runtime::Handle) -> std::io::Result<Arc<SealedWriter>> {
        let (tx, rx) = sync_channel(QUEUE);
        let pending = Arc::new(AtomicUsize::new(0));
        let done = pending.clone();
        std::thread::Builder::new().name("segment-writer".into()).spawn(move || write_loop(rx, runtime, &done))?;
        Ok(Arc::new(SealedWriter { tx, pending }))
    }

    /// Segments submitted and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Queues `segment` to be written and evicted; waits while the queue
    /// is full (backpressure on apply).
    pub fn submit(&self, segment: Arc<Segment>, prefix: String) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let item = match self.tx.try_send((segment, prefix)) {
            Ok(()) => return,
            Err(TrySendError::Disconnected(_)) => {
                self.pending.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            Err(TrySendError::Full(item)) => item,
        };
        let send = || {
            if self.tx.send(item).is_err() {
                self.pending.fetch_sub(1, Ordering::AcqRel);
            }
        };
        // On a runtime worker, hand the worker's other tasks to another
        // thread while this one waits for the disk.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(send),
            _ => send(),
        }
    }
}

fn write_loop(rx: Receiver<(Arc<Segment>, String)>, runtime: tokio::runtime::Handle, pending: &AtomicUsize) {
    while let Ok((segment, prefix)) = rx.recv() {
        match runtime.block_on(write_file(&segment, &prefix)) {
            Ok(_) => {
                if segment.pool().over_limit() {
                    segment.evict();
                }
            }
            // The segment stays in memory; the next persist writes it.
            Err(e) => tracing::warn!(error = %e, rows = segment.rows(), "writing a sealed segment ahead of its persist failed"),
        }
        drop(segment);
        pending.fetch_sub(1, Ordering::AcqRel);
    }
}

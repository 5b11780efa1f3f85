//! duetdb's replication: the primary's WAL streamed to standbys that keep the
//! data as Arrow columns and answer queries through DataFusion.
//!
//! ```text
//!   primary                                   standby
//!   ───────                                   ───────
//!   checkpoint (Parquet + manifest) ─BASE_BACKUP─► base: Arrow segments as of snapshot S
//!   WAL frames (CRC'd, as on disk) ─START_REPLICATION (CopyBoth)─► apply: per committed txn
//!        ▲                                           │ deletes → delete vectors,
//!        └──── status 'r' (write/flush/apply LSN) ◄──┘ inserts → append delta
//!                                                    ▼
//!                                  publish: one immutable ColumnSnapshot per applied LSN
//!                                                    ▼
//!                                  DataFusion scans of that snapshot (pgwire, same server code)
//! ```
//!
//! The modules: `messages` (what travels inside CopyData), `client` (a small
//! PostgreSQL frontend for replication connections), `sender` (the primary's
//! side: WAL frames from a start LSN, tailing the flushed LSN), `base_backup`
//! (the checkpoint shipped as the standby's starting state), `apply` (WAL →
//! committed transactions, the same rules as crash recovery), `columnar`
//! (segments, deltas, delete vectors, snapshots), `segment` (a segment's rows
//! in memory or in Parquet, and the pool that bounds the memory),
//! `segment_writer` (a segment's Parquet file, written ahead of its persist
//! while a large transaction is applied),
//! `column_stats` (min/max, nulls and distinct-count sketches the planner
//! estimates from), `persist`
//! (snapshots as Parquet + manifest), `table` (DataFusion's view of a
//! snapshot table: pruned, read from memory or Parquet), `dynamic_filter`
//! (a join's run-time key filter applied in the scan, when it pays),
//! `sampled_selectivity` (a filter's share of rows measured on a sample), `row_locations` (where each row id lives, in
//! a fraction of a byte per row), `receiver` (the
//! standby's loop: build, stream, reconnect).
//!
//! Invariants:
//! - A snapshot holds whole transactions only: it is published between
//!   transactions, at the end LSN of the last one applied.
//! - Snapshots are immutable; apply builds the next one beside it (segments
//!   shared, delete vectors copied on write), so queries never block apply and
//!   apply never cancels queries.
//! - The standby applies each transaction exactly once: base snapshot S plus
//!   the WAL from S's redo point, skipping transactions S already contains;
//!   after a broken connection it resumes at the end of the last complete
//!   record it received, keeping transactions still in flight.

pub mod apply;
pub mod base_backup;
pub mod client;
pub mod column_stats;
pub mod columnar;
pub mod dynamic_filter;
pub mod local_wal;
pub mod messages;
pub mod persist;
pub mod promote;
pub mod receiver;
pub mod row_locations;
pub mod sampled_selectivity;
pub mod segment;
pub mod segment_writer;
pub mod sender;
pub mod table;

pub use columnar::{ColumnSnapshot, ColumnStore};
pub use receiver::{Standby, StandbyConfig};

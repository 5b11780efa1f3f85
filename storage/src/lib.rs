//! duetdb's storage engine: an in-memory MVCC row store made durable by a
//! write-ahead log and Parquet checkpoints.
//!
//! ```text
//!   Transaction ──writes──► version chains (table, index)       in memory
//!        │                        ▲
//!        │ commit                 │ recovery: checkpoint + replay
//!        ▼                        │
//!   WAL (segments, group commit) ─┴─► WAL readers: recovery, replication
//!        ▲
//!   checkpoints (Parquet via object_store) ◄── MVCC snapshot, writers keep running
//! ```
//!
//! The modules, bottom-up: `types`/`row`/`keycode` (values and their bytes),
//! `catalog` (schema), `wal` (durability), `txn`/`version`/`lock` (MVCC),
//! `table`/`index`/`btree` (where rows live), `transaction` (the API), `checkpoint`/
//! `recovery` (restart), `gc` (vacuum), `engine` (ties it together).
//!
//! Invariants the rest of duetdb relies on:
//! - A commit is acknowledged only after its WAL record is durable
//!   (unless the session chose `synchronous_commit = off`).
//! - A transaction's changes become visible to others at one instant, and
//!   reach the WAL before that instant.
//! - Row ids are stable and never reused, so the WAL can name rows by them.
//! - The WAL holds every committed change after the newest checkpoint's redo
//!   point, and every change any replication slot still needs.

pub mod arrow_conv;
pub mod btree;
pub mod catalog;
pub mod checkpoint;
pub mod engine;
pub mod error;
pub mod gc;
pub mod index;
pub mod json;
pub mod keycode;
pub mod lock;
pub mod lsn;
pub mod reader;
pub mod reclaim;
pub mod recovery;
pub mod row;
pub mod sequence;
pub mod slots;
pub mod store;
pub mod table;
pub mod transaction;
pub mod txn;
pub mod types;
pub mod version;
pub mod view;
pub mod wal;

/// A transaction id. 0 means "none", 1 is the frozen bootstrap transaction.
pub type TxnId = u64;
/// A row's stable identity within its table.
pub type RowId = u64;

pub use catalog::{Catalog, ColumnDef, IndexDef, TableDef};
pub use engine::{Engine, EngineConfig};
pub use error::{Error, Result};
pub use lsn::Lsn;
pub use transaction::{PendingCommit, RowLockMode, Transaction, WriteOutcome};
pub use txn::{Isolation, Snapshot};
pub use types::{DataType, Value};
pub use view::ReadView;

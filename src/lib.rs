//! duetdb: a PostgreSQL-compatible OLTP primary whose standbys turn the
//! write-ahead log into Arrow columns for analytics.
//!
//! ```text
//!   client ─pgwire─► protocol ─► session ─► sql (parse, plan, DataFusion)
//!                                   │            │
//!                                   ▼            ▼
//!                    storage (row store, MVCC, WAL)   pg_catalog views
//!                                   │ WAL
//!                                   ▼
//!                    replication ─► standby (Arrow/Parquet, DataFusion)
//! ```
//!
//! See `docs/architecture.md` for the data flow and each layer's invariants.

pub mod config;
pub mod connection_threads;
pub mod demo;
pub mod error;
pub mod huge_pages;
pub mod logging;
pub mod metrics;
pub mod metrics_http;
pub mod node;
pub mod om;
pub mod pg;
pub mod promote;
pub mod protocol;
pub mod server;
pub mod session;
pub mod session_balancer;
pub mod settings;
pub mod sql;
pub mod standby;
pub mod tls;
pub mod walsender;

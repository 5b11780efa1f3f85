//! Counters for the Prometheus endpoint (`metrics_port`) and `duetdb status`.
//!
//! Plain atomics, bumped on hot paths without locks; the endpoint renders them
//! together with engine and replication gauges in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub commits: AtomicU64,
    pub rollbacks: AtomicU64,
    pub statements: AtomicU64,
    pub errors: AtomicU64,
    pub connections_total: AtomicU64,
    /// Sum of commit latencies (µs) and their count, for the mean.
    pub commit_micros: AtomicU64,
    /// Commit latency histogram buckets (µs upper bounds).
    pub commit_buckets: [AtomicU64; 8],
}

pub const COMMIT_BUCKETS: [u64; 8] = [250, 500, 1000, 2500, 5000, 10_000, 50_000, u64::MAX];

impl Metrics {
    pub fn commit(&self, micros: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
        for (i, b) in COMMIT_BUCKETS.iter().enumerate() {
            if micros <= *b {
                self.commit_buckets[i].fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }

    /// Renders the counters in Prometheus text exposition format.
    pub fn render(&self, out: &mut String) {
        let c = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP duetdb_commits_total Transactions committed.\n# TYPE duetdb_commits_total counter\nduetdb_commits_total {}",
            c(&self.commits)
        );
        let _ = writeln!(
            out,
            "# HELP duetdb_rollbacks_total Transactions rolled back.\n# TYPE duetdb_rollbacks_total counter\nduetdb_rollbacks_total {}",
            c(&self.rollbacks)
        );
        let _ = writeln!(
            out,
            "# HELP duetdb_statements_total Statements executed.\n# TYPE duetdb_statements_total counter\nduetdb_statements_total {}",
            c(&self.statements)
        );
        let _ = writeln!(
            out,
            "# HELP duetdb_errors_total Statements that failed.\n# TYPE duetdb_errors_total counter\nduetdb_errors_total {}",
            c(&self.errors)
        );
        let _ = writeln!(
            out,
            "# HELP duetdb_connections_total Connections accepted.\n# TYPE duetdb_connections_total counter\nduetdb_connections_total {}",
            c(&self.connections_total)
        );
        let _ = writeln!(
            out,
            "# HELP duetdb_commit_latency_seconds Commit latency (durable, including synchronous replication).\n# TYPE duetdb_commit_latency_seconds histogram"
        );
        let mut cum = 0;
        for (i, b) in COMMIT_BUCKETS.iter().enumerate() {
            cum += c(&self.commit_buckets[i]);
            let le = if *b == u64::MAX { "+Inf".to_string() } else { format!("{}", *b as f64 / 1e6) };
            let _ = writeln!(out, "duetdb_commit_latency_seconds_bucket{{le=\"{le}\"}} {cum}");
        }
        let _ = writeln!(out, "duetdb_commit_latency_seconds_sum {}", c(&self.commit_micros) as f64 / 1e6);
        let _ = writeln!(out, "duetdb_commit_latency_seconds_count {}", c(&self.commits));
    }
}

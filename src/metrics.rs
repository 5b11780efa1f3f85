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
    /// Simple-query statements run from a cached plan, without parsing.
    pub templated: AtomicU64,
    pub connections_total: AtomicU64,
    /// Idle sessions moved to another connection thread (`session_affinity`).
    pub session_moves: AtomicU64,
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
        counter(out, "duetdb_commits_total", "Transactions committed.", c(&self.commits));
        counter(out, "duetdb_rollbacks_total", "Transactions rolled back.", c(&self.rollbacks));
        counter(out, "duetdb_statements_total", "Statements executed.", c(&self.statements));
        counter(out, "duetdb_errors_total", "Statements that failed.", c(&self.errors));
        counter(
            out,
            "duetdb_statements_templated_total",
            "Simple-query statements run from a plan cached for their text with constants as parameters (not parsed).",
            c(&self.templated),
        );
        counter(out, "duetdb_connections_total", "Connections accepted.", c(&self.connections_total));
        counter(
            out,
            "duetdb_session_moves_total",
            "Idle sessions moved to another connection thread (session_affinity).",
            c(&self.session_moves),
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

/// One counter in the Prometheus text format (HELP, TYPE, value).
pub fn counter(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
}

/// One gauge in the Prometheus text format.
pub fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
}

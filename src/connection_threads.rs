//! Connection threads: where client sessions run.
//!
//! A connection is served, from its startup packet to its last message, on
//! one of N threads, each a single-threaded tokio runtime of its own
//! (`connection_threads`, default one per CPU core). The accept loop deals
//! new connections out round-robin:
//!
//! ```text
//!   accept loop ──┬──▶ connection thread 0: session, session, …
//!  (shared pool)  └──▶ connection thread 1: session, session, …
//!                              │ a DataFusion plan's execution
//!                              ▼
//!                       shared worker pool (query::execute), batches back
//! ```
//!
//! Why: on tokio's work-stealing pool a statement's round trip — socket
//! readable, session runs, waits for its WAL flush, answers — woke tasks on
//! one worker and handed them to others, and the futex wakeups and context
//! switches that cost were a quarter of the server's CPU per transaction. A
//! session on its own thread is woken by the kernel where it runs. Measured
//! (docs/benchmarks.md, 2026-12-05): pgbench tpcb-like `-M prepared` 8.1–8.5K
//! → 9.1K TPS, server CPU 122–129 → 109–112 µs per transaction.
//!
//! The cost: sessions that share a thread share its CPU, so a statement that
//! computes long without awaiting delays the others on its thread. What runs
//! long — DataFusion's scans, joins and aggregates — therefore runs on the
//! shared pool (its partitions in parallel, as before) and the session awaits
//! the batches; the session thread keeps protocol work, the key-lookup fast
//! path and applying DML, whose row writes yield now and then.
//!
//! Invariants: a connection never moves between threads; the queue between
//! the accept loop and a thread holds sockets only, and a thread takes each
//! as soon as it next waits (a row-writing statement yields every 128 writes,
//! see `take_turn` in the engine), so the queue is as long as the sockets
//! accepted in that moment — max_connections is then enforced at startup, on
//! the thread; a thread ends only once the accept loop has ended *and* its
//! last session has closed, so a smart shutdown, which stops accepting and
//! then waits for sessions, does not cut them off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::server::Server;

/// Whether this code runs on a connection thread's own runtime (a
/// single-threaded one), not on a worker of the shared pool.
pub fn on_connection_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Runs `f`, which blocks (a sleep, a file read). On a worker of the shared
/// pool tokio is told first (`block_in_place`), so the worker's other tasks
/// move on; a single-threaded runtime has nowhere to move them to, and
/// `block_in_place` would panic there, so `f` just runs.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A connection handed to a thread: the socket leaves the accepting
/// runtime's reactor and joins the thread's.
struct Handoff {
    socket: std::net::TcpStream,
    peer: SocketAddr,
    server: Arc<Server>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

pub struct ConnectionThreads {
    queues: Vec<tokio::sync::mpsc::UnboundedSender<Handoff>>,
    next: AtomicUsize,
}

impl ConnectionThreads {
    /// Starts `n` threads (n ≥ 1). Their DataFusion work goes to the pool
    /// of the runtime this is called on.
    pub fn start(n: usize) -> std::io::Result<ConnectionThreads> {
        assert!(n >= 1, "at least one connection thread");
        if let Ok(pool) = tokio::runtime::Handle::try_current() {
            crate::sql::query::set_query_pool(pool);
        }
        let mut queues = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("duetdb-conn-{i}")).spawn(move || runtime.block_on(serve_handoffs(rx)))?;
            queues.push(tx);
        }
        Ok(ConnectionThreads { queues, next: AtomicUsize::new(0) })
    }

    /// Serves a connection on the next thread in turn.
    pub fn serve(&self, socket: tokio::net::TcpStream, peer: SocketAddr, server: Arc<Server>, tls: Option<tokio_rustls::TlsAcceptor>) {
        let socket = match socket.into_std() {
            Ok(s) => s,
            Err(e) => return tracing::warn!(%peer, error = %e, "could not hand the connection to a session thread"),
        };
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        // A thread's loop ends only when this sender is dropped, so this
        // cannot fail while the thread lives; should the thread have died,
        // the client sees its connection closed and accepting goes on.
        if self.queues[i].send(Handoff { socket, peer, server, tls }).is_err() {
            tracing::error!(%peer, thread = i, "connection thread has ended; connection closed");
        }
    }
}

/// One thread's loop: serves what it is handed until the accept loop ends,
/// then waits for its sessions to close.
async fn serve_handoffs(mut queue: tokio::sync::mpsc::UnboundedReceiver<Handoff>) {
    let live = Arc::new(AtomicUsize::new(0));
    while let Some(h) = queue.recv().await {
        let socket = match tokio::net::TcpStream::from_std(h.socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(peer = %h.peer, error = %e, "could not register the connection");
                continue;
            }
        };
        let session = Live::enter(&live);
        tokio::spawn(async move {
            crate::protocol::serve(h.server, socket, h.peer, h.tls).await;
            drop(session);
        });
    }
    while live.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One open session on a thread; counted out when dropped, a panic included.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn enter(count: &Arc<AtomicUsize>) -> Live {
        count.fetch_add(1, Ordering::Relaxed);
        Live(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

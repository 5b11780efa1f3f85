//! Serving many clients: connection limits, cancellation, timeouts, and
//! clients that misbehave (garbage, oversized messages, vanishing mid-query)
//! without taking the server down or blocking anyone else.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};

#[tokio::test]
async fn two_hundred_concurrent_connections() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE hits (id int PRIMARY KEY, n int)").await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..200 {
        clients.push(s.connect().await);
    }
    let mut tasks = Vec::new();
    for (i, cl) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            cl.batch_execute(&format!("INSERT INTO hits VALUES ({i}, 1)")).await.unwrap();
            cl
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.push(t.await.unwrap());
    }
    assert_eq!(one(&c, "SELECT count(*) FROM hits").await, "200");
    let active: i64 = one(&c, "SELECT count(*) FROM pg_stat_activity").await.parse().unwrap();
    assert!(active >= 201, "pg_stat_activity shows {active}");
}

#[tokio::test]
async fn max_connections_is_enforced_with_53300() {
    let s = TestServer::start_with(Init::settings(&[("max_connections", "5"), ("superuser_reserved_connections", "0")]));
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(s.connect().await);
    }
    let e = s.try_connect(&s.conn_string("postgres")).await.err().expect("sixth connection must be refused");
    assert_eq!(code(&e), "53300");
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.try_connect(&s.conn_string("postgres")).await.expect("a slot was freed");
}

#[tokio::test]
async fn cancel_request_and_statement_timeout_end_a_running_statement() {
    let s = TestServer::start();
    let c = s.connect().await;
    let token = c.cancel_token();
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let e = c.batch_execute("SELECT pg_sleep(30)").await.unwrap_err();
    canceller.await.unwrap();
    assert_eq!(code(&e), "57014");
    assert!(started.elapsed() < Duration::from_secs(10));
    c.batch_execute("SET statement_timeout = '200ms'").await.unwrap();
    let e = c.batch_execute("SELECT pg_sleep(30)").await.unwrap_err();
    assert_eq!(code(&e), "57014");
    assert!(e.as_db_error().unwrap().message().contains("statement timeout"));
    c.batch_execute("RESET statement_timeout").await.unwrap();
    assert_eq!(one(&c, "SELECT 1").await, "1");
}

#[tokio::test]
async fn idle_in_transaction_timeout_ends_the_session_and_rolls_back() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    let idle = s.connect().await;
    let pid = one(&idle, "SELECT pg_backend_pid()").await;
    let state = format!("SELECT state FROM pg_stat_activity WHERE pid = {pid}");
    // The server marks a session idle right after its ReadyForQuery: poll.
    let shows = |want: &'static str| {
        let (c, state) = (&c, &state);
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                let got = one(c, state).await;
                if got == want {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "pg_stat_activity shows {got}, not {want}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    shows("idle").await;
    idle.batch_execute("SET idle_in_transaction_session_timeout = '300ms'; BEGIN; INSERT INTO t VALUES (1)").await.unwrap();
    shows("idle in transaction").await;
    assert_eq!(one(&c, "SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid()").await, "active");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(idle.batch_execute("SELECT 1").await.is_err(), "the idle session must have been terminated");
    assert_eq!(one(&c, "SELECT count(*) FROM t").await, "0");
    // Its row lock is gone too.
    c.batch_execute("INSERT INTO t VALUES (1)").await.unwrap();
}

/// The server is alive and serving.
async fn still_serving(s: &TestServer) {
    let c = s.connect().await;
    assert_eq!(one(&c, "SELECT 42").await, "42");
}

#[tokio::test]
async fn garbage_and_oversized_messages_close_only_that_connection() {
    let s = TestServer::start();
    let addr = ("127.0.0.1", s.port);
    // Garbage instead of a startup packet.
    let mut g = TcpStream::connect(addr).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    g.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    let _ = g.read(&mut buf);
    still_serving(&s).await;

    // A startup packet claiming to be 2 GB long.
    let mut g = TcpStream::connect(addr).unwrap();
    g.write_all(&0x7fff_fff0u32.to_be_bytes()).unwrap();
    g.write_all(&196608u32.to_be_bytes()).unwrap();
    g.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = g.read(&mut buf);
    still_serving(&s).await;

    // After a good startup: an unknown message type, then a huge length.
    for payload in [&b"Z\x00\x00\x00\x04"[..], &b"Q\x7f\xff\xff\xff"[..], &b"Q\x00\x00\x00\x02"[..]] {
        let mut g = startup(s.port);
        g.write_all(payload).unwrap();
        g.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = g.read(&mut buf);
        still_serving(&s).await;
    }

    // A client that vanishes halfway through a message blocks nobody.
    let mut g = startup(s.port);
    g.write_all(b"Q\x00\x00\x01\x00SELECT").unwrap();
    drop(g);
    still_serving(&s).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_block_others() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE wide (id int PRIMARY KEY, pad text); INSERT INTO wide SELECT i, repeat('y', 1000) FROM generate_series(1, 20000) g(i)")
        .await
        .unwrap();
    // Asks for 20 MB of rows and never reads them.
    let mut g = startup(s.port);
    let q = b"SELECT * FROM wide\0";
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&((q.len() + 4) as u32).to_be_bytes());
    msg.extend_from_slice(q);
    g.write_all(&msg).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(one(&c, "SELECT count(*) FROM wide WHERE id < 10").await, "9");
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(g);
    still_serving(&s).await;
}

/// Sessions on one connection thread (`connection_threads = 1`: all of
/// them) are not held up by a long query of one of them: its execution runs
/// on the shared pool. pg_sleep stands in for a long scan; on the session
/// thread it would stop the thread for its whole length.
#[tokio::test]
async fn a_long_query_does_not_hold_up_the_sessions_of_its_thread() {
    let s = TestServer::start_with(Init::settings(&[("connection_threads", "1")]));
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE k (id int PRIMARY KEY, v text); INSERT INTO k SELECT i, 'v' || i FROM generate_series(1, 100) g(i)")
        .await
        .unwrap();
    let slow = s.connect().await;
    let sleeping =
        tokio::spawn(async move { slow.query_one("SELECT pg_sleep(3), 42::int AS answer", &[]).await.map(|r| r.get::<_, i32>(1)) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let lookup = c.prepare("SELECT v FROM k WHERE id = $1").await.unwrap();
    for i in 1..=20 {
        assert_eq!(c.query_one(&lookup, &[&i]).await.unwrap().get::<_, String>(0), format!("v{i}"));
    }
    assert_eq!(one(&c, "SELECT count(*) FROM k WHERE v LIKE 'v1%'").await, "12");
    let waited = started.elapsed();
    assert!(!sleeping.is_finished(), "the sleep had not ended when the others were served");
    assert!(waited < Duration::from_secs(2), "the other session waited {waited:?} behind the sleep");
    assert_eq!(sleeping.await.unwrap().unwrap(), 42);
}

/// A statement writing many rows on a connection thread takes turns with
/// the thread's other sessions (row writes spend tokio's cooperative budget):
/// a key lookup running alongside a 200,000-row UPDATE waits a moment, not
/// for the UPDATE's whole length.
#[tokio::test]
async fn a_large_update_takes_turns_with_the_sessions_of_its_thread() {
    let s = TestServer::start_with(Init::settings(&[("connection_threads", "1")]));
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE big (id int PRIMARY KEY, v int); INSERT INTO big SELECT i, 0 FROM generate_series(1, 200000) g(i)")
        .await
        .unwrap();
    let writer = s.connect().await;
    let update = tokio::spawn(async move {
        let started = Instant::now();
        let n = writer.execute("UPDATE big SET v = v + 1", &[]).await.unwrap();
        (n, started.elapsed())
    });
    let lookup = c.prepare("SELECT v FROM big WHERE id = $1").await.unwrap();
    let mut slowest = Duration::ZERO;
    let mut lookups = 0;
    while !update.is_finished() {
        let started = Instant::now();
        c.query_one(&lookup, &[&(lookups % 1000 + 1)]).await.unwrap();
        slowest = slowest.max(started.elapsed());
        lookups += 1;
    }
    let (n, took) = update.await.unwrap();
    assert_eq!(n, 200_000);
    assert!(slowest < took / 2, "a lookup waited {slowest:?} behind an UPDATE of {took:?} ({lookups} lookups)");
    assert_eq!(one(&c, "SELECT sum(v) FROM big").await, "200000");
}

/// `connection_threads = 0` serves sessions on the shared worker pool, as
/// before there were connection threads.
#[tokio::test]
async fn sessions_can_run_on_the_worker_pool() {
    let s = TestServer::start_with(Init::settings(&[("connection_threads", "0")]));
    let c = s.connect().await;
    assert_eq!(one(&c, "SHOW connection_threads").await, "0");
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)").await.unwrap();
    assert_eq!(one(&c, "SELECT sum(id) FROM t").await, "55");
    assert_eq!(one(&c, "SELECT pg_sleep(0.01)::text").await, "");
}

/// A raw connection that completed a trust-auth startup.
fn startup(port: u16) -> TcpStream {
    let mut g = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(&196608u32.to_be_bytes());
    for (k, v) in [("user", SUPERUSER), ("database", "postgres")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut pkt = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    pkt.extend_from_slice(&body);
    g.write_all(&pkt).unwrap();
    // Read until ReadyForQuery ('Z').
    g.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(6).any(|w| w[0] == b'Z' && w[1..5] == [0, 0, 0, 5]) {
        let n = g.read(&mut buf).expect("startup response");
        assert!(n > 0, "server closed during startup");
        seen.extend_from_slice(&buf[..n]);
    }
    g
}

/// Sessions move between connection threads between messages (see
/// `connection_threads`): with `session_affinity = debug_rotate` every
/// session moves to the next thread each time it waits for its client, so
/// every piece of session state crosses threads — settings, prepared
/// statements, a transaction with a savepoint and an error in it, a portal
/// suspended after some of its rows, COPY both ways — and eight sessions
/// moving all the time keep a bank's money conserved.
#[tokio::test]
async fn sessions_keep_their_state_when_they_move_between_threads() {
    let metrics = free_port();
    let s = TestServer::start_with(Init::settings(&[
        ("connection_threads", "2"),
        ("session_affinity", "debug_rotate"),
        ("metrics_port", &metrics.to_string()),
    ]));
    let mut c = s.connect().await;
    c.batch_execute("CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL)").await.unwrap();
    c.batch_execute("INSERT INTO acct SELECT i, 100 FROM generate_series(1, 50) g(i)").await.unwrap();

    // Settings and prepared statements.
    c.batch_execute("SET application_name = 'mover'; SET statement_timeout = '150ms'").await.unwrap();
    let balance = c.prepare("SELECT balance FROM acct WHERE id = $1").await.unwrap();
    for i in 1..=50 {
        assert_eq!(c.query_one(&balance, &[&i]).await.unwrap().get::<_, i32>(0), 100);
    }
    assert_eq!(one(&c, "SHOW application_name").await, "mover");
    assert_eq!(code(&c.batch_execute("SELECT pg_sleep(2)").await.unwrap_err()), "57014");
    c.batch_execute("RESET statement_timeout").await.unwrap();

    // A transaction: savepoint, an error, 25P02, rollback to the savepoint.
    c.batch_execute("BEGIN").await.unwrap();
    c.batch_execute("UPDATE acct SET balance = balance - 10 WHERE id = 1").await.unwrap();
    c.batch_execute("SAVEPOINT s").await.unwrap();
    assert_eq!(code(&c.batch_execute("INSERT INTO acct VALUES (1, 0)").await.unwrap_err()), "23505");
    assert_eq!(code(&c.batch_execute("SELECT 1").await.unwrap_err()), "25P02");
    c.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    c.batch_execute("UPDATE acct SET balance = balance + 10 WHERE id = 2").await.unwrap();
    c.batch_execute("COMMIT").await.unwrap();
    assert_eq!(one(&c, "SELECT balance FROM acct WHERE id = 1").await, "90");
    assert_eq!(one(&c, "SELECT balance FROM acct WHERE id = 2").await, "110");

    // A portal read ten rows at a time: Execute with a row limit, then
    // PortalSuspended, then the next Execute — each a move.
    let t = c.transaction().await.unwrap();
    let all = t.prepare("SELECT id FROM acct ORDER BY id").await.unwrap();
    let portal = t.bind(&all, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = t.query_portal(&portal, 10).await.unwrap();
        if batch.is_empty() {
            break;
        }
        seen.extend(batch.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, (1..=50).collect::<Vec<_>>());
    t.commit().await.unwrap();

    // COPY in, in several messages, and out.
    c.batch_execute("CREATE TABLE log (n int, note text)").await.unwrap();
    let sink = c.copy_in("COPY log FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    for i in 0..20 {
        sink.send(bytes::Bytes::from(format!("{i}\tline {i}\n"))).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), 20);
    let out = c.copy_out("COPY (SELECT n FROM log ORDER BY n) TO STDOUT").await.unwrap();
    let text: String = out.map(|b| String::from_utf8(b.unwrap().to_vec()).unwrap()).collect::<Vec<_>>().await.concat();
    assert_eq!(text, (0..20).map(|i| format!("{i}\n")).collect::<String>());

    // Eight sessions transferring money while moving.
    let mut tasks = Vec::new();
    for w in 0..8 {
        let cl = s.connect().await;
        tasks.push(tokio::spawn(async move {
            let transfer = cl.prepare("UPDATE acct SET balance = balance + $2 WHERE id = $1").await.unwrap();
            for k in 0..40 {
                let (from, to) = ((w * 7 + k) % 50 + 1, (w * 13 + k * 3 + 1) % 50 + 1);
                loop {
                    cl.batch_execute("BEGIN").await.unwrap();
                    let moved = async {
                        cl.execute(&transfer, &[&from, &-1i32]).await?;
                        cl.execute(&transfer, &[&to, &1i32]).await?;
                        cl.batch_execute("COMMIT").await
                    }
                    .await;
                    match moved {
                        Ok(()) => break,
                        Err(e) => {
                            assert!(["40001", "40P01"].contains(&code(&e).as_str()), "{e}");
                            cl.batch_execute("ROLLBACK").await.unwrap();
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(one(&c, "SELECT sum(balance) FROM acct").await, "5000");
    assert_eq!(one(&c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mover'").await, "1");

    let (_, body) = get(metrics, "/metrics");
    let moves = value(&body, "duetdb_session_moves_total");
    assert!(moves > 500.0, "sessions moved {moves} times");
    drop(c);
    still_serving(&s).await;
}

//! Fuzzing the wire protocol and the SQL entry point against a live server.
//!
//! Three sources of hostile input, each followed by the same check — a fresh
//! connection still gets `SELECT 1` answered — so any panic, hang or wedged
//! state in the server fails the test:
//!
//! - `tests/fuzz_corpus/*.bin`: small hand-made inputs that once mattered or
//!   sit on an edge (negative and huge lengths, Bind before Parse, binary
//!   parameters of the wrong size, COPY data outside COPY, deep nesting…).
//!   `startup_*` files are sent instead of a startup packet, `frames_*` after
//!   a valid one. Add a file here for every input that ever breaks the server.
//! - proptest: random message frames (known and unknown type bytes, random
//!   payloads, truncated lengths) after a valid startup, and random bytes as
//!   a startup packet;
//! - proptest: random SQL assembled from a vocabulary of keywords, operators,
//!   literals and names, sent as simple and extended queries.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use proptest::prelude::*;

fn startup_packet() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes());
    for s in ["user", SUPERUSER, "database", "postgres", ""] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn frame(t: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![t];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads until the server goes quiet or closes (bounded by the timeout).
fn drain(sock: &mut TcpStream, wait: Duration) {
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 8192];
    let mut total = 0usize;
    while let Ok(n) = sock.read(&mut buf) {
        if n == 0 || total > (64 << 20) {
            break;
        }
        total += n;
    }
}

/// Reads the startup answer up to the first ReadyForQuery ('Z', length 5).
fn wait_ready(sock: &mut TcpStream) {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(5).any(|w| w == [b'Z', 0, 0, 0, 5]) {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => panic!("no ReadyForQuery after a valid startup"),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `bytes` on a new connection, after a valid startup when `startup`.
fn send(port: u16, startup: bool, bytes: &[u8]) {
    let Ok(mut sock) = TcpStream::connect(("127.0.0.1", port)) else { panic!("server not accepting connections") };
    sock.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    if startup {
        sock.write_all(&startup_packet()).unwrap();
        wait_ready(&mut sock);
    }
    let _ = sock.write_all(bytes);
    drain(&mut sock, Duration::from_millis(80));
}

/// The server still serves: a new session answers a query.
fn alive(server: &TestServer) {
    let (ok, out, err) = server.psql(&["-Atc", "SELECT 1"]);
    assert!(ok && out.trim() == "1", "server stopped serving: {out}{err}\n{}", server.log_text());
}

#[test]
fn corpus_inputs_leave_the_server_serving() {
    let server = TestServer::start();
    let dir = manifest_dir().join("tests/fuzz_corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is in the repository");
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&f).unwrap();
        send(server.port, name.starts_with("frames_"), &bytes);
        alive(&server);
    }
}

const TYPES: &[u8] = b"QPBEDSHCcdfFpXx\x00\x7f";

fn frames() -> impl Strategy<Value = Vec<u8>> {
    let one = (prop::sample::select(TYPES), prop::collection::vec(any::<u8>(), 0..64), prop::option::of(any::<i32>())).prop_map(
        |(t, body, bad_len)| match bad_len {
            // A lying length field now and then.
            Some(l) if l % 4 == 0 => {
                let mut out = vec![t];
                out.extend_from_slice(&l.to_be_bytes());
                out.extend(body);
                out
            }
            _ => frame(t, &body),
        },
    );
    prop::collection::vec(one, 1..6).prop_map(|v| v.concat())
}

const WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "ON",
    "UNION",
    "INSERT INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "CREATE TABLE",
    "DROP TABLE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "WITH",
    "AS",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "IS",
    "IN",
    "EXISTS",
    "::",
    "(",
    ")",
    ",",
    ";",
    "*",
    "+",
    "-",
    "/",
    "%",
    "=",
    "<>",
    "<",
    "||",
    "'x'",
    "''",
    "'2024-01-01'",
    "1",
    "0",
    "-1",
    "9223372036854775807",
    "1e308",
    "1.5",
    "$1",
    "fz",
    "a",
    "b",
    "pg_class",
    "count(*)",
    "sum(",
    "generate_series(1, 3)",
    "now()",
    "int",
    "text",
    "numeric(5,2)",
    "date",
    "interval '1 day'",
    "ARRAY[1,2]",
    "COPY",
    "STDIN",
    "EXPLAIN",
    "VACUUM",
    "SHOW",
    "ALL",
    "WAIT FOR LSN",
    "'0/0'",
    "pg_sleep(0)",
    "FOR UPDATE",
    "\"",
    "E'\\\\'",
];

fn sql() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 1..14).prop_map(|w| w.join(" "))
}

fn runner() -> proptest::test_runner::TestRunner {
    proptest::test_runner::TestRunner::new(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })
}

#[test]
fn random_frames_after_startup() {
    let server = TestServer::start();
    runner()
        .run(&frames(), |bytes| {
            send(server.port, true, &bytes);
            alive(&server);
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_startup_packets() {
    let server = TestServer::start();
    runner()
        .run(&prop::collection::vec(any::<u8>(), 0..48), |bytes| {
            send(server.port, false, &bytes);
            alive(&server);
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_sql_simple_and_extended() {
    let server = TestServer::start();
    let (ok, _, err) = server.psql(&["-c", "CREATE TABLE fz (a int, b text)"]);
    assert!(ok, "{err}");
    runner()
        .run(&sql(), |q| {
            let mut body = q.as_bytes().to_vec();
            body.push(0);
            send(server.port, true, &frame(b'Q', &body));
            // Extended: Parse with no parameter types, Bind, Execute, Sync.
            let mut parse = vec![0];
            parse.extend_from_slice(&body);
            parse.extend_from_slice(&0i16.to_be_bytes());
            let bind = [&[0u8, 0][..], &0i16.to_be_bytes(), &0i16.to_be_bytes(), &0i16.to_be_bytes()].concat();
            let exec = [&[0u8][..], &0i32.to_be_bytes()].concat();
            let msgs = [frame(b'P', &parse), frame(b'B', &bind), frame(b'E', &exec), frame(b'S', &[])].concat();
            send(server.port, true, &msgs);
            alive(&server);
            Ok(())
        })
        .unwrap();
}

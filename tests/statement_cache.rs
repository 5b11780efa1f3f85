//! The simple-query statement cache: statements sent with inline constants
//! (pgbench's default mode, psycopg2, many ORMs) run from a plan cached for
//! their text with the constants as parameters. Each statement below is sent
//! at least three times, so the later runs come from the cache; the answers
//! must be those of the statement as written.

mod common;

use common::*;

/// A server with its metrics endpoint, for the templated-statement counter.
fn server() -> (TestServer, u16) {
    let port = free_port();
    let s = TestServer::start_with(Init::settings(&[("metrics_port", &port.to_string())]));
    (s, port)
}

fn templated(port: u16) -> f64 {
    value(&get(port, "/metrics").1, "duetdb_statements_templated_total")
}

#[tokio::test]
async fn values_change_between_runs_and_answers_follow() {
    let (s, port) = server();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE acc (aid int PRIMARY KEY, abalance int NOT NULL, name text, opened date, amount numeric(10,2))")
        .await
        .unwrap();
    for i in 1..=50 {
        c.simple_query(&format!("INSERT INTO acc VALUES ({i}, {}, 'n''{i}', '2024-01-{:02}', {i}.25)", i * 10, i % 28 + 1)).await.unwrap();
    }
    let before = templated(port);
    assert!(before >= 40.0, "the INSERTs after the second ran from the cache: {before}");
    for i in 1..=50 {
        // A leading minus after an operator is part of the constant, after a value it is subtraction.
        c.simple_query(&format!("UPDATE acc SET abalance = abalance + -{i} WHERE aid = {i}")).await.unwrap();
        c.simple_query(&format!("UPDATE acc SET amount = amount-1 WHERE aid = {i}")).await.unwrap();
    }
    for i in 1..=50 {
        let got = rows(&c, &format!("SELECT abalance, name, opened, amount FROM acc WHERE aid = {i}")).await;
        let want = vec![
            Some((i * 10 - i).to_string()),
            Some(format!("n'{i}")),
            Some(format!("2024-01-{:02}", i % 28 + 1)),
            Some(format!("{}.25", i - 1)),
        ];
        assert_eq!(got, vec![want], "aid {i}");
        // A string constant is resolved by its use, as a parameter is.
        assert_eq!(one(&c, &format!("SELECT aid FROM acc WHERE aid = '{i}'")).await, i.to_string());
    }
    assert_eq!(one(&c, "SELECT sum(abalance) FROM acc").await, (9 * 50 * 51 / 2).to_string());
    let after = templated(port);
    assert!(after >= before + 180.0, "updates and lookups ran from the cache: {before} -> {after}");
    c.simple_query("DELETE FROM acc WHERE aid = 1").await.unwrap();
    c.simple_query("DELETE FROM acc WHERE aid = 2").await.unwrap();
    c.simple_query("DELETE FROM acc WHERE aid = 3").await.unwrap();
    assert_eq!(one(&c, "SELECT count(*) FROM acc").await, "47");
}

#[tokio::test]
async fn a_constant_that_would_change_meaning_as_a_parameter_is_run_as_written() {
    let (s, _) = server();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (id smallint PRIMARY KEY, v int, label text); INSERT INTO t VALUES (1, 10, 'a')").await.unwrap();
    for _ in 0..3 {
        // Out of smallint's range, or not an integer: no row matches (no error).
        assert!(rows(&c, "SELECT v FROM t WHERE id = 70000").await.is_empty());
        assert!(rows(&c, "SELECT v FROM t WHERE id = 1.5").await.is_empty());
        assert_eq!(one(&c, "SELECT v FROM t WHERE id = 1").await, "10");
    }
    // A number bound for a text column is not a text parameter: every run
    // gets what the statement as written gets — PostgreSQL's assignment cast
    // stores the number's text.
    for i in 2..=4 {
        c.simple_query(&format!("INSERT INTO t VALUES ({i}, {i}, 42.50)")).await.unwrap();
        assert_eq!(one(&c, &format!("SELECT label FROM t WHERE id = {i}")).await, "42.50");
    }
}

#[tokio::test]
async fn a_table_redefined_between_runs_is_planned_afresh() {
    let (s, _) = server();
    let c = s.connect().await;
    let other = s.connect().await;
    c.batch_execute("CREATE TABLE r (id int PRIMARY KEY, v int); INSERT INTO r VALUES (1, 10), (2, 20)").await.unwrap();
    for _ in 0..3 {
        assert_eq!(one(&c, "SELECT v FROM r WHERE id = 2").await, "20");
        c.simple_query("UPDATE r SET v = v + 1 WHERE id = 1").await.unwrap();
    }
    // Another session replaces the table with different column types.
    other
        .batch_execute("DROP TABLE r; CREATE TABLE r (id bigint PRIMARY KEY, v text); INSERT INTO r VALUES (2, 'two'), (1, 'x')")
        .await
        .unwrap();
    assert_eq!(one(&c, "SELECT v FROM r WHERE id = 2").await, "two");
    let e = c.simple_query("UPDATE r SET v = v + 1 WHERE id = 1").await.unwrap_err();
    assert_eq!(code(&e), "42883", "text + integer: {e:?}");
    assert_eq!(one(&c, "SELECT v FROM r WHERE id = 1").await, "x");
}

#[tokio::test]
async fn errors_from_cached_statements_keep_their_sqlstate_and_transaction_rules() {
    let (s, port) = server();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE u (id int PRIMARY KEY, v int)").await.unwrap();
    for i in 1..=3 {
        c.simple_query(&format!("INSERT INTO u VALUES ({i}, 2147483640)")).await.unwrap();
    }
    for i in 1..=3 {
        expect_error(&c, &format!("INSERT INTO u VALUES ({i}, 0)"), "23505").await;
        expect_error(&c, &format!("UPDATE u SET v = v + 100 WHERE id = {i}"), "22003").await;
    }
    let before = templated(port);
    c.batch_execute("BEGIN").await.unwrap();
    c.simple_query("UPDATE u SET v = 1 WHERE id = 1").await.unwrap();
    expect_error(&c, "INSERT INTO u VALUES (2, 0)", "23505").await;
    expect_error(&c, "UPDATE u SET v = 1 WHERE id = 3", "25P02").await;
    c.batch_execute("ROLLBACK").await.unwrap();
    assert!(templated(port) > before);
    assert_eq!(one(&c, "SELECT sum(v::bigint) FROM u").await, (3i64 * 2147483640).to_string());
}

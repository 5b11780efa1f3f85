//! SQLSTATEs clients and ORMs branch on, with PostgreSQL's wording where
//! tools parse it.

mod common;

use common::*;

#[tokio::test]
async fn common_errors_carry_postgres_sqlstates() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY, name text UNIQUE);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), qty int CHECK (qty >= 0));
         INSERT INTO parent VALUES (1, 'a');",
    )
    .await
    .unwrap();
    let cases: &[(&str, &str)] = &[
        ("SELEKT 1", "42601"),
        ("SELECT * FROM missing", "42P01"),
        ("SELECT nope FROM parent", "42703"),
        ("SELECT 1/0", "22012"),
        ("SELECT 2147483647::int + 1::int", "22003"),
        ("SELECT 'abc'::int", "22P02"),
        ("INSERT INTO parent VALUES (1, 'b')", "23505"),
        ("INSERT INTO parent VALUES (2, 'a')", "23505"),
        ("INSERT INTO parent (name) VALUES ('z')", "23502"),
        ("INSERT INTO child VALUES (1, 99, 1)", "23503"),
        ("INSERT INTO child VALUES (1, 1, -1)", "23514"),
        ("CREATE TABLE parent (x int)", "42P07"),
        ("INSERT INTO parent (id, name) VALUES ('x', 'y')", "22P02"),
        ("UPDATE parent SET id = 'one'", "22P02"),
        ("SET no_such_setting = 1", "42704"),
        ("SAVEPOINT s", "25P01"),
        // An untyped string next to a timestamp or date is read as PostgreSQL
        // resolves it: `ts - '…'` subtracts a timestamp, `date + '…'` is ambiguous.
        ("SELECT timestamp '2024-01-02 10:00' - '1 day'", "22007"),
        ("SELECT date '2024-01-02' - '1 day'", "22007"),
        ("SELECT date '2024-01-02' + '1 day'", "42725"),
        ("SELECT 1.5 + 'abc'", "22P02"),
        // make_interval, as PostgreSQL 15 answers (an overflowing field as 17
        // does: 15 wraps it silently).
        ("SELECT make_interval(years => 200000000)", "22008"),
        ("SELECT make_interval(secs => 'NaN'::float8)", "22008"),
        ("SELECT make_interval(days => 1.5)", "42883"),
        ("SELECT make_interval(foo => 1)", "42883"),
        // A correlated LATERAL subquery DataFusion cannot decorrelate: refused
        // in words, not with the planner's internals.
        ("SELECT * FROM parent p, LATERAL (SELECT id FROM child c WHERE c.parent_id = p.id LIMIT 1) s", "0A000"),
        ("SELECT id FROM parent FETCH FIRST 1 ROWS WITH TIES", "0A000"),
        // A computed column is refused (it had been taken for an identity column).
        ("CREATE TABLE gen (a int, b int GENERATED ALWAYS AS (a * 2))", "42601"),
        ("SELECT make_interval(days => 1, 2)", "42601"),
        ("SELECT make_interval(days => 1, days => 2)", "42601"),
        ("SELECT make_interval(days => 'x')", "22P02"),
    ];
    for (sql, code) in cases {
        let e = expect_error(&c, sql, code).await;
        assert!(!e.message().contains("OuterReferenceColumn"), "{sql}: {}", e.message());
    }
    // FETCH FIRST is LIMIT (the standard's spelling).
    let q = "SELECT id FROM parent ORDER BY id OFFSET 0 ROWS FETCH FIRST 1 ROW ONLY";
    assert_eq!(rows(&c, q).await, vec![vec![Some("1".to_string())]]);
    // A delete that would orphan a child fails as a foreign key violation.
    c.batch_execute("INSERT INTO child VALUES (1, 1, 5)").await.unwrap();
    let e = expect_error(&c, "DELETE FROM parent WHERE id = 1", "23503").await;
    assert!(e.message().contains("child"), "{}", e.message());
}

#[tokio::test]
async fn unique_violation_names_the_constraint_and_the_key() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE); INSERT INTO u VALUES (1, 'a@x')").await.unwrap();
    let e = expect_error(&c, "INSERT INTO u VALUES (2, 'a@x')", "23505").await;
    assert_eq!(e.message(), "duplicate key value violates unique constraint \"u_email_key\"");
    assert_eq!(e.detail(), Some("Key (email)=(a@x) already exists."));
    assert_eq!(e.constraint(), Some("u_email_key"));
}

#[tokio::test]
async fn writes_on_a_read_only_transaction_fail_with_25006() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE r (id int PRIMARY KEY)").await.unwrap();
    c.batch_execute("BEGIN READ ONLY").await.unwrap();
    expect_error(&c, "INSERT INTO r VALUES (1)", "25006").await;
    c.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn assignment_casts_store_text_and_refuse_what_postgres_refuses() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE a (id int PRIMARY KEY, label text, code varchar(3), flag boolean, qty int)").await.unwrap();
    // Any value assigned to a string column is stored as its text, as
    // PostgreSQL's assignment casts do (booleans as true/false).
    c.batch_execute("INSERT INTO a (id, label, code) VALUES (1, 42, 7)").await.unwrap();
    c.batch_execute("INSERT INTO a (id, label) SELECT 2, 2.5").await.unwrap();
    c.batch_execute("INSERT INTO a (id, label) VALUES (3, true)").await.unwrap();
    c.batch_execute("INSERT INTO a (id, label) VALUES (4, DATE '2024-05-07')").await.unwrap();
    c.batch_execute("UPDATE a SET code = id * 100 WHERE id = 2").await.unwrap();
    assert_eq!(
        rows(&c, "SELECT label, code FROM a ORDER BY id").await,
        vec![
            vec![Some("42".into()), Some("7".into())],
            vec![Some("2.5".into()), Some("200".into())],
            vec![Some("true".into()), None],
            vec![Some("2024-05-07".into()), None],
        ]
    );
    // Too long for varchar(3): an error, not a silent truncation.
    expect_error(&c, "UPDATE a SET code = 12345 WHERE id = 1", "22001").await;
    // No assignment cast from boolean to integer or from integer to boolean.
    let e = expect_error(&c, "UPDATE a SET qty = true WHERE id = 1", "42804").await;
    assert_eq!(e.message(), "column \"qty\" is of type integer but expression is of type boolean");
    assert_eq!(e.hint(), Some("You will need to rewrite or cast the expression."));
    let e = expect_error(&c, "INSERT INTO a (id, flag) VALUES (9, 1)", "42804").await;
    assert!(e.message().starts_with("column \"flag\" is of type boolean but expression is of type"), "{}", e.message());
}

/// What ALTER TABLE adds must hold for the rows already there, as in
/// PostgreSQL: a NOT NULL column without a default, a CHECK constraint and a
/// foreign key are refused with their SQLSTATE when a row breaks them (the
/// NOT NULL column had been added with a NULL in every row, and reading the
/// table then dropped the connection), and added when none does.
#[tokio::test]
async fn constraints_added_by_alter_table_hold_for_existing_rows() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE par (id int PRIMARY KEY); INSERT INTO par VALUES (1);
         CREATE TABLE t (id int PRIMARY KEY, v int, p int); INSERT INTO t VALUES (1, -5, 1), (2, 3, 99);",
    )
    .await
    .unwrap();
    let e = expect_error(&c, "ALTER TABLE t ADD COLUMN w int NOT NULL", "23502").await;
    assert_eq!(e.message(), "column \"w\" of relation \"t\" contains null values");
    c.batch_execute("UPDATE t SET p = NULL WHERE id = 2").await.unwrap();
    let e = expect_error(&c, "ALTER TABLE t ALTER COLUMN p SET NOT NULL", "23502").await;
    assert_eq!(e.message(), "column \"p\" of relation \"t\" contains null values");
    c.batch_execute("UPDATE t SET p = 99 WHERE id = 2").await.unwrap();
    let e = expect_error(&c, "ALTER TABLE t ADD CONSTRAINT pos CHECK (v > 0)", "23514").await;
    assert_eq!(e.message(), "check constraint \"pos\" of relation \"t\" is violated by some row");
    // An error evaluating the check is that error, not a violation.
    expect_error(&c, "ALTER TABLE t ADD CONSTRAINT z CHECK (10 / (v + 5) > 0)", "22012").await;
    let e = expect_error(&c, "ALTER TABLE t ADD CONSTRAINT t_p_fkey FOREIGN KEY (p) REFERENCES par (id)", "23503").await;
    assert_eq!(e.detail(), Some("Key (p)=(99) is not present in table \"par\"."));
    // Nothing of the failed statements stayed.
    assert_eq!(rows(&c, "SELECT * FROM t ORDER BY id").await.len(), 2);
    assert_eq!(one(&c, "SELECT count(*) FROM pg_constraint WHERE conrelid = 't'::regclass").await, "1");

    // Rows that satisfy them: added (serial and defaults fill the new columns).
    c.batch_execute(
        "UPDATE t SET v = 5 WHERE id = 1; DELETE FROM t WHERE id = 2;
         ALTER TABLE t ADD CONSTRAINT pos CHECK (v > 0);
         ALTER TABLE t ADD CONSTRAINT t_p_fkey FOREIGN KEY (p) REFERENCES par (id);
         ALTER TABLE t ADD COLUMN d int NOT NULL DEFAULT 7;
         ALTER TABLE t ADD COLUMN s serial NOT NULL;",
    )
    .await
    .unwrap();
    assert_eq!(rows(&c, "SELECT id, v, p, d, s FROM t").await, vec![["1", "5", "1", "7", "1"].map(|v| Some(v.to_string())).to_vec()]);
    expect_error(&c, "INSERT INTO t (id, v, p) VALUES (3, -1, 1)", "23514").await;
    // On an empty table a NOT NULL column needs no default.
    c.batch_execute("CREATE TABLE empty (id int); ALTER TABLE empty ADD COLUMN w int NOT NULL").await.unwrap();
}

/// A generation expression follows PostgreSQL's rules: it reads only the
/// row's ordinary columns, through no subquery; a column has no default and
/// no identity besides. (tests/regress/sql/generated_columns.sql holds the
/// rest; PostgreSQL reports these with a position, which duetdb does not.)
#[tokio::test]
async fn generation_expressions_follow_postgres_rules() {
    let s = TestServer::start();
    let c = s.connect().await;
    let cases: &[(&str, &str, &str)] = &[
        (
            "CREATE TABLE bad (a int, b int GENERATED ALWAYS AS (b * 2) STORED)",
            "42P17",
            "cannot use generated column \"b\" in column generation expression",
        ),
        (
            "CREATE TABLE bad (a int, b int GENERATED ALWAYS AS (a * 2) STORED, c int GENERATED ALWAYS AS (b + 1) STORED)",
            "42P17",
            "cannot use generated column \"b\" in column generation expression",
        ),
        (
            "CREATE TABLE bad (a int, b int DEFAULT 1 GENERATED ALWAYS AS (a * 2) STORED)",
            "42601",
            "both default and generation expression specified for column \"b\" of table \"bad\"",
        ),
        (
            "CREATE TABLE bad (a int, b int GENERATED ALWAYS AS IDENTITY GENERATED ALWAYS AS (a * 2) STORED)",
            "42601",
            "both identity and generation expression specified for column \"b\" of table \"bad\"",
        ),
        (
            "CREATE TABLE bad (a int, b int GENERATED ALWAYS AS ((SELECT 1)) STORED)",
            "0A000",
            "cannot use subquery in column generation expression",
        ),
        ("CREATE TABLE bad (a int, b int GENERATED ALWAYS AS (nosuch * 2) STORED)", "42703", "column \"nosuch\" does not exist"),
        ("CREATE TABLE bad (a int, b int GENERATED ALWAYS AS (random() * a) STORED)", "42P17", "generation expression is not immutable"),
        ("CREATE TABLE bad (a text, b int GENERATED ALWAYS AS (no_such_function(a)) STORED)", "42883", ""),
    ];
    expect_errors(&c, cases).await;
    expect_error(&c, "SELECT * FROM bad", "42P01").await;
}

/// A column type PostgreSQL does not have fails as there (42704); one it has
/// that columns here cannot hold yet is a missing feature (0A000), so a
/// client can tell a typo from a limitation.
#[tokio::test]
async fn unknown_and_unsupported_column_types_fail_apart() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (a int)").await.unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("CREATE TABLE bad (a nosuchtype)", "42704", "type \"nosuchtype\" does not exist"),
        ("CREATE TABLE bad (a inet)", "0A000", "type \"inet\" is not supported for columns yet"),
        ("CREATE TABLE bad (a int, b text[])", "0A000", "type \"text[]\" is not supported for columns yet"),
        ("CREATE TABLE bad (a interval)", "0A000", "type \"interval\" is not supported for columns yet"),
        ("ALTER TABLE t ADD COLUMN b money", "0A000", "type \"money\" is not supported for columns yet"),
        ("ALTER TABLE t ADD COLUMN b nosuchtype", "42704", "type \"nosuchtype\" does not exist"),
    ];
    expect_errors(&c, cases).await;
    expect_error(&c, "SELECT * FROM bad", "42P01").await;
    c.batch_execute("INSERT INTO t VALUES (1)").await.unwrap();
}

/// json set-returning functions fail with PostgreSQL's SQLSTATE for the
/// wrong kind of document, whether the planner folds the call into a
/// constant or runs it per row, and refuse the places a set cannot go.
#[tokio::test]
async fn json_set_returning_functions_fail_with_the_right_code() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE d (id int PRIMARY KEY, doc jsonb); INSERT INTO d VALUES (1, '{\"a\": 1}')").await.unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT jsonb_array_elements('{\"a\":1}')", "22023", "cannot extract elements from an object"),
        ("SELECT * FROM jsonb_array_elements('7')", "22023", "cannot extract elements from a scalar"),
        ("SELECT jsonb_array_elements(doc) FROM d", "22023", "cannot extract elements from an object"),
        ("SELECT * FROM jsonb_each('[1]')", "22023", "cannot call jsonb_each on a non-object"),
        ("SELECT jsonb_object_keys('[1]')", "22023", "cannot call jsonb_object_keys on an array"),
        ("SELECT * FROM json_each('[1]')", "22023", "cannot deconstruct an array as an object"),
        ("SELECT sum((jsonb_array_elements('[1]'))::text::int)", "0A000", "set-returning functions are not allowed here"),
        ("SELECT * FROM jsonb_array_elements('[1') ", "22P02", ""),
        (
            "SELECT d.id, e.value FROM d, jsonb_array_elements(d.doc->'items') e",
            "0A000",
            "jsonb_array_elements in FROM over a column of another FROM item (LATERAL) is not supported; call it in the select list instead (SELECT t.id, jsonb_array_elements(t.doc) FROM t)",
        ),
    ];
    expect_errors(&c, cases).await;
}

/// Runs each `(sql, sqlstate, message)` case and checks its error; an empty
/// message checks the SQLSTATE only.
async fn expect_errors(c: &tokio_postgres::Client, cases: &[(&str, &str, &str)]) {
    for (sql, code, message) in cases {
        let e = expect_error(c, sql, code).await;
        if !message.is_empty() {
            assert_eq!(e.message(), *message, "{sql}");
        }
    }
}

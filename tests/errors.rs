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
    ];
    for (sql, code) in cases {
        expect_error(&c, sql, code).await;
    }
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

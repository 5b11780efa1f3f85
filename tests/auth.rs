//! Authentication: SCRAM-SHA-256 against the superuser created by
//! `duetdb init --pwfile`, roles made with CREATE ROLE, and refusals that do
//! not reveal which roles exist.

mod common;

use common::*;

#[tokio::test]
async fn scram_accepts_the_right_password_and_refuses_others() {
    let s = TestServer::start_with(Init { password: true, ..Default::default() });
    let c = s.connect().await;
    assert_eq!(one(&c, "SELECT current_user").await, SUPERUSER);
    let wrong = format!("host=127.0.0.1 port={} user={SUPERUSER} password=wrong dbname=postgres", s.port);
    assert_eq!(code(&s.try_connect(&wrong).await.err().unwrap()), "28P01");
    let nobody = format!("host=127.0.0.1 port={} user=nobody password=x dbname=postgres", s.port);
    assert_eq!(code(&s.try_connect(&nobody).await.err().unwrap()), "28P01", "unknown roles fail the same way");
    // A new login role with its own password.
    c.batch_execute("CREATE ROLE app LOGIN PASSWORD 'app-pw'").await.unwrap();
    let app = format!("host=127.0.0.1 port={} user=app password=app-pw dbname=postgres", s.port);
    let a = s.try_connect(&app).await.expect("app can log in");
    assert_eq!(one(&a, "SELECT current_user").await, "app");
}

#[tokio::test]
async fn ssl_request_is_refused_cleanly_without_a_certificate() {
    let s = TestServer::start();
    // sslmode=prefer: the server answers 'N' and the session continues in clear.
    let conn = format!("{} sslmode=prefer", s.conn_string("postgres"));
    let c = s.try_connect(&conn).await.expect("prefer falls back to plain");
    assert_eq!(one(&c, "SELECT 1").await, "1");
    // sslmode=require: refused by the client, since the server offers no TLS.
    let conn = format!("{} sslmode=require", s.conn_string("postgres"));
    assert!(s.try_connect(&conn).await.is_err());
    assert_eq!(one(&s.connect().await, "SELECT 2").await, "2");
}

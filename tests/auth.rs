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

/// With `ssl = on` and a certificate, psql negotiates TLS (rustls on the
/// server); a client that disables TLS still gets in; without `ssl` a client
/// that requires it is turned away.
#[test]
fn tls_with_a_configured_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    assert_eq!(duetdb(&["init", "-D", d, "-A", "trust"]).0, 0);
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.crt"))
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _guard = StopOnDrop(dir.clone());
    let (code, o, e) = duetdb(&["start", "-D", d, "--port", "0", "--listen", "127.0.0.1", "-c", "ssl=on", "--detach"]);
    assert_eq!(code, 0, "{o}{e}");
    let port = std::fs::read_to_string(dir.join("duetdb.pid")).unwrap().lines().nth(1).unwrap().to_string();
    let psql = |mode: &str, sql: &str| {
        let out = std::process::Command::new("psql")
            .arg(format!("host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres sslmode={mode}"))
            .args(["-X", "-Atc", sql])
            .output()
            .unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (ok, text) = psql("require", "\\conninfo");
    assert!(ok && text.contains("SSL connection (protocol: TLSv1."), "{text}");
    let (ok, text) = psql("require", "SELECT 40 + 2");
    assert!(ok && text.trim() == "42", "{text}");
    let (ok, text) = psql("disable", "SELECT 1");
    assert!(ok && text.trim() == "1", "{text}");
    assert_eq!(duetdb(&["stop", "-D", d]).0, 0);
    // ssl off: a client that requires TLS is refused, cleanly.
    assert_eq!(duetdb(&["start", "-D", d, "--port", "0", "--listen", "127.0.0.1", "--detach"]).0, 0);
    let port2 = std::fs::read_to_string(dir.join("duetdb.pid")).unwrap().lines().nth(1).unwrap().to_string();
    let out = std::process::Command::new("psql")
        .arg(format!("host=127.0.0.1 port={port2} user={SUPERUSER} dbname=postgres sslmode=require"))
        .args(["-X", "-Atc", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not support SSL"), "{}", String::from_utf8_lossy(&out.stderr));
}

struct StopOnDrop(std::path::PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = duetdb(&["stop", "-D", self.0.to_str().unwrap(), "-m", "immediate"]);
    }
}

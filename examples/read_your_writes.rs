//! OLTP on the primary, analytics on a columnar standby, and reading your
//! own write on the standby — with tokio-postgres, as any application would.
//!
//! ```text
//!   cargo run --example read_your_writes -- \
//!       postgres://duet@127.0.0.1:55432/postgres  postgres://duet@127.0.0.1:55433/postgres
//! ```
//!
//! (the two URIs `duetdb demo` prints; with no arguments those are used).
//!
//! The write goes to the primary; its commit LSN is read with
//! `pg_current_wal_lsn()`; the standby session sets `recovery_target_lsn` to
//! it, so its next query waits until replay has reached the write — the
//! session then sees it, never an older state.

use std::time::Instant;

use tokio_postgres::{Client, NoTls};

async fn connect(uri: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(uri, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("connection error: {e}");
        }
    });
    Ok(client)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let primary_uri = args.next().unwrap_or_else(|| "postgres://duet@127.0.0.1:55432/postgres".into());
    let standby_uri = args.next().unwrap_or_else(|| "postgres://duet@127.0.0.1:55433/postgres".into());
    let primary = connect(&primary_uri).await?;
    let standby = connect(&standby_uri).await?;
    assert!(!primary.query_one("SELECT pg_is_in_recovery()", &[]).await?.get::<_, bool>(0), "the first URI must be the primary");
    assert!(standby.query_one("SELECT pg_is_in_recovery()", &[]).await?.get::<_, bool>(0), "the second URI must be a standby");

    // OLTP on the primary: a small transfer-style transaction, prepared once.
    primary
        .batch_execute("CREATE TABLE IF NOT EXISTS example_events (id bigserial PRIMARY KEY, account int NOT NULL, amount numeric(12,2) NOT NULL, at timestamptz NOT NULL DEFAULT now())")
        .await?;
    let insert = primary.prepare("INSERT INTO example_events (account, amount) VALUES ($1, $2::text::numeric) RETURNING id").await?;
    let began = Instant::now();
    let mut last_id = 0i64;
    for i in 0..200 {
        let amount = format!("{}.{:02}", i % 90 + 10, i % 100);
        last_id = primary.query_one(&insert, &[&(i % 17), &amount]).await?.get(0);
    }
    let lsn: String = primary.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
    println!("primary: 200 inserts in {:?}, last id {last_id}, commit LSN {lsn}", began.elapsed());

    // Read your own write on the standby: wait for replay to reach the LSN.
    standby.batch_execute(&format!("SET recovery_target_lsn = '{lsn}'")).await?;
    let waited = Instant::now();
    let row = standby.query_one("SELECT count(*), max(id) FROM example_events WHERE id <= $1", &[&last_id]).await?;
    let (count, max): (i64, Option<i64>) = (row.get(0), row.get(1));
    println!("standby: sees id {last_id} after {:?} (replayed {})", waited.elapsed(), {
        let r = standby.query_one("SELECT pg_last_wal_replay_lsn()::text", &[]).await?;
        r.get::<_, String>(0)
    });
    assert_eq!(max, Some(last_id), "read-your-writes: the standby must see the write");

    // Analytics on the standby's columns.
    let rows = standby
        .query(
            "SELECT account, count(*) AS n, sum(amount)::text AS total FROM example_events GROUP BY account ORDER BY sum(amount) DESC LIMIT 5",
            &[],
        )
        .await?;
    println!("standby: top accounts of {count} events");
    for r in rows {
        println!("  account {:>3}  {:>4} events  {:>10}", r.get::<_, i32>(0), r.get::<_, i64>(1), r.get::<_, String>(2));
    }
    Ok(())
}

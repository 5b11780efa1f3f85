//! COPY FROM STDIN / TO STDOUT in text and CSV formats, streamed.

mod common;

use bytes::Bytes;
use common::*;
use futures::{SinkExt, StreamExt};

#[tokio::test]
async fn copy_in_text_and_csv_then_copy_out() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2), note text)").await.unwrap();

    let sink = c.copy_in("COPY items FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(Bytes::from_static(b"1\twidget\t9.99\t\\N\n2\ttab\\there\t0.50\tline\\nbreak\n")).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);

    let sink = c.copy_in("COPY items (id, name, price, note) FROM STDIN WITH (FORMAT csv, HEADER true)").await.unwrap();
    futures::pin_mut!(sink);
    // A record split across CopyData messages, a quoted field with a newline and a comma.
    sink.send(Bytes::from_static(b"id,name,price,note\n3,\"a, b\",1.00,\"multi")).await.unwrap();
    sink.send(Bytes::from_static(b"\nline\"\n4,plain,2.5,\n")).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);

    assert_eq!(one(&c, "SELECT name FROM items WHERE id = 2").await, "tab\there");
    assert_eq!(one(&c, "SELECT note FROM items WHERE id = 3").await, "multi\nline");
    assert_eq!(rows(&c, "SELECT note FROM items WHERE id = 1").await, vec![vec![None]]);

    let out = c.copy_out("COPY (SELECT id, name, price, note FROM items ORDER BY id) TO STDOUT").await.unwrap();
    let chunks: Vec<Bytes> = out.map(|r| r.unwrap()).collect().await;
    let text: String = chunks.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    assert_eq!(text, "1\twidget\t9.99\t\\N\n2\ttab\\there\t0.50\tline\\nbreak\n3\ta, b\t1.00\tmulti\\nline\n4\tplain\t2.50\t\\N\n");
    let out = c.copy_out("COPY items TO STDOUT WITH (FORMAT csv, HEADER)").await.unwrap();
    let chunks: Vec<Bytes> = out.map(|r| r.unwrap()).collect().await;
    let text: String = chunks.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    assert!(text.starts_with("id,name,price,note\n"), "{text}");
    assert!(text.contains("3,\"a, b\",1.00,\"multi\nline\"\n"), "{text}");
}

#[tokio::test]
async fn a_bad_row_fails_the_whole_copy_and_names_the_line() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int)").await.unwrap();
    let sink = c.copy_in("COPY t FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(Bytes::from_static(b"1\t1\n2\tnot-a-number\n3\t3\n")).await.unwrap();
    let e = sink.finish().await.unwrap_err();
    assert_eq!(code(&e), "22P02");
    let db = e.as_db_error().unwrap();
    assert!(db.where_().unwrap_or("").contains("line 2") || db.message().contains("line 2"), "{db:?}");
    assert_eq!(one(&c, "SELECT count(*) FROM t").await, "0", "COPY is atomic");
    // The connection is still usable.
    assert_eq!(one(&c, "SELECT 1").await, "1");
}

#[tokio::test]
async fn copy_streams_a_million_rows() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE big (aid int PRIMARY KEY, bid int, abalance int, filler char(84))").await.unwrap();
    let sink = c.copy_in("COPY big FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    let mut buf = String::with_capacity(1 << 20);
    for i in 1..=1_000_000u32 {
        buf.push_str(&format!("{i}\t{}\t0\t\n", i / 100_000 + 1));
        if buf.len() > 1 << 20 {
            sink.send(Bytes::from(std::mem::take(&mut buf))).await.unwrap();
        }
    }
    sink.send(Bytes::from(buf)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 1_000_000);
    assert_eq!(one(&c, "SELECT count(*) FROM big").await, "1000000");
    let expected: u64 = (1..=1_000_000u64).map(|i| i / 100_000 + 1).sum();
    assert_eq!(one(&c, "SELECT sum(bid) FROM big").await, expected.to_string());
}

#[tokio::test]
async fn copy_column_lists_fill_defaults_and_skip_dropped_columns() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE d (id int PRIMARY KEY, gone int, label text DEFAULT 'none', qty int NOT NULL DEFAULT 7, note text);
         ALTER TABLE d DROP COLUMN gone",
    )
    .await
    .unwrap();
    let copy = |sql: &'static str, data: &'static [u8]| {
        let c = &c;
        async move {
            let sink = c.copy_in(sql).await?;
            futures::pin_mut!(sink);
            sink.send(Bytes::from_static(data)).await?;
            sink.finish().await
        }
    };
    // A column list out of table order: the rest get their defaults.
    assert_eq!(copy("COPY d (note, id) FROM STDIN", b"n1\t1\nn2\t2\n").await.unwrap(), 2);
    // No list: the live columns in order (the dropped one takes no field).
    assert_eq!(copy("COPY d FROM STDIN", b"3\tx\t5\tn3\n").await.unwrap(), 1);
    assert_eq!(
        rows(&c, "SELECT id::text, label, qty::text, note FROM d ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("none".into()), Some("7".into()), Some("n1".into())],
            vec![Some("2".into()), Some("none".into()), Some("7".into()), Some("n2".into())],
            vec![Some("3".into()), Some("x".into()), Some("5".into()), Some("n3".into())],
        ]
    );
    // An explicit NULL is not replaced by the default.
    let e = copy("COPY d (id, qty) FROM STDIN", b"4\t\\N\n").await.unwrap_err();
    assert_eq!(code(&e), "23502");
    // A duplicate key in a later batch than its first occurrence fails the
    // whole COPY: nothing of it stays, in the table or in the index.
    let mut data = String::new();
    for i in 10..2510 {
        data.push_str(&format!("{i}\n"));
    }
    data.push_str("1200\n");
    let data: &'static [u8] = Box::leak(data.into_bytes().into_boxed_slice());
    let e = copy("COPY d (id) FROM STDIN", data).await.unwrap_err();
    assert_eq!(code(&e), "23505");
    assert_eq!(one(&c, "SELECT count(*) FROM d").await, "3");
    assert_eq!(one(&c, "SELECT count(*) FROM d WHERE id = 1200").await, "0");
    assert_eq!(copy("COPY d (id) FROM STDIN", b"1200\n").await.unwrap(), 1);
    assert_eq!(one(&c, "SELECT qty FROM d WHERE id = 1200").await, "7");
}

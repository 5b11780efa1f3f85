//! The wire protocol as drivers use it: simple and extended query, prepared
//! statements, portals with row limits, parameter inference, transaction
//! status in ReadyForQuery, and errors that leave the session usable.

mod common;

use common::*;
use futures::StreamExt;

#[tokio::test]
async fn simple_query_runs_several_statements_in_one_message() {
    let s = TestServer::start();
    let c = s.connect().await;
    let msgs = c
        .simple_query("CREATE TABLE t (a int PRIMARY KEY, b text); INSERT INTO t VALUES (1, 'x'), (2, 'y'); SELECT b FROM t ORDER BY a")
        .await
        .unwrap();
    let tags: Vec<String> = msgs
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec!["0", "2", "2"]);
    assert_eq!(rows(&c, "SELECT b FROM t ORDER BY a").await, vec![vec![Some("x".into())], vec![Some("y".into())]]);
    // An empty query is answered, not an error.
    assert!(c.simple_query("").await.unwrap().is_empty() || c.simple_query(";").await.is_ok());
}

#[tokio::test]
async fn extended_protocol_binds_parameters_and_infers_their_types() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE acc (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), opened date)").await.unwrap();
    let ins = c.prepare("INSERT INTO acc VALUES ($1, $2, $3::text::numeric, $4)").await.unwrap();
    assert_eq!(ins.params()[0], tokio_postgres::types::Type::INT8);
    assert_eq!(ins.params()[1], tokio_postgres::types::Type::TEXT);
    let d = chrono::NaiveDate::from_ymd_opt(2024, 5, 7).unwrap();
    for i in 1..=5i64 {
        c.execute(&ins, &[&i, &format!("user{i}"), &"10.50", &d]).await.unwrap();
    }
    let sel = c.prepare("SELECT owner, opened FROM acc WHERE id = $1").await.unwrap();
    assert_eq!(sel.params(), &[tokio_postgres::types::Type::INT8]);
    assert_eq!(sel.columns()[0].name(), "owner");
    let row = c.query_one(&sel, &[&3i64]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "user3");
    assert_eq!(row.get::<_, chrono::NaiveDate>(1), d);
    // The same statement, executed many times, keeps working (cached plan).
    for i in 1..=5i64 {
        assert_eq!(c.query_one(&sel, &[&i]).await.unwrap().get::<_, String>(0), format!("user{i}"));
    }
    let n: i64 = c.query_one("SELECT count(*) FROM acc WHERE balance > $1::text::numeric", &[&"1"]).await.unwrap().get(0);
    assert_eq!(n, 5);
}

/// INSERT, UPDATE and DELETE report their parameters' types as PostgreSQL 15
/// does (each expectation below is what PostgreSQL answered for the same
/// statement and table), wherever the parameter sits: in a function's
/// argument, an OR, a subquery, USING / FROM, RETURNING, ON CONFLICT, an
/// INSERT … SELECT's select list. Drivers encode by these types: the
/// statements then run with typed Rust values.
#[tokio::test]
async fn dml_parameters_are_typed_as_postgresql_types_them() {
    use tokio_postgres::types::Type;
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, pad text, n bigint, ts timestamp);
         CREATE TABLE u (uid int, name varchar(10));
         INSERT INTO u VALUES (1, 'a'), (2, 'b')",
    )
    .await
    .unwrap();
    let (int, text, big, ts) = (Type::INT4, Type::TEXT, Type::INT8, Type::TIMESTAMP);
    let cases: Vec<(&str, Vec<Type>)> = vec![
        ("INSERT INTO t VALUES ($1, repeat('x', 3))", vec![int.clone()]),
        ("INSERT INTO t VALUES ($1, upper($2), $3)", vec![int.clone(), text.clone(), big.clone()]),
        ("INSERT INTO t (n, id) VALUES ($1, (SELECT max(uid) FROM u WHERE name = $2))", vec![big.clone(), text.clone()]),
        ("UPDATE t SET pad = $2 WHERE id > $1", vec![int.clone(), text.clone()]),
        ("UPDATE t SET pad = repeat($2, 3) WHERE id = $1", vec![int.clone(), text.clone()]),
        ("UPDATE t SET pad = $2 WHERE id = $1 OR pad = $3", vec![int.clone(), text.clone(), text.clone()]),
        ("UPDATE t SET n = n + $1 WHERE ts < $2 RETURNING id, $3::int", vec![big.clone(), ts.clone(), int.clone()]),
        ("UPDATE t SET pad = u.name FROM u WHERE u.uid = t.id AND u.name = $1", vec![text.clone()]),
        ("DELETE FROM t WHERE id > $1 AND pad LIKE $2", vec![int.clone(), text.clone()]),
        ("DELETE FROM t WHERE id IN (SELECT uid FROM u WHERE name = $1)", vec![text.clone()]),
        ("DELETE FROM t USING u WHERE u.uid = t.id AND u.name = $1 AND t.n = $2", vec![text.clone(), big.clone()]),
        ("INSERT INTO t SELECT $1, $2", vec![int.clone(), text.clone()]),
        ("INSERT INTO t (pad, id) SELECT $1, $2", vec![text.clone(), int.clone()]),
        ("INSERT INTO t SELECT uid + 100, name FROM u WHERE uid < $1", vec![int.clone()]),
        ("INSERT INTO t VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET pad = $3", vec![int.clone(), text.clone(), text.clone()]),
        (
            "INSERT INTO t VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET n = t.n + $3 WHERE t.ts > $4",
            vec![int.clone(), text.clone(), big.clone(), ts.clone()],
        ),
    ];
    for (sql, want) in cases {
        let st = c.prepare(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        assert_eq!(st.params(), &want[..], "{sql}");
    }
    // Typed values go through: the client encodes them by the reported types.
    let at = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap().and_hms_opt(3, 4, 5).unwrap();
    c.execute("INSERT INTO t VALUES ($1, upper($2), $3)", &[&7i32, &"seven", &70i64]).await.unwrap();
    c.execute("INSERT INTO t (pad, id) SELECT $1, $2", &[&"eight", &8i32]).await.unwrap();
    c.execute("UPDATE t SET ts = $2 WHERE id = $1 OR pad = $3", &[&7i32, &at, &"eight"]).await.unwrap();
    let n = c.execute("UPDATE t SET n = n + $1 WHERE ts < $2", &[&1i64, &(at + chrono::Duration::seconds(1))]).await.unwrap();
    assert_eq!(n, 2, "both rows got ts = at");
    let rows = c.query("DELETE FROM t WHERE id > $1 AND pad LIKE $2 RETURNING id, n", &[&6i32, &"%"]).await.unwrap();
    let got: Vec<(i32, Option<i64>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(7, Some(71)), (8, None)]);
}

/// `x = ANY($1)` (and the other ANY / ALL comparisons) take an array of x's
/// type, as PostgreSQL types them: drivers send a list as that array, here
/// tokio-postgres's binary arrays, NULL elements included.
#[tokio::test]
async fn any_and_all_parameters_are_arrays_of_the_compared_type() {
    use tokio_postgres::types::Type;
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, name text, n bigint);
         INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30), (4, NULL, 40)",
    )
    .await
    .unwrap();
    let cases: &[(&str, Type)] = &[
        ("SELECT id FROM t WHERE id = ANY($1) ORDER BY id", Type::INT4_ARRAY),
        ("SELECT id FROM t WHERE name = ANY($1) ORDER BY id", Type::TEXT_ARRAY),
        ("SELECT id FROM t WHERE id <> ALL($1) ORDER BY id", Type::INT4_ARRAY),
        ("SELECT id FROM t WHERE n > ANY($1) ORDER BY id", Type::INT8_ARRAY),
        ("SELECT id FROM t WHERE $1 = ANY(ARRAY[n]) OR id = ANY($2) ORDER BY id", Type::INT8),
        ("DELETE FROM t WHERE id = ANY($1)", Type::INT4_ARRAY),
        ("UPDATE t SET n = 0 WHERE name = ANY($1)", Type::TEXT_ARRAY),
    ];
    for (sql, want) in cases {
        let st = c.prepare(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        assert_eq!(&st.params()[0], want, "{sql}");
    }
    let ids = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>();
    let q = "SELECT id FROM t WHERE id = ANY($1) ORDER BY id";
    assert_eq!(ids(c.query(q, &[&vec![3i32, 1, 7]]).await.unwrap()), vec![1, 3]);
    assert_eq!(ids(c.query(q, &[&Vec::<i32>::new()]).await.unwrap()), Vec::<i32>::new());
    assert_eq!(ids(c.query(q, &[&vec![Some(2i32), None]]).await.unwrap()), vec![2]);
    let q = "SELECT id FROM t WHERE name = ANY($1) ORDER BY id";
    assert_eq!(ids(c.query(q, &[&vec!["c", "a", "z"]]).await.unwrap()), vec![1, 3]);
    let q = "SELECT id FROM t WHERE id <> ALL($1) ORDER BY id";
    assert_eq!(ids(c.query(q, &[&vec![1i32, 2]]).await.unwrap()), vec![3, 4]);
    let q = "SELECT id FROM t WHERE n > ANY($1) ORDER BY id";
    assert_eq!(ids(c.query(q, &[&vec![25i64, 35]]).await.unwrap()), vec![3, 4]);
    assert_eq!(c.execute("UPDATE t SET n = 0 WHERE name = ANY($1)", &[&vec!["a", "b"]]).await.unwrap(), 2);
    assert_eq!(c.execute("DELETE FROM t WHERE id = ANY($1)", &[&vec![1i32, 4]]).await.unwrap(), 2);
    let left: Vec<(i32, i64)> =
        c.query("SELECT id, n FROM t ORDER BY id", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(left, vec![(2, 0), (3, 30)]);
    // Sent as text (EXECUTE's arguments are), a malformed array or element
    // fails as in PostgreSQL.
    c.batch_execute("PREPARE by_id AS SELECT id FROM t WHERE id = ANY($1)").await.unwrap();
    for (bad, code) in [("{1,,2}", "22P02"), ("{1,x}", "22P02"), ("{1,99999999999}", "22003")] {
        let e = c.batch_execute(&format!("EXECUTE by_id('{bad}')")).await.unwrap_err();
        assert_eq!(e.as_db_error().map(|e| e.code().code()), Some(code), "{bad}: {e:?}");
    }
}

#[tokio::test]
async fn portals_return_rows_in_batches_of_the_requested_size() {
    let s = TestServer::start();
    let mut c = s.connect().await;
    c.batch_execute("CREATE TABLE n (i int PRIMARY KEY); INSERT INTO n SELECT * FROM generate_series(1, 1000)").await.unwrap();
    let txn = c.transaction().await.unwrap();
    let stmt = txn.prepare("SELECT i FROM n ORDER BY i").await.unwrap();
    let portal = txn.bind(&stmt, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = txn.query_portal(&portal, 128).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 128);
        seen.extend(batch.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, (1..=1000).collect::<Vec<_>>());
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn sql_prepare_execute_and_describe_agree() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE p (id int PRIMARY KEY, v text); INSERT INTO p VALUES (7, 'seven')").await.unwrap();
    c.batch_execute("PREPARE q(int) AS SELECT v FROM p WHERE id = $1").await.unwrap();
    assert_eq!(one(&c, "EXECUTE q(7)").await, "seven");
    // EXECUTE through the extended protocol describes the prepared statement's rows.
    let stmt = c.prepare("EXECUTE q(7)").await.unwrap();
    assert_eq!(stmt.columns().len(), 1);
    assert_eq!(c.query_one(&stmt, &[]).await.unwrap().get::<_, String>(0), "seven");
    assert_eq!(one(&c, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'q'").await, "1");
    c.batch_execute("DEALLOCATE q").await.unwrap();
    expect_error(&c, "EXECUTE q(7)", "26000").await;
}

#[tokio::test]
async fn errors_leave_the_connection_usable_and_report_transaction_state() {
    let s = TestServer::start();
    let c = s.connect().await;
    expect_error(&c, "SELECT * FROM no_such_table", "42P01").await;
    assert_eq!(one(&c, "SELECT 1").await, "1");
    // In a block, an error fails the block until ROLLBACK: 25P02.
    c.batch_execute("BEGIN").await.unwrap();
    expect_error(&c, "SELECT 1/0", "22012").await;
    expect_error(&c, "SELECT 1", "25P02").await;
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(one(&c, "SELECT 2").await, "2");
    // An error in a prepared statement's execution also recovers at Sync.
    let st = c.prepare("SELECT 10::int / $1::int").await.unwrap();
    assert_eq!(code(&c.query_one(&st, &[&0i32]).await.unwrap_err()), "22012");
    assert_eq!(c.query_one(&st, &[&5i32]).await.unwrap().get::<_, i32>(0), 2);
}

#[tokio::test]
async fn syntax_errors_point_at_the_offending_token() {
    let s = TestServer::start();
    let c = s.connect().await;
    let e = expect_error(&c, "SELECT 1; SELEC 2", "42601").await;
    assert!(e.message().contains("SELEC"), "{}", e.message());
    match e.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(p)) => assert_eq!(*p, 11),
        other => panic!("no position: {other:?}"),
    }
}

#[tokio::test]
async fn results_stream_instead_of_being_buffered() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE big (i bigint PRIMARY KEY, pad text)").await.unwrap();
    c.batch_execute("INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 200000) AS g(i)").await.unwrap();
    let params: Vec<i64> = vec![];
    let stream = c.query_raw("SELECT i, pad FROM big", params.iter()).await.unwrap();
    futures::pin_mut!(stream);
    let mut n = 0u64;
    while let Some(row) = stream.next().await {
        let row = row.unwrap();
        assert_eq!(row.get::<_, &str>(1).len(), 100);
        n += 1;
    }
    assert_eq!(n, 200_000);
}

#[tokio::test]
async fn parameter_status_and_server_identity() {
    let s = TestServer::start();
    let c = s.connect().await;
    assert!(one(&c, "SELECT version()").await.starts_with("PostgreSQL 15"));
    assert_eq!(one(&c, "SHOW server_encoding").await, "UTF8");
    assert_eq!(one(&c, "SELECT current_setting('integer_datetimes')").await, "on");
    assert_eq!(one(&c, "SELECT current_database()").await, "postgres");
    assert_eq!(one(&c, "SELECT current_user").await, SUPERUSER);
    let lsn = one(&c, "SELECT pg_current_wal_lsn()").await;
    assert!(lsn.contains('/'), "{lsn}");
}

#[tokio::test]
async fn unknown_database_is_3d000() {
    let s = TestServer::start();
    let e = s.try_connect(&s.conn_string("nope")).await.err().expect("must fail");
    assert_eq!(code(&e), "3D000");
}

#[tokio::test]
async fn insert_fills_defaults_for_columns_given_as_default_and_for_default_values() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE d (id serial PRIMARY KEY, v int DEFAULT 7, w text);
         INSERT INTO d DEFAULT VALUES;
         INSERT INTO d VALUES (DEFAULT, DEFAULT, 'a');
         INSERT INTO d (id, w) VALUES (DEFAULT, 'b');
         INSERT INTO d (v) VALUES (1)",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&c, "SELECT id, v, w FROM d ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("7".into()), None],
            vec![Some("2".into()), Some("7".into()), Some("a".into())],
            vec![Some("3".into()), Some("7".into()), Some("b".into())],
            vec![Some("4".into()), Some("1".into()), None],
        ]
    );
}

#[tokio::test]
async fn pg_typeof_names_the_type() {
    let s = TestServer::start();
    let c = s.connect().await;
    assert_eq!(
        rows(&c, "SELECT pg_typeof(true), pg_typeof('x'::text), pg_typeof(now()), pg_typeof(current_date), pg_typeof(2::bigint)").await,
        vec![vec![
            Some("boolean".into()),
            Some("text".into()),
            Some("timestamp with time zone".into()),
            Some("date".into()),
            Some("bigint".into())
        ]]
    );
    // In binary (tokio-postgres' extended protocol) a regtype is its oid.
    let row = c
        .query_one("SELECT pg_typeof(1::int4), pg_typeof('x'::varchar(10)), pg_typeof(1.5::numeric(10, 2)), pg_typeof(now())", &[])
        .await
        .unwrap();
    let oids: Vec<u32> = (0..4).map(|i| row.get::<_, RegType>(i).0).collect();
    assert_eq!(oids, [23, 1043, 1700, 1184]);
    // A type modifier names no other type, wherever a type is named.
    assert_eq!(
        rows(&c, "SELECT 'character varying(10)'::regtype::oid::text, 'numeric(10, 2)[]'::regtype::oid::text").await,
        vec![vec![Some("1043".into()), Some("1231".into())]]
    );
}

/// A regtype's binary form: its oid (tokio-postgres reads u32 only as oid).
struct RegType(u32);

impl<'a> tokio_postgres::types::FromSql<'a> for RegType {
    fn from_sql(_: &tokio_postgres::types::Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RegType(u32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::REGTYPE
    }
}

/// ORDER BY a qualified input column that an output alias shadows, as
/// PostgreSQL resolves it (DataFusion alone reports an ambiguity).
#[tokio::test]
async fn order_by_a_qualified_column_shadowed_by_an_alias() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE o (k text, y int); INSERT INTO o VALUES ('b', 1), ('a', 2), ('c', 3)").await.unwrap();
    let col = |rows: Vec<Vec<Option<String>>>| rows.into_iter().map(|r| r[0].clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(col(rows(&c, "SELECT o.y * 2 AS y FROM o ORDER BY o.y DESC").await), ["6", "4", "2"]);
    assert_eq!(col(rows(&c, "SELECT sum(o.y) AS y FROM o GROUP BY o.k ORDER BY o.k").await), ["2", "1", "3"]);
    // A bare name still means the output column.
    assert_eq!(col(rows(&c, "SELECT -o.y AS y FROM o ORDER BY y").await), ["-3", "-2", "-1"]);
    let stmt = c.prepare("SELECT o.y * 2 AS y FROM o ORDER BY o.y").await.unwrap();
    assert_eq!(stmt.columns()[0].name(), "y");
}

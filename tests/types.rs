//! Every supported column type round-trips in text (simple protocol) and
//! binary (tokio-postgres' extended protocol) formats, NULLs included, and
//! reports its PostgreSQL type to the client.

mod common;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use common::*;
use tokio_postgres::types::Type;

const DDL: &str = "CREATE TABLE every_type (
    id integer PRIMARY KEY,
    c_smallint smallint,
    c_bigint bigint,
    c_real real,
    c_double double precision,
    c_numeric numeric(12,3),
    c_bool boolean,
    c_text text,
    c_varchar varchar(10),
    c_char char(4),
    c_date date,
    c_ts timestamp,
    c_tstz timestamptz,
    c_bytea bytea
)";

#[tokio::test]
async fn binary_format_round_trips_every_type() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(DDL).await.unwrap();
    let ts = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_micro_opt(23, 59, 58, 123_456).unwrap();
    let tstz: DateTime<Utc> = DateTime::from_naive_utc_and_offset(ts, Utc);
    let date = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
    let bytes: Vec<u8> = vec![0, 1, 2, 255, b'\\', b'\''];
    c.execute(
        "INSERT INTO every_type VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &1i32,
            &-32768i16,
            &i64::MAX,
            &1.5f32,
            &-2.25e300f64,
            &"-123456789.125",
            &true,
            &"héllo ☃",
            &"short",
            &"ab",
            &date,
            &ts,
            &tstz,
            &bytes,
        ],
    )
    .await
    .unwrap();
    c.execute("INSERT INTO every_type (id) VALUES (2)", &[]).await.unwrap();

    let row = c.query_one("SELECT * FROM every_type WHERE id = 1", &[]).await.unwrap();
    let types: Vec<Type> = row.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        vec![
            Type::INT4,
            Type::INT2,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::BOOL,
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::BYTEA
        ]
    );
    assert_eq!(row.get::<_, i16>(1), -32768);
    assert_eq!(row.get::<_, i64>(2), i64::MAX);
    assert_eq!(row.get::<_, f32>(3), 1.5);
    assert_eq!(row.get::<_, f64>(4), -2.25e300);
    assert_eq!(row.get::<_, bool>(6), true);
    assert_eq!(row.get::<_, &str>(7), "héllo ☃");
    assert_eq!(row.get::<_, &str>(8), "short");
    assert_eq!(row.get::<_, &str>(9), "ab  ", "char(n) pads with spaces");
    assert_eq!(row.get::<_, NaiveDate>(10), date);
    assert_eq!(row.get::<_, NaiveDateTime>(11), ts);
    assert_eq!(row.get::<_, DateTime<Utc>>(12), tstz);
    assert_eq!(row.get::<_, Vec<u8>>(13), bytes);
    // numeric has no native Rust type in tokio-postgres: read it as text.
    assert_eq!(one(&c, "SELECT c_numeric FROM every_type WHERE id = 1").await, "-123456789.125");
    assert_eq!(rows(&c, "SELECT c_numeric FROM every_type WHERE id = 2").await, vec![vec![None]]);

    let nulls = c.query_one("SELECT * FROM every_type WHERE id = 2", &[]).await.unwrap();
    for i in 1..nulls.len() {
        let t = nulls.columns()[i].type_().clone();
        if t == Type::NUMERIC {
            continue; // no Rust type in tokio-postgres; checked as text below
        }
        let is_null = match t {
            Type::INT2 => nulls.get::<_, Option<i16>>(i).is_none(),
            Type::INT8 => nulls.get::<_, Option<i64>>(i).is_none(),
            Type::FLOAT4 => nulls.get::<_, Option<f32>>(i).is_none(),
            Type::FLOAT8 => nulls.get::<_, Option<f64>>(i).is_none(),
            Type::BOOL => nulls.get::<_, Option<bool>>(i).is_none(),
            Type::DATE => nulls.get::<_, Option<NaiveDate>>(i).is_none(),
            Type::TIMESTAMP => nulls.get::<_, Option<NaiveDateTime>>(i).is_none(),
            Type::TIMESTAMPTZ => nulls.get::<_, Option<DateTime<Utc>>>(i).is_none(),
            Type::BYTEA => nulls.get::<_, Option<Vec<u8>>>(i).is_none(),
            _ => nulls.get::<_, Option<&str>>(i).is_none(),
        };
        assert!(is_null, "column {i} ({t}) should be NULL");
    }
}

#[tokio::test]
async fn text_format_matches_postgres_output() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(DDL).await.unwrap();
    c.batch_execute(
        "SET TimeZone = 'UTC';
         INSERT INTO every_type VALUES (1, 7, 9007199254740993, 0.1, 1e-7, 3.5, false, 'it''s', 'v', 'c',
             '2024-05-07', '2024-05-07 01:02:03.5', '2024-05-07 01:02:03+02', '\\xdeadbeef')",
    )
    .await
    .unwrap();
    let r = rows(&c, "SELECT * FROM every_type").await;
    let got: Vec<&str> = r[0].iter().map(|v| v.as_deref().unwrap()).collect();
    assert_eq!(
        got,
        vec![
            "1",
            "7",
            "9007199254740993",
            "0.1",
            "1e-07",
            "3.500",
            "f",
            "it's",
            "v",
            "c   ",
            "2024-05-07",
            "2024-05-07 01:02:03.5",
            "2024-05-06 23:02:03+00",
            "\\xdeadbeef"
        ]
    );
    // Time zone of the session applies to timestamptz output.
    c.batch_execute("SET TimeZone = 'America/New_York'").await.unwrap();
    assert_eq!(one(&c, "SELECT c_tstz FROM every_type").await, "2024-05-06 19:02:03-04");
}

#[tokio::test]
async fn out_of_range_and_invalid_input_are_rejected_with_the_right_code() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(DDL).await.unwrap();
    expect_error(&c, "INSERT INTO every_type (id, c_smallint) VALUES (1, 40000)", "22003").await;
    expect_error(&c, "INSERT INTO every_type (id, c_numeric) VALUES (1, 1234567890.5)", "22003").await;
    expect_error(&c, "INSERT INTO every_type (id, c_varchar) VALUES (1, 'much too long')", "22001").await;
    expect_error(&c, "INSERT INTO every_type (id, c_date) VALUES (1, 'yesterday-ish')", "22007").await;
    expect_error(&c, "INSERT INTO every_type (id, c_bool) VALUES (1, 'maybe')", "22P02").await;
    expect_error(&c, "INSERT INTO every_type (id, c_bigint) VALUES (1, 'lots')", "22P02").await;
    expect_error(&c, "INSERT INTO every_type (id) VALUES (NULL)", "23502").await;
    assert_eq!(one(&c, "SELECT count(*) FROM every_type").await, "0");
}

/// PostgreSQL's interval on the wire (tokio-postgres has no Rust type for
/// it): microseconds, days, months; sent in binary or, with `text`, as
/// interval text the server must parse.
#[derive(Debug, PartialEq)]
struct Interval {
    micros: i64,
    days: i32,
    months: i32,
}

#[derive(Debug)]
struct IntervalText(&'static str);

impl tokio_postgres::types::ToSql for Interval {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(tokio_postgres::types::IsNull::No)
    }
    fn accepts(t: &Type) -> bool {
        *t == Type::INTERVAL
    }
    tokio_postgres::types::to_sql_checked!();
}

impl tokio_postgres::types::ToSql for IntervalText {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }
    fn accepts(t: &Type) -> bool {
        *t == Type::INTERVAL
    }
    fn encode_format(&self, _: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }
    tokio_postgres::types::to_sql_checked!();
}

impl<'a> tokio_postgres::types::FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw: [u8; 16] = raw.try_into()?;
        Ok(Interval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        })
    }
    fn accepts(t: &Type) -> bool {
        *t == Type::INTERVAL
    }
}

#[tokio::test]
async fn interval_parameters_and_date_arithmetic_describe_what_they_send() {
    let s = TestServer::start();
    let c = s.connect().await;
    // Binary interval parameters and results round-trip.
    let back: Interval =
        c.query_one("SELECT $1::interval", &[&Interval { micros: 7_200_000_005, days: -1, months: 14 }]).await.unwrap().get(0);
    assert_eq!(back, Interval { micros: 7_200_000_005, days: -1, months: 14 });
    // Text interval parameters in the forms clients send (psycopg's timedelta, PostgreSQL's own output).
    let stmt = c.prepare_typed("SELECT $1", &[Type::INTERVAL]).await.unwrap();
    for (text, expected) in [
        ("-1 day 2:00:00.000005", Interval { micros: 7_200_000_005, days: -1, months: 0 }),
        ("1 year 2 mons 3 days 04:05:06", Interval { micros: 14_706_000_000, days: 3, months: 14 }),
        ("P1DT1H", Interval { micros: 3_600_000_000, days: 1, months: 0 }),
    ] {
        let got: Interval = c.query_one(&stmt, &[&IntervalText(text)]).await.unwrap().get(0);
        assert_eq!(got, expected, "{text}");
    }
    let e = c.query_one(&stmt, &[&IntervalText("soon")]).await.unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "22007");

    // The described column type is what the rows carry: date + interval is a
    // timestamp, timestamp - (interval parameter) too.
    let ts = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap().and_hms_opt(1, 0, 0).unwrap();
    let stmt = c.prepare("SELECT date '2024-01-01' + interval '1 hour'").await.unwrap();
    assert_eq!(stmt.columns()[0].type_(), &Type::TIMESTAMP);
    assert_eq!(c.query_one(&stmt, &[]).await.unwrap().get::<_, NaiveDateTime>(0), ts);
    let stmt = c.prepare_typed("SELECT $1::timestamp - $2", &[Type::TEXT, Type::INTERVAL]).await.unwrap();
    assert_eq!(stmt.columns()[0].type_(), &Type::TIMESTAMP);
    let row = c.query_one(&stmt, &[&"2024-01-01 03:00", &Interval { micros: 7_200_000_000, days: 0, months: 0 }]).await.unwrap();
    assert_eq!(row.get::<_, NaiveDateTime>(0), ts);
    // An interval parameter next to a date or timestamp is an interval, not the other operand's type.
    for sql in ["SELECT $1::date + $2", "SELECT $1::timestamp + $2", "SELECT $2 + $1::date"] {
        let stmt = c.prepare_typed(sql, &[Type::TEXT, Type::INTERVAL]).await.unwrap();
        assert_eq!(stmt.columns()[0].type_(), &Type::TIMESTAMP, "{sql}");
        let row = c.query_one(&stmt, &[&"2024-01-01", &Interval { micros: 3_600_000_000, days: 0, months: 0 }]).await.unwrap();
        assert_eq!(row.get::<_, NaiveDateTime>(0), ts, "{sql}");
    }
}

#[tokio::test]
async fn a_case_over_json_is_json_as_in_postgres() {
    // SQLAlchemy reflects identity columns with CASE WHEN … THEN (SELECT
    // json_build_object(…)) ELSE NULL END and needs json back, not text.
    let s = TestServer::start();
    let c = s.connect().await;
    for sql in [
        "SELECT CASE WHEN $1 THEN json_build_object('a', 1) ELSE NULL END AS j ORDER BY 1",
        "SELECT CASE WHEN $1 THEN (SELECT json_build_object('a', 1)) END",
        "SELECT CASE WHEN $1 THEN CASE WHEN true THEN json_build_object('a', 1) END END",
    ] {
        let stmt = c.prepare_typed(sql, &[Type::BOOL]).await.unwrap();
        assert_eq!(stmt.columns()[0].type_(), &Type::JSON, "{sql}");
        let rows = c.simple_query(&sql.replace("$1", "true")).await.unwrap();
        let tokio_postgres::SimpleQueryMessage::Row(r) = &rows[1] else { panic!("{rows:?}") };
        // PostgreSQL's json_build_object spacing.
        assert_eq!(r.get(0), Some(r#"{"a" : 1}"#), "{sql}");
    }
    // Branches of different types stay text.
    let stmt = c.prepare_typed("SELECT CASE WHEN $1 THEN json_build_object('a', 1) ELSE 'x' END", &[Type::BOOL]).await.unwrap();
    assert_eq!(stmt.columns()[0].type_(), &Type::TEXT);
}

#[tokio::test]
async fn uuid_columns_round_trip_and_compare_as_postgres_does() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE u (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n integer)").await.unwrap();
    let a = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    // Binary parameter, any spelling PostgreSQL reads, and the default.
    c.execute("INSERT INTO u VALUES ($1, 1)", &[&a]).await.unwrap();
    c.batch_execute(
        "INSERT INTO u VALUES ('{00000000-0000-4000-8000-0000000000FF}', 2), ('ffffffff00004000800000000000000a', 3);
         INSERT INTO u (n) VALUES (4)",
    )
    .await
    .unwrap();

    // Described and sent as uuid: binary decodes to the same value, text is canonical.
    let row = c.query_one("SELECT id, n FROM u WHERE n = 1", &[]).await.unwrap();
    assert_eq!(row.columns()[0].type_(), &Type::UUID);
    assert_eq!(row.get::<_, uuid::Uuid>(0), a);
    assert_eq!(
        rows(&c, "SELECT id FROM u WHERE n IN (1, 2, 3) ORDER BY id").await,
        vec![
            vec![Some("00000000-0000-4000-8000-0000000000ff".into())],
            vec![Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())],
            vec![Some("ffffffff-0000-4000-8000-00000000000a".into())],
        ],
        "canonical text, ordered by bytes"
    );
    let generated = one(&c, "SELECT id FROM u WHERE n = 4").await;
    assert_eq!(generated.as_bytes()[14], b'4', "gen_random_uuid() is version 4: {generated}");

    // A literal in another spelling finds the row: key lookup, IN list, range, join.
    for sql in [
        "SELECT n FROM u WHERE id = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
        "SELECT n FROM u WHERE id IN ('{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'a0eebc999c0b4ef8bb6d6bb9bd380a12')",
        "SELECT n FROM u WHERE id > '00000000-0000-4000-8000-0000000000FF' AND id < 'FFFFFFFF-0000-4000-8000-00000000000A' AND n < 4",
        "SELECT u.n FROM u JOIN (SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid AS id) k ON u.id = k.id",
    ] {
        assert_eq!(one(&c, sql).await, "1", "{sql}");
    }
    // A parameter next to a uuid column is a uuid.
    let stmt = c.prepare("SELECT n FROM u WHERE id = $1").await.unwrap();
    assert_eq!(stmt.params(), &[Type::UUID]);
    assert_eq!(c.query_one(&stmt, &[&a]).await.unwrap().get::<_, i32>(0), 1);
    // So is one cast to uuid, in a query and in a DML statement.
    let stmt = c.prepare("SELECT $1::uuid, n FROM u WHERE id = $1::uuid").await.unwrap();
    assert_eq!(stmt.params(), &[Type::UUID]);
    assert_eq!(c.query_one(&stmt, &[&a]).await.unwrap().get::<_, uuid::Uuid>(0), a);
    assert_eq!(c.execute("UPDATE u SET n = n WHERE id = $1::uuid", &[&a]).await.unwrap(), 1);
    // And an array of them next to ANY.
    let stmt = c.prepare("SELECT count(*) FROM u WHERE id = ANY($1)").await.unwrap();
    assert_eq!(stmt.params(), &[Type::UUID_ARRAY]);
    let b = uuid::Uuid::parse_str("00000000-0000-4000-8000-0000000000ff").unwrap();
    assert_eq!(c.query_one(&stmt, &[&vec![a, b]]).await.unwrap().get::<_, i64>(0), 2);
    c.batch_execute("PREPARE by_ids(uuid[]) AS SELECT count(*) FROM u WHERE id = ANY($1)").await.unwrap();
    assert_eq!(one(&c, "EXECUTE by_ids('{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11, NULL}')").await, "1");
    assert_eq!(code(&c.batch_execute("EXECUTE by_ids('{nope}')").await.unwrap_err()), "22P02");
    // UPDATE and DELETE through a uuid key.
    c.execute("UPDATE u SET n = 10 WHERE id = $1", &[&a]).await.unwrap();
    assert_eq!(c.execute("DELETE FROM u WHERE id = 'FFFFFFFF00004000800000000000000A'", &[]).await.unwrap(), 1);
    assert_eq!(one(&c, "SELECT sum(n) FROM u").await, "16");

    // Errors as PostgreSQL's: bad input 22P02, one uuid in two spellings 23505.
    for sql in [
        "INSERT INTO u VALUES ('not-a-uuid', 5)",
        "INSERT INTO u VALUES (' a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 5)",
        "SELECT n FROM u WHERE id = 'a0eebc99'",
        "SELECT count(*) FROM u WHERE id IN ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'nope')",
    ] {
        let e = c.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(&e), "22P02", "{sql}: {e:?}");
    }
    let e = c.batch_execute("INSERT INTO u VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 6)").await.unwrap_err();
    assert_eq!(code(&e), "23505");

    // CREATE TABLE AS keeps the type; a uuid converts to text but text needs USING.
    c.batch_execute("CREATE TABLE u2 AS SELECT id FROM u").await.unwrap();
    assert_eq!(one(&c, "SELECT data_type FROM information_schema.columns WHERE table_name = 'u2'").await, "uuid");
    c.batch_execute("ALTER TABLE u2 ALTER COLUMN id TYPE text").await.unwrap();
    let e = c.batch_execute("ALTER TABLE u2 ALTER COLUMN id TYPE uuid").await.unwrap_err();
    assert_eq!(code(&e), "42804");
    c.batch_execute("ALTER TABLE u2 ALTER COLUMN id TYPE uuid USING id::uuid").await.unwrap();
    assert_eq!(one(&c, "SELECT count(*) FROM u2 WHERE id = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'").await, "1");
}

/// json and jsonb parameters are described as json and jsonb, as
/// PostgreSQL describes them, so a driver encodes its JSON values by that
/// type: tokio-postgres binds `serde_json::Value` (jsonb's binary form with
/// its version byte), in INSERT, UPDATE and a WHERE on the column; text that
/// is not JSON is 22P02.
#[tokio::test]
async fn json_parameters_are_described_as_json_and_jsonb() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE docs (id int PRIMARY KEY, j json, b jsonb)").await.unwrap();
    let insert = c.prepare("INSERT INTO docs VALUES ($1, $2, $3)").await.unwrap();
    assert_eq!(insert.params(), &[Type::INT4, Type::JSON, Type::JSONB]);
    let v = serde_json::json!({"a": [1, 2, {"b": null}], "s": "x\"y", "n": 1.5});
    c.execute(&insert, &[&1i32, &v, &v]).await.unwrap();
    let row = c.query_one("SELECT j, b FROM docs WHERE id = 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, serde_json::Value>(0), v);
    assert_eq!(row.get::<_, serde_json::Value>(1), v);

    let update = c.prepare("UPDATE docs SET b = $1 WHERE id = $2").await.unwrap();
    assert_eq!(update.params(), &[Type::JSONB, Type::INT4]);
    c.execute(&update, &[&serde_json::json!([10, 20, 30]), &1i32]).await.unwrap();
    assert_eq!(one(&c, "SELECT b->>1 FROM docs WHERE id = 1").await, "20");

    let by_doc = c.prepare("SELECT id FROM docs WHERE b = $1").await.unwrap();
    assert_eq!(by_doc.params(), &[Type::JSONB]);
    assert_eq!(c.query_one(&by_doc, &[&serde_json::json!([10, 20, 30])]).await.unwrap().get::<_, i32>(0), 1);
    // Through DataFusion (an aggregate), and jsonb compared as jsonb: the
    // parameter's spacing is not the stored text's.
    let counted = c.prepare("SELECT count(*) FROM docs WHERE b = $1 OR id = $2").await.unwrap();
    assert_eq!(counted.params(), &[Type::JSONB, Type::INT4]);
    let n: i64 = c.query_one(&counted, &[&serde_json::json!([10, 20, 30]), &-1i32]).await.unwrap().get(0);
    assert_eq!(n, 1);

    // Text-format parameters of either type, checked as JSON on the way in.
    c.batch_execute("PREPARE put(int, json, jsonb) AS INSERT INTO docs VALUES ($1, $2, $3)").await.unwrap();
    c.batch_execute(r#"EXECUTE put(2, '{"k": true}', '{"k": false}')"#).await.unwrap();
    assert_eq!(one(&c, "SELECT (j->>'k') || '/' || (b->>'k') FROM docs WHERE id = 2").await, "true/false");
    let e = expect_error(&c, "EXECUTE put(3, '{bad', NULL)", "22P02").await;
    assert!(e.message().contains("json"), "{}", e.message());
}

/// A cast to text is text, whatever it was cast from: compared with any
/// string (not read as a uuid, no 22P02), its parameter described as text,
/// its column described as text — as in PostgreSQL. Comparisons with the
/// uncast column still read the literal as that column's type.
#[tokio::test]
async fn casts_to_text_are_text() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE tagged (u uuid PRIMARY KEY, j json, b jsonb, n int);
         INSERT INTO tagged VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '[1, 2]', 5)",
    )
    .await
    .unwrap();
    assert_eq!(one(&c, "SELECT (u::text = 'foo')::text FROM tagged").await, "false");
    assert_eq!(one(&c, "SELECT count(*)::text FROM tagged WHERE u::text <> 'not a uuid' AND CAST(u AS varchar) < 'b'").await, "1");
    assert_eq!(one(&c, "SELECT (j::text = '{\"a\": 1}')::text FROM tagged").await, "true");
    // The uncast column still takes the literal as a uuid.
    assert_eq!(one(&c, "SELECT n::text FROM tagged WHERE u = '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'").await, "5");
    expect_error(&c, "SELECT n FROM tagged WHERE u = 'foo'", "22P02").await;

    let by_text = c.prepare("SELECT n FROM tagged WHERE u::text = $1 OR j::text = $2 OR b::text = $3").await.unwrap();
    assert_eq!(by_text.params(), &[Type::TEXT, Type::TEXT, Type::TEXT]);
    let rows = c.query(&by_text, &[&"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", &"x", &"y"]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(c.query(&by_text, &[&"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", &"x", &"y"]).await.unwrap().is_empty());

    let shown = c.prepare("SELECT u::text, j::text, b::text, n::text, u, j, b FROM tagged").await.unwrap();
    let types: Vec<Type> = shown.columns().iter().map(|col| col.type_().clone()).collect();
    assert_eq!(types, [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::UUID, Type::JSON, Type::JSONB]);
    let row = c.query_one(&shown, &[]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(row.get::<_, &str>(2), "[1, 2]");

    // The same in a row-writing statement's WHERE.
    assert_eq!(c.execute("UPDATE tagged SET n = 6 WHERE u::text = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", &[]).await.unwrap(), 1);
    assert_eq!(c.execute("DELETE FROM tagged WHERE u::text = 'foo'", &[]).await.unwrap(), 0);
}

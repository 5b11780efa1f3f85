//! PostgreSQL functions DataFusion does not have.
//!
//! Three groups, all registered in each session's DataFusion context:
//!
//! - session and server state: `version()`, `current_setting()`, `set_config()`,
//!   `now()` (transaction start, as in PostgreSQL), `pg_current_wal_lsn()`,
//!   `nextval()`, `pg_sleep()`, `pg_is_in_recovery()`…
//! - catalog functions clients call: `format_type()`, `pg_get_expr()`,
//!   `pg_get_indexdef()`, `pg_get_constraintdef()`, `pg_table_is_visible()`…
//! - types DataFusion lacks, carried as text or integers and tagged with their
//!   PostgreSQL type for the wire: `pg_lsn` (a u64 that prints `16/B374D848`),
//!   `uuid`, `jsonb` with `->` / `->>`, `regclass`.
//!
//! Each function is a closure over scalar values, applied row by row; the
//! hot ones (`now()`, settings) are constant per statement and evaluated once.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType as A, Field, FieldRef, TimeUnit};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;
use duetdb_storage::{Catalog, Lsn};

use crate::error::SqlError;
use crate::pg::encode::META_OID;
use crate::pg::oid;
use crate::sql::system::{self, Relation, format_type, index_def};

/// What session-aware functions ask the session.
pub trait FunctionEnv: Send + Sync {
    fn setting(&self, name: &str) -> Option<String>;
    fn set_setting(&self, name: &str, value: &str, local: bool) -> Result<String, SqlError>;
    fn user(&self) -> String;
    fn database(&self) -> String;
    fn backend_pid(&self) -> i32;
    fn transaction_start(&self) -> i64;
    fn statement_start(&self) -> i64;
    fn server_start(&self) -> i64;
    fn catalog(&self) -> Arc<Catalog>;
    fn nextval(&self, name: &str) -> Result<i64, SqlError>;
    fn currval(&self, name: &str) -> Result<i64, SqlError>;
    fn lastval(&self) -> Result<i64, SqlError>;
    fn setval(&self, name: &str, value: i64, is_called: bool) -> Result<i64, SqlError>;
    fn current_wal_lsn(&self) -> Result<Lsn, SqlError>;
    fn flushed_wal_lsn(&self) -> Result<Lsn, SqlError>;
    fn in_recovery(&self) -> bool;
    /// The timeline this server writes (primary) or follows (standby).
    fn timeline(&self) -> u32;
    fn receive_lsn(&self) -> Option<Lsn>;
    fn replay_lsn(&self) -> Option<Lsn>;
    fn transaction_id(&self) -> i64;
    fn reload_config(&self) -> bool;
    fn cancel_backend(&self, pid: i32, terminate: bool) -> bool;
    /// pg_blocking_pids: the backends `pid` waits for.
    fn blocking_pids(&self, pid: i32) -> Vec<i32>;
    fn relation_size(&self, oid: u32) -> i64;
    fn client_addr(&self) -> Option<String>;
    fn server_addr(&self) -> (Option<String>, Option<i32>);
    /// Why the running statement must stop now (cancel request, statement_timeout), if it must.
    fn interrupted(&self) -> Option<SqlError>;
}

/// A vectorized function's result: one scalar when every argument was a
/// scalar (a call on constants), else the array.
pub fn columnar_result(out: datafusion::arrow::array::ArrayRef, args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
    }
    Ok(ColumnarValue::Array(out))
}

/// A session held by a function that implements DataFusion's traits itself
/// (compared by identity: one per session).
#[derive(Clone)]
pub struct EnvHandle(pub Arc<dyn FunctionEnv>);

impl std::fmt::Debug for EnvHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FunctionEnv")
    }
}

impl EnvHandle {
    /// The session's `TimeZone` (UTC if the setting does not parse).
    pub fn zone(&self) -> crate::pg::datetime::Zone {
        self.0.setting("TimeZone").and_then(|z| crate::pg::datetime::Zone::parse(&z)).unwrap_or(crate::pg::datetime::Zone::Utc)
    }
}

impl PartialEq for EnvHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for EnvHandle {}

impl std::hash::Hash for EnvHandle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as *const () as usize).hash(state)
    }
}

type Body = Arc<dyn Fn(&[ScalarValue]) -> Result<ScalarValue, SqlError> + Send + Sync>;

/// A row-wise function over scalar values.
struct PgFn {
    name: String,
    signature: Signature,
    ret: A,
    /// PostgreSQL type to tag the result with (for types DataFusion lacks).
    pg_type: Option<u32>,
    body: Body,
}

impl fmt::Debug for PgFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgFn({})", self.name)
    }
}

impl PartialEq for PgFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.body, &other.body)
    }
}
impl Eq for PgFn {}
impl Hash for PgFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for PgFn {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[A]) -> DfResult<A> {
        Ok(self.ret.clone())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let mut f = Field::new(&self.name, self.ret.clone(), true);
        if let Some(o) = self.pg_type {
            f = f.with_metadata(HashMap::from([(META_OID.to_string(), o.to_string())]));
        }
        Ok(Arc::new(f))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        invoke_rowwise(&args, &self.ret, |vals| (self.body)(vals))
    }
}

/// Runs a row-wise `body` over a call's arguments: once on scalars (a call
/// on constants), else once per row. Each result is made `ret`: nulls must
/// have the declared type for arrays to build.
pub fn invoke_rowwise(
    args: &ScalarFunctionArgs,
    ret: &A,
    body: impl Fn(&[ScalarValue]) -> Result<ScalarValue, SqlError>,
) -> DfResult<ColumnarValue> {
    let call = |vals: &[ScalarValue]| -> DfResult<ScalarValue> {
        let v = body(vals).map_err(|e| DataFusionError::External(Box::new(e)))?;
        if v.data_type() == *ret {
            Ok(v)
        } else if v.is_null() {
            ScalarValue::try_from(ret)
        } else {
            v.cast_to(ret)
        }
    };
    if args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        let vals: Vec<ScalarValue> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => s.clone(),
                ColumnarValue::Array(_) => unreachable!(),
            })
            .collect();
        return Ok(ColumnarValue::Scalar(call(&vals)?));
    }
    if args.number_rows == 0 {
        return Ok(ColumnarValue::Array(datafusion::arrow::array::new_empty_array(ret)));
    }
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let mut out = Vec::with_capacity(args.number_rows);
    for i in 0..args.number_rows {
        let row: Vec<ScalarValue> = arrays.iter().map(|a| ScalarValue::try_from_array(a, i)).collect::<DfResult<_>>()?;
        out.push(call(&row)?);
    }
    Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
}

fn udf(name: &str, volatility: Volatility, ret: A, pg_type: Option<u32>, body: Body) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgFn {
        name: name.to_string(),
        // Zero arguments (`version()`) or any number of any type: each body checks its own.
        signature: Signature::one_of(vec![TypeSignature::Nullary, TypeSignature::VariadicAny], volatility),
        ret,
        pg_type,
        body,
    })
}

/// `pg_typeof(x)`: the type x is sent to clients as — its tag (json, uuid,
/// …) where it has one, else by its Arrow type (a char(n) or varchar reads as text).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

impl Default for PgTypeof {
    fn default() -> Self {
        PgTypeof { signature: Signature::any(1, Volatility::Stable) }
    }
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[A]) -> DfResult<A> {
        Ok(A::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let f = Field::new("pg_typeof", A::Utf8, true).with_metadata(HashMap::from([(META_OID.to_string(), oid::REGTYPE.to_string())]));
        Ok(Arc::new(f))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let t = crate::pg::encode::wire_type(&args.arg_fields[0]);
        let name = system::format_type(t.oid, t.typmod).unwrap_or_else(|| "unknown".into());
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

// ---------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------

pub fn arg_str(args: &[ScalarValue], i: usize) -> Option<String> {
    match args.get(i)? {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.clone(),
        v if v.is_null() => None,
        v => Some(v.to_string()),
    }
}

fn arg_i64(args: &[ScalarValue], i: usize) -> Option<i64> {
    let v = args.get(i)?;
    if v.is_null() {
        return None;
    }
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.trim().parse().ok(),
        ScalarValue::Float64(Some(f)) => Some(*f as i64),
        ScalarValue::Float32(Some(f)) => Some(*f as i64),
        ScalarValue::Decimal128(Some(m), _, s) => Some((*m / 10i128.pow(*s as u32)) as i64),
        v => v.cast_to(&A::Int64).ok().and_then(|c| match c {
            ScalarValue::Int64(x) => x,
            _ => None,
        }),
    }
}

fn arg_oid(args: &[ScalarValue], i: usize) -> Option<u32> {
    arg_i64(args, i).and_then(|v| u32::try_from(v).ok())
}

fn arg_bool(args: &[ScalarValue], i: usize) -> Option<bool> {
    match args.get(i)? {
        ScalarValue::Boolean(b) => *b,
        v => arg_str(&[v.clone()], 0).and_then(|s| crate::pg::decode::parse_bool(&s)),
    }
}

fn arg_f64(args: &[ScalarValue], i: usize) -> Option<f64> {
    let v = args.get(i)?;
    if v.is_null() {
        return None;
    }
    v.cast_to(&A::Float64).ok().and_then(|c| match c {
        ScalarValue::Float64(x) => x,
        _ => None,
    })
}

/// An LSN argument: a u64 (our pg_lsn representation) or `X/Y` text.
fn arg_lsn(args: &[ScalarValue], i: usize) -> Option<u64> {
    match args.get(i)? {
        ScalarValue::UInt64(v) => *v,
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.parse::<Lsn>().ok().map(|l| l.0),
        v if v.is_null() => None,
        v => arg_i64(&[v.clone()], 0).map(|x| x as u64),
    }
}

pub fn text(s: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(s.into()))
}

pub fn null_text() -> ScalarValue {
    ScalarValue::Utf8(None)
}

fn ts(micros: i64) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()))
}

fn lsn_value(l: Option<Lsn>) -> ScalarValue {
    ScalarValue::UInt64(l.map(|l| l.0))
}

const TSTZ: A = A::Timestamp(TimeUnit::Microsecond, None);

fn tstz() -> A {
    A::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The local time `make_timestamp(y, m, d, h, mi, s)` names, with
/// PostgreSQL's field errors (22008); None when an argument is NULL.
fn local_timestamp(a: &[ScalarValue]) -> Result<Option<i64>, SqlError> {
    let parts: Option<Vec<i64>> = (0..5).map(|i| arg_i64(a, i)).collect();
    let (Some(p), Some(sec)) = (parts, arg_f64(a, 5)) else { return Ok(None) };
    let date = chrono::NaiveDate::from_ymd_opt(p[0] as i32, p[1] as u32, p[2] as u32)
        .ok_or_else(|| SqlError::new("22008", format!("date field value out of range: {}-{:02}-{:02}", p[0], p[1], p[2])))?;
    let out_of_range = || SqlError::new("22008", format!("time field value out of range: {}:{:02}:{:02}", p[3], p[4], sec));
    if !(0.0..60.0).contains(&sec) || !(0..24).contains(&p[3]) || !(0..60).contains(&p[4]) {
        return Err(out_of_range());
    }
    Ok(Some(
        date.and_hms_opt(0, 0, 0).ok_or_else(out_of_range)?.and_utc().timestamp_micros()
            + (p[3] * 3600 + p[4] * 60) * 1_000_000
            + (sec * 1e6).round() as i64,
    ))
}

/// A numeric or integer argument as (mantissa, scale).
fn arg_decimal(args: &[ScalarValue], i: usize) -> Option<(i128, i8)> {
    match args.get(i)? {
        ScalarValue::Decimal128(Some(m), _, s) => Some((*m, *s)),
        ScalarValue::Int16(Some(v)) => Some((i128::from(*v), 0)),
        ScalarValue::Int32(Some(v)) => Some((i128::from(*v), 0)),
        ScalarValue::Int64(Some(v)) => Some((i128::from(*v), 0)),
        _ => None,
    }
}

/// Mantissas at one (the largest) scale, None if one does not fit.
fn same_scale<const N: usize>(values: [(i128, i8); N]) -> Option<[i128; N]> {
    let scale = values.iter().map(|v| v.1).max()?;
    let mut out = [0i128; N];
    for (o, (m, s)) in out.iter_mut().zip(values) {
        *o = m.checked_mul(10i128.checked_pow(u32::try_from(scale - s).ok()?)?)?;
    }
    Some(out)
}

/// Values `width_bucket` can place: exact mantissas at one scale, or doubles.
trait BucketValue: Copy + PartialOrd {
    fn is_nan(self) -> bool;
    /// floor((x − from) / (to − from) · count) for from ≤ x < to (or the reverse).
    fn bucket(x: Self, from: Self, to: Self, count: i32) -> i32;
}

impl BucketValue for f64 {
    fn is_nan(self) -> bool {
        f64::is_nan(self) || self.is_infinite()
    }
    fn bucket(x: f64, from: f64, to: f64, count: i32) -> i32 {
        ((x - from) / (to - from) * f64::from(count)).floor() as i32
    }
}

impl BucketValue for i128 {
    fn is_nan(self) -> bool {
        false
    }
    fn bucket(x: i128, from: i128, to: i128, count: i32) -> i32 {
        // Both differences have the sign of (to − from), so the quotient is ≥ 0 and truncation floors.
        let exact = || Some(x.checked_sub(from)?.checked_mul(i128::from(count))? / to.checked_sub(from)?);
        match exact() {
            Some(n) => i32::try_from(n).unwrap_or(count),
            None => <f64 as BucketValue>::bucket(x as f64, from as f64, to as f64, count),
        }
    }
}

/// PostgreSQL's `width_bucket(x, low, high, count)`: which of `count` equal
/// buckets between the bounds holds `x` (0 below, count + 1 above; the
/// bounds may be given high to low).
fn width_bucket<T: BucketValue>(x: T, low: T, high: T, count: i64) -> Result<i32, SqlError> {
    if count <= 0 {
        return Err(SqlError::new("2201G", "count must be greater than zero"));
    }
    let count = i32::try_from(count).ok().filter(|c| *c < i32::MAX).ok_or_else(|| SqlError::new("22003", "integer out of range"))?;
    if low == high {
        return Err(SqlError::new("2201G", "lower bound cannot equal upper bound"));
    }
    if x.is_nan() || low.is_nan() || high.is_nan() {
        return Err(SqlError::new("2201G", "operand, lower bound, and upper bound cannot be NaN"));
    }
    let (below, above) = if low < high { (x < low, x >= high) } else { (x > low, x <= high) };
    if below {
        return Ok(0);
    }
    if above {
        return Ok(count + 1);
    }
    // A double's quotient may round up to 1.0 just below the upper bound: still the last bucket.
    Ok(T::bucket(x, low, high, count).clamp(0, count - 1) + 1)
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

/// Registers every function in `ctx`, bound to `env`.
pub fn register(ctx: &SessionContext, env: Arc<dyn FunctionEnv>) {
    ctx.register_udf(crate::sql::to_char::to_char(env.clone()));
    ctx.register_udf(crate::sql::age::age(env.clone()));
    ctx.register_udf(ScalarUDF::new_from_impl(PgTypeof::default()));
    for f in crate::sql::json_functions::all() {
        ctx.register_udf(f);
    }
    ctx.register_udf(crate::sql::make_interval::make_interval());
    ctx.register_udf(crate::sql::to_timestamp::to_timestamp(env.clone()));
    ctx.register_udf(crate::sql::to_timestamp::to_date(env.clone()));
    ctx.register_udf(crate::sql::to_number::to_number());
    ctx.register_udaf(crate::sql::ordered_set::percentile_disc());
    ctx.register_udaf(crate::sql::ordered_set::mode());
    ctx.register_udaf(crate::sql::numeric_division::avg());
    for f in all(env) {
        ctx.register_udf(f);
    }
    ctx.register_udf(crate::sql::interval_arith::interval_mul());
    // Casts of text and timestamps to timestamptz, and of timestamptz to
    // timestamp, go through this session's zone.
    let udf = |name: &str| datafusion::execution::FunctionRegistry::udf(ctx, name).expect("registered above");
    ctx.add_analyzer_rule(Arc::new(crate::sql::text_input::TimestamptzInput {
        timestamptz_in: udf("pg_timestamptz_in"),
        to_timestamptz: udf("pg_timestamp_to_timestamptz"),
        to_timestamp: udf("pg_timestamptz_to_timestamp"),
    }));
}

fn all(env: Arc<dyn FunctionEnv>) -> Vec<ScalarUDF> {
    use Volatility::*;
    let mut v = Vec::new();
    macro_rules! f {
        ($name:expr, $vol:expr, $ret:expr, $oid:expr, |$args:ident, $env:ident| $body:expr) => {{
            let $env = env.clone();
            #[allow(unused_variables)]
            let body: Body = Arc::new(move |$args: &[ScalarValue]| {
                #[allow(unused_variables)]
                let $env = &$env;
                $body
            });
            v.push(udf($name, $vol, $ret, $oid, body));
        }};
    }

    // --- session and server -------------------------------------------------
    f!("version", Stable, A::Utf8, None, |a, env| Ok(text(format!(
        "PostgreSQL {} on x86_64-pc-linux-gnu, compiled by rustc, 64-bit",
        crate::settings::SERVER_VERSION
    ))));
    f!("current_setting", Stable, A::Utf8, None, |a, env| {
        let name = arg_str(a, 0).unwrap_or_default();
        let missing_ok = arg_bool(a, 1).unwrap_or(false);
        match env.setting(&name) {
            Some(v) => Ok(text(v)),
            None if missing_ok => Ok(null_text()),
            None => Err(crate::settings::unknown(&name)),
        }
    });
    f!("set_config", Volatile, A::Utf8, None, |a, env| {
        let name = arg_str(a, 0).unwrap_or_default();
        let value = arg_str(a, 1).unwrap_or_default();
        Ok(text(env.set_setting(&name, &value, arg_bool(a, 2).unwrap_or(false))?))
    });
    for name in ["current_user", "session_user", "user", "current_role"] {
        f!(name, Stable, A::Utf8, Some(oid::NAME), |a, env| Ok(text(env.user())));
    }
    for name in ["current_database", "current_catalog"] {
        f!(name, Stable, A::Utf8, Some(oid::NAME), |a, env| Ok(text(env.database())));
    }
    f!("current_schema", Stable, A::Utf8, Some(oid::NAME), |a, env| Ok(text("public")));
    f!("current_schemas", Stable, A::List(Arc::new(Field::new("item", A::Utf8, true))), Some(1003), |a, env| {
        let mut v = vec![];
        if arg_bool(a, 0).unwrap_or(false) {
            v.push(text("pg_catalog"));
        }
        v.push(text("public"));
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(&v, &A::Utf8)))
    });
    f!("pg_backend_pid", Stable, A::Int32, None, |a, env| Ok(ScalarValue::Int32(Some(env.backend_pid()))));
    f!("now", Stable, tstz(), None, |a, env| Ok(ts(env.transaction_start())));
    f!("transaction_timestamp", Stable, tstz(), None, |a, env| Ok(ts(env.transaction_start())));
    f!("statement_timestamp", Stable, tstz(), None, |a, env| Ok(ts(env.statement_start())));
    f!("clock_timestamp", Volatile, tstz(), None, |a, env| Ok(ts(crate::pg::datetime::now_micros())));
    f!("pg_postmaster_start_time", Stable, tstz(), None, |a, env| Ok(ts(env.server_start())));
    f!("pg_conf_load_time", Stable, tstz(), None, |a, env| Ok(ts(env.server_start())));
    f!("localtimestamp", Stable, TSTZ, None, |a, env| Ok(ScalarValue::TimestampMicrosecond(Some(env.transaction_start()), None)));
    f!("inet_server_addr", Stable, A::Utf8, None, |a, env| Ok(env.server_addr().0.map(text).unwrap_or(null_text())));
    f!("inet_server_port", Stable, A::Int32, None, |a, env| Ok(ScalarValue::Int32(env.server_addr().1)));
    f!("inet_client_addr", Stable, A::Utf8, None, |a, env| Ok(env.client_addr().map(text).unwrap_or(null_text())));
    f!("pg_sleep", Volatile, A::Utf8, Some(oid::VOID), |a, env| {
        // Sleeps in short steps so a cancel request or statement_timeout ends it,
        // and tells tokio this worker is blocked so other sessions move elsewhere.
        let secs = arg_f64(a, 0).unwrap_or(0.0).clamp(0.0, 86_400.0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
        loop {
            if let Some(e) = env.interrupted() {
                return Err(e);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(text(""));
            }
            let step = left.min(std::time::Duration::from_millis(10));
            crate::connection_threads::blocking(|| std::thread::sleep(step));
        }
    });
    f!("txid_current", Volatile, A::Int64, None, |a, env| Ok(ScalarValue::Int64(Some(env.transaction_id()))));
    f!("pg_current_xact_id", Volatile, A::Int64, Some(oid::INT8), |a, env| Ok(ScalarValue::Int64(Some(env.transaction_id()))));
    f!("pg_reload_conf", Volatile, A::Boolean, None, |a, env| Ok(ScalarValue::Boolean(Some(env.reload_config()))));
    f!("pg_cancel_backend", Volatile, A::Boolean, None, |a, env| {
        Ok(ScalarValue::Boolean(Some(env.cancel_backend(arg_i64(a, 0).unwrap_or(0) as i32, false))))
    });
    f!("pg_blocking_pids", Volatile, A::List(Arc::new(Field::new("item", A::Int32, true))), Some(1007), |a, env| {
        let pids: Vec<ScalarValue> =
            env.blocking_pids(arg_i64(a, 0).unwrap_or(0) as i32).into_iter().map(|p| ScalarValue::Int32(Some(p))).collect();
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(&pids, &A::Int32)))
    });
    f!("pg_terminate_backend", Volatile, A::Boolean, None, |a, env| {
        Ok(ScalarValue::Boolean(Some(env.cancel_backend(arg_i64(a, 0).unwrap_or(0) as i32, true))))
    });

    // --- dates and intervals ---------------------------------------------------
    for (name, justify) in [
        ("justify_hours", crate::sql::interval_arith::justify_hours as fn(i32, i32, i64) -> Option<(i32, i32, i64)>),
        ("justify_days", crate::sql::interval_arith::justify_days),
        ("justify_interval", crate::sql::interval_arith::justify_interval),
    ] {
        f!(name, Immutable, A::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano), None, |a, env| {
            let v = match a.first().map(|v| v.cast_to(&A::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano))) {
                Some(Ok(ScalarValue::IntervalMonthDayNano(Some(v)))) => v,
                Some(Ok(_)) | None => return Ok(ScalarValue::IntervalMonthDayNano(None)),
                Some(Err(_)) => return Err(SqlError::new("42883", format!("function {name} takes an interval"))),
            };
            let (m, d, us) =
                justify(v.months, v.days, v.nanoseconds / 1000).ok_or_else(|| SqlError::new("22008", "interval out of range"))?;
            Ok(ScalarValue::IntervalMonthDayNano(Some(datafusion::arrow::datatypes::IntervalMonthDayNano::new(m, d, us * 1000))))
        });
    }
    // `timestamptz '…'` and `'…'::timestamptz` (sql::parse): the text read in
    // the session's TimeZone unless it names its own offset.
    f!("pg_timestamptz_in", Stable, tstz(), None, |a, env| {
        let Some(text) = arg_str(a, 0) else { return Ok(ScalarValue::TimestampMicrosecond(None, Some("UTC".into()))) };
        let zone = EnvHandle(env.clone()).zone();
        crate::pg::datetime::parse_timestamptz(&text, &zone)
            .map(ts)
            .ok_or_else(|| SqlError::new("22007", format!("invalid input syntax for type timestamp with time zone: \"{text}\"")))
    });
    // timestamp → timestamptz and back (sql::text_input's TimestamptzInput
    // routes the casts here): a wall-clock time is read, and shown, in the
    // session's TimeZone, as PostgreSQL converts them.
    f!("pg_timestamp_to_timestamptz", Stable, tstz(), None, |a, env| {
        let local = match a.first().map(|v| v.cast_to(&A::Timestamp(TimeUnit::Microsecond, None))) {
            Some(Ok(ScalarValue::TimestampMicrosecond(Some(v), _))) => v,
            _ => return Ok(ScalarValue::TimestampMicrosecond(None, Some("UTC".into()))),
        };
        let zone = EnvHandle(env.clone()).zone();
        Ok(ts(local - i64::from(zone.offset_for_local(local)) * 1_000_000))
    });
    f!("pg_timestamptz_to_timestamp", Stable, A::Timestamp(TimeUnit::Microsecond, None), None, |a, env| {
        let utc = match a.first().map(|v| v.cast_to(&tstz())) {
            Some(Ok(ScalarValue::TimestampMicrosecond(Some(v), _))) => v,
            _ => return Ok(ScalarValue::TimestampMicrosecond(None, None)),
        };
        let zone = EnvHandle(env.clone()).zone();
        Ok(ScalarValue::TimestampMicrosecond(Some(utc + i64::from(zone.offset_at(utc)) * 1_000_000), None))
    });
    f!("make_timestamp", Immutable, A::Timestamp(TimeUnit::Microsecond, None), None, |a, env| {
        Ok(ScalarValue::TimestampMicrosecond(local_timestamp(a)?, None))
    });
    // make_timestamptz(y, m, d, h, mi, s [, zone]): the local time in `zone`, else the session's TimeZone.
    f!("make_timestamptz", Stable, tstz(), None, |a, env| {
        let Some(local) = local_timestamp(a)? else { return Ok(ScalarValue::TimestampMicrosecond(None, Some("UTC".into()))) };
        let zone = match a.get(6) {
            None => EnvHandle(env.clone()).zone(),
            Some(v) if v.is_null() => return Ok(ScalarValue::TimestampMicrosecond(None, Some("UTC".into()))),
            Some(_) => {
                let name = arg_str(a, 6).unwrap_or_default();
                crate::pg::datetime::Zone::parse(&name)
                    .ok_or_else(|| SqlError::new("22023", format!("time zone \"{name}\" not recognized")))?
            }
        };
        Ok(ts(local - i64::from(zone.offset_for_local(local)) * 1_000_000))
    });
    f!("width_bucket", Immutable, A::Int32, Some(oid::INT4), |a, env| {
        let Some(count) = arg_i64(a, 3) else { return Ok(ScalarValue::Int32(None)) };
        // Numeric bounds compare exactly (as numeric's width_bucket), others as double precision.
        if let (Some(x), Some(low), Some(high)) = (arg_decimal(a, 0), arg_decimal(a, 1), arg_decimal(a, 2))
            && let Some([x, low, high]) = same_scale([x, low, high])
        {
            return Ok(ScalarValue::Int32(Some(width_bucket(x, low, high, count)?)));
        }
        let (Some(x), Some(low), Some(high)) = (arg_f64(a, 0), arg_f64(a, 1), arg_f64(a, 2)) else {
            return Ok(ScalarValue::Int32(None));
        };
        Ok(ScalarValue::Int32(Some(width_bucket(x, low, high, count)?)))
    });

    // --- sequences -------------------------------------------------------------
    f!("nextval", Volatile, A::Int64, None, |a, env| Ok(ScalarValue::Int64(Some(env.nextval(&regclass_text(a, 0, env)?)?))));
    f!("currval", Volatile, A::Int64, None, |a, env| Ok(ScalarValue::Int64(Some(env.currval(&regclass_text(a, 0, env)?)?))));
    f!("lastval", Volatile, A::Int64, None, |a, env| Ok(ScalarValue::Int64(Some(env.lastval()?))));
    f!("setval", Volatile, A::Int64, None, |a, env| {
        let name = regclass_text(a, 0, env)?;
        let value = arg_i64(a, 1).ok_or_else(|| SqlError::new("22004", "setval: value must not be null"))?;
        Ok(ScalarValue::Int64(Some(env.setval(&name, value, arg_bool(a, 2).unwrap_or(true))?)))
    });

    // --- WAL and replication --------------------------------------------------
    f!("pg_current_wal_lsn", Volatile, A::UInt64, Some(oid::PG_LSN), |a, env| Ok(lsn_value(Some(env.current_wal_lsn()?))));
    f!("pg_current_wal_insert_lsn", Volatile, A::UInt64, Some(oid::PG_LSN), |a, env| Ok(lsn_value(Some(env.current_wal_lsn()?))));
    f!("pg_current_wal_flush_lsn", Volatile, A::UInt64, Some(oid::PG_LSN), |a, env| Ok(lsn_value(Some(env.flushed_wal_lsn()?))));
    // duetdb's own: PostgreSQL reads this from pg_control_checkpoint().timeline_id.
    f!("duetdb_timeline", Volatile, A::Int32, None, |a, env| Ok(ScalarValue::Int32(Some(env.timeline() as i32))));
    f!("pg_is_in_recovery", Volatile, A::Boolean, None, |a, env| Ok(ScalarValue::Boolean(Some(env.in_recovery()))));
    f!("pg_last_wal_receive_lsn", Volatile, A::UInt64, Some(oid::PG_LSN), |a, env| Ok(lsn_value(env.receive_lsn())));
    f!("pg_last_wal_replay_lsn", Volatile, A::UInt64, Some(oid::PG_LSN), |a, env| Ok(lsn_value(env.replay_lsn())));
    f!("pg_wal_lsn_diff", Immutable, A::Decimal128(38, 0), None, |a, env| {
        Ok(match (arg_lsn(a, 0), arg_lsn(a, 1)) {
            (Some(x), Some(y)) => ScalarValue::Decimal128(Some(x as i128 - y as i128), 38, 0),
            _ => ScalarValue::Decimal128(None, 38, 0),
        })
    });
    // `'0/16B3740'::pg_lsn` (rewritten to this call): parse and tag.
    f!("pg_lsn", Immutable, A::UInt64, Some(oid::PG_LSN), |a, env| {
        match a.first() {
            Some(v) if v.is_null() => Ok(ScalarValue::UInt64(None)),
            Some(ScalarValue::UInt64(v)) => Ok(ScalarValue::UInt64(*v)),
            _ => {
                let s = arg_str(a, 0).unwrap_or_default();
                s.parse::<Lsn>().map(|l| ScalarValue::UInt64(Some(l.0))).map_err(|_| SqlError::invalid_text("pg_lsn", &s))
            }
        }
    });

    // --- types carried as text -------------------------------------------------
    f!("pg_uuid", Immutable, A::Utf8, Some(oid::UUID), |a, env| {
        let Some(s) = arg_str(a, 0) else { return Ok(null_text()) };
        Ok(text(crate::pg::decode::canonical_uuid(&s)?))
    });
    f!("gen_random_uuid", Volatile, A::Utf8, Some(oid::UUID), |a, env| Ok(text(random_uuid())));
    f!("format", Stable, A::Utf8, None, |a, env| {
        let style = crate::pg::encode::Style { zone: EnvHandle(env.clone()).zone() };
        let pg_text = |v: &ScalarValue| -> Result<Option<String>, SqlError> {
            if v.is_null() {
                return Ok(None);
            }
            let arr = v.to_array().map_err(|e| SqlError::internal(e.to_string()))?;
            let mut out = String::new();
            crate::pg::encode::cell_text(&mut out, &arr, 0, crate::pg::encode::arrow_wire_type(arr.data_type()), &style, false);
            Ok(Some(out))
        };
        let Some(template) = pg_text(a.first().unwrap_or(&ScalarValue::Null))? else { return Ok(null_text()) };
        let args = a.iter().skip(1).map(pg_text).collect::<Result<Vec<_>, _>>()?;
        Ok(text(crate::sql::format::format(&template, &args)?))
    });
    // An array's PostgreSQL text form ('{1,2}'): catalog queries compare arrays with such literals.
    f!("pg_array_text", Immutable, A::Utf8, None, |a, env| {
        let Some(v) = a.first().filter(|v| !v.is_null()) else { return Ok(null_text()) };
        let arr = v.to_array().map_err(|e| SqlError::internal(e.to_string()))?;
        let mut out = String::new();
        crate::pg::encode::cell_text(&mut out, &arr, 0, crate::pg::oid::PgType::new(oid::TEXT), &Default::default(), false);
        Ok(text(out))
    });
    // No publications exist, so nothing is published; ordinary tables could be.
    f!("pg_relation_is_publishable", Stable, A::Boolean, None, |a, env| {
        Ok(ScalarValue::Boolean(arg_oid(a, 0).map(|o| env.catalog().tables.contains_key(&o))))
    });
    f!("to_regtype", Stable, A::Utf8, Some(oid::REGTYPE), |a, env| {
        Ok(arg_str(a, 0)
            .and_then(|n| oid::oid_for_name(n.trim().trim_start_matches("pg_catalog.")))
            .and_then(oid::type_name)
            .map(text)
            .unwrap_or(null_text()))
    });
    // `x LIKE p ESCAPE 'c'`: DataFusion knows only backslash as the escape, so
    // the pattern is rewritten to use it (see `parse::rewrite`).
    f!("pg_like_escape", Immutable, A::Utf8, None, |a, env| {
        let (Some(p), Some(esc)) = (arg_str(a, 0), arg_str(a, 1)) else { return Ok(null_text()) };
        let mut esc_chars = esc.chars();
        let (Some(e), None) = (esc_chars.next(), esc_chars.next()) else {
            return Err(SqlError::new("22025", "invalid escape string").with_hint("Escape string must be empty or one character."));
        };
        let mut out = String::with_capacity(p.len());
        let mut it = p.chars();
        while let Some(c) = it.next() {
            if c == e {
                match it.next() {
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => return Err(SqlError::new("22025", "LIKE pattern must not end with escape character")),
                }
            } else if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        Ok(text(out))
    });
    // Explicit casts to varchar(n) / char(n) truncate, as in PostgreSQL; a
    // char value carries no trailing blanks (they are insignificant, see
    // storage::types), so it compares equal to the same text.
    f!("pg_varchar", Immutable, A::Utf8, Some(oid::VARCHAR), |a, env| {
        let (Some(s), Some(n)) = (arg_str(a, 0), arg_i64(a, 1)) else { return Ok(null_text()) };
        Ok(text(s.chars().take(n.max(0) as usize).collect::<String>()))
    });
    f!("pg_bpchar", Immutable, A::Utf8, Some(oid::BPCHAR), |a, env| {
        let (Some(s), Some(n)) = (arg_str(a, 0), arg_i64(a, 1)) else { return Ok(null_text()) };
        let t: String = s.chars().take(n.max(0) as usize).collect();
        Ok(text(t.trim_end_matches(' ').to_string()))
    });
    f!("pg_name", Immutable, A::Utf8, Some(oid::NAME), |a, env| Ok(arg_str(a, 0).map(text).unwrap_or(null_text())));
    f!("pg_char", Immutable, A::Utf8, Some(oid::CHAR), |a, env| Ok(arg_str(a, 0)
        .map(|s| text(s.chars().take(1).collect::<String>()))
        .unwrap_or(null_text())));

    // --- regclass & friends ----------------------------------------------------
    f!("to_regclass", Stable, A::UInt32, Some(oid::REGCLASS), |a, env| {
        Ok(ScalarValue::UInt32(arg_str(a, 0).and_then(|n| system::relation_oid(&env.catalog(), &n))))
    });
    // `'name'::regclass` → OID, failing like PostgreSQL when it does not exist.
    f!("regclass_in", Stable, A::UInt32, Some(oid::REGCLASS), |a, env| {
        let Some(v) = a.first() else { return Ok(ScalarValue::UInt32(None)) };
        if v.is_null() {
            return Ok(ScalarValue::UInt32(None));
        }
        if let Some(o) = numeric_oid(v) {
            return Ok(ScalarValue::UInt32(Some(o)));
        }
        let name = arg_str(a, 0).unwrap_or_default();
        // As in PostgreSQL, regclass input also takes a numeric OID ('16384'::regclass).
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return name.parse::<u32>().map(|o| ScalarValue::UInt32(Some(o))).map_err(|_| SqlError::invalid_text("oid", &name));
        }
        system::relation_oid(&env.catalog(), &name)
            .map(|o| ScalarValue::UInt32(Some(o)))
            .ok_or_else(|| SqlError::new("42P01", format!("relation \"{name}\" does not exist")))
    });
    // `oid::regclass` in an output position prints the relation name.
    f!("regclass_out", Stable, A::Utf8, Some(oid::REGCLASS), |a, env| {
        let cat = env.catalog();
        // Text that is not a number is a name (`pg_get_serial_sequence(…)::regclass`).
        let named = arg_str(a, 0).filter(|n| !n.is_empty() && !n.bytes().all(|b| b.is_ascii_digit()));
        let o = match named {
            Some(name) => Some(
                system::relation_oid(&cat, &name).ok_or_else(|| SqlError::new("42P01", format!("relation \"{name}\" does not exist")))?,
            ),
            None => arg_oid(a, 0),
        };
        let Some(o) = o else { return Ok(null_text()) };
        Ok(text(match system::relation_by_oid(&cat, o) {
            Some(Relation::Table(t)) => qualify(&t.schema, &t.name),
            Some(Relation::Index(t, i)) => qualify(&t.schema, &t.indexes[i].name),
            Some(Relation::Sequence(s)) => qualify(&s.schema, &s.name),
            Some(Relation::View(v)) => qualify(&v.schema, &v.name),
            Some(Relation::System(t)) => t.name.to_string(),
            None => o.to_string(),
        }))
    });
    f!("regtype_in", Stable, A::UInt32, Some(oid::REGTYPE), |a, env| {
        let Some(v) = a.first() else { return Ok(ScalarValue::UInt32(None)) };
        if let Some(o) = numeric_oid(v) {
            return Ok(ScalarValue::UInt32(Some(o)));
        }
        let name = arg_str(a, 0).unwrap_or_default();
        oid::oid_for_name(&name)
            .map(|o| ScalarValue::UInt32(Some(o)))
            .ok_or_else(|| SqlError::new("42704", format!("type \"{name}\" does not exist")))
    });
    f!("regtype_out", Stable, A::Utf8, Some(oid::REGTYPE), |a, env| {
        Ok(arg_oid(a, 0).map(|o| text(format_type(o, -1).unwrap_or_else(|| o.to_string()))).unwrap_or(null_text()))
    });
    f!("regnamespace_out", Stable, A::Utf8, Some(oid::REGNAMESPACE), |a, env| {
        Ok(arg_oid(a, 0).map(|o| text(system::namespace_name(&env.catalog(), o).unwrap_or_else(|| o.to_string()))).unwrap_or(null_text()))
    });
    f!("regproc_out", Stable, A::Utf8, Some(oid::REGPROC), |a, env| Ok(arg_str(a, 0).map(text).unwrap_or(null_text())));
    f!("pg_oid", Immutable, A::UInt32, Some(oid::OID), |a, env| {
        Ok(ScalarValue::UInt32(a.first().and_then(numeric_oid).or_else(|| arg_oid(a, 0))))
    });

    // --- catalog functions -----------------------------------------------------
    f!("format_type", Stable, A::Utf8, None, |a, env| {
        let Some(o) = arg_oid(a, 0) else { return Ok(null_text()) };
        let typmod = arg_i64(a, 1).unwrap_or(-1) as i32;
        Ok(text(format_type(o, typmod).unwrap_or_else(|| "???".into())))
    });
    f!("pg_get_expr", Stable, A::Utf8, None, |a, env| Ok(arg_str(a, 0).map(text).unwrap_or(null_text())));
    f!("pg_get_indexdef", Stable, A::Utf8, None, |a, env| {
        let Some(o) = arg_oid(a, 0) else { return Ok(null_text()) };
        let cat = env.catalog();
        let col = arg_i64(a, 1).unwrap_or(0);
        if col > 0 {
            if let Some(Relation::Index(t, i)) = system::relation_by_oid(&cat, o) {
                return Ok(t.indexes[i].columns.get(col as usize - 1).map(|&c| text(t.columns[c].name.clone())).unwrap_or(null_text()));
            }
            return Ok(null_text());
        }
        Ok(index_def(&cat, o).map(text).unwrap_or(null_text()))
    });
    f!("pg_get_constraintdef", Stable, A::Utf8, None, |a, env| {
        let Some(o) = arg_oid(a, 0) else { return Ok(null_text()) };
        let cat = env.catalog();
        Ok(system::constraints(&cat).into_iter().find(|c| c.oid == o).map(|c| text(c.def)).unwrap_or(null_text()))
    });
    f!("pg_get_viewdef", Stable, A::Utf8, None, |a, env| {
        let cat = env.catalog();
        let o = a.first().and_then(numeric_oid).or_else(|| arg_str(a, 0).and_then(|n| system::relation_oid(&cat, &n)));
        Ok(o.and_then(|o| cat.views.get(&o)).map(|v| text(format!(" {};", v.sql))).unwrap_or(null_text()))
    });
    f!("pg_table_is_visible", Stable, A::Boolean, None, |a, env| {
        Ok(ScalarValue::Boolean(arg_oid(a, 0).map(|o| system::relation_is_visible(&env.catalog(), o, &env.user()))))
    });
    for name in ["pg_type_is_visible", "pg_function_is_visible", "pg_opclass_is_visible", "pg_collation_is_visible"] {
        f!(name, Stable, A::Boolean, None, |a, env| Ok(ScalarValue::Boolean(a.first().map(|v| !v.is_null()))));
    }
    f!("pg_get_userbyid", Stable, A::Utf8, Some(oid::NAME), |a, env| {
        let o = arg_oid(a, 0).unwrap_or(0);
        Ok(text(system::role_name(&env.catalog(), o).unwrap_or_else(|| format!("unknown (OID={o})"))))
    });
    for name in ["obj_description", "col_description", "shobj_description"] {
        f!(name, Stable, A::Utf8, None, |a, env| Ok(null_text()));
    }
    f!("pg_encoding_to_char", Immutable, A::Utf8, Some(oid::NAME), |a, env| Ok(text(if arg_i64(a, 0) == Some(6) {
        "UTF8"
    } else {
        "SQL_ASCII"
    })));
    f!("pg_char_to_encoding", Immutable, A::Int32, None, |a, env| Ok(ScalarValue::Int32(Some(6))));
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_sequence_privilege",
        "has_function_privilege",
        "has_any_column_privilege",
        "pg_has_role",
    ] {
        f!(name, Stable, A::Boolean, None, |a, env| Ok(ScalarValue::Boolean(Some(true))));
    }
    for name in ["pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size"] {
        f!(name, Volatile, A::Int64, None, |a, env| {
            let cat = env.catalog();
            let o = a.first().and_then(numeric_oid).or_else(|| arg_str(a, 0).and_then(|n| system::relation_oid(&cat, &n)));
            Ok(ScalarValue::Int64(o.map(|o| env.relation_size(o))))
        });
    }
    f!("pg_database_size", Volatile, A::Int64, None, |a, env| {
        let cat = env.catalog();
        Ok(ScalarValue::Int64(Some(cat.tables.keys().map(|&o| env.relation_size(o)).sum())))
    });
    f!("pg_size_pretty", Immutable, A::Utf8, None, |a, env| {
        let Some(b) = arg_i64(a, 0) else { return Ok(null_text()) };
        Ok(text(size_pretty(b)))
    });
    f!("pg_get_serial_sequence", Stable, A::Utf8, None, |a, env| {
        let cat = env.catalog();
        let (Some(table), Some(col)) = (arg_str(a, 0), arg_str(a, 1)) else { return Ok(null_text()) };
        let Some(toid) = system::relation_oid(&cat, &table) else {
            return Err(SqlError::new("42P01", format!("relation \"{table}\" does not exist")));
        };
        let Some(t) = cat.tables.get(&toid) else { return Ok(null_text()) };
        let Some(c) = t.column_index(&col) else {
            return Err(SqlError::new("42703", format!("column \"{col}\" of relation \"{}\" does not exist", t.name)));
        };
        Ok(cat
            .sequences
            .values()
            .find(|s| s.owned_by == Some((toid, c)))
            .map(|s| text(format!("{}.{}", s.schema, s.name)))
            .unwrap_or(null_text()))
    });
    f!("pg_get_partkeydef", Stable, A::Utf8, None, |a, env| Ok(null_text()));
    f!("pg_get_statisticsobjdef_columns", Stable, A::Utf8, None, |a, env| Ok(null_text()));
    f!("pg_get_triggerdef", Stable, A::Utf8, None, |a, env| Ok(null_text()));
    f!("pg_get_ruledef", Stable, A::Utf8, None, |a, env| Ok(null_text()));
    f!("pg_get_function_identity_arguments", Stable, A::Utf8, None, |a, env| Ok(text("")));
    f!("pg_get_function_result", Stable, A::Utf8, None, |a, env| Ok(null_text()));
    f!("pg_get_function_arguments", Stable, A::Utf8, None, |a, env| Ok(text("")));
    f!("pg_tablespace_location", Stable, A::Utf8, None, |a, env| Ok(text("")));
    f!("quote_ident", Immutable, A::Utf8, None, |a, env| Ok(arg_str(a, 0).map(|s| text(system::quote_ident(&s))).unwrap_or(null_text())));
    f!("quote_literal", Immutable, A::Utf8, None, |a, env| Ok(arg_str(a, 0)
        .map(|s| text(format!("'{}'", s.replace('\'', "''"))))
        .unwrap_or(null_text())));
    f!("array_lower", Immutable, A::Int32, None, |a, env| Ok(ScalarValue::Int32(Some(1))));
    v.push(ScalarUDF::new_from_impl(ArrayIn::new()));
    v
}

/// `pg_array_in(value, 'elemtype')`: PostgreSQL's `value::elemtype[]` for a
/// text value (an array literal such as `{a,b}`, or a text parameter), which
/// DataFusion would otherwise turn into a one-element list. Lists are cast
/// element-wise.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayIn {
    signature: Signature,
}

impl ArrayIn {
    fn new() -> ArrayIn {
        ArrayIn { signature: Signature::any(2, Volatility::Immutable) }
    }

    fn element(name: Option<&ScalarValue>) -> DfResult<A> {
        let name = match name {
            Some(ScalarValue::Utf8(Some(s))) => s.clone(),
            _ => return Err(DataFusionError::Plan("pg_array_in: element type must be a constant".into())),
        };
        let t = datafusion::sql::sqlparser::parser::Parser::new(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {})
            .try_with_sql(&name)
            .and_then(|mut p| p.parse_data_type())
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let ty = crate::sql::expr::sql_type(&t).ok_or_else(|| DataFusionError::Plan(format!("type \"{name}[]\" is not supported")))?;
        Ok(duetdb_storage::arrow_conv::arrow_type(&ty))
    }
}

impl ScalarUDFImpl for ArrayIn {
    fn name(&self) -> &str {
        "pg_array_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[A]) -> DfResult<A> {
        Err(DataFusionError::Internal("pg_array_in: return_field_from_args is used".into()))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let elem = Self::element(args.scalar_arguments.get(1).copied().flatten())?;
        Ok(Arc::new(Field::new("pg_array_in", A::new_list(elem, true), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let target = args.return_field.data_type().clone();
        let A::List(_) = &target else { return Err(DataFusionError::Internal("pg_array_in: not a list".into())) };
        let zone = crate::pg::datetime::Zone::Utc;
        let convert = |v: &ScalarValue| -> DfResult<ScalarValue> {
            match v {
                v if v.is_null() => ScalarValue::try_from(&target),
                ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
                    crate::pg::decode::parse_scalar(s, &target, &zone).map_err(|e| DataFusionError::External(Box::new(e)))
                }
                other => other.cast_to(&target),
            }
        };
        match &args.args[0] {
            ColumnarValue::Scalar(v) => Ok(ColumnarValue::Scalar(convert(v)?)),
            ColumnarValue::Array(a) if a.is_empty() => Ok(ColumnarValue::Array(datafusion::arrow::array::new_empty_array(&target))),
            ColumnarValue::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for i in 0..a.len() {
                    out.push(convert(&ScalarValue::try_from_array(a, i)?)?);
                }
                Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
            }
        }
    }
}

/// A sequence or relation argument given as a name (text) or an OID.
fn regclass_text(a: &[ScalarValue], i: usize, env: &Arc<dyn FunctionEnv>) -> Result<String, SqlError> {
    if let Some(o) = a.get(i).and_then(numeric_oid) {
        let cat = env.catalog();
        if let Some(s) = cat.sequences.get(&o) {
            return Ok(format!("{}.{}", s.schema, s.name));
        }
        return Err(SqlError::new("42809", format!("\"{o}\" is not a sequence")));
    }
    arg_str(a, i).ok_or_else(|| SqlError::new("22004", "sequence name must not be null"))
}

fn numeric_oid(v: &ScalarValue) -> Option<u32> {
    match v {
        ScalarValue::UInt32(Some(o)) => Some(*o),
        ScalarValue::Int32(Some(o)) => u32::try_from(*o).ok(),
        ScalarValue::Int64(Some(o)) => u32::try_from(*o).ok(),
        ScalarValue::UInt64(Some(o)) => u32::try_from(*o).ok(),
        _ => None,
    }
}

fn qualify(schema: &str, name: &str) -> String {
    if schema == "public" { system::quote_ident(name) } else { format!("{}.{}", system::quote_ident(schema), system::quote_ident(name)) }
}

fn size_pretty(b: i64) -> String {
    let a = b.unsigned_abs();
    let (v, unit) = if a < 10 * 1024 {
        (b, "bytes")
    } else if a < 10 * 1024 * 1024 {
        ((b + 512) / 1024, "kB")
    } else if a < 10 * 1024 * 1024 * 1024 {
        ((b + (1 << 19)) >> 20, "MB")
    } else {
        ((b + (1 << 29)) >> 30, "GB")
    };
    format!("{v} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_pg_size_pretty() {
        assert_eq!(size_pretty(1000), "1000 bytes");
        assert_eq!(size_pretty(20_000), "20 kB");
        assert_eq!(size_pretty(50 << 20), "50 MB");
    }
}

/// A random (version 4) uuid in canonical text, as `gen_random_uuid()` makes.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    duetdb_storage::types::format_uuid(&b)
}

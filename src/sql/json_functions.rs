//! json and jsonb functions and operators.
//!
//! Values of both types are text tagged with their OID (`pg.oid` field
//! metadata, see `pg::encode`); storage keeps jsonb in canonical form
//! (`duetdb_storage::json`). The operators are rewritten to calls while the
//! statement is parsed (`sql::parse`), so both the fast path and DataFusion
//! see plain functions:
//!
//! ```text
//!   a -> k    json_get(a, k)           a #> p    json_path(a, p)
//!   a ->> k   json_get_text(a, k)      a #>> p   json_path_text(a, p)
//!   a @> b    jsonb_contains(a, b)     a <@ b    jsonb_contains(b, a)
//!   a ? k     jsonb_exists(a, k)       a ?| ks   jsonb_exists_any(a, ks)    a ?& ks  jsonb_exists_all(a, ks)
//!   json_agg(x ORDER BY y)   json_agg_finish(array_agg(to_json(x) ORDER BY y))
//! ```
//!
//! Set-returning functions (`jsonb_array_elements`, `jsonb_each`,
//! `jsonb_object_keys` and their json and `_text` forms) are rewritten by
//! `sql::parse` into `unnest` of a list these functions build per row
//! (`json_srf_*`), which DataFusion turns into rows (in FROM only over
//! constants and parameters; `json_srf_lateral` refuses the rest):
//!
//! ```text
//!   SELECT jsonb_array_elements(doc) FROM t    →  SELECT CAST(unnest(json_srf_elements(doc, 'jsonb_array_elements')) AS jsonb) …
//!   FROM jsonb_each(x) AS e                    →  FROM (SELECT unnest(json_srf_keys(x, …)) AS key,
//!                                                             CAST(unnest(json_srf_values(x, …)) AS jsonb) AS value) AS e
//! ```
//!
//! Functions that return a piece of their argument (`->`, `#>`) return the
//! argument's type: json gives back the exact text of the piece, jsonb its
//! canonical text. Arguments that are themselves json (by their tag) are
//! embedded as JSON, not quoted as strings, by the builders (`to_json`,
//! `json_build_object`, …). `@>` on two arrays is array containment, which
//! the same operator means there.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType as A, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use duetdb_storage::json::{self, Flavor, Item, Json};

use crate::error::SqlError;
use crate::pg::encode::{META_OID, tagged_oid};
use crate::pg::oid;
use crate::sql::functions::{arg_str, invoke_rowwise, null_text, text};

/// The type a function's result is tagged with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tag {
    None,
    Json,
    Jsonb,
    /// json if the first argument is json, else jsonb.
    LikeFirst,
}

type Body = fn(&[ScalarValue], &[Option<u32>]) -> Result<ScalarValue, SqlError>;

#[derive(Debug)]
struct JsonFn {
    name: &'static str,
    signature: Signature,
    ret: A,
    tag: Tag,
    body: Body,
}

// Names are unique among the functions, so they identify one.
impl PartialEq for JsonFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for JsonFn {}
impl std::hash::Hash for JsonFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// Every json function, for registration.
pub fn all() -> Vec<ScalarUDF> {
    use Tag::*;
    let f = |name, ret, tag, body: Body| {
        ScalarUDF::new_from_impl(JsonFn {
            name,
            signature: Signature::one_of(vec![TypeSignature::Nullary, TypeSignature::VariadicAny], Volatility::Immutable),
            ret,
            tag,
            body,
        })
    };
    vec![
        f("pg_json", A::Utf8, Json, |a, _| input(a, Flavor::Json)),
        f("pg_jsonb", A::Utf8, Jsonb, |a, _| input(a, Flavor::Jsonb)),
        f("json_get", A::Utf8, LikeFirst, |a, t| get(a, t, false, false)),
        f("json_get_text", A::Utf8, None, |a, t| get(a, t, true, false)),
        f("jsonb_subscript", A::Utf8, Jsonb, |a, t| get(a, t, false, true)),
        f("json_path", A::Utf8, LikeFirst, |a, t| path(a, t, false)),
        f("json_path_text", A::Utf8, None, |a, t| path(a, t, true)),
        f("json_extract_path", A::Utf8, Json, |a, t| path(a, t, false)),
        f("jsonb_extract_path", A::Utf8, Jsonb, |a, t| path(a, t, false)),
        f("json_extract_path_text", A::Utf8, None, |a, t| path(a, t, true)),
        f("jsonb_extract_path_text", A::Utf8, None, |a, t| path(a, t, true)),
        f("jsonb_contains", A::Boolean, None, contains),
        f("jsonb_exists", A::Boolean, None, |a, _| exists(a, Keys::One)),
        f("jsonb_exists_any", A::Boolean, None, |a, _| exists(a, Keys::Any)),
        f("jsonb_exists_all", A::Boolean, None, |a, _| exists(a, Keys::All)),
        f("json_typeof", A::Utf8, None, typeof_),
        f("jsonb_typeof", A::Utf8, None, typeof_),
        f("json_array_length", A::Int32, None, array_length),
        f("jsonb_array_length", A::Int32, None, array_length),
        f("to_json", A::Utf8, Json, |a, t| build_one(a, t, Flavor::Json)),
        f("to_jsonb", A::Utf8, Jsonb, |a, t| build_one(a, t, Flavor::Jsonb)),
        f("json_build_object", A::Utf8, Json, |a, t| build_object(a, t, Flavor::Json)),
        f("jsonb_build_object", A::Utf8, Jsonb, |a, t| build_object(a, t, Flavor::Jsonb)),
        f("json_build_array", A::Utf8, Json, |a, t| build_array(a, t, Flavor::Json)),
        f("jsonb_build_array", A::Utf8, Jsonb, |a, t| build_array(a, t, Flavor::Jsonb)),
        f("jsonb_pretty", A::Utf8, None, pretty),
        f("jsonb_concat", A::Utf8, Jsonb, concat),
        f("json_agg_finish", A::Utf8, Json, |a, _| agg_finish(a, Flavor::Json)),
        f("jsonb_agg_finish", A::Utf8, Jsonb, |a, _| agg_finish(a, Flavor::Jsonb)),
        f("json_object_agg_pair", A::Utf8, None, object_agg_pair),
        f("json_object_agg_finish", A::Utf8, Json, |a, _| object_agg_finish(a, Flavor::Json)),
        f("jsonb_object_agg_finish", A::Utf8, Jsonb, |a, _| object_agg_finish(a, Flavor::Jsonb)),
        f("jsonb_delete", A::Utf8, Jsonb, delete),
        f("jsonb_delete_path", A::Utf8, Jsonb, delete_path),
        f("jsonb_set", A::Utf8, Jsonb, set),
        f("jsonb_strip_nulls", A::Utf8, Jsonb, |a, _| strip_nulls(a, Flavor::Jsonb)),
        f("json_strip_nulls", A::Utf8, Json, |a, _| strip_nulls(a, Flavor::Json)),
        f("json_srf_elements", text_list(), None, |a, t| srf(a, t, Srf::Elements)),
        f("json_srf_elements_text", text_list(), None, |a, t| srf(a, t, Srf::ElementsText)),
        f("json_srf_keys", text_list(), None, |a, t| srf(a, t, Srf::Keys)),
        f("json_srf_values", text_list(), None, |a, t| srf(a, t, Srf::Values)),
        f("json_srf_values_text", text_list(), None, |a, t| srf(a, t, Srf::ValuesText)),
        f("json_srf_lateral", A::Utf8, None, |a, _| lateral_refused(a)),
    ]
}

fn text_list() -> A {
    A::List(Arc::new(Field::new_list_field(A::Utf8, true)))
}

/// The UDF behind `name` (for planner rules that build calls).
pub fn udf(name: &str) -> Option<Arc<ScalarUDF>> {
    all().into_iter().find(|f| f.name() == name).map(Arc::new)
}

impl ScalarUDFImpl for JsonFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[A]) -> DfResult<A> {
        Ok(self.ret.clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let tag = match self.tag {
            Tag::None => None,
            Tag::Json => Some(oid::JSON),
            Tag::Jsonb => Some(oid::JSONB),
            Tag::LikeFirst => Some(match args.arg_fields.first().and_then(|f| tag_of(f)) {
                Some(oid::JSON) => oid::JSON,
                _ => oid::JSONB,
            }),
        };
        let mut f = Field::new(self.name, self.ret.clone(), true);
        if let Some(o) = tag {
            f = f.with_metadata(HashMap::from([(META_OID.to_string(), o.to_string())]));
        }
        Ok(Arc::new(f))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let mut tags: Vec<Option<u32>> = args.arg_fields.iter().map(|f| tag_of(f)).collect();
        // The result's own tag decides json-vs-jsonb output for LikeFirst.
        if self.tag == Tag::LikeFirst
            && let Some(t) = tags.first_mut()
        {
            *t = Some(tag_of(&args.return_field).unwrap_or(oid::JSONB));
        }
        invoke_rowwise(&args, &self.ret, |vals| (self.body)(vals, &tags))
    }
}

fn tag_of(f: &Field) -> Option<u32> {
    tagged_oid(f).filter(|o| *o == oid::JSON || *o == oid::JSONB)
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn parse_err(e: json::JsonError) -> SqlError {
    SqlError::from(duetdb_storage::Error::from(e))
}

fn parse(s: &str) -> Result<Item<'_>, SqlError> {
    json::parse(s, Flavor::Json).map_err(parse_err)
}

/// The text of `item` taken from `src`, as the result type wants it.
fn piece(src: &str, item: &Item<'_>, out: Option<u32>) -> Result<String, SqlError> {
    if out == Some(oid::JSON) {
        return Ok(src[item.start..item.end].to_string());
    }
    let mut s = String::new();
    json::write_canonical(&item.value, &mut s).map_err(parse_err)?;
    Ok(s)
}

/// `->>`'s text of a piece: strings unquoted, JSON null as SQL NULL.
fn piece_text(src: &str, item: &Item<'_>, tag: Option<u32>) -> Result<ScalarValue, SqlError> {
    Ok(match &item.value {
        Json::Null => null_text(),
        Json::String(s) => text(s.as_ref()),
        _ => text(piece(src, item, if tag == Some(oid::JSON) { Some(oid::JSON) } else { Some(oid::JSONB) })?),
    })
}

/// One step of a path: an object field, or an array element (negative from the end).
fn step<'i, 'a>(item: &'i Item<'a>, key: &Step) -> Option<&'i Item<'a>> {
    match (&item.value, key) {
        (Json::Object(members), Step::Key(k)) => members.iter().rev().find(|(mk, _)| mk == k).map(|(_, v)| v),
        (Json::Array(items), Step::Index(i)) => {
            let i = if *i < 0 { items.len() as i64 + i } else { *i };
            usize::try_from(i).ok().and_then(|i| items.get(i))
        }
        (Json::Array(_), Step::Key(k)) => k.trim().parse::<i64>().ok().and_then(|i| step(item, &Step::Index(i))),
        _ => None,
    }
}

enum Step {
    Key(String),
    Index(i64),
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

fn input(a: &[ScalarValue], flavor: Flavor) -> Result<ScalarValue, SqlError> {
    let Some(s) = arg_str(a, 0) else { return Ok(null_text()) };
    Ok(text(match flavor {
        Flavor::Json => {
            json::check_json(&s).map_err(parse_err)?;
            s
        }
        Flavor::Jsonb => json::canonical_jsonb(&s).map_err(parse_err)?,
    }))
}

/// `doc -> key` (field name or array index) and `doc ->> key`; with
/// `subscript`, `doc[key]`, where a text key of an array is read as an index.
fn get(a: &[ScalarValue], tags: &[Option<u32>], as_text: bool, subscript: bool) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(null_text()) };
    let key = match a.get(1) {
        Some(v) if v.is_null() => return Ok(null_text()),
        Some(ScalarValue::Int16(Some(i))) => Step::Index(*i as i64),
        Some(ScalarValue::Int32(Some(i))) => Step::Index(*i as i64),
        Some(ScalarValue::Int64(Some(i))) => Step::Index(*i),
        _ => match arg_str(a, 1) {
            Some(k) => Step::Key(k),
            None => return Ok(null_text()),
        },
    };
    let root = parse(&src)?;
    // A text key never indexes an array for `->` (PostgreSQL: NULL).
    let found = match (&root.value, &key) {
        (Json::Array(_), Step::Key(_)) if !subscript => None,
        _ => step(&root, &key),
    };
    let Some(item) = found else { return Ok(null_text()) };
    let tag = tags.first().copied().flatten();
    if as_text { piece_text(&src, item, tag) } else { Ok(text(piece(&src, item, tag.or(Some(oid::JSONB)))?)) }
}

/// The path of `#>` (a text[]), or the variadic keys of `json_extract_path`.
fn path_keys(a: &[ScalarValue]) -> Result<Option<Vec<Option<String>>>, SqlError> {
    if a.len() > 2 {
        return Ok(Some(a[1..].iter().enumerate().map(|(i, _)| arg_str(&a[1..], i)).collect()));
    }
    match a.get(1) {
        None => Ok(Some(Vec::new())),
        Some(v) if v.is_null() => Ok(None),
        Some(ScalarValue::List(l)) => Ok(Some(list_strings(l))),
        _ => {
            let s = arg_str(a, 1).unwrap_or_default();
            crate::pg::decode::parse_array_literal(&s)
                .map(Some)
                .ok_or_else(|| SqlError::new("22P02", format!("malformed array literal: \"{s}\"")))
        }
    }
}

fn list_strings(l: &datafusion::arrow::array::ListArray) -> Vec<Option<String>> {
    if l.is_empty() || l.is_null(0) {
        return Vec::new();
    }
    let values = l.value(0);
    (0..values.len())
        .map(|i| match ScalarValue::try_from_array(&values, i) {
            Ok(v) if !v.is_null() => arg_str(std::slice::from_ref(&v), 0),
            _ => None,
        })
        .collect()
}

fn path(a: &[ScalarValue], tags: &[Option<u32>], as_text: bool) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(null_text()) };
    let Some(keys) = path_keys(a)? else { return Ok(null_text()) };
    let root = parse(&src)?;
    let mut at = &root;
    for k in keys {
        let Some(k) = k else { return Ok(null_text()) };
        match step(at, &Step::Key(k)) {
            Some(next) => at = next,
            None => return Ok(null_text()),
        }
    }
    let tag = tags.first().copied().flatten();
    if as_text { piece_text(&src, at, tag) } else { Ok(text(piece(&src, at, tag.or(Some(oid::JSONB)))?)) }
}

/// `a @> b`: jsonb containment, or array containment for two arrays.
fn contains(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    if let (Some(ScalarValue::List(x)), Some(ScalarValue::List(y))) = (a.first(), a.get(1)) {
        if x.is_null(0) || y.is_null(0) {
            return Ok(ScalarValue::Boolean(None));
        }
        let (x, y) = (x.value(0), y.value(0));
        let have: Vec<ScalarValue> = (0..x.len()).filter_map(|i| ScalarValue::try_from_array(&x, i).ok()).collect();
        let all = (0..y.len()).all(|i| ScalarValue::try_from_array(&y, i).is_ok_and(|v| !v.is_null() && have.contains(&v)));
        return Ok(ScalarValue::Boolean(Some(all)));
    }
    let (Some(x), Some(y)) = (arg_str(a, 0), arg_str(a, 1)) else { return Ok(ScalarValue::Boolean(None)) };
    let (x, y) = (parse(&x)?, parse(&y)?);
    let top = match (&x.value, &y.value) {
        // A top-level array contains a scalar it has as an element.
        (Json::Array(items), v) if !is_container(v) => items.iter().any(|i| scalar_eq(&i.value, v)),
        _ => deep_contains(&x.value, &y.value),
    };
    Ok(ScalarValue::Boolean(Some(top)))
}

fn is_container(v: &Json<'_>) -> bool {
    matches!(v, Json::Array(_) | Json::Object(_))
}

fn deep_contains(x: &Json<'_>, y: &Json<'_>) -> bool {
    match (x, y) {
        (Json::Object(_), Json::Object(_)) => {
            let have = json::object_members(x);
            json::object_members(y)
                .into_iter()
                .all(|(k, yv)| have.iter().find(|(hk, _)| *hk == k).is_some_and(|(_, xv)| value_contains(&xv.value, &yv.value)))
        }
        (Json::Array(xs), Json::Array(ys)) => ys.iter().all(|yv| xs.iter().any(|xv| value_contains(&xv.value, &yv.value))),
        (x, y) if !is_container(x) && !is_container(y) => scalar_eq(x, y),
        _ => false,
    }
}

/// Inside a container: scalars must be equal, containers of the same kind must contain.
fn value_contains(x: &Json<'_>, y: &Json<'_>) -> bool {
    match (x, y) {
        (Json::Object(_), Json::Object(_)) | (Json::Array(_), Json::Array(_)) => deep_contains(x, y),
        (x, y) if !is_container(x) && !is_container(y) => scalar_eq(x, y),
        _ => false,
    }
}

fn scalar_eq(x: &Json<'_>, y: &Json<'_>) -> bool {
    match (x, y) {
        (Json::Number(a), Json::Number(b)) => number_key(a) == number_key(b),
        (Json::String(a), Json::String(b)) => a == b,
        (Json::Bool(a), Json::Bool(b)) => a == b,
        (Json::Null, Json::Null) => true,
        _ => false,
    }
}

/// A number's value as comparable text: canonical, without trailing fraction zeros (1.0 = 1).
fn number_key(n: &str) -> String {
    let c = json::canonical_number(n).unwrap_or_else(|_| n.to_string());
    if c.contains('.') { c.trim_end_matches('0').trim_end_matches('.').to_string() } else { c }
}

enum Keys {
    One,
    Any,
    All,
}

/// `?`, `?|`, `?&`: top-level object keys, or string elements of a top-level array.
fn exists(a: &[ScalarValue], which: Keys) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(ScalarValue::Boolean(None)) };
    let keys: Vec<String> = match which {
        Keys::One => match arg_str(a, 1) {
            Some(k) => vec![k],
            None => return Ok(ScalarValue::Boolean(None)),
        },
        _ => match path_keys(&a[..a.len().min(2)])? {
            Some(ks) => ks.into_iter().flatten().collect(),
            None => return Ok(ScalarValue::Boolean(None)),
        },
    };
    let root = parse(&src)?;
    let has = |k: &str| match &root.value {
        Json::Object(members) => members.iter().any(|(mk, _)| mk == k),
        Json::Array(items) => items.iter().any(|i| matches!(&i.value, Json::String(s) if s == k)),
        Json::String(s) => s == k,
        _ => false,
    };
    Ok(ScalarValue::Boolean(Some(match which {
        Keys::One | Keys::Any => keys.iter().any(|k| has(k)),
        Keys::All => keys.iter().all(|k| has(k)),
    })))
}

fn typeof_(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(null_text()) };
    Ok(text(match parse(&src)?.value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }))
}

fn array_length(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(ScalarValue::Int32(None)) };
    match parse(&src)?.value {
        Json::Array(items) => Ok(ScalarValue::Int32(Some(items.len() as i32))),
        Json::Object(_) => Err(SqlError::new("22023", "cannot get array length of a non-array")),
        _ => Err(SqlError::new("22023", "cannot get array length of a scalar")),
    }
}

/// What a set-returning function's list holds, one entry per row it returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Srf {
    /// An array's elements as json (`*_array_elements`).
    Elements,
    /// … as text, like `->>` (`*_array_elements_text`).
    ElementsText,
    /// An object's keys (`*_object_keys`, and `*_each`'s key column).
    Keys,
    /// An object's values as json (`*_each`'s value column).
    Values,
    /// … as text (`*_each_text`).
    ValuesText,
}

/// `json_srf_*(doc, 'function name')`: the list of what the function named
/// returns for `doc`, with PostgreSQL's errors for the wrong kind of value. A
/// NULL document gives no rows. json objects keep their members in order,
/// duplicates included; jsonb's canonical form has neither.
fn srf(a: &[ScalarValue], tags: &[Option<u32>], what: Srf) -> Result<ScalarValue, SqlError> {
    let name = arg_str(a, 1).unwrap_or_default();
    let list = |items: Vec<ScalarValue>| Ok(ScalarValue::List(ScalarValue::new_list_nullable(&items, &A::Utf8)));
    let Some(src) = arg_str(a, 0) else { return list(vec![]) };
    // A json function reads its argument as json text, pieces exactly as
    // written; a jsonb one as jsonb: keys sorted, duplicates gone.
    let jsonb = name.starts_with("jsonb");
    let tag = Some(if jsonb { oid::JSONB } else { oid::JSON });
    let src =
        if jsonb && tags.first().copied().flatten() != Some(oid::JSONB) { json::canonical_jsonb(&src).map_err(parse_err)? } else { src };
    let doc = parse(&src)?;
    let as_json = |item: &Item<'_>| piece(&src, item, tag).map(text);
    match (what, &doc.value) {
        (Srf::Elements | Srf::ElementsText, Json::Array(items)) => list(
            items.iter().map(|i| if what == Srf::Elements { as_json(i) } else { piece_text(&src, i, tag) }).collect::<Result<_, _>>()?,
        ),
        (Srf::Elements | Srf::ElementsText, Json::Object(_)) => Err(SqlError::new("22023", "cannot extract elements from an object")),
        (Srf::Elements | Srf::ElementsText, _) => Err(SqlError::new("22023", "cannot extract elements from a scalar")),
        (_, Json::Object(members)) => list(
            members
                .iter()
                .map(|(k, v)| match what {
                    Srf::Keys => Ok(text(k.as_ref())),
                    Srf::Values => as_json(v),
                    _ => piece_text(&src, v, tag),
                })
                .collect::<Result<_, _>>()?,
        ),
        (Srf::Keys, Json::Array(_)) if name.ends_with("object_keys") => {
            Err(SqlError::new("22023", format!("cannot call {name} on an array")))
        }
        (Srf::Keys, _) if name.ends_with("object_keys") => Err(SqlError::new("22023", format!("cannot call {name} on a scalar"))),
        // json_each and json_each_text word it their own way.
        (_, Json::Array(_)) if name.starts_with("json_") => Err(SqlError::new("22023", "cannot deconstruct an array as an object")),
        _ if name.starts_with("json_") => Err(SqlError::new("22023", "cannot deconstruct a scalar")),
        _ => Err(SqlError::new("22023", format!("cannot call {name} on a non-object"))),
    }
}

/// `json_srf_lateral('function name')`: what a FROM call whose argument
/// reads another FROM item (an implicit LATERAL) becomes; it refuses it.
fn lateral_refused(a: &[ScalarValue]) -> Result<ScalarValue, SqlError> {
    let name = arg_str(a, 0).unwrap_or_default();
    let instead = if name.contains("_each") {
        String::new()
    } else {
        format!("; call it in the select list instead (SELECT t.id, {name}(t.doc) FROM t)")
    };
    Err(SqlError::new("0A000", format!("{name} in FROM over a column of another FROM item (LATERAL) is not supported{instead}")))
}

/// A SQL value as JSON text: json arguments as they are, numbers and
/// booleans bare, everything else a string of its text form.
fn to_json_text(v: &ScalarValue, tag: Option<u32>, flavor: Flavor, out: &mut String) -> Result<(), SqlError> {
    if v.is_null() {
        out.push_str("null");
        return Ok(());
    }
    if tag.is_some() {
        let s = arg_str(std::slice::from_ref(v), 0).unwrap_or_default();
        match flavor {
            Flavor::Json => out.push_str(&s),
            Flavor::Jsonb => out.push_str(&json::canonical_jsonb(&s).map_err(parse_err)?),
        }
        return Ok(());
    }
    match v {
        ScalarValue::Boolean(Some(b)) => out.push_str(if *b { "true" } else { "false" }),
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_)) => out.push_str(&v.to_string()),
        ScalarValue::Float32(Some(f)) if f.is_finite() => out.push_str(&crate::pg::numbers::format_f32(*f)),
        ScalarValue::Float64(Some(f)) if f.is_finite() => out.push_str(&crate::pg::numbers::format_f64(*f)),
        ScalarValue::Decimal128(Some(m), _, s) => out.push_str(&duetdb_storage::types::format_decimal(*m, (*s).max(0) as u8)),
        ScalarValue::TimestampMicrosecond(Some(_), _) | ScalarValue::Date32(Some(_)) => {
            json::write_string(&v.to_string(), out);
        }
        other => json::write_string(&arg_str(std::slice::from_ref(other), 0).unwrap_or_default(), out),
    }
    Ok(())
}

fn build_one(a: &[ScalarValue], tags: &[Option<u32>], flavor: Flavor) -> Result<ScalarValue, SqlError> {
    let Some(v) = a.first() else { return Err(SqlError::new("42883", "function to_json() does not exist")) };
    if v.is_null() {
        return Ok(null_text());
    }
    let mut out = String::new();
    to_json_text(v, tags.first().copied().flatten(), flavor, &mut out)?;
    finish(out, flavor)
}

/// jsonb results are made canonical; json keeps the builder's spacing.
fn finish(out: String, flavor: Flavor) -> Result<ScalarValue, SqlError> {
    Ok(text(match flavor {
        Flavor::Json => out,
        Flavor::Jsonb => json::canonical_jsonb(&out).map_err(parse_err)?,
    }))
}

fn build_object(a: &[ScalarValue], tags: &[Option<u32>], flavor: Flavor) -> Result<ScalarValue, SqlError> {
    if a.len() % 2 != 0 {
        let name = if flavor == Flavor::Json { "json_build_object" } else { "jsonb_build_object" };
        return Err(SqlError::new("22023", "argument list must have even number of elements")
            .with_hint(format!("The arguments of {name}() must consist of alternating keys and values.")));
    }
    // PostgreSQL's json_build_object writes `{"k" : v, …}`.
    let mut out = String::from("{");
    for (i, pair) in a.chunks(2).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let key = arg_str(&pair[..1], 0).ok_or_else(|| SqlError::new("22004", "null value not allowed for object key"))?;
        json::write_string(&key, &mut out);
        out.push_str(" : ");
        to_json_text(&pair[1], tags.get(2 * i + 1).copied().flatten(), flavor, &mut out)?;
    }
    out.push('}');
    finish(out, flavor)
}

fn build_array(a: &[ScalarValue], tags: &[Option<u32>], flavor: Flavor) -> Result<ScalarValue, SqlError> {
    let mut out = String::from("[");
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        to_json_text(v, tags.get(i).copied().flatten(), flavor, &mut out)?;
    }
    out.push(']');
    finish(out, flavor)
}

/// The JSON array of the elements `array_agg` collected (each already JSON
/// text; SQL NULL is JSON null). No rows: NULL, as PostgreSQL's json_agg.
fn agg_finish(a: &[ScalarValue], flavor: Flavor) -> Result<ScalarValue, SqlError> {
    let Some(ScalarValue::List(l)) = a.first() else { return Ok(null_text()) };
    if l.is_null(0) {
        return Ok(null_text());
    }
    let elements: Vec<String> = list_strings(l).into_iter().map(|e| e.unwrap_or_else(|| "null".into())).collect();
    finish(format!("[{}]", elements.join(", ")), flavor)
}

/// One member of `json_object_agg`: `"k" : v` (v embedded as JSON).
fn object_agg_pair(a: &[ScalarValue], tags: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let key = arg_str(a, 0).ok_or_else(|| SqlError::new("22023", "field name must not be null"))?;
    let mut out = String::new();
    json::write_string(&key, &mut out);
    out.push_str(" : ");
    to_json_text(a.get(1).unwrap_or(&ScalarValue::Null), tags.get(1).copied().flatten(), Flavor::Json, &mut out)?;
    Ok(text(out))
}

/// `json_object_agg`'s object, PostgreSQL's spacing: `{ "a" : 1, "b" : 2 }`.
fn object_agg_finish(a: &[ScalarValue], flavor: Flavor) -> Result<ScalarValue, SqlError> {
    let Some(ScalarValue::List(l)) = a.first() else { return Ok(null_text()) };
    if l.is_null(0) {
        return Ok(null_text());
    }
    let members: Vec<String> = list_strings(l).into_iter().flatten().collect();
    finish(format!("{{ {} }}", members.join(", ")), flavor)
}

/// `"key":value` for building an object's text (made canonical afterwards).
fn member(key: &str, value: &str) -> String {
    let mut m = String::new();
    json::write_string(key, &mut m);
    m.push(':');
    m.push_str(value);
    m
}

fn canonical(item: &Item<'_>) -> Result<String, SqlError> {
    let mut s = String::new();
    json::write_canonical(&item.value, &mut s).map_err(parse_err)?;
    Ok(s)
}

/// `a || b`: two objects merge (b's keys win); otherwise both are taken as
/// arrays (a non-array as a one-element array) and concatenated.
fn concat(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let (Some(x), Some(y)) = (arg_str(a, 0), arg_str(a, 1)) else { return Ok(null_text()) };
    let (x, y) = (parse(&x)?, parse(&y)?);
    let mut out = String::new();
    if let (Json::Object(_), Json::Object(_)) = (&x.value, &y.value) {
        out.push('{');
        let members = json::object_members(&x.value).into_iter().chain(json::object_members(&y.value));
        for (i, (k, v)) in members.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&member(k, &canonical(v)?));
        }
        out.push('}');
    } else {
        let elements = |it: &Item<'_>| -> Result<Vec<String>, SqlError> {
            match &it.value {
                Json::Array(items) => items.iter().map(canonical).collect(),
                _ => Ok(vec![canonical(it)?]),
            }
        };
        out = format!("[{}]", [elements(&x)?, elements(&y)?].concat().join(","));
    }
    Ok(text(json::canonical_jsonb(&out).map_err(parse_err)?))
}

/// `a - key`, `a - index`, `a - keys`: without that key (or array string
/// element), that array element, or any of those keys.
fn delete(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(null_text()) };
    let root = parse(&src)?;
    let index = match a.get(1) {
        Some(v) if v.is_null() => return Ok(null_text()),
        Some(ScalarValue::Int16(Some(i))) => Some(*i as i64),
        Some(ScalarValue::Int32(Some(i))) => Some(*i as i64),
        Some(ScalarValue::Int64(Some(i))) => Some(*i),
        _ => None,
    };
    let keys: Vec<String> = match (index, a.get(1)) {
        (Some(_), _) => Vec::new(),
        (None, Some(ScalarValue::List(_))) => path_keys(a)?.unwrap_or_default().into_iter().flatten().collect(),
        _ => arg_str(a, 1).into_iter().collect(),
    };
    let out = match &root.value {
        Json::Object(_) if index.is_some() => return Err(SqlError::new("22023", "cannot delete from object using integer index")),
        Json::Object(_) => {
            let kept: Vec<String> = json::object_members(&root.value)
                .into_iter()
                .filter(|(k, _)| !keys.iter().any(|d| d == k))
                .map(|(k, v)| Ok(member(k, &canonical(v)?)))
                .collect::<Result<_, SqlError>>()?;
            format!("{{{}}}", kept.join(","))
        }
        Json::Array(items) => {
            let drop_at = index.map(|i| if i < 0 { items.len() as i64 + i } else { i });
            let kept: Vec<String> = items
                .iter()
                .enumerate()
                .filter(|(n, it)| match drop_at {
                    Some(d) => *n as i64 != d,
                    None => !matches!(&it.value, Json::String(s) if keys.iter().any(|k| k == s)),
                })
                .map(|(_, it)| canonical(it))
                .collect::<Result<_, SqlError>>()?;
            format!("[{}]", kept.join(","))
        }
        _ => return Err(SqlError::new("22023", "cannot delete from scalar")),
    };
    Ok(text(json::canonical_jsonb(&out).map_err(parse_err)?))
}

/// `a #- path`: without the element the path leads to.
fn delete_path(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(null_text()) };
    let Some(keys) = path_keys(a)? else { return Ok(null_text()) };
    let root = parse(&src)?;
    if !matches!(root.value, Json::Object(_) | Json::Array(_)) {
        return Err(SqlError::new("22023", "cannot delete path in scalar"));
    }
    let keys: Vec<String> = keys.into_iter().map(|k| k.unwrap_or_default()).collect();
    Ok(text(json::canonical_jsonb(&without(&root, &keys)?).map_err(parse_err)?))
}

/// `item` as text with the element at `path` left out (unchanged if the path leads nowhere).
fn without(item: &Item<'_>, path: &[String]) -> Result<String, SqlError> {
    let Some((first, rest)) = path.split_first() else { return canonical(item) };
    match &item.value {
        Json::Object(_) => {
            let mut parts = Vec::new();
            for (k, v) in json::object_members(&item.value) {
                if k == first {
                    if rest.is_empty() {
                        continue;
                    }
                    parts.push(member(k, &without(v, rest)?));
                } else {
                    parts.push(member(k, &canonical(v)?));
                }
            }
            Ok(format!("{{{}}}", parts.join(",")))
        }
        Json::Array(items) => {
            let at = first
                .trim()
                .parse::<i64>()
                .map_err(|_| SqlError::new("22P02", format!("path element at position {} is not an integer: \"{first}\"", 1)))?;
            let at = if at < 0 { items.len() as i64 + at } else { at };
            let mut parts = Vec::new();
            for (n, it) in items.iter().enumerate() {
                if n as i64 == at {
                    if rest.is_empty() {
                        continue;
                    }
                    parts.push(without(it, rest)?);
                } else {
                    parts.push(canonical(it)?);
                }
            }
            Ok(format!("[{}]", parts.join(",")))
        }
        _ => canonical(item),
    }
}

/// `jsonb_set(target, path, value [, create_missing])`: `target` with the
/// element at `path` replaced by `value`, or added where only the last step
/// is missing and `create_missing` (default true). A path that leads nowhere
/// earlier leaves `target` as it is. Strict: any NULL argument gives NULL.
fn set(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let (Some(src), Some(value)) = (arg_str(a, 0), arg_str(a, 2)) else { return Ok(null_text()) };
    let Some(keys) = path_keys(&a[..2.min(a.len())])? else { return Ok(null_text()) };
    let create = match a.get(3) {
        None => true,
        Some(ScalarValue::Boolean(Some(b))) => *b,
        Some(v) if v.is_null() => return Ok(null_text()),
        Some(v) => {
            return Err(SqlError::new("42883", format!("function jsonb_set(jsonb, text[], jsonb, {}) does not exist", v.data_type())));
        }
    };
    let root = parse(&src)?;
    if !matches!(root.value, Json::Object(_) | Json::Array(_)) {
        return Err(SqlError::new("22023", "cannot set path in scalar"));
    }
    let value = json::canonical_jsonb(&value).map_err(parse_err)?;
    let keys: Vec<String> = keys.into_iter().map(|k| k.unwrap_or_default()).collect();
    let out = set_at(&root, &keys, 1, &value, create)?;
    Ok(text(json::canonical_jsonb(&out).map_err(parse_err)?))
}

/// `item` as text with `value` put at `path` (`position` numbers the step, for errors).
fn set_at(item: &Item<'_>, path: &[String], position: usize, value: &str, create: bool) -> Result<String, SqlError> {
    let Some((first, rest)) = path.split_first() else { return Ok(value.to_string()) };
    match &item.value {
        Json::Object(_) => {
            let members = json::object_members(&item.value);
            let mut parts = Vec::with_capacity(members.len() + 1);
            let mut found = false;
            for (k, v) in members {
                let v = if k == first {
                    found = true;
                    set_at(v, rest, position + 1, value, create)?
                } else {
                    canonical(v)?
                };
                parts.push(member(k, &v));
            }
            if !found && rest.is_empty() && create {
                parts.push(member(first, value));
            }
            Ok(format!("{{{}}}", parts.join(",")))
        }
        Json::Array(items) => {
            let at: i64 = first
                .trim()
                .parse()
                .map_err(|_| SqlError::new("22P02", format!("path element at position {position} is not an integer: \"{first}\"")))?;
            let len = items.len() as i64;
            let index = if at < 0 { len + at } else { at };
            let mut parts: Vec<String> = items.iter().map(canonical).collect::<Result<_, _>>()?;
            if (0..len).contains(&index) {
                parts[index as usize] = set_at(&items[index as usize], rest, position + 1, value, create)?;
            } else if rest.is_empty() && create {
                // Past either end: added at that end.
                if index < 0 { parts.insert(0, value.to_string()) } else { parts.push(value.to_string()) }
            }
            Ok(format!("[{}]", parts.join(",")))
        }
        _ => canonical(item),
    }
}

/// `json(b)_strip_nulls`: without object fields whose value is null, at any depth.
fn strip_nulls(a: &[ScalarValue], flavor: Flavor) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(null_text()) };
    let root = parse(&src)?;
    fn strip(v: &Json<'_>, out: &mut String) {
        match v {
            Json::Object(members) => {
                out.push('{');
                let mut first = true;
                for (k, it) in members.iter().filter(|(_, it)| it.value != Json::Null) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    json::write_string(k, out);
                    out.push(':');
                    strip(&it.value, out);
                }
                out.push('}');
            }
            Json::Array(items) => {
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    strip(&it.value, out);
                }
                out.push(']');
            }
            Json::Number(n) => out.push_str(n),
            other => {
                let _ = json::write_canonical(other, out);
            }
        }
    }
    let mut out = String::new();
    strip(&root.value, &mut out);
    finish(out, flavor)
}

/// `jsonb_pretty`: four-space indents, one member or element per line.
fn pretty(a: &[ScalarValue], _: &[Option<u32>]) -> Result<ScalarValue, SqlError> {
    let Some(src) = arg_str(a, 0) else { return Ok(null_text()) };
    let root = json::parse(&src, Flavor::Jsonb).map_err(parse_err)?;
    let mut out = String::new();
    write_pretty(&root.value, 0, &mut out)?;
    Ok(text(out))
}

fn write_pretty(v: &Json<'_>, level: usize, out: &mut String) -> Result<(), SqlError> {
    let indent = |n: usize, out: &mut String| out.extend(std::iter::repeat_n("    ", n));
    match v {
        Json::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(level + 1, out);
                write_pretty(&it.value, level + 1, out)?;
            }
            out.push('\n');
            indent(level, out);
            out.push(']');
        }
        Json::Object(members) if !members.is_empty() => {
            out.push_str("{\n");
            for (i, (k, it)) in json::object_members(v).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(level + 1, out);
                json::write_string(k, out);
                out.push_str(": ");
                write_pretty(&it.value, level + 1, out)?;
            }
            out.push('\n');
            indent(level, out);
            out.push('}');
        }
        other => json::write_canonical(other, out).map_err(parse_err)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> ScalarValue {
        text(s)
    }

    #[test]
    fn get_returns_the_piece_in_the_argument_type() {
        let doc = t(r#"{"a": {"x":  1}, "b": [10, "s", null]}"#);
        assert_eq!(get(&[doc.clone(), t("a")], &[Some(oid::JSON)], false, false).unwrap(), t(r#"{"x":  1}"#));
        assert_eq!(get(&[doc.clone(), t("a")], &[Some(oid::JSONB)], false, false).unwrap(), t(r#"{"x": 1}"#));
        assert_eq!(get(&[doc.clone(), t("zz")], &[None], false, false).unwrap(), null_text());
        let b = get(&[doc.clone(), t("b")], &[Some(oid::JSONB)], false, false).unwrap();
        assert_eq!(get(&[b.clone(), ScalarValue::Int32(Some(-2))], &[None], true, false).unwrap(), t("s"));
        assert_eq!(get(&[b.clone(), ScalarValue::Int32(Some(2))], &[None], true, false).unwrap(), null_text());
        assert_eq!(get(&[b.clone(), t("0")], &[None], true, false).unwrap(), null_text(), "a text key does not index an array");
        assert_eq!(get(&[b, t("0")], &[Some(oid::JSONB)], false, true).unwrap(), t("10"), "but a subscript does");
        assert_eq!(path(&[doc.clone(), t("{b,0}")], &[None], true).unwrap(), t("10"));
        assert_eq!(path(&[doc, t("{a,x}")], &[Some(oid::JSON)], false).unwrap(), t("1"));
    }

    #[test]
    fn containment_as_postgres_defines_it() {
        let c = |a: &str, b: &str| contains(&[t(a), t(b)], &[]).unwrap() == ScalarValue::Boolean(Some(true));
        assert!(c(r#"{"a": 1, "b": [1, 2, 3]}"#, r#"{"b": [3, 1]}"#));
        assert!(c(r#"{"a": 1.0}"#, r#"{"a": 1}"#));
        assert!(!c(r#"{"a": 1}"#, r#"{"a": 1, "b": 2}"#));
        assert!(c(r#"["foo", "bar"]"#, r#""foo""#));
        assert!(!c(r#""foo""#, r#"["foo"]"#));
        assert!(!c(r#"{"a": [1]}"#, r#"{"a": 1}"#));
        assert!(c(r#"[[1, 2], 3]"#, r#"[[2]]"#));
        assert!(!c(r#"[1, 2]"#, r#"[[1]]"#));
        assert!(c(r#"{}"#, r#"{}"#));
    }

    #[test]
    fn key_existence() {
        let e = |d: &str, k: &str| exists(&[t(d), t(k)], Keys::One).unwrap() == ScalarValue::Boolean(Some(true));
        assert!(e(r#"{"a": 1}"#, "a"));
        assert!(!e(r#"{"a": {"b": 1}}"#, "b"));
        assert!(e(r#"["a", 1]"#, "a"));
        assert!(!e(r#"[1]"#, "1"));
        let any = exists(&[t(r#"{"a": 1}"#), t("{x,a}")], Keys::Any).unwrap();
        let all = exists(&[t(r#"{"a": 1}"#), t("{x,a}")], Keys::All).unwrap();
        assert_eq!((any, all), (ScalarValue::Boolean(Some(true)), ScalarValue::Boolean(Some(false))));
    }

    #[test]
    fn builders_embed_json_and_quote_text() {
        let args = [t("k"), t(r#"{"a":1}"#), t("n"), ScalarValue::Int32(Some(3))];
        let tags = [None, Some(oid::JSONB), None, None];
        assert_eq!(build_object(&args, &tags, Flavor::Json).unwrap(), t(r#"{"k" : {"a":1}, "n" : 3}"#));
        assert_eq!(build_object(&args, &tags, Flavor::Jsonb).unwrap(), t(r#"{"k": {"a": 1}, "n": 3}"#));
        assert_eq!(build_array(&[t("x\"y"), ScalarValue::Null], &[None, None], Flavor::Json).unwrap(), t(r#"["x\"y", null]"#));
        assert_eq!(
            pretty(&[t(r#"{"a":[1,{"b":2}],"c":{}}"#)], &[]).unwrap(),
            t("{\n    \"a\": [\n        1,\n        {\n            \"b\": 2\n        }\n    ],\n    \"c\": {}\n}")
        );
    }
}

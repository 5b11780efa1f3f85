//! A small expression evaluator for the statements that must not pay for a
//! DataFusion planning round: pgbench's and ORMs' single-row statements,
//! column DEFAULTs, CHECK constraints.
//!
//! It compiles a sqlparser expression into a tree over literals, `$n`
//! parameters, columns of one row and a handful of operators and functions,
//! with PostgreSQL's semantics (integer overflow → 22003, division by zero →
//! 22012, NULL propagation, three-valued AND/OR). Anything it does not know
//! makes compilation fail, and the caller takes the general path — so this is
//! an optimization, never a different dialect.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator, Value as SqlValue,
};
use duetdb_storage::ColumnDef;
use duetdb_storage::types::{DataType, Value, format_decimal, parse_decimal, rescale};

use crate::error::{SqlError, SqlResult};
use crate::pg::datetime::Zone;
use crate::sql::names;

#[derive(Clone, Debug, PartialEq)]
pub enum Ex {
    Lit(Value),
    /// An untyped string literal (PostgreSQL's `unknown`): typed by its use.
    Unknown(String),
    Param(usize),
    /// A column, by physical position in the row being evaluated.
    Col(usize),
    Bin(Op, Box<Ex>, Box<Ex>),
    Neg(Box<Ex>),
    Not(Box<Ex>),
    IsNull(Box<Ex>, bool),
    Cast(Box<Ex>, DataType),
    Coalesce(Vec<Ex>),
    Now,
    CurrentDate,
    NextVal(String),
    /// `gen_random_uuid()`: a new version-4 uuid per evaluation.
    RandomUuid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Concat,
}

/// Whether an operator in `ex` takes a json or jsonb column (by `is_json`)
/// as an operand. This evaluator's `||`, `-` and comparisons work on text;
/// on jsonb they mean concatenation, deletion and comparison of the parsed
/// value (`sql::json_operators`), so such expressions go to DataFusion.
pub fn operates_on_json(ex: &Ex, is_json: &dyn Fn(usize) -> bool) -> bool {
    let json_operand = |e: &Ex| match e {
        Ex::Col(c) => is_json(*c),
        Ex::Coalesce(args) => args.iter().any(|a| matches!(a, Ex::Col(c) if is_json(*c))),
        _ => false,
    };
    match ex {
        Ex::Bin(_, l, r) => json_operand(l) || json_operand(r) || operates_on_json(l, is_json) || operates_on_json(r, is_json),
        Ex::Neg(x) | Ex::Not(x) | Ex::IsNull(x, _) | Ex::Cast(x, _) => operates_on_json(x, is_json),
        Ex::Coalesce(args) => args.iter().any(|a| operates_on_json(a, is_json)),
        _ => false,
    }
}

/// How the compiler resolves column names (None: no columns in scope).
pub type Columns<'a> = Option<&'a dyn Fn(&str) -> Option<usize>>;

/// Compiles an expression; None if it uses anything outside this evaluator.
pub fn compile(e: &Expr, cols: Columns<'_>) -> Option<Ex> {
    Some(match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => number(n)?,
            SqlValue::SingleQuotedString(s) | SqlValue::EscapedStringLiteral(s) => Ex::Unknown(s.clone()),
            SqlValue::Boolean(b) => Ex::Lit(Value::Bool(*b)),
            SqlValue::Null => Ex::Lit(Value::Null),
            SqlValue::Placeholder(p) => Ex::Param(crate::sql::query::placeholder_index(p)?),
            _ => return None,
        },
        Expr::Identifier(i) => {
            let name = names::ident(i);
            match name.as_str() {
                "current_timestamp" | "localtimestamp" if i.quote_style.is_none() => Ex::Now,
                "current_date" if i.quote_style.is_none() => Ex::CurrentDate,
                _ => Ex::Col(cols?(&name)?),
            }
        }
        Expr::CompoundIdentifier(parts) => Ex::Col(cols?(&names::ident(parts.last()?))?),
        Expr::Nested(inner) => compile(inner, cols)?,
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match compile(expr, cols)? {
            Ex::Lit(v) => Ex::Lit(negate(v).ok()?),
            other => Ex::Neg(Box::new(other)),
        },
        Expr::UnaryOp { op: UnaryOperator::Plus, expr } => compile(expr, cols)?,
        Expr::UnaryOp { op: UnaryOperator::Not, expr } => Ex::Not(Box::new(compile(expr, cols)?)),
        Expr::IsNull(x) => Ex::IsNull(Box::new(compile(x, cols)?), false),
        Expr::IsNotNull(x) => Ex::IsNull(Box::new(compile(x, cols)?), true),
        Expr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Plus => Op::Add,
                BinaryOperator::Minus => Op::Sub,
                BinaryOperator::Multiply => Op::Mul,
                BinaryOperator::Divide => Op::Div,
                BinaryOperator::Modulo => Op::Mod,
                BinaryOperator::Eq => Op::Eq,
                BinaryOperator::NotEq => Op::Ne,
                BinaryOperator::Lt => Op::Lt,
                BinaryOperator::LtEq => Op::Le,
                BinaryOperator::Gt => Op::Gt,
                BinaryOperator::GtEq => Op::Ge,
                BinaryOperator::And => Op::And,
                BinaryOperator::Or => Op::Or,
                BinaryOperator::StringConcat => Op::Concat,
                _ => return None,
            };
            Ex::Bin(op, Box::new(compile(left, cols)?), Box::new(compile(right, cols)?))
        }
        Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr, data_type, .. } => {
            Ex::Cast(Box::new(compile(expr, cols)?), sql_type(data_type)?)
        }
        Expr::Function(f) => {
            let name = names::last(&f.name);
            let args: Vec<&Expr> = match &f.args {
                FunctionArguments::List(l) => l
                    .args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?,
                FunctionArguments::None => vec![],
                _ => return None,
            };
            if f.over.is_some() || f.filter.is_some() {
                return None;
            }
            match (name.as_str(), args.as_slice()) {
                ("now" | "current_timestamp" | "transaction_timestamp" | "localtimestamp", []) => Ex::Now,
                ("current_date", []) => Ex::CurrentDate,
                ("nextval", [arg]) => Ex::NextVal(sequence_name(arg)?),
                ("gen_random_uuid", []) => Ex::RandomUuid,
                // `x::uuid`, as sql::parse rewrote it.
                ("pg_uuid", [arg]) => Ex::Cast(Box::new(compile(arg, cols)?), DataType::Uuid),
                ("coalesce", args) if !args.is_empty() => Ex::Coalesce(args.iter().map(|a| compile(a, cols)).collect::<Option<Vec<_>>>()?),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// `'name'`, `'name'::regclass` (rewritten to `regclass_in('name')`).
fn sequence_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Function(f) if names::last(&f.name) == "regclass_in" => match &f.args {
            FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => sequence_name(e),
                _ => None,
            },
            _ => None,
        },
        Expr::Cast { expr, .. } => sequence_name(expr),
        Expr::Nested(e) => sequence_name(e),
        _ => None,
    }
}

/// PostgreSQL's typing of a numeric literal: int4, else int8, else numeric.
fn number(n: &str) -> Option<Ex> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Ex::Lit(if let Ok(i) = i32::try_from(i) { Value::Int32(i) } else { Value::Int64(i) }));
    }
    let (m, s) = parse_decimal(n)?;
    Some(Ex::Lit(Value::Numeric(m, s)))
}

/// Maps a SQL type name to an engine type (None for types we do not store).
pub fn sql_type(t: &SqlType) -> Option<DataType> {
    use datafusion::sql::sqlparser::ast::ExactNumberInfo;
    Some(match t {
        SqlType::Boolean | SqlType::Bool => DataType::Bool,
        SqlType::SmallInt(_) | SqlType::Int2(_) => DataType::Int16,
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) => DataType::Int32,
        SqlType::BigInt(_) | SqlType::Int8(_) => DataType::Int64,
        SqlType::Real | SqlType::Float4 => DataType::Float32,
        SqlType::Double(_) | SqlType::DoublePrecision | SqlType::Float8 | SqlType::Float(_) => DataType::Float64,
        SqlType::Numeric(info) | SqlType::Decimal(info) | SqlType::Dec(info) => match info {
            ExactNumberInfo::None => {
                let (p, s) = duetdb_storage::types::DEFAULT_NUMERIC;
                DataType::Numeric { precision: p, scale: s, typmod: false }
            }
            ExactNumberInfo::Precision(p) => DataType::Numeric { precision: (*p).min(255) as u8, scale: 0, typmod: true },
            ExactNumberInfo::PrecisionAndScale(p, s) => {
                DataType::Numeric { precision: (*p).min(255) as u8, scale: (*s).clamp(0, 255) as u8, typmod: true }
            }
        },
        SqlType::Text | SqlType::String(_) => DataType::Text,
        SqlType::Varchar(len) | SqlType::CharacterVarying(len) | SqlType::CharVarying(len) => DataType::Varchar(char_len(len)),
        SqlType::Char(len) | SqlType::Character(len) => DataType::Char(char_len(len).unwrap_or(1)),
        SqlType::Bytea => DataType::Bytea,
        SqlType::JSON => DataType::Json,
        SqlType::JSONB => DataType::Jsonb,
        SqlType::Uuid => DataType::Uuid,
        SqlType::Date => DataType::Date,
        SqlType::Timestamp(_, tz) => match tz {
            datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone | datafusion::sql::sqlparser::ast::TimezoneInfo::Tz => {
                DataType::TimestampTz
            }
            _ => DataType::Timestamp,
        },
        SqlType::Custom(name, mods) => match name.to_string().to_lowercase().trim_start_matches("pg_catalog.") {
            "timestamptz" => DataType::TimestampTz,
            "bpchar" => DataType::Char(mods.first().and_then(|m| m.parse().ok()).unwrap_or(1)),
            "int4" => DataType::Int32,
            "int8" => DataType::Int64,
            "int2" => DataType::Int16,
            "float4" => DataType::Float32,
            "float8" => DataType::Float64,
            _ => return None,
        },
        _ => return None,
    })
}

fn char_len(len: &Option<datafusion::sql::sqlparser::ast::CharacterLength>) -> Option<u32> {
    use datafusion::sql::sqlparser::ast::CharacterLength;
    match len {
        Some(CharacterLength::IntegerLength { length, .. }) => Some((*length).min(u32::MAX as u64) as u32),
        _ => None,
    }
}

/// What evaluation needs besides the expression.
pub struct Env<'a> {
    pub row: &'a [Value],
    pub params: &'a [Value],
    pub now: i64,
    pub zone: &'a Zone,
    pub nextval: &'a mut (dyn FnMut(&str) -> SqlResult<i64> + Send),
}

pub fn eval(e: &Ex, env: &mut Env<'_>) -> SqlResult<Value> {
    Ok(match e {
        Ex::Lit(v) => v.clone(),
        Ex::Unknown(s) => Value::Text(s.clone()),
        Ex::Param(i) => env
            .params
            .get(*i)
            .cloned()
            .ok_or_else(|| SqlError::new("08P01", format!("bind message supplies too few parameters (${} missing)", i + 1)))?,
        Ex::Col(c) => env.row.get(*c).cloned().unwrap_or(Value::Null),
        Ex::Now => Value::TimestampTz(env.now),
        Ex::CurrentDate => Value::Date((env.now + env.zone.offset_at(env.now) as i64 * 1_000_000).div_euclid(86_400_000_000) as i32),
        Ex::NextVal(name) => Value::Int64((env.nextval)(name)?),
        Ex::RandomUuid => Value::Text(crate::sql::functions::random_uuid()),
        Ex::Neg(x) => negate(eval(x, env)?)?,
        Ex::Not(x) => match eval(x, env)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(!b),
            v => return Err(type_error("NOT", &v)),
        },
        Ex::IsNull(x, negated) => Value::Bool(eval(x, env)?.is_null() != *negated),
        Ex::Coalesce(xs) => {
            for x in xs {
                let v = eval(x, env)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Value::Null
        }
        Ex::Cast(x, ty) => cast(eval_typed(x, env, Some(ty))?, ty, env.zone)?,
        Ex::Bin(Op::And, l, r) => {
            let (a, b) = (truth(eval(l, env)?)?, truth(eval(r, env)?)?);
            match (a, b) {
                (Some(false), _) | (_, Some(false)) => Value::Bool(false),
                (Some(true), Some(true)) => Value::Bool(true),
                _ => Value::Null,
            }
        }
        Ex::Bin(Op::Or, l, r) => {
            let (a, b) = (truth(eval(l, env)?)?, truth(eval(r, env)?)?);
            match (a, b) {
                (Some(true), _) | (_, Some(true)) => Value::Bool(true),
                (Some(false), Some(false)) => Value::Bool(false),
                _ => Value::Null,
            }
        }
        Ex::Bin(op, l, r) => {
            let a = eval(l, env)?;
            let b = eval(r, env)?;
            // An unknown literal takes the other side's type, as in PostgreSQL —
            // except for `||`, where it is text (`1 || 'x'` is '1x').
            let (a, b) = if *op == Op::Concat { (a, b) } else { unify(a, b, l, r, env.zone)? };
            binary(*op, a, b)?
        }
    })
}

/// Evaluates `e`, reading an unknown literal directly as `ty` when given.
pub fn eval_typed(e: &Ex, env: &mut Env<'_>, ty: Option<&DataType>) -> SqlResult<Value> {
    match (e, ty) {
        (Ex::Unknown(s), Some(t)) => crate::pg::decode::parse_value(s, t, env.zone),
        _ => eval(e, env),
    }
}

fn unify(a: Value, b: Value, l: &Ex, r: &Ex, zone: &Zone) -> SqlResult<(Value, Value)> {
    let like = |v: &Value| -> Option<DataType> {
        Some(match v {
            Value::Bool(_) => DataType::Bool,
            Value::Int16(_) => DataType::Int16,
            Value::Int32(_) => DataType::Int32,
            Value::Int64(_) => DataType::Int64,
            Value::Float32(_) => DataType::Float32,
            Value::Float64(_) => DataType::Float64,
            Value::Numeric(_, s) => DataType::Numeric { precision: 38, scale: *s, typmod: true },
            Value::Date(_) => DataType::Date,
            Value::Timestamp(_) => DataType::Timestamp,
            Value::TimestampTz(_) => DataType::TimestampTz,
            Value::Bytea(_) => DataType::Bytea,
            _ => return None,
        })
    };
    match (l, r) {
        (Ex::Unknown(s), _) if !matches!(r, Ex::Unknown(_)) => match like(&b) {
            Some(t) => Ok((crate::pg::decode::parse_value(s, &t, zone)?, b)),
            None => Ok((a, b)),
        },
        (_, Ex::Unknown(s)) if !matches!(l, Ex::Unknown(_)) => match like(&a) {
            Some(t) => Ok((a, crate::pg::decode::parse_value(s, &t, zone)?)),
            None => Ok((a, b)),
        },
        _ => Ok((a, b)),
    }
}

fn truth(v: Value) -> SqlResult<Option<bool>> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::Text(s) => crate::pg::decode::parse_bool(&s).map(Some).ok_or_else(|| SqlError::invalid_text("boolean", &s)),
        v => Err(SqlError::new("42804", format!("argument of AND/OR must be type boolean, not type {}", v.type_name()))),
    }
}

fn type_error(op: &str, v: &Value) -> SqlError {
    SqlError::new("42883", format!("operator does not exist: {op} {}", v.type_name()))
}

fn negate(v: Value) -> SqlResult<Value> {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Int16(i) => Value::Int16(i.checked_neg().ok_or_else(|| out_of_range("smallint"))?),
        Value::Int32(i) => Value::Int32(i.checked_neg().ok_or_else(|| out_of_range("integer"))?),
        Value::Int64(i) => Value::Int64(i.checked_neg().ok_or_else(|| out_of_range("bigint"))?),
        Value::Float32(f) => Value::Float32(-f),
        Value::Float64(f) => Value::Float64(-f),
        Value::Numeric(m, s) => Value::Numeric(-m, s),
        v => return Err(type_error("-", &v)),
    })
}

fn out_of_range(t: &str) -> SqlError {
    SqlError::new("22003", format!("{t} out of range"))
}

/// Numeric kinds in promotion order.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Kind {
    I16,
    I32,
    I64,
    Num,
    F32,
    F64,
}

fn kind(v: &Value) -> Option<Kind> {
    Some(match v {
        Value::Int16(_) => Kind::I16,
        Value::Int32(_) => Kind::I32,
        Value::Int64(_) => Kind::I64,
        Value::Numeric(..) => Kind::Num,
        Value::Float32(_) => Kind::F32,
        Value::Float64(_) => Kind::F64,
        _ => return None,
    })
}

fn binary(op: Op, a: Value, b: Value) -> SqlResult<Value> {
    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    if op == Op::Concat {
        let s = |v: &Value| crate::pg::encode::value_text(v, &Default::default());
        return Ok(Value::Text(format!("{}{}", s(&a), s(&b))));
    }
    let cmp = matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge);
    if let (Some(ka), Some(kb)) = (kind(&a), kind(&b)) {
        let k = if ka > kb { ka } else { kb };
        return match k {
            Kind::I16 | Kind::I32 | Kind::I64 => {
                let (x, y) = (a.as_i64().unwrap(), b.as_i64().unwrap());
                if cmp {
                    return Ok(Value::Bool(compare(op, x.cmp(&y))));
                }
                let r = match op {
                    Op::Add => x.checked_add(y),
                    Op::Sub => x.checked_sub(y),
                    Op::Mul => x.checked_mul(y),
                    Op::Div | Op::Mod if y == 0 => return Err(SqlError::new("22012", "division by zero")),
                    Op::Div => x.checked_div(y),
                    Op::Mod => x.checked_rem(y),
                    _ => unreachable!(),
                };
                let (name, min, max) = match k {
                    Kind::I16 => ("smallint", i16::MIN as i64, i16::MAX as i64),
                    Kind::I32 => ("integer", i32::MIN as i64, i32::MAX as i64),
                    _ => ("bigint", i64::MIN, i64::MAX),
                };
                let r = r.filter(|r| (min..=max).contains(r)).ok_or_else(|| out_of_range(name))?;
                Ok(match k {
                    Kind::I16 => Value::Int16(r as i16),
                    Kind::I32 => Value::Int32(r as i32),
                    _ => Value::Int64(r),
                })
            }
            Kind::Num => {
                let (ma, sa) = as_decimal(&a);
                let (mb, sb) = as_decimal(&b);
                let s = sa.max(sb);
                let (x, y) = (
                    rescale(ma, sa, s).ok_or_else(|| out_of_range("numeric"))?,
                    rescale(mb, sb, s).ok_or_else(|| out_of_range("numeric"))?,
                );
                if cmp {
                    return Ok(Value::Bool(compare(op, x.cmp(&y))));
                }
                Ok(match op {
                    Op::Add => Value::Numeric(x.checked_add(y).ok_or_else(|| out_of_range("numeric"))?, s),
                    Op::Sub => Value::Numeric(x.checked_sub(y).ok_or_else(|| out_of_range("numeric"))?, s),
                    Op::Mul => Value::Numeric(ma.checked_mul(mb).ok_or_else(|| out_of_range("numeric"))?, sa + sb),
                    Op::Div | Op::Mod if y == 0 => return Err(SqlError::new("22012", "division by zero")),
                    Op::Mod => Value::Numeric(x % y, s),
                    Op::Div => {
                        // Result scale as PostgreSQL picks it (at least 16 significant digits).
                        let scale = (s as u32).max(16).min(30) as u8;
                        let num = rescale(x, 0, scale).ok_or_else(|| out_of_range("numeric"))?;
                        Value::Numeric(num / y, scale)
                    }
                    _ => unreachable!(),
                })
            }
            Kind::F32 | Kind::F64 => {
                let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                if cmp {
                    return Ok(Value::Bool(compare(op, x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal))));
                }
                let r = match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    // As PostgreSQL's float8div: NaN / 0 is NaN; `%` stands in for numeric's (decimal literals are floats here).
                    Op::Div | Op::Mod if y == 0.0 && !x.is_nan() => return Err(SqlError::new("22012", "division by zero")),
                    Op::Div => x / y,
                    Op::Mod => x % y,
                    _ => unreachable!(),
                };
                Ok(if k == Kind::F32 { Value::Float32(r as f32) } else { Value::Float64(r) })
            }
        };
    }
    if cmp {
        let ord = match (&a, &b) {
            (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Date(x), Value::Date(y)) => x.cmp(y),
            (Value::Timestamp(x) | Value::TimestampTz(x), Value::Timestamp(y) | Value::TimestampTz(y)) => x.cmp(y),
            (Value::Bytea(x), Value::Bytea(y)) => x.cmp(y),
            _ => {
                return Err(SqlError::new("42883", format!("operator does not exist: {} = {}", a.type_name(), b.type_name())));
            }
        };
        return Ok(Value::Bool(compare(op, ord)));
    }
    Err(SqlError::new("42883", format!("operator does not exist: {} {op:?} {}", a.type_name(), b.type_name())))
}

fn compare(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        _ => unreachable!(),
    }
}

fn as_decimal(v: &Value) -> (i128, u8) {
    match v {
        Value::Numeric(m, s) => (*m, *s),
        v => (v.as_i64().unwrap_or(0) as i128, 0),
    }
}

/// An explicit cast (`::type`): text goes through the type's input function.
pub fn cast(v: Value, ty: &DataType, zone: &Zone) -> SqlResult<Value> {
    match (&v, ty) {
        (Value::Null, _) => Ok(Value::Null),
        (Value::Text(s), t) if !matches!(t, DataType::Text | DataType::Varchar(_) | DataType::Char(_)) => {
            crate::pg::decode::parse_value(s, t, zone)
        }
        (v, DataType::Text | DataType::Varchar(None)) if !matches!(v, Value::Text(_)) => Ok(Value::Text(as_text(v, zone))),
        (Value::Numeric(m, s), DataType::Numeric { .. }) => Ok(ty.coerce(Value::Numeric(*m, *s))?),
        (Value::Text(s), DataType::Varchar(Some(n))) => {
            // An explicit cast truncates instead of failing (PostgreSQL semantics).
            Ok(Value::Text(s.chars().take(*n as usize).collect()))
        }
        _ => Ok(ty.coerce(v)?),
    }
}

/// Converts a value for assignment to a column: PostgreSQL's assignment rules,
/// where untyped text is read by the column type's input function.
pub fn assign(v: Value, ty: &DataType, zone: &Zone) -> SqlResult<Value> {
    let to_string_type = matches!(ty, DataType::Text | DataType::Varchar(_) | DataType::Char(_));
    match &v {
        Value::Text(s) if !to_string_type => crate::pg::decode::parse_value(s, ty, zone),
        // PostgreSQL's assignment casts to string types: any value converts
        // to its text, then the column's length rules apply.
        Value::Null | Value::Text(_) => Ok(ty.coerce(v)?),
        _ if to_string_type => Ok(ty.coerce(Value::Text(as_text(&v, zone)))?),
        _ => Ok(ty.coerce(v)?),
    }
}

/// A value as PostgreSQL's casts to text give it: the type's output
/// function, except booleans, which read true/false (text(boolean)).
fn as_text(v: &Value, zone: &Zone) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        v => crate::pg::encode::value_text(v, &crate::pg::encode::Style { zone: zone.clone() }),
    }
}

/// `assign` into a named column; a value of a type that cannot be stored
/// there fails as PostgreSQL words it (42804, naming the column and both types).
pub fn assign_column(v: Value, column: &ColumnDef, zone: &Zone) -> SqlResult<Value> {
    let from = v.type_name();
    assign(v, &column.ty, zone).map_err(|mut e| {
        if e.code == "42804" {
            e.message = format!("column \"{}\" is of type {} but expression is of type {from}", column.name, column.ty.pg_name());
            e.hint = Some("You will need to rewrite or cast the expression.".into());
        }
        e
    })
}

pub fn display(v: &Value) -> String {
    match v {
        Value::Numeric(m, s) => format_decimal(*m, *s),
        v => crate::pg::encode::value_text(v, &Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn run(sql: &str, row: &[Value], params: &[Value]) -> SqlResult<Value> {
        let e = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).unwrap().parse_expr().unwrap();
        let cols = |n: &str| match n {
            "a" => Some(0),
            "b" => Some(1),
            _ => None,
        };
        let ex = compile(&e, Some(&cols)).expect("compiles");
        let mut next = |_: &str| Ok(7);
        eval(&ex, &mut Env { row, params, now: 0, zone: &Zone::Utc, nextval: &mut next })
    }

    #[test]
    fn arithmetic_follows_postgres() {
        assert_eq!(run("a + $1", &[Value::Int32(5)], &[Value::Int32(-3)]).unwrap(), Value::Int32(2));
        assert_eq!(run("a + 1", &[Value::Int32(i32::MAX)], &[]).unwrap_err().code, "22003");
        assert_eq!(run("a / 0", &[Value::Int32(1)], &[]).unwrap_err().code, "22012");
        assert_eq!(run("a * 2.5", &[Value::Int32(2)], &[]).unwrap(), Value::Numeric(50, 1));
        assert_eq!(run("a = '5'", &[Value::Int32(5)], &[]).unwrap(), Value::Bool(true));
        assert_eq!(run("a > 1 AND b IS NULL", &[Value::Int32(5), Value::Null], &[]).unwrap(), Value::Bool(true));
        assert_eq!(run("NULL AND false", &[], &[]).unwrap(), Value::Bool(false));
        assert_eq!(run("-a", &[Value::Int64(4)], &[]).unwrap(), Value::Int64(-4));
        assert_eq!(run("'2024-05-07'::date", &[], &[]).unwrap(), Value::Date(19_850));
        assert_eq!(run("nextval('s')", &[], &[]).unwrap(), Value::Int64(7));
        assert_eq!(run("a || 'x'", &[Value::Int32(1)], &[]).unwrap(), Value::Text("1x".into()));
        assert_eq!(run("a::text", &[Value::Bool(true)], &[]).unwrap(), Value::Text("true".into()), "text(boolean), as PostgreSQL");
        assert_eq!(run("a::text", &[Value::Numeric(250, 2)], &[]).unwrap(), Value::Text("2.50".into()));
    }

    #[test]
    fn unknown_things_do_not_compile() {
        let e = Parser::new(&PostgreSqlDialect {}).try_with_sql("lower(a)").unwrap().parse_expr().unwrap();
        assert!(compile(&e, None).is_none());
        let e = Parser::new(&PostgreSqlDialect {}).try_with_sql("(SELECT 1)").unwrap().parse_expr().unwrap();
        assert!(compile(&e, None).is_none());
    }
}

//! `to_timestamp(text, template)`, `to_date(text, template)` and
//! `to_timestamp(seconds)`: PostgreSQL's parsing functions.
//!
//! DataFusion's functions of these names read chrono's `%Y-%m-%d` templates,
//! so `to_date('05 Mar 2024', 'DD Mon YYYY')` failed. These replace them
//! (same names) and read PostgreSQL's templates with `pg::datetime_format`
//! (the same keywords as `to_char`). As in PostgreSQL, `to_timestamp` returns
//! a `timestamptz`: the wall-clock time read is in the session's `TimeZone`
//! unless the input gives an offset (`OF`, `TZH:TZM`); `to_timestamp(n)` is
//! the Unix epoch plus `n` seconds. A single text argument is read as a
//! timestamp or date literal, as DataFusion's functions did.

use std::sync::Arc;

use chrono::Datelike;
use datafusion::arrow::array::{Array, ArrayRef, Date32Array, Float64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as A, TimeUnit};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};

use crate::error::SqlError;
use crate::pg::datetime::{self, Zone};
use crate::pg::datetime_format::Template;
use crate::sql::functions::{EnvHandle, FunctionEnv};

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

pub fn to_timestamp(env: Arc<dyn FunctionEnv>) -> ScalarUDF {
    udf(Kind::Timestamp, env)
}

pub fn to_date(env: Arc<dyn FunctionEnv>) -> ScalarUDF {
    udf(Kind::Date, env)
}

fn udf(kind: Kind, env: Arc<dyn FunctionEnv>) -> ScalarUDF {
    let signature = Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Stable);
    ScalarUDF::new_from_impl(Parse { kind, signature, env: EnvHandle(env) })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Timestamp,
    Date,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Parse {
    kind: Kind,
    signature: Signature,
    env: EnvHandle,
}

impl Parse {
    /// UTC microseconds (timestamp) or days since the epoch (date) of one input.
    fn one(&self, text: &str, template: Option<&Template>, zone: &Zone) -> Result<i64, SqlError> {
        let Some(template) = template else {
            let parsed = match self.kind {
                Kind::Timestamp => datetime::parse_timestamptz(text, zone),
                Kind::Date => datetime::parse_date(text).map(i64::from),
            };
            let name = if self.kind == Kind::Date { "date" } else { "timestamp with time zone" };
            return parsed.ok_or_else(|| SqlError::invalid_text(name, text));
        };
        let (local, offset) = template.parse(text)?;
        Ok(match self.kind {
            Kind::Date => (local.date().num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE) as i64,
            Kind::Timestamp => {
                let local_micros = local.and_utc().timestamp_micros();
                let offset = offset.unwrap_or_else(|| zone.offset_for_local(local_micros));
                local_micros - offset as i64 * 1_000_000
            }
        })
    }
}

impl ScalarUDFImpl for Parse {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Timestamp => "to_timestamp",
            Kind::Date => "to_date",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(match self.kind {
            Kind::Timestamp => A::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Date => A::Date32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let zone = self.env.zone();
        let n = arrays[0].len();
        let numeric = arrays.len() == 1 && arrays[0].data_type().is_numeric();
        let out: Vec<Option<i64>> = if numeric && self.kind == Kind::Timestamp {
            // to_timestamp(seconds since the Unix epoch)
            let secs = cast(&arrays[0], &A::Float64)?;
            let secs = secs.as_any().downcast_ref::<Float64Array>().expect("cast to float64");
            secs.iter()
                .map(|s| {
                    s.map(|s| {
                        let micros = (s * 1e6).round();
                        if !micros.is_finite() || micros.abs() > 9.2e18 {
                            return Err(DataFusionError::from(SqlError::new("22008", "timestamp out of range")));
                        }
                        Ok(micros as i64)
                    })
                    .transpose()
                })
                .collect::<DfResult<_>>()?
        } else {
            let texts = cast(&arrays[0], &A::Utf8)?;
            let texts = texts.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
            let templates = match arrays.get(1) {
                Some(t) => Some(cast(t, &A::Utf8)?),
                None => None,
            };
            let templates = templates.as_ref().map(|t| t.as_any().downcast_ref::<StringArray>().expect("cast to utf8"));
            let mut compiled: Option<(String, Template)> = None;
            let mut out = Vec::with_capacity(n);
            for row in 0..n {
                if texts.is_null(row) || templates.is_some_and(|t| t.is_null(row)) {
                    out.push(None);
                    continue;
                }
                let template = match templates {
                    Some(t) => {
                        let pattern = t.value(row);
                        if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                            compiled = Some((pattern.to_string(), Template::compile(pattern)));
                        }
                        compiled.as_ref().map(|(_, t)| t)
                    }
                    None => None,
                };
                out.push(Some(self.one(texts.value(row), template, &zone).map_err(DataFusionError::from)?));
            }
            out
        };
        let out: ArrayRef = match self.kind {
            Kind::Timestamp => Arc::new(TimestampMicrosecondArray::from(out).with_timezone("UTC")),
            Kind::Date => Arc::new(out.into_iter().map(|d| d.map(|d| d as i32)).collect::<Date32Array>()),
        };
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

//! `to_char(value, template)`: PostgreSQL's formatting function.
//!
//! DataFusion has a `to_char` of its own that reads chrono's `%Y-%m-%d`
//! templates, so a PostgreSQL template such as `'YYYY-MM-DD'` came back
//! unchanged — a wrong answer, not an error. This one replaces it (same
//! name) and renders PostgreSQL's templates: dates, timestamps (a
//! `timestamptz` in the session's `TimeZone`), times and intervals through
//! `pg::datetime_format`, integers, numerics and floats through
//! `pg::number_format`. A constant template, the usual case, is compiled once
//! per batch; the values are rendered column-wise into one string array.

use std::sync::Arc;

use chrono::DateTime;
use chrono::TimeZone;
use chrono_tz::OffsetName;
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, Decimal128Array, Float64Array, IntervalMonthDayNanoArray, StringArray, StringBuilder, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as A, IntervalUnit, TimeUnit};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::error::SqlError;
use crate::pg::datetime::Zone;
use crate::pg::datetime_format::Template;
use crate::pg::number_format::{NumberTemplate, decimal_digits, float_digits, scientific_digits, shifted};
use crate::sql::functions::{EnvHandle, FunctionEnv};

pub fn to_char(env: Arc<dyn FunctionEnv>) -> ScalarUDF {
    ScalarUDF::new_from_impl(ToChar { signature: Signature::any(2, Volatility::Stable), env: EnvHandle(env) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    signature: Signature,
    env: EnvHandle,
}

/// What kind of value is being formatted, after casting to one array type per kind.
enum Input {
    /// Local wall-clock microseconds (`timestamp`, `date`).
    Local(TimestampMicrosecondArray),
    /// UTC microseconds, shown in the session's zone (`timestamptz`).
    Zoned(TimestampMicrosecondArray),
    Interval(IntervalMonthDayNanoArray),
    Time(Time64MicrosecondArray),
    Exact(Decimal128Array, u32),
    Float(Float64Array),
}

fn input(values: &ArrayRef) -> DfResult<Input> {
    let micros = |tz: Option<Arc<str>>| cast(values, &A::Timestamp(TimeUnit::Microsecond, tz));
    let ts = |a: ArrayRef| a.as_any().downcast_ref::<TimestampMicrosecondArray>().expect("cast to timestamp(us)").clone();
    Ok(match values.data_type() {
        A::Date32 | A::Date64 | A::Timestamp(_, None) => Input::Local(ts(micros(None)?)),
        A::Timestamp(_, Some(_)) => Input::Zoned(ts(micros(Some("UTC".into()))?)),
        A::Interval(_) => {
            let a = cast(values, &A::Interval(IntervalUnit::MonthDayNano))?;
            Input::Interval(a.as_any().downcast_ref::<IntervalMonthDayNanoArray>().expect("cast to interval").clone())
        }
        A::Time32(_) | A::Time64(_) => {
            let a = cast(values, &A::Time64(TimeUnit::Microsecond))?;
            Input::Time(a.as_any().downcast_ref::<Time64MicrosecondArray>().expect("cast to time").clone())
        }
        A::Decimal128(_, s) => {
            let s = *s;
            Input::Exact(values.as_any().downcast_ref::<Decimal128Array>().expect("decimal128").clone(), s.max(0) as u32)
        }
        A::Int8 | A::Int16 | A::Int32 | A::Int64 | A::UInt8 | A::UInt16 | A::UInt32 | A::UInt64 | A::Null => {
            let a = cast(values, &A::Decimal128(38, 0))?;
            Input::Exact(a.as_any().downcast_ref::<Decimal128Array>().expect("cast to decimal").clone(), 0)
        }
        A::Float16 | A::Float32 | A::Float64 => {
            let a = cast(values, &A::Float64)?;
            Input::Float(a.as_any().downcast_ref::<Float64Array>().expect("cast to float64").clone())
        }
        other => {
            return Err(DataFusionError::from(
                SqlError::new("42883", format!("function to_char({}, text) does not exist", pg_name(other)))
                    .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."),
            ));
        }
    })
}

fn pg_name(t: &A) -> &'static str {
    match t {
        A::Utf8 | A::LargeUtf8 | A::Utf8View => "text",
        A::Boolean => "boolean",
        A::Binary | A::LargeBinary | A::BinaryView => "bytea",
        _ => "unknown",
    }
}

/// A compiled template of either family, kept while consecutive rows share it.
enum Compiled {
    Time(Template),
    Number(NumberTemplate),
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(A::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let templates = cast(&arrays[1], &A::Utf8)?;
        let templates = templates.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
        let values = input(&arrays[0])?;
        let zone = match values {
            Input::Zoned(_) => self.env.zone(),
            _ => Zone::Utc,
        };
        let numeric = matches!(values, Input::Exact(..) | Input::Float(_));
        let mut out = StringBuilder::with_capacity(arrays[0].len(), arrays[0].len() * 16);
        let mut compiled: Option<(String, Compiled)> = None;
        let mut buf = String::new();
        for row in 0..arrays[0].len() {
            if arrays[0].is_null(row) || templates.is_null(row) {
                out.append_null();
                continue;
            }
            let pattern = templates.value(row);
            if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                let c = if numeric {
                    Compiled::Number(NumberTemplate::compile(pattern).map_err(DataFusionError::from)?)
                } else {
                    Compiled::Time(Template::compile(pattern))
                };
                compiled = Some((pattern.to_string(), c));
            }
            let template = &compiled.as_ref().expect("compiled above").1;
            buf.clear();
            render(&values, row, template, &zone, &mut buf)?;
            out.append_value(&buf);
        }
        let out: ArrayRef = Arc::new(out.finish());
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

fn render(values: &Input, row: usize, template: &Compiled, zone: &Zone, out: &mut String) -> DfResult<()> {
    let out_of_range = || DataFusionError::from(SqlError::new("22008", "timestamp out of range"));
    match (values, template) {
        (Input::Local(a), Compiled::Time(t)) => {
            let local = DateTime::from_timestamp_micros(a.value(row)).ok_or_else(out_of_range)?.naive_utc();
            t.render_datetime(local, None, out);
        }
        (Input::Zoned(a), Compiled::Time(t)) => {
            let utc = a.value(row);
            let offset = zone.offset_at(utc);
            let local = DateTime::from_timestamp_micros(utc + offset as i64 * 1_000_000).ok_or_else(out_of_range)?.naive_utc();
            let abbrev = abbreviation(zone, utc, offset);
            t.render_datetime(local, Some((offset, &abbrev)), out);
        }
        (Input::Interval(a), Compiled::Time(t)) => {
            let v = a.value(row);
            t.render_interval(v.months, v.days, v.nanoseconds / 1000, out).map_err(DataFusionError::from)?;
        }
        (Input::Time(a), Compiled::Time(t)) => t.render_interval(0, 0, a.value(row), out).map_err(DataFusionError::from)?,
        (Input::Exact(a, scale), Compiled::Number(t)) => {
            if t.is_scientific() {
                let v = a.value(row) as f64 / 10f64.powi(*scale as i32);
                let (d, e) = scientific_digits(v, t.decimals());
                t.render(&d, e, out);
            } else {
                let (m, s) = shifted(a.value(row), *scale, t.shift())
                    .ok_or_else(|| DataFusionError::from(SqlError::new("22003", "value out of range for to_char's V")))?;
                t.render(&decimal_digits(m, s, t.decimals()), 0, out);
            }
        }
        (Input::Float(a), Compiled::Number(t)) => {
            let v = a.value(row) * 10f64.powi(t.shift() as i32);
            if !v.is_finite() {
                // PostgreSQL fills the template's digits with '#' for NaN and infinities.
                let d = crate::pg::number_format::Digits { negative: v < 0.0, int: "#".repeat(99), frac: "#".repeat(t.decimals()) };
                t.render(&d, 0, out);
            } else if t.is_scientific() {
                let (d, e) = scientific_digits(v, t.decimals());
                t.render(&d, e, out);
            } else {
                t.render(&float_digits(v, t.decimals()), 0, out);
            }
        }
        _ => unreachable!("numbers compile number templates, the rest datetime templates"),
    }
    Ok(())
}

/// The zone's abbreviation at an instant, as `TZ` prints it.
fn abbreviation(zone: &Zone, utc_micros: i64, offset: i32) -> String {
    match zone {
        Zone::Utc => "UTC".into(),
        Zone::Fixed(_) => crate::pg::datetime::format_offset(offset),
        Zone::Named(tz) => {
            let at = DateTime::from_timestamp_micros(utc_micros).unwrap_or_default().naive_utc();
            let o = Tz::offset_from_utc_datetime(tz, &at);
            o.abbreviation().map(str::to_string).unwrap_or_else(|| crate::pg::datetime::format_offset(offset))
        }
    }
}

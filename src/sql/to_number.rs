//! `to_number(text, template)`: a number read with a `to_char` template.
//!
//! The result is numeric with as many decimals as the template has
//! (`'9G999D99'` → numeric(38,2)), known when the template is a constant,
//! as it nearly always is; a template computed per row gives 6 decimals.
//! The reading itself is `NumberTemplate::parse_number`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Decimal128Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as A, Field, FieldRef};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::error::SqlError;
use crate::pg::number_format::NumberTemplate;

const COMPUTED_TEMPLATE_SCALE: i8 = 6;

pub fn to_number() -> ScalarUDF {
    ScalarUDF::new_from_impl(ToNumber { signature: Signature::any(2, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToNumber {
    signature: Signature,
}

impl ScalarUDFImpl for ToNumber {
    fn name(&self) -> &str {
        "to_number"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[A]) -> DfResult<A> {
        Ok(A::Decimal128(38, COMPUTED_TEMPLATE_SCALE))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let scale = match args.scalar_arguments.get(1) {
            Some(Some(ScalarValue::Utf8(Some(t)) | ScalarValue::LargeUtf8(Some(t)) | ScalarValue::Utf8View(Some(t)))) => {
                NumberTemplate::compile(t).map_err(DataFusionError::from)?.decimals().min(38) as i8
            }
            _ => COMPUTED_TEMPLATE_SCALE,
        };
        Ok(Arc::new(Field::new(self.name(), A::Decimal128(38, scale), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let A::Decimal128(_, scale) = args.return_field.data_type().clone() else { unreachable!("to_number returns numeric") };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (texts, templates) = (cast(&arrays[0], &A::Utf8)?, cast(&arrays[1], &A::Utf8)?);
        let texts = texts.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
        let templates = templates.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
        let mut compiled: Option<(String, NumberTemplate)> = None;
        let mut out = Vec::with_capacity(texts.len());
        for row in 0..texts.len() {
            if texts.is_null(row) || templates.is_null(row) {
                out.push(None);
                continue;
            }
            let pattern = templates.value(row);
            if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                compiled = Some((pattern.to_string(), NumberTemplate::compile(pattern).map_err(DataFusionError::from)?));
            }
            let template = &compiled.as_ref().expect("compiled above").1;
            let m = template.parse_number(texts.value(row)).map_err(DataFusionError::from)?;
            let m = duetdb_storage::types::rescale(m, template.decimals() as u8, scale as u8)
                .ok_or_else(|| DataFusionError::from(SqlError::new("22003", "numeric field overflow")))?;
            out.push(Some(m));
        }
        let out: ArrayRef = Arc::new(Decimal128Array::from(out).with_precision_and_scale(38, scale)?);
        crate::sql::functions::columnar_result(out, &args.args)
    }
}

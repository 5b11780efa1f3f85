//! PostgreSQL's ordered-set aggregates DataFusion lacks:
//! `percentile_disc(f) WITHIN GROUP (ORDER BY x)` and
//! `mode() WITHIN GROUP (ORDER BY x)`.
//!
//! Both keep the group's non-NULL values, sort them in the WITHIN GROUP
//! order when the group ends and pick one — an actual value of the input
//! (unlike `percentile_cont`, which interpolates):
//!
//! ```text
//!   values 1.25 -2 3.5 (NULL skipped), sorted: -2 1.25 3.5
//!   percentile_disc(0.5): the first value whose cumulative share ≥ 0.5 → 1.25
//!   mode():               the most frequent value, the first in order on a tie
//! ```
//!
//! Memory grows with the group, as PostgreSQL's tuplesort does (it spills;
//! this keeps the values in memory).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType as A, Field, FieldRef};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, TypeSignature, Volatility};
use datafusion::physical_expr::expressions::Literal;

use crate::error::SqlError;

pub fn percentile_disc() -> AggregateUDF {
    AggregateUDF::new_from_impl(OrderedSet { kind: Kind::PercentileDisc, signature: Signature::any(2, Volatility::Immutable) })
}

pub fn mode() -> AggregateUDF {
    let signature = Signature::one_of(vec![TypeSignature::Any(1)], Volatility::Immutable);
    AggregateUDF::new_from_impl(OrderedSet { kind: Kind::Mode, signature })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PercentileDisc,
    Mode,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OrderedSet {
    kind: Kind,
    signature: Signature,
}

impl AggregateUDFImpl for OrderedSet {
    fn name(&self) -> &str {
        match self.kind {
            Kind::PercentileDisc => "percentile_disc",
            Kind::Mode => "mode",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[A]) -> DfResult<A> {
        Ok(args[0].clone())
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let item = Field::new_list_field(args.input_fields[0].data_type().clone(), true);
        Ok(vec![Arc::new(Field::new(format!("{}[values]", args.name), A::List(Arc::new(item)), true))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let fraction = match self.kind {
            Kind::Mode => 0.0,
            Kind::PercentileDisc => {
                let value =
                    args.exprs.get(1).and_then(|e| (e.as_ref() as &dyn std::any::Any).downcast_ref::<Literal>()).map(|l| l.value().clone());
                let f = match value {
                    Some(ScalarValue::Float64(Some(f))) => f,
                    Some(v) if !v.is_null() => match v.cast_to(&A::Float64)? {
                        ScalarValue::Float64(Some(f)) => f,
                        _ => f64::NAN,
                    },
                    _ => {
                        return Err(DataFusionError::from(SqlError::unsupported("percentile_disc with a fraction that is not a constant")));
                    }
                };
                if !(0.0..=1.0).contains(&f) {
                    return Err(DataFusionError::from(SqlError::new("22003", format!("percentile value {f} is not between 0 and 1"))));
                }
                f
            }
        };
        let descending = args.order_bys.first().is_some_and(|s| s.options.descending);
        Ok(Box::new(Values {
            kind: self.kind,
            fraction,
            descending,
            data_type: args.expr_fields[0].data_type().clone(),
            values: Vec::new(),
        }))
    }
}

#[derive(Debug)]
struct Values {
    kind: Kind,
    fraction: f64,
    descending: bool,
    data_type: A,
    values: Vec<ScalarValue>,
}

impl Values {
    fn push_array(&mut self, a: &ArrayRef) -> DfResult<()> {
        for i in 0..a.len() {
            if a.is_valid(i) {
                self.values.push(ScalarValue::try_from_array(a, i)?);
            }
        }
        Ok(())
    }
}

impl Accumulator for Values {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.push_array(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let lists = states[0].as_any().downcast_ref::<datafusion::arrow::array::ListArray>().expect("state is a list");
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.push_array(&lists.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::List(ScalarValue::new_list_nullable(&self.values, &self.data_type))])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        if self.values.is_empty() {
            return ScalarValue::try_from(&self.data_type);
        }
        let mut sorted = std::mem::take(&mut self.values);
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        if self.descending {
            sorted.reverse();
        }
        let picked = match self.kind {
            Kind::PercentileDisc => {
                let n = sorted.len();
                let k = ((self.fraction * n as f64).ceil() as usize).clamp(1, n) - 1;
                sorted[k].clone()
            }
            Kind::Mode => {
                // The longest run of equal values; the first run wins a tie.
                let (mut best, mut best_len, mut run_start) = (0, 0, 0);
                for i in 1..=sorted.len() {
                    if i == sorted.len() || sorted[i] != sorted[run_start] {
                        if i - run_start > best_len {
                            (best, best_len) = (run_start, i - run_start);
                        }
                        run_start = i;
                    }
                }
                sorted[best].clone()
            }
        };
        self.values = sorted;
        Ok(picked)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.iter().map(ScalarValue::size).sum::<usize>()
    }
}

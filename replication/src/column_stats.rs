//! Column statistics of segments: what the planner's estimates stand on.
//!
//! ```text
//!   Segment ── summary(file column) ──► ColumnSummary { min, max, nulls, bytes, sketch }
//!     resident: computed from the rows once (by the persister when it
//!               writes the segment, else the first time a plan asks)
//!     file only: min/max/nulls/bytes from the Parquet footer, the sketch
//!               from the footer's key-value metadata where persisted
//!
//!   scan: ColumnMerge of its segments' summaries ──► ColumnStatistics
//!         min of mins, max of maxes, sum of nulls and bytes, sketches
//!         unioned (+ the rows of segments without one: an upper bound)
//! ```
//!
//! DataFusion picks a hash join's build side and estimates a join's or a
//! GROUP BY's output from these: without a distinct count every join key
//! looks unique and every grouping keeps all its rows, and TPC-H's q18 built
//! its hash table on six million rows to probe it with 57. The distinct
//! count is a HyperLogLog sketch (DataFusion's own `approx_distinct` state),
//! because sketches of segments union into the sketch of the table, where
//! exact counts would not add up.
//!
//! Everything is `Inexact`: a segment's rows include ones a snapshot has
//! deleted, so its bounds and counts describe a superset of the live rows —
//! right for estimates, wrong for answering `max(x)` from statistics, which
//! DataFusion only does with exact ones.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{ColumnStatistics, ScalarValue, stats::Precision};
use datafusion::functions_aggregate::approx_distinct::approx_distinct_udaf;
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;

use crate::segment::SegmentFile;

/// Key-value metadata of a segment file holding file column N's sketch.
const SKETCH_KEY: &str = "duetdb.distinct_sketch.";

/// Segments with fewer rows persist no sketch: the sketch is 16 KiB a
/// column, more than such a segment's column, and its rows are few enough
/// to count as all distinct (see `ColumnMerge::add`).
pub const SKETCH_MIN_ROWS: usize = 16 * 1024;

/// What one segment's column holds, all rows counted (deleted ones too).
#[derive(Clone, Debug)]
pub struct ColumnSummary {
    pub min: Option<ScalarValue>,
    pub max: Option<ScalarValue>,
    pub nulls: usize,
    /// Bytes of the column in Arrow form.
    pub bytes: usize,
    /// `approx_distinct`'s state over the non-null values.
    pub sketch: Option<Sketch>,
}

/// `approx_distinct`'s state over a column's non-null values, and the type
/// it was taken over (which decides the state's format).
#[derive(Clone, Debug)]
pub struct Sketch {
    pub ty: DataType,
    pub state: Vec<ScalarValue>,
}

impl ColumnSummary {
    /// The summary of a column in memory.
    pub fn of_array(a: &ArrayRef) -> ColumnSummary {
        let bound = |mut acc: Box<dyn Accumulator>| {
            acc.update_batch(std::slice::from_ref(a)).ok()?;
            acc.evaluate().ok().filter(|v| !v.is_null())
        };
        let sketch = distinct_accumulator(a.data_type()).and_then(|mut acc| {
            acc.update_batch(std::slice::from_ref(a)).ok()?;
            Some(Sketch { ty: a.data_type().clone(), state: acc.state().ok()? })
        });
        ColumnSummary {
            min: MinAccumulator::try_new(a.data_type()).ok().and_then(|acc| bound(Box::new(acc))),
            max: MaxAccumulator::try_new(a.data_type()).ok().and_then(|acc| bound(Box::new(acc))),
            nulls: a.null_count(),
            bytes: a.get_buffer_memory_size(),
            sketch,
        }
    }

    /// The summary of file column `fc` of a segment only in Parquet, from
    /// its row groups' statistics (None where the file has none for it).
    pub fn of_file(file: &SegmentFile, fc: usize) -> Option<ColumnSummary> {
        let schema = file.meta.schema();
        let field = schema.fields().get(fc)?;
        let metadata = file.meta.metadata();
        let conv = StatisticsConverter::try_new(field.name(), schema, metadata.file_metadata().schema_descr()).ok()?;
        let groups = &metadata.row_groups()[file.row_groups.clone()];
        let fold = |values: ArrayRef, mut acc: Box<dyn Accumulator>| {
            // A group without statistics leaves the bound unknown.
            if values.null_count() > 0 {
                return None;
            }
            acc.update_batch(&[values]).ok()?;
            acc.evaluate().ok().filter(|v| !v.is_null())
        };
        let ty = field.data_type();
        let min = fold(conv.row_group_mins(groups).ok()?, Box::new(MinAccumulator::try_new(ty).ok()?));
        let max = fold(conv.row_group_maxes(groups).ok()?, Box::new(MaxAccumulator::try_new(ty).ok()?));
        let nulls = conv.row_group_null_counts(groups).ok()?;
        let leaf = conv.parquet_column_index()?;
        // A file's sketch describes the whole file: a segment that is only
        // some of its row groups (a base backup's) cannot use it.
        let whole_file = file.row_groups == (0..metadata.num_row_groups());
        let sketch = whole_file.then(|| read_sketch(metadata.file_metadata().key_value_metadata()?, fc, ty)).flatten();
        Some(ColumnSummary {
            min,
            max,
            nulls: nulls.iter().map(|n| n.unwrap_or(0) as usize).sum(),
            bytes: groups.iter().map(|g| g.column(leaf).uncompressed_size().max(0) as usize).sum(),
            sketch,
        })
    }

    /// The sketch as key-value metadata for file column `fc` of a segment
    /// file; None for sketches that are not HyperLogLog registers (one-
    /// and two-byte types keep a list of values).
    pub fn sketch_metadata(&self, fc: usize) -> Option<KeyValue> {
        match self.sketch.as_ref()?.state.as_slice() {
            [ScalarValue::Binary(Some(registers))] => Some(KeyValue::new(format!("{SKETCH_KEY}{fc}"), BASE64.encode(registers))),
            _ => None,
        }
    }
}

/// File column `fc`'s sketch from a file's key-value metadata (None if it
/// has none or it does not decode: statistics are never worth an error).
fn read_sketch(kv: &[KeyValue], fc: usize, ty: &DataType) -> Option<Sketch> {
    let key = format!("{SKETCH_KEY}{fc}");
    let value = kv.iter().find(|e| e.key == key)?.value.as_ref()?;
    let registers = BASE64.decode(value).ok()?;
    registers_are_valid(&registers, ty).then(|| Sketch { ty: ty.clone(), state: vec![ScalarValue::Binary(Some(registers))] })
}

/// Whether `registers` could be a HyperLogLog of `ty`'s accumulator: as
/// many as a fresh one has (2^p), none past 64 - p + 1 leading zeros.
/// DataFusion indexes a histogram by register value, so a damaged file must
/// not reach it.
fn registers_are_valid(registers: &[u8], ty: &DataType) -> bool {
    let fresh = distinct_accumulator(ty).and_then(|mut a| a.state().ok());
    let Some([ScalarValue::Binary(Some(empty))]) = fresh.as_deref() else { return false };
    let p = empty.len().trailing_zeros();
    empty.len().is_power_of_two() && registers.len() == empty.len() && registers.iter().all(|&r| u32::from(r) <= 64 - p + 1)
}

/// `approx_distinct` over values of type `ty`, used outside a query.
fn distinct_accumulator(ty: &DataType) -> Option<Box<dyn Accumulator>> {
    let field = Arc::new(Field::new("v", ty.clone(), true));
    let schema = Schema::new(vec![field.as_ref().clone()]);
    let expr: Arc<dyn PhysicalExpr> = Arc::new(Column::new("v", 0));
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new("n", DataType::UInt64, false)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: "approx_distinct(v)",
        is_distinct: false,
        exprs: &[expr],
        expr_fields: &[field],
    };
    approx_distinct_udaf().accumulator(args).ok()
}

/// One column's statistics over the segments of a scan.
pub struct ColumnMerge {
    /// The type the scan outputs the column as.
    ty: DataType,
    min: Option<ScalarValue>,
    max: Option<ScalarValue>,
    nulls: usize,
    bytes: usize,
    sketch: SketchUnion,
    /// Rows of segments without a sketch, each counted as distinct.
    unsketched_rows: usize,
    /// Every segment so far had bounds / a mergeable sketch / a summary.
    bounded: bool,
    sketched: bool,
    summarized: bool,
}

impl ColumnMerge {
    pub fn new(ty: &DataType) -> ColumnMerge {
        ColumnMerge {
            ty: ty.clone(),
            min: None,
            max: None,
            nulls: 0,
            bytes: 0,
            sketch: SketchUnion::default(),
            unsketched_rows: 0,
            bounded: true,
            sketched: true,
            summarized: true,
        }
    }

    /// Adds the summary of a segment of `rows` rows, `share` of whose bytes
    /// the scan reads; None: nothing is known about this segment's column.
    pub fn add(&mut self, summary: Option<&ColumnSummary>, rows: usize, share: f64) {
        let Some(s) = summary else {
            (self.bounded, self.sketched, self.summarized) = (false, false, false);
            return;
        };
        self.nulls += s.nulls;
        self.bytes += (s.bytes as f64 * share) as usize;
        // Bounds are kept in the scan's type; a value that does not cast
        // (a column whose type changed) leaves them unknown.
        let typed = |v: &Option<ScalarValue>| v.as_ref().and_then(|v| v.cast_to(&self.ty).ok());
        match (typed(&s.min), typed(&s.max)) {
            (Some(lo), Some(hi)) if self.bounded => {
                self.min = Some(match self.min.take() {
                    Some(m) if m.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) => m,
                    _ => lo,
                });
                self.max = Some(match self.max.take() {
                    Some(m) if m.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) => m,
                    _ => hi,
                });
            }
            _ => self.bounded = false,
        }
        match &s.sketch {
            Some(k) => self.sketched = self.sketched && self.sketch.merge(&k.ty, &k.state),
            None => self.unsketched_rows += rows - s.nulls.min(rows),
        }
    }

    /// The column's statistics for a scan returning `rows` live rows.
    pub fn finish(mut self, rows: usize) -> ColumnStatistics {
        let mut c = ColumnStatistics::new_unknown();
        if !self.summarized {
            return c;
        }
        c.null_count = Precision::Inexact(self.nulls.min(rows));
        c.byte_size = Precision::Inexact(self.bytes);
        if self.bounded
            && let (Some(lo), Some(hi)) = (self.min.take(), self.max.take())
        {
            c.min_value = Precision::Inexact(lo);
            c.max_value = Precision::Inexact(hi);
        }
        // Segments without a sketch (cold, persisted before sketches or
        // too small to keep one) add their rows: an upper bound.
        if self.sketched {
            let distinct = match self.sketch.count() {
                Some(n) => Some(n + self.unsketched_rows),
                None => (self.unsketched_rows > 0).then_some(self.unsketched_rows),
            };
            if let Some(n) = distinct {
                c.distinct_count = Precision::Inexact(n.min(rows));
            }
        }
        c
    }
}

/// Unions `approx_distinct` states of one column type (the state's format
/// follows the type: HyperLogLog registers, or a bitmap for one-byte and
/// two-byte types).
#[derive(Default)]
struct SketchUnion {
    acc: Option<(DataType, Box<dyn Accumulator>)>,
}

impl SketchUnion {
    /// False if `state` could not be merged (another type's format).
    fn merge(&mut self, ty: &DataType, state: &[ScalarValue]) -> bool {
        let Ok(arrays) = state.iter().map(|v| v.to_array()).collect::<Result<Vec<_>, _>>() else { return false };
        if self.acc.is_none() {
            let Some(acc) = distinct_accumulator(ty) else { return false };
            self.acc = Some((ty.clone(), acc));
        }
        match &mut self.acc {
            Some((t, acc)) if t == ty => acc.merge_batch(&arrays).is_ok(),
            _ => false,
        }
    }

    fn count(&mut self) -> Option<usize> {
        match self.acc.as_mut()?.1.evaluate().ok()? {
            ScalarValue::UInt64(Some(n)) => Some(n as usize),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};

    fn merged(parts: &[ArrayRef], ty: &DataType) -> ColumnStatistics {
        let mut m = ColumnMerge::new(ty);
        let rows = parts.iter().map(|a| a.len()).sum();
        for a in parts {
            m.add(Some(&ColumnSummary::of_array(a)), a.len(), 1.0);
        }
        m.finish(rows)
    }

    /// Two segments whose keys overlap: bounds span both, nulls add up, and
    /// the distinct count is the union's (HyperLogLog: within a few percent),
    /// not the sum of the segments' counts.
    #[test]
    fn segments_merge_into_table_statistics() {
        let a: ArrayRef = Arc::new(Int32Array::from_iter((0..60_000).map(|i| (i % 1000 != 0).then_some(i % 30_000))));
        let b: ArrayRef = Arc::new(Int32Array::from_iter((0..40_000).map(|i| Some(20_000 + i))));
        let c = merged(&[a, b], &DataType::Int32);
        assert_eq!(c.min_value, Precision::Inexact(ScalarValue::Int32(Some(1))));
        assert_eq!(c.max_value, Precision::Inexact(ScalarValue::Int32(Some(59_999))));
        assert_eq!(c.null_count, Precision::Inexact(60));
        let ndv = *c.distinct_count.get_value().unwrap() as f64;
        assert!((ndv - 60_000.0).abs() < 60_000.0 * 0.05, "distinct {ndv}, want about 60000");
    }

    #[test]
    fn text_columns_and_bounds_in_the_scan_type() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("pear"), None, Some("apple"), Some("pear")]));
        let c = merged(&[a], &DataType::Utf8);
        assert_eq!(c.min_value, Precision::Inexact(ScalarValue::Utf8(Some("apple".into()))));
        assert_eq!(c.max_value, Precision::Inexact(ScalarValue::Utf8(Some("pear".into()))));
        assert_eq!(c.distinct_count, Precision::Inexact(2));
        // Bounds are given in the type the scan outputs.
        let i: ArrayRef = Arc::new(Int32Array::from(vec![5, 9]));
        assert_eq!(merged(&[i], &DataType::Int64).max_value, Precision::Inexact(ScalarValue::Int64(Some(9))));
    }

    /// A damaged sketch in a file is ignored, never handed to the estimator.
    #[test]
    fn damaged_sketches_are_refused() {
        let a: ArrayRef = Arc::new(Int32Array::from_iter_values(0..1000));
        let summary = ColumnSummary::of_array(&a);
        let kv = summary.sketch_metadata(1).unwrap();
        assert!(read_sketch(std::slice::from_ref(&kv), 1, &DataType::Int32).is_some());
        let mut registers = BASE64.decode(kv.value.as_ref().unwrap()).unwrap();
        registers[7] = 200;
        let bad = KeyValue::new(kv.key.clone(), BASE64.encode(&registers));
        assert!(read_sketch(&[bad], 1, &DataType::Int32).is_none());
        let short = KeyValue::new(kv.key.clone(), BASE64.encode(&registers[..100]));
        assert!(read_sketch(&[short], 1, &DataType::Int32).is_none());
        let garbage = KeyValue::new(kv.key, "not base64 !".to_string());
        assert!(read_sketch(&[garbage], 1, &DataType::Int32).is_none());
    }

    /// A segment with nothing known about the column (it predates it) leaves
    /// the scan's column statistics unknown rather than wrong.
    #[test]
    fn an_unknown_segment_makes_the_column_unknown() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
        let mut m = ColumnMerge::new(&DataType::Int32);
        m.add(Some(&ColumnSummary::of_array(&a)), 3, 1.0);
        m.add(None, 3, 1.0);
        let c = m.finish(6);
        assert_eq!((c.min_value, c.distinct_count, c.null_count), (Precision::Absent, Precision::Absent, Precision::Absent));
    }
}

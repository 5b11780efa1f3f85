//! DataFusion's view of one table of a column snapshot.
//!
//! ```text
//!   ColumnTable(TableSnapshot) ── scan(projection, filters, limit)
//!     plan:  for each segment with a file, the filters are checked against
//!            its row groups' min/max statistics; groups they rule out are
//!            skipped, and a segment with none left is not read at all
//!     run:   segment in memory → its live rows, projected (zero-copy when
//!            none was deleted); segment only in Parquet → its row groups
//!            read back, the projected columns only, deleted rows skipped by
//!            a row selection built from the live mask
//!   segments spread over target_partitions by rows ──► SegmentScanExec
//! ```
//!
//! The snapshot is immutable, so a scan needs no lock and a plan built on it
//! reads the same rows however long it runs. Whether a segment is in memory
//! is decided when its turn comes, not when the plan is made: an eviction in
//! between only means its rows come from the file. Filters are used for
//! pruning only (DataFusion still applies them: `Inexact`).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt64Array};
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Column, DFSchema, DataFusionError, Result as DfResult, Statistics, stats::Precision};
use datafusion::datasource::TableType;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder, PruningStatistics};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream};
use duetdb_storage::catalog::TableDef;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::columnar::{SegmentView, TableSnapshot};
use crate::segment::{SegmentFile, missing_array};

pub struct ColumnTable {
    snapshot: Arc<TableSnapshot>,
    /// Live columns, as SQL sees them (the caller decides field metadata).
    schema: SchemaRef,
    /// Physical position of each schema column.
    physical: Vec<usize>,
}

impl fmt::Debug for ColumnTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ColumnTable({}, {} rows)", self.snapshot.def.name, self.snapshot.rows)
    }
}

impl ColumnTable {
    /// `schema` must list the table's live columns in order.
    pub fn new(snapshot: Arc<TableSnapshot>, schema: SchemaRef) -> ColumnTable {
        let physical: Vec<usize> = snapshot.def.live_columns().map(|(i, _)| i).collect();
        assert_eq!(physical.len(), schema.fields().len(), "schema matches the live columns");
        ColumnTable { snapshot, schema, physical }
    }

    /// The filters as a pruning predicate over this table's columns, if
    /// they can prune anything.
    fn pruning_predicate(&self, state: &dyn Session, filters: &[Expr]) -> Option<Arc<PruningPredicate>> {
        // Scans see their table's columns unqualified.
        let expr = datafusion::logical_expr::expr_rewriter::unnormalize_col(conjunction(filters.iter().cloned())?);
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone()).ok()?;
        let physical = state.create_physical_expr(expr, &df_schema).ok()?;
        PruningPredicateBuilder::new().with_file_schema(self.schema.clone()).build(physical)
    }
}

#[async_trait]
impl TableProvider for ColumnTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let cols: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.physical.len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&cols)?);
        let physical: Vec<usize> = cols.iter().map(|&c| self.physical[c]).collect();
        let predicate = self.pruning_predicate(state, filters);
        let mut parts = Vec::with_capacity(self.snapshot.segments.len());
        let (mut pruned_segments, mut pruned_groups) = (0usize, 0usize);
        for view in &self.snapshot.segments {
            let groups = match (&predicate, view.segment.file()) {
                (Some(p), Some(file)) => {
                    let stats = GroupStats { file, col_of: &view.segment.col_of, schema: &self.schema, physical: &self.physical };
                    match p.prune(&stats) {
                        Ok(keep) if keep.iter().all(|&k| k) => None,
                        Ok(keep) => {
                            let kept: Vec<usize> = keep.iter().enumerate().filter(|(_, k)| **k).map(|(g, _)| g).collect();
                            pruned_groups += keep.len() - kept.len();
                            if kept.is_empty() {
                                pruned_segments += 1;
                                continue;
                            }
                            Some(kept)
                        }
                        // Statistics that do not fit the predicate prune nothing.
                        Err(_) => None,
                    }
                }
                _ => None,
            };
            parts.push(Part { view: view.clone(), groups });
        }
        // Without filters a limit bounds the scan (DataFusion still applies it).
        if let (Some(l), true) = (limit, filters.is_empty()) {
            let mut rows = 0;
            parts.retain(|p| {
                let keep = rows < l;
                rows += p.view.live_rows;
                keep
            });
        }
        let n = state.config().target_partitions().clamp(1, parts.len().max(1));
        Ok(Arc::new(SegmentScanExec::new(self.snapshot.def.clone(), schema, physical, parts, n, (pruned_segments, pruned_groups))))
    }

    fn statistics(&self) -> Option<Statistics> {
        let mut s = Statistics::new_unknown(&self.schema);
        s.num_rows = Precision::Exact(self.snapshot.rows);
        Some(s)
    }
}

/// One segment to read: all of it, or some of its file's row groups.
#[derive(Clone, Debug)]
struct Part {
    view: SegmentView,
    /// Row groups (relative to the segment's file range) left after pruning.
    groups: Option<Vec<usize>>,
}

impl Part {
    /// Live rows, or an estimate when row groups were pruned.
    fn rows(&self) -> usize {
        match (&self.groups, self.view.segment.file()) {
            (Some(g), Some(f)) => {
                let all: usize = g.iter().map(|&g| f.group_rows(g).len()).sum();
                all * self.view.live_rows / self.view.segment.rows().max(1)
            }
            _ => self.view.live_rows,
        }
    }
}

/// Min/max statistics of one segment's row groups, for the pruning predicate.
struct GroupStats<'a> {
    file: &'a SegmentFile,
    col_of: &'a [Option<usize>],
    schema: &'a SchemaRef,
    physical: &'a [usize],
}

impl GroupStats<'_> {
    /// The converter for a table column, and the type SQL sees it as; None
    /// when the segment predates the column.
    fn converter(&self, column: &Column) -> Option<(StatisticsConverter<'_>, &Field)> {
        let i = self.schema.index_of(&column.name).ok()?;
        let fc = self.col_of.get(self.physical[i]).copied().flatten()?;
        let file_schema = self.file.meta.schema();
        let name = file_schema.fields().get(fc)?.name();
        let conv = StatisticsConverter::try_new(name, file_schema, self.file.meta.metadata().file_metadata().schema_descr()).ok()?;
        Some((conv, self.schema.field(i)))
    }

    fn groups(&self) -> &[datafusion::parquet::file::metadata::RowGroupMetaData] {
        &self.file.meta.metadata().row_groups()[self.file.row_groups.clone()]
    }

    fn typed(a: ArrayRef, field: &Field) -> Option<ArrayRef> {
        if a.data_type() == field.data_type() { Some(a) } else { cast(&a, field.data_type()).ok() }
    }
}

impl PruningStatistics for GroupStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        let (conv, field) = self.converter(column)?;
        Self::typed(conv.row_group_mins(self.groups()).ok()?, field)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        let (conv, field) = self.converter(column)?;
        Self::typed(conv.row_group_maxes(self.groups()).ok()?, field)
    }

    fn num_containers(&self) -> usize {
        self.file.groups()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let (conv, _) = self.converter(column)?;
        Some(Arc::new(conv.row_group_null_counts(self.groups()).ok()?))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let counts: UInt64Array = (0..self.file.groups()).map(|g| Some(self.file.group_rows(g).len() as u64)).collect();
        Some(Arc::new(counts))
    }

    fn contained(&self, _column: &Column, _values: &std::collections::HashSet<datafusion::common::ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// Reads the parts of one table snapshot, a partition each for a share of them.
pub struct SegmentScanExec {
    def: Arc<TableDef>,
    schema: SchemaRef,
    /// Physical column of each output column.
    physical: Vec<usize>,
    partitions: Vec<Vec<Part>>,
    /// Segments and row groups the filters ruled out at plan time.
    pruned: (usize, usize),
    cache: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for SegmentScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentScanExec({})", self.def.name)
    }
}

impl SegmentScanExec {
    fn new(def: Arc<TableDef>, schema: SchemaRef, physical: Vec<usize>, parts: Vec<Part>, n: usize, pruned: (usize, usize)) -> Self {
        // Largest first onto the lightest partition keeps the partitions even.
        let mut partitions: Vec<Vec<Part>> = vec![Vec::new(); n];
        let mut order: Vec<Part> = parts;
        order.sort_by_key(|p| std::cmp::Reverse(p.rows()));
        let mut load = vec![0usize; n];
        for part in order {
            let p = (0..n).min_by_key(|&p| load[p]).expect("at least one partition");
            load[p] += part.rows();
            partitions[p].push(part);
        }
        let cache = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(n),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        SegmentScanExec { def, schema, physical, partitions, pruned, cache: Arc::new(cache), metrics: ExecutionPlanMetricsSet::new() }
    }

    fn parts(&self) -> impl Iterator<Item = &Part> {
        self.partitions.iter().flatten()
    }
}

impl DisplayAs for SegmentScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let segments = self.parts().count();
        let in_memory = self.parts().filter(|p| p.view.segment.is_resident()).count();
        write!(
            f,
            "SegmentScanExec: table={}, partitions={}, segments={segments} (in memory {in_memory}, parquet {}), pruned: segments={}, row_groups={}",
            self.def.name,
            self.partitions.len(),
            segments - in_memory,
            self.pruned.0,
            self.pruned.1
        )
    }
}

impl ExecutionPlan for SegmentScanExec {
    fn name(&self) -> &str {
        "SegmentScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let parts = self
            .partitions
            .get(partition)
            .ok_or_else(|| DataFusionError::Internal(format!("SegmentScanExec has no partition {partition}")))?
            .clone();
        let read = Reader {
            def: self.def.clone(),
            schema: self.schema.clone(),
            physical: Arc::from(self.physical.clone()),
            from_parquet: MetricBuilder::new(&self.metrics).counter("row_groups_from_parquet", partition),
            from_memory: MetricBuilder::new(&self.metrics).counter("segments_from_memory", partition),
        };
        let stream = stream::iter(parts).flat_map(move |part| read.part(part));
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn statistics_from_inputs(&self, _input_stats: &[Arc<Statistics>], args: &StatisticsArgs) -> DfResult<Arc<Statistics>> {
        let parts: Vec<&Part> = match args.partition() {
            Some(p) => self.partitions.get(p).map(|v| v.iter().collect()).unwrap_or_default(),
            None => self.parts().collect(),
        };
        let rows: usize = parts.iter().map(|p| p.rows()).sum();
        let exact = parts.iter().all(|p| p.groups.is_none());
        // Bytes: each segment's size, for the share of its columns projected.
        let share = (self.physical.len().max(1) as f64) / (self.def.columns.len().max(1) as f64);
        let bytes: usize = parts.iter().map(|p| (p.view.segment.bytes() as f64 * share) as usize).sum();
        let mut s = Statistics::new_unknown(&self.schema);
        s.num_rows = if exact { Precision::Exact(rows) } else { Precision::Inexact(rows) };
        s.total_byte_size = Precision::Inexact(bytes);
        Ok(Arc::new(s))
    }
}

/// Turns parts into batches of the scan's output schema.
#[derive(Clone)]
struct Reader {
    def: Arc<TableDef>,
    schema: SchemaRef,
    physical: Arc<[usize]>,
    from_parquet: Count,
    from_memory: Count,
}

impl Reader {
    fn part(&self, part: Part) -> BoxStream<'static, DfResult<RecordBatch>> {
        match part.view.segment.data() {
            Some(batch) => {
                self.from_memory.add(1);
                stream::iter(self.in_memory(&part, &batch)).boxed()
            }
            None => {
                let me = self.clone();
                stream::once(async move { me.from_file(part).await }).try_flatten().boxed()
            }
        }
    }

    /// A resident segment's live rows (of the row groups left), projected.
    fn in_memory(&self, part: &Part, batch: &RecordBatch) -> Vec<DfResult<RecordBatch>> {
        let ranges: Vec<Range<usize>> = match (&part.groups, part.view.segment.file()) {
            (Some(groups), Some(file)) => groups.iter().map(|&g| file.group_rows(g)).collect(),
            _ => vec![0..batch.num_rows()],
        };
        ranges
            .into_iter()
            .map(|r| {
                let slice = batch.slice(r.start, r.len());
                let columns: Vec<ArrayRef> = self.physical.iter().map(|&p| part.view.segment.column_of(&slice, &self.def, p)).collect();
                let live = part.view.live.as_ref().map(|m| m.slice(r.start, r.len()));
                match live {
                    Some(m) if m.count_set_bits() < m.len() => {
                        let mask = BooleanArray::new(m, None);
                        let rows = mask.true_count();
                        let columns = columns.iter().map(|a| filter(a, &mask)).collect::<Result<Vec<_>, _>>()?;
                        self.batch(columns, rows)
                    }
                    _ => self.batch(columns, r.len()),
                }
            })
            .collect()
    }

    /// A segment's live rows read back from its Parquet file.
    async fn from_file(self, part: Part) -> DfResult<BoxStream<'static, DfResult<RecordBatch>>> {
        let segment = part.view.segment.clone();
        let file = segment.file().expect("a segment not in memory has a file");
        let groups: Vec<usize> = part.groups.clone().unwrap_or_else(|| (0..file.groups()).collect());
        let (groups, selection) = selection(file, groups, part.view.live.as_ref());
        if groups.is_empty() {
            return Ok(stream::empty().boxed());
        }
        self.from_parquet.add(groups.len());
        // The file columns the output needs, ascending (the reader's order).
        let mut wanted: Vec<usize> = self.physical.iter().filter_map(|&p| segment.col_of.get(p).copied().flatten()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Only counting rows: read the narrowest column, the row id.
        let read_cols = if wanted.is_empty() { vec![0] } else { wanted.clone() };
        let stream = file
            .stream(segment.pool(), &read_cols, groups, selection)
            .await
            .map_err(|e| DataFusionError::External(format!("reading {}: {e}", file.name).into()))?;
        let name = file.name.clone();
        Ok(stream
            .map(move |b| {
                let b = b.map_err(|e| DataFusionError::External(format!("reading {name}: {e}").into()))?;
                let columns: Vec<ArrayRef> = self
                    .physical
                    .iter()
                    .map(|&p| match segment.col_of.get(p).copied().flatten() {
                        Some(fc) => b.column(wanted.binary_search(&fc).expect("column was read")).clone(),
                        None => missing_array(&self.def, p, b.num_rows()),
                    })
                    .collect();
                self.batch(columns, b.num_rows())
            })
            .boxed())
    }

    fn batch(&self, columns: Vec<ArrayRef>, rows: usize) -> DfResult<RecordBatch> {
        let opts = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), columns, &opts)?)
    }
}

/// The row groups worth reading (those with a live row) and, when some rows
/// of them were deleted, the selection of live rows across them.
fn selection(
    file: &SegmentFile,
    groups: Vec<usize>,
    live: Option<&datafusion::arrow::buffer::BooleanBuffer>,
) -> (Vec<usize>, Option<RowSelection>) {
    let Some(live) = live else { return (groups, None) };
    let mut kept = Vec::with_capacity(groups.len());
    let mut masks: Vec<BooleanArray> = Vec::with_capacity(groups.len());
    let mut partial = false;
    for g in groups {
        let r = file.group_rows(g);
        let mask = live.slice(r.start, r.len());
        let n = mask.count_set_bits();
        if n == 0 {
            continue;
        }
        partial |= n < r.len();
        kept.push(g);
        masks.push(BooleanArray::new(mask, None));
    }
    (kept, partial.then(|| RowSelection::from_filters(&masks)))
}

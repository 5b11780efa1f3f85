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
//!     statistics: rows exact; per column min/max, nulls, distinct count
//!                 (`column_stats`), for DataFusion's join and aggregate estimates
//!     run time:   a hash join's / TopK's dynamic filter applied per batch
//!                 (`dynamic_filter`)
//! ```
//!
//! The snapshot is immutable, so a scan needs no lock and a plan built on it
//! reads the same rows however long it runs. Whether a segment is in memory
//! is decided when its turn comes, not when the plan is made: an eviction in
//! between only means its rows come from the file. Filters are used for
//! pruning only (DataFusion still applies them: `Inexact`).

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt64Array};
use datafusion::arrow::compute::{cast, concat_batches, filter};
use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Column, ColumnStatistics, DFSchema, DataFusionError, Result as DfResult, Statistics, stats::Precision};
use datafusion::datasource::TableType;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_expr_common::physical_expr::snapshot_generation;
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder, PruningStatistics};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter_pushdown::{ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream};
use duetdb_storage::catalog::TableDef;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use parking_lot::Mutex;

use crate::column_stats::ColumnMerge;
use crate::columnar::{SegmentView, TableSnapshot};
use crate::dynamic_filter::DynamicFilter;
use crate::segment::{Segment, SegmentFile, missing_array};

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
            let Some(file) = view.segment.file() else {
                // Not in a file yet: chunks of rows, for parallel scans.
                for start in (0..view.segment.rows()).step_by(CHUNK_ROWS) {
                    parts.extend(Part::new(view, start..(start + CHUNK_ROWS).min(view.segment.rows()), None));
                }
                continue;
            };
            // Statistics that do not fit the predicate prune nothing.
            let keep = predicate
                .as_ref()
                .and_then(|p| {
                    p.prune(&GroupStats { file, col_of: &view.segment.col_of, schema: &self.schema, physical: &self.physical }).ok()
                })
                .unwrap_or_else(|| vec![true; file.groups()]);
            let kept = keep.iter().filter(|&&k| k).count();
            pruned_groups += file.groups() - kept;
            if kept == 0 {
                pruned_segments += 1;
            }
            for (g, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
                parts.extend(Part::new(view, file.group_rows(g), Some(g)));
            }
        }
        // Without filters a limit bounds the scan (DataFusion still applies it).
        if let (Some(l), true) = (limit, filters.is_empty()) {
            let mut rows = 0;
            parts.retain(|p| {
                let keep = rows < l;
                rows += p.live_rows;
                keep
            });
        }
        let n = state.config().target_partitions().clamp(1, parts.len().max(1));
        let columns = column_statistics(&parts, &schema, &physical);
        Ok(Arc::new(SegmentScanExec::new(self.snapshot.def.clone(), schema, physical, parts, n, (pruned_segments, pruned_groups), columns)))
    }

    fn statistics(&self) -> Option<Statistics> {
        let mut s = Statistics::new_unknown(&self.schema);
        s.num_rows = Precision::Exact(self.snapshot.rows);
        Some(s)
    }
}

/// Statistics of each output column over the segments `parts` read (a
/// segment's summary counts all its rows; its bytes are counted for the
/// share of its rows the parts cover).
fn column_statistics(parts: &[Part], schema: &SchemaRef, physical: &[usize]) -> Vec<ColumnStatistics> {
    let rows: usize = parts.iter().map(|p| p.live_rows).sum();
    let mut segments: Vec<(&Arc<Segment>, usize)> = Vec::new();
    for part in parts {
        match segments.iter_mut().find(|(s, _)| Arc::ptr_eq(s, &part.view.segment)) {
            Some((_, covered)) => *covered += part.rows.len(),
            None => segments.push((&part.view.segment, part.rows.len())),
        }
    }
    physical
        .iter()
        .zip(schema.fields())
        .map(|(&p, field)| {
            let mut merge = ColumnMerge::new(field.data_type());
            for (segment, covered) in &segments {
                let summary = segment.col_of.get(p).copied().flatten().and_then(|fc| segment.summary(fc));
                merge.add(summary.as_deref(), segment.rows(), *covered as f64 / segment.rows().max(1) as f64);
            }
            merge.finish(rows)
        })
        .collect()
}

/// Rows and parts a filter's selectivity is measured on.
const SAMPLE_ROWS: usize = 8 * 1024;
const SAMPLE_PARTS: usize = 16;

/// Rows scanned in memory per part when a segment has no file (its row
/// groups are the parts otherwise): the unit of parallelism.
const CHUNK_ROWS: usize = crate::segment::ROW_GROUP_ROWS;

/// Some rows of one segment: one row group of its file, or a chunk.
#[derive(Clone, Debug)]
struct Part {
    view: SegmentView,
    /// Rows of the segment.
    rows: Range<usize>,
    /// The file's row group holding exactly `rows` (relative to the segment's).
    group: Option<usize>,
    live_rows: usize,
}

impl Part {
    /// None when every row in `rows` was deleted.
    fn new(view: &SegmentView, rows: Range<usize>, group: Option<usize>) -> Option<Part> {
        let live_rows = match &view.live {
            Some(m) => m.slice(rows.start, rows.len()).count_set_bits(),
            None => rows.len(),
        };
        (live_rows > 0).then(|| Part { view: view.clone(), rows, group, live_rows })
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
#[derive(Clone)]
pub struct SegmentScanExec {
    def: Arc<TableDef>,
    schema: SchemaRef,
    /// Physical column of each output column.
    physical: Vec<usize>,
    partitions: Vec<Vec<Part>>,
    /// Segments and row groups the filters ruled out at plan time.
    pruned: (usize, usize),
    /// Statistics of each output column over all the parts.
    columns: Vec<ColumnStatistics>,
    /// Filters decided while the query runs (a hash join's build-side keys,
    /// a TopK's current bound), applied to every batch read; see
    /// `handle_child_pushdown_result`.
    dynamic_filters: Vec<Arc<dyn PhysicalExpr>>,
    /// Selectivities measured on a sample, by predicate (planning asks
    /// for a filter's statistics many times).
    sampled: Arc<Mutex<HashMap<String, Option<f64>>>>,
    cache: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for SegmentScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentScanExec({})", self.def.name)
    }
}

impl SegmentScanExec {
    fn new(
        def: Arc<TableDef>,
        schema: SchemaRef,
        physical: Vec<usize>,
        parts: Vec<Part>,
        n: usize,
        pruned: (usize, usize),
        columns: Vec<ColumnStatistics>,
    ) -> Self {
        assert_eq!(columns.len(), schema.fields().len(), "statistics for each output column");
        // Largest first onto the lightest partition keeps the partitions even.
        let mut partitions: Vec<Vec<Part>> = vec![Vec::new(); n];
        let mut order: Vec<Part> = parts;
        order.sort_by_key(|p| std::cmp::Reverse(p.live_rows));
        let mut load = vec![0usize; n];
        for part in order {
            let p = (0..n).min_by_key(|&p| load[p]).expect("at least one partition");
            load[p] += part.live_rows;
            partitions[p].push(part);
        }
        let cache = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(n),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        SegmentScanExec {
            def,
            schema,
            physical,
            partitions,
            pruned,
            columns,
            dynamic_filters: Vec::new(),
            sampled: Arc::new(Mutex::new(HashMap::new())),
            cache: Arc::new(cache),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    fn parts(&self) -> impl Iterator<Item = &Part> {
        self.partitions.iter().flatten()
    }

    /// The share of the scan's rows `predicate` keeps, measured on a sample
    /// of resident rows (`sampled_selectivity` module); None if no part is
    /// in memory or the predicate does not evaluate.
    pub fn sampled_selectivity(&self, predicate: &Arc<dyn PhysicalExpr>) -> Option<f64> {
        let key = predicate.to_string();
        if let Some(s) = self.sampled.lock().get(&key) {
            return *s;
        }
        let s = self.sample(SAMPLE_ROWS).and_then(|b| {
            let mask = predicate.evaluate(&b).ok()?.into_array(b.num_rows()).ok()?;
            let kept = datafusion::common::cast::as_boolean_array(&mask).ok()?.true_count();
            (b.num_rows() > 0).then(|| (kept as f64).max(0.5) / b.num_rows() as f64)
        });
        self.sampled.lock().insert(key, s);
        s
    }

    /// A reader of this scan's parts in batches of `batch_size`, counting
    /// into no plan metrics and with no dynamic filter.
    fn reader(&self, batch_size: usize) -> Reader {
        Reader {
            def: self.def.clone(),
            schema: self.schema.clone(),
            physical: Arc::from(self.physical.clone()),
            batch_size,
            from_parquet: Count::new(),
            from_memory: Count::new(),
            filter: None,
            filtered_out: Count::new(),
        }
    }

    /// Up to `rows` live rows from resident parts spread over the scan.
    fn sample(&self, rows: usize) -> Option<RecordBatch> {
        // `is_resident`, not `data()`: planning is not a use that should keep
        // every part's segment in memory.
        let resident: Vec<&Part> = self.parts().filter(|p| p.view.segment.is_resident()).collect();
        let picks = resident.len().min(SAMPLE_PARTS);
        if picks == 0 {
            return None;
        }
        let read = self.reader(rows / picks);
        let batches: Vec<RecordBatch> = (0..picks)
            .filter_map(|i| {
                let part = resident[i * resident.len() / picks];
                // Evicted since the check: the sample is a part short.
                let data = part.view.segment.data()?;
                read.in_memory(part, &data, part.rows.start)?.ok()
            })
            .collect();
        concat_batches(&self.schema, &batches).ok()
    }
}

impl DisplayAs for SegmentScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let mut seen = std::collections::HashSet::new();
        let segments: Vec<&Part> = self.parts().filter(|p| seen.insert(Arc::as_ptr(&p.view.segment))).collect();
        let in_memory = segments.iter().filter(|p| p.view.segment.is_resident()).count();
        let segments = segments.len();
        write!(
            f,
            "SegmentScanExec: table={}, partitions={}, segments={segments} (in memory {in_memory}, parquet {}), pruned: segments={}, row_groups={}",
            self.def.name,
            self.partitions.len(),
            segments - in_memory,
            self.pruned.0,
            self.pruned.1
        )?;
        if !self.dynamic_filters.is_empty() {
            let filters: Vec<String> = self.dynamic_filters.iter().map(|f| f.to_string()).collect();
            write!(f, ", dynamic_filters=[{}]", filters.join(", "))?;
        }
        Ok(())
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

    /// The dynamic filters: a join populates its filter only when some
    /// node of the plan names it.
    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        datafusion::physical_plan::apply_expression_roots(self.dynamic_filters.iter(), f)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let parts = self
            .partitions
            .get(partition)
            .ok_or_else(|| DataFusionError::Internal(format!("SegmentScanExec has no partition {partition}")))?
            .clone();
        let read = Reader {
            from_parquet: MetricBuilder::new(&self.metrics).counter("row_groups_from_parquet", partition),
            from_memory: MetricBuilder::new(&self.metrics).counter("segments_from_memory", partition),
            filter: DynamicFilter::new(&self.dynamic_filters),
            filtered_out: MetricBuilder::new(&self.metrics).counter("rows_removed_by_dynamic_filters", partition),
            ..self.reader(context.session_config().batch_size())
        };
        let stream = stream::iter(parts).flat_map(move |part| read.filtered_part(part));
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    /// Takes the filters that only exist at run time and come down after
    /// planning (DataFusion's post-optimization phase): a hash join's
    /// build-side key set, a TopK's bound. They are applied to each batch the
    /// scan reads, so a join whose build side kept 57 keys does not send six
    /// million probe rows through a repartition first. They are reported as
    /// not pushed down: their owners still apply their own conditions, and
    /// nothing depends on the scan having filtered.
    fn handle_child_pushdown_result(
        &self,
        phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let n = child_pushdown_result.parent_filters.len();
        let dynamic: Vec<Arc<dyn PhysicalExpr>> = child_pushdown_result
            .parent_filters
            .into_iter()
            .map(|f| f.filter)
            .filter(|f| phase == FilterPushdownPhase::Post && snapshot_generation(f) != 0)
            .filter(|f| !self.dynamic_filters.iter().any(|have| Arc::ptr_eq(have, f)))
            .collect();
        let result = FilterPushdownPropagation::with_parent_pushdown_result(vec![PushedDown::No; n]);
        if dynamic.is_empty() {
            return Ok(result);
        }
        let mut node = self.clone();
        node.dynamic_filters.extend(dynamic);
        node.metrics = ExecutionPlanMetricsSet::new();
        Ok(result.with_updated_node(Arc::new(node)))
    }

    fn statistics_from_inputs(&self, _input_stats: &[Arc<Statistics>], args: &StatisticsArgs) -> DfResult<Arc<Statistics>> {
        let parts: Vec<&Part> = match args.partition() {
            Some(p) => self.partitions.get(p).map(|v| v.iter().collect()).unwrap_or_default(),
            None => self.parts().collect(),
        };
        let all: usize = self.parts().map(|p| p.live_rows).sum();
        let rows: usize = parts.iter().map(|p| p.live_rows).sum();
        // A partition holds its share of the scan's rows and bytes; its
        // bounds and distinct values are at most the scan's.
        let share = rows as f64 / all.max(1) as f64;
        let column_statistics: Vec<ColumnStatistics> = self
            .columns
            .iter()
            .map(|c| ColumnStatistics {
                null_count: c.null_count.map(|n| n.min(rows)),
                distinct_count: c.distinct_count.map(|n| n.min(rows)),
                byte_size: c.byte_size.map(|b| (b as f64 * share) as usize),
                ..c.clone()
            })
            .collect();
        let bytes = column_statistics.iter().map(|c| c.byte_size.get_value().copied()).sum::<Option<usize>>().unwrap_or_else(|| {
            // Columns without a summary: the segments' size for the share of
            // rows and columns read.
            let share = (self.physical.len().max(1) as f64) / (self.def.columns.len().max(1) as f64);
            parts
                .iter()
                .map(|p| (p.view.segment.bytes() as f64 * share * p.rows.len() as f64 / p.view.segment.rows() as f64) as usize)
                .sum()
        });
        Ok(Arc::new(Statistics { num_rows: Precision::Exact(rows), total_byte_size: Precision::Inexact(bytes), column_statistics }))
    }
}

/// Turns parts into batches of the scan's output schema.
#[derive(Clone)]
struct Reader {
    def: Arc<TableDef>,
    schema: SchemaRef,
    physical: Arc<[usize]>,
    batch_size: usize,
    from_parquet: Count,
    from_memory: Count,
    /// The dynamic filters, if any (their state is read again whenever it
    /// changes: a join fills its filter while the scan may already run).
    filter: Option<Arc<DynamicFilter>>,
    filtered_out: Count,
}

impl Reader {
    /// A part's batches with the dynamic filters' current state applied.
    fn filtered_part(&self, part: Part) -> BoxStream<'static, DfResult<RecordBatch>> {
        let batches = self.part(part);
        let Some(filter) = self.filter.clone() else { return batches };
        let mut seen = DynamicFilter::part_filter();
        let filtered_out = self.filtered_out.clone();
        batches
            .filter_map(move |b| {
                let out = b.and_then(|batch| filter.apply(&mut seen, batch)).map(|(kept, removed)| {
                    filtered_out.add(removed);
                    kept
                });
                std::future::ready(match out {
                    Ok(b) if b.num_rows() == 0 => None,
                    other => Some(other),
                })
            })
            .boxed()
    }

    fn part(&self, part: Part) -> BoxStream<'static, DfResult<RecordBatch>> {
        match part.view.segment.data() {
            Some(batch) => {
                self.from_memory.add(1);
                let me = self.clone();
                let starts = (part.rows.start..part.rows.end).step_by(self.batch_size.max(1));
                stream::iter(starts).filter_map(move |start| std::future::ready(me.in_memory(&part, &batch, start))).boxed()
            }
            None => {
                let me = self.clone();
                stream::once(async move { me.from_file(part).await }).try_flatten().boxed()
            }
        }
    }

    /// The live rows of a resident segment from `start` on (one batch), projected.
    fn in_memory(&self, part: &Part, batch: &RecordBatch, start: usize) -> Option<DfResult<RecordBatch>> {
        let len = self.batch_size.min(part.rows.end - start);
        let slice = batch.slice(start, len);
        let columns: Vec<ArrayRef> = self.physical.iter().map(|&p| part.view.segment.column_of(&slice, &self.def, p)).collect();
        let Some(live) = part.view.live.as_ref().map(|m| m.slice(start, len)) else { return Some(self.batch(columns, len)) };
        match live.count_set_bits() {
            0 => None,
            n if n == len => Some(self.batch(columns, len)),
            n => {
                let mask = BooleanArray::new(live, None);
                Some(
                    columns
                        .iter()
                        .map(|a| filter(a, &mask))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(Into::into)
                        .and_then(|c| self.batch(c, n)),
                )
            }
        }
    }

    /// A part's live rows read back from its segment's Parquet file.
    async fn from_file(self, part: Part) -> DfResult<BoxStream<'static, DfResult<RecordBatch>>> {
        let segment = part.view.segment.clone();
        let file = segment.file().expect("a segment not in memory has a file");
        let group = match part.group {
            Some(g) => g,
            // Evicted after planning: the chunk's row group (chunks of a
            // segment without a file never leave memory, so this is one).
            None => (0..file.groups())
                .find(|&g| file.group_rows(g) == part.rows)
                .ok_or_else(|| DataFusionError::Internal(format!("rows {:?} of {} are not one row group", part.rows, file.name)))?,
        };
        let selection = part.view.live.as_ref().and_then(|m| {
            let mask = m.slice(part.rows.start, part.rows.len());
            (mask.count_set_bits() < mask.len()).then(|| RowSelection::from_filters(&[BooleanArray::new(mask, None)]))
        });
        self.from_parquet.add(1);
        // The file columns the output needs, ascending (the reader's order).
        let mut wanted: Vec<usize> = self.physical.iter().filter_map(|&p| segment.col_of.get(p).copied().flatten()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Only counting rows: read the narrowest column, the row id.
        let read_cols = if wanted.is_empty() { vec![0] } else { wanted.clone() };
        let stream = file
            .stream(segment.pool(), &read_cols, vec![group], selection, self.batch_size)
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

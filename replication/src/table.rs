//! DataFusion's view of one table of a column snapshot.
//!
//! ```text
//!   ColumnTable(TableSnapshot) ── scan(projection, limit)
//!        for each segment: project the physical columns asked for
//!                          (zero-copy), drop deleted rows (filter by the live mask)
//!        spread the batches over target_partitions ──► in-memory DataSourceExec
//! ```
//!
//! The snapshot is immutable, so a scan needs no lock and a plan built on it
//! reads the same rows however long it runs.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult, Statistics, stats::Precision};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::columnar::TableSnapshot;

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

    /// The visible rows of the projected columns, one batch per segment.
    pub fn batches(&self, projection: Option<&Vec<usize>>, limit: Option<usize>) -> DfResult<(SchemaRef, Vec<RecordBatch>)> {
        let cols: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.physical.len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&cols)?);
        let physical: Vec<usize> = cols.iter().map(|&c| self.physical[c]).collect();
        let mut out = Vec::with_capacity(self.snapshot.segments.len());
        let mut rows = 0;
        for seg in &self.snapshot.segments {
            if limit.is_some_and(|l| rows >= l) {
                break;
            }
            let arrays = seg.columns(&self.snapshot.def, &physical).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let opts = RecordBatchOptions::new().with_row_count(Some(seg.live_rows));
            out.push(RecordBatch::try_new_with_options(schema.clone(), arrays, &opts)?);
            rows += seg.live_rows;
        }
        Ok((schema, out))
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

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Filters are not pushed down (DataFusion applies them), so a limit
        // only bounds the scan when there are none.
        let limit = if filters.is_empty() { limit } else { None };
        let (schema, batches) = self.batches(projection, limit)?;
        let n = state.config().target_partitions().clamp(1, batches.len().max(1));
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
        // Largest first onto the lightest partition keeps the partitions even.
        let mut order: Vec<usize> = (0..batches.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(batches[i].num_rows()));
        let mut load = vec![0usize; n];
        for i in order {
            let p = (0..n).min_by_key(|&p| load[p]).unwrap();
            load[p] += batches[i].num_rows();
            partitions[p].push(batches[i].clone());
        }
        let exec = MemorySourceConfig::try_new_exec(&partitions, schema, None)?;
        Ok(exec)
    }

    fn statistics(&self) -> Option<Statistics> {
        let mut s = Statistics::new_unknown(&self.schema);
        s.num_rows = Precision::Exact(self.snapshot.rows);
        Some(s)
    }
}

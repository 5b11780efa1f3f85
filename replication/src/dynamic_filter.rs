//! Dynamic filters in a segment scan: conditions that only exist once a
//! query runs, applied to the rows the scan reads.
//!
//! ```text
//!   HashJoin(build: 57 keys) ──DynamicFilter──┐   (filled when the build side is done)
//!       │ probe                               ▼
//!   Repartition ◄── SegmentScanExec: each part's batches ─► filter(snapshot) ─► out
//! ```
//!
//! DataFusion hands a scan the filter of a hash join's build side (and a
//! TopK's current bound) after planning. In our scans the rows are already
//! decoded Arrow in memory, so a filter pays off only when it removes many
//! rows cheaply — then the repartition and the join above see a fraction of
//! the table (TPC-H q18: 399 rows instead of six million). Two rules keep it
//! from costing more than it saves:
//!
//! - **Cheap form.** A partitioned join's filter is `CASE hash(key) % n WHEN
//!   i THEN bounds_i AND membership_i …`; hashing every row to route it costs
//!   what the join's probe costs. The scan uses a superset instead: the OR of
//!   the branches, with a lookup in a large build-side hash table dropped
//!   (kept: min/max bounds and small `IN (set)` lists). A superset is enough:
//!   the join still applies its own condition.
//! - **Trial.** A partition applies the filter to `TRIAL_ROWS` rows; if it
//!   removed under a tenth of them it stops, until the filter changes.
//!
//! Either way the result is the same rows: the filter only ever removes rows
//! the operator that made it would discard.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::cast::as_boolean_array;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, CaseExpr, Literal, lit};
use datafusion::physical_expr_common::physical_expr::{snapshot_generation, snapshot_physical_expr};
use datafusion::physical_plan::joins::{HashExpr, HashTableLookupExpr};

/// The dynamic filters of one scan partition.
pub struct DynamicFilter {
    filter: Arc<dyn PhysicalExpr>,
    generation: AtomicU64,
    seen: AtomicUsize,
    removed: AtomicUsize,
}

/// The filter's state as last seen by one part's reader.
pub struct PartFilter {
    generation: u64,
    /// The cheap form; None when it keeps every row (not filled in yet).
    predicate: Option<Arc<dyn PhysicalExpr>>,
}

impl DynamicFilter {
    /// Rows a filter is tried on before its effect is judged.
    const TRIAL_ROWS: usize = 64 * 1024;

    /// The conjunction of `filters`, None if there are none.
    pub fn new(filters: &[Arc<dyn PhysicalExpr>]) -> Option<Arc<DynamicFilter>> {
        let filter = filters.iter().cloned().reduce(and)?;
        Some(Arc::new(DynamicFilter { filter, generation: AtomicU64::new(0), seen: AtomicUsize::new(0), removed: AtomicUsize::new(0) }))
    }

    /// A reader's view, not yet taken.
    pub fn part_filter() -> PartFilter {
        // Not a generation any filter has: the first batch takes a snapshot.
        PartFilter { generation: u64::MAX, predicate: None }
    }

    /// `batch` without the rows the filter's current state rules out, and
    /// how many those were. The state is read again only when it changed: a
    /// join fills its filter while the scan may already be reading.
    pub fn apply(&self, part: &mut PartFilter, batch: RecordBatch) -> DfResult<(RecordBatch, usize)> {
        let generation = snapshot_generation(&self.filter);
        if generation != part.generation {
            let predicate = cheap_form(snapshot_physical_expr(self.filter.clone())?)?;
            *part = PartFilter { generation, predicate: (!is_true(&predicate)).then_some(predicate) };
        }
        let Some(predicate) = &part.predicate else { return Ok((batch, 0)) };
        if !self.worth_applying(generation) {
            return Ok((batch, 0));
        }
        let mask = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        let kept = filter_record_batch(&batch, as_boolean_array(&mask)?)?;
        let removed = batch.num_rows() - kept.num_rows();
        self.seen.fetch_add(batch.num_rows(), Ordering::Relaxed);
        self.removed.fetch_add(removed, Ordering::Relaxed);
        Ok((kept, removed))
    }

    fn worth_applying(&self, generation: u64) -> bool {
        if self.generation.swap(generation, Ordering::Relaxed) != generation {
            // A new state of the filter gets a new trial.
            self.seen.store(0, Ordering::Relaxed);
            self.removed.store(0, Ordering::Relaxed);
            return true;
        }
        let seen = self.seen.load(Ordering::Relaxed);
        seen < Self::TRIAL_ROWS || self.removed.load(Ordering::Relaxed) * 10 >= seen
    }
}

/// A superset of `predicate`'s rows that is cheap to compute: partition
/// routing replaced by the OR of the partitions' conditions, lookups in a
/// join's hash table by `true`.
fn cheap_form(predicate: Arc<dyn PhysicalExpr>) -> DfResult<Arc<dyn PhysicalExpr>> {
    let out = predicate.transform_up(|e| {
        if e.downcast_ref::<HashTableLookupExpr>().is_some() {
            return Ok(Transformed::yes(lit(true)));
        }
        if let Some(case) = e.downcast_ref::<CaseExpr>()
            && case.expr().is_some_and(routes_by_hash)
        {
            let branches = case.when_then_expr().iter().map(|(_, then)| then.clone()).chain(case.else_expr().cloned());
            let any = branches.filter(|b| !is_false(b)).reduce(or).unwrap_or_else(|| lit(false));
            return Ok(Transformed::yes(any));
        }
        if let Some(b) = e.downcast_ref::<BinaryExpr>() {
            match b.op() {
                Operator::And if is_true(b.left()) => return Ok(Transformed::yes(b.right().clone())),
                Operator::And if is_true(b.right()) => return Ok(Transformed::yes(b.left().clone())),
                Operator::Or if is_true(b.left()) || is_true(b.right()) => return Ok(Transformed::yes(lit(true))),
                _ => {}
            }
        }
        Ok(Transformed::no(e))
    })?;
    Ok(out.data)
}

/// Whether `e` computes a row's hash partition (`hash(key) % n`).
fn routes_by_hash(e: &Arc<dyn PhysicalExpr>) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        found |= x.downcast_ref::<HashExpr>().is_some();
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

fn is_true(e: &Arc<dyn PhysicalExpr>) -> bool {
    e.downcast_ref::<Literal>().is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(true)))
}

fn is_false(e: &Arc<dyn PhysicalExpr>) -> bool {
    e.downcast_ref::<Literal>().is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(false)))
}

fn and(a: Arc<dyn PhysicalExpr>, b: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    Arc::new(BinaryExpr::new(a, Operator::And, b))
}

fn or(a: Arc<dyn PhysicalExpr>, b: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    Arc::new(BinaryExpr::new(a, Operator::Or, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int32Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::{DynamicFilterPhysicalExpr, InListExpr, col};
    use datafusion::physical_plan::joins::SeededRandomState;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int32, true)]));
        let k: ArrayRef = Arc::new(Int32Array::from_iter((0..1000).map(|i| (i % 97 != 0).then_some(i))));
        RecordBatch::try_new(schema, vec![k]).unwrap()
    }

    fn in_list(values: &[i32], schema: &Schema) -> Arc<dyn PhysicalExpr> {
        let list = values.iter().map(|v| lit(*v)).collect();
        Arc::new(InListExpr::try_new(col("k", schema).unwrap(), list, false, schema).unwrap())
    }

    fn kept(e: &Arc<dyn PhysicalExpr>, b: &RecordBatch) -> Vec<bool> {
        let mask = e.evaluate(b).unwrap().into_array(b.num_rows()).unwrap();
        as_boolean_array(&mask).unwrap().iter().map(|v| v == Some(true)).collect()
    }

    /// The routed filter a partitioned join builds, and its cheap form: no
    /// hashing left, and every row the original keeps is kept.
    #[test]
    fn the_cheap_form_of_a_routed_filter_is_a_superset_without_hashing() {
        let b = batch();
        let schema = b.schema();
        let k = col("k", &schema).unwrap();
        let route = Arc::new(BinaryExpr::new(
            Arc::new(HashExpr::new(vec![k.clone()], SeededRandomState::with_seed(7), "hash_repartition".into())),
            Operator::Modulo,
            lit(ScalarValue::UInt64(Some(2))),
        ));
        let bounds = |lo: i32, hi: i32| {
            and(
                Arc::new(BinaryExpr::new(k.clone(), Operator::GtEq, lit(lo))),
                Arc::new(BinaryExpr::new(k.clone(), Operator::LtEq, lit(hi))),
            )
        };
        let routed: Arc<dyn PhysicalExpr> = Arc::new(
            CaseExpr::try_new(
                Some(route),
                vec![
                    (lit(ScalarValue::UInt64(Some(0))), and(bounds(3, 40), in_list(&[3, 17, 40], &schema))),
                    (lit(ScalarValue::UInt64(Some(1))), and(bounds(500, 900), in_list(&[500, 900], &schema))),
                ],
                Some(lit(false)),
            )
            .unwrap(),
        );
        let cheap = cheap_form(routed.clone()).unwrap();
        let mut hashes = false;
        cheap
            .apply(|e| {
                hashes |= e.downcast_ref::<HashExpr>().is_some();
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
        assert!(!hashes, "{cheap}");
        let (exact, superset) = (kept(&routed, &b), kept(&cheap, &b));
        assert!(exact.iter().zip(&superset).all(|(e, s)| !e || *s), "{cheap} drops a row {routed} keeps");
        let n = superset.iter().filter(|k| **k).count();
        assert!((exact.iter().filter(|k| **k).count()..=5).contains(&n), "{cheap} keeps {n} rows");
    }

    #[test]
    fn a_filter_that_removes_nothing_stops_being_applied() {
        let b = batch();
        let schema = b.schema();
        let k = col("k", &schema).unwrap();
        let dynamic = Arc::new(DynamicFilterPhysicalExpr::new(vec![k.clone()], lit(true)));
        let f = DynamicFilter::new(&[dynamic.clone() as Arc<dyn PhysicalExpr>]).unwrap();
        let mut part = DynamicFilter::part_filter();
        // Not filled in yet: every row passes, nothing is evaluated.
        assert_eq!(f.apply(&mut part, b.clone()).unwrap().1, 0);
        // Filled in with a condition that removes only the nulls (1 row in 97).
        dynamic.update(Arc::new(BinaryExpr::new(k, Operator::GtEq, lit(-1)))).unwrap();
        let mut evaluated = 0;
        for _ in 0..200 {
            let (out, removed) = f.apply(&mut part, b.clone()).unwrap();
            // Nulls are removed while the filter is applied; then rows pass as they are.
            if removed > 0 {
                evaluated += 1;
            }
            assert!(out.num_rows() == b.num_rows() || out.num_rows() == b.num_rows() - removed);
        }
        assert!(evaluated > 0 && evaluated * 1000 <= DynamicFilter::TRIAL_ROWS + 1000, "applied to {evaluated} batches");
    }
}

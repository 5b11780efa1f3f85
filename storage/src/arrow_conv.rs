//! Rows ⇄ Arrow record batches.
//!
//! One conversion serves three readers: SQL scans on the primary (DataFusion
//! reads batches), checkpoints (batches go to Parquet), and standbys (WAL rows
//! become columns). A [`BatchBuilder`] decodes encoded rows straight into typed
//! Arrow builders — no intermediate `Value`s — for a chosen set of columns.
//!
//! The Arrow schema of a table is its live columns in order, named as in SQL,
//! optionally preceded by the row id column `__rowid` (UInt64), which replicas
//! and checkpoints need and SQL users never see.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Decimal128Array,
    Decimal128Builder, Float32Array, Float32Builder, Float64Array, Float64Builder, Int16Array, Int16Builder, Int32Array, Int32Builder,
    Int64Array, Int64Builder, LargeStringArray, StringArray, StringBuilder, StringViewArray, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::RowId;
use crate::catalog::TableDef;
use crate::error::{Error, Result};
use crate::row::{RowBuf, ValueRef, encode_row, for_each_value};
use crate::types::{DataType, Value};

pub const ROWID_COLUMN: &str = "__rowid";

pub fn arrow_type(ty: &DataType) -> ArrowType {
    match ty {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int16 => ArrowType::Int16,
        DataType::Int32 => ArrowType::Int32,
        DataType::Int64 => ArrowType::Int64,
        DataType::Float32 => ArrowType::Float32,
        DataType::Float64 => ArrowType::Float64,
        DataType::Numeric { precision, scale, .. } => ArrowType::Decimal128(*precision, *scale as i8),
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Json | DataType::Jsonb | DataType::Uuid => ArrowType::Utf8,
        DataType::Bytea => ArrowType::Binary,
        DataType::Date => ArrowType::Date32,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        DataType::TimestampTz => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// Arrow schema of `def`'s live columns (optionally with `__rowid` first).
pub fn table_schema(def: &TableDef, with_rowid: bool) -> SchemaRef {
    let mut fields = Vec::new();
    if with_rowid {
        fields.push(Field::new(ROWID_COLUMN, ArrowType::UInt64, false));
    }
    for (_, c) in def.live_columns() {
        fields.push(Field::new(&c.name, arrow_type(&c.ty), c.nullable));
    }
    Arc::new(Schema::new(fields))
}

enum ColBuilder {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Dec(Decimal128Builder, u8, i8),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder, bool),
}

impl ColBuilder {
    fn new(ty: &DataType, cap: usize) -> ColBuilder {
        match ty {
            DataType::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(cap)),
            DataType::Int16 => ColBuilder::I16(Int16Builder::with_capacity(cap)),
            DataType::Int32 => ColBuilder::I32(Int32Builder::with_capacity(cap)),
            DataType::Int64 => ColBuilder::I64(Int64Builder::with_capacity(cap)),
            DataType::Float32 => ColBuilder::F32(Float32Builder::with_capacity(cap)),
            DataType::Float64 => ColBuilder::F64(Float64Builder::with_capacity(cap)),
            DataType::Numeric { precision, scale, .. } => ColBuilder::Dec(Decimal128Builder::with_capacity(cap), *precision, *scale as i8),
            DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Json | DataType::Jsonb | DataType::Uuid => {
                ColBuilder::Str(StringBuilder::with_capacity(cap, cap * 8))
            }
            DataType::Bytea => ColBuilder::Bin(BinaryBuilder::with_capacity(cap, cap * 8)),
            DataType::Date => ColBuilder::Date(Date32Builder::with_capacity(cap)),
            DataType::Timestamp => ColBuilder::Ts(TimestampMicrosecondBuilder::with_capacity(cap), false),
            DataType::TimestampTz => ColBuilder::Ts(TimestampMicrosecondBuilder::with_capacity(cap), true),
        }
    }

    #[inline]
    fn push(&mut self, v: ValueRef<'_>) {
        match (self, v) {
            (ColBuilder::Bool(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::I16(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::I32(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::I64(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::F32(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::F64(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::Dec(b, ..), ValueRef::Null) => b.append_null(),
            (ColBuilder::Str(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::Bin(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::Date(b), ValueRef::Null) => b.append_null(),
            (ColBuilder::Ts(b, _), ValueRef::Null) => b.append_null(),
            (ColBuilder::Bool(b), ValueRef::Bool(x)) => b.append_value(x),
            (ColBuilder::I16(b), ValueRef::Int16(x)) => b.append_value(x),
            (ColBuilder::I32(b), ValueRef::Int32(x)) => b.append_value(x),
            (ColBuilder::I64(b), ValueRef::Int64(x)) => b.append_value(x),
            (ColBuilder::F32(b), ValueRef::Float32(x)) => b.append_value(x),
            (ColBuilder::F64(b), ValueRef::Float64(x)) => b.append_value(x),
            (ColBuilder::Dec(b, ..), ValueRef::Numeric(m, _)) => b.append_value(m),
            (ColBuilder::Str(b), ValueRef::Text(s)) => b.append_value(s),
            (ColBuilder::Bin(b), ValueRef::Bytea(x)) => b.append_value(x),
            (ColBuilder::Date(b), ValueRef::Date(d)) => b.append_value(d),
            (ColBuilder::Ts(b, false), ValueRef::Timestamp(t)) => b.append_value(t),
            (ColBuilder::Ts(b, true), ValueRef::TimestampTz(t)) => b.append_value(t),
            (_, v) => panic!("value {v:?} does not match its column's Arrow builder"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::I16(b) => Arc::new(b.finish()),
            ColBuilder::I32(b) => Arc::new(b.finish()),
            ColBuilder::I64(b) => Arc::new(b.finish()),
            ColBuilder::F32(b) => Arc::new(b.finish()),
            ColBuilder::F64(b) => Arc::new(b.finish()),
            ColBuilder::Dec(b, p, s) => Arc::new(b.finish().with_precision_and_scale(*p, *s).expect("valid decimal precision")),
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::Bin(b) => Arc::new(b.finish()),
            ColBuilder::Date(b) => Arc::new(b.finish()),
            ColBuilder::Ts(b, false) => Arc::new(b.finish()),
            ColBuilder::Ts(b, true) => Arc::new(b.finish().with_timezone("UTC")),
        }
    }
}

/// Builds a record batch from encoded rows, for a projection of physical columns.
pub struct BatchBuilder {
    schema: SchemaRef,
    types: Vec<DataType>,
    missing: Vec<Value>,
    /// For each physical column: its output position, if projected.
    out_pos: Vec<Option<usize>>,
    last_col: usize,
    cols: Vec<ColBuilder>,
    rowids: Option<UInt64Builder>,
    rows: usize,
}

impl BatchBuilder {
    /// `columns`: physical positions to output, in output order. `schema` must
    /// match (`__rowid` first if `with_rowid`).
    pub fn new(def: &TableDef, columns: &[usize], with_rowid: bool, schema: SchemaRef, cap: usize) -> BatchBuilder {
        let types = def.physical_types();
        let mut out_pos = vec![None; types.len()];
        for (o, &c) in columns.iter().enumerate() {
            out_pos[c] = Some(o);
        }
        let cols = columns.iter().map(|&c| ColBuilder::new(&types[c], cap)).collect();
        BatchBuilder {
            schema,
            last_col: columns.iter().copied().max().unwrap_or(0),
            missing: def.missing_values(),
            types,
            out_pos,
            cols,
            rowids: with_rowid.then(|| UInt64Builder::with_capacity(cap)),
            rows: 0,
        }
    }

    /// A builder for all live columns with the table's standard schema.
    pub fn for_table(def: &TableDef, with_rowid: bool, cap: usize) -> BatchBuilder {
        let cols: Vec<usize> = def.live_columns().map(|(i, _)| i).collect();
        BatchBuilder::new(def, &cols, with_rowid, table_schema(def, with_rowid), cap)
    }

    #[inline]
    pub fn push(&mut self, rowid: RowId, row: &[u8]) {
        if let Some(b) = &mut self.rowids {
            b.append_value(rowid);
        }
        if !self.cols.is_empty() {
            let (out_pos, cols, missing) = (&self.out_pos, &mut self.cols, &self.missing);
            for_each_value(&self.types[..=self.last_col], row, |i, v| {
                if let Some(o) = out_pos[i] {
                    match v {
                        Some(v) => cols[o].push(v),
                        None => cols[o].push(ValueRef::from(&missing[i])),
                    }
                }
            });
        }
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.cols.len() + 1);
        if let Some(b) = &mut self.rowids {
            arrays.push(Arc::new(b.finish()));
        }
        arrays.extend(self.cols.iter_mut().map(|c| c.finish()));
        let n = self.rows;
        self.rows = 0;
        // A NULL where the catalog says NOT NULL (data written before a
        // constraint was enforced): serve it as nullable rather than fail.
        let mut schema = self.schema.clone();
        if schema.fields().iter().zip(&arrays).any(|(f, a)| !f.is_nullable() && a.null_count() > 0) {
            tracing::warn!(fields = ?schema.fields(), "a row breaks its table's NOT NULL constraint; scanning it as nullable");
            let fields: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
            schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        }
        RecordBatch::try_new_with_options(schema, arrays, &RecordBatchOptions::new().with_row_count(Some(n)))
            .expect("batch matches its schema")
    }
}

/// Reads value `i` of an Arrow array as a `Value` of SQL type `ty`.
pub fn array_value(array: &dyn Array, i: usize, ty: &DataType) -> Result<Value> {
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    let a = array.as_any();
    let bad = || Error::Corrupt(format!("Arrow column of type {} does not hold {}", array.data_type(), ty));
    Ok(match ty {
        DataType::Bool => Value::Bool(a.downcast_ref::<BooleanArray>().ok_or_else(bad)?.value(i)),
        DataType::Int16 => Value::Int16(a.downcast_ref::<Int16Array>().ok_or_else(bad)?.value(i)),
        DataType::Int32 => Value::Int32(a.downcast_ref::<Int32Array>().ok_or_else(bad)?.value(i)),
        DataType::Int64 => Value::Int64(a.downcast_ref::<Int64Array>().ok_or_else(bad)?.value(i)),
        DataType::Float32 => Value::Float32(a.downcast_ref::<Float32Array>().ok_or_else(bad)?.value(i)),
        DataType::Float64 => Value::Float64(a.downcast_ref::<Float64Array>().ok_or_else(bad)?.value(i)),
        DataType::Numeric { scale, .. } => {
            let d = a.downcast_ref::<Decimal128Array>().ok_or_else(bad)?;
            let m = crate::types::rescale(d.value(i), d.scale().max(0) as u8, *scale).ok_or_else(bad)?;
            Value::Numeric(m, *scale)
        }
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Json | DataType::Jsonb | DataType::Uuid => {
            if let Some(s) = a.downcast_ref::<StringArray>() {
                Value::Text(s.value(i).to_string())
            } else if let Some(s) = a.downcast_ref::<LargeStringArray>() {
                Value::Text(s.value(i).to_string())
            } else if let Some(s) = a.downcast_ref::<StringViewArray>() {
                Value::Text(s.value(i).to_string())
            } else {
                return Err(bad());
            }
        }
        DataType::Bytea => Value::Bytea(a.downcast_ref::<BinaryArray>().ok_or_else(bad)?.value(i).to_vec()),
        DataType::Date => Value::Date(a.downcast_ref::<Date32Array>().ok_or_else(bad)?.value(i)),
        DataType::Timestamp => Value::Timestamp(a.downcast_ref::<TimestampMicrosecondArray>().ok_or_else(bad)?.value(i)),
        DataType::TimestampTz => Value::TimestampTz(a.downcast_ref::<TimestampMicrosecondArray>().ok_or_else(bad)?.value(i)),
    })
}

/// Turns a batch with `__rowid` and columns named as `def`'s live columns back
/// into encoded rows. Columns absent from the batch read as NULL (or their
/// missing-value default).
pub fn batch_to_rows(def: &TableDef, batch: &RecordBatch) -> Result<Vec<(RowId, RowBuf)>> {
    let rowids = batch
        .column_by_name(ROWID_COLUMN)
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .ok_or_else(|| Error::Corrupt(format!("batch for \"{}\" has no {ROWID_COLUMN} column", def.name)))?;
    let types = def.physical_types();
    let columns: Vec<Option<ArrayRef>> =
        def.columns.iter().map(|c| if c.dropped { None } else { batch.column_by_name(&c.name).cloned() }).collect();
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut values = Vec::with_capacity(types.len());
    for i in 0..batch.num_rows() {
        values.clear();
        for (c, col) in columns.iter().enumerate() {
            values.push(match col {
                Some(a) => array_value(a.as_ref(), i, &types[c])?,
                None => def.columns[c].missing.clone().unwrap_or(Value::Null),
            });
        }
        out.push((rowids.value(i), encode_row(&types, &values)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ColumnDef;

    /// A NULL in a column the catalog says is NOT NULL (a row written before
    /// the constraint was enforced) is scanned, not a panic.
    #[test]
    fn a_null_in_a_not_null_column_scans_as_nullable() {
        let def = TableDef::new(
            1,
            "public",
            "t",
            1,
            vec![ColumnDef::new("a", DataType::Int32, true), ColumnDef::new("b", DataType::Int32, false)],
        );
        let mut b = BatchBuilder::for_table(&def, false, 4);
        b.push(1, &encode_row(&[DataType::Int32, DataType::Int32], &[Value::Int32(1), Value::Null]));
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert!(batch.schema().field(1).is_nullable());
        assert!(batch.column(1).is_null(0));
        // A clean batch keeps the declared schema.
        b.push(2, &encode_row(&[DataType::Int32, DataType::Int32], &[Value::Int32(1), Value::Int32(2)]));
        assert!(!b.finish().schema().field(1).is_nullable());
    }
}

//! What a statement produces, and how rows are turned into DataRow messages.
//!
//! Row results stream: a DataFusion result is pulled batch by batch as the
//! client takes rows, so a large SELECT (or COPY TO, or a cursor) never sits
//! in memory whole, and a portal with a row limit just stops pulling.

use std::collections::VecDeque;

use bytes::BytesMut;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use duetdb_storage::{DataType, Value};
use futures::StreamExt;
use pgwire::messages::data::DataRow;

use crate::error::SqlResult;
use crate::pg::encode::{self, Style};
use crate::session::copy::{CopyFormat, CopyIn};
use crate::sql::query::FieldInfo;

pub enum Outcome {
    /// CommandComplete with this tag.
    Command(String),
    Rows(RowStream),
    CopyIn(CopyIn),
    CopyOut(RowStream, CopyFormat),
    Empty,
}

/// How the command tag is formed once the rows are out.
#[derive(Clone, Debug)]
pub enum Tag {
    /// `SELECT n`
    Select,
    /// `FETCH n`
    Fetch,
    /// `COPY n`
    Copy,
    /// A fixed tag for DML with RETURNING: `INSERT 0 n`, `UPDATE n`, `DELETE n`.
    Fixed(String),
}

enum Source {
    /// The Mutex is never contended (the stream is only reached through
    /// `&mut self`); it makes `RowStream` `Sync` so a session can be borrowed
    /// across an await without unsafe code.
    Stream {
        stream: parking_lot::Mutex<SendableRecordBatchStream>,
        current: Option<(RecordBatch, usize)>,
        done: bool,
    },
    Values {
        rows: VecDeque<Vec<Value>>,
        types: Vec<DataType>,
    },
    Batches {
        batches: VecDeque<RecordBatch>,
        pos: usize,
    },
}

pub struct RowStream {
    pub fields: Vec<FieldInfo>,
    source: Source,
    pub tag: Tag,
    /// Rows sent so far.
    pub count: u64,
}

impl RowStream {
    pub fn from_stream(mut fields: Vec<FieldInfo>, stream: SendableRecordBatchStream, tag: Tag) -> RowStream {
        settle_fields_on_executed(&mut fields, &stream.schema());
        RowStream { fields, source: Source::Stream { stream: parking_lot::Mutex::new(stream), current: None, done: false }, tag, count: 0 }
    }

    pub fn from_values(fields: Vec<FieldInfo>, types: Vec<DataType>, rows: Vec<Vec<Value>>, tag: Tag) -> RowStream {
        RowStream { fields, source: Source::Values { rows: rows.into(), types }, tag, count: 0 }
    }

    pub fn from_batches(mut fields: Vec<FieldInfo>, batches: Vec<RecordBatch>, tag: Tag) -> RowStream {
        if let Some(b) = batches.first() {
            settle_fields_on_executed(&mut fields, &b.schema());
        }
        RowStream { fields, source: Source::Batches { batches: batches.into(), pos: 0 }, tag, count: 0 }
    }

    pub fn command_tag(&self) -> String {
        match &self.tag {
            Tag::Select => format!("SELECT {}", self.count),
            Tag::Fetch => format!("FETCH {}", self.count),
            Tag::Copy => format!("COPY {}", self.count),
            Tag::Fixed(t) => t.clone(),
        }
    }

    /// Sets the wire format of each column (from Bind's result format codes).
    pub fn set_formats(&mut self, codes: &[i16]) {
        for (i, f) in self.fields.iter_mut().enumerate() {
            let code = match codes.len() {
                0 => 0,
                1 => codes[0],
                _ => codes.get(i).copied().unwrap_or(0),
            };
            f.format = encode::Format::from_code(code);
        }
    }

    /// Hands up to `max` rows (0: all) to `out`; true when no rows remain.
    pub async fn next_rows(&mut self, max: usize, style: &Style, out: &mut (dyn FnMut(DataRow) + Send)) -> SqlResult<bool> {
        let mut sent = 0usize;
        let limit = if max == 0 { usize::MAX } else { max };
        loop {
            if sent >= limit {
                return Ok(self.exhausted_now().await?);
            }
            match &mut self.source {
                Source::Values { rows, types } => {
                    let Some(row) = rows.pop_front() else { return Ok(true) };
                    let mut data = BytesMut::with_capacity(64);
                    for (i, v) in row.iter().enumerate() {
                        let f = &self.fields[i];
                        encode::encode_value(&mut data, v, &types[i], f.format, style);
                    }
                    out(DataRow::new(data, row.len() as i16));
                }
                Source::Batches { batches, pos } => {
                    let Some(b) = batches.front() else { return Ok(true) };
                    if *pos >= b.num_rows() {
                        batches.pop_front();
                        *pos = 0;
                        continue;
                    }
                    out(encode_row(b, *pos, &self.fields, style));
                    *pos += 1;
                }
                Source::Stream { stream, current, done } => {
                    if current.as_ref().is_none_or(|(b, p)| *p >= b.num_rows()) {
                        if *done {
                            return Ok(true);
                        }
                        match stream.get_mut().next().await {
                            Some(batch) => *current = Some((batch?, 0)),
                            None => {
                                *done = true;
                                return Ok(true);
                            }
                        }
                        continue;
                    }
                    let (b, p) = current.as_mut().unwrap();
                    out(encode_row(b, *p, &self.fields, style));
                    *p += 1;
                }
            }
            sent += 1;
            self.count += 1;
        }
    }

    /// After a row limit was reached: are there really no rows left? (A portal
    /// reports PortalSuspended only if more rows follow.)
    async fn exhausted_now(&mut self) -> SqlResult<bool> {
        Ok(match &mut self.source {
            Source::Values { rows, .. } => rows.is_empty(),
            Source::Batches { batches, pos } => {
                while let Some(b) = batches.front() {
                    if *pos < b.num_rows() {
                        return Ok(false);
                    }
                    batches.pop_front();
                    *pos = 0;
                }
                true
            }
            Source::Stream { stream, current, done } => loop {
                if current.as_ref().is_some_and(|(b, p)| *p < b.num_rows()) {
                    break false;
                }
                if *done {
                    break true;
                }
                match stream.get_mut().next().await {
                    Some(b) => *current = Some((b?, 0)),
                    None => {
                        *done = true;
                        break true;
                    }
                }
            },
        })
    }

    /// Takes up to `n` rows as batches (cursors' FETCH).
    pub async fn take(&mut self, n: usize) -> SqlResult<Vec<RecordBatch>> {
        let mut out = Vec::new();
        let mut need = n;
        if let Source::Stream { stream, current, done } = &mut self.source {
            while need > 0 {
                if let Some((b, p)) = current.as_mut()
                    && *p < b.num_rows()
                {
                    let k = need.min(b.num_rows() - *p);
                    out.push(b.slice(*p, k));
                    *p += k;
                    need -= k;
                    continue;
                }
                if *done {
                    break;
                }
                match stream.get_mut().next().await {
                    Some(b) => *current = Some((b?, 0)),
                    None => *done = true,
                }
            }
        }
        self.count += (n - need) as u64;
        Ok(out)
    }

    /// Collects all remaining rows as batches (for cursors and RETURNING).
    pub async fn collect_batches(&mut self) -> SqlResult<Vec<RecordBatch>> {
        let mut out = Vec::new();
        if let Source::Stream { stream, current, done } = &mut self.source {
            if let Some((b, p)) = current.take()
                && p < b.num_rows()
            {
                out.push(b.slice(p, b.num_rows() - p));
            }
            while !*done {
                match stream.get_mut().next().await {
                    Some(b) => out.push(b?),
                    None => *done = true,
                }
            }
        }
        Ok(out)
    }
}

/// How numerics are shown is read from the executed plan's schema: the
/// fields described to the client come from the plan before analysis, where
/// a quotient's type and marking (`sql::numeric_division`) are not settled yet.
/// Settles the fields on what the executed plan produces: how numerics are
/// shown, and a date/time column's type where an analyzer rule changed it
/// after the fields were taken from the unanalyzed plan (`date + interval`
/// is a timestamp), so RowDescription never contradicts the rows.
fn settle_fields_on_executed(fields: &mut [FieldInfo], schema: &datafusion::arrow::datatypes::Schema) {
    use crate::pg::oid;
    const TEMPORAL: [u32; 5] = [oid::DATE, oid::TIMESTAMP, oid::TIMESTAMPTZ, oid::TIME, oid::INTERVAL];
    if schema.fields().len() == fields.len() {
        for (f, executed) in fields.iter_mut().zip(schema.fields()) {
            f.numeric = encode::NumericDisplay::of_field(executed);
            let ty = encode::arrow_wire_type(executed.data_type());
            if ty.oid != f.ty.oid && (TEMPORAL.contains(&ty.oid) || TEMPORAL.contains(&f.ty.oid)) {
                f.ty = ty;
            }
            // Text by the plan, a tagged type (json…) once analyzer rules ran
            // (see `sql::case_type`); and the other way round, a cast to
            // text still tagged with its source's type in the plan (see
            // `sql::text_casts`).
            let tag = encode::tagged_oid(executed);
            if (f.ty.oid == oid::TEXT && tag.is_some()) || tag == Some(oid::TEXT) {
                f.ty = encode::wire_type(executed);
            }
        }
    }
}

/// Encodes row `i` of a batch.
pub fn encode_row(b: &RecordBatch, i: usize, fields: &[FieldInfo], style: &Style) -> DataRow {
    let mut data = BytesMut::with_capacity(16 * b.num_columns());
    for (c, col) in b.columns().iter().enumerate() {
        let f = &fields[c];
        if let datafusion::arrow::datatypes::DataType::Decimal128(_, scale @ 0..) = *col.data_type()
            && f.numeric != encode::NumericDisplay::Column
            && col.is_valid(i)
        {
            let m = col.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>().value(i);
            encode::encode_numeric(&mut data, f.numeric.apply(m, scale as u8), f.format);
        } else {
            encode::encode_cell(&mut data, col, i, f.ty, f.format, style);
        }
    }
    DataRow::new(data, b.num_columns() as i16)
}

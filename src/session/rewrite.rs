//! ALTER COLUMN … TYPE that changes stored values: a table rewrite.
//!
//! A type change that keeps every stored value as it is (a longer varchar,
//! varchar to text) changes only the catalog (`in_place`). Any other change
//! rewrites the table, as PostgreSQL does: under the table's exclusive lock
//! every live row is read, converted and checked, and then inserted into new,
//! empty storage (a new relfilenode) that replaces the old one at commit.
//!
//! ```text
//!   lock EXCLUSIVE ─▶ live rows ─▶ convert: USING, or the assignment cast
//!        │                            (every conversion error surfaces here,
//!        │                             before anything has changed)
//!        ▼
//!   catalog: new types + new relfilenode ─▶ insert the rows into the new
//!        storage (indexes built as they go in, unique keys checked)
//!        ─▶ foreign keys on or to the changed columns re-checked
//! ```
//!
//! Nothing below the session knows about rewrites: the WAL carries the new
//! catalog (on a standby, a new relfilenode empties the table's column
//! store) and then ordinary inserts, so standbys and crash recovery follow
//! unchanged, and a rollback simply drops the new storage. The rows are held
//! in memory while they are converted.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::Expr;
use duetdb_storage::catalog::{Catalog, TableDef};
use duetdb_storage::{DataType, RowId, Value};

use super::Session;
use crate::error::{SqlError, SqlResult};
use crate::pg::datetime::Zone;
use crate::sql::expr;
use crate::sql::provider::ROWID_SUFFIX;

/// One column whose values a rewrite converts.
#[derive(Debug)]
pub(super) struct Rewrite {
    pub column: usize,
    pub using: Option<Expr>,
}

/// Whether every value a `from` column can hold is, unchanged, a valid `to`
/// value with the same stored form: then ALTER COLUMN … TYPE changes only
/// the catalog (PostgreSQL skips the rewrite for the same cases). The string
/// types share one representation (`Value::Text`, Arrow Utf8; a char(n) is
/// stored without its padding), so widening among them is free.
pub(super) fn in_place(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    match (from, to) {
        (T::Text | T::Varchar(_) | T::Char(_) | T::Json | T::Jsonb | T::Uuid, T::Text | T::Varchar(None)) => true,
        (T::Varchar(Some(n)), T::Varchar(Some(m))) => m >= n,
        (T::Char(n), T::Varchar(Some(m))) => m >= n,
        _ => false,
    }
}

/// PostgreSQL's implicit and assignment casts among the engine's types: what
/// ALTER COLUMN … TYPE may do without USING. Anything converts to a string
/// type (through its text); numbers, date/times and json/jsonb convert
/// within their family. The rest (text to integer, boolean to integer) needs
/// an explicit USING.
pub(super) fn assignment_cast(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    let number = |t: &DataType| matches!(t, T::Int16 | T::Int32 | T::Int64 | T::Float32 | T::Float64 | T::Numeric { .. });
    let string = |t: &DataType| matches!(t, T::Text | T::Varchar(_) | T::Char(_));
    let time = |t: &DataType| matches!(t, T::Date | T::Timestamp | T::TimestampTz);
    let json = |t: &DataType| matches!(t, T::Json | T::Jsonb);
    string(to) || (number(from) && number(to)) || (time(from) && time(to)) || (json(from) && json(to))
}

/// A stored value converted as the assignment cast converts it. Between
/// timestamp and timestamptz the session's time zone applies, as in
/// PostgreSQL: a timestamp is read as local time.
pub(super) fn cast_value(v: Value, to: &DataType, zone: &Zone) -> SqlResult<Value> {
    const DAY: i64 = 86_400_000_000; // µs
    let local_to_utc = |t: i64| t - zone.offset_for_local(t) as i64 * 1_000_000;
    let utc_to_local = |t: i64| t + zone.offset_at(t) as i64 * 1_000_000;
    Ok(match (v, to) {
        (Value::Timestamp(t), DataType::TimestampTz) => Value::TimestampTz(local_to_utc(t)),
        (Value::Date(d), DataType::TimestampTz) => Value::TimestampTz(local_to_utc(d as i64 * DAY)),
        (Value::TimestampTz(t), DataType::Timestamp) => Value::Timestamp(utc_to_local(t)),
        (Value::TimestampTz(t), DataType::Date) => Value::Date(utc_to_local(t).div_euclid(DAY) as i32),
        (v, to) => expr::assign(v, to, zone)?,
    })
}

impl Session {
    /// Rewrites table `old` into the new storage `cat` gives it: see the
    /// module comment. `cat` holds the changed table (its new column types);
    /// `per_row_defaults` are columns the same statement added whose default
    /// is evaluated per row (serial).
    pub(super) async fn rewrite_table(
        &mut self,
        old: &TableDef,
        mut cat: Catalog,
        rewrites: &[Rewrite],
        per_row_defaults: &[usize],
    ) -> SqlResult<()> {
        let id = old.id;
        self.txn_mut()?.lock_table_exclusive(id).await?;
        let view = self.begin_statement()?;
        let rows = duetdb_storage::transaction::collect_rows(&view, old);
        let using = self.using_values(old, rewrites).await?;

        let mut def = (*cat.tables[&id]).clone();
        def.relfilenode = cat.alloc_relfilenode();
        def.layout = Default::default();
        let def = Arc::new(def);
        cat.tables.insert(id, def.clone());

        let generator = self.generator(&def).await?;
        let zone = self.env.zone();
        let defaults: Vec<(usize, expr::Ex)> = per_row_defaults
            .iter()
            .filter_map(|&c| def.columns[c].default.as_deref().and_then(super::dml::compile_default).map(|e| (c, e)))
            .collect();
        let mut converted = Vec::with_capacity(rows.len());
        for (rowid, mut row) in rows {
            for (k, r) in rewrites.iter().enumerate() {
                let to = &def.columns[r.column].ty;
                row[r.column] = match &using {
                    Some(values) => {
                        let v = values.get(&rowid).map(|vs| vs[k].clone()).unwrap_or(Value::Null);
                        let name = &def.columns[r.column].name;
                        if matches!(v, Value::Text(_)) && !takes_text(to) && !is_string_literal(r.using.as_ref()) {
                            // A text result is not an untyped literal: PostgreSQL has no assignment cast from it.
                            return Err(using_mismatch(SqlError::new("42804", ""), name, to));
                        }
                        expr::assign(v, to, &zone).map_err(|e| using_mismatch(e, name, to))?
                    }
                    None => cast_value(std::mem::replace(&mut row[r.column], Value::Null), to, &zone)?,
                };
            }
            // Columns this statement added: their value for existing rows.
            for c in row.len()..def.columns.len() {
                row.push(def.columns[c].missing.clone().unwrap_or(Value::Null));
            }
            if let Some(g) = &generator {
                self.fill_generated(g, &def, &mut row).await?;
            }
            self.check_constraints(&def, &row).map_err(|e| violated_by_some_row(e, &def))?;
            converted.push(row);
        }

        let txn = self.txn_mut()?;
        txn.set_catalog(cat).await?;
        // Per-row defaults (nextval) once the catalog holds their sequences.
        if !defaults.is_empty() {
            self.begin_statement()?; // publishes the new catalog to nextval
            for row in converted.iter_mut() {
                for (c, ex) in &defaults {
                    row[*c] = self.default_value(ex, &def.columns[*c].ty)?;
                }
            }
        }
        let mut rest = converted;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(INSERT_CHUNK));
            match self.txn_mut()?.insert_batch(&def, rest).await {
                Ok(_) => {}
                // PostgreSQL builds the indexes after the rewrite and words it so.
                Err(duetdb_storage::Error::UniqueViolation { constraint, detail }) => {
                    return Err(SqlError::new("23505", format!("could not create unique index \"{constraint}\""))
                        .with_detail(detail.replace("already exists.", "is duplicated.")));
                }
                Err(e) => return Err(e.into()),
            }
            rest = tail;
        }

        // Foreign keys whose columns changed type or value, both ways: the
        // table's own (child side, self-references included) and other
        // tables' keys pointing at it, each checked over the rows as stored.
        let changed: Vec<usize> = rewrites.iter().map(|r| r.column).collect();
        let touches = |cols: &[usize]| cols.iter().any(|c| changed.contains(c));
        let own: Vec<_> =
            def.foreign_keys.iter().filter(|f| touches(&f.columns) || (f.ref_table == id && touches(&f.ref_columns))).cloned().collect();
        let catalog = self.txn_mut()?.catalog();
        let mut checks: Vec<(Arc<TableDef>, Vec<_>)> = catalog
            .referencing(id)
            .filter(|(t, fk)| t.id != id && touches(&fk.ref_columns))
            .map(|(t, fk)| (t.clone(), vec![fk.clone()]))
            .collect();
        if !own.is_empty() {
            checks.push((def.clone(), own));
        }
        for (child, fks) in checks {
            let view = self.begin_statement()?;
            let only = Arc::new(TableDef { foreign_keys: fks, ..(*child).clone() });
            for (_, row) in duetdb_storage::transaction::collect_rows(&view, &child) {
                self.check_fk_child(&only, &row, None).await?;
            }
        }
        Ok(())
    }

    /// The USING expressions' values per row (None when no column has one),
    /// computed by the query engine over the table as it is before the change.
    async fn using_values(&mut self, old: &TableDef, rewrites: &[Rewrite]) -> SqlResult<Option<HashMap<RowId, Vec<Value>>>> {
        if rewrites.iter().all(|r| r.using.is_none()) {
            return Ok(None);
        }
        let quote = super::dml::quote;
        let mut sql = format!("SELECT {}.\"__rowid\"", quote(&old.name));
        for r in rewrites {
            match &r.using {
                Some(e) => sql.push_str(&format!(", ({e})")),
                None => sql.push_str(&format!(", {}", quote(&old.columns[r.column].name))),
            }
        }
        sql.push_str(&format!(" FROM {}.{} AS {}", quote(&old.schema), quote(&format!("{}{ROWID_SUFFIX}", old.name)), quote(&old.name)));
        let mut out = HashMap::new();
        for mut r in Box::pin(self.general_rows(&sql, &[])).await? {
            let Some(rowid) = r[0].as_i64().map(|x| x as RowId) else { continue };
            r.remove(0);
            out.insert(rowid, r);
        }
        Ok(Some(out))
    }

    /// A per-row default (nextval) evaluated for one row, as a `ty` value.
    pub(super) fn default_value(&self, ex: &expr::Ex, ty: &DataType) -> SqlResult<Value> {
        let zone = self.env.zone();
        let env = self.env.clone();
        let mut next = move |n: &str| crate::sql::functions::FunctionEnv::nextval(env.as_ref(), n);
        let mut e = expr::Env { row: &[], params: &[], now: self.env.transaction_start_micros(), zone: &zone, nextval: &mut next };
        expr::assign(expr::eval_typed(ex, &mut e, Some(ty))?, ty, &zone)
    }
}

/// Types whose values the query engine hands over as text.
fn takes_text(ty: &DataType) -> bool {
    matches!(ty, DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Json | DataType::Jsonb | DataType::Uuid)
}

fn is_string_literal(e: Option<&Expr>) -> bool {
    use datafusion::sql::sqlparser::ast::Value as V;
    matches!(e, Some(Expr::Value(v)) if matches!(v.value, V::SingleQuotedString(_) | V::EscapedStringLiteral(_)))
}

/// Rows per insert batch while a rewrite fills the new storage.
const INSERT_CHUNK: usize = 8192;

/// A CHECK that a converted row fails, worded as PostgreSQL words it for
/// existing rows (the failing row is not shown).
fn violated_by_some_row(e: SqlError, def: &TableDef) -> SqlError {
    if e.code != "23514" {
        return e;
    }
    let name = def.checks.iter().find(|c| e.message.contains(&format!("\"{}\"", c.name))).map(|c| c.name.as_str()).unwrap_or("");
    SqlError::new("23514", format!("check constraint \"{name}\" of relation \"{}\" is violated by some row", def.name))
}

/// A USING result that the column's type cannot take, worded as PostgreSQL does.
fn using_mismatch(e: SqlError, column: &str, to: &DataType) -> SqlError {
    if e.code != "42804" {
        return e;
    }
    SqlError::new("42804", format!("result of USING clause for column \"{column}\" cannot be cast automatically to type {}", to.pg_name()))
        .with_hint("You might need to add an explicit cast.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_casts_follow_postgres() {
        use DataType as T;
        assert!(assignment_cast(&T::Int32, &T::Int64));
        assert!(assignment_cast(&T::Int64, &T::Int16), "narrowing is an assignment cast; values are range-checked");
        assert!(assignment_cast(&T::Numeric { precision: 10, scale: 2, typmod: true }, &T::Int32));
        assert!(assignment_cast(&T::Bool, &T::Text), "anything converts to a string type");
        assert!(assignment_cast(&T::Timestamp, &T::TimestampTz));
        assert!(!assignment_cast(&T::Text, &T::Int32), "text to integer needs USING");
        assert!(!assignment_cast(&T::Bool, &T::Int32));
        assert!(!assignment_cast(&T::Int32, &T::Bool));
        assert!(!assignment_cast(&T::Text, &T::Jsonb));
    }

    #[test]
    fn timestamps_convert_in_the_session_zone() {
        let zone = Zone::Fixed(3600);
        let local = 1_000_000_000_000i64;
        assert_eq!(cast_value(Value::Timestamp(local), &DataType::TimestampTz, &zone).unwrap(), Value::TimestampTz(local - 3_600_000_000));
        assert_eq!(cast_value(Value::TimestampTz(local), &DataType::Timestamp, &zone).unwrap(), Value::Timestamp(local + 3_600_000_000));
        assert_eq!(cast_value(Value::Int64(300), &DataType::Int16, &zone).unwrap(), Value::Int16(300));
        assert_eq!(cast_value(Value::Int64(40_000), &DataType::Int16, &zone).unwrap_err().code, "22003");
        assert_eq!(cast_value(Value::Text("abcd".into()), &DataType::Varchar(Some(3)), &zone).unwrap_err().code, "22001");
    }
}

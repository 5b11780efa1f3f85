//! Stored generated columns: `GENERATED ALWAYS AS (expr) STORED`.
//!
//! A generated column's value is computed from the row's other columns
//! whenever the row is written — INSERT, UPDATE, ON CONFLICT DO UPDATE, COPY,
//! a table rewrite — after defaults and SET values are in place and before
//! constraints are checked. It is then stored like any other value, so
//! indexes, the WAL, checkpoints and standbys see an ordinary column:
//!
//! ```text
//!   row: defaults, given values, SET values
//!     ──▶ each generated column: its expression over the other columns,
//!         assigned to the column's type
//!     ──▶ NOT NULL, CHECK, foreign keys ──▶ storage
//! ```
//!
//! Clients never write it (428C9 unless they say DEFAULT). An expression the
//! statement evaluator compiles (arithmetic, `||`, casts, coalesce) is
//! evaluated in place; any other (functions, CASE, json operators) is a query
//! planned once per statement, `SELECT (expr) FROM (SELECT $1::type AS col, …)
//! AS table`, and bound with each row's values, so it means what it means in
//! a SELECT. PostgreSQL's rules hold when the column is defined: the
//! expression reads only the row's ordinary columns (no other generated
//! column, no subquery) through immutable functions.

use std::ops::ControlFlow;

use datafusion::logical_expr::LogicalPlan;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::{Expr, visit_expressions};
use duetdb_storage::catalog::TableDef;
use duetdb_storage::{DataType, Value};

use super::Session;
use crate::error::{SqlError, SqlResult};
use crate::sql::{expr, names, parse, query};

/// How a statement computes a table's generated columns.
pub(super) struct Generator {
    /// Columns the statement evaluator computes: (column, expression).
    fast: Vec<(usize, expr::Ex)>,
    /// Columns the query engine computes, in the order of `plan`'s outputs,
    /// with the columns bound as its parameters ($1, $2, …).
    planned: Vec<usize>,
    plan: Option<LogicalPlan>,
    inputs: Vec<usize>,
}

/// Functions whose result is not fixed by their arguments: PostgreSQL
/// refuses them in a generation expression (they are not immutable).
const VOLATILE: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "clock_timestamp",
    "timeofday",
    "random",
    "gen_random_uuid",
    "uuid_generate_v4",
    "nextval",
    "currval",
    "lastval",
    "setval",
    "txid_current",
    "pg_current_wal_lsn",
    "current_setting",
];

/// Checks a generation expression against PostgreSQL's rules for column
/// `c` of `def` (which holds every column of the table being defined).
pub(super) fn check_expression(def: &TableDef, c: usize) -> SqlResult<()> {
    let text = def.columns[c].generated.as_deref().unwrap_or_default();
    let e = parse::stored_expr(text).ok_or_else(|| SqlError::syntax(format!("generation expression ({text}) does not parse")))?;
    let mut failure = None;
    let _ = visit_expressions(&e, |x| {
        let problem = match x {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => column_name(x).and_then(|n| column_problem(def, &n)),
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                Some(SqlError::new("0A000", "cannot use subquery in column generation expression"))
            }
            Expr::Function(f) if VOLATILE.contains(&names::last(&f.name).as_str()) => {
                Some(SqlError::new("42P17", "generation expression is not immutable"))
            }
            _ => None,
        };
        match problem {
            Some(p) => {
                failure = Some(p);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    });
    failure.map_or(Ok(()), Err)
}

/// The column a reference names (`a`, or `t.a`'s last part).
fn column_name(x: &Expr) -> Option<String> {
    match x {
        Expr::Identifier(i) => Some(names::ident(i)),
        Expr::CompoundIdentifier(parts) => parts.last().map(names::ident),
        _ => None,
    }
}

fn column_problem(def: &TableDef, name: &str) -> Option<SqlError> {
    match def.column_index(name) {
        None => Some(SqlError::new("42703", format!("column \"{name}\" does not exist"))),
        Some(c) if def.columns[c].generated.is_some() => Some(
            SqlError::new("42P17", format!("cannot use generated column \"{name}\" in column generation expression"))
                .with_detail("A generated column cannot reference another generated column."),
        ),
        Some(_) => None,
    }
}

/// The ordinary columns a generation expression reads (for DROP COLUMN's
/// dependency check and RENAME COLUMN's rewrite).
pub(super) fn referenced_columns(def: &TableDef, text: &str) -> Vec<usize> {
    let Some(e) = parse::stored_expr(text) else { return Vec::new() };
    let mut out = Vec::new();
    let _ = visit_expressions(&e, |x| {
        if let Some(c) = column_name(x).and_then(|n| def.column_index(&n))
            && !out.contains(&c)
        {
            out.push(c);
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// `text` with every reference to column `old` renamed to `new`.
pub(super) fn rename_column_in(text: &str, old: &str, new: &str) -> String {
    let Some(mut e) = parse::stored_expr(text) else { return text.to_string() };
    use datafusion::sql::sqlparser::ast::Ident;
    let ident = || if crate::sql::format::quote_ident(new) == new { Ident::new(new) } else { Ident::with_quote('"', new) };
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x| {
        if column_name(x).as_deref() == Some(old) {
            match x {
                Expr::Identifier(i) => *i = ident(),
                Expr::CompoundIdentifier(parts) => *parts.last_mut().unwrap() = ident(),
                _ => {}
            }
        }
        ControlFlow::<()>::Continue(())
    });
    e.to_string()
}

impl Session {
    /// The generator for `def`'s generated columns (None when it has none).
    /// Boxed, and a plain check first: tables without generated columns (the
    /// OLTP hot path) pay one scan of their column list and no future space.
    pub(super) async fn generator(&mut self, def: &TableDef) -> SqlResult<Option<Generator>> {
        if !def.columns.iter().any(|c| c.generated.is_some() && !c.dropped) {
            return Ok(None);
        }
        Box::pin(self.build_generator(def)).await
    }

    async fn build_generator(&mut self, def: &TableDef) -> SqlResult<Option<Generator>> {
        let generated: Vec<(usize, &str)> =
            def.columns.iter().enumerate().filter(|(_, c)| !c.dropped).filter_map(|(i, c)| Some((i, c.generated.as_deref()?))).collect();
        let resolve = |n: &str| def.column_index(n).filter(|&c| def.columns[c].generated.is_none());
        let mut g = Generator { fast: Vec::new(), planned: Vec::new(), plan: None, inputs: Vec::new() };
        let mut select = Vec::new();
        for (c, text) in generated {
            let e = parse::stored_expr(text).ok_or_else(|| SqlError::internal(format!("generation expression {text} does not parse")))?;
            match expr::compile(&e, Some(&resolve)).filter(|ex| !expr::operates_on_json(ex, &|k| is_json(&def.columns[k].ty))) {
                Some(ex) => g.fast.push((c, ex)),
                None => {
                    g.planned.push(c);
                    select.push(format!("({text})"));
                }
            }
        }
        if !select.is_empty() {
            let quote = crate::sql::format::quote_ident;
            let mut cols = Vec::new();
            for (c, col) in def.live_columns().filter(|(_, col)| col.generated.is_none()) {
                g.inputs.push(c);
                cols.push(format!("${}::{} AS {}", g.inputs.len(), col.ty.pg_name(), quote(&col.name)));
            }
            let sql = format!("SELECT {} FROM (SELECT {}) AS {}", select.join(", "), cols.join(", "), quote(&def.name));
            let piece = parse::Piece { text: sql, offset: 0 };
            let parse::Parsed::Sql(stmt) = parse::parse(&piece)? else {
                return Err(SqlError::internal("generation query did not parse"));
            };
            g.plan = Some(self.plan_sql(&stmt).await?);
        }
        Ok(Some(g))
    }

    /// Computes the generated columns of `row` (a full physical row of `def`).
    pub(super) async fn fill_generated(&mut self, g: &Generator, def: &TableDef, row: &mut [Value]) -> SqlResult<()> {
        Box::pin(self.fill_generated_boxed(g, def, row)).await
    }

    async fn fill_generated_boxed(&mut self, g: &Generator, def: &TableDef, row: &mut [Value]) -> SqlResult<()> {
        let zone = self.env.zone();
        for (c, ex) in &g.fast {
            let mut never = |_: &str| -> SqlResult<i64> { Err(SqlError::new("42P17", "generation expression is not immutable")) };
            let mut env = expr::Env { row, params: &[], now: self.env.transaction_start_micros(), zone: &zone, nextval: &mut never };
            let v = expr::eval_typed(ex, &mut env, Some(&def.columns[*c].ty))?;
            row[*c] = expr::assign_column(v, &def.columns[*c], &zone)?;
        }
        if let Some(plan) = &g.plan {
            let params: Vec<ScalarValue> =
                g.inputs.iter().map(|&c| crate::sql::provider::value_to_scalar(&row[c], &def.columns[c].ty)).collect();
            let bound = query::bind(plan, &params)?;
            let stream = query::execute(&self.df, &bound).await?;
            let mut rs = super::output::RowStream::from_stream(vec![], stream, super::output::Tag::Select);
            let batches = rs.collect_batches().await?;
            let batch = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| SqlError::internal("generation query gave no row"))?;
            for (k, &c) in g.planned.iter().enumerate() {
                let s = ScalarValue::try_from_array(batch.column(k), 0)?;
                let v = crate::sql::provider::scalar_to_value(&s).ok_or_else(|| {
                    SqlError::new(
                        "42804",
                        format!("generation expression of column \"{}\" has type {}", def.columns[c].name, s.data_type()),
                    )
                })?;
                row[c] = expr::assign_column(v, &def.columns[c], &zone)?;
            }
        }
        Ok(())
    }
}

fn is_json(ty: &DataType) -> bool {
    matches!(ty, DataType::Json | DataType::Jsonb)
}

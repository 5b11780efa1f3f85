//! The simple-query statement cache: plans for statements sent with their
//! values inline, reused across values.
//!
//! ```text
//!   "UPDATE t SET a = a + -5 WHERE id = 7"
//!     │ normalize (sql::normalize)
//!     ▼
//!   key "UPDATE t SET a = a + $1 WHERE id = $2", literals ["-5", "7"]
//!     │ cache: first sight   → remember the key, parse the text as usual
//!     │        second sight  → parse the key once, plan it; keep the plan if it
//!     │                        runs wholly on the fast path, else remember "no"
//!     │        later         → decode the literals as the plan's parameters, run
//!     ▼
//!   Session::run(template, params)   (as if the client had sent Parse/Bind)
//! ```
//!
//! Only plans that the row store runs without DataFusion qualify (INSERT …
//! VALUES, UPDATE / DELETE / SELECT by a unique key, no RETURNING, no ON
//! CONFLICT): their parameters all get a type from a column or a cast, and a
//! constant bound to such a parameter means what the constant means inline.
//! That last point is checked per execution, and any doubt falls back to
//! parsing the text as written:
//!
//! - a quoted string is PostgreSQL's `unknown`, resolved by its use exactly as
//!   an untyped parameter is, so it may fill any parameter;
//! - a number may fill only an integer or numeric parameter (an integer only
//!   an integer one), and only if it fits — `smallint_col = 70000` or
//!   `int_col = 1.5` go the long way and get PostgreSQL's answer there.
//!
//! A plan is made against one catalog. When the catalog has changed since, the
//! executor refuses the template before touching a row (`STALE_TEMPLATE`),
//! the entry is dropped and the text is parsed afresh. The cache is bounded:
//! when full it starts over.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType as A;
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::Statement;
use parking_lot::Mutex;

use super::Session;
use super::execute::{CachedPlan, Prepared, Stmt};
use super::output::Outcome;
use crate::error::{STALE_TEMPLATE, SqlResult};
use crate::pg::decode;
use crate::pg::encode::Format;
use crate::pg::oid;
use crate::sql::dmlplan::{self, DmlPlan, Filter, InsertSource};
use crate::sql::normalize::{self, Literal};
use crate::sql::parse::{self, Parsed, Piece};

/// Distinct statement shapes a session remembers.
const CAPACITY: usize = 256;

enum Entry {
    /// Seen once: not worth planning yet (most one-off statements stop here).
    Seen,
    /// Does not run on the fast path: parse it as written.
    Ineligible,
    Ready(Arc<Prepared>),
}

#[derive(Default)]
pub struct TemplateCache {
    entries: HashMap<String, Entry, ahash::RandomState>,
}

impl TemplateCache {
    fn insert(&mut self, key: String, entry: Entry) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&key) {
            self.entries.clear();
        }
        self.entries.insert(key, entry);
    }
}

impl Session {
    /// Runs a simple-query statement from its cached template; None when it
    /// must be parsed as written.
    pub(super) async fn run_template(&mut self, text: &str) -> Option<SqlResult<Outcome>> {
        if self.txn.failed || !leads_with_dml(text) || self.server().is_standby() {
            return None;
        }
        let norm = normalize::normalize(text)?;
        let template = match self.templates.entries.get(&norm.key) {
            Some(Entry::Ready(p)) => p.clone(),
            Some(Entry::Ineligible) => return None,
            Some(Entry::Seen) => {
                let built = self.build_template(&norm.key, norm.literals.len());
                let entry = built.clone().map_or(Entry::Ineligible, Entry::Ready);
                self.templates.insert(norm.key.clone(), entry);
                built?
            }
            None => {
                self.templates.insert(norm.key, Entry::Seen);
                return None;
            }
        };
        let params = self.bind_literals(&template, &norm.literals)?;
        match self.run(&template.stmt, text, &params, Some(&template)).await {
            Err(e) if e.code == STALE_TEMPLATE => {
                self.templates.entries.remove(&norm.key);
                None
            }
            result => {
                self.server().metrics.templated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(result)
            }
        }
    }

    /// Parses and plans a normalised statement; None unless the plan runs
    /// wholly on the fast path with every parameter typed.
    fn build_template(&mut self, key: &str, literals: usize) -> Option<Arc<Prepared>> {
        let Ok(Parsed::Sql(stmt)) = parse::parse(&Piece { text: key.to_string(), offset: 0 }) else {
            return None;
        };
        let catalog = self.env.catalog_now();
        let plan = match stmt.as_ref() {
            Statement::Query(q) if !crate::sql::query::locking(q) => dmlplan::plan_select(&stmt, &catalog)?,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => dmlplan::plan(&stmt, &catalog).ok()?,
            _ => return None,
        };
        if !fast_path_only(&plan) {
            return None;
        }
        let hints = plan.param_types();
        if hints.len() != literals || hints.iter().any(Option::is_none) {
            return None;
        }
        let param_types = hints.iter().map(|h| crate::sql::query::param_oid(h.as_ref().unwrap())).collect();
        Some(Arc::new(Prepared {
            name: String::new(),
            sql: key.to_string(),
            stmt: Stmt::Sql(stmt),
            param_types,
            param_hints: hints,
            fields: None,
            plan: Mutex::new(Some(CachedPlan::Dml { plan: Arc::new(plan), catalog: Arc::as_ptr(&catalog) as usize })),
            from_sql: false,
            template: true,
            created: crate::pg::datetime::now_micros(),
        }))
    }

    /// The literals as the template's parameters, or None where a literal
    /// would not mean the same as a parameter (see the module comment).
    fn bind_literals(&self, template: &Prepared, literals: &[Literal<'_>]) -> Option<Vec<ScalarValue>> {
        let temporal = template.param_hints.iter().flatten().any(|h| matches!(h, A::Date32 | A::Timestamp(..) | A::Time64(_)));
        let zone = if temporal { self.env.zone() } else { crate::pg::datetime::Zone::Utc };
        let mut out = Vec::with_capacity(literals.len());
        for ((lit, &ty), hint) in literals.iter().zip(&template.param_types).zip(&template.param_hints) {
            if let Literal::Number(_) = lit {
                let integer_param = matches!(ty, oid::INT2 | oid::INT4 | oid::INT8);
                if !(ty == oid::NUMERIC || (integer_param && lit.is_integer())) {
                    return None;
                }
            }
            out.push(decode::decode_param(Some(lit.text().as_bytes()), Format::Text, ty, hint.as_ref(), &zone).ok()?);
        }
        Some(out)
    }
}

/// Only statements that can have a fast plan are worth normalising.
fn leads_with_dml(text: &str) -> bool {
    let first = text.as_bytes().iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let word = &text[..first];
    ["select", "insert", "update", "delete"].iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// A plan the row store runs without DataFusion and without result columns
/// computed from expressions.
fn fast_path_only(plan: &DmlPlan) -> bool {
    match plan {
        DmlPlan::Insert { source: InsertSource::Values(_), on_conflict: None, returning: None, .. } => true,
        DmlPlan::Update { sets: Some(_), filter: Filter::Key { .. }, from, returning: None, .. } => from.is_empty(),
        DmlPlan::Delete { filter: Filter::Key { .. }, using, returning: None, .. } => using.is_empty(),
        DmlPlan::Select { filter: Filter::Key { .. }, .. } => true,
        _ => false,
    }
}

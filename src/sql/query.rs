//! Queries through DataFusion: the per-session context, planning, binding
//! parameters, and describing results in PostgreSQL terms.
//!
//! Plans are made from our rewritten sqlparser AST, so DataFusion never sees
//! PostgreSQL-only syntax. A planned statement keeps its logical plan (with
//! `$n` placeholders) for reuse: executing a prepared statement binds values
//! into the cached plan and skips parsing and SQL-to-plan translation; the plan
//! is rebuilt only when the catalog changed since it was made.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType as A, Field};
use datafusion::common::{DFSchema, ParamValues, ScalarValue};
use datafusion::execution::SessionStateDefaults;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::physical_plan::operator_statistics::StatisticsRegistry;
use datafusion::physical_plan::{SendableRecordBatchStream, execute_stream};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement, TableAlias, TableFactor, VisitMut, VisitorMut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use duetdb_storage::Catalog;

use crate::error::{SqlError, SqlResult};
use crate::pg::encode::{Format, META_ATTNUM, META_TABLE, NumericDisplay, wire_type};
use crate::pg::oid::PgType;
use crate::sql::names;
use crate::sql::provider::{CatalogList, ViewSlot};

/// One result column as RowDescription shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldInfo {
    pub name: String,
    pub ty: PgType,
    pub table_oid: u32,
    pub attnum: i16,
    pub format: Format,
    /// How a numeric column's values are shown (see [`NumericDisplay`]).
    pub numeric: NumericDisplay,
}

impl FieldInfo {
    pub fn new(name: impl Into<String>, ty: PgType) -> FieldInfo {
        FieldInfo { name: name.into(), ty, table_oid: 0, attnum: 0, format: Format::Text, numeric: NumericDisplay::Column }
    }

    pub fn of_field(f: &Field) -> FieldInfo {
        let md = f.metadata();
        FieldInfo {
            name: crate::sql::colnames::visible(f.name()).to_string(),
            ty: wire_type(f),
            table_oid: md.get(META_TABLE).and_then(|v| v.parse().ok()).unwrap_or(0),
            attnum: md.get(META_ATTNUM).and_then(|v| v.parse().ok()).unwrap_or(0),
            format: Format::Text,
            numeric: NumericDisplay::of_field(f),
        }
    }
}

pub fn fields_of(schema: &DFSchema) -> Vec<FieldInfo> {
    schema.fields().iter().map(|f| FieldInfo::of_field(f)).collect()
}

/// The columns `plan` produces when run: its parameters given the types of
/// `param_oids` (as NULLs of those types; a placeholder's type is otherwise
/// unknown to the planner) and its expressions typed by the analyzer rules,
/// which change result types (`date + interval` becomes a timestamp).
pub fn describe(ctx: &SessionContext, plan: &LogicalPlan, param_oids: &[u32]) -> SqlResult<Vec<FieldInfo>> {
    let bound = if param_oids.is_empty() {
        plan.clone()
    } else {
        let nulls: Vec<ScalarValue> = param_oids
            .iter()
            .map(|&o| crate::pg::decode::arrow_type_for_oid(o).and_then(|t| ScalarValue::try_from(&t).ok()).unwrap_or(ScalarValue::Null))
            .collect();
        plan.clone().with_param_values(ParamValues::List(nulls.into_iter().map(Into::into).collect()))?
    };
    let state = ctx.state();
    let analyzed = state.analyzer().execute_and_check(bound, state.config_options(), |_, _| {})?;
    Ok(fields_of(analyzed.schema()))
}

/// The CPU cores this process may use (read once: it looks at cgroup files).
/// A query runs one partition per core, DataFusion's own default.
pub fn cpu_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// A session's DataFusion context, resolving names through `slot`.
pub fn new_context(database: &str, slot: Arc<ViewSlot>, partitions: usize) -> SessionContext {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(database, "public")
        .with_information_schema(false)
        .with_target_partitions(partitions.max(1))
        .with_batch_size(8192)
        .set_str("datafusion.sql_parser.dialect", "PostgreSQL")
        // `x::timestamptz` casts to a zoned timestamp (instants in UTC, shown
        // in the session's TimeZone); with no zone DataFusion made it a
        // timestamp without time zone.
        .set_str("datafusion.execution.time_zone", "UTC")
        .set_bool("datafusion.sql_parser.enable_ident_normalization", true)
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
        .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.optimizer.prefer_existing_sort", true)
        .set_bool("datafusion.optimizer.skip_failed_rules", false)
        // Statistics walk through providers: a standby's filters are
        // estimated from a sample of their rows (see the registry below).
        .set_bool("datafusion.optimizer.use_statistics_registry", true);
    let mut statistics = StatisticsRegistry::default_with_builtin_providers();
    statistics.register(Arc::new(duetdb_replication::sampled_selectivity::SampledFilterSelectivity));
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        // Ours first: an untyped literal must be typed before DataFusion's
        // planners build (and type-check) the operator.
        .with_expr_planners(
            [
                Arc::new(crate::sql::json_operators::JsonOperators) as Arc<dyn ExprPlanner>,
                Arc::new(crate::sql::unknown_literals::UnknownLiterals),
            ]
            .into_iter()
            .chain(SessionStateDefaults::default_expr_planners())
            .collect(),
        )
        .with_catalog_list(Arc::new(CatalogList::new(database, slot)))
        // Rules that retype an expression run before type coercion; the
        // others after it, on the coerced types.
        .with_analyzer_rules(vec![
            Arc::new(datafusion::optimizer::analyzer::resolve_grouping_function::ResolveGroupingFunction::new()),
            Arc::new(crate::sql::datetime_arith::DatetimeArithmetic),
            Arc::new(crate::sql::text_casts::TextCasts),
            Arc::new(datafusion::optimizer::analyzer::type_coercion::TypeCoercion::new()),
        ])
        .with_analyzer_rule(Arc::new(crate::sql::checked_arith::CheckedIntegerArithmetic))
        .with_analyzer_rule(Arc::new(crate::sql::int_casts::RoundingIntegerCasts))
        .with_analyzer_rule(Arc::new(crate::sql::numeric_division::NumericDivision))
        .with_analyzer_rule(Arc::new(crate::sql::numeric_rounding::NumericRoundingScale))
        .with_analyzer_rule(Arc::new(crate::sql::numeric_text::NumericText))
        .with_analyzer_rule(Arc::new(crate::sql::text_input::TextInput))
        .with_analyzer_rule(Arc::new(crate::sql::uuid_literals::UuidLiterals))
        .with_analyzer_rule(Arc::new(crate::sql::lsn_text::LsnToText))
        .with_analyzer_rule(Arc::new(crate::sql::case_type::CaseKeepsType))
        .with_optimizer_rule(Arc::new(crate::sql::date_comparison::DateTimestampComparison))
        .with_statistics_registry(statistics)
        .build();
    SessionContext::new_with_state(state)
}

/// Plans a statement (a query, or a statement DataFusion plans such as EXPLAIN).
pub async fn plan(ctx: &SessionContext, stmt: &Statement) -> SqlResult<LogicalPlan> {
    let state = ctx.state();
    // Boxed, as is `create_physical_plan` below: DataFusion's futures run to
    // kilobytes, and inline they would swell every future that can reach
    // them — the whole statement path, which is copied per statement.
    Ok(Box::pin(state.statement_to_plan(DfStatement::Statement(Box::new(stmt.clone())))).await?)
}

/// The hint a uuid parameter gets. Hints are Arrow types, and uuid values
/// travel through the engine as text, which would describe the parameter to
/// the client as text (tokio-postgres then refuses a `Uuid`); Arrow's own
/// uuid type — the `arrow.uuid` extension's storage, FixedSizeBinary(16) —
/// marks it instead. `param_oid` reads it as uuid; the value still binds as
/// canonical text (`pg::decode`).
pub const UUID_HINT: A = A::FixedSizeBinary(16);

/// The hints of a json and a jsonb parameter. Their values are text here,
/// as the columns are, but they are described as json and jsonb (a driver
/// encodes its JSON values by the described type; jsonb's binary form has a
/// version byte). Arrow's large types stand for them: nothing a plan infers
/// for a placeholder has them.
pub const JSON_HINT: A = A::LargeUtf8;
pub const JSONB_HINT: A = A::LargeBinary;

/// The PostgreSQL type a parameter with hint `hint` is described as.
pub fn param_oid(hint: &A) -> u32 {
    use crate::pg::oid;
    match hint {
        h if *h == UUID_HINT => oid::UUID,
        h if *h == JSON_HINT => oid::JSON,
        h if *h == JSONB_HINT => oid::JSONB,
        A::List(element) if *element.data_type() == UUID_HINT => oid::array_of(oid::UUID).expect("uuid[] exists"),
        h => crate::pg::encode::arrow_wire_type(h).oid,
    }
}

/// The hint for a parameter that takes a value of column type `ty`.
pub fn column_param_hint(ty: &duetdb_storage::DataType) -> A {
    match ty {
        duetdb_storage::DataType::Uuid => UUID_HINT,
        duetdb_storage::DataType::Json => JSON_HINT,
        duetdb_storage::DataType::Jsonb => JSONB_HINT,
        ty => duetdb_storage::arrow_conv::arrow_type(ty),
    }
}

/// The hint for a parameter that takes a value like `f` (a column, an
/// expression): its Arrow type, or the marker of a uuid, json or jsonb.
fn field_param_hint(f: &Field) -> A {
    match crate::pg::encode::tagged_oid(f) {
        Some(crate::pg::oid::UUID) => UUID_HINT,
        Some(crate::pg::oid::JSON) => JSON_HINT,
        Some(crate::pg::oid::JSONB) => JSONB_HINT,
        _ => f.data_type().clone(),
    }
}

/// Placeholder types the planner inferred, by position ($1 → index 0). A
/// placeholder compared with a uuid gets the uuid hint; one compared with a
/// cast to text, text (the planner typed it by the tag the cast inherited,
/// see `text_casts`).
pub fn param_types(plan: &LogicalPlan) -> SqlResult<Vec<Option<A>>> {
    let mut out: Vec<Option<A>> = Vec::new();
    let text = crate::sql::text_casts::text_cast_param_types(plan);
    for (name, field) in plan.get_parameter_fields()? {
        if let Some(i) = placeholder_index(&name) {
            let hint = match text.iter().find(|(j, _)| *j == i) {
                Some((_, t)) => Some(t.clone()),
                None => field.map(|f| field_param_hint(&f)),
            };
            note_param_type(&mut out, i, hint);
        }
    }
    for (i, t) in quantified_comparison_param_types(plan) {
        note_param_type(&mut out, i, Some(t));
    }
    Ok(out)
}

/// The columns a plan node's expressions read: its inputs', merged.
pub fn inputs_schema(node: &LogicalPlan) -> DFSchema {
    let mut schema = DFSchema::empty();
    for input in node.inputs() {
        schema.merge(input.schema());
    }
    schema
}

/// `$n`'s position among the parameters ($1 → 0); None for other names.
pub fn placeholder_index(id: &str) -> Option<usize> {
    id.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)
}

/// Records that parameter `i` exists and, unless it already has one, its
/// type: the first source to type a parameter wins.
fn note_param_type(out: &mut Vec<Option<A>>, i: usize, t: Option<A>) {
    if out.len() <= i {
        out.resize(i + 1, None);
    }
    if let Some(t) = t {
        out[i].get_or_insert(t);
    }
}

/// `x op ANY($n)` and `x op ALL($n)`: PostgreSQL types $n as an array of
/// x's type (`id = ANY($1)` over an integer id takes an int4[]), and drivers
/// send lists that way. DataFusion plans them over the array — `array_has($n,
/// x)`, `array_min($n) < x`, … — and leaves $n untyped, which would make it
/// text; and `$n = ANY(array)` leaves $n untyped where PostgreSQL gives it
/// the element type. By position ($1 → 0), each with its type.
fn quantified_comparison_param_types(plan: &LogicalPlan) -> Vec<(usize, A)> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{Expr, ExprSchemable};
    let untyped = |e: &Expr| match e {
        Expr::Placeholder(p) if p.field.is_none() => placeholder_index(&p.id),
        _ => None,
    };
    // `$n` as the array argument of `array_min` / `array_max`.
    let bound_of = |e: &Expr| match e {
        Expr::ScalarFunction(f) if matches!(f.name(), "array_min" | "array_max") => f.args.first().and_then(untyped),
        _ => None,
    };
    let mut found = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        let schema = inputs_schema(node);
        // A uuid's hint is UUID_HINT, so `id = ANY($1)` takes a uuid[].
        let typed = |e: &Expr| e.to_field(&schema).ok().map(|(_, f)| field_param_hint(&f)).filter(|t| *t != A::Null);
        node.apply_expressions(|e| {
            e.apply(|x| {
                match x {
                    Expr::ScalarFunction(f) if f.name() == "array_has" && f.args.len() == 2 => {
                        let (array, item) = (&f.args[0], &f.args[1]);
                        if let (Some(i), Some(t)) = (untyped(array), typed(item)) {
                            found.push((i, A::new_list(t, true)));
                        }
                        if let (Some(i), Some(A::List(element))) = (untyped(item), typed(array))
                            && element.data_type() != &A::Null
                        {
                            found.push((i, element.data_type().clone()));
                        }
                    }
                    Expr::BinaryExpr(b) => {
                        for (bound, other) in [(&b.left, &b.right), (&b.right, &b.left)] {
                            if let (Some(i), Some(t)) = (bound_of(bound), typed(other)) {
                                found.push((i, A::new_list(t, true)));
                            }
                        }
                    }
                    _ => {}
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// Types that `$n::type` casts give parameters ($1 → index 0), as PostgreSQL
/// infers them; DataFusion infers placeholder types only from comparisons.
pub fn cast_param_types(stmt: &Statement) -> Vec<Option<A>> {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value, ValueWithSpan};
    let arrow = |t: &datafusion::sql::sqlparser::ast::DataType| match t {
        // Not a column type of the row store, but a parameter type clients send.
        datafusion::sql::sqlparser::ast::DataType::Interval { .. } => {
            Some(A::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano))
        }
        t => crate::sql::expr::sql_type(t).map(|t| column_param_hint(&t)),
    };
    let mut out: Vec<Option<A>> = Vec::new();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(stmt, |e| {
        let (inner, ty) = match e {
            Expr::Cast { expr, data_type, .. } => (expr.as_ref(), arrow(data_type)),
            // `$1::uuid` became pg_uuid($1) in the rewrite.
            Expr::Function(f) if crate::sql::names::last(&f.name) == "pg_uuid" => {
                let FunctionArguments::List(l) = &f.args else { return ControlFlow::<()>::Continue(()) };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] = l.args.as_slice() else { return ControlFlow::<()>::Continue(()) };
                (x, Some(UUID_HINT))
            }
            // `$1::int[]` became pg_array_in($1, 'INT') in the rewrite.
            Expr::Function(f) if crate::sql::names::last(&f.name) == "pg_array_in" => {
                let FunctionArguments::List(l) = &f.args else { return ControlFlow::<()>::Continue(()) };
                let [
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)),
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(ValueWithSpan {
                        value: Value::SingleQuotedString(elem), ..
                    }))),
                ] = l.args.as_slice()
                else {
                    return ControlFlow::<()>::Continue(());
                };
                let elem = Parser::new(&PostgreSqlDialect {}).try_with_sql(elem).ok().and_then(|mut p| p.parse_data_type().ok());
                (x, elem.as_ref().and_then(arrow).map(|t| A::new_list(t, true)))
            }
            _ => return ControlFlow::<()>::Continue(()),
        };
        if let (Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }), Some(ty)) = (inner, ty)
            && let Some(i) = placeholder_index(p)
        {
            note_param_type(&mut out, i, Some(ty));
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// Wraps each placeholder declared an interval in a cast to interval.
/// DataFusion gives an untyped placeholder the type of the other operand
/// (`ts + $1` makes $1 a timestamp), so an interval parameter — what psycopg
/// sends for a timedelta — failed to plan (`Date32 + Date32`).
pub fn cast_declared_intervals(stmt: &mut Statement, declared: &[u32]) {
    use datafusion::sql::sqlparser::ast::{CastKind, DataType as SqlType, Expr, Value, ValueWithSpan, visit_expressions_mut};
    let interval = crate::pg::oid::INTERVAL;
    if !declared.contains(&interval) {
        return;
    }
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) = e
            && let Some(i) = placeholder_index(p)
            && declared.get(i) == Some(&interval)
        {
            let placeholder = std::mem::replace(e, Expr::value(Value::Null));
            *e = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(placeholder),
                data_type: SqlType::Interval { fields: None, precision: None },
                array: false,
                format: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Binds parameter values into a plan with placeholders.
pub fn bind(plan: &LogicalPlan, params: &[ScalarValue]) -> SqlResult<LogicalPlan> {
    if params.is_empty() {
        return Ok(plan.clone());
    }
    let values = ParamValues::List(params.iter().cloned().map(Into::into).collect());
    Ok(plan.clone().with_param_values(values)?)
}

/// Optimizes, plans physically and starts executing. On a connection
/// thread (`connection_threads`) the execution runs on the shared query
/// pool and its batches come back over a small channel: a long scan, join
/// or aggregate runs there, partitions in parallel, and does not hold up
/// the other sessions of the thread.
pub async fn execute(ctx: &SessionContext, plan: &LogicalPlan) -> SqlResult<SendableRecordBatchStream> {
    let state = ctx.state();
    let physical = Box::pin(state.create_physical_plan(plan)).await?;
    match QUERY_POOL.get() {
        Some(pool) if crate::connection_threads::on_connection_thread() => Ok(pooled::execute(pool, physical, ctx.task_ctx())),
        _ => Ok(execute_stream(physical, ctx.task_ctx())?),
    }
}

/// The multi-threaded runtime that connection threads run queries on.
static QUERY_POOL: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();

/// Names the runtime queries run on (the first call wins: one per process).
pub fn set_query_pool(pool: tokio::runtime::Handle) {
    let _ = QUERY_POOL.set(pool);
}

/// A plan executed on the query pool, its stream read from another runtime.
mod pooled {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll};

    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::common::{DataFusionError, Result};
    use datafusion::execution::TaskContext;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream};
    use futures::{Stream, StreamExt};

    /// Batches in flight between the pool and the session: enough to keep
    /// both sides busy, bounded so a slow client holds few.
    const IN_FLIGHT: usize = 2;

    pub fn execute(pool: &tokio::runtime::Handle, plan: Arc<dyn ExecutionPlan>, task: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = plan.schema();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(IN_FLIGHT);
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        // Started inside the pool, so the tasks DataFusion spawns for its
        // partitions run there too.
        let producer = pool.spawn(async move {
            let mut stream = match execute_stream(plan, task) {
                Ok(s) => s,
                Err(e) => {
                    done.store(true, Ordering::Release);
                    return drop(tx.send(Err(e)).await);
                }
            };
            while let Some(batch) = stream.next().await {
                // An error ends the result as the last thing sent.
                let failed = batch.is_err();
                if failed {
                    done.store(true, Ordering::Release);
                }
                if tx.send(batch).await.is_err() || failed {
                    return;
                }
            }
            done.store(true, Ordering::Release);
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, Batches { rx, finished, producer: producer.abort_handle() }))
    }

    /// The session's end: dropping it (a cancel, an error, a portal closed
    /// early) stops the execution.
    struct Batches {
        rx: tokio::sync::mpsc::Receiver<Result<RecordBatch>>,
        /// Set once every batch was sent: a channel closed before that is
        /// an execution that died (a panic), not the end of the result.
        finished: Arc<AtomicBool>,
        producer: tokio::task::AbortHandle,
    }

    impl Stream for Batches {
        type Item = Result<RecordBatch>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            match self.rx.poll_recv(cx) {
                Poll::Ready(None) if !self.finished.load(Ordering::Acquire) => {
                    self.finished.store(true, Ordering::Release);
                    Poll::Ready(Some(Err(DataFusionError::Execution("query execution ended without its result".into()))))
                }
                other => other,
            }
        }
    }

    impl Drop for Batches {
        fn drop(&mut self) {
            self.producer.abort();
        }
    }
}

/// Replaces references to views with their defining queries, recursively
/// (a view is stored as SQL text and planned where it is used).
pub fn expand_views(stmt: &mut Statement, catalog: &Catalog) -> SqlResult<()> {
    if catalog.views.is_empty() {
        return Ok(());
    }
    struct Expander<'a> {
        catalog: &'a Catalog,
        depth: usize,
        error: Option<SqlError>,
    }
    impl VisitorMut for Expander<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table { name, alias, args: None, .. } = t else { return ControlFlow::Continue(()) };
            let Ok((schema, rel)) = names::qualified(name) else { return ControlFlow::Continue(()) };
            let Some(view) = self.catalog.view_by_name(&schema, &rel) else { return ControlFlow::Continue(()) };
            if self.depth > 32 {
                self.error = Some(SqlError::new("54001", "views nested too deeply"));
                return ControlFlow::Break(());
            }
            let mut sub = match Parser::parse_sql(&PostgreSqlDialect {}, &view.sql) {
                Ok(mut v) if v.len() == 1 => v.pop().unwrap(),
                _ => {
                    self.error = Some(SqlError::internal(format!("stored definition of view \"{rel}\" does not parse")));
                    return ControlFlow::Break(());
                }
            };
            crate::sql::colnames::name_outputs(&mut sub);
            crate::sql::parse::rewrite(&mut sub);
            let Statement::Query(query) = sub else { return ControlFlow::Continue(()) };
            let mut query: Box<Query> = query;
            self.depth += 1;
            let _ = query.visit(self);
            self.depth -= 1;
            let alias = alias.clone().unwrap_or(TableAlias {
                explicit: true,
                name: datafusion::sql::sqlparser::ast::Ident::new(rel.clone()),
                columns: vec![],
                at: None,
            });
            *t = TableFactor::Derived { lateral: false, subquery: query, alias: Some(alias), sample: None };
            ControlFlow::Continue(())
        }
    }
    let mut e = Expander { catalog, depth: 0, error: None };
    let _ = stmt.visit(&mut e);
    match e.error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// True if the statement reads pg_catalog / information_schema relations
/// (those queries get the catalog-query rewrites).
pub fn touches_system_catalog(stmt: &Statement) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_relations(stmt, |r| {
        let p = names::parts(r);
        if p.first().is_some_and(|s| s == "pg_catalog" || s == "information_schema")
            || (p.len() == 1 && crate::sql::system::TABLES.iter().any(|t| t.name == p[0]))
        {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Is this a plain `SELECT …` (or VALUES / set operation) that returns rows?
pub fn is_query(stmt: &Statement) -> bool {
    matches!(stmt, Statement::Query(_))
}

/// A query's locking clause (`FOR UPDATE` / `FOR SHARE`), if any.
pub fn locking(q: &Query) -> bool {
    !q.locks.is_empty()
}

/// Strips `FOR UPDATE/SHARE` so DataFusion can plan the query (the caller locks the rows).
pub fn without_locks(q: &Query) -> Query {
    let mut q = q.clone();
    q.locks.clear();
    q
}

/// The single base table of a simple `SELECT … FROM t [WHERE …]`, for FOR UPDATE.
pub fn single_table(q: &Query) -> Option<(String, String, Option<String>)> {
    let SetExpr::Select(s) = q.body.as_ref() else { return None };
    if s.from.len() != 1 || !s.from[0].joins.is_empty() {
        return None;
    }
    let TableFactor::Table { name, alias, .. } = &s.from[0].relation else { return None };
    let (schema, table) = names::qualified(name).ok()?;
    Some((schema, table, alias.as_ref().map(|a| names::ident(&a.name))))
}

/// Result field metadata keyed by name, used when re-describing a plan.
pub fn metadata(f: &Field) -> HashMap<String, String> {
    f.metadata().clone()
}

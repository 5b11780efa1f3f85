//! A CASE result keeps the PostgreSQL type its branches agree on.
//!
//! Types DataFusion has no Arrow type for (json, jsonb, oid-like tags) ride
//! as field metadata on a plain Arrow type (see `pg::encode::META_OID`).
//! DataFusion drops that metadata at a CASE, so
//!
//! ```text
//!   CASE WHEN … THEN json_build_object(…) ELSE NULL END
//! ```
//!
//! went out as `text`, where PostgreSQL says `json` — and drivers decode by
//! type: psycopg handed SQLAlchemy's identity reflection a string instead of
//! a dict. This analyzer rule gives a projected CASE the tag that all its
//! non-NULL branches carry, as an alias with metadata (the one place
//! DataFusion lets a plan set it). Branches that disagree, or carry no tag,
//! leave the CASE as it was.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::expr::{Alias, Case};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Projection};
use datafusion::optimizer::AnalyzerRule;

use crate::pg::encode::META_OID;

#[derive(Debug, Default)]
pub struct CaseKeepsType;

impl AnalyzerRule for CaseKeepsType {
    fn name(&self) -> &str {
        "case_keeps_pg_type"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        // Once a projection changed, the nodes above it (a sort, a limit)
        // recompute the schema they cached from it.
        let changed = std::cell::Cell::new(false);
        Ok(plan
            .transform_up_with_subqueries(|node| {
                let node = match node {
                    LogicalPlan::Projection(p) => {
                        let schema = Arc::clone(p.input.schema());
                        let exprs: Vec<Expr> = p.expr.iter().map(|e| tagged(e, &schema).unwrap_or_else(|| e.clone())).collect();
                        if exprs == p.expr {
                            LogicalPlan::Projection(p)
                        } else {
                            changed.set(true);
                            return Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(exprs, p.input)?)));
                        }
                    }
                    other => other,
                };
                if changed.get() { Ok(Transformed::yes(node.recompute_schema()?)) } else { Ok(Transformed::no(node)) }
            })?
            .data)
    }
}

/// `e` (a CASE, perhaps aliased) re-aliased with its branches' common tag.
fn tagged(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let (case, relation, name) = match e {
        Expr::Alias(Alias { expr, relation, name, metadata: None }) => (expr.as_ref(), relation.clone(), name.clone()),
        Expr::Case(_) => (e, None, e.schema_name().to_string()),
        _ => return None,
    };
    if !matches!(case, Expr::Case(_)) {
        return None;
    }
    let (_, field) = case.to_field(schema).ok()?;
    if field.metadata().contains_key(META_OID) {
        return None;
    }
    let Tag::Oid(oid) = tag(case, schema) else { return None };
    let metadata = FieldMetadata::from(std::collections::HashMap::from([(META_OID.to_string(), oid)]));
    Some(case.clone().alias_qualified_with_metadata(relation, name, Some(metadata)))
}

/// What a CASE branch says about the result's type.
#[derive(PartialEq)]
enum Tag {
    /// NULL: nothing (it takes the others' type).
    Null,
    Oid(String),
    /// No tag, or branches that disagree.
    Plain,
}

fn tag(e: &Expr, schema: &DFSchema) -> Tag {
    if is_null(e) {
        return Tag::Null;
    }
    // A CASE among the branches (planners nest them): its branches' tag.
    if let Expr::Case(Case { when_then_expr, else_expr, .. }) = e {
        let mut common = Tag::Null;
        for b in when_then_expr.iter().map(|(_, then)| then.as_ref()).chain(else_expr.as_deref()) {
            match (tag(b, schema), &common) {
                (Tag::Null, _) => {}
                (t, Tag::Null) => common = t,
                (t, c) if t == *c => {}
                _ => return Tag::Plain,
            }
        }
        return common;
    }
    match e.to_field(schema) {
        Ok((_, f)) => f.metadata().get(META_OID).map_or(Tag::Plain, |o| Tag::Oid(o.clone())),
        Err(_) => Tag::Plain,
    }
}

/// NULL, or NULL cast to the CASE's type by type coercion.
fn is_null(e: &Expr) -> bool {
    match e {
        Expr::Literal(v, _) => v.is_null(),
        Expr::Cast(c) => is_null(&c.expr),
        Expr::TryCast(c) => is_null(&c.expr),
        _ => false,
    }
}

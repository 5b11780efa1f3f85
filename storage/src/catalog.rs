//! The catalog: what tables, columns, indexes, sequences, views and roles exist.
//!
//! A catalog is an immutable value. The engine publishes one committed catalog
//! (`Arc<Catalog>`); a transaction that runs DDL works on a private copy and
//! publishes it at commit, so schema changes are transactional: a rolled-back
//! `CREATE TABLE` never existed, and nobody sees half of an `ALTER TABLE`.
//!
//! ```text
//!   committed: Arc<Catalog v7> ──────────────────────────────► Arc<Catalog v8>
//!                    │ clone on first DDL                         ▲ publish at COMMIT
//!   txn T:           └──► private Catalog (v7 + T's changes) ─────┘
//! ```
//!
//! Columns are physical (see `row`): dropping one marks it `dropped`, adding one
//! appends, so existing rows never need rewriting. Every DDL statement is
//! WAL-logged as the full new definition of what it touched, which keeps replay
//! and replicas simple: apply = replace.
//!
//! Object ids follow PostgreSQL: user objects get OIDs from 16384 up, and the
//! `public` schema is 2200, so catalog queries written for PostgreSQL read ours.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::{DataType, Value};

pub const FIRST_USER_OID: u32 = 16384;
pub const PUBLIC_SCHEMA_OID: u32 = 2200;
pub const PG_CATALOG_SCHEMA_OID: u32 = 11;
pub const POSTGRES_DB_OID: u32 = 5;
pub const BOOTSTRAP_SUPERUSER_OID: u32 = 10;

/// Identifies a table's row storage. Changes on TRUNCATE (a new, empty storage
/// replaces the old one at commit), like PostgreSQL's relfilenode.
pub type RelFileNode = u64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub next_oid: u32,
    pub next_relfilenode: RelFileNode,
    pub tables: BTreeMap<u32, Arc<TableDef>>,
    pub sequences: BTreeMap<u32, Arc<SequenceDef>>,
    pub views: BTreeMap<u32, Arc<ViewDef>>,
    pub roles: BTreeMap<String, RoleDef>,
    pub schemas: BTreeMap<String, u32>,
    pub databases: BTreeMap<String, u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub id: u32,
    pub schema: String,
    pub name: String,
    /// Physical columns, dropped ones included; a column's index here is its
    /// position in every row of this table.
    pub columns: Vec<ColumnDef>,
    /// Indexes, including those behind PRIMARY KEY and UNIQUE constraints.
    pub indexes: Vec<IndexDef>,
    pub foreign_keys: Vec<ForeignKeyDef>,
    pub checks: Vec<CheckDef>,
    pub relfilenode: RelFileNode,
    /// `WITH (…)` options, kept and shown, with no effect on an in-memory table.
    pub options: Vec<(String, String)>,
    /// Column types and missing values, computed once (rows are decoded with them constantly).
    #[serde(skip)]
    pub layout: LayoutCache,
}

/// What decoding a row of a table needs, by physical column.
#[derive(Debug, PartialEq)]
pub struct Layout {
    pub types: Vec<DataType>,
    pub missing: Vec<Value>,
}

/// A lazily filled [`Layout`]. Ignored by equality (it is derived data); a
/// cached layout with fewer columns than the definition (a definition cloned
/// and then given new columns) is not used.
#[derive(Clone, Debug, Default)]
pub struct LayoutCache(std::sync::OnceLock<Arc<Layout>>);

impl PartialEq for LayoutCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub ty: DataType,
    pub nullable: bool,
    /// DEFAULT expression as SQL text, evaluated by the SQL layer on insert.
    pub default: Option<String>,
    pub dropped: bool,
    /// Value rows written before this column was added read for it.
    pub missing: Option<Value>,
}

impl ColumnDef {
    /// A live column without a default (and no value for rows older than it).
    pub fn new(name: impl Into<String>, ty: DataType, nullable: bool) -> ColumnDef {
        ColumnDef { name: name.into(), ty, nullable, default: None, dropped: false, missing: None }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexDef {
    pub id: u32,
    pub name: String,
    /// Physical column positions of the key, in key order.
    pub columns: Vec<usize>,
    pub unique: bool,
    pub primary: bool,
    /// Created by a PRIMARY KEY / UNIQUE constraint (shown as a constraint), not CREATE INDEX.
    pub constraint: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FkAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForeignKeyDef {
    pub id: u32,
    pub name: String,
    pub columns: Vec<usize>,
    pub ref_table: u32,
    pub ref_columns: Vec<usize>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckDef {
    pub id: u32,
    pub name: String,
    /// The expression as SQL text; the SQL layer evaluates it.
    pub expr: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceDef {
    pub id: u32,
    pub schema: String,
    pub name: String,
    pub ty: DataType,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cycle: bool,
    /// The column that owns this sequence (a serial), dropped with it.
    pub owned_by: Option<(u32, usize)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewDef {
    pub id: u32,
    pub schema: String,
    pub name: String,
    pub sql: String,
    /// Output columns as planned at CREATE VIEW time (catalog queries show them).
    pub columns: Vec<ViewColumn>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewColumn {
    pub name: String,
    /// PostgreSQL type OID and typmod of the column.
    pub type_oid: u32,
    pub typmod: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleDef {
    pub oid: u32,
    pub name: String,
    pub superuser: bool,
    pub login: bool,
    pub replication: bool,
    /// PostgreSQL's SCRAM verifier text, `SCRAM-SHA-256$iter:salt$stored:server`.
    pub password: Option<String>,
}

impl Catalog {
    /// The catalog of a fresh cluster: the `public` schema, the `postgres`
    /// database and the bootstrap superuser.
    pub fn bootstrap(superuser: &str, password_verifier: Option<String>) -> Catalog {
        let mut roles = BTreeMap::new();
        roles.insert(
            superuser.to_string(),
            RoleDef {
                oid: BOOTSTRAP_SUPERUSER_OID,
                name: superuser.to_string(),
                superuser: true,
                login: true,
                replication: true,
                password: password_verifier,
            },
        );
        Catalog {
            next_oid: FIRST_USER_OID,
            next_relfilenode: 1,
            tables: BTreeMap::new(),
            sequences: BTreeMap::new(),
            views: BTreeMap::new(),
            roles,
            schemas: BTreeMap::from([("public".to_string(), PUBLIC_SCHEMA_OID)]),
            databases: BTreeMap::from([("postgres".to_string(), POSTGRES_DB_OID)]),
        }
    }

    pub fn alloc_oid(&mut self) -> u32 {
        let oid = self.next_oid;
        self.next_oid += 1;
        oid
    }

    pub fn alloc_relfilenode(&mut self) -> RelFileNode {
        let r = self.next_relfilenode;
        self.next_relfilenode += 1;
        r
    }

    pub fn table(&self, id: u32) -> Option<&Arc<TableDef>> {
        self.tables.get(&id)
    }

    pub fn table_by_name(&self, schema: &str, name: &str) -> Option<&Arc<TableDef>> {
        self.tables.values().find(|t| t.name == name && t.schema == schema)
    }

    pub fn sequence_by_name(&self, schema: &str, name: &str) -> Option<&Arc<SequenceDef>> {
        self.sequences.values().find(|s| s.name == name && s.schema == schema)
    }

    pub fn view_by_name(&self, schema: &str, name: &str) -> Option<&Arc<ViewDef>> {
        self.views.values().find(|v| v.name == name && v.schema == schema)
    }

    /// Finds an index anywhere by name: (table, position in its index list).
    pub fn index_by_name(&self, schema: &str, name: &str) -> Option<(&Arc<TableDef>, usize)> {
        self.tables.values().filter(|t| t.schema == schema).find_map(|t| t.indexes.iter().position(|i| i.name == name).map(|p| (t, p)))
    }

    /// True if a relation-like object (table, index, sequence, view) has this
    /// name: in PostgreSQL they share one namespace per schema.
    pub fn relation_name_taken(&self, schema: &str, name: &str) -> bool {
        self.table_by_name(schema, name).is_some()
            || self.sequence_by_name(schema, name).is_some()
            || self.view_by_name(schema, name).is_some()
            || self.index_by_name(schema, name).is_some()
    }

    /// Tables with a foreign key referencing `table_id`.
    pub fn referencing(&self, table_id: u32) -> impl Iterator<Item = (&Arc<TableDef>, &ForeignKeyDef)> {
        self.tables.values().flat_map(move |t| t.foreign_keys.iter().filter(move |fk| fk.ref_table == table_id).map(move |fk| (t, fk)))
    }

    /// Picks a name like PostgreSQL does for implicit objects (`t_pkey`,
    /// `t_a_idx`, `t_id_seq`): `base`, then `base1`, `base2`… until free.
    pub fn unique_relation_name(&self, schema: &str, base: &str) -> String {
        // PostgreSQL truncates identifiers to 63 bytes.
        let base: String = truncate_identifier(base);
        if !self.relation_name_taken(schema, &base) {
            return base;
        }
        (1..).map(|i| format!("{base}{i}")).find(|n| !self.relation_name_taken(schema, n)).unwrap()
    }
}

/// PostgreSQL's NAMEDATALEN - 1: identifiers are cut to 63 bytes (at a char boundary).
pub fn truncate_identifier(s: &str) -> String {
    if s.len() <= 63 {
        return s.to_string();
    }
    let mut end = 63;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl TableDef {
    /// A table with these columns and nothing else yet: no indexes, constraints or options.
    pub fn new(id: u32, schema: impl Into<String>, name: impl Into<String>, relfilenode: RelFileNode, columns: Vec<ColumnDef>) -> TableDef {
        TableDef {
            id,
            schema: schema.into(),
            name: name.into(),
            columns,
            indexes: vec![],
            foreign_keys: vec![],
            checks: vec![],
            relfilenode,
            options: vec![],
            layout: Default::default(),
        }
    }

    /// Types and missing-value defaults of all physical columns, dropped included:
    /// what decoding a row needs.
    pub fn layout(&self) -> Arc<Layout> {
        if let Some(l) = self.layout.0.get()
            && l.types.len() == self.columns.len()
        {
            return l.clone();
        }
        let l = Arc::new(Layout {
            types: self.columns.iter().map(|c| c.ty.clone()).collect(),
            missing: self.columns.iter().map(|c| c.missing.clone().unwrap_or(Value::Null)).collect(),
        });
        let _ = self.layout.0.set(l.clone());
        l
    }

    /// Types of all physical columns, dropped included.
    pub fn physical_types(&self) -> Vec<DataType> {
        self.layout().types.clone()
    }

    /// Missing-value defaults by physical column (NULL where none).
    pub fn missing_values(&self) -> Vec<Value> {
        self.layout().missing.clone()
    }

    /// Live (not dropped) columns as (physical position, definition), in order.
    pub fn live_columns(&self) -> impl Iterator<Item = (usize, &ColumnDef)> {
        self.columns.iter().enumerate().filter(|(_, c)| !c.dropped)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| !c.dropped && c.name == name)
    }

    pub fn column(&self, name: &str) -> Result<usize> {
        self.column_index(name)
            .ok_or_else(|| Error::UndefinedColumn(format!("column \"{name}\" of relation \"{}\" does not exist", self.name)))
    }

    pub fn primary_key(&self) -> Option<&IndexDef> {
        self.indexes.iter().find(|i| i.primary)
    }

    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_names_avoid_collisions() {
        let mut c = Catalog::bootstrap("duet", None);
        let id = c.alloc_oid();
        c.tables.insert(id, Arc::new(TableDef::new(id, "public", "t_pkey", 1, vec![])));
        assert_eq!(c.unique_relation_name("public", "t_pkey"), "t_pkey1");
        assert_eq!(c.unique_relation_name("public", "u_pkey"), "u_pkey");
        assert_eq!(truncate_identifier(&"x".repeat(70)).len(), 63);
    }
}

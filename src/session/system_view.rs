//! What `pg_settings`, `pg_prepared_statements`, `pg_cursors`,
//! `pg_stat_activity`, `pg_stat_replication` and `pg_replication_slots` show
//! for one session.
//!
//! Server-wide state (connections, replication, slots) is read live when the
//! system table is scanned. Session-private state (settings, prepared
//! statements, cursors) lives in the `Session`, which is busy running the very
//! statement that reads it, so it is copied into this value when a statement
//! that touches the system catalog starts (see `Session::publish_system_view`).

use std::sync::Arc;

use duetdb_storage::TableDef;

use crate::server::Server;
use crate::settings::{self, Kind};
use crate::sql::system::{ActivityRow, PreparedRow, ReplicationRow, SettingRow, SlotRow, SystemContext};

pub struct SessionSystemView {
    pub server: Arc<Server>,
    pub user: String,
    pub database: String,
    pub settings: Vec<SettingRow>,
    pub prepared: Vec<PreparedRow>,
    pub cursors: Vec<(String, String)>,
}

impl SessionSystemView {
    /// The `pg_settings` rows for a session's current values.
    pub fn setting_rows(current: &settings::Values, server_defaults: &settings::Values) -> Vec<SettingRow> {
        settings::SETTINGS
            .iter()
            .map(|s| {
                let value = current.get_or_default(s.name).to_string();
                let configured = server_defaults.get_or_default(s.name);
                let (unit, vartype, min, max, enumvals) = match s.kind {
                    Kind::Bool => (None, "bool", None, None, None),
                    Kind::Int { min, max } => (None, "integer", Some(min.to_string()), Some(max.to_string()), None),
                    Kind::Duration => (Some("ms".to_string()), "integer", Some("0".into()), Some(i32::MAX.to_string()), None),
                    Kind::Size => (Some("B".to_string()), "integer", Some("0".into()), Some(i64::MAX.to_string()), None),
                    Kind::Enum(vals) => (None, "enum", None, None, Some(vals.iter().map(|v| v.to_string()).collect())),
                    Kind::Text => (None, "string", None, None, None),
                };
                let source =
                    if value != s.default { if value != configured { "session" } else { "configuration file" } } else { "default" };
                SettingRow {
                    name: s.name.to_string(),
                    setting: value,
                    unit,
                    category: s.category.to_string(),
                    description: s.description.to_string(),
                    context: s.context.as_str().to_string(),
                    vartype: vartype.to_string(),
                    source: source.to_string(),
                    min,
                    max,
                    enumvals,
                    boot: s.default.to_string(),
                    reset: configured.to_string(),
                    pending_restart: false,
                }
            })
            .collect()
    }
}

impl SystemContext for SessionSystemView {
    fn user(&self) -> String {
        self.user.clone()
    }

    fn database(&self) -> String {
        self.database.clone()
    }

    fn settings(&self) -> Vec<SettingRow> {
        self.settings
            .iter()
            .map(|s| SettingRow {
                name: s.name.clone(),
                setting: s.setting.clone(),
                unit: s.unit.clone(),
                category: s.category.clone(),
                description: s.description.clone(),
                context: s.context.clone(),
                vartype: s.vartype.clone(),
                source: s.source.clone(),
                min: s.min.clone(),
                max: s.max.clone(),
                enumvals: s.enumvals.clone(),
                boot: s.boot.clone(),
                reset: s.reset.clone(),
                pending_restart: s.pending_restart,
            })
            .collect()
    }

    fn prepared_statements(&self) -> Vec<PreparedRow> {
        self.prepared
            .iter()
            .map(|p| PreparedRow {
                name: p.name.clone(),
                statement: p.statement.clone(),
                prepare_time: p.prepare_time,
                parameter_types: p.parameter_types.clone(),
                from_sql: p.from_sql,
            })
            .collect()
    }

    fn activity(&self) -> Vec<ActivityRow> {
        self.server.activity()
    }

    fn locks(&self) -> Vec<crate::server::LockRow> {
        self.server.locks()
    }

    fn replication(&self) -> Vec<ReplicationRow> {
        match self.server.replication.read().clone() {
            Some(r) => r.stat_replication(),
            None => Vec::new(),
        }
    }

    fn slots(&self) -> Vec<SlotRow> {
        if let Some(r) = self.server.replication.read().clone() {
            return r.slots();
        }
        match self.server.engine() {
            Ok(engine) => engine
                .slots
                .list()
                .into_iter()
                .map(|s| SlotRow {
                    name: s.name,
                    active: false,
                    active_pid: None,
                    restart_lsn: s.restart_lsn.to_string(),
                    wal_status: if s.invalidated { "lost" } else { "reserved" }.to_string(),
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn cursors(&self) -> Vec<(String, String)> {
        self.cursors.clone()
    }

    fn in_recovery(&self) -> bool {
        self.server.is_standby()
    }

    fn sequence_last_value(&self, id: u32) -> Option<i64> {
        let engine = self.server.engine().ok()?;
        let st = engine.sequences.get(id)?;
        st.is_called.then_some(st.last_value)
    }

    fn table_rows(&self, def: &TableDef) -> i64 {
        self.server.relation_size(def.id) / 100
    }
}

//! SET / SHOW / RESET, and duetdb's own utility statements: WAIT FOR LSN,
//! CHECKPOINT, VACUUM, ANALYZE, ALTER SYSTEM, DISCARD.

use std::time::{Duration, Instant};

use datafusion::sql::sqlparser::ast::{Expr, Reset, Set, Statement, Value as SqlValue};
use duetdb_storage::{DataType, Lsn, Value};

use super::Session;
use super::output::{Outcome, RowStream, Tag};
use crate::error::{SqlError, SqlResult};
use crate::pg::oid::{self, PgType};
use crate::settings;
use crate::sql::names;
use crate::sql::parse::Special;
use crate::sql::query::FieldInfo;

fn setting_value(values: &[Expr]) -> SqlResult<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|e| match e {
            Expr::Value(v) => match &v.value {
                SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => s.clone(),
                SqlValue::Number(n, _) => n.to_string(),
                SqlValue::Boolean(b) => b.to_string(),
                other => other.to_string(),
            },
            Expr::Identifier(i) => i.value.clone(),
            Expr::UnaryOp { op: datafusion::sql::sqlparser::ast::UnaryOperator::Minus, expr } => format!("-{expr}"),
            other => other.to_string(),
        })
        .collect();
    Ok(parts.join(", "))
}

fn text_rows(column: &str, rows: Vec<String>) -> Outcome {
    Outcome::Rows(RowStream::from_values(
        vec![FieldInfo::new(column, PgType::new(oid::TEXT))],
        vec![DataType::Text],
        rows.into_iter().map(|r| vec![Value::Text(r)]).collect(),
        Tag::Fixed("SHOW".into()),
    ))
}

impl Session {
    pub async fn run_utility(&mut self, s: &Statement) -> SqlResult<Outcome> {
        match s {
            Statement::Set(set) => match set {
                Set::SingleAssignment { scope, variable, values, .. } => {
                    let name = names::parts(variable).join(".");
                    let local = matches!(scope, Some(datafusion::sql::sqlparser::ast::ContextModifier::Local));
                    let value = setting_value(values)?;
                    self.set_setting(&name, &value, local)?;
                    Ok(Outcome::Command("SET".into()))
                }
                Set::SetTimeZone { local, value } => {
                    let v = setting_value(std::slice::from_ref(value))?;
                    self.set_setting("TimeZone", &v, *local)?;
                    Ok(Outcome::Command("SET".into()))
                }
                Set::SetNames { charset_name, .. } => {
                    self.set_setting("client_encoding", &charset_name.value, false)?;
                    Ok(Outcome::Command("SET".into()))
                }
                Set::SetNamesDefault {} => Ok(Outcome::Command("SET".into())),
                Set::SetTransaction { modes, session, .. } => {
                    if *session {
                        for m in modes {
                            if let datafusion::sql::sqlparser::ast::TransactionMode::IsolationLevel(l) = m {
                                self.set_setting("default_transaction_isolation", &l.to_string().to_lowercase(), false)?;
                            }
                        }
                    } else {
                        self.apply_transaction_modes(modes)?;
                    }
                    Ok(Outcome::Command("SET".into()))
                }
                Set::SetRole { .. } | Set::SetSessionAuthorization(_) => Err(SqlError::unsupported("SET ROLE / SET SESSION AUTHORIZATION")),
                other => Err(SqlError::unsupported(format!("{other}"))),
            },
            Statement::Reset(r) => {
                match &r.reset {
                    Reset::ALL => {
                        let defaults = self.server().session_defaults();
                        let names: Vec<&'static str> =
                            settings::SETTINGS.iter().filter(|s| matches!(s.context, settings::Context::User)).map(|s| s.name).collect();
                        for n in names {
                            let v = defaults.get_or_default(n).to_string();
                            let _ = self.set_setting(n, &v, false);
                        }
                    }
                    Reset::ConfigurationParameter(name) => {
                        let n = names::parts(name).join(".");
                        let s = settings::find(&n).ok_or_else(|| settings::unknown(&n))?;
                        let v = self.server().session_defaults().get_or_default(s.name).to_string();
                        self.set_setting(s.name, &v, false)?;
                    }
                }
                Ok(Outcome::Command("RESET".into()))
            }
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(" ");
                let name = match name.as_str() {
                    "transaction isolation level" => "transaction_isolation".to_string(),
                    "time zone" => "TimeZone".to_string(),
                    n => n.to_string(),
                };
                if name == "transaction_isolation" {
                    let iso = match self.txn.txn.as_ref().map(|t| t.isolation()).or(self.txn.isolation) {
                        Some(duetdb_storage::Isolation::RepeatableRead) => "repeatable read".to_string(),
                        Some(duetdb_storage::Isolation::ReadCommitted) => "read committed".to_string(),
                        None => self.setting("default_transaction_isolation"),
                    };
                    return Ok(text_rows("transaction_isolation", vec![iso]));
                }
                let s = settings::find(&name).ok_or_else(|| settings::unknown(&name))?;
                let v = settings::display(s, &self.setting(s.name));
                Ok(text_rows(&s.name.to_lowercase(), vec![v]))
            }
            other => Err(SqlError::unsupported(format!("{other}"))),
        }
    }

    fn apply_transaction_modes(&mut self, modes: &[datafusion::sql::sqlparser::ast::TransactionMode]) -> SqlResult<()> {
        use datafusion::sql::sqlparser::ast::{TransactionAccessMode, TransactionIsolationLevel, TransactionMode};
        for m in modes {
            match m {
                TransactionMode::IsolationLevel(l) => {
                    let iso = match l {
                        TransactionIsolationLevel::RepeatableRead | TransactionIsolationLevel::Serializable => {
                            duetdb_storage::Isolation::RepeatableRead
                        }
                        _ => duetdb_storage::Isolation::ReadCommitted,
                    };
                    if let Some(t) = self.txn.txn.as_mut() {
                        t.set_isolation(iso)?;
                    }
                    self.txn.isolation = Some(iso);
                }
                TransactionMode::AccessMode(a) => {
                    let ro = matches!(a, TransactionAccessMode::ReadOnly);
                    if let Some(t) = self.txn.txn.as_mut() {
                        t.set_read_only(ro)?;
                    }
                    self.txn.read_only = Some(ro);
                }
            }
        }
        Ok(())
    }

    /// SET name = value: validated, and reported to the client where PostgreSQL does.
    pub fn set_setting(&mut self, name: &str, value: &str, local: bool) -> SqlResult<()> {
        let lower = name.to_ascii_lowercase();
        // A few settings act on the transaction itself.
        match lower.as_str() {
            "transaction_isolation" => {
                let v = settings::normalize(settings::find(name).unwrap(), value)?;
                let iso = if v == "repeatable read" || v == "serializable" {
                    duetdb_storage::Isolation::RepeatableRead
                } else {
                    duetdb_storage::Isolation::ReadCommitted
                };
                if let Some(t) = self.txn.txn.as_mut() {
                    t.set_isolation(iso)?;
                }
                self.txn.isolation = Some(iso);
            }
            "transaction_read_only" => {
                let ro = crate::pg::decode::parse_bool(value).ok_or_else(|| settings::unknown(name))?;
                if let Some(t) = self.txn.txn.as_mut() {
                    t.set_read_only(ro)?;
                }
                self.txn.read_only = Some(ro);
            }
            "recovery_target_lsn" if !value.trim().is_empty() => {
                value.trim().parse::<Lsn>().map_err(|e| SqlError::new("22023", e))?;
            }
            _ => {}
        }
        self.env.set(name, value, local && self.txn.explicit)?;
        Ok(())
    }

    pub async fn run_special(&mut self, sp: &Special) -> SqlResult<Outcome> {
        match sp {
            Special::WaitForLsn { lsn, timeout_ms } => {
                let target: Lsn = lsn.parse().map_err(|e: String| SqlError::new("22P02", e))?;
                let timeout = timeout_ms.unwrap_or_else(|| self.env.settings.lock().duration_ms("recovery_target_timeout"));
                self.wait_for_replay(target, timeout).await?;
                Ok(Outcome::Rows(RowStream::from_values(
                    vec![FieldInfo::new("status", PgType::new(oid::TEXT))],
                    vec![DataType::Text],
                    vec![vec![Value::Text("success".into())]],
                    Tag::Fixed("WAIT".into()),
                )))
            }
            Special::Promote => {
                if !self.env.superuser {
                    return Err(SqlError::new("42501", "permission denied for function pg_promote"));
                }
                if self.txn.explicit {
                    return Err(SqlError::new("25001", "pg_promote() cannot run inside a transaction block"));
                }
                crate::promote::promote(&self.server().clone()).await?;
                Ok(Outcome::Rows(RowStream::from_values(
                    vec![FieldInfo::new("pg_promote", PgType::new(oid::BOOL))],
                    vec![DataType::Bool],
                    vec![vec![Value::Bool(true)]],
                    Tag::Fixed("SELECT 1".into()),
                )))
            }
            Special::Checkpoint => {
                let engine = self.server().engine()?;
                engine.checkpoint().await?;
                Ok(Outcome::Command("CHECKPOINT".into()))
            }
            Special::Vacuum { tables, .. } => {
                if self.txn.explicit {
                    return Err(SqlError::new("25001", "VACUUM cannot run inside a transaction block"));
                }
                let engine = self.server().engine()?;
                let catalog = engine.catalog();
                if tables.is_empty() {
                    engine.vacuum();
                } else {
                    for t in tables {
                        let parts = names::split_qualified(t);
                        let (s, n) = match parts.as_slice() {
                            [n] => ("public".to_string(), n.clone()),
                            [s, n] => (s.clone(), n.clone()),
                            _ => return Err(SqlError::syntax(format!("bad table name {t}"))),
                        };
                        let def = catalog
                            .table_by_name(&s, &n)
                            .ok_or_else(|| SqlError::new("42P01", format!("relation \"{n}\" does not exist")))?;
                        engine.vacuum_table(def);
                    }
                }
                Ok(Outcome::Command("VACUUM".into()))
            }
            Special::Analyze { tables } => {
                // Statistics come from the live row counts; check the names exist.
                let catalog = self.server().catalog();
                for t in tables {
                    let parts = names::split_qualified(t);
                    let n = parts.last().cloned().unwrap_or_default();
                    let s = if parts.len() > 1 { parts[0].clone() } else { "public".into() };
                    if catalog.table_by_name(&s, &n).is_none() {
                        return Err(SqlError::new("42P01", format!("relation \"{n}\" does not exist")));
                    }
                }
                Ok(Outcome::Command("ANALYZE".into()))
            }
            Special::AlterSystem { name, value } => {
                if !self.env.superuser {
                    return Err(SqlError::new("42501", "must be superuser to execute ALTER SYSTEM command"));
                }
                if self.txn.explicit {
                    return Err(SqlError::new("25001", "ALTER SYSTEM cannot run inside a transaction block"));
                }
                self.server().alter_system(name, value.as_deref())?;
                Ok(Outcome::Command("ALTER SYSTEM".into()))
            }
            Special::Discard => {
                self.prepared.clear();
                self.portals.clear();
                self.cursors.clear();
                Ok(Outcome::Command("DISCARD ALL".into()))
            }
            Special::Listen => {
                self.notice("WARNING", "LISTEN/NOTIFY is not supported: no notifications will be delivered");
                Ok(Outcome::Command("LISTEN".into()))
            }
            Special::ShowAll => {
                let s = self.env.settings.lock().clone();
                let rows = settings::SETTINGS
                    .iter()
                    .map(|x| {
                        vec![
                            Value::Text(x.name.into()),
                            Value::Text(settings::display(x, s.get_or_default(x.name))),
                            Value::Text(x.description.into()),
                        ]
                    })
                    .collect();
                Ok(Outcome::Rows(RowStream::from_values(
                    vec![
                        FieldInfo::new("name", PgType::new(oid::TEXT)),
                        FieldInfo::new("setting", PgType::new(oid::TEXT)),
                        FieldInfo::new("description", PgType::new(oid::TEXT)),
                    ],
                    vec![DataType::Text, DataType::Text, DataType::Text],
                    rows,
                    Tag::Fixed("SHOW".into()),
                )))
            }
            Special::DeallocateAll => {
                self.prepared.retain(|k, _| k.is_empty());
                Ok(Outcome::Command("DEALLOCATE ALL".into()))
            }
            Special::Privileges => {
                self.notice("WARNING", "privileges are not enforced by duetdb: every role can access every object");
                Ok(Outcome::Command("GRANT".into()))
            }
            Special::Comment => Ok(Outcome::Command("COMMENT".into())),
            Special::SessionCharacteristics(modes) => {
                let m = modes.to_lowercase();
                for iso in ["serializable", "repeatable read", "read committed", "read uncommitted"] {
                    if m.contains(iso) {
                        self.set_setting("default_transaction_isolation", iso, false)?;
                    }
                }
                if m.contains("read only") {
                    self.set_setting("default_transaction_read_only", "on", false)?;
                } else if m.contains("read write") {
                    self.set_setting("default_transaction_read_only", "off", false)?;
                }
                Ok(Outcome::Command("SET".into()))
            }
            Special::Move { count, cursor } => self.move_cursor(cursor, *count).await,
            Special::IdentifySystem
            | Special::StartReplication { .. }
            | Special::BaseBackup { .. }
            | Special::CreateSlot { .. }
            | Special::DropSlot { .. } => Err(SqlError::new(
                "08P01",
                "replication commands are only accepted on replication connections (replication=true in the startup packet)",
            )),
        }
    }

    /// Waits until this server has replayed up to `target` (read-your-writes on a
    /// standby; immediate on a primary, which has everything it acknowledged).
    pub async fn wait_for_replay(&self, target: Lsn, timeout_ms: u64) -> SqlResult<()> {
        let server = self.server().clone();
        if !server.is_standby() {
            let flushed = server.engine()?.wal.flushed_lsn();
            if flushed >= target {
                return Ok(());
            }
        }
        let deadline = Instant::now() + Duration::from_millis(if timeout_ms == 0 { u64::MAX / 4 } else { timeout_ms });
        loop {
            let now = server.replay_lsn_now();
            if now >= target {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SqlError::new("57014", format!("timed out waiting for LSN {target}: replay has reached {now}"))
                    .with_hint("Raise the timeout, or check the standby's lag with pg_last_wal_replay_lsn()."));
            }
            if self.cancelled() {
                return Err(SqlError::new("57014", "canceling statement due to user request"));
            }
            server.wait_replay_progress(Duration::from_millis(20)).await;
        }
    }
}

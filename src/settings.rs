//! Settings (PostgreSQL's GUCs): one registry behind SET, SHOW, RESET,
//! `current_setting()`, `pg_settings`, the config file and `duetdb config`.
//!
//! Each setting has a context saying when it may change, as in PostgreSQL:
//!
//! ```text
//!   internal   never (reports facts: server_version, server_encoding)
//!   postmaster at server start only (port, listen_addresses, max_connections)
//!   sighup     in the config file, applied on reload (duetdb reload / pg_reload_conf())
//!   superuser  by SET, superusers only, and in the config file
//!   user       by SET in any session, and in the config file (defaults)
//! ```
//!
//! Values are validated when set (a bad value is an error, 22023), and are
//! stored as the canonical text SHOW prints.

use std::collections::HashMap;

use crate::error::{SqlError, SqlResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Internal,
    Postmaster,
    Sighup,
    Superuser,
    User,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Internal => "internal",
            Context::Postmaster => "postmaster",
            Context::Sighup => "sighup",
            Context::Superuser => "superuser",
            Context::User => "user",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// Milliseconds; accepts units (`5s`, `100ms`, `1min`).
    Duration,
    /// Bytes; accepts units (`16MB`, `1GB`).
    Size,
    Enum(&'static [&'static str]),
    Text,
}

#[derive(Debug)]
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub context: Context,
    pub kind: Kind,
    pub category: &'static str,
    pub description: &'static str,
    /// Sent to clients as ParameterStatus when it changes.
    pub reported: bool,
}

const fn s(
    name: &'static str,
    default: &'static str,
    context: Context,
    kind: Kind,
    category: &'static str,
    description: &'static str,
) -> Setting {
    Setting { name, default, context, kind, category, description, reported: false }
}

const fn r(
    name: &'static str,
    default: &'static str,
    context: Context,
    kind: Kind,
    category: &'static str,
    description: &'static str,
) -> Setting {
    Setting { name, default, context, kind, category, description, reported: true }
}

pub const SERVER_VERSION: &str = concat!("15.0 (duetdb ", env!("CARGO_PKG_VERSION"), ")");
pub const SERVER_VERSION_NUM: &str = "150000";

use Context::*;
use Kind::*;

const ISOLATION: &[&str] = &["serializable", "repeatable read", "read committed", "read uncommitted"];
const SYNC_COMMIT: &[&str] = &["off", "local", "remote_write", "on", "remote_apply"];
const AUTH: &[&str] = &["trust", "scram-sha-256", "password"];
const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
const LOG_FORMATS: &[&str] = &["text", "json"];
const MESSAGE_LEVELS: &[&str] = &["debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice", "warning", "error"];

pub static SETTINGS: &[Setting] = &[
    // Reported facts.
    r("server_version", SERVER_VERSION, Internal, Text, "Preset Options", "Shows the server version."),
    s("server_version_num", SERVER_VERSION_NUM, Internal, Text, "Preset Options", "Shows the server version as an integer."),
    r("server_encoding", "UTF8", Internal, Text, "Preset Options", "Shows the server (database) character set encoding."),
    r("integer_datetimes", "on", Internal, Bool, "Preset Options", "Shows whether datetimes are integer based."),
    s("block_size", "8192", Internal, Text, "Preset Options", "Shows the size of a disk block."),
    s("lc_collate", "C", Internal, Text, "Preset Options", "Shows the collation order locale."),
    s("lc_ctype", "C", Internal, Text, "Preset Options", "Shows the character classification and case conversion locale."),
    s("max_identifier_length", "63", Internal, Text, "Preset Options", "Shows the maximum identifier length."),
    s("data_directory", "", Internal, Text, "File Locations", "Shows the server's data directory."),
    // Connections.
    s(
        "listen_addresses",
        "127.0.0.1",
        Postmaster,
        Text,
        "Connections and Authentication",
        "Sets the host name or IP address(es) to listen to.",
    ),
    s(
        "port",
        "5432",
        Postmaster,
        Int { min: 0, max: 65535 },
        "Connections and Authentication",
        "Sets the TCP port the server listens on (0: any free port, see duetdb.pid).",
    ),
    s(
        "max_connections",
        "300",
        Postmaster,
        Int { min: 1, max: 100_000 },
        "Connections and Authentication",
        "Sets the maximum number of concurrent connections.",
    ),
    s(
        "superuser_reserved_connections",
        "3",
        Postmaster,
        Int { min: 0, max: 100 },
        "Connections and Authentication",
        "Sets the number of connection slots reserved for superusers.",
    ),
    s(
        "authentication_method",
        "scram-sha-256",
        Sighup,
        Enum(AUTH),
        "Connections and Authentication",
        "How clients authenticate (duetdb: one method for all clients, like a one-line pg_hba.conf).",
    ),
    s(
        "password_encryption",
        "scram-sha-256",
        User,
        Enum(&["scram-sha-256"]),
        "Connections and Authentication",
        "Chooses the algorithm for encrypting passwords.",
    ),
    s("ssl", "off", Postmaster, Bool, "Connections and Authentication", "Enables SSL connections."),
    s("ssl_cert_file", "server.crt", Postmaster, Text, "Connections and Authentication", "Location of the SSL server certificate file."),
    s("ssl_key_file", "server.key", Postmaster, Text, "Connections and Authentication", "Location of the SSL server private key file."),
    s(
        "authentication_timeout",
        "60000",
        Sighup,
        Duration,
        "Connections and Authentication",
        "Sets the maximum allowed time to complete client authentication.",
    ),
    // Client defaults.
    r("application_name", "", User, Text, "Reporting and Logging", "Sets the application name to be reported in statistics and logs."),
    r(
        "client_encoding",
        "UTF8",
        User,
        Enum(&["UTF8", "utf8", "unicode", "UNICODE"]),
        "Client Connection Defaults",
        "Sets the client's character set encoding.",
    ),
    r("DateStyle", "ISO, MDY", User, Text, "Client Connection Defaults", "Sets the display format for date and time values."),
    r("IntervalStyle", "postgres", User, Enum(&["postgres"]), "Client Connection Defaults", "Sets the display format for interval values."),
    r("TimeZone", "UTC", User, Text, "Client Connection Defaults", "Sets the time zone for displaying and interpreting time stamps."),
    r(
        "standard_conforming_strings",
        "on",
        User,
        Bool,
        "Version and Platform Compatibility",
        "Causes '...' strings to treat backslashes literally.",
    ),
    r("is_superuser", "off", Internal, Bool, "Preset Options", "Shows whether the current user is a superuser."),
    r("session_authorization", "", Internal, Text, "Preset Options", "Sets the session user name."),
    s(
        "search_path",
        "\"$user\", public",
        User,
        Text,
        "Client Connection Defaults",
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    s(
        "extra_float_digits",
        "1",
        User,
        Int { min: -15, max: 3 },
        "Client Connection Defaults",
        "Sets the number of digits displayed for floating-point values.",
    ),
    s("bytea_output", "hex", User, Enum(&["hex"]), "Client Connection Defaults", "Sets the output format for bytea."),
    s(
        "client_min_messages",
        "notice",
        User,
        Enum(MESSAGE_LEVELS),
        "Client Connection Defaults",
        "Sets the message levels that are sent to the client.",
    ),
    s("lc_messages", "C", Superuser, Text, "Client Connection Defaults", "Sets the language in which messages are displayed."),
    s("lc_monetary", "C", User, Text, "Client Connection Defaults", "Sets the locale for formatting monetary amounts."),
    s("lc_numeric", "C", User, Text, "Client Connection Defaults", "Sets the locale for formatting numbers."),
    s("lc_time", "C", User, Text, "Client Connection Defaults", "Sets the locale for formatting date and time values."),
    s(
        "default_table_access_method",
        "heap",
        User,
        Enum(&["heap"]),
        "Client Connection Defaults",
        "Sets the default table access method for new tables.",
    ),
    s(
        "default_text_search_config",
        "pg_catalog.simple",
        User,
        Text,
        "Client Connection Defaults",
        "Sets default text search configuration.",
    ),
    s("row_security", "on", User, Bool, "Client Connection Defaults", "Enable row security."),
    s(
        "statement_timeout",
        "0",
        User,
        Duration,
        "Client Connection Defaults",
        "Sets the maximum allowed duration of any statement (0 = none).",
    ),
    s(
        "lock_timeout",
        "0",
        User,
        Duration,
        "Client Connection Defaults",
        "Sets the maximum allowed duration of any wait for a lock (0 = none).",
    ),
    s(
        "idle_in_transaction_session_timeout",
        "0",
        User,
        Duration,
        "Client Connection Defaults",
        "Sets the maximum allowed idle time between queries, when in a transaction (0 = none).",
    ),
    s(
        "idle_session_timeout",
        "0",
        User,
        Duration,
        "Client Connection Defaults",
        "Sets the maximum allowed idle time between queries, when not in a transaction.",
    ),
    s(
        "default_transaction_isolation",
        "read committed",
        User,
        Enum(ISOLATION),
        "Client Connection Defaults",
        "Sets the transaction isolation level of each new transaction.",
    ),
    s(
        "transaction_isolation",
        "read committed",
        User,
        Enum(ISOLATION),
        "Client Connection Defaults",
        "Sets the current transaction's isolation level.",
    ),
    s(
        "default_transaction_read_only",
        "off",
        User,
        Bool,
        "Client Connection Defaults",
        "Sets the default read-only status of new transactions.",
    ),
    s("transaction_read_only", "off", User, Bool, "Client Connection Defaults", "Sets the current transaction's read-only status."),
    s("work_mem", "4194304", User, Size, "Resource Usage", "Sets the maximum memory to be used for query workspaces."),
    s("maintenance_work_mem", "67108864", User, Size, "Resource Usage", "Sets the maximum memory to be used for maintenance operations."),
    s("shared_buffers", "134217728", Postmaster, Size, "Resource Usage", "Accepted for compatibility: tables live in memory."),
    s(
        "worker_threads",
        "0",
        Postmaster,
        Int { min: 0, max: 1024 },
        "Resource Usage",
        "Threads that run queries and background work (0: twice the CPU cores).",
    ),
    s(
        "connection_threads",
        "-1",
        Postmaster,
        Int { min: -1, max: 1024 },
        "Resource Usage",
        "Threads that client sessions run on, each session on one (-1: one per CPU core, 0: on the worker threads).",
    ),
    s(
        "session_affinity",
        "client_cpu",
        Postmaster,
        Enum(&["client_cpu", "none", "debug_rotate"]),
        "Resource Usage",
        "Gathers the sessions whose client sends from one CPU on one connection thread, moving them between messages (client_cpu), or leaves them where dealt (none).",
    ),
    s(
        "huge_pages",
        "off",
        Postmaster,
        Enum(crate::huge_pages::VALUES),
        "Resource Usage",
        "Backs the server's memory with transparent huge pages (try, on) or not (off).",
    ),
    // WAL and durability.
    s("synchronous_commit", "on", User, Enum(SYNC_COMMIT), "Write-Ahead Log", "Sets the current transaction's synchronization level."),
    s("fsync", "on", Postmaster, Bool, "Write-Ahead Log", "Forces synchronization of updates to disk (off loses data on a crash)."),
    s("wal_level", "logical", Internal, Text, "Write-Ahead Log", "duetdb's WAL is logical redo: always enough for replicas."),
    s("wal_segment_size", "16777216", Postmaster, Size, "Write-Ahead Log", "Target size of a WAL segment file."),
    s("max_wal_size", "1073741824", Sighup, Size, "Write-Ahead Log", "WAL volume that triggers a checkpoint."),
    s("checkpoint_timeout", "300000", Sighup, Duration, "Write-Ahead Log", "Sets the maximum time between automatic checkpoints."),
    s(
        "checkpoint_location",
        "",
        Postmaster,
        Text,
        "Write-Ahead Log",
        "Directory or object store URL for checkpoints (default: the data directory).",
    ),
    // Replication.
    s(
        "max_wal_senders",
        "10",
        Postmaster,
        Int { min: 0, max: 1000 },
        "Replication",
        "Sets the maximum number of simultaneously running WAL sender processes.",
    ),
    s(
        "max_slot_wal_keep_size",
        "0",
        Sighup,
        Size,
        "Replication",
        "WAL a replication slot may hold back before it is invalidated (0 = unlimited).",
    ),
    s(
        "synchronous_standby_names",
        "",
        Sighup,
        Text,
        "Replication",
        "Standbys that acknowledge commits: 'FIRST n (a, b)', 'ANY n (a, b)' or a list.",
    ),
    s(
        "most_available_sync",
        "off",
        Sighup,
        Bool,
        "Replication",
        "openGauss: when no synchronous standby is connected, commit without waiting instead of blocking.",
    ),
    s("primary_conninfo", "", Sighup, Text, "Replication", "Standby: how to reach the primary (host:port)."),
    s("primary_slot_name", "", Sighup, Text, "Replication", "Standby: the replication slot to use on the primary."),
    s("hot_standby", "on", Postmaster, Bool, "Replication", "Allows queries on a standby."),
    s("wal_receiver_status_interval", "1000", Sighup, Duration, "Replication", "How often a standby reports its progress to the primary."),
    s(
        "columnar_location",
        "",
        Postmaster,
        Text,
        "Replication",
        "Standby: directory or object store URL for its Parquet segments (default: DIR/columnar).",
    ),
    s(
        "columnar_memory_limit",
        "0",
        Postmaster,
        Size,
        "Replication",
        "Standby: memory for column segments; persisted segments beyond it are read from Parquet (0 = 40% of RAM).",
    ),
    s(
        "columnar_persist_interval",
        "10000",
        Sighup,
        Duration,
        "Replication",
        "Standby: how often the column store is persisted as Parquet (a restart replays the local WAL after it).",
    ),
    s("recovery_target_lsn", "", User, Text, "Replication", "Standby read-your-writes: every query waits until replay reaches this LSN."),
    s(
        "recovery_target_timeout",
        "30000",
        User,
        Duration,
        "Replication",
        "How long a query waits for recovery_target_lsn / WAIT FOR LSN before failing.",
    ),
    // Observability.
    s("log_level", "info", Sighup, Enum(LOG_LEVELS), "Reporting and Logging", "Server log verbosity (RUST_LOG overrides)."),
    s("log_format", "text", Postmaster, Enum(LOG_FORMATS), "Reporting and Logging", "Server log format."),
    s(
        "metrics_port",
        "0",
        Postmaster,
        Int { min: 0, max: 65535 },
        "Reporting and Logging",
        "Port for the Prometheus metrics endpoint (0 = off).",
    ),
    s("cluster_name", "", Postmaster, Text, "Reporting and Logging", "Name of this server in logs and monitoring."),
];

/// Position of a setting in [`SETTINGS`], by case-insensitive name. Looked up
/// several times per statement (timeouts, time zone, isolation): a hash map,
/// and no allocation for the mixed-case names clients use (`TimeZone`).
fn index(name: &str) -> Option<usize> {
    static BY_NAME: std::sync::LazyLock<HashMap<String, usize, ahash::RandomState>> =
        std::sync::LazyLock::new(|| SETTINGS.iter().enumerate().map(|(i, s)| (s.name.to_ascii_lowercase(), i)).collect());
    let b = name.as_bytes();
    if !b.iter().any(u8::is_ascii_uppercase) {
        return BY_NAME.get(name).copied();
    }
    let mut buf = [0u8; 64];
    let lower = buf.get_mut(..b.len())?;
    lower.copy_from_slice(b);
    lower.make_ascii_lowercase();
    BY_NAME.get(std::str::from_utf8(lower).ok()?).copied()
}

pub fn find(name: &str) -> Option<&'static Setting> {
    index(name).map(|i| &SETTINGS[i])
}

/// Validates `value` for `setting` and returns its canonical text.
pub fn normalize(setting: &Setting, value: &str) -> SqlResult<String> {
    let v = value.trim();
    let invalid = || SqlError::new("22023", format!("invalid value for parameter \"{}\": \"{}\"", setting.name, value));
    Ok(match setting.kind {
        Bool => match crate::pg::decode::parse_bool(v) {
            Some(true) => "on".into(),
            Some(false) => "off".into(),
            None => return Err(invalid()),
        },
        Int { min, max } => {
            let i: i64 = v.parse().map_err(|_| invalid())?;
            if i < min || i > max {
                return Err(SqlError::new(
                    "22023",
                    format!("{i} is outside the valid range for parameter \"{}\" ({min} .. {max})", setting.name),
                ));
            }
            i.to_string()
        }
        Duration => parse_duration_ms(v).ok_or_else(invalid)?.to_string(),
        Size => parse_size(v).ok_or_else(invalid)?.to_string(),
        Enum(values) => {
            let lower = v.to_ascii_lowercase();
            // Some enum settings have aliases PostgreSQL accepts.
            let lower = match (setting.name, lower.as_str()) {
                ("synchronous_commit", "true" | "yes" | "1") => "on".to_string(),
                ("synchronous_commit", "false" | "no" | "0") => "off".to_string(),
                _ => lower,
            };
            match values.iter().find(|x| x.eq_ignore_ascii_case(&lower)) {
                Some(x) => (*x).to_string(),
                None => {
                    return Err(invalid().with_hint(format!("Available values: {}.", values.join(", "))));
                }
            }
        }
        Text => match setting.name {
            "TimeZone" => {
                let z = crate::pg::datetime::Zone::parse(v)
                    .ok_or_else(|| SqlError::new("22023", format!("invalid value for parameter \"TimeZone\": \"{v}\"")))?;
                match z {
                    crate::pg::datetime::Zone::Named(_) => v.to_string(),
                    z => z.name(),
                }
            }
            "DateStyle" => {
                let l = v.to_ascii_lowercase();
                if !l.split(',').all(|p| matches!(p.trim(), "iso" | "mdy" | "dmy" | "ymd" | "")) {
                    return Err(SqlError::unsupported(format!("DateStyle \"{v}\" (only ISO output is supported)")));
                }
                "ISO, MDY".into()
            }
            _ => v.to_string(),
        },
    })
}

/// `5s`, `100ms`, `1min`, `2h`, `1d`, or a bare number of milliseconds.
pub fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim().trim_matches('\'');
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "us" => return Some(n / 1000),
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `16MB`, `1GB`, `512kB`, or a bare number of bytes.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim().trim_matches('\'');
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" | "k" => 1 << 10,
        "MB" | "M" => 1 << 20,
        "GB" | "G" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// A set of values: the server's (defaults + config file) or a session's.
/// `values[i]` is the value of `SETTINGS[i]`.
#[derive(Clone, Debug)]
pub struct Values {
    values: Vec<String>,
}

impl Default for Values {
    fn default() -> Values {
        Values::defaults()
    }
}

impl Values {
    pub fn defaults() -> Values {
        Values { values: SETTINGS.iter().map(|s| s.default.to_string()).collect() }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        Some(self.values[index(name)?].as_str())
    }

    pub fn get_or_default(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Sets without permission checks (config file, startup parameters, internal facts).
    pub fn set_unchecked(&mut self, name: &str, value: &str) -> SqlResult<String> {
        let i = index(name).ok_or_else(|| unknown(name))?;
        let v = normalize(&SETTINGS[i], value)?;
        self.values[i] = v.clone();
        Ok(v)
    }

    /// Sets from SQL (`SET`), enforcing the setting's context.
    pub fn set(&mut self, name: &str, value: &str, superuser: bool) -> SqlResult<(&'static Setting, String)> {
        let i = index(name).ok_or_else(|| unknown(name))?;
        let s = &SETTINGS[i];
        match s.context {
            Internal => return Err(SqlError::new("55P02", format!("parameter \"{}\" cannot be changed", s.name))),
            Postmaster => {
                return Err(SqlError::new("55P02", format!("parameter \"{}\" cannot be changed without restarting the server", s.name)));
            }
            Sighup => return Err(SqlError::new("55P02", format!("parameter \"{}\" cannot be changed now", s.name))),
            Superuser if !superuser => {
                return Err(SqlError::new("42501", format!("permission denied to set parameter \"{}\"", s.name)));
            }
            _ => {}
        }
        let v = normalize(s, value)?;
        self.values[i] = v.clone();
        Ok((s, v))
    }

    pub fn duration_ms(&self, name: &str) -> u64 {
        self.get_or_default(name).parse().unwrap_or(0)
    }

    /// A Size setting in bytes.
    pub fn bytes(&self, name: &str) -> u64 {
        self.get_or_default(name).parse().unwrap_or(0)
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get_or_default(name) == "on"
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let mut all: Vec<(&'static str, &str)> = SETTINGS.iter().zip(&self.values).map(|(s, v)| (s.name, v.as_str())).collect();
        all.sort_unstable_by_key(|(name, _)| *name);
        all.into_iter()
    }
}

pub fn unknown(name: &str) -> SqlError {
    SqlError::new("42704", format!("unrecognized configuration parameter \"{name}\""))
}

/// How SHOW prints a stored value (units where PostgreSQL shows them).
pub fn display(setting: &Setting, value: &str) -> String {
    match setting.kind {
        Duration => {
            let ms: u64 = value.parse().unwrap_or(0);
            if ms == 0 {
                "0".into()
            } else if ms % 86_400_000 == 0 {
                format!("{}d", ms / 86_400_000)
            } else if ms % 3_600_000 == 0 {
                format!("{}h", ms / 3_600_000)
            } else if ms % 60_000 == 0 {
                format!("{}min", ms / 60_000)
            } else if ms % 1000 == 0 {
                format!("{}s", ms / 1000)
            } else {
                format!("{ms}ms")
            }
        }
        Size => {
            let b: u64 = value.parse().unwrap_or(0);
            if b == 0 {
                "0".into()
            } else if b % (1 << 30) == 0 {
                format!("{}GB", b >> 30)
            } else if b % (1 << 20) == 0 {
                format!("{}MB", b >> 20)
            } else if b % (1 << 10) == 0 {
                format!("{}kB", b >> 10)
            } else {
                format!("{b}B")
            }
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_normalizes() {
        let mut v = Values::defaults();
        assert_eq!(v.set("statement_timeout", "5s", false).unwrap().1, "5000");
        assert_eq!(display(find("statement_timeout").unwrap(), "5000"), "5s");
        assert_eq!(v.set("synchronous_commit", "OFF", false).unwrap().1, "off");
        assert_eq!(v.set("timezone", "utc", false).unwrap().1, "UTC");
        assert_eq!(v.get("TimeZone"), Some("UTC"));
        assert_eq!(v.set("synchronous_commit", "maybe", false).unwrap_err().code, "22023");
        assert_eq!(v.set("port", "5433", true).unwrap_err().code, "55P02");
        assert_eq!(v.set("no_such_thing", "1", true).unwrap_err().code, "42704");
        assert_eq!(v.set("server_version", "1", true).unwrap_err().code, "55P02");
        assert_eq!(parse_size("16MB"), Some(16 << 20));
    }
}

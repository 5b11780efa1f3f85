//! Data-driven MVCC scenarios with golden outputs.
//!
//! Each file in `tests/scripts/mvcc/` is one scenario: commands, each followed
//! by its expected output on lines starting with `> `. Several transactions run
//! concurrently, each in its own task, so a command that must wait for a lock
//! prints `blocked`, and its result shows up later as `(unblocked)` — the
//! interleaving is the point of the scenario.
//!
//! ```text
//! create t (id int pk, v int)
//! t1: begin rr
//! t1: insert t 1, 10
//! > ok
//! ```
//!
//! Commands: `create TABLE (col type [pk], …)`, `TXN: begin [rc|rr]`,
//! `TXN: insert TABLE v, …`, `TXN: insert_many TABLE (v, …) (v, …)` (one
//! batch, as COPY inserts), `TXN: update TABLE KEY set COL=V[, …]` (COL=COL+N
//! allowed), `TXN: delete TABLE KEY`, `TXN: lock TABLE KEY`, `TXN: get TABLE KEY`,
//! `TXN: scan TABLE`, `TXN: commit`, `TXN: precommit` then `TXN: finish` (the
//! two halves of commit: the commit record, then flush and end), `TXN: rollback`, `TXN: savepoint NAME`,
//! `TXN: rollback to NAME`, `vacuum`, `restart` (checkpoint-free reopen:
//! recovery from the WAL). A reader outside any transaction (`Engine::reader`,
//! what an autocommit key lookup uses): `NAME: read`, `NAME: get TABLE KEY`,
//! `NAME: end`. Run with `UPDATE_GOLDEN=1` to rewrite expectations.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duetdb_storage::catalog::{ColumnDef, IndexDef, TableDef};
use duetdb_storage::reader::Reader;
use duetdb_storage::transaction::collect_rows;
use duetdb_storage::wal::WalConfig;
use duetdb_storage::{Catalog, DataType, Engine, EngineConfig, Error, Isolation, ReadView, Transaction, Value, WriteOutcome};
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<String>;

struct TxnTask {
    id: u64,
    tx: mpsc::UnboundedSender<(String, Reply)>,
}

struct Runner {
    dir: tempfile::TempDir,
    engine: Arc<Engine>,
    txns: BTreeMap<String, TxnTask>,
    readers: BTreeMap<String, Reader>,
    pending: Vec<(String, oneshot::Receiver<String>, u64)>,
    blocked: std::collections::HashSet<String>,
    out: Vec<String>,
}

async fn open(dir: &Path) -> Arc<Engine> {
    let mut cfg = EngineConfig::new(dir);
    cfg.wal = WalConfig { fsync: false, ..WalConfig::default() };
    cfg.background = false;
    Engine::open(cfg).await.unwrap()
}

impl Runner {
    async fn new() -> Runner {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(dir.path());
        cfg.wal.fsync = false;
        Engine::init(&cfg, Catalog::bootstrap("duet", None)).await.unwrap();
        let engine = open(dir.path()).await;
        Runner {
            dir,
            engine,
            txns: BTreeMap::new(),
            readers: BTreeMap::new(),
            pending: Vec::new(),
            blocked: Default::default(),
            out: Vec::new(),
        }
    }

    async fn run(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("create ") {
            let r = create_table(&self.engine, rest).await;
            self.out.push(r);
        } else if line == "vacuum" {
            let s = self.engine.vacuum();
            self.out.push(format!("removed {} versions, {} rows", s.versions_removed, s.rows_removed));
        } else if line == "restart" {
            assert!(self.txns.is_empty() && self.readers.is_empty(), "restart with transactions or readers open");
            self.engine.shutdown(false).await.unwrap();
            let dir = self.dir.path().to_path_buf();
            let old = std::mem::replace(&mut self.engine, open(&dir).await);
            drop(old);
            self.out.push("ok".into());
        } else if let Some((name, cmd)) = line.split_once(": ") {
            if cmd == "read" {
                self.readers.insert(name.to_string(), self.engine.reader());
                self.out.push("ok".into());
            } else if let Some(reader) = self.readers.get(name) {
                if cmd == "end" {
                    self.readers.remove(name);
                    self.out.push("ok".into());
                } else {
                    let (table, key) = cmd.strip_prefix("get ").and_then(|r| r.split_once(' ')).expect("a reader only gets");
                    let view = reader.view();
                    let def = view.catalog.table_by_name("public", table).cloned().expect("table");
                    self.out.push(match find_in(view, &def, &parse_value(key)) {
                        Some((_, row)) => show_row(&row),
                        None => "none".into(),
                    });
                }
            } else if cmd.starts_with("begin") {
                let iso = if cmd.contains("rr") { Isolation::RepeatableRead } else { Isolation::ReadCommitted };
                let txn = self.engine.begin(iso);
                let id = txn.id();
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(txn_task(txn, rx));
                self.txns.insert(name.to_string(), TxnTask { id, tx });
                self.out.push("ok".into());
            } else {
                let task = self.txns.get(name).unwrap_or_else(|| panic!("no transaction {name}"));
                let (reply, rx) = oneshot::channel();
                let id = task.id;
                task.tx.send((cmd.to_string(), reply)).unwrap();
                if cmd == "commit" || cmd == "rollback" || cmd == "finish" {
                    self.txns.remove(name);
                }
                self.pending.push((name.to_string(), rx, id));
                self.settle(name).await;
            }
        } else {
            panic!("unknown command: {line}");
        }
    }

    /// Waits until every pending command finished or is stably waiting for a lock.
    async fn settle(&mut self, current: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut waiting_since: HashMap<String, Instant> = HashMap::new();
        // Results are printed in a fixed order (this command's, then unblocked
        // ones by name), whatever order the tasks happened to finish in.
        let mut mine = None;
        let mut unblocked = BTreeMap::new();
        loop {
            let mut still = Vec::new();
            for (name, mut rx, id) in std::mem::take(&mut self.pending) {
                match rx.try_recv() {
                    Ok(s) if self.blocked.remove(&name) => {
                        unblocked.insert(name, s);
                    }
                    Ok(s) => mine = Some(s),
                    Err(oneshot::error::TryRecvError::Empty) => still.push((name, rx, id)),
                    Err(e) => panic!("{e}"),
                }
            }
            self.pending = still;
            let mut all_waiting = true;
            for (name, _, id) in &self.pending {
                if self.engine.waits.waiting_for(*id).is_some() {
                    waiting_since.entry(name.clone()).or_insert_with(Instant::now);
                } else {
                    waiting_since.remove(name);
                    all_waiting = false;
                }
            }
            let stable = waiting_since.values().all(|t| t.elapsed() > Duration::from_millis(50));
            if self.pending.is_empty() || (all_waiting && stable) {
                break;
            }
            assert!(Instant::now() < deadline, "scenario hung: {:?}", self.pending.iter().map(|p| &p.0).collect::<Vec<_>>());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.out.extend(mine);
        if self.pending.iter().any(|(n, _, _)| n == current) && !self.blocked.contains(current) {
            self.out.push("blocked".into());
            self.blocked.insert(current.to_string());
        }
        for (name, s) in unblocked {
            self.out.push(format!("{name}: (unblocked) {s}"));
        }
    }
}

async fn txn_task(mut txn: Transaction, mut rx: mpsc::UnboundedReceiver<(String, Reply)>) {
    while let Some((cmd, reply)) = rx.recv().await {
        if cmd == "precommit" {
            // The commit record only: the transaction is pre-committed until `finish`.
            let r = match txn.prepare_commit() {
                Ok(p) => {
                    let _ = reply.send("ok".into());
                    p
                }
                Err(e) => {
                    let _ = reply.send(fmt_err(&e));
                    return;
                }
            };
            let Some((next, reply)) = rx.recv().await else { return };
            assert_eq!(next, "finish", "after precommit only finish");
            let _ = r.wait_flushed().await;
            r.finish();
            let _ = reply.send("ok".into());
            return;
        }
        if cmd == "commit" {
            let r = match txn.prepare_commit() {
                Ok(p) if p.rolled_back() => "rolled back".to_string(),
                Ok(p) => match p.wait_flushed().await {
                    Ok(()) => {
                        p.finish();
                        "ok".to_string()
                    }
                    Err(e) => fmt_err(&e),
                },
                Err(e) => fmt_err(&e),
            };
            let _ = reply.send(r);
            return;
        }
        if cmd == "rollback" {
            txn.rollback();
            let _ = reply.send("ok".into());
            return;
        }
        let r = run_statement(&mut txn, &cmd).await;
        let _ = reply.send(r);
    }
}

fn fmt_err(e: &Error) -> String {
    format!("ERROR {}: {e}", e.sqlstate())
}

async fn run_statement(txn: &mut Transaction, cmd: &str) -> String {
    if let Some(name) = cmd.strip_prefix("rollback to ") {
        return match txn.rollback_to_savepoint(name) {
            Ok(()) => "ok".into(),
            Err(e) => fmt_err(&e),
        };
    }
    if txn.is_failed() {
        return "ERROR 25P02: current transaction is aborted, commands ignored until end of transaction block".into();
    }
    if let Some(name) = cmd.strip_prefix("savepoint ") {
        return match txn.savepoint(name) {
            Ok(()) => "ok".into(),
            Err(e) => fmt_err(&e),
        };
    }
    let mut restarts = 0;
    loop {
        if let Err(e) = txn.begin_statement() {
            return fmt_err(&e);
        }
        match statement(txn, cmd).await {
            Ok(s) => {
                return if restarts > 0 { format!("{s} (after {restarts} restart)") } else { s };
            }
            Err(Error::RetryStatement) => {
                restarts += 1;
                txn.rollback_statement().unwrap();
                continue;
            }
            Err(e) => {
                txn.fail();
                return fmt_err(&e);
            }
        }
    }
}

fn parse_value(s: &str) -> Value {
    let s = s.trim();
    if s == "null" {
        Value::Null
    } else if s == "true" || s == "false" {
        Value::Bool(s == "true")
    } else if let Some(t) = s.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Value::Text(t.to_string())
    } else {
        Value::Int64(s.parse().unwrap_or_else(|_| panic!("bad value {s}")))
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Text(s) => format!("'{s}'"),
        Value::Bool(b) => b.to_string(),
        v => v.as_i64().map(|i| i.to_string()).unwrap_or_else(|| format!("{v:?}")),
    }
}

fn show_row(row: &[Value]) -> String {
    format!("({})", row.iter().map(show).collect::<Vec<_>>().join(", "))
}

/// Finds the row whose first column equals `key`, as this statement sees it.
fn find(txn: &Transaction, def: &TableDef, key: &Value) -> Option<(u64, Vec<Value>)> {
    find_in(&txn.read_view(), def, key)
}

fn find_in(view: &ReadView, def: &TableDef, key: &Value) -> Option<(u64, Vec<Value>)> {
    collect_rows(view, def).into_iter().find(|(_, r)| r[0].as_i64() == key.as_i64() && r[0].as_str() == key.as_str())
}

async fn statement(txn: &mut Transaction, cmd: &str) -> Result<String, Error> {
    let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let catalog = txn.catalog();
    let (table, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let def = catalog.table_by_name("public", table).cloned().ok_or_else(|| Error::UndefinedTable(table.into()))?;
    match verb {
        "insert" => {
            let values: Vec<Value> = args.split(',').map(parse_value).collect();
            txn.insert(&def, values).await?;
            Ok("ok".into())
        }
        "insert_many" => {
            // insert_many TABLE (v, …) (v, …): one insert_batch (COPY's path)
            let rows: Vec<Vec<Value>> = args
                .split(')')
                .map(|r| r.trim().trim_start_matches('('))
                .filter(|r| !r.is_empty())
                .map(|r| r.split(',').map(parse_value).collect())
                .collect();
            let n = txn.insert_batch(&def, rows).await?;
            Ok(format!("{n} rows"))
        }
        "get" => Ok(match find(txn, &def, &parse_value(args)) {
            Some((_, row)) => show_row(&row),
            None => "none".into(),
        }),
        "scan" => {
            let view = txn.read_view();
            let mut rows = collect_rows(&view, &def);
            rows.sort_by_key(|(_, r)| r[0].as_i64());
            Ok(if rows.is_empty() { "(empty)".into() } else { rows.iter().map(|(_, r)| show_row(r)).collect::<Vec<_>>().join(" ") })
        }
        "update" => {
            let (key, sets) = args.split_once(" set ").expect("update TABLE KEY set COL=V");
            let Some((rowid, mut row)) = find(txn, &def, &parse_value(key)) else { return Ok("0 rows".into()) };
            for assign in sets.split(',') {
                let (col, expr) = assign.split_once('=').unwrap();
                let c = def.column(col.trim()).unwrap();
                row[c] = match expr.split_once('+') {
                    Some((_, n)) => Value::Int64(row[c].as_i64().unwrap() + n.trim().parse::<i64>().unwrap()),
                    None => parse_value(expr),
                };
            }
            Ok(match txn.update(&def, rowid, row).await? {
                WriteOutcome::Done => "1 row".into(),
                other => format!("0 rows ({other:?})"),
            })
        }
        "delete" => {
            let Some((rowid, _)) = find(txn, &def, &parse_value(args)) else { return Ok("0 rows".into()) };
            Ok(match txn.delete(&def, rowid).await? {
                WriteOutcome::Done => "1 row".into(),
                other => format!("0 rows ({other:?})"),
            })
        }
        "lock" => {
            let Some((rowid, row)) = find(txn, &def, &parse_value(args)) else { return Ok("none".into()) };
            txn.lock_row(&def, rowid, duetdb_storage::RowLockMode::Update).await?;
            Ok(format!("locked {}", show_row(&row)))
        }
        v => panic!("unknown verb {v}"),
    }
}

async fn create_table(engine: &Arc<Engine>, spec: &str) -> String {
    // name (col type [pk] [unique], …)
    let (name, cols) = spec.split_once(' ').unwrap();
    let cols = cols.trim().trim_start_matches('(').trim_end_matches(')');
    let mut txn = engine.begin(Isolation::ReadCommitted);
    txn.begin_statement().unwrap();
    let mut cat = (*txn.catalog()).clone();
    let id = cat.alloc_oid();
    let relfilenode = cat.alloc_relfilenode();
    let mut columns = Vec::new();
    let mut indexes = Vec::new();
    for (i, c) in cols.split(',').enumerate() {
        let words: Vec<&str> = c.split_whitespace().collect();
        let ty = match words[1] {
            "int" => DataType::Int64,
            "text" => DataType::Text,
            "bool" => DataType::Bool,
            t => panic!("type {t}"),
        };
        let pk = words.contains(&"pk");
        if pk || words.contains(&"unique") {
            let iid = cat.alloc_oid();
            indexes.push(IndexDef {
                id: iid,
                name: format!("{name}_{}", if pk { "pkey".to_string() } else { format!("{}_key", words[0]) }),
                columns: vec![i],
                unique: true,
                primary: pk,
                constraint: true,
            });
        }
        columns.push(ColumnDef::new(words[0], ty, !pk));
    }
    let def = TableDef { indexes, ..TableDef::new(id, "public", name, relfilenode, columns) };
    cat.tables.insert(id, Arc::new(def));
    match txn.set_catalog(cat).await {
        Ok(()) => {
            txn.commit().await.unwrap();
            "ok".into()
        }
        Err(e) => fmt_err(&e),
    }
}

async fn run_file(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut runner = Runner::new().await;
    let mut rewritten = String::new();
    let mut failures = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.starts_with("> ") || line == ">" {
            continue;
        }
        rewritten.push_str(line);
        rewritten.push('\n');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut expected = Vec::new();
        while i < lines.len() && (lines[i].starts_with("> ") || lines[i] == ">") {
            expected.push(lines[i].trim_start_matches('>').trim_start().to_string());
            i += 1;
        }
        runner.out.clear();
        runner.run(line).await;
        let got: Vec<String> = runner.out.clone();
        for g in &got {
            rewritten.push_str("> ");
            rewritten.push_str(g);
            rewritten.push('\n');
        }
        if got != expected {
            failures.push(format!("{}: `{line}`\n  expected: {expected:?}\n  got:      {got:?}", path.display()));
        }
    }
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(path, rewritten).unwrap();
    } else if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mvcc_scenarios() {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        // At run time (cargo sets it): a shared target dir may hold a binary
        // compiled in another checkout.
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .join("tests/scripts/mvcc");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        run_file(&f).await;
    }
}

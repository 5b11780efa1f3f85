//! Stock client tools against duetdb: psql's meta-commands and pgbench.
//! `.ci/run` installs them (Debian's postgresql-client and postgresql).

mod common;

use common::*;

#[tokio::test]
async fn psql_meta_commands_describe_tables() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY, name varchar(20) NOT NULL DEFAULT 'x');
         CREATE TABLE child (id bigint PRIMARY KEY, parent_id int REFERENCES parent(id), note text);
         CREATE INDEX child_note ON child (note);",
    )
    .await
    .unwrap();
    let (ok, out, err) = s.psql(&["-c", "\\dt"]);
    assert!(ok, "{err}");
    assert!(out.contains("child") && out.contains("parent") && out.contains("table"), "{out}");
    let (ok, out, err) = s.psql(&["-c", "\\d child"]);
    assert!(ok, "{err}");
    for want in [
        "Table \"public.child\"",
        "parent_id",
        "bigint",
        "\"child_pkey\" PRIMARY KEY, btree (id)",
        "\"child_note\" btree (note)",
        "FOREIGN KEY (parent_id) REFERENCES parent(id)",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let (ok, out, err) = s.psql(&["-c", "\\d+ parent"]);
    assert!(ok, "{err}");
    assert!(out.contains("character varying(20)") && out.contains("Referenced by"), "{out}");
    for cmd in ["\\di", "\\dn", "\\du", "\\l", "\\conninfo", "\\dt+"] {
        let (ok, out, err) = s.psql(&["-c", cmd]);
        assert!(ok, "{cmd}: {err}");
        assert!(!out.is_empty(), "{cmd}");
    }
    let (ok, out, _) = s.psql(&["-At", "-c", "SELECT count(*) FROM parent"]);
    assert!(ok);
    assert_eq!(out.trim(), "0");
}

fn pgbench(s: &TestServer, args: &[&str]) -> String {
    let out = std::process::Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "-U", SUPERUSER])
        .args(args)
        .arg("postgres")
        .output()
        .expect("pgbench is installed (.ci/run installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pgbench {args:?} failed:\n{text}");
    text
}

fn processed(out: &str) -> i64 {
    out.lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|n| n.split('/').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no transaction count in:\n{out}"))
}

#[tokio::test]
async fn pgbench_runs_and_keeps_tpcb_invariants() {
    let s = TestServer::start();
    pgbench(&s, &["-i", "-s", "2", "-q"]);
    let mut total = 0;
    for mode in [&["-M", "simple"][..], &["-M", "prepared"][..], &["-M", "extended"][..]] {
        let mut args = vec!["-n", "-c", "4", "-j", "2", "-T", "3"];
        args.extend_from_slice(mode);
        let out = pgbench(&s, &args);
        assert!(!out.contains("error"), "{out}");
        total += processed(&out);
    }
    let out = pgbench(&s, &["-n", "-S", "-c", "4", "-j", "2", "-T", "2", "-M", "prepared"]);
    assert!(processed(&out) > 0);
    let c = s.connect().await;
    let sums = rows(
        &c,
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches),
                (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)",
    )
    .await;
    let v: Vec<String> = sums[0].iter().map(|x| x.clone().unwrap()).collect();
    assert!(v.iter().all(|x| *x == v[0]), "TPC-B sums differ: {v:?}");
    assert_eq!(one(&c, "SELECT count(*) FROM pgbench_history").await, total.to_string());
}

//! PostgreSQL-compatibility scripts, pg_regress style.
//!
//! Each `tests/regress/sql/NAME.sql` runs through psql (`-X -a -q`, errors
//! not stopping the script) against a fresh duetdb server, and its output —
//! the echoed statements, results and error lines — must equal
//! `tests/regress/expected/NAME.out` byte for byte. The expected files are
//! PostgreSQL 15's own output for the same scripts, made by
//! `scripts/regress_expected.sh` against a PostgreSQL server: a test here
//! asserts "answers as PostgreSQL answers", not what duetdb happened to print.
//!
//! On a mismatch the actual output is written next to the expected one as
//! `NAME.out.actual` (git-ignored) and the first differing lines are shown.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;

/// Runs one script with psql; stdout and stderr interleaved as a terminal shows them.
fn run_script(server: &TestServer, script: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec psql -X -a -q -h 127.0.0.1 -p {} -U {} -d postgres < '{}' 2>&1",
            server.port,
            common::SUPERUSER,
            script.display()
        ))
        // The session must start from the server's defaults, as the expected output did.
        .env_remove("PGOPTIONS")
        .env_remove("PGTZ")
        .env_remove("PGDATESTYLE")
        .env_remove("PGCLIENTENCODING")
        .output()
        .expect("psql is installed (.ci/run installs postgresql-client)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn first_difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let i = e.iter().zip(&a).position(|(x, y)| x != y).unwrap_or(e.len().min(a.len()));
    let from = i.saturating_sub(3);
    let show = |lines: &[&str]| lines.iter().skip(from).take(10).map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n");
    format!("first difference at line {}:\n  PostgreSQL:\n{}\n  duetdb:\n{}", i + 1, show(&e), show(&a))
}

#[test]
fn scripts_answer_as_postgres_does() {
    let root = common::manifest_dir().join("tests/regress");
    let mut scripts: Vec<_> = std::fs::read_dir(root.join("sql"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "no scripts in tests/regress/sql");
    let mut failures = Vec::new();
    for script in &scripts {
        let name = script.file_stem().unwrap().to_string_lossy().into_owned();
        let expected_path = root.join("expected").join(format!("{name}.out"));
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let server = TestServer::start();
        let actual = run_script(&server, script);
        let actual_path = expected_path.with_extension("out.actual");
        if actual == expected {
            let _ = std::fs::remove_file(&actual_path);
        } else {
            std::fs::write(&actual_path, &actual).unwrap();
            failures.push(format!("{name}: {}", first_difference(&expected, &actual)));
        }
    }
    assert!(failures.is_empty(), "{} of {} scripts differ from PostgreSQL:\n{}", failures.len(), scripts.len(), failures.join("\n\n"));
}

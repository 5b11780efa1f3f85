//! The examples run against a real primary and standby, so they never rot:
//! the Rust program (OLTP on the primary, read-your-writes on the standby)
//! and the Jupyter notebooks, executed headless with `jupyter nbconvert`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn uri(s: &TestServer) -> String {
    format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", s.port)
}

/// target/debug/examples/<name>, next to this test's target/debug/deps/.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples").join(name)
}

async fn cluster_with_sample() -> (TestServer, TestServer) {
    let primary = TestServer::start();
    let p = primary.connect().await;
    p.batch_execute(duetdb::demo::SAMPLE).await.unwrap();
    let standby = TestServer::start_standby(&primary, &[]);
    let s = standby.connect().await;
    catch_up(&p, &s).await;
    (primary, standby)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_example_reads_its_own_write_on_the_standby() {
    let (primary, standby) = cluster_with_sample().await;
    let bin = example_binary("read_your_writes");
    assert!(bin.exists(), "{} is built by `cargo build --all-targets`", bin.display());
    let out = Command::new(&bin).arg(uri(&primary)).arg(uri(&standby)).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "example failed:\n{text}");
    assert!(text.contains("standby: sees id 200") && text.contains("top accounts of 200 events"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notebooks_execute_against_a_read_replica() {
    if Command::new("jupyter").arg("--version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "jupyter is missing: .ci/run installs it (pip install nbconvert ipykernel …)");
        eprintln!("jupyter not installed: notebooks not executed (CI runs them)");
        return;
    }
    let (primary, standby) = cluster_with_sample().await;
    let out_dir = tempfile::tempdir().unwrap();
    let notebooks = manifest_dir().join("examples/notebooks");
    let out = Command::new("jupyter")
        .args(["nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300", "--output-dir"])
        .arg(out_dir.path())
        .arg(notebooks.join("replica_analytics.ipynb"))
        .arg(notebooks.join("freshness.ipynb"))
        .env("DUETDB_PRIMARY_URI", uri(&primary))
        .env("DUETDB_STANDBY_URI", uri(&standby))
        .env("DUETDB_NOTEBOOK_OUT", out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "a notebook failed:\n{}", String::from_utf8_lossy(&out.stderr));
    for png in ["revenue_by_region.png", "monthly_revenue.png", "freshness.png"] {
        let meta = std::fs::metadata(out_dir.path().join(png)).unwrap_or_else(|_| panic!("{png} was not plotted"));
        assert!(meta.len() > 1000, "{png} is empty");
    }
}

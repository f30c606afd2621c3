//! Crash test: kill -9 the `fanz` process in the middle of a batch load, then check that every
//! batch is either fully applied or absent and `fanz ledger verify` passes.

use fanz_store::sqlx::{self, Row};
use fanz_store::testing::TestDb;
use fanz_store::Backend;
use std::process::{Command, Stdio};
use std::time::Duration;

const BATCH: i64 = 250;

async fn crash_and_verify(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    let store = db.store().await.unwrap();
    let bin = env!("CARGO_BIN_EXE_fanz");
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "bench",
            "ledger",
            "--entries",
            "100000000",
            "--batch",
            &BATCH.to_string(),
            "--accounts",
            "64",
        ])
        .env("FANZ_DATABASE_URL", &db.url)
        .env("FANZ_DATA_DIR", data.path())
        .env("FANZ_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until several batches have committed, then kill without warning. The bound (five
    // minutes) only stops a broken test from hanging: a debug build on a loaded machine may
    // need far longer than an idle one to get going.
    let mut committed = 0i64;
    for _ in 0..6000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        committed = sqlx::query("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .get(0);
        if committed >= 5 * BATCH {
            break;
        }
    }
    assert!(
        committed >= 5 * BATCH,
        "the load did not get going ({committed} entries)"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let total: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_entries")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        total % BATCH,
        0,
        "a batch was applied in part: {total} entries"
    );
    let postings: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_postings")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(postings, total * 2, "an entry lost postings");
    store.close().await;

    let out = Command::new(bin)
        .args(["ledger", "verify"])
        .env("FANZ_DATABASE_URL", &db.url)
        .env("FANZ_DATA_DIR", data.path())
        .env("FANZ_LOG", "warn")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "verify failed: {report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries"], total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_mid_load() {
    crash_and_verify(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_mid_load() {
    crash_and_verify(Backend::Postgres).await;
}

//! Crash test: a child process (this test binary re-invoked on its `crash_child` helper) loads
//! linked batches as fast as it can and is killed with SIGKILL in the middle; then every batch
//! must be wholly present or wholly absent, the books must verify, the audit chain must hold,
//! and after a restart the load resumes, replaying what had committed. Both backends.

mod common;

use common::*;
use fanz_ledger::{AccountKind, BatchMode, EntryInput};
use fanz_store::sqlx::{self, Row};
use fanz_store::{Backend, Store};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

const BATCH: usize = 500;
const ACCOUNTS: usize = 16;
const CHILD_ENV: &str = "FANZ_LEDGER_CRASH_CHILD_URL";

fn batch(n: usize) -> Vec<EntryInput> {
    (0..BATCH)
        .map(|i| {
            let k = n * BATCH + i;
            let mut e = transfer(
                &format!("crash-{n}-{i}"),
                "cash",
                &format!("wallet:{}", k % ACCOUNTS),
                1 + (k % 97) as i64,
            );
            e.metadata = Some(serde_json::json!({"batch": n}));
            e
        })
        .collect()
}

async fn load(store: &Store, from: usize, to: usize) -> usize {
    let mut replayed = 0;
    for n in from..to {
        let mut tx = store.begin().await.unwrap();
        let out = fanz_ledger::post_batch_as(&mut tx, &batch(n), BatchMode::Linked, &actor())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        replayed += out
            .iter()
            .filter(|r| r.entry.as_ref().unwrap().replayed)
            .count();
    }
    replayed
}

/// The child: load batches until killed. Not a test on its own: it does nothing unless the
/// crash test starts it with the database URL in the environment.
#[tokio::test]
#[ignore = "helper process for the crash tests"]
async fn crash_child() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::connect(&url, 2).await.unwrap();
    load(&store, 0, usize::MAX).await;
}

async fn entries_per_batch(store: &Store) -> BTreeMap<String, i64> {
    sqlx::query("SELECT idempotency_key FROM ledger_entries WHERE idempotency_key LIKE 'crash-%'")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .fold(BTreeMap::new(), |mut m, r| {
            let key: String = r.get(0);
            let n = key.split('-').nth(1).unwrap().to_owned();
            *m.entry(n).or_default() += 1;
            m
        })
}

async fn crash_and_recover(backend: Backend) {
    let Some(db) = fanz_store::testing::TestDb::new(backend).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    let store = db.store().await.unwrap();
    open(&store, "cash", AccountKind::Asset, "USD", &[]).await;
    for w in 0..ACCOUNTS {
        open(
            &store,
            &format!("wallet:{w}"),
            AccountKind::Liability,
            "USD",
            &[],
        )
        .await;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--test-threads", "1"])
        .env(CHILD_ENV, &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let a few batches commit, then kill at a moment that varies from run to run.
    let mut committed = 0;
    // Five minutes at most: only a bound against hanging, generous for a loaded machine.
    for _ in 0..12000 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        committed = entries_per_batch(&store).await.len();
        if committed >= 3 {
            break;
        }
    }
    assert!(committed >= 3, "the child did not get going");
    tokio::time::sleep(Duration::from_millis(
        fanz_core::clock::now_micros() as u64 % 97,
    ))
    .await;
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    store.close().await;

    // Restart: open the store again as a fresh process would.
    let store = Store::connect(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let batches = entries_per_batch(&store).await;
    for (n, count) in &batches {
        assert_eq!(*count, BATCH as i64, "batch {n} is partly applied");
    }
    let done = batches.len();
    let mut db_conn = store.conn().await.unwrap();
    assert_verifies(&mut db_conn).await;
    let verdict = fanz_audit::verify(&mut db_conn).await.unwrap();
    assert!(
        matches!(verdict, fanz_audit::Verdict::Intact { .. }),
        "{verdict:?}"
    );
    drop(db_conn);
    // The load resumes from the start: committed batches replay, the rest post.
    let replayed = load(&store, 0, done + 2).await;
    assert_eq!(replayed, done * BATCH);
    assert_eq!(entries_per_batch(&store).await.len(), done + 2);
    verify_store(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_batch_sqlite() {
    crash_and_recover(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_batch_postgres() {
    crash_and_recover(Backend::Postgres).await;
}

//! Many tasks posting at once to one hot account (the platform fee account's situation): no
//! lost update, and concurrent duplicates of one request post it exactly once. Both backends.

mod common;

use common::*;
use fanz_ledger::{AccountKind, LedgerError};
use fanz_store::Store;

const TASKS: usize = 8;

fn per_task() -> usize {
    std::env::var("FANZ_LEDGER_TEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        * 40
}

/// Post, retrying while another transaction holds the same key uncommitted.
async fn post_retrying(store: &Store, e: &fanz_ledger::EntryInput) -> fanz_ledger::EntryOutcome {
    loop {
        match post(store, e).await {
            Ok(out) => return out,
            Err(LedgerError::ConcurrentRequest) => tokio::task::yield_now().await,
            Err(other) => panic!("{other}"),
        }
    }
}

async fn hot_account(store: Store) {
    open(&store, "platform_fees", AccountKind::Revenue, "USD", &[]).await;
    for t in 0..TASKS {
        open(&store, &format!("cash:{t}"), AccountKind::Asset, "USD", &[]).await;
    }
    let n = per_task();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut sum = 0i64;
            for i in 0..n {
                let amount = (t * 1000 + i) as i64 % 97 + 1;
                let out = post_retrying(
                    &store,
                    &transfer(
                        &format!("t{t}-{i}"),
                        &format!("cash:{t}"),
                        "platform_fees",
                        amount,
                    ),
                )
                .await;
                assert!(!out.replayed);
                sum += amount;
            }
            sum
        }));
    }
    let mut expected = 0;
    for t in tasks {
        expected += t.await.unwrap();
    }
    assert_eq!(
        posted(&store, "platform_fees").await,
        expected,
        "lost update"
    );
    let mut db = store.conn().await.unwrap();
    let report = fanz_ledger::verify(&mut db).await.unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.entries, (TASKS * n) as i64);
}
on_both_backends!(hot_account_no_lost_update, super::hot_account);

async fn duplicates_race(store: Store) {
    open(&store, "platform_fees", AccountKind::Revenue, "USD", &[]).await;
    open(&store, "cash", AccountKind::Asset, "USD", &[]).await;
    let rounds = per_task() / 4;
    for r in 0..rounds {
        let e = transfer(&format!("dup-{r}"), "cash", "platform_fees", 5);
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let store = store.clone();
            let e = e.clone();
            tasks.push(tokio::spawn(async move { post_retrying(&store, &e).await }));
        }
        let mut ids = Vec::new();
        let mut fresh = 0;
        for t in tasks {
            let out = t.await.unwrap();
            ids.push(out.entry.id);
            fresh += usize::from(!out.replayed);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one entry per key");
        assert_eq!(fresh, 1, "exactly one request posted it");
    }
    assert_eq!(posted(&store, "platform_fees").await, 5 * rounds as i64);
    verify_store(&store).await;
}
on_both_backends!(concurrent_duplicates_post_once, super::duplicates_race);

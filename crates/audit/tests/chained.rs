//! `fanz_audit::chained`: events appended in one transaction chain on from each other without
//! reading the tail again, a rolled-back savepoint's events are forgotten, and transactions
//! appending side by side still make one unbroken chain. On SQLite and, with
//! `FANZ_TEST_POSTGRES_URL`, PostgreSQL.

use fanz_audit::{chained, flush, hold, mark, record, rewind, verify, Actor, Verdict};
use fanz_store::sqlx::{self, Acquire, Row};
use fanz_store::testing::TestDb;
use fanz_store::{Backend, Store};
use serde_json::json;

async fn store(backend: Backend) -> Option<(TestDb, Store)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await.expect("store");
    Some((db, store))
}

async fn actions(store: &Store) -> Vec<String> {
    let mut conn = store.conn().await.unwrap();
    sqlx::query("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn intact(store: &Store) -> u64 {
    let mut conn = store.conn().await.unwrap();
    match verify(&mut conn).await.unwrap() {
        Verdict::Intact { entries } => entries,
        broken => panic!("chain broken: {broken:?}"),
    }
}

async fn one(store: &Store, action: &str) {
    let mut tx = store.begin().await.unwrap();
    ev(&mut tx, action).await;
    tx.commit().await.unwrap();
}

/// Append `action` on `db` as the system.
async fn ev(db: &mut fanz_store::Db, action: &str) {
    record(db, &Actor::system(), action, None, json!({}))
        .await
        .unwrap();
}

/// Append an event inside a savepoint of `tx`, roll the savepoint back and rewind the chain.
async fn rolled_back(tx: &mut fanz_store::Tx) {
    let m = mark();
    let mut sp = tx.begin().await.unwrap();
    ev(&mut sp, "rolled_back").await;
    sp.rollback().await.unwrap();
    rewind(m);
}

async fn savepoint_rolled_back_inside_a_chained_transaction(backend: Backend) {
    let Some((_db, store)) = store(backend).await else {
        return;
    };
    one(&store, "before").await;
    chained(async {
        let mut tx = store.begin().await.unwrap();
        hold(&tx);
        ev(&mut tx, "first").await;
        rolled_back(&mut tx).await;
        ev(&mut tx, "second").await;
        // A savepoint that is kept: its event stays in the chain.
        let mut sp = tx.begin().await.unwrap();
        ev(&mut sp, "kept").await;
        sp.commit().await.unwrap();
        ev(&mut tx, "third").await;
        assert_eq!(flush(&mut tx).await.unwrap(), 4);
        tx.commit().await.unwrap();
    })
    .await;
    one(&store, "after").await;
    assert_eq!(
        actions(&store).await,
        ["before", "first", "second", "kept", "third", "after"]
    );
    assert_eq!(intact(&store).await, 6);
}

/// The first event of a chained transaction is written inside a savepoint that is rolled back
/// (on PostgreSQL that also releases the chain's lock taken in it): the next event reads the
/// tail, and takes the lock, again.
async fn first_event_rolled_back(backend: Backend) {
    let Some((_db, store)) = store(backend).await else {
        return;
    };
    one(&store, "before").await;
    chained(async {
        let mut tx = store.begin().await.unwrap();
        hold(&tx);
        rolled_back(&mut tx).await;
        if backend == Backend::Postgres {
            // Another transaction appends meanwhile: it would wait for the chain's lock if
            // this one still held it. (SQLite has one writer: this transaction.)
            tokio::time::timeout(std::time::Duration::from_secs(30), one(&store, "other"))
                .await
                .expect("the rolled-back savepoint released the chain's lock");
        }
        ev(&mut tx, "mine").await;
        assert_eq!(flush(&mut tx).await.unwrap(), 1);
        tx.commit().await.unwrap();
    })
    .await;
    let expect: &[&str] = match backend {
        Backend::Postgres => &["before", "other", "mine"],
        Backend::Sqlite => &["before", "mine"],
    };
    assert_eq!(actions(&store).await, expect);
    assert_eq!(intact(&store).await, expect.len() as u64);
}

/// Chained transactions and plain records side by side: one chain.
async fn side_by_side(backend: Backend) {
    let Some((_db, store)) = store(backend).await else {
        return;
    };
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..5 {
                if t % 2 == 0 {
                    chained(async {
                        let mut tx = store.begin().await.unwrap();
                        hold(&tx);
                        for i in 0..5 {
                            ev(&mut tx, &format!("t{t}.r{round}.{i}")).await;
                        }
                        flush(&mut tx).await.unwrap();
                        tx.commit().await.unwrap();
                    })
                    .await;
                } else {
                    one(&store, &format!("t{t}.r{round}")).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(intact(&store).await, 2 * 5 * 5 + 2 * 5);
}

/// Events recorded on the held transaction wait for `flush`, which writes them in the order
/// recorded; events on another connection are written at once.
async fn written_at_flush(backend: Backend) {
    let Some((_db, store)) = store(backend).await else {
        return;
    };
    one(&store, "before").await;
    chained(async {
        let mut tx = store.begin().await.unwrap();
        hold(&tx);
        for i in 0..70 {
            ev(&mut tx, &format!("e{i}")).await;
        }
        let written: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .get(0);
        assert_eq!(written, 1, "nothing written before the flush");
        assert_eq!(flush(&mut tx).await.unwrap(), 70);
        assert_eq!(
            flush(&mut tx).await.unwrap(),
            0,
            "a second flush has nothing left"
        );
        tx.commit().await.unwrap();
    })
    .await;
    one(&store, "after").await;
    let mut expect = vec!["before".to_owned()];
    expect.extend((0..70).map(|i| format!("e{i}")));
    expect.push("after".into());
    assert_eq!(actions(&store).await, expect);
    assert_eq!(intact(&store).await, 72);
}

macro_rules! on_both_backends {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(fanz_store::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(fanz_store::Backend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    savepoint_rolled_back_inside_a_chained_transaction,
    first_event_rolled_back,
    side_by_side,
    written_at_flush
);

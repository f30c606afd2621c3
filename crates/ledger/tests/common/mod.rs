//! Helpers shared by the ledger's integration tests.
#![allow(dead_code)]

use fanz_audit::Actor;
use fanz_ledger::{AccountKind, Direction, EntryInput, LedgerError, NewAccount, PostingInput};
use fanz_store::sqlx::{self, Row};
use fanz_store::{Db, Store};

/// Run one async test body on a fresh store of each backend (PostgreSQL only when
/// `FANZ_TEST_POSTGRES_URL` is set).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::run(fanz_store::Backend::Sqlite, $body).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::run(fanz_store::Backend::Postgres, $body).await;
            }
        }
    };
}

pub async fn run<F, Fut>(backend: fanz_store::Backend, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(db) = fanz_store::testing::TestDb::new(backend).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    let store = db.store().await.expect("store");
    body(store.clone()).await;
    store.close().await;
}

pub fn actor() -> Actor {
    Actor::cli()
}

pub async fn open(store: &Store, code: &str, kind: AccountKind, currency: &str, flags: &[&str]) {
    let mut tx = store.begin().await.unwrap();
    fanz_ledger::create_account(
        &mut tx,
        &NewAccount {
            code: code.into(),
            kind,
            currency: currency.into(),
            name: String::new(),
            owner: "test".into(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
        },
        &actor(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

pub fn line(account: &str, direction: Direction, amount: i64, currency: &str) -> PostingInput {
    PostingInput {
        account: account.into(),
        direction,
        amount,
        currency: currency.into(),
    }
}

/// A simple transfer: debit `from`, credit `to`.
pub fn transfer(key: &str, from: &str, to: &str, amount: i64) -> EntryInput {
    EntryInput::new(
        key,
        vec![
            line(from, Direction::Debit, amount, "USD"),
            line(to, Direction::Credit, amount, "USD"),
        ],
    )
}

pub async fn post(store: &Store, e: &EntryInput) -> Result<fanz_ledger::EntryOutcome, LedgerError> {
    let mut tx = store.begin().await.unwrap();
    let out = fanz_ledger::post_entry_as(&mut tx, e, &actor()).await;
    if out.is_ok() {
        tx.commit().await.unwrap();
    }
    out
}

/// Everything the ledger has written, as one comparable value: table row counts (audit
/// included) and the trial balance.
pub async fn fingerprint(store: &Store) -> String {
    let mut db = store.conn().await.unwrap();
    let mut out = String::new();
    for t in [
        "ledger_accounts",
        "ledger_entries",
        "ledger_postings",
        "ledger_reserves",
        "ledger_settlement_imports",
        "audit_log",
    ] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&mut *db)
            .await
            .unwrap()
            .get(0);
        out.push_str(&format!("{t}={n};"));
    }
    out.push_str(
        &serde_json::to_string(&fanz_ledger::trial_balance(&mut db).await.unwrap()).unwrap(),
    );
    out
}

pub async fn assert_verifies(db: &mut Db) {
    let report = fanz_ledger::verify(db).await.unwrap();
    assert!(report.ok, "verify: {:?}", report.problems);
    for c in &report.currencies {
        assert_eq!(c.debits, c.credits, "{} does not net to zero", c.currency);
    }
}

pub async fn verify_store(store: &Store) {
    let mut db = store.conn().await.unwrap();
    assert_verifies(&mut db).await;
}

pub async fn posted(store: &Store, code: &str) -> i64 {
    let mut db = store.conn().await.unwrap();
    fanz_ledger::balance(&mut db, code).await.unwrap().posted
}

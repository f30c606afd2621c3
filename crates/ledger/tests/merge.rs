//! The per-account order of postings (on SQLite a recent part clustered by time and sorted
//! runs built from it by the `ledger.merge_postings` job) must read the same at every moment: history, balance at an instant, statements, reconciliation and verify give
//! the same answers just before and just after every merge chunk, while entries keep
//! arriving between chunks, and always agree with the postings themselves.

mod common;

use common::*;
use fanz_core::sample::SplitMix64 as Rng;
use fanz_ledger::merge::{merge_step, MergeConfig, MergePostings};
use fanz_ledger::{AccountKind, Direction, EntryInput};
use fanz_store::sqlx::{self, Row};
use fanz_store::{Backend, Db, Store};

on_both_backends!(
    history_is_the_same_across_merge_chunks,
    super::same_across_chunks
);
on_both_backends!(
    merge_job_beside_writers_and_readers,
    super::job_beside_writers
);

const PAYERS: usize = 6;
const CREATORS: usize = 12;
const HOT: &str = "platform_revenue:USD";
const CASH: &str = "cash:ccbill:USD";
const T0: i64 = 1_750_000_000_000_000;

fn payer(i: usize) -> String {
    if i == 0 {
        CASH.to_owned()
    } else {
        format!("payer:{i}:USD")
    }
}

fn creator(i: usize) -> String {
    format!("creator_payable:{}:USD", i + 1)
}

fn codes() -> Vec<String> {
    let mut out: Vec<String> = (0..PAYERS).map(payer).collect();
    out.extend((0..CREATORS).map(creator));
    out.push(HOT.to_owned());
    out
}

async fn open_books(store: &Store) {
    for i in 0..PAYERS {
        open(store, &payer(i), AccountKind::Asset, "USD", &[]).await;
    }
    for i in 0..CREATORS {
        open(
            store,
            &creator(i),
            AccountKind::Liability,
            "USD",
            &["debits_must_not_exceed_credits"],
        )
        .await;
    }
    open(store, HOT, AccountKind::Revenue, "USD", &[]).await;
}

/// Entry `n`: a payer pays a creator, the platform keeps a fee (every entry touches the hot
/// account); one in ten is dated back, one in forty is a hold.
fn entry(rng: &mut Rng, n: u64) -> EntryInput {
    let p = rng.below(PAYERS);
    // Skewed: creator 0 gets about half.
    let c = if rng.below(2) == 0 {
        0
    } else {
        rng.below(CREATORS)
    };
    let amount = 10 + rng.below(1000) as i64;
    let fee = 1 + amount / 5;
    let mut e = EntryInput::new(
        format!("merge-test:{n}"),
        vec![
            line(&payer(p), Direction::Debit, amount, "USD"),
            line(&creator(c), Direction::Credit, amount - fee, "USD"),
            line(HOT, Direction::Credit, fee, "USD"),
        ],
    );
    let back = if rng.below(10) == 0 {
        rng.below(1_000_000_000) as i64
    } else {
        0
    };
    e.effective_at = Some(T0 + n as i64 * 1000 - back);
    if p == 0 {
        e.causation = Some(format!("ref-{n}"));
    }
    e.pending = rng.below(40) == 0;
    e
}

/// The next `count` entries after entry `n`.
fn entries(rng: &mut Rng, n: &mut u64, count: usize) -> Vec<EntryInput> {
    (0..count)
        .map(|_| {
            *n += 1;
            entry(rng, *n)
        })
        .collect()
}

async fn post_many(store: &Store, entries: &[EntryInput]) -> Vec<i64> {
    let mut tx = store.begin().await.unwrap();
    let out = fanz_ledger::post_batch(&mut tx, entries, fanz_ledger::BatchMode::Linked)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    out.iter()
        .filter_map(|r| r.entry.as_ref())
        .filter(|o| o.entry.kind == "pending")
        .map(|o| o.entry.id)
        .collect()
}

/// Settle or release some open holds.
async fn settle_holds(store: &Store, holds: &mut Vec<i64>, rng: &mut Rng) {
    while holds.len() > 3 {
        let id = holds.remove(0);
        let mut tx = store.begin().await.unwrap();
        if rng.below(2) == 0 {
            fanz_ledger::post_pending(&mut tx, id, &format!("settle:{id}"), None)
                .await
                .unwrap();
        } else {
            fanz_ledger::void_pending(&mut tx, id, &format!("void:{id}"))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

/// Everything the per-account reads answer, as one comparable string.
async fn reads(db: &mut Db, import_id: i64) -> String {
    let mut out = String::new();
    for code in codes() {
        let history = fanz_ledger::history(db, &code, 1_000_000).await.unwrap();
        out.push_str(&serde_json::to_string(&history).unwrap());
        for at in [
            T0 - 1,
            T0 + 500_000,
            T0 + 5_000_000,
            T0 + 50_000_000,
            i64::MAX,
        ] {
            let b = fanz_ledger::balance_at(db, &code, at).await.unwrap();
            out.push_str(&format!("{code}@{at}={};", b.posted));
        }
    }
    for c in 1..=3 {
        let s = fanz_ledger::creator_statement(db, c, "USD", T0, T0 + 20_000_000)
            .await
            .unwrap();
        out.push_str(&serde_json::to_string(&s).unwrap());
    }
    let r = fanz_ledger::reconcile(db, import_id).await.unwrap();
    out.push_str(&serde_json::to_string(&r).unwrap());
    out
}

/// An account's posted lines `(entry, effective_at, debit, credit)` as the ledger's history
/// gives them, and straight from the postings (not through the per-account structure).
async fn history_and_postings(db: &mut Db, code: &str) -> (Vec<Line>, Vec<Line>) {
    let truth = sqlx::query(
        "SELECT p.entry_id, p.effective_at, p.debit, p.credit FROM ledger_postings p \
         JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE a.code = $1 AND p.pending = 0 ORDER BY p.effective_at, p.id",
    )
    .bind(code)
    .fetch_all(&mut *db)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect();
    let got = fanz_ledger::history(db, code, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|l| (l.entry_id, l.effective_at, l.debit, l.credit))
        .collect();
    (got, truth)
}

type Line = (i64, i64, i64, i64);

/// The history of every account straight from the postings (not through the per-account
/// structure), checked against what the ledger answers.
async fn check_against_postings(db: &mut Db) {
    for code in codes() {
        let (got, truth) = history_and_postings(db, &code).await;
        assert_eq!(got, truth, "history of {code}");
        let mid = T0 + 3_000_000;
        let (d, c) = truth
            .iter()
            .filter(|t| t.1 <= mid)
            .fold((0i64, 0i64), |(d, c), t| (d + t.2, c + t.3));
        let at = fanz_ledger::balance_at(db, &code, mid).await.unwrap();
        let debit_normal = code.starts_with("cash:") || code.starts_with("payer:");
        assert_eq!(
            at.posted,
            if debit_normal { d - c } else { c - d },
            "{code} at {mid}"
        );
    }
    assert_verifies(db).await;
}

/// Visible lines in the recent part and in the runs (SQLite).
async fn parts(db: &mut Db) -> (i64, i64) {
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM ledger_postings_recent \
                 WHERE bucket > (SELECT recent_floor FROM ledger_postings_merge)), \
                (SELECT COUNT(*) FROM ledger_postings_runs \
                 WHERE run <= (SELECT visible_run FROM ledger_postings_merge))",
    )
    .fetch_one(&mut *db)
    .await
    .unwrap();
    (r.get(0), r.get(1))
}

async fn import_file(store: &Store) -> i64 {
    let mut csv = String::from("reference,amount,currency\n");
    for n in 0..400 {
        csv.push_str(&format!("ref-{n},1.00,USD\n"));
    }
    let mut tx = store.begin().await.unwrap();
    let report = fanz_ledger::import_settlement(&mut tx, "ccbill", &csv, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    report.import_id
}

async fn same_across_chunks(store: Store) {
    open_books(&store).await;
    let import_id = import_file(&store).await;
    let config = MergeConfig {
        after_buckets: 1,
        chunk: 4_000,
    };
    let mut rng = Rng(15);
    let mut n = 0u64;
    let mut holds = Vec::new();
    let mut steps = 0;
    let mut db = store.conn().await.unwrap();
    // About 22,000 entries, 66,000 postings: four buckets of 16,384 and a fifth being written.
    for _round in 0..11 {
        let batch = entries(&mut rng, &mut n, 2_000);
        holds.extend(post_many(&store, &batch).await);
        settle_holds(&store, &mut holds, &mut rng).await;
        for _ in 0..100 {
            let before = reads(&mut db, import_id).await;
            let Some(lines) = merge_step(&store, &config).await.unwrap() else {
                break;
            };
            // A copy takes at most a chunk; a delete whole buckets.
            assert!(lines as usize <= config.chunk.max(16_384), "{lines}");
            steps += 1;
            let after = reads(&mut db, import_id).await;
            assert_eq!(before, after, "a merge chunk changed what the ledger reads");
            // Entries keep arriving between chunks.
            let count = 1 + rng.below(3);
            let few = entries(&mut rng, &mut n, count);
            holds.extend(post_many(&store, &few).await);
        }
        check_against_postings(&mut db).await;
    }
    if store.backend() == Backend::Sqlite {
        let (recent, in_runs) = parts(&mut db).await;
        assert!(steps >= 20, "{steps} merge steps");
        assert!(in_runs > 40_000, "{in_runs} lines in runs, {recent} recent");
        // Everything but the bucket being written is in runs, and the old buckets are gone.
        assert!(recent < 16_384 + 200, "{recent} lines still recent");
        let all: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_postings_recent")
            .fetch_one(&mut *db)
            .await
            .unwrap()
            .get(0);
        assert_eq!(all, recent, "deleted buckets remain");
        // The hot account (a third of all lines) was copied over several steps of its own.
        let hot: i64 = sqlx::query(
            "SELECT COUNT(*) FROM ledger_postings_runs x JOIN ledger_accounts a ON a.id = x.account_id \
             WHERE a.code = $1",
        )
        .bind(HOT)
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0);
        assert!(hot > config.chunk as i64, "{hot}");
    } else {
        assert_eq!(steps, 0, "PostgreSQL keeps its index and never merges");
    }
}

/// The job, through a real runner, beside a writer posting batches and a reader that checks
/// every account's history against the postings in one snapshot.
async fn job_beside_writers(store: Store) {
    open_books(&store).await;
    let mut registry = fanz_jobs::Registry::new();
    fanz_ledger::merge::register_merge(
        &mut registry,
        MergeConfig {
            after_buckets: 1,
            chunk: 5_000,
        },
    );
    let runner = fanz_jobs::Runner::new(
        store.clone(),
        registry,
        fanz_jobs::RunnerConfig {
            queues: vec![("maintenance".into(), 1)],
            poll_interval: std::time::Duration::from_millis(100),
            ..fanz_jobs::RunnerConfig::default()
        },
    )
    .start();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut checks = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) || checks == 0 {
                let mut db = store.conn().await.unwrap();
                let begin = match store.backend() {
                    Backend::Sqlite => "BEGIN",
                    Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ",
                };
                sqlx::query(begin).execute(&mut *db).await.unwrap();
                for code in [creator(0), creator(5), HOT.to_owned(), CASH.to_owned()] {
                    let (got, truth) = history_and_postings(&mut db, &code).await;
                    assert_eq!(got, truth, "history of {code} during the merge");
                }
                sqlx::query("COMMIT").execute(&mut *db).await.unwrap();
                checks += 1;
            }
            checks
        })
    };
    let mut rng = Rng(16);
    let mut holds = Vec::new();
    let mut n = 0u64;
    for _ in 0..12 {
        let batch = entries(&mut rng, &mut n, 2_000);
        holds.extend(post_many(&store, &batch).await);
        settle_holds(&store, &mut holds, &mut rng).await;
    }
    // Let the job catch up: every closed bucket merged.
    let mut db = store.conn().await.unwrap();
    if store.backend() == Backend::Sqlite {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let (recent, in_runs) = parts(&mut db).await;
            if in_runs > 0 && recent < 2 * 16_384 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the merge job did not catch up: {recent} recent, {in_runs} in runs"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    let checks = reader.await.unwrap();
    assert!(checks > 0);
    runner.shutdown().await;
    check_against_postings(&mut db).await;
    // The job is a kind the runner knows, and nothing of it failed.
    let dead: i64 = sqlx::query("SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'dead'")
        .bind(<MergePostings as fanz_jobs::Job>::KIND)
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(dead, 0);
}

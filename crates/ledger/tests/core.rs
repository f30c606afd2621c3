//! Accounts, entries, idempotency, refusals, batches, holds, reversals and balances, on SQLite
//! and (with `FANZ_TEST_POSTGRES_URL`) PostgreSQL.

mod common;

use common::*;
use fanz_ledger::{AccountKind, BatchMode, Direction, EntryInput, LedgerError, NewAccount};
use fanz_store::sqlx::{self, Row};
use fanz_store::Store;
use serde_json::json;

const NO_OVERDRAFT: &[&str] = &["debits_must_not_exceed_credits"];

async fn setup(store: &Store) {
    open(store, "cash", AccountKind::Asset, "USD", &[]).await;
    open(
        store,
        "wallet:1",
        AccountKind::Liability,
        "USD",
        NO_OVERDRAFT,
    )
    .await;
    open(
        store,
        "wallet:2",
        AccountKind::Liability,
        "USD",
        NO_OVERDRAFT,
    )
    .await;
    open(store, "revenue", AccountKind::Revenue, "USD", &[]).await;
    open(store, "cash_eur", AccountKind::Asset, "EUR", &[]).await;
    open(
        store,
        "btc",
        AccountKind::Asset,
        "BTC",
        &["credits_must_not_exceed_debits"],
    )
    .await;
    open(store, "btc_fees", AccountKind::Expense, "BTC", &[]).await;
}

async fn accounts_entries_idempotency(store: Store) {
    setup(&store).await;
    // Account creation refusals.
    let mut tx = store.begin().await.unwrap();
    let mut new = NewAccount {
        code: "cash".into(),
        kind: AccountKind::Asset,
        currency: "USD".into(),
        name: String::new(),
        owner: String::new(),
        flags: vec![],
    };
    let e = fanz_ledger::create_account(&mut tx, &new, &actor())
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("account_exists", 409));
    new.code = "other".into();
    new.currency = "XYZ".into();
    assert_eq!(
        fanz_ledger::create_account(&mut tx, &new, &actor())
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    new.currency = "USD".into();
    new.flags = vec!["nonsense".into()];
    assert!(fanz_ledger::create_account(&mut tx, &new, &actor())
        .await
        .is_err());
    new.code = "bad code!".into();
    new.flags = vec![];
    assert!(fanz_ledger::create_account(&mut tx, &new, &actor())
        .await
        .is_err());
    drop(tx);

    let top_up = transfer("k1", "cash", "wallet:1", 1_000);
    let first = post(&store, &top_up).await.unwrap();
    assert!(!first.replayed);
    assert_eq!(first.entry.postings.len(), 2);
    assert_eq!(posted(&store, "wallet:1").await, 1_000);
    assert_eq!(posted(&store, "cash").await, 1_000);

    // Replay: same key, same body → the original entry, nothing written.
    let before = fingerprint(&store).await;
    let again = post(&store, &top_up).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.entry.id, first.entry.id);
    assert_eq!(fingerprint(&store).await, before);

    // Same key, other body → conflict (409), nothing written.
    let mut other = top_up.clone();
    other.postings[0].amount = 999;
    other.postings[1].amount = 999;
    let e = post(&store, &other).await.unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("idempotency_conflict", 409));
    let mut other = top_up.clone();
    other.metadata = Some(json!({"note": "different"}));
    assert_eq!(
        post(&store, &other).await.unwrap_err().code(),
        "idempotency_conflict"
    );
    assert_eq!(fingerprint(&store).await, before);

    // Metadata, causation and effective time are kept.
    let mut e = transfer("k2", "wallet:1", "revenue", 300);
    e.metadata = Some(json!({"order": 7}));
    e.causation = Some("webhook:ccbill:abc".into());
    e.effective_at = Some(1_000_000);
    let out = post(&store, &e).await.unwrap();
    let mut db = store.conn().await.unwrap();
    let read = fanz_ledger::get_entry(&mut db, out.entry.id).await.unwrap();
    assert_eq!(read.metadata, json!({"order": 7}));
    assert_eq!(read.causation.as_deref(), Some("webhook:ccbill:abc"));
    assert_eq!(read.effective_at, 1_000_000);
    assert_eq!(read.postings.len(), 2);
    let b = fanz_ledger::balance(&mut db, "wallet:1").await.unwrap();
    assert_eq!(
        (b.posted, b.pending, b.available, b.currency.as_str()),
        (700, 0, 700, "USD")
    );

    // Multi-currency entries balance per currency.
    drop(db);
    let fx = EntryInput {
        postings: vec![
            line("cash", Direction::Debit, 100, "USD"),
            line("revenue", Direction::Credit, 100, "USD"),
            line("cash_eur", Direction::Debit, 90, "EUR"),
            line("btc", Direction::Credit, 1, "BTC"),
        ],
        ..transfer("k3", "a", "b", 1)
    };
    // EUR and BTC do not balance.
    assert_eq!(
        post(&store, &fx).await.unwrap_err().code(),
        "unbalanced_entry"
    );
    verify_store(&store).await;
}
on_both_backends!(
    accounts_entries_and_idempotency,
    super::accounts_entries_idempotency
);

/// Each refusal: the right code and status, and nothing written even when the caller commits
/// the transaction after the error.
async fn refusals_write_nothing(store: Store) {
    setup(&store).await;
    post(&store, &transfer("seed", "cash", "wallet:1", 500))
        .await
        .unwrap();
    let cases: Vec<(EntryInput, &str)> = vec![
        (
            EntryInput {
                postings: vec![line("cash", Direction::Debit, 5, "USD")],
                ..transfer("r1", "cash", "wallet:1", 1)
            },
            "too_few_postings",
        ),
        (
            EntryInput {
                postings: vec![
                    line("cash", Direction::Debit, 5, "USD"),
                    line("wallet:1", Direction::Credit, 4, "USD"),
                ],
                ..transfer("r2", "cash", "wallet:1", 1)
            },
            "unbalanced_entry",
        ),
        (transfer("r3", "cash", "nobody", 5), "unknown_account"),
        (
            EntryInput {
                postings: vec![
                    line("cash", Direction::Debit, 5, "EUR"),
                    line("wallet:1", Direction::Credit, 5, "EUR"),
                ],
                ..transfer("r4", "cash", "wallet:1", 1)
            },
            "currency_mismatch",
        ),
        (transfer("r5", "cash", "wallet:1", 0), "invalid_amount"),
        (transfer("r6", "cash", "wallet:1", -7), "invalid_amount"),
        (
            EntryInput {
                postings: vec![
                    line("cash", Direction::Debit, i64::MAX, "USD"),
                    line("cash", Direction::Debit, 1, "USD"),
                    line("wallet:1", Direction::Credit, i64::MAX, "USD"),
                    line("wallet:1", Direction::Credit, 1, "USD"),
                ],
                ..transfer("r7", "cash", "wallet:1", 1)
            },
            "invalid_amount",
        ),
        // One amount above the bound.
        (
            transfer("r8", "cash", "wallet:1", fanz_ledger::MAX_AMOUNT + 1),
            "invalid_amount",
        ),
        // wallet:1 holds 500 and may not go below zero.
        (
            transfer("r9", "wallet:1", "revenue", 501),
            "balance_flag_violation",
        ),
        // btc: credits must not exceed debits.
        (
            EntryInput {
                postings: vec![
                    line("btc", Direction::Credit, 1, "BTC"),
                    line("btc_fees", Direction::Debit, 1, "BTC"),
                ],
                ..transfer("r10", "x", "y", 1)
            },
            "balance_flag_violation",
        ),
        (
            EntryInput {
                idempotency_key: "   ".into(),
                ..transfer("x", "cash", "wallet:1", 1)
            },
            "invalid_request",
        ),
    ];
    // An account's own totals stay within 64 bits: the batch that would pass i64::MAX on
    // `cash` (19 entries of 500 postings at the bound) is refused whole.
    let at_bound: Vec<EntryInput> = (0..19)
        .map(|n| {
            let mut postings = Vec::with_capacity(1000);
            for _ in 0..500 {
                postings.push(line(
                    "cash",
                    Direction::Debit,
                    fanz_ledger::MAX_AMOUNT,
                    "USD",
                ));
                postings.push(line(
                    "revenue",
                    Direction::Credit,
                    fanz_ledger::MAX_AMOUNT,
                    "USD",
                ));
            }
            EntryInput::new(format!("bound-{n}"), postings)
        })
        .collect();
    let before = fingerprint(&store).await;
    let mut tx = store.begin().await.unwrap();
    let err = fanz_ledger::post_batch_as(&mut tx, &at_bound, BatchMode::Linked, &actor())
        .await
        .expect_err("past i64::MAX");
    assert_eq!(err.code(), "amount_overflow", "{err}");
    drop(tx);
    assert_eq!(fingerprint(&store).await, before);

    for (input, code) in cases {
        let before = fingerprint(&store).await;
        let mut tx = store.begin().await.unwrap();
        let err = fanz_ledger::post_entry_as(&mut tx, &input, &actor())
            .await
            .expect_err(code);
        assert_eq!(err.code(), code, "{err}");
        assert_eq!(err.http_status(), 422, "{code}");
        tx.commit().await.unwrap();
        assert_eq!(fingerprint(&store).await, before, "{code} wrote something");
    }
    // A frozen account refuses postings either way; unfrozen, it works again.
    let mut tx = store.begin().await.unwrap();
    fanz_ledger::set_frozen(&mut tx, "wallet:1", true, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let before = fingerprint(&store).await;
    for input in [
        transfer("f1", "wallet:1", "revenue", 1),
        transfer("f2", "cash", "wallet:1", 1),
    ] {
        let mut tx = store.begin().await.unwrap();
        let err = fanz_ledger::post_entry(&mut tx, &input).await.unwrap_err();
        assert_eq!((err.code(), err.http_status()), ("account_frozen", 422));
        tx.commit().await.unwrap();
    }
    assert_eq!(fingerprint(&store).await, before);
    let mut tx = store.begin().await.unwrap();
    fanz_ledger::set_frozen(&mut tx, "wallet:1", false, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    post(&store, &transfer("f3", "wallet:1", "revenue", 1))
        .await
        .unwrap();
    assert_eq!(posted(&store, "wallet:1").await, 499);
    verify_store(&store).await;
}
on_both_backends!(refusals, super::refusals_write_nothing);

async fn batches(store: Store) {
    setup(&store).await;
    post(&store, &transfer("seed", "cash", "wallet:1", 100))
        .await
        .unwrap();
    // Independent: the bad ones are reported, the rest posted.
    let batch = vec![
        transfer("b1", "wallet:1", "revenue", 60),
        transfer("b2", "wallet:1", "revenue", 60), // would overdraw after b1
        transfer("b3", "cash", "ghost", 5),
        transfer("b1", "wallet:1", "revenue", 60), // duplicate of b1 in the same batch
        transfer("b4", "cash", "wallet:2", 5),
        transfer("seed", "cash", "wallet:1", 100), // replay of an earlier entry
        transfer("seed", "cash", "wallet:1", 101), // conflict
    ];
    let mut tx = store.begin().await.unwrap();
    let out = fanz_ledger::post_batch_as(&mut tx, &batch, BatchMode::Independent, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let codes: Vec<Option<&str>> = out.iter().map(|r| r.error.as_deref()).collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some("balance_flag_violation"),
            Some("unknown_account"),
            None,
            None,
            None,
            Some("idempotency_conflict")
        ]
    );
    let b1 = out[0].entry.as_ref().unwrap();
    assert!(!b1.replayed);
    assert!(out[3].entry.as_ref().unwrap().replayed);
    assert_eq!(out[3].entry.as_ref().unwrap().entry.id, b1.entry.id);
    assert!(out[5].entry.as_ref().unwrap().replayed);
    assert_eq!(posted(&store, "wallet:1").await, 40);
    assert_eq!(posted(&store, "wallet:2").await, 5);

    // Linked: one refusal refuses all, nothing written even if the caller commits.
    let before = fingerprint(&store).await;
    let batch = vec![
        transfer("l1", "cash", "wallet:2", 10),
        transfer("l2", "wallet:2", "revenue", 16), // 5 + 10 < 16
    ];
    let mut tx = store.begin().await.unwrap();
    let err = fanz_ledger::post_batch(&mut tx, &batch, BatchMode::Linked)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "balance_flag_violation");
    tx.commit().await.unwrap();
    assert_eq!(fingerprint(&store).await, before);
    // Linked entries see each other's effects: l2 can spend what l1 brings.
    let batch = vec![
        transfer("l1", "cash", "wallet:2", 11),
        transfer("l2", "wallet:2", "revenue", 16),
    ];
    let mut tx = store.begin().await.unwrap();
    let out = fanz_ledger::post_batch(&mut tx, &batch, BatchMode::Linked)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(out.iter().all(|r| r.error.is_none()));
    assert_eq!(posted(&store, "wallet:2").await, 0);

    // Keys, metadata, templates and causations are written and found again whatever their
    // text (PostgreSQL sends a batch's column as one array literal: quotes, backslashes,
    // commas, braces and the word NULL must survive it).
    let odd = [
        r#"q"uote"#,
        r"back\slash",
        "a,b{c}",
        "NULL",
        "ünï ☃",
        " spaced ",
    ];
    let batch: Vec<EntryInput> = odd
        .iter()
        .map(|k| {
            let mut e = transfer(k, "cash", "wallet:2", 1);
            e.metadata = Some(serde_json::json!({"note": format!("{k} \"x\" \\ {{}}")}));
            e.causation = Some(format!("cause:{k}"));
            e.template = Some(format!("tpl {k}"));
            e
        })
        .collect();
    for round in 0..2 {
        let mut tx = store.begin().await.unwrap();
        let out = fanz_ledger::post_batch(&mut tx, &batch, BatchMode::Linked)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for (r, k) in out.iter().zip(odd) {
            let e = r.entry.as_ref().expect("posted");
            assert_eq!(e.replayed, round == 1, "{k}");
            let mut db = store.conn().await.unwrap();
            let stored = fanz_ledger::get_entry(&mut db, e.entry.id).await.unwrap();
            assert_eq!(stored.idempotency_key, k);
            assert_eq!(stored.metadata["note"], format!("{k} \"x\" \\ {{}}"));
            assert_eq!(
                stored.causation.as_deref(),
                Some(format!("cause:{k}").as_str())
            );
            assert_eq!(
                stored.template.as_deref(),
                Some(format!("tpl {k}").as_str())
            );
        }
    }
    assert_eq!(posted(&store, "wallet:2").await, odd.len() as i64);
    verify_store(&store).await;
}
on_both_backends!(batch_posting, super::batches);

async fn two_phase(store: Store) {
    setup(&store).await;
    post(&store, &transfer("seed", "cash", "wallet:1", 1_000))
        .await
        .unwrap();
    let hold = |key: &str, amount: i64, expires: Option<i64>| EntryInput {
        pending: true,
        expires_in_secs: expires,
        ..transfer(key, "wallet:1", "revenue", amount)
    };
    let h1 = post(&store, &hold("h1", 600, None)).await.unwrap().entry;
    assert_eq!(
        (h1.kind.as_str(), h1.status.as_str()),
        ("pending", "pending")
    );
    let mut db = store.conn().await.unwrap();
    let b = fanz_ledger::balance(&mut db, "wallet:1").await.unwrap();
    assert_eq!((b.posted, b.pending, b.available), (1_000, -600, 400));
    drop(db);
    // The hold counts against the no-overdraft flag.
    assert_eq!(
        post(&store, &hold("h2", 401, None))
            .await
            .unwrap_err()
            .code(),
        "balance_flag_violation"
    );
    assert_eq!(
        post(&store, &transfer("spend", "wallet:1", "revenue", 401))
            .await
            .unwrap_err()
            .code(),
        "balance_flag_violation"
    );
    // Post 250 of the 600: the rest is released.
    let mut tx = store.begin().await.unwrap();
    let settled = fanz_ledger::post_pending(&mut tx, h1.id, "h1:post", Some(250))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(settled.entry.related_id, Some(h1.id));
    let mut db = store.conn().await.unwrap();
    let b = fanz_ledger::balance(&mut db, "wallet:1").await.unwrap();
    assert_eq!((b.posted, b.pending, b.available), (750, 0, 750));
    assert_eq!(
        fanz_ledger::get_entry(&mut db, h1.id).await.unwrap().status,
        "posted"
    );
    drop(db);
    // Replaying the settlement changes nothing; settling again is refused.
    let before = fingerprint(&store).await;
    let mut tx = store.begin().await.unwrap();
    let again = fanz_ledger::post_pending(&mut tx, h1.id, "h1:post", Some(250))
        .await
        .unwrap();
    assert!(again.replayed);
    let e = fanz_ledger::post_pending(&mut tx, h1.id, "h1:post2", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_pending");
    let e = fanz_ledger::post_pending(&mut tx, h1.id, "h1:post", Some(10))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "idempotency_conflict");
    tx.commit().await.unwrap();
    assert_eq!(fingerprint(&store).await, before);

    // Void releases the whole hold; too-large partial settlements are refused.
    let h3 = post(&store, &hold("h3", 700, None)).await.unwrap().entry;
    let mut tx = store.begin().await.unwrap();
    let e = fanz_ledger::post_pending(&mut tx, h3.id, "h3:post", Some(701))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_amount");
    fanz_ledger::void_pending_as(&mut tx, h3.id, "h3:void", &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(posted(&store, "wallet:1").await, 750);
    let mut db = store.conn().await.unwrap();
    assert_eq!(
        fanz_ledger::balance(&mut db, "wallet:1")
            .await
            .unwrap()
            .available,
        750
    );
    drop(db);

    // Expiry: a hold with a timeout is released by expire_holds once due, not before.
    let h4 = post(&store, &hold("h4", 100, Some(60)))
        .await
        .unwrap()
        .entry;
    let mut tx = store.begin().await.unwrap();
    let now = fanz_core::clock::now_micros();
    assert_eq!(fanz_ledger::expire_holds(&mut tx, now).await.unwrap(), 0);
    assert_eq!(
        fanz_ledger::expire_holds(&mut tx, now + 61 * fanz_core::clock::SECOND)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    let mut db = store.conn().await.unwrap();
    assert_eq!(
        fanz_ledger::get_entry(&mut db, h4.id).await.unwrap().status,
        "expired"
    );
    let b = fanz_ledger::balance(&mut db, "wallet:1").await.unwrap();
    assert_eq!((b.posted, b.pending, b.available), (750, 0, 750));
    drop(db);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        fanz_ledger::void_pending(&mut tx, h4.id, "h4:void")
            .await
            .unwrap_err()
            .code(),
        "not_pending"
    );
    // A posted entry is not a hold.
    assert_eq!(
        fanz_ledger::void_pending(&mut tx, settled.entry.id, "x:void")
            .await
            .unwrap_err()
            .code(),
        "not_pending"
    );
    drop(tx);
    verify_store(&store).await;
}
on_both_backends!(holds, super::two_phase);

async fn reversals_history_point_in_time(store: Store) {
    setup(&store).await;
    let at = |key: &str, amount: i64, t: i64, from: &str, to: &str| EntryInput {
        effective_at: Some(t),
        ..transfer(key, from, to, amount)
    };
    post(&store, &at("a", 1_000, 100, "cash", "wallet:1"))
        .await
        .unwrap();
    let spend = post(&store, &at("b", 300, 200, "wallet:1", "revenue"))
        .await
        .unwrap()
        .entry;
    post(&store, &at("c", 50, 300, "cash", "wallet:1"))
        .await
        .unwrap();
    let mut db = store.conn().await.unwrap();
    for (t, want) in [(99, 0), (100, 1_000), (250, 700), (300, 750)] {
        assert_eq!(
            fanz_ledger::balance_at(&mut db, "wallet:1", t)
                .await
                .unwrap()
                .posted,
            want
        );
    }
    let h = fanz_ledger::history(&mut db, "wallet:1", 100)
        .await
        .unwrap();
    let running: Vec<i64> = h.iter().map(|l| l.running_balance).collect();
    assert_eq!(running, vec![1_000, 700, 750]);
    drop(db);

    // Reversal restores the balances and is linked; only once.
    let before = fanz_ledger::balance(&mut store.conn().await.unwrap(), "revenue")
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let rev = fanz_ledger::reverse_entry(&mut tx, spend.id, "rev-b", &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rev.entry.related_id, Some(spend.id));
    assert_eq!(rev.entry.kind, "reversal");
    assert_eq!(posted(&store, "wallet:1").await, 1_050);
    assert_eq!(posted(&store, "revenue").await, before.posted - 300);
    let mut tx = store.begin().await.unwrap();
    assert!(
        fanz_ledger::reverse_entry(&mut tx, spend.id, "rev-b", &actor())
            .await
            .unwrap()
            .replayed
    );
    assert_eq!(
        fanz_ledger::reverse_entry(&mut tx, spend.id, "rev-b2", &actor())
            .await
            .unwrap_err()
            .code(),
        "not_reversible"
    );
    assert_eq!(
        fanz_ledger::reverse_entry(&mut tx, 999_999, "rev-x", &actor())
            .await
            .unwrap_err()
            .http_status(),
        404
    );
    drop(tx);
    verify_store(&store).await;
}
on_both_backends!(
    reversals_and_history,
    super::reversals_history_point_in_time
);

/// `fanz ledger verify` must fail on books that were changed behind the ledger's back.
async fn verify_catches_tampering(store: Store) {
    setup(&store).await;
    post(&store, &transfer("t-1", "cash", "wallet:1", 500))
        .await
        .unwrap();
    let mut conn = store.conn().await.unwrap();
    assert!(fanz_ledger::verify(&mut conn).await.unwrap().ok);

    // One posting's amount changed: the entry no longer balances and the stored total of the
    // account no longer matches its postings.
    sqlx::query(
        "UPDATE ledger_postings SET credit = credit + 1 WHERE credit > 0 \
         AND entry_id = (SELECT id FROM ledger_entries WHERE idempotency_key = 't-1')",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    verify_finds(&mut conn, "does not balance").await;

    // SQLite: a posting missing from its account's per-account order (the recent part and
    // the runs, see `merge`), or there twice, is found.
    if store.backend() == fanz_store::Backend::Sqlite {
        let r = sqlx::query(
            "SELECT bucket, account_id, effective_at, id FROM ledger_postings_recent \
             WHERE id = (SELECT MAX(id) FROM ledger_postings)",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let (bucket, account, at, id): (i64, i64, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        sqlx::query("DELETE FROM ledger_postings_recent WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .unwrap();
        verify_finds(&mut conn, &format!("posting {id} is missing")).await;
        // Back, plus the same line again under a later time: one line too many.
        for t in [at, at + 1] {
            sqlx::query(
                "INSERT INTO ledger_postings_recent (bucket, account_id, effective_at, id) VALUES ($1, $2, $3, $4)",
            )
            .bind(bucket)
            .bind(account)
            .bind(t)
            .bind(id)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        verify_finds(&mut conn, "per-account history holds").await;
    }

    // PostgreSQL keeps no foreign key from postings to entries or accounts; verify stands in
    // for them.
    if store.backend() == fanz_store::Backend::Postgres {
        sqlx::query(
            "INSERT INTO ledger_postings (entry_id, account_id, debit, credit, pending, effective_at) \
             SELECT 999999, id, 1, 0, 0, 0 FROM ledger_accounts WHERE code = 'cash'",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        verify_finds(&mut conn, "entry 999999").await;
        // Nor to accounts.
        sqlx::query(
            "INSERT INTO ledger_postings (entry_id, account_id, debit, credit, pending, effective_at) \
             SELECT id, 888888, 0, 1, 0, 0 FROM ledger_entries WHERE idempotency_key = 't-1'",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        verify_finds(&mut conn, "account 888888").await;
    }
}

/// Verify fails, and one of its problems mentions `needle`.
async fn verify_finds(db: &mut fanz_store::Db, needle: &str) {
    let report = fanz_ledger::verify(db).await.unwrap();
    assert!(!report.ok);
    assert!(
        report.problems.iter().any(|p| p.contains(needle)),
        "{needle:?} not in {:?}",
        report.problems
    );
}

on_both_backends!(verify_tampering, super::verify_catches_tampering);

#[test]
fn every_error_has_a_stable_code() {
    let all = [
        LedgerError::TooFewPostings,
        LedgerError::Unbalanced {
            currency: "USD".into(),
            debits: 1,
            credits: 2,
        },
        LedgerError::UnknownAccount("x".into()),
        LedgerError::CurrencyMismatch {
            account: "x".into(),
            expected: "USD".into(),
            got: "EUR".into(),
        },
        LedgerError::InvalidAmount("0".into()),
        LedgerError::Overflow,
        LedgerError::FlagViolation {
            account: "x".into(),
            flag: "f",
        },
        LedgerError::AccountFrozen("x".into()),
        LedgerError::AccountClosed("x".into()),
        LedgerError::IdempotencyConflict("k".into()),
        LedgerError::AccountExists("x".into()),
        LedgerError::Invalid("x".into()),
        LedgerError::EntryNotFound(1),
        LedgerError::NotPending(1),
        LedgerError::NotReversible(1, "x"),
        LedgerError::UnknownTemplate("x".into()),
        LedgerError::ConcurrentRequest,
        LedgerError::SettlementNotFound(1),
    ];
    let mut codes: Vec<&str> = all.iter().map(|e| e.code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), all.len(), "codes are distinct");
    for e in &all {
        assert!(matches!(e.http_status(), 404 | 409 | 422), "{e}");
    }
}

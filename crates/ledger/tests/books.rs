//! Templates with worked figures, reports and reconciliation, on both backends.

mod common;

use common::*;
use fanz_core::clock::{now_micros, DAY};
use fanz_ledger::templates::{
    apply, apply_many, release_due_reserves, set_creator_share, TemplateRequest,
};
use fanz_ledger::ExportFormat;
use fanz_store::Store;

fn req(key: &str, amount: i64) -> TemplateRequest {
    TemplateRequest {
        idempotency_key: key.into(),
        currency: "USD".into(),
        amount,
        processor: Some("ccbill".into()),
        ..Default::default()
    }
}

/// A request about one creator with nothing else set.
fn for_creator(creator: i64, key: &str, amount: i64) -> TemplateRequest {
    TemplateRequest {
        creator_id: Some(creator),
        ..req(key, amount)
    }
}

async fn run_template(store: &Store, name: &str, r: &TemplateRequest) -> fanz_ledger::EntryOutcome {
    let mut tx = store.begin().await.unwrap();
    let out = apply(&mut tx, name, r, &actor())
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    tx.commit().await.unwrap();
    out
}

async fn templates(store: Store) {
    // A $9.99 subscription, $1.00 processor fee, default 80 % share: 799 / 200 (no unit lost).
    let sale = run_template(
        &store,
        "subscription_sale@1",
        &TemplateRequest {
            creator_id: Some(7),
            processor_fee: Some(100),
            causation: Some("ccbill:tx1".into()),
            ..req("s1", 999)
        },
    )
    .await;
    assert_eq!(sale.entry.template.as_deref(), Some("subscription_sale@1"));
    assert_eq!(posted(&store, "creator_payable:7:USD").await, 799);
    assert_eq!(posted(&store, "platform_revenue:USD").await, 200);
    assert_eq!(posted(&store, "cash:ccbill:USD").await, 899);
    assert_eq!(posted(&store, "processor_fees:USD").await, 100);

    // Per-cluster and per-creator shares: the creator's own wins over the cluster's.
    let mut tx = store.begin().await.unwrap();
    set_creator_share(&mut tx, "cluster", "boyfanz", 7_000, &actor())
        .await
        .unwrap();
    set_creator_share(&mut tx, "creator", "8", 9_000, &actor())
        .await
        .unwrap();
    assert!(set_creator_share(&mut tx, "cluster", "x", 10_001, &actor())
        .await
        .is_err());
    tx.commit().await.unwrap();
    run_template(
        &store,
        "tip",
        &TemplateRequest {
            creator_id: Some(7),
            cluster: Some("boyfanz".into()),
            ..req("t1", 1_000)
        },
    )
    .await;
    assert_eq!(posted(&store, "creator_payable:7:USD").await, 799 + 700);
    run_template(
        &store,
        "ppv_unlock",
        &TemplateRequest {
            creator_id: Some(8),
            cluster: Some("boyfanz".into()),
            ..req("p1", 1_000)
        },
    )
    .await;
    assert_eq!(posted(&store, "creator_payable:8:USD").await, 900);

    // Wallet: top up, spend on a paid message, refuse an overdraft (nothing written).
    run_template(
        &store,
        "wallet_top_up",
        &TemplateRequest {
            fan_id: Some(3),
            ..req("w1", 500)
        },
    )
    .await;
    run_template(
        &store,
        "paid_message",
        &TemplateRequest {
            fan_id: Some(3),
            creator_id: Some(7),
            processor: Some("wallet".into()),
            ..req("m1", 300)
        },
    )
    .await;
    assert_eq!(posted(&store, "fan_wallet:3:USD").await, 200);
    let before = fingerprint(&store).await;
    let mut tx = store.begin().await.unwrap();
    let e = apply(
        &mut tx,
        "tip",
        &TemplateRequest {
            fan_id: Some(3),
            creator_id: Some(7),
            processor: Some("wallet".into()),
            ..req("m2", 201)
        },
        &actor(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "balance_flag_violation");
    drop(tx);
    assert_eq!(fingerprint(&store).await, before);

    // Rolling reserve: 10 % of the creator's share for 30 days, released when due.
    let r = run_template(
        &store,
        "subscription_renewal",
        &TemplateRequest {
            creator_id: Some(9),
            reserve_bps: Some(1_000),
            reserve_days: Some(30),
            ..req("r1", 1_000)
        },
    )
    .await;
    assert_eq!(r.entry.template.as_deref(), Some("subscription_renewal@1"));
    assert_eq!(posted(&store, "creator_payable:9:USD").await, 720);
    assert_eq!(posted(&store, "reserve:9:USD").await, 80);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        release_due_reserves(&mut tx, now_micros(), &actor())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        release_due_reserves(&mut tx, now_micros() + 31 * DAY, &actor())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        release_due_reserves(&mut tx, now_micros() + 31 * DAY, &actor())
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();
    assert_eq!(posted(&store, "creator_payable:9:USD").await, 800);
    assert_eq!(posted(&store, "reserve:9:USD").await, 0);
    // Explicit hold and release.
    run_template(&store, "reserve_hold", &for_creator(9, "rh", 100)).await;
    run_template(&store, "reserve_release", &for_creator(9, "rr", 100)).await;

    // Refund (partial), chargeback with its fee, platform fee, payouts.
    run_template(&store, "refund", &for_creator(7, "rf", 500)).await;
    assert_eq!(
        posted(&store, "creator_payable:7:USD").await,
        799 + 700 + 240 - 400
    );
    run_template(
        &store,
        "chargeback",
        &TemplateRequest {
            creator_id: Some(7),
            fee: Some(1_500),
            ..req("cb", 100)
        },
    )
    .await;
    assert_eq!(posted(&store, "chargeback_losses:USD").await, 1_500);
    run_template(&store, "platform_fee", &for_creator(7, "pf", 19)).await;
    let payable7 = posted(&store, "creator_payable:7:USD").await;
    assert_eq!(payable7, 799 + 700 + 240 - 400 - 80 - 19);
    run_template(&store, "payout_request", &for_creator(7, "po1", 1_000)).await;
    run_template(&store, "payout_settle", &req("po1s", 600)).await;
    run_template(&store, "payout_fail", &for_creator(7, "po1f", 400)).await;
    assert_eq!(posted(&store, "payout_clearing:USD").await, 0);
    assert_eq!(
        posted(&store, "creator_payable:7:USD").await,
        payable7 - 600
    );
    // Paying out more than is payable is refused.
    let mut tx = store.begin().await.unwrap();
    let e = apply(
        &mut tx,
        "payout_request",
        &for_creator(7, "po2", 1_000_000),
        &actor(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "balance_flag_violation");
    drop(tx);

    // Gift cards and FX with the rate kept as an exact ratio.
    run_template(&store, "gift_card_issue", &req("g1", 2_500)).await;
    run_template(
        &store,
        "gift_card_redeem",
        &TemplateRequest {
            fan_id: Some(4),
            ..req("g2", 2_500)
        },
    )
    .await;
    assert_eq!(posted(&store, "gift_card_liability:USD").await, 0);
    assert_eq!(posted(&store, "fan_wallet:4:USD").await, 2_500);
    let fx = run_template(
        &store,
        "fx_conversion",
        &TemplateRequest {
            to_currency: Some("EUR".into()),
            to_amount: Some(920),
            ..req("fx", 1_000)
        },
    )
    .await;
    assert_eq!(fx.entry.metadata["rate"]["to"]["amount"], 920);
    assert_eq!(posted(&store, "cash:ccbill:EUR").await, 920);

    // Unknown template, bad version, missing field: refused.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        apply(&mut tx, "nope", &req("x1", 1), &actor())
            .await
            .unwrap_err()
            .code(),
        "unknown_template"
    );
    assert_eq!(
        apply(&mut tx, "tip@2", &req("x2", 1), &actor())
            .await
            .unwrap_err()
            .code(),
        "unknown_template"
    );
    assert_eq!(
        apply(&mut tx, "tip", &req("x3", 1), &actor())
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert_eq!(
        apply(&mut tx, "tip", &req("x4", 0), &actor())
            .await
            .unwrap_err()
            .code(),
        "invalid_amount"
    );
    drop(tx);
    verify_store(&store).await;
}
on_both_backends!(templates_worked_examples, super::templates);

/// Many template requests at once: each split by its own creator's share, new accounts
/// opened, reserves kept for later release, one audit event; a replay writes nothing more; one
/// refused request refuses them all.
async fn many(store: Store) {
    let mut tx = store.begin().await.unwrap();
    set_creator_share(&mut tx, "cluster", "boyfanz", 7_000, &actor())
        .await
        .unwrap();
    set_creator_share(&mut tx, "creator", "8", 9_000, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let in_cluster = |creator: i64, key: &str| TemplateRequest {
        cluster: Some("boyfanz".into()),
        ..for_creator(creator, key, 1_000)
    };
    let reqs = [
        ("tip", in_cluster(7, "m-tip")),
        ("ppv_unlock@1", in_cluster(8, "m-ppv")),
        ("tip", for_creator(9, "m-default", 1_000)),
        (
            "subscription_sale",
            TemplateRequest {
                reserve_bps: Some(1_000),
                reserve_days: Some(30),
                ..in_cluster(10, "m-sub")
            },
        ),
    ];
    let pairs: Vec<(&str, &TemplateRequest)> = reqs.iter().map(|(t, r)| (*t, r)).collect();
    let audited = || async {
        let mut conn = store.conn().await.unwrap();
        fanz_store::sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ledger.entries_posted'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap()
    };
    let before = audited().await;
    let mut tx = store.begin().await.unwrap();
    let out = apply_many(&mut tx, &pairs, &actor()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|o| !o.replayed));
    assert_eq!(out[1].entry.template.as_deref(), Some("ppv_unlock@1"));
    assert_eq!(audited().await, before + 1, "one audit event for the batch");
    // The cluster's 70 %, creator 8's own 90 %, the default 80 %, 70 % less a 10 % reserve.
    assert_eq!(posted(&store, "creator_payable:7:USD").await, 700);
    assert_eq!(posted(&store, "creator_payable:8:USD").await, 900);
    assert_eq!(posted(&store, "creator_payable:9:USD").await, 800);
    assert_eq!(posted(&store, "creator_payable:10:USD").await, 630);
    assert_eq!(posted(&store, "reserve:10:USD").await, 70);
    assert_eq!(
        posted(&store, "platform_revenue:USD").await,
        300 + 100 + 200 + 300
    );

    // The same requests again: replays, no second reserve.
    let mut tx = store.begin().await.unwrap();
    let again = apply_many(&mut tx, &pairs, &actor()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(again.iter().all(|o| o.replayed));
    assert_eq!(
        again.iter().map(|o| o.entry.id).collect::<Vec<_>>(),
        out.iter().map(|o| o.entry.id).collect::<Vec<_>>()
    );
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        release_due_reserves(&mut tx, now_micros() + 31 * DAY, &actor())
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert_eq!(posted(&store, "creator_payable:10:USD").await, 700);

    // One refused request (no amount) refuses the others: nothing is written.
    let before = fingerprint(&store).await;
    let bad = [
        ("tip", for_creator(7, "m-tip-2", 1_000)),
        ("tip", for_creator(7, "m-bad", 0)),
    ];
    let pairs: Vec<(&str, &TemplateRequest)> = bad.iter().map(|(t, r)| (*t, r)).collect();
    let mut tx = store.begin().await.unwrap();
    assert!(apply_many(&mut tx, &pairs, &actor()).await.is_err());
    drop(tx);
    assert_eq!(fingerprint(&store).await, before);
    verify_store(&store).await;
}
on_both_backends!(templates_many_at_once, super::many);

async fn reports(store: Store) {
    let t0 = now_micros();
    run_template(
        &store,
        "subscription_sale",
        &TemplateRequest {
            creator_id: Some(1),
            processor_fee: Some(50),
            reserve_bps: Some(500),
            ..req("a", 1_000)
        },
    )
    .await;
    run_template(&store, "tip", &for_creator(1, "b", 500)).await;
    run_template(&store, "refund", &for_creator(1, "c", 200)).await;
    run_template(&store, "payout_request", &for_creator(1, "d", 300)).await;
    let t1 = now_micros() + 1;
    let mut db = store.conn().await.unwrap();

    let pnl = fanz_ledger::profit_and_loss(&mut db, t0, t1).await.unwrap();
    let usd = &pnl.currencies[0];
    // Platform: 200 + 100 − 40 revenue; 50 processor fees.
    assert_eq!(
        (usd.total_revenue, usd.total_expenses, usd.net_income),
        (260, 50, 210)
    );
    assert!(fanz_ledger::profit_and_loss(&mut db, t1, t0).await.is_err());
    // An empty period has nothing.
    assert!(fanz_ledger::profit_and_loss(&mut db, 0, 1)
        .await
        .unwrap()
        .currencies
        .is_empty());

    let sheet = fanz_ledger::balance_sheet(&mut db, t1).await.unwrap();
    let usd = &sheet.currencies[0];
    assert!(usd.balanced, "{usd:?}");
    assert_eq!(usd.total_assets, 1_000 - 50 + 500 - 200);
    assert_eq!(usd.retained_earnings, 210);

    let st = fanz_ledger::creator_statement(&mut db, 1, "USD", t0, t1)
        .await
        .unwrap();
    assert_eq!(st.opening_balance, 0);
    assert_eq!(st.total_earnings, 800 + 400);
    assert_eq!(st.earnings.len(), 2);
    assert_eq!((st.platform_fees, st.processor_fees), (300, 50));
    assert_eq!((st.refunds, st.reserve_held, st.payouts), (160, 40, 300));
    assert_eq!(st.reserve_closing, 40);
    assert_eq!(
        st.closing_balance,
        st.opening_balance + st.total_earnings - st.refunds - st.chargebacks - st.reserve_held
            + st.reserve_released
            - st.fees_charged
            - st.payouts
            + st.payouts_returned
            + st.adjustments
    );
    assert_eq!(
        st.closing_balance,
        posted(&store, "creator_payable:1:USD").await
    );
    // A creator with nothing has a zero statement.
    let none = fanz_ledger::creator_statement(&mut db, 99, "USD", t0, t1)
        .await
        .unwrap();
    assert_eq!(
        (
            none.opening_balance,
            none.closing_balance,
            none.total_earnings
        ),
        (0, 0, 0)
    );

    let csv = fanz_ledger::export_journal(&mut db, t0, t1, ExportFormat::Csv)
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("entry_id,idempotency_key"));
    let json = fanz_ledger::export_journal(&mut db, t0, t1, ExportFormat::Json)
        .await
        .unwrap();
    let parsed: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.len(), lines.len() - 1);
    let debits: i64 = parsed.iter().map(|l| l["debit"].as_i64().unwrap()).sum();
    let credits: i64 = parsed.iter().map(|l| l["credit"].as_i64().unwrap()).sum();
    assert_eq!(debits, credits);
    let tb = fanz_ledger::trial_balance_csv(&mut db).await.unwrap();
    assert!(tb.contains("creator_payable:1:USD,liability,USD,0,"));
}
on_both_backends!(reports_from_the_journal, super::reports);

async fn reconciliation(store: Store) {
    for (key, cause, amount, fee) in [
        ("a", "tx1", 1_000, 100),
        ("b", "tx2", 2_000, 150),
        ("c", "tx3", 500, 0),
    ] {
        run_template(
            &store,
            "subscription_sale",
            &TemplateRequest {
                creator_id: Some(1),
                processor_fee: Some(fee),
                causation: Some(cause.into()),
                ..req(key, amount)
            },
        )
        .await;
    }
    run_template(
        &store,
        "refund",
        &TemplateRequest {
            creator_id: Some(1),
            causation: Some("tx4".into()),
            ..req("d", 300)
        },
    )
    .await;
    // Another processor's entry is not this file's business.
    run_template(
        &store,
        "tip",
        &TemplateRequest {
            creator_id: Some(1),
            processor: Some("segpay".into()),
            causation: Some("s1".into()),
            ..req("e", 100)
        },
    )
    .await;
    // tx1 matches; tx2's fee differs; tx4 (refund) matches; tx9 is unknown; tx3 is missing.
    let file = "reference,amount,fee,currency\ntx1,10.00,1.00,USD\ntx2,20.00,1.00,USD\ntx4,-3.00,,USD\ntx9,5.00,0,USD\n";
    let before = fingerprint(&store).await;
    let mut tx = store.begin().await.unwrap();
    let report = fanz_ledger::import_settlement(&mut tx, "ccbill", file, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(!report.ok);
    assert_eq!((report.lines, report.matched), (4, 2));
    assert_eq!(report.unmatched_lines.len(), 1);
    assert_eq!(report.unmatched_lines[0].reference, "tx9");
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(
        (
            report.mismatched[0].journal_net,
            report.mismatched[0].file_net
        ),
        (1_850, 1_900)
    );
    assert_eq!(report.unmatched_entries.len(), 1);
    assert_eq!(
        report.unmatched_entries[0].causation.as_deref(),
        Some("tx3")
    );
    // The journal is untouched (only the import and its audit event are new).
    let after = fingerprint(&store).await;
    assert_ne!(after, before);
    assert_eq!(
        after.split("ledger_settlement").next(),
        before.split("ledger_settlement").next()
    );
    // The same file again reuses the import.
    let mut tx = store.begin().await.unwrap();
    let again = fanz_ledger::import_settlement(&mut tx, "ccbill", file, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(again.already_imported);
    assert_eq!(again.import_id, report.import_id);
    // A file that matches completely.
    let good = "reference,amount,fee,currency\ntx1,10.00,1.00,USD\ntx2,20.00,1.50,USD\ntx3,5,,USD\ntx4,-3,,USD\n";
    let mut tx = store.begin().await.unwrap();
    let ok = fanz_ledger::import_settlement(&mut tx, "ccbill", good, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(ok.ok, "{ok:?}");
    // Bad files are refused whole.
    let mut tx = store.begin().await.unwrap();
    for bad in [
        "",
        "reference,amount\nx,1",
        "reference,amount,currency\nx,1.001,USD",
        "reference,amount,currency\n\"x,1,USD",
    ] {
        assert!(
            fanz_ledger::import_settlement(&mut tx, "ccbill", bad, &actor())
                .await
                .is_err(),
            "{bad}"
        );
    }
    assert!(
        fanz_ledger::import_settlement(&mut tx, "bad name", good, &actor())
            .await
            .is_err()
    );
}
on_both_backends!(settlement_reconciliation, super::reconciliation);

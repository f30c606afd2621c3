//! Property tests over random sequences of business events posted through the templates:
//! after every step each currency nets to zero, stored totals equal the journal, no account
//! breaks its flags, replaying a request changes nothing, and a reversal restores the books.

use fanz_audit::Actor;
use fanz_ledger::templates::{apply, TemplateRequest};
use fanz_store::testing::TestDb;
use fanz_store::{Backend, Store};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Sale {
        template: &'static str,
        creator: i64,
        amount: i64,
        fee: i64,
        reserve_bps: i64,
    },
    WalletSpend {
        fan: i64,
        creator: i64,
        amount: i64,
    },
    TopUp {
        fan: i64,
        amount: i64,
    },
    Refund {
        creator: i64,
        amount: i64,
    },
    Chargeback {
        creator: i64,
        amount: i64,
        fee: i64,
    },
    PayoutRequest {
        creator: i64,
        amount: i64,
    },
    PayoutSettle {
        amount: i64,
    },
    PayoutFail {
        creator: i64,
        amount: i64,
    },
    ReserveRelease {
        creator: i64,
        amount: i64,
    },
    GiftIssue {
        amount: i64,
    },
    GiftRedeem {
        fan: i64,
        amount: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let creator = 1i64..4;
    let fan = 10i64..13;
    let amount = 1i64..20_000;
    prop_oneof![
        3 => (prop::sample::select(vec!["subscription_sale", "subscription_renewal", "tip", "ppv_unlock", "paid_message"]), creator.clone(), amount.clone(), 0i64..200, prop::sample::select(vec![0i64, 500, 1000]))
            .prop_map(|(template, creator, amount, fee, reserve_bps)| Op::Sale { template, creator, amount, fee: fee.min(amount), reserve_bps }),
        2 => (fan.clone(), creator.clone(), amount.clone()).prop_map(|(fan, creator, amount)| Op::WalletSpend { fan, creator, amount }),
        2 => (fan.clone(), amount.clone()).prop_map(|(fan, amount)| Op::TopUp { fan, amount }),
        1 => (creator.clone(), amount.clone()).prop_map(|(creator, amount)| Op::Refund { creator, amount }),
        1 => (creator.clone(), amount.clone(), 0i64..3000).prop_map(|(creator, amount, fee)| Op::Chargeback { creator, amount, fee }),
        2 => (creator.clone(), amount.clone()).prop_map(|(creator, amount)| Op::PayoutRequest { creator, amount }),
        1 => amount.clone().prop_map(|amount| Op::PayoutSettle { amount }),
        1 => (creator.clone(), amount.clone()).prop_map(|(creator, amount)| Op::PayoutFail { creator, amount }),
        1 => (creator.clone(), amount.clone()).prop_map(|(creator, amount)| Op::ReserveRelease { creator, amount }),
        1 => amount.clone().prop_map(|amount| Op::GiftIssue { amount }),
        1 => (fan, amount).prop_map(|(fan, amount)| Op::GiftRedeem { fan, amount }),
    ]
}

fn request(op: &Op, key: String) -> (&'static str, TemplateRequest) {
    let mut r = TemplateRequest {
        idempotency_key: key,
        currency: "USD".into(),
        processor: Some("ccbill".into()),
        ..Default::default()
    };
    let name = match *op {
        Op::Sale {
            template,
            creator,
            amount,
            fee,
            reserve_bps,
        } => {
            r.creator_id = Some(creator);
            r.amount = amount;
            r.processor_fee = Some(fee);
            r.reserve_bps = Some(reserve_bps);
            template
        }
        Op::WalletSpend {
            fan,
            creator,
            amount,
        } => {
            r.creator_id = Some(creator);
            r.fan_id = Some(fan);
            r.amount = amount;
            r.processor = Some("wallet".into());
            "tip"
        }
        Op::TopUp { fan, amount } => {
            r.fan_id = Some(fan);
            r.amount = amount;
            "wallet_top_up"
        }
        Op::Refund { creator, amount } => {
            r.creator_id = Some(creator);
            r.amount = amount;
            "refund"
        }
        Op::Chargeback {
            creator,
            amount,
            fee,
        } => {
            r.creator_id = Some(creator);
            r.amount = amount;
            r.fee = Some(fee);
            "chargeback"
        }
        Op::PayoutRequest { creator, amount } => {
            r.creator_id = Some(creator);
            r.amount = amount;
            "payout_request"
        }
        Op::PayoutSettle { amount } => {
            r.amount = amount;
            "payout_settle"
        }
        Op::PayoutFail { creator, amount } => {
            r.creator_id = Some(creator);
            r.amount = amount;
            "payout_fail"
        }
        Op::ReserveRelease { creator, amount } => {
            r.creator_id = Some(creator);
            r.amount = amount;
            "reserve_release"
        }
        Op::GiftIssue { amount } => {
            r.amount = amount;
            "gift_card_issue"
        }
        Op::GiftRedeem { fan, amount } => {
            r.fan_id = Some(fan);
            r.amount = amount;
            "gift_card_redeem"
        }
    };
    (name, r)
}

async fn snapshot(store: &Store) -> String {
    let mut db = store.conn().await.unwrap();
    serde_json::to_string(&fanz_ledger::trial_balance(&mut db).await.unwrap()).unwrap()
}

async fn check(store: &Store, step: usize) {
    let mut db = store.conn().await.unwrap();
    let report = fanz_ledger::verify(&mut db).await.unwrap();
    assert!(report.ok, "after step {step}: {:?}", report.problems);
    for c in &report.currencies {
        assert_eq!(c.debits, c.credits, "after step {step}");
    }
}

async fn run(backend: Backend, ops: Vec<(Op, bool)>) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await.unwrap();
    let actor = Actor::cli();
    for (step, (op, reverse)) in ops.iter().enumerate() {
        let key = format!("op-{step}");
        let (name, req) = request(op, key.clone());
        let before = snapshot(&store).await;
        let mut tx = store.begin().await.unwrap();
        match apply(&mut tx, name, &req, &actor).await {
            Ok(out) => {
                tx.commit().await.unwrap();
                assert!(!out.replayed);
                check(&store, step).await;
                // Replaying the same request changes nothing and returns the same entry.
                let after = snapshot(&store).await;
                let mut tx = store.begin().await.unwrap();
                let again = apply(&mut tx, name, &req, &actor).await.unwrap();
                tx.commit().await.unwrap();
                assert!(again.replayed);
                assert_eq!(again.entry.id, out.entry.id);
                assert_eq!(
                    snapshot(&store).await,
                    after,
                    "replay changed the books at step {step}"
                );
                if *reverse {
                    let mut tx = store.begin().await.unwrap();
                    fanz_ledger::reverse_entry(
                        &mut tx,
                        out.entry.id,
                        &format!("rev-{step}"),
                        &actor,
                    )
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                    // Balances return to what they were; only accounts opened by the entry remain, at zero.
                    let restored: serde_json::Value =
                        serde_json::from_str(&snapshot(&store).await).unwrap();
                    let before: serde_json::Value = serde_json::from_str(&before).unwrap();
                    for line in restored["accounts"].as_array().unwrap() {
                        let prior = before["accounts"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|l| l["account"] == line["account"]);
                        match prior {
                            Some(p) => assert_eq!(
                                (&p["debit"], &p["credit"]),
                                (&line["debit"], &line["credit"]),
                                "step {step}"
                            ),
                            None => assert_eq!(
                                (line["debit"].as_i64(), line["credit"].as_i64()),
                                (Some(0), Some(0)),
                                "step {step}"
                            ),
                        }
                    }
                    check(&store, step).await;
                }
            }
            Err(e) => {
                // The only acceptable refusal is an overdraft; it writes nothing.
                assert_eq!(e.code(), "balance_flag_violation", "step {step}: {e}");
                drop(tx);
                assert_eq!(
                    snapshot(&store).await,
                    before,
                    "a refused request changed the books at step {step}"
                );
            }
        }
    }
    store.close().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sqlite_invariants_hold(ops in prop::collection::vec((op(), prop::bool::weighted(0.2)), 1..25)) {
        runtime().block_on(run(Backend::Sqlite, ops));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn postgres_invariants_hold(ops in prop::collection::vec((op(), prop::bool::weighted(0.2)), 1..20)) {
        runtime().block_on(run(Backend::Postgres, ops));
    }
}

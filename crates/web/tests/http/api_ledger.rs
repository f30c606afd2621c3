use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    ledger_entries_and_refusals,
    ledger_holds_reversals_templates,
    ledger_hot_account_concurrency,
    ledger_reports_and_reconciliation,
    ledger_totals_past_64_bits,
    ledger_entries_name_who_posted_them,
    ledger_missing_and_foreign_accounts_look_alike,
    ledger_refuses_unknown_people_and_odd_dates
);

async fn bookkeeper(app: &TestApp) -> String {
    fanz_web::flows::signup(
        &app.state,
        "books@example.com",
        "bookkeeper",
        "correct horse battery",
        vec![fanz_core::Role::Finance],
        &fanz_audit::Actor::cli(),
    )
    .await
    .map_err(|e| e.message)
    .unwrap();
    app.login("books@example.com", "correct horse battery")
        .await
}

async fn account(app: &TestApp, t: &str, code: &str, kind: &str, currency: &str, flags: Value) {
    let res = app
        .post(
            "/api/v1/ledger/accounts",
            json!({"code": code, "kind": kind, "currency": currency, "flags": flags}),
            Some(t),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{code}");
}

fn entry(key: &str, lines: &[(&str, &str, i64, &str)]) -> Value {
    json!({
        "idempotency_key": key,
        "postings": lines.iter().map(|(a, d, n, c)| json!({"account": a, "direction": d, "amount": n, "currency": c})).collect::<Vec<_>>()
    })
}

async fn balance(app: &TestApp, t: &str, code: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/ledger/accounts/{code}/balance"), Some(t))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "balance of {code}");
    res.json().await.unwrap()
}

async fn verify_ok(app: &TestApp, t: &str) {
    let report: Value = app
        .get("/api/v1/ledger/verify", Some(t))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
}

async fn ledger_entries_and_refusals(app: TestApp) {
    let (fan, _) = app.user("plain_fan").await;
    let res = app
        .post(
            "/api/v1/ledger/accounts",
            json!({"code": "x", "kind": "asset", "currency": "USD"}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let t = bookkeeper(&app).await;
    account(&app, &t, "cash:ccbill:USD", "asset", "USD", json!([])).await;
    account(
        &app,
        &t,
        "fan_wallet:1:USD",
        "liability",
        "USD",
        json!(["debits_must_not_exceed_credits"]),
    )
    .await;
    account(
        &app,
        &t,
        "platform_revenue:USD",
        "revenue",
        "USD",
        json!([]),
    )
    .await;
    account(&app, &t, "cash:ccbill:EUR", "asset", "EUR", json!([])).await;
    let dup = app
        .post(
            "/api/v1/ledger/accounts",
            json!({"code": "cash:ccbill:USD", "kind": "asset", "currency": "USD"}),
            Some(&t),
        )
        .await;
    assert_error(dup, StatusCode::CONFLICT, "account_exists").await;
    let bad_kind = app
        .post(
            "/api/v1/ledger/accounts",
            json!({"code": "y", "kind": "cash", "currency": "USD"}),
            Some(&t),
        )
        .await;
    assert_error(bad_kind, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let bad_cur = app
        .post(
            "/api/v1/ledger/accounts",
            json!({"code": "y", "kind": "asset", "currency": "XXX"}),
            Some(&t),
        )
        .await;
    assert_error(bad_cur, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;

    let top_up = entry(
        "topup-1",
        &[
            ("cash:ccbill:USD", "debit", 1000, "USD"),
            ("fan_wallet:1:USD", "credit", 1000, "USD"),
        ],
    );
    let res = app
        .post("/api/v1/ledger/entries", top_up.clone(), Some(&t))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.unwrap();
    assert!(first["id"].as_i64().is_some());
    let res = app
        .post("/api/v1/ledger/entries", top_up.clone(), Some(&t))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "a replay answers 200");
    let replay: Value = res.json().await.unwrap();
    assert_eq!(replay["id"], first["id"]);
    let changed = entry(
        "topup-1",
        &[
            ("cash:ccbill:USD", "debit", 999, "USD"),
            ("fan_wallet:1:USD", "credit", 999, "USD"),
        ],
    );
    assert_error(
        app.post("/api/v1/ledger/entries", changed, Some(&t)).await,
        StatusCode::CONFLICT,
        "idempotency_conflict",
    )
    .await;

    let b = balance(&app, &t, "fan_wallet:1:USD").await;
    assert_eq!(
        (
            b["posted"].as_i64(),
            b["pending"].as_i64(),
            b["available"].as_i64()
        ),
        (Some(1000), Some(0), Some(1000))
    );
    assert_eq!(b["currency"], "USD");

    let before: Value = app
        .get("/api/v1/ledger/trial-balance", Some(&t))
        .await
        .json()
        .await
        .unwrap();
    let refused = [
        (
            entry(
                "r1",
                &[
                    ("cash:ccbill:USD", "debit", 10, "USD"),
                    ("platform_revenue:USD", "credit", 9, "USD"),
                ],
            ),
            "unbalanced_entry",
        ),
        (
            entry(
                "r2",
                &[
                    ("cash:ccbill:USD", "debit", 10, "USD"),
                    ("nope:USD", "credit", 10, "USD"),
                ],
            ),
            "unknown_account",
        ),
        (
            entry(
                "r3",
                &[
                    ("cash:ccbill:EUR", "debit", 10, "USD"),
                    ("platform_revenue:USD", "credit", 10, "USD"),
                ],
            ),
            "currency_mismatch",
        ),
        (
            entry(
                "r4",
                &[
                    ("cash:ccbill:USD", "debit", 0, "USD"),
                    ("platform_revenue:USD", "credit", 0, "USD"),
                ],
            ),
            "invalid_amount",
        ),
        (
            entry(
                "r5",
                &[
                    ("cash:ccbill:USD", "debit", -5, "USD"),
                    ("platform_revenue:USD", "credit", -5, "USD"),
                ],
            ),
            "invalid_amount",
        ),
        (
            entry(
                "r6",
                &[
                    ("cash:ccbill:USD", "debit", i64::MAX, "USD"),
                    ("cash:ccbill:USD", "debit", 1, "USD"),
                    ("platform_revenue:USD", "credit", i64::MAX, "USD"),
                    ("platform_revenue:USD", "credit", 1, "USD"),
                ],
            ),
            "invalid_amount",
        ),
        (
            entry(
                "r7",
                &[
                    ("cash:ccbill:USD", "debit", i64::MAX, "USD"),
                    ("platform_revenue:USD", "credit", i64::MAX, "USD"),
                ],
            ),
            "invalid_amount",
        ),
        (
            entry(
                "r8",
                &[
                    ("fan_wallet:1:USD", "debit", 1001, "USD"),
                    ("platform_revenue:USD", "credit", 1001, "USD"),
                ],
            ),
            "balance_flag_violation",
        ),
        (
            entry("r9", &[("cash:ccbill:USD", "debit", 10, "USD")]),
            "too_few_postings",
        ),
    ];
    for (body, code) in refused {
        let res = app.post("/api/v1/ledger/entries", body, Some(&t)).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let float = json!({"idempotency_key": "f", "postings": [{"account": "cash:ccbill:USD", "direction": "debit", "amount": 1.5, "currency": "USD"}, {"account": "platform_revenue:USD", "direction": "credit", "amount": 1.5, "currency": "USD"}]});
    assert_error(
        app.post("/api/v1/ledger/entries", float, Some(&t)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;

    // Frozen accounts take nothing.
    let res = app
        .post(
            "/api/v1/ledger/accounts/fan_wallet:1:USD/freeze",
            json!({"frozen": true}),
            Some(&t),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let spend = entry(
        "spend-1",
        &[
            ("fan_wallet:1:USD", "debit", 100, "USD"),
            ("platform_revenue:USD", "credit", 100, "USD"),
        ],
    );
    assert_error(
        app.post("/api/v1/ledger/entries", spend.clone(), Some(&t))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "account_frozen",
    )
    .await;

    // A linked batch with one bad entry writes nothing.
    let batch = json!({"mode": "linked", "entries": [
        entry("b1", &[("cash:ccbill:USD", "debit", 5, "USD"), ("platform_revenue:USD", "credit", 5, "USD")]),
        entry("b2", &[("cash:ccbill:USD", "debit", 5, "USD"), ("missing:USD", "credit", 5, "USD")]),
    ]});
    assert_error(
        app.post("/api/v1/ledger/entries/batch", batch, Some(&t))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_account",
    )
    .await;
    let after: Value = app
        .get("/api/v1/ledger/trial-balance", Some(&t))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after, "refused requests changed the books");

    app.post(
        "/api/v1/ledger/accounts/fan_wallet:1:USD/freeze",
        json!({"frozen": false}),
        Some(&t),
    )
    .await;
    let res = app.post("/api/v1/ledger/entries", spend, Some(&t)).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // An independent batch posts what it can and reports the rest.
    let batch = json!({"mode": "independent", "entries": [
        entry("b3", &[("cash:ccbill:USD", "debit", 5, "USD"), ("platform_revenue:USD", "credit", 5, "USD")]),
        entry("b4", &[("cash:ccbill:USD", "debit", 5, "USD"), ("missing:USD", "credit", 5, "USD")]),
        entry("b5", &[("cash:ccbill:USD", "debit", 7, "USD"), ("platform_revenue:USD", "credit", 7, "USD")]),
    ]});
    let res = app
        .post("/api/v1/ledger/entries/batch", batch, Some(&t))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let results: Value = res.json().await.unwrap();
    assert!(results[0]["entry"]["entry"]["id"].as_i64().is_some());
    assert_eq!(results[1]["error"], "unknown_account");
    assert!(results[2]["entry"]["entry"]["id"].as_i64().is_some());
    assert_eq!(
        balance(&app, &t, "platform_revenue:USD").await["posted"],
        112
    );

    // History with a running balance, and the balance as of an earlier instant.
    let h: Value = app
        .get(
            "/api/v1/ledger/accounts/platform_revenue:USD/history",
            Some(&t),
        )
        .await
        .json()
        .await
        .unwrap();
    let running: Vec<i64> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["running_balance"].as_i64().unwrap())
        .collect();
    assert_eq!(running, vec![100, 105, 112]);
    let at = first["effective_at"].as_i64().unwrap();
    let then: Value = app
        .get(
            &format!("/api/v1/ledger/accounts/platform_revenue:USD/balance?at={at}"),
            Some(&t),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(then["posted"], 0);
    verify_ok(&app, &t).await;
    let tb: Value = app
        .get("/api/v1/ledger/trial-balance", Some(&t))
        .await
        .json()
        .await
        .unwrap();
    for c in tb["currencies"].as_array().unwrap() {
        assert_eq!(c["debits"], c["credits"], "{tb}");
    }
}

async fn ledger_holds_reversals_templates(app: TestApp) {
    let t = bookkeeper(&app).await;
    account(&app, &t, "cash:ccbill:USD", "asset", "USD", json!([])).await;
    account(
        &app,
        &t,
        "wallet:USD",
        "liability",
        "USD",
        json!(["debits_must_not_exceed_credits"]),
    )
    .await;
    account(&app, &t, "sales:USD", "revenue", "USD", json!([])).await;
    let res = app
        .post(
            "/api/v1/ledger/entries",
            entry(
                "fund",
                &[
                    ("cash:ccbill:USD", "debit", 1000, "USD"),
                    ("wallet:USD", "credit", 1000, "USD"),
                ],
            ),
            Some(&t),
        )
        .await;
    let fund: Value = res.json().await.unwrap();

    let hold = |key: &str, n: i64, expires: Option<i64>| {
        let mut e = entry(
            key,
            &[
                ("wallet:USD", "debit", n, "USD"),
                ("sales:USD", "credit", n, "USD"),
            ],
        );
        e["pending"] = json!(true);
        if let Some(s) = expires {
            e["expires_in_secs"] = json!(s);
        }
        e
    };
    let h1: Value = app
        .post("/api/v1/ledger/entries", hold("h1", 300, None), Some(&t))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h1["status"], "pending");
    let b = balance(&app, &t, "wallet:USD").await;
    assert_eq!(
        (
            b["posted"].as_i64(),
            b["pending"].as_i64(),
            b["available"].as_i64()
        ),
        (Some(1000), Some(-300), Some(700))
    );
    // Holds count against the flag: 800 more would overdraw.
    assert_error(
        app.post("/api/v1/ledger/entries", hold("h-big", 800, None), Some(&t))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "balance_flag_violation",
    )
    .await;

    let id = h1["id"].as_i64().unwrap();
    let too_much = app
        .post(
            &format!("/api/v1/ledger/entries/{id}/post"),
            json!({"idempotency_key": "p0", "amount": 301}),
            Some(&t),
        )
        .await;
    assert_error(too_much, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount").await;
    let res = app
        .post(
            &format!("/api/v1/ledger/entries/{id}/post"),
            json!({"idempotency_key": "p1", "amount": 200}),
            Some(&t),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = balance(&app, &t, "wallet:USD").await;
    assert_eq!(
        (
            b["posted"].as_i64(),
            b["pending"].as_i64(),
            b["available"].as_i64()
        ),
        (Some(800), Some(0), Some(800))
    );
    let again = app
        .post(
            &format!("/api/v1/ledger/entries/{id}/post"),
            json!({"idempotency_key": "p2"}),
            Some(&t),
        )
        .await;
    assert_error(again, StatusCode::UNPROCESSABLE_ENTITY, "not_pending").await;

    let h2: Value = app
        .post("/api/v1/ledger/entries", hold("h2", 100, None), Some(&t))
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/ledger/entries/{}/void", h2["id"]),
            json!({"idempotency_key": "v1"}),
            Some(&t),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(balance(&app, &t, "wallet:USD").await["available"], 800);

    let h3: Value = app
        .post("/api/v1/ledger/entries", hold("h3", 50, Some(1)), Some(&t))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(balance(&app, &t, "wallet:USD").await["available"], 750);
    // Past its expiry (server and test share the clock), the hold is released by this call or
    // by the server's own housekeeping, whichever comes first: exactly once either way.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired: Value = app
        .post("/api/v1/ledger/holds/expire", json!({}), Some(&t))
        .await
        .json()
        .await
        .unwrap();
    // The server's own `ledger.release_due` job may have released it first.
    assert!(
        matches!(expired["expired"].as_u64(), Some(0 | 1)),
        "{expired}"
    );
    assert_eq!(balance(&app, &t, "wallet:USD").await["available"], 800);
    let h3: Value = app
        .get(&format!("/api/v1/ledger/entries/{}", h3["id"]), Some(&t))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h3["status"], "expired");

    // A reversal restores the balances the entry changed.
    let before_cash = balance(&app, &t, "cash:ccbill:USD").await;
    let res = app
        .post(
            &format!("/api/v1/ledger/entries/{}/reverse", fund["id"]),
            json!({"idempotency_key": "rev1"}),
            Some(&t),
        )
        .await;
    // The wallet has spent 200 of the 1000 it was funded with: reversing would overdraw it.
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "balance_flag_violation",
    )
    .await;
    let small = app
        .post(
            "/api/v1/ledger/entries",
            entry(
                "small",
                &[
                    ("cash:ccbill:USD", "debit", 40, "USD"),
                    ("sales:USD", "credit", 40, "USD"),
                ],
            ),
            Some(&t),
        )
        .await;
    let small: Value = small.json().await.unwrap();
    let res = app
        .post(
            &format!("/api/v1/ledger/entries/{}/reverse", small["id"]),
            json!({"idempotency_key": "rev2"}),
            Some(&t),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(balance(&app, &t, "cash:ccbill:USD").await, before_cash);
    let twice = app
        .post(
            &format!("/api/v1/ledger/entries/{}/reverse", small["id"]),
            json!({"idempotency_key": "rev3"}),
            Some(&t),
        )
        .await;
    assert_error(twice, StatusCode::UNPROCESSABLE_ENTITY, "not_reversible").await;

    // Templates: a tip splits 80/20 by default with no unit lost; the creator reads only their own.
    let (creator_token, _) = app.user("tip_creator").await;
    let creator: Value = app
        .get("/api/v1/me", Some(&creator_token))
        .await
        .json()
        .await
        .unwrap();
    let cid = creator["id"].as_i64().unwrap();
    let tip = json!({"idempotency_key": "tip-1", "currency": "USD", "amount": 999, "creator_id": cid, "processor": "ccbill", "processor_fee": 50});
    let res = app
        .post("/api/v1/ledger/templates/tip", tip.clone(), Some(&t))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["template"], "tip@1");
    let payable = format!("creator_payable:{cid}:USD");
    assert_eq!(balance(&app, &t, &payable).await["posted"], 799);
    assert_eq!(
        balance(&app, &t, "platform_revenue:USD").await["posted"],
        200
    );
    assert_eq!(balance(&app, &t, "processor_fees:USD").await["posted"], 50);
    assert_eq!(
        app.post("/api/v1/ledger/templates/tip", tip, Some(&t))
            .await
            .status(),
        StatusCode::OK
    );
    let own = app
        .get(
            &format!("/api/v1/ledger/accounts/{payable}/balance"),
            Some(&creator_token),
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let others = app
        .get(
            "/api/v1/ledger/accounts/platform_revenue:USD/balance",
            Some(&creator_token),
        )
        .await;
    assert_error(others, StatusCode::FORBIDDEN, "forbidden").await;

    let res = app
        .client
        .put(app.url("/api/v1/ledger/revenue-shares"))
        .bearer_auth(&t)
        .json(&json!({"scope": "creator", "key": cid.to_string(), "share_bps": 9000}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tip2 = json!({"idempotency_key": "tip-2", "currency": "USD", "amount": 1000, "creator_id": cid, "processor": "ccbill"});
    app.post("/api/v1/ledger/templates/tip@1", tip2, Some(&t))
        .await;
    assert_eq!(balance(&app, &t, &payable).await["posted"], 799 + 900);

    let unknown = app
        .post(
            "/api/v1/ledger/templates/teleport",
            json!({"idempotency_key": "x", "currency": "USD", "amount": 1}),
            Some(&t),
        )
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "unknown_template").await;
    let missing = app
        .post(
            "/api/v1/ledger/templates/tip",
            json!({"idempotency_key": "x", "currency": "USD", "amount": 1}),
            Some(&t),
        )
        .await;
    assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;

    let fx = json!({"idempotency_key": "fx-1", "currency": "USD", "amount": 1000, "processor": "ccbill", "to_currency": "EUR", "to_amount": 921});
    let res = app
        .post("/api/v1/ledger/templates/fx_conversion", fx, Some(&t))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["metadata"]["rate"]["to"]["amount"], 921);
    verify_ok(&app, &t).await;
}

async fn ledger_hot_account_concurrency(app: TestApp) {
    let t = bookkeeper(&app).await;
    account(&app, &t, "cash:segpay:USD", "asset", "USD", json!([])).await;
    account(
        &app,
        &t,
        "platform_revenue:USD",
        "revenue",
        "USD",
        json!([]),
    )
    .await;
    let mut tasks = Vec::new();
    for task in 0..8 {
        let client = app.client.clone();
        let url = app.url("/api/v1/ledger/entries");
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut sum = 0;
            for i in 0..20 {
                let n = 1 + task * 20 + i;
                let body = entry(
                    &format!("hot-{task}-{i}"),
                    &[
                        ("cash:segpay:USD", "debit", n, "USD"),
                        ("platform_revenue:USD", "credit", n, "USD"),
                    ],
                );
                let res = client
                    .post(&url)
                    .bearer_auth(&t)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                sum += n;
            }
            sum
        }));
    }
    let mut expected = 0;
    for task in tasks {
        expected += task.await.unwrap();
    }
    assert_eq!(
        balance(&app, &t, "platform_revenue:USD").await["posted"],
        expected,
        "a lost update"
    );
    assert_eq!(
        balance(&app, &t, "cash:segpay:USD").await["posted"],
        expected
    );
    verify_ok(&app, &t).await;
}

async fn ledger_reports_and_reconciliation(app: TestApp) {
    let t = bookkeeper(&app).await;
    let (creator_token, _) = app.user("statement_creator").await;
    let me: Value = app
        .get("/api/v1/me", Some(&creator_token))
        .await
        .json()
        .await
        .unwrap();
    let creator = me["id"].as_i64().unwrap();
    let sale = |key: &str, cause: &str, amount: i64, fee: i64| {
        json!({"idempotency_key": key, "currency": "USD", "amount": amount, "creator_id": creator,
               "processor": "ccbill", "processor_fee": fee, "causation": cause})
    };
    for (key, cause, amount, fee) in [("s1", "tx1", 1_000, 100), ("s2", "tx2", 2_000, 150)] {
        let res = app
            .post(
                "/api/v1/ledger/templates/subscription_sale",
                sale(key, cause, amount, fee),
                Some(&t),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{key}");
    }
    let res = app
        .post(
            "/api/v1/ledger/templates/tip",
            sale("s3", "tx3", 500, 0),
            Some(&t),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // P&L: the platform keeps 20 % of 3,500 = 700 and pays 250 in processor fees.
    let pnl: Value = app
        .get("/api/v1/ledger/reports/profit-and-loss", Some(&t))
        .await
        .json()
        .await
        .unwrap();
    let usd = &pnl["currencies"][0];
    assert_eq!(usd["currency"], "USD", "{pnl}");
    assert_eq!(usd["total_revenue"], 700, "{pnl}");
    assert_eq!(usd["total_expenses"], 250, "{pnl}");
    assert_eq!(usd["net_income"], 450, "{pnl}");
    // A period before anything was posted is empty.
    let empty: Value = app
        .get(
            "/api/v1/ledger/reports/profit-and-loss?from=2000-01-01&to=2000-02-01",
            Some(&t),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["currencies"], json!([]));
    assert_error(
        app.get(
            "/api/v1/ledger/reports/profit-and-loss?from=yesterday",
            Some(&t),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_error(
        app.get(
            "/api/v1/ledger/reports/profit-and-loss?from=2001-01-01&to=2000-01-01",
            Some(&t),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;

    let sheet: Value = app
        .get("/api/v1/ledger/reports/balance-sheet", Some(&t))
        .await
        .json()
        .await
        .unwrap();
    let usd = &sheet["currencies"][0];
    assert_eq!(usd["balanced"], true, "{sheet}");
    assert_eq!(
        usd["total_assets"], 3_250,
        "cash net of processor fees: {sheet}"
    );
    assert_eq!(usd["total_liabilities"], 2_800, "creator payable: {sheet}");
    assert_eq!(usd["retained_earnings"], 450, "{sheet}");

    // The creator reads their own statement; another fan may not.
    let path = format!("/api/v1/ledger/creators/{creator}/statement?currency=USD");
    let st: Value = app
        .get(&path, Some(&creator_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["total_earnings"], 2_800, "{st}");
    assert_eq!(st["opening_balance"], 0, "{st}");
    assert_eq!(st["closing_balance"], 2_800, "{st}");
    assert_eq!(st["platform_fees"], 700, "{st}");
    let (other, _) = app.user("nosy_fan").await;
    assert_error(
        app.get(&path, Some(&other)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Exports: CSV has a header and one line per posting; JSON has the same lines.
    let res = app.get("/api/v1/ledger/export?format=csv", Some(&t)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<Value> = app
        .get("/api/v1/ledger/export", Some(&t))
        .await
        .json()
        .await
        .unwrap();
    assert!(csv.starts_with("entry_id,"), "{csv}");
    assert_eq!(csv.lines().count(), lines.len() + 1);
    assert!(!lines.is_empty());
    let tb_csv = app
        .get("/api/v1/ledger/trial-balance?format=csv", Some(&t))
        .await
        .text()
        .await
        .unwrap();
    assert!(tb_csv.contains("platform_revenue:USD"), "{tb_csv}");
    assert_error(
        app.get("/api/v1/ledger/export", Some(&creator_token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Reconciliation: tx1 matches, tx2's fee differs, tx9 is unknown, tx3 is missing.
    let file =
        "reference,amount,fee,currency\ntx1,10.00,1.00,USD\ntx2,20.00,1.00,USD\ntx9,5.00,0,USD\n";
    let upload = async |body: &'static str| {
        app.client
            .post(app.url("/api/v1/ledger/settlements/ccbill"))
            .bearer_auth(&t)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let res = upload(file).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["matched"], 1, "{report}");
    assert_eq!(report["unmatched_lines"][0]["reference"], "tx9", "{report}");
    assert_eq!(
        report["mismatched"][0]["line"]["reference"], "tx2",
        "{report}"
    );
    assert_eq!(report["mismatched"][0]["journal_net"], 1_850, "{report}");
    assert_eq!(report["mismatched"][0]["file_net"], 1_900, "{report}");
    let causes: Vec<&str> = report["unmatched_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["causation"].as_str())
        .collect();
    assert_eq!(causes, vec!["tx3"], "{report}");
    // The same file again is reconciled, not stored twice.
    let again = upload(file).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["import_id"], report["import_id"]);
    assert_eq!(again["already_imported"], true);
    let id = report["import_id"].as_i64().unwrap();
    let fetched: Value = app
        .get(&format!("/api/v1/ledger/settlements/ccbill/{id}"), Some(&t))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["matched"], 1);
    assert_error(
        app.get(&format!("/api/v1/ledger/settlements/segpay/{id}"), Some(&t))
            .await,
        StatusCode::NOT_FOUND,
        "settlement_not_found",
    )
    .await;
    // A bad file names its line and writes nothing.
    let bad = upload("reference,amount,currency\ntx1,ten,USD\n").await;
    let body = assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{body}"
    );
    assert_error(
        app.get(
            &format!("/api/v1/ledger/settlements/ccbill/{}", id + 1),
            Some(&t),
        )
        .await,
        StatusCode::NOT_FOUND,
        "settlement_not_found",
    )
    .await;
    verify_ok(&app, &t).await;
}

/// The largest single amount (`fanz_ledger::MAX_AMOUNT`).
const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// Issue 9, finding 3: every account stays inside 64 bits, but the totals over accounts pass
/// i64::MAX; the trial balance, verify and the balance sheet still add up exactly.
async fn ledger_totals_past_64_bits(app: TestApp) {
    let t = bookkeeper(&app).await;
    for i in 0..4 {
        account(&app, &t, &format!("a{i}"), "asset", "USD", json!([])).await;
        account(&app, &t, &format!("l{i}"), "liability", "USD", json!([])).await;
    }
    // One amount above the bound is refused, whatever the rest of the entry.
    let res = app
        .post(
            "/api/v1/ledger/entries",
            entry(
                "too-big",
                &[
                    ("a0", "debit", MAX_AMOUNT + 1, "USD"),
                    ("l0", "credit", MAX_AMOUNT + 1, "USD"),
                ],
            ),
            Some(&t),
        )
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&MAX_AMOUNT.to_string()),
        "{body}"
    );
    // 20 entries of 500 debits and 500 credits at the bound: 10^19 each way, past i64::MAX
    // (about 9.22 × 10^18), with each account at 2.5 × 10^18.
    let big_entry = |n: usize| {
        let mut lines = Vec::with_capacity(1000);
        for k in 0..500 {
            lines.push(json!({"account": format!("a{}", k % 4), "direction": "debit", "amount": MAX_AMOUNT, "currency": "USD"}));
            lines.push(json!({"account": format!("l{}", k % 4), "direction": "credit", "amount": MAX_AMOUNT, "currency": "USD"}));
        }
        json!({"idempotency_key": format!("big-{n}"), "postings": lines})
    };
    for chunk in 0..4 {
        let entries: Vec<Value> = (0..5).map(|i| big_entry(chunk * 5 + i)).collect();
        let res = app
            .post(
                "/api/v1/ledger/entries/batch",
                json!({"mode": "linked", "entries": entries}),
                Some(&t),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "batch {chunk}");
    }
    const TOTAL: u64 = 10_000_000_000_000_000_000;
    assert!(TOTAL > i64::MAX as u64);
    assert_eq!(balance(&app, &t, "a0").await["posted"], 2_500 * MAX_AMOUNT);

    let tb = app.get("/api/v1/ledger/trial-balance", Some(&t)).await;
    assert_eq!(tb.status(), StatusCode::OK);
    let tb: Value = tb.json().await.unwrap();
    let usd = &tb["currencies"][0];
    assert_eq!(
        (
            usd["debits"].as_u64(),
            usd["credits"].as_u64(),
            &usd["balanced"]
        ),
        (Some(TOTAL), Some(TOTAL), &json!(true)),
        "{usd}"
    );
    let csv = app
        .get("/api/v1/ledger/trial-balance?format=csv", Some(&t))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);

    let report = app.get("/api/v1/ledger/verify", Some(&t)).await;
    assert_eq!(report.status(), StatusCode::OK);
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["currencies"][0]["debits"].as_u64(), Some(TOTAL));

    let sheet = app
        .get("/api/v1/ledger/reports/balance-sheet", Some(&t))
        .await;
    assert_eq!(sheet.status(), StatusCode::OK);
    let sheet: Value = sheet.json().await.unwrap();
    let usd = &sheet["currencies"][0];
    assert_eq!(usd["total_assets"].as_u64(), Some(TOTAL), "{usd}");
    assert_eq!(usd["total_liabilities"].as_u64(), Some(TOTAL), "{usd}");
    assert_eq!(usd["balanced"], true, "{usd}");
}

/// Issue 9, finding 4: entries posted by hand, in a batch, and holds posted or voided carry
/// the user who did it, and their audit rows the user, address and request id.
async fn ledger_entries_name_who_posted_them(app: TestApp) {
    let t = bookkeeper(&app).await;
    let me: Value = app.get("/api/v1/me", Some(&t)).await.json().await.unwrap();
    let uid = me["id"].as_i64().unwrap();
    account(&app, &t, "cash:ccbill:USD", "asset", "USD", json!([])).await;
    account(
        &app,
        &t,
        "platform_revenue:USD",
        "revenue",
        "USD",
        json!([]),
    )
    .await;
    let send = |path: &str, body: Value, rid: &str| {
        app.client
            .post(app.url(path))
            .bearer_auth(&t)
            .header("x-request-id", rid)
            .json(&body)
            .send()
    };
    let lines = [
        ("cash:ccbill:USD", "debit", 100, "USD"),
        ("platform_revenue:USD", "credit", 100, "USD"),
    ];
    let one: Value = send(
        "/api/v1/ledger/entries",
        entry("who-1", &lines),
        "rid-entry",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(one["created_by"], uid, "{one}");
    let batch: Value = send(
        "/api/v1/ledger/entries/batch",
        json!({"mode": "independent", "entries": [entry("who-2", &lines)]}),
        "rid-batch",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(batch[0]["entry"]["entry"]["created_by"], uid, "{batch}");
    let mut hold_ids = Vec::new();
    for key in ["hold-1", "hold-2"] {
        let mut body = entry(key, &lines);
        body["pending"] = json!(true);
        let hold: Value = send("/api/v1/ledger/entries", body, "rid-hold")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        hold_ids.push(hold["id"].as_i64().unwrap());
    }
    let posted = send(
        &format!("/api/v1/ledger/entries/{}/post", hold_ids[0]),
        json!({"idempotency_key": "hold-1-post"}),
        "rid-post",
    )
    .await
    .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);
    let posted: Value = posted.json().await.unwrap();
    let voided = send(
        &format!("/api/v1/ledger/entries/{}/void", hold_ids[1]),
        json!({"idempotency_key": "hold-2-void"}),
        "rid-void",
    )
    .await
    .unwrap();
    assert_eq!(voided.status(), StatusCode::CREATED);
    let voided: Value = voided.json().await.unwrap();
    for e in [&one, &posted, &voided] {
        let read: Value = app
            .get(&format!("/api/v1/ledger/entries/{}", e["id"]), Some(&t))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["created_by"], uid, "{read}");
    }

    let admin = app.admin().await;
    let audit: Value = app
        .get("/api/v1/admin/audit?limit=500", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let rows = audit["entries"].as_array().unwrap();
    for (action, rid) in [
        ("ledger.entries_posted", "rid-entry"),
        ("ledger.entries_posted", "rid-batch"),
        ("ledger.entries_posted", "rid-hold"),
        ("ledger.hold_posted", "rid-post"),
        ("ledger.hold_voided", "rid-void"),
    ] {
        let row = rows
            .iter()
            .find(|r| r["action"] == action && r["request_id"] == rid)
            .unwrap_or_else(|| panic!("no {action} row with request id {rid}: {audit}"));
        assert_eq!(row["actor_id"], uid, "{row}");
        assert_eq!(row["ip"], "127.0.0.1", "{row}");
    }
    // No ledger row of these requests is anonymous.
    assert!(
        rows.iter()
            .filter(|r| r["action"].as_str().unwrap().starts_with("ledger."))
            .all(|r| r["actor_id"].is_i64() && r["ip"].is_string() && r["request_id"].is_string()),
        "{audit}"
    );
}

/// Issue 9, finding 12: to a caller who may not read it, an account that does not exist and
/// one that belongs to someone else give the same answer.
async fn ledger_missing_and_foreign_accounts_look_alike(app: TestApp) {
    let t = bookkeeper(&app).await;
    account(
        &app,
        &t,
        "platform_revenue:USD",
        "revenue",
        "USD",
        json!([]),
    )
    .await;
    let (fan, _) = app.user("curious_fan").await;
    for suffix in ["", "/balance", "/history"] {
        let foreign = app
            .get(
                &format!("/api/v1/ledger/accounts/platform_revenue:USD{suffix}"),
                Some(&fan),
            )
            .await;
        let foreign = assert_error(foreign, StatusCode::FORBIDDEN, "forbidden").await;
        let missing = app
            .get(
                &format!("/api/v1/ledger/accounts/no_such_account:USD{suffix}"),
                Some(&fan),
            )
            .await;
        let missing = assert_error(missing, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(foreign, missing, "{suffix}");
    }
    // A bookkeeper still learns that an account does not exist.
    let res = app
        .get("/api/v1/ledger/accounts/no_such_account:USD", Some(&t))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_account").await;
}

/// Issue 9, finding 13: a template does not open accounts for people who do not exist, and
/// an entry's `effective_at` must lie within ten years back and a day ahead.
async fn ledger_refuses_unknown_people_and_odd_dates(app: TestApp) {
    let t = bookkeeper(&app).await;
    for (name, body) in [
        (
            "tip",
            json!({"idempotency_key": "ghost-tip", "currency": "USD", "amount": 500, "creator_id": 987654, "processor": "ccbill"}),
        ),
        (
            "wallet_top_up",
            json!({"idempotency_key": "ghost-topup", "currency": "USD", "amount": 500, "fan_id": 987655, "processor": "epoch"}),
        ),
    ] {
        let res = app
            .post(&format!("/api/v1/ledger/templates/{name}"), body, Some(&t))
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_account").await;
    }
    for code in [
        "creator_payable:987654:USD",
        "fan_wallet:987655:USD",
        "cash:ccbill:USD",
        "cash:epoch:USD",
    ] {
        let res = app
            .get(&format!("/api/v1/ledger/accounts/{code}"), Some(&t))
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_account").await;
    }

    account(&app, &t, "cash:ccbill:USD", "asset", "USD", json!([])).await;
    account(
        &app,
        &t,
        "platform_revenue:USD",
        "revenue",
        "USD",
        json!([]),
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let day = 86_400_000_000i64;
    let dated = |key: &str, at: i64| {
        let mut e = entry(
            key,
            &[
                ("cash:ccbill:USD", "debit", 10, "USD"),
                ("platform_revenue:USD", "credit", 10, "USD"),
            ],
        );
        e["effective_at"] = json!(at);
        e
    };
    for (key, at) in [
        ("epoch", 0),
        ("ancient", now - 3_700 * day),
        ("future", now + 2 * day),
        ("far-future", i64::MAX),
        ("negative", i64::MIN),
    ] {
        let res = app
            .post("/api/v1/ledger/entries", dated(key, at), Some(&t))
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        let res = app
            .post(
                "/api/v1/ledger/entries/batch",
                json!({"mode": "independent", "entries": [dated(key, at)]}),
                Some(&t),
            )
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    for (key, at) in [
        ("last-month", now - 30 * day),
        ("in-an-hour", now + day / 24),
    ] {
        let res = app
            .post("/api/v1/ledger/entries", dated(key, at), Some(&t))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{key}");
    }
    assert_eq!(balance(&app, &t, "cash:ccbill:USD").await["posted"], 20);
    verify_ok(&app, &t).await;
}

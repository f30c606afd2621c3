//! Payments over HTTP: checkout, the sandbox's signed notifications applied once whatever
//! their order, money and access moving together, refunds and chargebacks, wallet, gift
//! cards, payouts, processors' verification, the finance console, other accounts refused.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, spawn_with, TestApp};
use fanz_processors::sandbox::{Notification, SIGNATURE_HEADER};
use fanz_store::sqlx::{self, Row};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "sandbox-test-secret";
const BTCPAY_SECRET: &str = "btcpay-webhook-secret";

/// Run each test on SQLite, and on PostgreSQL when it is configured, with the sandbox on and
/// CCBill and BTCPay configured.
macro_rules! payments_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let btcpay = super::fake_btcpay().await;
                    let app = super::spawn(fanz_store::Backend::Sqlite, Some(btcpay)).await.expect("sqlite app");
                    super::$name(app).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let btcpay = super::fake_btcpay().await;
                    match super::spawn(fanz_store::Backend::Postgres, Some(btcpay)).await {
                        Some(app) => super::$name(app).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
}

payments_tests!(
    subscription_renewals_refund_and_chargeback,
    ppv_and_tips_with_refunds,
    duplicated_delayed_and_reordered_notifications_give_the_same_books,
    forged_and_foreign_notifications_post_nothing,
    wallet_and_gift_cards,
    promo_codes_trials_and_bundles,
    payouts_hold_batch_settle_and_fail,
    dead_letters_are_redriven,
    sandbox_checkout_through_the_job_runner,
    other_accounts_are_refused,
    bad_input_is_refused,
    a_burst_is_applied_each_once_and_failures_stay_alone
);

pub async fn spawn(backend: fanz_store::Backend, btcpay_url: Option<String>) -> Option<TestApp> {
    spawn_with(backend, move |c| {
        c.payments.sandbox = true;
        c.payments.sandbox_secret = SECRET.into();
        c.payments.apply_attempts = 3;
        c.payments.sandbox_chargeback_after_secs = 1;
        // Ask processors to confirm charges at every sweep (5 s) instead of once an hour.
        c.payments.confirm_interval_secs = 0;
        let api = btcpay_url.unwrap_or_else(|| "http://127.0.0.1:9".into());
        let ccbill = fanz_config::payments::ProcessorSettings {
            enabled: true,
            account: Some("900100".into()),
            sub_account: Some("0000".into()),
            secret: Some("salt".into()),
            api_user: Some("dl-user".into()),
            api_key: Some("dl-pass".into()),
            api_url: Some(api.clone()),
            form_id: Some("flex-1".into()),
            allow_ips: vec!["127.0.0.0/8".into()],
            descriptor: Some("CCBILL*FANZ".into()),
            ..Default::default()
        };
        let outside = fanz_config::payments::ProcessorSettings {
            allow_ips: vec!["64.38.212.0/24".into()],
            ..ccbill.clone()
        };
        let btcpay = fanz_config::payments::ProcessorSettings {
            enabled: true,
            account: Some("store-1".into()),
            secret: Some(BTCPAY_SECRET.into()),
            api_key: Some("key".into()),
            checkout_url: Some(api),
            descriptor: Some("FANZ CRYPTO".into()),
            ..Default::default()
        };
        c.payments.processors.insert(
            "default".into(),
            [("ccbill".to_owned(), ccbill), ("btcpay".to_owned(), btcpay)].into(),
        );
        // Another site's CCBill account, only reachable from CCBill's addresses.
        c.payments
            .processors
            .insert("girlfanz".into(), [("segpay".to_owned(), outside)].into());
    })
    .await
}

/// A creator with a 9.99 monthly tier, one subscribers-only post and one 5.00 PPV post:
/// (token, id, tier, subscribers post, ppv post).
pub(crate) async fn shop(app: &TestApp, handle: &str) -> (String, i64, i64, i64, i64) {
    let token = creator(app, handle, &["boyfanz"]).await;
    let id = user_id(app, &token).await;
    let res = app
        .post(
            "/api/v1/creators/me/tiers",
            json!({"name": "Inner circle", "price": {"amount": 999, "currency": "USD"}, "benefits": "Everything"}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let tier = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let subs = post_json(
        app,
        &token,
        json!({"text": "for subscribers", "visibility": "subscribers", "clusters": ["boyfanz"], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let ppv = post_json(
        app,
        &token,
        json!({"text": "pay to see", "visibility": "ppv", "price": {"amount": 500, "currency": "USD"}, "clusters": ["boyfanz"], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    (token, id, tier, subs, ppv)
}

async fn user_id(app: &TestApp, token: &str) -> i64 {
    app.get("/api/v1/me", Some(token))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

pub(crate) async fn checkout(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app
        .post("/api/v1/checkout", body.clone(), Some(token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "checkout {body}");
    res.json().await.unwrap()
}

/// Deliver a signed sandbox notification; returns the HTTP status.
async fn notify(app: &TestApp, n: Value) -> StatusCode {
    notify_signed(app, n, SECRET).await
}

async fn notify_signed(app: &TestApp, n: Value, secret: &str) -> StatusCode {
    let n: Notification = serde_json::from_value(n).unwrap();
    let (body, sig) = n.sign(secret);
    app.client
        .post(app.url("/api/v1/payments/webhooks/sandbox"))
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, sig)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn sale(c: &Value, id: &str) -> Value {
    let r = c["reference"].as_str().unwrap();
    json!({"id": id, "type": "sale.approved", "reference": r, "subscription": format!("sub_{r}"),
           "transaction": format!("txn_{id}"), "amount": c["amount"], "currency": c["currency"], "fee": 80})
}

fn renewal(c: &Value, n: u32, amount: i64) -> Value {
    let r = c["reference"].as_str().unwrap();
    json!({"id": format!("rn_{r}_{n}"), "type": "renewal.approved", "subscription": format!("sub_{r}"),
           "transaction": format!("txn_rn_{r}_{n}"), "amount": amount, "currency": "USD", "fee": 80})
}

fn undo(kind: &str, txn: &str, id: &str) -> Value {
    json!({"id": id, "type": kind, "transaction": txn, "reason": "test", "fee": 1500})
}

/// A ledger account's posted balance (0 when it does not exist yet).
pub(crate) async fn balance(app: &TestApp, admin: &str, code: &str) -> i64 {
    let res = app
        .get(
            &format!("/api/v1/ledger/accounts/{code}/balance"),
            Some(admin),
        )
        .await;
    if res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::UNPROCESSABLE_ENTITY {
        // No such account yet.
        return 0;
    }
    assert_eq!(res.status(), StatusCode::OK, "balance {code}");
    res.json::<Value>().await.unwrap()["posted"]
        .as_i64()
        .unwrap()
}

async fn locked(app: &TestApp, token: &str, post: i64) -> bool {
    let res = app.get(&format!("/api/v1/posts/{post}"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["locked"]
        .as_bool()
        .unwrap()
}

pub(crate) async fn books_verify(app: &TestApp, admin: &str) {
    let res = app.get("/api/v1/ledger/verify", Some(admin)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["ok"], true, "ledger verify: {v}");
}

pub(crate) async fn subscriptions(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get("/api/v1/me/subscriptions", Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["subscriptions"]
        .as_array()
        .unwrap()
        .clone()
}

/// The creator's figures: (payable, reserve, platform revenue, sandbox cash).
async fn figures(app: &TestApp, admin: &str, creator: i64) -> (i64, i64, i64, i64) {
    (
        balance(app, admin, &format!("creator_payable:{creator}:USD")).await,
        balance(app, admin, &format!("reserve:{creator}:USD")).await,
        balance(app, admin, "platform_revenue:USD").await,
        balance(app, admin, "cash:sandbox:USD").await,
    )
}

async fn subscription_renewals_refund_and_chargeback(app: TestApp) {
    let admin = app.admin().await;
    let (ctoken, cid, tier, subs_post, _) = shop(&app, "rennie").await;
    let (fan, _) = app.user("fanny").await;
    assert!(locked(&app, &fan, subs_post).await);

    let c = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
    assert_eq!(c["amount"], 999);
    assert_eq!(c["status"], "open");
    assert!(c["redirect_url"]
        .as_str()
        .unwrap()
        .contains("/payments/sandbox/"));
    // Nothing grants access before the payment.
    assert!(locked(&app, &fan, subs_post).await);

    assert_eq!(notify(&app, sale(&c, "s1")).await, StatusCode::OK);
    assert!(!locked(&app, &fan, subs_post).await, "sale grants access");
    // 999 at 80 %: 799 to the creator, 5 % of it (40) into the reserve, 200 to the platform.
    assert_eq!(figures(&app, &admin, cid).await, (759, 40, 200, 999 - 80));
    let subs = subscriptions(&app, &fan).await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["status"], "active");
    let end0 = subs[0]["current_period_end"].as_i64().unwrap();

    for n in 1..=3u32 {
        assert_eq!(notify(&app, renewal(&c, n, 999)).await, StatusCode::OK);
        let (payable, reserve, platform, cash) = figures(&app, &admin, cid).await;
        let k = n as i64 + 1;
        assert_eq!(
            (payable, reserve, platform, cash),
            (759 * k, 40 * k, 200 * k, 919 * k),
            "after renewal {n}"
        );
        let subs = subscriptions(&app, &fan).await;
        assert_eq!(subs[0]["renewals"], n);
        assert_eq!(
            subs[0]["current_period_end"].as_i64().unwrap(),
            end0 + n as i64 * 30 * 86_400_000_000,
            "renewal {n} moves the period"
        );
        assert!(!locked(&app, &fan, subs_post).await);
        let st = app.get("/api/v1/creators/me/earnings", Some(&ctoken)).await;
        assert_eq!(st.status(), StatusCode::OK);
        let st: Value = st.json().await.unwrap();
        assert_eq!(st["available"], 759 * k);
        assert_eq!(st["reserve"], 40 * k);
        assert_eq!(st["statement"]["total_earnings"], 799 * k);
    }
    books_verify(&app, &admin).await;

    // Refund of the third renewal: the split reversed, access gone with it.
    let r = c["reference"].as_str().unwrap();
    assert_eq!(
        notify(&app, undo("refund", &format!("txn_rn_{r}_3"), "rf1")).await,
        StatusCode::OK
    );
    let (payable, reserve, platform, cash) = figures(&app, &admin, cid).await;
    assert_eq!(payable, 759 * 4 - 799);
    assert_eq!(reserve, 160);
    assert_eq!(platform, 800 - 200);
    assert_eq!(cash, 919 * 4 - 999);
    assert!(
        locked(&app, &fan, subs_post).await,
        "a refund revokes access"
    );
    assert_eq!(subscriptions(&app, &fan).await[0]["status"], "expired");
    let st: Value = app
        .get("/api/v1/creators/me/earnings", Some(&ctoken))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["statement"]["refunds"], 799);

    // A chargeback on the first sale: reversed again, the fee recorded, the fan flagged.
    assert_eq!(
        notify(&app, undo("chargeback", "txn_s1", "cb1")).await,
        StatusCode::OK
    );
    let (payable2, _, platform2, cash2) = figures(&app, &admin, cid).await;
    assert_eq!(payable2, payable - 799);
    assert_eq!(platform2, platform - 200);
    assert_eq!(cash2, cash - 999 - 1500);
    assert_eq!(balance(&app, &admin, "chargeback_losses:USD").await, 1500);
    let again = app
        .post(
            "/api/v1/checkout",
            json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
            Some(&fan),
        )
        .await;
    assert_error(again, StatusCode::FORBIDDEN, "payments_on_hold").await;
    // The same chargeback again posts nothing.
    assert_eq!(
        notify(&app, undo("chargeback", "txn_s1", "cb1")).await,
        StatusCode::OK
    );
    assert_eq!(figures(&app, &admin, cid).await.0, payable2);
    books_verify(&app, &admin).await;

    // The finance console's ratios: four sales, a refund and a chargeback on the sandbox —
    // one chargeback in four sales is far past any scheme's threshold.
    let r: Value = app
        .get("/api/v1/payments/ratios?days=30", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let sandbox = r["processors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["processor"] == "sandbox")
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        (
            &sandbox["sales"],
            &sandbox["refunds"],
            &sandbox["chargebacks"]
        ),
        (&json!(4), &json!(1), &json!(1))
    );
    assert_eq!(sandbox["chargeback_bps"], 2500);
    assert_eq!(sandbox["level"], "excessive");
    assert_error(
        app.get("/api/v1/payments/ratios", Some(&fan)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.get("/api/v1/payments/ratios?days=0", Some(&admin))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_days",
    )
    .await;

    // Finance clears the flag; the fan may buy again.
    let fan_id = user_id(&app, &fan).await;
    let res = app
        .post(
            &format!("/api/v1/payments/fans/{fan_id}/clear-flag"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
}

async fn ppv_and_tips_with_refunds(app: TestApp) {
    let admin = app.admin().await;
    let (_, cid, _, _, ppv) = shop(&app, "pavel").await;
    let (fan, _) = app.user("pia").await;
    assert!(locked(&app, &fan, ppv).await);
    let c = checkout(
        &app,
        &fan,
        json!({"kind": "ppv", "post_id": ppv, "processor": "sandbox"}),
    )
    .await;
    assert_eq!(c["amount"], 500);
    assert_eq!(notify(&app, sale(&c, "p1")).await, StatusCode::OK);
    assert!(!locked(&app, &fan, ppv).await, "unlocked after the sale");
    assert_eq!(figures(&app, &admin, cid).await.0, 400 - 20);
    // Unlocking twice is refused.
    let res = app
        .post(
            "/api/v1/checkout",
            json!({"kind": "ppv", "post_id": ppv, "processor": "sandbox"}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_unlocked").await;

    let t = checkout(&app, &fan, json!({"kind": "tip", "creator_id": cid, "amount": 2500, "currency": "USD", "message": "thanks!", "processor": "sandbox"})).await;
    assert_eq!(notify(&app, sale(&t, "t1")).await, StatusCode::OK);
    let (payable, reserve, platform, _) = figures(&app, &admin, cid).await;
    assert_eq!(payable, 380 + 1900);
    assert_eq!(reserve, 20 + 100);
    assert_eq!(platform, 100 + 500);

    // Refund the unlock: the post locks again; the tip's refund leaves the unlock alone.
    assert_eq!(
        notify(&app, undo("refund", "txn_p1", "rp1")).await,
        StatusCode::OK
    );
    assert!(locked(&app, &fan, ppv).await, "refund revokes the unlock");
    assert_eq!(figures(&app, &admin, cid).await.0, 380 + 1900 - 400);
    assert_eq!(
        notify(&app, undo("refund", "txn_t1", "rt1")).await,
        StatusCode::OK
    );
    // The creator had 1,880 available for a 2,000 share: the reserve is drawn on.
    let (payable, reserve, platform, _) = figures(&app, &admin, cid).await;
    assert_eq!(payable + reserve, 380 + 1900 - 400 - 2000 + 120);
    assert!(payable >= 0 && reserve >= 0);
    assert_eq!(platform, 0);
    books_verify(&app, &admin).await;
    let charges: Value = app
        .get("/api/v1/me/charges", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = charges["charges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"refunded"), "{statuses:?}");
}

/// Apply a subscription's events to a new shop in the given order; returns the shop's books
/// (the creator's payable and reserve, and what the platform's revenue and the sandbox's cash
/// moved by) and the fan's access after.
async fn run_scenario(
    app: &TestApp,
    admin: &str,
    tag: &str,
    order: &[usize],
    dup: bool,
) -> (i64, i64, i64, i64, bool, String) {
    let (_, cid, tier, subs_post, _) = shop(app, &format!("ordo{tag}")).await;
    let (fan, _) = app.user(&format!("orla{tag}")).await;
    let (_, _, platform0, cash0) = figures(app, admin, cid).await;
    let c = checkout(
        app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
    let r = c["reference"].as_str().unwrap().to_owned();
    let events = [
        sale(&c, &format!("x1{tag}")),
        renewal(&c, 1, 999),
        renewal(&c, 2, 999),
        json!({"id": format!("cx1{tag}"), "type": "subscription.cancelled", "subscription": format!("sub_{r}")}),
        undo("refund", &format!("txn_rn_{r}_2"), &format!("rx1{tag}")),
    ];
    for &i in order {
        assert_eq!(notify(app, events[i].clone()).await, StatusCode::OK);
        if dup {
            assert_eq!(notify(app, events[i].clone()).await, StatusCode::OK);
        }
    }
    // Out-of-order ones are retried by the job runner until their sale has arrived.
    for _ in 0..120 {
        let res = app
            .get(
                "/api/v1/payments/notifications?status=retrying",
                Some(admin),
            )
            .await;
        let v: Value = res.json().await.unwrap();
        if v["notifications"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let dead: Value = app
        .get("/api/v1/payments/notifications?status=dead", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        dead["notifications"].as_array().unwrap().is_empty(),
        "no dead letters: {dead}"
    );
    books_verify(app, admin).await;
    let (p, res, plat, cash) = figures(app, admin, cid).await;
    let subs = subscriptions(app, &fan).await;
    (
        p,
        res,
        plat - platform0,
        cash - cash0,
        locked(app, &fan, subs_post).await,
        subs[0]["status"].as_str().unwrap().to_owned(),
    )
}

async fn duplicated_delayed_and_reordered_notifications_give_the_same_books(app: TestApp) {
    let admin = app.admin().await;
    let in_order = run_scenario(&app, &admin, "a", &[0, 1, 2, 3, 4], false).await;
    // The refund of renewal 2 expires the subscription and locks the posts.
    assert_eq!(in_order.5, "expired");
    assert!(in_order.4);
    assert_eq!(in_order.0, 759 * 3 - 799);
    let shuffled = run_scenario(&app, &admin, "b", &[4, 2, 0, 3, 1], true).await;
    assert_eq!(
        in_order, shuffled,
        "reordered and duplicated deliveries give the same books"
    );
}

async fn forged_and_foreign_notifications_post_nothing(app: TestApp) {
    let admin = app.admin().await;
    let (_, cid, tier, subs_post, _) = shop(&app, "fora").await;
    let (fan, _) = app.user("fred").await;
    let c = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;

    // Signed with the wrong key.
    assert_eq!(
        notify_signed(&app, sale(&c, "f1"), "not-the-secret").await,
        StatusCode::FORBIDDEN
    );
    // No signature at all.
    let res = app
        .client
        .post(app.url("/api/v1/payments/webhooks/sandbox"))
        .body(serde_json::to_vec(&sale(&c, "f1")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // CCBill: a wrong account, and (another site's settings) an address outside the allowlist.
    let body = json!({"subscriptionId": "2001", "transactionId": "3001", "clientAccnum": "111111", "clientSubacc": "0000",
        "timestamp": "2026-12-01 10:00:00", "billedInitialPrice": "9.99", "billedCurrencyCode": "840", "X-fanz_ref": c["reference"]});
    let res = app.client
        .post(app.url("/api/v1/payments/webhooks/ccbill?clientAccnum=111111&clientSubacc=0000&eventType=NewSaleSuccess&eventGroupType=Subscription"))
        .json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "wrong CCBill account");
    let res = app.client
        .get(app.url("/api/v1/payments/webhooks/segpay?action=Auth&stage=Initial&approved=Yes&tranid=1&purchaseid=2&price=9.99&currencycode=USD"))
        .send().await.unwrap();
    assert!(
        res.status().is_client_error(),
        "segpay from outside its allowlist: {}",
        res.status()
    );

    assert!(locked(&app, &fan, subs_post).await);
    assert_eq!(figures(&app, &admin, cid).await, (0, 0, 0, 0));
    let log: Value = app
        .get(
            "/api/v1/payments/notifications?status=rejected",
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let log = log["notifications"].as_array().unwrap();
    assert_eq!(log.len(), 4, "every rejected notification is kept: {log:?}");
    assert!(log
        .iter()
        .all(|n| n["body"].is_string() && n["error"].is_string()));

    // The right account from an allowed address works: CCBill's own sale for a CCBill checkout.
    let cc = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "ccbill"}),
    )
    .await;
    assert!(
        cc["redirect_url"]
            .as_str()
            .unwrap()
            .starts_with("https://api.ccbill.com/wap-frontflex/flexforms/flex-1"),
        "{cc}"
    );
    assert_eq!(cc["descriptor"], "CCBILL*FANZ");
    let body = json!({"subscriptionId": "2002", "transactionId": "3002", "clientAccnum": "900100", "clientSubacc": "0000",
        "timestamp": "2026-12-01 10:00:00", "billedInitialPrice": "9.99", "billedCurrencyCode": "840",
        "subscriptionInitialPrice": "9.99", "subscriptionCurrencyCode": "840", "X-fanz_ref": cc["reference"]});
    let url = app.url("/api/v1/payments/webhooks/ccbill?clientAccnum=900100&clientSubacc=0000&eventType=NewSaleSuccess&eventGroupType=Subscription");
    let res = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // CCBill sends it again: applied once.
    let res = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!locked(&app, &fan, subs_post).await);
    assert_eq!(balance(&app, &admin, "cash:ccbill:USD").await, 999);

    // BTCPay: a replayed delivery of the settled invoice posts once; a forged one nothing.
    let (app2, admin2) = (&app, &admin);
    let (_, cid2, _, _, ppv) = shop(app2, "bitsy").await;
    let (fan2, _) = app2.user("bert").await;
    let bc = checkout(
        app2,
        &fan2,
        json!({"kind": "ppv", "post_id": ppv, "processor": "btcpay"}),
    )
    .await;
    assert!(bc["redirect_url"].as_str().unwrap().contains("/i/"), "{bc}");
    let settled = |delivery: &str, redelivery: bool| {
        json!({"deliveryId": delivery, "webhookId": "wh1", "originalDeliveryId": "d1", "isRedelivery": redelivery,
               "type": "InvoiceSettled", "timestamp": 1764583200, "storeId": "store-1", "invoiceId": "inv-9",
               "metadata": {"orderId": bc["reference"]}, "manuallyMarked": false, "overPaid": false})
        .to_string()
    };
    let post = |body: String, secret: &str| {
        let sig = format!(
            "sha256={}",
            fanz_processors::hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
        );
        app2.client
            .post(app2.url("/api/v1/payments/webhooks/btcpay"))
            .header("BTCPay-Sig", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        post(settled("d1", false), "wrong").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(balance(app2, admin2, "cash:btcpay:USD").await, 0);
    assert_eq!(
        post(settled("d1", false), BTCPAY_SECRET)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        post(settled("d2", true), BTCPAY_SECRET)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        balance(app2, admin2, "cash:btcpay:USD").await,
        500,
        "posted once"
    );
    assert_eq!(figures(app2, admin2, cid2).await.0, 380);
    assert!(!locked(app2, &fan2, ppv).await);
    books_verify(app2, admin2).await;
}

/// A stand-in BTCPay Server answering invoice creation with a checkout link.
async fn fake_btcpay() -> String {
    fake_processor().await.0
}

/// What the stand-in processor was asked: `METHOD path?query | authorization | body`.
pub(crate) type Hits = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Pushed to the stand-in's [`Hits`] by a test, it opens CCBill's Data Link extract.
const OPEN_EXTRACT: &str = "open the extract";

/// A stand-in processor API on loopback: BTCPay's invoice and refund endpoints and CCBill's
/// Data Link. It records every request; its first refund fails with 503 and its first cancel
/// with CCBill's -7 (both temporary), and subscription `gone` is unknown to it (-3). Its
/// Data Link extract is empty until the test pushes [`OPEN_EXTRACT`] to the hits, then
/// reports sale 8001 for 9.99 and sale 8002 for 4.00 (and nothing else).
async fn fake_processor() -> (String, Hits) {
    use axum::extract::{Path as P, RawQuery};
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let hits: Hits = Default::default();
    let refunds = Arc::new(AtomicUsize::new(0));
    let cancels = Arc::new(AtomicUsize::new(0));
    let auth = |h: &HeaderMap| {
        h.get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (h1, h2, h3) = (hits.clone(), hits.clone(), hits.clone());
    let router = axum::Router::new()
        .route(
            "/api/v1/stores/{store}/invoices",
            post(|| async {
                axum::Json(json!({"id": "inv-9", "checkoutLink": "https://btcpay.example/i/inv-9"}))
            }),
        )
        .route(
            "/api/v1/stores/{store}/invoices/{invoice}/refund",
            post(
                move |P((store, invoice)): P<(String, String)>,
                      headers: HeaderMap,
                      body: String| {
                    let (hits, refunds) = (h1.clone(), refunds.clone());
                    async move {
                        hits.lock().unwrap().push(format!(
                            "POST /api/v1/stores/{store}/invoices/{invoice}/refund | {} | {body}",
                            auth(&headers)
                        ));
                        if refunds.fetch_add(1, Ordering::SeqCst) == 0 {
                            return axum::response::IntoResponse::into_response((
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                "down for maintenance",
                            ));
                        }
                        axum::response::IntoResponse::into_response(axum::Json(
                            json!({"id": "pp-1", "name": format!("Refund {invoice}"),
                                   "viewLink": "https://btcpay.example/pull-payments/pp-1"}),
                        ))
                    }
                },
            ),
        )
        .route(
            "/utils/subscriptionManagement.cgi",
            get(move |RawQuery(q): RawQuery| {
                let (hits, cancels) = (h2.clone(), cancels.clone());
                async move {
                    let q = q.unwrap_or_default();
                    hits.lock()
                        .unwrap()
                        .push(format!("GET /utils/subscriptionManagement.cgi?{q} |  | "));
                    let code = if q.contains("subscriptionId=gone") {
                        -3
                    } else if cancels.fetch_add(1, Ordering::SeqCst) == 0 {
                        -7
                    } else {
                        1
                    };
                    format!("<?xml version='1.0' standalone='yes'?>\n<results>{code}</results>")
                }
            }),
        );
    let router = router.route(
        "/data/main.cgi",
        get(move |RawQuery(q): RawQuery| {
            let hits = h3.clone();
            async move {
                let q = q.unwrap_or_default();
                let open = {
                    let mut hits = hits.lock().unwrap();
                    hits.push(format!("GET /data/main.cgi?{q} |  | "));
                    hits.iter().any(|h| h == OPEN_EXTRACT)
                };
                if !open {
                    // An empty extract (a bare 1) until the test lets CCBill have its records.
                    return "1\n";
                }
                concat!(
                    "\"NEW\",\"900100\",\"0000\",\"8001\",\"20261201100000\",\"Cora\",\"Fan\",\"cora@example.com\",\"\",\"1\",\"9.99\",\"30\",\"9.99\",\"30\",\"1\",\"VISA\"\n",
                    "\"NEW\",\"900100\",\"0000\",\"8002\",\"20261201100000\",\"Dex\",\"Fan\",\"dex@example.com\",\"\",\"1\",\"4.00\",\"30\",\"9.99\",\"30\",\"1\",\"VISA\"\n"
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), hits)
}

async fn wallet_and_gift_cards(app: TestApp) {
    let admin = app.admin().await;
    let (_, cid, tier, subs_post, ppv) = shop(&app, "walt").await;
    let (fan, _) = app.user("wanda").await;
    let fan_id = user_id(&app, &fan).await;
    // An empty wallet cannot pay.
    let res = app
        .post(
            "/api/v1/checkout",
            json!({"kind": "ppv", "post_id": ppv, "processor": "wallet"}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::PAYMENT_REQUIRED, "insufficient_funds").await;

    let top = checkout(
        &app,
        &fan,
        json!({"kind": "wallet_topup", "amount": 2000, "currency": "USD", "processor": "sandbox"}),
    )
    .await;
    assert_eq!(notify(&app, sale(&top, "w1")).await, StatusCode::OK);
    let w: Value = app
        .get("/api/v1/me/wallet", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(w["balances"][0]["amount"], 2000);

    // Spend it: the unlock is immediate, from the wallet.
    let c = checkout(
        &app,
        &fan,
        json!({"kind": "ppv", "post_id": ppv, "processor": "wallet"}),
    )
    .await;
    assert_eq!(c["status"], "paid");
    assert!(!locked(&app, &fan, ppv).await);
    let s = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "wallet"}),
    )
    .await;
    assert_eq!(s["status"], "paid");
    assert!(!locked(&app, &fan, subs_post).await);
    assert_eq!(
        balance(&app, &admin, &format!("fan_wallet:{fan_id}:USD")).await,
        2000 - 500 - 999
    );
    // Wallet sales hold no reserve: 80 % straight to the creator.
    assert_eq!(figures(&app, &admin, cid).await.0, 400 + 799);

    // Finance finds the wallet unlock among the fan's charges (as the fan sees it too) and
    // refunds it: back into the wallet, the post locked.
    let find_unlock = |list: &Value| {
        let all = list["charges"].as_array().unwrap().clone();
        assert!(all.iter().all(|c| c["fan_id"] == fan_id), "{all:?}");
        all.iter().find(|c| c["product"] == "ppv").unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let mine: Value = app
        .get("/api/v1/me/charges", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .get("/api/v1/payments/charges?fan=wanda&limit=10", Some(&admin))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let listed: Value = res.json().await.unwrap();
    assert_eq!(listed["charges"], mine["charges"]);
    let unlock = find_unlock(&listed);
    assert_eq!(unlock, find_unlock(&mine));
    // Paging: nothing of this fan's is older than their first charge.
    let first = mine["charges"].as_array().unwrap().last().unwrap()["id"]
        .as_i64()
        .unwrap();
    let older: Value = app
        .get(
            &format!("/api/v1/payments/charges?fan=wanda&before={first}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(older["charges"].as_array().unwrap().len(), 0);
    assert_error(
        app.get("/api/v1/payments/charges?fan=nobody_here", Some(&admin))
            .await,
        StatusCode::NOT_FOUND,
        "profile_not_found",
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/payments/charges/{unlock}/refund"),
            json!({"reason": "changed mind"}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "refunded");
    assert!(locked(&app, &fan, ppv).await);
    assert_eq!(
        balance(&app, &admin, &format!("fan_wallet:{fan_id}:USD")).await,
        2000 - 999
    );

    // A gift card bought by one fan, redeemed by another.
    let g = checkout(
        &app,
        &fan,
        json!({"kind": "gift_card", "amount": 5000, "currency": "USD", "processor": "sandbox"}),
    )
    .await;
    assert_eq!(notify(&app, sale(&g, "g1")).await, StatusCode::OK);
    assert_eq!(balance(&app, &admin, "gift_card_liability:USD").await, 5000);
    let w: Value = app
        .get("/api/v1/me/wallet", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    let code = w["gift_cards"][0]["code"].as_str().unwrap().to_owned();
    let (friend, _) = app.user("gil").await;
    let res = app
        .post(
            "/api/v1/me/wallet/redeem",
            json!({"code": code.to_lowercase()}),
            Some(&friend),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["balances"][0]["amount"],
        5000
    );
    assert_eq!(balance(&app, &admin, "gift_card_liability:USD").await, 0);
    let res = app
        .post(
            "/api/v1/me/wallet/redeem",
            json!({"code": code}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "gift_card_redeemed").await;
    books_verify(&app, &admin).await;
}

async fn promo_codes_trials_and_bundles(app: TestApp) {
    let admin = app.admin().await;
    let (ctoken, cid, tier, subs_post, _) = shop(&app, "prue").await;
    let res = app
        .post(
            "/api/v1/creators/me/promos",
            json!({"code": "free7", "trial_days": 7, "max_uses": 1}),
            Some(&ctoken),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(
            "/api/v1/creators/me/promos",
            json!({"code": "HALF", "percent_off": 50}),
            Some(&ctoken),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let (fan, _) = app.user("trixie").await;
    let c = checkout(&app, &fan, json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox", "promo_code": "FREE7"})).await;
    assert_eq!(
        (
            c["amount"].as_i64(),
            c["renewal_amount"].as_i64(),
            c["trial_days"].as_i64()
        ),
        (Some(0), Some(999), Some(7))
    );
    let r = c["reference"].as_str().unwrap();
    let free = json!({"id": "tr1", "type": "sale.approved", "reference": r, "subscription": format!("sub_{r}")});
    assert_eq!(notify(&app, free).await, StatusCode::OK);
    assert!(
        !locked(&app, &fan, subs_post).await,
        "the trial gives access"
    );
    let subs = subscriptions(&app, &fan).await;
    assert_eq!(subs[0]["status"], "trialing");
    assert_eq!(
        figures(&app, &admin, cid).await.0,
        0,
        "no money in a free trial"
    );
    // The first renewal after the trial is the full price.
    assert_eq!(notify(&app, renewal(&c, 1, 999)).await, StatusCode::OK);
    assert_eq!(subscriptions(&app, &fan).await[0]["status"], "active");
    assert_eq!(figures(&app, &admin, cid).await.0, 759);
    // Used up.
    let (fan2, _) = app.user("tracy").await;
    let res = app.post("/api/v1/checkout", json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox", "promo_code": "free7"}), Some(&fan2)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "promo_used_up").await;
    // Half off the first period; a year's bundle at 20 % off.
    let h = checkout(&app, &fan2, json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox", "promo_code": "half"})).await;
    assert_eq!(
        (h["amount"].as_i64(), h["renewal_amount"].as_i64()),
        (Some(499), Some(999))
    );
    let (fan3, _) = app.user("tyra").await;
    let y = checkout(&app, &fan3, json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox", "period_days": 365})).await;
    assert_eq!(y["amount"], 999 * 12 * 80 / 100);
    // Already subscribed.
    let res = app
        .post(
            "/api/v1/checkout",
            json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_subscribed").await;
}

async fn payouts_hold_batch_settle_and_fail(app: TestApp) {
    let admin = app.admin().await;
    let (ctoken, cid, _, _, _) = shop(&app, "paula").await;
    let (fan, _) = app.user("percy").await;
    for (i, amount) in [10_000i64, 5_000].iter().enumerate() {
        let t = checkout(
            &app,
            &fan,
            json!({"kind": "tip", "creator_id": cid, "amount": amount, "processor": "sandbox"}),
        )
        .await;
        assert_eq!(
            notify(&app, sale(&t, &format!("tip{i}"))).await,
            StatusCode::OK
        );
    }
    let available = figures(&app, &admin, cid).await.0;
    assert_eq!(available, 12_000 - 600);
    let res = app
        .post("/api/v1/creators/me/payouts", json!({}), Some(&ctoken))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "no_payout_method").await;
    let res = app
        .client
        .put(app.url("/api/v1/creators/me/payout-method"))
        .bearer_auth(&ctoken)
        .json(&json!({"method": "paxum", "destination": "not-an-email"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_destination").await;
    let res = app.client.put(app.url("/api/v1/creators/me/payout-method")).bearer_auth(&ctoken)
        .json(&json!({"method": "sandbox", "destination": "paula's account", "schedule": "on_request"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Held while identity verification is incomplete (the sandbox verified this creator at
    // sign-up; finance's override withdraws it); nothing moves.
    let res = app
        .post(
            &format!("/api/v1/payments/creators/{cid}/verification"),
            json!({"verified": false}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": 6000}),
            Some(&ctoken),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["status"], "held");
    assert!(p["hold_reason"].as_str().unwrap().contains("verification"));
    assert_eq!(figures(&app, &admin, cid).await.0, available);
    // Verified: the held payout is made.
    let res = app
        .post(
            &format!("/api/v1/payments/creators/{cid}/verification"),
            json!({"verified": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": 6000}),
            Some(&ctoken),
        )
        .await;
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["status"], "pending");
    assert!(p["expected_at"].as_i64().unwrap() > 0);
    assert_eq!(figures(&app, &admin, cid).await.0, available - 6000);
    assert_eq!(balance(&app, &admin, "payout_clearing:USD").await, 6000);
    // More than available is refused.
    let res = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": 1_000_000}),
            Some(&ctoken),
        )
        .await;
    assert_error(res, StatusCode::PAYMENT_REQUIRED, "insufficient_funds").await;

    let res = app
        .post("/api/v1/payments/payouts/batches", json!({}), Some(&admin))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["batches"][0]["count"], 1);
    assert!(b["batches"][0]["file"]
        .as_str()
        .unwrap()
        .contains("60.00,USD"));
    let list: Value = app
        .get("/api/v1/creators/me/payouts", Some(&ctoken))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["payouts"][0]["status"], "paid");
    assert_eq!(balance(&app, &admin, "payout_clearing:USD").await, 0);

    // A payout to a failing destination returns the funds.
    let res = app
        .client
        .put(app.url("/api/v1/creators/me/payout-method"))
        .bearer_auth(&ctoken)
        .json(&json!({"method": "sandbox", "destination": "will fail", "schedule": "on_request"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let before = figures(&app, &admin, cid).await.0;
    let p: Value = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": 2000}),
            Some(&ctoken),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["status"], "pending");
    app.post("/api/v1/payments/payouts/batches", json!({}), Some(&admin))
        .await;
    let list: Value = app
        .get("/api/v1/creators/me/payouts", Some(&ctoken))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["payouts"][0]["status"], "failed");
    assert_eq!(
        figures(&app, &admin, cid).await.0,
        before,
        "a failed payout returns the funds"
    );
    books_verify(&app, &admin).await;
}

async fn dead_letters_are_redriven(app: TestApp) {
    let admin = app.admin().await;
    let (_, cid, tier, _, _) = shop(&app, "dora").await;
    let (fan, _) = app.user("dex").await;
    let c = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
    // A sale whose amount differs from the checkout cannot be applied: a dead letter at once.
    let mut wrong = sale(&c, "d1");
    wrong["amount"] = json!(1);
    assert_eq!(notify(&app, wrong).await, StatusCode::OK);
    let dead: Value = app
        .get("/api/v1/payments/notifications?status=dead", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let dead = dead["notifications"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]["error"].as_str().unwrap().contains("999"),
        "{dead:?}"
    );
    assert_eq!(figures(&app, &admin, cid).await.0, 0);
    // Re-driving it fails the same way; it stays listed.
    let id = dead[0]["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/payments/notifications/{id}/redrive"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "dead");

    // A renewal for a subscription that never arrives dies after its retries; once the sale
    // is in, finance re-drives it.
    assert_eq!(notify(&app, renewal(&c, 1, 999)).await, StatusCode::OK);
    let mut rid = 0;
    for _ in 0..160 {
        let v: Value = app
            .get("/api/v1/payments/notifications?status=dead", Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        if let Some(n) = v["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"].as_i64() != Some(id))
        {
            rid = n["id"].as_i64().unwrap();
            assert_eq!(n["attempts"], 3);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(rid > 0, "the renewal became a dead letter");
    assert_eq!(notify(&app, sale(&c, "d2")).await, StatusCode::OK);
    let res = app
        .post(
            &format!("/api/v1/payments/notifications/{rid}/redrive"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "applied");
    assert_eq!(figures(&app, &admin, cid).await.0, 759 * 2);
    let audit: Value = app
        .get(
            "/api/v1/admin/audit?action=payments.notification_redriven",
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit.to_string().contains("notification_redriven"),
        "re-drives are audited"
    );
}

async fn sandbox_checkout_through_the_job_runner(app: TestApp) {
    let admin = app.admin().await;
    let (_, cid, tier, subs_post, _) = shop(&app, "sandy").await;
    let (fan, _) = app.user("sam").await;
    let c = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/payments/sandbox/checkouts/{id}/pay"),
            json!({"card": "4000 0000 0000 0259"}),
            Some(&fan),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // The sale arrives through the job runner, then (a second later) the chargeback.
    let mut paid = false;
    for _ in 0..80 {
        let v: Value = app
            .get(&format!("/api/v1/checkout/{id}"), Some(&fan))
            .await
            .json()
            .await
            .unwrap();
        if v["status"] == "paid" {
            paid = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(paid, "the sandbox's sale notification settled the checkout");
    let mut charged_back = false;
    for _ in 0..80 {
        if balance(&app, &admin, "chargeback_losses:USD").await > 0 {
            charged_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(charged_back, "the test card's chargeback arrived");
    assert!(locked(&app, &fan, subs_post).await);
    assert_eq!(figures(&app, &admin, cid).await.2, 0);
    // A declined card: the checkout is declined, nothing granted.
    let (fan2, _) = app.user("sid").await;
    let c2 = checkout(
        &app,
        &fan2,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
    let id2 = c2["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/payments/sandbox/checkouts/{id2}/pay"),
        json!({"card": "4000000000000002"}),
        Some(&fan2),
    )
    .await;
    let mut declined = false;
    for _ in 0..80 {
        let v: Value = app
            .get(&format!("/api/v1/checkout/{id2}"), Some(&fan2))
            .await
            .json()
            .await
            .unwrap();
        if v["status"] == "declined" {
            declined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(declined);
    assert!(locked(&app, &fan2, subs_post).await);
    books_verify(&app, &admin).await;
}

async fn other_accounts_are_refused(app: TestApp) {
    let (ctoken, cid, tier, _, _) = shop(&app, "olga").await;
    let (fan, _) = app.user("owen").await;
    let (other, _) = app.user("otto").await;
    let c = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(notify(&app, sale(&c, "o1")).await, StatusCode::OK);
    let sid = subscriptions(&app, &fan).await[0]["id"].as_i64().unwrap();

    assert_error(
        app.get(&format!("/api/v1/checkout/{id}"), Some(&other))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.post(
            &format!("/api/v1/subscriptions/{sid}/cancel"),
            json!({}),
            Some(&other),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.post(
            &format!("/api/v1/subscriptions/{sid}/resume"),
            json!({}),
            Some(&other),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.post(
            &format!("/api/v1/payments/sandbox/checkouts/{id}/pay"),
            json!({"card": "4242424242424242"}),
            Some(&other),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(subscriptions(&app, &other).await.is_empty());
    // Fans have no earnings or payouts; creators none of another's.
    assert_error(
        app.get("/api/v1/creators/me/earnings", Some(&fan)).await,
        StatusCode::FORBIDDEN,
        "not_a_creator",
    )
    .await;
    assert_error(
        app.get("/api/v1/creators/me/payouts", Some(&fan)).await,
        StatusCode::FORBIDDEN,
        "not_a_creator",
    )
    .await;
    assert_error(
        app.post(
            "/api/v1/creators/me/promos",
            json!({"code": "ABC", "percent_off": 10}),
            Some(&fan),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_a_creator",
    )
    .await;
    // Finance only.
    for path in [
        "/api/v1/payments/notifications",
        "/api/v1/payments/notifications/1",
        "/api/v1/payments/charges",
        "/api/v1/payments/charges?fan=walt",
    ] {
        assert_error(
            app.get(path, Some(&ctoken)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    for (path, body) in [
        (
            "/api/v1/payments/notifications/1/redrive".to_owned(),
            json!({}),
        ),
        (
            "/api/v1/payments/charges/1/refund".to_owned(),
            json!({"reason": "x"}),
        ),
        ("/api/v1/payments/payouts/batches".to_owned(), json!({})),
        (
            "/api/v1/payments/payouts/1/settle".to_owned(),
            json!({"paid": true}),
        ),
        (
            format!("/api/v1/payments/creators/{cid}/verification"),
            json!({"verified": true}),
        ),
        ("/api/v1/payments/fans/1/clear-flag".to_owned(), json!({})),
        (
            "/api/v1/payments/sandbox/events".to_owned(),
            json!({"event": "renewal", "subscription_id": sid}),
        ),
    ] {
        assert_error(
            app.post(&path, body, Some(&fan)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // Signed out.
    assert_error(
        app.post(
            "/api/v1/checkout",
            json!({"kind": "tip", "creator_id": cid, "amount": 500, "processor": "sandbox"}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // The owner can.
    let res = app
        .post(
            &format!("/api/v1/subscriptions/{sid}/cancel"),
            json!({}),
            Some(&fan),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        (s["status"].as_str(), s["cancel_at_period_end"].as_bool()),
        (Some("cancelled"), Some(true))
    );
    let res = app
        .post(
            &format!("/api/v1/subscriptions/{sid}/resume"),
            json!({}),
            Some(&fan),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "active");
}

async fn bad_input_is_refused(app: TestApp) {
    let (_, cid, tier, subs_post, _) = shop(&app, "bea").await;
    let (fan, _) = app.user("bob").await;
    let cases = [
        (
            json!({"kind": "subscription", "processor": "sandbox"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        ),
        (
            json!({"kind": "subscription", "tier_id": 999_999, "processor": "sandbox"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox", "period_days": 45}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
        ),
        (
            json!({"kind": "subscription", "tier_id": tier, "processor": "paypal"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "processor_unavailable",
        ),
        (
            json!({"kind": "subscription", "tier_id": tier, "processor": "verotel"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "processor_unavailable",
        ),
        (
            json!({"kind": "ppv", "post_id": subs_post, "processor": "sandbox"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_pay_per_view",
        ),
        (
            json!({"kind": "tip", "creator_id": cid, "amount": 50, "processor": "sandbox"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount_out_of_range",
        ),
        (
            json!({"kind": "tip", "creator_id": cid, "amount": 500, "currency": "XYZ", "processor": "sandbox"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_currency",
        ),
        (
            json!({"kind": "tip", "creator_id": cid, "amount": 500, "processor": "sandbox", "message": "a\u{0}b"}),
            StatusCode::BAD_REQUEST,
            "invalid_character",
        ),
        (
            json!({"kind": "wallet_topup", "amount": 2000, "processor": "wallet"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wallet_not_allowed",
        ),
        (
            json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox", "promo_code": "NOPE"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_promo",
        ),
    ];
    for (body, status, code) in cases {
        let res = app.post("/api/v1/checkout", body.clone(), Some(&fan)).await;
        assert_eq!(res.status(), status, "{body}");
        assert_error(res, status, code).await;
    }
    let res = app
        .post(
            "/api/v1/checkout",
            json!({"kind": "bogus", "processor": "sandbox"}),
            Some(&fan),
        )
        .await;
    assert!(res.status().is_client_error());
    let res = app.post("/api/v1/checkout", json!({"kind": "tip", "creator_id": cid, "amount": 500, "processor": "sandbox", "extra": 1}), Some(&fan)).await;
    assert!(res.status().is_client_error());
    // Unknown processor, and a body too large.
    let res = app
        .client
        .post(app.url("/api/v1/payments/webhooks/paypal"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .client
        .post(app.url("/api/v1/payments/webhooks/sandbox"))
        .body(vec![b'x'; 200_000])
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        res.status()
    );
    // Unknown test card, and a creator subscribing to themself.
    let c = checkout(
        &app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "sandbox"}),
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/payments/sandbox/checkouts/{}/pay", c["id"]),
            json!({"card": "1234"}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_test_card").await;
}

mod live_processor_calls {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let (url, hits) = super::fake_processor().await;
        let app = super::spawn(fanz_store::Backend::Sqlite, Some(url))
            .await
            .expect("sqlite app");
        super::live_processor_calls(app, hits).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let (url, hits) = super::fake_processor().await;
        match super::spawn(fanz_store::Backend::Postgres, Some(url)).await {
            Some(app) => super::live_processor_calls(app, hits).await,
            None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
        }
    }
}

mod unsigned_charges_wait_for_confirmation {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let (url, hits) = super::fake_processor().await;
        let app = super::spawn(fanz_store::Backend::Sqlite, Some(url))
            .await
            .expect("sqlite app");
        super::unsigned_charges_wait_for_confirmation(app, hits).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let (url, hits) = super::fake_processor().await;
        match super::spawn(fanz_store::Backend::Postgres, Some(url)).await {
            Some(app) => super::unsigned_charges_wait_for_confirmation(app, hits).await,
            None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
        }
    }
}

/// A new fan `handle` subscribed to `tier` through CCBill (its NewSaleSuccess for CCBill
/// subscription `subscription`, from an allowed address): the fan's token and subscription id.
async fn ccbill_subscriber(
    app: &TestApp,
    handle: &str,
    tier: i64,
    subscription: &str,
) -> (String, i64) {
    let (fan, _) = app.user(handle).await;
    let c = checkout(
        app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "ccbill"}),
    )
    .await;
    let body = json!({"subscriptionId": subscription, "transactionId": format!("t-{subscription}"),
        "clientAccnum": "900100", "clientSubacc": "0000", "timestamp": "2026-12-01 10:00:00",
        "billedInitialPrice": "9.99", "billedCurrencyCode": "840", "X-fanz_ref": c["reference"]});
    let url = app.url("/api/v1/payments/webhooks/ccbill?clientAccnum=900100&clientSubacc=0000&eventType=NewSaleSuccess&eventGroupType=Subscription");
    let res = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let sid = subscriptions(app, &fan).await[0]["id"].as_i64().unwrap();
    (fan, sid)
}

/// The fan cancels subscription `sid`: recorded at once.
async fn cancel_subscription(app: &TestApp, fan: &str, sid: i64) {
    let res = app
        .post(
            &format!("/api/v1/subscriptions/{sid}/cancel"),
            json!({}),
            Some(fan),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
}

/// The processor call finance sees matching `pick`, once it does (the job runs it).
pub(crate) async fn wait_call(app: &TestApp, admin: &str, pick: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let res = app
            .get("/api/v1/payments/processor-calls?limit=500", Some(admin))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        if let Some(c) = v["calls"].as_array().unwrap().iter().find(|c| pick(c)) {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no processor call as expected");
}

/// A fan's cancel of a live subscription reaches the processor through the job, retried past
/// a temporary error; a refusal is shown to finance, who asks again; finance's refund of a
/// BTCPay charge calls its refund endpoint (retried past a 503) and, BTCPay sending no refund
/// webhook, the refund is applied when made.
async fn live_processor_calls(app: TestApp, hits: Hits) {
    let admin = app.admin().await;
    let (_, _, tier, subs_post, ppv) = shop(&app, "livia").await;
    let (fan, sid) = ccbill_subscriber(&app, "lenny", tier, "7001").await;
    assert!(!locked(&app, &fan, subs_post).await);

    // The fan cancels: recorded here at once, and CCBill is asked to stop rebilling.
    cancel_subscription(&app, &fan, sid).await;
    let call = wait_call(&app, &admin, |c| {
        c["op"] == "cancel" && c["subscription_id"] == sid && c["status"] == "done"
    })
    .await;
    assert_eq!(call["processor"], "ccbill");
    assert_eq!(call["attempts"], 2, "CCBill's -7 was retried: {call}");
    assert_eq!(call["detail"], "1: success");
    let asked: Vec<String> = hits
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.contains("subscriptionId=7001"))
        .cloned()
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    for h in &asked {
        assert!(
            h.contains("action=cancelSubscription")
                && h.contains("clientAccnum=900100")
                && h.contains("username=dl-user")
                && h.contains("password=dl-pass")
                && h.contains("returnXML=1"),
            "{h}"
        );
    }
    // Access runs to the end of the paid period; the processor's cancel cannot be undone here.
    assert!(!locked(&app, &fan, subs_post).await);
    assert_error(
        app.post(
            &format!("/api/v1/subscriptions/{sid}/resume"),
            json!({}),
            Some(&fan),
        )
        .await,
        StatusCode::CONFLICT,
        "not_resumable",
    )
    .await;

    // CCBill does not know the next one: the call fails and finance sees it.
    let (fan2, sid2) = ccbill_subscriber(&app, "gina", tier, "gone").await;
    cancel_subscription(&app, &fan2, sid2).await;
    let failed = wait_call(&app, &admin, |c| {
        c["subscription_id"] == sid2 && c["status"] == "failed"
    })
    .await;
    assert_eq!(failed["attempts"], 1, "a refusal is not retried: {failed}");
    assert!(
        failed["last_error"].as_str().unwrap().contains("-3"),
        "{failed}"
    );
    let listed: Value = app
        .get(
            "/api/v1/payments/processor-calls?status=failed",
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["calls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "failed"));
    assert!(listed["calls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == failed["id"]));
    // Finance asks again (audited); CCBill refuses again.
    let res = app
        .post(
            &format!("/api/v1/payments/processor-calls/{}/retry", failed["id"]),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "queued");
    wait_call(&app, &admin, |c| {
        c["id"] == failed["id"] && c["status"] == "failed" && c["attempts"] == 2
    })
    .await;
    assert_eq!(
        hits.lock()
            .unwrap()
            .iter()
            .filter(|h| h.contains("subscriptionId=gone"))
            .count(),
        2
    );
    // Only finance sees the calls; a status must be one of the known ones.
    assert_error(
        app.get("/api/v1/payments/processor-calls", Some(&fan))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.get("/api/v1/payments/processor-calls?status=lost", Some(&admin))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_status",
    )
    .await;
    assert_error(
        app.post(
            &format!("/api/v1/payments/processor-calls/{}/retry", call["id"]),
            json!({}),
            Some(&admin),
        )
        .await,
        StatusCode::CONFLICT,
        "not_failed",
    )
    .await;

    // A BTCPay unlock, refunded by finance through BTCPay's API.
    let (fan3, handle3) = app.user("bea").await;
    let bc = checkout(
        &app,
        &fan3,
        json!({"kind": "ppv", "post_id": ppv, "processor": "btcpay"}),
    )
    .await;
    let body = json!({"deliveryId": "d1", "webhookId": "wh1", "isRedelivery": false, "type": "InvoiceSettled",
        "timestamp": 1764583200, "storeId": "store-1", "invoiceId": "inv-9",
        "metadata": {"orderId": bc["reference"]}, "manuallyMarked": false, "overPaid": false})
    .to_string();
    let sig = format!(
        "sha256={}",
        fanz_processors::hmac_sha256_hex(BTCPAY_SECRET.as_bytes(), body.as_bytes())
    );
    let res = app
        .client
        .post(app.url("/api/v1/payments/webhooks/btcpay"))
        .header("BTCPay-Sig", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!locked(&app, &fan3, ppv).await);
    assert_eq!(balance(&app, &admin, "cash:btcpay:USD").await, 500);
    let charges: Value = app
        .get(
            &format!("/api/v1/payments/charges?fan={handle3}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let charge = charges["charges"][0]["id"].as_i64().unwrap();
    let refund_path = format!("/api/v1/payments/charges/{charge}/refund");
    let refund = |amount: Option<i64>| {
        app.post(
            &refund_path,
            json!({"amount": amount, "reason": "asked nicely"}),
            Some(&admin),
        )
    };
    let res = refund(None).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "requested");
    // One refund call per charge at a time.
    assert_error(
        refund(Some(100)).await,
        StatusCode::CONFLICT,
        "refund_already_requested",
    )
    .await;
    let call = wait_call(&app, &admin, |c| {
        c["op"] == "refund" && c["charge_id"] == charge && c["status"] == "done"
    })
    .await;
    assert_eq!(call["attempts"], 2, "BTCPay's 503 was retried: {call}");
    assert_eq!(call["reference"], "pp-1");
    assert_eq!(call["amount"], 500);
    let asked: Vec<String> = hits
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.contains("/refund"))
        .cloned()
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked[1].starts_with("POST /api/v1/stores/store-1/invoices/inv-9/refund | token key | ")
            && asked[1].contains(r#""refundVariant":"Fiat""#),
        "{asked:?}"
    );
    // BTCPay sends no refund webhook: the refund was applied when BTCPay made it.
    for _ in 0..100 {
        if locked(&app, &fan3, ppv).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(locked(&app, &fan3, ppv).await);
    assert_eq!(balance(&app, &admin, "cash:btcpay:USD").await, 0);
    books_verify(&app, &admin).await;
}

/// Thirty notifications at once (committed together by the intake's group commit): each sale
/// applied once, its duplicate too; a forged one, and a refund whose sale has not arrived,
/// fail alone without taking the others with them.
async fn a_burst_is_applied_each_once_and_failures_stay_alone(app: TestApp) {
    let admin = app.admin().await;
    let (_, cid, _, _, _) = shop(&app, "bursty").await;
    let (fan, _) = app.user("burstfan").await;
    let mut tips = Vec::new();
    for _ in 0..24 {
        tips.push(
            checkout(
                &app,
                &fan,
                json!({"kind": "tip", "creator_id": cid, "amount": 500, "processor": "sandbox"}),
            )
            .await,
        );
    }
    let before = figures(&app, &admin, cid).await;
    let paid_before = paid_events(&app).await;
    let mut sends = Vec::new();
    for (i, t) in tips.iter().enumerate() {
        sends.push((
            notify_signed(&app, sale(t, &format!("burst{i}")), SECRET),
            StatusCode::OK,
        ));
    }
    // The same sale twice, one forged, and a refund of a sale that never came.
    sends.push((
        notify_signed(&app, sale(&tips[0], "burst0"), SECRET),
        StatusCode::OK,
    ));
    sends.push((
        notify_signed(&app, sale(&tips[1], "burst1"), SECRET),
        StatusCode::OK,
    ));
    sends.push((
        notify_signed(&app, sale(&tips[2], "burst_forged"), "not-the-secret"),
        StatusCode::FORBIDDEN,
    ));
    sends.push((
        notify_signed(
            &app,
            undo("refund", "txn_never_sold", "burst_refund"),
            SECRET,
        ),
        StatusCode::OK,
    ));
    let (futures, expected): (Vec<_>, Vec<_>) = sends.into_iter().unzip();
    let got = futures_util::future::join_all(futures).await;
    assert_eq!(got, expected);

    // Every tip once: 24 × 5.00, the platform's 20 % and the creator's 80 % of each.
    let after = figures(&app, &admin, cid).await;
    assert_eq!(
        after.2 - before.2,
        24 * 100,
        "platform revenue: each sale once"
    );
    let payable = after.0 - before.0;
    let reserve = after.1 - before.1;
    assert_eq!(
        payable + reserve,
        24 * 400,
        "the creator's share, each once"
    );
    let list: Value = app
        .get("/api/v1/payments/notifications?limit=200", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let mine: Vec<&Value> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["body"].as_str().unwrap_or("").contains("burst"))
        .collect();
    assert_eq!(
        mine.len(),
        28,
        "every notification stored, the forged one too"
    );
    let count = |status: &str| mine.iter().filter(|n| n["status"] == status).count();
    assert_eq!(count("applied"), 26);
    assert_eq!(count("rejected"), 1);
    assert_eq!(count("retrying"), 1, "the early refund waits for its sale");
    books_verify(&app, &admin).await;
    // One audit event per sale, none kept for what was rolled back with a group or a
    // savepoint, and the events chained on from each other make one unbroken chain.
    assert_eq!(paid_events(&app).await - paid_before, 24);
    let audit: Value = app
        .get("/api/v1/admin/audit?verify=full&limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit["chain"]["Intact"]["entries"].as_u64().unwrap_or(0) > 24,
        "{audit}"
    );
    // The early refund failed in a group tried whole, which then ran again with savepoints.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("fanz_payment_intake_group_retries_total ")),
        "{metrics}"
    );
}

/// How many checkouts the audit log records as paid.
async fn paid_events(app: &TestApp) -> i64 {
    let mut db = app.store.conn().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = 'payments.checkout_paid'")
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0)
}

/// The creator's earnings: (available, awaiting confirmation, the unconfirmed sales).
pub(crate) async fn earnings_of(app: &TestApp, token: &str) -> (i64, i64, Vec<Value>) {
    let res = app.get("/api/v1/creators/me/earnings", Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    (
        v["available"].as_i64().unwrap(),
        v["awaiting_confirmation"].as_i64().unwrap(),
        v["unconfirmed"].as_array().unwrap().clone(),
    )
}

/// The confirmation finance sees for `charge` once `pick` holds (the sweep and the job run).
pub(crate) async fn wait_confirmation(
    app: &TestApp,
    admin: &str,
    charge: i64,
    status: &str,
) -> Value {
    for _ in 0..300 {
        let res = app
            .get(
                &format!("/api/v1/payments/confirmations?status={status}&limit=500"),
                Some(admin),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        if let Some(c) = v["confirmations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["charge_id"] == charge)
        {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("charge {charge} never became {status}");
}

/// CCBill signs nothing: its sales credit the creator's books but are not available for payout
/// until CCBill's Data Link extract confirms them (sale 8001); one it reports with another
/// amount (8002) is denied, never available, and listed for finance, who confirms it by hand
/// (audited; creators and fans are refused). A sandbox sale (signed) is available at once. A
/// payout over the confirmed amount is refused with the reason. The books balance throughout.
async fn unsigned_charges_wait_for_confirmation(app: TestApp, hits: Hits) {
    let admin = app.admin().await;
    let (ctoken, cid, tier, _, _) = shop(&app, "conny").await;
    let res = app.client.put(app.url("/api/v1/creators/me/payout-method")).bearer_auth(&ctoken)
        .json(&json!({"method": "sandbox", "destination": "conny's account", "schedule": "on_request"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // A sandbox tip (signed): available at once.
    let (tipper, _) = app.user("tipper").await;
    let t = checkout(
        &app,
        &tipper,
        json!({"kind": "tip", "creator_id": cid, "amount": 5000, "processor": "sandbox"}),
    )
    .await;
    assert_eq!(notify(&app, sale(&t, "ctip")).await, StatusCode::OK);
    let account = format!("creator_payable:{cid}:USD");
    let after_tip = balance(&app, &admin, &account).await;
    assert!(after_tip > 0);
    let (available, awaiting, unconfirmed) = earnings_of(&app, &ctoken).await;
    assert_eq!((available, awaiting), (after_tip, 0));
    assert!(unconfirmed.is_empty());

    // Two CCBill sales: credited to the books, awaiting confirmation, not available.
    ccbill_subscriber(&app, "cora", tier, "8001").await;
    let share = balance(&app, &admin, &account).await - after_tip;
    assert!(share > 0);
    ccbill_subscriber(&app, "dex", tier, "8002").await;
    assert_eq!(balance(&app, &admin, &account).await, after_tip + 2 * share);
    books_verify(&app, &admin).await;
    let (available, awaiting, unconfirmed) = earnings_of(&app, &ctoken).await;
    assert_eq!(available, after_tip, "unconfirmed sales are not available");
    assert_eq!(awaiting, 2 * share);
    assert!(!unconfirmed.is_empty());
    assert!(unconfirmed
        .iter()
        .all(|u| u["held"] == share && u["processor"] == "ccbill"));
    let mine: Value = app
        .get("/api/v1/creators/me/payouts", Some(&ctoken))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["available"], after_tip);
    assert!(mine["awaiting_confirmation"].as_i64().unwrap() >= share);

    // A payout over what is confirmed is refused, saying why.
    let body = assert_error(
        app.post(
            "/api/v1/creators/me/payouts",
            json!({"amount": after_tip + 1}),
            Some(&ctoken),
        )
        .await,
        StatusCode::CONFLICT,
        "awaiting_confirmation",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("awaits the processor's confirmation"),
        "{body}"
    );

    // The sweep asks CCBill's Data Link, which now has its records; 8001 is confirmed, 8002
    // (4.00, not 9.99) denied.
    hits.lock().unwrap().push(OPEN_EXTRACT.into());
    let charges: Value = app
        .get("/api/v1/payments/charges?fan=cora", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let confirmed_charge = charges["charges"][0]["id"].as_i64().unwrap();
    let charges: Value = app
        .get("/api/v1/payments/charges?fan=dex", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let denied_charge = charges["charges"][0]["id"].as_i64().unwrap();
    let c = wait_confirmation(&app, &admin, confirmed_charge, "confirmed").await;
    assert!(c["reason"].as_str().unwrap().contains("8001"), "{c}");
    let d = wait_confirmation(&app, &admin, denied_charge, "denied").await;
    assert!(d["reason"].as_str().unwrap().contains("9.99"), "{d}");
    let asked: Vec<String> = hits
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.contains("/data/main.cgi"))
        .cloned()
        .collect();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|h| h.contains("transactionTypes=NEW%2CREBILL")
                && h.contains("clientAccnum=900100")
                && h.contains("username=dl-user")
                && h.contains("password=dl-pass")
                && h.contains("startTime=")),
        "{asked:?}"
    );
    let call = wait_call(&app, &admin, |c| {
        c["op"] == "confirm"
            && c["status"] == "done"
            && c["detail"].as_str().is_some_and(|d| d.contains("1 denied"))
    })
    .await;
    assert_eq!(call["processor"], "ccbill");

    // The confirmed share is available; the denied one never is, whatever the sweeps do.
    let (available, awaiting, unconfirmed) = earnings_of(&app, &ctoken).await;
    assert_eq!(available, after_tip + share);
    assert_eq!(awaiting, share);
    assert_eq!(unconfirmed.len(), 1);
    assert_eq!(unconfirmed[0]["charge_id"], denied_charge);
    assert_eq!(unconfirmed[0]["status"], "denied");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(earnings_of(&app, &ctoken).await.0, after_tip + share);
    let denied: Value = app
        .get("/api/v1/payments/confirmations?status=denied", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(denied["confirmations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["charge_id"] == denied_charge));
    let res = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": after_tip + share + 1}),
            Some(&ctoken),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "awaiting_confirmation").await;
    books_verify(&app, &admin).await;

    // Only finance confirms by hand, with a reason.
    let path = format!("/api/v1/payments/charges/{denied_charge}/confirm");
    for who in [&ctoken, &app.user("nosy").await.0] {
        assert_error(
            app.post(&path, json!({"reason": "mine"}), Some(who)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    assert_error(
        app.get("/api/v1/payments/confirmations", Some(&ctoken))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post(&path, json!({"reason": " "}), Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    )
    .await;
    assert_error(
        app.post(
            &format!("/api/v1/payments/charges/{confirmed_charge}/confirm"),
            json!({"reason": "again"}),
            Some(&admin),
        )
        .await,
        StatusCode::CONFLICT,
        "not_awaiting_confirmation",
    )
    .await;
    let res = app
        .post(
            &path,
            json!({"reason": "the upgrade was billed 4.00 by agreement; checked in CCBill admin"}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "confirmed");
    assert!(v["decided_by"].as_i64().is_some());
    let (available, awaiting, unconfirmed) = earnings_of(&app, &ctoken).await;
    assert_eq!((available, awaiting), (after_tip + 2 * share, 0));
    assert!(unconfirmed.is_empty());
    let audit: Value = app
        .get("/api/v1/admin/audit?limit=50", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let target = format!("charge:{denied_charge}");
    assert!(
        audit
            .to_string()
            .contains("payments.charge_confirmed_by_hand")
            && audit.to_string().contains(&target),
        "{audit}"
    );

    // Now everything can be paid.
    let res = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": after_tip + 2 * share}),
            Some(&ctoken),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    books_verify(&app, &admin).await;
}

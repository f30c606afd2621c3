//! The payment pages as a browser uses them, with the sandbox processor on: checkout, the
//! sandbox's card page, the receipt following the notifications, subscriptions, the wallet
//! and gift cards, the creator's earnings and the finance console; other accounts refused;
//! CSRF required on every form.

use crate::content::{creator, post_json};
use crate::harness::TestApp;
use crate::on_both_backends;
use fanz_config::Config;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    config = super::sandbox_config;
    fan_pays_through_the_pages,
    wallet_earnings_and_console_pages
);

on_both_backends!(
    config = super::ccbill_config;
    unconfirmed_charges_and_processor_calls_on_the_pages
);

/// The sandbox, and a CCBill account without Data Link credentials: its charges wait for
/// finance, and its cancels fail for want of them.
pub fn ccbill_config(c: &mut Config) {
    sandbox_config(c);
    c.payments.processors.insert(
        "default".into(),
        [(
            "ccbill".to_owned(),
            fanz_config::payments::ProcessorSettings {
                enabled: true,
                account: Some("900100".into()),
                sub_account: Some("0000".into()),
                secret: Some("salt".into()),
                form_id: Some("flex-1".into()),
                allow_ips: vec!["127.0.0.0/8".into()],
                ..Default::default()
            },
        )]
        .into(),
    );
}

pub fn sandbox_config(c: &mut Config) {
    c.payments.sandbox = true;
    c.payments.sandbox_secret = "test-secret".into();
}

const SITE: &str = "/c/girlfanz";

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

async fn page(b: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = b
        .get(app.url(&format!("{SITE}{path}")))
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

/// A browser signed in with `email` (the harness's password) and its CSRF token.
async fn signed_in(app: &TestApp, email: &str) -> (Client, String) {
    let b = browser();
    let (_, html) = page(&b, app, "/login").await;
    let csrf = csrf_of(&html);
    let res = b
        .post(app.url(&format!("{SITE}/login")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login {email}");
    (b, csrf)
}

async fn form(b: &Client, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    b.post(app.url(&format!("{SITE}{path}")))
        .form(fields)
        .send()
        .await
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn user_id(app: &TestApp, handle: &str) -> i64 {
    let mut db = app.store.conn().await.unwrap();
    fanz_profiles::get_by_handle(&mut db, handle)
        .await
        .unwrap()
        .user_id
}

async fn tier(app: &TestApp, token: &str, name: &str, amount: i64) -> i64 {
    let res = app
        .post(
            "/api/v1/creators/me/tiers",
            json!({"name": name, "price": {"amount": amount, "currency": "USD"}, "benefits": "Every post, first"}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// Open a checkout through the form; returns where it sends the browser.
async fn checkout(b: &Client, app: &TestApp, fields: &[(&str, &str)]) -> String {
    let res = form(b, app, "/checkout", fields).await;
    let status = res.status();
    let to = location(&res);
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "checkout {fields:?}: {}",
        res.text().await.unwrap()
    );
    to
}

/// Pay on the sandbox's page with `card`; returns the receipt's path (under the site).
async fn pay_at_sandbox(
    b: &Client,
    app: &TestApp,
    csrf: &str,
    sandbox: &str,
    card: &str,
) -> String {
    let path = sandbox
        .strip_prefix(SITE)
        .expect("a sandbox page on the site");
    assert!(path.starts_with("/payments/sandbox/co_"), "{path}");
    let (status, html) = page(b, app, path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Sandbox Payments") && html.contains("4242 4242 4242 4242"));
    let res = form(b, app, path, &[("csrf", csrf), ("test_card", card)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    assert!(
        to.starts_with(&format!("{SITE}/payments/checkout/")),
        "{to}"
    );
    to.strip_prefix(SITE).unwrap().to_owned()
}

/// Ask for the receipt until the notifications have arrived (the sandbox delivers through
/// the job runner): its final status.
async fn settled(b: &Client, app: &TestApp, receipt: &str) -> (String, String) {
    for _ in 0..100 {
        let (status, html) = page(b, app, receipt).await;
        assert_eq!(status, StatusCode::OK, "{receipt}");
        if !html.contains("data-status=\"open\"") {
            let s = html
                .split("data-status=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_owned();
            return (s, html);
        }
        assert!(html.contains("Waiting for the processor"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{receipt} still open after 20 s");
}

async fn fan_pays_through_the_pages(app: TestApp) {
    let cara = creator(&app, "pay_cara", &["girlfanz"]).await;
    let vip = tier(&app, &cara, "VIP", 999).await;
    let members = post_json(
        &app,
        &cara,
        json!({"text": "members only gallery words", "visibility": "subscribers", "publish": true}),
    )
    .await;
    let ppv = post_json(&app, &cara, json!({"text": "pay per view secret words", "teaser": "a teaser for the unlock", "visibility": "ppv", "price": {"amount": 499, "currency": "USD"}, "publish": true})).await;
    let (members, ppv) = (members["id"].as_i64().unwrap(), ppv["id"].as_i64().unwrap());
    let cara_id = user_id(&app, "pay_cara").await;
    app.user("pay_fan").await;
    app.user("pay_other").await;
    let (b, csrf) = signed_in(&app, "pay_fan@example.com").await;
    let (other, other_csrf) = signed_in(&app, "pay_other@example.com").await;

    // The creator's page offers the paid tier and a tip.
    let (_, html) = page(&b, &app, "/@pay_cara").await;
    assert!(html.contains(&format!("{SITE}/checkout?tier={vip}")));
    assert!(html.contains("Subscribe $9.99/month"));
    assert!(html.contains(&format!("{SITE}/checkout?tip={cara_id}")));

    // Checkout: the tier, bundle prices, the processor with its descriptor, the policy.
    let (status, html) = page(&b, &app, &format!("/checkout?tier={vip}")).await;
    assert_eq!(status, StatusCode::OK);
    let d = app.state.payments.config.bundle_discounts;
    for days in [30, 90, 180, 365] {
        let price = fanz_payments::checkout::bundle_price(999, 30, days, d).unwrap();
        let shown = format!("${}.{:02}", price / 100, price % 100);
        assert!(html.contains(&shown), "{days} days at {shown}");
    }
    assert!(html.contains("VIP") && html.contains("Every post, first"));
    assert!(html.contains("Sandbox (test cards)") && html.contains("FANZ*SANDBOX"));
    assert!(html.contains("support@") && html.contains("Cancel a subscription at any time"));
    // Nobody signed in is sent to log in; an unknown tier is not found.
    let res = app
        .client
        .get(app.url(&format!("{SITE}/checkout?tier={vip}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(&b, &app, "/checkout?tier=999999").await.0,
        StatusCode::NOT_FOUND
    );

    let sub_form = |csrf: &str| -> Vec<(String, String)> {
        vec![
            ("csrf".into(), csrf.to_owned()),
            ("kind".into(), "subscription".into()),
            ("tier_id".into(), vip.to_string()),
            ("period_days".into(), "30".into()),
            ("processor".into(), "sandbox".into()),
        ]
    };
    // CSRF is required.
    let mut no_csrf = sub_form("");
    no_csrf.remove(0);
    let res = b
        .post(app.url(&format!("{SITE}/checkout")))
        .form(&no_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = b
        .post(app.url(&format!("{SITE}/checkout")))
        .form(&sub_form("not-the-token-at-all-not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A promo code that does not exist is refused on the page.
    let mut bad_promo = sub_form(&csrf);
    bad_promo.push(("promo_code".into(), "NOPE99".into()));
    let res = b
        .post(app.url(&format!("{SITE}/checkout")))
        .form(&bad_promo)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("No such promo code"));

    let res = b
        .post(app.url(&format!("{SITE}/checkout")))
        .form(&sub_form(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let sandbox = location(&res);
    // Another account cannot see or pay this checkout.
    let path = sandbox.strip_prefix(SITE).unwrap();
    assert_eq!(page(&other, &app, path).await.0, StatusCode::NOT_FOUND);
    let res = form(
        &other,
        &app,
        path,
        &[("csrf", &other_csrf), ("test_card", "4242424242424242")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // An unknown card is refused on the page; CSRF is required.
    let res = form(
        &b,
        &app,
        path,
        &[("csrf", &csrf), ("card", "1111 2222 3333 4444")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("test cards"));
    let res = form(&b, &app, path, &[("test_card", "4242424242424242")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let receipt = pay_at_sandbox(&b, &app, &csrf, &sandbox, "4242424242424242").await;
    assert_eq!(page(&other, &app, &receipt).await.0, StatusCode::NOT_FOUND);
    let (status, html) = settled(&b, &app, &receipt).await;
    assert_eq!(status, "paid");
    assert!(html.contains("Payment complete") && html.contains("$9.99"));
    // The same state through the API.
    let id = receipt.rsplit('/').next().unwrap();
    let token = app
        .login("pay_fan@example.com", "correct horse battery")
        .await;
    let c: Value = app
        .get(&format!("/api/v1/checkout/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "paid");

    // The subscribers' post is open now; the subscription is listed with its payment.
    let (_, html) = page(&b, &app, &format!("/p/{members}")).await;
    assert!(html.contains("members only gallery words"));
    let (status, html) = page(&b, &app, "/me/subscriptions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("@pay_cara") && html.contains("Active") && html.contains("$9.99 / 30 days")
    );
    assert!(html.contains("Payment history") && html.contains("Subscription"));
    let sub_id = html
        .split("/me/subscriptions/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    // Another account cannot cancel it; CSRF is required; the owner cancels and resumes.
    let cancel = format!("/me/subscriptions/{sub_id}/cancel");
    assert_eq!(
        form(&other, &app, &cancel, &[("csrf", &other_csrf)])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        form(&b, &app, &cancel, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    let res = form(&b, &app, &cancel, &[("csrf", &csrf)]).await;
    assert_eq!(
        location(&res),
        format!("{SITE}/me/subscriptions?done=cancel")
    );
    let (_, html) = page(&b, &app, "/me/subscriptions?done=cancel").await;
    assert!(html.contains("Cancelled") && html.contains("Access until") && html.contains("Resume"));
    let res = form(
        &b,
        &app,
        &format!("/me/subscriptions/{sub_id}/resume"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        location(&res),
        format!("{SITE}/me/subscriptions?done=resume")
    );
    let (_, html) = page(&b, &app, "/me/subscriptions").await;
    assert!(html.contains("Renews"));
    // The other account has nothing listed.
    let (status, html) = page(&other, &app, "/me/subscriptions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("@pay_cara"));
    // Subscribing twice is refused on the checkout page.
    let (_, html) = page(&b, &app, &format!("/checkout?tier={vip}")).await;
    assert!(html.contains("You already subscribe"));

    // A pay-per-view post: the card links to checkout, which shows the teaser, not the text.
    let (_, html) = page(&b, &app, &format!("/p/{ppv}")).await;
    assert!(
        html.contains(&format!("{SITE}/checkout?post={ppv}")) && html.contains("Unlock for $4.99")
    );
    let (status, html) = page(&b, &app, &format!("/checkout?post={ppv}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("a teaser for the unlock") && html.contains("$4.99"));
    assert!(!html.contains("pay per view secret words"));
    let ppv_s = ppv.to_string();
    let to = checkout(
        &b,
        &app,
        &[
            ("csrf", &csrf),
            ("kind", "ppv"),
            ("post_id", &ppv_s),
            ("processor", "sandbox"),
        ],
    )
    .await;
    let receipt = pay_at_sandbox(&b, &app, &csrf, &to, "4242424242424242").await;
    assert_eq!(settled(&b, &app, &receipt).await.0, "paid");
    let (_, html) = page(&b, &app, &format!("/p/{ppv}")).await;
    assert!(html.contains("pay per view secret words"));

    // A tip with a message; a declined card says so and offers to try again.
    let cara_s = cara_id.to_string();
    let (status, html) = page(&b, &app, &format!("/checkout?tip={cara_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("a tip") && html.contains("Message"));
    let tip = [
        ("csrf", csrf.as_str()),
        ("kind", "tip"),
        ("creator_id", cara_s.as_str()),
        ("amount", "5.00"),
        ("message", "thank you"),
        ("processor", "sandbox"),
    ];
    let to = checkout(&b, &app, &tip).await;
    let receipt = pay_at_sandbox(&b, &app, &csrf, &to, "4000000000000002").await;
    let (status, html) = settled(&b, &app, &receipt).await;
    assert_eq!(status, "declined");
    assert!(
        html.contains("Payment declined")
            && html.contains(&format!("{SITE}/checkout?tip={cara_id}"))
    );
    let to = checkout(&b, &app, &tip).await;
    let receipt = pay_at_sandbox(&b, &app, &csrf, &to, "4242424242424242").await;
    let (status, html) = settled(&b, &app, &receipt).await;
    assert_eq!(status, "paid");
    assert!(html.contains("$5.00"));
    // An amount that is not one is shown on the page.
    let res = form(
        &b,
        &app,
        "/checkout",
        &[
            ("csrf", &csrf),
            ("kind", "tip"),
            ("creator_id", &cara_s),
            ("amount", "lots"),
            ("processor", "sandbox"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Enter an amount"));
}

async fn wallet_earnings_and_console_pages(app: TestApp) {
    let dana = creator(&app, "pay_dana", &["girlfanz"]).await;
    let gold = tier(&app, &dana, "Gold", 1500).await;
    app.user("pay_wal").await;
    app.user("pay_friend").await;
    let (b, csrf) = signed_in(&app, "pay_wal@example.com").await;
    let (friend, friend_csrf) = signed_in(&app, "pay_friend@example.com").await;

    // The wallet: empty, then topped up through the sandbox.
    let (status, html) = page(&b, &app, "/me/wallet").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("$0.00")
            && html.contains("/checkout?topup=1")
            && html.contains("/checkout?gift=1")
    );
    let (status, html) = page(&b, &app, "/checkout?topup=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Top up your wallet") && !html.contains("Wallet (balance"));
    let to = checkout(
        &b,
        &app,
        &[
            ("csrf", &csrf),
            ("kind", "wallet_topup"),
            ("amount", "20"),
            ("processor", "sandbox"),
        ],
    )
    .await;
    let receipt = pay_at_sandbox(&b, &app, &csrf, &to, "4242424242424242").await;
    assert_eq!(settled(&b, &app, &receipt).await.0, "paid");
    let (_, html) = page(&b, &app, "/me/wallet").await;
    assert!(html.contains("$20.00"), "balance after top-up");

    // The wallet pays a subscription at once when it covers it.
    let (_, html) = page(&b, &app, &format!("/checkout?tier={gold}")).await;
    assert!(html.contains("Wallet (balance $20.00)"));
    let gold_s = gold.to_string();
    let to = checkout(
        &b,
        &app,
        &[
            ("csrf", &csrf),
            ("kind", "subscription"),
            ("tier_id", &gold_s),
            ("period_days", "30"),
            ("processor", "wallet"),
        ],
    )
    .await;
    assert!(
        to.starts_with(&format!("{SITE}/payments/checkout/")),
        "{to}"
    );
    let (status, html) = page(&b, &app, to.strip_prefix(SITE).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-status=\"paid\"") && html.contains("Wallet"));
    let (_, html) = page(&b, &app, "/me/wallet").await;
    assert!(html.contains("$5.00"), "balance after paying $15.00");

    // A gift card bought through the sandbox, its code shown to the buyer, redeemed by a friend.
    let to = checkout(
        &b,
        &app,
        &[
            ("csrf", &csrf),
            ("kind", "gift_card"),
            ("amount", "10.00"),
            ("processor", "sandbox"),
        ],
    )
    .await;
    let receipt = pay_at_sandbox(&b, &app, &csrf, &to, "4242424242424242").await;
    assert_eq!(settled(&b, &app, &receipt).await.0, "paid");
    let (_, html) = page(&b, &app, "/me/wallet").await;
    let code = html
        .split("class=\"gift-code\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("a gift card code")
        .to_owned();
    let (_, friend_html) = page(&friend, &app, "/me/wallet").await;
    assert!(
        !friend_html.contains(&code),
        "codes are shown to their buyer only"
    );
    assert_eq!(
        form(&friend, &app, "/me/wallet/redeem", &[("code", &code)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let res = form(
        &friend,
        &app,
        "/me/wallet/redeem",
        &[("csrf", &friend_csrf), ("code", "NOT-A-REAL-CODE")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("No such gift card"));
    let res = form(
        &friend,
        &app,
        "/me/wallet/redeem",
        &[("csrf", &friend_csrf), ("code", &code)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    let (_, html) = page(&friend, &app, to.strip_prefix(SITE).unwrap()).await;
    assert!(html.contains("Redeemed: $10.00 added") && html.contains("$10.00"));
    let res = form(
        &friend,
        &app,
        "/me/wallet/redeem",
        &[("csrf", &friend_csrf), ("code", &code)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // The creator's earnings: the sale, a payout method, a promo code; fans are refused.
    let (creator_b, creator_csrf) = signed_in(&app, "pay_dana@example.com").await;
    let (status, html) = page(&creator_b, &app, "/studio/earnings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Available") && html.contains("Last 30 days") && html.contains("@pay_wal")
    );
    assert_eq!(
        page(&b, &app, "/studio/earnings").await.0,
        StatusCode::FORBIDDEN
    );
    assert!(page(&creator_b, &app, "/studio")
        .await
        .1
        .contains("/studio/earnings"));
    assert_eq!(
        form(
            &creator_b,
            &app,
            "/studio/earnings/promo",
            &[("code", "GOLD20")]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let res = form(
        &creator_b,
        &app,
        "/studio/earnings/promo",
        &[
            ("csrf", &creator_csrf),
            ("code", "gold20"),
            ("percent_off", "20"),
            ("trial_days", "0"),
        ],
    )
    .await;
    assert_eq!(location(&res), format!("{SITE}/studio/earnings?done=promo"));
    let res = form(
        &creator_b,
        &app,
        "/studio/earnings/promo",
        &[
            ("csrf", &creator_csrf),
            ("code", "x"),
            ("percent_off", "20"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = form(
        &creator_b,
        &app,
        "/studio/earnings/method",
        &[
            ("csrf", &creator_csrf),
            ("method", "paxum"),
            ("destination", "dana@example.com"),
            ("schedule", "on_request"),
            ("minimum", "50.00"),
        ],
    )
    .await;
    assert_eq!(
        location(&res),
        format!("{SITE}/studio/earnings?done=method")
    );
    let (_, html) = page(&creator_b, &app, "/studio/earnings").await;
    assert!(
        html.contains("GOLD20")
            && html.contains("20% off the first period")
            && html.contains("dana@example.com")
    );
    // A promo code shows its price at checkout for a fan who applies it.
    let (_, html) = page(
        &friend,
        &app,
        &format!("/checkout?tier={gold}&promo=gold20"),
    )
    .await;
    assert!(html.contains("GOLD20: 20% off your first period") && html.contains("$12.00"));

    // The finance console: admins (and finance) only.
    app.admin().await;
    let (ops, ops_csrf) = signed_in(&app, "root@example.com").await;
    let (status, html) = page(&ops, &app, "/admin/payments").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Payments console") && html.contains("applied") && html.contains("sandbox")
    );
    assert!(html.contains("Raw headers and body"));
    assert_eq!(
        page(&b, &app, "/admin/payments").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        page(&creator_b, &app, "/admin/payments").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, html) = page(&ops, &app, "/admin/payments?status=dead").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No notifications with status dead"));
    assert_eq!(
        form(&b, &app, "/admin/payments/batches", &[("csrf", &csrf)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        form(&ops, &app, "/admin/payments/batches", &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let res = form(
        &ops,
        &app,
        "/admin/payments/batches",
        &[("csrf", &ops_csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("No pending payouts"));
    // Refund the top-up's charge: the sandbox's refund notification applies it.
    let charge = {
        let mut db = app.store.conn().await.unwrap();
        let fan = user_id(&app, "pay_wal").await;
        fanz_payments::apply::charges_of_fan(&mut db, fan)
            .await
            .unwrap()
            .into_iter()
            .find(|c| {
                c.processor == "sandbox" && c.product == fanz_payments::checkout::Kind::WalletTopup
            })
            .expect("the top-up's charge")
    };
    let id = charge.id.to_string();
    let res = form(
        &ops,
        &app,
        "/admin/payments/refund",
        &[("csrf", &ops_csrf), ("charge_id", &id), ("reason", "")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = form(
        &ops,
        &app,
        "/admin/payments/refund",
        &[
            ("csrf", &ops_csrf),
            ("charge_id", &id),
            ("amount", "5.00"),
            ("reason", "asked nicely"),
        ],
    )
    .await;
    assert_eq!(
        location(&res),
        format!("{SITE}/admin/payments?done=refund&id={id}&how=requested")
    );
    let res = form(
        &b,
        &app,
        "/admin/payments/refund",
        &[("csrf", &csrf), ("charge_id", &id), ("reason", "mine")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// A CCBill sale (a processor that signs nothing) waits on the creator's earnings page as
/// "awaiting finance"; the console lists it with a Confirm form and the fan's failed CCBill
/// cancel with a Retry form; both are finance's alone and need the CSRF token; once confirmed,
/// the earnings page no longer shows it.
async fn unconfirmed_charges_and_processor_calls_on_the_pages(app: TestApp) {
    let cora = creator(&app, "pay_cora", &["girlfanz"]).await;
    let silver = tier(&app, &cora, "Silver", 999).await;
    let (fan, _) = app.user("pay_cfan").await;
    let res = app
        .post(
            "/api/v1/checkout",
            json!({"kind": "subscription", "tier_id": silver, "processor": "ccbill"}),
            Some(&fan),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let c: Value = res.json().await.unwrap();
    let body = json!({"subscriptionId": "9001", "transactionId": "t-9001", "clientAccnum": "900100",
        "clientSubacc": "0000", "timestamp": "2026-12-01 10:00:00", "billedInitialPrice": "9.99",
        "billedCurrencyCode": "840", "X-fanz_ref": c["reference"]});
    let res = app
        .client
        .post(app.url("/api/v1/payments/webhooks/ccbill?clientAccnum=900100&clientSubacc=0000&eventType=NewSaleSuccess&eventGroupType=Subscription"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let (creator_b, _) = signed_in(&app, "pay_cora@example.com").await;
    let (status, html) = page(&creator_b, &app, "/studio/earnings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Awaiting confirmation") && html.contains("awaiting finance"),
        "{html}"
    );
    assert!(html.contains("CCBill needs api_user"));

    // The fan cancels: CCBill cannot be asked without credentials, so the call fails.
    let subs: Value = app
        .get("/api/v1/me/subscriptions", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    let sid = subs["subscriptions"][0]["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/subscriptions/{sid}/cancel"),
            json!({}),
            Some(&fan),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    app.admin().await;
    let (ops, ops_csrf) = signed_in(&app, "root@example.com").await;
    let mut html = String::new();
    for _ in 0..100 {
        html = page(&ops, &app, "/admin/payments").await.1;
        if html.contains("Retry call") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        html.contains("Processor API calls") && html.contains("Retry call"),
        "{html}"
    );
    assert!(html.contains("Charges awaiting confirmation") && html.contains("Confirm charge"));
    let call_id = {
        let needle = "aria-label=\"Retry call ";
        let at = html.find(needle).unwrap() + needle.len();
        html[at..].split('"').next().unwrap().to_owned()
    };
    let charge_id = {
        let needle = "aria-label=\"Confirm charge ";
        let at = html.find(needle).unwrap() + needle.len();
        html[at..].split('"').next().unwrap().to_owned()
    };

    // Not for the fan or the creator; not without the CSRF token; not without a reason.
    let (fan_b, fan_csrf) = signed_in(&app, "pay_cfan@example.com").await;
    for (path, field, id) in [
        ("/admin/payments/confirm", "charge_id", &charge_id),
        ("/admin/payments/retry", "id", &call_id),
    ] {
        let res = form(
            &fan_b,
            &app,
            path,
            &[("csrf", &fan_csrf), (field, id), ("reason", "mine")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        page(&creator_b, &app, "/admin/payments").await.0,
        StatusCode::FORBIDDEN
    );
    let res = form(
        &ops,
        &app,
        "/admin/payments/confirm",
        &[("charge_id", &charge_id), ("reason", "checked")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = form(
        &ops,
        &app,
        "/admin/payments/confirm",
        &[
            ("csrf", &ops_csrf),
            ("charge_id", &charge_id),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Finance asks CCBill again, and confirms the sale by hand.
    let res = form(
        &ops,
        &app,
        "/admin/payments/retry",
        &[("csrf", &ops_csrf), ("id", &call_id)],
    )
    .await;
    assert_eq!(
        location(&res),
        format!("{SITE}/admin/payments?done=retry&id={call_id}#calls-h")
    );
    let res = form(
        &ops,
        &app,
        "/admin/payments/confirm",
        &[
            ("csrf", &ops_csrf),
            ("charge_id", &charge_id),
            ("reason", "approved in CCBill's admin"),
        ],
    )
    .await;
    assert_eq!(
        location(&res),
        format!("{SITE}/admin/payments?done=confirm&id={charge_id}#unconfirmed-h")
    );
    let (_, html) = page(
        &ops,
        &app,
        &format!("/admin/payments?done=confirm&id={charge_id}"),
    )
    .await;
    assert!(html.contains(&format!("Charge #{charge_id} confirmed")));
    assert!(!html.contains(&format!("Confirm charge {charge_id}\"")));
    let (_, html) = page(&creator_b, &app, "/studio/earnings").await;
    assert!(!html.contains("Awaiting confirmation"), "{html}");
}

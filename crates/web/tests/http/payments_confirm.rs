//! Segpay and Epoch sign nothing either: their sales wait, like CCBill's, until a server-side
//! query of the processor's records confirms them (Segpay's SRS purchase lookup, Epoch's
//! member search), made by the test's own stand-in processor on loopback. A charge the
//! processor reports with another amount, currency or status is refused and listed for
//! finance; nobody else can confirm or list.

use crate::harness::{assert_error, spawn_with, TestApp};
use crate::payments::{
    balance, books_verify, checkout, earnings_of, shop, wait_call, wait_confirmation, Hits,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SEGPAY_MERCHANT: &str = "4400";
const SEGPAY_PACKAGE: &str = "110530:3773";
const EPOCH_COMPANY: &str = "epco";

macro_rules! confirm_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let (url, hits, open) = super::fake_processors().await;
                    let app = super::spawn(fanz_store::Backend::Sqlite, url).await.expect("sqlite app");
                    super::$name(app, hits, open).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let (url, hits, open) = super::fake_processors().await;
                    match super::spawn(fanz_store::Backend::Postgres, url).await {
                        Some(app) => super::$name(app, hits, open).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
}

confirm_tests!(segpay_and_epoch_sales_wait_for_their_records);

/// The sandbox on (for payouts), Segpay and Epoch configured with their API credentials and
/// `api_url` pointing at the stand-in, notifications allowed from loopback, and every sweep
/// asking the processors (instead of once an hour).
async fn spawn(backend: fanz_store::Backend, api: String) -> Option<TestApp> {
    spawn_with(backend, move |c| {
        c.payments.sandbox = true;
        c.payments.sandbox_secret = "sandbox-test-secret".into();
        c.payments.confirm_interval_secs = 0;
        c.payments.payout_minimum = 100;
        let segpay = fanz_config::payments::ProcessorSettings {
            enabled: true,
            account: Some(SEGPAY_MERCHANT.into()),
            sub_account: Some(SEGPAY_PACKAGE.into()),
            api_user: Some("srs-user".into()),
            api_key: Some("srs-key".into()),
            api_url: Some(api.clone()),
            allow_ips: vec!["127.0.0.0/8".into()],
            descriptor: Some("SEGPAY*FANZ".into()),
            ..Default::default()
        };
        let epoch = fanz_config::payments::ProcessorSettings {
            enabled: true,
            account: Some(EPOCH_COMPANY.into()),
            sub_account: Some("pi-monthly".into()),
            api_user: Some("ep-user".into()),
            api_key: Some("ep-pass".into()),
            api_url: Some(api),
            allow_ips: vec!["127.0.0.0/8".into()],
            descriptor: Some("EPOCH*FANZ".into()),
            ..Default::default()
        };
        c.payments.processors.insert(
            "default".into(),
            [("segpay".to_owned(), segpay), ("epoch".to_owned(), epoch)].into(),
        );
    })
    .await
}

/// A Segpay SRS transaction row (a DataSet `<Data>` element, as Segpay's page shows one).
fn srs_row(
    n: usize,
    tran: &str,
    purchase: &str,
    kind: &str,
    auth: &str,
    amount: &str,
    cur: &str,
) -> String {
    format!(
        "<Data diffgr:id=\"Data{n}\" msdata:rowOrder=\"{}\"><URL>fanz.example</URL><TransID>{tran}</TransID>\
         <RelatedTransID>0</RelatedTransID><TransTime>2026-12-01T10:00:00+00:00</TransTime><Type>{kind}</Type>\
         <Source>Signup</Source><Auth>{auth}</Auth><TransAmount>{amount}</TransAmount>\
         <AuthCode>{}</AuthCode><Currency>{cur}</Currency><PurchaseID>{purchase}</PurchaseID>\
         <PurchType>One Time</PurchType><CustAddress/></Data>",
        n - 1,
        if auth == "Yes" { "00-Approved" } else { "05-Do Not Honor" },
    )
}

/// Whether the stand-in processors have their records yet (until then they know nothing, so
/// the test sees every sale waiting whatever the sweeps do meanwhile).
type Open = std::sync::Arc<std::sync::atomic::AtomicBool>;

fn is_open(open: &Open) -> bool {
    open.load(std::sync::atomic::Ordering::SeqCst)
}

/// Record a request to the stand-in (`GET path?query`); its query string.
fn logged(hits: &Hits, path: &str, q: Option<String>) -> String {
    let q = q.unwrap_or_default();
    hits.lock().unwrap().push(format!("GET {path}?{q}"));
    q
}

/// A stand-in for Segpay's SRS and Epoch's customer search on loopback, recording every
/// request (`GET path?query`). Segpay's SRS answers every price's hash with the example of
/// Segpay's page. Once open, Segpay reports purchase P-5001 as an approved 9.99
/// USD sale, P-5002 as one in EUR and P-5003 as declined; Epoch bills member 7001 9.99 and
/// member 7002 4.00. Anything else is unknown to them.
async fn fake_processors() -> (String, Hits, Open) {
    use axum::extract::RawQuery;
    use axum::routing::get;
    let hits: Hits = Default::default();
    let open: Open = Default::default();
    let (h1, h2, h3) = (hits.clone(), hits.clone(), hits.clone());
    let (o1, o2) = (open.clone(), open.clone());
    let router = axum::Router::new()
        .route(
            "/MerchantServices/DynamicPricing/",
            get(move |RawQuery(q): RawQuery| {
                let hits = h3.clone();
                async move {
                    logged(&hits, "/MerchantServices/DynamicPricing/", q);
                    // Segpay's example hash, in an ASMX string envelope.
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<string xmlns=\"http://srs.segpay.com/\">gX35hP2NARVWRDtv95vWWymKqcY=</string>"
                }
            }),
        )
        .route(
            "/MWS.asmx/TransactionByPurchaseID",
            get(move |RawQuery(q): RawQuery| {
                let (hits, open) = (h1.clone(), o1.clone());
                async move {
                    let q = logged(&hits, "/MWS.asmx/TransactionByPurchaseID", q);
                    let row = if !is_open(&open) {
                        String::new()
                    } else if q.contains("PurchaseID=P-5001") {
                        srs_row(1, "5001", "P-5001", "Sale", "Yes", "9.9900", "USD")
                    } else if q.contains("PurchaseID=P-5002") {
                        srs_row(1, "5002", "P-5002", "Sale", "Yes", "9.9900", "EUR")
                    } else if q.contains("PurchaseID=P-5003") {
                        srs_row(1, "5003", "P-5003", "Sale", "No", "9.9900", "USD")
                    } else {
                        String::new()
                    };
                    format!(
                        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<DataSet xmlns=\"http://srs.segpay.com/\">\
                         <diffgr:diffgram xmlns:msdata=\"urn:schemas-microsoft-com:xml-msdata\" \
                         xmlns:diffgr=\"urn:schemas-microsoft-com:xml-diffgram-v1\"><NewDataSet xmlns=\"\">{row}\
                         </NewDataSet></diffgr:diffgram></DataSet>"
                    )
                }
            }),
        )
        .route(
            "/services/customer_search/index.json",
            get(move |RawQuery(q): RawQuery| {
                let (hits, open) = (h2.clone(), o2.clone());
                async move {
                    let q = logged(&hits, "/services/customer_search/index.json", q);
                    let billed = if !is_open(&open) {
                        None
                    } else if q.contains("member_id=7001") {
                        Some("9.99")
                    } else if q.contains("member_id=7002") {
                        Some("4.00")
                    } else {
                        None
                    };
                    let member = q
                        .split('&')
                        .find_map(|p| p.strip_prefix("member_id="))
                        .unwrap_or("")
                        .to_owned();
                    axum::Json(match billed {
                        Some(b) => json!({"Data": [{"Customer": {"MemberId": member,
                            "NextBillDate": "2027-01-01", "NextBillAmount": b}}]}),
                        None => json!({"Data": []}),
                    })
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), hits, open)
}

/// A new fan `handle` tips the creator 9.99 through Segpay; Segpay's TransPost for
/// transaction `tran` of purchase `P-{tran}` arrives from an allowed address.
async fn segpay_tip(app: &TestApp, handle: &str, creator: i64, tran: &str) {
    let (fan, _) = app.user(handle).await;
    let c = checkout(
        app,
        &fan,
        json!({"kind": "tip", "creator_id": creator, "amount": 999, "processor": "segpay"}),
    )
    .await;
    // The join link carries the price's hash, asked of Segpay's SRS for this amount.
    let link = c["redirect_url"].as_str().unwrap();
    assert!(
        link.starts_with(
            "https://secure2.segpay.com/billing/poset.cgi?x-eticketid=110530%3A3773&amount=9.99&"
        ),
        "{link}"
    );
    assert!(
        link.ends_with("&dynamicpricingid=gX35hP2NARVWRDtv95vWWymKqcY%3D"),
        "{link}"
    );
    let reference = c["reference"].as_str().unwrap();
    let url = app.url(&format!(
        "/api/v1/payments/webhooks/segpay?action=Auth&stage=Initial&approved=Yes&trantype=sale\
         &purchaseid=P-{tran}&tranid={tran}&price=9.99&currencycode=USD&eticketid={SEGPAY_PACKAGE}\
         &merchantid={SEGPAY_MERCHANT}&transtime=2026-12-01+10%3A00%3A00&x-fanz_ref={reference}"
    ));
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "segpay postback");
}

/// A new fan `handle` subscribes to `tier` through Epoch; Epoch's join postback for member
/// `member` arrives from an allowed address.
async fn epoch_subscriber(app: &TestApp, handle: &str, tier: i64, member: &str) {
    let (fan, _) = app.user(handle).await;
    let c = checkout(
        app,
        &fan,
        json!({"kind": "subscription", "tier_id": tier, "processor": "epoch"}),
    )
    .await;
    let reference = c["reference"].as_str().unwrap();
    let body = format!(
        "ans=YGOODTEST%7C{member}&member_id={member}&transaction_id=9{member}&amount=9.99&currency=USD\
         &co_code={EPOCH_COMPANY}&x_fanz_ref={reference}"
    );
    let res = app
        .client
        .post(app.url("/api/v1/payments/webhooks/epoch"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "epoch join postback");
}

/// The id of the only charge of the fan with `handle`.
async fn charge_of(app: &TestApp, admin: &str, handle: &str) -> i64 {
    let v: Value = app
        .get(
            &format!("/api/v1/payments/charges?fan={handle}"),
            Some(admin),
        )
        .await
        .json()
        .await
        .unwrap();
    v["charges"][0]["id"].as_i64().unwrap()
}

/// Three Segpay sales and two Epoch sales credit the creator's books but none is available
/// for payout. Segpay's records confirm 5001 and refuse 5002 (EUR, not USD) and 5003
/// (declined); Epoch's confirm member 7001 and refuse 7002 (billed 4.00, not 9.99). Only the
/// confirmed shares become available; the refused ones are listed for finance, whom nobody
/// else can stand in for. The books balance throughout.
async fn segpay_and_epoch_sales_wait_for_their_records(app: TestApp, hits: Hits, open: Open) {
    let admin = app.admin().await;
    let (ctoken, cid, tier, _, _) = shop(&app, "sela").await;
    let res = app.client.put(app.url("/api/v1/creators/me/payout-method")).bearer_auth(&ctoken)
        .json(&json!({"method": "sandbox", "destination": "sela's account", "schedule": "on_request"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    segpay_tip(&app, "sam", cid, "5001").await;
    segpay_tip(&app, "sue", cid, "5002").await;
    segpay_tip(&app, "sid", cid, "5003").await;
    epoch_subscriber(&app, "eve", tier, "7001").await;
    epoch_subscriber(&app, "eli", tier, "7002").await;
    books_verify(&app, &admin).await;
    let payable = balance(&app, &admin, &format!("creator_payable:{cid}:USD")).await;
    assert!(payable > 0);
    let (available, awaiting, unconfirmed) = earnings_of(&app, &ctoken).await;
    assert_eq!(available, 0, "unconfirmed sales are not available");
    assert_eq!(awaiting, payable);
    assert_eq!(unconfirmed.len(), 5, "{unconfirmed:?}");
    assert!(unconfirmed
        .iter()
        .all(|u| u["processor"] == "segpay" || u["processor"] == "epoch"));
    assert_error(
        app.post(
            "/api/v1/creators/me/payouts",
            json!({"amount": 100}),
            Some(&ctoken),
        )
        .await,
        StatusCode::CONFLICT,
        "awaiting_confirmation",
    )
    .await;

    // The sweep asks Segpay per purchase and Epoch per member; now they have their records.
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut held = 0;
    let mut released = 0;
    for (fan, status, says) in [
        ("sam", "confirmed", "5001"),
        ("sue", "denied", "EUR"),
        ("sid", "denied", "not approved"),
        ("eve", "confirmed", "member 7001"),
        ("eli", "denied", "not 9.99"),
    ] {
        let id = charge_of(&app, &admin, fan).await;
        let c = wait_confirmation(&app, &admin, id, status).await;
        assert!(c["reason"].as_str().unwrap().contains(says), "{fan}: {c}");
        let share = c["held"].as_i64().unwrap();
        assert!(share > 0);
        if status == "confirmed" {
            released += share;
        } else {
            held += share;
        }
    }
    assert_eq!(released + held, payable);
    let asked = hits.lock().unwrap().clone();
    for want in [
        "GET /MWS.asmx/TransactionByPurchaseID?UserID=srs-user&UserAccessKey=srs-key&PurchaseID=P-5001",
        "GET /MWS.asmx/TransactionByPurchaseID?UserID=srs-user&UserAccessKey=srs-key&PurchaseID=P-5003",
        "GET /services/customer_search/index.json?api_action=search&auth_user=ep-user&auth_pass=ep-pass&member_id=7001",
        "GET /services/customer_search/index.json?api_action=search&auth_user=ep-user&auth_pass=ep-pass&member_id=7002",
        "GET /MerchantServices/DynamicPricing/?merchantId=4400&amount=9.99",
    ] {
        assert!(asked.iter().any(|h| h == want), "{want} not in {asked:?}");
    }
    for processor in ["segpay", "epoch"] {
        let call = wait_call(&app, &admin, |c| {
            c["op"] == "confirm" && c["processor"] == processor && c["status"] == "done"
        })
        .await;
        assert!(
            call["detail"].as_str().unwrap().contains("denied"),
            "{call}"
        );
    }

    // Only the confirmed shares are available; the refused ones never are.
    let (available, awaiting, unconfirmed) = earnings_of(&app, &ctoken).await;
    assert_eq!((available, awaiting), (released, held));
    assert_eq!(unconfirmed.len(), 3);
    assert!(unconfirmed.iter().all(|u| u["status"] == "denied"));
    let denied: Value = app
        .get("/api/v1/payments/confirmations?status=denied", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let denied = denied["confirmations"].as_array().unwrap();
    assert_eq!(denied.len(), 3, "{denied:?}");
    let res = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": released + 1}),
            Some(&ctoken),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "awaiting_confirmation").await;

    // Nobody but finance confirms or lists: not the creator, not a fan.
    let refused = denied[0]["charge_id"].as_i64().unwrap();
    let (fan, _) = app.user("nosy").await;
    for who in [&ctoken, &fan] {
        assert_error(
            app.post(
                &format!("/api/v1/payments/charges/{refused}/confirm"),
                json!({"reason": "mine"}),
                Some(who),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        for path in [
            "/api/v1/payments/confirmations",
            "/api/v1/payments/confirmations?status=denied",
        ] {
            assert_error(
                app.get(path, Some(who)).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
    }
    let still: Value = app
        .get("/api/v1/payments/confirmations?status=denied", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["confirmations"].as_array().unwrap().len(), 3);

    // What is available can be paid.
    let res = app
        .post(
            "/api/v1/creators/me/payouts",
            json!({"amount": released}),
            Some(&ctoken),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    books_verify(&app, &admin).await;
}

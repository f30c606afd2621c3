//! Each fixture in `tests/fixtures/<processor>/` (see the README there for sources) verifies
//! with its processor's settings and parses into the expected canonical events.

use fanz_processors::*;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture `name` of `processor` as it would arrive from `ip`.
fn load(processor: &str, name: &str, ip: &str) -> Inbound {
    let base = dir().join(processor);
    let query = std::fs::read_to_string(base.join(format!("{name}.query"))).unwrap_or_default();
    let body = std::fs::read(base.join(format!("{name}.body"))).unwrap_or_default();
    assert!(
        !query.is_empty() || !body.is_empty(),
        "fixture {processor}/{name} is missing"
    );
    let ct = if body.trim_ascii_start().starts_with(b"{") {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    Inbound {
        method: if body.is_empty() { "GET" } else { "POST" }.into(),
        query: query.trim_end().to_owned(),
        headers: vec![("content-type".into(), ct.into())],
        body,
        source_ip: ip.parse().ok(),
    }
}

fn ev(kind: EventKind, id: &str) -> Event {
    Event::new(kind, id)
}

fn usd(minor: i64) -> Option<Money> {
    Some(Money::new(minor, "USD"))
}

fn t(s: &str) -> Option<i64> {
    parse_time(s)
}

// ---------------------------------------------------------------- CCBill

const CCBILL_IP: &str = "64.38.240.17";

fn ccbill_settings() -> Settings {
    Settings {
        enabled: true,
        account: Some("900100".into()),
        sub_account: Some("0000".into()),
        secret: Some("salt".into()),
        form_id: Some("687fa3e0-e60d-4466-88e2-181fa56dd6a9".into()),
        allow_ips: [
            "64.38.212.0/24",
            "64.38.215.0/24",
            "64.38.240.0/24",
            "64.38.241.0/24",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    }
}

fn ccbill(name: &str) -> Vec<Event> {
    let n = load("ccbill", name, CCBILL_IP);
    Ccbill.verify(&ccbill_settings(), &n).expect(name);
    Ccbill.parse(&n).expect(name)
}

#[test]
fn ccbill_fixtures() {
    let mut sale = ev(EventKind::SaleApproved, "0912191101000000159");
    sale.reference = Some("chk_1001".into());
    sale.subscription = Some("1000000000".into());
    sale.transaction = Some("0912191101000000159".into());
    sale.amount = Some(Money::new(1000, "USD"));
    sale.occurred_at = t("2012-08-05 15:18:17");
    sale.next_renewal_at = t("2012-09-04");
    assert_eq!(ccbill("new_sale_success"), vec![sale]);

    let mut declined = ev(EventKind::SaleDeclined, "0912191101000000160");
    declined.reference = Some("chk_1002".into());
    declined.transaction = Some("0912191101000000160".into());
    declined.occurred_at = t("2012-08-05 15:18:17");
    declined.reason = Some("Transaction Denied by Bank".into());
    assert_eq!(ccbill("new_sale_failure"), vec![declined]);

    let mut renewal = ev(EventKind::RenewalApproved, "0912191101000000170");
    renewal.subscription = Some("1000000000".into());
    renewal.transaction = Some("0912191101000000170".into());
    renewal.amount = usd(999);
    renewal.occurred_at = t("2012-09-04 02:11:00");
    renewal.next_renewal_at = t("2012-10-04");
    assert_eq!(ccbill("renewal_success"), vec![renewal]);

    let mut failed = ev(EventKind::RenewalFailed, "0912191101000000171");
    failed.subscription = Some("1000000000".into());
    failed.transaction = Some("0912191101000000171".into());
    failed.occurred_at = t("2012-10-04 02:11:00");
    failed.next_renewal_at = t("2012-10-07");
    failed.reason = Some("Insufficient Funds".into());
    assert_eq!(ccbill("renewal_failure"), vec![failed]);

    let mut cb = ev(EventKind::Chargeback, "0912191101000000159");
    cb.subscription = Some("1000000000".into());
    cb.transaction = Some("0912191101000000159".into());
    cb.amount = usd(1000);
    cb.occurred_at = t("2012-10-15 11:00:00");
    cb.reason = Some("Fraud - Card Absent Environment".into());
    assert_eq!(ccbill("chargeback"), vec![cb]);

    let mut expired = ev(EventKind::Expired, "1000000000:2012-11-04 00:00:01");
    expired.subscription = Some("1000000000".into());
    expired.occurred_at = t("2012-11-04 00:00:01");
    assert_eq!(ccbill("expiration"), vec![expired]);

    assert_eq!(ccbill("cross_sale_success"), vec![]);
}

#[test]
fn ccbill_refusals() {
    let s = ccbill_settings();
    let mut n = load("ccbill", "new_sale_success", "198.51.100.4");
    assert!(matches!(
        Ccbill.verify(&s, &n),
        Err(VerifyError::AddressNotAllowed(_))
    ));
    n.source_ip = CCBILL_IP.parse().ok();
    let other = Settings {
        account: Some("900101".into()),
        ..s.clone()
    };
    assert!(matches!(
        Ccbill.verify(&other, &n),
        Err(VerifyError::WrongAccount(_))
    ));
    let empty = Settings {
        allow_ips: vec![],
        ..s
    };
    assert_eq!(Ccbill.verify(&empty, &n), Err(VerifyError::NotConfigured));
}

// ---------------------------------------------------------------- Segpay

const SEGPAY_IP: &str = "192.0.2.44";

fn segpay_settings() -> Settings {
    Settings {
        enabled: true,
        account: Some("1234".into()),
        sub_account: Some("110530:3773".into()),
        allow_ips: vec!["192.0.2.0/24".into()],
        ..Default::default()
    }
}

fn segpay(name: &str) -> Vec<Event> {
    let n = load("segpay", name, SEGPAY_IP);
    Segpay.verify(&segpay_settings(), &n).expect(name);
    Segpay.parse(&n).expect(name)
}

#[test]
fn segpay_fixtures() {
    let mut sale = ev(EventKind::SaleApproved, "987654321");
    sale.reference = Some("chk_2001".into());
    sale.subscription = Some("51234567".into());
    sale.transaction = Some("987654321".into());
    sale.amount = usd(1995);
    sale.occurred_at = t("2026-01-02 03:04:05");
    assert_eq!(segpay("transpost_initial_approved"), vec![sale]);

    let declined = &segpay("transpost_initial_declined")[0];
    assert_eq!(declined.kind, EventKind::SaleDeclined);
    assert_eq!(declined.reference.as_deref(), Some("chk_2002"));

    let rebill = &segpay("transpost_rebill")[0];
    assert_eq!(rebill.kind, EventKind::RenewalApproved);
    assert_eq!(rebill.amount, Some(Money::new(2995, "EUR")));
    assert_eq!(rebill.subscription.as_deref(), Some("51234567"));

    let void = &segpay("transpost_void")[0];
    assert_eq!(void.kind, EventKind::Void);
    assert_eq!(void.external_id, "987654500");
    assert_eq!(void.transaction.as_deref(), Some("987654321"));

    let mut cancel = ev(EventKind::Cancelled, "51234567:2026-02-10 12:00:00");
    cancel.subscription = Some("51234567".into());
    cancel.occurred_at = t("2026-02-10 12:00:00");
    assert_eq!(segpay("cancel"), vec![cancel]);

    assert_eq!(segpay("enable"), vec![]);
}

#[test]
fn segpay_refusals() {
    let n = load("segpay", "transpost_initial_approved", "203.0.113.9");
    assert!(matches!(
        Segpay.verify(&segpay_settings(), &n),
        Err(VerifyError::AddressNotAllowed(_))
    ));
    let n = load("segpay", "transpost_initial_approved", SEGPAY_IP);
    let other = Settings {
        account: Some("999".into()),
        ..segpay_settings()
    };
    assert!(matches!(
        Segpay.verify(&other, &n),
        Err(VerifyError::WrongAccount(_))
    ));
}

// ---------------------------------------------------------------- Epoch

const EPOCH_IP: &str = "208.236.105.20";

fn epoch_settings() -> Settings {
    Settings {
        enabled: true,
        account: Some("abc".into()),
        sub_account: Some("123456p1".into()),
        allow_ips: vec!["208.236.105.0/24".into(), "65.17.248.0/24".into()],
        ..Default::default()
    }
}

fn epoch(name: &str) -> Vec<Event> {
    let n = load("epoch", name, EPOCH_IP);
    Epoch.verify(&epoch_settings(), &n).expect(name);
    Epoch.parse(&n).expect(name)
}

#[test]
fn epoch_fixtures() {
    let mut join = ev(EventKind::SaleApproved, "1081234567");
    join.reference = Some("chk_3001".into());
    join.subscription = Some("421900000001".into());
    join.transaction = Some("1081234567".into());
    join.amount = usd(999);
    assert_eq!(epoch("join_approved"), vec![join]);

    let mut rebill = ev(EventKind::RenewalApproved, "1081234570");
    rebill.subscription = Some("421900000001".into());
    rebill.transaction = Some("1081234570".into());
    rebill.amount = usd(999);
    rebill.occurred_at = t("2026-02-01 00:10:00");
    assert_eq!(epoch("dataplus_rebill"), vec![rebill]);

    let mut credit = ev(EventKind::Refund, "1081234580");
    credit.reference = Some("chk_3001".into());
    credit.subscription = Some("421900000001".into());
    credit.transaction = Some("1081234570".into());
    credit.amount = usd(999);
    credit.occurred_at = t("2026-02-03 10:00:00");
    credit.reason = Some("credit".into());
    assert_eq!(epoch("dataplus_credit"), vec![credit]);

    let cb = &epoch("dataplus_chargeback")[0];
    assert_eq!(cb.kind, EventKind::Chargeback);
    assert_eq!(cb.transaction.as_deref(), Some("1081234567"));
}

#[test]
fn epoch_refusals() {
    let n = load("epoch", "dataplus_rebill", "203.0.113.9");
    assert!(matches!(
        Epoch.verify(&epoch_settings(), &n),
        Err(VerifyError::AddressNotAllowed(_))
    ));
    let n = load("epoch", "dataplus_rebill", EPOCH_IP);
    let other = Settings {
        account: Some("xyz".into()),
        ..epoch_settings()
    };
    assert!(matches!(
        Epoch.verify(&other, &n),
        Err(VerifyError::WrongAccount(_))
    ));
}

// ---------------------------------------------------------------- Verotel

fn verotel_settings() -> Settings {
    Settings {
        enabled: true,
        account: Some("64233".into()),
        secret: Some("BddJxtUBkDgFB9kj7Zwguxde4gAqha".into()),
        ..Default::default()
    }
}

fn verotel(name: &str) -> Vec<Event> {
    let n = load("verotel", name, "198.51.100.1");
    Verotel.verify(&verotel_settings(), &n).expect(name);
    Verotel.parse(&n).expect(name)
}

#[test]
fn verotel_fixtures() {
    let mut initial = ev(EventKind::SaleApproved, "1234567:7654321");
    initial.reference = Some("chk_4001".into());
    initial.subscription = Some("1234567".into());
    initial.transaction = Some("7654321".into());
    initial.amount = usd(999);
    initial.next_renewal_at = t("2026-02-01");
    assert_eq!(verotel("initial"), vec![initial]);

    let rebill = &verotel("rebill")[0];
    assert_eq!(rebill.kind, EventKind::RenewalApproved);
    assert_eq!(rebill.external_id, "1234567:7654400");

    let cancel = &verotel("cancel")[0];
    assert_eq!(cancel.kind, EventKind::Cancelled);
    assert!(cancel.external_id.starts_with("1234567:cancel:"));
    assert_eq!(cancel.reason.as_deref(), Some("cancelled by buyer"));

    let credit = &verotel("credit")[0];
    assert_eq!(credit.kind, EventKind::Refund);
    assert_eq!(credit.transaction.as_deref(), Some("7654321"));
    assert_eq!(credit.amount, usd(999));

    // A one-off purchase has no `event`; this one is signed the legacy (SHA-1) way.
    let purchase = &verotel("purchase_sha1")[0];
    assert_eq!(purchase.kind, EventKind::SaleApproved);
    assert_eq!(purchase.amount, Some(Money::new(499, "EUR")));
    assert_eq!(purchase.reference.as_deref(), Some("chk_4002"));
}

#[test]
fn verotel_refusals() {
    let mut n = load("verotel", "initial", "198.51.100.1");
    n.query = n.query.replace("priceAmount=9.99", "priceAmount=0.01");
    assert_eq!(
        Verotel.verify(&verotel_settings(), &n),
        Err(VerifyError::BadSignature)
    );
    let n = load("verotel", "initial", "198.51.100.1");
    let other = Settings {
        secret: Some("another key".into()),
        ..verotel_settings()
    };
    assert_eq!(Verotel.verify(&other, &n), Err(VerifyError::BadSignature));
    let other_shop = Settings {
        account: Some("1".into()),
        ..verotel_settings()
    };
    assert!(matches!(
        Verotel.verify(&other_shop, &n),
        Err(VerifyError::WrongAccount(_))
    ));
    assert_eq!(
        Verotel.reply(Outcome::Rejected),
        Reply::text(500, "ERROR - Invalid signature!")
    );
}

// ---------------------------------------------------------------- BTCPay

const BTCPAY_SECRET: &str = "fixture-secret";
const STORE: &str = "9CiNzKoANXxmk5ayZngSXrHTiVvvgCrwrpFQd4m2K776";

fn btcpay_settings() -> Settings {
    Settings {
        enabled: true,
        account: Some(STORE.into()),
        secret: Some(BTCPAY_SECRET.into()),
        api_key: Some("k".into()),
        checkout_url: Some("https://pay.example".into()),
        ..Default::default()
    }
}

fn btcpay_signed(name: &str) -> Inbound {
    let mut n = load("btcpay", name, "198.51.100.1");
    let sig = btcpay::sign(BTCPAY_SECRET, &n.body);
    n.headers.push((btcpay::SIGNATURE_HEADER.into(), sig));
    n
}

fn btcpay(name: &str) -> Vec<Event> {
    let n = btcpay_signed(name);
    Btcpay.verify(&btcpay_settings(), &n).expect(name);
    Btcpay.parse(&n).expect(name)
}

#[test]
fn btcpay_fixtures() {
    let mut settled = ev(EventKind::SaleApproved, "HZ6GRHBEJXFPJSTu5U8dV3");
    settled.reference = Some("chk_5001".into());
    settled.transaction = Some("HZ6GRHBEJXFPJSTu5U8dV3".into());
    settled.occurred_at = Some(1_767_323_045_000_000);
    assert_eq!(btcpay("invoice_settled"), vec![settled.clone()]);
    // The redelivery (new deliveryId, the old `orignalDeliveryId` spelling) is the same event.
    assert_eq!(btcpay("invoice_settled_redelivery"), vec![settled]);

    let pending = &btcpay("invoice_processing")[0];
    assert_eq!(pending.kind, EventKind::Pending);

    let expired = &btcpay("invoice_expired")[0];
    assert_eq!(expired.kind, EventKind::SaleDeclined);
    assert_eq!(expired.reference.as_deref(), Some("chk_5002"));

    assert_eq!(btcpay("invoice_created"), vec![]);
}

#[test]
fn btcpay_refusals() {
    let mut n = btcpay_signed("invoice_settled");
    n.body.push(b' ');
    assert_eq!(
        Btcpay.verify(&btcpay_settings(), &n),
        Err(VerifyError::BadSignature)
    );
    let n = btcpay_signed("invoice_settled");
    let other = Settings {
        account: Some("AnotherStore".into()),
        ..btcpay_settings()
    };
    assert!(matches!(
        Btcpay.verify(&other, &n),
        Err(VerifyError::WrongAccount(_))
    ));
}

// ---------------------------------------------------------------- all

#[test]
fn every_driver_is_registered() {
    let names: Vec<&str> = all().iter().map(|p| p.name()).collect();
    for want in ["ccbill", "segpay", "epoch", "verotel", "btcpay", "sandbox"] {
        assert!(names.contains(&want), "{want}");
        assert_eq!(by_name(want).map(|p| p.name()), Some(want));
    }
}

#[test]
fn oversized_notifications_are_refused() {
    let n = Inbound {
        method: "POST".into(),
        query: "eventType=NewSaleSuccess&action=Auth".into(),
        body: vec![b'a'; MAX_NOTIFICATION + 1],
        ..Default::default()
    };
    for p in all() {
        if p.name() == "sandbox" {
            continue;
        }
        assert!(p.parse(&n).is_err(), "{}", p.name());
    }
}

//! The sandbox processor's server side: its hosted checkout takes test card numbers, and it
//! sends its notifications (signed, through the same intake as every processor) with
//! switchable duplicates, delays, reordering and failed deliveries. It also rebills its
//! subscriptions when due, as a real processor would.

use crate::checkout::{self, Checkout, Kind};
use crate::{intake, invalid, Payments, PaymentsError, Result};
use fanz_core::clock::{now_micros, SECOND};
use fanz_processors::sandbox::{Notification, SIGNATURE_HEADER};
use fanz_processors::{Event, EventKind, Inbound, Money, Outcome};
use fanz_store::{sqlx, Db, Store};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The test cards.
pub const CARDS: &[(&str, &str, &str)] = &[
    ("4242424242424242", "approve", "Approved"),
    ("4000000000000002", "decline", "Declined"),
    (
        "4000000000000259",
        "chargeback",
        "Approved, then charged back",
    ),
    (
        "4000000000000341",
        "renewal_fails",
        "Approved, renewals fail",
    ),
];

/// What a test card does.
pub fn card_class(number: &str) -> Option<&'static str> {
    let digits: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
    CARDS
        .iter()
        .find(|(n, _, _)| *n == digits)
        .map(|(_, c, _)| *c)
}

/// How the sandbox delivers a set of notifications.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Send each notification twice.
    pub duplicates: bool,
    /// Hold each back up to this many seconds (spread evenly).
    pub max_delay_secs: u64,
    /// Send later notifications first.
    pub reorder: bool,
    /// Fail this many deliveries of each before one succeeds.
    pub fail_first: u32,
}

impl Faults {
    pub fn from_config(env: &Payments) -> Self {
        let c = &env.config;
        Self {
            duplicates: c.sandbox_duplicates,
            max_delay_secs: c.sandbox_max_delay_secs,
            reorder: c.sandbox_reorder,
            fail_first: c.sandbox_fail_first,
        }
    }
}

/// One delivery of one notification (a job, so deliveries survive restarts and retry).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deliver {
    pub event: Event,
    pub fail_first: u32,
}

impl fanz_jobs::Job for Deliver {
    const KIND: &'static str = "payments.sandbox_deliver";
    const MAX_ATTEMPTS: i64 = 12;
}

/// Queue `events` for delivery with `faults`, in the caller's transaction; `extra_delay`
/// (seconds) holds back all of them.
pub async fn deliver(
    db: &mut Db,
    events: Vec<Event>,
    faults: &Faults,
    extra_delay: u64,
) -> Result<()> {
    let now = now_micros();
    let n = events.len().max(1) as u64;
    for (i, event) in events.into_iter().enumerate() {
        let i = i as u64;
        let slot = if faults.reorder { n - 1 - i } else { i };
        let delay = extra_delay * 1_000_000
            + if faults.max_delay_secs > 0 {
                faults.max_delay_secs * 1_000_000 * (slot + 1) / n
            } else {
                slot * 1000
            };
        let copies = if faults.duplicates { 2 } else { 1 };
        for copy in 0..copies {
            let job = Deliver {
                event: event.clone(),
                fail_first: faults.fail_first,
            };
            fanz_jobs::enqueue_with(
                db,
                &job,
                fanz_jobs::Options::at(now + delay as i64 + copy * 1000),
            )
            .await?;
        }
    }
    Ok(())
}

/// Sign and hand one notification to the intake, as the processor's HTTP call would.
pub async fn send(store: &Store, env: &Payments, event: &Event) -> Result<Outcome> {
    let (body, sig) = Notification::from_event(event).sign(&env.sandbox_secret);
    let inbound = Inbound {
        method: "POST".into(),
        query: String::new(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (SIGNATURE_HEADER.into(), sig),
        ],
        body,
        source_ip: Some(std::net::IpAddr::from([127, 0, 0, 1])),
    };
    Ok(intake::receive(store, env, "sandbox", inbound).await?.1)
}

/// The fee the sandbox "charges": 5 % plus 0.30, like card processors for adult merchants.
pub fn fee(amount: i64) -> i64 {
    if amount <= 0 {
        0
    } else {
        (amount * 5 / 100 + 30).min(amount)
    }
}

fn sale_events(c: &Checkout, class: &str) -> Vec<Event> {
    let r = &c.reference;
    if class == "decline" {
        let mut e = Event::new(EventKind::SaleDeclined, format!("sbx_decline_{r}"));
        e.reference = Some(r.clone());
        e.reason = Some("card declined (test card)".into());
        return vec![e];
    }
    let mut e = Event::new(EventKind::SaleApproved, format!("sbx_sale_{r}"));
    e.reference = Some(r.clone());
    e.transaction = Some(format!("sbx_txn_{r}"));
    if c.kind == Kind::Subscription {
        e.subscription = Some(format!("sbx_sub_{r}"));
    }
    e.amount = Some(Money::new(c.amount, &c.currency)).filter(|m| m.amount > 0);
    e.fee = Some(fee(c.amount));
    e.occurred_at = Some(now_micros());
    vec![e]
}

/// The fan paid on the sandbox's hosted page with `card`. Queues the notifications; the
/// checkout is settled when they arrive.
pub async fn pay(
    db: &mut Db,
    env: &Payments,
    checkout_id: i64,
    fan_id: i64,
    card: &str,
) -> Result<&'static str> {
    let c = checkout::get_own(db, fan_id, checkout_id).await?;
    if c.processor != "sandbox" {
        return Err(PaymentsError::NotFound);
    }
    if c.status != "open" {
        return Err(PaymentsError::Conflict("checkout_closed"));
    }
    let class = card_class(card).ok_or_else(|| {
        invalid(
            "card",
            "unknown_test_card",
            "use one of the sandbox's test cards",
        )
    })?;
    let fresh = sqlx::query("INSERT INTO sandbox_payments (reference, card, created_at) VALUES ($1, $2, $3) ON CONFLICT (reference) DO NOTHING")
        .bind(&c.reference)
        .bind(class)
        .bind(now_micros())
        .execute(&mut *db)
        .await?
        .rows_affected();
    if fresh == 0 {
        return Err(PaymentsError::Conflict("checkout_in_progress"));
    }
    let faults = Faults::from_config(env);
    deliver(db, sale_events(&c, class), &faults, 0).await?;
    if class == "chargeback" {
        let mut cb = Event::new(EventKind::Chargeback, format!("sbx_cb_{}", c.reference));
        cb.transaction = Some(format!("sbx_txn_{}", c.reference));
        cb.reference = Some(c.reference.clone());
        cb.reason = Some("fraud (test card)".into());
        cb.fee = Some(env.config.chargeback_fee);
        deliver(
            db,
            vec![cb],
            &faults,
            env.config.sandbox_chargeback_after_secs,
        )
        .await?;
    }
    Ok(class)
}

/// Finance or a test asks the sandbox to emit an event about a charge or subscription.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Emit {
    /// `renewal`, `renewal_failed`, `cancel`, `reactivate`, `expire`, `refund`, `void`,
    /// `chargeback`.
    pub event: String,
    #[serde(default)]
    pub subscription_id: Option<i64>,
    #[serde(default)]
    pub charge_id: Option<i64>,
    /// Refunds: part of the charge (minor units); default all of it.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub faults: Faults,
}

/// Build the sandbox notification for `e` and queue it; returns its event id.
pub async fn emit(db: &mut Db, env: &Payments, e: &Emit) -> Result<String> {
    let now = now_micros();
    let nonce: u32 = rand::random();
    let kind = match e.event.as_str() {
        "renewal" => EventKind::RenewalApproved,
        "renewal_failed" => EventKind::RenewalFailed,
        "cancel" => EventKind::Cancelled,
        "reactivate" => EventKind::Reactivated,
        "expire" => EventKind::Expired,
        "refund" => EventKind::Refund,
        "void" => EventKind::Void,
        "chargeback" => EventKind::Chargeback,
        _ => return Err(invalid("event", "unknown_event", "event is renewal, renewal_failed, cancel, reactivate, expire, refund, void or chargeback")),
    };
    let mut ev = Event::new(kind, format!("sbx_{}_{now}_{nonce:08x}", e.event));
    ev.occurred_at = Some(now);
    match kind {
        EventKind::Refund | EventKind::Void | EventKind::Chargeback => {
            let id = e.charge_id.ok_or_else(|| {
                invalid(
                    "charge_id",
                    "required",
                    "refunds, voids and chargebacks name a charge",
                )
            })?;
            let ch = crate::apply::get_charge(db, id).await?;
            if ch.processor != "sandbox" {
                return Err(invalid("charge_id", "not_sandbox", "not a sandbox charge"));
            }
            ev.transaction = Some(ch.external_id.clone());
            if let Some(a) = e.amount {
                ev.amount = Some(Money::new(a, &ch.currency));
            }
            if kind == EventKind::Chargeback {
                ev.fee = Some(env.config.chargeback_fee);
                ev.reason = Some("requested in the sandbox".into());
            }
        }
        _ => {
            let id = e.subscription_id.ok_or_else(|| {
                invalid(
                    "subscription_id",
                    "required",
                    "subscription events name a subscription",
                )
            })?;
            let s = crate::subscriptions::get(db, id).await?;
            if s.processor != "sandbox" {
                return Err(invalid(
                    "subscription_id",
                    "not_sandbox",
                    "not a sandbox subscription",
                ));
            }
            ev.subscription = Some(s.external_id.clone());
            if kind == EventKind::RenewalApproved {
                ev.transaction = Some(format!("sbx_rn_{}_{now}_{nonce:08x}", s.id));
                ev.amount = Some(Money::new(e.amount.unwrap_or(s.price), &s.currency));
                ev.fee = Some(fee(s.price));
            }
        }
    }
    let id = ev.external_id.clone();
    deliver(db, vec![ev], &e.faults, 0).await?;
    Ok(id)
}

/// Rebill sandbox subscriptions whose period ends within a minute, as the processor would:
/// approved, or failed for the "renewals fail" card. Returns how many.
pub async fn rebill_due(db: &mut Db, env: &Payments, now: i64) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT s.id, s.external_id, s.price, s.currency, s.renewals, COALESCE(p.card, 'approve') FROM subscriptions s \
         JOIN checkouts c ON c.id = s.checkout_id LEFT JOIN sandbox_payments p ON p.reference = c.reference \
         WHERE s.processor = 'sandbox' AND s.status IN ('active', 'trialing') AND s.cancel_at_period_end = 0 \
         AND s.current_period_end <= $1 ORDER BY s.id LIMIT 200",
    )
    .bind(now + 60 * SECOND)
    .fetch_all(&mut *db)
    .await?;
    let faults = Faults::from_config(env);
    for r in &rows {
        let (id, ext, price, cur, n, card): (i64, String, i64, String, i64, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        let ev = if card == "renewal_fails" {
            let mut e = Event::new(EventKind::RenewalFailed, format!("sbx_rf_{id}_{n}"));
            e.reason = Some("insufficient funds (test card)".into());
            e
        } else {
            let mut e = Event::new(EventKind::RenewalApproved, format!("sbx_rn_{id}_{n}"));
            e.transaction = Some(format!("sbx_rn_{id}_{n}"));
            e.amount = Some(Money::new(price, &cur));
            e.fee = Some(fee(price));
            e
        };
        let mut ev = ev;
        ev.subscription = Some(ext);
        // The same rebill is sent each minute until it lands; its id makes it count once.
        deliver(db, vec![ev], &faults, 0).await?;
    }
    Ok(rows.len())
}

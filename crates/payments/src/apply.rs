//! What each canonical event does to the books and to access, inside the caller's
//! transaction. Money and access always move together here; nothing else in the platform
//! grants paid access.

use crate::checkout::{self, Checkout, Kind};
use crate::subscriptions::{self, Subscription};
use crate::{Payments, PaymentsError, Result};
use fanz_audit::{record, Actor};
use fanz_content::entitlements;
use fanz_core::clock::{now_micros, DAY};
use fanz_ledger::templates::{self, TemplateRequest};
use fanz_processors::{Event, EventKind};
use fanz_store::bulk::{params, pieces, Rows};
use fanz_store::{sqlx, Db};
use serde_json::json;
use sqlx::Row;
use std::collections::HashSet;

/// How a checkout was paid.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The processor, or `wallet`.
    pub processor: String,
    /// The processor's id of the charge.
    pub external_id: String,
    /// The processor's subscription id (subscriptions).
    pub subscription: Option<String>,
    /// Charged, minor units of the checkout's currency.
    pub amount: i64,
    pub fee: i64,
    /// When the processor will charge next, if it says.
    pub next_renewal_at: Option<i64>,
}

fn ledger_key(processor: &str, external_id: &str, what: &str) -> String {
    format!("pay:{processor}:{external_id}:{what}")
}

impl Settlement {
    /// What `ev` from `processor` says was charged for something (`what`) priced in
    /// `currency`: its amount (`price` when it names none), fee, transaction and next renewal.
    /// A charge in another currency cannot apply.
    fn of(processor: &str, ev: &Event, what: &str, currency: &str, price: i64) -> Result<Self> {
        if let Some(m) = ev.amount.as_ref().filter(|m| m.currency != currency) {
            return Err(PaymentsError::Unappliable(format!(
                "charged in {}, {what} in {currency}",
                m.currency
            )));
        }
        Ok(Settlement {
            processor: processor.to_owned(),
            external_id: ev
                .transaction
                .clone()
                .unwrap_or_else(|| ev.external_id.clone()),
            subscription: None,
            amount: ev.amount.as_ref().map_or(price, |m| m.amount),
            fee: ev.fee.unwrap_or(0),
            next_renewal_at: ev.next_renewal_at,
        })
    }
}

/// One charge to post with [`post_charges`].
struct ChargeOf<'a> {
    template: &'a str,
    /// `sale` or `renewal`.
    kind: &'a str,
    product: Kind,
    c: &'a Checkout,
    subscription_id: Option<i64>,
    s: &'a Settlement,
}

impl ChargeOf<'_> {
    /// A sale the creator earns from (a share, the reserve), not a top-up or a gift card.
    fn sale(&self) -> bool {
        matches!(self.product, Kind::Subscription | Kind::Ppv | Kind::Tip)
    }
}

/// Post charges' ledger entries (one linked batch) and record the charges (one statement for
/// up to hundreds); returns each charge's id, `None` for one of nothing.
async fn post_charges(
    db: &mut Db,
    env: &Payments,
    charges: &[ChargeOf<'_>],
    actor: &Actor,
) -> Result<Vec<Option<i64>>> {
    let posted: Vec<&ChargeOf<'_>> = charges.iter().filter(|ch| ch.s.amount > 0).collect();
    let reqs: Vec<TemplateRequest> = posted
        .iter()
        .map(|ch| {
            let (c, s, product) = (ch.c, ch.s, ch.product);
            let sale = ch.sale();
            let reserve = sale && env.config.reserve_bps > 0 && s.processor != "wallet";
            TemplateRequest {
                idempotency_key: ledger_key(&s.processor, &s.external_id, ch.kind),
                currency: c.currency.clone(),
                amount: s.amount,
                creator_id: c.creator_id.filter(|_| sale),
                fan_id: Some(c.fan_id),
                processor: Some(s.processor.clone()),
                processor_fee: (s.fee > 0).then_some(s.fee),
                cluster: Some(c.cluster.clone()),
                reserve_bps: reserve.then_some(env.config.reserve_bps),
                reserve_days: reserve.then_some(env.config.reserve_days),
                metadata: Some(
                    json!({"checkout_id": c.id, "kind": product.as_str(), "external_id": s.external_id}),
                ),
                causation: Some(format!("checkout:{}", c.id)),
                ..Default::default()
            }
        })
        .collect();
    let pairs: Vec<(&str, &TemplateRequest)> = posted
        .iter()
        .zip(&reqs)
        .map(|(ch, r)| (ch.template, r))
        .collect();
    let entries = templates::apply_many(db, &pairs, actor).await?;
    let now = now_micros();
    let mut rows = Rows::new(
        "charges",
        &[
            "processor",
            "external_id",
            "kind",
            "product",
            "checkout_id",
            "subscription_id",
            "fan_id",
            "creator_id",
            "post_id",
            "amount",
            "currency",
            "fee",
            "ledger_entry_id",
            "status",
            "created_at",
        ],
    );
    for (ch, entry) in posted.iter().zip(&entries) {
        let (c, s) = (ch.c, ch.s);
        rows.push([
            s.processor.as_str().into(),
            s.external_id.as_str().into(),
            ch.kind.into(),
            ch.product.as_str().into(),
            c.id.into(),
            ch.subscription_id.into(),
            c.fan_id.into(),
            c.creator_id.into(),
            c.post_id.into(),
            s.amount.into(),
            c.currency.as_str().into(),
            s.fee.into(),
            entry.entry.id.into(),
            "settled".into(),
            now.into(),
        ]);
    }
    let ids = rows.flush_ids(db).await?;
    for ((ch, entry), &id) in posted.iter().zip(&entries).zip(&ids) {
        let (c, s) = (ch.c, ch.s);
        let sale = ch.sale();
        crate::confirm::record(
            db,
            env,
            &crate::confirm::NewCharge {
                charge_id: id,
                processor: &s.processor,
                cluster: &c.cluster,
                creator_id: c.creator_id.filter(|_| sale),
                amount: s.amount,
                currency: &c.currency,
                transaction: &s.external_id,
                subscription: s.subscription.as_deref(),
                renewal: ch.kind == "renewal",
                postings: &entry.entry.postings,
            },
            actor,
        )
        .await?;
    }
    let mut ids = ids.into_iter();
    Ok(charges
        .iter()
        .map(|ch| if ch.s.amount > 0 { ids.next() } else { None })
        .collect())
}

/// Settle an open checkout: post the money and give what was bought. A checkout already
/// paid is left alone (a second sale for it is a dead letter for finance).
pub async fn settle_checkout(
    db: &mut Db,
    env: &Payments,
    c: &Checkout,
    s: &Settlement,
    actor: &Actor,
) -> Result<()> {
    settle_checkouts(db, env, &[(c.clone(), s.clone())], actor).await
}

/// [`settle_checkout`] for many checkouts at once, all or nothing: their entries posted as one
/// ledger batch, their charges recorded and their checkouts marked paid in a statement each.
/// The same checkout twice is refused as already paid.
pub async fn settle_checkouts(
    db: &mut Db,
    env: &Payments,
    sales: &[(Checkout, Settlement)],
    actor: &Actor,
) -> Result<()> {
    let mut seen = HashSet::new();
    for (c, s) in sales {
        if c.status == "paid" || !seen.insert(c.id) {
            return Err(PaymentsError::Unappliable(format!(
                "checkout {} is already paid",
                c.reference
            )));
        }
        if s.amount != c.amount {
            return Err(PaymentsError::Unappliable(format!(
                "checkout {} is for {} but {} was charged",
                c.reference, c.amount, s.amount
            )));
        }
    }
    let now = now_micros();
    let mut subscriptions = Vec::with_capacity(sales.len());
    for (c, s) in sales {
        subscriptions.push(start_subscription(db, c, s, now, actor).await?);
    }
    let charges: Vec<ChargeOf<'_>> = sales
        .iter()
        .zip(&subscriptions)
        .map(|((c, s), &subscription_id)| ChargeOf {
            template: c.kind.template(),
            kind: "sale",
            product: c.kind,
            c,
            subscription_id,
            s,
        })
        .collect();
    post_charges(db, env, &charges, actor).await?;
    for (c, _) in sales {
        match c.kind {
            Kind::Ppv => {
                let post = c.post_id.ok_or_else(|| {
                    PaymentsError::Unappliable("unlock checkout without post".into())
                })?;
                entitlements::grant_unlock(
                    db,
                    c.fan_id,
                    post,
                    &format!("checkout:{}", c.id),
                    actor,
                )
                .await?;
            }
            Kind::GiftCard => crate::wallet::issue_gift_card(db, c).await?,
            Kind::Subscription | Kind::Tip | Kind::WalletTopup => {}
        }
    }
    for run in pieces(sales.len(), 64) {
        let sql = format!(
            "UPDATE checkouts SET status = 'paid', updated_at = $1 WHERE id IN ({})",
            params(2, run.len())
        );
        let mut q = sqlx::query(&sql).bind(now);
        for (c, _) in &sales[run] {
            q = q.bind(c.id);
        }
        q.execute(&mut *db).await?;
    }
    for (c, s) in sales {
        record(
            db,
            actor,
            "payments.checkout_paid",
            Some(&format!("checkout:{}", c.id)),
            json!({"kind": c.kind.as_str(), "processor": s.processor, "amount": s.amount, "currency": c.currency, "external_id": s.external_id}),
        )
        .await?;
    }
    Ok(())
}

/// For a subscription checkout: the subscription it starts, with its access granted (and its
/// promo code counted); the subscription's id. Nothing for other checkouts.
async fn start_subscription(
    db: &mut Db,
    c: &Checkout,
    s: &Settlement,
    now: i64,
    actor: &Actor,
) -> Result<Option<i64>> {
    if c.kind != Kind::Subscription {
        return Ok(None);
    }
    let creator = c.creator_id.ok_or_else(|| {
        PaymentsError::Unappliable("subscription checkout without creator".into())
    })?;
    let tier = c
        .tier_id
        .ok_or_else(|| PaymentsError::Unappliable("subscription checkout without tier".into()))?;
    let days = if c.trial_days > 0 {
        c.trial_days
    } else {
        c.period_days.unwrap_or(30)
    };
    let end = s
        .next_renewal_at
        .filter(|&t| t > now && t < now + 400 * DAY)
        .unwrap_or_else(|| checkout::period_end(now, days));
    let external = s
        .subscription
        .clone()
        .unwrap_or_else(|| c.reference.clone());
    let id = subscriptions::create(
        db,
        &subscriptions::NewSubscription {
            fan_id: c.fan_id,
            creator_id: creator,
            tier_id: tier,
            cluster: &c.cluster,
            processor: &s.processor,
            external_id: &external,
            checkout_id: c.id,
            status: if c.trial_days > 0 {
                "trialing"
            } else {
                "active"
            },
            period_days: c.period_days.unwrap_or(30),
            price: c.renewal_amount.unwrap_or(c.amount),
            currency: &c.currency,
            current_period_end: end,
            // The wallet does not renew by itself: one period.
            cancel_at_period_end: s.processor == "wallet",
        },
    )
    .await?;
    entitlements::grant_subscription(
        db,
        c.fan_id,
        creator,
        tier,
        Some(end),
        &format!("subscription:{id}"),
        actor,
    )
    .await?;
    if let Some(p) = c.promo_id {
        sqlx::query("UPDATE promo_codes SET uses = uses + 1 WHERE id = $1")
            .bind(p)
            .execute(&mut *db)
            .await?;
    }
    Ok(Some(id))
}

/// Apply one canonical event from `processor` (already verified and not seen before).
pub async fn apply_event(
    db: &mut Db,
    env: &Payments,
    processor: &str,
    ev: &Event,
    actor: &Actor,
) -> Result<()> {
    match ev.kind {
        EventKind::SaleApproved => sales(db, env, &[(processor, ev)], actor).await,
        EventKind::SaleDeclined => {
            if let Some(r) = &ev.reference {
                checkout::decline(db, r, ev.reason.as_deref()).await?;
            }
            Ok(())
        }
        EventKind::RenewalApproved => renewal(db, env, processor, ev, actor).await,
        EventKind::RenewalFailed => {
            let sub = subscription_of(db, processor, ev).await?;
            subscriptions::past_due(db, env, &sub, actor).await
        }
        EventKind::Cancelled => {
            let sub = subscription_of(db, processor, ev).await?;
            subscriptions::mark_cancelled(db, &sub, ev.reason.as_deref(), actor).await
        }
        EventKind::Reactivated => {
            let sub = subscription_of(db, processor, ev).await?;
            subscriptions::reactivate(db, &sub, actor).await
        }
        EventKind::Expired => {
            let sub = subscription_of(db, processor, ev).await?;
            subscriptions::expire(db, &sub, "expired at the processor", actor).await
        }
        EventKind::Changed => {
            let sub = subscription_of(db, processor, ev).await?;
            if let Some(next) = ev.next_renewal_at {
                subscriptions::move_period_end(db, &sub, next, actor).await?;
            }
            Ok(())
        }
        EventKind::Refund | EventKind::Void | EventKind::Chargeback => {
            reverse(db, env, processor, ev, actor).await
        }
        EventKind::CustomerUpdated | EventKind::Pending => Ok(()),
    }
}

/// Apply sale-approved events, each from its processor, together: their checkouts read in
/// one statement, then settled with [`settle_checkouts`]. All or nothing.
pub async fn sales(
    db: &mut Db,
    env: &Payments,
    events: &[(&str, &Event)],
    actor: &Actor,
) -> Result<()> {
    let references: Vec<&str> = events
        .iter()
        .filter_map(|(_, ev)| ev.reference.as_deref())
        .collect();
    let checkouts = checkout::by_references(db, &references).await?;
    let mut settle = Vec::with_capacity(events.len());
    for &(processor, ev) in events {
        let reference = ev
            .reference
            .as_deref()
            .ok_or_else(|| PaymentsError::Unappliable("a sale without our reference".into()))?;
        let c = checkouts
            .get(reference)
            .ok_or_else(|| PaymentsError::NotYet(format!("no checkout {reference}")))?;
        if c.processor != processor {
            return Err(PaymentsError::Unappliable(format!(
                "checkout {reference} is not a {processor} checkout"
            )));
        }
        let s = Settlement::of(processor, ev, "checkout", &c.currency, c.amount)?;
        settle.push((
            c.clone(),
            Settlement {
                subscription: ev.subscription.clone(),
                ..s
            },
        ));
    }
    settle_checkouts(db, env, &settle, actor).await
}

async fn subscription_of(db: &mut Db, processor: &str, ev: &Event) -> Result<Subscription> {
    if let Some(ext) = &ev.subscription {
        if let Some(s) = subscriptions::by_external(db, processor, ext).await? {
            return Ok(s);
        }
    }
    if let Some(r) = &ev.reference {
        if let Some(c) = checkout::by_reference(db, r).await? {
            if let Some(s) = subscriptions::by_checkout(db, c.id).await? {
                return Ok(s);
            }
        }
    }
    Err(PaymentsError::NotYet(format!(
        "no subscription {}",
        ev.subscription
            .as_deref()
            .or(ev.reference.as_deref())
            .unwrap_or("(unnamed)")
    )))
}

async fn renewal(
    db: &mut Db,
    env: &Payments,
    processor: &str,
    ev: &Event,
    actor: &Actor,
) -> Result<()> {
    let sub = subscription_of(db, processor, ev).await?;
    let s = Settlement {
        subscription: Some(sub.external_id.clone()),
        ..Settlement::of(processor, ev, "subscription", &sub.currency, sub.price)?
    };
    let c = checkout::get(db, sub.checkout_id).await?;
    let charge = ChargeOf {
        template: "subscription_renewal",
        kind: "renewal",
        product: Kind::Subscription,
        c: &c,
        subscription_id: Some(sub.id),
        s: &s,
    };
    post_charges(db, env, &[charge], actor).await?;
    subscriptions::renewed(db, &sub, ev.next_renewal_at, actor).await
}

/// A charge of ours, as stored.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: i64,
    pub processor: String,
    pub external_id: String,
    pub kind: String,
    pub product: Kind,
    pub checkout_id: Option<i64>,
    pub subscription_id: Option<i64>,
    pub fan_id: i64,
    pub creator_id: Option<i64>,
    pub post_id: Option<i64>,
    pub amount: i64,
    pub currency: String,
    pub ledger_entry_id: Option<i64>,
    pub reversed: bool,
    pub status: String,
    pub created_at: i64,
}

const CHARGE_COLUMNS: &str =
    "id, processor, external_id, kind, product, checkout_id, subscription_id, fan_id, \
    creator_id, post_id, amount, currency, ledger_entry_id, reversed, status, created_at";

fn charge_row(r: &sqlx::any::AnyRow) -> Charge {
    Charge {
        id: r.get(0),
        processor: r.get(1),
        external_id: r.get(2),
        kind: r.get(3),
        product: Kind::parse(&r.get::<String, _>(4)).unwrap_or(Kind::Tip),
        checkout_id: r.get(5),
        subscription_id: r.get(6),
        fan_id: r.get(7),
        creator_id: r.get(8),
        post_id: r.get(9),
        amount: r.get(10),
        currency: r.get(11),
        ledger_entry_id: r.get(12),
        reversed: r.get::<i64, _>(13) != 0,
        status: r.get(14),
        created_at: r.get(15),
    }
}

/// A fan's charges and reversals, newest first.
pub async fn charges_of_fan(db: &mut Db, fan_id: i64) -> Result<Vec<Charge>> {
    let sql = format!(
        "SELECT {CHARGE_COLUMNS} FROM charges WHERE fan_id = $1 ORDER BY id DESC LIMIT 200"
    );
    let rows = sqlx::query(&sql).bind(fan_id).fetch_all(&mut *db).await?;
    Ok(rows.iter().map(charge_row).collect())
}

/// A creator's sales and reversals, newest first.
pub async fn charges_of_creator(db: &mut Db, creator_id: i64, limit: i64) -> Result<Vec<Charge>> {
    let sql = format!(
        "SELECT {CHARGE_COLUMNS} FROM charges WHERE creator_id = $1 ORDER BY id DESC LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(creator_id)
        .bind(limit)
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.iter().map(charge_row).collect())
}

/// Every fan's charges and reversals, or one fan's, newest first, for finance: at most `limit`
/// (1–200), those before charge `before` when paging.
pub async fn recent_charges(
    db: &mut Db,
    fan_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Charge>> {
    let sql = format!(
        "SELECT {CHARGE_COLUMNS} FROM charges WHERE ($1 IS NULL OR fan_id = $1) \
         AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(fan_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 200))
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.iter().map(charge_row).collect())
}

pub async fn get_charge(db: &mut Db, id: i64) -> Result<Charge> {
    let sql = format!("SELECT {CHARGE_COLUMNS} FROM charges WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *db).await?;
    row.map(|r| charge_row(&r)).ok_or(PaymentsError::NotFound)
}

/// The charge an undoing event names: by the processor's transaction id, else the sale of
/// our reference, else the latest charge of the subscription.
async fn charge_of(db: &mut Db, processor: &str, ev: &Event) -> Result<Charge> {
    if let Some(t) = &ev.transaction {
        let sql = format!(
            "SELECT {CHARGE_COLUMNS} FROM charges WHERE processor = $1 AND external_id = $2 \
             AND kind IN ('sale', 'renewal') ORDER BY id LIMIT 1"
        );
        if let Some(r) = sqlx::query(&sql)
            .bind(processor)
            .bind(t)
            .fetch_optional(&mut *db)
            .await?
        {
            return Ok(charge_row(&r));
        }
    }
    if let Some(r) = &ev.reference {
        if let Some(c) = checkout::by_reference(db, r).await? {
            let sql = format!("SELECT {CHARGE_COLUMNS} FROM charges WHERE checkout_id = $1 AND kind = 'sale' LIMIT 1");
            if let Some(r) = sqlx::query(&sql)
                .bind(c.id)
                .fetch_optional(&mut *db)
                .await?
            {
                return Ok(charge_row(&r));
            }
        }
    }
    if ev.transaction.is_none() {
        if let Some(ext) = &ev.subscription {
            if let Some(s) = subscriptions::by_external(db, processor, ext).await? {
                let sql = format!(
                    "SELECT {CHARGE_COLUMNS} FROM charges WHERE subscription_id = $1 AND kind IN ('sale', 'renewal') \
                     AND reversed = 0 ORDER BY id DESC LIMIT 1"
                );
                if let Some(r) = sqlx::query(&sql)
                    .bind(s.id)
                    .fetch_optional(&mut *db)
                    .await?
                {
                    return Ok(charge_row(&r));
                }
            }
        }
    }
    Err(PaymentsError::NotYet(
        "the charge it undoes has not arrived".into(),
    ))
}

async fn reverse(
    db: &mut Db,
    env: &Payments,
    processor: &str,
    ev: &Event,
    actor: &Actor,
) -> Result<()> {
    let charge = charge_of(db, processor, ev).await?;
    let kind = match ev.kind {
        EventKind::Refund => "refund",
        EventKind::Void => "void",
        _ => "chargeback",
    };
    reverse_charge(
        db,
        env,
        &charge,
        kind,
        ev.amount.as_ref().map(|m| m.amount),
        ev.fee,
        &ev.external_id,
        ev.reason.as_deref(),
        actor,
    )
    .await
}

/// Undo `charge` (`refund`, `void` or `chargeback`): reverse the money, take back what it
/// bought, and for a chargeback record the fee and flag the fan. Used by processor
/// notifications and by finance's refunds of wallet payments.
#[allow(clippy::too_many_arguments)]
pub async fn reverse_charge(
    db: &mut Db,
    env: &Payments,
    charge: &Charge,
    kind: &str,
    amount: Option<i64>,
    fee: Option<i64>,
    external_id: &str,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<()> {
    if charge.reversed {
        return Err(PaymentsError::Unappliable(format!(
            "charge {} was already reversed",
            charge.id
        )));
    }
    let amount = amount.unwrap_or(charge.amount);
    if amount <= 0 || amount > charge.amount {
        return Err(PaymentsError::Unappliable(format!(
            "{kind} of {amount} on a charge of {}",
            charge.amount
        )));
    }
    let cur = charge.currency.as_str();
    let key = ledger_key(&charge.processor, external_id, kind);
    let entry_id = match (charge.product, charge.creator_id) {
        (Kind::Subscription | Kind::Ppv | Kind::Tip, Some(creator)) => {
            let cluster = match charge.checkout_id {
                Some(id) => Some(checkout::get(db, id).await?.cluster),
                None => None,
            };
            let share = templates::creator_share_bps(db, creator, cluster.as_deref()).await?;
            let creator_part = templates::split(amount, &[share, 10_000 - share])[0];
            let payable = payable_balance(db, creator, cur).await?;
            let mut uncovered = 0;
            if payable < creator_part {
                let drawn = templates::release_reserves_early(
                    db,
                    creator,
                    cur,
                    creator_part - payable,
                    actor,
                )
                .await?;
                uncovered = (creator_part - payable - drawn).max(0);
            }
            let template = if kind == "chargeback" {
                "chargeback"
            } else {
                "refund"
            };
            let req = TemplateRequest {
                idempotency_key: key,
                currency: cur.to_owned(),
                amount,
                creator_id: Some(creator),
                fan_id: Some(charge.fan_id),
                processor: Some(charge.processor.clone()),
                cluster,
                fee: (kind == "chargeback").then(|| fee.unwrap_or(env.config.chargeback_fee)),
                uncovered: (uncovered > 0).then_some(uncovered),
                metadata: Some(json!({"charge_id": charge.id, "kind": kind, "reason": reason})),
                causation: Some(format!("charge:{}", charge.id)),
                ..Default::default()
            };
            templates::apply(db, template, &req, actor).await?.entry.id
        }
        _ => {
            // Top-ups and gift cards: the original entry reversed in full.
            let original = charge
                .ledger_entry_id
                .ok_or_else(|| PaymentsError::Unappliable("a charge without its entry".into()))?;
            if amount != charge.amount {
                return Err(PaymentsError::Unappliable(
                    "top-ups and gift cards are reversed in full".into(),
                ));
            }
            match fanz_ledger::reverse_entry(db, original, &key, actor).await {
                Ok(out) => out.entry.id,
                Err(fanz_ledger::LedgerError::FlagViolation { account, .. }) => {
                    return Err(PaymentsError::Unappliable(format!(
                        "{account} no longer holds the amount: the fan spent it; settle by hand"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let now = now_micros();
    sqlx::query(
        "INSERT INTO charges (processor, external_id, kind, product, checkout_id, subscription_id, fan_id, \
         creator_id, post_id, amount, currency, fee, ledger_entry_id, reverses, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'settled', $15)",
    )
    .bind(&charge.processor)
    .bind(external_id)
    .bind(kind)
    .bind(charge.product.as_str())
    .bind(charge.checkout_id)
    .bind(charge.subscription_id)
    .bind(charge.fan_id)
    .bind(charge.creator_id)
    .bind(charge.post_id)
    .bind(amount)
    .bind(cur)
    .bind(if kind == "chargeback" { fee.unwrap_or(env.config.chargeback_fee) } else { 0 })
    .bind(entry_id)
    .bind(charge.id)
    .bind(now)
    .execute(&mut *db)
    .await?;
    let status = match kind {
        "refund" => "refunded",
        "void" => "voided",
        _ => "charged_back",
    };
    sqlx::query("UPDATE charges SET reversed = 1, status = $1 WHERE id = $2")
        .bind(status)
        .bind(charge.id)
        .execute(&mut *db)
        .await?;
    crate::confirm::reversed(db, charge.id, amount, charge.amount).await?;
    match charge.product {
        Kind::Subscription => {
            if let Some(sid) = charge.subscription_id {
                let sub = subscriptions::get(db, sid).await?;
                subscriptions::expire(db, &sub, kind, actor).await?;
            }
        }
        Kind::Ppv => {
            if let Some(post) = charge.post_id {
                entitlements::revoke_unlock(db, charge.fan_id, post, kind, actor).await?;
            }
        }
        Kind::GiftCard => {
            if let Some(c) = charge.checkout_id {
                crate::wallet::void_gift_card(db, c).await?;
            }
        }
        Kind::Tip | Kind::WalletTopup => {}
    }
    if kind == "chargeback" {
        flag_fan(
            db,
            env,
            charge.fan_id,
            reason.unwrap_or("chargeback"),
            actor,
        )
        .await?;
    }
    record(
        db,
        actor,
        &format!("payments.{kind}"),
        Some(&format!("charge:{}", charge.id)),
        json!({"amount": amount, "currency": cur, "reason": reason, "external_id": external_id}),
    )
    .await?;
    Ok(())
}

async fn payable_balance(db: &mut Db, creator: i64, cur: &str) -> Result<i64> {
    match fanz_ledger::balance(db, &format!("creator_payable:{creator}:{cur}")).await {
        Ok(b) => Ok(b.available),
        Err(fanz_ledger::LedgerError::UnknownAccount(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

async fn flag_fan(
    db: &mut Db,
    env: &Payments,
    fan_id: i64,
    reason: &str,
    actor: &Actor,
) -> Result<()> {
    let now = now_micros();
    let row = sqlx::query(
        "INSERT INTO payment_flags (fan_id, chargebacks, reason, flagged_at) VALUES ($1, 1, $2, $3) \
         ON CONFLICT (fan_id) DO UPDATE SET chargebacks = payment_flags.chargebacks + 1, reason = $2 \
         RETURNING chargebacks",
    )
    .bind(fan_id)
    .bind(reason)
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    let n: i64 = row.get(0);
    if n >= env.config.chargebacks_to_flag {
        sqlx::query(
            "UPDATE payment_flags SET cleared_at = NULL, flagged_at = $1 WHERE fan_id = $2",
        )
        .bind(now)
        .bind(fan_id)
        .execute(&mut *db)
        .await?;
    } else {
        sqlx::query(
            "UPDATE payment_flags SET cleared_at = $1 WHERE fan_id = $2 AND chargebacks < $3",
        )
        .bind(now)
        .bind(fan_id)
        .bind(env.config.chargebacks_to_flag)
        .execute(&mut *db)
        .await?;
    }
    record(
        db,
        actor,
        "payments.fan_flagged",
        Some(&format!("user:{fan_id}")),
        json!({"chargebacks": n, "reason": reason}),
    )
    .await?;
    Ok(())
}

/// Finance clears a fan's flag.
pub async fn clear_flag(db: &mut Db, fan_id: i64, actor: &Actor) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE payment_flags SET cleared_at = $1 WHERE fan_id = $2 AND cleared_at IS NULL",
    )
    .bind(now_micros())
    .bind(fan_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if n > 0 {
        record(
            db,
            actor,
            "payments.fan_flag_cleared",
            Some(&format!("user:{fan_id}")),
            json!({}),
        )
        .await?;
    }
    Ok(n > 0)
}

/// Finance refunds a charge (audited with the reason): a wallet payment is refunded at once
/// (`refunded`); a sandbox one through the sandbox's refund notification (`requested`); a
/// live one through the processor's API where its driver can (`requested`: the
/// `payments.processor_call` job asks, and the refund applies when the processor notifies
/// it, or at once for BTCPay, which does not); others are refunded in the processor's
/// console (`refund_at_processor`), whose refund notification applies it here.
pub async fn refund_by_finance(
    db: &mut Db,
    env: &Payments,
    id: i64,
    amount: Option<i64>,
    reason: &str,
    actor: &Actor,
) -> Result<&'static str> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(crate::invalid(
            "reason",
            "reason_required",
            "give a reason (up to 500 characters)",
        ));
    }
    let charge = get_charge(db, id).await?;
    let status = match charge.processor.as_str() {
        "wallet" => {
            reverse_charge(
                db,
                env,
                &charge,
                "refund",
                amount,
                None,
                &format!("manual_refund:{id}"),
                Some(reason),
                actor,
            )
            .await?;
            "refunded"
        }
        "sandbox" => {
            let emit = crate::sandbox::Emit {
                event: "refund".into(),
                subscription_id: None,
                charge_id: Some(id),
                amount,
                faults: Default::default(),
            };
            crate::sandbox::emit(db, env, &emit).await?;
            "requested"
        }
        _ => match crate::calls::request_refund(db, env, &charge, amount, reason, actor).await? {
            Some(_) => "requested",
            None => return Err(PaymentsError::Conflict("refund_at_processor")),
        },
    };
    record(
        db,
        actor,
        "payments.refund_requested",
        Some(&format!("charge:{id}")),
        json!({"amount": amount, "reason": reason}),
    )
    .await?;
    Ok(status)
}

//! The subscription lifecycle: trialing → active → past due (grace, dunning) → cancelled at
//! period end → expired, and reactivation. Access follows through content's subscription
//! grant, whose end moves with the paid period.

use crate::{Payments, PaymentsError, Result};
use fanz_audit::{record, Actor};
use fanz_content::entitlements;
use fanz_core::clock::{now_micros, DAY};
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: i64,
    #[serde(skip)]
    pub fan_id: i64,
    pub creator_id: i64,
    pub tier_id: i64,
    pub cluster: String,
    pub processor: String,
    #[serde(skip)]
    pub external_id: String,
    #[serde(skip)]
    pub checkout_id: i64,
    /// `trialing`, `active`, `past_due`, `cancelled` (access until the period ends) or `expired`.
    pub status: String,
    pub period_days: i64,
    /// Per period, minor units.
    pub price: i64,
    pub currency: String,
    /// Access runs to here (or to `grace_until` while past due).
    pub current_period_end: i64,
    pub grace_until: Option<i64>,
    pub cancel_at_period_end: bool,
    pub renewals: i64,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

const COLUMNS: &str = "id, fan_id, creator_id, tier_id, cluster, processor, external_id, checkout_id, status, \
    period_days, price, currency, current_period_end, grace_until, cancel_at_period_end, renewals, created_at, ended_at";

fn row(r: &sqlx::any::AnyRow) -> Subscription {
    Subscription {
        id: r.get(0),
        fan_id: r.get(1),
        creator_id: r.get(2),
        tier_id: r.get(3),
        cluster: r.get(4),
        processor: r.get(5),
        external_id: r.get(6),
        checkout_id: r.get(7),
        status: r.get(8),
        period_days: r.get(9),
        price: r.get(10),
        currency: r.get(11),
        current_period_end: r.get(12),
        grace_until: r.get(13),
        cancel_at_period_end: r.get::<i64, _>(14) != 0,
        renewals: r.get(15),
        created_at: r.get(16),
        ended_at: r.get(17),
    }
}

enum Arg {
    I(i64),
    S(String),
}

async fn one(db: &mut Db, filter: &str, args: Vec<Arg>) -> Result<Option<Subscription>> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE {filter}");
    let mut q = sqlx::query(&sql);
    for a in args {
        q = match a {
            Arg::I(i) => q.bind(i),
            Arg::S(s) => q.bind(s),
        };
    }
    let r = q.fetch_optional(&mut *db).await?;
    Ok(r.map(|r| row(&r)))
}

pub async fn get(db: &mut Db, id: i64) -> Result<Subscription> {
    one(db, "id = $1", vec![Arg::I(id)])
        .await?
        .ok_or(PaymentsError::NotFound)
}

/// The fan's own subscription (ownership decided here).
pub async fn get_own(db: &mut Db, fan_id: i64, id: i64) -> Result<Subscription> {
    let s = get(db, id).await?;
    if s.fan_id != fan_id {
        return Err(PaymentsError::NotFound);
    }
    Ok(s)
}

pub async fn by_external(
    db: &mut Db,
    processor: &str,
    external_id: &str,
) -> Result<Option<Subscription>> {
    one(
        db,
        "processor = $1 AND external_id = $2",
        vec![Arg::S(processor.into()), Arg::S(external_id.into())],
    )
    .await
}

pub async fn by_checkout(db: &mut Db, checkout_id: i64) -> Result<Option<Subscription>> {
    one(db, "checkout_id = $1", vec![Arg::I(checkout_id)]).await
}

/// The fan's paid subscription to `creator` that still gives access, if any.
pub async fn current(db: &mut Db, fan_id: i64, creator_id: i64) -> Result<Option<Subscription>> {
    one(
        db,
        "fan_id = $1 AND creator_id = $2 AND status <> 'expired' ORDER BY id DESC LIMIT 1",
        vec![Arg::I(fan_id), Arg::I(creator_id)],
    )
    .await
}

/// The fan's subscriptions, newest first.
pub async fn of_fan(db: &mut Db, fan_id: i64) -> Result<Vec<Subscription>> {
    let sql =
        format!("SELECT {COLUMNS} FROM subscriptions WHERE fan_id = $1 ORDER BY id DESC LIMIT 500");
    let rows = sqlx::query(&sql).bind(fan_id).fetch_all(&mut *db).await?;
    Ok(rows.iter().map(row).collect())
}

pub(crate) struct NewSubscription<'a> {
    pub fan_id: i64,
    pub creator_id: i64,
    pub tier_id: i64,
    pub cluster: &'a str,
    pub processor: &'a str,
    pub external_id: &'a str,
    pub checkout_id: i64,
    pub status: &'a str,
    pub period_days: i64,
    pub price: i64,
    pub currency: &'a str,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
}

pub(crate) async fn create(db: &mut Db, s: &NewSubscription<'_>) -> Result<i64> {
    let now = now_micros();
    let res = sqlx::query(
        "INSERT INTO subscriptions (fan_id, creator_id, tier_id, cluster, processor, external_id, checkout_id, status, \
         period_days, price, currency, current_period_end, cancel_at_period_end, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
    )
    .bind(s.fan_id)
    .bind(s.creator_id)
    .bind(s.tier_id)
    .bind(s.cluster)
    .bind(s.processor)
    .bind(s.external_id)
    .bind(s.checkout_id)
    .bind(s.status)
    .bind(s.period_days)
    .bind(s.price)
    .bind(s.currency)
    .bind(s.current_period_end)
    .bind(s.cancel_at_period_end as i64)
    .bind(now)
    .fetch_one(&mut *db)
    .await;
    match res {
        Ok(r) => Ok(r.get(0)),
        Err(e) if fanz_store::is_unique_violation(&e) => Err(PaymentsError::Unappliable(format!(
            "{} subscription {} exists already",
            s.processor, s.external_id
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn set(
    db: &mut Db,
    sub: &Subscription,
    status: &str,
    end: i64,
    grace: Option<i64>,
    cancel: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE subscriptions SET status = $1, current_period_end = $2, grace_until = $3, cancel_at_period_end = $4, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(end)
    .bind(grace)
    .bind(cancel as i64)
    .bind(now_micros())
    .bind(sub.id)
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn grant_until(db: &mut Db, sub: &Subscription, until: i64, actor: &Actor) -> Result<()> {
    entitlements::grant_subscription(
        db,
        sub.fan_id,
        sub.creator_id,
        sub.tier_id,
        Some(until),
        &format!("subscription:{}", sub.id),
        actor,
    )
    .await?;
    Ok(())
}

/// A renewal was paid: the period moves on (to the processor's next charge date when it
/// gives one), the subscription is active again.
pub(crate) async fn renewed(
    db: &mut Db,
    sub: &Subscription,
    next: Option<i64>,
    actor: &Actor,
) -> Result<()> {
    let now = now_micros();
    let end = next
        .filter(|&t| t > now && t < now + 400 * DAY)
        .unwrap_or_else(|| {
            sub.current_period_end
                .max(now)
                .saturating_add(sub.period_days * DAY)
        });
    sqlx::query(
        "UPDATE subscriptions SET status = 'active', current_period_end = $1, grace_until = NULL, renewals = renewals + 1, \
         ended_at = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(end)
    .bind(now)
    .bind(sub.id)
    .execute(&mut *db)
    .await?;
    grant_until(db, sub, end, actor).await?;
    record(
        db,
        actor,
        "payments.subscription_renewed",
        Some(&format!("subscription:{}", sub.id)),
        json!({"until": end}),
    )
    .await?;
    Ok(())
}

/// A renewal failed: access continues through the grace period while the processor retries.
pub(crate) async fn past_due(
    db: &mut Db,
    env: &Payments,
    sub: &Subscription,
    actor: &Actor,
) -> Result<()> {
    if sub.status == "expired" {
        return Ok(());
    }
    let grace = sub
        .current_period_end
        .max(now_micros())
        .saturating_add(env.config.grace_days * DAY);
    set(
        db,
        sub,
        "past_due",
        sub.current_period_end,
        Some(grace),
        sub.cancel_at_period_end,
    )
    .await?;
    grant_until(db, sub, grace, actor).await?;
    record(
        db,
        actor,
        "payments.subscription_past_due",
        Some(&format!("subscription:{}", sub.id)),
        json!({"grace_until": grace}),
    )
    .await?;
    Ok(())
}

/// Cancelled (by the fan here, or at the processor): no more renewals; access to the end of
/// the paid period.
pub async fn mark_cancelled(
    db: &mut Db,
    sub: &Subscription,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<()> {
    if sub.status == "expired" || sub.status == "cancelled" {
        return Ok(());
    }
    set(db, sub, "cancelled", sub.current_period_end, None, true).await?;
    grant_until(db, sub, sub.current_period_end, actor).await?;
    record(
        db,
        actor,
        "payments.subscription_cancelled",
        Some(&format!("subscription:{}", sub.id)),
        json!({"reason": reason, "access_until": sub.current_period_end}),
    )
    .await?;
    Ok(())
}

/// A cancelled subscription renews again.
pub async fn reactivate(db: &mut Db, sub: &Subscription, actor: &Actor) -> Result<()> {
    if sub.status != "cancelled" {
        return Ok(());
    }
    set(db, sub, "active", sub.current_period_end, None, false).await?;
    record(
        db,
        actor,
        "payments.subscription_reactivated",
        Some(&format!("subscription:{}", sub.id)),
        json!({}),
    )
    .await?;
    Ok(())
}

/// The subscription ends now and access with it.
pub async fn expire(db: &mut Db, sub: &Subscription, reason: &str, actor: &Actor) -> Result<()> {
    if sub.status == "expired" {
        return Ok(());
    }
    let now = now_micros();
    sqlx::query("UPDATE subscriptions SET status = 'expired', ended_at = $1, updated_at = $1, cancel_at_period_end = 1 WHERE id = $2")
        .bind(now)
        .bind(sub.id)
        .execute(&mut *db)
        .await?;
    entitlements::revoke_subscription(db, sub.fan_id, sub.creator_id, reason, actor).await?;
    record(
        db,
        actor,
        "payments.subscription_expired",
        Some(&format!("subscription:{}", sub.id)),
        json!({"reason": reason}),
    )
    .await?;
    Ok(())
}

pub(crate) async fn move_period_end(
    db: &mut Db,
    sub: &Subscription,
    end: i64,
    actor: &Actor,
) -> Result<()> {
    if sub.status == "expired" {
        return Ok(());
    }
    set(
        db,
        sub,
        &sub.status,
        end,
        sub.grace_until,
        sub.cancel_at_period_end,
    )
    .await?;
    grant_until(db, sub, end, actor).await?;
    Ok(())
}

/// The fan cancels (ownership checked by [`get_own`]): recorded here, and when the
/// subscription is billed by a processor whose API can cancel, the processor is asked to stop
/// rebilling by a job in the same transaction ([`crate::calls::request_cancel`]).
pub async fn cancel_own(
    db: &mut Db,
    env: &Payments,
    fan_id: i64,
    id: i64,
    actor: &Actor,
) -> Result<Subscription> {
    let sub = get_own(db, fan_id, id).await?;
    if sub.status == "expired" {
        return Err(PaymentsError::Conflict("subscription_expired"));
    }
    if sub.status != "cancelled" {
        mark_cancelled(db, &sub, Some("by the fan"), actor).await?;
        crate::calls::request_cancel(db, env, &sub, actor).await?;
    }
    get(db, id).await
}

/// The fan resumes a cancelled subscription before its period ends. Not once the processor
/// has been asked to cancel it: its rebilling cannot be restarted from here (the fan
/// subscribes again).
pub async fn resume_own(db: &mut Db, fan_id: i64, id: i64, actor: &Actor) -> Result<Subscription> {
    let sub = get_own(db, fan_id, id).await?;
    if sub.status != "cancelled" || sub.processor == "wallet" {
        return Err(PaymentsError::Conflict("not_resumable"));
    }
    if crate::calls::cancel_requested(db, sub.id).await? {
        return Err(PaymentsError::Conflict("not_resumable"));
    }
    reactivate(db, &sub, actor).await?;
    get(db, id).await
}

/// End what is due: cancelled subscriptions whose period is over, past-due ones whose grace
/// is over, wallet ones at period end, and processor ones whose renewal never came within the
/// grace period. Returns how many ended.
pub async fn expire_due(db: &mut Db, env: &Payments, now: i64, actor: &Actor) -> Result<usize> {
    let grace = env.config.grace_days * DAY;
    let sql = format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE \
         (status IN ('active', 'trialing', 'cancelled') AND current_period_end <= $1 \
            AND (cancel_at_period_end = 1 OR processor = 'wallet' OR current_period_end <= $2)) \
         OR (status = 'past_due' AND grace_until <= $1) ORDER BY id LIMIT 500"
    );
    let rows = sqlx::query(&sql)
        .bind(now)
        .bind(now - grace)
        .fetch_all(&mut *db)
        .await?;
    for r in &rows {
        let sub = row(r);
        let reason = match sub.status.as_str() {
            "past_due" => "renewal failed",
            "cancelled" => "cancelled",
            _ if sub.cancel_at_period_end => "cancelled",
            _ => "period ended",
        };
        expire(db, &sub, reason, actor).await?;
    }
    Ok(rows.len())
}

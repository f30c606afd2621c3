//! Calls to processors' server-side APIs: a fan's cancel of a live subscription and finance's
//! refund of a live charge. Each is recorded (`processor_calls`) in the transaction that asks
//! for it and made by the `payments.processor_call` job, so a processor outage never loses
//! one: temporary failures are retried with backoff; a refusal, or the last retry, leaves the
//! call `failed` for finance, who can retry it (`GET /api/v1/payments/processor-calls`).
//!
//! The driver builds the request and reads the answer ([`Processor::api_call`],
//! [`Processor::api_answer`]); the HTTP call itself is made here under the outbound limit
//! ([`Payments::outbound`]), the client's deadline and a 256 KiB answer limit. What the
//! processor did reaches the books through its own notification (CCBill's Cancellation,
//! Segpay's Cancel postback, …), as when finance acts in the processor's console; BTCPay sends
//! none for a refund, so its refund is applied when the API has made it.

use crate::apply::{self, Charge};
use crate::subscriptions::Subscription;
use crate::{Payments, PaymentsError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_processors::{ApiDone, ApiError, ApiOp, Money, OutboundCall, Processor};
use fanz_store::{sqlx, Db, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// The largest processor answer read (256 KiB).
pub const MAX_ANSWER: usize = 256 * 1024;

/// One call to a processor's API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProcessorCall {
    pub id: i64,
    /// `cancel`, `refund` or `confirm` (a query of the processor's records for the charges
    /// waiting for confirmation, `crate::confirm`).
    pub op: String,
    pub processor: String,
    pub cluster: String,
    pub subscription_id: Option<i64>,
    pub charge_id: Option<i64>,
    /// Refunds: minor units.
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
    /// `queued`, `retrying` (the last attempt failed for a reason that may pass), `done`,
    /// `failed` (refused, or out of retries: finance acts) or `unapplied` (a refund the
    /// processor made that could not be applied to the books here: finance settles it).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The processor's id for what it did, when it gives one.
    pub reference: Option<String>,
    /// The processor's answer, in a line.
    pub detail: Option<String>,
    pub requested_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub done_at: Option<i64>,
}

const COLUMNS: &str =
    "id, op, processor, cluster, subscription_id, charge_id, amount, currency, reason, \
    status, attempts, last_error, reference, detail, requested_by, created_at, updated_at, done_at";

fn row(r: &sqlx::any::AnyRow) -> ProcessorCall {
    ProcessorCall {
        id: r.get(0),
        op: r.get(1),
        processor: r.get(2),
        cluster: r.get(3),
        subscription_id: r.get(4),
        charge_id: r.get(5),
        amount: r.get(6),
        currency: r.get(7),
        reason: r.get(8),
        status: r.get(9),
        attempts: r.get(10),
        last_error: r.get(11),
        reference: r.get(12),
        detail: r.get(13),
        requested_by: r.get(14),
        created_at: r.get(15),
        updated_at: r.get(16),
        done_at: r.get(17),
    }
}

/// Make one call to a processor's API (`payments.processor_call`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MakeCall {
    pub id: i64,
}

impl fanz_jobs::Job for MakeCall {
    const KIND: &'static str = "payments.processor_call";
    const MAX_ATTEMPTS: i64 = 8;
}

pub async fn get(db: &mut Db, id: i64) -> Result<ProcessorCall> {
    let sql = format!("SELECT {COLUMNS} FROM processor_calls WHERE id = $1");
    let r = sqlx::query(&sql).bind(id).fetch_optional(&mut *db).await?;
    r.map(|r| row(&r)).ok_or(PaymentsError::NotFound)
}

/// Every status a call can have.
pub const STATUSES: [&str; 5] = ["queued", "retrying", "done", "failed", "unapplied"];

/// Calls, newest first; `status` filters (`failed` are the ones finance must see).
pub async fn list(db: &mut Db, status: Option<&str>, limit: i64) -> Result<Vec<ProcessorCall>> {
    let limit = limit.clamp(1, 500);
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(crate::invalid(
                "status",
                "bad_status",
                format!("one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let rows = match status {
        Some(s) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM processor_calls WHERE status = $1 ORDER BY id DESC LIMIT $2"
            );
            sqlx::query(&sql)
                .bind(s)
                .bind(limit)
                .fetch_all(&mut *db)
                .await?
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM processor_calls ORDER BY id DESC LIMIT $1");
            sqlx::query(&sql).bind(limit).fetch_all(&mut *db).await?
        }
    };
    Ok(rows.iter().map(row).collect())
}

/// Whether a cancel was sent (or is on its way) to the processor for this subscription.
pub async fn cancel_requested(db: &mut Db, subscription_id: i64) -> Result<bool> {
    let r = sqlx::query(
        "SELECT 1 FROM processor_calls WHERE subscription_id = $1 AND op = 'cancel' AND status <> 'failed'",
    )
    .bind(subscription_id)
    .fetch_optional(&mut *db)
    .await?;
    Ok(r.is_some())
}

/// The driver and settings that can do `op` for `processor` on `cluster`, if any.
fn api_of(env: &Payments, cluster: &str, processor: &str, op: &str) -> Option<Box<dyn Processor>> {
    if processor == "sandbox" || processor == "wallet" {
        return None;
    }
    let driver = env.driver(processor)?;
    let able = match op {
        "cancel" => driver.cancels_by_api(),
        _ => driver.refunds_by_api(),
    };
    (able && env.settings(cluster, processor).is_some()).then_some(driver)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    db: &mut Db,
    op: &str,
    processor: &str,
    cluster: &str,
    subscription_id: Option<i64>,
    charge_id: Option<i64>,
    amount: Option<&Money>,
    reason: &str,
    actor: &Actor,
) -> Result<i64> {
    let now = now_micros();
    let id: i64 = sqlx::query(
        "INSERT INTO processor_calls (op, processor, cluster, subscription_id, charge_id, amount, currency, reason, \
         status, requested_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10, $10) RETURNING id",
    )
    .bind(op)
    .bind(processor)
    .bind(cluster)
    .bind(subscription_id)
    .bind(charge_id)
    .bind(amount.map(|m| m.amount))
    .bind(amount.map(|m| m.currency.clone()))
    .bind(reason)
    .bind(actor.user_id)
    .bind(now)
    .fetch_one(&mut *db)
    .await?
    .get(0);
    fanz_jobs::enqueue(db, &MakeCall { id }).await?;
    record(
        db,
        actor,
        "payments.processor_call_requested",
        Some(&format!("processor_call:{id}")),
        json!({"op": op, "processor": processor, "subscription_id": subscription_id,
               "charge_id": charge_id, "amount": amount.map(|m| m.amount), "reason": reason}),
    )
    .await?;
    Ok(id)
}

/// After the fan's cancel is recorded here: ask the processor to stop rebilling, when its
/// driver can. Returns the call's id (`None` for the sandbox, the wallet and processors
/// cancelled only in their console).
pub async fn request_cancel(
    db: &mut Db,
    env: &Payments,
    sub: &Subscription,
    actor: &Actor,
) -> Result<Option<i64>> {
    if api_of(env, &sub.cluster, &sub.processor, "cancel").is_none() {
        return Ok(None);
    }
    let id = insert(
        db,
        "cancel",
        &sub.processor,
        &sub.cluster,
        Some(sub.id),
        None,
        None,
        "by the fan",
        actor,
    )
    .await?;
    Ok(Some(id))
}

/// The cluster a charge was sold on (its checkout's, else its subscription's).
async fn cluster_of(db: &mut Db, charge: &Charge) -> Result<String> {
    let r = sqlx::query(
        "SELECT cluster FROM checkouts WHERE id = $1 \
         UNION ALL SELECT cluster FROM subscriptions WHERE id = $2",
    )
    .bind(charge.checkout_id.unwrap_or(0))
    .bind(charge.subscription_id.unwrap_or(0))
    .fetch_optional(&mut *db)
    .await?;
    Ok(r.map(|r| r.get::<String, _>(0)).unwrap_or_default())
}

/// Finance refunds a live charge: ask the processor, when its driver can
/// ([`Processor::refunds_by_api`]); otherwise `None` (refund in the processor's console).
/// One refund call per charge at a time.
pub async fn request_refund(
    db: &mut Db,
    env: &Payments,
    charge: &Charge,
    amount: Option<i64>,
    reason: &str,
    actor: &Actor,
) -> Result<Option<i64>> {
    let cluster = cluster_of(db, charge).await?;
    let Some(driver) = api_of(env, &cluster, &charge.processor, "refund") else {
        return Ok(None);
    };
    if charge.reversed {
        return Err(PaymentsError::Conflict("already_reversed"));
    }
    let amount = amount.unwrap_or(charge.amount);
    if amount <= 0 || amount > charge.amount {
        return Err(crate::invalid(
            "amount",
            "bad_amount",
            "between 1 and the charge's amount",
        ));
    }
    // A refund the driver cannot ask for (no API credentials here, a part of a transaction
    // Segpay refunds whole) is made in the processor's console.
    let op = ApiOp::Refund {
        transaction: charge.external_id.clone(),
        amount: Money::new(amount, &charge.currency),
        partial: amount < charge.amount,
    };
    let settings = env
        .settings(&cluster, &charge.processor)
        .unwrap_or_default();
    if driver.api_call(&settings, &op).is_err() {
        return Ok(None);
    }
    let pending = sqlx::query(
        "SELECT 1 FROM processor_calls WHERE charge_id = $1 AND op = 'refund' AND status <> 'failed'",
    )
    .bind(charge.id)
    .fetch_optional(&mut *db)
    .await?;
    if pending.is_some() {
        return Err(PaymentsError::Conflict("refund_already_requested"));
    }
    let id = insert(
        db,
        "refund",
        &charge.processor,
        &cluster,
        charge.subscription_id,
        Some(charge.id),
        Some(&Money::new(amount, &charge.currency)),
        reason,
        actor,
    )
    .await?;
    Ok(Some(id))
}

/// Finance asks again for a failed call (audited).
pub async fn retry(db: &mut Db, id: i64, actor: &Actor) -> Result<ProcessorCall> {
    let call = get(db, id).await?;
    if call.status != "failed" {
        return Err(PaymentsError::Conflict("not_failed"));
    }
    sqlx::query("UPDATE processor_calls SET status = 'queued', updated_at = $1 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    fanz_jobs::enqueue(db, &MakeCall { id }).await?;
    record(
        db,
        actor,
        "payments.processor_call_retried",
        Some(&format!("processor_call:{id}")),
        json!({"op": call.op, "processor": call.processor, "last_error": call.last_error}),
    )
    .await?;
    get(db, id).await
}

/// The operation a stored call asks for.
async fn op_of(db: &mut Db, call: &ProcessorCall) -> Result<ApiOp> {
    match call.op.as_str() {
        "cancel" => {
            let sub = crate::subscriptions::get(db, call.subscription_id.unwrap_or(0)).await?;
            Ok(ApiOp::Cancel {
                subscription: sub.external_id,
            })
        }
        _ => {
            let charge = apply::get_charge(db, call.charge_id.unwrap_or(0)).await?;
            let amount = call.amount.unwrap_or(charge.amount);
            Ok(ApiOp::Refund {
                transaction: charge.external_id.clone(),
                amount: Money::new(amount, &charge.currency),
                partial: amount < charge.amount,
            })
        }
    }
}

/// Make the HTTP call under the outbound limit, the client's deadline and [`MAX_ANSWER`]:
/// the status and the answer's text, or why there is none (a temporary failure).
pub async fn send(env: &Payments, call: OutboundCall) -> Result<(u16, String), ApiError> {
    send_limited(env, call, MAX_ANSWER).await
}

/// [`send`] with another answer limit (a confirmation query's extract lists every transaction
/// of its window).
pub async fn send_limited(
    env: &Payments,
    call: OutboundCall,
    limit: usize,
) -> Result<(u16, String), ApiError> {
    let _permit = env
        .outbound
        .acquire()
        .await
        .map_err(|_| ApiError::Temporary("shutting down".into()))?;
    transfer(env, call, limit).await
}

/// [`send`] for a caller who cannot wait (a fan at checkout): a full outbound limit is a
/// temporary failure at once rather than a queue.
pub async fn send_now(env: &Payments, call: OutboundCall) -> Result<(u16, String), ApiError> {
    let _permit = env
        .outbound
        .try_acquire()
        .map_err(|_| ApiError::Temporary("too many calls to processors in flight".into()))?;
    transfer(env, call, MAX_ANSWER).await
}

/// The HTTP exchange itself, once a permit is held.
async fn transfer(
    env: &Payments,
    call: OutboundCall,
    limit: usize,
) -> Result<(u16, String), ApiError> {
    let method = reqwest::Method::from_bytes(call.method.as_bytes())
        .map_err(|e| ApiError::Refused(e.to_string()))?;
    let mut req = env.http.request(method, &call.url);
    if !call.body.is_empty() {
        req = req.body(call.body);
    }
    for (k, v) in call.headers {
        req = req.header(k, v);
    }
    let mut res = req
        .send()
        .await
        .map_err(|e| ApiError::Temporary(format!("unreachable: {}", without_url(&e))))?;
    let status = res.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| ApiError::Temporary(format!("reading the answer: {}", without_url(&e))))?
    {
        if body.len() + chunk.len() > limit {
            return Err(ApiError::Temporary(format!(
                "the answer is over {} KiB",
                limit / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A transport error without its URL (which may carry credentials in the query string).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<url>");
    }
    s
}

/// The job: make call `id` once. `Err` (retry) only for a temporary failure before the last
/// attempt; everything else ends with the call `done` or `failed`.
pub async fn run(
    store: &Store,
    env: &Payments,
    id: i64,
    attempt: i64,
    max_attempts: i64,
) -> Result<Result<(), String>> {
    let mut db = store.conn().await?;
    let call = get(&mut db, id).await?;
    if call.status == "done" || call.status == "failed" {
        return Ok(Ok(()));
    }
    let mut verdicts = Vec::new();
    let outcome = if call.op == "confirm" {
        let (q, ids) = crate::confirm::query_of(&mut db, &call).await?;
        drop(db);
        crate::confirm::ask(env, &call, &q).await.map(|v| {
            let done = ApiDone {
                reference: None,
                detail: crate::confirm::summary(&v),
            };
            verdicts = ids.into_iter().zip(v).collect();
            done
        })
    } else {
        let op = op_of(&mut db, &call).await?;
        drop(db);
        match (
            env.driver(&call.processor),
            env.settings(&call.cluster, &call.processor),
        ) {
            (Some(driver), Some(settings)) => match driver.api_call(&settings, &op) {
                Ok(req) => match send(env, req).await {
                    Ok((status, body)) => driver.api_answer(&op, status, &body),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            _ => Err(ApiError::NotConfigured("the processor is not configured")),
        }
    };
    let now = now_micros();
    let mut tx = store.begin().await?;
    let actor = Actor::system();
    let result = match outcome {
        Ok(done) => {
            sqlx::query(
                "UPDATE processor_calls SET status = 'done', attempts = attempts + 1, reference = $1, detail = $2, \
                 last_error = NULL, updated_at = $3, done_at = $3 WHERE id = $4",
            )
            .bind(&done.reference)
            .bind(&done.detail)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            record(
                &mut tx,
                &actor,
                "payments.processor_call_done",
                Some(&format!("processor_call:{id}")),
                json!({"op": call.op, "processor": call.processor, "reference": done.reference,
                       "detail": done.detail}),
            )
            .await?;
            crate::confirm::apply_verdicts(&mut tx, env, &verdicts).await?;
            tx.commit().await?;
            let notified = env
                .driver(&call.processor)
                .is_none_or(|d| d.refund_notified());
            if call.op == "refund" && !notified {
                apply_refund(store, env, &call, done.reference.as_deref()).await?;
            }
            return Ok(Ok(()));
        }
        Err(e) if e.retryable() && attempt < max_attempts => {
            sqlx::query(
                "UPDATE processor_calls SET status = 'retrying', attempts = attempts + 1, last_error = $1, \
                 updated_at = $2 WHERE id = $3",
            )
            .bind(e.to_string())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Err(e.to_string())
        }
        Err(e) => {
            sqlx::query(
                "UPDATE processor_calls SET status = 'failed', attempts = attempts + 1, last_error = $1, \
                 updated_at = $2 WHERE id = $3",
            )
            .bind(e.to_string())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            record(
                &mut tx,
                &actor,
                "payments.processor_call_failed",
                Some(&format!("processor_call:{id}")),
                json!({"op": call.op, "processor": call.processor, "error": e.to_string(),
                       "attempts": attempt}),
            )
            .await?;
            tracing::warn!(call = id, processor = %call.processor, op = %call.op, error = %e,
                "a processor call failed; finance must act");
            Ok(())
        }
    };
    tx.commit().await?;
    Ok(result)
}

/// A refund the processor made but will not notify: reverse the charge now, once (the
/// reversal's ledger key is the processor's reference). The call is already `done`, so a
/// failure here never asks the processor again: the call becomes `unapplied` with the reason,
/// for finance to settle by hand.
async fn apply_refund(
    store: &Store,
    env: &Payments,
    call: &ProcessorCall,
    reference: Option<&str>,
) -> Result<()> {
    let external = match reference {
        Some(r) => format!("refund:{r}"),
        None => format!("refund_call:{}", call.id),
    };
    let mut tx = store.begin().await?;
    let charge = apply::get_charge(&mut tx, call.charge_id.unwrap_or(0)).await?;
    if charge.reversed {
        return Ok(());
    }
    let applied = apply::reverse_charge(
        &mut tx,
        env,
        &charge,
        "refund",
        call.amount,
        None,
        &external,
        call.reason.as_deref(),
        &Actor::system(),
    )
    .await;
    match applied {
        Ok(()) => {
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            drop(tx);
            let mut db = store.begin().await?;
            sqlx::query(
                "UPDATE processor_calls SET status = 'unapplied', last_error = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(format!("refunded at the processor, not applied here: {e}"))
            .bind(now_micros())
            .bind(call.id)
            .execute(&mut *db)
            .await?;
            record(
                &mut db,
                &Actor::system(),
                "payments.processor_call_unapplied",
                Some(&format!("processor_call:{}", call.id)),
                json!({"error": e.to_string()}),
            )
            .await?;
            db.commit().await?;
            Ok(())
        }
    }
}

//! Charges confirmed from the processor's own records before their money can be paid out.
//!
//! CCBill, Segpay and Epoch sign nothing: their notifications are trusted by source address
//! and account only (research §2.10). A charge applied from one of them is recorded here as
//! unconfirmed, and the creator's share of it (`held`, what the sale credited to their
//! payable account) is left out of what [`crate::payouts::available`] lets them be paid.
//! The `payments.confirm` sweep asks the processor's server-side records
//! ([`Processor::confirm_call`]: CCBill's Data Link extract, Segpay's SRS purchase lookup,
//! Epoch's member search) through a `processor_calls` row and the `payments.processor_call`
//! job, one call per account covering its waiting charges (one request for CCBill's extract,
//! one per subscription for Segpay and Epoch: [`ask`], the step every processor shares), at
//! most once per `confirm_interval_secs`. A charge the processor reports with another amount,
//! currency or status is `denied`; one it never reports within `confirm_attempts` answers or
//! `confirm_days` is `overdue`; one its answer cannot settle, and every charge of a processor
//! without a query configured, is `manual`. None of these is ever released automatically:
//! finance confirms by hand
//! ([`confirm_by_hand`], audited) or refunds. Signed processors (Verotel, BTCPay, the
//! sandbox) and the wallet are confirmed at once (no row).

use crate::calls::ProcessorCall;
use crate::{Payments, PaymentsError, Result};
use fanz_audit::{record as audit, Actor};
use fanz_core::clock::{now_micros, DAY, SECOND};
use fanz_ledger::{Direction, PostingView};
use fanz_processors::{ApiError, ConfirmBy, ConfirmQuery, Money, Processor, ToConfirm, Verdict};
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// Statuses whose `held` amount is not available for payout.
pub const WAITING: [&str; 4] = ["pending", "manual", "denied", "overdue"];

/// The most charges one query asks about: a whole extract (CCBill) covers this many.
const PER_QUERY: i64 = 500;

/// The most charges one confirm call asks about when the processor is asked per
/// subscription (Segpay, Epoch: one lookup each).
const PER_LOOKUP_QUERY: i64 = 50;

/// Lookups of one confirm call in flight at once (each also under the outbound limit).
const LOOKUPS_AT_ONCE: usize = 4;

/// The largest answer to a confirmation query read (16 MiB): CCBill's extract lists every
/// transaction of the account in the query's window, about 150 bytes each.
pub const MAX_EXTRACT: usize = 16 * 1024 * 1024;

/// A charge waiting for (or past) its confirmation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Confirmation {
    pub charge_id: i64,
    pub processor: String,
    pub cluster: String,
    pub creator_id: Option<i64>,
    /// The charge, minor units.
    pub amount: i64,
    pub currency: String,
    /// The creator's share of it that is not available for payout while it waits.
    pub held: i64,
    /// `pending` (the processor will be asked), `manual` (no query configured: finance
    /// confirms), `denied` (the processor's records disagree), `overdue` (never reported in
    /// time), `confirmed`, or `reversed` (refunded or charged back before it was confirmed).
    pub status: String,
    /// Why it waits, or what decided it.
    pub reason: Option<String>,
    /// Answers from the processor that did not list it yet.
    pub queries: i64,
    pub charged_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<i64>,
}

const COLUMNS: &str = "charge_id, processor, cluster, creator_id, amount, currency, held, status, \
    reason, queries, charged_at, decided_at, decided_by";

fn row(r: &sqlx::any::AnyRow) -> Confirmation {
    Confirmation {
        charge_id: r.get(0),
        processor: r.get(1),
        cluster: r.get(2),
        creator_id: r.get(3),
        amount: r.get(4),
        currency: r.get(5),
        held: r.get(6),
        status: r.get(7),
        reason: r.get(8),
        queries: r.get(9),
        charged_at: r.get(10),
        decided_at: r.get(11),
        decided_by: r.get(12),
    }
}

/// Whether charges of `processor` on `cluster` wait for a confirmation: never for signed
/// processors and the wallet; otherwise as `confirm` says in its settings (default on).
pub fn needed(env: &Payments, cluster: &str, processor: &str) -> bool {
    if processor == "wallet" {
        return false;
    }
    let Some(driver) = env.driver(processor) else {
        return false;
    };
    if driver.signed() {
        return false;
    }
    env.settings(cluster, processor)
        .and_then(|s| s.confirm)
        .unwrap_or(true)
}

/// What an entry credited, net, to `account`.
fn net_credit(postings: &[PostingView], account: &str) -> i64 {
    postings
        .iter()
        .filter(|p| p.account == account && !p.pending)
        .map(|p| match p.direction {
            Direction::Credit => p.amount,
            Direction::Debit => -p.amount,
        })
        .sum()
}

/// A charge as the processor knows it, for [`record`].
pub struct NewCharge<'a> {
    pub charge_id: i64,
    pub processor: &'a str,
    pub cluster: &'a str,
    pub creator_id: Option<i64>,
    pub amount: i64,
    pub currency: &'a str,
    pub transaction: &'a str,
    pub subscription: Option<&'a str>,
    pub renewal: bool,
    /// The charge's ledger entry's postings.
    pub postings: &'a [PostingView],
}

/// In the transaction that posts the charge: record it as unconfirmed when its processor
/// needs a confirmation. `pending` when the processor can be asked, else `manual` with why.
pub async fn record(db: &mut Db, env: &Payments, c: &NewCharge<'_>, actor: &Actor) -> Result<()> {
    if !needed(env, c.cluster, c.processor) {
        return Ok(());
    }
    let held = match c.creator_id {
        Some(creator) => net_credit(
            c.postings,
            &format!("creator_payable:{creator}:{}", c.currency),
        )
        .max(0),
        None => 0,
    };
    let now = now_micros();
    let (status, reason) = match (
        env.driver(c.processor),
        env.settings(c.cluster, c.processor),
    ) {
        (Some(d), Some(s)) => match d.confirms(&s) {
            Ok(_) => ("pending", None),
            Err(ApiError::Unsupported(_)) => (
                "manual",
                Some(format!(
                    "{} has no server-side query here: confirm in its console, then here",
                    d.label()
                )),
            ),
            Err(e) => ("manual", Some(e.to_string())),
        },
        _ => ("manual", Some("the processor is not configured".into())),
    };
    sqlx::query(
        "INSERT INTO charge_confirmations (charge_id, processor, cluster, creator_id, currency, amount, held, \
         transaction_ref, subscription_ref, renewal, charged_at, status, reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $11, $11)",
    )
    .bind(c.charge_id)
    .bind(c.processor)
    .bind(c.cluster)
    .bind(c.creator_id)
    .bind(c.currency)
    .bind(c.amount)
    .bind(held)
    .bind(c.transaction)
    .bind(c.subscription)
    .bind(c.renewal as i64)
    .bind(now)
    .bind(status)
    .bind(&reason)
    .execute(&mut *db)
    .await?;
    audit(
        db,
        actor,
        "payments.charge_unconfirmed",
        Some(&format!("charge:{}", c.charge_id)),
        json!({"processor": c.processor, "held": held, "status": status, "reason": reason}),
    )
    .await?;
    Ok(())
}

pub async fn get(db: &mut Db, charge_id: i64) -> Result<Option<Confirmation>> {
    let sql = format!("SELECT {COLUMNS} FROM charge_confirmations WHERE charge_id = $1");
    let r = sqlx::query(&sql)
        .bind(charge_id)
        .fetch_optional(&mut *db)
        .await?;
    Ok(r.map(|r| row(&r)))
}

fn waiting_list() -> String {
    WAITING
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The creator's share of their unconfirmed charges in `currency`: not available for payout.
pub async fn held(db: &mut Db, creator_id: i64, currency: &str) -> Result<i64> {
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(held), 0) AS BIGINT) FROM charge_confirmations \
         WHERE creator_id = $1 AND currency = $2 AND status IN ({})",
        waiting_list()
    );
    let r = sqlx::query(&sql)
        .bind(creator_id)
        .bind(currency)
        .fetch_one(&mut *db)
        .await?;
    Ok(r.get::<i64, _>(0))
}

/// A creator's charges awaiting confirmation, newest first.
pub async fn of_creator(db: &mut Db, creator_id: i64, currency: &str) -> Result<Vec<Confirmation>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM charge_confirmations WHERE creator_id = $1 AND currency = $2 \
         AND status IN ({}) ORDER BY charge_id DESC LIMIT 200",
        waiting_list()
    );
    let rows = sqlx::query(&sql)
        .bind(creator_id)
        .bind(currency)
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.iter().map(row).collect())
}

/// Every status a confirmation can have.
pub const STATUSES: [&str; 6] = [
    "pending",
    "manual",
    "denied",
    "overdue",
    "confirmed",
    "reversed",
];

/// For finance: confirmations with `status`, or every one still waiting, newest first.
pub async fn list(db: &mut Db, status: Option<&str>, limit: i64) -> Result<Vec<Confirmation>> {
    let limit = limit.clamp(1, 500);
    let filter = match status {
        Some(s) if STATUSES.contains(&s) => format!("'{s}'"),
        Some(_) => {
            return Err(crate::invalid(
                "status",
                "bad_status",
                format!("one of {}", STATUSES.join(", ")),
            ))
        }
        None => waiting_list(),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM charge_confirmations WHERE status IN ({filter}) \
         ORDER BY charge_id DESC LIMIT $1"
    );
    let rows = sqlx::query(&sql).bind(limit).fetch_all(&mut *db).await?;
    Ok(rows.iter().map(row).collect())
}

/// In the transaction that reverses `amount` of the charge: an unconfirmed charge reversed in
/// full holds nothing any more (the reversal took the creator's share back); one reversed in
/// part keeps waiting, holding the share of what is left (rounded up), so a forged partial
/// refund cannot release the rest of a forged sale.
pub async fn reversed(db: &mut Db, charge_id: i64, amount: i64, charge_amount: i64) -> Result<()> {
    let now = now_micros();
    let sql = if amount >= charge_amount {
        format!(
            "UPDATE charge_confirmations SET status = 'reversed', updated_at = $1, decided_at = $1 \
             WHERE charge_id = $2 AND status IN ({})",
            waiting_list()
        )
    } else {
        let left = charge_amount - amount;
        format!(
            "UPDATE charge_confirmations SET held = (held * {left} + {charge_amount} - 1) / {charge_amount}, \
             updated_at = $1 WHERE charge_id = $2 AND status IN ({})",
            waiting_list()
        )
    };
    sqlx::query(&sql)
        .bind(now)
        .bind(charge_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Finance confirms a waiting charge by hand (after checking it in the processor's console),
/// with the reason; audited.
pub async fn confirm_by_hand(
    db: &mut Db,
    charge_id: i64,
    reason: &str,
    actor: &Actor,
) -> Result<Confirmation> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(crate::invalid(
            "reason",
            "reason_required",
            "give a reason (up to 500 characters)",
        ));
    }
    crate::apply::get_charge(db, charge_id).await?;
    let Some(c) = get(db, charge_id).await? else {
        return Err(PaymentsError::Conflict("not_awaiting_confirmation"));
    };
    if !WAITING.contains(&c.status.as_str()) {
        return Err(PaymentsError::Conflict("not_awaiting_confirmation"));
    }
    let now = now_micros();
    sqlx::query(
        "UPDATE charge_confirmations SET status = 'confirmed', reason = $1, decided_by = $2, \
         decided_at = $3, updated_at = $3 WHERE charge_id = $4",
    )
    .bind(format!("confirmed by finance: {reason}"))
    .bind(actor.user_id)
    .bind(now)
    .bind(charge_id)
    .execute(&mut *db)
    .await?;
    audit(
        db,
        actor,
        "payments.charge_confirmed_by_hand",
        Some(&format!("charge:{charge_id}")),
        json!({"was": c.status, "held": c.held, "reason": reason, "processor": c.processor}),
    )
    .await?;
    Ok(get(db, charge_id).await?.expect("just updated"))
}

/// Pending charges past `confirm_attempts` answers or `confirm_days` become `overdue`
/// (audited each), for finance.
async fn mark_overdue(db: &mut Db, env: &Payments, now: i64) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT charge_id, queries FROM charge_confirmations WHERE status = 'pending' \
         AND (queries >= $1 OR charged_at < $2) ORDER BY charge_id LIMIT 1000",
    )
    .bind(env.config.confirm_attempts)
    .bind(now - env.config.confirm_days * DAY)
    .fetch_all(&mut *db)
    .await?;
    for r in &rows {
        let (id, queries): (i64, i64) = (r.get(0), r.get(1));
        let reason = format!(
            "not reported by the processor after {queries} queries or {} days",
            env.config.confirm_days
        );
        sqlx::query(
            "UPDATE charge_confirmations SET status = 'overdue', reason = $1, updated_at = $2 WHERE charge_id = $3",
        )
        .bind(&reason)
        .bind(now)
        .bind(id)
        .execute(&mut *db)
        .await?;
        audit(
            db,
            &Actor::system(),
            "payments.charge_overdue",
            Some(&format!("charge:{id}")),
            json!({"reason": reason}),
        )
        .await?;
        tracing::warn!(
            charge = id,
            "an unconfirmed charge is overdue; finance must act"
        );
    }
    Ok(rows.len())
}

/// The sweep (`payments.confirm`): mark overdue charges, then for each processor account
/// with pending charges not being asked about, and not asked within
/// `confirm_interval_secs`, record the query calls covering them (made by the
/// `payments.processor_call` job): one for an extract, one per [`PER_LOOKUP_QUERY`] charges
/// (up to [`PER_QUERY`] in all) for a processor asked per subscription. Returns how many
/// calls were made.
pub async fn sweep(db: &mut Db, env: &Payments, now: i64) -> Result<usize> {
    mark_overdue(db, env, now).await?;
    let groups = sqlx::query(
        "SELECT DISTINCT processor, cluster FROM charge_confirmations c WHERE status = 'pending' \
         AND (call_id IS NULL OR NOT EXISTS (SELECT 1 FROM processor_calls p WHERE p.id = c.call_id \
         AND p.status IN ('queued', 'retrying')))",
    )
    .fetch_all(&mut *db)
    .await?;
    let mut made = 0;
    for g in &groups {
        let (processor, cluster): (String, String) = (g.get(0), g.get(1));
        let last = sqlx::query(
            "SELECT MAX(created_at) FROM processor_calls WHERE op = 'confirm' AND processor = $1 AND cluster = $2",
        )
        .bind(&processor)
        .bind(&cluster)
        .fetch_one(&mut *db)
        .await?
        .get::<Option<i64>, _>(0);
        if last.is_some_and(|t| t > now - env.config.confirm_interval_secs * SECOND) {
            continue;
        }
        // One call for an extract; for lookups, as many calls as the waiting charges need,
        // up to [`PER_QUERY`] charges in all.
        let per = per_call(env, &processor);
        let waiting: i64 = sqlx::query(
            "SELECT COUNT(*) FROM charge_confirmations c WHERE status = 'pending' AND processor = $1 \
             AND cluster = $2 AND (call_id IS NULL OR NOT EXISTS (SELECT 1 FROM processor_calls p \
             WHERE p.id = c.call_id AND p.status IN ('queued', 'retrying')))",
        )
        .bind(&processor)
        .bind(&cluster)
        .fetch_one(&mut *db)
        .await?
        .get(0);
        let calls = ((waiting + per - 1) / per).clamp(1, (PER_QUERY / per).max(1));
        for _ in 0..calls {
            let id = crate::calls::insert(
                db,
                "confirm",
                &processor,
                &cluster,
                None,
                None,
                None,
                "confirm charges from the processor's records",
                &Actor::system(),
            )
            .await?;
            sqlx::query(
                "UPDATE charge_confirmations SET call_id = $1 WHERE charge_id IN (SELECT charge_id FROM charge_confirmations c \
                 WHERE status = 'pending' AND processor = $2 AND cluster = $3 AND (call_id IS NULL OR NOT EXISTS \
                 (SELECT 1 FROM processor_calls p WHERE p.id = c.call_id AND p.status IN ('queued', 'retrying'))) \
                 ORDER BY charge_id LIMIT $4)",
            )
            .bind(id)
            .bind(&processor)
            .bind(&cluster)
            .bind(per)
            .execute(&mut *db)
            .await?;
            made += 1;
        }
    }
    Ok(made)
}

/// How many waiting charges one confirm call of `processor` covers.
fn per_call(env: &Payments, processor: &str) -> i64 {
    match env.driver(processor).map(|d| d.confirm_by()) {
        Some(ConfirmBy::Subscription) => PER_LOOKUP_QUERY,
        _ => PER_QUERY,
    }
}

/// The query a confirm call makes: its pending charges (ids, and what to ask).
pub async fn query_of(db: &mut Db, call: &ProcessorCall) -> Result<(ConfirmQuery, Vec<i64>)> {
    let rows = sqlx::query(
        "SELECT charge_id, transaction_ref, subscription_ref, renewal, amount, currency, charged_at \
         FROM charge_confirmations WHERE call_id = $1 AND status = 'pending' ORDER BY charge_id",
    )
    .bind(call.id)
    .fetch_all(&mut *db)
    .await?;
    let mut q = ConfirmQuery {
        from: i64::MAX,
        to: i64::MIN,
        charges: Vec::with_capacity(rows.len()),
    };
    let mut ids = Vec::with_capacity(rows.len());
    for r in &rows {
        let at: i64 = r.get(6);
        q.from = q.from.min(at);
        q.to = q.to.max(at);
        ids.push(r.get::<i64, _>(0));
        q.charges.push(ToConfirm {
            transaction: r.get(1),
            subscription: r.get(2),
            renewal: r.get::<i64, _>(3) != 0,
            amount: Money::new(r.get(4), &r.get::<String, _>(5)),
        });
    }
    Ok((q, ids))
}

/// A line for finance: what the answer said.
pub fn summary(verdicts: &[Verdict]) -> String {
    let count = |kind: &str| verdicts.iter().filter(|v| v.parts().0 == kind).count();
    format!(
        "{} confirmed, {} denied, {} not reported yet, {} for finance to check",
        count("confirmed"),
        count("denied"),
        count("not_reported"),
        count("unverifiable"),
    )
}

/// Apply the processor's answer, in the transaction that marks the call done.
pub async fn apply_verdicts(
    db: &mut Db,
    env: &Payments,
    verdicts: &[(i64, Verdict)],
) -> Result<()> {
    let now = now_micros();
    let actor = Actor::system();
    for (id, v) in verdicts {
        // Decided (confirmed, denied) or left to finance (manual): the status, its audit
        // action, and whether it is a decision.
        let (status, action, decided) = match v {
            Verdict::Confirmed(_) => ("confirmed", "payments.charge_confirmed", true),
            Verdict::Denied(_) => ("denied", "payments.charge_denied", true),
            Verdict::Unverifiable(_) => ("manual", "payments.charge_unverifiable", false),
            Verdict::NotFound => ("pending", "", false),
        };
        let detail = v.parts().1;
        match v {
            Verdict::Confirmed(_) | Verdict::Denied(_) | Verdict::Unverifiable(_) => {
                sqlx::query(
                    "UPDATE charge_confirmations SET status = $1, reason = $2, decided_at = $3, \
                     updated_at = $4, queries = queries + 1 WHERE charge_id = $5 AND status = 'pending'",
                )
                .bind(status)
                .bind(detail)
                .bind(decided.then_some(now))
                .bind(now)
                .bind(id)
                .execute(&mut *db)
                .await?;
                audit(
                    db,
                    &actor,
                    action,
                    Some(&format!("charge:{id}")),
                    json!({"detail": detail}),
                )
                .await?;
                if status == "denied" {
                    tracing::warn!(charge = id, detail = %detail,
                        "the processor's records deny a charge; finance must act");
                }
            }
            Verdict::NotFound => {
                sqlx::query(
                    "UPDATE charge_confirmations SET queries = queries + 1, call_id = NULL, updated_at = $1 \
                     WHERE charge_id = $2 AND status = 'pending'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *db)
                .await?;
            }
        }
    }
    mark_overdue(db, env, now).await?;
    Ok(())
}

/// Ask the processor about the charges of `q`: its verdicts, in order. The one step every
/// processor's confirmation goes through: the driver builds each request and reads each
/// answer ([`Processor::confirm_call`], [`Processor::confirm_answer`]); the calls are made
/// here under the outbound limit, the client's deadline and an answer limit. A processor that
/// answers one extract for the account ([`ConfirmBy::Extract`]) is asked once (answers up to
/// [`MAX_EXTRACT`]); one asked per subscription ([`ConfirmBy::Subscription`]) once per
/// subscription, [`LOOKUPS_AT_ONCE`] at a time (answers up to [`crate::calls::MAX_ANSWER`]).
/// A temporary failure of any lookup fails the call (it is retried); lookups the processor
/// refuses leave their charges for finance, unless it refuses them all (the credentials).
pub async fn ask(
    env: &Payments,
    call: &ProcessorCall,
    q: &ConfirmQuery,
) -> Result<Vec<Verdict>, ApiError> {
    if q.charges.is_empty() {
        return Ok(Vec::new());
    }
    let (Some(driver), Some(settings)) = (
        env.driver(&call.processor),
        env.settings(&call.cluster, &call.processor),
    ) else {
        return Err(ApiError::NotConfigured("the processor is not configured"));
    };
    if driver.confirm_by() == ConfirmBy::Extract {
        return lookup(env, &*driver, &settings, q, MAX_EXTRACT).await;
    }
    let mut verdicts: Vec<Option<Verdict>> = vec![None; q.charges.len()];
    let mut groups: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, c) in q.charges.iter().enumerate() {
        match c.subscription.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => groups.entry(sub.to_owned()).or_default().push(i),
            None => {
                verdicts[i] = Some(Verdict::Unverifiable(format!(
                    "{} is asked by subscription and this charge names none",
                    driver.label()
                )))
            }
        }
    }
    let lookups = groups.len();
    let at_once = std::sync::Arc::new(tokio::sync::Semaphore::new(LOOKUPS_AT_ONCE));
    let mut set = tokio::task::JoinSet::new();
    for (_, idx) in groups {
        let sub = ConfirmQuery {
            from: q.from,
            to: q.to,
            charges: idx.iter().map(|&i| q.charges[i].clone()).collect(),
        };
        let (env, settings, name) = (env.clone(), settings.clone(), call.processor.clone());
        let at_once = at_once.clone();
        set.spawn(async move {
            let _turn = at_once.acquire_owned().await;
            let result = match env.driver(&name) {
                Some(d) => lookup(&env, &*d, &settings, &sub, crate::calls::MAX_ANSWER).await,
                None => Err(ApiError::NotConfigured("the processor is not configured")),
            };
            (idx, result)
        });
    }
    let (mut temporary, mut refused) = (None, Vec::new());
    while let Some(done) = set.join_next().await {
        let (idx, result) =
            done.map_err(|e| ApiError::Temporary(format!("a lookup failed: {e}")))?;
        match result {
            Ok(v) => {
                for (i, v) in idx.into_iter().zip(v) {
                    verdicts[i] = Some(v);
                }
            }
            Err(e) if e.retryable() => temporary = Some(e),
            Err(e) => refused.push((idx, e)),
        }
    }
    if let Some(e) = temporary {
        return Err(e);
    }
    if lookups > 0 && refused.len() == lookups {
        return Err(refused.swap_remove(0).1);
    }
    for (idx, e) in refused {
        for i in idx {
            verdicts[i] = Some(Verdict::Unverifiable(format!(
                "{} refused the lookup: {e}",
                driver.label()
            )));
        }
    }
    Ok(verdicts
        .into_iter()
        .map(|v| v.unwrap_or(Verdict::NotFound))
        .collect())
}

/// One query of the processor's records: its verdicts for the charges of `q`, in order.
async fn lookup(
    env: &Payments,
    driver: &dyn Processor,
    settings: &fanz_processors::Settings,
    q: &ConfirmQuery,
    limit: usize,
) -> Result<Vec<Verdict>, ApiError> {
    let req = driver.confirm_call(settings, q)?;
    let (status, body) = crate::calls::send_limited(env, req, limit).await?;
    let verdicts = driver.confirm_answer(q, status, &body)?;
    if verdicts.len() != q.charges.len() {
        return Err(ApiError::Refused(
            "the driver's answer does not cover every charge".into(),
        ));
    }
    Ok(verdicts)
}

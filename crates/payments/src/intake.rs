//! Notification intake. A notification is stored raw (body, headers, source address) before
//! anything else; then verified against the processor's settings, parsed into canonical
//! events and applied. Each event is applied once, keyed by processor, the processor's id and
//! the event type, however often and in whatever order it arrives. One that fails
//! verification posts nothing. One that cannot be applied yet (its sale has not arrived) is
//! retried by a job, and after its retries is a dead letter finance can re-drive.
//!
//! **Group commit.** Notifications arriving together are stored and applied in one
//! transaction ([`receive`]): all are inserted raw first (one statement), then applied
//! together: their events claimed in one statement, applied in order, their statuses set in
//! one statement and their audit events written in one. When one of them fails, that
//! transaction is rolled back and the group runs again with a savepoint per notification, so
//! the failure rolls back alone and is kept, marked for retry, while the others go on. Nothing
//! is answered until that transaction is durable; if it fails, every notification in it is
//! answered as failed and the processors send them again. A burst thus pays for one commit
//! (one fsync, one pass of the platform accounts' locks) instead of two per notification.

use crate::{apply, Payments, PaymentsError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::{now_micros, SECOND};
use fanz_processors::{Event, EventKind, Inbound, Outcome};
use fanz_store::bulk::Rows;
use fanz_store::{sqlx, Db, Store};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use std::collections::HashSet;

/// The largest notification body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Headers never stored (credentials of whoever relays the notification).
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// A stored notification, as finance sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: i64,
    pub processor: String,
    pub cluster: Option<String>,
    pub received_at: i64,
    pub source_ip: Option<String>,
    pub method: String,
    pub query: String,
    /// `[name, value]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: serde_json::Value,
    /// The raw body (base64 when it was not UTF-8, see `body_base64`).
    pub body: String,
    pub body_base64: bool,
    /// `received`, `applied`, `rejected`, `retrying`, `dead`.
    pub status: String,
    pub error: Option<String>,
    /// The canonical events it carried.
    #[schema(value_type = Option<Vec<Object>>)]
    pub events: Option<serde_json::Value>,
    pub attempts: i64,
    pub applied_at: Option<i64>,
}

const COLUMNS: &str =
    "id, processor, cluster, received_at, source_ip, method, query, headers, body, body_base64, \
    status, error, events, attempts, applied_at";

fn row(r: &sqlx::any::AnyRow) -> Notification {
    Notification {
        id: r.get(0),
        processor: r.get(1),
        cluster: r.get(2),
        received_at: r.get(3),
        source_ip: r.get(4),
        method: r.get(5),
        query: r.get(6),
        headers: serde_json::from_str(&r.get::<String, _>(7)).unwrap_or(json!([])),
        body: r.get(8),
        body_base64: r.get::<i64, _>(9) != 0,
        status: r.get(10),
        error: r.get(11),
        events: r
            .get::<Option<String>, _>(12)
            .and_then(|e| serde_json::from_str(&e).ok()),
        attempts: r.get(13),
        applied_at: r.get(14),
    }
}

impl Notification {
    fn inbound(&self) -> Inbound {
        let body = if self.body_base64 {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &self.body)
                .unwrap_or_default()
        } else {
            self.body.clone().into_bytes()
        };
        let headers = self
            .headers
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        Some((
                            p.get(0)?.as_str()?.to_owned(),
                            p.get(1)?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Inbound {
            method: self.method.clone(),
            query: self.query.clone(),
            headers,
            body,
            source_ip: self.source_ip.as_deref().and_then(|s| s.parse().ok()),
        }
    }
}

pub async fn get(db: &mut Db, id: i64) -> Result<Notification> {
    let sql = format!("SELECT {COLUMNS} FROM payment_notifications WHERE id = $1");
    let r = sqlx::query(&sql).bind(id).fetch_optional(&mut *db).await?;
    r.map(|r| row(&r)).ok_or(PaymentsError::NotFound)
}

/// Notifications newest first, optionally of one status (`dead` for the dead letters).
pub async fn list(
    db: &mut Db,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Notification>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payment_notifications WHERE ($1 = '' OR status = $1) AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(status.unwrap_or(""))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 200))
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.iter().map(row).collect())
}

/// Notifications waiting for the next group commit, and the turn to run one.
#[derive(Default)]
pub struct Group {
    waiting: std::sync::Mutex<Vec<Pending>>,
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    seq: std::sync::atomic::AtomicU64,
}

struct Pending {
    seq: u64,
    processor: String,
    n: Inbound,
    reply: tokio::sync::oneshot::Sender<(Option<i64>, Outcome)>,
}

/// Take in one notification for `processor`: store, verify, parse, apply. Returns the stored
/// id (none when it could not be stored) and the outcome the processor's answer is built from.
///
/// It joins the notifications waiting for the next group commit. Whoever gets the turn takes
/// every waiting notification (up to `intake_group_max`; with a maximum of 1 each notification
/// is committed on its own, side by side with others) and commits them in a task of its own, so a
/// caller that goes away (a dropped connection) never abandons the others' work.
pub async fn receive(
    store: &Store,
    env: &Payments,
    processor: &str,
    n: Inbound,
) -> Result<(Option<i64>, Outcome)> {
    use std::sync::atomic::Ordering;
    use tokio::sync::oneshot::error::TryRecvError;
    env.driver(processor).ok_or(PaymentsError::NotFound)?;
    let max = env.config.intake_group_max.max(1);
    if max == 1 {
        return Ok(match group_tx(store, env, &[(processor, &n)]).await {
            Ok(mut answers) => answers.remove(0),
            Err(e) => {
                tracing::error!(processor, error = %e, "a payment notification could not be stored");
                (None, Outcome::Failed)
            }
        });
    }
    let group = &env.group;
    let seq = group.seq.fetch_add(1, Ordering::Relaxed);
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    group.waiting.lock().expect("intake queue").push(Pending {
        seq,
        processor: processor.to_owned(),
        n,
        reply,
    });
    loop {
        let turn = group.turn.clone().lock_owned().await;
        // The turn is free only once the group before has answered, so this notification was
        // either answered by it or is still waiting.
        match answer.try_recv() {
            Ok(done) => return Ok(done),
            Err(TryRecvError::Closed) => return Ok((None, Outcome::Failed)),
            Err(TryRecvError::Empty) => {}
        }
        let batch: Vec<Pending> = {
            let mut waiting = group.waiting.lock().expect("intake queue");
            let k = waiting.len().min(max);
            waiting.drain(..k).collect()
        };
        let mine = batch.iter().any(|p| p.seq == seq);
        let (store, env) = (store.clone(), env.clone());
        tokio::spawn(async move {
            commit_group(&store, &env, batch).await;
            drop(turn);
        });
        if mine {
            return Ok(answer.await.unwrap_or((None, Outcome::Failed)));
        }
    }
}

/// Store, verify and apply `batch` in one transaction and answer each notification.
async fn commit_group(store: &Store, env: &Payments, batch: Vec<Pending>) {
    let items: Vec<(&str, &Inbound)> = batch.iter().map(|p| (p.processor.as_str(), &p.n)).collect();
    let answers = match group_tx(store, env, &items).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, count = batch.len(), "payment notifications could not be stored");
            vec![(None, Outcome::Failed); batch.len()]
        }
    };
    metrics::histogram!("fanz_payment_intake_group_size").record(batch.len() as f64);
    for (p, a) in batch.into_iter().zip(answers) {
        let _ = p.reply.send(a);
    }
}

/// One transaction for `batch`; its audit events chain on from each other
/// ([`fanz_audit::chained`]) rather than each reading the chain's tail.
///
/// Nearly every group applies whole, so it is first tried without a savepoint per
/// notification (two statements each). When one fails, what it wrote cannot be undone alone:
/// that transaction is rolled back and the group runs again with a savepoint each, so the
/// failure rolls back alone and the others are applied.
async fn group_tx(
    store: &Store,
    env: &Payments,
    batch: &[(&str, &Inbound)],
) -> Result<Vec<(Option<i64>, Outcome)>> {
    if let Some(answers) = fanz_audit::chained(group_tx_in(store, env, batch, false)).await? {
        return Ok(answers);
    }
    metrics::counter!("fanz_payment_intake_group_retries_total").increment(1);
    let answers = fanz_audit::chained(group_tx_in(store, env, batch, true)).await?;
    Ok(answers.expect("with savepoints a group always completes"))
}

/// [`group_tx`]'s transaction, with a savepoint per notification or none; `None` when a
/// notification failed without one (nothing was committed). The notifications are stored in
/// one statement; without savepoints their events are claimed, and their statuses set, in one
/// statement each too ([`apply_all`]), and their audit events written together at the end.
async fn group_tx_in(
    store: &Store,
    env: &Payments,
    batch: &[(&str, &Inbound)],
    savepoints: bool,
) -> Result<Option<Vec<(Option<i64>, Outcome)>>> {
    let mut tx = store.begin().await?;
    fanz_audit::hold(&tx);
    let stored = insert_raw(&mut tx, batch).await?;
    let mut answers = Vec::with_capacity(batch.len());
    let mut verified = Vec::with_capacity(batch.len());
    for (&(processor, n), stored) in batch.iter().zip(stored) {
        let driver = env.driver(processor).ok_or(PaymentsError::NotFound)?;
        let id = stored.id;
        match verify(env, processor, driver.as_ref(), n) {
            Ok(cluster) => {
                verified.push((stored, cluster));
                answers.push((Some(id), Outcome::Accepted));
            }
            Err(refusal) => {
                reject_in(&mut tx, id, processor, &refusal, n).await?;
                answers.push((Some(id), Outcome::Rejected));
            }
        }
    }
    if savepoints {
        for (stored, cluster) in verified {
            let mark = fanz_audit::mark();
            let mut one = sqlx::Acquire::begin(&mut *tx).await?;
            match apply_in(&mut one, env, stored, false, cluster.as_deref()).await? {
                Step::Done(_) => one.commit().await?,
                Step::Failed { n, error, retry } => {
                    one.rollback().await?;
                    fanz_audit::rewind(mark);
                    failed_in(&mut tx, env, &n, &error, retry).await?;
                }
            }
        }
    } else {
        match apply_all(&mut tx, env, verified, false).await {
            Ok(Step::Done(_)) => {}
            Ok(Step::Failed { .. }) | Err(_) => {
                tx.rollback().await?;
                return Ok(None);
            }
        }
    }
    fanz_audit::flush(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(answers))
}

/// Verify `n` against each settings table of `processor`; the one that accepts it names the
/// cluster (`None` for `default`). The last refusal otherwise.
fn verify(
    env: &Payments,
    processor: &str,
    driver: &dyn fanz_processors::Processor,
    n: &Inbound,
) -> Result<Option<String>, fanz_processors::VerifyError> {
    let mut refusal = fanz_processors::VerifyError::NotConfigured;
    for (cluster, settings) in env.candidates(processor) {
        match driver.verify(&settings, n) {
            Ok(()) => return Ok(cluster),
            Err(e) => refusal = e,
        }
    }
    Err(refusal)
}

/// Mark a stored notification rejected with the reason, audited; nothing is posted.
async fn reject(
    store: &Store,
    id: i64,
    processor: &str,
    refusal: &fanz_processors::VerifyError,
    n: &Inbound,
) -> Result<()> {
    let mut tx = store.begin().await?;
    reject_in(&mut tx, id, processor, refusal, n).await?;
    tx.commit().await?;
    Ok(())
}

async fn reject_in(
    db: &mut Db,
    id: i64,
    processor: &str,
    refusal: &fanz_processors::VerifyError,
    n: &Inbound,
) -> Result<()> {
    tracing::warn!(processor, id, reason = %refusal, "payment notification rejected");
    sqlx::query("UPDATE payment_notifications SET status = 'rejected', error = $1 WHERE id = $2")
        .bind(format!("{}: {refusal}", refusal.code()))
        .bind(id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        &Actor::system(),
        "payments.notification_rejected",
        Some(&format!("notification:{id}")),
        json!({"processor": processor, "reason": refusal.code(), "source_ip": n.source_ip.map(|i| i.to_string())}),
    )
    .await?;
    Ok(())
}

/// `n` as it is stored on arrival (its id not yet given).
fn received(processor: &str, n: &Inbound) -> Notification {
    let headers: Vec<(&str, &str)> = n
        .headers
        .iter()
        .filter(|(k, _)| !SECRET_HEADERS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (body, b64) = match std::str::from_utf8(&n.body) {
        Ok(s) if !s.contains('\0') => (s.to_owned(), false),
        _ => (
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &n.body),
            true,
        ),
    };
    Notification {
        id: 0,
        processor: processor.to_owned(),
        cluster: None,
        received_at: now_micros(),
        source_ip: n.source_ip.map(|i| i.to_string()),
        method: n.method.chars().take(8).collect(),
        // NUL is refused by PostgreSQL text: the query string keeps its percent-encoding anyway.
        query: n.query.replace('\0', "%00"),
        headers: serde_json::to_value(&headers).unwrap_or_else(|_| json!([])),
        body,
        body_base64: b64,
        status: "received".into(),
        error: None,
        events: None,
        attempts: 0,
        applied_at: None,
    }
}

/// Store each notification of `batch` as received, in one statement for up to hundreds of
/// them; returns them as stored, in `batch`'s order.
async fn insert_raw(db: &mut Db, batch: &[(&str, &Inbound)]) -> Result<Vec<Notification>> {
    let mut stored: Vec<Notification> = batch.iter().map(|(p, n)| received(p, n)).collect();
    let mut rows = Rows::new(
        "payment_notifications",
        &[
            "processor",
            "received_at",
            "source_ip",
            "method",
            "query",
            "headers",
            "body",
            "body_base64",
            "status",
        ],
    );
    for s in &stored {
        rows.push([
            s.processor.as_str().into(),
            s.received_at.into(),
            s.source_ip.clone().into(),
            s.method.as_str().into(),
            s.query.as_str().into(),
            // JSON escapes control characters, NUL among them: the text is safe for PostgreSQL.
            s.headers.to_string().into(),
            s.body.as_str().into(),
            i64::from(s.body_base64).into(),
            s.status.as_str().into(),
        ]);
    }
    let ids = rows.flush_ids(db).await?;
    for (s, id) in stored.iter_mut().zip(ids) {
        s.id = id;
    }
    Ok(stored)
}

/// What applying a stored notification came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Applied {
    pub status: String,
    pub error: Option<String>,
}

/// Parse and apply a verified, stored notification in one transaction. `redrive`: finance
/// asked for it again (a dead letter), so it is tried whatever its status, except rejected.
pub async fn apply_stored(
    store: &Store,
    env: &Payments,
    id: i64,
    redrive: bool,
) -> Result<Applied> {
    apply_verified(store, env, id, redrive, None).await
}

/// [`apply_stored`], recording the cluster verification named (if any) in the same
/// transaction. The notification is read, parsed and applied in that one transaction; a
/// failure is recorded in a transaction of its own.
async fn apply_verified(
    store: &Store,
    env: &Payments,
    id: i64,
    redrive: bool,
    cluster: Option<&str>,
) -> Result<Applied> {
    let mut tx = store.begin().await?;
    let n = get(&mut tx, id).await?;
    match apply_in(&mut tx, env, n, redrive, cluster).await? {
        Step::Done(applied) => {
            tx.commit().await?;
            Ok(applied)
        }
        Step::Failed { n, error, retry } => {
            drop(tx);
            let mut tx = store.begin().await?;
            let applied = failed_in(&mut tx, env, &n, &error, retry).await?;
            tx.commit().await?;
            Ok(applied)
        }
    }
}

/// What applying one notification came to: done (or nothing to do), or failed — then what
/// it wrote must be rolled back and the failure recorded with [`failed_in`].
enum Step {
    Done(Applied),
    Failed {
        n: Box<Notification>,
        error: String,
        retry: bool,
    },
}

/// Parse and apply the stored notification `n`; `cluster` (the one verification named, if
/// any) is recorded with its status.
async fn apply_in(
    db: &mut Db,
    env: &Payments,
    n: Notification,
    redrive: bool,
    cluster: Option<&str>,
) -> Result<Step> {
    if n.status == "applied" || n.status == "rejected" || (!redrive && n.status == "dead") {
        return Ok(Step::Done(Applied {
            status: n.status,
            error: n.error,
        }));
    }
    apply_all(db, env, vec![(n, cluster.map(str::to_owned))], redrive).await
}

/// Parse and apply stored notifications, each with the cluster its verification named: their
/// events claimed in one statement (each event once, keyed by processor, the processor's id
/// and the event type: one seen before, or earlier in the list, is left alone), the new ones
/// applied in order, and every notification marked applied in one statement. Stops at the
/// first notification that fails: then everything written must be rolled back (when the
/// events could not even be claimed, the first notification stands for the failure).
async fn apply_all(
    db: &mut Db,
    env: &Payments,
    items: Vec<(Notification, Option<String>)>,
    redrive: bool,
) -> Result<Step> {
    let mut parsed = Vec::with_capacity(items.len());
    for (n, cluster) in items {
        let driver = env.driver(&n.processor).ok_or(PaymentsError::NotFound)?;
        match driver.parse(&n.inbound()) {
            Ok(events) => parsed.push((n, cluster, events)),
            // Authentic but unreadable: retrying will not help; finance sees it.
            Err(e) => {
                return Ok(Step::Failed {
                    error: format!("unreadable: {e}"),
                    n: Box::new(n),
                    retry: false,
                })
            }
        }
    }
    let Some(first) = parsed.first() else {
        return Ok(Step::Done(Applied {
            status: "applied".into(),
            error: None,
        }));
    };
    let mut fresh = match claim(db, &parsed).await {
        Ok(fresh) => fresh,
        Err(e) => return Ok(failed(&first.0, e)),
    };
    let done: Vec<(i64, Option<String>, Option<String>)> = parsed
        .iter()
        .map(|(n, cluster, events)| (n.id, serde_json::to_string(events).ok(), cluster.clone()))
        .collect();
    // The new events, in the order they came.
    let mut applied = vec![0usize; parsed.len()];
    let mut new = Vec::new();
    for (i, (n, _, events)) in parsed.iter().enumerate() {
        for ev in events {
            if fresh.remove(&(n.id, ev.external_id.clone(), ev.kind.as_str().to_owned())) {
                applied[i] += 1;
                new.push((i, ev));
            }
        }
    }
    let actor = Actor::system();
    for step in in_order(&new) {
        match step {
            Run::Sales(run) => {
                let events: Vec<(&str, &Event)> = run
                    .iter()
                    .map(|&(i, ev)| (parsed[i].0.processor.as_str(), ev))
                    .collect();
                if let Err(e) = apply::sales(db, env, &events, &actor).await {
                    // The first notification of the run stands for the failure.
                    return Ok(failed(&parsed[run[0].0].0, e));
                }
            }
            Run::One(i, ev) => {
                let n = &parsed[i].0;
                if let Err(e) = apply::apply_event(db, env, &n.processor, ev, &actor).await {
                    return Ok(failed(n, e));
                }
            }
        }
    }
    if redrive {
        for ((n, _, _), applied) in parsed.iter().zip(applied) {
            record(
                db,
                &actor,
                "payments.notification_redriven",
                Some(&format!("notification:{}", n.id)),
                json!({"events": applied}),
            )
            .await?;
        }
    }
    set_applied(db, &done).await?;
    Ok(Step::Done(Applied {
        status: "applied".into(),
        error: None,
    }))
}

/// How events (notification index, event) are applied: sales in a row (the bulk of any burst)
/// settled together, any other event on its own once the sales before it are settled, so
/// events still apply in the order they came.
#[derive(Debug, PartialEq)]
enum Run<'a> {
    Sales(Vec<(usize, &'a Event)>),
    One(usize, &'a Event),
}

fn in_order<'a>(events: &[(usize, &'a Event)]) -> Vec<Run<'a>> {
    let mut out: Vec<Run<'a>> = Vec::new();
    for &(i, ev) in events {
        match out.last_mut() {
            Some(Run::Sales(run)) if ev.kind == EventKind::SaleApproved => run.push((i, ev)),
            _ if ev.kind == EventKind::SaleApproved => out.push(Run::Sales(vec![(i, ev)])),
            _ => out.push(Run::One(i, ev)),
        }
    }
    out
}

/// `n` failed with `e`: retried when it may apply later (or the database failed).
fn failed(n: &Notification, e: PaymentsError) -> Step {
    let retry = matches!(e, PaymentsError::NotYet(_) | PaymentsError::Database(_));
    Step::Failed {
        error: e.to_string(),
        n: Box::new(n.clone()),
        retry,
    }
}

/// Claim the events of `parsed` for their notifications, in one statement for up to hundreds
/// of them; returns the ones claimed now, as (notification id, external id, kind). An event
/// claimed before, or earlier in the list, is not among them.
async fn claim(
    db: &mut Db,
    parsed: &[(Notification, Option<String>, Vec<Event>)],
) -> Result<HashSet<(i64, String, String)>> {
    let mut rows = Rows::new(
        "payment_events",
        &[
            "processor",
            "external_id",
            "kind",
            "notification_id",
            "applied_at",
        ],
    );
    let now = now_micros();
    for (n, _, events) in parsed {
        for ev in events {
            rows.push([
                n.processor.as_str().into(),
                ev.external_id.as_str().into(),
                ev.kind.as_str().into(),
                n.id.into(),
                now.into(),
            ]);
        }
    }
    let claimed = rows
        .flush_returning(
            db,
            "ON CONFLICT (processor, external_id, kind) DO NOTHING \
             RETURNING notification_id, external_id, kind",
        )
        .await?;
    Ok(claimed
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Mark notifications applied, each with its events (JSON) and the cluster its verification
/// named (`None` keeps the one recorded), in one statement for up to 64 of them.
async fn set_applied(db: &mut Db, done: &[(i64, Option<String>, Option<String>)]) -> Result<()> {
    let now = now_micros();
    for run in fanz_store::bulk::pieces(done.len(), 64) {
        let run = &done[run];
        let mut events = String::new();
        let mut clusters = String::new();
        let mut ids = String::new();
        for i in 0..run.len() {
            let (id, ev, cl) = (3 * i + 2, 3 * i + 3, 3 * i + 4);
            events.push_str(&format!(" WHEN ${id} THEN ${ev}"));
            clusters.push_str(&format!(" WHEN ${id} THEN ${cl}"));
            if i > 0 {
                ids.push_str(", ");
            }
            ids.push_str(&format!("${id}"));
        }
        let sql = format!(
            "UPDATE payment_notifications SET status = 'applied', error = NULL, \
             events = CASE id{events} END, attempts = attempts + 1, applied_at = $1, \
             cluster = COALESCE(CASE id{clusters} END, cluster) WHERE id IN ({ids})"
        );
        let mut q = sqlx::query(&sql).bind(now);
        for (id, ev, cluster) in run {
            q = q.bind(*id).bind(ev.as_deref()).bind(cluster.as_deref());
        }
        q.execute(&mut *db).await?;
    }
    Ok(())
}

/// Record that applying `n` failed: retried later by a job, or a dead letter (audited).
async fn failed_in(
    db: &mut Db,
    env: &Payments,
    n: &Notification,
    error: &str,
    retry: bool,
) -> Result<Applied> {
    let attempts = n.attempts + 1;
    let dead = !retry || attempts >= env.config.apply_attempts;
    let status = if dead { "dead" } else { "retrying" };
    sqlx::query(
        "UPDATE payment_notifications SET status = $1, error = $2, attempts = $3 WHERE id = $4",
    )
    .bind(status)
    .bind(error)
    .bind(attempts)
    .bind(n.id)
    .execute(&mut *db)
    .await?;
    if dead {
        tracing::warn!(id = n.id, processor = %n.processor, error, "payment notification is a dead letter");
        record(
            db,
            &Actor::system(),
            "payments.notification_dead",
            Some(&format!("notification:{}", n.id)),
            json!({"error": error}),
        )
        .await?;
    } else {
        // 5 s, 10 s, 20 s, … up to 30 min.
        let delay = (5 * SECOND)
            .saturating_mul(1 << (attempts - 1).clamp(0, 10))
            .min(1800 * SECOND);
        fanz_jobs::enqueue_with(
            db,
            &crate::jobs::ApplyNotification { id: n.id },
            fanz_jobs::Options::at(now_micros() + delay),
        )
        .await?;
    }
    Ok(Applied {
        status: status.into(),
        error: Some(error.to_owned()),
    })
}

/// Notifications stored but never applied (the server stopped between storing and applying):
/// apply them now. Run by a recurring job.
pub async fn sweep_received(store: &Store, env: &Payments, older_than: i64) -> Result<usize> {
    let stale = {
        let mut conn = store.conn().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM payment_notifications WHERE status = 'received' AND received_at < $1 ORDER BY id LIMIT 200"
        );
        let rows = sqlx::query(&sql)
            .bind(older_than)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(row).collect::<Vec<_>>()
    };
    for n in &stale {
        let Some(driver) = env.driver(&n.processor) else {
            continue;
        };
        // Verify again: the process may have stopped before it did.
        let inbound = n.inbound();
        match verify(env, &n.processor, driver.as_ref(), &inbound) {
            Ok(cluster) => {
                apply_verified(store, env, n.id, false, cluster.as_deref()).await?;
            }
            Err(refusal) => reject(store, n.id, &n.processor, &refusal, &inbound).await?,
        }
    }
    Ok(stale.len())
}

/// Finance re-drives a dead letter (`fanz payments replay ID`, the console): audited.
pub async fn redrive(store: &Store, env: &Payments, id: i64, actor: &Actor) -> Result<Applied> {
    {
        let mut tx = store.begin().await?;
        let n = get(&mut tx, id).await?;
        if n.status == "rejected" {
            return Err(PaymentsError::Conflict("notification_rejected"));
        }
        record(
            &mut tx,
            actor,
            "payments.redrive_requested",
            Some(&format!("notification:{id}")),
            json!({"status": n.status}),
        )
        .await?;
        tx.commit().await?;
    }
    apply_stored(store, env, id, true).await
}

/// Counts by status, for the console.
pub async fn counts(db: &mut Db) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) FROM payment_notifications GROUP BY status ORDER BY status",
    )
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_in_a_row_run_together_and_the_order_holds() {
        let ev = |kind, id: &str| Event::new(kind, id.to_owned());
        let (s1, s2, refund, s3, cancel, s4) = (
            ev(EventKind::SaleApproved, "s1"),
            ev(EventKind::SaleApproved, "s2"),
            ev(EventKind::Refund, "r1"),
            ev(EventKind::SaleApproved, "s3"),
            ev(EventKind::Cancelled, "c1"),
            ev(EventKind::SaleApproved, "s4"),
        );
        let events = [
            (0, &s1),
            (1, &s2),
            (1, &refund),
            (2, &s3),
            (3, &cancel),
            (4, &s4),
        ];
        assert_eq!(
            in_order(&events),
            [
                Run::Sales(vec![(0, &s1), (1, &s2)]),
                Run::One(1, &refund),
                Run::Sales(vec![(2, &s3)]),
                Run::One(3, &cancel),
                Run::Sales(vec![(4, &s4)]),
            ]
        );
        assert!(in_order(&[]).is_empty());
    }
}

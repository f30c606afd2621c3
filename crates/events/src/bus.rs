//! The relay and the subscribers' dispatch loops, and what operators do with them.

use crate::{nats, Event, EventsError, Result};
use fanz_core::clock::now_micros;
use fanz_store::{backend_of, sqlx, Backend, Db, Store};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, Row};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

type BoxFuture = Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send>>;
type HandlerFn = Arc<dyn Fn(Envelope) -> BoxFuture + Send + Sync>;

/// Something was written to the outbox in this process (the relay looks, and looks again for
/// a moment until the writing transaction has committed).
static OUTBOX: LazyLock<Notify> = LazyLock::new(Notify::new);
static OUTBOX_GEN: AtomicU64 = AtomicU64::new(0);
/// The relay gave events their order (the dispatchers look).
static SEQUENCED: LazyLock<Notify> = LazyLock::new(Notify::new);
static SEQUENCED_GEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn wake_local() {
    OUTBOX_GEN.fetch_add(1, Ordering::AcqRel);
    OUTBOX.notify_waiters();
}

fn wake_dispatchers() {
    SEQUENCED_GEN.fetch_add(1, Ordering::AcqRel);
    SEQUENCED.notify_waiters();
}

const EAGER_MS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// Wait for `notify` (whose generation was `seen` when the caller last looked), a step of the
/// eager schedule, the poll interval, or stop. Returns false on stop.
async fn wait_for(
    notify: &Notify,
    generation: &AtomicU64,
    seen: u64,
    eager: &mut Option<usize>,
    poll: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let notified = notify.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if generation.load(Ordering::Acquire) != seen {
        *eager = Some(0);
        return true;
    }
    let delay = eager.map_or(poll, |i| Duration::from_millis(EAGER_MS[i]));
    tokio::select! {
        _ = &mut notified => { *eager = Some(0); true }
        _ = tokio::time::sleep(delay) => {
            *eager = eager.and_then(|i| (i + 1 < EAGER_MS.len()).then_some(i + 1));
            true
        }
        _ = stop.changed() => false,
    }
}

/// One event as delivered to subscribers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Envelope {
    pub id: String,
    /// Delivery order.
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub cluster: String,
    pub subject: String,
    /// Microseconds since the epoch.
    pub occurred_at: i64,
    /// The event itself, with its `type`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl Envelope {
    /// The typed event, when `E` is this event's module enum.
    pub fn decode<E: serde::de::DeserializeOwned>(&self) -> Option<E> {
        serde_json::from_value(self.payload.clone()).ok()
    }
}

pub(crate) struct Subscription {
    pub name: String,
    /// Type prefixes this subscriber wants (`identity.`); empty: every event.
    pub prefixes: Vec<String>,
    pub handler: HandlerFn,
}

impl Subscription {
    pub(crate) fn wants(&self, event_type: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| event_type.starts_with(p))
    }
}

/// The subscribers of every module, registered at start-up.
#[derive(Default)]
pub struct Subscribers {
    pub(crate) subs: Vec<Subscription>,
}

impl Subscribers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Deliver events whose type starts with one of `prefixes` (all when empty) to `handler`,
    /// under the stable `name` that keeps this subscriber's position. A handler must be safe to
    /// run twice for one event (delivery is at least once; receipts stop most repeats).
    pub fn subscribe<F, Fut>(&mut self, name: &str, prefixes: &[&str], handler: F) -> &mut Self
    where
        F: Fn(Envelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), String>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.subs.retain(|s| s.name != name);
        self.subs.push(Subscription {
            name: name.to_owned(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            handler: Arc::new(move |e| {
                let handler = handler.clone();
                Box::pin(async move { handler(e).await })
            }),
        });
        self
    }
}

/// The built-in diagnostic event: `fanz events probe` (and the two-node test) publishes one;
/// every node's `probe@<node>` subscriber records that it received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Probe {
    #[serde(rename = "events.probe")]
    Sent { from_node: String },
}

impl Event for Probe {
    fn subject(&self) -> String {
        match self {
            Probe::Sent { from_node } => format!("node:{from_node}"),
        }
    }
}

impl crate::Catalogue for Probe {
    fn catalogue() -> Vec<(Self, &'static str)> {
        vec![(
            Probe::Sent {
                from_node: "node-a".into(),
            },
            "A diagnostic event from `fanz events probe`; every node's `probe@<node>` subscriber records it.",
        )]
    }
}

/// Settings of a [`Bus`].
#[derive(Debug, Clone)]
pub struct BusConfig {
    pub node: String,
    /// `nats://…` to publish to and consume from JetStream; empty: in process only.
    pub nats_url: String,
    /// The store's URL, for the PostgreSQL lock and notification connections.
    pub database_url: String,
    pub poll_interval: Duration,
    /// Tries per event and subscriber before it is parked as a dead letter.
    pub max_attempts: u32,
    pub retry_base: Duration,
    /// The longest one handler call may take.
    pub handler_timeout: Duration,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            node: "node".into(),
            nats_url: String::new(),
            database_url: String::new(),
            poll_interval: Duration::from_secs(1),
            max_attempts: 5,
            retry_base: Duration::from_millis(500),
            handler_timeout: Duration::from_secs(60),
        }
    }
}

pub(crate) struct Shared {
    pub store: Store,
    pub config: BusConfig,
    pub stop: watch::Sender<bool>,
    /// Per loop (relay first, then one per subscriber): when it last went round.
    pub ticks: Vec<(String, AtomicI64)>,
}

impl Shared {
    pub fn tick(&self, i: usize) {
        self.ticks[i].1.store(now_micros(), Ordering::Release);
    }
}

/// Relays the outbox and runs the subscribers.
pub struct Bus {
    store: Store,
    subs: Subscribers,
    config: BusConfig,
}

#[derive(Clone)]
pub struct BusHandle {
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BusHealth {
    pub healthy: bool,
    pub transport: &'static str,
    pub stalled: Vec<String>,
}

impl Bus {
    /// A bus with the built-in `probe@<node>` subscriber added to `subs`.
    pub fn new(store: Store, mut subs: Subscribers, config: BusConfig) -> Self {
        let probe_store = store.clone();
        let node = config.node.clone();
        subs.subscribe(&format!("probe@{node}"), &["events.probe"], move |e| {
            let store = probe_store.clone();
            let node = node.clone();
            async move {
                let mut tx = store.begin().await.map_err(|e| e.to_string())?;
                sqlx::query(
                    "INSERT INTO event_probe_receipts (event_id, node, received_at) VALUES ($1, $2, $3)",
                )
                .bind(&e.id)
                .bind(&node)
                .bind(now_micros())
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())
            }
        });
        Self {
            store,
            subs,
            config,
        }
    }

    /// Connect to NATS when configured (failing start-up when it cannot be reached) and
    /// spawn the relay and one dispatch loop per subscriber.
    pub async fn start(self) -> Result<BusHandle> {
        let js = if self.config.nats_url.is_empty() {
            None
        } else {
            Some(nats::connect(&self.config.nats_url).await?)
        };
        let mut ticks = vec![("relay".to_owned(), AtomicI64::new(now_micros()))];
        for s in &self.subs.subs {
            ticks.push((s.name.clone(), AtomicI64::new(now_micros())));
        }
        let shared = Arc::new(Shared {
            store: self.store,
            config: self.config,
            stop: watch::channel(false).0,
            ticks,
        });
        let mut tasks = vec![tokio::spawn(relay_loop(shared.clone(), js.clone()))];
        if shared.store.backend() == Backend::Postgres && !shared.config.database_url.is_empty() {
            tasks.push(tokio::spawn(listen_loop(shared.clone())));
        }
        for (i, sub) in self.subs.subs.into_iter().enumerate() {
            let sub = Arc::new(sub);
            tasks.push(match &js {
                Some(js) => {
                    tokio::spawn(nats::dispatch_loop(shared.clone(), i + 1, sub, js.clone()))
                }
                None => tokio::spawn(local_dispatch_loop(shared.clone(), i + 1, sub)),
            });
        }
        tracing::info!(
            transport = if js.is_some() { "nats" } else { "in-process" },
            "event bus started"
        );
        Ok(BusHandle {
            shared,
            tasks: Arc::new(Mutex::new(tasks)),
        })
    }
}

impl BusHandle {
    pub fn health(&self) -> BusHealth {
        let limit = (self.shared.config.poll_interval * 3)
            .max(Duration::from_secs(30))
            .as_micros() as i64;
        let now = now_micros();
        let stalled: Vec<String> = self
            .shared
            .ticks
            .iter()
            .filter(|(_, t)| now - t.load(Ordering::Acquire) > limit)
            .map(|(n, _)| n.clone())
            .collect();
        BusHealth {
            healthy: stalled.is_empty() && !*self.shared.stop.borrow(),
            transport: if self.shared.config.nats_url.is_empty() {
                "in-process"
            } else {
                "nats"
            },
            stalled,
        }
    }

    /// Stop relaying and dispatching; an event being handled is finished or, if cut short,
    /// delivered again later (its receipt was not written).
    pub async fn shutdown(&self) {
        self.shared.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("task list"));
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(5), &mut { t })
                .await
                .is_err()
            {
                tracing::warn!("an event loop did not stop in time");
            }
        }
    }
}

const ENVELOPE_COLUMNS: &str = "seq, event_id, type, cluster, subject, occurred_at, payload";

pub(crate) fn envelope(r: &sqlx::any::AnyRow) -> Envelope {
    let payload: String = r.get(6);
    Envelope {
        seq: r.get(0),
        id: r.get(1),
        event_type: r.get(2),
        cluster: r.get(3),
        subject: r.get(4),
        occurred_at: r.get(5),
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
    }
}

async fn relay_loop(shared: Arc<Shared>, js: Option<async_nats::jetstream::Context>) {
    let mut stop = shared.stop.subscribe();
    let mut eager = None;
    loop {
        shared.tick(0);
        let seen = OUTBOX_GEN.load(Ordering::Acquire);
        match relay_once(&shared, js.as_ref()).await {
            Ok(n) if n > 0 => {
                wake_dispatchers();
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event relay pass failed"),
        }
        if !wait_for(
            &OUTBOX,
            &OUTBOX_GEN,
            seen,
            &mut eager,
            shared.config.poll_interval,
            &mut stop,
        )
        .await
        {
            return;
        }
    }
}

/// Give committed, unordered events their `seq`, and publish what NATS has not seen. Returns
/// how many events moved.
async fn relay_once(shared: &Shared, js: Option<&async_nats::jetstream::Context>) -> Result<u64> {
    let mut tx = shared.store.begin().await?;
    let lock = match backend_of(&tx) {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let last: i64 = sqlx::query(&format!(
        "SELECT last_seq FROM event_relay WHERE id = 1{lock}"
    ))
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    let sequenced = sqlx::query(
        "UPDATE events SET seq = $1 + r.rn FROM \
           (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM events WHERE seq IS NULL ORDER BY id LIMIT 1000) AS r \
         WHERE events.id = r.id",
    )
    .bind(last)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if sequenced > 0 {
        sqlx::query("UPDATE event_relay SET last_seq = $1 WHERE id = 1")
            .bind(last + sequenced as i64)
            .execute(&mut *tx)
            .await?;
        if backend_of(&tx) == Backend::Postgres {
            sqlx::query("SELECT pg_notify('fanz_events', '')")
                .execute(&mut *tx)
                .await?;
        }
    }
    let mut published = 0;
    if let Some(js) = js {
        let rows = sqlx::query(&format!(
            "SELECT {ENVELOPE_COLUMNS} FROM events WHERE stream_seq IS NULL AND seq IS NOT NULL ORDER BY seq LIMIT 500"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let envelopes: Vec<Envelope> = rows.iter().map(envelope).collect();
        let acks = nats::publish_all(js, &envelopes).await?;
        for (env, stream_seq) in envelopes.iter().zip(acks) {
            sqlx::query("UPDATE events SET stream_seq = $1 WHERE seq = $2")
                .bind(stream_seq as i64)
                .bind(env.seq)
                .execute(&mut *tx)
                .await?;
        }
        published = envelopes.len() as u64;
    }
    tx.commit().await?;
    if sequenced > 0 {
        metrics::counter!("events_relayed_total").increment(sequenced);
    }
    if published > 0 {
        metrics::counter!("events_nats_published_total").increment(published);
    }
    Ok(sequenced + published)
}

/// LISTEN for events another node's relay ordered, to wake this node's dispatchers.
async fn listen_loop(shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let session = async {
            let mut l = sqlx::postgres::PgListener::connect(&shared.config.database_url).await?;
            l.listen("fanz_events").await?;
            loop {
                l.recv().await?;
                wake_dispatchers();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            r = session => if let Err(e) = r { tracing::warn!(error = %e, "event notifications lost; reconnecting") },
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The PostgreSQL session that holds a subscriber's advisory lock; `None` when another node
/// holds it. SQLite serves one process: no lock.
async fn take_subscriber(
    shared: &Shared,
    name: &str,
) -> Result<Option<Option<sqlx::AnyConnection>>> {
    if shared.store.backend() != Backend::Postgres {
        return Ok(Some(None));
    }
    let mut conn = sqlx::AnyConnection::connect(&shared.config.database_url).await?;
    let got: bool = sqlx::query("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(format!("fanz_events:{name}"))
        .fetch_one(&mut conn)
        .await?
        .get(0);
    if got {
        Ok(Some(Some(conn)))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

pub(crate) async fn ensure_subscriber(db: &mut Db, name: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO event_subscribers (name, position, updated_at) VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now_micros())
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn local_dispatch_loop(shared: Arc<Shared>, index: usize, sub: Arc<Subscription>) {
    let mut stop = shared.stop.subscribe();
    loop {
        shared.tick(index);
        let lock = match take_subscriber(&shared, &sub.name).await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                // Another node dispatches this subscriber; take over if it goes away.
                tokio::select! {
                    _ = tokio::time::sleep(shared.config.poll_interval.max(Duration::from_millis(500))) => continue,
                    _ = stop.changed() => return,
                }
            }
            Err(e) => {
                tracing::warn!(subscriber = %sub.name, error = %e, "cannot take the subscriber");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        match dispatch_while_held(&shared, index, &sub, lock, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(subscriber = %sub.name, error = %e, "event dispatch interrupted");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// Deliver in `seq` order from the stored position while this node holds the subscriber.
/// Returns Ok on stop.
async fn dispatch_while_held(
    shared: &Shared,
    index: usize,
    sub: &Subscription,
    mut lock: Option<sqlx::AnyConnection>,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    {
        let mut tx = shared.store.begin().await?;
        ensure_subscriber(&mut tx, &sub.name).await?;
        tx.commit().await?;
    }
    let mut eager = None;
    loop {
        shared.tick(index);
        if *stop.borrow() {
            return Ok(());
        }
        if let Some(lock) = lock.as_mut() {
            // The lock lives as long as its session: make sure it is still there.
            lock.ping().await?;
        }
        let seen = SEQUENCED_GEN.load(Ordering::Acquire);
        let mut db = shared.store.conn().await?;
        let position: i64 = sqlx::query("SELECT position FROM event_subscribers WHERE name = $1")
            .bind(&sub.name)
            .fetch_one(&mut *db)
            .await?
            .get(0);
        let rows = sqlx::query(&format!(
            "SELECT {ENVELOPE_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT 200"
        ))
        .bind(position)
        .fetch_all(&mut *db)
        .await?;
        drop(db);
        if rows.is_empty() {
            if !wait_for(
                &SEQUENCED,
                &SEQUENCED_GEN,
                seen,
                &mut eager,
                shared.config.poll_interval,
                stop,
            )
            .await
            {
                return Ok(());
            }
            continue;
        }
        // Handle the batch, then write its receipts, dead letters and the new position in one
        // transaction (one commit per batch, not per event). A crash in between delivers the
        // batch's events again: delivery is at least once.
        let mut handled: Vec<(Envelope, Option<(u32, String)>)> = Vec::new();
        let mut interrupted = false;
        for row in &rows {
            let env = envelope(row);
            if !sub.wants(&env.event_type) {
                continue;
            }
            {
                let mut db = shared.store.conn().await?;
                if has_receipt(&mut db, &sub.name, &env.id).await? {
                    continue;
                }
            }
            match handle_with_retries(shared, sub, &env, stop).await {
                Some(outcome) => handled.push((env, outcome)),
                None => {
                    interrupted = true;
                    break;
                }
            }
        }
        let to = if interrupted {
            handled.last().map_or(position, |(e, _)| e.seq)
        } else {
            envelope(rows.last().expect("non-empty")).seq
        };
        if to > position {
            commit_batch(shared, &sub.name, position, to, &handled).await?;
        }
        if interrupted {
            return Ok(());
        }
    }
}

/// Run the handler with retries in place (this subscriber waits; others do not). `Some(None)`:
/// handled; `Some(Some(..))`: out of attempts, to be parked; `None`: stopping.
async fn handle_with_retries(
    shared: &Shared,
    sub: &Subscription,
    env: &Envelope,
    stop: &mut watch::Receiver<bool>,
) -> Option<Option<(u32, String)>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call(shared, sub, env).await {
            Ok(()) => {
                observe_delivery(&sub.name, env);
                return Some(None);
            }
            Err(e) if attempt >= shared.config.max_attempts => {
                metrics::counter!("events_dead_total", "subscriber" => sub.name.clone())
                    .increment(1);
                tracing::error!(subscriber = %sub.name, event = %env.id, error = %e, "event parked as a dead letter");
                return Some(Some((attempt, e)));
            }
            Err(e) => {
                metrics::counter!("events_failed_total", "subscriber" => sub.name.clone())
                    .increment(1);
                tracing::warn!(subscriber = %sub.name, event = %env.id, attempt, error = %e, "event handler failed");
                let delay = shared
                    .config
                    .retry_base
                    .saturating_mul(1 << attempt.min(10));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return None,
                }
            }
        }
    }
}

/// Receipts and dead letters of a batch and the move from `from` to `to`, in one transaction;
/// nothing is written when an operator moved the position meanwhile (a replay wins).
async fn commit_batch(
    shared: &Shared,
    name: &str,
    from: i64,
    to: i64,
    handled: &[(Envelope, Option<(u32, String)>)],
) -> Result<()> {
    let now = now_micros();
    let mut tx = shared.store.begin().await?;
    let moved = sqlx::query(
        "UPDATE event_subscribers SET position = $1, updated_at = $2 WHERE name = $3 AND position = $4",
    )
    .bind(to)
    .bind(now)
    .bind(name)
    .bind(from)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    for (env, dead) in handled {
        write_outcome(
            &mut tx,
            name,
            env,
            dead.as_ref().map(|(n, e)| (*n, e.as_str())),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A receipt for a handled event, or a dead letter for a parked one.
async fn write_outcome(
    db: &mut Db,
    sub: &str,
    env: &Envelope,
    dead: Option<(u32, &str)>,
    now: i64,
) -> Result<()> {
    match dead {
        None => {
            sqlx::query(
                "INSERT INTO event_receipts (subscriber, event_id, handled_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(sub)
            .bind(&env.id)
            .bind(now)
            .execute(&mut *db)
            .await?;
        }
        Some((attempts, error)) => {
            sqlx::query(
                "INSERT INTO event_dead_letters (subscriber, event_id, seq, type, attempts, error, failed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(sub)
            .bind(&env.id)
            .bind(env.seq)
            .bind(&env.event_type)
            .bind(attempts as i64)
            .bind(error)
            .bind(now)
            .execute(&mut *db)
            .await?;
        }
    }
    Ok(())
}

pub(crate) async fn has_receipt(db: &mut Db, sub: &str, event_id: &str) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM event_receipts WHERE subscriber = $1 AND event_id = $2")
            .bind(sub)
            .bind(event_id)
            .fetch_optional(&mut *db)
            .await?
            .is_some(),
    )
}

/// Record a handled (or parked) event delivered through NATS, and move the subscriber's
/// position (shown to operators) forward to it.
pub(crate) async fn record(
    shared: &Shared,
    sub: &str,
    env: &Envelope,
    dead: Option<(u32, &str)>,
) -> Result<()> {
    let now = now_micros();
    let mut tx = shared.store.begin().await?;
    write_outcome(&mut tx, sub, env, dead, now).await?;
    sqlx::query(
        "UPDATE event_subscribers SET position = $1, updated_at = $2 WHERE name = $3 AND position < $1",
    )
    .bind(env.seq)
    .bind(now)
    .bind(sub)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Run the handler once, under the deadline.
pub(crate) async fn call(
    shared: &Shared,
    sub: &Subscription,
    env: &Envelope,
) -> std::result::Result<(), String> {
    match tokio::time::timeout(shared.config.handler_timeout, (sub.handler)(env.clone())).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the handler took longer than {:?}",
            shared.config.handler_timeout
        )),
    }
}

pub(crate) fn observe_delivery(sub: &str, env: &Envelope) {
    metrics::counter!("events_delivered_total", "subscriber" => sub.to_owned()).increment(1);
    metrics::histogram!("events_delivery_latency_seconds")
        .record((now_micros() - env.occurred_at).max(0) as f64 / 1e6);
}

/// A subscriber as `fanz events` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriberRow {
    pub name: String,
    pub position: i64,
    /// Events after the position.
    pub behind: i64,
    pub dead_letters: i64,
    pub updated_at: i64,
}

pub async fn subscribers(db: &mut Db) -> Result<Vec<SubscriberRow>> {
    let last: i64 = sqlx::query("SELECT last_seq FROM event_relay WHERE id = 1")
        .fetch_one(&mut *db)
        .await?
        .get(0);
    let rows = sqlx::query(
        "SELECT s.name, s.position, s.updated_at, \
           (SELECT COUNT(*) FROM event_dead_letters d WHERE d.subscriber = s.name) \
         FROM event_subscribers s ORDER BY s.name",
    )
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let position: i64 = r.get(1);
            SubscriberRow {
                name: r.get(0),
                position,
                behind: (last - position).max(0),
                updated_at: r.get(2),
                dead_letters: r.get(3),
            }
        })
        .collect())
}

/// The newest `limit` ordered events after `after` (oldest first), for `fanz events tail`.
pub async fn tail(db: &mut Db, after: Option<i64>, limit: i64) -> Result<Vec<Envelope>> {
    let rows = match after {
        Some(after) => {
            sqlx::query(&format!(
                "SELECT {ENVELOPE_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *db)
            .await?
        }
        None => {
            let mut rows = sqlx::query(&format!(
                "SELECT {ENVELOPE_COLUMNS} FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(&mut *db)
            .await?;
            rows.reverse();
            rows
        }
    };
    Ok(rows.iter().map(envelope).collect())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub subscriber: String,
    pub event_id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub attempts: i64,
    pub error: String,
    pub failed_at: i64,
}

pub async fn dead_letters(db: &mut Db, limit: i64) -> Result<Vec<DeadLetter>> {
    let rows = sqlx::query(
        "SELECT subscriber, event_id, seq, type, attempts, error, failed_at FROM event_dead_letters ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeadLetter {
            subscriber: r.get(0),
            event_id: r.get(1),
            seq: r.get(2),
            event_type: r.get(3),
            attempts: r.get(4),
            error: r.get(5),
            failed_at: r.get(6),
        })
        .collect())
}

/// Deliver again to `subscriber` every event from `from_seq` on: its receipts and dead
/// letters from there are dropped and its position moved back (in process), or its durable
/// consumer recreated at that point (NATS, when `nats_url` is set).
pub async fn replay(db: &mut Db, nats_url: &str, subscriber: &str, from_seq: i64) -> Result<u64> {
    let exists = sqlx::query("SELECT 1 FROM event_subscribers WHERE name = $1")
        .bind(subscriber)
        .fetch_optional(&mut *db)
        .await?
        .is_some();
    if !exists {
        return Err(EventsError::UnknownSubscriber(subscriber.to_owned()));
    }
    let from_seq = from_seq.max(1);
    let dropped = sqlx::query(
        "DELETE FROM event_receipts WHERE subscriber = $1 AND event_id IN (SELECT event_id FROM events WHERE seq >= $2)",
    )
    .bind(subscriber)
    .bind(from_seq)
    .execute(&mut *db)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM event_dead_letters WHERE subscriber = $1 AND seq >= $2")
        .bind(subscriber)
        .bind(from_seq)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE event_subscribers SET position = $1, updated_at = $2 WHERE name = $3")
        .bind(from_seq - 1)
        .bind(now_micros())
        .bind(subscriber)
        .execute(&mut *db)
        .await?;
    if !nats_url.is_empty() {
        let stream_seq: Option<i64> =
            sqlx::query("SELECT MIN(stream_seq) FROM events WHERE seq >= $1")
                .bind(from_seq)
                .fetch_one(&mut *db)
                .await?
                .get(0);
        let js = nats::connect(nats_url).await?;
        nats::reset_consumer(&js, subscriber, stream_seq.map(|s| s as u64)).await?;
    }
    wake_dispatchers();
    Ok(dropped)
}

/// Which nodes received which probe event.
pub async fn probe_receipts(db: &mut Db, event_id: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT node FROM event_probe_receipts WHERE event_id = $1 ORDER BY node")
            .bind(event_id)
            .fetch_all(&mut *db)
            .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

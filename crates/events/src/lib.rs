//! The events port: "this happened", written in the causing transaction.
//!
//! A module describes what happens in it as a typed enum ([`Event`]), serialized with a
//! `type` tag such as `"identity.user_registered"`. [`publish`] writes it to the `events`
//! outbox with the caller's `&mut Db`, so an event exists exactly when the change that caused
//! it committed. A relay on every node gives committed rows their delivery order (`seq`; one
//! relay at a time, so a reader that saw seq N saw every seq below it) and, with `events_url =
//! "nats://…"`, publishes them to NATS JetStream (message id = event id, so a republish after
//! a crash is dropped as a duplicate).
//!
//! Subscribers are registered per module at start-up ([`Subscribers::subscribe`]) under a
//! stable name. Each keeps its own position: in process it is a row in
//! `event_subscribers` (one node at a time dispatches a given subscriber; PostgreSQL advisory
//! lock), through NATS it is a durable consumer of that name, shared by every node. Delivery is
//! at least once and handlers are made idempotent by event id (a receipt per subscriber and
//! event, written with the new position); a handler that keeps failing parks the event in
//! `event_dead_letters` and the subscriber moves on. [`replay`] moves a subscriber back.

mod bus;
mod nats;

pub use bus::{
    dead_letters, probe_receipts, replay, subscribers, tail, Bus, BusConfig, BusHandle, BusHealth,
    DeadLetter, Envelope, Probe, SubscriberRow, Subscribers,
};

use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db};
use serde::Serialize;

/// A module's events: an enum serialized with `#[serde(tag = "type")]`, each variant renamed
/// to `module.event_name`.
pub trait Event: Serialize + Send + Sync {
    /// The cluster the event happened on, when it belongs to one.
    fn cluster(&self) -> Option<&str> {
        None
    }
    /// What it is about, such as `user:42`.
    fn subject(&self) -> String;
}

/// Every variant of a module's events with a sentence each, for docs/events.md.
pub trait Catalogue: Event + Sized {
    fn catalogue() -> Vec<(Self, &'static str)>;
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event does not serialize: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("an event must serialize to an object with a string `type`")]
    NoType,
    #[error("NATS: {0}")]
    Nats(String),
    #[error("no subscriber named {0}")]
    UnknownSubscriber(String),
}

pub type Result<T, E = EventsError> = std::result::Result<T, E>;

impl From<fanz_store::StoreError> for EventsError {
    fn from(e: fanz_store::StoreError) -> Self {
        match e {
            fanz_store::StoreError::Database(e) => EventsError::Database(e),
            other => EventsError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// Write `event` to the outbox inside the caller's transaction; returns its id.
pub async fn publish<E: Event>(db: &mut Db, event: &E) -> Result<String> {
    let payload = serde_json::to_value(event)?;
    let event_type = payload
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or(EventsError::NoType)?
        .to_owned();
    let id = new_event_id();
    sqlx::query(
        "INSERT INTO events (event_id, type, cluster, subject, occurred_at, payload) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&event_type)
    .bind(event.cluster().unwrap_or(""))
    .bind(event.subject())
    .bind(now_micros())
    .bind(payload.to_string())
    .execute(&mut *db)
    .await?;
    metrics::counter!("events_published_total", "type" => event_type).increment(1);
    bus::wake_local();
    Ok(id)
}

/// 128 random bits, hex.
fn new_event_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The Markdown table of one module's events (docs/events.md is made of these).
pub fn catalogue_markdown<E: Catalogue>(module: &str) -> String {
    let mut out =
        format!("## {module}\n\n| type | subject | fields | meaning |\n|---|---|---|---|\n");
    for (event, meaning) in E::catalogue() {
        let value = serde_json::to_value(&event).expect("catalogue events serialize");
        let ty = value["type"].as_str().unwrap_or("?").to_owned();
        let fields: Vec<String> = value
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| k.as_str() != "type")
                    .map(|(k, v)| format!("`{k}` ({})", json_kind(v)))
                    .collect()
            })
            .unwrap_or_default();
        let subject = event.subject();
        let subject_kind = subject.split(':').next().unwrap_or("");
        out.push_str(&format!(
            "| `{ty}` | `{subject_kind}:…` | {} | {meaning} |\n",
            if fields.is_empty() {
                "—".to_owned()
            } else {
                fields.join(", ")
            }
        ));
    }
    out.push('\n');
    out
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null or value",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

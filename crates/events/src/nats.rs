//! NATS JetStream: the stream the relay publishes to and the durable consumers subscribers
//! read from (one per subscriber name, shared by every node).

use crate::bus::{
    call, ensure_subscriber, has_receipt, observe_delivery, record, Envelope, Shared, Subscription,
};
use crate::{EventsError, Result};
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

pub const STREAM: &str = "FANZ_EVENTS";
const SUBJECTS: &str = "fanz.events.>";

fn nats_err(e: impl std::fmt::Display) -> EventsError {
    EventsError::Nats(e.to_string())
}

/// Connect and make sure the stream exists.
pub async fn connect(url: &str) -> Result<jetstream::Context> {
    let client = tokio::time::timeout(Duration::from_secs(10), async_nats::connect(url))
        .await
        .map_err(|_| EventsError::Nats(format!("connecting to {url} timed out")))?
        .map_err(nats_err)?;
    let js = jetstream::new(client);
    js.get_or_create_stream(stream::Config {
        name: STREAM.into(),
        subjects: vec![SUBJECTS.into()],
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(120),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(nats_err)?;
    Ok(js)
}

/// Publish in order and wait for every acknowledgement; returns the stream sequences.
pub async fn publish_all(js: &jetstream::Context, envelopes: &[Envelope]) -> Result<Vec<u64>> {
    let mut pending = Vec::with_capacity(envelopes.len());
    for env in envelopes {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", env.id.as_str());
        let body = serde_json::to_vec(env)?;
        let ack = js
            .publish_with_headers(
                format!("fanz.events.{}", env.event_type),
                headers,
                body.into(),
            )
            .await
            .map_err(nats_err)?;
        pending.push(ack);
    }
    let mut seqs = Vec::with_capacity(pending.len());
    for ack in pending {
        seqs.push(ack.await.map_err(nats_err)?.sequence);
    }
    Ok(seqs)
}

/// A durable consumer's name: NATS allows no dots, wildcards or spaces.
fn durable_name(subscriber: &str) -> String {
    let clean: String = subscriber
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("fanz-{clean}")
}

fn consumer_config(subscriber: &str, deliver: consumer::DeliverPolicy) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(durable_name(subscriber)),
        deliver_policy: deliver,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(90),
        filter_subject: SUBJECTS.into(),
        // A node's own probe (and a benchmark's) subscriber goes away with the node.
        inactive_threshold: if per_node(subscriber) {
            Duration::from_secs(3600)
        } else {
            Duration::ZERO
        },
        ..Default::default()
    }
}

async fn consumer(
    js: &jetstream::Context,
    subscriber: &str,
) -> Result<consumer::Consumer<consumer::pull::Config>> {
    let stream = js.get_stream(STREAM).await.map_err(nats_err)?;
    match stream
        .get_consumer::<consumer::pull::Config>(&durable_name(subscriber))
        .await
    {
        Ok(c) => Ok(c),
        // A new shared subscriber reads the retained stream from its start; a per-node one
        // only what comes from now on.
        Err(_) => stream
            .create_consumer(consumer_config(
                subscriber,
                if per_node(subscriber) {
                    consumer::DeliverPolicy::New
                } else {
                    consumer::DeliverPolicy::All
                },
            ))
            .await
            .map_err(nats_err),
    }
}

/// Subscribers that live and die with one node (`probe@<node>`, `bench@<node>`).
fn per_node(subscriber: &str) -> bool {
    subscriber.starts_with("probe@") || subscriber.starts_with("bench@")
}

/// Recreate a subscriber's consumer so it delivers from `stream_seq` (or only new messages).
pub async fn reset_consumer(
    js: &jetstream::Context,
    subscriber: &str,
    stream_seq: Option<u64>,
) -> Result<()> {
    let stream = js.get_stream(STREAM).await.map_err(nats_err)?;
    let _ = stream.delete_consumer(&durable_name(subscriber)).await;
    let deliver = match stream_seq {
        Some(start_sequence) => consumer::DeliverPolicy::ByStartSequence { start_sequence },
        None => consumer::DeliverPolicy::New,
    };
    stream
        .create_consumer(consumer_config(subscriber, deliver))
        .await
        .map_err(nats_err)?;
    Ok(())
}

pub(crate) async fn dispatch_loop(
    shared: Arc<Shared>,
    index: usize,
    sub: Arc<Subscription>,
    js: jetstream::Context,
) {
    let mut stop = shared.stop.subscribe();
    loop {
        shared.tick(index);
        let result = async {
            let mut tx = shared.store.begin().await?;
            ensure_subscriber(&mut tx, &sub.name).await?;
            tx.commit().await?;
            let consumer = consumer(&js, &sub.name).await?;
            let mut messages = consumer
                .stream()
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(10))
                .messages()
                .await
                .map_err(nats_err)?;
            loop {
                shared.tick(index);
                let next = tokio::select! {
                    m = tokio::time::timeout(shared.config.poll_interval.max(Duration::from_secs(1)), messages.next()) => m,
                    _ = stop.changed() => return Ok(()),
                };
                let msg = match next {
                    Err(_) => continue, // nothing for a while: go round (health tick)
                    Ok(None) => return Err(EventsError::Nats("the consumer's stream ended".into())),
                    Ok(Some(m)) => m.map_err(nats_err)?,
                };
                handle(&shared, &sub, msg).await?;
            }
        }
        .await;
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(subscriber = %sub.name, error = %e, "NATS consumer interrupted; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

async fn handle(shared: &Shared, sub: &Subscription, msg: jetstream::Message) -> Result<()> {
    let delivered = msg.info().map(|i| i.delivered).unwrap_or(1).max(1) as u32;
    let env: Envelope = match serde_json::from_slice(&msg.payload) {
        Ok(env) => env,
        Err(e) => {
            tracing::error!(error = %e, "an unreadable message on the event stream; dropped");
            msg.ack_with(jetstream::AckKind::Term)
                .await
                .map_err(nats_err)?;
            return Ok(());
        }
    };
    let skip = !sub.wants(&env.event_type) || {
        let mut db = shared.store.conn().await?;
        has_receipt(&mut db, &sub.name, &env.id).await?
    };
    if skip {
        msg.ack().await.map_err(nats_err)?;
        return Ok(());
    }
    match call(shared, sub, &env).await {
        Ok(()) => {
            observe_delivery(&sub.name, &env);
            record(shared, &sub.name, &env, None).await?;
            msg.ack().await.map_err(nats_err)?;
        }
        Err(e) if delivered >= shared.config.max_attempts => {
            metrics::counter!("events_dead_total", "subscriber" => sub.name.clone()).increment(1);
            tracing::error!(subscriber = %sub.name, event = %env.id, error = %e, "event parked as a dead letter");
            record(shared, &sub.name, &env, Some((delivered, &e))).await?;
            msg.ack_with(jetstream::AckKind::Term)
                .await
                .map_err(nats_err)?;
        }
        Err(e) => {
            metrics::counter!("events_failed_total", "subscriber" => sub.name.clone()).increment(1);
            tracing::warn!(subscriber = %sub.name, event = %env.id, attempt = delivered, error = %e, "event handler failed");
            let delay = shared
                .config
                .retry_base
                .saturating_mul(1 << delivered.min(10));
            msg.ack_with(jetstream::AckKind::Nak(Some(delay)))
                .await
                .map_err(nats_err)?;
        }
    }
    Ok(())
}

//! The job runner and the event bus of this process. Every module's job handlers and event
//! subscribers are registered here, in one place; they start with the server and stop after
//! it has finished its requests.

use crate::AppState;
use fanz_config::Config;
use fanz_events::{Bus, BusConfig, BusHandle, Subscribers};
use fanz_jobs::{Registry, Runner, RunnerConfig, RunnerHandle};
use std::sync::Arc;
use std::time::Duration;

/// The running background parts; `jobs` is `None` on a node with `jobs.enabled = false`.
pub struct Background {
    pub jobs: Option<RunnerHandle>,
    pub events: BusHandle,
}

impl Background {
    /// Every job queue and event subscriber of this node is going round (readiness).
    pub fn healthy(&self) -> bool {
        self.jobs.as_ref().is_none_or(|j| j.health().healthy) && self.events.health().healthy
    }

    /// Stop claiming and dispatching; running jobs get the grace period.
    pub async fn shutdown(&self) {
        if let Some(jobs) = &self.jobs {
            jobs.shutdown().await;
        }
        self.events.shutdown().await;
    }
}

/// This node's name: `[jobs] node_name`, or host-pid-random.
pub fn node_name(config: &Config) -> String {
    if config.jobs.node_name.is_empty() {
        fanz_jobs::default_node_name()
    } else {
        config.jobs.node_name.clone()
    }
}

/// Every module's job handlers and recurring jobs.
pub fn registry(
    config: &Config,
    content: &fanz_content::Content,
    media: &Arc<fanz_media::Media>,
    payments: &fanz_payments::Payments,
) -> Registry {
    let mut registry = Registry::new();
    let transport: Option<Arc<dyn fanz_identity::mail::MailTransport>> =
        if config.smtp_url.is_empty() {
            None
        } else {
            match fanz_identity::mail::SmtpTransport::new(&config.smtp_url, &config.smtp_from) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    tracing::error!(error = %e, "SMTP is misconfigured; mail stays in the outbox");
                    None
                }
            }
        };
    fanz_identity::mail::register_jobs(&mut registry, transport);
    fanz_ledger::register_jobs(&mut registry);
    fanz_content::jobs::register_jobs(&mut registry, content.clone());
    fanz_media::jobs::register(&mut registry, media.clone());
    fanz_payments::jobs::register_jobs(&mut registry, payments.clone());
    fanz_safety::jobs::register_jobs(
        &mut registry,
        payments.clone(),
        content.clone(),
        crate::strike_policy(config),
    );
    fanz_safety::privacy::register_jobs(&mut registry, media.clone(), config.data_dir.clone());
    registry
}

/// Every module's event subscribers (the bus adds its own `probe@<node>`).
pub fn subscribers(state: &AppState) -> Subscribers {
    let mut subs = Subscribers::new();
    if let Some(search) = &state.search {
        crate::search::subscribe(&mut subs, search.clone(), state.store.clone());
    }
    subs
}

pub fn runner_config(config: &Config, node: &str) -> RunnerConfig {
    let jobs = &config.jobs;
    RunnerConfig {
        node: node.to_owned(),
        queues: jobs
            .queues
            .iter()
            .map(|(q, n)| (q.clone(), *n as usize))
            .collect(),
        poll_interval: Duration::from_millis(jobs.poll_interval_ms),
        lease: Duration::from_secs(jobs.lease_secs),
        backoff_base: Duration::from_millis(jobs.backoff_base_ms),
        backoff_max: Duration::from_secs(jobs.backoff_max_secs),
        retention: Duration::from_secs(jobs.retention_hours * 3600),
        dead_retention: Duration::from_secs(jobs.dead_retention_hours * 3600),
        shutdown_grace: Duration::from_secs(jobs.shutdown_grace_secs),
        listen_url: if config.is_postgres() {
            config.database_url.clone()
        } else {
            String::new()
        },
    }
}

pub fn bus_config(config: &Config, node: &str) -> BusConfig {
    BusConfig {
        node: node.to_owned(),
        nats_url: config.events_url.clone(),
        database_url: config.database_url.clone(),
        poll_interval: Duration::from_millis(config.jobs.poll_interval_ms),
        max_attempts: config.jobs.event_max_attempts,
        retry_base: Duration::from_millis(config.jobs.event_retry_base_ms),
        handler_timeout: Duration::from_secs(60),
    }
}

/// Start the runner (unless disabled) and the bus. Fails when NATS is configured and cannot
/// be reached.
pub async fn start(state: &AppState) -> Result<Background, fanz_events::EventsError> {
    let config = &state.config;
    let events = Bus::new(
        state.store.clone(),
        subscribers(state),
        bus_config(config, &state.node),
    )
    .start()
    .await?;
    if let Some(search) = &state.search {
        crate::search::fill_if_empty(search.clone(), state.store.clone());
    }
    let jobs = config.jobs.enabled.then(|| {
        Runner::new(
            state.store.clone(),
            registry(config, &state.content, &state.media, &state.payments),
            runner_config(config, &state.node),
        )
        .start()
    });
    Ok(Background { jobs, events })
}

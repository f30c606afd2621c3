//! `[jobs]` and `events_url`: the background job runner and the event bus.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Run workers in this process (`false`: this node only enqueues; others run the jobs).
    pub enabled: bool,
    /// This node's name in the jobs table and the event subscribers (default: host-pid-random).
    pub node_name: String,
    /// Named queues and how many of their jobs run at once on this node.
    pub queues: BTreeMap<String, u32>,
    /// Longest wait between looks at the jobs table when nothing wakes a queue.
    pub poll_interval_ms: u64,
    /// A running job's lease; a job whose worker stops renewing it runs again after this.
    pub lease_secs: u64,
    /// First retry delay; doubles per attempt (with jitter) up to `backoff_max_secs`.
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    /// Done and cancelled jobs are deleted after this many hours; dead ones after
    /// `dead_retention_hours`.
    pub retention_hours: u64,
    pub dead_retention_hours: u64,
    /// On shutdown, running jobs get this long to finish before they are released.
    pub shutdown_grace_secs: u64,
    /// Tries per event and subscriber before the event is parked as a dead letter.
    pub event_max_attempts: u32,
    /// First delay between an event handler's tries.
    pub event_retry_base_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            node_name: String::new(),
            queues: BTreeMap::from([
                ("default".into(), 4),
                ("mail".into(), 2),
                ("maintenance".into(), 1),
                // Video and audio transcoding (`[media] transcode_concurrency` bounds ffmpeg).
                ("media".into(), 1),
            ]),
            poll_interval_ms: 1000,
            lease_secs: 60,
            backoff_base_ms: 1000,
            backoff_max_secs: 3600,
            retention_hours: 72,
            dead_retention_hours: 30 * 24,
            shutdown_grace_secs: 10,
            event_max_attempts: 5,
            event_retry_base_ms: 500,
        }
    }
}

impl JobsConfig {
    /// The configured queue names, sorted.
    pub fn queue_names(&self) -> Vec<String> {
        self.queues.keys().cloned().collect()
    }

    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.queues.values().any(|&n| n == 0) {
            return Err((
                "jobs.queues",
                "every queue needs a concurrency of at least 1".into(),
            ));
        }
        if self.queues.keys().any(|q| q.is_empty() || q.len() > 64) {
            return Err(("jobs.queues", "queue names are 1 to 64 characters".into()));
        }
        if self.lease_secs < 2 {
            return Err(("jobs.lease_secs", "must be at least 2".into()));
        }
        if self.poll_interval_ms < 10 {
            return Err(("jobs.poll_interval_ms", "must be at least 10".into()));
        }
        if self.event_max_attempts == 0 {
            return Err(("jobs.event_max_attempts", "must be at least 1".into()));
        }
        Ok(())
    }
}

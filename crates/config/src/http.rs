//! The `[http]` section: how long the server waits for a client and how much it takes on at
//! once. Every field has a default, so no section at all is a safe server.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's line and headers must arrive within this (HTTP/1); a slow-header client is
    /// disconnected.
    pub header_read_timeout_secs: u64,
    /// The longest pause allowed between two pieces of a request body.
    pub body_read_timeout_secs: u64,
    /// A connection that sends and receives nothing for this long, with no request in flight,
    /// is closed (silent clients, idle keep-alive, unread responses).
    pub idle_timeout_secs: u64,
    /// Every request must have its response head within this; beyond it the answer is 503
    /// `deadline_exceeded`. Keep it above `gateway.timeout_ms`.
    pub request_timeout_secs: u64,
    /// Open connections at most; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Requests in progress at most; beyond it the answer is 503 `overloaded` at once (load
    /// shedding) instead of a queue.
    pub max_in_flight: usize,
    /// The largest request head (request line and headers); 431 above.
    pub max_header_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 15,
            idle_timeout_secs: 60,
            request_timeout_secs: 60,
            max_connections: 1024,
            max_in_flight: 512,
            max_header_bytes: 32 * 1024,
        }
    }
}

impl HttpConfig {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, v) in [
            (
                "http.header_read_timeout_secs",
                self.header_read_timeout_secs,
            ),
            ("http.body_read_timeout_secs", self.body_read_timeout_secs),
            ("http.idle_timeout_secs", self.idle_timeout_secs),
            ("http.request_timeout_secs", self.request_timeout_secs),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if self.max_connections == 0 || self.max_in_flight == 0 {
            return Err((
                if self.max_connections == 0 {
                    "http.max_connections"
                } else {
                    "http.max_in_flight"
                },
                "must be at least 1".into(),
            ));
        }
        if !(8192..=1024 * 1024).contains(&self.max_header_bytes) {
            return Err((
                "http.max_header_bytes",
                "must be between 8192 and 1048576".into(),
            ));
        }
        Ok(())
    }
}

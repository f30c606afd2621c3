//! Metrics through the `metrics` facade; the binary's recorder renders them on /metrics.
//! Handles are made on a service's first request (after the recorder is installed) and reused,
//! so the hot path does no label hashing.
//!
//! - `gateway_requests_total{service,class}` (class 2xx…5xx)
//! - `gateway_request_duration_seconds{service}` until response headers
//! - `gateway_upstream_errors_total{service,kind}` (connect, timeout, status_5xx)
//! - `gateway_retries_total{service}`, `gateway_cache_total{service,result}`,
//!   `gateway_rate_limited_total{scope}`
//! - `gateway_breaker_state{service,instance}` 0 closed, 1 half-open, 2 open
//! - `gateway_instance_up{service,instance}` 1 when the last active checks passed

use metrics::{counter, gauge, histogram, Counter, Histogram};

#[derive(Debug)]
pub struct ServiceMetrics {
    by_class: [Counter; 5],
    pub latency: Histogram,
    pub err_connect: Counter,
    pub err_timeout: Counter,
    pub err_status: Counter,
    pub retries: Counter,
    pub cache_hit: Counter,
    pub cache_miss: Counter,
    pub cache_bypass: Counter,
}

impl ServiceMetrics {
    pub fn new(service: &str) -> Self {
        let s = service.to_owned();
        let class = |c: &'static str| counter!("gateway_requests_total", "service" => s.clone(), "class" => c);
        let err = |k: &'static str| counter!("gateway_upstream_errors_total", "service" => s.clone(), "kind" => k);
        let cache = |r: &'static str| counter!("gateway_cache_total", "service" => s.clone(), "result" => r);
        Self {
            by_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            latency: histogram!("gateway_request_duration_seconds", "service" => s.clone()),
            err_connect: err("connect"),
            err_timeout: err("timeout"),
            err_status: err("status_5xx"),
            retries: counter!("gateway_retries_total", "service" => s.clone()),
            cache_hit: cache("hit"),
            cache_miss: cache("miss"),
            cache_bypass: cache("bypass"),
        }
    }

    pub fn record_status(&self, status: u16) {
        let i = usize::from((status / 100).clamp(1, 5)) - 1;
        self.by_class[i].increment(1);
    }
}

pub fn breaker_state(service: &str, instance: &str, state: crate::breaker::BreakerState) {
    gauge!("gateway_breaker_state", "service" => service.to_owned(), "instance" => instance.to_owned())
        .set(state.gauge());
}

pub fn instance_up(service: &str, instance: &str, up: bool) {
    gauge!("gateway_instance_up", "service" => service.to_owned(), "instance" => instance.to_owned())
        .set(if up { 1.0 } else { 0.0 });
}

pub fn rate_limited(scope: &'static str) {
    counter!("gateway_rate_limited_total", "scope" => scope).increment(1);
}

//! The `[gateway]` section: the API gateway's settings (`fanz-gateway` reads them). Every field
//! has a default, so no section at all is a working gateway.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The service catalogue.
    pub catalogue: PathBuf,
    /// How often the catalogue's mtime is checked for hot reload; 0 disables.
    pub reload_interval_ms: u64,
    /// Active health checks of upstream instances.
    pub health: HealthConfig,
    /// Per-service timeout (until the upstream's response headers, all attempts included) unless
    /// the service sets `timeout_ms`.
    pub timeout_ms: u64,
    /// TCP connect timeout to an upstream instance.
    pub connect_timeout_ms: u64,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub cache: CacheConfig,
    pub rate_limit: RateLimitConfig,
    /// HMAC-SHA256 key for the `x-fanz-identity` header sent to upstreams. Empty: the caller's
    /// identity is not forwarded at all (an incoming copy is still stripped).
    pub identity_secret: String,
    /// Forward `Authorization` and `Cookie` to upstreams even after the edge authenticated
    /// the caller with them. Off: upstreams get the signed identity, never the credentials.
    pub forward_credentials: bool,
    /// How long the edge remembers the caller resolved from a credential (0: ask the identity
    /// module on every request). A revoked key or closed session passes this node's edge for
    /// at most this long.
    pub auth_cache_ms: u64,
    /// Believe incoming `X-Forwarded-For/Proto/Host` (only behind a trusted load balancer).
    pub trust_forwarded_headers: bool,
    /// Idle keep-alive connections kept per upstream instance.
    pub pool_max_idle_per_host: usize,
    pub pool_idle_timeout_ms: u64,
    /// How often `dns` names of services are re-resolved; 0 disables discovery.
    pub dns_interval_ms: u64,
    /// Name servers (`ip:port`) asked for SRV records; empty: the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<String>,
    /// How often runtime registrations are re-read from the store (other nodes' changes).
    pub sync_interval_ms: u64,
    /// Upper bound on instances per service (runtime registration refuses more).
    pub max_instances_per_service: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            catalogue: PathBuf::from("services.toml"),
            reload_interval_ms: 2_000,
            health: HealthConfig::default(),
            timeout_ms: 30_000,
            connect_timeout_ms: 2_000,
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            cache: CacheConfig::default(),
            rate_limit: RateLimitConfig::default(),
            identity_secret: String::new(),
            forward_credentials: false,
            auth_cache_ms: 5_000,
            trust_forwarded_headers: false,
            pool_max_idle_per_host: 256,
            pool_idle_timeout_ms: 90_000,
            dns_interval_ms: 10_000,
            dns_servers: Vec::new(),
            sync_interval_ms: 5_000,
            max_instances_per_service: 64,
        }
    }
}

impl GatewayConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Interval between active checks of each instance; 0 disables active checks.
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Consecutive successes that bring a down instance back.
    pub healthy_threshold: u32,
    /// Consecutive failures that take an instance down.
    pub unhealthy_threshold: u32,
    /// Path used when neither the instance nor the service names one.
    pub default_path: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval_ms: 30_000,
            timeout_ms: 2_000,
            healthy_threshold: 1,
            unhealthy_threshold: 2,
            default_path: "/healthz".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Extra attempts for an idempotent request with no body (GET, HEAD, OPTIONS, PUT,
    /// DELETE, TRACE). Requests with a body and non-idempotent methods are never retried.
    pub max_retries: u32,
    /// First backoff; doubles per attempt up to `backoff_max_ms`, with jitter in [d/2, d].
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Retry budget per service: each request deposits this fraction of a retry...
    pub budget_ratio: f64,
    /// ...and this many retries per second are always allowed.
    pub budget_min_per_sec: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            backoff_base_ms: 10,
            backoff_max_ms: 500,
            budget_ratio: 0.2,
            budget_min_per_sec: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Tumbling window over which the failure ratio is measured.
    pub window_ms: u64,
    /// The ratio only trips the breaker once the window saw this many requests.
    pub min_requests: u32,
    pub failure_ratio: f64,
    /// Passive outlier ejection: this many consecutive failures open the breaker at once.
    pub consecutive_failures: u32,
    /// How long an open breaker rejects before letting probes through (half-open).
    pub open_ms: u64,
    /// Concurrent probe requests allowed while half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window_ms: 10_000,
            min_requests: 20,
            failure_ratio: 0.5,
            consecutive_failures: 5,
            open_ms: 5_000,
            half_open_probes: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub enabled: bool,
    /// TTL when the upstream's Cache-Control gives none (`max-age`/`s-maxage` win).
    pub default_ttl_secs: u64,
    /// Responses larger than this (or without Content-Length) stream through uncached.
    pub max_entry_bytes: usize,
    pub max_total_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_ttl_secs: 60,
            max_entry_bytes: 1 << 20,
            max_total_bytes: 32 << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Token bucket per client (user id when authenticated, else client IP); 0 disables.
    pub per_client_rps: f64,
    pub per_client_burst: f64,
    /// Token bucket per service unless the service sets `rate_limit_rps`; 0 disables.
    pub per_service_rps: f64,
    pub per_service_burst: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_client_rps: 100.0,
            per_client_burst: 200.0,
            per_service_rps: 0.0,
            per_service_burst: 0.0,
        }
    }
}

impl GatewayConfig {
    /// The first bad value as (`gateway.key`, what is wrong).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let ratio = |v: f64| (0.0..=1.0).contains(&v);
        if self.timeout_ms == 0 {
            return Err(("gateway.timeout_ms", "must be at least 1".into()));
        }
        if !ratio(self.breaker.failure_ratio) || self.breaker.failure_ratio == 0.0 {
            return Err(("gateway.breaker.failure_ratio", "must be in (0, 1]".into()));
        }
        if self.rate_limit.per_client_rps < 0.0 || self.rate_limit.per_service_rps < 0.0 {
            return Err(("gateway.rate_limit", "rates must not be negative".into()));
        }
        if !self.health.default_path.starts_with('/') {
            return Err(("gateway.health.default_path", "must start with '/'".into()));
        }
        if !self.identity_secret.is_empty() && self.identity_secret.len() < 32 {
            return Err((
                "gateway.identity_secret",
                "must be at least 32 characters (or empty to not forward identities)".into(),
            ));
        }
        Ok(())
    }
}

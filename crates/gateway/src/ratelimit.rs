//! Token buckets: one per client (user id, else client IP) and one per service. In-process,
//! as DESIGN's "cache / limits: in-process" port says; each node limits its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Take one token, or say how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    pub fn same_params(&self, rate: f64, burst: f64) -> bool {
        self.rate == rate && self.burst == burst.max(1.0)
    }
}

/// Buckets keyed by client.
pub struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

const PRUNE_AT: usize = 50_000;

impl Limiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get_mut(key) {
            return b.take(now);
        }
        if map.len() >= PRUNE_AT {
            // Full buckets carry no information: dropping them forgets nothing.
            map.retain(|_, b| !b.is_full(now));
        }
        let mut b = Bucket::new(self.rate, self.burst, now);
        let r = b.take(now);
        map.insert(key.to_owned(), b);
        r
    }
}

/// Seconds for a Retry-After header: at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let t0 = Instant::now();
        let l = Limiter::new(2.0, 3.0);
        for _ in 0..3 {
            assert!(l.check("a", t0).is_ok());
        }
        let wait = l.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        assert!(
            l.check("b", t0).is_ok(),
            "other clients have their own bucket"
        );
        assert!(l.check("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(l.check("a", t0 + Duration::from_millis(500)).is_err());
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }
}

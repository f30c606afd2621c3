//! The circuit breaker of one upstream instance: closed → open when, in a tumbling window with
//! at least `min_requests`, the failure ratio reaches `failure_ratio`, or at once after
//! `consecutive_failures` failures in a row (passive outlier ejection). Open rejects for
//! `open_ms`, then half-open lets `half_open_probes` requests through: a success closes it, a
//! failure opens it again. Time is `tokio::time::Instant`, so tests drive it with paused time.

use crate::config::BreakerConfig;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// For the `gateway_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: BreakerState,
    opened_at: Instant,
    window_start: Instant,
    requests: u32,
    failures: u32,
    consecutive: u32,
    probes: u32,
    probe_started: Instant,
    /// Times the breaker opened, for the admin page.
    pub trips: u64,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig, now: Instant) -> Self {
        Self {
            cfg,
            state: BreakerState::Closed,
            opened_at: now,
            window_start: now,
            requests: 0,
            failures: 0,
            consecutive: 0,
            probes: 0,
            probe_started: now,
            trips: 0,
        }
    }

    fn open_for(&self) -> Duration {
        Duration::from_millis(self.cfg.open_ms)
    }

    /// The state at `now` (an open breaker whose time is up reads half-open).
    pub fn state(&mut self, now: Instant) -> BreakerState {
        if self.state == BreakerState::Open && now.duration_since(self.opened_at) >= self.open_for()
        {
            self.state = BreakerState::HalfOpen;
            self.probes = 0;
        }
        self.state
    }

    /// Would a request be let through right now? Does not take a probe slot.
    pub fn would_allow(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => self.probe_slot_free(now),
        }
    }

    fn probe_slot_free(&self, now: Instant) -> bool {
        // A probe whose caller went away never reports; after `open_ms` its slot is free again.
        self.probes < self.cfg.half_open_probes.max(1)
            || now.duration_since(self.probe_started) >= self.open_for()
    }

    /// Take permission for one request.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                if !self.probe_slot_free(now) {
                    return false;
                }
                if now.duration_since(self.probe_started) >= self.open_for() {
                    self.probes = 0;
                }
                self.probes += 1;
                self.probe_started = now;
                true
            }
        }
    }

    fn roll_window(&mut self, now: Instant) {
        if now.duration_since(self.window_start) >= Duration::from_millis(self.cfg.window_ms) {
            self.window_start = now;
            self.requests = 0;
            self.failures = 0;
        }
    }

    pub fn on_success(&mut self, now: Instant) {
        self.consecutive = 0;
        match self.state(now) {
            BreakerState::HalfOpen => self.close(now),
            BreakerState::Closed => {
                self.roll_window(now);
                self.requests += 1;
            }
            BreakerState::Open => {}
        }
    }

    /// Returns true when this failure opened the breaker.
    pub fn on_failure(&mut self, now: Instant) -> bool {
        self.consecutive += 1;
        match self.state(now) {
            BreakerState::HalfOpen => {
                self.open(now);
                true
            }
            BreakerState::Closed => {
                self.roll_window(now);
                self.requests += 1;
                self.failures += 1;
                let ratio_trip = self.requests >= self.cfg.min_requests.max(1)
                    && f64::from(self.failures)
                        >= self.cfg.failure_ratio * f64::from(self.requests);
                let consecutive_trip = self.cfg.consecutive_failures > 0
                    && self.consecutive >= self.cfg.consecutive_failures;
                if ratio_trip || consecutive_trip {
                    self.open(now);
                    true
                } else {
                    false
                }
            }
            BreakerState::Open => false,
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.probes = 0;
        self.trips += 1;
    }

    /// Back to closed with clean counters (a probe succeeded, or an active health check
    /// brought the instance back).
    pub fn close(&mut self, now: Instant) {
        self.state = BreakerState::Closed;
        self.window_start = now;
        self.requests = 0;
        self.failures = 0;
        self.consecutive = 0;
        self.probes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            window_ms: 10_000,
            min_requests: 10,
            failure_ratio: 0.5,
            consecutive_failures: 0,
            open_ms: 1_000,
            half_open_probes: 1,
        }
    }

    #[test]
    fn ratio_trips_only_after_minimum_volume() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg(), t0);
        // 4 failures out of 4: below the minimum volume, stays closed
        for _ in 0..4 {
            assert!(!b.on_failure(t0));
        }
        assert_eq!(b.state(t0), BreakerState::Closed);
        for _ in 0..5 {
            b.on_success(t0);
        }
        // 10th request is a failure: 5/10 = 0.5 → open
        assert!(b.on_failure(t0));
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.try_acquire(t0));
    }

    #[test]
    fn half_open_lets_one_probe_and_closes_on_success_or_reopens_on_failure() {
        let t0 = Instant::now();
        let mut b = Breaker::new(
            BreakerConfig {
                consecutive_failures: 3,
                ..cfg()
            },
            t0,
        );
        for _ in 0..3 {
            b.on_failure(t0);
        }
        assert_eq!(
            b.state(t0),
            BreakerState::Open,
            "consecutive failures eject"
        );
        let t1 = t0 + Duration::from_millis(1_000);
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        assert!(b.try_acquire(t1));
        assert!(!b.try_acquire(t1), "one probe at a time");
        assert!(b.on_failure(t1));
        assert_eq!(b.state(t1), BreakerState::Open);
        let t2 = t1 + Duration::from_millis(1_000);
        assert!(b.try_acquire(t2));
        b.on_success(t2);
        assert_eq!(b.state(t2), BreakerState::Closed);
        assert!(b.try_acquire(t2) && b.try_acquire(t2));
        assert_eq!(b.trips, 2);
    }

    #[test]
    fn window_rolls_over() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg(), t0);
        for _ in 0..9 {
            b.on_failure(t0);
        }
        let later = t0 + Duration::from_millis(10_001);
        assert!(!b.on_failure(later), "old failures expired with the window");
        assert_eq!(b.state(later), BreakerState::Closed);
    }
}

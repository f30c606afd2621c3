//! The `[payments]` section: processors per cluster, the sandbox, billing rules and payouts.
//! Every field has a default; no processor takes money until it is configured and enabled.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use fanz_processors::Settings as ProcessorSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Offer the sandbox processor (test cards, no real money). On in `serve --demo`; never
    /// turn it on for a site taking real payments: a sandbox "payment" grants real access.
    pub sandbox: bool,
    /// The sandbox's signing key; empty: a random key per process (its notifications are
    /// signed when delivered, so restarts lose nothing).
    pub sandbox_secret: String,
    /// Sandbox faults, to exercise the intake: send every notification twice, hold each back
    /// up to this many seconds, send later ones first, fail this many deliveries of each
    /// before one succeeds.
    pub sandbox_duplicates: bool,
    pub sandbox_max_delay_secs: u64,
    pub sandbox_reorder: bool,
    pub sandbox_fail_first: u32,
    /// The "charged back later" test card's chargeback arrives this long after the sale.
    pub sandbox_chargeback_after_secs: u64,
    /// Processor settings: `[payments.processors.<cluster slug or "default">.<processor>]`.
    /// A cluster's own table wins over `default`.
    pub processors: BTreeMap<String, BTreeMap<String, ProcessorSettings>>,
    /// Days a subscription whose renewal failed keeps access while the processor retries.
    pub grace_days: i64,
    /// Bundle discounts in percent for 90, 180 and 365 days of a 30-day tier.
    pub bundle_discounts: [i64; 3],
    /// Tips: smallest and largest, in minor units.
    pub tip_min: i64,
    pub tip_max: i64,
    /// Wallet top-ups and gift cards: smallest and largest.
    pub topup_min: i64,
    pub topup_max: i64,
    /// The rolling reserve held from each sale's creator share, in basis points, and for how
    /// many days.
    pub reserve_bps: i64,
    pub reserve_days: i64,
    /// The chargeback fee posted when the processor states none, in minor units.
    pub chargeback_fee: i64,
    /// Chargebacks before a fan may not buy again until finance clears them.
    pub chargebacks_to_flag: i64,
    /// The smallest payout a creator may set.
    pub payout_minimum: i64,
    /// Days from a payout's request to its expected arrival.
    pub payout_days: i64,
    /// Notification intake: retries before a notification that cannot be applied becomes a
    /// dead letter.
    pub apply_attempts: i64,
    /// Notification intake: the most notifications stored and applied in one transaction
    /// (group commit; 1 gives each its own transaction, run side by side).
    pub intake_group_max: usize,
    /// Chargebacks per sale over the last 30 days, in basis points, at which the finance
    /// console warns, and at which it marks a processor excessive. Set them from your
    /// acquirer's letter: the card schemes' programmes (Visa's VAMP, Mastercard's ECM at 150)
    /// change their thresholds.
    pub dispute_warn_bps: i64,
    pub dispute_limit_bps: i64,
    /// Charges from processors that sign nothing wait for the processor's own records
    /// (CCBill's Data Link) before payout: asked at most once per `confirm_interval_secs` per
    /// account (CCBill answers one extract an hour); after `confirm_attempts` answers without
    /// the charge, or `confirm_days` days, the charge is listed for finance as overdue.
    pub confirm_interval_secs: i64,
    pub confirm_attempts: i64,
    pub confirm_days: i64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            sandbox: false,
            sandbox_secret: String::new(),
            sandbox_duplicates: false,
            sandbox_max_delay_secs: 0,
            sandbox_reorder: false,
            sandbox_fail_first: 0,
            sandbox_chargeback_after_secs: 60,
            processors: BTreeMap::new(),
            grace_days: 3,
            bundle_discounts: [10, 15, 20],
            tip_min: 100,
            tip_max: 50_000,
            topup_min: 1_000,
            topup_max: 100_000,
            reserve_bps: 500,
            reserve_days: 30,
            chargeback_fee: 2_500,
            chargebacks_to_flag: 1,
            dispute_warn_bps: 90,
            dispute_limit_bps: 150,
            payout_minimum: 2_000,
            payout_days: 3,
            apply_attempts: 8,
            intake_group_max: 256,
            confirm_interval_secs: 3600,
            confirm_attempts: 24,
            confirm_days: 7,
        }
    }
}

impl PaymentsConfig {
    /// Refuse settings that cannot work, at start-up.
    pub fn check(&self) -> Result<(), String> {
        for (cluster, procs) in &self.processors {
            for (name, s) in procs {
                s.check()
                    .map_err(|e| format!("payments.processors.{cluster}.{name}: {e}"))?;
            }
        }
        if !(1..=10_000).contains(&self.dispute_warn_bps)
            || !(self.dispute_warn_bps..=10_000).contains(&self.dispute_limit_bps)
        {
            return Err(
                "payments: dispute_warn_bps must be 1–10000 and dispute_limit_bps at least it"
                    .into(),
            );
        }
        if !(0..=10_000).contains(&self.reserve_bps) || !(1..=3650).contains(&self.reserve_days) {
            return Err("payments: reserve_bps must be 0–10000 and reserve_days 1–3650".into());
        }
        if self.tip_min < 1
            || self.tip_max < self.tip_min
            || self.topup_min < 1
            || self.topup_max < self.topup_min
        {
            return Err("payments: tip and top-up limits must be positive and min ≤ max".into());
        }
        if self.confirm_interval_secs < 0
            || !(1..=1000).contains(&self.confirm_attempts)
            || !(1..=365).contains(&self.confirm_days)
        {
            return Err("payments: confirm_interval_secs must be ≥ 0, confirm_attempts 1–1000 and confirm_days 1–365".into());
        }
        if self.bundle_discounts.iter().any(|d| !(0..=90).contains(d)) {
            return Err("payments: bundle_discounts must be 0–90 percent".into());
        }
        Ok(())
    }
}

//! The `[compliance]` section: the custodian of records named on every cluster's
//! `/legal/2257` page, the limits on reports, the repeat-infringer policy and the sandbox identity provider. Every field has a default; the custodian's
//! name and address are placeholders an operator must replace before going live.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComplianceConfig {
    /// The custodian of records (18 U.S.C. 2257, 28 CFR 75.4): a natural person's name or
    /// title.
    pub custodian_name: String,
    /// The street address where the records are kept (no post-office box, 28 CFR 75.6).
    pub custodian_address: String,
    /// Where complaints and legal notices are sent (shown on the 2257 and report pages).
    pub contact_email: String,
    /// Reports one IP address may file per hour; more are refused (429).
    pub reports_per_ip_per_hour: i64,
    /// The sandbox identity provider: a test page that verifies whoever types a date of birth.
    /// Never on a live server; `serve --demo` turns it on.
    pub sandbox_verification: bool,
    /// The repeat-infringer policy (17 U.S.C. 512(i)): this many upheld copyright takedowns
    /// within `repeat_infringer_window_days` suspend an account from publishing.
    pub repeat_infringer_strikes: i64,
    /// The window, in days, strikes are counted in.
    pub repeat_infringer_window_days: i64,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        Self {
            custodian_name: "Custodian of Records (set [compliance] custodian_name)".into(),
            custodian_address: "Street address not configured (set [compliance] custodian_address)"
                .into(),
            contact_email: "compliance@fanz.localhost".into(),
            reports_per_ip_per_hour: 10,
            sandbox_verification: false,
            repeat_infringer_strikes: 3,
            repeat_infringer_window_days: 365,
        }
    }
}

impl ComplianceConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.reports_per_ip_per_hour < 1 {
            return Err("reports_per_ip_per_hour must be at least 1".into());
        }
        if self.repeat_infringer_strikes < 1 || self.repeat_infringer_window_days < 1 {
            return Err(
                "repeat_infringer_strikes and repeat_infringer_window_days must be at least 1"
                    .into(),
            );
        }
        if self.custodian_name.trim().is_empty() || self.custodian_address.trim().is_empty() {
            return Err("custodian_name and custodian_address must not be empty".into());
        }
        Ok(())
    }
}

//! The `[age_assurance]` section: where a viewer is, which rule applies there, and the
//! sandbox age-assurance provider. Each cluster's policy (`clusters.toml`, `age_rules`) adds
//! rules of its own that win over these for the same place.
//!
//! A rule is a string: `allow`, `block`, or `assure` optionally followed by the methods that
//! satisfy it (`assure: facial_estimation, photo_id`). Places are keys: an ISO 3166-1 country
//! (`GB`), an ISO 3166-2 subdivision (`US-TX`), `unknown` (no region could be found) and `*`
//! (everywhere else). The most specific key wins.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgeAssuranceConfig {
    /// The platform's rules by place; each cluster's `age_rules` win over them.
    pub rules: BTreeMap<String, String>,
    /// A request header carrying the viewer's country (ISO 3166-1 alpha-2), set by the
    /// operator's proxy or CDN (`CF-IPCountry`, `CloudFront-Viewer-Country`). Only name a header
    /// the proxy always overwrites: a client could otherwise choose its own country.
    pub country_header: String,
    /// A request header carrying the viewer's subdivision (`US-TX`, or `TX` with the country
    /// header), set the same way (`CloudFront-Viewer-Country-Region`).
    pub region_header: String,
    /// A CSV file of address ranges, `first,last,country[,region]` per line (the shape of the
    /// free IP-to-country databases); looked up when no header gives the place.
    pub ip_database: String,
    /// Days a passed check is remembered (in a sealed cookie, and on the account when the
    /// viewer is signed in).
    pub pass_days: u32,
    /// The sandbox age-assurance provider: a test page that passes or fails whoever asks.
    /// Never on a live server; `serve --demo` turns it on.
    pub sandbox: bool,
}

impl Default for AgeAssuranceConfig {
    fn default() -> Self {
        Self {
            rules: BTreeMap::new(),
            country_header: String::new(),
            region_header: String::new(),
            ip_database: String::new(),
            pass_days: 90,
            sandbox: false,
        }
    }
}

impl AgeAssuranceConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.pass_days == 0 || self.pass_days > 3660 {
            return Err("pass_days must be between 1 and 3660".into());
        }
        for h in [&self.country_header, &self.region_header] {
            let name_ok = h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return Err(format!("{h:?} is not a header name"));
            }
        }
        Ok(())
    }
}

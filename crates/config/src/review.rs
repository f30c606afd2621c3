//! The `[review]` section: review before publication's platform-wide settings. Each cluster's
//! policy (`clusters.toml`) adds its own banned terms and says whether a person reviews posts
//! before they are published there.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// Terms refused on every cluster in post text, teasers, tags and search queries (each
    /// cluster's `policy.banned_terms` adds more). Matched as whole words, case-insensitively;
    /// a term of several words matches them in sequence, with any separators or none.
    pub banned_terms: Vec<String>,
    /// A PDQ hash within this many bits (of 256) of a listed hash is a match; 31 is the
    /// convention of the hash-sharing programmes.
    pub pdq_threshold: u32,
}

/// The platform's default banned terms: words that describe minors, non-consent, incapacity,
/// bestiality and incest, which the card networks' rules for adult merchants exclude. A
/// starting point for the operator, not legal advice.
pub const DEFAULT_BANNED_TERMS: &[&str] = &[
    "underage",
    "under age",
    "preteen",
    "pre teen",
    "jailbait",
    "lolita",
    "loli",
    "shota",
    "pedo",
    "pedophile",
    "paedophile",
    "child porn",
    "kiddie",
    "rape",
    "raped",
    "nonconsensual",
    "non consensual",
    "drugged",
    "passed out",
    "bestiality",
    "zoophilia",
    "incest",
    "snuff",
];

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            banned_terms: DEFAULT_BANNED_TERMS.iter().map(|s| s.to_string()).collect(),
            pdq_threshold: 31,
        }
    }
}

impl ReviewConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.pdq_threshold > 128 {
            return Err("pdq_threshold must be at most 128 (31 is the convention)".into());
        }
        if self.banned_terms.iter().any(|t| t.trim().is_empty()) {
            return Err("banned_terms must not contain an empty term".into());
        }
        Ok(())
    }
}

//! The `[auth]` section (limits on sign-up, password reset and password hashing) and the
//! `[secrets]` section (the keys that seal secrets at rest). Every field has a default.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Sign-ups from one client address within `signup_window_secs`.
    pub signup_max_per_ip: u32,
    pub signup_window_secs: u32,
    /// Password-reset requests for one e-mail address within `reset_window_secs`.
    pub reset_max_per_account: u32,
    /// Password-reset requests from one client address within `reset_window_secs`.
    pub reset_max_per_ip: u32,
    pub reset_window_secs: u32,
    /// Password hashes (argon2id, about 19 MiB each) computed at once; 0: one per core.
    pub hash_concurrency: u32,
    /// Hashes that may wait for a free slot; beyond them a request gets 503 at once.
    pub hash_queue: u32,
    /// How long a hash may wait for a slot before the request gets 503, in milliseconds.
    pub hash_wait_ms: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            signup_max_per_ip: 10,
            signup_window_secs: 60 * 60,
            reset_max_per_account: 3,
            reset_max_per_ip: 10,
            reset_window_secs: 60 * 60,
            hash_concurrency: 0,
            hash_queue: 32,
            hash_wait_ms: 5_000,
        }
    }
}

impl AuthConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, v) in [
            ("auth.signup_window_secs", self.signup_window_secs),
            ("auth.reset_window_secs", self.reset_window_secs),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

/// Keys for secrets sealed at rest (TOTP secrets; later identity documents), each written
/// `id:base64` of 32 random bytes, e.g. `k2:$(head -c 32 /dev/urandom | base64)`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// The key that seals new values. Empty: `<data_dir>/secrets.key`, generated on first start
    /// (one node only: nodes that share a store must be given the same key here).
    pub key: String,
    /// Earlier keys, still accepted for opening while stored values are re-sealed under `key`.
    pub old_keys: Vec<String>,
}

//! Identity: accounts, roles, login sessions, two-factor (TOTP with recovery codes), password
//! reset by e-mailed token, API keys for machine clients, attempt limits (login, two-factor,
//! sign-up, reset mail) counted before the work they guard, and the outgoing-mail outbox.
//!
//! Secrets (passwords, tokens, keys, recovery codes) are stored only as argon2id or SHA-256
//! digests; TOTP secrets, which must be read back, are sealed with the `fanz-secrets` keyring.
//! Password hashing runs in a bounded pool ([`Hasher`]). Every security event is written to
//! the audit log in the same transaction.
//! This crate owns the `users`, `user_roles`, `sessions`, `recovery_codes`, `password_resets`,
//! `api_keys`, `auth_throttle` and `mail_outbox` tables; it never reads another module's.

mod accounts;
mod api_keys;
pub mod bulk;
pub mod events;
mod login;
pub mod mail;
mod password;
pub mod privacy;
mod reset;
mod throttle;
mod totp;

pub use accounts::{create_user, find_user, grant_role, roles_of, set_disabled, NewUser, User};
pub use api_keys::{create_api_key, list_api_keys, revoke_api_key, ApiKeyInfo, NewApiKey};
pub use events::IdentityEvent;
pub use login::{
    authenticate, complete_login, end_session, hash_signup_password, login, logout,
    revoke_sessions, AuthMethod, LoginOutcome, LoginRequest, Principal, Session,
};
pub use password::{Hasher, HeldSlot};
pub use reset::{request_password_reset, reset_password, reset_token_is_live};
pub use totp::{
    code_at_offset, confirm_totp, current_code, disable_totp, pending_totp, reseal_totp_secrets,
    start_totp_enrolment, TotpEnrolment,
};

use fanz_audit::AuditError;
use fanz_core::ValidationError;
use fanz_store::{sqlx, StoreError};
use std::sync::Arc;

/// Tunables that come from configuration, and the shared hashing pool and keyring.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_ttl_micros: i64,
    /// Failed logins (and wrong two-factor codes) from one address within the window.
    pub max_failures_per_ip: i64,
    /// Failed logins (and wrong two-factor codes) for one account within the window.
    pub max_failures_per_account: i64,
    pub window_micros: i64,
    /// Sign-ups from one address within `signup_window_micros`.
    pub signup_max_per_ip: i64,
    pub signup_window_micros: i64,
    /// Reset mails per e-mail address and per client address within `reset_window_micros`.
    pub reset_max_per_account: i64,
    pub reset_max_per_ip: i64,
    pub reset_window_micros: i64,
    /// Base URL for links in e-mail, e.g. `https://boyfanz.com`.
    pub public_url: String,
    /// Issuer shown in authenticator apps.
    pub totp_issuer: String,
    /// Every password hash and verification runs here.
    pub hasher: Arc<Hasher>,
    /// Seals TOTP secrets at rest.
    pub secrets: Arc<fanz_secrets::Keyring>,
}

impl Default for Settings {
    fn default() -> Self {
        use fanz_core::clock::{DAY, HOUR, MINUTE};
        Self {
            session_ttl_micros: 30 * DAY,
            max_failures_per_ip: 20,
            max_failures_per_account: 5,
            window_micros: 15 * MINUTE,
            signup_max_per_ip: 10,
            signup_window_micros: HOUR,
            reset_max_per_account: 3,
            reset_max_per_ip: 10,
            reset_window_micros: HOUR,
            public_url: "http://127.0.0.1:8080".into(),
            totp_issuer: "Fanz".into(),
            hasher: Arc::new(Hasher::default()),
            secrets: Arc::new(fanz_secrets::Keyring::ephemeral()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("this handle is taken")]
    HandleTaken,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("a two-factor code is required")]
    TotpRequired,
    #[error("the two-factor code is wrong or was already used")]
    InvalidTotp,
    #[error("too many attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the server is busy; try again in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    #[error("this needs a signed-in session; API keys cannot change account security")]
    SessionRequired,
    #[error("the sign-in attempt expired; sign in again")]
    LoginExpired,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("two-factor authentication is already on")]
    TotpAlreadyEnabled,
    #[error("start two-factor enrolment first")]
    TotpNotStarted,
    #[error("two-factor authentication is not on")]
    TotpNotEnabled,
    #[error("the reset link is invalid or has expired")]
    InvalidResetToken,
    #[error("no such user")]
    UserNotFound,
    #[error("no such API key")]
    ApiKeyNotFound,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Secrets(#[from] fanz_secrets::SecretsError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<fanz_jobs::JobsError> for IdentityError {
    fn from(e: fanz_jobs::JobsError) -> Self {
        match e {
            fanz_jobs::JobsError::Database(e) => IdentityError::Database(e),
            other => IdentityError::Internal(other.to_string()),
        }
    }
}

impl From<fanz_events::EventsError> for IdentityError {
    fn from(e: fanz_events::EventsError) -> Self {
        match e {
            fanz_events::EventsError::Database(e) => IdentityError::Database(e),
            other => IdentityError::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;

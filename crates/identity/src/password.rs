//! argon2id password hashing, off the async runtime (it is deliberately slow).

use crate::{IdentityError, Result};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use fanz_core::Password;

pub async fn hash_password(password: &Password) -> Result<String> {
    let pw = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(pw.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| IdentityError::Internal(e.to_string()))?
}

/// True when `password` matches the stored PHC string. A malformed hash never matches.
pub async fn verify_password(password: &str, stored: &str) -> bool {
    let pw = password.to_owned();
    let stored = stored.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A valid hash of a random password, verified against when the e-mail is unknown so that a
/// failed login costs the same time whether or not the account exists.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let secret = fanz_core::token::random_token("", 24);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .expect("argon2 hashes")
            .to_string()
    })
}

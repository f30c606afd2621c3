//! Two-factor authentication: RFC 6238 TOTP (SHA-1, 6 digits, 30 s, ±1 step) with replay
//! protection (a code's time step is accepted once), and ten single-use recovery codes.
//!
//! The secret must be read back to check codes, so it cannot be a digest: it is sealed with
//! the [`Keyring`] (bound to the user, context `totp:<user id>`) in both `totp_secret` and
//! `totp_pending_secret`. Values stored in clear before sealing existed are still read, and
//! [`reseal_totp_secrets`] seals them (and re-seals values under a retired key).

use crate::{throttle, IdentityError, Result, Settings};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::token::{hash_token, human_code};
use fanz_secrets::Keyring;
use fanz_store::{sqlx, Db, Store};
use serde_json::json;
use sqlx::Row;
use totp_rs::{Algorithm, Secret, TOTP};

const STEP: u64 = 30;
const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs: the secret (base32) and the `otpauth://` URL.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_url: String,
}

fn totp_for(secret_b32: &str, issuer: &str, account: &str) -> Result<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|e| IdentityError::Internal(format!("bad TOTP secret: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        bytes,
        Some(issuer.replace(':', "")),
        account.replace(':', ""),
    )
    .map_err(|e| IdentityError::Internal(format!("TOTP: {e:?}")))
}

/// The time step a code matches, if it matches the current step or one either side.
fn matching_step(totp: &TOTP, code: &str, now_secs: u64) -> Option<u64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    [now_secs.saturating_sub(STEP), now_secs, now_secs + STEP]
        .into_iter()
        .find(|&t| fanz_core::token::secrets_equal(&totp.generate(t), &code))
        .map(|t| t / STEP)
}

fn now_secs() -> u64 {
    (now_micros() / 1_000_000) as u64
}

fn context(user_id: i64) -> String {
    format!("totp:{user_id}")
}

/// The clear base32 secret of a stored (sealed or legacy clear) value.
fn open_secret(keyring: &Keyring, stored: &str, user_id: i64) -> Result<String> {
    Ok(keyring.open_text(stored, &context(user_id))?)
}

/// Begin enrolment: a new pending secret replaces any earlier pending one. Two-factor is not
/// on until [`confirm_totp`] sees a valid code.
pub async fn start_totp_enrolment(
    db: &mut Db,
    user_id: i64,
    issuer: &str,
    actor: &Actor,
    keyring: &Keyring,
) -> Result<TotpEnrolment> {
    let row = sqlx::query("SELECT handle, totp_enabled FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(IdentityError::UserNotFound)?;
    if row.get::<i64, _>(1) != 0 {
        return Err(IdentityError::TotpAlreadyEnabled);
    }
    let handle: String = row.get(0);
    let secret = match Secret::generate_secret().to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => unreachable!("to_encoded gives Encoded"),
    };
    let totp = totp_for(&secret, issuer, &handle)?;
    sqlx::query("UPDATE users SET totp_pending_secret = $1, updated_at = $2 WHERE id = $3")
        .bind(keyring.seal_text(&secret, &context(user_id)))
        .bind(now_micros())
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "auth.totp_enrolment_started",
        Some(&format!("user:{user_id}")),
        json!({}),
    )
    .await?;
    Ok(TotpEnrolment {
        otpauth_url: totp.get_url(),
        secret,
    })
}

/// The enrolment in progress, if one was started and not yet confirmed.
pub async fn pending_totp(
    db: &mut Db,
    user_id: i64,
    issuer: &str,
    keyring: &Keyring,
) -> Result<Option<TotpEnrolment>> {
    let row = sqlx::query("SELECT handle, totp_pending_secret FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(IdentityError::UserNotFound)?;
    let Some(stored) = row.get::<Option<String>, _>(1) else {
        return Ok(None);
    };
    let secret = open_secret(keyring, &stored, user_id)?;
    let totp = totp_for(&secret, issuer, &row.get::<String, _>(0))?;
    Ok(Some(TotpEnrolment {
        otpauth_url: totp.get_url(),
        secret,
    }))
}

/// Finish enrolment with a code from the app. Returns the recovery codes, shown once.
pub async fn confirm_totp(
    db: &mut Db,
    user_id: i64,
    code: &str,
    issuer: &str,
    actor: &Actor,
    keyring: &Keyring,
) -> Result<Vec<String>> {
    let row =
        sqlx::query("SELECT handle, totp_enabled, totp_pending_secret FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *db)
            .await?
            .ok_or(IdentityError::UserNotFound)?;
    if row.get::<i64, _>(1) != 0 {
        return Err(IdentityError::TotpAlreadyEnabled);
    }
    let Some(stored) = row.get::<Option<String>, _>(2) else {
        return Err(IdentityError::TotpNotStarted);
    };
    let secret = open_secret(keyring, &stored, user_id)?;
    let totp = totp_for(&secret, issuer, &row.get::<String, _>(0))?;
    let step = matching_step(&totp, code, now_secs()).ok_or(IdentityError::InvalidTotp)?;
    sqlx::query(
        "UPDATE users SET totp_secret = $1, totp_pending_secret = NULL, totp_enabled = 1, \
         totp_last_step = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(keyring.seal_text(&secret, &context(user_id)))
    .bind(step as i64)
    .bind(now_micros())
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    let codes = replace_recovery_codes(db, user_id).await?;
    record(
        db,
        actor,
        "auth.totp_enabled",
        Some(&format!("user:{user_id}")),
        json!({}),
    )
    .await?;
    Ok(codes)
}

async fn replace_recovery_codes(db: &mut Db, user_id: i64) -> Result<Vec<String>> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let code = human_code();
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash_token(&code))
            .execute(&mut *db)
            .await?;
        codes.push(code);
    }
    Ok(codes)
}

/// Turn two-factor off; needs a current code or a recovery code. Wrong codes are limited like
/// logins: each attempt is counted against the caller's address and the account before the
/// code is checked, and refused with `Throttled` past the limits. A used time step or recovery
/// code stays spent even when the call fails.
pub async fn disable_totp(
    store: &Store,
    user_id: i64,
    code: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<()> {
    let ip = actor.ip.clone().unwrap_or_default();
    let limits = [
        throttle::Limit::new(
            throttle::LOGIN_IP,
            ip.as_str(),
            settings.max_failures_per_ip,
            settings.window_micros,
        ),
        throttle::Limit::new(
            throttle::TOTP_DISABLE,
            user_id.to_string(),
            settings.max_failures_per_account,
            settings.window_micros,
        ),
    ];
    throttle::reserve(store, &limits).await?;
    let mut tx = store.begin().await?;
    let result = turn_off(&mut tx, user_id, code, actor, &settings.secrets).await;
    match &result {
        Ok(()) => {
            throttle::clear(&mut tx, throttle::TOTP_DISABLE, &limits[1].key).await?;
            throttle::refund(&mut tx, throttle::LOGIN_IP, &ip).await?;
            tx.commit().await?;
        }
        Err(IdentityError::InvalidTotp) => tx.commit().await?,
        Err(_) => {
            tx.commit().await?;
            throttle::refund_all(store, &limits).await?;
        }
    }
    result
}

async fn turn_off(
    db: &mut Db,
    user_id: i64,
    code: &str,
    actor: &Actor,
    keyring: &Keyring,
) -> Result<()> {
    let enabled: i64 = sqlx::query("SELECT totp_enabled FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(IdentityError::UserNotFound)?
        .get(0);
    if enabled == 0 {
        return Err(IdentityError::TotpNotEnabled);
    }
    check_second_factor(db, user_id, Some(code), actor, keyring).await?;
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_enabled = 0, totp_pending_secret = NULL, \
         updated_at = $1 WHERE id = $2",
    )
    .bind(now_micros())
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "auth.totp_disabled",
        Some(&format!("user:{user_id}")),
        json!({}),
    )
    .await?;
    Ok(())
}

/// Check a TOTP code (each time step once) or consume a recovery code.
pub(crate) async fn check_second_factor(
    db: &mut Db,
    user_id: i64,
    code: Option<&str>,
    actor: &Actor,
    keyring: &Keyring,
) -> Result<()> {
    let code = match code.map(str::trim) {
        Some(c) if !c.is_empty() => c,
        _ => return Err(IdentityError::TotpRequired),
    };
    let row = sqlx::query("SELECT handle, totp_secret, totp_last_step FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *db)
        .await?;
    let secret: Option<String> = row.get(1);
    let last_step: i64 = row.get(2);
    if let Some(stored) = secret {
        let secret = open_secret(keyring, &stored, user_id)?;
        // The issuer is not part of the code, only of the URL: any value checks the same.
        let totp = totp_for(&secret, "Fanz", &row.get::<String, _>(0))?;
        if let Some(step) = matching_step(&totp, code, now_secs()) {
            if (step as i64) <= last_step {
                return Err(IdentityError::InvalidTotp);
            }
            sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2")
                .bind(step as i64)
                .bind(user_id)
                .execute(&mut *db)
                .await?;
            return Ok(());
        }
    }
    let used = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL RETURNING id",
    )
    .bind(now_micros())
    .bind(user_id)
    .bind(hash_token(&code.to_lowercase()))
    .fetch_optional(&mut *db)
    .await?;
    if used.is_some() {
        record(
            db,
            &actor.with_user(user_id),
            "auth.recovery_code_used",
            Some(&format!("user:{user_id}")),
            json!({}),
        )
        .await?;
        return Ok(());
    }
    Err(IdentityError::InvalidTotp)
}

/// Seal every TOTP secret still stored in clear, and re-seal those sealed under a key that is
/// no longer current. Safe to run on several nodes at once: each row is replaced only if it
/// still holds the value that was read. Returns how many values were (re)sealed.
pub async fn reseal_totp_secrets(store: &Store, keyring: &Keyring) -> Result<u64> {
    let rows = {
        let mut db = store.conn().await?;
        sqlx::query(
            "SELECT id, totp_secret, totp_pending_secret FROM users \
             WHERE totp_secret IS NOT NULL OR totp_pending_secret IS NOT NULL",
        )
        .fetch_all(&mut *db)
        .await?
    };
    let mut n = 0;
    for row in rows {
        let user_id: i64 = row.get(0);
        for (column, value) in [
            ("totp_secret", row.get::<Option<String>, _>(1)),
            ("totp_pending_secret", row.get::<Option<String>, _>(2)),
        ] {
            let Some(stored) = value.filter(|v| keyring.needs_reseal(v)) else {
                continue;
            };
            let clear = open_secret(keyring, &stored, user_id)?;
            let sealed = keyring.seal_text(&clear, &context(user_id));
            let mut tx = store.begin().await?;
            let sql = format!("UPDATE users SET {column} = $1 WHERE id = $2 AND {column} = $3");
            n += sqlx::query(&sql)
                .bind(&sealed)
                .bind(user_id)
                .bind(&stored)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
        }
    }
    Ok(n)
}

/// The code for a base32 secret `offset_secs` from now; for tests and tools that act as an
/// authenticator.
pub fn code_at_offset(secret_b32: &str, offset_secs: i64) -> Option<String> {
    let t = (now_secs() as i64 + offset_secs).max(0) as u64;
    totp_for(secret_b32, "Fanz", "x")
        .ok()
        .map(|totp| totp.generate(t))
}

/// The current code for a base32 secret.
pub fn current_code(secret_b32: &str) -> Option<String> {
    code_at_offset(secret_b32, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector_and_window() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 s → 94287082 (8
        // digits); the 6-digit code is its last six digits.
        let secret = match Secret::Raw(b"12345678901234567890".to_vec()).to_encoded() {
            Secret::Encoded(s) => s,
            _ => unreachable!(),
        };
        let totp = totp_for(&secret, "Fanz", "a").unwrap();
        assert_eq!(totp.generate(59), "287082");
        assert_eq!(matching_step(&totp, "287082", 59), Some(1));
        assert_eq!(matching_step(&totp, "287082", 59 + 30), Some(1));
        assert_eq!(matching_step(&totp, "287082", 59 + 90), None);
        assert_eq!(matching_step(&totp, "28708", 59), None);
        assert_eq!(matching_step(&totp, "abcdef", 59), None);
    }
}

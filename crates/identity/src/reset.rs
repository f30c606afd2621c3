//! Password reset by e-mailed, single-use, one-hour token. Requests are limited per e-mail
//! address and per client address (counted before anything is looked up or sent); a reset
//! revokes every other reset token, every session and every API key of the account.

use crate::mail::{enqueue, Mail};
use crate::{throttle, IdentityError, Result, Settings};
use fanz_audit::{record, Actor};
use fanz_core::clock::{now_micros, HOUR};
use fanz_core::token::{hash_token, random_token};
use fanz_core::Email;
use fanz_store::{sqlx, Db, Store};
use serde_json::json;
use sqlx::Row;

/// Send a reset link if the address belongs to an account. Says nothing either way, so the
/// answer does not reveal whether an account exists; `Throttled` (for any address, registered
/// or not) once the address or the caller asked too often within the window.
pub async fn request_password_reset(
    store: &Store,
    email: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<()> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let mut limits = Vec::with_capacity(2);
    if let Some(ip) = actor.ip.as_deref() {
        limits.push(throttle::Limit::new(
            throttle::RESET_IP,
            ip,
            settings.reset_max_per_ip,
            settings.reset_window_micros,
        ));
    }
    limits.push(throttle::Limit::new(
        throttle::RESET_ACCOUNT,
        email.as_str(),
        settings.reset_max_per_account,
        settings.reset_window_micros,
    ));
    throttle::reserve(store, &limits).await?;
    let mut tx = store.begin().await?;
    send_reset_mail(&mut tx, &email, actor, settings).await?;
    tx.commit().await?;
    Ok(())
}

async fn send_reset_mail(
    db: &mut Db,
    email: &Email,
    actor: &Actor,
    settings: &Settings,
) -> Result<()> {
    let Some(row) = sqlx::query("SELECT id, handle FROM users WHERE email = $1 AND disabled = 0")
        .bind(email.as_str())
        .fetch_optional(&mut *db)
        .await?
    else {
        return Ok(());
    };
    let user_id: i64 = row.get(0);
    let handle: String = row.get(1);
    let token = random_token("fzr_", 32);
    let now = now_micros();
    sqlx::query(
        "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(hash_token(&token))
    .bind(now)
    .bind(now + HOUR)
    .execute(&mut *db)
    .await?;
    let link = format!(
        "{}/reset-password?token={token}",
        settings.public_url.trim_end_matches('/')
    );
    enqueue(
        db,
        &Mail {
            to: email.to_string(),
            subject: "Reset your Fanz password".into(),
            body: format!(
                "Hi @{handle},\n\nSomeone asked to reset the password of your Fanz account. \
                 If it was you, open this link within an hour:\n\n{link}\n\n\
                 Your reset code: {token}\n\nSetting a new password signs you out everywhere, \
                 revokes every API key of the account (create new ones after) and makes any \
                 other reset link void.\n\nIf it was not you, ignore this message; \
                 your password stays as it is.\n"
            ),
        },
    )
    .await?;
    record(
        db,
        &actor.with_user(user_id),
        "auth.password_reset_requested",
        Some(&format!("user:{user_id}")),
        json!({}),
    )
    .await?;
    Ok(())
}

/// True when `token` is an unused, unexpired reset token: checked before the new password is
/// hashed, so made-up tokens cost no hashing. [`reset_password`] checks again atomically.
pub async fn reset_token_is_live(db: &mut Db, token: &str) -> Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(hash_token(token.trim()))
    .bind(now_micros())
    .fetch_optional(&mut *db)
    .await?
    .is_some())
}

/// Set a new password with a reset token (hash it first, outside the transaction). The token
/// is consumed, every other outstanding reset token of the account is voided, and every
/// session and API key of the account ends.
pub async fn reset_password(
    db: &mut Db,
    token: &str,
    new_password_hash: &str,
    actor: &Actor,
) -> Result<i64> {
    let now = now_micros();
    let row = sqlx::query(
        "UPDATE password_resets SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(hash_token(token.trim()))
    .fetch_optional(&mut *db)
    .await?
    .ok_or(IdentityError::InvalidResetToken)?;
    let user_id: i64 = row.get(0);
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(new_password_hash)
        .bind(now)
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    let ended = crate::revoke_sessions(db, user_id).await?;
    let voided = sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    let keys_revoked = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    // The owner proved control of the mailbox: failed logins before the reset no longer count.
    let email: String = sqlx::query("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *db)
        .await?
        .get(0);
    throttle::clear(db, throttle::LOGIN_ACCOUNT, &email).await?;
    record(
        db,
        &actor.with_user(user_id),
        "auth.password_reset",
        Some(&format!("user:{user_id}")),
        json!({"sessions_ended": ended, "api_keys_revoked": keys_revoked, "reset_tokens_voided": voided}),
    )
    .await?;
    fanz_events::publish(db, &crate::events::IdentityEvent::PasswordReset { user_id }).await?;
    Ok(user_id)
}

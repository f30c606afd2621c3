//! A person's own account data for their privacy export, and the pseudonymization of an
//! account at erasure. The audit log keeps what it recorded (it is append-only); the account
//! row stays under its id so the ledger's accounts and the audit trail still name it.

use crate::{IdentityError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_store::{query_json, sqlx, Db};
use serde_json::{json, Value};
use sqlx::Row;

/// The e-mail address an erased account gets (`.invalid` never resolves, RFC 2606).
pub fn erased_email(user_id: i64) -> String {
    format!("erased-{user_id}@invalid")
}

/// The handle an erased account gets.
pub fn erased_handle(user_id: i64) -> String {
    format!("erased_{user_id}")
}

/// The account as its owner may see it: e-mail, handle, roles, two-factor on or off, sessions
/// (without tokens), API keys (without secrets), and the mail sent to them (without bodies,
/// which may carry links that sign in).
pub async fn export(db: &mut Db, user_id: i64) -> Result<Value> {
    let user = crate::find_user(db, user_id).await?;
    let sessions = query_json(
        db,
        "SELECT id, kind, created_at, expires_at, last_seen_at, ip, user_agent FROM sessions \
         WHERE user_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let keys = crate::list_api_keys(db, user_id).await?;
    let mail = sqlx::query(
        "SELECT id, created_at, subject, sent_at FROM mail_outbox WHERE to_addr = $1 ORDER BY id",
    )
    .bind(&user.email)
    .fetch_all(&mut *db)
    .await?;
    Ok(json!({
        "account": {
            "id": user.id,
            "email": user.email,
            "handle": user.handle,
            "roles": user.roles,
            "two_factor": user.totp_enabled,
            "disabled": user.disabled,
            "created_at": user.created_at,
        },
        "sessions": sessions,
        "api_keys": keys,
        "mail": fanz_store::rows_json(&mail),
    }))
}

/// Whether `password` is the account's current password (hashed on the bounded pool; call
/// it on a pooled connection, before a write transaction opens).
pub async fn password_matches(
    db: &mut Db,
    hasher: &crate::Hasher,
    user_id: i64,
    password: &str,
) -> Result<bool> {
    let stored: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(IdentityError::UserNotFound)?
        .get(0);
    hasher.verify(password, &stored).await
}

/// Pseudonymize an account: e-mail `erased-<id>@invalid`, handle `erased_<id>`, no password
/// (an empty hash never verifies), no two-factor secret or recovery codes, disabled; its
/// sessions, API keys, reset tokens and the mail addressed to it deleted. Roles stay (the
/// records of what the account was allowed to do). Audited.
pub async fn erase(db: &mut Db, user_id: i64, actor: &Actor) -> Result<()> {
    let user = crate::find_user(db, user_id).await?;
    let mail = sqlx::query("DELETE FROM mail_outbox WHERE to_addr = $1")
        .bind(&user.email)
        .execute(&mut *db)
        .await?
        .rows_affected();
    let sessions = crate::revoke_sessions(db, user_id).await?;
    let keys = sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
    for table in ["recovery_codes", "password_resets"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut *db)
            .await?;
    }
    sqlx::query("DELETE FROM auth_throttle WHERE subject = $1")
        .bind(&user.email)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "UPDATE users SET email = $1, handle = $2, password_hash = '', totp_secret = NULL, \
         totp_enabled = 0, totp_pending_secret = NULL, disabled = 1, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(erased_email(user_id))
    .bind(erased_handle(user_id))
    .bind(now_micros())
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "user.erased",
        Some(&format!("user:{user_id}")),
        json!({"sessions": sessions, "api_keys": keys, "mail": mail}),
    )
    .await?;
    Ok(())
}

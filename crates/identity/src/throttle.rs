//! Attempt counters for login, two-factor codes, sign-up and password-reset mail.
//!
//! An attempt is counted *before* the work it guards (the password hash, the mail), in one
//! short transaction that increments a counter row per limit (`INSERT … ON CONFLICT DO UPDATE
//! … RETURNING`). The row is locked until commit, so concurrent attempts on one key — on this
//! node or any node sharing the store — are counted one after another and no burst can pass a
//! limit: with a limit of 5, at most 5 attempts are ever under way or failed within the window.
//! When any limit of an attempt is already reached, the transaction is rolled back (nothing is
//! counted) and the caller gets `Throttled` with the seconds until the window ends.
//!
//! Each counter has a fixed window that starts at its first attempt. An attempt that turns out
//! not to be a guess (a correct password) gives its count back ([`refund`]); a full success
//! clears the account's counter ([`clear`]).

use crate::{IdentityError, Result};
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db, Store};
use sqlx::Row;

/// Failed logins and two-factor codes from one client address (shared by every account).
pub(crate) const LOGIN_IP: &str = "login_ip";
/// Failed logins and two-factor codes for one account (by e-mail address).
pub(crate) const LOGIN_ACCOUNT: &str = "login_account";
/// Wrong codes when turning two-factor off, per account (by user id).
pub(crate) const TOTP_DISABLE: &str = "totp_disable";
/// Sign-ups from one client address.
pub(crate) const SIGNUP_IP: &str = "signup_ip";
/// Password-reset requests for one e-mail address and from one client address.
pub(crate) const RESET_ACCOUNT: &str = "reset_account";
pub(crate) const RESET_IP: &str = "reset_ip";

/// One limit an attempt counts against.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    pub scope: &'static str,
    pub key: String,
    pub max: i64,
    pub window_micros: i64,
}

impl Limit {
    pub fn new(scope: &'static str, key: impl Into<String>, max: i64, window_micros: i64) -> Self {
        Limit {
            scope,
            key: key.into(),
            max,
            window_micros,
        }
    }
}

/// Count one attempt against every limit, all or nothing. Limits are taken in the order
/// given; callers always pass them in one order (address before account), so concurrent
/// attempts lock rows in the same order.
pub(crate) async fn reserve(store: &Store, limits: &[Limit]) -> Result<()> {
    let mut tx = store.begin().await?;
    let now = now_micros();
    for limit in limits {
        let row = sqlx::query(
            "INSERT INTO auth_throttle (scope, subject, hits, expires_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (scope, subject) DO UPDATE SET \
               hits = CASE WHEN auth_throttle.expires_at <= $4 THEN 1 ELSE auth_throttle.hits + 1 END, \
               expires_at = CASE WHEN auth_throttle.expires_at <= $4 THEN $3 ELSE auth_throttle.expires_at END \
             RETURNING hits, expires_at",
        )
        .bind(limit.scope)
        .bind(&limit.key)
        .bind(now + limit.window_micros)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let hits: i64 = row.get(0);
        let expires_at: i64 = row.get(1);
        if hits > limit.max {
            tx.rollback().await?;
            let secs = ((expires_at - now).max(0) / 1_000_000) as u64 + 1;
            return Err(IdentityError::Throttled {
                retry_after_secs: secs,
            });
        }
    }
    // Now and then, forget windows that ended a day ago.
    if rand::random::<u8>() == 0 {
        sqlx::query("DELETE FROM auth_throttle WHERE expires_at < $1")
            .bind(now - fanz_core::clock::DAY)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Give back one counted attempt (it was not a guess, or it never ran).
pub(crate) async fn refund(db: &mut Db, scope: &str, key: &str) -> Result<()> {
    sqlx::query(
        "UPDATE auth_throttle SET hits = hits - 1 WHERE scope = $1 AND subject = $2 AND hits > 0",
    )
    .bind(scope)
    .bind(key)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Forget a counter (a successful login clears its account's failures).
pub(crate) async fn clear(db: &mut Db, scope: &str, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM auth_throttle WHERE scope = $1 AND subject = $2")
        .bind(scope)
        .bind(key)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Refund every limit of an attempt in one transaction.
pub(crate) async fn refund_all(store: &Store, limits: &[Limit]) -> Result<()> {
    let mut tx = store.begin().await?;
    for l in limits {
        refund(&mut tx, l.scope, &l.key).await?;
    }
    tx.commit().await?;
    Ok(())
}

//! Logging in and out, sessions, authenticating a request, and login throttling.

use crate::password::decoy_hash;
use crate::totp::check_second_factor;
use crate::{throttle, IdentityError, Result, Settings};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::token::{hash_token, random_token};
use fanz_core::{Email, Role};
use fanz_store::{sqlx, Db, Store};
use serde_json::json;
use sqlx::Row;

pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// A six-digit TOTP code or a recovery code.
    pub totp: Option<String>,
    /// `cookie` for browsers, `bearer` for API clients.
    pub kind: &'static str,
    pub user_agent: Option<String>,
}

/// A new session; `token` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user_id: i64,
    pub expires_at: i64,
}

/// Who is calling, and how they proved it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Principal {
    pub user_id: i64,
    pub handle: String,
    pub email: String,
    pub roles: Vec<Role>,
    pub totp_enabled: bool,
    pub via: AuthMethod,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthMethod {
    Session { session_id: i64 },
    ApiKey { key_id: i64 },
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

const SESSION_PREFIX: &str = "fzs_";
pub(crate) const API_KEY_PREFIX: &str = "fzk_";

/// Check credentials and open a session. Wrong e-mail and wrong password give the same error
/// in about the same time.
///
/// The attempt is counted against the address's and the account's limits *before* the
/// password is hashed (see [`crate::throttle`]): once either limit is reached, attempts are
/// refused with `Throttled` until the window passes, however many arrive at once. A correct
/// password gives its count back; a full login clears the account's counter. The hash itself
/// waits for the bounded [`crate::Hasher`], which may answer `Busy` (the attempt is then given
/// back: no password was tried).
///
/// Takes the store, not a transaction: the password check is slow and runs outside any
/// write lock; counting and the outcome are each committed in their own short transaction.
pub async fn login(
    store: &Store,
    req: LoginRequest,
    actor: &Actor,
    settings: &Settings,
) -> Result<LoginOutcome> {
    let ip = actor.ip.clone().unwrap_or_default();
    // An unparseable e-mail can't match an account; throttle it under its raw text.
    let email = Email::parse(&req.email)
        .map(|e| e.to_string())
        .unwrap_or_else(|_| req.email.trim().to_lowercase());
    let limits = login_limits(&ip, &email, settings);
    throttle::reserve(store, &limits).await?;
    let outcome = check_login(store, req, &email, actor, settings).await;
    match &outcome {
        // A guess that failed stays counted.
        Err(IdentityError::InvalidCredentials)
        | Err(IdentityError::InvalidTotp)
        | Err(IdentityError::AccountDisabled) => {}
        Ok(LoginOutcome::Session(_)) => {
            let mut tx = store.begin().await?;
            throttle::clear(&mut tx, throttle::LOGIN_ACCOUNT, &email).await?;
            throttle::refund(&mut tx, throttle::LOGIN_IP, &ip).await?;
            tx.commit().await?;
        }
        // The password was right (a code is still to come), or nothing was tried: give the
        // attempt back. Wrong codes are counted when they come.
        _ => throttle::refund_all(store, &limits).await?,
    }
    outcome
}

fn login_limits(ip: &str, email: &str, s: &Settings) -> [throttle::Limit; 2] {
    [
        throttle::Limit::new(
            throttle::LOGIN_IP,
            ip,
            s.max_failures_per_ip,
            s.window_micros,
        ),
        throttle::Limit::new(
            throttle::LOGIN_ACCOUNT,
            email,
            s.max_failures_per_account,
            s.window_micros,
        ),
    ]
}

async fn check_login(
    store: &Store,
    req: LoginRequest,
    email: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<LoginOutcome> {
    let found = {
        let mut db = store.conn().await?;
        sqlx::query("SELECT id, password_hash, disabled, totp_enabled FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *db)
            .await?
            .map(|r| {
                (
                    r.get::<i64, _>(0),
                    r.get::<String, _>(1),
                    r.get::<i64, _>(2) != 0,
                    r.get::<i64, _>(3) != 0,
                )
            })
    };

    let stored_hash = found
        .as_ref()
        .map(|f| f.1.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let password_ok = settings.hasher.verify(&req.password, &stored_hash).await? && found.is_some();
    let Some((user_id, _, disabled, totp_enabled)) = found.filter(|_| password_ok) else {
        let mut tx = store.begin().await?;
        record_failure(&mut tx, email, actor, "invalid_credentials").await?;
        tx.commit().await?;
        return Err(IdentityError::InvalidCredentials);
    };

    let mut tx = store.begin().await?;
    if disabled {
        record_failure(&mut tx, email, &actor.with_user(user_id), "disabled").await?;
        tx.commit().await?;
        return Err(IdentityError::AccountDisabled);
    }
    if totp_enabled && req.totp.is_none() && req.kind == "cookie" {
        // Browsers get a short-lived ticket for the two-factor page instead of re-posting
        // the password.
        let ticket =
            open_session(&mut tx, user_id, MFA_TICKET, None, actor, MFA_TICKET_TTL).await?;
        tx.commit().await?;
        return Ok(LoginOutcome::SecondFactorNeeded {
            ticket: ticket.token,
        });
    }
    if totp_enabled {
        let second = check_second_factor(
            &mut tx,
            user_id,
            req.totp.as_deref(),
            actor,
            &settings.secrets,
        )
        .await;
        if let Err(e) = second {
            return fail_second_factor(tx, e, user_id, email, actor).await;
        }
    }
    let session = finish_login(
        &mut tx,
        user_id,
        req.kind,
        req.user_agent.as_deref(),
        totp_enabled,
        actor,
        settings,
    )
    .await?;
    tx.commit().await?;
    Ok(LoginOutcome::Session(session))
}

/// Hash the password of a new account. The sign-up is first counted against the caller's
/// address (`Throttled` once it signed up too often within the window); when the hasher is
/// full (`Busy`) the count is given back. Calls without an address (the command line, the demo
/// loader) are not limited.
pub async fn hash_signup_password(
    store: &Store,
    password: &fanz_core::Password,
    actor: &Actor,
    settings: &Settings,
) -> Result<String> {
    // The command line's actor names itself "cli" rather than an address: not limited.
    let limits: Vec<throttle::Limit> = actor
        .ip
        .as_deref()
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(|ip| {
            throttle::Limit::new(
                throttle::SIGNUP_IP,
                ip,
                settings.signup_max_per_ip,
                settings.signup_window_micros,
            )
        })
        .into_iter()
        .collect();
    throttle::reserve(store, &limits).await?;
    let hashed = settings.hasher.hash(password).await;
    if hashed.is_err() {
        throttle::refund_all(store, &limits).await?;
    }
    hashed
}

/// What a correct password leads to.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    Session(Session),
    /// Two-factor is on and no code was given: finish with [`complete_login`] and this ticket.
    SecondFactorNeeded {
        ticket: String,
    },
}

const MFA_TICKET: &str = "mfa";
const MFA_TICKET_TTL: i64 = 5 * fanz_core::clock::MINUTE;

async fn finish_login(
    db: &mut Db,
    user_id: i64,
    kind: &str,
    user_agent: Option<&str>,
    second_factor: bool,
    actor: &Actor,
    settings: &Settings,
) -> Result<Session> {
    let session = open_session(
        db,
        user_id,
        kind,
        user_agent,
        actor,
        settings.session_ttl_micros,
    )
    .await?;
    record(
        db,
        &actor.with_user(user_id),
        "auth.login",
        Some(&format!("user:{user_id}")),
        json!({"kind": kind, "second_factor": second_factor}),
    )
    .await?;
    Ok(session)
}

/// Second step of a browser login: the ticket from [`LoginOutcome::SecondFactorNeeded`] and
/// a TOTP or recovery code. Wrong codes count towards throttling like wrong passwords.
pub async fn complete_login(
    store: &Store,
    ticket: &str,
    code: &str,
    user_agent: Option<&str>,
    actor: &Actor,
    settings: &Settings,
) -> Result<Session> {
    let ip = actor.ip.clone().unwrap_or_default();
    let found = {
        let mut db = store.conn().await?;
        sqlx::query(
            "SELECT s.user_id, u.email FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.kind = $2 AND s.expires_at > $3",
        )
        .bind(hash_token(ticket))
        .bind(MFA_TICKET)
        .bind(now_micros())
        .fetch_optional(&mut *db)
        .await?
        .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
    };
    let Some((user_id, email)) = found else {
        return Err(IdentityError::LoginExpired);
    };
    let limits = login_limits(&ip, &email, settings);
    throttle::reserve(store, &limits).await?;
    let mut tx = store.begin().await?;
    if let Err(e) =
        check_second_factor(&mut tx, user_id, Some(code), actor, &settings.secrets).await
    {
        let counted = matches!(e, IdentityError::InvalidTotp);
        let result = fail_second_factor(tx, e, user_id, &email, actor).await;
        if !counted {
            throttle::refund_all(store, &limits).await?;
        }
        return result;
    }
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(hash_token(ticket))
        .execute(&mut *tx)
        .await?;
    let session = finish_login(
        &mut tx, user_id, "cookie", user_agent, true, actor, settings,
    )
    .await?;
    throttle::clear(&mut tx, throttle::LOGIN_ACCOUNT, &email).await?;
    throttle::refund(&mut tx, throttle::LOGIN_IP, &ip).await?;
    tx.commit().await?;
    Ok(session)
}

async fn open_session(
    db: &mut Db,
    user_id: i64,
    kind: &str,
    user_agent: Option<&str>,
    actor: &Actor,
    ttl_micros: i64,
) -> Result<Session> {
    let token = random_token(SESSION_PREFIX, 32);
    let now = now_micros();
    let expires_at = now + ttl_micros;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at, last_seen_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $4, $6, $7)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(kind)
    .bind(now)
    .bind(expires_at)
    .bind(actor.ip.as_deref())
    .bind(user_agent.map(|s| s.chars().take(256).collect::<String>()))
    .execute(&mut *db)
    .await?;
    Ok(Session {
        token,
        user_id,
        expires_at,
    })
}

/// A refused second factor: a wrong code is audited (its attempt stays counted); whatever the
/// second-factor check spent (a used time step, a recovery code) is kept.
async fn fail_second_factor<T>(
    mut tx: fanz_store::Tx,
    err: IdentityError,
    user_id: i64,
    email: &str,
    actor: &Actor,
) -> Result<T> {
    if matches!(err, IdentityError::InvalidTotp) {
        record_failure(&mut tx, email, &actor.with_user(user_id), "invalid_totp").await?;
    }
    tx.commit().await?;
    Err(err)
}

async fn record_failure(db: &mut Db, email: &str, actor: &Actor, reason: &str) -> Result<()> {
    record(
        db,
        actor,
        "auth.login_failed",
        None,
        json!({"email": email, "reason": reason}),
    )
    .await?;
    Ok(())
}

/// Resolve a session token or API key to its principal; `None` when unknown, expired,
/// revoked or the account is disabled. One statement: the credential, its account and the
/// account's roles (a row per role).
pub async fn authenticate(db: &mut Db, token: &str) -> Result<Option<Principal>> {
    const ACCOUNT: &str = "u.id, u.email, u.handle, u.totp_enabled, u.disabled, r.role";
    let hash = hash_token(token);
    let api_key = token.starts_with(API_KEY_PREFIX);
    let rows = if api_key {
        sqlx::query(&format!(
            "SELECT k.id, {ACCOUNT} FROM api_keys k JOIN users u ON u.id = k.user_id \
             LEFT JOIN user_roles r ON r.user_id = u.id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL"
        ))
        .bind(&hash)
        .fetch_all(&mut *db)
        .await?
    } else if token.starts_with(SESSION_PREFIX) {
        sqlx::query(&format!(
            "SELECT s.id, {ACCOUNT} FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN user_roles r ON r.user_id = u.id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.kind <> $3"
        ))
        .bind(&hash)
        .bind(now_micros())
        .bind(MFA_TICKET)
        .fetch_all(&mut *db)
        .await?
    } else {
        return Ok(None);
    };
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    if first.get::<i64, _>(5) != 0 {
        return Ok(None);
    }
    let credential: i64 = first.get(0);
    let via = if api_key {
        AuthMethod::ApiKey { key_id: credential }
    } else {
        AuthMethod::Session {
            session_id: credential,
        }
    };
    let roles =
        crate::accounts::roles_from(rows.iter().filter_map(|r| r.get::<Option<String>, _>(6)));
    Ok(Some(Principal {
        user_id: first.get(1),
        email: first.get(2),
        handle: first.get(3),
        roles,
        totp_enabled: first.get::<i64, _>(4) != 0,
        via,
    }))
}

/// End the session the token belongs to. Unknown tokens are ignored.
pub async fn logout(db: &mut Db, token: &str, actor: &Actor) -> Result<()> {
    let row = sqlx::query("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
        .bind(hash_token(token))
        .fetch_optional(&mut *db)
        .await?;
    if let Some(r) = row {
        let user_id: i64 = r.get(0);
        record(
            db,
            &actor.with_user(user_id),
            "auth.logout",
            Some(&format!("user:{user_id}")),
            json!({}),
        )
        .await?;
    }
    Ok(())
}

/// End one session by id (logout through the API, whichever header carried the token).
pub async fn end_session(db: &mut Db, session_id: i64, actor: &Actor) -> Result<()> {
    let row = sqlx::query("DELETE FROM sessions WHERE id = $1 RETURNING user_id")
        .bind(session_id)
        .fetch_optional(&mut *db)
        .await?;
    if let Some(r) = row {
        let user_id: i64 = r.get(0);
        record(
            db,
            &actor.with_user(user_id),
            "auth.logout",
            Some(&format!("user:{user_id}")),
            json!({}),
        )
        .await?;
    }
    Ok(())
}

/// End every session of a user (password reset, account disabled).
pub async fn revoke_sessions(db: &mut Db, user_id: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?
        .rows_affected())
}

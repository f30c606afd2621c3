//! Accounts and roles.

use crate::events::IdentityEvent;
use crate::{IdentityError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::{Email, Handle, Role};
use fanz_store::{is_unique_violation, sqlx, Db};
use serde_json::json;
use sqlx::Row;

/// A new account with its password already hashed (hash before opening the transaction:
/// argon2 is slow and must not hold the write lock).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub handle: Handle,
    pub password_hash: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub handle: String,
    pub roles: Vec<Role>,
    pub totp_enabled: bool,
    pub disabled: bool,
    pub created_at: i64,
}

/// Create an account. Duplicate e-mail or handle → `EmailTaken` / `HandleTaken`, nothing written.
pub async fn create_user(db: &mut Db, new: NewUser, actor: &Actor) -> Result<User> {
    let taken: Option<(String, String)> =
        sqlx::query("SELECT email, handle FROM users WHERE email = $1 OR handle = $2 LIMIT 1")
            .bind(new.email.as_str())
            .bind(new.handle.as_str())
            .fetch_optional(&mut *db)
            .await?
            .map(|r| (r.get(0), r.get(1)));
    if let Some((email, _)) = taken {
        return Err(if email == new.email.as_str() {
            IdentityError::EmailTaken
        } else {
            IdentityError::HandleTaken
        });
    }
    let now = now_micros();
    let inserted = sqlx::query(
        "INSERT INTO users (email, handle, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(new.email.as_str())
    .bind(new.handle.as_str())
    .bind(&new.password_hash)
    .bind(now)
    .fetch_one(&mut *db)
    .await;
    let id: i64 = match inserted {
        Ok(row) => row.get(0),
        // Lost a race with a concurrent sign-up for the same name.
        Err(e) if is_unique_violation(&e) => return Err(IdentityError::HandleTaken),
        Err(e) => return Err(e.into()),
    };
    let mut roles = new.roles.clone();
    if !roles.contains(&Role::Fan) {
        roles.push(Role::Fan);
    }
    roles.sort();
    roles.dedup();
    for role in &roles {
        sqlx::query("INSERT INTO user_roles (user_id, role, granted_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(role.as_str())
            .bind(now)
            .execute(&mut *db)
            .await?;
    }
    record(
        db,
        &actor.with_user(id),
        "user.created",
        Some(&format!("user:{id}")),
        json!({"handle": new.handle.as_str(), "roles": roles}),
    )
    .await?;
    fanz_events::publish(
        db,
        &IdentityEvent::UserRegistered {
            user_id: id,
            handle: new.handle.to_string(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        },
    )
    .await?;
    Ok(User {
        id,
        email: new.email.to_string(),
        handle: new.handle.to_string(),
        roles,
        totp_enabled: false,
        disabled: false,
        created_at: now,
    })
}

pub async fn roles_of(db: &mut Db, user_id: i64) -> Result<Vec<Role>> {
    let rows = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
        .bind(user_id)
        .fetch_all(&mut *db)
        .await?;
    Ok(roles_from(rows.iter().map(|r| r.get::<String, _>(0))))
}

/// Roles from their stored names, sorted; names no longer known are skipped.
pub(crate) fn roles_from(names: impl Iterator<Item = String>) -> Vec<Role> {
    let mut roles: Vec<Role> = names.filter_map(|n| Role::parse(&n).ok()).collect();
    roles.sort();
    roles
}

/// Look a user up by id.
pub async fn find_user(db: &mut Db, user_id: i64) -> Result<User> {
    let row = sqlx::query(
        "SELECT id, email, handle, totp_enabled, disabled, created_at FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(IdentityError::UserNotFound)?;
    let roles = roles_of(db, user_id).await?;
    Ok(User {
        id: row.get(0),
        email: row.get(1),
        handle: row.get(2),
        totp_enabled: row.get::<i64, _>(3) != 0,
        disabled: row.get::<i64, _>(4) != 0,
        created_at: row.get(5),
        roles,
    })
}

/// Give a user a role (idempotent), audited.
pub async fn grant_role(db: &mut Db, user_id: i64, role: Role, actor: &Actor) -> Result<()> {
    find_user(db, user_id).await?;
    let done = sqlx::query(
        "INSERT INTO user_roles (user_id, role, granted_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, role) DO NOTHING",
    )
    .bind(user_id)
    .bind(role.as_str())
    .bind(now_micros())
    .execute(&mut *db)
    .await?;
    if done.rows_affected() > 0 {
        record(
            db,
            actor,
            "user.role_granted",
            Some(&format!("user:{user_id}")),
            json!({"role": role}),
        )
        .await?;
        fanz_events::publish(
            db,
            &IdentityEvent::RoleGranted {
                user_id,
                role: role.as_str().to_owned(),
            },
        )
        .await?;
    }
    Ok(())
}

/// Disable or re-enable an account; disabling ends its sessions.
pub async fn set_disabled(db: &mut Db, user_id: i64, disabled: bool, actor: &Actor) -> Result<()> {
    let n = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(disabled as i64)
        .bind(now_micros())
        .bind(user_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(IdentityError::UserNotFound);
    }
    if disabled {
        crate::revoke_sessions(db, user_id).await?;
    }
    record(
        db,
        actor,
        if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        },
        Some(&format!("user:{user_id}")),
        json!({}),
    )
    .await?;
    fanz_events::publish(db, &IdentityEvent::AccountDisabled { user_id, disabled }).await?;
    Ok(())
}

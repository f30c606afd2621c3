//! API keys for machine clients: `fzk_…`, shown once, stored as SHA-256, act as their owner.

use crate::login::API_KEY_PREFIX;
use crate::{IdentityError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::token::{hash_token, random_token};
use fanz_core::ValidationError;
use fanz_store::{sqlx, Db};
use serde_json::json;
use sqlx::Row;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub info: ApiKeyInfo,
    /// The key itself: shown once, never stored.
    pub key: String,
}

pub async fn create_api_key(
    db: &mut Db,
    user_id: i64,
    name: &str,
    actor: &Actor,
) -> Result<NewApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ValidationError::new(
            "name",
            "invalid_name",
            "name must be 1 to 64 characters",
        )
        .into());
    }
    let key = random_token(API_KEY_PREFIX, 32);
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    let now = now_micros();
    let id: i64 = sqlx::query(
        "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(&prefix)
    .bind(hash_token(&key))
    .bind(now)
    .fetch_one(&mut *db)
    .await?
    .get(0);
    record(
        db,
        actor,
        "auth.api_key_created",
        Some(&format!("api_key:{id}")),
        json!({"name": name}),
    )
    .await?;
    Ok(NewApiKey {
        info: ApiKeyInfo {
            id,
            name: name.to_owned(),
            prefix,
            created_at: now,
            revoked: false,
        },
        key,
    })
}

pub async fn list_api_keys(db: &mut Db, user_id: i64) -> Result<Vec<ApiKeyInfo>> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKeyInfo {
            id: r.get(0),
            name: r.get(1),
            prefix: r.get(2),
            created_at: r.get(3),
            revoked: r.get::<Option<i64>, _>(4).is_some(),
        })
        .collect())
}

/// Revoke one of the user's own keys.
pub async fn revoke_api_key(db: &mut Db, user_id: i64, key_id: i64, actor: &Actor) -> Result<()> {
    let n = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_micros())
    .bind(key_id)
    .bind(user_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(IdentityError::ApiKeyNotFound);
    }
    record(
        db,
        actor,
        "auth.api_key_revoked",
        Some(&format!("api_key:{key_id}")),
        json!({}),
    )
    .await?;
    Ok(())
}

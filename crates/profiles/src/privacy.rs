//! A person's profile and follows for their privacy export, and the profile's erasure.

use crate::{get_by_user, ProfileEvent, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_store::{query_json, sqlx, Db};
use serde_json::{json, Value};
use sqlx::Row;

/// The profile, the public handles the person follows, and how many follow them (who does is
/// the followers' data, not theirs).
pub async fn export(db: &mut Db, user_id: i64) -> Result<Value> {
    let profile = match get_by_user(db, user_id).await {
        Ok(p) => Some(p),
        Err(crate::ProfileError::NotFound) => None,
        Err(e) => return Err(e),
    };
    let following = query_json(
        db,
        "SELECT p.handle, f.created_at FROM follows f JOIN profiles p ON p.user_id = f.followee_id \
         WHERE f.follower_id = $1 ORDER BY f.created_at",
        user_id,
    )
    .await?;
    Ok(json!({"profile": profile, "following": following}))
}

/// Clear a profile: handle `erased_<id>`, display name "Erased account", no bio, pictures,
/// links or clusters, not a creator; every follow to or from it removed (counts kept right).
/// Publishes `profiles.erased` so derived data (search) drops it. Audited.
pub async fn erase(db: &mut Db, user_id: i64, handle: &str, actor: &Actor) -> Result<()> {
    let exists = sqlx::query("SELECT 1 FROM profiles WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(&mut *db)
        .await?
        .is_some();
    if !exists {
        return Ok(());
    }
    let followees: Vec<i64> = sqlx::query("SELECT followee_id FROM follows WHERE follower_id = $1")
        .bind(user_id)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let followers: Vec<i64> = sqlx::query("SELECT follower_id FROM follows WHERE followee_id = $1")
        .bind(user_id)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    sqlx::query("DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    for f in &followees {
        sqlx::query("UPDATE profiles SET followers_count = followers_count - 1 WHERE user_id = $1")
            .bind(f)
            .execute(&mut *db)
            .await?;
    }
    for f in &followers {
        sqlx::query("UPDATE profiles SET following_count = following_count - 1 WHERE user_id = $1")
            .bind(f)
            .execute(&mut *db)
            .await?;
    }
    sqlx::query("DELETE FROM profile_clusters WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "UPDATE profiles SET handle = $1, display_name = 'Erased account', bio = '', \
         avatar_url = '', banner_url = '', links = '[]', is_creator = 0, followers_count = 0, \
         following_count = 0, updated_at = $2 WHERE user_id = $3",
    )
    .bind(handle)
    .bind(now_micros())
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "profile.erased",
        Some(&format!("user:{user_id}")),
        json!({"followees": followees.len(), "followers": followers.len()}),
    )
    .await?;
    fanz_events::publish(db, &ProfileEvent::Erased { user_id }).await?;
    Ok(())
}

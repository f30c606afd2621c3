//! Profiles: the public face of an account — fan or creator — with display name, bio, avatar,
//! banner, links, the clusters a creator appears on, and follows.
//!
//! Owns `profiles`, `profile_clusters` and `follows`. The handle is copied from identity when
//! the profile is made so a profile page is one read of this module's tables. Follower counts
//! are kept in the profile row, updated in the same transaction as the follow.

pub mod bulk;
pub mod events;
pub mod privacy;

pub use events::ProfileEvent;
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::ValidationError;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no such profile")]
    NotFound,
    #[error("you cannot follow yourself")]
    SelfFollow,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] fanz_audit::AuditError),
}

pub type Result<T, E = ProfileError> = std::result::Result<T, E>;

impl From<fanz_events::EventsError> for ProfileError {
    fn from(e: fanz_events::EventsError) -> Self {
        match e {
            fanz_events::EventsError::Database(e) => ProfileError::Database(e),
            other => ProfileError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// A link shown on a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    pub label: String,
    pub url: String,
}

/// The profile read model: everything a profile page or API client shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Profile {
    #[serde(skip)]
    pub user_id: i64,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub avatar_url: String,
    pub banner_url: String,
    pub links: Vec<Link>,
    pub is_creator: bool,
    /// Slugs of the clusters this creator appears on.
    pub clusters: Vec<String>,
    pub followers: i64,
    pub following: i64,
}

/// A requested change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[schema(min_length = 1, max_length = 60)]
    pub display_name: Option<String>,
    #[schema(max_length = 2000)]
    pub bio: Option<String>,
    /// An http(s) URL, or empty for none.
    #[schema(max_length = 2048)]
    pub avatar_url: Option<String>,
    #[schema(max_length = 2048)]
    pub banner_url: Option<String>,
    #[schema(max_items = 10)]
    pub links: Option<Vec<Link>>,
    /// Cluster slugs; checked against the configured clusters by the caller.
    pub clusters: Option<Vec<String>>,
}

/// Make the profile of a new account (display name defaults to the handle).
pub async fn create_profile(db: &mut Db, user_id: i64, handle: &str) -> Result<()> {
    let now = now_micros();
    sqlx::query(
        "INSERT INTO profiles (user_id, handle, display_name, created_at, updated_at) \
         VALUES ($1, $2, $2, $3, $3) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(handle)
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(())
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<()> {
    Ok(fanz_core::check_text(field, value, max)?)
}

/// Only absolute http(s) URLs (or nothing) may be shown as images or links.
fn check_url(field: &'static str, value: &str) -> Result<()> {
    check_len(field, value, 2048)?;
    let ok = value.is_empty()
        || ((value.starts_with("https://") || value.starts_with("http://"))
            && value.len() > "https://".len()
            && !value
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '<' || c == '>'));
    if !ok {
        return Err(ValidationError::new(
            field,
            "invalid_url",
            format!("{field} must be an http(s) URL"),
        )
        .into());
    }
    Ok(())
}

/// Validate a whole update before anything is written.
pub fn validate_update(u: &ProfileUpdate) -> Result<()> {
    if let Some(name) = &u.display_name {
        if name.trim().is_empty() {
            return Err(ValidationError::new(
                "display_name",
                "required",
                "display_name must not be empty",
            )
            .into());
        }
        check_len("display_name", name, 60)?;
    }
    if let Some(bio) = &u.bio {
        check_len("bio", bio, 2000)?;
    }
    if let Some(a) = &u.avatar_url {
        check_url("avatar_url", a)?;
    }
    if let Some(b) = &u.banner_url {
        check_url("banner_url", b)?;
    }
    if let Some(links) = &u.links {
        if links.len() > 10 {
            return Err(ValidationError::new("links", "too_many", "at most 10 links").into());
        }
        for l in links {
            if l.label.trim().is_empty() {
                return Err(
                    ValidationError::new("links", "required", "every link needs a label").into(),
                );
            }
            check_len("links", &l.label, 40)?;
            if l.url.is_empty() {
                return Err(
                    ValidationError::new("links", "invalid_url", "every link needs a URL").into(),
                );
            }
            check_url("links", &l.url)?;
        }
    }
    Ok(())
}

/// Apply an update (validated first; nothing is written if any field is bad).
pub async fn update_profile(
    db: &mut Db,
    user_id: i64,
    u: &ProfileUpdate,
    actor: &Actor,
) -> Result<Profile> {
    validate_update(u)?;
    let current = get_by_user(db, user_id).await?;
    let links = u.links.clone().unwrap_or(current.links.clone());
    sqlx::query(
        "UPDATE profiles SET display_name = $1, bio = $2, avatar_url = $3, banner_url = $4, links = $5, \
         updated_at = $6 WHERE user_id = $7",
    )
    .bind(u.display_name.as_deref().map(str::trim).unwrap_or(&current.display_name))
    .bind(u.bio.as_deref().unwrap_or(&current.bio))
    .bind(u.avatar_url.as_deref().unwrap_or(&current.avatar_url))
    .bind(u.banner_url.as_deref().unwrap_or(&current.banner_url))
    .bind(serde_json::to_string(&links).expect("links serialize"))
    .bind(now_micros())
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    if let Some(clusters) = &u.clusters {
        set_clusters(db, user_id, clusters).await?;
    }
    record(
        db,
        actor,
        "profile.updated",
        Some(&format!("user:{user_id}")),
        json!({
            "fields": changed_fields(u),
        }),
    )
    .await?;
    fanz_events::publish(db, &ProfileEvent::Updated { user_id }).await?;
    get_by_user(db, user_id).await
}

fn changed_fields(u: &ProfileUpdate) -> Vec<&'static str> {
    let mut f = Vec::new();
    if u.display_name.is_some() {
        f.push("display_name");
    }
    if u.bio.is_some() {
        f.push("bio");
    }
    if u.avatar_url.is_some() {
        f.push("avatar_url");
    }
    if u.banner_url.is_some() {
        f.push("banner_url");
    }
    if u.links.is_some() {
        f.push("links");
    }
    if u.clusters.is_some() {
        f.push("clusters");
    }
    f
}

async fn set_clusters(db: &mut Db, user_id: i64, clusters: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM profile_clusters WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    for slug in clusters {
        sqlx::query("INSERT INTO profile_clusters (user_id, cluster_slug) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(slug)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// Mark the profile as a creator's, appearing on `clusters` (at least one).
pub async fn become_creator(
    db: &mut Db,
    user_id: i64,
    clusters: &[String],
    actor: &Actor,
) -> Result<Profile> {
    if clusters.is_empty() {
        return Err(
            ValidationError::new("clusters", "required", "choose at least one cluster").into(),
        );
    }
    let n = sqlx::query("UPDATE profiles SET is_creator = 1, updated_at = $1 WHERE user_id = $2")
        .bind(now_micros())
        .bind(user_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ProfileError::NotFound);
    }
    set_clusters(db, user_id, clusters).await?;
    record(
        db,
        actor,
        "profile.became_creator",
        Some(&format!("user:{user_id}")),
        json!({"clusters": clusters}),
    )
    .await?;
    fanz_events::publish(
        db,
        &ProfileEvent::BecameCreator {
            user_id,
            clusters: clusters.to_vec(),
        },
    )
    .await?;
    get_by_user(db, user_id).await
}

const PROFILE_COLUMNS: &str =
    "user_id, handle, display_name, bio, avatar_url, banner_url, links, is_creator, \
    followers_count, following_count";

fn from_row(r: &sqlx::any::AnyRow, clusters: Vec<String>) -> Profile {
    Profile {
        user_id: r.get(0),
        handle: r.get(1),
        display_name: r.get(2),
        bio: r.get(3),
        avatar_url: r.get(4),
        banner_url: r.get(5),
        links: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
        is_creator: r.get::<i64, _>(7) != 0,
        followers: r.get(8),
        following: r.get(9),
        clusters,
    }
}

async fn clusters_of(db: &mut Db, user_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query(
        "SELECT cluster_slug FROM profile_clusters WHERE user_id = $1 ORDER BY cluster_slug",
    )
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

pub async fn get_by_user(db: &mut Db, user_id: i64) -> Result<Profile> {
    let row = sqlx::query(&format!(
        "SELECT {PROFILE_COLUMNS} FROM profiles WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(ProfileError::NotFound)?;
    let clusters = clusters_of(db, user_id).await?;
    Ok(from_row(&row, clusters))
}

pub async fn get_by_handle(db: &mut Db, handle: &str) -> Result<Profile> {
    let handle = handle.trim().trim_start_matches('@').to_lowercase();
    let row = sqlx::query(&format!(
        "SELECT {PROFILE_COLUMNS} FROM profiles WHERE handle = $1"
    ))
    .bind(&handle)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(ProfileError::NotFound)?;
    let clusters = clusters_of(db, row.get(0)).await?;
    Ok(from_row(&row, clusters))
}

/// Creators who appear on a cluster, most followed first.
pub async fn creators_on(db: &mut Db, cluster_slug: &str, limit: i64) -> Result<Vec<Profile>> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM profiles p JOIN profile_clusters pc ON pc.user_id = p.user_id \
         WHERE pc.cluster_slug = $1 AND p.is_creator = 1 \
         ORDER BY p.followers_count DESC, p.handle LIMIT $2",
        PROFILE_COLUMNS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(cluster_slug)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| from_row(r, vec![cluster_slug.to_owned()]))
        .collect())
}

/// Follow (`on`) or unfollow a profile; idempotent either way. Returns the followee's profile
/// with updated counts.
pub async fn set_following(
    db: &mut Db,
    follower_id: i64,
    handle: &str,
    on: bool,
    actor: &Actor,
) -> Result<Profile> {
    let target = get_by_handle(db, handle).await?;
    if on && target.user_id == follower_id {
        return Err(ProfileError::SelfFollow);
    }
    let changed = if on {
        sqlx::query(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(follower_id)
        .bind(target.user_id)
        .bind(now_micros())
        .execute(&mut *db)
        .await?
    } else {
        sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower_id)
            .bind(target.user_id)
            .execute(&mut *db)
            .await?
    }
    .rows_affected();
    if changed > 0 {
        adjust_counts(db, follower_id, target.user_id, if on { 1 } else { -1 }).await?;
        let action = if on {
            "profile.followed"
        } else {
            "profile.unfollowed"
        };
        record(
            db,
            actor,
            action,
            Some(&format!("user:{}", target.user_id)),
            json!({}),
        )
        .await?;
        let (follower_id, followee_id) = (follower_id, target.user_id);
        let event = if on {
            ProfileEvent::Followed {
                follower_id,
                followee_id,
            }
        } else {
            ProfileEvent::Unfollowed {
                follower_id,
                followee_id,
            }
        };
        fanz_events::publish(db, &event).await?;
    }
    get_by_user(db, target.user_id).await
}

async fn adjust_counts(db: &mut Db, follower: i64, followee: i64, delta: i64) -> Result<()> {
    sqlx::query("UPDATE profiles SET following_count = following_count + $1 WHERE user_id = $2")
        .bind(delta)
        .bind(follower)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE profiles SET followers_count = followers_count + $1 WHERE user_id = $2")
        .bind(delta)
        .bind(followee)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Whether `follower` follows the profile with `followee_id`.
pub async fn is_following(db: &mut Db, follower: i64, followee_id: i64) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower)
            .bind(followee_id)
            .fetch_optional(&mut *db)
            .await?
            .is_some(),
    )
}

/// A query of one column, `followee_id`: those of the accounts bound at the placeholders
/// `among` (`"$3, $4"`) that the account bound at `follower` (`"$1"`) follows. For callers that
/// read it in one statement with facts of their own (content's visibility facts, the only
/// reader); the follows stay this crate's to query.
pub fn following_among_sql(follower: &str, among: &str) -> String {
    format!("SELECT followee_id FROM follows WHERE follower_id = {follower} AND followee_id IN ({among})")
}

/// The accounts `follower` follows (for the home feed).
pub async fn followees(db: &mut Db, follower: i64) -> Result<Vec<i64>> {
    sqlx::query("SELECT followee_id FROM follows WHERE follower_id = $1")
        .bind(follower)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.try_get(0).map_err(ProfileError::from))
        .collect()
}

/// Every creator's user id, in order.
pub async fn creator_ids(db: &mut Db) -> Result<Vec<i64>> {
    sqlx::query("SELECT user_id FROM profiles WHERE is_creator = 1 ORDER BY user_id")
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.try_get(0).map_err(ProfileError::from))
        .collect()
}

/// Profiles by user id, in no particular order (missing ids skipped).
pub async fn get_many(db: &mut Db, ids: &[i64]) -> Result<Vec<Profile>> {
    let mut out: Vec<Profile> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        // Each profile with its clusters in one statement: a row per cluster (one row with
        // no cluster for a profile on none), the rows of one profile together.
        let sql = format!(
            "SELECT pr.*, pc.cluster_slug FROM \
             (SELECT {PROFILE_COLUMNS} FROM profiles WHERE user_id IN ({})) pr \
             LEFT JOIN profile_clusters pc ON pc.user_id = pr.user_id \
             ORDER BY pr.user_id, pc.cluster_slug",
            fanz_store::bulk::params(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        let start = out.len();
        for row in q.fetch_all(&mut *db).await? {
            let id: i64 = row.try_get(0)?;
            let cluster: Option<String> = row.try_get(10)?;
            match out[start..].last_mut() {
                Some(p) if p.user_id == id => p.clusters.extend(cluster),
                _ => out.push(from_row(&row, cluster.into_iter().collect())),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_updates() {
        let ok = ProfileUpdate {
            display_name: Some("Neon Pup".into()),
            avatar_url: Some("https://cdn.example/a.png".into()),
            links: Some(vec![Link {
                label: "Site".into(),
                url: "https://example.com".into(),
            }]),
            ..Default::default()
        };
        assert!(validate_update(&ok).is_ok());
        let bad = [
            ProfileUpdate {
                display_name: Some("  ".into()),
                ..Default::default()
            },
            ProfileUpdate {
                display_name: Some("x".repeat(61)),
                ..Default::default()
            },
            ProfileUpdate {
                avatar_url: Some("javascript:alert(1)".into()),
                ..Default::default()
            },
            ProfileUpdate {
                banner_url: Some("https://a b".into()),
                ..Default::default()
            },
            ProfileUpdate {
                links: Some(vec![Link {
                    label: "".into(),
                    url: "https://x.y".into(),
                }]),
                ..Default::default()
            },
            ProfileUpdate {
                bio: Some("\u{0007}".into()),
                ..Default::default()
            },
        ];
        for b in bad {
            assert!(validate_update(&b).is_err(), "{b:?}");
        }
    }
}

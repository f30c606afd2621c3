//! Profiles and follows loaded in bulk: generated data for benchmarks (`fanz demo --scale`).
//! The caller gives the follower and followee counts that match the follows it writes (the
//! counters are kept in the profile row), and records one audit entry for the whole load.

use crate::{ProfileError, Result};
use fanz_store::bulk::{Rows, Value};
use fanz_store::{Db, StoreError};

/// One generated profile.
#[derive(Debug, Clone)]
pub struct BulkProfile {
    pub user_id: i64,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    /// Cluster slugs; a creator profile when not empty.
    pub clusters: Vec<String>,
    pub followers: i64,
    pub following: i64,
}

fn store(e: StoreError) -> ProfileError {
    match e {
        StoreError::Database(e) => ProfileError::Database(e),
        other => ProfileError::Database(fanz_store::sqlx::Error::Protocol(other.to_string())),
    }
}

/// Write `profiles` (and the clusters of creators), created at `now`.
pub async fn insert_profiles(db: &mut Db, profiles: &[BulkProfile], now: i64) -> Result<()> {
    let mut rows = Rows::new(
        "profiles",
        &[
            "user_id",
            "handle",
            "display_name",
            "bio",
            "is_creator",
            "followers_count",
            "following_count",
            "created_at",
            "updated_at",
        ],
    );
    let mut clusters = Rows::new("profile_clusters", &["user_id", "cluster_slug"]);
    for p in profiles {
        rows.push([
            Value::Int(p.user_id),
            Value::from(p.handle.as_str()),
            Value::from(p.display_name.as_str()),
            Value::from(p.bio.as_str()),
            Value::Int(i64::from(!p.clusters.is_empty())),
            Value::Int(p.followers),
            Value::Int(p.following),
            Value::Int(now),
            Value::Int(now),
        ]);
        for slug in &p.clusters {
            clusters.push([Value::Int(p.user_id), Value::from(slug.as_str())]);
        }
    }
    rows.flush(db).await.map_err(store)?;
    clusters.flush(db).await.map_err(store)?;
    Ok(())
}

/// Write follows `(follower, followee, at)`; each pair at most once.
pub async fn insert_follows(db: &mut Db, follows: &[(i64, i64, i64)]) -> Result<()> {
    let mut rows = Rows::new("follows", &["follower_id", "followee_id", "created_at"]);
    for &(follower, followee, at) in follows {
        rows.push([follower.into(), followee.into(), at.into()]);
    }
    rows.flush(db).await.map_err(store)?;
    Ok(())
}

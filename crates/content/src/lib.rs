//! Content: what creators publish — posts and stories with text, media, tags and the clusters
//! they appear on — the tiers fans subscribe to, and who may see what.
//!
//! Two rules everything hangs on, each decided in exactly one place:
//! - **Who may see a post** (and its media): [`may_view`] in [`entitlements`], over the facts
//!   [`Facts::load`] reads for a viewer (follows, subscriptions, unlocks, blocks, staff grants).
//!   The API, every page, feeds, search results and media delivery ask it; nothing re-derives it.
//! - **When a post may become visible**: [`gate::PublishGate`], a list of checks every path to
//!   "published" runs (publish now, the scheduled publish job, an edit of a published post,
//!   un-hiding). Trust & safety adds its checks to that list.
//!
//! Owns `tiers`, `posts`, `post_clusters`, `post_tags`, `post_media`, `post_revisions`, `grants`,
//! `blocks`, `likes`, `bookmarks` and `comments`. Payments sells tiers and unlocks by calling
//! the grant functions in [`entitlements`].

pub mod bulk;
pub mod entitlements;
pub mod events;
pub mod feeds;
pub mod gate;
pub mod interactions;
pub mod jobs;
pub mod posts;
pub mod privacy;
pub mod tiers;
pub mod views;

pub use entitlements::{may_view, Access, Facts, RelationFilter, Viewer, Why};
pub use events::ContentEvent;
pub use gate::{GateCheck, PublishGate, Refusal};
pub use posts::{NewPost, Post, PostEdit, PostKind, PostState, Visibility};
pub use tiers::{NewTier, Tier};

use fanz_clusters::Clusters;
use fanz_core::ValidationError;
use fanz_store::sqlx;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Unknown, or not to be revealed to this viewer.
    #[error("not found")]
    NotFound,
    /// The viewer may know the object but may not change it.
    #[error("you may not change this")]
    Forbidden,
    /// The viewer may know the post but may not see its content (comment or like a locked post).
    #[error("this post is locked")]
    Locked,
    #[error("{}", refusal_message(.0))]
    Refused(Vec<Refusal>),
    #[error("this post is {state}; {message}")]
    WrongState {
        state: String,
        message: &'static str,
    },
    #[error("too many {what}; try again in {retry_after_secs} s")]
    RateLimited {
        what: &'static str,
        retry_after_secs: u64,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] fanz_audit::AuditError),
}

fn refusal_message(r: &[Refusal]) -> String {
    let parts: Vec<&str> = r.iter().map(|r| r.message.as_str()).collect();
    format!("cannot publish: {}", parts.join("; "))
}

pub type Result<T, E = ContentError> = std::result::Result<T, E>;

impl From<fanz_events::EventsError> for ContentError {
    fn from(e: fanz_events::EventsError) -> Self {
        match e {
            fanz_events::EventsError::Database(e) => ContentError::Database(e),
            other => ContentError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_jobs::JobsError> for ContentError {
    fn from(e: fanz_jobs::JobsError) -> Self {
        match e {
            fanz_jobs::JobsError::Database(e) => ContentError::Database(e),
            other => ContentError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_media::MediaError> for ContentError {
    fn from(e: fanz_media::MediaError) -> Self {
        match e {
            fanz_media::MediaError::Database(e) => ContentError::Database(e),
            other => ContentError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_store::StoreError> for ContentError {
    fn from(e: fanz_store::StoreError) -> Self {
        match e {
            fanz_store::StoreError::Database(e) => ContentError::Database(e),
            other => ContentError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// An amount of money in minor units (cents) of an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units, e.g. 499 for 4.99.
    pub amount: i64,
    /// Upper-case ISO 4217 code; one of USD, EUR, GBP, CAD, AUD.
    pub currency: String,
}

/// Currencies prices may be set in (the processors' settlement currencies).
pub const CURRENCIES: [&str; 5] = ["USD", "EUR", "GBP", "CAD", "AUD"];

impl Money {
    /// Check the currency and that `min <= amount <= max`.
    pub fn validate(&self, field: &'static str, min: i64, max: i64) -> Result<()> {
        if !CURRENCIES.contains(&self.currency.as_str()) {
            return Err(ValidationError::new(
                field,
                "unsupported_currency",
                format!("currency must be one of {}", CURRENCIES.join(", ")),
            )
            .into());
        }
        if self.amount < min || self.amount > max {
            return Err(ValidationError::new(
                field,
                "price_out_of_range",
                format!("{field} must be between {} and {} (minor units)", min, max),
            )
            .into());
        }
        Ok(())
    }
}

/// What content functions need from the running server: the clusters (policies) and the
/// publish gate.
#[derive(Clone)]
pub struct Content {
    pub clusters: Arc<Clusters>,
    pub gate: Arc<PublishGate>,
}

impl Content {
    /// The standard gate over `clusters`; see [`gate::PublishGate::standard`].
    pub fn new(clusters: Arc<Clusters>) -> Self {
        Self {
            gate: Arc::new(PublishGate::standard()),
            clusters,
        }
    }
}

pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    Ok(fanz_core::check_text(field, value, max)?)
}

/// `$1, $2, …` for `n` values starting at `$start`.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

//! The publish gate: the one place that decides whether a post may become visible.
//!
//! Every path to "published" — publish now, the scheduled publish job, an edit of a published
//! post, un-hiding — calls [`PublishGate::check`]. The gate runs a list of [`GateCheck`]s and
//! refuses with every reason at once. The standard list: the author is an active creator; the
//! post fits every cluster it names (category allowed, text within the cluster's limit, a
//! video for short-video clusters); every attached media item is ready. Trust & safety adds its
//! checks (performer records, moderation verdict) with [`PublishGate::with`].

use crate::posts::Post;
use crate::{Content, ContentError, Result};
use fanz_clusters::Feed;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use std::sync::Arc;

/// Why the gate refused: a stable code and a sentence for the creator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// One check of the gate. Returns the refusals it finds (none: it passes).
#[async_trait::async_trait]
pub trait GateCheck: Send + Sync {
    /// A stable name for logs and docs.
    fn name(&self) -> &'static str;
    async fn check(&self, db: &mut Db, env: &Content, post: &Post) -> Result<Vec<Refusal>>;
}

/// The list of checks a post must pass to become visible.
#[derive(Clone, Default)]
pub struct PublishGate {
    checks: Vec<Arc<dyn GateCheck>>,
}

impl std::fmt::Debug for PublishGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|c| c.name()))
            .finish()
    }
}

impl PublishGate {
    /// The checks content itself knows: active creator, cluster policy, media ready.
    pub fn standard() -> Self {
        Self::default()
            .with(ActiveCreator)
            .with(ClusterPolicy)
            .with(MediaReady)
    }

    /// Add a check (trust & safety's performer records and moderation verdicts go here).
    pub fn with(mut self, check: impl GateCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    /// Pass, or [`ContentError::Refused`] with every reason.
    pub async fn check(&self, db: &mut Db, env: &Content, post: &Post) -> Result<()> {
        let mut refusals = Vec::new();
        for c in &self.checks {
            refusals.extend(c.check(db, env, post).await?);
        }
        if refusals.is_empty() {
            Ok(())
        } else {
            Err(ContentError::Refused(refusals))
        }
    }
}

/// The author is a creator whose account is not disabled.
pub struct ActiveCreator;

#[async_trait::async_trait]
impl GateCheck for ActiveCreator {
    fn name(&self) -> &'static str {
        "active_creator"
    }

    async fn check(&self, db: &mut Db, _: &Content, post: &Post) -> Result<Vec<Refusal>> {
        let disabled = match fanz_identity::find_user(db, post.author_id).await {
            Ok(u) => u.disabled,
            Err(fanz_identity::IdentityError::UserNotFound) => true,
            Err(e) => return Err(ContentError::Database(sqlx::Error::Protocol(e.to_string()))),
        };
        let creator = match fanz_profiles::get_by_user(db, post.author_id).await {
            Ok(p) => p.is_creator,
            Err(fanz_profiles::ProfileError::NotFound) => false,
            Err(e) => return Err(ContentError::Database(sqlx::Error::Protocol(e.to_string()))),
        };
        Ok(if disabled {
            vec![Refusal::new(
                "account_disabled",
                "the author's account is disabled",
            )]
        } else if !creator {
            vec![Refusal::new(
                "not_a_creator",
                "only creators publish; set up your creator profile first",
            )]
        } else {
            vec![]
        })
    }
}

/// Every cluster the post names exists and its policy allows the post.
pub struct ClusterPolicy;

#[async_trait::async_trait]
impl GateCheck for ClusterPolicy {
    fn name(&self) -> &'static str {
        "cluster_policy"
    }

    async fn check(&self, db: &mut Db, env: &Content, post: &Post) -> Result<Vec<Refusal>> {
        let mut out = Vec::new();
        if post.clusters.is_empty() {
            out.push(Refusal::new("no_cluster", "choose at least one cluster"));
        }
        for slug in &post.clusters {
            let Some(c) = env.clusters.get(slug) else {
                out.push(Refusal::new(
                    "unknown_cluster",
                    format!("there is no cluster {slug:?}"),
                ));
                continue;
            };
            if !c.policy.allows_category(&post.category) {
                out.push(Refusal::new(
                    "category_not_allowed",
                    format!("{} does not take {} posts", c.name, post.category),
                ));
            }
            let max = c.policy.max_post_chars as usize;
            if post.text.chars().count() > max {
                out.push(Refusal::new(
                    "text_too_long",
                    format!("{} takes posts of at most {max} characters", c.name),
                ));
            }
            if c.policy.feed == Feed::Vertical && post.kind == crate::PostKind::Post {
                let has_video = !post.media.is_empty()
                    && fanz_media::summaries(db, &post.media)
                        .await?
                        .iter()
                        .any(|m| m.kind == fanz_media::MediaKind::Video);
                if !has_video {
                    out.push(Refusal::new(
                        "video_required",
                        format!("{} is a short-video cluster: attach a video", c.name),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Every attached media item is the author's and finished processing.
pub struct MediaReady;

#[async_trait::async_trait]
impl GateCheck for MediaReady {
    fn name(&self) -> &'static str {
        "media_ready"
    }

    async fn check(&self, db: &mut Db, _: &Content, post: &Post) -> Result<Vec<Refusal>> {
        let found = fanz_media::summaries(db, &post.media).await?;
        let mut out = Vec::new();
        for id in &post.media {
            match found.iter().find(|m| m.id == *id) {
                Some(m) if m.owner_id != post.author_id => out.push(Refusal::new(
                    "media_not_yours",
                    format!("media {id} is not in your vault"),
                )),
                Some(m) if m.state == fanz_media::MediaState::Ready => {}
                Some(m) if m.state == fanz_media::MediaState::Failed => out.push(Refusal::new(
                    "media_failed",
                    format!("media {id} failed processing; replace it"),
                )),
                Some(m) if m.state == fanz_media::MediaState::Quarantined => {
                    out.push(Refusal::new(
                        "media_quarantined",
                        format!("media {id} is quarantined pending review by trust & safety"),
                    ))
                }
                Some(_) => out.push(Refusal::new(
                    "media_processing",
                    format!("media {id} is still processing"),
                )),
                None => out.push(Refusal::new("media_missing", format!("media {id} is gone"))),
            }
        }
        Ok(out)
    }
}

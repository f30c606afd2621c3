//! Who appears in each media item, and their consent.
//!
//! The uploader of an item is always one of its performers (their own record). A creator tags
//! the others: an account with its own record, who must accept the tag, or an off-platform
//! co-performer whose record and signed release the creator submitted (their consent is the
//! release). Each tag carries its consent scope — whether downloads are allowed and which
//! clusters it may appear on. A performer who withdraws consent takes down every post carrying
//! the item at once, through the same path as a non-consent report ([`respond`]).
//!
//! [`PerformerRecords`] is the publish gate's check: a post with media, or a paid one, is
//! published only when its author signed the creator agreement and every person depicted has
//! a valid record and consented, for every cluster the post names.

use crate::onboarding;
use crate::records::{self, day_of, Performer};
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_content::posts::Visibility;
use fanz_content::{Content, GateCheck, Post, Refusal};
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// What a performer's consent covers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Fans may download the item.
    #[serde(default)]
    pub download: bool,
    /// The clusters the item may appear on; none: every cluster.
    #[serde(default)]
    pub clusters: Option<Vec<String>>,
}

impl Scope {
    fn covers(&self, cluster: &str) -> bool {
        self.clusters
            .as_ref()
            .is_none_or(|cs| cs.iter().any(|c| c == cluster))
    }
}

/// One performer to tag: a record the creator added (`performer_id`) or an account (`handle`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    pub performer_id: Option<i64>,
    pub handle: Option<String>,
    #[serde(default)]
    pub scope: Scope,
}

/// A performer of a media item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tag {
    pub media_id: i64,
    pub performer_id: i64,
    /// Their account's handle, for a performer with an account.
    pub handle: Option<String>,
    /// The name shown to the creator: an alias, else the legal name's first word.
    pub display_name: String,
    /// pending | accepted | declined | withdrawn
    pub status: String,
    pub scope: Scope,
    /// pending | verified | rejected, and whether the document is current.
    pub record_status: String,
    pub record_valid: bool,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

async fn tags_of(
    db: &mut Db,
    media_id: i64,
) -> Result<Vec<(i64, String, Scope, i64, Option<i64>)>> {
    let rows = sqlx::query(
        "SELECT performer_id, status, scope, created_at, decided_at FROM safety_media_performers \
         WHERE media_id = $1 ORDER BY created_at, performer_id",
    )
    .bind(media_id)
    .fetch_all(&mut *db)
    .await?;
    rows.iter()
        .map(|r| {
            let scope: String = r.try_get(2)?;
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                serde_json::from_str(&scope).unwrap_or_default(),
                r.try_get(3)?,
                r.try_get(4)?,
            ))
        })
        .collect()
}

fn display_name(p: &Performer) -> String {
    p.aliases.first().cloned().unwrap_or_else(|| {
        p.legal_name
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

/// The tagged performers of an item (the uploader's own record is implied, not listed).
pub async fn list(db: &mut Db, media_id: i64) -> Result<Vec<Tag>> {
    let today = records::today();
    let mut out = Vec::new();
    for (performer_id, status, scope, created_at, decided_at) in tags_of(db, media_id).await? {
        let p = records::get(db, performer_id).await?;
        let handle = match p.user_id {
            Some(u) => fanz_profiles::get_by_user(db, u)
                .await
                .ok()
                .map(|p| p.handle),
            None => None,
        };
        out.push(Tag {
            media_id,
            performer_id,
            handle,
            display_name: display_name(&p),
            status,
            scope,
            record_status: p.status.clone(),
            record_valid: p.valid_on(today),
            created_at,
            decided_at,
        });
    }
    Ok(out)
}

/// Set the performers of an item the creator owns (besides themself). Tags already answered
/// keep their answer; a withdrawn consent stays withdrawn; removed tags are dropped.
pub async fn set(
    db: &mut Db,
    owner: i64,
    media_id: i64,
    tags: &[TagRequest],
    actor: &Actor,
) -> Result<Vec<Tag>> {
    fanz_media::get_owned(db, owner, media_id)
        .await
        .map_err(|_| SafetyError::NotFound)?;
    if tags.len() > 20 {
        return Err(invalid(
            "performers",
            "too_many",
            "at most 20 performers per item",
        ));
    }
    let now = now_micros();
    let mut wanted: Vec<(i64, Scope, &'static str)> = Vec::new();
    for t in tags {
        let p = match (&t.performer_id, &t.handle) {
            (Some(id), None) => {
                let p = records::get(db, *id).await?;
                if p.added_by != owner || p.user_id.is_some() {
                    // Someone else's record, or an account's: tag accounts by handle.
                    return Err(SafetyError::NotFound);
                }
                p
            }
            (None, Some(h)) => {
                let prof = fanz_profiles::get_by_handle(db, h).await.map_err(|_| {
                    invalid(
                        "performers",
                        "unknown_handle",
                        format!("no account @{}", h.trim_start_matches('@')),
                    )
                })?;
                if prof.user_id == owner {
                    return Err(invalid(
                        "performers",
                        "self",
                        "you are a performer of your own uploads already",
                    ));
                }
                records::of_user(db, prof.user_id).await?.ok_or_else(|| {
                    invalid(
                        "performers",
                        "performer_unverified",
                        format!(
                            "@{} has not verified their identity yet; ask them to verify first",
                            prof.handle
                        ),
                    )
                })?
            }
            _ => {
                return Err(invalid(
                    "performers",
                    "performer_required",
                    "each performer is a performer_id or a handle",
                ))
            }
        };
        if let Some(cs) = &t.scope.clusters {
            if cs.is_empty() || cs.len() > 50 {
                return Err(invalid(
                    "scope",
                    "invalid_scope",
                    "name at least one cluster, or none for all",
                ));
            }
        }
        // An account answers its tag itself; an off-platform performer consented by release.
        let initial = if p.user_id.is_some() {
            "pending"
        } else {
            "accepted"
        };
        if !wanted.iter().any(|(id, _, _)| *id == p.id) {
            wanted.push((p.id, t.scope.clone(), initial));
        }
    }
    let existing = tags_of(db, media_id).await?;
    for (pid, status, _, _, _) in &existing {
        if status != "withdrawn" && !wanted.iter().any(|(id, _, _)| id == pid) {
            sqlx::query(
                "DELETE FROM safety_media_performers WHERE media_id = $1 AND performer_id = $2",
            )
            .bind(media_id)
            .bind(pid)
            .execute(&mut *db)
            .await?;
        }
    }
    for (pid, scope, initial) in &wanted {
        let scope_json = serde_json::to_string(scope).unwrap_or_else(|_| "{}".into());
        match existing.iter().find(|(id, ..)| id == pid) {
            Some((_, status, old_scope, ..)) => {
                // A wider scope for an account's tag needs their answer again.
                let status = if status == "accepted" && old_scope != scope && *initial == "pending"
                {
                    "pending"
                } else {
                    status.as_str()
                };
                sqlx::query("UPDATE safety_media_performers SET scope = $1, status = $2 WHERE media_id = $3 AND performer_id = $4")
                    .bind(&scope_json)
                    .bind(status)
                    .bind(media_id)
                    .bind(pid)
                    .execute(&mut *db)
                    .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO safety_media_performers (media_id, performer_id, status, scope, tagged_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(media_id)
                .bind(pid)
                .bind(*initial)
                .bind(&scope_json)
                .bind(owner)
                .bind(now)
                .execute(&mut *db)
                .await?;
            }
        }
    }
    record(
        db,
        actor,
        "safety.performers_set",
        Some(&format!("media:{media_id}")),
        json!({"performers": wanted.iter().map(|(id, s, _)| json!({"performer_id": id, "scope": s})).collect::<Vec<_>>()}),
    )
    .await?;
    list(db, media_id).await
}

/// An item an account is tagged in, for them to answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Appearance {
    pub media_id: i64,
    /// The creator who tagged them.
    pub tagged_by: i64,
    pub tagged_by_handle: Option<String>,
    pub status: String,
    pub scope: Scope,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// Posts carrying the item.
    pub posts: Vec<i64>,
}

/// Every item an account is tagged in, newest first.
pub async fn appearances(db: &mut Db, user_id: i64) -> Result<Vec<Appearance>> {
    let Some(p) = records::of_user(db, user_id).await? else {
        return Ok(vec![]);
    };
    let rows = sqlx::query(
        "SELECT media_id, tagged_by, status, scope, created_at, decided_at FROM safety_media_performers \
         WHERE performer_id = $1 ORDER BY created_at DESC",
    )
    .bind(p.id)
    .fetch_all(&mut *db)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let media_id: i64 = r.try_get(0)?;
        let tagged_by: i64 = r.try_get(1)?;
        let scope: String = r.try_get(3)?;
        let posts = fanz_content::posts::with_media(db, &[media_id])
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        out.push(Appearance {
            media_id,
            tagged_by,
            tagged_by_handle: fanz_profiles::get_by_user(db, tagged_by)
                .await
                .ok()
                .map(|p| p.handle),
            status: r.try_get(2)?,
            scope: serde_json::from_str(&scope).unwrap_or_default(),
            created_at: r.try_get(4)?,
            decided_at: r.try_get(5)?,
            posts,
        });
    }
    Ok(out)
}

/// An account's answer to a tag: `accept`, `decline`, or `withdraw` a consent given. A
/// withdrawal hides every post carrying the item at once and opens a non-consent case.
/// Returns the posts taken down.
pub async fn respond(
    db: &mut Db,
    user_id: i64,
    media_id: i64,
    answer: &str,
    reports: &crate::reports::Origin,
    actor: &Actor,
) -> Result<Vec<i64>> {
    let p = records::of_user(db, user_id)
        .await?
        .ok_or(SafetyError::NotFound)?;
    let current: String = sqlx::query(
        "SELECT status FROM safety_media_performers WHERE media_id = $1 AND performer_id = $2",
    )
    .bind(media_id)
    .bind(p.id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?
    .try_get(0)?;
    let next = match (answer, current.as_str()) {
        ("accept", "pending" | "declined") => "accepted",
        ("decline", "pending") => "declined",
        ("withdraw", "accepted" | "pending") => "withdrawn",
        ("accept" | "decline" | "withdraw", _) => {
            return Err(SafetyError::Conflict(
                "invalid_transition",
                "this tag cannot be answered that way now (a withdrawn consent is final)",
            ))
        }
        _ => {
            return Err(invalid(
                "decision",
                "invalid_decision",
                "decision is accept, decline or withdraw",
            ))
        }
    };
    let now = now_micros();
    sqlx::query(
        "UPDATE safety_media_performers SET status = $1, decided_at = $2 WHERE media_id = $3 AND performer_id = $4",
    )
    .bind(next)
    .bind(now)
    .bind(media_id)
    .bind(p.id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.consent_answered",
        Some(&format!("media:{media_id}")),
        json!({"performer_id": p.id, "answer": answer, "from": current, "to": next}),
    )
    .await?;
    let mut taken_down = Vec::new();
    if next == "withdrawn" {
        for post in fanz_content::posts::with_media(db, &[media_id]).await? {
            let report = crate::reports::NewReport::consent_withdrawn(post.id);
            crate::reports::submit(db, &report, reports, now, actor).await?;
            taken_down.push(post.id);
        }
    }
    Ok(taken_down)
}

/// The performer records of a post: the author's own (if any) and everyone tagged in its media.
pub async fn of_post(db: &mut Db, post: &Post) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    if let Some(p) = records::of_user(db, post.author_id).await? {
        ids.push(p.id);
    }
    for m in &post.media {
        for (pid, status, ..) in tags_of(db, *m).await? {
            if status != "declined" {
                ids.push(pid);
            }
        }
    }
    Ok(ids)
}

/// Whether a post needs its people verified: any media, or any paid visibility.
pub fn needs_records(post: &Post) -> bool {
    !post.media.is_empty() || matches!(post.visibility, Visibility::Subscribers | Visibility::Ppv)
}

/// The refusals for an author who may not publish paid content or media yet.
pub async fn author_refusals(db: &mut Db, author: i64, now: i64) -> Result<Vec<Refusal>> {
    let mut out = Vec::new();
    if !onboarding::signed_current(db, author).await? {
        out.push(Refusal::new(
            "agreement_required",
            "sign the creator agreement before publishing media or paid posts",
        ));
    }
    match records::of_user(db, author).await? {
        Some(p) if p.valid_on(day_of(now)) => {}
        Some(p) if p.status == "verified" => out.push(Refusal::new(
            "id_expired",
            format!(
                "your identification document expired on {}; verify again with a current one",
                p.id_expires_on
            ),
        )),
        Some(p) if p.status == "pending" => out.push(Refusal::new(
            "verification_pending",
            "your identity verification is being checked",
        )),
        _ => out.push(Refusal::new(
            "verification_required",
            "verify your identity and age before publishing media or paid posts",
        )),
    }
    Ok(out)
}

/// The publish gate's check of the people in a post.
pub struct PerformerRecords;

#[async_trait::async_trait]
impl GateCheck for PerformerRecords {
    fn name(&self) -> &'static str {
        "performer_records"
    }

    async fn check(
        &self,
        db: &mut Db,
        _: &Content,
        post: &Post,
    ) -> fanz_content::Result<Vec<Refusal>> {
        check_post(db, post, now_micros())
            .await
            .map_err(|e| match e {
                SafetyError::Database(e) => fanz_content::ContentError::Database(e),
                other => {
                    fanz_content::ContentError::Database(sqlx::Error::Protocol(other.to_string()))
                }
            })
    }
}

/// Every reason the people in `post` keep it from being published at `now`.
pub async fn check_post(db: &mut Db, post: &Post, now: i64) -> Result<Vec<Refusal>> {
    if !needs_records(post) {
        return Ok(vec![]);
    }
    let mut out = author_refusals(db, post.author_id, now).await?;
    let day = day_of(now);
    for m in &post.media {
        for (pid, status, scope, ..) in tags_of(db, *m).await? {
            let p = records::get(db, pid).await?;
            let who = display_name(&p);
            match status.as_str() {
                "accepted" => {}
                "pending" => out.push(Refusal::new(
                    "performer_consent_pending",
                    format!("{who} has not accepted the tag on media {m} yet"),
                )),
                "declined" => out.push(Refusal::new(
                    "performer_declined",
                    format!("{who} declined the tag on media {m}; remove the item"),
                )),
                _ => out.push(Refusal::new(
                    "performer_consent_withdrawn",
                    format!("{who} withdrew consent for media {m}; it cannot be published"),
                )),
            }
            if !p.valid_on(day) {
                let (code, why) = if p.status == "verified" {
                    (
                        "performer_id_expired",
                        "their identification document has expired",
                    )
                } else {
                    (
                        "performer_records_missing",
                        "their records are not verified",
                    )
                };
                out.push(Refusal::new(
                    code,
                    format!("{who} appears in media {m}, but {why}"),
                ));
            }
            if let Some(c) = post.clusters.iter().find(|c| !scope.covers(c)) {
                out.push(Refusal::new(
                    "performer_scope",
                    format!("{who} did not consent to media {m} appearing on {c}"),
                ));
            }
        }
    }
    out.dedup();
    Ok(out)
}

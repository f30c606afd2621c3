//! /api/v1 review before publication: the review queue and its decisions (reviewers:
//! `fanz_safety::REVIEWERS`), the caller's own reviews, and the PDQ hash lists (compliance
//! officers and admins). Everything is decided in the safety crate.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, Path, Query, RequestActor};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use fanz_core::clock::now_micros;
use fanz_core::Role;
use fanz_safety::hashes::{self, HashList, Loaded};
use fanz_safety::review::{self, Review, ReviewDetail};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Who loads and removes hash lists.
pub const LIST_KEEPERS: &[Role] = &[Role::Compliance, Role::Admin];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reviews))
        .routes(routes!(get_review))
        .routes(routes!(decide))
        .routes(routes!(my_reviews))
        .routes(routes!(hash_lists))
        .routes(routes!(load_hash_list, remove_hash_list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewFilter {
    /// pending (default) | approved | rejected
    pub status: Option<String>,
    /// Only reviews asked for by this cluster's policy.
    pub cluster: Option<String>,
    pub limit: Option<i64>,
}

/// The review queue: pending posts by priority, then oldest first (moderators, compliance,
/// admins).
#[utoipa::path(get, path = "/api/v1/compliance/reviews", tag = "safety", security(("bearer" = [])),
    params(ReviewFilter),
    responses((status = 200, body = Vec<Review>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    me: Auth,
    Query(f): Query<ReviewFilter>,
) -> ApiResult<axum::Json<Vec<Review>>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let mut db = state.store.conn().await?;
    let limit = f.limit.unwrap_or(100).clamp(1, 500);
    Ok(axum::Json(
        review::list(&mut db, f.status.as_deref(), f.cluster.as_deref(), limit).await?,
    ))
}

/// A review with the whole post (text, teaser, tags, media ids, clusters) and its earlier
/// reviews.
#[utoipa::path(get, path = "/api/v1/compliance/reviews/{id}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ReviewDetail), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_review(
    State(state): State<AppState>,
    me: Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ReviewDetail>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(review::detail(&mut db, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// approve | reject
    pub outcome: String,
    /// The statement of reasons sent to the creator (required to reject).
    #[serde(default)]
    pub reason: String,
}

/// Approve (the post is published through the gate, or at its scheduled time) or reject with
/// a statement of reasons to the creator. 409 `publish_refused` when the gate still refuses
/// the approved post (a banned term, quarantined media): reject it instead.
#[utoipa::path(post, path = "/api/v1/compliance/reviews/{id}/decision", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ReviewDecision,
    responses((status = 200, body = Review), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(id): Path<i64>,
    Json(d): Json<ReviewDecision>,
) -> ApiResult<axum::Json<Review>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let uid = me.0.user_id;
    let actor = actor.with_user(uid);
    let mut tx = state.store.begin().await?;
    let r = review::decide(
        &mut tx,
        &state.content,
        id,
        &d.outcome,
        &d.reason,
        uid,
        now_micros(),
        &actor,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(r))
}

/// The reviews of the caller's posts, newest first: pending, approved, or rejected with the
/// reviewer's statement of reasons.
#[utoipa::path(get, path = "/api/v1/me/reviews", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Vec<Review>), (status = 401, body = ErrorBody)))]
pub async fn my_reviews(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<Vec<Review>>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        review::for_author(&mut db, me.user_id, 200).await?,
    ))
}

/// The loaded PDQ hash lists (compliance officers, admins).
#[utoipa::path(get, path = "/api/v1/compliance/hash-lists", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Vec<HashList>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn hash_lists(
    State(state): State<AppState>,
    me: Auth,
) -> ApiResult<axum::Json<Vec<HashList>>> {
    me.require_any(LIST_KEEPERS)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(hashes::lists(&mut db).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HashListBody {
    /// PDQ hashes, 64 hex digits each (larger lists: `fanz compliance hashlist load`).
    pub hashes: Vec<String>,
    /// `csam` (a match starts the CSAM preservation and reporting workflow) or `other`
    /// (the default).
    #[serde(default)]
    pub category: Option<String>,
}

/// Load or replace the list `name`; every stored image is screened against it at once, and
/// each match is quarantined with a case for reviewers.
#[utoipa::path(put, path = "/api/v1/compliance/hash-lists/{name}", tag = "safety", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = HashListBody,
    responses((status = 200, body = Loaded), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn load_hash_list(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(name): Path<String>,
    Json(body): Json<HashListBody>,
) -> ApiResult<axum::Json<Loaded>> {
    me.require_any(LIST_KEEPERS)?;
    let parsed = hashes::parse(&body.hashes.join("\n"))?;
    let uid = me.0.user_id;
    let mut tx = state.store.begin().await?;
    let loaded = hashes::load(
        &mut tx,
        &name,
        body.category.as_deref().unwrap_or("other"),
        &parsed,
        state.config.review.pdq_threshold,
        Some(uid),
        now_micros(),
        &actor.with_user(uid),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(loaded))
}

/// Remove the list `name` (items it quarantined stay so until their cases are decided).
#[utoipa::path(delete, path = "/api/v1/compliance/hash-lists/{name}", tag = "safety", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_hash_list(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    me.require_any(LIST_KEEPERS)?;
    let uid = me.0.user_id;
    let mut tx = state.store.begin().await?;
    hashes::remove(&mut tx, &name, &actor.with_user(uid)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

//! /api/v1/compliance/csam: the report records of apparent CSAM, for the compliance role only
//! (`fanz_safety::csam::require_compliance`; every view audited): read a record and its
//! preserved files, file it with NCMEC (through the configured CyberTipline client, or
//! recording a report filed by hand), close it, extend its preservation, or release it as
//! not CSAM.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, Path, RequestActor};
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use fanz_core::clock::now_micros;
use fanz_safety::csam::{self, CsamReport};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(file_bytes))
        .routes(routes!(file))
        .routes(routes!(close))
        .routes(routes!(extend))
        .routes(routes!(release))
}

/// Every CSAM report record, newest first (compliance only; audited).
#[utoipa::path(get, path = "/api/v1/compliance/csam", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Vec<CsamReport>), (status = 401, body = ErrorBody),
        (status = 403, description = "not the compliance role (`compliance_only`)", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
) -> ApiResult<axum::Json<Vec<CsamReport>>> {
    let mut tx = state.store.begin().await?;
    let out = csam::list(&mut tx, &me.roles, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// A report record: incident time, URL, uploader, IP addresses and times, the preserved files
/// with MD5, SHA-1 and PDQ (compliance only; audited).
#[utoipa::path(get, path = "/api/v1/compliance/csam/{id}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = CsamReport), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CsamReport>> {
    let mut tx = state.store.begin().await?;
    let r = csam::get(
        &mut tx,
        &state.media,
        id,
        &me.roles,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(r))
}

/// A preserved file's original bytes (compliance only; audited; never cached).
#[utoipa::path(get, path = "/api/v1/compliance/csam/{id}/files/{media_id}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path), ("media_id" = i64, Path)),
    responses((status = 200, description = "the original file", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn file_bytes(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path((id, media_id)): Path<(i64, i64)>,
) -> ApiResult<axum::response::Response> {
    let mut tx = state.store.begin().await?;
    let (mime, bytes) = csam::file_bytes(
        &mut tx,
        &state.media,
        id,
        media_id,
        &me.roles,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    let mime = if mime.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        mime
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"preserved-{media_id}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filing {
    /// The id NCMEC gave a report the operator filed by hand; without it, the report is
    /// submitted through the configured CyberTipline client.
    #[serde(default)]
    pub ncmec_report_id: Option<String>,
}

/// File a draft with NCMEC's CyberTipline: `filed` with the report id (compliance only).
#[utoipa::path(post, path = "/api/v1/compliance/csam/{id}/filing", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = Filing,
    responses((status = 200, body = CsamReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 502, description = "the tipline refused or failed", body = ErrorBody)))]
pub async fn file(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(f): Json<Filing>,
) -> ApiResult<axum::Json<CsamReport>> {
    let mut tx = state.store.begin().await?;
    let r = csam::file(
        &mut tx,
        &state.media,
        state.tipline.as_ref(),
        id,
        f.ncmec_report_id.as_deref(),
        &me.roles,
        me.user_id,
        now_micros(),
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(r))
}

/// Close a filed report, deciding its case `removed`; the files stay preserved until
/// `preserve_until` (compliance only).
#[utoipa::path(post, path = "/api/v1/compliance/csam/{id}/close", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = CsamReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn close(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CsamReport>> {
    let mut tx = state.store.begin().await?;
    let r = csam::close(
        &mut tx,
        &state.content,
        id,
        &me.roles,
        me.user_id,
        now_micros(),
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(r))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Keep the files until this time (Unix microseconds), later than the current end.
    pub until: i64,
}

/// Extend the preservation (compliance only).
#[utoipa::path(post, path = "/api/v1/compliance/csam/{id}/preservation", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = Extension,
    responses((status = 200, body = CsamReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn extend(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(e): Json<Extension>,
) -> ApiResult<axum::Json<CsamReport>> {
    let mut tx = state.store.begin().await?;
    let r = csam::extend(
        &mut tx,
        id,
        e.until,
        &me.roles,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(r))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Why the content is not CSAM; the statement of reasons to the creator.
    pub reason: String,
}

/// The report was false: release the quarantine, the preservation, the suspension and the
/// payout hold, restore the post and decide the case `restored` (compliance only; a draft).
#[utoipa::path(post, path = "/api/v1/compliance/csam/{id}/release", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = Release,
    responses((status = 200, body = CsamReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn release(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(r): Json<Release>,
) -> ApiResult<axum::Json<CsamReport>> {
    let mut tx = state.store.begin().await?;
    let out = csam::release_not_csam(
        &mut tx,
        &state.content,
        &state.payments,
        id,
        &r.reason,
        &me.roles,
        me.user_id,
        now_micros(),
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

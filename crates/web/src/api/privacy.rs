//! /api/v1 privacy requests: export everything the caller owns (a job builds a ZIP they
//! download for 7 days), and erase their account. What is exported, removed and kept is the
//! safety crate's `privacy` module's decision; these handlers only parse and answer.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{no_store, Auth, Json, Path, RequestActor};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fanz_audit::Actor;
use fanz_safety::privacy::{self, Erasure, Export};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_export))
        .routes(routes!(list_exports))
        .routes(routes!(download_export))
        .routes(routes!(request_erasure))
}

/// Ask for an export (shared with the settings page).
pub async fn start_export(state: &AppState, user_id: i64, actor: &Actor) -> ApiResult<Export> {
    let mut tx = state.store.begin().await?;
    let e = privacy::request_export(&mut tx, user_id, actor).await?;
    tx.commit().await?;
    Ok(e)
}

/// Check the password, then erase the account in one transaction; the export ZIPs are
/// deleted after commit (shared with the settings page).
pub async fn erase_account(
    state: &AppState,
    user_id: i64,
    password: &str,
    actor: &Actor,
) -> ApiResult<Erasure> {
    {
        let mut db = state.store.conn().await?;
        let ok = fanz_identity::privacy::password_matches(
            &mut db,
            &state.identity.hasher,
            user_id,
            password,
        )
        .await?;
        if !ok {
            return Err(fanz_identity::IdentityError::InvalidCredentials.into());
        }
    }
    let mut tx = state.store.begin().await?;
    let done = privacy::erase(&mut tx, user_id, actor).await?;
    tx.commit().await?;
    for key in &done.export_keys {
        if let Err(e) = state.media.objects.delete(key).await {
            tracing::warn!(error = %e, "an erased account's export could not be deleted; the expiry job will");
        }
    }
    Ok(done)
}

/// Ask for a ZIP of everything you own (account, profile, posts with revisions, comments,
/// likes, bookmarks, payments, your media originals, agreement signatures, verification
/// sessions, statements of reasons). It is built in the background; `GET /api/v1/me/exports`
/// shows when it is ready. One at a time, three a day (429 with Retry-After).
#[utoipa::path(post, path = "/api/v1/me/export", tag = "me", security(("bearer" = [])),
    responses((status = 202, body = Export), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn request_export(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
) -> ApiResult<(StatusCode, axum::Json<Export>)> {
    let e = start_export(&state, me.user_id, &actor.with_user(me.user_id)).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(e)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportList {
    pub exports: Vec<Export>,
}

/// Your exports, newest first, with a download link while ready (7 days).
#[utoipa::path(get, path = "/api/v1/me/exports", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = ExportList), (status = 401, body = ErrorBody)))]
pub async fn list_exports(State(state): State<AppState>, Auth(me): Auth) -> ApiResult<Response> {
    let mut db = state.store.conn().await?;
    let exports = privacy::exports(&mut db, me.user_id).await?;
    Ok(no_store(axum::Json(ExportList { exports }).into_response()))
}

/// Download a ready export (its owner only; anyone else gets 404).
#[utoipa::path(get, path = "/api/v1/me/exports/{id}/download", tag = "me", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download_export(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    export_response(&state, me.user_id, id, &actor.with_user(me.user_id)).await
}

/// Stream a ready export of `user_id`'s as an attachment (shared with the settings page).
pub async fn export_response(
    state: &AppState,
    user_id: i64,
    id: i64,
    actor: &Actor,
) -> ApiResult<Response> {
    let key = {
        let mut tx = state.store.begin().await?;
        let key = privacy::download(&mut tx, user_id, id, actor).await?;
        tx.commit().await?;
        key
    };
    let got = state.media.objects.get(&key, None).await?;
    let size = got.meta.size;
    let mut res = Response::new(Body::from_stream(got.into_stream()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"fanz-export-{id}.zip\""))
            .map_err(ApiError::internal)?,
    );
    Ok(no_store(res))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// Your current password, re-entered.
    pub password: String,
}

/// Erase your account. Removes or pseudonymizes your personal data: your e-mail and handle
/// are replaced, sessions and API keys deleted, profile cleared, posts deleted, comments'
/// text replaced, likes, bookmarks and follows removed, media deleted (except published
/// depictions a 2257 record must keep, and media a case is about). Kept, because the law
/// requires it: the ledger, your 2257 record and its documents, reports and cases, the audit
/// log. Refused (409 `balance_unpaid`, `payout_open`, `wallet_not_empty`) while money is owed
/// to you. Media files are deleted in the background (202).
#[utoipa::path(post, path = "/api/v1/me/erasure", tag = "me", security(("bearer" = [])),
    request_body = ErasureRequest,
    responses((status = 202, body = Erasure), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn request_erasure(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(req): Json<ErasureRequest>,
) -> ApiResult<(StatusCode, axum::Json<Erasure>)> {
    let done = erase_account(
        &state,
        me.user_id,
        &req.password,
        &actor.with_user(me.user_id),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(done)))
}

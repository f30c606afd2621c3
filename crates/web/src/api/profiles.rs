//! /api/v1/profiles: public profiles and follows.

use super::wire::*;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{Auth, RequestActor};
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;

/// A public profile, with whether you follow it.
#[utoipa::path(get, path = "/api/v1/profiles/{handle}", tag = "profiles",
    params(("handle" = String, Path)),
    responses((status = 200, body = ProfileResponse), (status = 404, body = ErrorBody)))]
pub async fn get_profile(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<ProfileResponse>> {
    let mut db = state.store.conn().await?;
    let profile = fanz_profiles::get_by_handle(&mut db, &handle).await?;
    // Anonymous reads are fine; a valid token adds whether the caller follows.
    let viewer = match crate::extract::bearer(&headers) {
        Some(t) => fanz_identity::authenticate(&mut db, &t).await?,
        None => None,
    };
    let viewer_follows = match viewer {
        Some(v) => fanz_profiles::is_following(&mut db, v.user_id, profile.user_id).await?,
        None => false,
    };
    Ok(axum::Json(ProfileResponse {
        profile,
        viewer_follows,
    }))
}

/// Follow a profile (idempotent).
#[utoipa::path(post, path = "/api/v1/profiles/{handle}/follow", tag = "profiles", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = ProfileResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn follow(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(handle): Path<String>,
) -> ApiResult<axum::Json<ProfileResponse>> {
    set_following(&state, &actor, me.user_id, &handle, true).await
}

/// Unfollow a profile (idempotent).
#[utoipa::path(delete, path = "/api/v1/profiles/{handle}/follow", tag = "profiles", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = ProfileResponse), (status = 404, body = ErrorBody)))]
pub async fn unfollow(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(handle): Path<String>,
) -> ApiResult<axum::Json<ProfileResponse>> {
    set_following(&state, &actor, me.user_id, &handle, false).await
}

async fn set_following(
    state: &AppState,
    actor: &fanz_audit::Actor,
    user_id: i64,
    handle: &str,
    on: bool,
) -> ApiResult<axum::Json<ProfileResponse>> {
    let mut tx = state.store.begin().await?;
    let profile =
        fanz_profiles::set_following(&mut tx, user_id, handle, on, &actor.with_user(user_id))
            .await?;
    tx.commit().await?;
    Ok(axum::Json(ProfileResponse {
        profile,
        viewer_follows: on,
    }))
}

//! /api/v1/me: the caller's account and profile.

use super::wire::*;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, RequestActor};
use crate::{flows, AppState};
use axum::extract::State;
use fanz_profiles::ProfileUpdate;

/// Your account, roles and profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<MeResponse>> {
    let mut db = state.store.conn().await?;
    let profile = fanz_profiles::get_by_user(&mut db, me.user_id).await?;
    Ok(axum::Json(MeResponse {
        id: me.user_id,
        email: me.email,
        handle: me.handle,
        roles: me.roles,
        totp_enabled: me.totp_enabled,
        profile,
    }))
}

/// Change your profile; invalid input changes nothing.
#[utoipa::path(patch, path = "/api/v1/me/profile", tag = "me", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = fanz_profiles::Profile), (status = 422, body = ErrorBody)))]
pub async fn update_profile(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(update): Json<ProfileUpdate>,
) -> ApiResult<axum::Json<fanz_profiles::Profile>> {
    let profile =
        flows::update_profile(&state, me.user_id, update, &actor.with_user(me.user_id)).await?;
    Ok(axum::Json(profile))
}

/// Become a creator on the clusters you choose.
#[utoipa::path(post, path = "/api/v1/me/creator", tag = "me", security(("bearer" = [])), request_body = BecomeCreatorRequest,
    responses((status = 200, body = fanz_profiles::Profile), (status = 422, description = "no or unknown clusters", body = ErrorBody)))]
pub async fn become_creator(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(req): Json<BecomeCreatorRequest>,
) -> ApiResult<axum::Json<fanz_profiles::Profile>> {
    let profile = flows::become_creator(
        &state,
        me.user_id,
        &req.clusters,
        &actor.with_user(me.user_id),
    )
    .await?;
    Ok(axum::Json(profile))
}

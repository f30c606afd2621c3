//! /api/v1/admin: operator tools (admin role).

use super::wire::*;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{Auth, Json, RequestActor};
use crate::AppState;
use axum::extract::State;
use fanz_core::Role;

/// The newest outgoing mail (admin).
#[utoipa::path(get, path = "/api/v1/admin/mail-outbox", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = OutboxResponse), (status = 403, body = ErrorBody)))]
pub async fn mail_outbox(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<OutboxResponse>> {
    auth.require_any(&[Role::Admin])?;
    let mut db = state.store.conn().await?;
    let messages = fanz_identity::mail::recent(&mut db, 50).await?;
    Ok(axum::Json(OutboxResponse { messages }))
}

/// The newest audit events and whether the hash chain is intact (admin, compliance).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "newest events and whether the hash chain is intact", body = AuditResponse),
              (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<AuditResponse>> {
    auth.require_any(&[Role::Admin, Role::Compliance])?;
    let mut db = state.store.conn().await?;
    let entries = fanz_audit::recent(&mut db, None, 100).await?;
    let chain = fanz_audit::verify(&mut db).await?;
    Ok(axum::Json(AuditResponse { entries, chain }))
}

/// Give a user a role (admin).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/roles", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = GrantRoleRequest,
    responses((status = 200, body = UserResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn grant_role(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<GrantRoleRequest>,
) -> ApiResult<axum::Json<UserResponse>> {
    auth.require_any(&[Role::Admin])?;
    let role = Role::parse(&req.role)?;
    let mut tx = state.store.begin().await?;
    fanz_identity::grant_role(&mut tx, id, role, &actor.with_user(auth.0.user_id)).await?;
    let user = fanz_identity::find_user(&mut tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(user.into()))
}

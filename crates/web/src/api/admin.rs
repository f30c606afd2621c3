//! /api/v1/admin: operator tools (admin role).

use super::wire::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, Json, Path, Query, RequestActor};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
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

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Events with an id below this (the previous page's `next_before`); default: the newest.
    before: Option<i64>,
    /// Events per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `full` re-hashes the whole chain (linear in its length); by default only the rows
    /// appended since the last verified checkpoint are.
    verify: Option<String>,
}

/// A page of audit events, newest first, and whether the hash chain is intact (admin,
/// compliance).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "a page of events and whether the hash chain is intact", body = AuditResponse),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<AuditResponse>> {
    auth.require_any(&[Role::Admin, Role::Compliance])?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=fanz_audit::MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "limit must be 1 to 500",
        ));
    }
    let full = match q.verify.as_deref() {
        None => false,
        Some("full") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "verify must be `full` or absent",
            ))
        }
    };
    let mut tx = state.store.begin().await?;
    let entries = fanz_audit::page(&mut tx, None, q.before, limit).await?;
    let (chain, chain_rows_checked) = if full {
        let verdict = fanz_audit::verify(&mut tx).await?;
        let n = match verdict {
            fanz_audit::Verdict::Intact { entries } => entries,
            fanz_audit::Verdict::Broken { .. } => 0,
        };
        (verdict, n)
    } else {
        let check = fanz_audit::verify_since_checkpoint(&mut tx).await?;
        (check.verdict, check.checked)
    };
    tx.commit().await?;
    let next_before = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(axum::Json(AuditResponse {
        entries,
        next_before,
        chain,
        chain_rows_checked,
    }))
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

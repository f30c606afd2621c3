//! /api/v1/auth: sign-up, login, logout, two-factor, password reset, API keys.

use super::wire::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{no_store, Auth, Json, RequestActor, SessionAuth};
use crate::{flows, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fanz_identity::{AuthMethod, LoginOutcome};

/// Create an account (fan role, with a fan profile). Limited per client address.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = UserResponse), (status = 409, description = "email or handle taken", body = ErrorBody),
              (status = 422, description = "invalid email, handle or weak password", body = ErrorBody),
              (status = 429, description = "`too_many_attempts`: too many sign-ups from this address; see Retry-After", body = ErrorBody),
              (status = 503, description = "`server_busy`: password hashing is saturated; see Retry-After", body = ErrorBody)))]
pub async fn signup(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Json(req): Json<SignupRequest>,
) -> ApiResult<(StatusCode, axum::Json<UserResponse>)> {
    let user = flows::signup(
        &state,
        &req.email,
        &req.handle,
        &req.password,
        vec![],
        &actor,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

/// Log in with email and password (and a two-factor code when on); returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse),
              (status = 401, description = "`invalid_credentials`, `totp_required` or `invalid_totp`", body = ErrorBody),
              (status = 429, description = "`too_many_attempts`: too many failed attempts; see Retry-After", body = ErrorBody),
              (status = 503, description = "`server_busy`: password hashing is saturated; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let outcome = fanz_identity::login(
        &state.store,
        fanz_identity::LoginRequest {
            email: req.email,
            password: req.password,
            totp: req.totp,
            kind: "bearer",
            user_agent: user_agent(&headers),
        },
        &actor,
        &state.identity,
    )
    .await?;
    match outcome {
        LoginOutcome::Session(s) => Ok(no_store(
            axum::Json(TokenResponse {
                token: s.token,
                expires_at: fanz_core::clock::rfc3339(s.expires_at),
            })
            .into_response(),
        )),
        LoginOutcome::SecondFactorNeeded { .. } => {
            Err(fanz_identity::IdentityError::TotpRequired.into())
        }
    }
}

pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// End the session of the token (sent as `Authorization: Bearer` or `X-Api-Key`).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
) -> ApiResult<axum::Json<StatusResponse>> {
    // The session the caller authenticated with, whichever header carried it.
    let AuthMethod::Session { session_id } = auth.0.via else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_session",
            "API keys are revoked, not logged out",
        ));
    };
    let mut tx = state.store.begin().await?;
    fanz_identity::end_session(&mut tx, session_id, &actor).await?;
    tx.commit().await?;
    Ok(axum::Json(StatusResponse {
        status: "logged_out",
    }))
}

/// Start two-factor enrolment: a new secret and otpauth URL for an authenticator app. Needs a
/// session (403 `session_required` for an API key).
#[utoipa::path(post, path = "/api/v1/auth/totp/enrol", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolResponse), (status = 403, description = "`session_required`", body = ErrorBody),
              (status = 409, description = "already on", body = ErrorBody)))]
pub async fn totp_enrol(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    SessionAuth(me): SessionAuth,
) -> ApiResult<Response> {
    let mut tx = state.store.begin().await?;
    let e = fanz_identity::start_totp_enrolment(
        &mut tx,
        me.user_id,
        &state.identity.totp_issuer,
        &actor.with_user(me.user_id),
        &state.identity.secrets,
    )
    .await?;
    tx.commit().await?;
    Ok(no_store(
        axum::Json(TotpEnrolResponse {
            secret: e.secret,
            otpauth_url: e.otpauth_url,
        })
        .into_response(),
    ))
}

/// Confirm enrolment with a code; turns two-factor on and returns recovery codes once. Needs a
/// session.
#[utoipa::path(post, path = "/api/v1/auth/totp/verify", tag = "auth", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, description = "two-factor is on", body = RecoveryCodesResponse),
              (status = 401, description = "wrong code", body = ErrorBody), (status = 403, description = "`session_required`", body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn totp_verify(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    SessionAuth(me): SessionAuth,
    Json(req): Json<CodeRequest>,
) -> ApiResult<Response> {
    let mut tx = state.store.begin().await?;
    let codes = fanz_identity::confirm_totp(
        &mut tx,
        me.user_id,
        &req.code,
        &state.identity.totp_issuer,
        &actor.with_user(me.user_id),
        &state.identity.secrets,
    )
    .await?;
    tx.commit().await?;
    Ok(no_store(
        axum::Json(RecoveryCodesResponse {
            recovery_codes: codes,
        })
        .into_response(),
    ))
}

/// Turn two-factor off with a current code or a recovery code. Needs a session; wrong codes are
/// limited like failed logins.
#[utoipa::path(post, path = "/api/v1/auth/totp/disable", tag = "auth", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody),
              (status = 403, description = "`session_required`", body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, description = "`too_many_attempts`; see Retry-After", body = ErrorBody)))]
pub async fn totp_disable(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    SessionAuth(me): SessionAuth,
    Json(req): Json<CodeRequest>,
) -> ApiResult<axum::Json<StatusResponse>> {
    fanz_identity::disable_totp(
        &state.store,
        me.user_id,
        &req.code,
        &actor.with_user(me.user_id),
        &state.identity,
    )
    .await?;
    Ok(axum::Json(StatusResponse {
        status: "totp_disabled",
    }))
}

/// E-mail a password reset link if the address has an account. Limited per e-mail address and
/// per client address.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth", request_body = ForgotRequest,
    responses((status = 202, description = "a reset link is sent if the address has an account", body = StatusResponse),
              (status = 429, description = "`too_many_attempts`; see Retry-After", body = ErrorBody)))]
pub async fn password_forgot(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Json(req): Json<ForgotRequest>,
) -> ApiResult<(StatusCode, axum::Json<StatusResponse>)> {
    fanz_identity::request_password_reset(&state.store, &req.email, &actor, &state.identity)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(StatusResponse {
            status: "sent_if_registered",
        }),
    ))
}

/// Set a new password with a reset token; ends every session, revokes every API key and voids
/// every other reset token of the account.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetRequest,
    responses((status = 200, body = StatusResponse), (status = 422, description = "`invalid_reset_token` or `weak_password`", body = ErrorBody)))]
pub async fn password_reset(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Json(req): Json<ResetRequest>,
) -> ApiResult<axum::Json<StatusResponse>> {
    flows::reset_password(&state, &req.token, &req.password, &actor).await?;
    Ok(axum::Json(StatusResponse {
        status: "password_changed",
    }))
}

/// Create an API key for a machine client; the key is shown once. Needs a session: an API key
/// cannot mint API keys.
#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "auth", security(("bearer" = [])), request_body = CreateApiKeyRequest,
    responses((status = 201, body = NewApiKeyResponse), (status = 403, description = "`session_required`", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    SessionAuth(me): SessionAuth,
    Json(req): Json<CreateApiKeyRequest>,
) -> ApiResult<Response> {
    let mut tx = state.store.begin().await?;
    let k =
        fanz_identity::create_api_key(&mut tx, me.user_id, &req.name, &actor.with_user(me.user_id))
            .await?;
    tx.commit().await?;
    Ok(no_store(
        (
            StatusCode::CREATED,
            axum::Json(NewApiKeyResponse {
                key: k.key,
                api_key: k.info.into(),
            }),
        )
            .into_response(),
    ))
}

/// List your API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyResponse>)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<Vec<ApiKeyResponse>>> {
    let mut db = state.store.conn().await?;
    let keys = fanz_identity::list_api_keys(&mut db, me.user_id).await?;
    Ok(axum::Json(keys.into_iter().map(Into::into).collect()))
}

/// Revoke one of your API keys.
#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "API key id")),
    responses((status = 200, body = StatusResponse), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<StatusResponse>> {
    let mut tx = state.store.begin().await?;
    fanz_identity::revoke_api_key(&mut tx, me.user_id, id, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(axum::Json(StatusResponse { status: "revoked" }))
}

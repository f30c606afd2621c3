//! /api/v1 creator onboarding and the records of who is depicted: the creator agreement,
//! identity verification sessions and the providers' webhook (the sandbox's page among them),
//! performer records a creator submits, the performers of a media item and their consent, and
//! the compliance officer's record store. Who reads records is `fanz_safety::records::KEEPERS`;
//! every decision is the safety crate's.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{no_store, Auth, Json, Path, Query, RequestActor};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fanz_safety::onboarding::{self, Inbound, SandboxResult, Session, Signature, Status};
use fanz_safety::performers::{self, Appearance, Tag, TagRequest};
use fanz_safety::records::{self, Correction, Lookup, NewPerformer, Performer, RecordDetail};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest record submission: two full-size documents and the record, base64.
pub const RECORD_BODY_LIMIT: usize = 28 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agreement))
        .routes(routes!(my_verification, start_verification))
        .routes(routes!(sign_agreement))
        .routes(routes!(webhook))
        .routes(routes!(sandbox_result))
        .merge(
            // Records carry copies of documents (10 MiB each at most, base64 in JSON): a larger
            // body than elsewhere, with few such requests read at once.
            OpenApiRouter::new()
                .routes(routes!(my_performers, submit_performer))
                .layer(tower::limit::ConcurrencyLimitLayer::new(4))
                .layer(axum::extract::DefaultBodyLimit::max(RECORD_BODY_LIMIT)),
        )
        .routes(routes!(media_performers, set_media_performers))
        .routes(routes!(my_appearances))
        .routes(routes!(answer_appearance))
        .routes(routes!(list_records))
        .routes(routes!(get_record, correct_record))
        .routes(routes!(record_document))
        .routes(routes!(decide_record))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Agreement {
    pub version: String,
    pub sha256: String,
    pub text: String,
}

/// The current creator agreement.
#[utoipa::path(get, path = "/api/v1/agreement", tag = "safety",
    responses((status = 200, body = Agreement)))]
pub async fn agreement() -> axum::Json<Agreement> {
    axum::Json(Agreement {
        version: onboarding::AGREEMENT_VERSION.into(),
        sha256: onboarding::agreement_sha256(),
        text: onboarding::AGREEMENT_TEXT.into(),
    })
}

/// Where the caller stands: agreement, identity, payouts.
#[utoipa::path(get, path = "/api/v1/me/verification", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Status), (status = 401, body = ErrorBody)))]
pub async fn my_verification(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<Status>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        onboarding::status(&mut db, &state.verification, me.user_id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The version read (must be the current one).
    pub version: String,
    /// The full legal name, typed: the signature.
    pub typed_name: String,
}

/// Sign the current creator agreement.
#[utoipa::path(post, path = "/api/v1/me/agreement", tag = "safety", security(("bearer" = [])),
    request_body = SignRequest,
    responses((status = 201, body = Signature), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sign_agreement(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(req): Json<SignRequest>,
) -> ApiResult<(StatusCode, axum::Json<Signature>)> {
    let ip = actor.ip.clone();
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let s = onboarding::sign(
        &mut tx,
        me.user_id,
        &req.version,
        &req.typed_name,
        ip.as_deref(),
        &actor,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(s)))
}

/// Start identity and age verification with the configured provider: send the person to
/// `url`. 409 `verification_unavailable` when no provider is configured (submit documents
/// through `/api/v1/me/performers` with `own: true` instead).
#[utoipa::path(post, path = "/api/v1/me/verification", tag = "safety", security(("bearer" = [])),
    responses((status = 201, body = Session), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_verification(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
) -> ApiResult<(StatusCode, axum::Json<Session>)> {
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let s = onboarding::start(
        &mut tx,
        &state.verification,
        me.user_id,
        &state.identity.public_url,
        &actor,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(s)))
}

/// A provider's result (its own format and authentication). Redeliveries are acknowledged
/// and change nothing.
#[utoipa::path(post, path = "/api/v1/verification/webhooks/{provider}", tag = "safety",
    params(("provider" = String, Path)),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, body = Session), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn webhook(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Session>> {
    let headers = crate::extract::header_pairs(&headers);
    let inbound = Inbound {
        headers: &headers,
        body: &body,
    };
    receive(&state, &provider, &inbound, &actor)
        .await
        .map(axum::Json)
}

async fn receive(
    state: &AppState,
    provider: &str,
    inbound: &Inbound<'_>,
    actor: &fanz_audit::Actor,
) -> ApiResult<Session> {
    let mut tx = state.store.begin().await?;
    let s = onboarding::receive(
        &mut tx,
        &state.verification,
        &state.payments,
        provider,
        inbound,
        actor,
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

/// The sandbox provider's hosted step, for tests and the demo: what the document shows (or
/// `outcome: "decline"`). The result is signed and delivered to the webhook's intake like a
/// provider's. 404 unless the sandbox is on and the session is the caller's.
#[utoipa::path(post, path = "/api/v1/verification/sandbox/{session}", tag = "safety", security(("bearer" = [])),
    params(("session" = String, Path)), request_body = SandboxResult,
    responses((status = 200, body = Session), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sandbox_result(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(session): Path<String>,
    Json(result): Json<SandboxResult>,
) -> ApiResult<axum::Json<Session>> {
    Ok(axum::Json(
        sandbox_submit(&state, me.user_id, &session, &result, &actor).await?,
    ))
}

/// Deliver a sandbox result for one of `user_id`'s sessions (the API above and the page).
pub async fn sandbox_submit(
    state: &AppState,
    user_id: i64,
    session: &str,
    result: &SandboxResult,
    actor: &fanz_audit::Actor,
) -> ApiResult<Session> {
    let sandbox = state
        .verification
        .sandbox
        .clone()
        .ok_or_else(|| ApiError::not_found("session"))?;
    {
        let mut db = state.store.conn().await?;
        onboarding::session_of(&mut db, user_id, session).await?;
    }
    let (body, sig) = sandbox.sign(session, result);
    let headers = vec![("fanz-sandbox-signature".to_owned(), sig)];
    let inbound = Inbound {
        headers: &headers,
        body: &body,
    };
    receive(state, "sandbox", &inbound, &actor.with_user(user_id)).await
}

/// Records the caller submitted: their own and their co-performers'.
#[utoipa::path(get, path = "/api/v1/me/performers", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Vec<Performer>), (status = 401, body = ErrorBody)))]
pub async fn my_performers(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<Vec<Performer>>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(records::added_by(&mut db, me.user_id).await?))
}

/// Submit a performer record with copies of the documents (base64) for a compliance officer to
/// check: `own: true` for the caller's own (when no provider is configured), else an
/// off-platform co-performer's, which needs their signed release. Documents are encrypted
/// before they are stored. Creators only.
#[utoipa::path(post, path = "/api/v1/me/performers", tag = "safety", security(("bearer" = [])),
    request_body = NewPerformer,
    responses((status = 201, body = Performer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit_performer(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Json(req): Json<NewPerformer>,
) -> ApiResult<(StatusCode, axum::Json<Performer>)> {
    me.require_any(&[fanz_core::Role::Creator])?;
    let uid = me.0.user_id;
    let mut tx = state.store.begin().await?;
    let p = records::submit(
        &mut tx,
        &state.verification.keyring,
        uid,
        &req,
        &actor.with_user(uid),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// The performers tagged in one of the caller's media items (the uploader is implied).
#[utoipa::path(get, path = "/api/v1/media/{id}/performers", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Tag>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn media_performers(
    State(state): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<Tag>>> {
    let mut db = state.store.conn().await?;
    fanz_media::get_owned(&mut db, me.user_id, id).await?;
    Ok(axum::Json(performers::list(&mut db, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPerformers {
    pub performers: Vec<TagRequest>,
}

/// Set who appears in one of the caller's media items besides themself: records they
/// submitted (`performer_id`) or accounts (`handle`), each with a consent scope. An account
/// must accept its tag before a post carrying the item is published.
#[utoipa::path(put, path = "/api/v1/media/{id}/performers", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SetPerformers,
    responses((status = 200, body = Vec<Tag>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_media_performers(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(req): Json<SetPerformers>,
) -> ApiResult<axum::Json<Vec<Tag>>> {
    let mut tx = state.store.begin().await?;
    let tags = performers::set(
        &mut tx,
        me.user_id,
        id,
        &req.performers,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(tags))
}

/// The media items the caller is tagged in, to accept, decline or withdraw.
#[utoipa::path(get, path = "/api/v1/me/appearances", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Vec<Appearance>), (status = 401, body = ErrorBody)))]
pub async fn my_appearances(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<Vec<Appearance>>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        performers::appearances(&mut db, me.user_id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// accept | decline | withdraw
    pub decision: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Answered {
    /// The posts taken down by a withdrawal.
    pub taken_down: Vec<i64>,
}

/// Answer a tag: accept, decline, or withdraw consent (every post carrying the item is taken
/// down at once and a case opened).
#[utoipa::path(post, path = "/api/v1/me/appearances/{media_id}", tag = "safety", security(("bearer" = [])),
    params(("media_id" = i64, Path)), request_body = Answer,
    responses((status = 200, body = Answered), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn answer_appearance(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(media_id): Path<i64>,
    headers: HeaderMap,
    Json(a): Json<Answer>,
) -> ApiResult<axum::Json<Answered>> {
    let taken_down = answer(&state, &headers, me.user_id, media_id, &a.decision, &actor).await?;
    Ok(axum::Json(Answered { taken_down }))
}

/// Answer a tag for `user_id` (the API above and the page); the posts a withdrawal took down.
pub async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    user_id: i64,
    media_id: i64,
    decision: &str,
    actor: &fanz_audit::Actor,
) -> ApiResult<Vec<i64>> {
    // A withdrawal files its reports as the performer, not subject to the per-address limit.
    let origin = fanz_safety::reports::Origin {
        reporter_id: Some(user_id),
        ip: None,
        hosts: crate::api::safety::known_hosts(state, headers),
        per_ip_per_hour: state.config.compliance.reports_per_ip_per_hour,
    };
    let mut tx = state.store.begin().await?;
    let taken_down = performers::respond(
        &mut tx,
        user_id,
        media_id,
        decision,
        &origin,
        &actor.with_user(user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(taken_down)
}

fn keeper(me: &Auth) -> ApiResult<()> {
    me.require_any(records::KEEPERS)
}

/// Find performer records by legal name, alias, content URL or status (compliance).
#[utoipa::path(get, path = "/api/v1/compliance/records", tag = "safety", security(("bearer" = [])),
    params(Lookup),
    responses((status = 200, body = Vec<Performer>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_records(
    State(state): State<AppState>,
    me: Auth,
    headers: HeaderMap,
    Query(q): Query<Lookup>,
) -> ApiResult<axum::Json<Vec<Performer>>> {
    keeper(&me)?;
    let hosts = crate::api::safety::known_hosts(&state, &headers);
    let mut db = state.store.conn().await?;
    Ok(axum::Json(records::lookup(&mut db, &q, &hosts).await?))
}

/// One record with its documents and every URL depicting the performer (compliance; the
/// reading is audited).
#[utoipa::path(get, path = "/api/v1/compliance/records/{id}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = RecordDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_record(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    keeper(&me)?;
    let mut tx = state.store.begin().await?;
    let d = records::read(&mut tx, id, &actor.with_user(me.0.user_id)).await?;
    tx.commit().await?;
    Ok(no_store(axum::Json(d).into_response()))
}

/// A record's document, decrypted (compliance; every opening is audited).
#[utoipa::path(get, path = "/api/v1/compliance/records/{id}/documents/{doc}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path), ("doc" = i64, Path)),
    responses((status = 200, description = "the document (image or PDF)"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn record_document(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path((id, doc)): Path<(i64, i64)>,
) -> ApiResult<Response> {
    keeper(&me)?;
    let mut tx = state.store.begin().await?;
    let (d, bytes) = records::read_document(
        &mut tx,
        &state.verification.keyring,
        id,
        doc,
        &actor.with_user(me.0.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(document_response(&d, bytes))
}

/// A decrypted document as a response nobody caches and no script runs in.
pub fn document_response(d: &fanz_safety::documents::Document, bytes: Vec<u8>) -> Response {
    no_store(
        (
            [
                (header::CONTENT_TYPE, d.mime.clone()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"record-document-{}\"", d.id),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "sandbox; default-src 'none'; img-src 'self'".into(),
                ),
            ],
            bytes,
        )
            .into_response(),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDecision {
    /// verify | reject
    pub outcome: String,
    #[serde(default)]
    pub reason: String,
}

/// Verify or reject a record after examining its documents (compliance). An account's own
/// record releases or holds its payouts.
#[utoipa::path(post, path = "/api/v1/compliance/records/{id}/decision", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = RecordDecision,
    responses((status = 200, body = Performer), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide_record(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(id): Path<i64>,
    Json(d): Json<RecordDecision>,
) -> ApiResult<axum::Json<Performer>> {
    keeper(&me)?;
    let uid = me.0.user_id;
    let actor = actor.with_user(uid);
    let mut tx = state.store.begin().await?;
    let p = records::decide(&mut tx, id, &d.outcome, &d.reason, uid, &actor).await?;
    if let Some(u) = p.user_id {
        onboarding::sync_payouts(&mut tx, &state.payments, u, records::today(), &actor).await?;
    }
    tx.commit().await?;
    Ok(axum::Json(p))
}

/// Correct a record: the document's expiry, aliases, a legal hold (compliance; audited with
/// the values before).
#[utoipa::path(patch, path = "/api/v1/compliance/records/{id}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = Correction,
    responses((status = 200, body = Performer), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn correct_record(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(id): Path<i64>,
    Json(c): Json<Correction>,
) -> ApiResult<axum::Json<Performer>> {
    keeper(&me)?;
    let actor = actor.with_user(me.0.user_id);
    let mut tx = state.store.begin().await?;
    let p = records::correct(&mut tx, id, &c, &actor).await?;
    if let Some(u) = p.user_id {
        onboarding::sync_payouts(&mut tx, &state.payments, u, records::today(), &actor).await?;
    }
    tx.commit().await?;
    Ok(axum::Json(p))
}

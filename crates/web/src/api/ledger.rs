//! /api/v1/ledger: the double-entry ledger. Finance and admin roles (or their API keys) may do
//! everything; other callers may read only the accounts they own.

use super::wire::StatusResponse;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, Json, RequestActor};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use fanz_core::Role;
use fanz_ledger::templates::TemplateRequest;
use fanz_ledger::{
    Account, Balance, BatchMode, BatchResult, Entry, EntryInput, EntryOutcome, HistoryLine,
    NewAccount, TrialBalance, VerifyReport,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

const BOOKKEEPERS: &[Role] = &[Role::Finance, Role::Admin];

/// Finance/admin, or the owner of the account (`creator:{id}` or `user:{id}`).
async fn may_read(state: &AppState, auth: &Auth, code: &str) -> ApiResult<()> {
    if auth.require_any(BOOKKEEPERS).is_ok() {
        return Ok(());
    }
    let mut db = state.store.conn().await?;
    let account = fanz_ledger::get_account(&mut db, code).await?;
    let id = auth.0.user_id;
    if account.owner == format!("creator:{id}") || account.owner == format!("user:{id}") {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn entry_response(out: EntryOutcome) -> (StatusCode, axum::Json<Entry>) {
    let status = if out.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, axum::Json(out.entry))
}

/// Open an account (finance, admin).
#[utoipa::path(post, path = "/api/v1/ledger/accounts", tag = "ledger", security(("bearer" = [])), request_body = NewAccount,
    responses((status = 201, body = Account), (status = 409, description = "`account_exists`", body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_account(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Json(new): Json<NewAccount>,
) -> ApiResult<(StatusCode, axum::Json<Account>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let account =
        fanz_ledger::create_account(&mut tx, &new, &actor.with_user(auth.0.user_id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(account)))
}

/// An account with its running totals.
#[utoipa::path(get, path = "/api/v1/ledger/accounts/{code}", tag = "ledger", security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = Account), (status = 422, description = "`unknown_account`", body = ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<Account>> {
    may_read(&state, &auth, &code).await?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(fanz_ledger::get_account(&mut db, &code).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct AtQuery {
    /// Microseconds since the epoch: the posted balance as of then.
    at: Option<i64>,
}

/// Posted, pending and available balance (or the posted balance at an instant).
#[utoipa::path(get, path = "/api/v1/ledger/accounts/{code}/balance", tag = "ledger", security(("bearer" = [])),
    params(("code" = String, Path), AtQuery), responses((status = 200, body = Balance), (status = 422, body = ErrorBody)))]
pub async fn balance(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Query(q): Query<AtQuery>,
) -> ApiResult<axum::Json<Balance>> {
    may_read(&state, &auth, &code).await?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(match q.at {
        Some(at) => fanz_ledger::balance_at(&mut db, &code, at).await?,
        None => fanz_ledger::balance(&mut db, &code).await?,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct LimitQuery {
    limit: Option<i64>,
}

/// Posted lines of an account with the running balance, oldest first.
#[utoipa::path(get, path = "/api/v1/ledger/accounts/{code}/history", tag = "ledger", security(("bearer" = [])),
    params(("code" = String, Path), LimitQuery), responses((status = 200, body = Vec<HistoryLine>)))]
pub async fn history(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<axum::Json<Vec<HistoryLine>>> {
    may_read(&state, &auth, &code).await?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        fanz_ledger::history(&mut db, &code, q.limit.unwrap_or(1000).clamp(1, 10_000)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    pub frozen: bool,
}

/// Freeze or unfreeze an account (finance, admin).
#[utoipa::path(post, path = "/api/v1/ledger/accounts/{code}/freeze", tag = "ledger", security(("bearer" = [])),
    params(("code" = String, Path)), request_body = FreezeRequest, responses((status = 200, body = Account)))]
pub async fn freeze(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(code): Path<String>,
    Json(req): Json<FreezeRequest>,
) -> ApiResult<axum::Json<Account>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let account =
        fanz_ledger::set_frozen(&mut tx, &code, req.frozen, &actor.with_user(auth.0.user_id))
            .await?;
    tx.commit().await?;
    Ok(axum::Json(account))
}

/// Post an entry (or a hold with `pending: true`). Replaying a key with the same body returns
/// the original entry with 200.
#[utoipa::path(post, path = "/api/v1/ledger/entries", tag = "ledger", security(("bearer" = [])), request_body = EntryInput,
    responses((status = 201, body = Entry), (status = 200, description = "replay of the same request", body = Entry),
              (status = 409, description = "`idempotency_conflict`", body = ErrorBody),
              (status = 422, description = "`unbalanced_entry`, `unknown_account`, `currency_mismatch`, `invalid_amount`, `amount_overflow`, `balance_flag_violation`, `account_frozen`, …", body = ErrorBody)))]
pub async fn post_entry(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<EntryInput>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::post_entry(&mut tx, &input).await?;
    tx.commit().await?;
    Ok(entry_response(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub mode: BatchMode,
    pub entries: Vec<EntryInput>,
}

/// Post many entries in one transaction: `linked` (all or nothing) or `independent`.
#[utoipa::path(post, path = "/api/v1/ledger/entries/batch", tag = "ledger", security(("bearer" = [])), request_body = BatchRequest,
    responses((status = 200, body = Vec<BatchResult>), (status = 422, description = "a linked batch was refused whole", body = ErrorBody)))]
pub async fn post_batch(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<BatchRequest>,
) -> ApiResult<axum::Json<Vec<BatchResult>>> {
    auth.require_any(BOOKKEEPERS)?;
    if req.entries.is_empty() || req.entries.len() > 10_000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "a batch holds 1 to 10000 entries",
        ));
    }
    let mut tx = state.store.begin().await?;
    let results = fanz_ledger::post_batch(&mut tx, &req.entries, req.mode).await?;
    tx.commit().await?;
    Ok(axum::Json(results))
}

/// One entry with its postings.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{id}", tag = "ledger", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Entry), (status = 404, body = ErrorBody)))]
pub async fn get_entry(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Entry>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(fanz_ledger::get_entry(&mut db, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    pub idempotency_key: String,
    /// Post only part of a two-posting hold; the rest is released.
    #[serde(default)]
    pub amount: Option<i64>,
}

/// Settle a hold in full or in part.
#[utoipa::path(post, path = "/api/v1/ledger/entries/{id}/post", tag = "ledger", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SettleRequest,
    responses((status = 201, body = Entry), (status = 422, description = "`not_pending`, `invalid_amount`", body = ErrorBody)))]
pub async fn post_hold(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<SettleRequest>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::post_pending(&mut tx, id, &req.idempotency_key, req.amount).await?;
    tx.commit().await?;
    Ok(entry_response(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub idempotency_key: String,
}

/// Release a hold without posting it.
#[utoipa::path(post, path = "/api/v1/ledger/entries/{id}/void", tag = "ledger", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = KeyRequest, responses((status = 201, body = Entry), (status = 422, body = ErrorBody)))]
pub async fn void_hold(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<KeyRequest>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::void_pending(&mut tx, id, &req.idempotency_key).await?;
    tx.commit().await?;
    Ok(entry_response(out))
}

/// Reverse a posted entry (once), linked to the original.
#[utoipa::path(post, path = "/api/v1/ledger/entries/{id}/reverse", tag = "ledger", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = KeyRequest, responses((status = 201, body = Entry), (status = 422, description = "`not_reversible`", body = ErrorBody)))]
pub async fn reverse(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<KeyRequest>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::reverse_entry(
        &mut tx,
        id,
        &req.idempotency_key,
        &actor.with_user(auth.0.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(entry_response(out))
}

/// Post a business event through a named template (`tip`, `subscription_sale`, `refund`, …).
#[utoipa::path(post, path = "/api/v1/ledger/templates/{name}", tag = "ledger", security(("bearer" = [])),
    params(("name" = String, Path, description = "template name, optionally with @version")), request_body = TemplateRequest,
    responses((status = 201, body = Entry), (status = 404, description = "`unknown_template`", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn apply_template(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(name): Path<String>,
    Json(req): Json<TemplateRequest>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::templates::apply(&mut tx, &name, &req, &actor.with_user(auth.0.user_id))
        .await?;
    tx.commit().await?;
    Ok(entry_response(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// `creator` or `cluster`.
    pub scope: String,
    /// Creator id or cluster slug.
    pub key: String,
    /// Creator share in basis points (8000 = 80 %).
    pub share_bps: i64,
}

/// Set the creator revenue share for a creator or a cluster.
#[utoipa::path(put, path = "/api/v1/ledger/revenue-shares", tag = "ledger", security(("bearer" = [])), request_body = ShareRequest,
    responses((status = 200, body = StatusResponse), (status = 422, body = ErrorBody)))]
pub async fn set_share(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Json(req): Json<ShareRequest>,
) -> ApiResult<axum::Json<StatusResponse>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    fanz_ledger::templates::set_creator_share(
        &mut tx,
        &req.scope,
        &req.key,
        req.share_bps,
        &actor.with_user(auth.0.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(StatusResponse { status: "saved" }))
}

/// Totals of debit and credit balances per currency, and each account's column.
#[utoipa::path(get, path = "/api/v1/ledger/trial-balance", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = TrialBalance)))]
pub async fn trial_balance(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<TrialBalance>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(fanz_ledger::trial_balance(&mut db).await?))
}

/// Recompute every balance from the journal and check the invariants.
#[utoipa::path(get, path = "/api/v1/ledger/verify", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = VerifyReport)))]
pub async fn verify(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<VerifyReport>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(fanz_ledger::verify(&mut db).await?))
}

#[derive(serde::Serialize, ToSchema)]
pub struct ExpiredResponse {
    pub expired: usize,
}

/// Release every hold whose time has passed (the server also does this every few seconds).
#[utoipa::path(post, path = "/api/v1/ledger/holds/expire", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = ExpiredResponse)))]
pub async fn expire_holds(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<ExpiredResponse>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let expired = fanz_ledger::expire_holds(&mut tx, fanz_core::clock::now_micros()).await?;
    tx.commit().await?;
    Ok(axum::Json(ExpiredResponse { expired }))
}

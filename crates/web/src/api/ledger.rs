//! /api/v1/ledger: the double-entry ledger. Finance and admin roles (or their API keys) may do
//! everything; other callers may read only the accounts they own.

use super::wire::StatusResponse;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, Json, RequestActor};
use crate::extract::{Path, Query};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use fanz_core::Role;
use fanz_ledger::templates::TemplateRequest;
use fanz_ledger::{
    Account, Balance, BalanceSheet, BatchMode, BatchResult, CreatorStatement, Entry, EntryInput,
    EntryOutcome, ExportFormat, HistoryLine, JournalLine, NewAccount, ProfitAndLoss,
    ReconciliationReport, TrialBalance, VerifyReport,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

const BOOKKEEPERS: &[Role] = &[Role::Finance, Role::Admin];

/// Finance/admin, or the owner of the account (`creator:{id}` or `user:{id}`). Anyone else
/// gets the same 403 whether the account exists or not, so that codes cannot be probed.
async fn may_read(state: &AppState, auth: &Auth, code: &str) -> ApiResult<()> {
    if auth.require_any(BOOKKEEPERS).is_ok() {
        return Ok(());
    }
    let mut db = state.store.conn().await?;
    let account = match fanz_ledger::get_account(&mut db, code).await {
        Ok(account) => account,
        Err(fanz_ledger::LedgerError::UnknownAccount(_)) => return Err(ApiError::forbidden()),
        Err(e) => return Err(e.into()),
    };
    let id = auth.0.user_id;
    if account.owner == format!("creator:{id}") || account.owner == format!("user:{id}") {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Entries given to the API must be dated within the accepted window (see
/// [`fanz_ledger::check_effective_at`]).
fn check_dates<'a>(entries: impl IntoIterator<Item = &'a EntryInput>) -> ApiResult<()> {
    let now = fanz_core::clock::now_micros();
    for e in entries {
        if let Some(at) = e.effective_at {
            fanz_ledger::check_effective_at(at, now)?;
        }
    }
    Ok(())
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
    RequestActor(actor): RequestActor,
    auth: Auth,
    Json(input): Json<EntryInput>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    check_dates([&input])?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::post_entry_as(&mut tx, &input, &actor.with_user(auth.0.user_id)).await?;
    tx.commit().await?;
    Ok(entry_response(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub mode: BatchMode,
    #[schema(min_items = 1, max_items = 10000)]
    pub entries: Vec<EntryInput>,
}

/// Post many entries in one transaction: `linked` (all or nothing) or `independent`.
#[utoipa::path(post, path = "/api/v1/ledger/entries/batch", tag = "ledger", security(("bearer" = [])), request_body = BatchRequest,
    responses((status = 200, body = Vec<BatchResult>), (status = 422, description = "a linked batch was refused whole", body = ErrorBody)))]
pub async fn post_batch(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
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
    check_dates(&req.entries)?;
    let mut tx = state.store.begin().await?;
    let results = fanz_ledger::post_batch_as(
        &mut tx,
        &req.entries,
        req.mode,
        &actor.with_user(auth.0.user_id),
    )
    .await?;
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
#[schema(as = LedgerSettleRequest)]
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
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<SettleRequest>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::post_pending_as(
        &mut tx,
        id,
        &req.idempotency_key,
        req.amount,
        &actor.with_user(auth.0.user_id),
    )
    .await?;
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
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<KeyRequest>,
) -> ApiResult<(StatusCode, axum::Json<Entry>)> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let out = fanz_ledger::void_pending_as(
        &mut tx,
        id,
        &req.idempotency_key,
        &actor.with_user(auth.0.user_id),
    )
    .await?;
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
    // A template opens the chart accounts it names on first use: only for people who exist.
    for id in [req.creator_id, req.fan_id].into_iter().flatten() {
        match fanz_identity::find_user(&mut tx, id).await {
            Ok(_) => {}
            Err(fanz_identity::IdentityError::UserNotFound) => {
                return Err(fanz_ledger::LedgerError::UnknownAccount(format!("user {id}")).into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    let out = fanz_ledger::templates::apply(&mut tx, &name, &req, &actor.with_user(auth.0.user_id))
        .await?;
    tx.commit().await?;
    Ok(entry_response(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// `creator` or `cluster`.
    #[schema(pattern = "^(creator|cluster)$")]
    pub scope: String,
    /// Creator id or cluster slug.
    pub key: String,
    /// Creator share in basis points (8000 = 80 %).
    #[schema(minimum = 0, maximum = 10000)]
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

#[derive(Deserialize, IntoParams)]
pub struct FormatQuery {
    /// `json` (default) or `csv`.
    format: Option<ExportFormat>,
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Totals of debit and credit balances per currency, and each account's column (`?format=csv`
/// for a spreadsheet).
#[utoipa::path(get, path = "/api/v1/ledger/trial-balance", tag = "ledger", security(("bearer" = [])),
    params(FormatQuery), responses((status = 200, description = "JSON by default, CSV with `?format=csv`",
        content((TrialBalance = "application/json"), (String = "text/csv"))),
        (status = 403, body = ErrorBody)))]
pub async fn trial_balance(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<FormatQuery>,
) -> ApiResult<Response> {
    auth.require_any(BOOKKEEPERS)?;
    let mut db = state.store.conn().await?;
    Ok(match q.format.unwrap_or(ExportFormat::Json) {
        ExportFormat::Json => {
            axum::Json(fanz_ledger::trial_balance(&mut db).await?).into_response()
        }
        ExportFormat::Csv => csv_response(
            "trial-balance",
            fanz_ledger::trial_balance_csv(&mut db).await?,
        ),
    })
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
    /// Holds released.
    pub expired: usize,
    /// Rolling reserves released to the creators' payable balances.
    pub reserves_released: usize,
}

/// Release every hold whose time has passed and every rolling reserve that is due (the server
/// also does this every few seconds).
#[utoipa::path(post, path = "/api/v1/ledger/holds/expire", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = ExpiredResponse)))]
pub async fn expire_holds(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
) -> ApiResult<axum::Json<ExpiredResponse>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut tx = state.store.begin().await?;
    let (expired, reserves_released) = fanz_ledger::release_due(
        &mut tx,
        fanz_core::clock::now_micros(),
        &actor.with_user(auth.0.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(ExpiredResponse {
        expired,
        reserves_released,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// Start, inclusive: microseconds since the epoch, `YYYY-MM-DD` or RFC 3339 (default: the
    /// beginning).
    from: Option<String>,
    /// End, exclusive, in the same forms (default: now).
    to: Option<String>,
    /// `json` (default) or `csv` where the report has a CSV form.
    format: Option<ExportFormat>,
}

impl PeriodQuery {
    fn period(&self) -> ApiResult<(i64, i64)> {
        Ok(fanz_ledger::parse_period(
            self.from.as_deref(),
            self.to.as_deref(),
        )?)
    }
}

/// Revenue, expenses and net income per currency for a period (finance, admin).
#[utoipa::path(get, path = "/api/v1/ledger/reports/profit-and-loss", tag = "ledger", security(("bearer" = [])),
    params(PeriodQuery), responses((status = 200, body = ProfitAndLoss), (status = 422, description = "`invalid_request`: a bad period", body = ErrorBody)))]
pub async fn profit_and_loss(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<axum::Json<ProfitAndLoss>> {
    auth.require_any(BOOKKEEPERS)?;
    let (from, to) = q.period()?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        fanz_ledger::profit_and_loss(&mut db, from, to).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct SheetQuery {
    /// The instant (microseconds, `YYYY-MM-DD` or RFC 3339; default: now).
    at: Option<String>,
}

/// Assets, liabilities, equity and retained earnings per currency at an instant (finance,
/// admin).
#[utoipa::path(get, path = "/api/v1/ledger/reports/balance-sheet", tag = "ledger", security(("bearer" = [])),
    params(SheetQuery), responses((status = 200, body = BalanceSheet), (status = 422, body = ErrorBody)))]
pub async fn balance_sheet(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<SheetQuery>,
) -> ApiResult<axum::Json<BalanceSheet>> {
    auth.require_any(BOOKKEEPERS)?;
    let at = fanz_ledger::parse_instant_or_now(q.at.as_deref())?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(fanz_ledger::balance_sheet(&mut db, at).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct StatementQuery {
    /// ISO-4217 code or asset (default `USD`).
    currency: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A creator's statement for a period: earnings by source, fees, refunds, chargebacks,
/// reserves, payouts, opening and closing balance. The creator reads their own; finance and
/// admin read anyone's.
#[utoipa::path(get, path = "/api/v1/ledger/creators/{id}/statement", tag = "ledger", security(("bearer" = [])),
    params(("id" = i64, Path), StatementQuery),
    responses((status = 200, body = CreatorStatement), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn creator_statement(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(q): Query<StatementQuery>,
) -> ApiResult<axum::Json<CreatorStatement>> {
    if auth.0.user_id != id {
        auth.require_any(BOOKKEEPERS)?;
    }
    let period = PeriodQuery {
        from: q.from,
        to: q.to,
        format: None,
    };
    let (from, to) = period.period()?;
    let currency = q.currency.unwrap_or_else(|| "USD".into());
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        fanz_ledger::creator_statement(&mut db, id, &currency, from, to).await?,
    ))
}

/// The journal for a period, one line per posting, as JSON or CSV (finance, admin).
#[utoipa::path(get, path = "/api/v1/ledger/export", tag = "ledger", security(("bearer" = [])),
    params(PeriodQuery), responses((status = 200, description = "JSON by default, CSV with `?format=csv`",
        content((Vec<JournalLine> = "application/json"), (String = "text/csv"))),
        (status = 403, body = ErrorBody), (status = 422, description = "`invalid_request`: a bad period", body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Response> {
    auth.require_any(BOOKKEEPERS)?;
    let (from, to) = q.period()?;
    let mut db = state.store.conn().await?;
    Ok(match q.format.unwrap_or(ExportFormat::Json) {
        ExportFormat::Json => {
            axum::Json(fanz_ledger::journal_lines(&mut db, from, to).await?).into_response()
        }
        ExportFormat::Csv => csv_response(
            "journal",
            fanz_ledger::export_journal(&mut db, from, to, ExportFormat::Csv).await?,
        ),
    })
}

/// Import a processor's settlement file (CSV body: `reference,amount,currency[,fee][,date]`,
/// amounts in major units) and reconcile it against the journal. The same file imported again
/// is reconciled again, not stored twice (`already_imported`).
#[utoipa::path(post, path = "/api/v1/ledger/settlements/{processor}", tag = "ledger", security(("bearer" = [])),
    params(("processor" = String, Path, description = "e.g. `ccbill`, `segpay`")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ReconciliationReport), (status = 200, description = "the file had been imported before", body = ReconciliationReport),
              (status = 422, description = "`invalid_request`: a bad file, with the line named", body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn import_settlement(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(processor): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, axum::Json<ReconciliationReport>)> {
    auth.require_any(BOOKKEEPERS)?;
    let body = body.map_err(|rej| {
        let code = match rej.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "bad_request",
        };
        ApiError::new(rej.status(), code, rej.body_text())
    })?;
    if body.contains(&0) {
        return Err(crate::extract::nul_error());
    }
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "a settlement file must be UTF-8 text",
        )
    })?;
    let mut tx = state.store.begin().await?;
    let report =
        fanz_ledger::import_settlement(&mut tx, &processor, text, &actor.with_user(auth.0.user_id))
            .await?;
    tx.commit().await?;
    let status = if report.already_imported {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(report)))
}

/// Reconcile an imported settlement file against the journal as it is now (finance, admin).
#[utoipa::path(get, path = "/api/v1/ledger/settlements/{processor}/{import_id}", tag = "ledger", security(("bearer" = [])),
    params(("processor" = String, Path), ("import_id" = i64, Path)),
    responses((status = 200, body = ReconciliationReport), (status = 404, body = ErrorBody)))]
pub async fn reconciliation(
    State(state): State<AppState>,
    auth: Auth,
    Path((processor, import_id)): Path<(String, i64)>,
) -> ApiResult<axum::Json<ReconciliationReport>> {
    auth.require_any(BOOKKEEPERS)?;
    let mut db = state.store.conn().await?;
    let report = fanz_ledger::reconcile(&mut db, import_id).await?;
    if report.processor != processor {
        return Err(fanz_ledger::LedgerError::SettlementNotFound(import_id).into());
    }
    Ok(axum::Json(report))
}

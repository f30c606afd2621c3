//! /api/v1 trust & safety: reports (no account needed), the case queue for moderators and
//! compliance officers, decisions, and the affected creator's statements and appeals, DMCA
//! counter-notices, and the verification of requests from authorities. Who reviews is
//! `fanz_safety::REVIEWERS`; everything else is decided in the safety crate.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, MaybeAuth, Path, Query, RequestActor};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use fanz_core::clock::now_micros;
use fanz_safety::cases::{self, Case, CaseDetail, Statement};
use fanz_safety::dmca::{self, CounterNotice, NewCounterNotice};
use fanz_safety::reports::{self, NewReport, Origin, Submitted};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(list_cases))
        .routes(routes!(get_case))
        .routes(routes!(decide))
        .routes(routes!(my_statements))
        .routes(routes!(appeal))
        .routes(routes!(counter_notice))
        .routes(routes!(waiting_counter_notices))
        .routes(routes!(action_filed))
        .routes(routes!(verify_authority))
        .routes(routes!(monthly_report))
        .routes(routes!(transparency))
}

/// The hosts whose URLs name this server's posts: every cluster's, and the one asked.
pub fn known_hosts(state: &AppState, headers: &HeaderMap) -> Vec<String> {
    let mut hosts: Vec<String> = state
        .clusters
        .all()
        .iter()
        .flat_map(|c| c.hosts.iter().cloned())
        .collect();
    if let Some(h) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        hosts.push(h.to_owned());
    }
    hosts
}

/// File a report (illegal, non-consensual, underage, impersonation, copyright with the DMCA
/// fields, other). No account needed; a bearer token records the reporter. Throttled per IP.
#[utoipa::path(post, path = "/api/v1/reports", tag = "safety", request_body = NewReport,
    responses((status = 201, body = Submitted), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    headers: HeaderMap,
    Json(req): Json<NewReport>,
) -> ApiResult<(StatusCode, axum::Json<Submitted>)> {
    let origin = Origin {
        reporter_id: me.as_ref().map(|p| p.user_id),
        ip: actor.ip.clone(),
        hosts: known_hosts(&state, &headers),
        per_ip_per_hour: state.config.compliance.reports_per_ip_per_hour,
    };
    let actor = match &me {
        Some(p) => actor.with_user(p.user_id),
        None => actor,
    };
    let done = file_report(&state, &req, &origin, &actor).await?;
    Ok((StatusCode::CREATED, axum::Json(done)))
}

/// File a report in its own transaction (the API above and the report page). Two first
/// reports of one URL at the same moment both try to open its case; the one that loses the
/// race to the unique index is filed again and joins the case the other opened.
pub async fn file_report(
    state: &AppState,
    req: &reports::NewReport,
    origin: &reports::Origin,
    actor: &fanz_audit::Actor,
) -> ApiResult<reports::Submitted> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = state.store.begin().await?;
        match reports::submit(&mut tx, req, origin, now_micros(), actor).await {
            Ok(done) => {
                tx.commit().await?;
                return Ok(done);
            }
            Err(fanz_safety::SafetyError::Database(e))
                if attempt < 3 && fanz_store::is_unique_violation(&e) =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    /// open | escalated | decided; none: every undecided case.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// The case queue, most urgent first (moderators, compliance, admins).
#[utoipa::path(get, path = "/api/v1/compliance/cases", tag = "safety", security(("bearer" = [])),
    params(CaseFilter),
    responses((status = 200, body = Vec<Case>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_cases(
    State(state): State<AppState>,
    me: Auth,
    Query(f): Query<CaseFilter>,
) -> ApiResult<axum::Json<Vec<Case>>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let mut db = state.store.conn().await?;
    let limit = f.limit.unwrap_or(100).clamp(1, 500);
    Ok(axum::Json(
        cases::list(&mut db, f.status.as_deref(), limit).await?,
    ))
}

/// A case with its reports and statements (moderators, compliance, admins).
#[utoipa::path(get, path = "/api/v1/compliance/cases/{id}", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = CaseDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_case(
    State(state): State<AppState>,
    me: Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CaseDetail>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let mut db = state.store.conn().await?;
    let policy = crate::strike_policy(&state.config);
    Ok(axum::Json(
        cases::detail(&mut db, id, &policy, now_micros()).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// removed | restored | no_action
    pub outcome: String,
    /// The statement of reasons sent to the creator.
    pub reason: String,
}

/// Decide a case; the statement of reasons goes to the affected creator.
#[utoipa::path(post, path = "/api/v1/compliance/cases/{id}/decision", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = Statement), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(id): Path<i64>,
    Json(d): Json<Decision>,
) -> ApiResult<axum::Json<Statement>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let uid = me.0.user_id;
    let actor = actor.with_user(uid);
    let mut tx = state.store.begin().await?;
    let s = cases::decide(
        &mut tx,
        &state.content,
        &crate::strike_policy(&state.config),
        id,
        &d.outcome,
        &d.reason,
        uid,
        now_micros(),
        &actor,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(s))
}

/// The statements of reasons about the caller's content.
#[utoipa::path(get, path = "/api/v1/me/statements", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Vec<Statement>), (status = 401, body = ErrorBody)))]
pub async fn my_statements(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<Vec<Statement>>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        cases::statements_for(&mut db, me.user_id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Appeal {
    pub text: String,
}

/// Appeal a decision within 6 months: the case is reopened.
#[utoipa::path(post, path = "/api/v1/me/statements/{id}/appeal", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = Appeal,
    responses((status = 200, body = Case), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn appeal(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(a): Json<Appeal>,
) -> ApiResult<axum::Json<Case>> {
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let case = cases::appeal(&mut tx, me.user_id, id, &a.text, now_micros(), &actor).await?;
    tx.commit().await?;
    Ok(axum::Json(case))
}

/// File a DMCA counter-notice (17 U.S.C. 512(g)(3)) against the statement of reasons for a
/// copyright takedown of the caller's post. The complainant gets a copy; the post is restored
/// 10 business days later unless they tell us they filed a court action.
#[utoipa::path(post, path = "/api/v1/me/statements/{id}/counter-notice", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewCounterNotice,
    responses((status = 201, body = CounterNotice), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn counter_notice(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(n): Json<NewCounterNotice>,
) -> ApiResult<(StatusCode, axum::Json<CounterNotice>)> {
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let cn = dmca::file(&mut tx, me.user_id, id, &n, now_micros(), &actor).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(cn)))
}

/// Counter-notices waiting for their restoration date, the soonest first (moderators,
/// compliance, admins).
#[utoipa::path(get, path = "/api/v1/compliance/counter-notices", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = Vec<CounterNotice>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn waiting_counter_notices(
    State(state): State<AppState>,
    me: Auth,
) -> ApiResult<axum::Json<Vec<CounterNotice>>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(dmca::waiting(&mut db, 500).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionFiled {
    /// The court and case number the complainant gave.
    pub note: String,
}

/// Record that the complainant filed an action seeking a court order: the counter-noticed
/// post stays down (moderators, compliance, admins).
#[utoipa::path(post, path = "/api/v1/compliance/counter-notices/{id}/action-filed", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ActionFiled,
    responses((status = 200, body = CounterNotice), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn action_filed(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(id): Path<i64>,
    Json(a): Json<ActionFiled>,
) -> ApiResult<axum::Json<CounterNotice>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let uid = me.0.user_id;
    let mut tx = state.store.begin().await?;
    let cn = dmca::action_filed(
        &mut tx,
        id,
        &a.note,
        uid,
        now_micros(),
        &actor.with_user(uid),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(cn))
}

/// Confirm that a request from an authority came from it (compliance officers).
#[utoipa::path(post, path = "/api/v1/compliance/reports/{id}/verify", tag = "safety", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn verify_authority(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    me: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    me.require_any(fanz_safety::records::KEEPERS)?;
    let uid = me.0.user_id;
    let mut tx = state.store.begin().await?;
    reports::verify_authority(&mut tx, id, uid, now_micros(), &actor.with_user(uid)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// YYYY-MM (default: the current month).
    pub month: Option<String>,
    /// json (default) or csv.
    pub format: Option<String>,
}

/// The monthly trust & safety report, per cluster and in total: notices by kind, cases opened
/// and decided with outcomes, time to decide, late and overdue cases, appeals, hash matches,
/// reviews (moderators, compliance, admins). `format=csv` for the spreadsheet processors ask for.
#[utoipa::path(get, path = "/api/v1/compliance/reports/monthly", tag = "safety", security(("bearer" = [])),
    params(MonthQuery),
    responses((status = 200, description = "the report, as JSON or (format=csv) CSV",
            content((fanz_safety::monthly::Monthly = "application/json"), (String = "text/csv"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn monthly_report(
    State(state): State<AppState>,
    me: Auth,
    Query(q): Query<MonthQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    me.require_any(fanz_safety::REVIEWERS)?;
    let month = q.month.unwrap_or_else(|| {
        fanz_safety::records::format_date(fanz_safety::records::today())[..7].to_owned()
    });
    let mut db = state.store.conn().await?;
    let m = fanz_safety::monthly::report(&mut db, &month).await?;
    Ok(match q.format.as_deref() {
        Some("csv") => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"trust-and-safety-{}.csv\"", m.month),
                ),
            ],
            fanz_safety::monthly::csv(&m),
        )
            .into_response(),
        None | Some("json") => axum::Json(m).into_response(),
        Some(_) => {
            return Err(crate::error::ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_format",
                "format is json or csv",
            ))
        }
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TransparencyQuery {
    /// YYYY-MM (UTC), by when each statement of reasons was issued.
    pub month: String,
}

/// The month's statements of reasons that restrict something, in the EU DSA Transparency
/// Database's statement schema (art. 24(5) DSA): the body of its batch endpoint
/// (`POST /api/v1/statements`), to submit as it is (moderators, compliance, admins).
/// Decisions that restrict nothing (`no_action`, `restored`, released payouts) are left out.
#[utoipa::path(get, path = "/api/v1/compliance/transparency", tag = "safety", security(("bearer" = [])),
    params(TransparencyQuery),
    responses((status = 200, body = fanz_safety::transparency::Batch),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transparency(
    State(state): State<AppState>,
    me: Auth,
    Query(q): Query<TransparencyQuery>,
) -> ApiResult<axum::Json<fanz_safety::transparency::Batch>> {
    me.require_any(fanz_safety::REVIEWERS)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        fanz_safety::transparency::month(&mut db, &q.month).await?,
    ))
}

//! /api/v1/age: viewer age assurance for API clients — where the caller is and what that
//! place needs, starting a check with a provider, reading its outcome (with a pass token to
//! send as `Fanz-Age-Pass`), the providers' webhook and the sandbox's step. The rules and the
//! checks are `fanz_safety::age`'s; the gate in front of every route is `crate::age`.

use crate::age::{assess, carried_pass};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{no_store, Json, MaybeAuth, PageCluster, Path, RequestActor};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fanz_core::clock::now_micros;
use fanz_safety::age::{self, Check, Decision, Pass, Place, Rule};
use fanz_safety::onboarding::Inbound;
use fanz_safety::SafetyError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(start_check))
        .routes(routes!(get_check))
        .routes(routes!(webhook))
        .routes(routes!(sandbox_result))
}

/// Where the caller is, what that place needs on this cluster, and whether they have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgeStatus {
    pub cluster: String,
    pub place: Place,
    pub decision: Decision,
    /// The methods that satisfy the rule and a provider offers.
    pub methods: Vec<MethodInfo>,
    /// Whether the caller may see the cluster's content from here.
    pub satisfied: bool,
    /// The pass the request carries, if any.
    pub pass: Option<Pass>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MethodInfo {
    pub method: String,
    pub label: String,
}

/// The age-assurance status of the caller on the cluster of the request's host.
#[utoipa::path(get, path = "/api/v1/age", tag = "safety",
    responses((status = 200, body = AgeStatus)))]
pub async fn status(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    site: PageCluster,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let cluster = site.cluster.slug;
    let (place, decision) = assess(&state, &headers, Some(addr), &cluster);
    let satisfied = match &decision.rule {
        Rule::Allow => true,
        Rule::Block => false,
        rule => crate::age::satisfied(&state, &headers, rule).await?,
    };
    let methods = state
        .age
        .methods_for(&decision.rule)
        .into_iter()
        .map(|m| MethodInfo {
            method: m.into(),
            label: age::method_label(m).into(),
        })
        .collect();
    Ok(no_store(
        axum::Json(AgeStatus {
            cluster,
            pass: carried_pass(&state, &headers),
            place,
            decision,
            methods,
            satisfied,
        })
        .into_response(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCheck {
    /// One of the methods `GET /api/v1/age` lists.
    pub method: String,
}

/// A check just started: send the viewer to `url`; its id reads the outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    pub check: Check,
    pub url: String,
}

/// Start an age check by a method the caller's place accepts. Signed-in callers keep the pass
/// on their account.
#[utoipa::path(post, path = "/api/v1/age/checks", tag = "safety", request_body = StartCheck,
    responses((status = 201, body = Started), (status = 422, body = ErrorBody), (status = 451, body = ErrorBody)))]
pub async fn start_check(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    MaybeAuth(me): MaybeAuth,
    site: PageCluster,
    headers: HeaderMap,
    Json(body): Json<StartCheck>,
) -> ApiResult<Response> {
    let cluster = site.cluster.slug;
    let (_, decision) = assess(&state, &headers, Some(addr), &cluster);
    let req = age::CheckRequest {
        cluster: &cluster,
        rule: &decision.rule,
        method: &body.method,
        user_id: me.map(|m| m.user_id),
        site: &state.identity.public_url,
        return_to: "",
    };
    let (check, url) = begin(&state, &req).await?;
    Ok(no_store(
        (StatusCode::CREATED, axum::Json(Started { check, url })).into_response(),
    ))
}

/// Start a check (the API above and the page): a blocked place is refused.
pub async fn begin(state: &AppState, req: &age::CheckRequest<'_>) -> ApiResult<(Check, String)> {
    if *req.rule == Rule::Block {
        return Err(SafetyError::RegionBlocked.into());
    }
    let mut db = state.store.conn().await?;
    Ok(age::start(&mut db, &state.age, req).await?)
}

/// A check's outcome and, once it passed, the pass token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckOutcome {
    pub check: Check,
    /// Send as the `Fanz-Age-Pass` header (pages get it as a cookie).
    pub pass_token: Option<String>,
    pub pass: Option<Pass>,
}

/// A check by its id (a secret only the one who started it holds).
#[utoipa::path(get, path = "/api/v1/age/checks/{id}", tag = "safety",
    params(("id" = String, Path)),
    responses((status = 200, body = CheckOutcome), (status = 404, body = ErrorBody)))]
pub async fn get_check(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let outcome = outcome(&state, &id).await?;
    Ok(no_store(axum::Json(outcome).into_response()))
}

/// A check and the pass it earned, sealed (the API above and the page's return step).
pub async fn outcome(state: &AppState, id: &str) -> ApiResult<CheckOutcome> {
    let mut db = state.store.conn().await?;
    let check = age::check(&mut db, id).await?;
    let pass = age::pass_of(&state.age, &check).filter(|p| p.expires_at > now_micros());
    Ok(CheckOutcome {
        pass_token: pass.as_ref().map(|p| state.age.pass_token(p)),
        check,
        pass,
    })
}

/// A provider's result (its own format and authentication). Redeliveries change nothing.
#[utoipa::path(post, path = "/api/v1/age/webhooks/{provider}", tag = "safety",
    params(("provider" = String, Path)),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, body = Check), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn webhook(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Check>> {
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
) -> ApiResult<Check> {
    let mut tx = state.store.begin().await?;
    let c = age::receive(&mut tx, &state.age, provider, inbound, actor).await?;
    tx.commit().await?;
    Ok(c)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxOutcome {
    /// Whether the sandbox finds the viewer an adult.
    pub passed: bool,
}

/// The sandbox provider's step, for tests and the demo: the outcome is signed and delivered to
/// the webhook's intake like a provider's. 404 unless the sandbox is on.
#[utoipa::path(post, path = "/api/v1/age/sandbox/{id}", tag = "safety",
    params(("id" = String, Path)), request_body = SandboxOutcome,
    responses((status = 200, body = Check), (status = 404, body = ErrorBody)))]
pub async fn sandbox_result(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Path(id): Path<String>,
    Json(body): Json<SandboxOutcome>,
) -> ApiResult<axum::Json<Check>> {
    Ok(axum::Json(
        sandbox_submit(&state, &id, body.passed, &actor).await?,
    ))
}

/// Deliver the sandbox's outcome for a check (the API above and the page).
pub async fn sandbox_submit(
    state: &AppState,
    id: &str,
    passed: bool,
    actor: &fanz_audit::Actor,
) -> ApiResult<Check> {
    let sandbox = state
        .age
        .sandbox
        .clone()
        .ok_or_else(|| ApiError::not_found("check"))?;
    let check = {
        let mut db = state.store.conn().await?;
        age::check(&mut db, id).await?
    };
    let (body, sig) = sandbox.sign(&age::AgeResult {
        check_id: check.id.clone(),
        passed,
        method: check.method.clone(),
    });
    let headers = vec![("fanz-sandbox-signature".to_owned(), sig)];
    let inbound = Inbound {
        headers: &headers,
        body: &body,
    };
    receive(state, "sandbox", &inbound, actor).await
}

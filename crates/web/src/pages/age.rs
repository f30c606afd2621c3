//! Age-assurance pages: the check a viewer in a place that requires one is sent to (`/age`),
//! starting it with a provider, the sandbox provider's hosted step, the return from the
//! provider (which sets the pass cookie), and the 451 page of a blocked place. The gate that
//! sends viewers here is `crate::age`; the rules are `fanz_safety::age`'s.

use super::csrf::{CsrfForm, CsrfToken};
use super::{layout, param, render, set_cookie, Layout};
use crate::age::{assess, satisfied, PASS_COOKIE};
use crate::api::age::{begin, outcome, sandbox_submit};
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use fanz_safety::age::{self, Place, Rule};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/age", get(check_page))
        .route("/age/start", post(start))
        .route("/age/sandbox/{id}", get(sandbox_page).post(sandbox_post))
        .route("/age/done/{id}", get(done))
}

/// A local path to go to afterwards; anything else (another site) becomes `/`.
fn local(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

fn encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.strip_prefix('=').unwrap_or(&s).to_owned())
        .unwrap_or_default()
}

fn place_text(place: &Place) -> Option<String> {
    place.subdivision.clone().or_else(|| place.country.clone())
}

/// What each method asks of the viewer.
fn method_help(method: &str) -> &'static str {
    match method {
        "facial_estimation" => "A selfie; software estimates your age. No ID needed.",
        "photo_id" => "A photo of your ID, matched to a selfie.",
        "credit_card" => "Card issuers only give credit cards to adults.",
        "open_banking" => "Your bank confirms you are over 18.",
        "mobile_operator" => "Your mobile operator confirms your account has no age filter.",
        "digital_id" => "An age credential from a digital identity wallet.",
        "email_estimation" => "Where your e-mail address has been used estimates your age.",
        _ => "",
    }
}

#[derive(Template)]
#[template(path = "age_check.html")]
pub struct CheckPage {
    pub layout: Layout,
    pub place: Option<String>,
    /// (method, label, help)
    pub methods: Vec<(&'static str, &'static str, &'static str)>,
    pub next: String,
    pub pass_days: u32,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
    pub error: Option<String>,
}

async fn check_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, ApiError> {
    let next = local(q.next.as_deref());
    let (place, decision) = assess(&state, &headers, Some(addr), &pc.cluster.slug);
    match &decision.rule {
        Rule::Block => return Ok(blocked(&pc, &place)),
        Rule::Allow => return Ok(Redirect::to(&next).into_response()),
        rule if satisfied(&state, &headers, rule).await? => {
            return Ok(Redirect::to(&next).into_response())
        }
        _ => {}
    }
    let methods = state
        .age
        .methods_for(&decision.rule)
        .into_iter()
        .map(|m| (m, age::method_label(m), method_help(m)))
        .collect();
    Ok(render(
        StatusCode::OK,
        CheckPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            place: place_text(&place),
            methods,
            next,
            pass_days: state.config.age_assurance.pass_days,
            error: q.error,
        },
    ))
}

#[derive(Deserialize)]
pub struct StartForm {
    pub method: String,
    pub next: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<StartForm>,
) -> Result<Response, ApiError> {
    let next = local(f.next.as_deref());
    let (place, decision) = assess(&state, &headers, Some(addr), &pc.cluster.slug);
    if decision.rule == Rule::Block {
        return Ok(blocked(&pc, &place));
    }
    let return_to = format!("{}/age/done/{{id}}?next={}", pc.base, encode(&next));
    let req = age::CheckRequest {
        cluster: &pc.cluster.slug,
        rule: &decision.rule,
        method: &f.method,
        user_id: viewer.map(|v| v.user_id),
        site: &pc.base,
        return_to: &return_to,
    };
    match begin(&state, &req).await {
        Ok((_, url)) => Ok(Redirect::to(&url).into_response()),
        Err(e) => Ok(Redirect::to(&format!(
            "{}/age?next={}&error={}",
            pc.base,
            encode(&next),
            encode(&e.message)
        ))
        .into_response()),
    }
}

#[derive(Template)]
#[template(path = "age_sandbox.html")]
pub struct SandboxPage {
    pub layout: Layout,
    pub id: String,
    pub method: &'static str,
    pub return_to: String,
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    #[serde(rename = "return")]
    pub return_to: Option<String>,
}

async fn sandbox_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<ReturnQuery>,
) -> Result<Response, ApiError> {
    let id: String = param(&params, "id")?;
    if state.age.sandbox.is_none() {
        return Err(ApiError::not_found("check"));
    }
    let mut db = state.store.conn().await?;
    let check = age::check(&mut db, &id).await?;
    Ok(render(
        StatusCode::OK,
        SandboxPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            method: age::method_label(&check.method),
            return_to: local(q.return_to.as_deref()).replace("{id}", &id),
            id,
        },
    ))
}

#[derive(Deserialize)]
pub struct SandboxForm {
    pub outcome: String,
    #[serde(rename = "return")]
    pub return_to: Option<String>,
}

async fn sandbox_post(
    State(state): State<AppState>,
    pc: PageCluster,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(f): CsrfForm<SandboxForm>,
) -> Result<Response, ApiError> {
    let id: String = param(&params, "id")?;
    sandbox_submit(&state, &id, f.outcome == "pass", &actor).await?;
    let back = match f.return_to.as_deref() {
        Some(r) => local(Some(r)).replace("{id}", &id),
        None => format!("{}/age/done/{id}", pc.base),
    };
    Ok(Redirect::to(&back).into_response())
}

#[derive(Template)]
#[template(path = "age_result.html")]
pub struct ResultPage {
    pub layout: Layout,
    pub id: String,
    pub pending: bool,
    pub next_encoded: String,
}

/// The return from the provider: a pass becomes the cookie and the viewer goes on.
async fn done(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<NextQuery>,
) -> Result<Response, ApiError> {
    let id: String = param(&params, "id")?;
    let next = local(q.next.as_deref());
    let o = outcome(&state, &id).await?;
    if let (Some(token), Some(pass)) = (&o.pass_token, &o.pass) {
        let mut res = Redirect::to(&next).into_response();
        let max_age = (pass.expires_at - fanz_core::clock::now_micros()) / 1_000_000;
        set_cookie(&mut res, &state, PASS_COOKIE, token, max_age.max(0));
        return Ok(res);
    }
    Ok(render(
        StatusCode::OK,
        ResultPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            pending: o.check.status == "pending",
            id,
            next_encoded: encode(&next),
        },
    ))
}

#[derive(Template)]
#[template(path = "age_blocked.html")]
pub struct BlockedPage {
    pub layout: Layout,
    pub place: Option<String>,
}

/// The page a blocked place gets, with 451 (the gate and the pages above).
pub fn blocked(pc: &PageCluster, place: &Place) -> Response {
    let mut res = render(
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        BlockedPage {
            layout: layout(pc, None, &CsrfToken(String::new())),
            place: place_text(place),
        },
    );
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::local;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local(Some("/c/boyfanz/p/3?x=1")), "/c/boyfanz/p/3?x=1");
        assert_eq!(local(Some("//evil.example/")), "/");
        assert_eq!(local(Some("https://evil.example/")), "/");
        assert_eq!(local(Some("/\\evil.example")), "/");
        assert_eq!(local(None), "/");
    }
}

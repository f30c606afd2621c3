//! The age-assurance gate in front of every route: where the viewer is, the rule their place
//! gets on the cluster asked for (`fanz_safety::age`), and then — allow: through; block: 451
//! with nothing but the legal pages; assure: through with a pass, else the age check (a
//! redirect to `/age` for pages, 403 `age_assurance_required` for the API).
//!
//! A pass is a sealed token in the `fanz_age_pass` cookie or the `Fanz-Age-Pass` header, or a
//! pass on the signed-in account. Legal pages, reporting, sign-in, the age check itself,
//! webhooks and static assets are never gated.

use crate::error::ApiError;
use crate::extract::{bearer, cookie, PageCluster, SESSION_COOKIE};
use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use fanz_core::clock::now_micros;
use fanz_safety::age::{self, Decision, Place, Rule};
use fanz_safety::SafetyError;
use std::net::SocketAddr;

/// The cookie holding a sealed pass.
pub const PASS_COOKIE: &str = "fanz_age_pass";
/// The header API clients send a pass in.
pub const PASS_HEADER: &str = "fanz-age-pass";

/// Paths (after any `/c/{slug}` prefix) a viewer reaches wherever they are.
const OPEN: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/theme.css",
    "/assets/",
    "/legal/",
    "/report",
    "/age",
    "/login",
    "/logout",
    "/signup",
    "/two-factor",
    "/forgot-password",
    "/reset-password",
    "/api/openapi.json",
    "/api/docs",
    "/api/v1/age",
    "/api/v1/auth/",
    "/api/v1/clusters",
    "/api/v1/reports",
    "/api/v1/payments/webhooks/",
    "/api/v1/verification/webhooks/",
];

fn is_open(path: &str) -> bool {
    let path = match path.strip_prefix("/c/") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => path,
    };
    OPEN.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p)
        } else {
            path == *p || path.starts_with(&format!("{p}/"))
        }
    })
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/media/")
}

/// The viewer's place and the rule it gets on `cluster`.
pub fn assess(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<SocketAddr>,
    cluster: &str,
) -> (Place, Decision) {
    let place = state.age.locator.locate(
        |name| headers.get(name).and_then(|v| v.to_str().ok()),
        ip.map(|a| a.ip()),
    );
    let decision = state.age.rules.decide(cluster, &place);
    (place, decision)
}

/// The pass the request carries (cookie or header), if it opens and is unexpired.
pub fn carried_pass(state: &AppState, headers: &HeaderMap) -> Option<age::Pass> {
    let token = cookie(headers, PASS_COOKIE).or_else(|| {
        headers
            .get(PASS_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })?;
    state.age.read_pass(&token, now_micros())
}

/// Whether the request satisfies `rule`: a carried pass by an accepted method, or a pass on
/// the signed-in account (session cookie or bearer credentials).
pub async fn satisfied(
    state: &AppState,
    headers: &HeaderMap,
    rule: &Rule,
) -> Result<bool, ApiError> {
    if carried_pass(state, headers).is_some_and(|p| rule.accepts(&p.method)) {
        return Ok(true);
    }
    let Some(token) = bearer(headers).or_else(|| cookie(headers, SESSION_COOKIE)) else {
        return Ok(false);
    };
    let mut db = state.store.conn().await?;
    let Some(me) = fanz_identity::authenticate(&mut db, &token).await? else {
        return Ok(false);
    };
    let methods = age::account_passes(&mut db, me.user_id, now_micros()).await?;
    Ok(methods.iter().any(|m| rule.accepts(m)))
}

/// The gate (a middleware on the whole application).
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.age.rules.restricts() || is_open(req.uri().path()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let pc = match <PageCluster as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await
    {
        Ok(pc) => pc,
        Err(e) => return e.into_response(),
    };
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (place, decision) = assess(&state, &parts.headers, ip, &pc.cluster.slug);
    let api = is_api(parts.uri.path());
    match &decision.rule {
        Rule::Allow => next.run(Request::from_parts(parts, body)).await,
        Rule::Block if api => ApiError::from(SafetyError::RegionBlocked).into_response(),
        Rule::Block => crate::pages::age::blocked(&pc, &place),
        Rule::Assure { .. } => match satisfied(&state, &parts.headers, &decision.rule).await {
            Ok(true) => next.run(Request::from_parts(parts, body)).await,
            Ok(false) if api => ApiError::from(SafetyError::AgeAssuranceRequired(
                state.age.methods_for(&decision.rule),
            ))
            .into_response(),
            Ok(false) if parts.method == Method::GET || parts.method == Method::HEAD => {
                let next_path = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let query = serde_urlencoded::to_string([("next", next_path)]).unwrap_or_default();
                let mut res = Redirect::to(&format!("{}/age?{query}", pc.base)).into_response();
                res.headers_mut().insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("no-store"),
                );
                res
            }
            Ok(false) => (
                StatusCode::FORBIDDEN,
                "An age check is required where you are: open the page again to take it.",
            )
                .into_response(),
            Err(e) => e.into_response(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::is_open;

    #[test]
    fn legal_pages_and_the_check_are_open_content_is_not() {
        for open in [
            "/legal/2257",
            "/c/boyfanz/legal/2257",
            "/report",
            "/age",
            "/age/sandbox/x",
            "/c/boyfanz/age",
            "/api/v1/age/checks",
            "/assets/app.css",
            "/login",
        ] {
            assert!(is_open(open), "{open}");
        }
        for gated in [
            "/",
            "/c/boyfanz",
            "/c/boyfanz/",
            "/agents",
            "/p/1",
            "/@ann",
            "/api/v1/feed",
            "/api/v1/agents",
            "/media/abc",
            "/c/boyfanz/legalese",
        ] {
            assert!(!is_open(gated), "{gated}");
        }
    }
}

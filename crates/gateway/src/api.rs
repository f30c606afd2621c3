//! `/api/gateway/*` and `/admin/gateway`. Handlers are thin: they parse the request, ask the
//! registry (or the proxy) and map the result; every error goes out through
//! [`GatewayError`]'s one `IntoResponse`.

use crate::auth::Caller;
use crate::catalogue::{valid_path, Category, Provider, UpstreamUrl};
use crate::error::GatewayError;
use crate::registry::{RuntimeInstance, ServiceEntry, ServiceView, Source};
use crate::Gateway;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) fn router(gw: Gateway) -> Router {
    Router::new()
        .route("/api/gateway/services/registry/stats", get(stats))
        .route("/api/gateway/services/list", get(list))
        .route(
            "/api/gateway/services/category/{category}",
            get(by_category),
        )
        .route("/api/gateway/services/{id}/health", get(health))
        .route("/api/gateway/services/{id}/instances", post(register))
        .route(
            "/api/gateway/services/{id}/instances/{instance}",
            delete(deregister),
        )
        .route("/api/gateway/proxy/{service}", any(proxy))
        .route("/api/gateway/proxy/{service}/", any(proxy))
        .route("/api/gateway/proxy/{service}/{*path}", any(proxy))
        .route("/admin/gateway", get(admin_page))
        .with_state(gw)
}

async fn proxy(State(gw): State<Gateway>, req: Request<Body>) -> Response {
    crate::proxy::handle(gw, req).await
}

async fn stats(State(gw): State<Gateway>) -> Json<crate::Stats> {
    Json(gw.stats())
}

#[derive(Serialize)]
struct ServiceList {
    total: usize,
    services: Vec<ServiceView>,
}

/// Where instances are and how they are checked is for admins: anyone else sees each
/// service's status and counts, without its instances' URLs, health paths and errors.
async fn for_caller(
    gw: &Gateway,
    headers: &HeaderMap,
    views: Vec<ServiceView>,
) -> Vec<ServiceView> {
    if require_admin(gw, headers).await.is_ok() {
        views
    } else {
        views.into_iter().map(ServiceView::public).collect()
    }
}

async fn list(State(gw): State<Gateway>, headers: HeaderMap) -> Json<ServiceList> {
    let services = for_caller(&gw, &headers, gw.services()).await;
    Json(ServiceList {
        total: services.len(),
        services,
    })
}

#[derive(Serialize)]
struct CategoryList {
    category: Category,
    total: usize,
    services: Vec<ServiceView>,
}

async fn by_category(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    Path(category): Path<String>,
) -> Result<Json<CategoryList>, GatewayError> {
    let category = Category::parse(&category).ok_or(GatewayError::CategoryNotFound(category))?;
    let services: Vec<ServiceView> = gw
        .services()
        .into_iter()
        .filter(|s| s.category == category)
        .collect();
    let services = for_caller(&gw, &headers, services).await;
    Ok(Json(CategoryList {
        category,
        total: services.len(),
        services,
    }))
}

/// One service's measured health: its status, why it is not active, and every instance's
/// last check and breaker. 200 whatever the status: the report is the resource.
async fn health(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ServiceView>, GatewayError> {
    let view = {
        let registry = &gw.inner.registry;
        let snap = registry.snapshot();
        let svc = snap.get(&id).ok_or(GatewayError::ServiceNotFound(id))?;
        registry.view(svc)
    };
    let mut views = for_caller(&gw, &headers, vec![view]).await;
    Ok(Json(views.pop().expect("one view in, one out")))
}

/// Admins only, with any credential the edge accepts (session, bearer token, API key).
async fn require_admin(gw: &Gateway, headers: &HeaderMap) -> Result<Caller, GatewayError> {
    let caller = match &gw.inner.auth {
        Some(auth) => auth.authenticate(headers).await,
        None => None,
    };
    let caller = caller.ok_or(GatewayError::Unauthenticated)?;
    if caller.has_role("admin") {
        Ok(caller)
    } else {
        Err(GatewayError::Forbidden)
    }
}

/// The admin making a registration change, and the service it is about.
async fn admin_and_service(
    gw: &Gateway,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Caller, Arc<ServiceEntry>), GatewayError> {
    let caller = require_admin(gw, headers).await?;
    let svc = gw
        .inner
        .registry
        .snapshot()
        .get(id)
        .cloned()
        .ok_or_else(|| GatewayError::ServiceNotFound(id.to_owned()))?;
    Ok((caller, svc))
}

fn peer_of(parts: &axum::http::request::Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

fn actor(caller: &Caller, headers: &HeaderMap, peer: Option<SocketAddr>) -> fanz_audit::Actor {
    fanz_audit::Actor {
        user_id: Some(caller.user_id),
        ip: peer.map(|p| p.ip().to_string()),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    url: String,
    health_path: Option<String>,
}

/// A registration body parsed into what the registry can hold, or 422 saying what is wrong.
fn parse_registration(body: &[u8]) -> Result<(String, Option<String>), GatewayError> {
    let bad = GatewayError::InvalidRegistration;
    let reg: Registration = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "expected a JSON object {{\"url\": \"http://host:port\", \"health_path\": \"/healthz\"}}: {e}"
        ))
    })?;
    UpstreamUrl::parse(reg.url.trim()).map_err(bad)?;
    if let Some(p) = &reg.health_path {
        if !valid_path(p) {
            return Err(bad(format!(
                "health_path `{p}` must be a path starting with '/'"
            )));
        }
    }
    Ok((url_display(&reg.url), reg.health_path))
}

fn url_display(raw: &str) -> String {
    raw.trim().trim_end_matches('/').to_owned()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Registered {
    id: String,
    service_id: String,
    url: String,
    health_path: String,
}

async fn register(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Result<Response, GatewayError> {
    let (parts, body) = req.into_parts();
    let (headers, peer) = (&parts.headers, peer_of(&parts));
    let (caller, svc) = admin_and_service(&gw, headers, &id).await?;
    let registry = &gw.inner.registry;
    if let Provider::Builtin(m) = &svc.provider {
        return Err(GatewayError::Conflict(format!(
            "`{id}` is provided by the {m} module of this binary; it takes no instances"
        )));
    }
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| GatewayError::InvalidRegistration("the body is too large or broken".into()))?;
    let (url, health_path) = parse_registration(&body)?;
    if svc.instances.len() >= gw.inner.cfg.max_instances_per_service {
        return Err(GatewayError::Conflict(format!(
            "`{id}` already has {} instances",
            svc.instances.len()
        )));
    }
    let health_path = health_path
        .or_else(|| svc.def.health_path.clone())
        .unwrap_or_else(|| gw.inner.cfg.health.default_path.clone());
    let mut inst = RuntimeInstance {
        id: format!("r-{}", hex::encode(rand::thread_rng().gen::<[u8; 6]>())),
        service_id: id.clone(),
        url,
        health_path,
    };
    let mut status = StatusCode::CREATED;
    if let Some(existing) = registry
        .runtime_instances()
        .into_iter()
        .find(|r| r.service_id == inst.service_id && r.url == inst.url)
    {
        inst = existing;
        status = StatusCode::OK;
    }
    if status == StatusCode::CREATED {
        if let Some(store) = &gw.inner.store {
            let actor = actor(&caller, headers, peer);
            if let Some(existing) = crate::persist::insert(store, &inst, &actor).await? {
                inst = existing;
                status = StatusCode::OK;
            }
        }
        registry.add_runtime(inst.clone());
        tracing::info!(service = %inst.service_id, instance = %inst.id, url = %inst.url, "instance registered");
    }
    // Measure it now rather than at the next round, so it counts as active at once when up.
    if let Some(i) = registry
        .snapshot()
        .get(&id)
        .and_then(|s| s.instances.iter().find(|i| i.id == inst.id).cloned())
    {
        let gw = gw.clone();
        tokio::spawn(async move { crate::health::check(&gw, &i).await });
    }
    let body = Registered {
        id: inst.id,
        service_id: inst.service_id,
        url: inst.url,
        health_path: inst.health_path,
    };
    let mut res = (status, Json(body)).into_response();
    if let Ok(v) = format!("/api/gateway/services/{id}/health").parse() {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

async fn deregister(
    State(gw): State<Gateway>,
    Path((id, instance)): Path<(String, String)>,
    req: Request<Body>,
) -> Result<StatusCode, GatewayError> {
    let (parts, _) = req.into_parts();
    let (headers, peer) = (&parts.headers, peer_of(&parts));
    let (caller, svc) = admin_and_service(&gw, headers, &id).await?;
    let registry = &gw.inner.registry;
    match svc.instances.iter().find(|i| i.id == instance) {
        None => return Err(GatewayError::InstanceNotFound(instance)),
        Some(i) if i.source != Source::Runtime => {
            return Err(GatewayError::Conflict(format!(
                "instance `{instance}` comes from {}; change it there",
                if i.source == Source::Static {
                    "services.toml"
                } else {
                    "DNS discovery"
                }
            )))
        }
        Some(_) => {}
    }
    if let Some(store) = &gw.inner.store {
        let actor = actor(&caller, headers, peer);
        crate::persist::delete(store, &id, &instance, &actor).await?;
    }
    registry.remove_runtime(&instance);
    tracing::info!(service = %id, instance = %instance, "instance deregistered");
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_page(State(gw): State<Gateway>, headers: HeaderMap) -> Response {
    match require_admin(&gw, &headers).await {
        Ok(_) => {
            let mut res = Html(gw.admin_page()).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
            res
        }
        Err(e) => {
            let status = e.status();
            let html = crate::admin::refusal(&e.to_string());
            (status, Html(html)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_parsed_strictly() {
        let ok = parse_registration(br#"{"url":"http://127.0.0.1:9000/"}"#).unwrap();
        assert_eq!(ok, ("http://127.0.0.1:9000".to_owned(), None));
        for bad in [
            &b"not json"[..],
            br#"{}"#,
            br#"{"url": 5}"#,
            br#"{"url":"ftp://x"}"#,
            br#"{"url":"http://h:1","health_path":"nope"}"#,
            br#"{"url":"http://h:1","extra":1}"#,
        ] {
            let e = parse_registration(bad).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        }
    }
}

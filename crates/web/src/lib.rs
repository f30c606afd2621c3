//! The HTTP face of Fanz: the JSON API under /api/v1 (with its OpenAPI document), the
//! server-rendered pages of every cluster, health, readiness and metrics.
//!
//! Handlers are thin: they parse the request, call one domain function (or one flow in
//! [`flows`] when modules must change together in one transaction) and map the result. All
//! error-to-HTTP mapping lives in [`error`]. This crate holds no business rules.

pub mod age;
pub mod api;
pub mod background;
pub mod edge;
pub mod error;
pub mod extract;
pub mod flows;
pub mod gateway;
mod middleware;
pub mod pages;
pub mod search;
pub mod views;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fanz_clusters::Clusters;
use fanz_config::Config;
use fanz_store::Store;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use tower::{Layer, ServiceExt};

/// Shared state of a running server. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub clusters: Clusters,
    /// `GET /api/v1/clusters` body, rendered once.
    pub clusters_json: String,
    pub config: Config,
    pub identity: fanz_identity::Settings,
    /// This node's name in the jobs table and the event subscribers.
    pub node: String,
    /// The job runner and event bus, once [`serve`] started them.
    pub background: OnceLock<background::Background>,
    /// The API gateway and service registry (`/api/gateway/*`, `/admin/gateway`).
    pub gateway: fanz_gateway::Gateway,
    /// Content's clusters and publish gate.
    pub content: fanz_content::Content,
    /// This node's search index; `None` when it could not be opened (held by another process).
    pub search: Option<Arc<search::Search>>,
    /// Media storage, limits and delivery URL keys (`[media]`).
    pub media: Arc<fanz_media::Media>,
    /// Processors, billing rules, the sandbox (`[payments]`).
    pub payments: fanz_payments::Payments,
    /// Identity providers and the keyring sealing record documents (`[compliance]`).
    pub verification: fanz_safety::onboarding::Verification,
    /// Every cluster's banned terms (`[review] banned_terms` and the clusters' own).
    pub banned: Arc<fanz_safety::terms::Banned>,
    /// Viewer age assurance: rules by place, the locator, providers (`[age_assurance]`).
    pub age: Arc<fanz_safety::age::AgeAssurance>,
    /// NCMEC's CyberTipline. The sandbox: the live client is not built yet (docs/compliance.md).
    pub tipline: Arc<dyn fanz_safety::tipline::CyberTipline>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Panics when the gateway's catalogue or the secrets key is invalid; the binary uses
    /// [`AppState::try_new`].
    pub fn new(store: Store, clusters: Clusters, config: Config) -> Self {
        Self::try_new(store, clusters, config).expect("the service catalogue and keys are valid")
    }

    pub fn try_new(store: Store, clusters: Clusters, config: Config) -> Result<Self, StartError> {
        let public_url = if config.public_url.is_empty() {
            format!("http://{}", config.listen)
        } else {
            config.public_url.clone()
        };
        let identity = fanz_identity::Settings {
            session_ttl_micros: config.session_ttl_hours as i64 * fanz_core::clock::HOUR,
            max_failures_per_ip: config.login_max_failures_per_ip as i64,
            max_failures_per_account: config.login_max_failures_per_account as i64,
            window_micros: config.login_window_secs as i64 * fanz_core::clock::SECOND,
            public_url,
            totp_issuer: "Fanz".into(),
            ..identity_settings(&config)?
        };
        let clusters_json = serde_json::to_string(&api::wire::ClusterList {
            clusters: clusters.all().to_vec(),
        })
        .expect("clusters serialize");
        let gateway = gateway::build(&config, &store, &clusters)?;
        let node = background::node_name(&config);
        let mut content = fanz_content::Content::new(Arc::new(clusters.clone()));
        let banned = Arc::new(fanz_safety::terms::Banned::new(
            &config.review.banned_terms,
            &clusters,
        ));
        content.gate = Arc::new(
            fanz_content::PublishGate::standard()
                .with(fanz_safety::UnderReview)
                .with(fanz_safety::dmca::RepeatInfringer(strike_policy(&config)))
                .with(fanz_safety::csam::Suspended)
                .with(fanz_safety::performers::PerformerRecords)
                .with(fanz_safety::checks::AutomatedChecks {
                    banned: banned.clone(),
                })
                .with(fanz_safety::review::HumanReview),
        );
        let verification = fanz_safety::onboarding::Verification::new(
            identity.secrets.clone(),
            // The sandbox signs its results with a key of this process's own.
            config
                .compliance
                .sandbox_verification
                .then(|| fanz_secrets::generate_key_spec("sandbox").into_bytes())
                .as_deref(),
        );
        let search = search::Search::open(&config.data_dir.join("search"));
        let screen = fanz_safety::hashes::HashScreen {
            threshold: config.review.pdq_threshold,
        };
        let media = Arc::new(
            fanz_media::Media::from_config(&config)?
                .with_screen(Arc::new(screen))
                .with_keyring(identity.secrets.clone())
                .with_byline(Arc::new(flows::Byline {
                    clusters: clusters.clone(),
                })),
        );
        let payments = fanz_payments::Payments::new(&config.payments);
        let age = Arc::new(age_assurance(&config, &clusters, identity.secrets.clone())?);
        Ok(AppState(Arc::new(Inner {
            store,
            clusters,
            clusters_json,
            config,
            identity,
            node,
            background: OnceLock::new(),
            gateway,
            content,
            search,
            media,
            payments,
            verification,
            banned,
            age,
            tipline: Arc::new(fanz_safety::tipline::SandboxTipline::default()),
        })))
    }
}

/// The repeat-infringer policy of `[compliance]`.
pub fn strike_policy(config: &Config) -> fanz_safety::dmca::Policy {
    fanz_safety::dmca::Policy::new(
        config.compliance.repeat_infringer_strikes,
        config.compliance.repeat_infringer_window_days,
    )
}

/// Why the application state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the service catalogue is invalid: {0}")]
    Gateway(#[from] fanz_gateway::GatewayError),
    #[error(transparent)]
    Secrets(#[from] fanz_secrets::SecretsError),
    #[error(transparent)]
    Media(#[from] fanz_media::MediaError),
    #[error("age assurance: {0}")]
    AgeAssurance(String),
}

/// The `[age_assurance]` rules with every cluster's, the locator (which may read an
/// address-range file), and the providers: the sandbox when it is on.
fn age_assurance(
    config: &Config,
    clusters: &Clusters,
    keyring: Arc<fanz_secrets::Keyring>,
) -> Result<fanz_safety::age::AgeAssurance, StartError> {
    use fanz_safety::age;
    let a = &config.age_assurance;
    let rules = age::Rules::new(&a.rules, clusters).map_err(StartError::AgeAssurance)?;
    let locator = age::Locator::new(&a.country_header, &a.region_header, &a.ip_database)
        .map_err(StartError::AgeAssurance)?;
    let sandbox = a.sandbox.then(|| {
        Arc::new(age::Sandbox::new(
            fanz_secrets::generate_key_spec("age-sandbox").as_bytes(),
        ))
    });
    let mut providers: Vec<Arc<dyn age::AgeProvider>> = Vec::new();
    if let Some(s) = &sandbox {
        providers.push(s.clone());
    }
    Ok(age::AgeAssurance {
        rules,
        locator,
        providers,
        sandbox,
        keyring,
        pass_micros: age::pass_micros(a.pass_days),
    })
}

/// The `[auth]` and `[secrets]` parts of the identity settings: limits, the hashing pool, the
/// keyring.
fn identity_settings(config: &Config) -> Result<fanz_identity::Settings, StartError> {
    use fanz_core::clock::SECOND;
    let a = &config.auth;
    let keyring = fanz_secrets::Keyring::load(
        &config.secrets.key,
        &config.secrets.old_keys,
        &config.data_dir,
    )?;
    Ok(fanz_identity::Settings {
        signup_max_per_ip: a.signup_max_per_ip as i64,
        signup_window_micros: a.signup_window_secs as i64 * SECOND,
        reset_max_per_account: a.reset_max_per_account as i64,
        reset_max_per_ip: a.reset_max_per_ip as i64,
        reset_window_micros: a.reset_window_secs as i64 * SECOND,
        hasher: Arc::new(fanz_identity::Hasher::new(
            a.hash_concurrency as usize,
            a.hash_queue as usize,
            std::time::Duration::from_millis(a.hash_wait_ms as u64),
        )),
        secrets: Arc::new(keyring),
        ..fanz_identity::Settings::default()
    })
}

/// The OpenAPI 3.1 document of every /api/v1 route.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = api::router().split_for_parts().1;
        api::doc::finish(&mut doc);
        doc
    })
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api_routes, _) = api::router().split_for_parts();
    let pages = pages::router(state.config.cookie_secure);
    let body_limit = state.config.body_limit_bytes;
    let router = Router::new()
        .merge(api_routes)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs_page))
        .route("/assets/app.css", get(app_css))
        .route("/assets/payments.js", get(payments_js))
        .merge(pages::art::router())
        .merge(pages::player::router())
        .merge(pages::media::assets())
        .route("/media/{token}", get(api::media::deliver))
        .route("/media/{token}/{name}", get(api::media::deliver_named))
        .merge(pages.clone())
        .nest("/c/{slug}", pages)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            age::gate,
        ))
        .route_layer(axum::middleware::from_fn(middleware::track_metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone());
    // `/api/gateway/proxy/<builtin>/…` is served in-process by the app's own routes.
    state.gateway.set_internal_router(router.clone());
    middleware::apply(router.merge(state.gateway.router()))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if let Some(bg) = state.background.get() {
        if !bg.healthy() {
            let jobs = bg.jobs.as_ref().map(|j| j.health());
            tracing::warn!(?jobs, events = ?bg.events.health(), "background work stalled");
            return error::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "workers_stalled",
                "a job queue or event subscriber stopped going round",
            )
            .into_response();
        }
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not ready");
            error::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the store does not answer",
            )
            .into_response()
        }
    }
}

async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        middleware::prometheus().render(),
    )
        .into_response()
}

async fn openapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| openapi().to_pretty_json().expect("OpenAPI serializes"));
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

async fn docs_page() -> Response {
    use askama::Template;
    let mut ops = Vec::new();
    for (path, item) in &openapi().paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            let Some(op) = op else { continue };
            let mut codes: Vec<&String> = op.responses.responses.keys().collect();
            codes.sort();
            ops.push(pages::DocOpRow {
                method: method.into(),
                path: path.clone(),
                tag: op
                    .tags
                    .as_ref()
                    .and_then(|t| t.first().cloned())
                    .unwrap_or_default(),
                summary: op
                    .summary
                    .clone()
                    .or_else(|| op.description.clone())
                    .unwrap_or_default(),
                responses: codes.into_iter().cloned().collect::<Vec<_>>().join(", "),
            });
        }
    }
    match (pages::DocsTemplate { ops }).render() {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(e) => error::ApiError::internal(e).into_response(),
    }
}

async fn app_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        concat!(
            include_str!("../assets/app.css"),
            include_str!("../assets/content.css"),
            include_str!("../assets/payments.css"),
            include_str!("../assets/safety.css"),
            include_str!("../assets/studio.css")
        ),
    )
        .into_response()
}

/// The checkout and sandbox pages' small script (filling a test card, live totals); the pages
/// work without it.
async fn payments_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/payments.js"),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {}", uri.path()),
        )
        .into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title>\
             <link rel=\"stylesheet\" href=\"/assets/app.css\"><link rel=\"stylesheet\" href=\"/theme.css\"></head>\
             <body><main id=\"main\"><h1>Not found</h1><p>There is nothing here. <a href=\"/\">Go home</a>.</p></main></body></html>",
        )
            .into_response()
    }
}

async fn method_not_allowed() -> Response {
    error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed here",
    )
    .into_response()
}

/// Serve until `shutdown` resolves, then finish in-flight requests and return.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    middleware::prometheus();
    // Jobs and events: every module's background work runs through these two.
    let background = background::start(&state)
        .await
        .map_err(|e| std::io::Error::other(format!("event bus: {e}")))?;
    let _ = state.background.set(background);
    let background_state = state.clone();
    // Health checks, catalogue hot reload, DNS discovery, runtime registrations from the
    // store; they stop when the server does.
    let _gateway_tasks = state.gateway.start();
    // `/c/boyfanz/` and `/c/boyfanz` are the same page: trim the slash before routing, except
    // on proxied paths, which reach the upstream as the client wrote them.
    let gateway = state.gateway.clone();
    let http = state.config.http.clone();
    let app = tower::util::MapRequestLayer::new(trim_trailing_slash).layer(app(state));
    // Proxied requests go straight to the gateway: the application's stack (request-id layer,
    // trace span, security headers, routing) cost a quarter of the proxy's throughput
    // (BENCHMARKS.md), and the gateway sets the request id itself.
    let edge = tower::service_fn(move |req: axum::extract::Request| {
        let gateway = gateway.clone();
        let app = app.clone();
        async move {
            if fanz_gateway::Gateway::is_proxy_path(req.uri().path()) {
                Ok(gateway.proxy(req).await)
            } else {
                app.oneshot(req).await
            }
        }
    });
    // Security headers, limits, deadline, CSRF and NUL checks: the same for both paths.
    let edge = edge::layers(edge, &http);
    let served = edge::serve(listener, edge, http, shutdown).await;
    if let Some(background) = background_state.background.get() {
        background.shutdown().await;
    }
    served
}

fn trim_trailing_slash(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') && !fanz_gateway::Gateway::is_proxy_path(path) {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

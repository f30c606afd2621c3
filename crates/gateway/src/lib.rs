//! The API gateway and service registry: the seed's catalogue of named services
//! (`services.toml`), what really provides each one, its measured health, and a reverse proxy in
//! front of the external ones with load balancing, retries, circuit breakers, a response
//! cache, rate limits and edge authentication.
//!
//! Owns: the catalogue, the live registry of upstream instances (runtime registrations in the
//! `gateway_instances` table), health checks, proxy policies, `/api/gateway/*` and the admin
//! page `/admin/gateway`.
//!
//! Must never: report a service healthy that nothing provides or that failed its checks;
//! read another module's tables (identity comes in through [`EdgeAuth`]); retry a request
//! that is not idempotent or has a body; cache anything authenticated or private; forward a
//! client's own `x-fanz-identity` header; buffer a streamed body.
//!
//! Mounting (in the binary):
//! ```ignore
//! let gateway = fanz_gateway::Gateway::builder(config.gateway.clone())
//!     .modules(["identity", "profiles", "clusters"])
//!     .clusters(clusters.all().iter().map(|c| c.slug.clone()))
//!     .auth(Arc::new(MyEdgeAuth { .. }))
//!     .store(store.clone())
//!     .build()
//!     .await?;
//! let _background = gateway.start();          // health checks, hot reload, DNS, store sync
//! let app = app.merge(gateway.router());      // serve with into_make_service_with_connect_info
//! ```

pub mod auth;
pub mod breaker;
pub mod cache;
pub mod catalogue;
pub mod config;
pub mod error;
pub mod ratelimit;
pub mod registry;

mod admin;
mod api;
mod dns;
mod health;
mod metrics;
mod persist;
mod proxy;
mod tasks;
mod upstream;

pub use auth::{
    sign_identity, verify_identity, CachedAuth, Caller, EdgeAuth, NoAuth, Via, IDENTITY_HEADER,
};
pub use catalogue::{Catalogue, Category, Provider};
pub use config::GatewayConfig;
pub use error::GatewayError;
pub use registry::{Health, Stats, Status};
pub use tasks::Background;

use fanz_store::Store;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The gateway. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: GatewayConfig,
    registry: registry::Registry,
    /// The identity module as given: asked on every admin call (registration, the admin page).
    auth: Option<Arc<dyn EdgeAuth>>,
    /// The same behind [`auth::CachedAuth`] (`auth_cache_ms`): the proxy path.
    edge_auth: Option<Arc<dyn EdgeAuth>>,
    store: Option<Store>,
    cache: cache::Cache,
    dns: dns::Dns,
    client_limiter: ratelimit::Limiter,
    internal: RwLock<Option<axum::Router>>,
    catalogue_path: Option<std::path::PathBuf>,
    catalogue_mtime: Mutex<Option<SystemTime>>,
}

/// Builds a [`Gateway`].
pub struct GatewayBuilder {
    cfg: GatewayConfig,
    modules: HashSet<String>,
    clusters: HashSet<String>,
    auth: Option<Arc<dyn EdgeAuth>>,
    store: Option<Store>,
    catalogue_text: Option<String>,
}

impl GatewayBuilder {
    /// The modules compiled into this binary (`identity`, `profiles`, `clusters`, `ledger`, …).
    /// A `builtin:<module>` service is active only when its module is listed here.
    pub fn modules<I, S>(mut self, modules: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.modules.extend(modules.into_iter().map(Into::into));
        self
    }

    /// Slugs of the configured clusters (for `builtin:clusters` services).
    pub fn clusters<I, S>(mut self, slugs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.clusters.extend(slugs.into_iter().map(Into::into));
        self
    }

    /// Edge authentication. Without it nobody is authenticated, so runtime registration and
    /// the admin page are refused and `auth = "required"` services answer 401.
    pub fn auth(mut self, auth: Arc<dyn EdgeAuth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Persist runtime registrations (and audit them) so every node sees them.
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Use this catalogue text instead of reading `config.catalogue` (tests, benchmarks); hot
    /// reload is then off.
    pub fn catalogue_text(mut self, text: impl Into<String>) -> Self {
        self.catalogue_text = Some(text.into());
        self
    }

    /// Build and read runtime registrations from the store.
    pub async fn build(self) -> Result<Gateway, GatewayError> {
        let gw = self.build_now()?;
        gw.sync_from_store().await?;
        Ok(gw)
    }

    /// Build without reading the store yet (call [`Gateway::sync_from_store`] or
    /// [`Gateway::start`] before serving).
    pub fn build_now(self) -> Result<Gateway, GatewayError> {
        let (catalogue, path, mtime) = match self.catalogue_text {
            Some(text) => (Catalogue::parse(&text)?, None, None),
            None if !self.cfg.catalogue.exists()
                && self.cfg.catalogue == GatewayConfig::default().catalogue =>
            {
                tracing::info!(
                    "no services.toml in the working directory: using the built-in catalogue"
                );
                (Catalogue::parse(catalogue::BUILTIN)?, None, None)
            }
            None => {
                let path = self.cfg.catalogue.clone();
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    GatewayError::Catalogue(format!("cannot read {}: {e}", path.display()))
                })?;
                let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                (Catalogue::parse(&text)?, Some(path), mtime)
            }
        };
        let cfg = self.cfg;
        let gw = Gateway {
            inner: Arc::new(Inner {
                registry: registry::Registry::new(
                    cfg.clone(),
                    catalogue,
                    self.modules,
                    self.clusters,
                ),
                edge_auth: self.auth.clone().map(|a| match cfg.auth_cache_ms {
                    0 => a,
                    ms => Arc::new(auth::CachedAuth::new(
                        a,
                        std::time::Duration::from_millis(ms),
                        10_000,
                    )) as Arc<dyn EdgeAuth>,
                }),
                auth: self.auth,
                store: self.store,
                cache: cache::Cache::new(cfg.cache.clone()),
                dns: dns::Dns::new(cfg.dns_servers.clone()),
                client_limiter: ratelimit::Limiter::new(
                    cfg.rate_limit.per_client_rps,
                    cfg.rate_limit.per_client_burst,
                ),
                internal: RwLock::new(None),
                catalogue_path: path,
                catalogue_mtime: Mutex::new(mtime),
                cfg,
            }),
        };
        Ok(gw)
    }
}

impl Gateway {
    pub fn builder(cfg: GatewayConfig) -> GatewayBuilder {
        GatewayBuilder {
            cfg,
            modules: HashSet::new(),
            clusters: HashSet::new(),
            auth: None,
            store: None,
            catalogue_text: None,
        }
    }

    /// The routes to merge into the app: `/api/gateway/*` and `/admin/gateway`.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// Whether `path` is the proxy's (`/api/gateway/proxy/…`), for [`Gateway::proxy`].
    pub fn is_proxy_path(path: &str) -> bool {
        path.starts_with("/api/gateway/proxy/")
    }

    /// Serve one proxied request outside any other middleware (the server dispatches proxy
    /// paths here first); sets `x-request-id` on the response.
    pub async fn proxy(&self, req: axum::extract::Request) -> axum::response::Response {
        proxy::handle_edge(self.clone(), req).await
    }

    /// Start the background work: active health checks, catalogue hot reload, DNS discovery and
    /// store sync. Dropping the returned handle stops it.
    pub fn start(&self) -> Background {
        tasks::start(self.clone())
    }

    /// Register a module that became available (e.g. `ledger`); its builtins turn active.
    pub fn register_module(&self, module: &str) {
        self.inner.registry.add_module(module);
    }

    /// Replace the set of configured cluster slugs.
    pub fn set_clusters<I, S>(&self, slugs: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner
            .registry
            .set_clusters(slugs.into_iter().map(Into::into).collect());
    }

    /// The app's own router, so `/api/gateway/proxy/<builtin>/…` is served in-process at the
    /// builtin's `route`. Without it such requests get a 307 redirect to the route.
    pub fn set_internal_router(&self, router: axum::Router) {
        *self
            .inner
            .internal
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(router);
    }

    /// Registry statistics as served on `/api/gateway/services/registry/stats`.
    pub fn stats(&self) -> Stats {
        self.inner.registry.stats()
    }

    /// Every service with its status and instances.
    pub fn services(&self) -> Vec<registry::ServiceView> {
        let snap = self.inner.registry.snapshot();
        snap.services
            .iter()
            .map(|s| self.inner.registry.view(s))
            .collect()
    }

    /// The admin page (full HTML document) listing every service with its live health.
    pub fn admin_page(&self) -> String {
        admin::page(self)
    }

    /// Run one round of active health checks now and wait for it.
    pub async fn check_health_now(&self) {
        health::check_all(self).await;
    }

    /// Re-read the catalogue file now if it changed; returns whether it was reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, GatewayError> {
        tasks::reload_if_changed(self)
    }

    /// Re-read runtime registrations from the store (what other nodes registered).
    pub async fn sync_from_store(&self) -> Result<(), GatewayError> {
        if let Some(store) = &self.inner.store {
            let all = persist::load_all(store).await?;
            self.inner.registry.set_runtime(all);
        }
        Ok(())
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.cfg
    }
}

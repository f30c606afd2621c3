//! The live registry: the catalogue plus every instance (from the file, runtime registrations
//! and DNS), each with measured health and a circuit breaker. Readers take an immutable
//! [`Snapshot`]; any change builds a new one, re-using instance state by instance id so a
//! reload never forgets health or breaker history.

use crate::breaker::{Breaker, BreakerState};
use crate::catalogue::{Catalogue, Category, Proto, Provider, ServiceDef, UpstreamUrl};
use crate::config::GatewayConfig;
use crate::ratelimit::Bucket;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Listed in services.toml.
    Static,
    /// Registered through the API (and kept in the store).
    Runtime,
    /// Resolved from the service's `dns` name.
    Dns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not checked yet: routable, but never counted as active.
    Unknown,
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Inactive,
    Unavailable,
}

#[derive(Debug)]
pub(crate) struct InstanceState {
    pub health: Health,
    pub ok_streak: u32,
    pub fail_streak: u32,
    pub last_check_micros: Option<i64>,
    pub last_error: Option<String>,
    pub last_latency_us: Option<u64>,
    pub breaker: Breaker,
}

/// One upstream instance.
#[derive(Debug)]
pub struct Instance {
    pub id: String,
    pub service_id: String,
    pub url: UpstreamUrl,
    pub raw_url: String,
    pub health_path: String,
    pub source: Source,
    pub(crate) state: Mutex<InstanceState>,
    pub(crate) outstanding: AtomicU32,
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// Its connections.
    pub(crate) pool: Arc<crate::upstream::Pool>,
}

impl Instance {
    fn new(
        id: String,
        service_id: &str,
        url: UpstreamUrl,
        raw_url: String,
        health_path: String,
        source: Source,
        cfg: &GatewayConfig,
    ) -> Self {
        Self {
            pool: Arc::new(crate::upstream::Pool::new(&url, cfg)),
            id,
            service_id: service_id.to_owned(),
            url,
            raw_url,
            health_path,
            source,
            state: Mutex::new(InstanceState {
                health: Health::Unknown,
                ok_streak: 0,
                fail_streak: 0,
                last_check_micros: None,
                last_error: None,
                last_latency_us: None,
                breaker: Breaker::new(cfg.breaker, Instant::now()),
            }),
            outstanding: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, InstanceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn health(&self) -> Health {
        self.lock().health
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.lock().breaker.state(Instant::now())
    }

    /// Measured healthy: passed its last active checks and the breaker is not open.
    pub fn is_healthy(&self) -> bool {
        let mut s = self.lock();
        s.health == Health::Up && s.breaker.state(Instant::now()) != BreakerState::Open
    }

    /// May get traffic now (unknown counts: a fresh instance is tried before its first check).
    pub(crate) fn routable(&self, now: Instant) -> bool {
        let mut s = self.lock();
        s.health != Health::Down && s.breaker.would_allow(now)
    }

    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Relaxed)
    }
}

/// Per-service state that survives catalogue reloads.
#[derive(Debug)]
pub(crate) struct ServiceShared {
    pub rr: AtomicUsize,
    pub limiter: Mutex<Option<Bucket>>,
    pub budget: Mutex<crate::proxy::RetryBudget>,
    pub metrics: OnceLock<crate::metrics::ServiceMetrics>,
}

/// A service as routed right now.
#[derive(Debug)]
pub struct ServiceEntry {
    pub def: ServiceDef,
    pub provider: Provider,
    pub instances: Vec<Arc<Instance>>,
    pub(crate) shared: Arc<ServiceShared>,
}

/// An instance registered through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInstance {
    pub id: String,
    pub service_id: String,
    pub url: String,
    pub health_path: String,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub services: Vec<Arc<ServiceEntry>>,
    by_id: HashMap<String, Arc<ServiceEntry>>,
}

impl Snapshot {
    pub fn get(&self, id: &str) -> Option<&Arc<ServiceEntry>> {
        self.by_id.get(id)
    }
}

pub struct Registry {
    cfg: GatewayConfig,
    snapshot: RwLock<Arc<Snapshot>>,
    catalogue: Mutex<Catalogue>,
    runtime: Mutex<Vec<RuntimeInstance>>,
    dns: Mutex<HashMap<String, Vec<SocketAddr>>>,
    modules: RwLock<HashSet<String>>,
    clusters: RwLock<HashSet<String>>,
    shared: Mutex<HashMap<String, Arc<ServiceShared>>>,
}

fn static_id(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    format!("s-{}", &hex::encode(digest)[..10])
}

impl Registry {
    pub fn new(
        cfg: GatewayConfig,
        catalogue: Catalogue,
        modules: HashSet<String>,
        clusters: HashSet<String>,
    ) -> Self {
        let r = Self {
            cfg,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            catalogue: Mutex::new(catalogue),
            runtime: Mutex::new(Vec::new()),
            dns: Mutex::new(HashMap::new()),
            modules: RwLock::new(modules),
            clusters: RwLock::new(clusters),
            shared: Mutex::new(HashMap::new()),
        };
        r.rebuild();
        r
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_catalogue(&self, catalogue: Catalogue) {
        *self.catalogue.lock().unwrap_or_else(|p| p.into_inner()) = catalogue;
        self.rebuild();
    }

    pub fn add_module(&self, module: &str) {
        self.modules
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(module.to_owned());
    }

    pub fn set_clusters(&self, clusters: HashSet<String>) {
        *self.clusters.write().unwrap_or_else(|p| p.into_inner()) = clusters;
    }

    pub fn has_module(&self, module: &str) -> bool {
        module == "gateway"
            || self
                .modules
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(module)
    }

    fn has_cluster(&self, slug: &str) -> bool {
        self.clusters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(slug)
    }

    pub fn runtime_instances(&self) -> Vec<RuntimeInstance> {
        self.runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace the runtime set (from the store); returns whether anything changed.
    pub fn set_runtime(&self, mut all: Vec<RuntimeInstance>) -> bool {
        all.sort_by(|a, b| a.id.cmp(&b.id));
        {
            let mut cur = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
            if *cur == all {
                return false;
            }
            *cur = all;
        }
        self.rebuild();
        true
    }

    pub fn add_runtime(&self, inst: RuntimeInstance) {
        {
            let mut cur = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
            cur.retain(|i| i.id != inst.id);
            cur.push(inst);
            cur.sort_by(|a, b| a.id.cmp(&b.id));
        }
        self.rebuild();
    }

    pub fn remove_runtime(&self, id: &str) -> bool {
        let removed = {
            let mut cur = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
            let before = cur.len();
            cur.retain(|i| i.id != id);
            cur.len() != before
        };
        if removed {
            self.rebuild();
        }
        removed
    }

    /// Replace the addresses discovered for `service_id`; returns whether they changed.
    pub fn set_dns(&self, service_id: &str, mut addrs: Vec<SocketAddr>) -> bool {
        addrs.sort();
        addrs.dedup();
        {
            let mut dns = self.dns.lock().unwrap_or_else(|p| p.into_inner());
            if dns.get(service_id) == Some(&addrs) {
                return false;
            }
            dns.insert(service_id.to_owned(), addrs);
        }
        self.rebuild();
        true
    }

    fn rebuild(&self) {
        let catalogue = self.catalogue.lock().unwrap_or_else(|p| p.into_inner());
        let runtime = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
        let dns = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        let old = slot.clone();
        let mut existing: HashMap<(&str, &str), &Arc<Instance>> = HashMap::new();
        for s in &old.services {
            for i in &s.instances {
                existing.insert((i.service_id.as_str(), i.id.as_str()), i);
            }
        }
        let mut services = Vec::with_capacity(catalogue.services.len());
        let mut by_id = HashMap::with_capacity(catalogue.services.len());
        for def in &catalogue.services {
            let provider = def.provider();
            let default_health = def
                .health_path
                .clone()
                .unwrap_or_else(|| self.cfg.health.default_path.clone());
            let mut wanted: Vec<(String, String, String, Source)> = Vec::new();
            if !matches!(provider, Provider::Builtin(_)) {
                for si in &def.instances {
                    let hp = si
                        .health_path
                        .clone()
                        .unwrap_or_else(|| default_health.clone());
                    wanted.push((static_id(&si.url), si.url.clone(), hp, Source::Static));
                }
                for ri in runtime.iter().filter(|r| r.service_id == def.id) {
                    wanted.push((
                        ri.id.clone(),
                        ri.url.clone(),
                        ri.health_path.clone(),
                        Source::Runtime,
                    ));
                }
                for addr in dns.get(&def.id).map(|v| v.as_slice()).unwrap_or(&[]) {
                    wanted.push((
                        format!("d-{addr}"),
                        format!("http://{addr}"),
                        default_health.clone(),
                        Source::Dns,
                    ));
                }
            }
            let mut instances = Vec::with_capacity(wanted.len());
            for (id, raw, hp, source) in wanted {
                if let Some(prev) = existing.get(&(def.id.as_str(), id.as_str())) {
                    if prev.raw_url == raw && prev.health_path == hp {
                        instances.push(Arc::clone(prev));
                        continue;
                    }
                }
                match UpstreamUrl::parse(&raw) {
                    Ok(url) => instances.push(Arc::new(Instance::new(
                        id, &def.id, url, raw, hp, source, &self.cfg,
                    ))),
                    Err(e) => {
                        tracing::warn!(service = %def.id, url = %raw, error = %e, "skipping bad instance URL")
                    }
                }
            }
            let sh = shared
                .entry(def.id.clone())
                .or_insert_with(|| {
                    Arc::new(ServiceShared {
                        rr: AtomicUsize::new(0),
                        limiter: Mutex::new(None),
                        budget: Mutex::new(crate::proxy::RetryBudget::new(&self.cfg.retry)),
                        metrics: OnceLock::new(),
                    })
                })
                .clone();
            let entry = Arc::new(ServiceEntry {
                def: def.clone(),
                provider,
                instances,
                shared: sh,
            });
            by_id.insert(def.id.clone(), entry.clone());
            services.push(entry);
        }
        *slot = Arc::new(Snapshot { services, by_id });
    }

    /// Status with the reason it is not active.
    pub fn status(&self, s: &ServiceEntry) -> (Status, Option<&'static str>) {
        match &s.provider {
            Provider::Builtin(m) => {
                if !self.has_module(m) {
                    (Status::Unavailable, Some("module not in this binary"))
                } else if m == "clusters"
                    && !s
                        .def
                        .cluster
                        .as_deref()
                        .is_some_and(|c| self.has_cluster(c))
                {
                    (Status::Unavailable, Some("cluster not configured"))
                } else {
                    (Status::Active, None)
                }
            }
            _ if s.instances.is_empty() => (
                Status::Unavailable,
                Some(if s.provider == Provider::None {
                    "no provider"
                } else {
                    "no instances"
                }),
            ),
            _ => {
                if s.instances.iter().any(|i| i.is_healthy()) {
                    (Status::Active, None)
                } else {
                    (Status::Inactive, Some("no healthy instance"))
                }
            }
        }
    }

    pub fn view(&self, s: &ServiceEntry) -> ServiceView {
        let (status, reason) = self.status(s);
        let now = Instant::now();
        ServiceView {
            id: s.def.id.clone(),
            name: s.def.name.clone(),
            category: s.def.category,
            port: s.def.port,
            provider: s.provider.label(),
            capability: s.def.capability.clone(),
            route: match s.provider {
                Provider::Builtin(_) => s.def.route.clone(),
                _ => None,
            },
            status,
            reason,
            healthy_instances: s.instances.iter().filter(|i| i.is_healthy()).count(),
            instances: Some(
                s.instances
                    .iter()
                    .map(|i| {
                        let mut st = i.lock();
                        InstanceView {
                            id: i.id.clone(),
                            url: i.url.display(),
                            protocol: i.url.proto,
                            source: i.source,
                            health_path: i.health_path.clone(),
                            health: st.health,
                            breaker: st.breaker.state(now),
                            breaker_trips: st.breaker.trips,
                            outstanding: i.outstanding(),
                            requests: i.requests.load(Ordering::Relaxed),
                            failures: i.failures.load(Ordering::Relaxed),
                            last_check: st.last_check_micros.map(fanz_core::clock::rfc3339),
                            last_error: st.last_error.clone(),
                            latency_ms: st.last_latency_us.map(|us| us as f64 / 1000.0),
                        }
                    })
                    .collect(),
            ),
        }
    }

    pub fn stats(&self) -> Stats {
        let snap = self.snapshot();
        let mut by_category: std::collections::BTreeMap<&'static str, usize> =
            Category::ALL.iter().map(|c| (c.as_str(), 0)).collect();
        let mut active_by_category = by_category.clone();
        let (mut active, mut unavailable) = (0, 0);
        for s in &snap.services {
            *by_category.entry(s.def.category.as_str()).or_default() += 1;
            match self.status(s).0 {
                Status::Active => {
                    active += 1;
                    *active_by_category
                        .entry(s.def.category.as_str())
                        .or_default() += 1;
                }
                Status::Unavailable => unavailable += 1,
                Status::Inactive => {}
            }
        }
        let total = snap.services.len();
        Stats {
            total,
            active,
            inactive: total - active,
            unavailable,
            by_category,
            active_by_category,
            timestamp: fanz_core::clock::rfc3339(fanz_core::clock::now_micros()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    pub id: String,
    pub url: String,
    pub protocol: Proto,
    pub source: Source,
    pub health_path: String,
    pub health: Health,
    pub breaker: BreakerState,
    pub breaker_trips: u64,
    pub outstanding: u32,
    pub requests: u64,
    pub failures: u64,
    pub last_check: Option<String>,
    pub last_error: Option<String>,
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub port: u16,
    pub provider: String,
    pub capability: Option<String>,
    pub route: Option<String>,
    pub status: Status,
    pub reason: Option<&'static str>,
    pub healthy_instances: usize,
    /// Every instance with its URL and health path: for admins only (see
    /// [`ServiceView::public`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<InstanceView>>,
}

impl ServiceView {
    /// The view for callers who are not admins: status and counts, no instances (their
    /// addresses, health paths and last errors describe the internal network).
    pub fn public(mut self) -> Self {
        self.instances = None;
        self
    }

    /// The instances, or none in a public view.
    pub fn instances(&self) -> &[InstanceView] {
        self.instances.as_deref().unwrap_or(&[])
    }
}

/// `GET /api/gateway/services/registry/stats`. `inactive` is everything not active, of
/// which `unavailable` is what nothing provides.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total: usize,
    pub active: usize,
    pub inactive: usize,
    pub unavailable: usize,
    pub by_category: std::collections::BTreeMap<&'static str, usize>,
    pub active_by_category: std::collections::BTreeMap<&'static str, usize>,
    pub timestamp: String,
}

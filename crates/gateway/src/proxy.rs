//! The reverse proxy: `ANY /api/gateway/proxy/{serviceId}/{*path}`.
//!
//! Bodies stream both ways (the request body is handed to the upstream connection as it
//! arrives; the response body is handed back frame by frame). Upstream connections are the
//! instance's pool (`upstream.rs`): keep-alive HTTP/1.1 for `http://` instances and one shared
//! HTTP/2 connection with prior knowledge for `h2c://`. Only idempotent requests without a body
//! are retried, on another instance when there is one, with exponential backoff, jitter and a
//! per-service budget.

use crate::auth::{identity_header_value, IDENTITY_HEADER};
use crate::breaker::BreakerState;
use crate::cache::{Cached, Lookup, RequestPolicy};
use crate::catalogue::{AuthMode, Balance, Provider};
use crate::config::RetryConfig;
use crate::error::GatewayError;
use crate::metrics::ServiceMetrics;
use crate::ratelimit::{retry_after_secs, Bucket};
use crate::registry::{Instance, ServiceEntry, Status};
use crate::Gateway;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use rand::Rng;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::ServiceExt;

/// Retries allowed per service: each request deposits `ratio`, time deposits `min_per_sec`.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    tokens: f64,
    cap: f64,
    ratio: f64,
    min_per_sec: f64,
    last: Instant,
}

impl RetryBudget {
    pub fn new(cfg: &RetryConfig) -> Self {
        let cap = (cfg.budget_min_per_sec * 10.0).max(10.0);
        Self {
            tokens: cap,
            cap,
            ratio: cfg.budget_ratio,
            min_per_sec: cfg.budget_min_per_sec,
            last: Instant::now(),
        }
    }

    fn deposit(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.min_per_sec + self.ratio).min(self.cap);
    }

    fn withdraw(&mut self) -> bool {
        // Deposits are fractions: allow for their rounding.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the proxy-only ones.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Where `name` is in [`HOP_BY_HOP`].
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    Some(match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "te" => 3,
        "trailer" => 4,
        "transfer-encoding" => 5,
        "upgrade" => 6,
        "proxy-authorization" => 7,
        "proxy-authenticate" => 8,
        _ => return None,
    })
}

/// Remove the hop-by-hop headers and those the `Connection` header names. One pass finds
/// which are present (usually none, or `Connection: keep-alive`); only those are removed.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap) {
    let mut present = [false; 9];
    let mut any = false;
    for name in h.keys() {
        if let Some(i) = hop_by_hop_index(name) {
            present[i] = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    if present[0] {
        let named: Vec<HeaderName> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| !n.eq_ignore_ascii_case("keep-alive") && !n.eq_ignore_ascii_case("close"))
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        for n in named {
            h.remove(n);
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            h.remove(name);
        }
    }
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_CACHE: HeaderName = HeaderName::from_static("x-cache");
static IDENTITY: HeaderName = HeaderName::from_static(IDENTITY_HEADER);

/// Fill `out` (at most 32 bytes) with random lowercase hex digits.
fn random_hex(out: &mut [u8]) {
    let mut raw = [0u8; 16];
    let raw = &mut raw[..out.len() / 2];
    rand::thread_rng().fill(raw);
    hex::encode_to_slice(raw, out).expect("two digits per byte");
}

/// A child `traceparent`: same trace id and flags, new parent span id; a new trace when
/// absent or malformed (W3C Trace Context: `00-<32 hex>-<16 hex>-<2 hex>`).
fn child_traceparent(incoming: Option<&HeaderValue>) -> HeaderValue {
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    match incoming.map(HeaderValue::as_bytes) {
        Some(v) if valid_traceparent(v) => {
            out[3..35].copy_from_slice(&v[3..35]);
            out[53..55].copy_from_slice(&v[53..55]);
        }
        _ => random_hex(&mut out[3..35]),
    }
    random_hex(&mut out[36..52]);
    HeaderValue::from_bytes(&out).expect("hex is a valid header")
}

/// Version, trace id, parent id and flags in place, all hex; a known version (not `ff`); a
/// trace id that is not all zeros. Later versions may append fields after another '-'.
fn valid_traceparent(v: &[u8]) -> bool {
    let hex = |r: std::ops::Range<usize>| v[r].iter().all(u8::is_ascii_hexdigit);
    v.len() >= 55
        && (v.len() == 55 || v[55] == b'-')
        && v[2] == b'-'
        && v[35] == b'-'
        && v[52] == b'-'
        && hex(0..2)
        && &v[0..2] != b"ff"
        && hex(3..35)
        && v[3..35].iter().any(|&b| b != b'0')
        && hex(36..52)
        && hex(53..55)
}

/// The socket peer's address, as header text.
fn peer_ip(parts: &http::request::Parts) -> Option<HeaderValue> {
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    match ip {
        IpAddr::V4(v4) => {
            // Written out here: this runs on every proxied request, and `Display` for an
            // address costs about a thousand instructions (callgrind), this a few hundred.
            let mut text = String::with_capacity(15);
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                text.push_str(digits.format(octet));
            }
            HeaderValue::try_from(text).ok()
        }
        IpAddr::V6(_) => HeaderValue::try_from(ip.to_string()).ok(),
    }
}

/// Who the client is, for rate limits: the first `X-Forwarded-For` hop when forwarded
/// headers are trusted, else the socket peer.
fn client_key(
    parts: &http::request::Parts,
    peer: Option<&HeaderValue>,
    trust_forwarded: bool,
) -> String {
    let forwarded = trust_forwarded
        .then(|| parts.headers.get(&X_FORWARDED_FOR))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|first| !first.is_empty());
    let ip = forwarded.or_else(|| peer.and_then(|p| p.to_str().ok()));
    format!("ip:{}", ip.unwrap_or("unknown"))
}

/// The raw path after `/proxy/{serviceId}` (with the query), always starting with '/'.
fn split_proxy_path(uri: &Uri) -> Option<(&str, String)> {
    let path = uri.path();
    let at = path.find("/proxy/")? + "/proxy/".len();
    let rest = &path[at..];
    let (id, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut pq = String::with_capacity(tail.len() + uri.query().map_or(0, |q| q.len() + 1));
    pq.push_str(tail);
    if let Some(q) = uri.query() {
        pq.push('?');
        pq.push_str(q);
    }
    Some((id, pq))
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Decrements an instance's outstanding count when the response body is done (or dropped).
struct Outstanding(Arc<Instance>);

impl Outstanding {
    fn new(i: Arc<Instance>) -> Self {
        i.outstanding.fetch_add(1, Ordering::Relaxed);
        Self(i)
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The proxy handler.
/// The proxy as the outermost service: `/api/gateway/proxy/…` requests are handed here before
/// the application's middleware, so the gateway sets the one thing that stack would have added
/// for a proxy, `x-request-id` on the response (the same id the upstream received).
pub(crate) async fn handle_edge(gw: Gateway, mut req: Request<Body>) -> Response {
    let id = ensure_request_id(req.headers_mut());
    let mut res = handle(gw, req).await;
    res.headers_mut().entry(&X_REQUEST_ID).or_insert(id);
    res
}

/// The request's `x-request-id` when usable (1–128 bytes); otherwise a new one, set on it.
fn ensure_request_id(headers: &mut HeaderMap) -> HeaderValue {
    match headers.get(&X_REQUEST_ID) {
        Some(v) if !v.is_empty() && v.len() <= 128 => v.clone(),
        _ => {
            let mut id = [0u8; 32];
            random_hex(&mut id);
            let v = HeaderValue::from_bytes(&id).expect("hex is a valid header");
            headers.insert(&X_REQUEST_ID, v.clone());
            v
        }
    }
}

pub(crate) async fn handle(gw: Gateway, req: Request<Body>) -> Response {
    let started = Instant::now();
    let (svc, res) = match route(&gw, req).await {
        Ok((svc, res)) => (Some(svc), res),
        Err((svc, e)) => (svc, e.into_response()),
    };
    if let Some(svc) = svc {
        let m = metrics_of(&svc);
        m.record_status(res.status().as_u16());
        m.latency.record(started.elapsed().as_secs_f64());
    }
    res
}

fn metrics_of(svc: &ServiceEntry) -> &ServiceMetrics {
    svc.shared
        .metrics
        .get_or_init(|| ServiceMetrics::new(&svc.def.id))
}

type Routed = Result<(Arc<ServiceEntry>, Response), (Option<Arc<ServiceEntry>>, GatewayError)>;

async fn route(gw: &Gateway, req: Request<Body>) -> Routed {
    let inner = &gw.inner;
    let Some((id, suffix)) = split_proxy_path(req.uri()) else {
        return Err((None, GatewayError::ServiceNotFound(String::new())));
    };
    let Some(svc) = inner.registry.snapshot().get(id).cloned() else {
        return Err((None, GatewayError::ServiceNotFound(id.to_owned())));
    };
    match serve(gw, &svc, req, suffix).await {
        Ok(res) => Ok((svc, res)),
        Err(e) => Err((Some(svc), e)),
    }
}

async fn serve(
    gw: &Gateway,
    svc: &Arc<ServiceEntry>,
    req: Request<Body>,
    suffix: String,
) -> Result<Response, GatewayError> {
    let inner = &gw.inner;
    let cfg = &inner.cfg;
    let (mut parts, body) = req.into_parts();

    let caller = match &inner.edge_auth {
        Some(a) => a.authenticate(&parts.headers).await,
        None => None,
    };
    if svc.def.auth == AuthMode::Required && caller.is_none() {
        return Err(GatewayError::Unauthenticated);
    }

    let peer = peer_ip(&parts);
    let now = Instant::now();
    if inner.client_limiter.enabled() {
        let key = match &caller {
            Some(c) => format!("u:{}", c.user_id),
            None => client_key(&parts, peer.as_ref(), cfg.trust_forwarded_headers),
        };
        if let Err(wait) = inner.client_limiter.check(&key, now) {
            crate::metrics::rate_limited("client");
            return Err(GatewayError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
            });
        }
    }
    let rate = svc
        .def
        .rate_limit_rps
        .unwrap_or(cfg.rate_limit.per_service_rps);
    if rate > 0.0 {
        let burst = svc
            .def
            .rate_limit_burst
            .unwrap_or(if cfg.rate_limit.per_service_burst > 0.0 {
                cfg.rate_limit.per_service_burst
            } else {
                rate
            });
        let mut slot = svc.shared.limiter.lock().unwrap_or_else(|p| p.into_inner());
        if !slot.as_ref().is_some_and(|b| b.same_params(rate, burst)) {
            *slot = Some(Bucket::new(rate, burst, now));
        }
        if let Err(wait) = slot.as_mut().expect("just set").take(now) {
            crate::metrics::rate_limited("service");
            return Err(GatewayError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
            });
        }
    }

    if let Provider::Builtin(_) = svc.provider {
        return builtin(gw, svc, parts, body, &suffix).await;
    }

    // Headers for the upstream: built once, cloned per attempt.
    let request_id = ensure_request_id(&mut parts.headers);
    let host = parts.headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let h = &mut parts.headers;
    strip_hop_by_hop(h);
    // Room for the headers added below, so the map grows once at most. `Host` stays: the
    // connection pool sets it to the instance's authority.
    h.reserve(6);
    h.remove(&IDENTITY);
    let traceparent = child_traceparent(h.get(&TRACEPARENT));
    h.insert(&TRACEPARENT, traceparent);
    h.insert(&X_REQUEST_ID, request_id.clone());
    // The socket peer joins the chain (after what a trusted proxy in front already wrote).
    let peer = peer.unwrap_or(HeaderValue::from_static("unknown"));
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if cfg.trust_forwarded_headers => {
            HeaderValue::try_from(format!("{prev}, {}", peer.to_str().unwrap_or("unknown")))
                .unwrap_or(peer)
        }
        _ => peer,
    };
    h.insert(&X_FORWARDED_FOR, xff);
    if !(cfg.trust_forwarded_headers && h.contains_key(&X_FORWARDED_PROTO)) {
        h.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if !(cfg.trust_forwarded_headers && h.contains_key(&X_FORWARDED_HOST)) {
        match host {
            Some(host) => h.insert(&X_FORWARDED_HOST, host),
            None => h.remove(&X_FORWARDED_HOST),
        };
    }
    if let Some(c) = &caller {
        if !cfg.forward_credentials {
            h.remove(header::AUTHORIZATION);
            h.remove(header::COOKIE);
        }
        if !cfg.identity_secret.is_empty() {
            if let Some(v) = identity_header_value(
                cfg.identity_secret.as_bytes(),
                c,
                request_id.to_str().unwrap_or(""),
            ) {
                h.insert(IDENTITY_HEADER, v);
            }
        }
    }

    let body_empty = body.is_end_stream() || body.size_hint().exact() == Some(0);
    let replayable = idempotent(&parts.method) && body_empty;
    let hash_key = match (&svc.def.balance, &svc.def.hash_header) {
        (Balance::ConsistentHash, Some(name)) => parts.headers.get(name.as_str()).map(|v| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            v.as_bytes().hash(&mut hasher);
            hasher.finish()
        }),
        _ => None,
    };
    let fwd = Forward {
        gw,
        svc,
        method: parts.method,
        suffix,
        headers: parts.headers,
        replayable,
        hash_key,
    };

    let policy = inner
        .cache
        .request_policy(&fwd.method, &fwd.headers, caller.is_some());
    let m = metrics_of(svc);
    if policy == RequestPolicy::Bypass || !replayable {
        if fwd.method == Method::GET {
            m.cache_bypass.increment(1);
        }
        let res = fwd.send(body).await?;
        return Ok(if fwd.method == Method::GET {
            labelled(res, "BYPASS")
        } else {
            res
        });
    }

    let accept_enc = fwd
        .headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut key = String::with_capacity(svc.def.id.len() + fwd.suffix.len() + accept_enc.len() + 2);
    for part in [svc.def.id.as_str(), "\n", &fwd.suffix, "\n", accept_enc] {
        key.push_str(part);
    }
    if policy == RequestPolicy::Lookup {
        match inner.cache.lookup(&key, Instant::now()) {
            Lookup::Hit(hit) => {
                m.cache_hit.increment(1);
                return Ok(from_cache(&hit, "HIT"));
            }
            Lookup::Pass => {
                // Known not to be stored: straight upstream, no waiting on another request.
                m.cache_miss.increment(1);
                let res = fwd.send(Body::empty()).await?;
                return Ok(match store_if_cacheable(gw, svc, &key, res, false).await {
                    Ok(entry) => from_cache(&entry, "MISS"),
                    Err(res) => labelled(res, "MISS"),
                });
            }
            Lookup::Miss => {}
        }
    }
    m.cache_miss.increment(1);
    // Coalesce: the first miss fetches; concurrent misses wait for its result.
    let flight = inner.cache.flight(&key);
    let mut own: Option<Result<Response, GatewayError>> = None;
    let mut led = false;
    let shared = flight
        .get_or_init(|| async {
            led = true;
            match fwd.send(Body::empty()).await {
                Ok(res) => match store_if_cacheable(gw, svc, &key, res, true).await {
                    Ok(entry) => Some(entry),
                    Err(res) => {
                        own = Some(Ok(res));
                        None
                    }
                },
                Err(e) => {
                    own = Some(Err(e));
                    None
                }
            }
        })
        .await
        .clone();
    inner.cache.land(&key, &flight);
    if let Some(r) = own {
        return r.map(|res| labelled(res, "MISS"));
    }
    match shared {
        Some(entry) => Ok(from_cache(&entry, if led { "MISS" } else { "HIT" })),
        None => {
            // The leader's response was not cacheable: fetch our own.
            let res = fwd.send(Body::empty()).await?;
            Ok(labelled(res, "MISS"))
        }
    }
}

fn labelled(mut res: Response, label: &'static str) -> Response {
    res.headers_mut()
        .insert(&X_CACHE, HeaderValue::from_static(label));
    res
}

fn from_cache(c: &Cached, label: &'static str) -> Response {
    let mut res = Response::new(Body::from(c.body.clone()));
    *res.status_mut() = c.status;
    *res.headers_mut() = c.headers.clone();
    let age = Instant::now()
        .saturating_duration_since(c.stored_at)
        .as_secs();
    res.headers_mut()
        .insert(header::AGE, HeaderValue::from(age));
    labelled(res, label)
}

/// Buffer and store a cacheable response; hand back anything else untouched (and remember
/// the key as uncacheable when `mark` is set).
async fn store_if_cacheable(
    gw: &Gateway,
    svc: &ServiceEntry,
    key: &str,
    res: Response,
    mark: bool,
) -> Result<Arc<Cached>, Response> {
    let cache = &gw.inner.cache;
    let Some(ttl) = cache.response_ttl(res.status(), res.headers(), svc.def.cache_ttl_secs) else {
        if mark {
            cache.mark_pass(key, Instant::now());
        }
        return Err(res);
    };
    let (parts, body) = res.into_parts();
    let limited = http_body_util::Limited::new(body, cache.max_entry_bytes());
    let bytes = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::warn!(service = %svc.def.id, error = %e, "upstream body failed while caching");
            return Err(GatewayError::BadGateway.into_response());
        }
    };
    let now = Instant::now();
    let entry = Arc::new(Cached {
        status: parts.status,
        headers: parts.headers,
        body: bytes,
        stored_at: now,
        expires: now + ttl,
    });
    cache.put(key.to_owned(), entry.clone());
    Ok(entry)
}

struct Forward<'a> {
    gw: &'a Gateway,
    svc: &'a Arc<ServiceEntry>,
    method: Method,
    suffix: String,
    headers: HeaderMap,
    replayable: bool,
    hash_key: Option<u64>,
}

impl Forward<'_> {
    /// Send to an instance, retrying (replayable requests only) until the deadline.
    async fn send(&self, body: Body) -> Result<Response, GatewayError> {
        let inner = &self.gw.inner;
        let cfg = &inner.cfg;
        let svc = self.svc;
        let m = metrics_of(svc);
        let timeout = svc
            .def
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| cfg.timeout());
        let deadline = Instant::now() + timeout;
        let max_attempts = if self.replayable {
            1 + cfg.retry.max_retries
        } else {
            1
        };
        svc.shared
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .deposit(Instant::now());
        let mut body = Some(body);
        let mut tried: Vec<Arc<Instance>> = Vec::new();
        let mut last_err = GatewayError::Unavailable(svc.def.id.clone(), "no healthy instance");
        for attempt in 0..max_attempts {
            if attempt > 0 {
                let allowed = svc
                    .shared
                    .budget
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .withdraw();
                if !allowed {
                    break;
                }
                m.retries.increment(1);
                let wait = backoff(&cfg.retry, attempt);
                if Instant::now() + wait >= deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            let Some(inst) = pick(svc, &tried, self.hash_key) else {
                break;
            };
            tried.push(inst.clone());
            let uri = inst
                .url
                .request_uri(&self.suffix)
                .map_err(|_| GatewayError::ServiceNotFound(svc.def.id.clone()))?;
            let req_body = if self.replayable {
                Body::empty()
            } else {
                body.take().unwrap_or_else(Body::empty)
            };
            let mut req = Request::new(req_body);
            *req.method_mut() = self.method.clone();
            *req.uri_mut() = uri;
            *req.headers_mut() = self.headers.clone();
            let guard = Outstanding::new(inst.clone());
            inst.requests.fetch_add(1, Ordering::Relaxed);
            let fut = inst.pool.send(req, guard);
            match tokio::time::timeout_at(deadline, fut).await {
                Err(_) => {
                    m.err_timeout.increment(1);
                    report(&inst, false);
                    tracing::warn!(service = %svc.def.id, instance = %inst.id, "upstream timed out");
                    return Err(GatewayError::Timeout);
                }
                Ok(Err(e)) => {
                    m.err_connect.increment(1);
                    report(&inst, false);
                    tracing::warn!(service = %svc.def.id, instance = %inst.id, error = %e, "upstream request failed");
                    last_err = GatewayError::BadGateway;
                }
                Ok(Ok(res)) => {
                    let status = res.status();
                    let failed = matches!(
                        status,
                        StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    );
                    report(&inst, !failed);
                    if failed {
                        m.err_status.increment(1);
                        if attempt + 1 < max_attempts && self.replayable {
                            last_err = GatewayError::BadGateway;
                            continue;
                        }
                    }
                    let (mut parts, body) = res.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    return Ok(Response::from_parts(parts, Body::new(body)));
                }
            }
        }
        Err(last_err)
    }
}

fn backoff(cfg: &RetryConfig, attempt: u32) -> Duration {
    let base = cfg.backoff_base_ms.max(1);
    let d = base
        .saturating_mul(1u64 << (attempt - 1).min(20))
        .min(cfg.backoff_max_ms.max(base));
    let half = d / 2;
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=d - half))
}

fn report(inst: &Instance, ok: bool) {
    let now = Instant::now();
    let mut st = inst.lock();
    if ok {
        let was = st.breaker.state(now);
        st.breaker.on_success(now);
        if was != BreakerState::Closed && st.breaker.state(now) == BreakerState::Closed {
            tracing::info!(service = %inst.service_id, instance = %inst.id, "circuit breaker closed");
            crate::metrics::breaker_state(&inst.service_id, &inst.id, BreakerState::Closed);
        }
    } else {
        inst.failures.fetch_add(1, Ordering::Relaxed);
        if st.breaker.on_failure(now) {
            tracing::warn!(service = %inst.service_id, instance = %inst.id, "circuit breaker opened");
            crate::metrics::breaker_state(&inst.service_id, &inst.id, BreakerState::Open);
        }
    }
}

/// Choose an instance by the service's policy among those routable now, preferring ones not
/// tried yet, and take a breaker permit from it.
fn pick(
    svc: &ServiceEntry,
    tried: &[Arc<Instance>],
    hash_key: Option<u64>,
) -> Option<Arc<Instance>> {
    let now = Instant::now();
    let all = &svc.instances;
    if all.is_empty() {
        return None;
    }
    let fresh: Vec<&Arc<Instance>> = all
        .iter()
        .filter(|i| !tried.iter().any(|t| Arc::ptr_eq(t, i)) && i.routable(now))
        .collect();
    let pool: Vec<&Arc<Instance>> = if fresh.is_empty() {
        all.iter().filter(|i| i.routable(now)).collect()
    } else {
        fresh
    };
    if pool.is_empty() {
        return None;
    }
    let n = pool.len();
    let start = match (svc.def.balance, hash_key) {
        (Balance::ConsistentHash, Some(k)) => {
            // Rendezvous hashing: the highest score wins; removing an instance only moves
            // the keys it had.
            let mut best = 0;
            let mut best_score = 0u64;
            for (idx, i) in pool.iter().enumerate() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                k.hash(&mut h);
                i.id.hash(&mut h);
                let score = h.finish();
                if idx == 0 || score > best_score {
                    best = idx;
                    best_score = score;
                }
            }
            best
        }
        (Balance::LeastOutstanding, _) => {
            let offset = svc.shared.rr.fetch_add(1, Ordering::Relaxed);
            let mut best = offset % n;
            for k in 0..n {
                let idx = (offset + k) % n;
                if pool[idx].outstanding() < pool[best].outstanding() {
                    best = idx;
                }
            }
            best
        }
        _ => svc.shared.rr.fetch_add(1, Ordering::Relaxed) % n,
    };
    for k in 0..n {
        let i = pool[(start + k) % n];
        if i.lock().breaker.try_acquire(now) {
            return Some(i.clone());
        }
    }
    None
}

/// A builtin: served in-process by the app's router at the builtin's route, or redirected.
async fn builtin(
    gw: &Gateway,
    svc: &Arc<ServiceEntry>,
    parts: http::request::Parts,
    body: Body,
    suffix: &str,
) -> Result<Response, GatewayError> {
    let (status, reason) = gw.inner.registry.status(svc);
    if status != Status::Active {
        return Err(GatewayError::Unavailable(
            svc.def.id.clone(),
            reason.unwrap_or("unavailable"),
        ));
    }
    let route = svc
        .def
        .route
        .as_deref()
        .unwrap_or("/")
        .trim_end_matches('/');
    let target = if suffix == "/" && !route.is_empty() {
        route.to_owned()
    } else {
        format!("{route}{suffix}")
    };
    let router = gw
        .inner
        .internal
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let Some(router) = router else {
        return Ok(redirect(&target));
    };
    let uri: Uri = target
        .parse()
        .map_err(|_| GatewayError::ServiceNotFound(svc.def.id.clone()))?;
    // A fresh request: the gateway route's own extensions (its path parameters above all)
    // must not leak into the inner routing.
    let mut req = Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers;
    if let Some(ci) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        req.extensions_mut().insert(*ci);
    }
    match router.oneshot(req).await {
        Ok(res) => Ok(res),
        Err(never) => match never {},
    }
}

fn redirect(target: &str) -> Response {
    let mut res = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(target) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_index_matches_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(i), "{name}");
        }
        assert_eq!(hop_by_hop_index(&header::CONTENT_TYPE), None);
    }

    #[test]
    fn connection_named_headers_and_hop_by_hop_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn traceparent_keeps_the_trace_and_replaces_the_span() {
        let incoming =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let out = child_traceparent(Some(&incoming));
        let out = out.to_str().unwrap();
        assert!(out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(out.ends_with("-01"));
        assert!(!out.contains("00f067aa0ba902b7"));
        let fresh = child_traceparent(Some(&HeaderValue::from_static("garbage")));
        assert_eq!(fresh.to_str().unwrap().len(), 55);
    }

    #[test]
    fn proxy_path_keeps_raw_path_and_query() {
        let uri: Uri = "/api/gateway/proxy/svc-a/x/%2F/y?q=1&r=2".parse().unwrap();
        let (id, pq) = split_proxy_path(&uri).unwrap();
        assert_eq!(id, "svc-a");
        assert_eq!(pq, "/x/%2F/y?q=1&r=2");
        let uri: Uri = "/api/gateway/proxy/svc-a".parse().unwrap();
        assert_eq!(split_proxy_path(&uri).unwrap().1, "/");
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let cfg = RetryConfig {
            backoff_base_ms: 10,
            backoff_max_ms: 50,
            ..RetryConfig::default()
        };
        for _ in 0..50 {
            let b1 = backoff(&cfg, 1).as_millis();
            assert!((5..=10).contains(&b1), "{b1}");
            let b3 = backoff(&cfg, 3).as_millis();
            assert!((20..=40).contains(&b3), "{b3}");
            let b9 = backoff(&cfg, 9).as_millis();
            assert!((25..=50).contains(&b9), "{b9}");
        }
    }

    #[test]
    fn retry_budget_limits_retries_to_a_share_of_traffic() {
        let cfg = RetryConfig {
            budget_ratio: 0.1,
            budget_min_per_sec: 0.0,
            ..RetryConfig::default()
        };
        let mut b = RetryBudget::new(&cfg);
        let t = b.last;
        let mut n = 0;
        while b.withdraw() {
            n += 1;
        }
        assert_eq!(n, 10, "initial reserve");
        for _ in 0..100 {
            b.deposit(t);
        }
        let mut n = 0;
        while b.withdraw() {
            n += 1;
        }
        assert_eq!(n, 10, "100 requests at 10% → 10 retries");
    }
}

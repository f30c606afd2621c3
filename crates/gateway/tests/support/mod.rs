//! Real upstream servers on loopback sockets that can be killed and brought back, a gateway
//! served on its own socket, and a plain HTTP client.

#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get as on_get;
use axum::routing::{any, post};
use axum::Router;
use fanz_gateway::{Caller, EdgeAuth, Gateway, GatewayConfig, Via};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinSet};
use tower::ServiceExt;

pub struct UpState {
    pub name: String,
    /// Requests to every route but /healthz.
    pub hits: AtomicU64,
    /// POSTs received (processed) on /charge*.
    pub posts: AtomicU64,
    /// Answer 503 (requests and health checks) while set.
    pub failing: AtomicBool,
    /// Connections being served (a dropped connection task counts itself out).
    live: AtomicU64,
    /// Connections accepted since the start.
    pub accepted: AtomicU64,
    server: Mutex<Option<AbortHandle>>,
}

/// Counts a connection task out when it ends or is aborted.
struct Live(Arc<UpState>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl UpState {
    fn kill(&self) {
        if let Some(h) = self.server.lock().unwrap().take() {
            h.abort();
        }
    }
}

/// An upstream instance on a real socket. `kill` closes the listener and every open
/// connection, as a crashed process would; `restart` listens on the same address again.
pub struct Upstream {
    pub addr: SocketAddr,
    pub state: Arc<UpState>,
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpState {
            name: name.to_owned(),
            hits: AtomicU64::new(0),
            posts: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            live: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            server: Mutex::new(None),
        });
        serve_upstream(listener, state.clone());
        Upstream { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The same instance spoken to over HTTP/2 with prior knowledge.
    pub fn h2c_url(&self) -> String {
        format!("h2c://{}", self.addr)
    }

    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn posts(&self) -> u64 {
        self.state.posts.load(Ordering::SeqCst)
    }

    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    pub fn kill(&self) {
        self.state.kill();
    }

    /// Kill, then wait until it is really gone: aborting a task takes effect at its next poll,
    /// so until then the listener may still accept and open connections still answer.
    pub async fn kill_and_wait(&self) {
        self.kill();
        let gone = eventually(|| async {
            let refused = tokio::net::TcpStream::connect(self.addr).await.is_err();
            refused && self.state.live.load(Ordering::SeqCst) == 0
        })
        .await;
        assert!(gone, "upstream {} still up after kill", self.addr);
    }

    pub async fn restart(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        serve_upstream(listener, self.state.clone());
    }
}

/// How long a test waits for something that must happen (a killed server to be gone, a
/// breaker to let a probe through). Not a measurement: on an idle machine these take
/// milliseconds; the bound only keeps a broken test from hanging, and is generous so that a
/// loaded machine (a parallel `cargo test`, CI) cannot fail a correct one.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Poll `check` every 10 ms until it holds (true) or [`PATIENCE`] runs out (false).
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn serve_upstream(listener: TcpListener, state: Arc<UpState>) {
    let app = upstream_app(state.clone());
    let counted = state.clone();
    let task = tokio::spawn(async move {
        // Connections live in this set: aborting the task drops them all.
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let app = app.clone();
                    counted.live.fetch_add(1, Ordering::SeqCst);
                    counted.accepted.fetch_add(1, Ordering::SeqCst);
                    let live = Live(counted.clone());
                    conns.spawn(async move {
                        let _live = live;
                        let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            app.clone().oneshot(req.map(Body::new))
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    *state.server.lock().unwrap() = Some(task.abort_handle());
}

type St = State<Arc<UpState>>;

fn upstream_app(state: Arc<UpState>) -> Router {
    Router::new()
        .route("/healthz", on_get(healthz))
        .route("/hello", any(hello))
        .route("/close", any(close))
        .route("/charge", post(charge))
        .route("/charge-and-die", post(charge_and_die))
        .route("/cached", on_get(cached))
        .route("/private", on_get(private))
        .route("/slow-cached", on_get(slow_cached))
        .route("/hang", any(hang))
        .route("/headers", any(headers))
        .route("/sink", post(sink))
        .route("/source/{n}", on_get(source))
        .with_state(state)
}

async fn healthz(State(s): St) -> StatusCode {
    if s.failing.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

async fn hello(State(s): St) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    if s.failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    format!("hello from {}", s.name).into_response()
}

/// Answers, then closes the connection (`Connection: close`).
async fn close(State(s): St) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    ([("connection", "close")], "closing").into_response()
}

async fn charge(State(s): St) -> String {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let n = s.posts.fetch_add(1, Ordering::SeqCst) + 1;
    format!("charged {n}")
}

/// Processes the POST, then the process dies before answering.
async fn charge_and_die(State(s): St) -> String {
    s.hits.fetch_add(1, Ordering::SeqCst);
    s.posts.fetch_add(1, Ordering::SeqCst);
    s.kill();
    std::future::pending::<()>().await;
    unreachable!()
}

async fn cached(State(s): St) -> Response {
    let n = s.hits.fetch_add(1, Ordering::SeqCst) + 1;
    (
        [("cache-control", "public, max-age=60")],
        format!("cached body {n}"),
    )
        .into_response()
}

async fn private(State(s): St) -> Response {
    let n = s.hits.fetch_add(1, Ordering::SeqCst) + 1;
    ([("cache-control", "private")], format!("private {n}")).into_response()
}

async fn slow_cached(State(s): St) -> Response {
    let n = s.hits.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ([("cache-control", "max-age=60")], format!("slow {n}")).into_response()
}

async fn hang(State(s): St) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    StatusCode::OK
}

async fn headers(State(s): St, h: HeaderMap) -> axum::Json<serde_json::Value> {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let map: serde_json::Map<String, serde_json::Value> = h
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").into()))
        .collect();
    axum::Json(serde_json::Value::Object(map))
}

/// Counts the request body as it streams in; never holds more than one frame.
async fn sink(State(s): St, req: Request) -> String {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let mut body = req.into_body();
    let mut n: u64 = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            n += data.len() as u64;
        }
    }
    n.to_string()
}

/// Streams `n` bytes out in 64 KiB chunks (the same buffer each time).
async fn source(State(s): St, Path(n): Path<u64>) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    Response::new(Body::new(Repeat::new(n)))
}

/// A body of `n` bytes made of one 64 KiB buffer handed out again and again: sending it
/// allocates nothing per chunk, so memory growth measures what the gateway keeps.
pub struct Repeat {
    chunk: Bytes,
    left: u64,
}

impl Repeat {
    pub fn new(n: u64) -> Repeat {
        Repeat {
            chunk: Bytes::from(vec![b'x'; 64 * 1024]),
            left: n,
        }
    }
}

impl http_body::Body for Repeat {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let take = self.left.min(self.chunk.len() as u64) as usize;
        self.left -= take as u64;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(self.chunk.slice(..take)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// Tokens `admin-token` (an admin) and `fan-token` (a fan); anything else is anonymous.
pub struct TestAuth;

#[async_trait::async_trait]
impl EdgeAuth for TestAuth {
    async fn authenticate(&self, headers: &HeaderMap) -> Option<Caller> {
        let token = headers
            .get("authorization")?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let (id, role) = match token {
            "admin-token" => (1, "admin"),
            "fan-token" => (2, "fan"),
            _ => return None,
        };
        Some(Caller {
            user_id: id,
            handle: role.to_owned(),
            roles: vec![role.to_owned()],
            via: Via::Bearer,
        })
    }
}

/// A gateway configuration for tests: no background timers, generous client limit.
pub fn config() -> GatewayConfig {
    let mut cfg = GatewayConfig::default();
    cfg.health.interval_ms = 0;
    cfg.reload_interval_ms = 0;
    cfg.dns_interval_ms = 0;
    cfg.sync_interval_ms = 0;
    cfg.rate_limit.per_client_rps = 0.0;
    cfg.connect_timeout_ms = 500;
    cfg
}

/// One `upstream` service with these instances, plus `extra` TOML lines on the service.
pub fn service(id: &str, instances: &[&Upstream], extra: &str) -> String {
    let mut s = format!(
        "[[service]]\nid = \"{id}\"\nname = \"{id}\"\ncategory = \"infrastructure\"\nport = 1\nprovider = \"upstream\"\n{extra}\n"
    );
    for u in instances {
        s.push_str(&format!("[[service.instance]]\nurl = \"{}\"\n", u.url()));
    }
    s
}

pub async fn gateway(cfg: GatewayConfig, catalogue: &str) -> (Gateway, String) {
    let gw = Gateway::builder(cfg)
        .catalogue_text(catalogue)
        .auth(Arc::new(TestAuth))
        .build()
        .await
        .expect("gateway builds");
    let base = serve(&gw).await;
    (gw, base)
}

pub async fn serve(gw: &Gateway) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = gw.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

pub type HttpClient = Client<HttpConnector, Body>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Res {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The platform's error shape; returns the code.
    pub fn error_code(&self) -> String {
        let v = self.json();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without message: {v}"
        );
        v["error"]["code"].as_str().expect("error code").to_owned()
    }
}

pub async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Res {
    let mut req = axum::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(body).unwrap())
        .await
        .expect("gateway answers");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Res {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(client: &HttpClient, url: &str) -> Res {
    call(client, "GET", url, &[], Body::empty()).await
}

/// A GET as the admin (`admin-token`), who alone sees instances in the registry views.
pub async fn admin_get(client: &HttpClient, url: &str) -> Res {
    call(
        client,
        "GET",
        url,
        &[("authorization", "Bearer admin-token")],
        Body::empty(),
    )
    .await
}

/// Resident set size of this process, in bytes (Linux).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

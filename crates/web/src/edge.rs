//! The edge: everything between a TCP connection and a route, the same for the app's routes
//! and for gateway-proxied requests. It owns the connection limits and timeouts (`[http]`),
//! the security headers, the request deadline and load shedding, the refusal of NUL
//! characters in paths and queries, the CSRF rule for cookie-authenticated requests, and the
//! JSON error shape of every failure under `/api` (hyper's own parse errors included).

use crate::error::ApiError;
use crate::extract::{cookie, SESSION_COOKIE};
use crate::pages::csrf::CSRF_COOKIE;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fanz_config::http::HttpConfig;
use fanz_core::token::secrets_equal;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// Sent with every response, however it was routed (a proxied upstream may set its own).
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; \
         media-src 'self' blob:; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
];

/// The service every request goes through.
pub type EdgeService = BoxCloneSyncService<Request, Response, Infallible>;

/// Wrap `inner` (app routes or the gateway proxy) in the edge layers, outermost first:
/// security headers, panics as 500s, load shedding at `max_in_flight`, the request deadline,
/// then [`guard`].
pub fn layers<S>(inner: S, http: &HttpConfig) -> EdgeService
where
    S: tower::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let svc = ServiceBuilder::new()
        .map_response(security_headers)
        .map_response(IntoResponse::into_response)
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .concurrency_limit(http.max_in_flight)
        .timeout(http.request_timeout())
        .layer(axum::middleware::from_fn(guard))
        .service(inner);
    BoxCloneSyncService::new(svc)
}

fn security_headers(mut res: Response) -> Response {
    let headers = res.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    res
}

async fn overloaded(err: BoxError) -> Response {
    if err.is::<tower::timeout::error::Elapsed>() {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "deadline_exceeded",
            "the request took too long and was abandoned",
        );
        e.retry_after = Some(1);
        e.into_response()
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!("http_requests_shed_total").increment(1);
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the server is busy; try again shortly",
        );
        e.retry_after = Some(1);
        e.into_response()
    } else {
        ApiError::internal(err).into_response()
    }
}

fn is_api(path: &str) -> bool {
    (path.starts_with("/api/") || path == "/api") && !fanz_gateway::Gateway::is_proxy_path(path)
}

/// Checks every request before it is routed, and gives `/api` failures the JSON error shape.
pub async fn guard(req: Request, next: Next) -> Response {
    if let Err(e) = check_target(&req).and_then(|()| cookie_rule(&req)) {
        return e.into_response();
    }
    let api = is_api(req.uri().path());
    let res = next.run(req).await;
    if api {
        json_error_shape(res).await
    } else {
        res
    }
}

/// The longest path and query accepted (414 above).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// `%00` in a path or query would reach SQL (PostgreSQL refuses NUL in text): refuse it here,
/// once, for every route.
fn check_target(req: &Request) -> Result<(), ApiError> {
    let pq = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("");
    if pq.len() > MAX_TARGET_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the path and query may be at most {MAX_TARGET_BYTES} bytes"),
        ));
    }
    if pq.contains("%00") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_character",
            "NUL characters (%00) are not allowed in a path or query",
        ));
    }
    Ok(())
}

/// A state-changing request that a browser could send on its own (it carries the session
/// cookie and neither a bearer token nor an API key) must prove it comes from our own pages:
/// `Sec-Fetch-Site: same-origin`, or an `Origin` equal to the host it was sent to, or an
/// `X-CSRF-Token` header equal to the CSRF cookie. Without any of these (older browsers, plain
/// clients), an HTML form outside `/api` is still checked by its `csrf` field
/// ([`crate::pages::csrf::CsrfForm`]). Under `/api` (the proxy excepted) its body must also be
/// JSON, which a cross-site form cannot send, except the media uploads of [`upload_body`].
fn cookie_rule(req: &Request) -> Result<(), ApiError> {
    if matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return Ok(());
    }
    let h = req.headers();
    if cookie(h, SESSION_COOKIE).is_none()
        || h.contains_key(header::AUTHORIZATION)
        || h.contains_key("x-api-key")
    {
        return Ok(());
    }
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "a request signed in by cookie must come from this site's own pages",
        )
    };
    let header_str = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let path = req.uri().path();
    let same_origin = match (header_str("sec-fetch-site"), header_str("origin")) {
        (Some(site), _) => Some(site.eq_ignore_ascii_case("same-origin")),
        (None, Some(origin)) => {
            let authority = origin.split_once("://").map(|(_, a)| a);
            let host = header_str("host")
                .map(str::to_owned)
                .or_else(|| req.uri().authority().map(|a| a.to_string()));
            Some(matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(&h)))
        }
        (None, None) => None,
    };
    let token_ok = match (header_str("x-csrf-token"), cookie(h, CSRF_COOKIE)) {
        (Some(sent), Some(expected)) => !expected.is_empty() && secrets_equal(sent, &expected),
        _ => false,
    };
    match same_origin {
        Some(false) => return Err(refused()),
        Some(true) => {}
        None if token_ok => {}
        None => {
            let form = header_str("content-type").is_some_and(|ct| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/x-www-form-urlencoded")
                    || ct.starts_with("multipart/form-data")
            });
            if !form || path.starts_with("/api") {
                return Err(refused());
            }
        }
    }
    if is_api(path) {
        let json = header_str("content-type").map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
        let has_body = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
            || h.contains_key(header::TRANSFER_ENCODING);
        let upload =
            header_str("content-type").is_some_and(|ct| upload_body(req.method(), path, ct));
        if !upload && (json == Some(false) || (json.is_none() && has_body)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ));
        }
    }
    Ok(())
}

/// The two bodies that are not JSON which our own pages send to `/api` with the cookie, once
/// the same-origin proof above held: a multipart `POST /api/v1/media` (a small upload) and a
/// tus `PATCH /api/v1/media/uploads/{id}` (`application/offset+octet-stream`). Nothing else.
fn upload_body(method: &Method, path: &str, content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match (method, path) {
        (&Method::POST, "/api/v1/media") => mime == "multipart/form-data",
        (&Method::PATCH, p) => {
            mime == "application/offset+octet-stream"
                && p.strip_prefix("/api/v1/media/uploads/").is_some_and(|id| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())
                })
        }
        _ => false,
    }
}

/// An error under `/api` that some layer answered in plain text (a router or extractor
/// rejection) gets the documented `{"error":{"code","message"}}` body, status and headers kept.
async fn json_error_shape(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned()
        });
    let json = ApiError::new(status, code_for(status), text).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, json.into_body())
}

/// The stable code for a status when nothing more precise is known.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "invalid_request",
        429 => "too_many_requests",
        431 => "headers_too_large",
        503 => "unavailable",
        504 => "upstream_timeout",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

/// What a connection's I/O and its requests tell the idle watchdog.
struct Track {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Requests handed to the service on this connection so far.
    calls: AtomicUsize,
}

impl Track {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Ends a request's in-flight count even when its future is dropped.
struct InFlight(Arc<Track>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that records activity, and rewrites hyper's own answer to a request it could
/// not parse (400, 414, 431: an empty body) into the JSON error shape. Only before the first
/// request reached the service: later, the bytes written could belong to a response body.
struct Watched {
    io: TcpStream,
    track: Arc<Track>,
    pending: Vec<u8>,
    pending_pos: usize,
}

impl Watched {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_pos < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.io).poll_write(cx, &self.pending[self.pending_pos..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_pos += n;
            self.track.touch();
        }
        Poll::Ready(Ok(()))
    }
}

/// hyper's automatic response to a parse error, as JSON: `buf` is the whole head it wrote.
fn rewrite_parse_error(buf: &[u8]) -> Option<Vec<u8>> {
    if buf.len() > 512 || !buf.starts_with(b"HTTP/1.") || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let status: u16 = std::str::from_utf8(buf.get(9..12)?).ok()?.parse().ok()?;
    let head = std::str::from_utf8(buf).ok()?.to_ascii_lowercase();
    if !(400..600).contains(&status) || !head.contains("content-length: 0\r\n") {
        return None;
    }
    let status = StatusCode::from_u16(status).ok()?;
    let message = match status.as_u16() {
        414 => "the request target is too long",
        431 => "the request headers are too large",
        _ => "the request could not be parsed as HTTP",
    };
    let body =
        serde_json::json!({"error": {"code": code_for(status), "message": message}}).to_string();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.track.touch();
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        if self.track.calls.load(Ordering::Relaxed) == 0 {
            if let Some(json) = rewrite_parse_error(buf) {
                self.pending = json;
                self.pending_pos = 0;
                let _ = self.drain(cx)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, buf))?;
        if n > 0 {
            self.track.touch();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.track.calls.load(Ordering::Relaxed) == 0 {
            // Before the first request: small writes only (a parse error or HTTP/2 settings).
            let flat: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            return self.poll_write(cx, &flat);
        }
        std::task::ready!(self.drain(cx))?;
        let n = std::task::ready!(Pin::new(&mut self.io).poll_write_vectored(cx, bufs))?;
        if n > 0 {
            self.track.touch();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Accept connections until `shutdown` resolves, at most `max_connections` at a time, each
/// under the `[http]` timeouts; then let in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    service: EdgeService,
    http: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(http.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            // Responses go out as soon as they are written (Nagle against delayed ACKs).
            tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
        }
        let watcher = graceful.watcher();
        let service = service.clone();
        let http = http.clone();
        tokio::spawn(async move {
            connection(stream, addr, service, &http, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    service: EdgeService,
    http: &HttpConfig,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let track = Arc::new(Track::new());
    let io = TokioIo::new(Watched {
        io: stream,
        track: track.clone(),
        pending: Vec::new(),
        pending_pos: 0,
    });
    let body_timeout = http.body_read_timeout();
    let svc_track = track.clone();
    let hyper_service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let service = service.clone();
        let track = svc_track.clone();
        track.calls.fetch_add(1, Ordering::Relaxed);
        track.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(track);
        let mut req =
            req.map(|b| Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, b)));
        req.extensions_mut().insert(ConnectInfo(addr));
        async move {
            let res = service.oneshot(req).await;
            drop(guard);
            res
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_read_timeout())
        .max_buf_size(http.max_header_bytes.max(8192));
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(io, hyper_service);
    let conn = watcher.watch(conn.into_owned());
    tokio::pin!(conn);
    let idle = http.idle_timeout();
    loop {
        let wake = track.last() + idle;
        tokio::select! {
            result = &mut conn => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake) => {
                if track.in_flight.load(Ordering::Relaxed) > 0 {
                    // A request is being worked on: the request deadline bounds it.
                    track.touch();
                    continue;
                }
                if track.last() + idle <= Instant::now() {
                    tracing::debug!(%addr, "idle connection closed");
                    return;
                }
            }
        }
    }
}

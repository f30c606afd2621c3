//! Connections to one upstream instance: a pool of idle HTTP/1.1 keep-alive connections, or
//! one shared HTTP/2 connection (prior knowledge, `h2c://`), on hyper's connection API.
//!
//! A request takes an idle connection that is ready (else the newest one, waiting for it to
//! finish its previous exchange) or dials a new one. An HTTP/1.1 connection goes back to the
//! pool when its response body has been read to the end; one dropped half-read is closed. A
//! request that a reused connection refused before writing it (the upstream had closed it) is
//! sent again on another, as it never reached the upstream; nothing that may have been written
//! is ever sent twice.

use crate::catalogue::{Proto, UpstreamUrl};
use axum::body::Body;
use bytes::Bytes;
use fanz_config::gateway::GatewayConfig;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("connect to {0}: timed out")]
    ConnectTimeout(String),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

struct Idle {
    tx: http1::SendRequest<Body>,
    since: Instant,
}

/// The connections of one instance.
pub(crate) struct Pool {
    proto: Proto,
    /// `host:port` to dial.
    addr: String,
    /// `Host` for HTTP/1.1 requests.
    host: HeaderValue,
    /// `http://host:port` for HTTP/2 request URIs (`:scheme`, `:authority`).
    origin: String,
    connect_timeout: Duration,
    max_idle: usize,
    idle_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
    /// Held across the dial, so that concurrent first requests share one connection.
    h2: tokio::sync::Mutex<Option<http2::SendRequest<Body>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("proto", &self.proto)
            .field("addr", &self.addr)
            .field("idle", &self.idle_count())
            .finish()
    }
}

impl Pool {
    pub fn new(url: &UpstreamUrl, cfg: &GatewayConfig) -> Self {
        let a = &url.authority;
        let addr = format!("{}:{}", a.host(), a.port_u16().unwrap_or(80));
        Self {
            proto: url.proto,
            host: HeaderValue::from_str(a.as_str()).expect("an authority is a valid header"),
            origin: format!("http://{a}"),
            addr,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            max_idle: cfg.pool_max_idle_per_host,
            idle_timeout: Duration::from_millis(cfg.pool_idle_timeout_ms),
            idle: Mutex::new(Vec::new()),
            h2: tokio::sync::Mutex::new(None),
        }
    }

    /// Send `req`, whose URI holds only the path and query; `Host` is set here (for HTTP/2,
    /// `:authority` takes its place). The response body holds `guard` until it ends.
    pub async fn send<G>(
        self: &Arc<Self>,
        mut req: Request<Body>,
        guard: G,
    ) -> Result<Response<Pooled<G>>, Error> {
        match self.proto {
            Proto::Http1 => {
                match req.headers_mut().get_mut(header::HOST) {
                    Some(host) => *host = self.host.clone(),
                    None => {
                        req.headers_mut().insert(header::HOST, self.host.clone());
                    }
                }
                self.send_h1(req, guard).await
            }
            Proto::Http2 => {
                // `:authority` comes from the URI.
                req.headers_mut().remove(header::HOST);
                let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
                if let Ok(uri) = format!("{}{pq}", self.origin).parse() {
                    *req.uri_mut() = uri;
                }
                let mut tx = self.h2_sender().await?;
                tx.ready().await?;
                let res = tx.send_request(req).await?;
                Ok(res.map(|body| Pooled {
                    body,
                    back: None,
                    guard: Some(guard),
                }))
            }
        }
    }

    async fn send_h1<G>(
        self: &Arc<Self>,
        mut req: Request<Body>,
        guard: G,
    ) -> Result<Response<Pooled<G>>, Error> {
        loop {
            let (mut tx, reused) = match self.take_idle() {
                Some(tx) => (tx, true),
                None => (self.dial_h1().await?, false),
            };
            if let Err(e) = tx.ready().await {
                if reused {
                    continue; // closed while idle: nothing was sent
                }
                return Err(e.into());
            }
            match tx.try_send_request(req).await {
                Ok(res) => {
                    let back = Some(Return {
                        pool: self.clone(),
                        tx,
                    });
                    return Ok(res.map(|body| Pooled {
                        body,
                        back,
                        guard: Some(guard),
                    }));
                }
                Err(mut e) => match e.take_message() {
                    // Refused before a byte was written: safe to send on another connection.
                    Some(r) if reused => req = r,
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }

    /// A ready idle connection (the oldest), else the newest idle one; closed and expired ones
    /// are dropped on the way (the health checks come by here too, so an instance without
    /// traffic does not hold its connections open past the idle timeout).
    fn take_idle(&self) -> Option<http1::SendRequest<Body>> {
        let now = Instant::now();
        let idle_timeout = self.idle_timeout;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|c| !c.tx.is_closed() && now.saturating_duration_since(c.since) < idle_timeout);
        if let Some(i) = idle.iter().position(|c| c.tx.is_ready()) {
            return Some(idle.remove(i).tx);
        }
        idle.pop().map(|c| c.tx)
    }

    fn put_back(&self, tx: http1::SendRequest<Body>) {
        if tx.is_closed() {
            return;
        }
        // Expired connections are dropped at checkout (`take_idle`), which every request and
        // health check passes through just before this.
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                tx,
                since: Instant::now(),
            });
        }
    }

    /// Idle HTTP/1.1 connections held now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    async fn dial(&self) -> Result<TokioIo<TcpStream>, Error> {
        let stream = match tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect(&self.addr),
        )
        .await
        {
            Err(_) => return Err(Error::ConnectTimeout(self.addr.clone())),
            Ok(r) => r.map_err(|e| Error::Connect(self.addr.clone(), e))?,
        };
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        Ok(TokioIo::new(stream))
    }

    async fn dial_h1(&self) -> Result<http1::SendRequest<Body>, Error> {
        let io = self.dial().await?;
        let (tx, conn) = http1::handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(tx)
    }

    async fn h2_sender(&self) -> Result<http2::SendRequest<Body>, Error> {
        let mut slot = self.h2.lock().await;
        if let Some(tx) = slot.as_ref().filter(|tx| !tx.is_closed()) {
            return Ok(tx.clone());
        }
        let io = self.dial().await?;
        let (tx, conn) = http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
            }
        });
        *slot = Some(tx.clone());
        Ok(tx)
    }
}

/// Hands an HTTP/1.1 connection back to its pool.
struct Return {
    pool: Arc<Pool>,
    tx: http1::SendRequest<Body>,
}

pin_project_lite::pin_project! {
    /// An upstream response body. Read to the end, its connection goes back to the pool; at
    /// its end (or an error, or when dropped) it lets go of the caller's `guard`.
    pub struct Pooled<G = ()> {
        #[pin]
        body: Incoming,
        back: Option<Return>,
        guard: Option<G>,
    }

    impl<G> PinnedDrop for Pooled<G> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.body.is_end_stream() {
                if let Some(r) = this.back.take() {
                    r.pool.put_back(r.tx);
                }
            }
        }
    }
}

impl<G> HttpBody for Pooled<G> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.project();
        let r = this.body.poll_frame(cx);
        match &r {
            Poll::Ready(None) => {
                if let Some(b) = this.back.take() {
                    b.pool.put_back(b.tx);
                }
                this.guard.take();
            }
            Poll::Ready(Some(Err(_))) => {
                this.back.take();
                this.guard.take();
            }
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

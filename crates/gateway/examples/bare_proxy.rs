//! The floor for the gateway benchmark: a reverse proxy on the same stack (tokio, hyper's
//! HTTP/1.1 server and client connections, mimalloc not included) that does nothing but
//! forward: no routing, no headers added or removed, no health, limits, cache or metrics.
//! `bench/gateway.sh` runs it beside nginx and the gateway, so the cost of the stack and the
//! cost of the gateway's own work can be told apart.
//!
//!     cargo build --release -p fanz-gateway --example bare_proxy
//!     bare_proxy 127.0.0.1:18305 127.0.0.1:18301

use axum::body::Body;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

type Idle = Arc<Mutex<Vec<http1::SendRequest<Incoming>>>>;

async fn forward(
    idle: Idle,
    upstream: Arc<str>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, String> {
    let pooled = idle.lock().expect("pool").pop();
    let mut tx = match pooled {
        Some(tx) => tx,
        None => {
            let stream = TcpStream::connect(&*upstream)
                .await
                .map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (tx, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            tx
        }
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    *req.uri_mut() = pq.parse().map_err(|_| "bad path".to_owned())?;
    tx.ready().await.map_err(|e| e.to_string())?;
    let res = tx.send_request(req).await.map_err(|e| e.to_string())?;
    // Back to the pool at once: the next request waits in `ready` until this body is read.
    idle.lock().expect("pool").push(tx);
    Ok(res.map(Body::new))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_proxy LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(&listen).await.expect("listen");
    let upstream: Arc<str> = upstream.into();
    let idle: Idle = Arc::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (idle, upstream) = (idle.clone(), upstream.clone());
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req| forward(idle.clone(), upstream.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

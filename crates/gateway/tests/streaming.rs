//! Streaming through the proxy with flat memory. Its own test binary: the check reads the
//! process's resident memory, which tests running beside it in one process would disturb.

mod support;

use axum::body::Body;
use axum::http::StatusCode;
use support::*;

/// 1 GiB each way by default (`FANZ_TEST_STREAM_BYTES` overrides): the gateway must not
/// buffer, so the process grows by far less than the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_both_ways_with_flat_memory() {
    let size: u64 = std::env::var("FANZ_TEST_STREAM_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let a = Upstream::start("a").await;
    let (_gw, base) = gateway(config(), &service("svc", &[&a], "")).await;
    let client = client();
    // Warm up connections and allocator pools before the baseline.
    let _ = call(
        &client,
        "POST",
        &format!("{base}/api/gateway/proxy/svc/sink"),
        &[],
        Body::new(Repeat::new(1 << 20)),
    )
    .await;
    let baseline = rss_bytes();

    let res = call(
        &client,
        "POST",
        &format!("{base}/api/gateway/proxy/svc/sink"),
        &[("content-type", "application/octet-stream")],
        Body::new(Repeat::new(size)),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.text(),
        size.to_string(),
        "every byte reached the upstream"
    );

    let req = axum::http::Request::get(format!("{base}/api/gateway/proxy/svc/source/{size}"))
        .body(Body::empty())
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let mut got: u64 = 0;
    use http_body_util::BodyExt;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            got += d.len() as u64;
        }
    }
    assert_eq!(got, size, "every byte came back");

    if let (Some(before), Some(after)) = (baseline, rss_bytes()) {
        let growth = after.saturating_sub(before);
        let limit = (64 << 20).min(size / 4).max(16 << 20);
        assert!(
            growth < limit,
            "memory grew by {} MiB while streaming {} MiB",
            growth >> 20,
            size >> 20
        );
    }
}

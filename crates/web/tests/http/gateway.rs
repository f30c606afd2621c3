//! The gateway as mounted in the app: identity at the edge (bearer, API key, session cookie),
//! builtins served in-process, an external upstream registered at runtime, /metrics.

use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A small upstream on a real socket.
async fn upstream() -> String {
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/hello",
            axum::routing::get(|| async { "hello from upstream" }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

on_both_backends!(gateway_in_the_app);

async fn gateway_in_the_app(app: TestApp) {
    let stats: Value = app
        .get("/api/gateway/services/registry/stats", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 94);
    let active_before = stats["active"].as_u64().unwrap();
    assert!(
        active_before >= 20,
        "the clusters and modules of this binary: {stats}"
    );

    // A builtin is served in-process at its route.
    app.user("maya").await;
    let res = app
        .get("/api/gateway/proxy/social-fanzfollow/maya", None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["handle"], "maya");
    let res = app.get("/api/gateway/proxy/ai-fanzmod/scan", None).await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;

    // Registration: admins only, with a bearer token or an API key.
    let url = upstream().await;
    let (fan, _) = app.user("fan").await;
    let res = app
        .post(
            "/api/gateway/services/payment-fanztax/instances",
            json!({"url": url}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = app.admin().await;
    let key: Value = app
        .post(
            "/api/v1/auth/api-keys",
            json!({"name": "deployer"}),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/api/gateway/services/payment-fanztax/instances"))
        .header("x-api-key", key["key"].as_str().unwrap())
        .json(&json!({"url": url, "health_path": "/healthz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let instance = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.state.gateway.check_health_now().await;
    let health: Value = app
        .get("/api/gateway/services/payment-fanztax/health", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "active", "{health}");
    // Anonymous callers and fans see the status, not where the instance is or how it is
    // checked; the admin sees both.
    let host = url.trim_start_matches("http://");
    for token in [None, Some(fan.as_str())] {
        for path in [
            "/api/gateway/services/payment-fanztax/health",
            "/api/gateway/services/list",
            "/api/gateway/services/category/payment-finance",
        ] {
            let res = app.get(path, token).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let text = res.text().await.unwrap();
            assert!(
                !text.contains(host)
                    && !text.contains("/healthz")
                    && !text.contains("\"instances\""),
                "{path} shows instances to a non-admin: {text}"
            );
        }
    }
    let seen: Value = app
        .get("/api/gateway/services/payment-fanztax/health", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["instances"][0]["url"], url.as_str(), "{seen}");
    assert_eq!(seen["instances"][0]["healthPath"], "/healthz", "{seen}");
    let stats: Value = app
        .get("/api/gateway/services/registry/stats", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["active"].as_u64().unwrap(), active_before + 1);

    let res = app
        .get("/api/gateway/proxy/payment-fanztax/hello", None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.text().await.unwrap(), "hello from upstream");

    // The admin page, signed in with the session cookie.
    let page = app
        .client
        .get(app.url("/admin/gateway"))
        .header("cookie", format!("fanz_session={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("FanzTax") && html.contains(&instance));

    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    for needle in [
        "gateway_requests_total{service=\"payment-fanztax\",class=\"2xx\"}",
        "gateway_request_duration_seconds_bucket{service=\"payment-fanztax\"",
        "gateway_upstream_errors_total{service=\"payment-fanztax\"",
        &format!("gateway_breaker_state{{service=\"payment-fanztax\",instance=\"{instance}\"}} 0"),
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}");
    }
}

use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::Value;

on_both_backends!(
    health_and_metrics,
    openapi_covers_every_route,
    error_shapes,
    clusters_api
);

async fn health_and_metrics(app: TestApp) {
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ready");
    app.get("/api/v1/clusters", None).await;
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("http_requests_total{")
                && l.contains("route=\"/api/v1/clusters\"")
                && l.contains("status=\"200\"")),
        "request counter by route missing:\n{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket{"),
        "latency histogram missing"
    );

    // Readiness follows the store.
    app.store.close().await;
    let res = app.get("/readyz", None).await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
}

async fn openapi_covers_every_route(app: TestApp) {
    let doc: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in [
        ("post", "/api/v1/auth/signup"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/logout"),
        ("post", "/api/v1/auth/totp/enrol"),
        ("post", "/api/v1/auth/totp/verify"),
        ("post", "/api/v1/auth/totp/disable"),
        ("post", "/api/v1/auth/password/forgot"),
        ("post", "/api/v1/auth/password/reset"),
        ("post", "/api/v1/auth/api-keys"),
        ("get", "/api/v1/auth/api-keys"),
        ("delete", "/api/v1/auth/api-keys/{id}"),
        ("get", "/api/v1/me"),
        ("patch", "/api/v1/me/profile"),
        ("post", "/api/v1/me/creator"),
        ("get", "/api/v1/profiles/{handle}"),
        ("post", "/api/v1/profiles/{handle}/follow"),
        ("delete", "/api/v1/profiles/{handle}/follow"),
        ("get", "/api/v1/clusters"),
        ("get", "/api/v1/clusters/{slug}"),
        ("get", "/api/v1/admin/mail-outbox"),
        ("get", "/api/v1/admin/audit"),
        ("post", "/api/v1/admin/users/{id}/roles"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} not documented"
        );
    }
    // Every documented operation answers (not 404/405) on the running server.
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let url = app.url(
                &path
                    .replace("{id}", "1")
                    .replace("{handle}", "nobody")
                    .replace("{slug}", "boyfanz"),
            );
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(m, url)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            assert!(
                res.status() != StatusCode::METHOD_NOT_ALLOWED
                    && !(res.status() == StatusCode::NOT_FOUND
                        && res.text().await.unwrap().contains("no route")),
                "{method} {path} is documented but not routed"
            );
        }
    }
    let docs = app.get("/api/docs", None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("/api/v1/auth/signup") && html.contains("/api/v1/me"));
}

async fn error_shapes(app: TestApp) {
    assert_error(
        app.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    let res = app
        .post("/api/v1/auth/signup", serde_json::json!({"email": 5}), None)
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .body("email=a")
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let res = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let res = app.client.put(app.url("/api/v1/me")).send().await.unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    // Request ids: generated, or the caller's kept; security headers on every response.
    let res = app.get("/healthz", None).await;
    assert!(res
        .headers()
        .get("x-request-id")
        .is_some_and(|v| v.len() >= 32));
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-abc-123");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        res.headers()["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
}

async fn clusters_api(app: TestApp) {
    let res = app.get("/api/v1/clusters", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let list = body["clusters"].as_array().unwrap();
    assert_eq!(list.len(), 21);
    let boy = list.iter().find(|c| c["slug"] == "boyfanz").unwrap();
    assert_eq!(boy["name"], "BoyFanz");
    assert!(boy["theme"]["primary"].as_str().unwrap().starts_with('#'));
    let cock = list.iter().find(|c| c["slug"] == "fanzcock").unwrap();
    assert_eq!(cock["policy"]["feed"], "vertical");
    let one: Value = app
        .get("/api/v1/clusters/taboofanz", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["policy"]["extra_gating"], true);
    assert_error(
        app.get("/api/v1/clusters/nope", None).await,
        StatusCode::NOT_FOUND,
        "cluster_not_found",
    )
    .await;
}

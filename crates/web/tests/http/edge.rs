//! The edge, through HTTP: NUL characters refused before any SQL, security headers on every
//! response however routed, the CSRF rule for cookie-authenticated requests, the JSON error
//! shape of every failure under /api (hyper's own parse errors too), and the connection
//! limits and timeouts against hostile clients (loopback only, bounded in count; the
//! assertions are on closure and status, not on durations).

use crate::harness::{assert_error, spawn_with, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_both_backends!(
    nul_characters_are_refused,
    security_headers_on_every_response,
    cookie_requests_need_same_origin,
    api_errors_are_json,
);

async fn nul_characters_are_refused(app: TestApp) {
    // Without signing in: the login e-mail, a profile path, a page path.
    let res = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "a\u{0}b@example.com", "password": "whatever it is"}),
            None,
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_character").await;
    let res = app.get("/api/v1/profiles/a%00b", None).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_character").await;
    let res = app.get("/@a%00b", None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Sign-up with a NUL in the handle stores nothing.
    let res = app
        .post(
            "/api/v1/auth/signup",
            json!({"email": "nul@example.com", "handle": "nu\u{0}ll", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_character").await;
    app.signup("nul@example.com", "nulless", "correct horse battery")
        .await;

    // An escaped backslash followed by `u0000` is text, not a NUL.
    let (token, _) = app.user("writer").await;
    let res = app
        .client
        .patch(app.url("/api/v1/me/profile"))
        .bearer_auth(&token)
        .json(&json!({"bio": "a \\u0000 b"}))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), StatusCode::BAD_REQUEST);

    // Queries, with a finance caller.
    let admin = app.admin().await;
    let res = app
        .get(
            "/api/v1/ledger/reports/profit-and-loss?from=%00",
            Some(&admin),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_character").await;
    let res = app
        .post(
            "/api/v1/ledger/accounts",
            json!({"code": "assets:x\u{0}", "name": "x", "kind": "asset", "currency": "USD"}),
            Some(&admin),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_character").await;
}

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
    ] {
        assert!(res.headers().contains_key(name), "{what}: no {name}");
    }
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors"), "{what}: {csp}");
}

async fn security_headers_on_every_response(app: TestApp) {
    let (token, _) = app.user("maya").await;
    // A page rendered through the proxy, signed in by cookie.
    let res = app
        .client
        .get(app.url("/api/gateway/proxy/content-boyfanz/settings"))
        .header("cookie", format!("fanz_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_security_headers(&res, "proxied /settings");
    // A proxied JSON answer, a proxied miss, an unavailable service, the app's own pages.
    for path in [
        "/api/gateway/proxy/social-fanzfollow/maya",
        "/api/gateway/proxy/content-boyfanz/nothing-here",
        "/api/gateway/proxy/ai-fanzmod/scan",
        "/api/gateway/proxy/no-such-service/x",
        "/settings",
        "/api/v1/clusters",
        "/healthz",
    ] {
        let res = app.get(path, None).await;
        assert_security_headers(&res, path);
    }
}

async fn cookie_requests_need_same_origin(app: TestApp) {
    let admin = app.admin().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let url = app.url("/api/gateway/services/payment-fanztax/instances");
    let body = json!({"url": "http://127.0.0.1:9", "health_path": "/healthz"}).to_string();
    let send = |origin: Option<String>, site: Option<&'static str>, ct: &'static str| {
        let mut req = app
            .client
            .post(&url)
            .header(
                "cookie",
                format!("fanz_session={admin}; fanz_csrf=tok{}", "x".repeat(40)),
            )
            .header("content-type", ct)
            .body(body.clone());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    // The finding: cookie, text/plain, any origin.
    let res = send(Some("http://evil.example".into()), None, "text/plain")
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    // No origin information at all, or a cross-site fetch.
    let res = send(None, None, "application/json").await.unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = send(None, Some("cross-site"), "application/json")
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = send(Some("http://evil.example".into()), None, "application/json")
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    // Same origin, but not JSON.
    let res = send(Some(format!("http://{host}")), None, "text/plain")
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // Same origin and JSON: allowed.
    let res = send(Some(format!("http://{host}")), None, "application/json")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = send(None, Some("same-origin"), "application/json")
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    // The CSRF token in a header instead of an origin.
    let res = app
        .client
        .post(&url)
        .header(
            "cookie",
            format!("fanz_session={admin}; fanz_csrf=tok{}", "x".repeat(40)),
        )
        .header("x-csrf-token", format!("tok{}", "x".repeat(40)))
        .json(&json!({"url": "http://127.0.0.1:10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // A bearer token is not ambient: no origin needed (even with a cookie alongside).
    let res = app
        .client
        .post(&url)
        .header("cookie", format!("fanz_session={admin}"))
        .bearer_auth(&admin)
        .json(&json!({"url": "http://127.0.0.1:11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // A cross-site page form is refused even with a valid-looking csrf field.
    let res = app
        .client
        .post(app.url("/settings/profile"))
        .header("cookie", format!("fanz_session={admin}"))
        .header("origin", "http://evil.example")
        .form(&[("csrf", "whatever"), ("display_name", "pwned")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn api_errors_are_json(app: TestApp) {
    let admin = app.admin().await;
    // Path and query parse failures.
    let res = app.get("/api/v1/ledger/entries/abc", Some(&admin)).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_path").await;
    let res = app
        .get(
            "/api/v1/ledger/accounts/assets:cash/history?limit=many",
            Some(&admin),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app
        .get("/api/v1/ledger/trial-balance?format=xml", Some(&admin))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    // A long target.
    let long = format!("/api/v1/profiles/{}", "a".repeat(10_000));
    let res = app.get(&long, None).await;
    assert_error(res, StatusCode::URI_TOO_LONG, "uri_too_long").await;

    // hyper's own answers to what it cannot parse, on raw connections.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let big = format!(
        "GET /api/v1/clusters HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (status, body) = raw_exchange(&addr, big.as_bytes()).await;
    assert_eq!(status, 431, "{body}");
    assert_eq!(json_code(&body), "headers_too_large");
    let framing = "POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n";
    let (status, body) = raw_exchange(&addr, framing.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_code(&body), "bad_request");
    let garbage = "GET /\u{1} HTTP/1.1\r\nhost: x\r\n\r\n";
    let (status, body) = raw_exchange(&addr, garbage.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_code(&body), "bad_request");
}

fn json_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    v["error"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Write `request` on a fresh connection and read the whole answer (the server closes).
async fn raw_exchange(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

// ---------------------------------------------------------------------------------------------
// Hostile connections

async fn tight(backend: fanz_store::Backend) -> Option<TestApp> {
    spawn_with(backend, |c| {
        c.http.header_read_timeout_secs = 1;
        c.http.body_read_timeout_secs = 1;
        c.http.idle_timeout_secs = 1;
        c.http.request_timeout_secs = 2;
    })
    .await
}

/// Whether the server closed `s`: a read gives EOF or an error. Reads for at most `rounds`
/// pauses of 200 ms while sending `trickle` bytes one by one (a slow client).
async fn closed_by_server(s: &mut TcpStream, trickle: &[u8], rounds: usize) -> bool {
    let mut buf = [0u8; 4096];
    for i in 0..rounds {
        if let Some(b) = trickle.get(i) {
            if s.write_all(&[*b]).await.is_err() {
                return true;
            }
        }
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {} // a response (408/503) before the close
            Err(_) => {}
        }
    }
    false
}

async fn hostile_connections_are_closed(backend: fanz_store::Backend) {
    let Some(app) = tight(backend).await else {
        return;
    };
    let addr = app.base.trim_start_matches("http://").to_owned();
    // 150 rounds of 200 ms: far beyond every timeout, still a bounded test.
    const ROUNDS: usize = 150;

    // Silent: connects and sends nothing.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(closed_by_server(&mut silent, b"", ROUNDS).await, "silent");

    // Slow headers: one byte at a time, never finishing.
    let head = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: {}",
        "a".repeat(500)
    );
    let mut slow_head = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_by_server(&mut slow_head, head.as_bytes(), ROUNDS).await,
        "slow headers"
    );

    // Slow body: the head at once, then the body one byte at a time.
    let mut slow_body = TcpStream::connect(&addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n",
        )
        .await
        .unwrap();
    let body = vec![b' '; 1000];
    assert!(
        closed_by_server(&mut slow_body, &body, ROUNDS).await,
        "slow body"
    );

    // Body stalls after the head.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut stalled, b"", ROUNDS).await,
        "stalled body"
    );

    // Idle keep-alive after a complete exchange.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_by_server(&mut idle, b"", ROUNDS).await, "idle");

    // The server still answers.
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_connections_are_closed_sqlite() {
    hostile_connections_are_closed(fanz_store::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_connections_are_closed_postgres() {
    hostile_connections_are_closed(fanz_store::Backend::Postgres).await;
}

/// Beyond `max_in_flight` the answer is 503 at once, not a queue; beyond `max_connections` a
/// client waits for a free slot.
async fn limits_shed_load(backend: fanz_store::Backend) {
    let Some(app) = spawn_with(backend, |c| {
        c.http.max_in_flight = 1;
        c.http.max_connections = 2;
        c.http.body_read_timeout_secs = 120;
        c.http.request_timeout_secs = 120;
    })
    .await
    else {
        return;
    };
    let addr = app.base.trim_start_matches("http://").to_owned();
    // The server is up and answering before the slot is taken.
    let (status, _) = raw_exchange(
        &addr,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    // One request in flight: its body is still coming.
    let mut busy = TcpStream::connect(&addr).await.unwrap();
    busy.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{",
    )
    .await
    .unwrap();
    // Give the server a moment to read its head (the loop below waits longer if it needs to).
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Wait until the server counts it (the request reached the service).
    let mut shed = None;
    let mut seen = Vec::new();
    for _ in 0..200 {
        let (status, body) = raw_exchange(
            &addr,
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        if status == 503 {
            shed = Some(body);
            break;
        }
        seen.push(status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = shed.unwrap_or_else(|| panic!("nothing shed beyond max_in_flight: {seen:?}"));
    assert_eq!(json_code(&body), "overloaded");
    // The busy request completes normally.
    busy.write_all(b"}").await.unwrap();
    let mut out = vec![0u8; 4096];
    let n = busy.read(&mut out).await.unwrap();
    let head = String::from_utf8_lossy(&out[..n]);
    assert!(head.starts_with("HTTP/1.1 422"), "{head}");

    // Two connections held open (each served once, so both are surely accepted); a third is
    // not served until one goes.
    let mut hold = TcpStream::connect(&addr).await.unwrap();
    hold.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = hold.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond max_connections");
    drop(busy);
    let n = tokio::time::timeout(Duration::from_secs(30), third.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(hold);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_shed_load_sqlite() {
    limits_shed_load(fanz_store::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_shed_load_postgres() {
    limits_shed_load(fanz_store::Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_owned());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

on_both_backends!(openapi_is_complete);

async fn openapi_is_complete(app: TestApp) {
    let doc: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "unresolvable $ref {r}"
        );
    }
    // JSON is documented where JSON is the default answer.
    for path in ["/api/v1/ledger/trial-balance", "/api/v1/ledger/export"] {
        let content = &doc["paths"][path]["get"]["responses"]["200"]["content"];
        assert!(
            content.get("application/json").is_some(),
            "{path}: {content}"
        );
        assert!(content.get("text/csv").is_some(), "{path}: {content}");
    }
    // 401 wherever a credential is required, 400/415 wherever JSON is read.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            if op
                .get("security")
                .is_some_and(|s| !s.as_array().unwrap().is_empty())
            {
                assert!(responses.get("401").is_some(), "{method} {path}: no 401");
            }
            if op["requestBody"]["content"]
                .get("application/json")
                .is_some()
            {
                for status in ["400", "415"] {
                    assert!(
                        responses.get(status).is_some(),
                        "{method} {path}: no {status}"
                    );
                }
            }
        }
    }
    // Constraints the server enforces are in the schemas.
    let signup = &doc["components"]["schemas"]["SignupRequest"]["properties"];
    assert_eq!(signup["password"]["minLength"], 10);
    assert_eq!(signup["email"]["maxLength"], 254);
    assert!(signup["handle"]["pattern"].is_string());
    let share = &doc["components"]["schemas"]["ShareRequest"]["properties"];
    assert_eq!(share["share_bps"]["maximum"], 10000);
    assert_eq!(
        doc["components"]["schemas"]["ExportFormat"]["enum"],
        json!(["csv", "json"])
    );
}

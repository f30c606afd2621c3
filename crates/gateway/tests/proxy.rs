//! The gateway in front of real upstream servers on loopback sockets: failover, breaker,
//! retries that never duplicate a POST, the cache, rate limits, timeouts, streaming, edge
//! headers and the registry endpoints. No assertion depends on how long something took.

mod support;

use axum::body::Body;
use axum::http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_when_an_instance_dies_mid_load_loses_no_get() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let (_gw, base) = gateway(config(), &service("svc", &[&a, &b], "")).await;
    let client = client();
    let url = format!("{base}/api/gateway/proxy/svc/hello");

    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (client, url, done) = (client.clone(), url.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..150 {
                let res = get(&client, &url).await;
                if res.status != StatusCode::OK {
                    failures.push(format!("{} {}", res.status, res.text()));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            failures
        }));
    }
    // Kill `a` once the load is well under way (both instances serving).
    while done.load(std::sync::atomic::Ordering::SeqCst) < 300 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(a.hits() > 0 && b.hits() > 0, "both instances served");
    a.kill();
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    assert!(failures.is_empty(), "failed GETs: {failures:?}");
    // A GET cut off at `a` was replayed on `b`: every request reached an instance at least once.
    assert!(a.hits() + b.hits() >= 1200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_failures_and_recovers_through_a_probe() {
    let a = Upstream::start("a").await;
    let mut cfg = config();
    cfg.retry.max_retries = 0;
    cfg.breaker.consecutive_failures = 3;
    cfg.breaker.open_ms = 100;
    let (gw, base) = gateway(cfg, &service("svc", &[&a], "")).await;
    let client = client();
    let url = format!("{base}/api/gateway/proxy/svc/hello");
    let breaker = |gw: &fanz_gateway::Gateway| {
        let svc = gw.services().into_iter().find(|s| s.id == "svc").unwrap();
        serde_json::to_value(svc.instances()[0].breaker).unwrap()
    };

    a.set_failing(true);
    for _ in 0..3 {
        assert_eq!(
            get(&client, &url).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(breaker(&gw), "open");
    let hits = a.hits();
    let res = get(&client, &url).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.error_code(), "service_unavailable");
    assert_eq!(a.hits(), hits, "an open breaker sends nothing upstream");

    // Still failing when the probe goes through: it opens again.
    let reopened = eventually(|| async {
        if a.hits() > hits {
            return true;
        }
        let _ = get(&client, &url).await;
        false
    })
    .await;
    assert!(reopened, "a half-open probe reached the instance");
    assert_eq!(breaker(&gw), "open");

    a.set_failing(false);
    let recovered =
        eventually(|| async { get(&client, &url).await.status == StatusCode::OK }).await;
    assert!(recovered, "the breaker let a probe through and closed");
    assert_eq!(breaker(&gw), "closed");
    assert_eq!(get(&client, &url).await.text(), "hello from a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_never_retried_but_a_get_is() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let (_gw, base) = gateway(config(), &service("svc", &[&a, &b], "")).await;
    let client = client();

    // The instance that takes the POST processes it and dies before answering.
    let res = call(
        &client,
        "POST",
        &format!("{base}/api/gateway/proxy/svc/charge-and-die"),
        &[("content-type", "application/json")],
        Body::from("{\"amount\":100}"),
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.text());
    assert_eq!(res.error_code(), "upstream_unreachable");
    assert_eq!(a.posts() + b.posts(), 1, "processed once, never replayed");

    // A 503 answer to a POST is passed back, not retried on the other instance either.
    let survivor = if a.posts() == 1 { &b } else { &a };
    survivor.set_failing(true);
    let before = survivor.hits();
    let res = call(
        &client,
        "POST",
        &format!("{base}/api/gateway/proxy/svc/hello"),
        &[],
        Body::from("x"),
    )
    .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(survivor.hits(), before + 1);
    survivor.set_failing(false);

    // The same death for a GET is retried on the survivor.
    let res = get(&client, &format!("{base}/api/gateway/proxy/svc/hello")).await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_kept_alive_and_reused() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let catalogue = format!(
        "{}\n[[service]]\nid = \"svc2\"\nname = \"svc2\"\ncategory = \"infrastructure\"\nport = 1\nprovider = \"upstream\"\n[[service.instance]]\nurl = \"{}\"\n",
        service("svc", &[&a], ""),
        b.h2c_url()
    );
    let (_gw, base) = gateway(config(), &catalogue).await;
    let client = client();

    // HTTP/1.1: one request after another, all on one pooled connection.
    for _ in 0..20 {
        let res = get(&client, &format!("{base}/api/gateway/proxy/svc/hello")).await;
        assert_eq!(res.text(), "hello from a");
    }
    assert_eq!(a.accepted(), 1, "one keep-alive connection served them all");

    // HTTP/2 with prior knowledge: concurrent requests share one connection.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url) = (
            client.clone(),
            format!("{base}/api/gateway/proxy/svc2/hello"),
        );
        set.spawn(async move { get(&client, &url).await });
    }
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "hello from b");
    }
    assert_eq!(b.accepted(), 1, "one HTTP/2 connection carried them all");

    // An upstream that closes after each answer: every request still succeeds; the first goes
    // out on the pooled connection, each of the others on a new one.
    let before = a.accepted();
    for _ in 0..5 {
        let res = get(&client, &format!("{base}/api/gateway/proxy/svc/close")).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.text(), "closing");
    }
    assert_eq!(a.accepted(), before + 4);

    // The upstream restarts: its pooled connection is dead, and a POST still goes out once,
    // on a new connection.
    a.kill_and_wait().await;
    a.restart().await;
    let res = call(
        &client,
        "POST",
        &format!("{base}/api/gateway/proxy/svc/charge"),
        &[],
        Body::from("{}"),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.text(), "charged 1");
    assert_eq!(a.posts(), 1);
    assert_eq!(a.accepted(), before + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_upstream_connections_expire() {
    let a = Upstream::start("a").await;
    let mut cfg = config();
    cfg.pool_idle_timeout_ms = 0;
    let (_gw, base) = gateway(cfg, &service("svc", &[&a], "")).await;
    let client = client();
    for _ in 0..3 {
        let res = get(&client, &format!("{base}/api/gateway/proxy/svc/hello")).await;
        assert_eq!(res.text(), "hello from a");
    }
    assert_eq!(
        a.accepted(),
        3,
        "no connection outlives a zero idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hit_miss_bypass_and_coalescing() {
    let a = Upstream::start("a").await;
    let (_gw, base) = gateway(config(), &service("svc", &[&a], "")).await;
    let client = client();
    let url = format!("{base}/api/gateway/proxy/svc/cached");

    let first = get(&client, &url).await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let second = get(&client, &url).await;
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.body, first.body);
    assert!(second.header("age").is_some());
    assert_eq!(a.hits(), 1);

    // Authenticated requests never read or fill the cache.
    let authed = call(
        &client,
        "GET",
        &url,
        &[("authorization", "Bearer fan-token")],
        Body::empty(),
    )
    .await;
    assert_eq!(authed.header("x-cache"), Some("BYPASS"));
    assert_eq!(a.hits(), 2);
    // The client asking for a fresh copy refetches.
    let fresh = call(
        &client,
        "GET",
        &url,
        &[("cache-control", "no-cache")],
        Body::empty(),
    )
    .await;
    assert_eq!(fresh.header("x-cache"), Some("MISS"));
    assert_eq!(a.hits(), 3);

    // Private responses are never stored.
    let p = format!("{base}/api/gateway/proxy/svc/private");
    get(&client, &p).await;
    let again = get(&client, &p).await;
    assert_eq!(again.header("x-cache"), Some("MISS"));
    assert_eq!(again.text(), "private 5");

    // Concurrent misses for one key make one upstream request.
    let before = a.hits();
    let url = format!("{base}/api/gateway/proxy/svc/slow-cached");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (client, url) = (client.clone(), url.clone());
        set.spawn(async move { get(&client, &url).await });
    }
    let mut bodies = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        bodies.push(r.text());
    }
    assert_eq!(a.hits(), before + 1, "coalesced");
    assert!(bodies.iter().all(|b| b == &bodies[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let a = Upstream::start("a").await;
    let mut cfg = config();
    // 2 requests, then one token per 100 s: no refill can happen during the test.
    cfg.rate_limit.per_client_rps = 0.01;
    cfg.rate_limit.per_client_burst = 2.0;
    let catalogue = format!(
        "{}{}",
        service("svc", &[&a], ""),
        service(
            "tight",
            &[&a],
            "rate_limit_rps = 0.01\nrate_limit_burst = 1.0"
        )
    );
    let (_gw, base) = gateway(cfg, &catalogue).await;
    let client = client();
    let url = format!("{base}/api/gateway/proxy/svc/hello");
    for _ in 0..2 {
        assert_eq!(get(&client, &url).await.status, StatusCode::OK);
    }
    let res = get(&client, &url).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.error_code(), "rate_limited");
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=100).contains(&retry), "{retry}");
    // Another client (a signed-in user) has its own bucket; the per-service limit still holds.
    let as_fan = |path: &str| {
        let client = client.clone();
        let url = format!("{base}/api/gateway/proxy/{path}");
        async move {
            call(
                &client,
                "GET",
                &url,
                &[("authorization", "Bearer fan-token")],
                Body::empty(),
            )
            .await
        }
    };
    assert_eq!(as_fan("tight/hello").await.status, StatusCode::OK);
    let res = as_fan("tight/hello").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.header("retry-after").is_some());
    assert_eq!(a.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_times_out_with_504() {
    let a = Upstream::start("a").await;
    let (_gw, base) = gateway(config(), &service("svc", &[&a], "timeout_ms = 300")).await;
    let res = get(&client(), &format!("{base}/api/gateway/proxy/svc/hang")).await;
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.error_code(), "upstream_timeout");
    assert_eq!(a.hits(), 1, "a timed-out request is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_headers_are_set_and_hop_by_hop_and_forged_identity_removed() {
    let a = Upstream::start("a").await;
    let mut cfg = config();
    cfg.identity_secret = "0123456789abcdef0123456789abcdef".into();
    let (_gw, base) = gateway(cfg, &service("svc", &[&a], "")).await;
    let res = call(
        &client(),
        "GET",
        &format!("{base}/api/gateway/proxy/svc/headers?x=1"),
        &[
            ("authorization", "Bearer fan-token"),
            ("x-fanz-identity", "forged"),
            ("connection", "x-private"),
            ("x-private", "secret"),
            ("x-request-id", "req-42"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
        Body::empty(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let h = res.json();
    assert_eq!(h["x-request-id"], "req-42");
    assert!(h["traceparent"]
        .as_str()
        .unwrap()
        .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h["x-forwarded-host"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(
        h.get("x-private").is_none(),
        "named in Connection: hop-by-hop"
    );
    assert!(
        h.get("authorization").is_none(),
        "credentials stay at the edge"
    );
    let identity = h["x-fanz-identity"].as_str().unwrap();
    let (caller, rid) = fanz_gateway::verify_identity(
        b"0123456789abcdef0123456789abcdef",
        identity,
        time::OffsetDateTime::now_utc().unix_timestamp(),
        60,
    )
    .expect("a valid signed identity, not the forged one");
    assert_eq!((caller.user_id, rid.as_str()), (2, "req-42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_json_errors() {
    let a = Upstream::start("a").await;
    let catalogue = format!(
        "{}[[service]]\nid = \"wallet\"\nname = \"Wallet\"\ncategory = \"payment-finance\"\nport = 2\nprovider = \"builtin:ledger\"\nroute = \"/api/v1/ledger\"\n",
        service("svc", &[&a], "")
    );
    let (_gw, base) = gateway(config(), &catalogue).await;
    let c = client();
    let admin = [
        ("authorization", "Bearer admin-token"),
        ("content-type", "application/json"),
    ];
    type Case<'a> = (
        &'a str,
        String,
        Vec<(&'a str, &'a str)>,
        &'a str,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/api/gateway/proxy/nope/x".into(),
            vec![],
            "",
            StatusCode::NOT_FOUND,
            "service_not_found",
        ),
        (
            "GET",
            "/api/gateway/services/nope/health".into(),
            vec![],
            "",
            StatusCode::NOT_FOUND,
            "service_not_found",
        ),
        (
            "GET",
            "/api/gateway/services/category/shopping".into(),
            vec![],
            "",
            StatusCode::NOT_FOUND,
            "category_not_found",
        ),
        (
            "POST",
            "/api/gateway/services/svc/instances".into(),
            admin.to_vec(),
            "{not json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_registration",
        ),
        (
            "POST",
            "/api/gateway/services/svc/instances".into(),
            admin.to_vec(),
            "{\"health_path\":\"/h\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_registration",
        ),
        (
            "POST",
            "/api/gateway/services/svc/instances".into(),
            admin.to_vec(),
            "{\"url\":\"ftp://x\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_registration",
        ),
        (
            "POST",
            "/api/gateway/services/svc/instances".into(),
            admin.to_vec(),
            "{\"url\":\"http://127.0.0.1:1\",\"health_path\":\"healthz\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_registration",
        ),
        (
            "POST",
            "/api/gateway/services/nope/instances".into(),
            admin.to_vec(),
            "{\"url\":\"http://127.0.0.1:1\"}",
            StatusCode::NOT_FOUND,
            "service_not_found",
        ),
        (
            "POST",
            "/api/gateway/services/wallet/instances".into(),
            admin.to_vec(),
            "{\"url\":\"http://127.0.0.1:1\"}",
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "POST",
            "/api/gateway/services/svc/instances".into(),
            vec![],
            "{\"url\":\"http://127.0.0.1:1\"}",
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "POST",
            "/api/gateway/services/svc/instances".into(),
            vec![("authorization", "Bearer fan-token")],
            "{\"url\":\"http://127.0.0.1:1\"}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "DELETE",
            "/api/gateway/services/svc/instances/r-nope".into(),
            admin.to_vec(),
            "",
            StatusCode::NOT_FOUND,
            "instance_not_found",
        ),
    ];
    for (method, path, headers, body, status, code) in cases {
        let res = call(
            &c,
            method,
            &format!("{base}{path}"),
            &headers,
            Body::from(body),
        )
        .await;
        assert_eq!(res.status, status, "{method} {path}: {}", res.text());
        assert_eq!(res.error_code(), code, "{method} {path}");
    }
    // A builtin whose module this binary lacks is unavailable, and says why.
    let res = get(&c, &format!("{base}/api/gateway/proxy/wallet/balance")).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.text().contains("module not in this binary"));
}

/// What a new user does: register two instances, see them measured, lose one, see it down,
/// bring it back, see it rejoin; `active` counts only what is really healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_instances_are_health_checked_and_counted_honestly() {
    let (gw, base) = gateway(config(), &service("svc", &[], "")).await;
    let c = client();
    let stats = |c: HttpClient, base: String| async move {
        get(&c, &format!("{base}/api/gateway/services/registry/stats"))
            .await
            .json()
    };
    let s = stats(c.clone(), base.clone()).await;
    assert_eq!(
        (s["total"].as_u64(), s["active"].as_u64()),
        (Some(1), Some(0))
    );
    let list = get(&c, &format!("{base}/api/gateway/services/list"))
        .await
        .json();
    assert_eq!(list["services"][0]["status"], "unavailable");

    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let admin = [
        ("authorization", "Bearer admin-token"),
        ("content-type", "application/json"),
    ];
    let mut ids = Vec::new();
    for u in [&a, &b] {
        let body = format!("{{\"url\":\"{}\",\"health_path\":\"/healthz\"}}", u.url());
        let res = call(
            &c,
            "POST",
            &format!("{base}/api/gateway/services/svc/instances"),
            &admin,
            Body::from(body.clone()),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        ids.push(res.json()["id"].as_str().unwrap().to_owned());
        // Registering the same URL again returns the same instance.
        let again = call(
            &c,
            "POST",
            &format!("{base}/api/gateway/services/svc/instances"),
            &admin,
            Body::from(body),
        )
        .await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.json()["id"], ids.last().unwrap().as_str());
    }
    gw.check_health_now().await;
    let health = admin_get(&c, &format!("{base}/api/gateway/services/svc/health"))
        .await
        .json();
    assert_eq!(health["status"], "active");
    assert_eq!(health["healthyInstances"], 2);
    assert_eq!(health["instances"][0]["healthPath"], "/healthz");
    // Anyone else sees the status and counts, never where the instances are.
    for headers in [&[][..], &[("authorization", "Bearer fan-token")][..]] {
        for path in [
            "services/svc/health",
            "services/list",
            "services/category/infrastructure",
        ] {
            let res = call(
                &c,
                "GET",
                &format!("{base}/api/gateway/{path}"),
                headers,
                Body::empty(),
            )
            .await;
            assert_eq!(res.status, StatusCode::OK, "{path}");
            let text = res.text();
            assert!(
                !text.contains(&a.addr.to_string())
                    && !text.contains(&b.addr.to_string())
                    && !text.contains("/healthz")
                    && !text.contains("\"instances\""),
                "{path} shows instances to a non-admin: {text}"
            );
            assert!(text.contains("\"healthyInstances\":2"), "{path}: {text}");
        }
    }
    assert_eq!(stats(c.clone(), base.clone()).await["active"], 1);
    let res = get(&c, &format!("{base}/api/gateway/proxy/svc/hello")).await;
    assert!(res.text().starts_with("hello from "));

    a.kill_and_wait().await;
    b.kill_and_wait().await;
    // Two failed checks in a row take an instance down (`unhealthy_threshold`).
    gw.check_health_now().await;
    gw.check_health_now().await;
    let health = admin_get(&c, &format!("{base}/api/gateway/services/svc/health"))
        .await
        .json();
    assert_eq!(health["status"], "inactive");
    assert!(health["instances"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["health"] == "down"));
    assert_eq!(stats(c.clone(), base.clone()).await["active"], 0);

    a.restart().await;
    gw.check_health_now().await;
    let health = admin_get(&c, &format!("{base}/api/gateway/services/svc/health"))
        .await
        .json();
    assert_eq!(health["status"], "active");
    assert_eq!(health["healthyInstances"], 1);
    assert_eq!(
        get(&c, &format!("{base}/api/gateway/proxy/svc/hello"))
            .await
            .text(),
        "hello from a"
    );

    // The admin page lists it with its live health, for admins only.
    let page = call(
        &c,
        "GET",
        &format!("{base}/admin/gateway"),
        &admin[..1],
        Body::empty(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains(&ids[0]) && html.contains("up") && html.contains("down"));
    assert_eq!(
        get(&c, &format!("{base}/admin/gateway")).await.status,
        StatusCode::UNAUTHORIZED
    );

    let res = call(
        &c,
        "DELETE",
        &format!("{base}/api/gateway/services/svc/instances/{}", ids[1]),
        &admin,
        Body::empty(),
    )
    .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let health = admin_get(&c, &format!("{base}/api/gateway/services/svc/health"))
        .await
        .json();
    assert_eq!(health["instances"].as_array().unwrap().len(), 1);
}

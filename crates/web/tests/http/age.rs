//! Viewer age assurance by place, through HTTP on both backends: a blocked place gets 451 on
//! everything but the legal pages, a place that needs assurance gets the check (pages) or 403
//! (API) until it passes, the pass travels as a cookie, a header or on the account, forged
//! results and tokens are refused, and the address-range file places viewers without headers.

use crate::harness::{assert_error, TestApp};
use fanz_config::Config;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

crate::on_both_backends!(config = super::by_header; region_policy_blocks_and_gates);
crate::on_both_backends!(config = super::by_header; the_check_in_the_browser_sets_a_pass_cookie);
crate::on_both_backends!(config = super::by_address; the_address_file_places_viewers);

fn by_header(c: &mut Config) {
    let a = &mut c.age_assurance;
    a.country_header = "X-Test-Country".into();
    a.region_header = "X-Test-Region".into();
    a.sandbox = true;
    a.rules.insert("*".into(), "allow".into());
    a.rules
        .insert("GB".into(), "assure: facial_estimation, photo_id".into());
    a.rules.insert("US-UT".into(), "block".into());
}

fn by_address(c: &mut Config) {
    // Every address this test connects from (127.0.0.0/8) is in GB, which is blocked.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut file,
        b"ip_start,ip_end,country,region\n10.0.0.0,10.255.255.255,FR,\n127.0.0.0,127.255.255.255,GB,\n",
    )
    .unwrap();
    let (_, path) = file.keep().unwrap();
    c.age_assurance.ip_database = path.display().to_string();
    c.age_assurance.rules.insert("GB".into(), "block".into());
}

/// A client whose every request says it comes from `country` (and `region`).
fn from(country: &str, region: Option<&str>) -> Client {
    let mut h = HeaderMap::new();
    h.insert("x-test-country", HeaderValue::from_str(country).unwrap());
    if let Some(r) = region {
        h.insert("x-test-region", HeaderValue::from_str(r).unwrap());
    }
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(h)
        .build()
        .unwrap()
}

async fn get(c: &Client, app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = c.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn post(
    c: &Client,
    app: &TestApp,
    path: &str,
    body: Value,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = c.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Start a check by `method` from `c`; its id.
async fn start(c: &Client, app: &TestApp, method: &str, token: Option<&str>) -> String {
    let res = post(
        c,
        app,
        "/api/v1/age/checks",
        json!({"method": method}),
        token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["check"]["status"], "pending");
    assert!(
        body["url"].as_str().unwrap().contains("/age/sandbox/"),
        "{body}"
    );
    body["check"]["id"].as_str().unwrap().to_owned()
}

async fn sandbox(c: &Client, app: &TestApp, id: &str, passed: bool) -> Value {
    let res = post(
        c,
        app,
        &format!("/api/v1/age/sandbox/{id}"),
        json!({"passed": passed}),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn region_policy_blocks_and_gates(app: TestApp) {
    let (fan, fan_handle) = app.user("age_fan").await;
    let (other, _) = app.user("age_other").await;
    let profile = format!("/api/v1/profiles/{fan_handle}");

    // Nowhere in particular, and a US state without a rule: everything is served.
    let nowhere = Client::new();
    assert_eq!(
        get(&nowhere, &app, "/", None).await.status(),
        StatusCode::OK
    );
    let ca = from("US", Some("CA"));
    assert_eq!(get(&ca, &app, "/", None).await.status(), StatusCode::OK);
    assert_eq!(
        get(&ca, &app, &profile, None).await.status(),
        StatusCode::OK
    );
    let s: Value = get(&ca, &app, "/api/v1/age", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (s["decision"]["action"].clone(), s["satisfied"].clone()),
        (json!("allow"), json!(true))
    );

    // A blocked state: 451 on pages and the API, signed in or not; the legal pages, the
    // report form and the cluster list stay open.
    let ut = from("US", Some("UT"));
    let res = get(&ut, &app, "/c/boyfanz", None).await;
    assert_eq!(res.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("not available where you are"));
    assert_error(
        get(&ut, &app, &profile, Some(&fan)).await,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        "region_blocked",
    )
    .await;
    for open in [
        "/legal/2257",
        "/c/boyfanz/legal/2257",
        "/report",
        "/api/v1/clusters",
    ] {
        assert_eq!(
            get(&ut, &app, open, None).await.status(),
            StatusCode::OK,
            "{open}"
        );
    }
    assert_error(
        post(
            &ut,
            &app,
            "/api/v1/age/checks",
            json!({"method": "photo_id"}),
            None,
        )
        .await,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        "region_blocked",
    )
    .await;
    let s: Value = get(&ut, &app, "/api/v1/age", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["place"]["subdivision"], "US-UT");
    assert_eq!(s["decision"]["action"], "block");
    assert_eq!(s["decision"]["matched"], "US-UT");

    // A place that needs assurance: pages go to the check, the API says what is needed.
    let gb = from("GB", None);
    let res = get(&gb, &app, "/c/boyfanz/search?q=x", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/c/boyfanz/age?next=%2Fc%2Fboyfanz%2Fsearch%3Fq%3Dx"
    );
    assert_error(
        get(&gb, &app, &profile, None).await,
        StatusCode::FORBIDDEN,
        "age_assurance_required",
    )
    .await;
    let s: Value = get(&gb, &app, "/api/v1/age", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["satisfied"], false);
    let methods: Vec<&str> = s["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["facial_estimation", "photo_id"]);

    // Methods the rule does not name, or nobody knows, are refused.
    assert_error(
        post(
            &gb,
            &app,
            "/api/v1/age/checks",
            json!({"method": "credit_card"}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "method_not_accepted",
    )
    .await;
    assert_error(
        post(
            &gb,
            &app,
            "/api/v1/age/checks",
            json!({"method": "selfie"}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_method",
    )
    .await;

    // A forged result is refused and changes nothing; a failed check gives no pass.
    let id = start(&gb, &app, "photo_id", None).await;
    let forged = gb
        .post(app.url("/api/v1/age/webhooks/sandbox"))
        .header(
            "fanz-sandbox-signature",
            format!("sha256={}", "00".repeat(32)),
        )
        .body(json!({"check_id": id, "passed": true, "method": "photo_id"}).to_string())
        .send()
        .await
        .unwrap();
    assert_error(forged, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let c = sandbox(&gb, &app, &id, false).await;
    assert_eq!(c["status"], "failed");
    let o: Value = get(&gb, &app, &format!("/api/v1/age/checks/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(o["pass_token"].is_null(), "{o}");
    // Taken once: a later result for the same check changes nothing.
    assert_eq!(sandbox(&gb, &app, &id, true).await["status"], "failed");

    // A passed check earns a pass token, sent as a header.
    let id = start(&gb, &app, "facial_estimation", None).await;
    assert_eq!(sandbox(&gb, &app, &id, true).await["status"], "passed");
    let o: Value = get(&gb, &app, &format!("/api/v1/age/checks/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    let token = o["pass_token"].as_str().unwrap().to_owned();
    assert_eq!(o["pass"]["method"], "facial_estimation");
    let with = |t: &str| gb.get(app.url(&profile)).header("fanz-age-pass", t).send();
    assert_eq!(with(&token).await.unwrap().status(), StatusCode::OK);
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        with(&tampered).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // The pass does not open a blocked place.
    let res = ut
        .get(app.url(&profile))
        .header("fanz-age-pass", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);

    // A signed-in viewer's pass stays on their account, and only theirs.
    let id = start(&gb, &app, "photo_id", Some(&fan)).await;
    sandbox(&gb, &app, &id, true).await;
    assert_eq!(
        get(&gb, &app, &profile, Some(&fan)).await.status(),
        StatusCode::OK
    );
    assert_error(
        get(&gb, &app, &profile, Some(&other)).await,
        StatusCode::FORBIDDEN,
        "age_assurance_required",
    )
    .await;
    let s: Value = get(&gb, &app, "/api/v1/age", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["satisfied"], true);

    // Every outcome is audited, with the method and never more.
    let mut db = app.store.conn().await.unwrap();
    let rows: Vec<(String,)> = fanz_store::sqlx::query_as(
        "SELECT details FROM audit_log WHERE action = 'safety.age_check' ORDER BY id",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "one per decided check, not per delivery");
    assert!(rows
        .iter()
        .all(|(d,)| d.contains("\"method\"") && !d.contains("date_of_birth")));
}

async fn the_check_in_the_browser_sets_a_pass_cookie(app: TestApp) {
    let gb = from("GB", None);
    let res = get(&gb, &app, "/c/boyfanz", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let check = res.headers()["location"].to_str().unwrap().to_owned();
    let res = get(&gb, &app, &check, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Confirm you are an adult"), "{html}");
    assert!(html.contains("Facial age estimation") && !html.contains("Credit card check"));
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    let res = gb
        .post(app.url("/c/boyfanz/age/start"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "photo_id"),
            ("next", "/c/boyfanz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let provider = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        provider.starts_with("/c/boyfanz/age/sandbox/age_"),
        "{provider}"
    );
    let res = get(&gb, &app, &provider, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Photo ID matched to a selfie"));
    let ret = html
        .split("name=\"return\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .map(unescape)
        .unwrap();
    let id = provider
        .trim_start_matches("/c/boyfanz/age/sandbox/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let res = gb
        .post(app.url(&format!("/c/boyfanz/age/sandbox/{id}")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("outcome", "pass"),
            ("return", &ret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let done = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        done,
        format!("/c/boyfanz/age/done/{id}?next=%2Fc%2Fboyfanz")
    );
    let res = get(&gb, &app, &done, None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/c/boyfanz");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("fanz_age_pass=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The cookie opens the cluster; a viewer from the same place without it still gets the check.
    assert_eq!(
        get(&gb, &app, "/c/boyfanz", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&from("GB", None), &app, "/c/boyfanz", None)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    // A redirect after the check only goes to this site.
    let res = get(
        &gb,
        &app,
        &format!("/age/done/{id}?next=https://evil.example/"),
        None,
    )
    .await;
    assert_eq!(res.headers()["location"], "/");
}

/// An attribute's text as the browser reads it (the templates escape HTML's specials).
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').map(|e| i + e).unwrap();
        let entity = &rest[i + 1..end];
        let ch = match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e => char::from_u32(e[1..].parse().unwrap()).unwrap(),
        };
        out.push(ch);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn the_address_file_places_viewers(app: TestApp) {
    let plain = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = get(&plain, &app, "/c/boyfanz", None).await;
    assert_eq!(res.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    let s: Value = get(&plain, &app, "/api/v1/age", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["place"]["country"], "GB");
    assert_eq!(
        get(&plain, &app, "/legal/2257", None).await.status(),
        StatusCode::OK
    );
}

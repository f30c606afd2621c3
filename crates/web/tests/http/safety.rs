//! Trust & safety over HTTP: reports without an account, hiding pending review, the DMCA
//! fields, the per-IP throttle, the case queue by role, decisions, statements and appeals,
//! and the report and 2257 pages on two clusters.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    reports_cases_decisions_and_appeals,
    safety_pages,
    cases_escalate_then_go_overdue,
    report_and_decide_through_the_pages,
    monthly_report_counts_notices_and_decisions,
    simultaneous_first_reports_join_one_case
);
on_both_backends!(config = super::throttled; reports_are_throttled_per_ip);

fn throttled(c: &mut fanz_config::Config) {
    c.compliance.reports_per_ip_per_hour = 3;
}

async fn report(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/api/v1/reports", body, None).await
}

pub(crate) async fn user_id(app: &TestApp, token: &str) -> i64 {
    let me: Value = app
        .get("/api/v1/me", Some(token))
        .await
        .json()
        .await
        .unwrap();
    me["id"]
        .as_i64()
        .or(me["user"]["id"].as_i64())
        .expect("my id")
}

async fn reports_cases_decisions_and_appeals(app: TestApp) {
    let cleo = creator(&app, "cleo", &["fanzlab"]).await;
    let p = post_json(
        &app,
        &cleo,
        json!({"text": "hello all", "visibility": "public", "publish": true}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let (fan, _) = app.user("fanny").await;
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), Some(&fan))
            .await
            .status(),
        StatusCode::OK
    );

    // A report without an account: 201, due 7 business days later, on a business day.
    let before = fanz_core::clock::now_micros();
    let res = report(
        &app,
        json!({"kind": "other", "url": app.url(&format!("/p/{id}")), "details": "spam", "good_faith": true}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    let due = r["due_at"].as_i64().unwrap();
    assert!(fanz_safety::deadlines::is_business_day(due));
    assert!(due >= fanz_safety::deadlines::add_business_days(before, 7) - 1_000_000);
    assert!(due - before >= 9 * fanz_core::clock::DAY);
    assert_eq!(r["hidden"], false);
    let case_id = r["case_id"].as_i64().unwrap();
    // Still visible: "other" does not hide.
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), Some(&fan))
            .await
            .status(),
        StatusCode::OK
    );

    // A non-consent report of the same post joins the case and hides the post at once.
    let res = report(
        &app,
        json!({"kind": "non_consensual", "url": format!("/c/fanzlab/p/{id}"), "details": "that is me, I never agreed", "email": "victim@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["case_id"].as_i64(), Some(case_id));
    assert_eq!(r["hidden"], true);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), Some(&fan))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::NOT_FOUND
    );
    // The creator cannot publish it again while it is held.
    let res = app
        .post(
            &format!("/api/v1/posts/{id}/publish"),
            json!({}),
            Some(&cleo),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "publish_refused").await;

    // Copyright without the DMCA fields: 422.
    let res = report(
        &app,
        json!({"kind": "copyright", "url": "/p/1", "details": "my photo"}),
    )
    .await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "dmca_fields_required",
    )
    .await;
    let res = report(&app, json!({"kind": "spam", "url": "/p/1", "details": "x"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind").await;

    // The queue: not for fans or creators; for a moderator.
    for t in [&fan, &cleo] {
        assert_error(
            app.get("/api/v1/compliance/cases", Some(t)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let admin = app.admin().await;
    let (moder, _) = app.user("mona").await;
    let mid = user_id(&app, &moder).await;
    let res = app
        .post(
            &format!("/api/v1/admin/users/{mid}/roles"),
            json!({"role": "moderator"}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = app
        .get("/api/v1/compliance/cases?status=open", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"].as_i64() == Some(case_id)),
        "{list}"
    );
    let detail: Value = app
        .get(&format!("/api/v1/compliance/cases/{case_id}"), Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["reports"].as_array().unwrap().len(), 2);
    assert_eq!(detail["kind"], "non_consensual");

    // Restored: visible again.
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{case_id}/decision"),
            json!({"outcome": "restored", "reason": "the person shown is the creator"}),
            Some(&moder),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), Some(&fan))
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{case_id}/decision"),
            json!({"outcome": "removed", "reason": "again"}),
            Some(&moder),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "case_decided").await;

    // A new report: a new case; removed keeps it hidden; the creator reads the statement.
    let r: Value = report(
        &app,
        json!({"kind": "illegal", "url": format!("/p/{id}"), "details": "shows a crime"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let case2 = r["case_id"].as_i64().unwrap();
    assert_ne!(case2, case_id);
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{case2}/decision"),
            json!({"outcome": "removed", "reason": "no age record for the second person"}),
            Some(&moder),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), Some(&fan))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let st: Value = app
        .get("/api/v1/me/statements", Some(&cleo))
        .await
        .json()
        .await
        .unwrap();
    let st = st.as_array().unwrap();
    assert_eq!(st.len(), 2);
    assert_eq!(st[0]["outcome"], "removed");
    let sid = st[0]["id"].as_i64().unwrap();
    // Someone else cannot appeal it; the creator can, once; the case reopens.
    let res = app
        .post(
            &format!("/api/v1/me/statements/{sid}/appeal"),
            json!({"text": "she is 25"}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .post(
            &format!("/api/v1/me/statements/{sid}/appeal"),
            json!({"text": "she is 25; records attached"}),
            Some(&cleo),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["status"], "open");
    assert_eq!(c["id"].as_i64(), Some(case2));
    let res = app
        .post(
            &format!("/api/v1/me/statements/{sid}/appeal"),
            json!({"text": "again"}),
            Some(&cleo),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_appealed").await;
    // Still hidden while the appeal is reviewed.
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn reports_are_throttled_per_ip(app: TestApp) {
    for i in 0..3 {
        let res = report(&app, json!({"kind": "other", "url": format!("https://elsewhere.example/{i}"), "details": "bogus"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = report(
        &app,
        json!({"kind": "other", "url": "https://elsewhere.example/x", "details": "bogus"}),
    )
    .await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn safety_pages(app: TestApp) {
    for c in ["fanzlab", "boyfanz"] {
        let res = app.get(&format!("/c/{c}/legal/2257"), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("2257") && html.contains("Custodian of Records"),
            "{c}"
        );
        let res = app.get(&format!("/c/{c}/report?url=/p/5"), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("value=\"/p/5\""), "{c}");
    }
    let home = app.get("/", None).await.text().await.unwrap();
    assert!(home.contains("/report?url=/"), "footer report link");
    assert!(home.contains("/legal/2257"), "footer 2257 link");
}

/// The deadline job's work at simulated times: nothing before the escalation point,
/// escalated from 2 business days before the deadline, overdue after it.
async fn cases_escalate_then_go_overdue(app: TestApp) {
    use fanz_safety::{cases, deadlines};
    let r: Value = report(&app, json!({"kind": "impersonation", "url": "https://elsewhere.example/fake", "details": "not me"}))
        .await
        .json()
        .await
        .unwrap();
    let case_id = r["case_id"].as_i64().unwrap();
    let due = r["due_at"].as_i64().unwrap();
    let actor = fanz_audit::Actor::system();
    for (now, expect) in [
        (deadlines::escalate_at(due) - 1, (0, 0)),
        (deadlines::escalate_at(due), (1, 0)),
        (due, (0, 0)),
        (due + 1, (0, 1)),
        (due + 2, (0, 0)),
    ] {
        let mut tx = app.store.begin().await.unwrap();
        let got = cases::run_deadlines(&mut tx, now, &actor).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(got, expect, "at {now}");
    }
    let admin = app.admin().await;
    let c: Value = app
        .get(&format!("/api/v1/compliance/cases/{case_id}"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "escalated");
    assert_eq!(c["overdue"], true);
    assert!(c["escalated_at"].as_i64().is_some());
}

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

pub(crate) async fn html(b: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

pub(crate) async fn signed_in(app: &TestApp, handle: &str) -> reqwest::Client {
    let b = browser();
    let (_, page) = html(&b, app, "/login").await;
    let res = b
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("email", &format!("{handle}@example.com")),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login {handle}");
    b
}

/// Signed out, a non-consent report through the form hides the post; a moderator decides
/// it on /admin/cases; a fan may not open the queue.
async fn report_and_decide_through_the_pages(app: TestApp) {
    let cleo = creator(&app, "pagecleo", &["fanzlab"]).await;
    let p = post_json(
        &app,
        &cleo,
        json!({"text": "hi", "visibility": "public", "publish": true}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let anon = browser();
    let (status, page) = html(&anon, &app, &format!("/report?url=/p/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let res = anon
        .post(app.url("/report"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("kind", "non_consensual"),
            ("url", &format!("/p/{id}")),
            ("details", "I never agreed to this"),
            ("good_faith", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let done = res.text().await.unwrap();
    assert!(done.contains("hidden while we review it"), "{done}");
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::NOT_FOUND
    );

    app.user("pagefan").await;
    let fan = signed_in(&app, "pagefan").await;
    assert_eq!(
        html(&fan, &app, "/admin/cases").await.0,
        StatusCode::FORBIDDEN
    );
    let admin = app.admin().await;
    let (moder, _) = app.user("pagemod").await;
    let mid = user_id(&app, &moder).await;
    app.post(
        &format!("/api/v1/admin/users/{mid}/roles"),
        json!({"role": "moderator"}),
        Some(&admin),
    )
    .await;
    let m = signed_in(&app, "pagemod").await;
    let (status, queue) = html(&m, &app, "/admin/cases").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        queue.contains(&format!("/p/{id}")) && queue.contains("I never agreed"),
        "{queue}"
    );
    let list: Value = app
        .get("/api/v1/compliance/cases", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    let case_id = list[0]["id"].as_i64().unwrap();
    let res = m
        .post(app.url(&format!("/admin/cases/{case_id}/decide")))
        .form(&[
            ("csrf", csrf_of(&queue).as_str()),
            ("outcome", "restored"),
            ("reason", "the creator is the only person shown"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::OK
    );
    let (_, decided) = html(&m, &app, "/admin/cases?status=decided").await;
    assert!(decided.contains("restored"), "{decided}");
}

/// The monthly report counts this month's notices by kind and cluster, the decisions and their
/// outcomes; it is for reviewers only, as JSON, CSV and a page.
async fn monthly_report_counts_notices_and_decisions(app: TestApp) {
    let cleo = creator(&app, "monthcleo", &["fanzlab"]).await;
    let mut posts = vec![];
    for text in ["one", "two"] {
        let p = post_json(
            &app,
            &cleo,
            json!({"text": text, "visibility": "public", "publish": true}),
        )
        .await;
        posts.push(p["id"].as_i64().unwrap());
    }
    for (kind, url) in [
        ("non_consensual", format!("/p/{}", posts[0])),
        ("other", format!("/p/{}", posts[0])),
        ("impersonation", format!("/p/{}", posts[1])),
        ("other", "https://elsewhere.example/x".to_owned()),
    ] {
        let res = report(&app, json!({"kind": kind, "url": url, "details": "see"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let admin = app.admin().await;
    let cases: Value = app
        .get("/api/v1/compliance/cases", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let first = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["post_id"] == posts[0])
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{first}/decision"),
            json!({"outcome": "removed", "reason": "no consent"}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let month = &fanz_safety::records::format_date(fanz_safety::records::today())[..7];
    let m: Value = app
        .get(
            &format!("/api/v1/compliance/reports/monthly?month={month}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let all = &m["clusters"][0];
    assert_eq!(all["cluster"], "all");
    assert_eq!(all["notices"], 4, "{m}");
    assert_eq!(all["notices_by_kind"]["other"], 2);
    assert_eq!(all["notices_by_kind"]["non_consensual"], 1);
    assert_eq!(all["cases_opened"], 3);
    assert_eq!(
        (all["cases_decided"].as_i64(), all["removed"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(all["median_hours_to_decide"].as_f64().unwrap() >= 0.0);
    let lab = m["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cluster"] == "fanzlab")
        .expect("per cluster");
    assert_eq!(lab["notices"], 3);
    let none = m["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cluster"] == "none")
        .expect("URLs naming no post");
    assert_eq!(none["notices"], 1);
    // Last year's month is empty; a bad month is refused.
    let old: Value = app
        .get(
            "/api/v1/compliance/reports/monthly?month=2020-01",
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["clusters"][0]["notices"], 0);
    assert_error(
        app.get(
            "/api/v1/compliance/reports/monthly?month=2026-13",
            Some(&admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_month",
    )
    .await;
    let csv = app
        .get(
            &format!("/api/v1/compliance/reports/monthly?month={month}&format=csv"),
            Some(&admin),
        )
        .await;
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("month,cluster,notices,") && csv.contains(&format!("{month},all,4,")),
        "{csv}"
    );
    // Reviewers only: not the creator, nor signed out.
    assert_error(
        app.get("/api/v1/compliance/reports/monthly", Some(&cleo))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/compliance/reports/monthly", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The page, under a cluster's path too.
    let (moder, _) = app.user("monthmod").await;
    let mid = user_id(&app, &moder).await;
    app.post(
        &format!("/api/v1/admin/users/{mid}/roles"),
        json!({"role": "moderator"}),
        Some(&admin),
    )
    .await;
    let b = signed_in(&app, "monthmod").await;
    let (status, page) = html(
        &b,
        &app,
        &format!("/c/fanzlab/admin/compliance-report?month={month}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Taken down") && page.contains("fanzlab"),
        "{page}"
    );
    let res = b
        .get(app.url(&format!(
            "/admin/compliance-report?month={month}&format=csv"
        )))
        .send()
        .await
        .unwrap();
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(&format!("{month},fanzlab,3,")));
    app.user("monthfan").await;
    let fan = signed_in(&app, "monthfan").await;
    assert_eq!(
        html(&fan, &app, "/admin/compliance-report").await.0,
        StatusCode::FORBIDDEN
    );
}

/// Eight first reports of one post at once: every one is filed, and they make one case (the
/// ones that lose the race to open it join it).
async fn simultaneous_first_reports_join_one_case(app: TestApp) {
    let token = creator(&app, "racy", &["fanzlab"]).await;
    let post = post_json(
        &app,
        &token,
        json!({"text": "Hello", "visibility": "public", "publish": true}),
    )
    .await;
    let url = format!("/p/{}", post["id"].as_i64().unwrap());
    let sends = (0..8).map(|i| {
        report(
            &app,
            json!({"kind": "other", "url": url, "details": format!("report {i}")}),
        )
    });
    let mut cases = std::collections::BTreeSet::new();
    for res in futures_util::future::join_all(sends).await {
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        cases.insert(body["case_id"].as_i64().unwrap());
    }
    assert_eq!(cases.len(), 1, "one case: {cases:?}");
    let admin = app.admin().await;
    let case: Value = app
        .get(
            &format!("/api/v1/compliance/cases/{}", cases.first().unwrap()),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["reports"].as_array().map(Vec::len), Some(8), "{case}");
}

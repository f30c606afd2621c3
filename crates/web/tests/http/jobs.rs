//! Jobs and events through the HTTP API: the admin endpoints and page, and the existing
//! background work (mail delivery, hold expiry) running as jobs.

use crate::harness::{assert_error, spawn_with, TestApp};
use crate::on_both_backends;
use fanz_store::Backend;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

on_both_backends!(
    admin_jobs_api_and_refusals,
    probe_jobs_and_events_run_end_to_end,
    domain_events_are_written_with_their_change,
    holds_expire_through_the_recurring_job,
    admin_jobs_page_with_retry_button,
);

/// Poll until `f` gives Some (bounded: 30 s): background work is asynchronous.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    let res = app.get(path, Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

async fn admin_jobs_api_and_refusals(app: TestApp) {
    let admin = app.admin().await;
    let (fan, _) = app.user("plainfan").await;
    let overview = get_json(&app, "/api/v1/admin/jobs", &admin).await;
    let queues: Vec<&str> = overview["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    for q in ["default", "mail", "maintenance"] {
        assert!(queues.contains(&q), "{q} missing from {overview}");
    }
    for field in ["ready", "running", "scheduled", "dead"] {
        assert!(
            overview["queues"][0][field].is_i64(),
            "{field} in {overview}"
        );
    }
    // Every route refuses another account (a fan) and anonymous callers.
    let routes: [(&str, &str, Option<Value>); 9] = [
        ("GET", "/api/v1/admin/jobs", None),
        ("GET", "/api/v1/admin/jobs/list", None),
        ("GET", "/api/v1/admin/jobs/1", None),
        ("POST", "/api/v1/admin/jobs/1/retry", Some(json!({}))),
        ("POST", "/api/v1/admin/jobs/1/cancel", Some(json!({}))),
        (
            "POST",
            "/api/v1/admin/jobs/probe",
            Some(json!({"count": 1})),
        ),
        ("GET", "/api/v1/admin/events", None),
        ("POST", "/api/v1/admin/events/probe", Some(json!({}))),
        ("GET", "/api/v1/admin/events/probe/abc", None),
    ];
    for (method, path, body) in &routes {
        for token in [Some(fan.as_str()), None] {
            let res = match (method, body) {
                (&"GET", _) => app.get(path, token).await,
                (_, Some(b)) => app.post(path, b.clone(), token).await,
                _ => unreachable!(),
            };
            let expected = if token.is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(res.status(), expected, "{method} {path} as {token:?}");
        }
    }
    // Bad input: clear errors.
    assert_error(
        app.get("/api/v1/admin/jobs/999999", Some(&admin)).await,
        StatusCode::NOT_FOUND,
        "job_not_found",
    )
    .await;
    assert_error(
        app.get("/api/v1/admin/jobs/list?state=bogus", Some(&admin))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_state",
    )
    .await;
    assert_error(
        app.post(
            "/api/v1/admin/jobs/probe",
            json!({"count": 0}),
            Some(&admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_probe",
    )
    .await;
}

async fn probe_jobs_and_events_run_end_to_end(app: TestApp) {
    let admin = app.admin().await;
    let res = app
        .post(
            "/api/v1/admin/jobs/probe",
            json!({"count": 40}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let store = app.store.clone();
    let (runs, distinct) = eventually("40 probe runs", || {
        let store = store.clone();
        async move {
            let mut db = store.conn().await.unwrap();
            let (n, d) = fanz_jobs::probe_runs(&mut db).await.unwrap();
            (n >= 40).then_some((n, d))
        }
    })
    .await;
    assert_eq!(
        (runs, distinct),
        (40, 40),
        "each probe job ran exactly once"
    );
    let done = get_json(
        &app,
        "/api/v1/admin/jobs/list?kind=jobs.probe&state=done&limit=100",
        &admin,
    )
    .await;
    assert_eq!(done["jobs"].as_array().unwrap().len(), 40);
    assert_eq!(done["jobs"][0]["locked_by"], app.state.node.as_str());

    let probe: Value = app
        .post("/api/v1/admin/events/probe", json!({}), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = probe["event_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/events/probe/{id}");
    let nodes = eventually("the probe event arrived", || {
        let (app, path, admin) = (&app, path.clone(), admin.clone());
        async move {
            let v = get_json(app, &path, &admin).await;
            let nodes = v["received_by"].as_array().cloned().unwrap_or_default();
            (!nodes.is_empty()).then_some(nodes)
        }
    })
    .await;
    assert_eq!(nodes, vec![json!(app.state.node.clone())]);
}

async fn domain_events_are_written_with_their_change(app: TestApp) {
    let admin = app.admin().await;
    let (fan, _) = app.user("eventfan").await;
    let (_, creator) = app.user("eventcreator").await;
    let res = app
        .post(
            &format!("/api/v1/profiles/{creator}/follow"),
            json!({}),
            Some(&fan),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    // A refused follow (yourself) writes no event.
    let res = app
        .post("/api/v1/profiles/eventfan/follow", json!({}), Some(&fan))
        .await;
    assert!(res.status().is_client_error());
    let events = eventually("events ordered", || {
        let (app, admin) = (&app, admin.clone());
        async move {
            let v = get_json(app, "/api/v1/admin/events", &admin).await;
            let recent = v["recent"].as_array().cloned().unwrap_or_default();
            recent
                .iter()
                .any(|e| e["type"] == "profiles.followed")
                .then_some(recent)
        }
    })
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "identity.user_registered")
            .count(),
        3,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "profiles.followed").count(),
        1
    );
    let followed = events
        .iter()
        .find(|e| e["type"] == "profiles.followed")
        .unwrap();
    let followee = followed["payload"]["followee_id"].as_i64().unwrap();
    assert_ne!(
        followed["payload"]["follower_id"].as_i64().unwrap(),
        followee
    );
    assert_eq!(followed["subject"], format!("user:{followee}"));
}

async fn holds_expire_through_the_recurring_job(app: TestApp) {
    let t = {
        fanz_web::flows::signup(
            &app.state,
            "holds@example.com",
            "holdkeeper",
            "correct horse battery",
            vec![fanz_core::Role::Finance],
            &fanz_audit::Actor::cli(),
        )
        .await
        .map_err(|e| e.message)
        .unwrap();
        app.login("holds@example.com", "correct horse battery")
            .await
    };
    for (code, kind) in [("cash:ccbill:USD", "asset"), ("wallet:USD", "liability")] {
        let res = app
            .post(
                "/api/v1/ledger/accounts",
                json!({"code": code, "kind": kind, "currency": "USD", "flags": []}),
                Some(&t),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let entry = |key: &str, pending: bool| {
        let mut e = json!({
            "idempotency_key": key,
            "postings": [
                {"account": "cash:ccbill:USD", "direction": "debit", "amount": 500, "currency": "USD"},
                {"account": "wallet:USD", "direction": "credit", "amount": 500, "currency": "USD"}
            ]
        });
        if pending {
            e["pending"] = json!(true);
            e["expires_in_secs"] = json!(1);
        }
        e
    };
    let hold: Value = app
        .post("/api/v1/ledger/entries", entry("hold-1", true), Some(&t))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/ledger/entries/{}", hold["id"]);
    // Nobody calls /holds/expire: the server's ledger.release_due job releases it.
    eventually("the hold expired by itself", || {
        let (app, path, t) = (&app, path.clone(), t.clone());
        async move { (get_json(app, &path, &t).await["status"] == "expired").then_some(()) }
    })
    .await;
    let mut db = app.store.conn().await.unwrap();
    let runs = fanz_jobs::list(
        &mut db,
        &fanz_jobs::ListFilter {
            kind: Some("ledger.release_due".into()),
            state: Some("done".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!runs.is_empty(), "the release ran as a job");
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Unhandled {}

impl fanz_jobs::Job for Unhandled {
    const KIND: &'static str = "test.unhandled";
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a form") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

async fn sign_in(app: &TestApp, b: &reqwest::Client, email: &str) {
    let html = b
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = b
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", email),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "login: {}", res.status());
}

async fn admin_jobs_page_with_retry_button(app: TestApp) {
    app.admin().await;
    app.user("pagefan").await;
    // A dead job to show: a kind no node handles, allowed one attempt.
    let mut tx = app.store.begin().await.unwrap();
    let id = fanz_jobs::enqueue_with(
        &mut tx,
        &Unhandled {},
        fanz_jobs::Options {
            max_attempts: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    tx.commit().await.unwrap();
    let dead = {
        let store = app.store.clone();
        eventually("the job died", || {
            let store = store.clone();
            async move {
                let mut db = store.conn().await.unwrap();
                let job = fanz_jobs::show(&mut db, id).await.unwrap();
                (job.state == "dead").then_some(job)
            }
        })
        .await
    };
    assert!(dead
        .last_error
        .unwrap()
        .contains("no handler for kind test.unhandled"));

    let fan = browser();
    sign_in(&app, &fan, "pagefan@example.com").await;
    let res = fan.get(app.url("/admin/jobs")).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a fan may not see the queues"
    );
    let anon = browser();
    let res = anon.get(app.url("/admin/jobs")).send().await.unwrap();
    assert!(
        res.status().is_redirection(),
        "anonymous visitors are sent to log in"
    );

    let b = browser();
    sign_in(&app, &b, "root@example.com").await;
    let res = b
        .get(app.url("/c/boyfanz/admin/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>Jobs and events</h1>"));
    assert!(html.contains("test.unhandled"), "the dead job is listed");
    assert!(
        html.contains("no handler for kind test.unhandled"),
        "with its error"
    );
    let action = format!("/c/boyfanz/admin/jobs/{id}/retry");
    assert!(html.contains(&action), "with a retry button");

    // The fan cannot press it; a form without the token is refused.
    let fan_html = fan
        .get(app.url("/settings"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = fan
        .post(app.url(&action))
        .form(&[("csrf", csrf_of(&fan_html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = b
        .post(app.url(&action))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = b
        .post(app.url(&action))
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    let mut db = app.store.conn().await.unwrap();
    let job = fanz_jobs::show(&mut db, id).await.unwrap();
    assert!(job.state == "ready" || job.state == "running" || job.state == "dead");
    assert_eq!(
        fanz_audit::recent(&mut db, None, 20)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == "jobs.retried")
            .count(),
        1,
        "the retry is audited"
    );
}

/// A minimal SMTP server on loopback that keeps the messages it receives.
async fn smtp_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let keep = keep.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                let mut data = false;
                let mut message = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if data {
                        if line == "." {
                            data = false;
                            keep.lock().unwrap().push(std::mem::take(&mut message));
                            let _ = w.write_all(b"250 OK queued\r\n").await;
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = true;
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    (format!("smtp://{addr}"), got)
}

async fn mail_is_delivered_by_the_mail_job(backend: Backend) {
    let (url, got) = smtp_sink().await;
    let Some(app) = spawn_with(backend, |c| {
        c.smtp_url = format!("{url}?tls=none");
        c.jobs.backoff_base_ms = 20;
    })
    .await
    else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    app.user("mailfan").await;
    let res = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({"email": "mailfan@example.com"}),
            None,
        )
        .await;
    assert!(res.status().is_success());
    eventually("the sink received the reset mail", || {
        let got = got.clone();
        async move {
            let g = got.lock().unwrap();
            g.iter()
                .any(|m| m.contains("mailfan@example.com"))
                .then_some(())
        }
    })
    .await;
    let admin = app.admin().await;
    let outbox = get_json(&app, "/api/v1/admin/mail-outbox", &admin).await;
    let sent = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == "mailfan@example.com")
        .unwrap()
        .clone();
    let mail = eventually("marked sent", || {
        let (app, admin) = (&app, admin.clone());
        async move {
            let o = get_json(app, "/api/v1/admin/mail-outbox", &admin).await;
            o["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["to"] == "mailfan@example.com" && !m["sent_at"].is_null())
                .cloned()
        }
    })
    .await;
    assert_eq!(mail["id"], sent["id"]);
    assert_eq!(mail["attempts"], 1);
}

async fn a_failing_smtp_server_retries_then_dead_letters(backend: Backend) {
    // A port that refuses connections.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let Some(app) = spawn_with(backend, |c| {
        c.smtp_url = format!("smtp://{closed}?tls=none");
        c.jobs.backoff_base_ms = 10;
        c.jobs.backoff_max_secs = 1;
    })
    .await
    else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    app.user("bounce").await;
    let res = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({"email": "bounce@example.com"}),
            None,
        )
        .await;
    assert!(res.status().is_success());
    let admin = app.admin().await;
    let dead = eventually("the mail job is dead", || {
        let (app, admin) = (&app, admin.clone());
        async move {
            let v = get_json(app, "/api/v1/admin/jobs", &admin).await;
            let dead = v["dead"].as_array().cloned().unwrap_or_default();
            dead.into_iter().find(|j| j["kind"] == "mail.deliver")
        }
    })
    .await;
    assert_eq!(dead["attempts"], 8, "{dead}");
    assert!(
        dead["last_error"].as_str().unwrap().starts_with("SMTP:"),
        "{dead}"
    );
    let stats = get_json(&app, "/api/v1/admin/jobs", &admin).await;
    let mail = stats["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "mail")
        .unwrap()
        .clone();
    assert_eq!(mail["dead"], 1);
    // Retry from the API: it runs again (and fails again).
    let id = dead["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/admin/jobs/{id}/retry"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            &format!("/api/v1/admin/jobs/{id}/retry"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert!(
        res.status() == StatusCode::CONFLICT || res.status() == StatusCode::OK,
        "a second retry is refused unless it already died again"
    );
    eventually("dead again", || {
        let (app, admin) = (&app, admin.clone());
        async move {
            let j = get_json(app, &format!("/api/v1/admin/jobs/{id}"), &admin).await;
            (j["state"] == "dead" && j["attempts"] == 8).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_delivery_sqlite() {
    mail_is_delivered_by_the_mail_job(Backend::Sqlite).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_delivery_postgres() {
    mail_is_delivered_by_the_mail_job(Backend::Postgres).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_dead_letter_sqlite() {
    a_failing_smtp_server_retries_then_dead_letters(Backend::Sqlite).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_dead_letter_postgres() {
    a_failing_smtp_server_retries_then_dead_letters(Backend::Postgres).await;
}

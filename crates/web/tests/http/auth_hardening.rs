//! Issue 9, accounts and authentication: attempt limits that hold under concurrency, bounded
//! password hashing, reset and logout gaps, input and caching, TOTP secrets sealed at rest.
//! The bursts are bounded (at most 48 requests), loopback only, and assert counts, never time.

use crate::harness::{assert_error, spawn_with, TestApp};
use fanz_config::Config;
use fanz_store::sqlx::{self, Row};
use fanz_store::Backend;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Run `$test(backend)` on SQLite, and on PostgreSQL when it is configured; each test spawns
/// its app with its own configuration.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(fanz_store::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(fanz_store::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both!(
    concurrent_wrong_passwords_never_pass_the_limits,
    login_page_burst_is_limited,
    hashing_is_bounded_and_sheds_with_503,
    signup_is_limited_per_address,
    forgot_password_is_limited,
    totp_disable_is_limited_like_login,
    reset_revokes_tokens_sessions_and_keys,
    api_keys_cannot_change_account_security,
    logout_with_x_api_key_ends_the_session,
    emails_cookies_and_caching,
    totp_secrets_are_sealed_at_rest,
    totp_keys_rotate,
);

async fn app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let app = spawn_with(backend, tweak).await;
    if app.is_none() {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
    }
    app
}

/// What came back from one request of a burst.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    code: Option<String>,
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Option<Value> = res.json().await.ok();
    Answer {
        status,
        retry_after,
        code: body.and_then(|b| b["error"]["code"].as_str().map(str::to_owned)),
    }
}

/// POST `bodies` to `path` all at once; answers in the order they complete.
async fn burst(app: &TestApp, path: &str, bodies: Vec<Value>) -> Vec<Answer> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for body in bodies {
        let req = app.client.post(app.url(path)).json(&body);
        let tx = tx.clone();
        tokio::spawn(async move {
            let a = answer(req.send().await.unwrap()).await;
            let _ = tx.send(a);
        });
    }
    drop(tx);
    let mut out = Vec::new();
    while let Some(a) = rx.recv().await {
        out.push(a);
    }
    out
}

fn count(answers: &[Answer], status: StatusCode) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

/// Every refusal carries its stable code and a Retry-After; nothing but 401, 429 and 503.
fn assert_refusals(answers: &[Answer]) {
    for a in answers {
        match a.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(a.code.as_deref(), Some("too_many_attempts"));
                assert!(
                    a.retry_after.is_some_and(|s| s > 0),
                    "429 without Retry-After"
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(a.code.as_deref(), Some("server_busy"));
                assert!(
                    a.retry_after.is_some_and(|s| s > 0),
                    "503 without Retry-After"
                );
            }
            other => panic!("unexpected status {other} ({:?})", a.code),
        }
    }
}

/// No hashing deadline can expire in these bursts: every attempt is judged by the limits.
fn patient(c: &mut Config) {
    c.auth.hash_wait_ms = 120_000;
}

/// One hashing slot and room for everyone in its queue, for [`parked_burst`].
fn one_slot(c: &mut Config) {
    patient(c);
    c.auth.hash_concurrency = 1;
    c.auth.hash_queue = 64;
}

/// Send every request at once while the only hashing slot is held, so that every attempt the
/// limits let through is parked at the hasher at the same moment; release the slot once each
/// request is either answered or parked. A check-then-act throttle lets them all park (and all
/// fail the password afterwards); counting before hashing parks no more than the limit. The
/// loop waits on a condition, not on time.
async fn parked_burst(app: &TestApp, requests: Vec<reqwest::RequestBuilder>) -> Vec<Answer> {
    let hasher = app.state.identity.hasher.clone();
    assert_eq!(hasher.concurrency(), 1, "spawn the app with one_slot");
    let slot = hasher.hold_slot().await;
    let n = requests.len();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for req in requests {
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(answer(req.send().await.unwrap()).await);
        });
    }
    drop(tx);
    let mut out = Vec::new();
    while out.len() + hasher.waiting() < n {
        if let Ok(Some(a)) =
            tokio::time::timeout(std::time::Duration::from_millis(10), rx.recv()).await
        {
            out.push(a);
        }
    }
    drop(slot);
    while let Some(a) = rx.recv().await {
        out.push(a);
    }
    out
}

fn logins(app: &TestApp, bodies: Vec<Value>) -> Vec<reqwest::RequestBuilder> {
    bodies
        .into_iter()
        .map(|b| app.client.post(app.url("/api/v1/auth/login")).json(&b))
        .collect()
}

async fn concurrent_wrong_passwords_never_pass_the_limits(backend: Backend) {
    let Some(app) = app_with(backend, one_slot).await else {
        return;
    };
    app.signup("victim@example.com", "victim", "correct horse battery")
        .await;
    // 48 wrong passwords for one account at once: the old check-then-act throttle let all of
    // them through to the hash (48 × 401, ~1 GB of argon2 memory).
    let wrong = json!({"email": "victim@example.com", "password": "not the password"});
    let answers = parked_burst(&app, logins(&app, vec![wrong; 48])).await;
    assert_eq!(answers.len(), 48);
    assert_refusals(&answers);
    assert_eq!(
        count(&answers, StatusCode::UNAUTHORIZED),
        5,
        "exactly the per-account limit may be tried"
    );
    assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 43);
    // The account stays locked for the window, even for the right password.
    let right = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "victim@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_error(right, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    // Per address: 40 different accounts at once from one address; the address has 20 failures
    // in its window, of which the burst above used 5.
    let spray: Vec<Value> = (0..40)
        .map(
            |i| json!({"email": format!("nobody{i}@example.com"), "password": "guess guess guess"}),
        )
        .collect();
    let answers = parked_burst(&app, logins(&app, spray)).await;
    assert_refusals(&answers);
    assert_eq!(count(&answers, StatusCode::UNAUTHORIZED), 15);
    assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 25);
    assert!(
        app.state.identity.hasher.peak_running() <= app.state.identity.hasher.concurrency(),
        "more hashes ran at once than the pool allows"
    );
}

/// The login page goes through the same counters.
async fn login_page_burst_is_limited(backend: Backend) {
    let Some(app) = app_with(backend, one_slot).await else {
        return;
    };
    app.signup("page@example.com", "paged", "correct horse battery")
        .await;
    let csrf = "c".repeat(40);
    let requests = (0..16)
        .map(|_| {
            app.client
                .post(app.url("/login"))
                .header("cookie", format!("fanz_csrf={csrf}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "page@example.com"),
                    ("password", "not the password"),
                ])
        })
        .collect();
    let answers = parked_burst(&app, requests).await;
    assert_eq!(answers.len(), 16);
    assert_eq!(count(&answers, StatusCode::UNAUTHORIZED), 5);
    assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 11);
    assert!(answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .all(|a| a.retry_after.is_some()));
}

async fn hashing_is_bounded_and_sheds_with_503(backend: Backend) {
    let Some(app) = app_with(backend, |c| {
        c.auth.hash_concurrency = 1;
        c.auth.hash_queue = 2;
        c.auth.hash_wait_ms = 300;
        c.login_max_failures_per_ip = 1_000;
    })
    .await
    else {
        return;
    };
    app.signup("busy@example.com", "busybee", "correct horse battery")
        .await;
    let hasher = app.state.identity.hasher.clone();
    assert_eq!(hasher.concurrency(), 1);
    // With the only slot taken, two requests may wait (and give up at the deadline), the rest
    // are refused at once: every one of them gets 503 with Retry-After.
    let slot = hasher.hold_slot().await;
    let mut bodies: Vec<Value> = (0..6)
        .map(|i| json!({"email": format!("ghost{i}@example.com"), "password": "guess guess guess"}))
        .collect();
    // Four for the owner's account: under its limit of 5 even if all are counted at once.
    bodies.extend(
        (0..4).map(|_| json!({"email": "busy@example.com", "password": "not the password"})),
    );
    let answers = burst(&app, "/api/v1/auth/login", bodies).await;
    assert_eq!(answers.len(), 10);
    assert_refusals(&answers);
    assert_eq!(count(&answers, StatusCode::SERVICE_UNAVAILABLE), 10);
    // Sign-up hashes too.
    let signup = app
        .post(
            "/api/v1/auth/signup",
            json!({"email": "new@example.com", "handle": "newbie", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_error(signup, StatusCode::SERVICE_UNAVAILABLE, "server_busy").await;
    drop(slot);
    // No password was tried while the hasher was full, so none of those attempts counted: the
    // owner still gets in, and the refused sign-up can be repeated.
    app.login("busy@example.com", "correct horse battery").await;
    app.signup("new@example.com", "newbie", "correct horse battery")
        .await;
    assert!(hasher.peak_running() <= 1);
}

async fn signup_is_limited_per_address(backend: Backend) {
    let Some(app) = app_with(backend, |c| {
        patient(c);
        c.auth.signup_max_per_ip = 3;
    })
    .await
    else {
        return;
    };
    let bodies: Vec<Value> = (0..10)
        .map(|i| {
            json!({"email": format!("s{i}@example.com"), "handle": format!("signup{i}"),
                   "password": "correct horse battery"})
        })
        .collect();
    let answers = burst(&app, "/api/v1/auth/signup", bodies).await;
    assert_eq!(count(&answers, StatusCode::CREATED), 3);
    let refused: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status != StatusCode::CREATED)
        .collect();
    assert_eq!(refused.len(), 7);
    for a in refused {
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(a.code.as_deref(), Some("too_many_attempts"));
        assert!(a.retry_after.is_some_and(|s| s > 0 && s <= 3601));
    }
    let mut db = app.store.conn().await.unwrap();
    let users: i64 = sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 3, "refused sign-ups wrote nothing");
    // Bad input is refused before it counts.
    let bad = app
        .post(
            "/api/v1/auth/signup",
            json!({"email": "nope", "handle": "x1x", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_email").await;
}

async fn outbox_len(app: &TestApp) -> i64 {
    let mut db = app.store.conn().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0)
}

async fn forgot_password_is_limited(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    app.signup("mailbox@example.com", "mailbox", "correct horse battery")
        .await;
    let body = json!({"email": "mailbox@example.com"});
    let answers = burst(&app, "/api/v1/auth/password/forgot", vec![body; 12]).await;
    assert_eq!(count(&answers, StatusCode::ACCEPTED), 3);
    assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 9);
    assert!(answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .all(|a| a.retry_after.is_some() && a.code.as_deref() == Some("too_many_attempts")));
    assert_eq!(outbox_len(&app).await, 3, "at most three mails per hour");
    // Unknown addresses count the same way (the answer reveals nothing), and per address: the
    // caller has 7 requests left of 10.
    let spray: Vec<Value> = (0..10)
        .map(|i| json!({"email": format!("unknown{i}@example.com")}))
        .collect();
    let answers = burst(&app, "/api/v1/auth/password/forgot", spray).await;
    assert_eq!(count(&answers, StatusCode::ACCEPTED), 7);
    assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 3);
    assert_eq!(outbox_len(&app).await, 3);
}

async fn enable_totp(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let enrol: Value = app
        .post("/api/v1/auth/totp/enrol", json!({}), Some(token))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrol["secret"].as_str().unwrap().to_owned();
    let code = fanz_identity::current_code(&secret).unwrap();
    let ok = app
        .post(
            "/api/v1/auth/totp/verify",
            json!({"code": code}),
            Some(token),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let codes: Vec<String> =
        serde_json::from_value(ok.json::<Value>().await.unwrap()["recovery_codes"].clone())
            .unwrap();
    (secret, codes)
}

async fn totp_disable_is_limited_like_login(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let (token, _) = app.user("guarded").await;
    let (_, recovery) = enable_totp(&app, &token).await;
    let wrong: Vec<Value> = (0..12).map(|_| json!({"code": "zzzz-zzzz-zzzz"})).collect();
    let answers = {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for body in wrong {
            let req = app
                .client
                .post(app.url("/api/v1/auth/totp/disable"))
                .bearer_auth(&token)
                .json(&body);
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(answer(req.send().await.unwrap()).await);
            });
        }
        drop(tx);
        let mut out = Vec::new();
        while let Some(a) = rx.recv().await {
            out.push(a);
        }
        out
    };
    assert_refusals(&answers);
    assert_eq!(count(&answers, StatusCode::UNAUTHORIZED), 5);
    assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 7);
    // Locked for the window even with a good recovery code, which stays unspent.
    let locked = app
        .post(
            "/api/v1/auth/totp/disable",
            json!({"code": recovery[0]}),
            Some(&token),
        )
        .await;
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["totp_enabled"], true);
}

async fn reset_tokens(app: &TestApp, admin: &str) -> Vec<(String, String)> {
    let outbox: Value = app
        .get("/api/v1/admin/mail-outbox", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let body = m["body"].as_str().unwrap().to_owned();
            let token = body
                .split_whitespace()
                .find(|w| w.starts_with("fzr_"))
                .unwrap()
                .to_owned();
            (token, body)
        })
        .collect()
}

async fn reset_revokes_tokens_sessions_and_keys(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let (session, _) = app.user("resetter").await;
    let admin = app.admin().await;
    let key: Value = app
        .post(
            "/api/v1/auth/api-keys",
            json!({"name": "bot"}),
            Some(&session),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let res = app
            .post(
                "/api/v1/auth/password/forgot",
                json!({"email": "resetter@example.com"}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let tokens = reset_tokens(&app, &admin).await;
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens[0].1.contains("signs you out everywhere")
            && tokens[0].1.contains("revokes every API key"),
        "the mail says what a reset does: {}",
        tokens[0].1
    );
    let ok = app
        .post(
            "/api/v1/auth/password/reset",
            json!({"token": tokens[0].0, "password": "a brand new secret"}),
            None,
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // The second link died with the first use.
    let second = app
        .post(
            "/api/v1/auth/password/reset",
            json!({"token": tokens[1].0, "password": "the attacker's choice"}),
            None,
        )
        .await;
    assert_error(
        second,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reset_token",
    )
    .await;
    for old in [&session, &key] {
        assert_error(
            app.get("/api/v1/me", Some(old)).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
    app.login("resetter@example.com", "a brand new secret")
        .await;
}

async fn api_keys_cannot_change_account_security(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let (session, _) = app.user("keyholder").await;
    let key: Value = app
        .post(
            "/api/v1/auth/api-keys",
            json!({"name": "bot"}),
            Some(&session),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    for (path, body) in [
        ("/api/v1/auth/api-keys", json!({"name": "another"})),
        ("/api/v1/auth/totp/enrol", json!({})),
        ("/api/v1/auth/totp/verify", json!({"code": "123456"})),
        ("/api/v1/auth/totp/disable", json!({"code": "123456"})),
    ] {
        let res = app.post(path, body.clone(), Some(&key)).await;
        assert_error(res, StatusCode::FORBIDDEN, "session_required").await;
        let res = app
            .client
            .post(app.url(path))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "session_required").await;
    }
    let keys: Value = app
        .get("/api/v1/auth/api-keys", Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1, "the key minted nothing");
    // Reading stays open to keys.
    assert_eq!(
        app.get("/api/v1/me", Some(&key)).await.status(),
        StatusCode::OK
    );
}

async fn logout_with_x_api_key_ends_the_session(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let (token, _) = app.user("leaver").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("x-api-key", &token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.get("/api/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

async fn emails_cookies_and_caching(backend: Backend) {
    let Some(app) = app_with(backend, |c| c.cookie_secure = true).await else {
        return;
    };
    for email in [
        "ann\u{1F600}@example.com",
        "ann\u{202E}moc.elpmaxe@evil.com",
    ] {
        let res = app
            .post(
                "/api/v1/auth/signup",
                json!({"email": email, "handle": "tricky", "password": "correct horse battery"}),
                None,
            )
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_email").await;
    }
    app.signup("plain@example.com", "plain", "correct horse battery")
        .await;
    let login = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "plain@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["cache-control"], "no-store");
    let token = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let page = app.get("/login", None).await;
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("fanz_csrf="))
        .expect("a CSRF cookie")
        .to_owned();
    assert!(csrf_cookie.contains("; Secure"), "{csrf_cookie}");
    assert!(csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");

    let settings = app
        .client
        .get(app.url("/settings"))
        .header("cookie", format!("fanz_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), StatusCode::OK);
    assert_eq!(settings.headers()["cache-control"], "no-store");
}

async fn stored_totp(app: &TestApp, user_id: i64) -> (Option<String>, Option<String>) {
    let mut db = app.store.conn().await.unwrap();
    let row = sqlx::query("SELECT totp_secret, totp_pending_secret FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *db)
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn login_with_code(app: &TestApp, email: &str, code: &str) -> StatusCode {
    app.post(
        "/api/v1/auth/login",
        json!({"email": email, "password": "correct horse battery", "totp": code}),
        None,
    )
    .await
    .status()
}

async fn totp_secrets_are_sealed_at_rest(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let (token, _) = app.user("sealed").await;
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let id = me["id"].as_i64().unwrap();
    let enrol: Value = app
        .post("/api/v1/auth/totp/enrol", json!({}), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrol["secret"].as_str().unwrap().to_owned();
    let (_, pending) = stored_totp(&app, id).await;
    let pending = pending.unwrap();
    assert!(pending.starts_with("fzsec1:"), "{pending}");
    assert!(!pending.contains(&secret));
    let ok = app
        .post(
            "/api/v1/auth/totp/verify",
            json!({"code": fanz_identity::current_code(&secret).unwrap()}),
            Some(&token),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let (stored, pending) = stored_totp(&app, id).await;
    let stored = stored.unwrap();
    assert!(stored.starts_with("fzsec1:") && !stored.contains(&secret));
    assert!(pending.is_none());
    // The sealed secret checks codes: the next time step logs in.
    let next = fanz_identity::code_at_offset(&secret, 30).unwrap();
    assert_eq!(
        login_with_code(&app, "sealed@example.com", &next).await,
        StatusCode::OK
    );

    // A secret stored in clear before sealing existed still works, and is sealed by the
    // start-up pass.
    let (_, _) = app.user("legacy").await;
    let mut db = app.store.conn().await.unwrap();
    let legacy_id: i64 = sqlx::query("SELECT id FROM users WHERE handle = 'legacy'")
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0);
    sqlx::query("UPDATE users SET totp_secret = $1, totp_enabled = 1 WHERE id = $2")
        .bind(&secret)
        .bind(legacy_id)
        .execute(&mut *db)
        .await
        .unwrap();
    drop(db);
    // Two successive time steps, taken together: a code's step is accepted once.
    let (now, later) = (
        fanz_identity::current_code(&secret).unwrap(),
        fanz_identity::code_at_offset(&secret, 30).unwrap(),
    );
    assert_eq!(
        login_with_code(&app, "legacy@example.com", &now).await,
        StatusCode::OK
    );
    let n = fanz_identity::reseal_totp_secrets(&app.store, &app.state.identity.secrets)
        .await
        .unwrap();
    assert_eq!(n, 1, "only the clear secret needed sealing");
    let (stored, _) = stored_totp(&app, legacy_id).await;
    assert!(stored.unwrap().starts_with("fzsec1:"));
    assert_eq!(
        login_with_code(&app, "legacy@example.com", &later).await,
        StatusCode::OK
    );
}

async fn totp_keys_rotate(backend: Backend) {
    let k1 = fanz_secrets::generate_key_spec("k1");
    let k2 = fanz_secrets::generate_key_spec("k2");
    let old = fanz_secrets::Keyring::new(&k1, &[]).unwrap();
    let (current, retired) = (k2.clone(), k1.clone());
    let Some(app) = app_with(backend, move |c| {
        c.secrets.key = current;
        c.secrets.old_keys = vec![retired];
    })
    .await
    else {
        return;
    };
    app.user("rotated").await;
    let mut db = app.store.conn().await.unwrap();
    let id: i64 = sqlx::query("SELECT id FROM users WHERE handle = 'rotated'")
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0);
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    sqlx::query("UPDATE users SET totp_secret = $1, totp_enabled = 1 WHERE id = $2")
        .bind(old.seal_text(secret, &format!("totp:{id}")))
        .bind(id)
        .execute(&mut *db)
        .await
        .unwrap();
    drop(db);
    // Sealed under the retired key: still read. (Two successive steps, taken together.)
    let (now, next) = (
        fanz_identity::current_code(secret).unwrap(),
        fanz_identity::code_at_offset(secret, 30).unwrap(),
    );
    assert_eq!(
        login_with_code(&app, "rotated@example.com", &now).await,
        StatusCode::OK
    );
    let n = fanz_identity::reseal_totp_secrets(&app.store, &app.state.identity.secrets)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (stored, _) = stored_totp(&app, id).await;
    let stored = stored.unwrap();
    assert!(stored.starts_with("fzsec1:k2:"), "{stored}");
    // After the re-seal the retired key can go.
    let only_k2 = fanz_secrets::Keyring::new(&k2, &[]).unwrap();
    assert_eq!(
        only_k2.open_text(&stored, &format!("totp:{id}")).unwrap(),
        secret
    );
    assert_eq!(
        login_with_code(&app, "rotated@example.com", &next).await,
        StatusCode::OK
    );
}

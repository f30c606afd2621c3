use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    signup_login_me_logout,
    two_factor,
    throttling,
    password_reset,
    api_keys_and_roles,
    audit_chain
);

async fn signup_login_me_logout(app: TestApp) {
    let created = app
        .signup("Ann@Example.com", "Neon_Ann", "correct horse battery")
        .await;
    assert_eq!(created["handle"], "neon_ann");
    assert_eq!(created["email"], "ann@example.com");
    assert_eq!(created["roles"], json!(["fan"]));

    // Duplicates and bad input: clear errors, nothing written.
    let dup_email = app
        .post("/api/v1/auth/signup", json!({"email": "ann@example.com", "handle": "other", "password": "correct horse battery"}), None)
        .await;
    assert_error(dup_email, StatusCode::CONFLICT, "email_taken").await;
    let dup_handle = app
        .post("/api/v1/auth/signup", json!({"email": "b@example.com", "handle": "NEON_ANN", "password": "correct horse battery"}), None)
        .await;
    assert_error(dup_handle, StatusCode::CONFLICT, "handle_taken").await;
    for (body, code) in [
        (
            json!({"email": "nope", "handle": "bee", "password": "correct horse battery"}),
            "invalid_email",
        ),
        (
            json!({"email": "b@example.com", "handle": "b!", "password": "correct horse battery"}),
            "invalid_handle",
        ),
        (
            json!({"email": "b@example.com", "handle": "bee", "password": "short"}),
            "weak_password",
        ),
    ] {
        let res = app.post("/api/v1/auth/signup", body, None).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    // The refused sign-ups left nothing behind: the address and handle are still free.
    app.signup("b@example.com", "other", "correct horse battery")
        .await;

    let token = app.login("ann@example.com", "correct horse battery").await;
    assert!(token.starts_with("fzs_"));

    let wrong_pw = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "ann@example.com", "password": "wrong password!"}),
            None,
        )
        .await;
    let a = assert_error(wrong_pw, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let no_user = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "ghost@example.com", "password": "wrong password!"}),
            None,
        )
        .await;
    let b = assert_error(no_user, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        a, b,
        "an unknown email must look exactly like a wrong password"
    );

    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["handle"], "neon_ann");
    assert_eq!(me["roles"], json!(["fan"]));
    assert_eq!(me["profile"]["display_name"], "neon_ann");

    assert_error(
        app.get("/api/v1/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.get("/api/v1/me", Some("fzs_forged")).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    let out = app
        .post("/api/v1/auth/logout", json!({}), Some(&token))
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_error(
        app.get("/api/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

fn code_for(secret: &str) -> String {
    fanz_identity::current_code(secret).unwrap()
}

async fn two_factor(app: TestApp) {
    let (token, _) = app.user("tfa_user").await;
    let enrol: Value = app
        .post("/api/v1/auth/totp/enrol", json!({}), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrol["secret"].as_str().unwrap().to_owned();
    assert!(enrol["otpauth_url"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));

    let wrong = app
        .post(
            "/api/v1/auth/totp/verify",
            json!({"code": "000000"}),
            Some(&token),
        )
        .await;
    // 000000 could be the real code once in a million runs; the check below would then differ.
    if code_for(&secret) != "000000" {
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_totp").await;
    }
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["totp_enabled"], false,
        "a wrong code must not turn two-factor on"
    );

    // Keep the exact code: recomputing it later could land in the next 30 s step.
    let enrol_code = code_for(&secret);
    let ok = app
        .post(
            "/api/v1/auth/totp/verify",
            json!({"code": enrol_code}),
            Some(&token),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let codes: Vec<String> =
        serde_json::from_value(ok.json::<Value>().await.unwrap()["recovery_codes"].clone())
            .unwrap();
    assert_eq!(codes.len(), 10);

    let again = app
        .post("/api/v1/auth/totp/enrol", json!({}), Some(&token))
        .await;
    assert_error(again, StatusCode::CONFLICT, "totp_already_enabled").await;

    let creds = json!({"email": "tfa_user@example.com", "password": "correct horse battery"});
    assert_error(
        app.post("/api/v1/auth/login", creds.clone(), None).await,
        StatusCode::UNAUTHORIZED,
        "totp_required",
    )
    .await;

    // The code that confirmed enrolment was spent: its time step is refused now.
    let mut with_code = creds.clone();
    with_code["totp"] = json!(enrol_code);
    let replay = app
        .post("/api/v1/auth/login", with_code.clone(), None)
        .await;
    assert_error(replay, StatusCode::UNAUTHORIZED, "invalid_totp").await;

    // A recovery code works once.
    let mut with_recovery = creds.clone();
    with_recovery["totp"] = json!(codes[0]);
    let first = app
        .post("/api/v1/auth/login", with_recovery.clone(), None)
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = app.post("/api/v1/auth/login", with_recovery, None).await;
    assert_error(second, StatusCode::UNAUTHORIZED, "invalid_totp").await;

    // Disabling needs a valid second factor.
    let bad = app
        .post(
            "/api/v1/auth/totp/disable",
            json!({"code": "zzzz-zzzz-zzzz"}),
            Some(&token),
        )
        .await;
    assert_error(bad, StatusCode::UNAUTHORIZED, "invalid_totp").await;
    let off = app
        .post(
            "/api/v1/auth/totp/disable",
            json!({"code": codes[1]}),
            Some(&token),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    app.login("tfa_user@example.com", "correct horse battery")
        .await;
}

async fn throttling(app: TestApp) {
    app.signup("t@example.com", "throttled", "correct horse battery")
        .await;
    let wrong = json!({"email": "t@example.com", "password": "not the password"});
    for _ in 0..5 {
        let res = app.post("/api/v1/auth/login", wrong.clone(), None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.post("/api/v1/auth/login", wrong.clone(), None).await;
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert!(
        retry.is_some_and(|s| s > 0 && s <= 15 * 60 + 1),
        "Retry-After {retry:?}"
    );
    // Even the right password waits until the window passes.
    let right = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "t@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_error(right, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Other accounts from the same address are not locked out by one account's limit.
    app.signup("u@example.com", "unthrottled", "correct horse battery")
        .await;
    app.login("u@example.com", "correct horse battery").await;
}

async fn password_reset(app: TestApp) {
    let (old_token, _) = app.user("forgetful").await;
    let admin = app.admin().await;

    let res = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({"email": "forgetful@example.com"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let unknown = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({"email": "nobody@example.com"}),
            None,
        )
        .await;
    assert_eq!(
        unknown.status(),
        StatusCode::ACCEPTED,
        "unknown addresses get the same answer"
    );

    let outbox: Value = app
        .get("/api/v1/admin/mail-outbox", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let messages = outbox["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        1,
        "only the registered address gets mail: {outbox}"
    );
    assert_eq!(messages[0]["to"], "forgetful@example.com");
    let body = messages[0]["body"].as_str().unwrap();
    let token = body
        .split_whitespace()
        .find(|w| w.starts_with("fzr_"))
        .unwrap()
        .to_owned();

    let weak = app
        .post(
            "/api/v1/auth/password/reset",
            json!({"token": token, "password": "short"}),
            None,
        )
        .await;
    assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    // The weak attempt consumed nothing: the old password still works.
    app.login("forgetful@example.com", "correct horse battery")
        .await;

    let bogus = app
        .post(
            "/api/v1/auth/password/reset",
            json!({"token": "fzr_bogus", "password": "a brand new secret"}),
            None,
        )
        .await;
    assert_error(
        bogus,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reset_token",
    )
    .await;

    let ok = app
        .post(
            "/api/v1/auth/password/reset",
            json!({"token": token, "password": "a brand new secret"}),
            None,
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_error(
        app.get("/api/v1/me", Some(&old_token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let old = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "forgetful@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.login("forgetful@example.com", "a brand new secret")
        .await;

    let reuse = app
        .post(
            "/api/v1/auth/password/reset",
            json!({"token": token, "password": "another new secret"}),
            None,
        )
        .await;
    assert_error(
        reuse,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reset_token",
    )
    .await;
}

async fn api_keys_and_roles(app: TestApp) {
    let (token, _) = app.user("robot_owner").await;
    let bad = app
        .post("/api/v1/auth/api-keys", json!({"name": ""}), Some(&token))
        .await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    let created = app
        .post(
            "/api/v1/auth/api-keys",
            json!({"name": "stats bot"}),
            Some(&token),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("fzk_"));

    let via_header = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), StatusCode::OK);
    let me: Value = app
        .get("/api/v1/me", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["handle"], "robot_owner");

    let list: Value = app
        .get("/api/v1/auth/api-keys", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        list.to_string().find(&key).is_none(),
        "the key itself is never listed"
    );

    // Roles: a fan may not use admin tools; an admin may grant roles.
    assert_error(
        app.get("/api/v1/admin/mail-outbox", Some(&token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let admin = app.admin().await;
    let id = me["id"].as_i64().unwrap();
    let bad_role = app
        .post(
            &format!("/api/v1/admin/users/{id}/roles"),
            json!({"role": "emperor"}),
            Some(&admin),
        )
        .await;
    assert_error(bad_role, StatusCode::UNPROCESSABLE_ENTITY, "invalid_role").await;
    let granted = app
        .post(
            &format!("/api/v1/admin/users/{id}/roles"),
            json!({"role": "moderator"}),
            Some(&admin),
        )
        .await;
    assert_eq!(granted.status(), StatusCode::OK);
    let me: Value = app
        .get("/api/v1/me", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["fan", "moderator"]));
    let missing = app
        .post(
            "/api/v1/admin/users/999999/roles",
            json!({"role": "moderator"}),
            Some(&admin),
        )
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "user_not_found").await;

    let key_id = created["api_key"]["id"].as_i64().unwrap();
    let revoke = app
        .client
        .delete(app.url(&format!("/api/v1/auth/api-keys/{key_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_error(
        app.get("/api/v1/me", Some(&key)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/auth/api-keys/{key_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "api_key_not_found").await;

    // A disabled account's keys stop working with it (its sessions end).
    let second: Value = app
        .post(
            "/api/v1/auth/api-keys",
            json!({"name": "second bot"}),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let second = second["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/me", Some(&second)).await.status(),
        StatusCode::OK
    );
    {
        let mut db = app.store.conn().await.unwrap();
        fanz_identity::set_disabled(&mut db, id, true, &fanz_audit::Actor::system())
            .await
            .unwrap();
    }
    for credential in [&second, &token] {
        assert_error(
            app.get("/api/v1/me", Some(credential)).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
}

async fn audit_chain(app: TestApp) {
    let (token, _) = app.user("audited").await;
    let _ = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "audited@example.com", "password": "nope nope nope"}),
            None,
        )
        .await;
    app.post("/api/v1/auth/logout", json!({}), Some(&token))
        .await;
    let admin = app.admin().await;
    let audit: Value = app
        .get("/api/v1/admin/audit", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "user.created",
        "auth.login",
        "auth.login_failed",
        "auth.logout",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    assert!(
        audit["chain"]["Intact"]["entries"].as_u64().unwrap() >= 6,
        "{}",
        audit["chain"]
    );

    // The log refuses edits, so tampering needs to bypass the database's own guard.
    let mut db = app.store.conn().await.unwrap();
    let edit = fanz_store::sqlx::query("UPDATE audit_log SET action = 'x' WHERE id = 1")
        .execute(&mut *db)
        .await;
    assert!(edit.is_err(), "audit_log must be append-only");
    let delete = fanz_store::sqlx::query("DELETE FROM audit_log WHERE id = 1")
        .execute(&mut *db)
        .await;
    assert!(delete.is_err(), "audit_log must be append-only");
}

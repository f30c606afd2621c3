//! Creator onboarding and the records of who is depicted, over HTTP: the agreement, identity
//! verification through the sandbox provider (minors and expired documents refused), uploads
//! and paid posts gated on it, co-performers and their consent, withdrawal as a takedown, the
//! compliance officer's record store (encrypted documents, audited reads, roles), expiry
//! holding publishing and payouts, and the inspection export.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use crate::safety::{browser, csrf_of, html, signed_in, user_id};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    verification_gates_uploads_and_paid_posts,
    co_performers_consent_and_withdrawal,
    records_are_sealed_and_read_only_by_compliance,
    expired_documents_hold_publishing_and_payouts,
    onboarding_and_records_through_the_pages,
);

/// A creator who has not verified: (token, user id).
async fn unverified_creator(app: &TestApp, handle: &str) -> (String, i64) {
    let (token, _) = app.user(handle).await;
    let res = app
        .post(
            "/api/v1/me/creator",
            json!({"clusters": ["fanzlab", "boyfanz"]}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = user_id(app, &token).await;
    (token, id)
}

/// An account with the compliance role.
async fn officer(app: &TestApp, admin: &str, handle: &str) -> String {
    let (token, _) = app.user(handle).await;
    let id = user_id(app, &token).await;
    let res = app
        .post(
            &format!("/api/v1/admin/users/{id}/roles"),
            json!({"role": "compliance"}),
            Some(admin),
        )
        .await;
    assert!(res.status().is_success());
    token
}

async fn start(app: &TestApp, token: &str) -> String {
    let res = app
        .post("/api/v1/me/verification", json!({}), Some(token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let s: Value = res.json().await.unwrap();
    assert!(
        s["url"].as_str().unwrap().contains("/verify/sandbox/"),
        "{s}"
    );
    s["id"].as_str().unwrap().to_owned()
}

async fn sandbox(app: &TestApp, token: &str, session: &str, body: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/verification/sandbox/{session}"),
        body,
        Some(token),
    )
    .await
}

/// A ready media item of `owner`, hashed and screened as processing leaves it (processing is
/// media's own test).
async fn ready_media(app: &TestApp, owner: i64) -> i64 {
    let mut conn = app.store.conn().await.unwrap();
    let id = fanz_media::create(&mut conn, owner, fanz_media::MediaKind::Image)
        .await
        .unwrap();
    fanz_media::set_state(&mut conn, id, fanz_media::MediaState::Ready)
        .await
        .unwrap();
    let pdq = fanz_media::pdq::hash_image(&image::DynamicImage::new_rgb8(64, 64)).unwrap();
    fanz_media::set_pdq(&mut conn, id, &pdq.0, pdq.1)
        .await
        .unwrap();
    id
}

async fn put_performers(app: &TestApp, token: &str, media: i64, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/media/{media}/performers")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn publish(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    app.post(
        &format!("/api/v1/posts/{id}/publish"),
        json!({}),
        Some(token),
    )
    .await
}

fn codes(body: &Value) -> Vec<String> {
    body["error"]["reasons"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| r["code"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

const ADULT: &str = "1990-04-01";
const FAR: &str = "2035-01-01";

async fn verification_gates_uploads_and_paid_posts(app: TestApp) {
    let (tok, _) = unverified_creator(&app, "newbie").await;
    // Unverified: no uploads, no paid posts; a free text post is fine.
    let res = app
        .client
        .post(app.url("/api/v1/media"))
        .bearer_auth(&tok)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nabc\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "verification_required").await;
    let free = post_json(
        &app,
        &tok,
        json!({"text": "hello", "visibility": "public", "publish": true}),
    )
    .await;
    assert_eq!(free["state"], "published");
    let paid = post_json(
        &app,
        &tok,
        json!({"text": "members", "visibility": "subscribers"}),
    )
    .await;
    let paid_id = paid["id"].as_i64().unwrap();
    let body = assert_error(
        publish(&app, &tok, paid_id).await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    assert_eq!(
        codes(&body),
        ["agreement_required", "verification_required"],
        "{body}"
    );

    // The agreement: only its current version, a typed name.
    let a: Value = app
        .get("/api/v1/agreement", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(a["text"].as_str().unwrap().contains("18"));
    let res = app
        .post(
            "/api/v1/me/agreement",
            json!({"version": "1999-01-01", "typed_name": "New Bie"}),
            Some(&tok),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "stale_agreement").await;
    let res = app
        .post(
            "/api/v1/me/agreement",
            json!({"version": a["version"], "typed_name": "New Bie"}),
            Some(&tok),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["text_sha256"], a["sha256"]);

    // Under 18 on the document: refused, and nothing recorded as verified.
    let session = start(&app, &tok).await;
    let born = fanz_safety::records::format_date(
        fanz_safety::records::today()
            .replace_year(fanz_safety::records::today().year() - 17)
            .unwrap(),
    );
    let res = sandbox(
        &app,
        &tok,
        &session,
        json!({"legal_name": "New Bie", "date_of_birth": born, "id_expires_on": FAR}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["status"], "rejected");
    assert!(s["reason"].as_str().unwrap().contains("18"), "{s}");
    // A result is taken once: the same session cannot be approved afterwards.
    let again = sandbox(
        &app,
        &tok,
        &session,
        json!({"legal_name": "New Bie", "date_of_birth": ADULT, "id_expires_on": FAR}),
    )
    .await;
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "rejected");
    // An expired document: refused.
    let session = start(&app, &tok).await;
    let s: Value = sandbox(
        &app,
        &tok,
        &session,
        json!({"legal_name": "New Bie", "date_of_birth": ADULT, "id_expires_on": "2020-01-01"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(s["status"], "rejected");
    let st: Value = app
        .get("/api/v1/me/verification", Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["identity"], "none");
    assert_eq!(st["may_publish"], false);
    assert_error(
        publish(&app, &tok, paid_id).await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;

    // Someone else cannot answer this account's session, nor forge a provider's result.
    let session = start(&app, &tok).await;
    let (other, _) = app.user("intruder").await;
    let res = sandbox(
        &app,
        &other,
        &session,
        json!({"legal_name": "X Y", "date_of_birth": ADULT, "id_expires_on": FAR}),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let forged = json!({"session_id": session, "result": {"legal_name": "X Y", "date_of_birth": ADULT, "id_expires_on": FAR}});
    let res = app
        .client
        .post(app.url("/api/v1/verification/webhooks/sandbox"))
        .header(
            "fanz-sandbox-signature",
            format!("sha256={}", "00".repeat(32)),
        )
        .body(forged.to_string())
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // Verified: the paid post publishes, payouts are released.
    let s: Value = sandbox(
        &app,
        &tok,
        &session,
        json!({"legal_name": "New Bie", "date_of_birth": ADULT, "id_expires_on": FAR}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(s["status"], "verified", "{s}");
    let st: Value = app
        .get("/api/v1/me/verification", Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["identity"], "verified");
    assert_eq!(st["may_publish"], true);
    assert_eq!(st["payouts_released"], true);
    assert_eq!(publish(&app, &tok, paid_id).await.status(), StatusCode::OK);
    let res = app
        .post("/api/v1/me/verification", json!({}), Some(&tok))
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_verified").await;
}

async fn co_performers_consent_and_withdrawal(app: TestApp) {
    let ana = creator(&app, "ana_duo", &["fanzlab", "boyfanz"]).await;
    let ana_id = user_id(&app, &ana).await;
    let (ben, ben_id) = unverified_creator(&app, "ben_duo").await;
    let m = ready_media(&app, ana_id).await;

    // An account without a record cannot be tagged; another creator's item cannot be tagged.
    let res = put_performers(
        &app,
        &ana,
        m,
        json!({"performers": [{"handle": "ben_duo"}]}),
    )
    .await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "performer_unverified",
    )
    .await;
    let res = put_performers(&app, &ben, m, json!({"performers": []})).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.get(&format!("/api/v1/media/{m}/performers"), Some(&ben))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    app.verify(&ben, "Ben Duo").await;
    let res = put_performers(
        &app,
        &ana,
        m,
        json!({"performers": [{"handle": "ben_duo", "scope": {"clusters": ["fanzlab"]}}]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let tags: Value = res.json().await.unwrap();
    assert_eq!(tags[0]["status"], "pending");
    assert_eq!(tags[0]["handle"], "ben_duo");

    // Pending consent, and a cluster outside the scope, keep the post back.
    let p = post_json(&app, &ana, json!({"text": "duo", "visibility": "public", "media": [m], "clusters": ["fanzlab", "boyfanz"]})).await;
    let pid = p["id"].as_i64().unwrap();
    let body = assert_error(
        publish(&app, &ana, pid).await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    assert_eq!(
        codes(&body),
        ["performer_consent_pending", "performer_scope"],
        "{body}"
    );
    let mine: Value = app
        .get("/api/v1/me/appearances", Some(&ben))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["media_id"], m);
    assert_eq!(mine[0]["tagged_by_handle"], "ana_duo");
    // Nobody else answers Ben's tag.
    let res = app
        .post(
            &format!("/api/v1/me/appearances/{m}"),
            json!({"decision": "accept"}),
            Some(&ana),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .post(
            &format!("/api/v1/me/appearances/{m}"),
            json!({"decision": "accept"}),
            Some(&ben),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = assert_error(
        publish(&app, &ana, pid).await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    assert_eq!(codes(&body), ["performer_scope"]);
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/posts/{pid}")))
        .bearer_auth(&ana)
        .json(&json!({"clusters": ["fanzlab"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(publish(&app, &ana, pid).await.status(), StatusCode::OK);

    // An off-platform co-performer: a release is required, minors refused, a person checks.
    let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\nid card");
    // A release as a scanned PDF of 3 MB: more than the usual body limit, accepted here.
    let mut scan = b"%PDF-1.4 release signed ".to_vec();
    scan.resize(3 << 20, b'.');
    let pdf = base64::engine::general_purpose::STANDARD.encode(&scan);
    let rec = |dob: &str, docs: Value| json!({"legal_name": "Cara Offsite", "date_of_birth": dob, "aliases": ["Cee"], "id_type": "passport", "id_expires_on": FAR, "documents": docs});
    let res = app
        .post(
            "/api/v1/me/performers",
            rec(ADULT, json!([{"kind": "id_front", "data": png}])),
            Some(&ana),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "release_required").await;
    let res = app
        .post(
            "/api/v1/me/performers",
            rec(
                "2015-01-01",
                json!([{"kind": "id_front", "data": png}, {"kind": "release", "data": pdf}]),
            ),
            Some(&ana),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "underage").await;
    let res = app
        .post(
            "/api/v1/me/performers",
            rec(
                ADULT,
                json!([{"kind": "id_front", "data": "R0lGODlh"}, {"kind": "release", "data": pdf}]),
            ),
            Some(&ana),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_type").await;
    let res = app
        .post(
            "/api/v1/me/performers",
            rec(
                ADULT,
                json!([{"kind": "id_front", "data": png}, {"kind": "release", "data": pdf}]),
            ),
            Some(&ana),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cara: Value = res.json().await.unwrap();
    assert_eq!(cara["status"], "pending");
    let cara_id = cara["id"].as_i64().unwrap();
    // Ben cannot tag Ana's co-performer record.
    let bm = ready_media(&app, ben_id).await;
    let res = put_performers(
        &app,
        &ben,
        bm,
        json!({"performers": [{"performer_id": cara_id}]}),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let m2 = ready_media(&app, ana_id).await;
    let res = put_performers(
        &app,
        &ana,
        m2,
        json!({"performers": [{"performer_id": cara_id}]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p2 = post_json(
        &app,
        &ana,
        json!({"text": "with cara", "visibility": "public", "media": [m2]}),
    )
    .await;
    let p2id = p2["id"].as_i64().unwrap();
    let body = assert_error(
        publish(&app, &ana, p2id).await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    assert_eq!(codes(&body), ["performer_records_missing"]);
    let co = officer(&app, &app.admin().await, "cco_duo").await;
    let res = app
        .post(
            &format!("/api/v1/compliance/records/{cara_id}/decision"),
            json!({"outcome": "verify"}),
            Some(&co),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(publish(&app, &ana, p2id).await.status(), StatusCode::OK);

    // Ben withdraws: the post comes down at once and a case is open for it.
    assert_eq!(
        app.get(&format!("/api/v1/posts/{pid}"), None)
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .post(
            &format!("/api/v1/me/appearances/{m}"),
            json!({"decision": "withdraw"}),
            Some(&ben),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["taken_down"],
        json!([pid])
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{pid}"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let cases: Value = app
        .get("/api/v1/compliance/cases", Some(&co))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        cases
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["post_id"] == pid && c["kind"] == "non_consensual" && c["hold"] == true),
        "{cases}"
    );
    // Final: the creator cannot publish it again, nor un-withdraw by re-tagging.
    let res = put_performers(
        &app,
        &ana,
        m,
        json!({"performers": [{"handle": "ben_duo"}]}),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()[0]["status"], "withdrawn");
    let res = app
        .post(
            &format!("/api/v1/me/appearances/{m}"),
            json!({"decision": "accept"}),
            Some(&ben),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "invalid_transition").await;
    assert_eq!(
        publish(&app, &ana, pid).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{pid}"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn records_are_sealed_and_read_only_by_compliance(app: TestApp) {
    let (tok, uid) = unverified_creator(&app, "dana_docs").await;
    let marker = b"%PDF-1.4 PASSPORT-NUMBER-X93412 Dana Docs";
    let doc = base64::engine::general_purpose::STANDARD.encode(marker);
    let res = app
        .post(
            "/api/v1/me/performers",
            json!({"legal_name": "Dana Docs", "date_of_birth": ADULT, "aliases": ["Dee Dee", "Danny"], "id_type": "national_id",
                   "id_country": "nl", "id_expires_on": FAR, "documents": [{"kind": "id_front", "data": doc}], "own": true}),
            Some(&tok),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let rec: Value = res.json().await.unwrap();
    let rid = rec["id"].as_i64().unwrap();
    assert_eq!(rec["user_id"], uid);
    assert_eq!(rec["status"], "pending");
    let st: Value = app
        .get("/api/v1/me/verification", Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["identity"], "pending");

    // What the store holds is ciphertext.
    let mut conn = app.store.conn().await.unwrap();
    let rows = fanz_store::sqlx::query("SELECT ciphertext, data_key FROM safety_documents")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(rows.len(), 1);
    use fanz_store::sqlx::Row;
    let stored: Vec<u8> = rows[0].get(0);
    let key: String = rows[0].get(1);
    assert!(
        !stored.windows(8).any(|w| w == b"PASSPORT"),
        "the document is stored in the clear"
    );
    assert!(key.starts_with("fzsec1:"));

    // Only compliance reads records: not the creator, a moderator or an admin.
    let admin = app.admin().await;
    let (moder, _) = app.user("mod_docs").await;
    let mid = user_id(&app, &moder).await;
    app.post(
        &format!("/api/v1/admin/users/{mid}/roles"),
        json!({"role": "moderator"}),
        Some(&admin),
    )
    .await;
    for t in [&tok, &moder, &admin] {
        assert_error(
            app.get("/api/v1/compliance/records", Some(t)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_error(
            app.get(&format!("/api/v1/compliance/records/{rid}"), Some(t))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_error(
            app.get(
                &format!("/api/v1/compliance/records/{rid}/documents/1"),
                Some(t),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let res = app
            .post(
                &format!("/api/v1/compliance/records/{rid}/decision"),
                json!({"outcome": "verify"}),
                Some(t),
            )
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app
            .client
            .patch(app.url(&format!("/api/v1/compliance/records/{rid}")))
            .bearer_auth(t)
            .json(&json!({"legal_hold": true}))
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(
        app.get("/api/v1/compliance/records", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let co = officer(&app, &admin, "cco_docs").await;
    let co_id = user_id(&app, &co).await;

    // Indexed by legal name, cross-indexed by alias.
    for q in ["name=dana", "alias=dee", "alias=DANNY", "status=pending"] {
        let found: Value = app
            .get(&format!("/api/v1/compliance/records?{q}"), Some(&co))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1, "{q}: {found}");
        assert_eq!(found[0]["id"], rid);
    }
    let none: Value = app
        .get("/api/v1/compliance/records?alias=zzz", Some(&co))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));
    let d: Value = app
        .get(&format!("/api/v1/compliance/records/{rid}"), Some(&co))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["record"]["aliases"], json!(["Danny", "Dee Dee"]));
    assert_eq!(
        d["record"]["legal_hold"], false,
        "a refused correction changed nothing"
    );
    let doc_id = d["documents"][0]["id"].as_i64().unwrap();
    assert_eq!(d["documents"][0]["mime"], "application/pdf");
    let res = app
        .get(
            &format!("/api/v1/compliance/records/{rid}/documents/{doc_id}"),
            Some(&co),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.bytes().await.unwrap().as_ref(), marker);
    assert_error(
        app.get(
            &format!("/api/v1/compliance/records/{rid}/documents/{}", doc_id + 99),
            Some(&co),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Every reading is audited with the officer's id.
    let audit: Value = app
        .get("/api/v1/admin/audit?limit=50", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let events = audit["entries"].as_array().unwrap();
    let by_officer = |action: &str| {
        events
            .iter()
            .filter(|e| e["action"] == action && e["actor_id"] == co_id)
            .count()
    };
    assert!(by_officer("safety.record_viewed") >= 1, "{audit}");
    assert_eq!(by_officer("safety.document_viewed"), 1, "{audit}");

    // A rejection reaches the creator; a verification releases publishing and payouts.
    let res = app
        .post(
            &format!("/api/v1/compliance/records/{rid}/decision"),
            json!({"outcome": "reject"}),
            Some(&co),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "required").await;
    let res = app
        .post(
            &format!("/api/v1/compliance/records/{rid}/decision"),
            json!({"outcome": "reject", "reason": "the photo is unreadable"}),
            Some(&co),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let st: Value = app
        .get("/api/v1/me/verification", Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["identity"], "rejected");
    assert_eq!(st["reason"], "the photo is unreadable");
    let res = app
        .post(
            &format!("/api/v1/compliance/records/{rid}/decision"),
            json!({"outcome": "verify"}),
            Some(&co),
        )
        .await;
    let rec: Value = res.json().await.unwrap();
    assert_eq!(rec["status"], "verified");
    assert_eq!(
        rec["id_checked_on"],
        fanz_safety::records::format_date(fanz_safety::records::today())
    );
    let st: Value = app
        .get("/api/v1/me/verification", Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["identity"], "verified");
    assert_eq!(st["payouts_released"], true);

    // The inspection export: the record, its document in the clear, its depictions by URL.
    app.verify_agreement_only(&tok).await;
    let m = ready_media(&app, uid).await;
    let p = post_json(
        &app,
        &tok,
        json!({"text": "dana set", "visibility": "public", "media": [m], "publish": true}),
    )
    .await;
    assert_eq!(p["state"], "published", "{p}");
    let found: Value = app
        .get(
            &format!("/api/v1/compliance/records?url=/p/{}", p["id"]),
            Some(&co),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found[0]["id"], rid, "by content URL");
    let mut buf = std::io::Cursor::new(Vec::new());
    let today = fanz_safety::records::today();
    let mut tx = app.store.begin().await.unwrap();
    let sum = fanz_safety::export::write(
        &mut tx,
        &app.state.verification.keyring,
        fanz_safety::records::day_start_micros(today),
        fanz_safety::records::day_start_micros(today) + fanz_core::clock::DAY,
        &mut buf,
        &fanz_audit::Actor::cli(),
        |_, _| {},
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((sum.records, sum.documents, sum.depictions), (1, 1, 1));
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(buf.into_inner())).unwrap();
    let read = |z: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str| {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut z.by_name(name).unwrap(), &mut s).unwrap();
        s
    };
    let index = String::from_utf8(read(&mut z, "index.csv")).unwrap();
    assert!(
        index.contains("Dana Docs") && index.contains("Danny; Dee Dee") && index.contains(ADULT),
        "{index}"
    );
    let by_url = String::from_utf8(read(&mut z, "by-url.csv")).unwrap();
    assert!(by_url.contains(&format!("/p/{}", p["id"])), "{by_url}");
    assert_eq!(
        read(&mut z, &format!("records/{rid}/{doc_id}-id_front.pdf")),
        marker
    );
}

async fn statements(app: &TestApp, tok: &str) -> Vec<Value> {
    let st: Value = app
        .get("/api/v1/me/statements", Some(tok))
        .await
        .json()
        .await
        .unwrap();
    st.as_array().unwrap().clone()
}

async fn expired_documents_hold_publishing_and_payouts(app: TestApp) {
    let tok = creator(&app, "eve_exp", &["fanzlab"]).await;
    let uid = user_id(&app, &tok).await;
    let co = officer(&app, &app.admin().await, "cco_exp").await;
    let rec: Value = app
        .get("/api/v1/compliance/records?name=eve_exp", Some(&co))
        .await
        .json()
        .await
        .unwrap();
    let rid = rec[0]["id"].as_i64().unwrap();
    let paid = post_json(
        &app,
        &tok,
        json!({"text": "members", "visibility": "subscribers"}),
    )
    .await;
    let pid = paid["id"].as_i64().unwrap();

    // The nightly expiry at a simulated day after the document's end: payouts are held.
    let later = fanz_safety::records::parse_day("2035-01-02").unwrap();
    let mut tx = app.store.begin().await.unwrap();
    let held = fanz_safety::jobs::run_expiry(
        &mut tx,
        &app.state.payments,
        later,
        &fanz_audit::Actor::system(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(held, vec![uid]);
    // A statement of reasons for the payment suspension (EU DSA art. 17(1)(b)), no case.
    let st = statements(&app, &tok).await;
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(st[0]["restriction"], "payments");
    assert_eq!(st[0]["outcome"], "payouts_held");
    assert!(st[0]["case_id"].is_null());
    assert!(st[0]["reason"].as_str().unwrap().contains("2035-01-02"));
    let mut conn = app.store.conn().await.unwrap();
    assert!(
        !fanz_payments::payouts::account(&mut conn, uid)
            .await
            .unwrap()
            .identity_verified
    );
    drop(conn);
    // Run again: nothing new to act on.
    let mut tx = app.store.begin().await.unwrap();
    assert!(fanz_safety::jobs::run_expiry(
        &mut tx,
        &app.state.payments,
        later,
        &fanz_audit::Actor::system()
    )
    .await
    .unwrap()
    .is_empty());
    tx.commit().await.unwrap();

    // A correction to a past expiry (as a compliance officer finds it): publishing is refused.
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/compliance/records/{rid}")))
        .bearer_auth(&co)
        .json(&json!({"id_expires_on": "2021-06-30"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = assert_error(
        publish(&app, &tok, pid).await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    assert_eq!(codes(&body), ["id_expired"]);
    let st: Value = app
        .get("/api/v1/me/verification", Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["identity"], "expired");
    assert_eq!(st["payouts_released"], false);
    let res = app
        .client
        .post(app.url("/api/v1/media/uploads"))
        .bearer_auth(&tok)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Verifying again with a current document restores both.
    let s = start(&app, &tok).await;
    let res = sandbox(
        &app,
        &tok,
        &s,
        json!({"legal_name": "Eve Exp", "date_of_birth": ADULT, "id_expires_on": FAR}),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "verified");
    assert_eq!(publish(&app, &tok, pid).await.status(), StatusCode::OK);
    let st: Value = app
        .get("/api/v1/me/verification", Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["payouts_released"], true);
    let st = statements(&app, &tok).await;
    assert_eq!(st.len(), 2, "{st:?}");
    assert_eq!(st[0]["outcome"], "payouts_released");
    // The hold can be appealed: a case for reviewers about the payouts.
    let res = app
        .post(
            &format!("/api/v1/me/statements/{}/appeal", st[1]["id"]),
            json!({"text": "my new passport was uploaded the same day"}),
            Some(&tok),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let case: Value = res.json().await.unwrap();
    assert_eq!(case["kind"], "payments");
    assert_eq!(case["status"], "open");
    assert_eq!(case["url"], format!("/u/{uid}/payouts"));
    // The record kept its id; the correction is in the audit log with the value before.
    let rec: Value = app
        .get(&format!("/api/v1/compliance/records/{rid}"), Some(&co))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rec["record"]["legal_name"], "Eve Exp");
    assert_eq!(rec["record"]["id_expires_on"], FAR);
}

async fn onboarding_and_records_through_the_pages(app: TestApp) {
    let (_, _) = unverified_creator(&app, "page_pat").await;
    let b = signed_in(&app, "page_pat").await;
    let (status, page) = html(&b, &app, "/c/fanzlab/studio/verification").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Creator agreement") && page.contains("0 of 3 done"),
        "{page}"
    );
    let version = fanz_safety::onboarding::AGREEMENT_VERSION;
    let res = b
        .post(app.url("/c/fanzlab/studio/verification/agreement"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("version", version),
            ("typed_name", "Pat Page"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, page) = html(&b, &app, "/c/fanzlab/studio/verification?notice=signed").await;
    assert!(
        page.contains("Agreement signed") && page.contains("Pat Page"),
        "{page}"
    );
    let res = b
        .post(app.url("/c/fanzlab/studio/verification/start"))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/c/fanzlab/verify/sandbox/"), "{to}");
    let (status, sb) = html(&b, &app, &to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(sb.contains("Check your ID"));
    // Another account cannot open it.
    app.user("page_peek").await;
    let peek = signed_in(&app, "page_peek").await;
    assert_eq!(html(&peek, &app, &to).await.0, StatusCode::NOT_FOUND);
    let res = b
        .post(app.url(&to))
        .form(&[
            ("csrf", csrf_of(&sb).as_str()),
            ("outcome", "approve"),
            ("legal_name", "Pat Page"),
            ("date_of_birth", ADULT),
            ("id_type", "passport"),
            ("id_expires_on", FAR),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["location"],
        "/c/fanzlab/studio/verification?notice=verified"
    );
    let (_, page) = html(&b, &app, "/c/fanzlab/studio/verification?notice=verified").await;
    assert!(page.contains("3 of 3 done"), "{page}");

    // Records pages: compliance only; the document opens from the record page.
    assert_eq!(
        html(&b, &app, "/admin/records").await.0,
        StatusCode::FORBIDDEN
    );
    officer(&app, &app.admin().await, "page_cco").await;
    let c = signed_in(&app, "page_cco").await;
    let (status, list) = html(&c, &app, "/c/fanzlab/admin/records?name=pat").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("Pat Page"), "{list}");
    let start = list.find("/c/fanzlab/admin/records/").unwrap();
    let href: String = list[start..].split('"').next().unwrap().to_owned();
    let (status, rec) = html(&c, &app, &href).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        rec.contains("Depictions") && rec.contains("sandbox"),
        "{rec}"
    );
    let doc = rec[rec.find("/documents/").unwrap()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = c
        .get(app.url(&format!("{href}{doc}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(
        b.get(app.url(&format!("{href}{doc}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let anon = browser();
    assert_eq!(
        anon.get(app.url("/admin/records"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
}

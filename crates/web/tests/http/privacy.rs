//! Privacy requests over HTTP: the export holds everything a person owns and nothing of
//! anyone else, only its owner lists and downloads it, and three a day; erasure refuses while
//! money is owed, and otherwise removes the person while the books still verify and their
//! 2257 record stays readable by compliance.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, TestApp};
use crate::media::{settled, upload_ok};
use image::{ImageFormat, RgbImage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read;

macro_rules! privacy_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = crate::payments::spawn(fanz_store::Backend::Sqlite, None).await.expect("sqlite app");
                    super::$name(app).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match crate::payments::spawn(fanz_store::Backend::Postgres, None).await {
                        Some(app) => super::$name(app).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
}

privacy_tests!(
    privacy_export_holds_what_is_theirs_only,
    privacy_erasure_keeps_books_and_records
);

fn png(seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([seed, (x * 16) as u8, (y * 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn user_id(app: &TestApp, token: &str) -> i64 {
    app.get("/api/v1/me", Some(token))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// Ask for an export and wait until it is ready; returns its id.
pub(crate) async fn export_ready(app: &TestApp, token: &str) -> i64 {
    let res = app.post("/api/v1/me/export", json!({}), Some(token)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let e: Value = res.json().await.unwrap();
    let id = e["id"].as_i64().unwrap();
    for _ in 0..300 {
        let list: Value = app
            .get("/api/v1/me/exports", Some(token))
            .await
            .json()
            .await
            .unwrap();
        let e = list["exports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap();
        match e["state"].as_str().unwrap() {
            "ready" => {
                assert_eq!(
                    e["download"],
                    format!("/api/v1/me/exports/{id}/download"),
                    "{e}"
                );
                return id;
            }
            "pending" => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            other => panic!("export {other}: {e}"),
        }
    }
    panic!("the export was never ready");
}

/// Download an export and open it: file name → bytes.
pub(crate) async fn download(app: &TestApp, token: &str, id: i64) -> HashMap<String, Vec<u8>> {
    let res = app
        .get(&format!("/api/v1/me/exports/{id}/download"), Some(token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut out = HashMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.insert(f.name().to_owned(), b);
    }
    out
}

fn text_of(files: &HashMap<String, Vec<u8>>) -> String {
    files
        .iter()
        .filter(|(n, _)| n.ends_with(".json") || n.ends_with(".txt"))
        .map(|(n, b)| format!("== {n}\n{}\n", String::from_utf8_lossy(b)))
        .collect()
}

fn json_of(files: &HashMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(files.get(name).unwrap_or_else(|| panic!("{name} missing"))).unwrap()
}

async fn sandbox_sale(app: &TestApp, fan: &str, body: Value, id: &str) {
    let res = app.post("/api/v1/checkout", body.clone(), Some(fan)).await;
    assert_eq!(res.status(), StatusCode::CREATED, "checkout {body}");
    let c: Value = res.json().await.unwrap();
    let r = c["reference"].as_str().unwrap();
    let n = json!({"id": id, "type": "sale.approved", "reference": r, "subscription": format!("sub_{r}"),
                   "transaction": format!("txn_{id}"), "amount": c["amount"], "currency": c["currency"], "fee": 80});
    let n: fanz_processors::sandbox::Notification = serde_json::from_value(n).unwrap();
    let (body, sig) = n.sign("sandbox-test-secret");
    let res = app
        .client
        .post(app.url("/api/v1/payments/webhooks/sandbox"))
        .header("content-type", "application/json")
        .header(fanz_processors::sandbox::SIGNATURE_HEADER, sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "sale notification");
}

async fn privacy_export_holds_what_is_theirs_only(app: TestApp) {
    // A creator with a post edited once (a revision), a PPV post and a media item.
    let cora = creator(&app, "cora_exp", &["boyfanz"]).await;
    let post = post_json(
        &app,
        &cora,
        json!({"text": "first words of cora", "visibility": "public", "clusters": ["boyfanz"], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/posts/{post}")))
        .bearer_auth(&cora)
        .json(&json!({"text": "edited words of cora"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "edit");
    let ppv = post_json(
        &app,
        &cora,
        json!({"text": "pay to see cora", "visibility": "ppv", "price": {"amount": 500, "currency": "USD"}, "clusters": ["boyfanz"], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let original = png(7);
    let media = upload_ok(&app, &cora, &original, "me.png").await;
    settled(&app, &cora, media).await;

    // A fan comments, likes, bookmarks, follows and buys the PPV post.
    let (fred, _) = app.user("fred_exp").await;
    let res = app
        .post(
            &format!("/api/v1/posts/{post}/comments"),
            json!({"text": "fred says something private"}),
            Some(&fred),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let fred_comment = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/posts/{post}/comments"),
            json!({"text": "cora answers herself"}),
            Some(&cora),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for path in [
        format!("/api/v1/posts/{post}/likes"),
        format!("/api/v1/posts/{post}/bookmark"),
        "/api/v1/profiles/cora_exp/follow".to_owned(),
    ] {
        let res = app.post(&path, json!({}), Some(&fred)).await;
        assert!(res.status().is_success(), "{path}: {}", res.status());
    }
    sandbox_sale(
        &app,
        &fred,
        json!({"kind": "ppv", "post_id": ppv, "processor": "sandbox"}),
        "exp1",
    )
    .await;

    // The creator's export.
    let id = export_ready(&app, &cora).await;
    let files = download(&app, &cora, id).await;
    let all = text_of(&files);
    assert!(files.contains_key("README.txt"), "{:?}", files.keys());
    assert!(
        all.contains("custodian of records"),
        "the README names the custodian"
    );
    let account = json_of(&files, "account.json");
    assert_eq!(account["account"]["email"], "cora_exp@example.com");
    assert_eq!(account["account"]["handle"], "cora_exp");
    assert!(account["sessions"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    assert!(!all.contains("fzs_"), "no session token in the export");
    let content = json_of(&files, "content.json");
    let p = content["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == post)
        .cloned()
        .unwrap();
    assert_eq!(p["text"], "edited words of cora");
    assert_eq!(p["revisions"][0]["text"], "first words of cora", "{p}");
    assert_eq!(p["comments_by_others"], json!([fred_comment]));
    assert!(all.contains("cora answers herself"));
    let payments = json_of(&files, "payments.json");
    assert_eq!(payments["sales"][0]["amount"], 500, "{payments}");
    let m = json_of(&files, "media.json");
    let file = m[0]["file"].as_str().unwrap();
    assert_eq!(files[file], original, "the media original, byte for byte");
    let safety = json_of(&files, "safety.json");
    assert_eq!(
        safety["agreement_signatures"][0]["typed_name"],
        "cora_exp legal"
    );
    assert_eq!(safety["verification_sessions"][0]["status"], "verified");
    // Nothing of the fan's but the comment's id.
    for secret in ["fred_exp", "fred says something private"] {
        assert!(!all.contains(secret), "{secret} leaked into cora's export");
    }

    // The fan's export: their comment, like, bookmark, follow and charge; not cora's e-mail.
    let fid = export_ready(&app, &fred).await;
    let files = download(&app, &fred, fid).await;
    let all = text_of(&files);
    assert!(all.contains("fred says something private"));
    let content = json_of(&files, "content.json");
    assert_eq!(content["likes"][0]["post_id"], post);
    assert_eq!(content["bookmarks"][0]["post_id"], post);
    assert_eq!(
        json_of(&files, "profile.json")["following"][0]["handle"],
        "cora_exp"
    );
    let payments = json_of(&files, "payments.json");
    assert_eq!(payments["charges"][0]["amount"], 500, "{payments}");
    assert!(!all.contains("cora_exp@example.com"));
    assert!(!all.contains("cora answers herself"));

    // Another account neither lists nor downloads it; nobody without credentials.
    let list: Value = app
        .get("/api/v1/me/exports", Some(&fred))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["exports"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["id"] != id));
    assert_error(
        app.get(&format!("/api/v1/me/exports/{id}/download"), Some(&fred))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&format!("/api/v1/me/exports/{id}/download"), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    // Three a day: the fourth is refused with when to try again.
    export_ready(&app, &fred).await;
    export_ready(&app, &fred).await;
    let res = app.post("/api/v1/me/export", json!({}), Some(&fred)).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_exports").await;

    // The page lists them with a download link.
    let html = app
        .client
        .get(app.url("/settings/privacy"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        html.status(),
        StatusCode::SEE_OTHER,
        "signed out: to the login page"
    );
}

async fn privacy_erasure_keeps_books_and_records(app: TestApp) {
    let admin = app.admin().await;
    // A creator with a sale: refused while the sale's money is not paid out.
    let sal = creator(&app, "sal_seller", &["boyfanz"]).await;
    let ppv = post_json(
        &app,
        &sal,
        json!({"text": "for sale", "visibility": "ppv", "price": {"amount": 500, "currency": "USD"}, "clusters": ["boyfanz"], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (fan, _) = app.user("fay_fan").await;
    sandbox_sale(
        &app,
        &fan,
        json!({"kind": "ppv", "post_id": ppv, "processor": "sandbox"}),
        "er1",
    )
    .await;
    let res = app
        .post(
            "/api/v1/me/erasure",
            json!({"password": "correct horse battery"}),
            Some(&sal),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "balance_unpaid").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("payout"));

    // The fan who bought: a comment, then erasure (the wrong password first).
    let res = app
        .post(
            &format!("/api/v1/posts/{ppv}/comments"),
            json!({"text": "fay's very own words"}),
            Some(&fan),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_error(
        app.post(
            "/api/v1/me/erasure",
            json!({"password": "not it at all"}),
            Some(&fan),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let res = app
        .post(
            "/api/v1/me/erasure",
            json!({"password": "correct horse battery"}),
            Some(&fan),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_error(
        app.get("/api/v1/me", Some(&fan)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_error(
        app.post(
            "/api/v1/auth/login",
            json!({"email": "fay_fan@example.com", "password": "correct horse battery"}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/profiles/fay_fan", None).await.status(),
        StatusCode::NOT_FOUND
    );
    let comments: Value = app
        .get(&format!("/api/v1/posts/{ppv}/comments"), Some(&sal))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !comments.to_string().contains("fay's very own words"),
        "{comments}"
    );
    {
        let mut db = app.store.conn().await.unwrap();
        let report = fanz_ledger::verify(&mut db).await.unwrap();
        assert!(report.ok, "the books after a buyer's erasure: {report:?}");
    }

    // A verified creator without sales: a published post and an unpublished vault item.
    let cleo = creator(&app, "cleo_gone", &["boyfanz"]).await;
    let cleo_id = user_id(&app, &cleo).await;
    let shown = upload_ok(&app, &cleo, &png(1), "a.png").await;
    settled(&app, &cleo, shown).await;
    let vault = upload_ok(&app, &cleo, &png(2), "b.png").await;
    settled(&app, &cleo, vault).await;
    let post = post_json(
        &app,
        &cleo,
        json!({"text": "cleo was here", "visibility": "public", "media": [shown], "clusters": ["boyfanz"], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let res = app
        .post(
            "/api/v1/me/erasure",
            json!({"password": "correct horse battery"}),
            Some(&cleo),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["posts_deleted"], 1, "{done}");
    assert_eq!(done["media_deleted"], 1, "{done}");
    assert_eq!(
        done["media_kept"], 1,
        "the published depiction stays: {done}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{post}"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/profiles/cleo_gone", None).await.status(),
        StatusCode::NOT_FOUND
    );
    // Search drops her once its subscriber has seen `profiles.erased`.
    let mut found = Value::Null;
    for _ in 0..100 {
        found = app
            .get("/api/v1/search?q=cleo_gone&kind=creators", None)
            .await
            .json()
            .await
            .unwrap();
        if !found.to_string().contains("cleo_gone") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!found.to_string().contains("cleo_gone"), "{found}");
    assert_error(
        app.post(
            "/api/v1/auth/login",
            json!({"email": "cleo_gone@example.com", "password": "correct horse battery"}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    {
        let mut db = app.store.conn().await.unwrap();
        let user = fanz_identity::find_user(&mut db, cleo_id).await.unwrap();
        assert_eq!(user.email, format!("erased-{cleo_id}@invalid"));
        assert_eq!(user.handle, format!("erased_{cleo_id}"));
        assert!(user.disabled);
        assert!(matches!(
            fanz_media::get(&mut db, vault).await,
            Err(fanz_media::MediaError::NotFound)
        ));
        assert!(fanz_media::get(&mut db, shown).await.is_ok());
        let report = fanz_ledger::verify(&mut db).await.unwrap();
        assert!(report.ok, "the books after erasure: {report:?}");
    }

    // Her 2257 record is still there for compliance, with its documents' list.
    let rid = {
        let mut db = app.store.conn().await.unwrap();
        fanz_safety::records::of_user(&mut db, cleo_id)
            .await
            .unwrap()
            .expect("the record stays")
            .id
    };
    let (keeper, _) = app.user("kim_keeper").await;
    let kid = user_id(&app, &keeper).await;
    let res = app
        .post(
            &format!("/api/v1/admin/users/{kid}/roles"),
            json!({"role": "compliance"}),
            Some(&admin),
        )
        .await;
    assert!(res.status().is_success());
    let res = app
        .get(&format!("/api/v1/compliance/records/{rid}"), Some(&keeper))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rec: Value = res.json().await.unwrap();
    assert_eq!(rec["record"]["legal_name"], "cleo_gone legal", "{rec}");
}

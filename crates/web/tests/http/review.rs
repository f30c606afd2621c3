//! Review before publication over HTTP: PDQ hash lists quarantine matching images (on upload
//! and when a list is loaded) and the gate refuses them; banned terms refuse publishing and
//! blank searches; a cluster that reviews every post holds it until a moderator approves,
//! and a rejection gives the creator a statement of reasons; every route refuses
//! non-reviewers; the /admin/reviews page.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, TestApp};
use crate::media::{settled, upload_ok};
use crate::on_both_backends;
use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Cursor;

mod new_creators {
    use fanz_store::Backend;

    /// The built-in clusters, with CougarFanz reviewing a creator's first 2 posts.
    fn clusters() -> fanz_clusters::Clusters {
        let text = include_str!("../../../../clusters.toml");
        let at = text.find("slug = \"cougarfanz\"").unwrap();
        let policy = at + text[at..].find("[cluster.policy]").unwrap() + "[cluster.policy]".len();
        let text = format!(
            "{}\nreview = \"new_creators\"\nreview_first_posts = 2{}",
            &text[..policy],
            &text[policy..]
        );
        fanz_clusters::Clusters::parse(&text, "fanzlab").unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = crate::harness::spawn_with_clusters(Backend::Sqlite, |_| {}, clusters())
            .await
            .expect("sqlite app");
        super::new_creators_are_reviewed_until_they_have_posts(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        match crate::harness::spawn_with_clusters(Backend::Postgres, |_| {}, clusters()).await {
            Some(app) => super::new_creators_are_reviewed_until_they_have_posts(app).await,
            None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
        }
    }
}

/// With `review = "new_creators"` and `review_first_posts = 2`, a creator's posts wait for a
/// moderator until two of them are live; after that they publish at once.
async fn new_creators_are_reviewed_until_they_have_posts(app: TestApp) {
    let admin = app.admin().await;
    let moder = staff(&app, &admin, "mod_nc", "moderator").await;
    let cora = creator(&app, "cora", &["cougarfanz"]).await;
    let mut reviewed = vec![];
    for text in ["first post", "second post"] {
        let p = post_json(
            &app,
            &cora,
            json!({"text": text, "visibility": "public", "publish": true}),
        )
        .await;
        assert_eq!(p["state"], "draft", "{p}");
        reviewed.push(p["id"].as_i64().unwrap());
    }
    let queue: Value = app
        .get(
            "/api/v1/compliance/reviews?cluster=cougarfanz",
            Some(&moder),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue.as_array().unwrap().len(), 2, "{queue}");
    for r in queue.as_array().unwrap() {
        assert_eq!(r["new_creator"], true);
        assert_eq!(r["priority"], 1);
        let res = app
            .post(
                &format!("/api/v1/compliance/reviews/{}/decision", r["id"]),
                json!({"outcome": "approve"}),
                Some(&moder),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    for id in &reviewed {
        assert_eq!(
            app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
            StatusCode::OK
        );
    }
    // Two live posts: the third publishes without review, and so does an edit of the first.
    let p = post_json(
        &app,
        &cora,
        json!({"text": "third post", "visibility": "public", "publish": true}),
    )
    .await;
    assert_eq!(p["state"], "published", "{p}");
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/posts/{}", reviewed[0])))
        .bearer_auth(&cora)
        .json(&json!({"text": "first post, edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let queue: Value = app
        .get("/api/v1/compliance/reviews", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue, json!([]));
}

on_both_backends!(
    hash_lists_quarantine_matching_images,
    banned_terms_refuse_posts_and_blank_searches,
    review_holds_posts_until_approved,
    routes_refuse_non_reviewers,
    review_page_approves_and_rejects
);

async fn user_id(app: &TestApp, token: &str) -> i64 {
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

/// A signed-up user holding `role`, granted by the admin.
pub(crate) async fn staff(app: &TestApp, admin: &str, handle: &str, role: &str) -> String {
    let (token, _) = app.user(handle).await;
    let id = user_id(app, &token).await;
    let res = app
        .post(
            &format!("/api/v1/admin/users/{id}/roles"),
            json!({ "role": role }),
            Some(admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    token
}

pub(crate) async fn put(
    app: &TestApp,
    path: &str,
    body: Value,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.put(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

pub(crate) async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.delete(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// A picture with structure (gradients, a disc, bars), different per `seed`.
pub(crate) fn scene(seed: u32) -> DynamicImage {
    let (w, h) = (480u32, 320u32);
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let (cx, cy) = (0.3 + 0.1 * (seed % 4) as f32, 0.6 - 0.1 * (seed % 3) as f32);
        let disc = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt() < 0.2;
        let bars = ((fx * (3 + seed) as f32 * 2.0) as u32) & 1 == 0;
        let r = if disc { 230.0 } else { 40.0 + 150.0 * fx };
        let g = if bars { 200.0 * fy } else { 60.0 };
        let b = 255.0 * ((fx * 7.0 + seed as f32).sin() * 0.5 + 0.5);
        image::Rgb([r as u8, g as u8, b as u8])
    }))
}

pub(crate) fn png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

/// The hash a hash-sharing programme would list: of a smaller JPEG copy of the picture.
pub(crate) fn listed_hash(img: &DynamicImage) -> String {
    let mut jpeg = Vec::new();
    img.resize_exact(300, 200, image::imageops::FilterType::Triangle)
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    let copy = image::load_from_memory(&jpeg).unwrap();
    fanz_media::pdq::hash_image(&copy).unwrap().0.to_hex()
}

async fn hash_lists_quarantine_matching_images(app: TestApp) {
    let admin = app.admin().await;
    let officer = staff(&app, &admin, "officer_olga", "compliance").await;
    let moder = staff(&app, &admin, "mod_mia", "moderator").await;
    let pat = creator(&app, "hash_pat", &["boyfanz"]).await;

    let (bad, other) = (scene(0), scene(3));
    // A bad line is refused with its number; nothing is loaded.
    let res = put(
        &app,
        "/api/v1/compliance/hash-lists/known-bad",
        json!({"hashes": [listed_hash(&bad), "not a hash"]}),
        Some(&officer),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_hash").await;
    let res = put(
        &app,
        "/api/v1/compliance/hash-lists/known-bad",
        json!({"hashes": [listed_hash(&bad)]}),
        Some(&officer),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let loaded: Value = res.json().await.unwrap();
    assert_eq!(loaded["list"]["hash_count"], 1);
    assert_eq!(loaded["quarantined"], json!([]));

    // An upload of the listed picture (a different encoding and size) is quarantined when
    // processed; another picture is not.
    let hit = upload_ok(&app, &pat, &png(&bad), "bad.png").await;
    let item = settled(&app, &pat, hit).await;
    assert_eq!(item["state"], "quarantined", "{item}");
    let fine = upload_ok(&app, &pat, &png(&other), "fine.png").await;
    assert_eq!(settled(&app, &pat, fine).await["state"], "ready");

    // Publishing the quarantined item is refused; the other publishes.
    let p = post_json(
        &app,
        &pat,
        json!({"text": "new set", "visibility": "public", "media": [hit]}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/posts/{id}/publish"),
            json!({}),
            Some(&pat),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    let codes: Vec<&str> = body["error"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["media_quarantined"], "{body}");
    let ok = post_json(
        &app,
        &pat,
        json!({"text": "fine set", "visibility": "public", "media": [fine], "publish": true}),
    )
    .await;
    assert_eq!(ok["state"], "published");

    // A case for reviewers, audited.
    let cases: Value = app
        .get("/api/v1/compliance/cases?status=open", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["media_id"] == hit)
        .unwrap_or_else(|| panic!("no case for media {hit}: {cases}"))
        .clone();
    assert_eq!(case["kind"], "hash_match");
    assert_eq!(case["url"], format!("/media/{hit}"));
    let audit: Value = app
        .get("/api/v1/admin/audit?limit=200", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let actions = audit.to_string();
    for a in [
        "safety.hash_list_loaded",
        "safety.hash_matched",
        "media.quarantined",
    ] {
        assert!(actions.contains(a), "{a} not audited");
    }

    // Loading a list screens what is already stored: the published item is quarantined too,
    // and no longer delivered.
    let res = put(
        &app,
        "/api/v1/compliance/hash-lists/takedowns",
        json!({"hashes": [listed_hash(&other)]}),
        Some(&admin),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let loaded: Value = res.json().await.unwrap();
    assert_eq!(loaded["quarantined"], json!([fine]));
    assert_eq!(settled(&app, &pat, fine).await["state"], "quarantined");
    let lists: Value = app
        .get("/api/v1/compliance/hash-lists", Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lists.as_array().unwrap().len(), 2, "{lists}");

    // A reviewer finds the first match wrong: the item is ready again and publishes.
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{}/decision", case["id"]),
            json!({"outcome": "no_action", "reason": "a false match: the creator's own photo"}),
            Some(&moder),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(settled(&app, &pat, hit).await["state"], "ready");
    let res = app
        .post(
            &format!("/api/v1/posts/{id}/publish"),
            json!({}),
            Some(&pat),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = delete(
        &app,
        "/api/v1/compliance/hash-lists/takedowns",
        Some(&officer),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = delete(
        &app,
        "/api/v1/compliance/hash-lists/takedowns",
        Some(&officer),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn banned_terms_refuse_posts_and_blank_searches(app: TestApp) {
    let cleo = creator(&app, "terms_cleo", &["boyfanz"]).await;
    // The platform list, whole words in any case and spelling.
    for text in ["new UNDERAGE set", "she is under-age", "j a i l b a i t"] {
        let res = app
            .post(
                "/api/v1/posts",
                json!({"text": text, "visibility": "public", "publish": true}),
                Some(&cleo),
            )
            .await;
        let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
        assert_eq!(body["error"]["reasons"][0]["code"], "banned_term", "{text}");
    }
    // In tags and teasers too; nothing was saved.
    let res = app
        .post(
            "/api/v1/posts",
            json!({"text": "gym day", "visibility": "followers", "tags": ["incest"],
                   "teaser": "a preteen look", "publish": true}),
            Some(&cleo),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert_eq!(
        body["error"]["reasons"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    // Words that merely contain a term pass.
    let p = post_json(
        &app,
        &cleo,
        json!({"text": "grape juice with my therapist", "visibility": "public", "publish": true}),
    )
    .await;
    assert_eq!(p["state"], "published");
    // A cluster's own term: "blackmail" is banned on TabooFanz only.
    let p = post_json(
        &app,
        &cleo,
        json!({"text": "a blackmail roleplay", "visibility": "public", "publish": true}),
    )
    .await;
    assert_eq!(p["state"], "published");
    let res = app
        .post(
            "/api/v1/posts",
            json!({"text": "a blackmail roleplay", "visibility": "public", "clusters": ["taboofanz"], "publish": true}),
            Some(&cleo),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert!(
        body["error"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "banned_term"),
        "{body}"
    );
    // An edit that adds a term to a published post is refused; the post is unchanged.
    let id = p["id"].as_i64().unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/posts/{id}")))
        .bearer_auth(&cleo)
        .json(&json!({"text": "now with bestiality"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "publish_refused").await;

    // Searches: a banned query answers nothing, with the reason.
    let (fan, _) = app.user("terms_fan").await;
    for (q, cluster) in [("underage", None), ("Black-Mail", Some("taboofanz"))] {
        let path = match cluster {
            Some(c) => format!("/api/v1/search?q={q}&cluster={c}"),
            None => format!("/api/v1/search?q={q}"),
        };
        let res = app.get(&path, Some(&fan)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["posts"], json!([]), "{v}");
        assert_eq!(v["creators"], json!([]), "{v}");
        assert_eq!(v["refused"]["code"], "banned_term", "{v}");
    }
    let v: Value = app
        .get("/api/v1/search?q=blackmail&cluster=boyfanz", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(v.get("refused").is_none(), "{v}");
    let page = app
        .client
        .get(app.url("/c/boyfanz/search?q=jailbait"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("are not allowed here"));
}

async fn review_holds_posts_until_approved(app: TestApp) {
    let admin = app.admin().await;
    let moder = staff(&app, &admin, "mod_max", "moderator").await;
    let tara = creator(&app, "tara", &["taboofanz"]).await;
    let tara_id = user_id(&app, &tara).await;
    let (fan, _) = app.user("rev_fan").await;

    // TabooFanz reviews every post: publishing submits it; it stays unpublished.
    let p = post_json(
        &app,
        &tara,
        json!({"text": "first kink set", "visibility": "public", "publish": true}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["state"], "draft", "{p}");
    assert!(
        p["refusal"]
            .as_str()
            .is_some_and(|r| r.contains("waiting for review")),
        "{p}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), Some(&fan))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Publishing again answers 202 and queues nothing new.
    let res = app
        .post(
            &format!("/api/v1/posts/{id}/publish"),
            json!({}),
            Some(&tara),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mine: Value = app
        .get("/api/v1/me/reviews", Some(&tara))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["status"], "pending");

    // A paid post goes ahead of it in the queue.
    let paid = post_json(
        &app,
        &tara,
        json!({"text": "members only", "visibility": "subscribers", "publish": true}),
    )
    .await;
    let paid_id = paid["id"].as_i64().unwrap();
    let queue: Value = app
        .get("/api/v1/compliance/reviews?cluster=taboofanz", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    let order: Vec<i64> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["post_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [paid_id, id], "{queue}");
    assert_eq!(queue[0]["paid"], true);
    assert_eq!(queue[1]["clusters"], json!(["taboofanz"]));
    assert_eq!(queue[1]["author_id"], tara_id);
    let other: Value = app
        .get("/api/v1/compliance/reviews?cluster=boyfanz", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other, json!([]));
    let rid = queue[1]["id"].as_i64().unwrap();
    let detail: Value = app
        .get(&format!("/api/v1/compliance/reviews/{rid}"), Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["post"]["text"], "first kink set");

    // Bad decisions are refused with their codes.
    let decide = |rid: i64, body: Value| {
        let app = &app;
        let moder = moder.clone();
        async move {
            app.post(
                &format!("/api/v1/compliance/reviews/{rid}/decision"),
                body,
                Some(&moder),
            )
            .await
        }
    };
    let res = decide(rid, json!({"outcome": "maybe"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_outcome").await;
    let res = decide(rid, json!({"outcome": "reject", "reason": "  "})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "reason_required").await;
    assert_error(
        decide(999_999, json!({"outcome": "approve"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Approved: published, visible, and the approval is final.
    let res = decide(rid, json!({"outcome": "approve"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = app
        .get(&format!("/api/v1/posts/{id}"), Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["text"], "first kink set");
    assert_error(
        decide(
            rid,
            json!({"outcome": "reject", "reason": "changed my mind"}),
        )
        .await,
        StatusCode::CONFLICT,
        "review_decided",
    )
    .await;

    // Rejected: a statement of reasons on the post, in the creator's reviews and by mail.
    let paid_rid = queue[0]["id"].as_i64().unwrap();
    let res = decide(
        paid_rid,
        json!({"outcome": "reject", "reason": "the text promises content the post does not have"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mine: Value = app
        .get("/api/v1/me/reviews", Some(&tara))
        .await
        .json()
        .await
        .unwrap();
    let rejected = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["post_id"] == paid_id)
        .unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert!(rejected["reason"]
        .as_str()
        .unwrap()
        .contains("does not have"));
    let outbox: Value = app
        .get("/api/v1/admin/mail-outbox", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        outbox
            .to_string()
            .contains("Statement of reasons: your post was not approved"),
        "{outbox}"
    );
    // Unchanged, it is refused; changed, it is reviewed anew.
    let res = app
        .post(
            &format!("/api/v1/posts/{paid_id}/publish"),
            json!({}),
            Some(&tara),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert_eq!(body["error"]["reasons"][0]["code"], "review_rejected");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not have"));
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/posts/{paid_id}")))
        .bearer_auth(&tara)
        .json(&json!({"text": "members only: ten photos"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            &format!("/api/v1/posts/{paid_id}/publish"),
            json!({}),
            Some(&tara),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // A scheduled post is submitted when scheduled; approved, it waits for its time.
    let at = fanz_core::clock::now_micros() + 3_600_000_000;
    let s = post_json(
        &app,
        &tara,
        json!({"text": "tomorrow's set", "visibility": "public", "publish_at": at}),
    )
    .await;
    assert_eq!(s["state"], "scheduled");
    let sid = s["id"].as_i64().unwrap();
    let queue: Value = app
        .get("/api/v1/compliance/reviews", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    let srid = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["post_id"] == sid)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        decide(srid, json!({"outcome": "approve"})).await.status(),
        StatusCode::OK
    );
    let s: Value = app
        .get(&format!("/api/v1/posts/{sid}"), Some(&tara))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["state"], "scheduled");

    // Every decision is audited.
    let audit = app
        .get("/api/v1/admin/audit?limit=200", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    for a in [
        "safety.review_requested",
        "safety.review_approved",
        "safety.review_rejected",
    ] {
        assert!(audit.contains(a), "{a} not audited");
    }
}

/// Every review and hash-list route refuses signed-out callers, fans, creators (the post's
/// own and another), and, for hash lists, moderators.
async fn routes_refuse_non_reviewers(app: TestApp) {
    let admin = app.admin().await;
    let moder = staff(&app, &admin, "mod_nina", "moderator").await;
    let tara = creator(&app, "tara_two", &["taboofanz"]).await;
    let other = creator(&app, "other_cr", &["boyfanz"]).await;
    let (fan, _) = app.user("plain_fan").await;
    let p = post_json(
        &app,
        &tara,
        json!({"text": "held", "visibility": "public", "publish": true}),
    )
    .await;
    let queue: Value = app
        .get("/api/v1/compliance/reviews", Some(&moder))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue[0]["post_id"], p["id"]);
    let rid = queue[0]["id"].as_i64().unwrap();
    let one = format!("/api/v1/compliance/reviews/{rid}");
    let decision = format!("/api/v1/compliance/reviews/{rid}/decision");
    let approve = json!({"outcome": "approve"});
    let list = json!({"hashes": []});
    for token in [None, Some(fan.as_str()), Some(&tara), Some(&other)] {
        let expect = if token.is_some() {
            (StatusCode::FORBIDDEN, "forbidden")
        } else {
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        };
        for res in [
            app.get("/api/v1/compliance/reviews", token).await,
            app.get(&one, token).await,
            app.post(&decision, approve.clone(), token).await,
            app.get("/api/v1/compliance/hash-lists", token).await,
            put(&app, "/api/v1/compliance/hash-lists/x", list.clone(), token).await,
            delete(&app, "/api/v1/compliance/hash-lists/x", token).await,
        ] {
            assert_error(res, expect.0, expect.1).await;
        }
    }
    // Moderators review posts but do not keep hash lists.
    for res in [
        app.get("/api/v1/compliance/hash-lists", Some(&moder)).await,
        put(
            &app,
            "/api/v1/compliance/hash-lists/x",
            list.clone(),
            Some(&moder),
        )
        .await,
        delete(&app, "/api/v1/compliance/hash-lists/x", Some(&moder)).await,
    ] {
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Nothing was decided.
    let r: Value = app.get(&one, Some(&moder)).await.json().await.unwrap();
    assert_eq!(r["status"], "pending");
    // A creator sees only their own reviews.
    let mine: Value = app
        .get("/api/v1/me/reviews", Some(&other))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([]));
    assert_error(
        app.get("/api/v1/me/reviews", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

fn browser() -> reqwest::Client {
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

/// The queue page shows the post and its creator; a moderator approves one and rejects one
/// with a reason there; the creator's studio says "waiting for review" and then shows the
/// reason; a fan and a creator may not open the page.
async fn review_page_approves_and_rejects(app: TestApp) {
    let admin = app.admin().await;
    staff(&app, &admin, "page_mod", "moderator").await;
    let tina = creator(&app, "tina", &["taboofanz"]).await;
    let a = post_json(
        &app,
        &tina,
        json!({"text": "approve me please", "visibility": "public", "tags": ["latex"], "publish": true}),
    )
    .await;
    let b = post_json(
        &app,
        &tina,
        json!({"text": "reject me please", "visibility": "public", "publish": true}),
    )
    .await;
    let studio = signed_in(&app, "tina").await;
    let (status, page) = html(&studio, &app, "/c/taboofanz/studio").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("waiting for review"), "{page}");

    app.user("page_fan").await;
    let fan = signed_in(&app, "page_fan").await;
    assert_eq!(
        html(&fan, &app, "/admin/reviews").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        html(&studio, &app, "/admin/reviews").await.0,
        StatusCode::FORBIDDEN
    );

    let m = signed_in(&app, "page_mod").await;
    let (status, queue) = html(&m, &app, "/c/taboofanz/admin/reviews").await;
    assert_eq!(status, StatusCode::OK);
    for s in [
        "approve me please",
        "reject me please",
        "@tina",
        "TabooFanz",
        "#latex",
    ] {
        assert!(queue.contains(s), "{s} missing: {queue}");
    }
    let rid = |post: &Value| {
        let marker = format!("Post {} by", post["id"]);
        let at = queue.find(&marker).expect("the post in the queue");
        let before = &queue[..at];
        let open = before.rfind("id=\"review-").unwrap() + 11;
        before[open..].split('"').next().unwrap().to_owned()
    };
    let (ra, rb) = (rid(&a), rid(&b));
    let csrf = csrf_of(&queue);
    let res = m
        .post(app.url(&format!("/c/taboofanz/admin/reviews/{ra}/decide")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("outcome", "approve"),
            ("reason", ""),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    let res = m
        .post(app.url(&format!("/c/taboofanz/admin/reviews/{rb}/decide")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("outcome", "reject"),
            ("reason", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .contains("reason_required"));
    let res = m
        .post(app.url(&format!("/c/taboofanz/admin/reviews/{rb}/decide")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("outcome", "reject"),
            ("reason", "spam text with no content"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{}", a["id"]), None)
            .await
            .status(),
        StatusCode::OK
    );
    let (_, page) = html(&studio, &app, "/c/taboofanz/studio").await;
    assert!(page.contains("spam text with no content"), "{page}");
    let (status, done) = html(&m, &app, "/c/taboofanz/admin/reviews?status=rejected").await;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("reject me please") && done.contains("spam text"));
}

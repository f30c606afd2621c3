//! Posts, tiers, entitlements, the publish gate, interactions and feeds, over HTTP.

use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

on_both_backends!(
    entitlement_matrix,
    publish_gate_and_lifecycle,
    scheduled_publish_and_stories,
    interactions,
    feeds_and_pagination,
    other_accounts_are_refused,
    bad_input,
    search_finds_posts_and_creators,
    posts_carry_signed_media,
    fan_lists_page_by_handle
);

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// A signed-up creator on `clusters`: (token, handle).
pub async fn creator(app: &TestApp, handle: &str, clusters: &[&str]) -> String {
    let (token, _) = app.user(handle).await;
    let res = app
        .post(
            "/api/v1/me/creator",
            json!({ "clusters": clusters }),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "become creator");
    app.verify(&token, &format!("{handle} legal")).await;
    token
}

pub async fn post_json(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app.post("/api/v1/posts", body.clone(), Some(token)).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create {body}");
    res.json().await.unwrap()
}

async fn tier(app: &TestApp, token: &str, name: &str, amount: i64) -> i64 {
    let res = app
        .post(
            "/api/v1/creators/me/tiers",
            json!({"name": name, "price": {"amount": amount, "currency": "USD"}, "benefits": "All posts"}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn grant(app: &TestApp, admin: &str, body: Value) {
    let res = app
        .post("/api/v1/admin/grants", body.clone(), Some(admin))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "grant {body}");
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// What one viewer gets of one post: full, locked preview, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    F,
    L,
    N,
}

async fn seen(app: &TestApp, token: Option<&str>, id: i64, full_text: &str) -> Seen {
    let res = app.get(&format!("/api/v1/posts/{id}"), token).await;
    match res.status() {
        StatusCode::NOT_FOUND => Seen::N,
        StatusCode::OK => {
            let v: Value = res.json().await.unwrap();
            if v["locked"] == true {
                assert!(v["text"].is_null(), "a locked post leaks its text: {v}");
                assert_eq!(v["media"], json!([]), "a locked post leaks media: {v}");
                assert!(
                    !v.to_string().contains(full_text),
                    "locked body holds the text: {v}"
                );
                Seen::L
            } else {
                assert_eq!(v["text"], full_text);
                Seen::F
            }
        }
        s => panic!("unexpected status {s}"),
    }
}

async fn entitlement_matrix(app: TestApp) {
    use Seen::*;
    let admin = app.admin().await;
    let cleo = creator(&app, "cleo", &["girlfanz"]).await;
    let gold = tier(&app, &cleo, "Gold", 999).await;
    let _silver = tier(&app, &cleo, "Silver", 499).await;
    let free = tier(&app, &cleo, "Free", 0).await;

    let specs = [
        ("pub", json!({"visibility": "public"})),
        ("fol", json!({"visibility": "followers"})),
        ("sub_any", json!({"visibility": "subscribers"})),
        (
            "sub_gold",
            json!({"visibility": "subscribers", "tiers": [gold]}),
        ),
        (
            "sub_free",
            json!({"visibility": "subscribers", "tiers": [free, gold]}),
        ),
        (
            "ppv",
            json!({"visibility": "ppv", "price": {"amount": 500, "currency": "USD"}}),
        ),
        ("draft", json!({"visibility": "public"})),
    ];
    let mut posts = Vec::new();
    for (name, spec) in &specs {
        let mut body = spec.clone();
        body["text"] = json!(format!(
            "secret words of the {name} post, only for the entitled"
        ));
        body["publish"] = json!(*name != "draft");
        let p = post_json(&app, &cleo, body).await;
        posts.push((
            p["id"].as_i64().unwrap(),
            format!("secret words of the {name} post, only for the entitled"),
        ));
    }
    let ppv_id = posts[5].0;

    let mut viewers: Vec<(&str, Option<String>)> = vec![("anon", None)];
    for h in [
        "stranger",
        "follower",
        "goldfan",
        "silverfan",
        "expired",
        "freebie",
        "buyer",
        "revoked",
        "blocked",
    ] {
        viewers.push((h, Some(app.user(h).await.0)));
    }
    let tokens = viewers.clone();
    let tok = |name: &str| {
        tokens
            .iter()
            .find(|v| v.0 == name)
            .unwrap()
            .1
            .clone()
            .unwrap()
    };
    for h in ["follower", "blocked"] {
        let res = app
            .post("/api/v1/profiles/cleo/follow", json!({}), Some(&tok(h)))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let later = now_micros() + 30 * 86_400_000_000;
    let silver_id = {
        let v: Value = app
            .get("/api/v1/creators/cleo/tiers", None)
            .await
            .json()
            .await
            .unwrap();
        v["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "Silver")
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    for (h, t, ends) in [
        ("goldfan", gold, later),
        ("silverfan", silver_id, later),
        ("expired", gold, now_micros() - 3_600_000_000),
        ("blocked", gold, later),
    ] {
        grant(&app, &admin, json!({"kind": "subscription", "viewer": h, "creator": "cleo", "tier_id": t, "ends_at": ends, "source": "test"})).await;
    }
    let res = app
        .post(
            &format!("/api/v1/tiers/{free}/join"),
            json!({}),
            Some(&tok("freebie")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // A paid tier cannot be joined for free.
    let res = app
        .post(
            &format!("/api/v1/tiers/{gold}/join"),
            json!({}),
            Some(&tok("stranger")),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "payment_required").await;
    for h in ["buyer", "revoked"] {
        grant(
            &app,
            &admin,
            json!({"kind": "unlock", "viewer": h, "post_id": ppv_id, "source": "test"}),
        )
        .await;
    }
    grant(&app, &admin, json!({"kind": "revoke_unlock", "viewer": "revoked", "post_id": ppv_id, "reason": "refund"})).await;
    let res = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/creators/me/blocks/blocked",
        &cleo,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    viewers.push(("staff", Some(admin.clone())));
    viewers.push(("owner", Some(cleo.clone())));

    //            pub fol sub_any sub_gold sub_free ppv draft
    let expected: [(&str, [Seen; 7]); 13] = [
        ("anon", [F, L, L, L, L, L, N]),
        ("stranger", [F, L, L, L, L, L, N]),
        ("follower", [F, F, L, L, L, L, N]),
        ("goldfan", [F, F, F, F, F, L, N]),
        ("silverfan", [F, F, F, L, L, L, N]),
        ("expired", [F, L, L, L, L, L, N]),
        ("freebie", [F, F, L, L, F, L, N]),
        ("buyer", [F, L, L, L, L, F, N]),
        ("revoked", [F, L, L, L, L, L, N]),
        ("blocked", [N, N, N, N, N, N, N]),
        ("staff", [F, F, F, F, F, F, F]),
        ("owner", [F, F, F, F, F, F, F]),
        ("anon", [F, L, L, L, L, L, N]),
    ];
    let mut wrong = Vec::new();
    for (viewer, row) in expected {
        let token = viewers.iter().find(|v| v.0 == viewer).unwrap().1.clone();
        for (i, want) in row.iter().enumerate() {
            let got = seen(&app, token.as_deref(), posts[i].0, &posts[i].1).await;
            if got != *want {
                wrong.push(format!(
                    "{viewer} on {}: got {got:?}, want {want:?}",
                    specs[i].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "entitlement mismatches:\n{}",
        wrong.join("\n")
    );

    // The creator's page agrees: a stranger sees the published posts (locked ones as
    // previews with the way to unlock them), never the draft; the blocked fan sees nothing.
    let page: Value = app
        .get("/api/v1/creators/cleo/posts", Some(&tok("stranger")))
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 6, "{page}");
    assert!(
        !page.to_string().contains("secret words of the sub_gold"),
        "feed leaks: {page}"
    );
    let ppv = items.iter().find(|p| p["visibility"] == "ppv").unwrap();
    assert_eq!(ppv["unlock"]["action"], "purchase");
    assert_eq!(ppv["unlock"]["price"]["amount"], 500);
    let sub_gold = items.iter().find(|p| p["id"] == posts[3].0).unwrap();
    assert_eq!(sub_gold["unlock"]["action"], "subscribe");
    assert_eq!(sub_gold["unlock"]["tiers"].as_array().unwrap().len(), 1);
    let res = app
        .get("/api/v1/creators/cleo/posts", Some(&tok("blocked")))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Staff looks are audited.
    let audit: Value = app
        .get("/api/v1/admin/audit?limit=500", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit.to_string().contains("content.staff_viewed"),
        "{audit}"
    );
}

async fn publish_gate_and_lifecycle(app: TestApp) {
    let (fan, _) = app.user("just_a_fan").await;
    let res = app
        .post(
            "/api/v1/posts",
            json!({"text": "hi", "visibility": "public"}),
            Some(&fan),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let bo = creator(&app, "bobo", &["boyfanz"]).await;
    // A category BoyFanz does not take: the draft is kept, publishing is refused with why.
    let p = post_json(
        &app,
        &bo,
        json!({"text": "wrong place", "visibility": "public", "category": "female"}),
    )
    .await;
    assert_eq!(p["state"], "draft");
    let id = p["id"].as_i64().unwrap();
    let res = app
        .post(&format!("/api/v1/posts/{id}/publish"), json!({}), Some(&bo))
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert_eq!(
        body["error"]["reasons"][0]["code"], "category_not_allowed",
        "{body}"
    );
    // FanzCock takes short videos only.
    let res = app
        .post("/api/v1/posts", json!({"text": "no video", "visibility": "public", "clusters": ["fanzcock"], "publish": true}), Some(&bo))
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert_eq!(body["error"]["reasons"][0]["code"], "video_required");

    // Media must be the author's and finished processing.
    let owner_id = app
        .get("/api/v1/me", Some(&bo))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let mut conn = app.store.conn().await.unwrap();
    let media = fanz_media::create(&mut conn, owner_id, fanz_media::MediaKind::Image)
        .await
        .unwrap();
    let foreign = fanz_media::create(&mut conn, owner_id + 1000, fanz_media::MediaKind::Image)
        .await
        .unwrap();
    drop(conn);
    let res = app
        .post(
            "/api/v1/posts",
            json!({"text": "x", "visibility": "public", "media": [foreign]}),
            Some(&bo),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_media").await;
    let p = post_json(&app, &bo, json!({"text": "gym day", "visibility": "public", "media": [media], "tags": ["#Gym", "neon"]})).await;
    let id = p["id"].as_i64().unwrap();
    let res = app
        .post(&format!("/api/v1/posts/{id}/publish"), json!({}), Some(&bo))
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert_eq!(body["error"]["reasons"][0]["code"], "media_processing");
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut conn = app.store.conn().await.unwrap();
    fanz_media::set_state(&mut conn, media, fanz_media::MediaState::Ready)
        .await
        .unwrap();
    // Processing records the image's hash (screened against the hash lists); this item was
    // not processed, so it is recorded here.
    let pdq = fanz_media::pdq::hash_image(&image::DynamicImage::new_rgb8(64, 64)).unwrap();
    fanz_media::set_pdq(&mut conn, media, &pdq.0, pdq.1)
        .await
        .unwrap();
    drop(conn);
    let res = app
        .post(&format!("/api/v1/posts/{id}/publish"), json!({}), Some(&bo))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = app
        .get(&format!("/api/v1/posts/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["text"], "gym day");
    assert_eq!(v["tags"], json!(["gym", "neon"]));
    assert_eq!(v["media"][0]["id"], media);
    let published_at = v["published_at"].as_i64().unwrap();

    // An edit of a published post passes the gate again; refused, nothing changes.
    let edit = |body: Value| {
        app.client
            .patch(app.url(&format!("/api/v1/posts/{id}")))
            .bearer_auth(&bo)
            .json(&body)
            .send()
    };
    let res = edit(json!({"text": "moved", "category": "female"}))
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    let v: Value = app
        .get(&format!("/api/v1/posts/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["text"], "gym day");
    let res = edit(json!({"text": "leg day"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let revs: Value = app
        .get(&format!("/api/v1/posts/{id}/revisions"), Some(&bo))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revs["revisions"][0]["text"], "gym day", "{revs}");

    // Hide, publish again (same time), pin, delete.
    let res = app
        .post(&format!("/api/v1/posts/{id}/hide"), json!({}), Some(&bo))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::NOT_FOUND
    );
    let feed: Value = app
        .get("/api/v1/clusters/boyfanz/feed", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["items"], json!([]), "a hidden post stays out of feeds");
    let res = app
        .post(&format!("/api/v1/posts/{id}/publish"), json!({}), Some(&bo))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["published_at"], published_at);
    let res = app
        .post(&format!("/api/v1/posts/{id}/pin"), json!({}), Some(&bo))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = app
        .get("/api/v1/creators/bobo/posts", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["pinned"][0]["id"], id);
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/posts/{id}"),
        &bo,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), Some(&bo))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let feed: Value = app
        .get("/api/v1/clusters/boyfanz/feed", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["items"], json!([]));

    // Every change is audited.
    let admin = app.admin().await;
    let audit: Value = app
        .get("/api/v1/admin/audit?limit=500", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    for action in [
        "content.post_created",
        "content.post_published",
        "content.post_edited",
        "content.post_hidden",
        "content.post_pinned",
        "content.post_deleted",
    ] {
        assert!(text.contains(action), "{action} not audited");
    }
}

async fn scheduled_publish_and_stories(app: TestApp) {
    let sam = creator(&app, "sam", &["girlfanz"]).await;
    let at = now_micros() + 1_500_000;
    let p = post_json(
        &app,
        &sam,
        json!({"text": "later", "visibility": "public", "publish_at": at}),
    )
    .await;
    assert_eq!(p["state"], "scheduled");
    let id = p["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut visible = false;
    for _ in 0..100 {
        if app.get(&format!("/api/v1/posts/{id}"), None).await.status() == StatusCode::OK {
            visible = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(visible, "the scheduled post was not published by its job");
    let v: Value = app
        .get(&format!("/api/v1/posts/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(v["published_at"].as_i64().unwrap() >= at);

    // A scheduled post the gate refuses at its time goes back to drafts with the reason.
    let at = now_micros() + 1_000_000;
    let p = post_json(&app, &sam, json!({"text": "refused later", "visibility": "public", "publish_at": at, "category": "male"})).await;
    let id = p["id"].as_i64().unwrap();
    let mut refused = Value::Null;
    for _ in 0..100 {
        let mine: Value = app
            .get("/api/v1/me/posts?state=draft", Some(&sam))
            .await
            .json()
            .await
            .unwrap();
        if let Some(p) = mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
        {
            refused = p.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        refused["refusal"]
            .as_str()
            .is_some_and(|r| r.contains("does not take")),
        "{refused}"
    );

    // A story lasts 24 hours and shows in the stories of followers.
    let s = post_json(
        &app,
        &sam,
        json!({"kind": "story", "text": "morning", "visibility": "followers", "publish": true}),
    )
    .await;
    assert_eq!(s["kind"], "story");
    assert_eq!(
        s["expires_at"].as_i64().unwrap() - s["published_at"].as_i64().unwrap(),
        24 * 3_600_000_000
    );
    let (fan, _) = app.user("storyfan").await;
    let stories: Value = app
        .get("/api/v1/stories", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stories["rings"], json!([]));
    app.post("/api/v1/profiles/sam/follow", json!({}), Some(&fan))
        .await;
    let stories: Value = app
        .get("/api/v1/stories", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stories["rings"][0]["author"]["handle"], "sam");
    assert_eq!(stories["rings"][0]["stories"][0]["text"], "morning");
    // Stories stay out of the post feeds.
    let feed: Value = app
        .get("/api/v1/clusters/girlfanz/feed", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(!feed.to_string().contains("morning"));
}

async fn interactions(app: TestApp) {
    let kim = creator(&app, "kim", &["girlfanz"]).await;
    let open = post_json(
        &app,
        &kim,
        json!({"text": "open post", "visibility": "public", "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let locked = post_json(
        &app,
        &kim,
        json!({"text": "subs only", "visibility": "subscribers", "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();

    // Concurrent likes from many fans keep the count right.
    let mut fans = Vec::new();
    for i in 0..16 {
        fans.push(app.user(&format!("liker{i}")).await.0);
    }
    let path = format!("/api/v1/posts/{open}/likes");
    let likes = fans.iter().map(|t| app.post(&path, json!({}), Some(t)));
    for res in futures_util::future::join_all(likes).await {
        assert_eq!(res.status(), StatusCode::OK);
    }
    let again = app
        .post(
            &format!("/api/v1/posts/{open}/likes"),
            json!({}),
            Some(&fans[0]),
        )
        .await;
    assert_eq!(again.json::<Value>().await.unwrap()["likes"], 16);
    let v: Value = app
        .get(&format!("/api/v1/posts/{open}"), Some(&fans[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["likes"], 16);
    assert_eq!(v["viewer_liked"], true);
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/posts/{open}/likes"),
        &fans[1],
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["likes"], 15);
    // Locked: no likes or comments.
    let res = app
        .post(
            &format!("/api/v1/posts/{locked}/likes"),
            json!({}),
            Some(&fans[0]),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "locked").await;
    let res = app
        .post(
            &format!("/api/v1/posts/{locked}/comments"),
            json!({"text": "hi"}),
            Some(&fans[0]),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "locked").await;

    // Threaded comments; the creator hides one, its author deletes another.
    let c1: Value = app
        .post(
            &format!("/api/v1/posts/{open}/comments"),
            json!({"text": "<b>love</b> it"}),
            Some(&fans[0]),
        )
        .await
        .json()
        .await
        .unwrap();
    let c1id = c1["id"].as_i64().unwrap();
    let reply = app
        .post(
            &format!("/api/v1/posts/{open}/comments"),
            json!({"text": "same", "parent_id": c1id}),
            Some(&fans[1]),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["parent_id"], c1id);
    let list: Value = app
        .get(&format!("/api/v1/posts/{open}/comments"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["comments"].as_array().unwrap().len(), 2);
    assert_eq!(list["comments"][0]["text"], "<b>love</b> it");
    let res = app
        .post(
            &format!("/api/v1/comments/{c1id}/moderate"),
            json!({"action": "hide"}),
            Some(&fans[1]),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(
            &format!("/api/v1/comments/{c1id}/moderate"),
            json!({"action": "hide"}),
            Some(&kim),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = app
        .get(&format!("/api/v1/posts/{open}/comments"), Some(&fans[2]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["comments"].as_array().unwrap().len(), 1);
    let list: Value = app
        .get(&format!("/api/v1/posts/{open}/comments"), Some(&kim))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["comments"].as_array().unwrap().len(),
        2,
        "the creator still sees hidden comments"
    );
    let rid = reply["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/comments/{rid}/moderate"),
            json!({"action": "delete"}),
            Some(&fans[1]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = app
        .get(&format!("/api/v1/posts/{open}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["comments"], 0);

    // Comments are rate limited per account.
    let mut last = StatusCode::CREATED;
    for i in 0..8 {
        last = app
            .post(
                &format!("/api/v1/posts/{open}/comments"),
                json!({"text": format!("spam {i}")}),
                Some(&fans[3]),
            )
            .await
            .status();
        if last != StatusCode::CREATED {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);

    // Bookmarks.
    let res = app
        .post(
            &format!("/api/v1/posts/{open}/bookmark"),
            json!({}),
            Some(&fans[4]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let saved: Value = app
        .get("/api/v1/me/bookmarks", Some(&fans[4]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(saved["items"][0]["id"], open);
    assert_eq!(saved["items"][0]["viewer_bookmarked"], true);

    // A block hides everything of the creator from the fan, until lifted.
    let res = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/creators/me/blocks/liker5",
        &kim,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{open}"), Some(&fans[5]))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .post(
            &format!("/api/v1/posts/{open}/comments"),
            json!({"text": "hey"}),
            Some(&fans[5]),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let blocks: Value = app
        .get("/api/v1/creators/me/blocks", Some(&kim))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(blocks["handles"], json!(["liker5"]));
    let res = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/creators/me/blocks/liker5",
        &kim,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/posts/{open}"), Some(&fans[5]))
            .await
            .status(),
        StatusCode::OK
    );
}

async fn feeds_and_pagination(app: TestApp) {
    let a = creator(&app, "ava", &["girlfanz"]).await;
    let b = creator(&app, "bea", &["girlfanz"]).await;
    let c = creator(&app, "cat", &["girlfanz"]).await;
    let mut a_posts = Vec::new();
    for i in 0..5 {
        a_posts.push(post_json(&app, &a, json!({"text": format!("ava {i}"), "visibility": "public", "publish": true, "tags": ["Latex"]})).await["id"].as_i64().unwrap());
    }
    let b_post = post_json(
        &app,
        &b,
        json!({"text": "bea members", "visibility": "subscribers", "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let c_post = post_json(
        &app,
        &c,
        json!({"text": "cat public", "visibility": "public", "publish": true, "sensitive": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let free = tier(&app, &b, "Free", 0).await;
    let _ = free;

    let (fan, _) = app.user("feedfan").await;
    app.post("/api/v1/profiles/ava/follow", json!({}), Some(&fan))
        .await;
    let paid = tier(&app, &b, "Paid", 500).await;
    let admin = app.admin().await;
    grant(&app, &admin, json!({"kind": "subscription", "viewer": "feedfan", "creator": "bea", "tier_id": paid, "ends_at": null, "source": "test"})).await;

    // Home: followed and subscribed creators only, newest first, paged by cursor.
    let mut seen_ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/feed/home?limit=2&cursor={c}"),
            None => "/api/v1/feed/home?limit=2".into(),
        };
        let page: Value = app.get(&path, Some(&fan)).await.json().await.unwrap();
        for p in page["items"].as_array().unwrap() {
            seen_ids.push(p["id"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut want: Vec<i64> = a_posts.clone();
    want.push(b_post);
    want.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(seen_ids, want, "home feed");
    assert!(!seen_ids.contains(&c_post));

    // Cluster latest: sensitive posts are left out under safe search unless a signed-in
    // viewer turns it off; locked posts are previews.
    let feed: Value = app
        .get("/api/v1/clusters/girlfanz/feed", None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!ids.contains(&c_post));
    assert!(ids.contains(&b_post));
    assert!(
        !feed.to_string().contains("bea members"),
        "a locked post leaks in the feed"
    );
    let feed: Value = app
        .get("/api/v1/clusters/girlfanz/feed?safe=off", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert!(feed.to_string().contains("cat public"));

    // Trending: the liked post ranks first.
    for i in 0..3 {
        let (t, _) = app.user(&format!("trend{i}")).await;
        app.post(
            &format!("/api/v1/posts/{}/likes", a_posts[0]),
            json!({}),
            Some(&t),
        )
        .await;
    }
    let feed: Value = app
        .get("/api/v1/clusters/girlfanz/feed?sort=trending", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["items"][0]["id"], a_posts[0], "{feed}");

    // Tags are case-insensitive.
    let tag: Value = app
        .get("/api/v1/tags/LATEX/posts?cluster=girlfanz", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tag["items"].as_array().unwrap().len(), 5);

    // Fan lists.
    let fans: Value = app
        .get("/api/v1/creators/me/fans", Some(&b))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fans["people"][0]["handle"], "feedfan");
    assert_eq!(fans["people"][0]["subscribed"], true);
    let mine: Value = app
        .get("/api/v1/me/creators?filter=followers", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["people"].as_array().unwrap().len(), 1);
    assert_eq!(mine["people"][0]["handle"], "ava");

    let res = app
        .get("/api/v1/clusters/girlfanz/feed?cursor=bm9wZQ", None)
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor").await;
    let res = app
        .get("/api/v1/clusters/girlfanz/feed?sort=random", None)
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_sort").await;
    let res = app.get("/api/v1/clusters/nowhere/feed", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn other_accounts_are_refused(app: TestApp) {
    let own = creator(&app, "owner1", &["girlfanz"]).await;
    let other = creator(&app, "other1", &["girlfanz"]).await;
    let live = post_json(
        &app,
        &own,
        json!({"text": "live", "visibility": "public", "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let draft = post_json(&app, &own, json!({"text": "draft", "visibility": "public"})).await["id"]
        .as_i64()
        .unwrap();
    let t = tier(&app, &own, "Gold", 900).await;

    // A post the other creator can see: 403; one they may not know of: 404.
    let patch = |id: i64| {
        app.client
            .patch(app.url(&format!("/api/v1/posts/{id}")))
            .bearer_auth(&other)
            .json(&json!({"text": "mine now"}))
            .send()
    };
    assert_error(
        patch(live).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        patch(draft).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for (method, path) in [
        (reqwest::Method::DELETE, format!("/api/v1/posts/{live}")),
        (reqwest::Method::POST, format!("/api/v1/posts/{live}/hide")),
        (reqwest::Method::POST, format!("/api/v1/posts/{live}/pin")),
        (reqwest::Method::DELETE, format!("/api/v1/posts/{live}/pin")),
        (
            reqwest::Method::GET,
            format!("/api/v1/posts/{live}/revisions"),
        ),
    ] {
        let res = send(&app, method.clone(), &path, &other).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for (method, path) in [
        (
            reqwest::Method::POST,
            format!("/api/v1/posts/{draft}/publish"),
        ),
        (reqwest::Method::DELETE, format!("/api/v1/posts/{draft}")),
        (
            reqwest::Method::GET,
            format!("/api/v1/posts/{draft}/revisions"),
        ),
        (reqwest::Method::GET, format!("/api/v1/posts/{draft}")),
        (
            reqwest::Method::POST,
            format!("/api/v1/posts/{draft}/likes"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/posts/{draft}/bookmark"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/posts/{draft}/comments"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/creators/me/tiers/{t}"),
        ),
    ] {
        let res = send(&app, method.clone(), &path, &other).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let res = app
        .post(
            &format!("/api/v1/posts/{draft}/schedule"),
            json!({"publish_at": now_micros() + 60_000_000}),
            Some(&other),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .client
        .put(app.url(&format!("/api/v1/creators/me/tiers/{t}")))
        .bearer_auth(&other)
        .json(&json!({"name": "Mine", "price": {"amount": 300, "currency": "USD"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The owner's post, tier and draft are untouched.
    let v: Value = app
        .get(&format!("/api/v1/posts/{live}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["text"], "live");
    let tiers: Value = app
        .get("/api/v1/creators/owner1/tiers", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tiers["tiers"][0]["name"], "Gold");
    // Only admins grant entitlements.
    let res = app
        .post(
            "/api/v1/admin/grants",
            json!({"kind": "unlock", "viewer": "other1", "post_id": live, "source": "x"}),
            Some(&other),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Without a token, the writing routes are 401.
    let res = app
        .post(
            "/api/v1/posts",
            json!({"text": "x", "visibility": "public"}),
            None,
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let res = app.get("/api/v1/feed/home", None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let res = app
        .get("/api/v1/posts/1", Some("fzs_not_a_real_token"))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn bad_input(app: TestApp) {
    let cr = creator(&app, "vera", &["girlfanz"]).await;
    let cases = [
        (json!({"text": "x", "visibility": "ppv"}), "required"),
        (
            json!({"text": "x", "visibility": "ppv", "price": {"amount": 50, "currency": "USD"}}),
            "price_out_of_range",
        ),
        (
            json!({"text": "x", "visibility": "ppv", "price": {"amount": 500, "currency": "XYZ"}}),
            "unsupported_currency",
        ),
        (
            json!({"text": "x", "visibility": "public", "price": {"amount": 500, "currency": "USD"}}),
            "not_allowed",
        ),
        (
            json!({"text": "x", "visibility": "public", "clusters": ["atlantis"]}),
            "unknown_cluster",
        ),
        (
            json!({"text": "x", "visibility": "subscribers", "tiers": [424242]}),
            "unknown_tier",
        ),
        (
            json!({"text": "x", "visibility": "public", "tags": ["no spaces"]}),
            "invalid_tag",
        ),
        (
            json!({"text": "x".repeat(20_001), "visibility": "public"}),
            "too_long",
        ),
        (json!({"text": "", "visibility": "public"}), "required"),
        (
            json!({"text": "x", "visibility": "public", "publish_at": 1}),
            "in_the_past",
        ),
        (json!({"text": "x", "visibility": "secret"}), "invalid_body"),
    ];
    for (body, code) in cases {
        let res = app.post("/api/v1/posts", body.clone(), Some(&cr)).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    // A post longer than the cluster allows is a draft the gate refuses.
    let p = post_json(
        &app,
        &cr,
        json!({"text": "y".repeat(6000), "visibility": "public"}),
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/posts/{}/publish", p["id"]),
            json!({}),
            Some(&cr),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert_eq!(body["error"]["reasons"][0]["code"], "text_too_long");
    for (body, code) in [
        (
            json!({"name": "Cheap", "price": {"amount": 100, "currency": "USD"}}),
            "price_out_of_range",
        ),
        (
            json!({"name": "Odd", "price": {"amount": 500, "currency": "USD"}, "period_days": 31}),
            "invalid_period",
        ),
        (
            json!({"name": " ", "price": {"amount": 500, "currency": "USD"}}),
            "required",
        ),
    ] {
        let res = app.post("/api/v1/creators/me/tiers", body, Some(&cr)).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let res = app.get("/api/v1/posts/99999999", None).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/v1/posts/abc", None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn search_until(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    found: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let res = app.get(path, token).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        last = res.json().await.unwrap();
        if found(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path}: never found; last answer {last}");
}

async fn search_finds_posts_and_creators(app: TestApp) {
    let tok = creator(&app, "lola_latex", &["girlfanz"]).await;
    let open = post_json(&app, &tok, json!({"text": "shiny outfit night", "visibility": "public", "tags": ["latex"], "publish": true})).await["id"].as_i64().unwrap();
    let locked = post_json(&app, &tok, json!({"text": "hidden zebra words", "teaser": "a teaser about latex", "visibility": "subscribers", "tags": ["latex"], "publish": true})).await["id"].as_i64().unwrap();
    let spicy = post_json(&app, &tok, json!({"text": "spicy latex extra", "visibility": "public", "sensitive": true, "publish": true})).await["id"].as_i64().unwrap();

    // A misspelled tag finds both posts; the locked one is a preview.
    let v = search_until(&app, "/api/v1/search?q=latx&cluster=girlfanz", None, |v| {
        v["posts"].as_array().is_some_and(|p| p.len() >= 2)
    })
    .await;
    let ids: Vec<i64> = v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&open) && ids.contains(&locked), "{v}");
    assert!(
        !ids.contains(&spicy),
        "sensitive posts stay out under safe search"
    );
    assert!(
        !v.to_string().contains("hidden zebra"),
        "a locked post's text leaks: {v}"
    );
    let l = v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == locked)
        .unwrap();
    assert_eq!(l["locked"], true);
    // Words only in a locked post's text are not searchable.
    let v: Value = app
        .get("/api/v1/search?q=zebra", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["posts"], json!([]), "{v}");
    // Creators by a handle prefix.
    let v = search_until(&app, "/api/v1/search?q=lola&kind=creators", None, |v| {
        v["creators"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    assert_eq!(v["creators"][0]["handle"], "lola_latex");
    // A changed bio is searchable without a reindex (the profiles.updated event).
    let res = app
        .client
        .patch(app.url("/api/v1/me/profile"))
        .bearer_auth(&tok)
        .json(&json!({"bio": "marzipan sculptures on weekends"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v = search_until(&app, "/api/v1/search?q=marzipan&kind=creators", None, |v| {
        v["creators"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    assert_eq!(v["creators"][0]["handle"], "lola_latex");
    assert_eq!(v["total_posts_exact"], true);
    // Signed in, safe search off: the sensitive post shows.
    let (fan, _) = app.user("searcher").await;
    let v = search_until(
        &app,
        "/api/v1/search?q=spicy&cluster=girlfanz&safe=off",
        Some(&fan),
        |v| v["posts"].as_array().is_some_and(|p| !p.is_empty()),
    )
    .await;
    assert_eq!(v["posts"][0]["id"], spicy);
    // A deleted post leaves the index.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/posts/{open}")))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    search_until(&app, "/api/v1/search?q=shiny", None, |v| {
        v["posts"] == json!([])
    })
    .await;
    // A blocked fan finds neither the creator nor the posts.
    let res = app
        .client
        .post(app.url("/api/v1/creators/me/blocks/searcher"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let v: Value = app
        .get("/api/v1/search?q=lola", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["creators"], json!([]));
    assert_eq!(v["posts"], json!([]));
    // Bad input.
    let res = app.get("/api/v1/search?q=x&kind=everything", None).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind").await;
    let res = app.get("/api/v1/search?q=x&cluster=atlantis", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let long = "a%22b%20".repeat(300);
    let res = app.get(&format!("/api/v1/search?q={long}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The page.
    let html = app
        .client
        .get(app.url("/c/girlfanz/search?q=latx"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("a teaser about latex") && !html.contains("hidden zebra"));
}

async fn posts_carry_signed_media(app: TestApp) {
    use crate::media::{fetch, jpeg_with_gps, settled, upload_ok};
    let tok = creator(&app, "mia_media", &["girlfanz"]).await;
    let id = upload_ok(&app, &tok, &jpeg_with_gps(), "shoot.jpg").await;
    assert_eq!(settled(&app, &tok, id).await["state"], "ready");
    let open = post_json(
        &app,
        &tok,
        json!({"text": "open shoot", "visibility": "public", "media": [id], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let locked = post_json(&app, &tok, json!({"text": "members shoot", "visibility": "subscribers", "media": [id], "publish": true})).await["id"].as_i64().unwrap();
    let (fan, _) = app.user("media_fan").await;

    // Seen in full: a URL signed for this viewer, which serves the picture to them only.
    let v: Value = app
        .get(&format!("/api/v1/posts/{open}"), Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    let url = v["media"][0]["url"]
        .as_str()
        .expect("a signed url")
        .to_owned();
    assert!(v["media"][0]["width"].as_u64().unwrap() > 0);
    let res = fetch(&app, &url, Some(&fan)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let res = fetch(&app, &url, None).await;
    assert_ne!(
        res.status(),
        StatusCode::OK,
        "another viewer's URL is refused"
    );

    // Locked: no media, no ids, only the blurred teaser, which anyone may load.
    let v: Value = app
        .get(&format!("/api/v1/posts/{locked}"), Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["locked"], true);
    assert_eq!(v["media"], json!([]));
    let teaser = v["preview_url"].as_str().expect("a teaser url").to_owned();
    let res = fetch(&app, &teaser, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The pages show the picture and the teaser.
    let html = app
        .client
        .get(app.url("/c/girlfanz/@mia_media"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("class=\"lock-img\""),
        "teaser on the locked card"
    );
}

/// A creator's fan list and a fan's creator list come a page at a time in handle order; the
/// filter is applied before the page is cut; a fan with two live subscriptions is listed once.
async fn fan_lists_page_by_handle(app: TestApp) {
    let pager = creator(&app, "pager", &["girlfanz"]).await;
    let other = creator(&app, "otherpager", &["girlfanz"]).await;
    let gold = tier(&app, &pager, "Gold", 900).await;
    let silver = tier(&app, &pager, "Silver", 400).await;
    let admin = app.admin().await;
    let mut fans = Vec::new();
    for i in 0..6 {
        let (fan, _) = app.user(&format!("pfan{i}")).await;
        if i < 5 {
            let res = app
                .post("/api/v1/profiles/pager/follow", json!({}), Some(&fan))
                .await;
            assert!(res.status().is_success(), "follow {}", res.status());
        }
        fans.push(fan);
    }
    for (fan, t) in [
        ("pfan1", gold),
        ("pfan3", gold),
        ("pfan3", silver),
        ("pfan5", silver),
    ] {
        grant(&app, &admin, json!({"kind": "subscription", "viewer": fan, "creator": "pager", "tier_id": t, "ends_at": null, "source": "test"})).await;
    }
    let page = |q: &'static str| {
        let app = &app;
        let pager = &pager;
        async move {
            let res = app
                .get(&format!("/api/v1/creators/me/fans{q}"), Some(pager))
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    let handles = |v: &Value| -> Vec<String> {
        v["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["handle"].as_str().unwrap().to_owned())
            .collect()
    };

    // Every fan once, two a page, in handle order.
    let mut all = Vec::new();
    let mut after = String::new();
    for _ in 0..10 {
        let res = app
            .get(
                &format!("/api/v1/creators/me/fans?limit=2&after={after}"),
                Some(&pager),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        let got = handles(&v);
        assert!(got.len() <= 2, "{v}");
        all.extend(got);
        match v["next"].as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(all, ["pfan0", "pfan1", "pfan2", "pfan3", "pfan4", "pfan5"]);

    // Subscribers only, filtered before the page is cut; pfan3 once, with a live tier.
    let subs = page("?filter=subscribers&limit=2").await;
    assert_eq!(handles(&subs), ["pfan1", "pfan3"], "{subs}");
    assert_eq!(subs["next"], "pfan3");
    assert_eq!(subs["people"][1]["subscribed"], true);
    assert_eq!(subs["people"][1]["follows"], true);
    let rest = page("?filter=subscribers&limit=2&after=pfan3").await;
    assert_eq!(handles(&rest), ["pfan5"], "{rest}");
    assert_eq!(rest["people"][0]["follows"], false);
    assert!(rest["next"].is_null());
    let followers = page("?filter=followers&limit=500").await;
    assert_eq!(handles(&followers).len(), 5, "{followers}");
    assert_eq!(followers["people"][2]["subscribed"], false);

    // The fan's side: the creators they follow or subscribe to.
    let mine: Value = app
        .get("/api/v1/me/creators?filter=subscribers", Some(&fans[3]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(handles(&mine), ["pager"], "{mine}");

    // Another creator has their own (empty) list; bad paging is refused; no token, 401.
    let theirs = app
        .get("/api/v1/creators/me/fans", Some(&other))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(theirs["people"], json!([]), "{theirs}");
    let res = app
        .get("/api/v1/creators/me/fans?filter=everyone", Some(&pager))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_filter").await;
    let res = app
        .get("/api/v1/creators/me/fans?limit=0", Some(&pager))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit").await;
    let res = app.get("/api/v1/creators/me/fans", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

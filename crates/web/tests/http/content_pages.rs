//! The content pages as a browser uses them: the studio, discover, the post page, the home
//! feed and stories, with cookies and CSRF tokens.

use crate::content::creator;
use crate::harness::TestApp;
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    creator_publishes_through_the_pages,
    other_accounts_in_the_pages
);

pub(crate) fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

pub(crate) async fn page(b: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// A browser signed in as `handle` (password of the harness).
pub(crate) async fn signed_in(app: &TestApp, handle: &str) -> (Client, String) {
    let b = browser();
    let (_, html) = page(&b, app, "/c/girlfanz/login").await;
    let csrf = csrf_of(&html);
    let res = b
        .post(app.url("/c/girlfanz/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", &format!("{handle}@example.com")),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login {handle}");
    let (_, html) = page(&b, app, "/c/girlfanz/studio").await;
    let csrf = csrf_of(&html);
    (b, csrf)
}

pub(crate) async fn form(
    b: &Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    b.post(app.url(path)).form(fields).send().await.unwrap()
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn creator_publishes_through_the_pages(app: TestApp) {
    let token = creator(&app, "studio_sia", &["girlfanz", "egirlfanz"]).await;
    let (b, csrf) = signed_in(&app, "studio_sia").await;
    let (status, html) = page(&b, &app, "/c/girlfanz/studio").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("New post") && html.contains("Subscription tiers"));

    let res = form(
        &b,
        &app,
        "/c/girlfanz/studio/tiers",
        &[
            ("csrf", &csrf),
            ("name", "VIP"),
            ("price", "9.99"),
            ("period_days", "30"),
            ("benefits", "Everything"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/c/girlfanz/studio?done=tier");
    // A bad price is shown on the page, nothing saved.
    let res = form(
        &b,
        &app,
        "/c/girlfanz/studio/tiers",
        &[("csrf", &csrf), ("name", "Cheap"), ("price", "0.50")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("between"));

    for (text, visibility, price) in [
        ("members only words", "subscribers", ""),
        ("pay per view words", "ppv", "4.99"),
        ("<script>alert(1)</script> open words", "public", ""),
    ] {
        let res = form(
            &b,
            &app,
            "/c/girlfanz/studio/posts",
            &[
                ("csrf", &csrf),
                ("text", text),
                ("visibility", visibility),
                ("price", price),
                ("clusters", "girlfanz"),
                ("clusters", "egirlfanz"),
                ("tags", "neon, latex"),
                ("when", "now"),
            ],
        )
        .await;
        assert_eq!(
            location(&res),
            "/c/girlfanz/studio?done=published",
            "{text}"
        );
    }
    let mine: Value = app
        .get("/api/v1/creators/studio_sia/posts", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let id_of = |needle: &str| {
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["text"].as_str().unwrap().contains(needle))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (sub_id, ppv_id, open_id) = (
        id_of("members only"),
        id_of("pay per view"),
        id_of("open words"),
    );
    assert_eq!(
        mine["items"][0]["clusters"],
        json!(["egirlfanz", "girlfanz"])
    );

    // A follower sees previews with the way to unlock, not the words.
    let (fan_token, _) = app.user("page_follower").await;
    app.post(
        "/api/v1/profiles/studio_sia/follow",
        json!({}),
        Some(&fan_token),
    )
    .await;
    let (fb, fcsrf) = signed_in(&app, "page_follower").await;
    let (_, html) = page(&fb, &app, "/c/egirlfanz/discover").await;
    assert!(
        html.contains("Subscribe from $9.99/month to unlock"),
        "{html}"
    );
    assert!(html.contains("Unlock for $4.99"));
    assert!(!html.contains("members only words") && !html.contains("pay per view words"));
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "text is escaped"
    );
    assert!(!html.contains("<script>alert(1)"));
    let (_, html) = page(&fb, &app, "/c/girlfanz/feed").await;
    assert!(html.contains("open words") && !html.contains("members only words"));
    let (status, html) = page(&fb, &app, &format!("/c/girlfanz/p/{ppv_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Unlock this post for $4.99") && !html.contains("pay per view words"));

    // A granted subscriber sees the subscriber post in full, and comments and likes.
    let admin = app.admin().await;
    let tiers: Value = app
        .get("/api/v1/creators/studio_sia/tiers", None)
        .await
        .json()
        .await
        .unwrap();
    let (_, _) = app.user("page_subscriber").await;
    let res = app
        .post("/api/v1/admin/grants", json!({"kind": "subscription", "viewer": "page_subscriber", "creator": "studio_sia", "tier_id": tiers["tiers"][0]["id"], "ends_at": null, "source": "test"}), Some(&admin))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (sb, scsrf) = signed_in(&app, "page_subscriber").await;
    let (_, html) = page(&sb, &app, &format!("/c/girlfanz/p/{sub_id}")).await;
    assert!(html.contains("members only words"), "{html}");
    let res = form(
        &sb,
        &app,
        &format!("/c/girlfanz/p/{sub_id}/comment"),
        &[("csrf", &scsrf), ("text", "so good")],
    )
    .await;
    assert_eq!(location(&res), format!("/c/girlfanz/p/{sub_id}#comments"));
    let res = form(
        &sb,
        &app,
        &format!("/c/girlfanz/p/{sub_id}/like"),
        &[("csrf", &scsrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&sb, &app, &format!("/c/girlfanz/p/{sub_id}")).await;
    assert!(html.contains("so good") && html.contains("Liked"));
    // The follower may not comment on it.
    let res = form(
        &fb,
        &app,
        &format!("/c/girlfanz/p/{sub_id}/comment"),
        &[("csrf", &fcsrf), ("text", "let me in")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A stranger sees neither post's words, on either cluster.
    let anon = browser();
    for slug in ["girlfanz", "egirlfanz"] {
        let (_, html) = page(&anon, &app, &format!("/c/{slug}/discover")).await;
        assert!(html.contains("open words"));
        assert!(!html.contains("members only words") && !html.contains("pay per view words"));
    }
    let (_, html) = page(&anon, &app, &format!("/c/girlfanz/p/{sub_id}")).await;
    assert!(!html.contains("members only words") && html.contains("Sign in to see this post"));
    let (_, html) = page(&anon, &app, "/c/girlfanz/tags/latex").await;
    assert!(html.contains("#latex") && html.contains("open words"));
    let _ = open_id;
    // The creator's page: tiers with prices, the posts (locked ones as previews).
    let (status, html) = page(&anon, &app, "/c/girlfanz/@studio_sia").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("VIP") && html.contains("$9.99"), "tier cards");
    assert!(html.contains("open words") && html.contains("Unlock for $4.99"));
    assert!(!html.contains("members only words"));

    // The home feed needs a session; stories show in a viewer.
    let res = anon.get(app.url("/c/girlfanz/feed")).send().await.unwrap();
    assert_eq!(location(&res), "/c/girlfanz/login");
    let res = form(
        &b,
        &app,
        "/c/girlfanz/studio/posts",
        &[
            ("csrf", &csrf),
            ("kind", "story"),
            ("text", "story words"),
            ("visibility", "public"),
            ("clusters", "girlfanz"),
            ("when", "now"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/c/girlfanz/studio?done=published");
    let (_, html) = page(&fb, &app, "/c/girlfanz/feed").await;
    assert!(html.contains("/stories/studio_sia"), "the story ring shows");
    let (status, html) = page(&fb, &app, "/c/girlfanz/stories/studio_sia").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("story words"));
}

async fn other_accounts_in_the_pages(app: TestApp) {
    let token = creator(&app, "page_owner", &["girlfanz"]).await;
    creator(&app, "page_rival", &["girlfanz"]).await;
    let post: Value = app
        .post(
            "/api/v1/posts",
            json!({"text": "owner's words", "visibility": "public", "publish": true}),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = post["id"].as_i64().unwrap();
    let draft: Value = app
        .post(
            "/api/v1/posts",
            json!({"text": "owner's draft", "visibility": "public"}),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let draft_id = draft["id"].as_i64().unwrap();
    let (rb, rcsrf) = signed_in(&app, "page_rival").await;
    for action in ["delete", "hide", "pin"] {
        let res = form(
            &rb,
            &app,
            &format!("/c/girlfanz/studio/posts/{id}/{action}"),
            &[("csrf", &rcsrf)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let res = form(
        &rb,
        &app,
        &format!("/c/girlfanz/studio/posts/{draft_id}/publish"),
        &[("csrf", &rcsrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (status, _) = page(&rb, &app, &format!("/c/girlfanz/p/{draft_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let v: Value = app
        .get(&format!("/api/v1/posts/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["text"], "owner's words");
    // The rival's studio lists only the rival's posts.
    let (_, html) = page(&rb, &app, "/c/girlfanz/studio").await;
    assert!(!html.contains("owner's draft") && !html.contains("owner's words"));
    // A blocked account sees no trace of the creator's page.
    let res = app
        .client
        .post(app.url("/api/v1/creators/me/blocks/page_rival"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, html) = page(&rb, &app, "/c/girlfanz/@page_owner").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("owner's words"));
    // A form without its CSRF token is refused.
    let res = form(&rb, &app, &format!("/c/girlfanz/p/{id}/like"), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

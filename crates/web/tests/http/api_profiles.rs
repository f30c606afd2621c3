use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(profiles_and_follows);

async fn patch(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url("/api/v1/me/profile"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn profiles_and_follows(app: TestApp) {
    let (creator, _) = app.user("neon_nate").await;
    let (fan, _) = app.user("fan_fiona").await;

    let ok = patch(
        &app,
        &creator,
        json!({
            "display_name": "Neon Nate",
            "bio": "Gym and neon.",
            "avatar_url": "https://cdn.example.com/nate.png",
            "links": [{"label": "Site", "url": "https://nate.example.com"}]
        }),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let p: Value = ok.json().await.unwrap();
    assert_eq!(p["display_name"], "Neon Nate");
    assert_eq!(p["links"][0]["label"], "Site");

    // Bad input is refused whole: nothing of the update is applied.
    let bad = patch(
        &app,
        &creator,
        json!({"display_name": "Changed", "avatar_url": "javascript:alert(1)"}),
    )
    .await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_url").await;
    let unknown_field = patch(
        &app,
        &creator,
        json!({"display_name": "Changed", "is_admin": true}),
    )
    .await;
    assert_error(
        unknown_field,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    let p: Value = app
        .get("/api/v1/profiles/neon_nate", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["display_name"], "Neon Nate");

    let none = app
        .post(
            "/api/v1/me/creator",
            json!({"clusters": []}),
            Some(&creator),
        )
        .await;
    assert_error(none, StatusCode::UNPROCESSABLE_ENTITY, "required").await;
    let unknown = app
        .post(
            "/api/v1/me/creator",
            json!({"clusters": ["boyfanz", "nowherefanz"]}),
            Some(&creator),
        )
        .await;
    assert_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_cluster").await;
    let me: Value = app
        .get("/api/v1/me", Some(&creator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["roles"],
        json!(["fan"]),
        "a refused request grants nothing"
    );

    let ok = app
        .post(
            "/api/v1/me/creator",
            json!({"clusters": ["boyfanz", "jockfanz"]}),
            Some(&creator),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let me: Value = app
        .get("/api/v1/me", Some(&creator))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["fan", "creator"]));
    assert_eq!(me["profile"]["is_creator"], true);
    assert_eq!(me["profile"]["clusters"], json!(["boyfanz", "jockfanz"]));

    // The creator now shows on the cluster's landing page, and only there.
    let boy = app
        .client
        .get(app.url("/c/boyfanz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(boy.contains("@neon_nate"));
    let girl = app
        .client
        .get(app.url("/c/girlfanz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!girl.contains("@neon_nate"));

    // Follows keep counts and are idempotent.
    for _ in 0..2 {
        let res = app
            .post("/api/v1/profiles/neon_nate/follow", json!({}), Some(&fan))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let p: Value = app
        .get("/api/v1/profiles/neon_nate", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["followers"], 1);
    assert_eq!(p["viewer_follows"], true);
    let fp: Value = app
        .get("/api/v1/profiles/fan_fiona", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fp["following"], 1);
    let selfie = app
        .post(
            "/api/v1/profiles/neon_nate/follow",
            json!({}),
            Some(&creator),
        )
        .await;
    assert_error(selfie, StatusCode::UNPROCESSABLE_ENTITY, "self_follow").await;
    let ghost = app
        .post("/api/v1/profiles/ghost/follow", json!({}), Some(&fan))
        .await;
    assert_error(ghost, StatusCode::NOT_FOUND, "profile_not_found").await;
    let anon = app
        .post("/api/v1/profiles/neon_nate/follow", json!({}), None)
        .await;
    assert_error(anon, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    for _ in 0..2 {
        let res = app
            .client
            .delete(app.url("/api/v1/profiles/neon_nate/follow"))
            .bearer_auth(&fan)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let p: Value = app
        .get("/api/v1/profiles/neon_nate", Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["followers"], 0);
    assert_eq!(p["viewer_follows"], false);
    assert_error(
        app.get("/api/v1/profiles/ghost", None).await,
        StatusCode::NOT_FOUND,
        "profile_not_found",
    )
    .await;
}

//! The creator studio's media as a browser uses it: the vault page, the upload form that works
//! without script, uploads to the media API with the session cookie (and the CSRF rule that
//! keeps other sites out), and the compose form's media picker.

use crate::content::{creator, post_json};
use crate::content_pages::{browser, form, location, page, signed_in};
use crate::harness::{assert_error, TestApp};
use crate::media::{settled, upload_ok};
use crate::on_both_backends;
use image::{ImageFormat, RgbImage};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::io::Cursor;

on_both_backends!(
    vault_page_shows_own_media_and_where_it_is_used,
    upload_without_script,
    cookie_uploads_to_the_api_prove_same_origin,
    compose_attaches_media_in_order
);

/// A small PNG whose pixels depend on `seed`.
fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

const BOUNDARY: &str = "studio-media-boundary-41c9";

/// A `multipart/form-data` body: text fields, then one file part.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, ct, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn multipart_req(b: &Client, app: &TestApp, path: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    b.post(app.url(path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
}

/// An image uploaded through the API and processed.
async fn ready_image(app: &TestApp, token: &str, seed: u8) -> i64 {
    let id = upload_ok(app, token, &png(64, 48, seed), "p.png").await;
    assert_eq!(settled(app, token, id).await["state"], "ready");
    id
}

async fn vault_ids(app: &TestApp, token: &str) -> Vec<i64> {
    let v: Value = app
        .get("/api/v1/media", Some(token))
        .await
        .json()
        .await
        .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

async fn vault_page_shows_own_media_and_where_it_is_used(app: TestApp) {
    let ana = creator(&app, "vault_ana", &["girlfanz"]).await;
    let id = ready_image(&app, &ana, 3).await;
    let unused = ready_image(&app, &ana, 5).await;
    let post = post_json(
        &app,
        &ana,
        json!({"text": "With a picture", "visibility": "public", "clusters": ["girlfanz"],
               "media": [id], "publish": true}),
    )
    .await;
    let post_id = post["id"].as_i64().unwrap();

    let (b, csrf) = signed_in(&app, "vault_ana").await;
    let (status, html) = page(&b, &app, "/c/girlfanz/studio/media").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("data-media-id=\"{id}\"")), "{html}");
    assert!(html.contains(&format!("data-media-id=\"{unused}\"")));
    assert!(html.contains("Used in 1 post"));
    assert!(html.contains(&format!("href=\"/c/girlfanz/p/{post_id}\"")));
    assert!(html.contains("Not used in a post yet"));
    assert!(html.contains("64×48") && html.contains(">Ready<") && html.contains(">Photo<"));
    assert!(html.contains("href=\"/c/girlfanz/studio/media\">Media</a>"));
    // Its thumbnail is a URL signed for the owner, which the owner's cookie opens.
    let thumb = html
        .split("<img src=\"")
        .filter_map(|s| s.split('"').next())
        .find(|u| u.starts_with("/media/"))
        .expect("a thumbnail");
    let res = b.get(app.url(thumb)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");

    // Filters.
    let (_, videos) = page(&b, &app, "/c/girlfanz/studio/media?kind=video").await;
    assert!(!videos.contains("data-media-id=\""));
    assert!(videos.contains("No media matches these filters"));
    let (_, ready) = page(&b, &app, "/c/girlfanz/studio/media?kind=image&state=ready").await;
    assert!(ready.contains(&format!("data-media-id=\"{id}\"")));
    let (_, failed) = page(&b, &app, "/c/girlfanz/studio/media?state=failed").await;
    assert!(!failed.contains(&format!("data-media-id=\"{id}\"")));

    // The API says where it is used.
    let v: Value = app
        .get(&format!("/api/v1/media/{id}"), Some(&ana))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["used_in"],
        json!([{"post_id": post_id, "state": "published"}])
    );
    let vault: Value = app
        .get("/api/v1/media", Some(&ana))
        .await
        .json()
        .await
        .unwrap();
    let unused_item = vault["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == unused)
        .unwrap();
    assert_eq!(unused_item["used_in"], json!([]));

    // A published post's item cannot be deleted, from the page or the API.
    let res = form(
        &b,
        &app,
        &format!("/c/girlfanz/studio/media/{id}/delete"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("this item is in 1 published or scheduled post; hide or delete that post first"));
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/media/{id}")))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "media_in_use").await;

    // Another creator has a vault of their own, empty, and cannot touch the first's items.
    let _bea = creator(&app, "vault_bea", &["girlfanz"]).await;
    let (bb, bcsrf) = signed_in(&app, "vault_bea").await;
    let (status, html) = page(&bb, &app, "/c/girlfanz/studio/media").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No media yet"));
    assert!(
        !html.contains("data-media-id=\""),
        "another creator's items leak"
    );
    let res = form(
        &bb,
        &app,
        &format!("/c/girlfanz/studio/media/{unused}/delete"),
        &[("csrf", &bcsrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(vault_ids(&app, &ana).await.contains(&unused));

    // A fan is told to become a creator; a visitor is sent to log in.
    app.user("vault_fan").await;
    let (fb, _) = signed_in(&app, "vault_fan").await;
    let (status, html) = page(&fb, &app, "/c/girlfanz/studio/media").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Become a creator first"));
    assert!(!html.contains("data-media-id=\""));
    let res = browser()
        .get(app.url("/c/girlfanz/studio/media"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/c/girlfanz/login");

    // Hidden, the post no longer holds the item: it can go.
    let res = form(
        &b,
        &app,
        &format!("/c/girlfanz/studio/posts/{post_id}/hide"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = form(
        &b,
        &app,
        &format!("/c/girlfanz/studio/media/{id}/delete"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/c/girlfanz/studio/media?done=deleted");
    let res = app.get(&format!("/api/v1/media/{id}"), Some(&ana)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn upload_without_script(app: TestApp) {
    let cy = creator(&app, "nojs_cy", &["girlfanz"]).await;
    let (b, csrf) = signed_in(&app, "nojs_cy").await;
    let (_, html) = page(&b, &app, "/c/girlfanz/studio/media").await;
    assert!(html.contains("enctype=\"multipart/form-data\""));

    // A PNG named and labelled as text is stored as the picture its bytes say it is.
    let picture = png(40, 30, 9);
    let res = multipart_req(
        &b,
        &app,
        "/c/girlfanz/studio/media",
        multipart(
            &[("csrf", &csrf)],
            Some(("notes.txt", "text/plain", &picture)),
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/c/girlfanz/studio/media?done=uploaded");
    let ids = vault_ids(&app, &cy).await;
    assert_eq!(ids.len(), 1);
    let item = settled(&app, &cy, ids[0]).await;
    assert_eq!(item["kind"], "image");
    assert_eq!(item["mime"], "image/png");
    assert_eq!(item["state"], "ready");

    // Text named .jpg is refused with the reason, and nothing is stored.
    let res = multipart_req(
        &b,
        &app,
        "/c/girlfanz/studio/media",
        multipart(
            &[("csrf", &csrf)],
            Some((
                "photo.jpg",
                "image/jpeg",
                b"just some words, not a picture at all",
            )),
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("this type of file is not accepted"));
    // No file chosen.
    let res = multipart_req(
        &b,
        &app,
        "/c/girlfanz/studio/media",
        multipart(
            &[("csrf", &csrf)],
            Some(("", "application/octet-stream", b"")),
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("choose a file to upload"));
    assert_eq!(vault_ids(&app, &cy).await.len(), 1);

    // Without the form's token, or from another site, nothing is stored.
    let res = multipart_req(
        &b,
        &app,
        "/c/girlfanz/studio/media",
        multipart(
            &[("csrf", "forged")],
            Some(("a.png", "image/png", &picture)),
        ),
    )
    .send()
    .await
    .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = multipart_req(
        &b,
        &app,
        "/c/girlfanz/studio/media",
        multipart(&[("csrf", &csrf)], Some(("a.png", "image/png", &picture))),
    )
    .header("sec-fetch-site", "cross-site")
    .send()
    .await
    .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = multipart_req(
        &b,
        &app,
        "/c/girlfanz/studio/media",
        multipart(&[("csrf", &csrf)], Some(("a.png", "image/png", &picture))),
    )
    .header("origin", "https://elsewhere.example")
    .send()
    .await
    .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_eq!(vault_ids(&app, &cy).await.len(), 1);

    // A fan may not upload.
    let (fan, _) = app.user("nojs_fan").await;
    let (fb, fcsrf) = signed_in(&app, "nojs_fan").await;
    let res = multipart_req(
        &fb,
        &app,
        "/c/girlfanz/studio/media",
        multipart(&[("csrf", &fcsrf)], Some(("a.png", "image/png", &picture))),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.get("/api/v1/media", Some(&fan)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// A tus request from the signed-in browser.
fn tus(b: &Client, app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    b.request(method, app.url(path))
        .header("tus-resumable", "1.0.0")
}

async fn cookie_uploads_to_the_api_prove_same_origin(app: TestApp) {
    let di = creator(&app, "cookie_di", &["girlfanz"]).await;
    let (b, csrf) = signed_in(&app, "cookie_di").await;
    let picture = png(50, 40, 11);
    let file = || multipart(&[], Some(("p.png", "image/png", &picture)));

    // Other sites are refused whatever they send.
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://elsewhere.example"),
    ] {
        let res = multipart_req(&b, &app, "/api/v1/media", file())
            .header("x-csrf-token", &csrf)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
    // No proof at all, or a wrong token.
    let res = multipart_req(&b, &app, "/api/v1/media", file())
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = multipart_req(&b, &app, "/api/v1/media", file())
        .header("x-csrf-token", "not-the-token")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    assert!(vault_ids(&app, &di).await.is_empty());

    // Our own page: the token, or the browser's same-origin header.
    let res = multipart_req(&b, &app, "/api/v1/media", file())
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = multipart_req(&b, &app, "/api/v1/media", file())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(vault_ids(&app, &di).await.len(), 2);

    // The upload types are allowed only on the upload routes.
    let res = multipart_req(&b, &app, "/api/v1/posts", file())
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let res = b
        .post(app.url("/api/v1/media"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/offset+octet-stream")
        .body(picture.clone())
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    // tus with the cookie: create, then PATCH the bytes in two pieces.
    let res = tus(&b, &app, reqwest::Method::POST, "/api/v1/media/uploads")
        .header("x-csrf-token", &csrf)
        .header("upload-length", picture.len().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let half = picture.len() / 2;
    let patch = |offset: usize, bytes: Vec<u8>| {
        tus(&b, &app, reqwest::Method::PATCH, &loc)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(bytes)
    };
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://elsewhere.example"),
    ] {
        let res = patch(0, picture[..half].to_vec())
            .header("x-csrf-token", &csrf)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
    let res = patch(0, picture[..half].to_vec()).send().await.unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = patch(0, picture[..half].to_vec())
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Resuming asks where it stopped (HEAD needs no proof: it changes nothing).
    let res = tus(&b, &app, reqwest::Method::HEAD, &loc)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["upload-offset"], half.to_string().as_str());
    let res = patch(half, picture[half..].to_vec())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let id: i64 = res.headers()["fanz-media-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The page polls the item with its cookie.
    let res = b
        .get(app.url(&format!("/api/v1/media/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(settled(&app, &di, id).await["kind"], "image");
    // A cross-site DELETE of the item is refused; the owner's page may delete it.
    let res = b
        .delete(app.url(&format!("/api/v1/media/{id}")))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = b
        .delete(app.url(&format!("/api/v1/media/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Another account's cookie cannot read or continue this creator's uploads.
    let _eli = creator(&app, "cookie_eli", &["girlfanz"]).await;
    let (eb, ecsrf) = signed_in(&app, "cookie_eli").await;
    let own = vault_ids(&app, &di).await[0];
    let res = eb
        .get(app.url(&format!("/api/v1/media/{own}")))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "media_not_found").await;
    let res = tus(&b, &app, reqwest::Method::POST, "/api/v1/media/uploads")
        .header("x-csrf-token", &csrf)
        .header("upload-length", picture.len().to_string())
        .send()
        .await
        .unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let res = tus(&eb, &app, reqwest::Method::PATCH, &loc)
        .header("x-csrf-token", &ecsrf)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(picture.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Signed out: 401.
    let res = browser()
        .get(app.url("/api/v1/media"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn compose_attaches_media_in_order(app: TestApp) {
    let eve = creator(&app, "pick_eve", &["girlfanz"]).await;
    let first = ready_image(&app, &eve, 21).await;
    let second = ready_image(&app, &eve, 22).await;
    let fay = creator(&app, "pick_fay", &["girlfanz"]).await;
    let foreign = ready_image(&app, &fay, 23).await;

    let (b, csrf) = signed_in(&app, "pick_eve").await;
    let (_, html) = page(&b, &app, "/c/girlfanz/studio").await;
    for id in [first, second] {
        assert!(html.contains(&format!("id=\"pick-{id}\" name=\"media\" value=\"{id}\"")));
        assert!(html.contains(&format!("name=\"order_{id}\"")));
    }
    assert!(
        !html.contains(&format!("value=\"{foreign}\"")),
        "another creator's media in the picker"
    );
    assert!(html.contains("href=\"/c/girlfanz/studio/media\">Media</a>"));

    // Ticked first, placed second: the positions decide the order.
    let (first_s, second_s) = (first.to_string(), second.to_string());
    let (of, os) = (format!("order_{first}"), format!("order_{second}"));
    let res = form(
        &b,
        &app,
        "/c/girlfanz/studio/posts",
        &[
            ("csrf", &csrf),
            ("text", "Two pictures, second first"),
            ("visibility", "public"),
            ("clusters", "girlfanz"),
            ("kind", "post"),
            ("when", "now"),
            ("media", &first_s),
            (&of, "2"),
            ("media", &second_s),
            (&os, "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/c/girlfanz/studio?done=published");
    let posts: Value = app
        .get("/api/v1/creators/pick_eve/posts", None)
        .await
        .json()
        .await
        .unwrap();
    let post = &posts["items"][0];
    assert_eq!(post["media"][0]["id"], second, "{post}");
    assert_eq!(post["media"][1]["id"], first);

    // Another creator's item is refused, and nothing is saved.
    let foreign_s = foreign.to_string();
    let res = form(
        &b,
        &app,
        "/c/girlfanz/studio/posts",
        &[
            ("csrf", &csrf),
            ("text", "Not mine"),
            ("visibility", "public"),
            ("clusters", "girlfanz"),
            ("when", "now"),
            ("media", &first_s),
            ("media", &foreign_s),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(&format!("media {foreign} is not in your vault")));
    let posts: Value = app
        .get("/api/v1/creators/pick_eve/posts", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(posts["items"].as_array().unwrap().len(), 1);
}

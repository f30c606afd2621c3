//! Media: uploads (multipart and tus), processing, the vault, signed delivery. Every file is
//! generated here.

use crate::harness::{assert_error, spawn_with, TestApp};
use fanz_config::Config;
use fanz_store::Backend;
use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Cursor;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Each test on SQLite and, with FANZ_TEST_POSTGRES_URL, PostgreSQL; the media store is a
/// directory, or an S3-compatible server when FANZ_TEST_S3_ENDPOINT is set (see
/// [`spawn_media`]).
macro_rules! media_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = super::spawn_media(fanz_store::Backend::Sqlite, |c| super::settings(stringify!($name), c)).await.expect("sqlite app");
                    super::$name(app).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match super::spawn_media(fanz_store::Backend::Postgres, |c| super::settings(stringify!($name), c)).await {
                        Some(app) => super::$name(app).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
}

media_tests!(
    images_are_processed_and_stripped,
    bad_files_fail_or_are_refused,
    other_accounts_are_refused,
    signed_urls,
    tus_resumes_after_an_interruption,
    quota_and_size_limits,
    video_becomes_an_hls_ladder,
    audio_becomes_aac_with_a_waveform,
    bad_video_fails_with_a_clear_state,
    hls_only_for_the_entitled_viewer,
    without_ffmpeg_video_is_refused,
    a_leaked_picture_names_its_viewer,
    a_recorded_video_names_its_viewer,
    a_visible_watermark_when_the_creator_wants_one,
    ffmpeg_over_its_memory_limit_fails_cleanly,
);

/// Settings a test needs besides the defaults.
fn settings(test: &str, c: &mut Config) {
    if test == "quota_and_size_limits" {
        c.media.quota_bytes = 20_000;
        c.media.max_upload_bytes = 15_000;
    }
    if test == "bad_video_fails_with_a_clear_state" {
        c.media.max_duration_secs = 3;
    }
    if test == "a_recorded_video_names_its_viewer" {
        // One bit of the mark per second of video.
        c.media.hls_segment_secs = 1;
    }
    if test == "ffmpeg_over_its_memory_limit_fails_cleanly" {
        // Too little for ffmpeg to even load its libraries.
        c.media.ffmpeg_memory_mb = 64;
    }
    if test == "without_ffmpeg_video_is_refused" {
        c.media.ffmpeg = "/nonexistent/ffmpeg".into();
    }
}

/// The test server, its media in a directory, or with FANZ_TEST_S3_ENDPOINT (an S3-compatible
/// server that accepts any credentials and unsigned bucket creation, such as moto's server
/// mode) in the bucket `fanz-test` under a prefix of its own.
async fn spawn_media(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let s3 = match std::env::var("FANZ_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let endpoint = endpoint.trim_end_matches('/').to_owned();
            let made = reqwest::Client::new()
                .put(format!("{endpoint}/fanz-test"))
                .send()
                .await
                .expect("the S3 server answers");
            assert!(
                made.status().is_success() || made.status() == StatusCode::CONFLICT,
                "creating the test bucket: {}",
                made.status()
            );
            Some(endpoint)
        }
        _ => None,
    };
    spawn_with(backend, move |c| {
        if let Some(endpoint) = s3 {
            let prefix = format!("t{}", fanz_core::clock::now_micros());
            c.media.store = format!("s3://fanz-test/{prefix}");
            c.media.s3_endpoint = endpoint;
            c.media.s3_allow_http = true;
            c.media.s3_access_key_id = "test".into();
            c.media.s3_secret_access_key = "test".into();
        }
        tweak(c);
    })
    .await
}

/// A creator's token and user id.
async fn creator(app: &TestApp, handle: &str) -> (String, i64) {
    let (token, _) = app.user(handle).await;
    let res = app
        .post(
            "/api/v1/me/creator",
            json!({"clusters": ["boyfanz"]}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.verify(&token, &format!("{handle} legal")).await;
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    (token, me["id"].as_i64().unwrap())
}

/// Pixels that are all noise: a PNG of them is about 3 bytes a pixel.
fn noise(w: u32, h: u32) -> RgbImage {
    let mut s: u32 = 987_654_321;
    RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for c in &mut px {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *c = (s >> 23) as u8;
        }
        image::Rgb(px)
    })
}

/// Pixels that do not compress away (so sizes are predictable), from a small LCG.
fn noisy(w: u32, h: u32) -> RgbImage {
    let mut s: u32 = 12345;
    RgbImage::from_fn(w, h, |x, y| {
        s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, (s >> 24) as u8])
    })
}

fn encode(img: RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), format)
        .unwrap();
    out
}

/// An EXIF block (big-endian TIFF) with orientation 6 (turn 90° clockwise to view) and a GPS
/// latitude, as a JPEG APP1 segment.
fn exif_app1() -> Vec<u8> {
    let mut t: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0 at 8: orientation, GPS IFD pointer (at 38).
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]);
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len(), 38);
    // GPS IFD: latitude ref "N", latitude as three rationals at 68.
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    t.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 68]);
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len(), 68);
    for (n, d) in [(52u32, 1u32), (31, 1), (4_242, 100)] {
        t.extend_from_slice(&n.to_be_bytes());
        t.extend_from_slice(&d.to_be_bytes());
    }
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((t.len() + 8) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&t);
    seg
}

/// A 400×200 JPEG whose EXIF says to turn it upright (to 200×400) and where it was taken.
pub(crate) fn jpeg_with_gps() -> Vec<u8> {
    let plain = encode(noisy(400, 200), ImageFormat::Jpeg);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&exif_app1());
    out.extend_from_slice(&plain[2..]);
    out
}

/// Whether a JPEG has an APP1 segment (EXIF or XMP), walking its markers up to the scan.
fn jpeg_has_app1(bytes: &[u8]) -> bool {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "not a JPEG");
    let mut i = 2;
    while i + 4 <= bytes.len() {
        assert_eq!(bytes[i], 0xFF, "marker expected at {i}");
        let marker = bytes[i + 1];
        if marker == 0xDA {
            return false;
        }
        if marker == 0xE1 {
            return true;
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        i += 2 + len;
    }
    false
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG signature and a valid IHDR claiming `w`×`h` pixels, then the end: a pixel bomb.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&w.to_be_bytes());
    chunk.extend_from_slice(&h.to_be_bytes());
    chunk.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    // The start of the pixel data (an empty zlib stream), as a real bomb has.
    let mut idat = b"IDAT".to_vec();
    idat.extend_from_slice(&[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&idat);
    out.extend_from_slice(&crc32(&idat).to_be_bytes());
    let iend = b"IEND";
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(iend);
    out.extend_from_slice(&crc32(iend).to_be_bytes());
    out
}

const BOUNDARY: &str = "fanz-test-boundary-7f3a";

/// POST /api/v1/media with one file part (name and part type chosen by the caller, and
/// ignored by the server).
pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    bytes: &[u8],
    filename: &str,
    ct: &str,
) -> reqwest::Response {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    app.client
        .post(app.url("/api/v1/media"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn upload_ok(app: &TestApp, token: &str, bytes: &[u8], filename: &str) -> i64 {
    let res = upload(app, token, bytes, filename, "application/octet-stream").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], "processing", "{body}");
    body["id"].as_i64().unwrap()
}

/// GET /api/v1/media/{id} until it leaves `processing`.
pub(crate) async fn settled(app: &TestApp, token: &str, id: i64) -> Value {
    for _ in 0..600 {
        let res = app.get(&format!("/api/v1/media/{id}"), Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        if v["state"] != "processing" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("media {id} still processing after 30 s");
}

pub(crate) async fn fetch(app: &TestApp, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn rendition<'a>(item: &'a Value, name: &str) -> &'a Value {
    item["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no rendition {name} in {item}"))
}

async fn images_are_processed_and_stripped(app: TestApp) {
    let (token, _) = creator(&app, "photo_pat").await;
    let original = jpeg_with_gps();
    assert!(jpeg_has_app1(&original));
    let id = upload_ok(&app, &token, &original, "beach.jpg").await;
    let item = settled(&app, &token, id).await;
    assert_eq!(item["state"], "ready", "{item}");
    assert_eq!(item["kind"], "image");
    assert_eq!(item["mime"], "image/jpeg");
    // Orientation applied: 400×200 stored sideways is 200×400 upright.
    assert_eq!(
        (item["width"].as_u64(), item["height"].as_u64()),
        (Some(200), Some(400))
    );
    assert!(
        item["blurhash"].as_str().is_some_and(|b| b.len() >= 6),
        "{item}"
    );
    // A source 200 wide gets one slot (w320) at its own width, as JPEG and WebP, and a teaser.
    let names: Vec<&str> = item["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w320.jpg", "w320.webp", "teaser.jpg"], "{item}");
    for (name, format) in [
        ("w320.jpg", ImageFormat::Jpeg),
        ("w320.webp", ImageFormat::WebP),
        ("teaser.jpg", ImageFormat::Jpeg),
    ] {
        let r = rendition(&item, name);
        let res = fetch(&app, r["url"].as_str().unwrap(), Some(&token)).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        let bytes = res.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, r["bytes"].as_u64().unwrap());
        assert_eq!(image::guess_format(&bytes).unwrap(), format, "{name}");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (200, 400), "{name}");
        // No metadata survives: no APP1 segment, no EXIF or GPS bytes anywhere.
        if format == ImageFormat::Jpeg {
            assert!(!jpeg_has_app1(&bytes), "{name} kept an APP1 segment");
        }
        assert!(
            !bytes.windows(4).any(|w| w.eq_ignore_ascii_case(b"exif")),
            "{name} mentions EXIF"
        );
        let gps: Vec<u8> = [4_242u32.to_be_bytes(), 100u32.to_be_bytes()].concat();
        assert!(
            !bytes.windows(8).any(|w| w == gps.as_slice()),
            "{name} kept the GPS"
        );
    }

    // A wide PNG gets every configured slot, the largest capped at its width.
    let wide = encode(noisy(1500, 600), ImageFormat::Png);
    let id = upload_ok(&app, &token, &wide, "wide.png").await;
    let item = settled(&app, &token, id).await;
    assert_eq!(item["state"], "ready", "{item}");
    for (name, w, h) in [
        ("w320.jpg", 320, 128),
        ("w640.webp", 640, 256),
        ("w1280.jpg", 1280, 512),
        ("w1280.webp", 1280, 512),
        ("teaser.jpg", 320, 128),
    ] {
        let r = rendition(&item, name);
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(w), Some(h)),
            "{name}"
        );
        let bytes = fetch(&app, r["url"].as_str().unwrap(), Some(&token))
            .await
            .bytes()
            .await
            .unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width() as u64, img.height() as u64), (w, h), "{name}");
    }
    assert_eq!(rendition(&item, "teaser.jpg")["teaser"], true);

    // The vault lists both, newest first, with usage; pages follow the cursor.
    let vault: Value = app
        .get("/api/v1/media?limit=1", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(vault["items"][0]["id"], id);
    assert!(vault["usage_bytes"].as_u64().unwrap() > (original.len() + wide.len()) as u64);
    let next = vault["next_cursor"].as_i64().unwrap();
    let page2: Value = app
        .get(
            &format!("/api/v1/media?limit=1&cursor={next}"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert!(page2["items"][0]["id"].as_i64().unwrap() < id);
    assert!(page2.get("next_cursor").is_none(), "{page2}");

    // Deleting removes the item and, through its job, its files.
    let url = rendition(&item, "w320.jpg")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let del = app
        .client
        .delete(app.url(&format!("/api/v1/media/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&format!("/api/v1/media/{id}"), Some(&token)).await,
        StatusCode::NOT_FOUND,
        "media_not_found",
    )
    .await;
    assert_error(
        fetch(&app, &url, Some(&token)).await,
        StatusCode::NOT_FOUND,
        "media_not_found",
    )
    .await;

    // Every state change is in the audit log.
    let admin = app.admin().await;
    let audit: Value = app
        .get("/api/v1/admin/audit?limit=200", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    for action in ["media.uploaded", "media.ready", "media.deleted"] {
        assert!(text.contains(action), "{action} not audited");
    }
}

async fn bad_files_fail_or_are_refused(app: TestApp) {
    let (token, _) = creator(&app, "edge_eve").await;
    // A text file called .jpg, sent as image/jpeg: refused from its bytes, nothing stored.
    let res = upload(
        &app,
        &token,
        b"just some words, not a photo at all",
        "photo.jpg",
        "image/jpeg",
    )
    .await;
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_not_accepted",
    )
    .await;
    let res = upload(&app, &token, b"", "empty.jpg", "image/jpeg").await;
    assert_error(res, StatusCode::BAD_REQUEST, "empty_upload").await;
    let vault: Value = app
        .get("/api/v1/media", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(vault["items"].as_array().unwrap().len(), 0);
    assert_eq!(vault["usage_bytes"], 0);

    // A PNG header claiming 100000×100000 pixels fails without being decoded.
    let id = upload_ok(&app, &token, &png_bomb(100_000, 100_000), "bomb.png").await;
    let item = settled(&app, &token, id).await;
    assert_eq!(item["state"], "failed", "{item}");
    assert!(item["error"].as_str().unwrap().contains("pixels"), "{item}");
    assert_eq!(item["renditions"].as_array().unwrap().len(), 0);

    // A truncated file fails with a clear error.
    let full = encode(noisy(300, 300), ImageFormat::Png);
    let id = upload_ok(&app, &token, &full[..full.len() / 2], "cut.png").await;
    let item = settled(&app, &token, id).await;
    assert_eq!(item["state"], "failed", "{item}");
    assert!(
        item["error"].as_str().unwrap().contains("decoded"),
        "{item}"
    );

    // The server is unharmed: a good image still processes.
    let id = upload_ok(
        &app,
        &token,
        &encode(noisy(50, 40), ImageFormat::Gif),
        "ok.gif",
    )
    .await;
    assert_eq!(settled(&app, &token, id).await["state"], "ready");

    // Video is recognised by its bytes; this one is only a header, so ffmpeg cannot read
    // it (or, without ffmpeg, it is refused at once).
    let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41\0\0\0\x08free";
    let res = upload(&app, &token, mp4, "clip.txt", "text/plain").await;
    if app.state.media.av_available() {
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            (body["kind"].as_str(), body["state"].as_str()),
            (Some("video"), Some("processing"))
        );
        let id = body["id"].as_i64().unwrap();
        let item = settled(&app, &token, id).await;
        assert_eq!(
            (item["state"].as_str(), item["error_code"].as_str()),
            (Some("failed"), Some("media_malformed")),
            "{item}"
        );
    } else {
        assert_error(
            res,
            StatusCode::SERVICE_UNAVAILABLE,
            "video_processing_unavailable",
        )
        .await;
    }

    // A fan may not upload.
    let (fan, _) = app.user("fan_frank").await;
    let res = upload(
        &app,
        &fan,
        &encode(noisy(8, 8), ImageFormat::Png),
        "a.png",
        "image/png",
    )
    .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(
        app.get("/api/v1/media", Some(&fan)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

async fn quota_and_size_limits(app: TestApp) {
    let (token, _) = creator(&app, "full_fay").await;
    let big = encode(noisy(200, 200), ImageFormat::Png);
    assert!(big.len() > 20_000);
    assert_error(
        upload(&app, &token, &big, "big.png", "image/png").await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "media_too_large",
    )
    .await;
    // A resumable upload may be larger than a small one, but not an image to decode.
    let mid = encode(noise(75, 75), ImageFormat::Png);
    assert!(mid.len() > 15_000 && mid.len() < 20_000, "{}", mid.len());
    let loc = tus_create(&app, &token, mid.len()).await;
    let res = patch(&app, &loc, &token, 0, &mid).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let id: i64 = res.headers()["fanz-media-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let item = settled(&app, &token, id).await;
    assert_eq!(item["state"], "failed", "{item}");
    assert!(
        item["error"]
            .as_str()
            .unwrap()
            .contains("at most 15000 bytes"),
        "{item}"
    );
    let del = app
        .client
        .delete(app.url(&format!("/api/v1/media/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    // Half the quota and a bit: the second cannot fit, processed or not.
    let small = encode(noise(64, 64), ImageFormat::Png);
    assert!(
        small.len() < 15_000 && small.len() > 10_000,
        "{}",
        small.len()
    );
    upload_ok(&app, &token, &small, "a.png").await;
    assert_error(
        upload(&app, &token, &small, "c.png", "image/png").await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota_exceeded",
    )
    .await;
    // tus announces its length: refused at creation.
    let res = app
        .client
        .post(app.url("/api/v1/media/uploads"))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "19000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
}

async fn other_accounts_are_refused(app: TestApp) {
    let (alice, _) = creator(&app, "alice_a").await;
    let (bob, _) = creator(&app, "bob_b").await;
    let id = upload_ok(
        &app,
        &alice,
        &encode(noisy(64, 48), ImageFormat::Png),
        "a.png",
    )
    .await;
    settled(&app, &alice, id).await;
    // Bob cannot see, list or delete Alice's item: 404, as if it did not exist.
    assert_error(
        app.get(&format!("/api/v1/media/{id}"), Some(&bob)).await,
        StatusCode::NOT_FOUND,
        "media_not_found",
    )
    .await;
    let del = app
        .client
        .delete(app.url(&format!("/api/v1/media/{id}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_error(del, StatusCode::NOT_FOUND, "media_not_found").await;
    let vault: Value = app
        .get("/api/v1/media", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(vault["items"].as_array().unwrap().len(), 0);
    assert_eq!(settled(&app, &alice, id).await["state"], "ready");
    // Nor her resumable upload.
    let loc = tus_create(&app, &alice, 100).await;
    let head = tus_req(&app, reqwest::Method::HEAD, &loc, &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    let patch = tus_req(&app, reqwest::Method::PATCH, &loc, &bob)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(vec![0xFF; 10])
        .send()
        .await
        .unwrap();
    assert_error(patch, StatusCode::NOT_FOUND, "media_not_found").await;
    let term = tus_req(&app, reqwest::Method::DELETE, &loc, &bob)
        .send()
        .await
        .unwrap();
    assert_error(term, StatusCode::NOT_FOUND, "media_not_found").await;
    let head = tus_req(&app, reqwest::Method::HEAD, &loc, &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["upload-offset"], "0");
    // No credentials at all.
    assert_error(
        app.get("/api/v1/media", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

async fn signed_urls(app: TestApp) {
    let (alice, alice_id) = creator(&app, "alice_s").await;
    let (bob, _) = creator(&app, "bob_s").await;
    let id = upload_ok(
        &app,
        &alice,
        &encode(noisy(700, 350), ImageFormat::Png),
        "p.png",
    )
    .await;
    let item = settled(&app, &alice, id).await;
    let r = rendition(&item, "w640.jpg");
    let url = r["url"].as_str().unwrap();
    assert!(url.starts_with("/media/"), "{url}");

    // The owner's URL, for the owner: not cacheable by anyone.
    let ok = fetch(&app, url, Some(&alice)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["content-type"], "image/jpeg");
    assert_eq!(ok.headers()["cache-control"], "private, no-store");
    assert_eq!(ok.headers()["accept-ranges"], "bytes");
    let full = ok.bytes().await.unwrap();
    assert_eq!(full.len() as u64, r["bytes"].as_u64().unwrap());

    // A range.
    let part = app
        .client
        .get(app.url(url))
        .bearer_auth(&alice)
        .header("range", "bytes=10-109")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-109/{}", full.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap(), full.slice(10..110));
    let tail = app
        .client
        .get(app.url(url))
        .bearer_auth(&alice)
        .header("range", "bytes=-7")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), full.slice(full.len() - 7..));
    let past = app
        .client
        .get(app.url(url))
        .bearer_auth(&alice)
        .header("range", format!("bytes={}-", full.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Another viewer, or nobody signed in: refused.
    assert_error(
        fetch(&app, url, Some(&bob)).await,
        StatusCode::FORBIDDEN,
        "media_url_wrong_viewer",
    )
    .await;
    assert_error(
        fetch(&app, url, None).await,
        StatusCode::FORBIDDEN,
        "media_url_wrong_viewer",
    )
    .await;

    // Tampered: another rendition's name, another item, or a changed signature.
    let token = url.trim_start_matches("/media/");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let sig = parts[2].clone();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    parts[2] = format!("{flipped}{}", &sig[1..]);
    let forged = format!("/media/{}", parts.join("."));
    assert_error(
        fetch(&app, &forged, Some(&alice)).await,
        StatusCode::FORBIDDEN,
        "media_url_invalid",
    )
    .await;
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(b64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let other = claims.replace("w640.jpg", "w1280.jpg");
    assert_ne!(claims, other);
    let swapped = format!(
        "/media/{}.{}.{}",
        token.split('.').next().unwrap(),
        b64.encode(other),
        sig
    );
    assert_error(
        fetch(&app, &swapped, Some(&alice)).await,
        StatusCode::FORBIDDEN,
        "media_url_invalid",
    )
    .await;
    assert_error(
        fetch(&app, "/media/garbage", Some(&alice)).await,
        StatusCode::FORBIDDEN,
        "media_url_invalid",
    )
    .await;

    // Expired.
    let keys = &app.state.media.keys;
    let old = fanz_media::delivery::sign(
        keys,
        id,
        "w640.jpg",
        Some(alice_id),
        fanz_media::now_secs() - 1,
    );
    assert_error(
        fetch(&app, &format!("/media/{old}"), Some(&alice)).await,
        StatusCode::FORBIDDEN,
        "media_url_expired",
    )
    .await;

    // A URL signed for nobody (a public teaser) is served to anyone and may be cached.
    let public = fanz_media::delivery_url(keys, id, "teaser.jpg", None, Duration::from_secs(120));
    let res = fetch(&app, &public, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cc = res.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cc.starts_with("public, max-age="), "{cc}");
    // A rendition that does not exist.
    let none = fanz_media::delivery_url(keys, id, "original", None, Duration::from_secs(60));
    assert_error(
        fetch(&app, &none, None).await,
        StatusCode::NOT_FOUND,
        "media_not_found",
    )
    .await;
}

fn tus_req(
    app: &TestApp,
    method: reqwest::Method,
    loc: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(loc))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
}

async fn tus_create(app: &TestApp, token: &str, length: usize) -> String {
    let res = app
        .client
        .post(app.url("/api/v1/media/uploads"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header(
            "upload-metadata",
            "filename cGhvdG8uanBn,filetype aW1hZ2UvanBlZw==",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    assert!(res.headers().contains_key("upload-expires"));
    res.headers()["location"].to_str().unwrap().to_owned()
}

async fn patch(
    app: &TestApp,
    loc: &str,
    token: &str,
    offset: usize,
    bytes: &[u8],
) -> reqwest::Response {
    tus_req(app, reqwest::Method::PATCH, loc, token)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn head_offset(app: &TestApp, loc: &str, token: &str) -> usize {
    let res = tus_req(app, reqwest::Method::HEAD, loc, token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn tus_resumes_after_an_interruption(app: TestApp) {
    let (token, _) = creator(&app, "tus_tina").await;
    let opts = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/media/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(opts.status(), StatusCode::NO_CONTENT);
    assert_eq!(opts.headers()["tus-version"], "1.0.0");
    assert_eq!(
        opts.headers()["tus-extension"],
        "creation,termination,expiration,checksum"
    );
    assert_eq!(opts.headers()["tus-checksum-algorithm"], "sha1,sha256");
    assert!(
        opts.headers()["tus-max-size"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );

    let file = jpeg_with_gps();
    let loc = tus_create(&app, &token, file.len()).await;
    assert!(loc.starts_with("/api/v1/media/uploads/"), "{loc}");
    assert_eq!(head_offset(&app, &loc, &token).await, 0);

    // The first PATCH is cut off: the connection closes after `sent` of its bytes.
    let sent = 3000;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        file.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&file[..sent]).await.unwrap();
    sock.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sock.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut rest)).await;
    drop(sock);
    // What arrived is kept.
    let mut offset = 0;
    for _ in 0..100 {
        offset = head_offset(&app, &loc, &token).await;
        if offset > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(offset, sent, "the bytes before the cut are kept");

    // A PATCH at the wrong offset, without the version, or with another type is refused.
    assert_error(
        patch(&app, &loc, &token, 0, &file[..10]).await,
        StatusCode::CONFLICT,
        "upload_offset_mismatch",
    )
    .await;
    let res = app
        .client
        .patch(app.url(&loc))
        .bearer_auth(&token)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(vec![1u8])
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::PRECONDITION_FAILED,
        "tus_version_unsupported",
    )
    .await;
    let res = tus_req(&app, reqwest::Method::PATCH, &loc, &token)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/octet-stream")
        .body(vec![1u8])
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    // The rest in two PATCHes, the first with a checksum: a wrong one discards the bytes
    // (460), the right one keeps them.
    let mid = offset + (file.len() - offset) / 2;
    let checked = |digest: &[u8]| {
        use base64::Engine;
        tus_req(&app, reqwest::Method::PATCH, &loc, &token)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .header(
                "upload-checksum",
                format!(
                    "sha256 {}",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                ),
            )
            .body(file[offset..mid].to_vec())
    };
    let wrong = checked(&[0u8; 32]).send().await.unwrap();
    assert_error(
        wrong,
        StatusCode::from_u16(460).unwrap(),
        "checksum_mismatch",
    )
    .await;
    assert_eq!(head_offset(&app, &loc, &token).await, offset);
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(&file[offset..mid]).to_vec()
    };
    let res = checked(&digest).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["upload-offset"], mid.to_string().as_str());
    assert!(!res.headers().contains_key("fanz-media-id"));
    let res = patch(&app, &loc, &token, mid, &file[mid..]).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        res.headers()["upload-offset"],
        file.len().to_string().as_str()
    );
    let id: i64 = res.headers()["fanz-media-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // More bytes than announced are refused.
    assert_error(
        patch(&app, &loc, &token, file.len(), b"x").await,
        StatusCode::CONFLICT,
        "upload_offset_mismatch",
    )
    .await;

    let item = settled(&app, &token, id).await;
    assert_eq!(item["state"], "ready", "{item}");
    assert_eq!(
        (item["width"].as_u64(), item["height"].as_u64()),
        (Some(200), Some(400))
    );
    // The original, joined from its parts, is the file byte for byte.
    let mut db = app.store.conn().await.unwrap();
    let stored = fanz_media::get(&mut db, id).await.unwrap();
    let bytes = app
        .state
        .media
        .read_original(&stored, 1 << 30)
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), file.as_slice());

    // A text file uploaded by tus is refused when complete; a terminated upload is gone.
    let text = b"hello there, this is plainly not a picture of anything".repeat(3);
    let loc = tus_create(&app, &token, text.len()).await;
    assert_error(
        patch(&app, &loc, &token, 0, &text).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "file_type_not_accepted",
    )
    .await;
    let res = tus_req(&app, reqwest::Method::HEAD, &loc, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let loc = tus_create(&app, &token, 10).await;
    let res = tus_req(&app, reqwest::Method::DELETE, &loc, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = tus_req(&app, reqwest::Method::HEAD, &loc, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Unfinished uploads past their expiry are removed by the recurring job's function.
    let loc = tus_create(&app, &token, 10).await;
    assert_eq!(
        patch(&app, &loc, &token, 0, b"\xFF\xD8\xFF").await.status(),
        StatusCode::NO_CONTENT
    );
    let later = fanz_core::clock::now_micros() + 2 * 24 * fanz_core::clock::HOUR;
    let n = fanz_media::tus::expire(&app.state.media, &app.store, later)
        .await
        .unwrap();
    assert!(n >= 1);
    let res = tus_req(&app, reqwest::Method::HEAD, &loc, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let vault: Value = app
        .get("/api/v1/media", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(vault["items"].as_array().unwrap().len(), 1);
}

// ---- video and audio ----

/// Whether ffmpeg and ffprobe are on PATH; when not, says why the test does nothing.
fn ffmpeg_or_skip(test: &str) -> bool {
    let runs = |p: &str| {
        std::process::Command::new(p)
            .arg("-version")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs("ffmpeg") && runs("ffprobe") {
        return true;
    }
    eprintln!("{test}: skipped, ffmpeg is not installed (apt-get install ffmpeg)");
    false
}

/// A clip ffmpeg makes from its lavfi sources: `secs` seconds of testsrc at `w`×`h` (and a
/// tone), an MP4 whose metadata holds a title and a GPS position.
fn clip(w: u32, h: u32, secs: u32, audio: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip.mp4");
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={w}x{h}:rate=25:duration={secs}"));
    if audio {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={secs}"));
    }
    cmd.args([
        "-metadata",
        "title=SECRET-TITLE-7",
        "-metadata",
        "location=+52.5200+013.4050/",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    if audio {
        cmd.args(["-c:a", "aac", "-shortest"]);
    }
    let status = cmd.arg(&out).status().unwrap();
    assert!(status.success(), "ffmpeg made no clip");
    std::fs::read(out).unwrap()
}

/// What ffprobe says of a file or URL (with extra arguments before it), as JSON.
fn ffprobe(args: &[&str], target: &str) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
        ])
        .args(args)
        .arg(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// GET /api/v1/media/{id} until it leaves `processing` (transcoding takes a while).
async fn settled_av(app: &TestApp, token: &str, id: i64) -> Value {
    for _ in 0..1200 {
        let v: Value = app
            .get(&format!("/api/v1/media/{id}"), Some(token))
            .await
            .json()
            .await
            .unwrap();
        if v["state"] != "processing" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("media {id} still processing after 120 s");
}

/// The URIs of a delivered playlist (lines and `URI="…"` attributes).
fn uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(i) = line.find("URI=\"") {
            let rest = &line[i + 5..];
            out.push(rest[..rest.find('"').unwrap()].to_owned());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.push(line.trim().to_owned());
        }
    }
    out
}

async fn text_of(app: &TestApp, url: &str, token: Option<&str>) -> String {
    let res = fetch(app, url, token).await;
    assert_eq!(res.status(), StatusCode::OK, "{url}");
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    res.text().await.unwrap()
}

fn no_metadata(bytes: &[u8], what: &str) {
    assert!(
        !bytes.windows(14).any(|w| w == b"SECRET-TITLE-7"),
        "{what} kept the title"
    );
    assert!(
        !bytes.windows(8).any(|w| w == b"+52.5200"),
        "{what} kept the location"
    );
}

async fn video_becomes_an_hls_ladder(app: TestApp) {
    if !ffmpeg_or_skip("video_becomes_an_hls_ladder") {
        return;
    }
    let (token, _) = creator(&app, "vid_vera").await;
    let source = clip(640, 360, 4, true);
    assert!(source.windows(14).any(|w| w == b"SECRET-TITLE-7"));
    let id = upload_ok(&app, &token, &source, "holiday.mp4").await;
    let item = settled_av(&app, &token, id).await;
    assert_eq!(item["state"], "ready", "{item}");
    assert_eq!(item["kind"], "video");
    assert_eq!(
        (item["width"].as_u64(), item["height"].as_u64()),
        (Some(640), Some(360))
    );
    let ms = item["duration_ms"].as_i64().unwrap();
    assert!((3900..=4200).contains(&ms), "{ms}");
    // A 360-line source gets the 240 and 360 rungs, no more.
    let names: Vec<&str> = item["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in [
        "poster.jpg",
        "teaser.jpg",
        "preview.mp4",
        "hls/master.m3u8",
        "hls/v0.m3u8",
        "hls/v0.mp4",
        "hls/v1.m3u8",
        "hls/v1.mp4",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"hls/v2.m3u8"), "{names:?}");
    // The quota counts every stored file: the original and all renditions, the B variants
    // of the A/B marks included (uploads are checked against this usage).
    let b_bytes: u64 = item["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let n = r["name"].as_str().unwrap();
            n.starts_with("hls/v") && (n.ends_with("b.mp4") || n.ends_with("b.m3u8"))
        })
        .map(|r| r["bytes"].as_u64().unwrap())
        .sum();
    let all: u64 = item["bytes"].as_u64().unwrap()
        + item["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["bytes"].as_u64().unwrap())
            .sum::<u64>();
    let vault: Value = app
        .get("/api/v1/media", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert!(b_bytes > 10_000, "the B variants are stored: {b_bytes}");
    assert_eq!(vault["usage_bytes"].as_u64(), Some(all), "{vault}");
    let b_mp4 = owner_rendition(&app, &token, &item, "hls/v1b.mp4").await;
    assert_eq!(
        Some(b_mp4.len() as u64),
        rendition(&item, "hls/v1b.mp4")["bytes"].as_u64()
    );
    assert_eq!(
        (
            rendition(&item, "hls/v0.mp4")["width"].as_u64(),
            rendition(&item, "hls/v0.mp4")["height"].as_u64()
        ),
        (Some(426), Some(240))
    );

    // The poster is a picture of the source's size.
    let poster = fetch(
        &app,
        rendition(&item, "poster.jpg")["url"].as_str().unwrap(),
        Some(&token),
    )
    .await
    .bytes()
    .await
    .unwrap();
    let img = image::load_from_memory(&poster).unwrap();
    assert_eq!((img.width(), img.height()), (640, 360));

    // The master playlist names each rung by a URL signed for the caller; so do the rungs'
    // playlists for their media file, which is read by ranges.
    let master_url = rendition(&item, "hls/master.m3u8")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let master = text_of(&app, &master_url, Some(&token)).await;
    assert!(master.contains("RESOLUTION=640x360"), "{master}");
    let variants = uris(&master);
    assert_eq!(variants.len(), 2, "{master}");
    assert!(
        variants.iter().all(|u| u.starts_with("/media/")),
        "{master}"
    );
    let variant = text_of(&app, &variants[1], Some(&token)).await;
    assert!(variant.contains("#EXT-X-ENDLIST"), "{variant}");
    let media_urls = uris(&variant);
    assert!(media_urls.len() >= 2, "{variant}");
    assert!(
        media_urls.iter().all(|u| u.starts_with("/media/")),
        "{variant}"
    );
    let (len, off) = variant
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-BYTERANGE:"))
        .and_then(|r| r.split_once('@'))
        .map(|(l, o)| (l.parse::<u64>().unwrap(), o.parse::<u64>().unwrap()))
        .expect("byte ranges");
    let seg = app
        .client
        .get(app.url(&media_urls[1]))
        .bearer_auth(&token)
        .header("range", format!("bytes={off}-{}", off + len - 1))
        .send()
        .await
        .unwrap();
    assert_eq!(seg.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(seg.headers()["content-type"], "video/mp4");
    let seg = seg.bytes().await.unwrap();
    assert_eq!(seg.len() as u64, len);
    assert!(
        matches!(&seg[4..8], b"moof" | b"styp" | b"sidx"),
        "{:?}",
        &seg[..8]
    );

    // ffprobe reads the ladder through the server, as a player would.
    let probed = ffprobe(
        &["-headers", &format!("Authorization: Bearer {token}\r\n")],
        &app.url(&master_url),
    );
    let codecs: Vec<&str> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{probed}"
    );

    // No title or GPS position of the original in anything delivered.
    let dir = tempfile::tempdir().unwrap();
    for name in ["hls/v0.mp4", "hls/v1.mp4", "preview.mp4"] {
        let bytes = fetch(
            &app,
            rendition(&item, name)["url"].as_str().unwrap(),
            Some(&token),
        )
        .await
        .bytes()
        .await
        .unwrap();
        no_metadata(&bytes, name);
        let file = dir.path().join(name.replace('/', "-"));
        std::fs::write(&file, &bytes).unwrap();
        let p = ffprobe(&[], file.to_str().unwrap());
        let tags = p["format"]["tags"].to_string();
        assert!(
            !tags.contains("title") && !tags.contains("location"),
            "{name}: {tags}"
        );
    }
    let preview = ffprobe(&[], dir.path().join("preview.mp4").to_str().unwrap());
    assert_eq!(
        preview["streams"].as_array().unwrap().len(),
        1,
        "muted: {preview}"
    );
    // The original itself is never delivered.
    let none = fanz_media::delivery_url(
        &app.state.media.keys,
        id,
        "original",
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        fetch(&app, &none, None).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn audio_becomes_aac_with_a_waveform(app: TestApp) {
    if !ffmpeg_or_skip("audio_becomes_aac_with_a_waveform") {
        return;
    }
    let (token, _) = creator(&app, "aud_ari").await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=3",
            "-metadata",
            "title=SECRET-TITLE-7",
        ])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(status.success());
    let id = upload_ok(&app, &token, &std::fs::read(&wav).unwrap(), "tone.wav").await;
    let item = settled_av(&app, &token, id).await;
    assert_eq!(
        (item["state"].as_str(), item["kind"].as_str()),
        (Some("ready"), Some("audio")),
        "{item}"
    );
    let ms = item["duration_ms"].as_i64().unwrap();
    assert!((2900..=3100).contains(&ms), "{ms}");
    let res = fetch(
        &app,
        rendition(&item, "audio.m4a")["url"].as_str().unwrap(),
        Some(&token),
    )
    .await;
    assert_eq!(res.headers()["content-type"], "audio/mp4");
    let m4a = res.bytes().await.unwrap();
    no_metadata(&m4a, "audio.m4a");
    let file = dir.path().join("out.m4a");
    std::fs::write(&file, &m4a).unwrap();
    let p = ffprobe(&[], file.to_str().unwrap());
    assert_eq!(p["streams"][0]["codec_name"], "aac", "{p}");
    let wave = fetch(
        &app,
        rendition(&item, "waveform.png")["url"].as_str().unwrap(),
        Some(&token),
    )
    .await
    .bytes()
    .await
    .unwrap();
    let img = image::load_from_memory(&wave).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 200));
}

async fn bad_video_fails_with_a_clear_state(app: TestApp) {
    if !ffmpeg_or_skip("bad_video_fails_with_a_clear_state") {
        return;
    }
    let (token, _) = creator(&app, "bad_bo").await;
    // Cut in half: the index (at the end of ffmpeg's MP4s) is gone.
    let whole = clip(320, 240, 2, false);
    let id = upload_ok(&app, &token, &whole[..whole.len() / 2], "cut.mp4").await;
    let item = settled_av(&app, &token, id).await;
    assert_eq!(
        (item["state"].as_str(), item["error_code"].as_str()),
        (Some("failed"), Some("media_malformed")),
        "{item}"
    );
    // Longer than this server's limit (3 s here).
    let id = upload_ok(&app, &token, &clip(160, 120, 5, false), "long.mp4").await;
    let item = settled_av(&app, &token, id).await;
    assert_eq!(
        (item["state"].as_str(), item["error_code"].as_str()),
        (Some("failed"), Some("media_too_long")),
        "{item}"
    );
    assert!(item["error"].as_str().unwrap().contains("limit"), "{item}");
    // The server is unharmed, and a good clip still processes.
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    let id = upload_ok(&app, &token, &clip(160, 120, 2, false), "fine.mp4").await;
    assert_eq!(settled_av(&app, &token, id).await["state"], "ready");
}

async fn hls_only_for_the_entitled_viewer(app: TestApp) {
    if !ffmpeg_or_skip("hls_only_for_the_entitled_viewer") {
        return;
    }
    let tok = crate::content::creator(&app, "hls_hana", &["boyfanz"]).await;
    let id = upload_ok(&app, &tok, &clip(320, 240, 2, true), "members.mp4").await;
    assert_eq!(settled_av(&app, &tok, id).await["state"], "ready");
    let locked = crate::content::post_json(
        &app,
        &tok,
        json!({"text": "members clip", "visibility": "subscribers", "media": [id], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (fan, _) = app.user("hls_fan").await;
    let (other, _) = app.user("hls_other").await;

    // The creator sees the post in full: the playlist URL is signed for them.
    let mine: Value = app
        .get(&format!("/api/v1/posts/{locked}"), Some(&tok))
        .await
        .json()
        .await
        .unwrap();
    let master = mine["media"][0]["url"]
        .as_str()
        .expect("a playlist")
        .to_owned();
    assert!(mine["media"][0]["poster_url"].as_str().is_some(), "{mine}");
    let text = text_of(&app, &master, Some(&tok)).await;
    let variant = uris(&text)[0].clone();
    let segment = uris(&text_of(&app, &variant, Some(&tok)).await)[0].clone();

    // A fan without a subscription sees the lock and the teaser only.
    let v: Value = app
        .get(&format!("/api/v1/posts/{locked}"), Some(&fan))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["locked"], true);
    assert_eq!(v["media"], json!([]));
    assert!(!v.to_string().contains("m3u8"), "{v}");
    let teaser = v["preview_url"].as_str().expect("a teaser").to_owned();
    assert_eq!(fetch(&app, &teaser, None).await.status(), StatusCode::OK);
    // The creator's playlist, rungs and segments are refused to everyone else.
    for url in [&master, &variant, &segment] {
        for who in [Some(fan.as_str()), Some(other.as_str())] {
            assert_error(
                fetch(&app, url, who).await,
                StatusCode::FORBIDDEN,
                "media_url_wrong_viewer",
            )
            .await;
        }
        assert_error(
            fetch(&app, url, None).await,
            StatusCode::FORBIDDEN,
            "media_url_wrong_viewer",
        )
        .await;
    }
    // A tampered segment URL is refused too.
    let cut = segment.rfind('/').unwrap();
    let mut bad = segment[..cut].to_owned();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    bad.push_str(&segment[cut..]);
    assert_error(
        fetch(&app, &bad, Some(&tok)).await,
        StatusCode::FORBIDDEN,
        "media_url_invalid",
    )
    .await;

    // The post page shows a stranger the locked card, and no player.
    let html = app
        .client
        .get(app.url(&format!("/c/boyfanz/p/{locked}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("data-hls"),
        "a stranger's page has no player"
    );
    assert!(html.contains("lock-img"), "the teaser is shown");
}

async fn without_ffmpeg_video_is_refused(app: TestApp) {
    let (token, _) = creator(&app, "noff_nia").await;
    assert!(!app.state.media.av_available());
    let vault: Value = app
        .get("/api/v1/media", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(vault["video_processing"], false, "{vault}");
    let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41\0\0\0\x08free\0\0\0\x08mdat";
    assert_error(
        upload(&app, &token, mp4, "clip.mp4", "video/mp4").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "video_processing_unavailable",
    )
    .await;
    // By tus, the first bytes tell: refused before the rest is sent, and nothing is kept.
    let loc = tus_create(&app, &token, 10_000).await;
    let res = patch(&app, &loc, &token, 0, mp4).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "video_processing_unavailable");
    let vault: Value = app
        .get("/api/v1/media", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(vault["items"], json!([]));
    assert_eq!(vault["usage_bytes"], 0, "{vault}");
    // Photos still work.
    let id = upload_ok(
        &app,
        &token,
        &encode(noisy(40, 30), ImageFormat::Png),
        "a.png",
    )
    .await;
    assert_eq!(settled(&app, &token, id).await["state"], "ready");
}

/// Shapes at several scales and some fine texture, like a photograph.
fn photo(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let t = ((x * 7 + y * 13) % 23) as f32 * 0.3;
        let v = 110.0
            + 50.0 * (fx / 61.0 + 1.3).sin() * (fy / 47.0).cos()
            + 35.0 * ((fx + 2.0 * fy) / 97.0).sin()
            + 25.0 * ((3.0 * fx - fy) / 151.0 + 0.7).cos();
        image::Rgb([
            (v + t).clamp(0.0, 255.0) as u8,
            (v * 0.8 + 30.0 * (fy / 300.0)).clamp(0.0, 255.0) as u8,
            (255.0 - v + t).clamp(0.0, 255.0) as u8,
        ])
    })
}

/// What a leaker does to a copy: resize it to 80 % and save it as JPEG quality 70.
fn leaked(bytes: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(bytes).unwrap();
    let small = img.resize_exact(
        img.width() * 4 / 5,
        img.height() * 4 / 5,
        image::imageops::FilterType::Lanczos3,
    );
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70)
        .encode_image(&small)
        .unwrap();
    out
}

async fn a_leaked_picture_names_its_viewer(app: TestApp) {
    use fanz_media::mark::Trace;
    let tok = crate::content::creator(&app, "mark_mae", &["boyfanz"]).await;
    let id = upload_ok(
        &app,
        &tok,
        &encode(photo(1000, 750), ImageFormat::Png),
        "set.png",
    )
    .await;
    assert_eq!(settled(&app, &tok, id).await["state"], "ready");
    let post = crate::content::post_json(
        &app,
        &tok,
        json!({"text": "open set", "visibility": "public", "media": [id], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (ann, _) = app.user("mark_ann").await;
    let (ben, _) = app.user("mark_ben").await;
    let id_of = |me: Value| me["id"].as_i64().unwrap();
    let ann_id = id_of(
        app.get("/api/v1/me", Some(&ann))
            .await
            .json()
            .await
            .unwrap(),
    );
    let ben_id = id_of(
        app.get("/api/v1/me", Some(&ben))
            .await
            .json()
            .await
            .unwrap(),
    );
    let mut copies = Vec::new();
    for who in [&ann, &ben, &tok] {
        let v: Value = app
            .get(&format!("/api/v1/posts/{post}"), Some(who))
            .await
            .json()
            .await
            .unwrap();
        let url = v["media"][0]["url"].as_str().unwrap().to_owned();
        let res = fetch(&app, &url, Some(who)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "private, no-store");
        let bytes = res.bytes().await.unwrap().to_vec();
        // Asked again, the same copy (it is kept), and ranges of it.
        let again = fetch(&app, &url, Some(who)).await.bytes().await.unwrap();
        assert_eq!(again.as_ref(), bytes.as_slice());
        let part = app
            .client
            .get(app.url(&url))
            .bearer_auth(who)
            .header("range", "bytes=0-99")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[..100]);
        copies.push(bytes);
    }
    // Each viewer's copy differs; the owner's is the plain rendition.
    assert_ne!(copies[0], copies[1]);
    assert_ne!(copies[0], copies[2]);
    let item = settled(&app, &tok, id).await;
    let w = rendition(&item, "w1280.jpg");
    let plain = fetch(&app, w["url"].as_str().unwrap(), Some(&tok))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(plain.as_ref(), copies[2].as_slice());
    // Faint: the marked picture is within a few levels of the plain one.
    let (a, p) = (
        image::load_from_memory(&copies[0]).unwrap().to_rgb8(),
        image::load_from_memory(&plain).unwrap().to_rgb8(),
    );
    let worst = a
        .pixels()
        .zip(p.pixels())
        .flat_map(|(x, y)| {
            x.0.iter()
                .zip(y.0)
                .map(|(u, v)| (*u as i16 - v as i16).abs())
        })
        .max()
        .unwrap();
    assert!(worst <= 12, "{worst}");

    let mut db = app.store.conn().await.unwrap();
    for (copy, viewer) in [(&copies[0], ann_id), (&copies[1], ben_id)] {
        match fanz_media::mark::trace_bytes(&app.state.media, &mut db, leaked(copy))
            .await
            .unwrap()
        {
            Trace::Viewer {
                media_id,
                viewer_id,
                confidence,
                sigmas,
                ..
            } => {
                assert_eq!((media_id, viewer_id), (id, viewer));
                assert!(confidence > 0.5 && sigmas > 10.0, "{confidence} {sigmas}");
            }
            other => panic!("not traced: {other:?}"),
        }
    }
    // The owner's own copy carries no mark: the picture is known, the viewer is not.
    let names_nobody = |copy: Vec<u8>, expected: usize| {
        let app = &app;
        async move {
            let mut db = app.store.conn().await.unwrap();
            match fanz_media::mark::trace_bytes(&app.state.media, &mut db, copy)
                .await
                .unwrap()
            {
                Trace::NoViewer {
                    media_id,
                    candidates,
                    ..
                } => assert_eq!((media_id, candidates), (id, expected)),
                other => panic!("{other:?}"),
            }
        }
    };
    names_nobody(leaked(&copies[2]), 2).await;
    // A picture this server never had.
    let other = encode(noisy(300, 200), ImageFormat::Jpeg);
    assert_eq!(
        fanz_media::mark::trace_bytes(&app.state.media, &mut db, other)
            .await
            .unwrap(),
        Trace::UnknownPicture
    );

    // Ann erases her account: the record of what she was served marked (a viewing history)
    // goes, and her marked copy with it; her leaked copy no longer names her. Ben's stays.
    let copy_key: String = fanz_store::sqlx::query_scalar(
        "SELECT object_key FROM media_marks WHERE media_id = $1 AND viewer_id = $2",
    )
    .bind(id)
    .bind(ann_id)
    .fetch_one(&mut *db)
    .await
    .unwrap();
    assert!(app.state.media.objects.size(&copy_key).await.is_ok());
    let res = app
        .post(
            "/api/v1/me/erasure",
            json!({"password": "correct horse battery"}),
            Some(&ann),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let erased: Value = res.json().await.unwrap();
    assert_eq!(erased["media_marks_removed"], 1, "{erased}");
    let marks = |viewer: i64| {
        let store = app.store.clone();
        async move {
            fanz_store::sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM media_marks WHERE viewer_id = $1",
            )
            .bind(viewer)
            .fetch_one(&mut *store.conn().await.unwrap())
            .await
            .unwrap()
        }
    };
    assert_eq!(marks(ann_id).await, 0);
    assert_eq!(marks(ben_id).await, 1);
    let mut gone = false;
    for _ in 0..200 {
        if app.state.media.objects.size(&copy_key).await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "Ann's marked copy is still stored");
    names_nobody(leaked(&copies[0]), 1).await;
    match fanz_media::mark::trace_bytes(&app.state.media, &mut db, leaked(&copies[1]))
        .await
        .unwrap()
    {
        Trace::Viewer { viewer_id, .. } => assert_eq!(viewer_id, ben_id),
        other => panic!("{other:?}"),
    }
}

// ---- A/B marks on video ----

/// One byte-ranged URI of a delivered rung playlist.
#[derive(Debug, Clone)]
struct Part {
    url: String,
    offset: u64,
    len: u64,
}

/// The init section and the segments of a delivered rung playlist.
fn parts(playlist: &str) -> (Part, Vec<Part>) {
    let mut init = None;
    let mut segments = Vec::new();
    let mut range = None;
    let split = |r: &str| {
        let (l, o) = r.split_once('@').unwrap();
        (o.parse::<u64>().unwrap(), l.parse::<u64>().unwrap())
    };
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let (url, attrs) = rest.split_once('"').unwrap();
            let r = attrs.split("BYTERANGE=\"").nth(1).unwrap();
            let (offset, len) = split(&r[..r.find('"').unwrap()]);
            init = Some(Part {
                url: url.to_owned(),
                offset,
                len,
            });
        } else if let Some(r) = line.strip_prefix("#EXT-X-BYTERANGE:") {
            range = Some(split(r));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let (offset, len) = range.take().expect("a byte range per segment");
            segments.push(Part {
                url: line.trim().to_owned(),
                offset,
                len,
            });
        }
    }
    (init.expect("an init section"), segments)
}

async fn read_part(app: &TestApp, p: &Part, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(&p.url))
        .bearer_auth(token)
        .header(
            "range",
            format!("bytes={}-{}", p.offset, p.offset + p.len - 1),
        )
        .send()
        .await
        .unwrap()
}

/// The lowest rung's playlist of a post's video, as `token`'s holder gets it.
async fn rung_of(app: &TestApp, post: i64, token: &str) -> String {
    let v: Value = app
        .get(&format!("/api/v1/posts/{post}"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    let master_url = v["media"][0]["url"]
        .as_str()
        .expect("a playlist")
        .to_owned();
    let master = text_of(app, &master_url, Some(token)).await;
    assert!(
        !master.contains("v0b"),
        "B variants are never listed: {master}"
    );
    text_of(app, &uris(&master)[0], Some(token)).await
}

/// What a leaker does: save the stream they were served (init section and segments), then
/// re-encode it at 80 % of its size, x264 CRF 28.
async fn record(
    app: &TestApp,
    playlist: &str,
    token: &str,
    dir: &std::path::Path,
    name: &str,
) -> std::path::PathBuf {
    let (init, segments) = parts(playlist);
    let mut stream = Vec::new();
    for p in std::iter::once(&init).chain(&segments) {
        let res = read_part(app, p, token).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{}", p.url);
        let bytes = res.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, p.len);
        stream.extend_from_slice(&bytes);
    }
    let played = dir.join(format!("{name}-played.mp4"));
    std::fs::write(&played, stream).unwrap();
    let out = dir.join(format!("{name}.mp4"));
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&played)
        .args([
            "-vf",
            "scale=iw*0.8:-2",
            "-c:v",
            "libx264",
            "-crf",
            "28",
            "-c:a",
            "aac",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "re-encoding the recording");
    out
}

/// A token's claims, and the token made from other claims with the same signature.
fn claims(url: &str) -> (Value, impl Fn(&Value) -> String) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let token = url.strip_prefix("/media/").unwrap();
    let (token, file) = token.split_once('/').unwrap();
    let mut it = token.splitn(3, '.');
    let (kid, payload, sig) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let c: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let (kid, sig, file) = (kid.to_owned(), sig.to_owned(), file.to_owned());
    (c, move |other: &Value| {
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(other).unwrap());
        format!("/media/{kid}.{p}.{sig}/{file}")
    })
}

async fn a_recorded_video_names_its_viewer(app: TestApp) {
    use fanz_media::abmark::VideoTrace;
    if !ffmpeg_or_skip("a_recorded_video_names_its_viewer") {
        return;
    }
    let tok = crate::content::creator(&app, "abm_ava", &["boyfanz"]).await;
    let id = upload_ok(&app, &tok, &clip(320, 240, 20, true), "paid.mp4").await;
    let item = settled_av(&app, &tok, id).await;
    assert_eq!(item["state"], "ready", "{item}");
    // Both variants of the rung are kept (the owner's vault lists them).
    for name in ["hls/v0.m3u8", "hls/v0.mp4", "hls/v0b.m3u8", "hls/v0b.mp4"] {
        assert!(
            rendition(&item, name)["bytes"].as_u64().unwrap() > 0,
            "{name}"
        );
    }
    let post = crate::content::post_json(
        &app,
        &tok,
        json!({"text": "paid clip", "visibility": "ppv", "price": {"amount": 500, "currency": "USD"}, "media": [id], "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let admin = app.admin().await;
    let mut fans = Vec::new();
    for h in ["abm_xia", "abm_yan", "abm_zed"] {
        let (t, _) = app.user(h).await;
        let res = app
            .post(
                "/api/v1/admin/grants",
                json!({"kind": "unlock", "viewer": h, "post_id": post, "source": "test"}),
                Some(&admin),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let me: Value = app.get("/api/v1/me", Some(&t)).await.json().await.unwrap();
        fans.push((t, me["id"].as_i64().unwrap()));
    }
    let (x, x_id) = fans[0].clone();
    let (y, y_id) = fans[1].clone();
    // Fan Z's first playlist is fetched below, after a scheme-1 record of them is made.
    let (z, z_id) = fans[2].clone();

    // Each fan's rung playlist is their own sequence of A and B segments.
    let px = rung_of(&app, post, &x).await;
    let py = rung_of(&app, post, &y).await;
    let (init_x, sx) = parts(&px);
    let (_, sy) = parts(&py);
    assert_eq!(sx.len(), 20, "{px}");
    assert_eq!(sy.len(), sx.len());
    let seq = |s: &[Part]| -> Vec<bool> { s.iter().map(|p| p.url.ends_with("/v0b.mp4")).collect() };
    let (qx, qy) = (seq(&sx), seq(&sy));
    assert_ne!(qx, qy, "two fans get different sequences");
    // The sequences are keyed by the item's secret (sealed by the server's keyring): the
    // ids alone, or another key, give other sequences, so nobody can compute a fan's.
    use fanz_media::markkey::Seed;
    let key = {
        let mut db = app.store.conn().await.unwrap();
        app.state
            .media
            .existing_mark_key(&mut db, id)
            .await
            .unwrap()
            .expect("the item has a mark secret once marks were delivered")
    };
    let keyed = Seed::Keyed(key);
    assert_eq!(qx, fanz_media::abmark::bits(&keyed, id, x_id, sx.len()));
    assert_eq!(qy, fanz_media::abmark::bits(&keyed, id, y_id, sy.len()));
    let mut other_key = key;
    other_key[0] ^= 1;
    for other in [Seed::Ids, Seed::Keyed(other_key)] {
        let guess = fanz_media::abmark::bits(&other, id, x_id, sx.len());
        assert_ne!(guess, qx, "{other:?} gives fan X's sequence");
    }
    let stored: String =
        fanz_store::sqlx::query_scalar("SELECT mark_secret FROM media WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *app.store.conn().await.unwrap())
            .await
            .unwrap();
    assert!(
        stored.starts_with("fzsec1:"),
        "sealed, not in the clear: {stored}"
    );
    // A viewer whose mark was delivered before keys existed (scheme 1, recorded so) keeps
    // that sequence, which the trace still scores them by.
    fanz_store::sqlx::query(
        "INSERT INTO media_marks (media_id, viewer_id, rendition, object_key, created_at, scheme) \
         VALUES ($1, $2, 'hls/v1.m3u8', '', 1, 1)",
    )
    .bind(id)
    .bind(z_id)
    .execute(&mut *app.store.conn().await.unwrap())
    .await
    .unwrap();
    let (_, sz) = parts(&rung_of(&app, post, &z).await);
    assert_eq!(
        seq(&sz),
        fanz_media::abmark::bits(&Seed::Ids, id, z_id, sz.len())
    );
    assert!(qx.contains(&true) && qx.contains(&false), "{qx:?}");
    // The owner gets A throughout.
    let (_, so) = parts(&rung_of(&app, post, &tok).await);
    assert!(so.iter().all(|p| p.url.ends_with("/v0.mp4")));

    // A fan's own segment URL reads that segment (with or without a Range header) …
    let res = read_part(&app, &sx[3], &x).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    let seg = res.bytes().await.unwrap();
    assert_eq!(seg.len() as u64, sx[3].len);
    let whole = fetch(&app, &sx[3].url, Some(&x)).await;
    assert_eq!(whole.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(whole.bytes().await.unwrap(), seg);
    // … and nothing else of the file, nor for anyone else.
    let k = (0..sx.len()).find(|&k| qx[k] != qy[k]).unwrap();
    let beyond = Part {
        url: sx[k].url.clone(),
        offset: sx[k].offset - 50,
        len: 100,
    };
    assert_error(
        read_part(&app, &beyond, &x).await,
        StatusCode::FORBIDDEN,
        "media_url_outside_segment",
    )
    .await;
    assert_error(
        read_part(&app, &sy[k], &x).await,
        StatusCode::FORBIDDEN,
        "media_url_wrong_viewer",
    )
    .await;
    // The other variant of segment k, by editing the URL: its file and bytes (taken from
    // the other fan's URL) under this fan's signature.
    let (mut c, forge) = claims(&sx[k].url);
    let (theirs, _) = claims(&sy[k].url);
    c["r"] = theirs["r"].clone();
    c["s"] = theirs["s"].clone();
    let edited = Part {
        url: forge(&c),
        offset: sy[k].offset,
        len: sy[k].len,
    };
    assert_error(
        read_part(&app, &edited, &x).await,
        StatusCode::FORBIDDEN,
        "media_url_invalid",
    )
    .await;
    // The init section is signed for its own bytes too, and is the same in both variants
    // (the owner's vault reads the whole files), so either variant's segments follow it.
    let init = read_part(&app, &init_x, &x).await;
    assert_eq!(init.status(), StatusCode::PARTIAL_CONTENT);
    let init = init.bytes().await.unwrap();
    for name in ["hls/v0.mp4", "hls/v0b.mp4"] {
        let file = fetch(
            &app,
            rendition(&item, name)["url"].as_str().unwrap(),
            Some(&tok),
        )
        .await
        .bytes()
        .await
        .unwrap();
        assert_eq!(&file[..init.len()], init.as_ref(), "{name}");
    }

    // A recording of fan X's stream names fan X.
    let dir = tempfile::tempdir().unwrap();
    let rec = record(&app, &px, &x, dir.path(), "x").await;
    let mut db = app.store.conn().await.unwrap();
    match fanz_media::abmark::trace_file(&app.state.media, &mut db, &rec)
        .await
        .unwrap()
    {
        VideoTrace::Viewer {
            media_id,
            candidates,
            segments,
            best,
            runner_up,
            confidence,
        } => {
            // Fans X, Y and Z (whose scheme-1 sequence is scored as such).
            assert_eq!((media_id, best.viewer_id, candidates), (id, x_id, 3));
            assert!(segments >= 16, "{segments}");
            assert!(best.agree >= segments - 1, "{best:?} of {segments}");
            assert!(confidence > 0.999, "{confidence}");
            let r = runner_up.expect("fans Y and Z are candidates");
            assert!(r.viewer_id == y_id || r.viewer_id == z_id, "{r:?}");
            assert!(r.agree < best.agree && r.p_value > 1e-3, "{r:?}");
        }
        other => panic!("not traced: {other:?}"),
    }
    // The owner's stream carries no viewer's sequence.
    let plain = record(
        &app,
        &rung_of(&app, post, &tok).await,
        &tok,
        dir.path(),
        "owner",
    )
    .await;
    match fanz_media::abmark::trace_file(&app.state.media, &mut db, &plain)
        .await
        .unwrap()
    {
        VideoTrace::NoViewer {
            media_id,
            candidates,
            ..
        } => assert_eq!((media_id, candidates), (id, 3)),
        other => panic!("{other:?}"),
    }
    // Fan Z's stream, whose sequence is the scheme-1 one (from the ids), names fan Z.
    let rec_z = record(&app, &rung_of(&app, post, &z).await, &z, dir.path(), "z").await;
    match fanz_media::abmark::trace_file(&app.state.media, &mut db, &rec_z)
        .await
        .unwrap()
    {
        VideoTrace::Viewer { best, .. } => assert_eq!(best.viewer_id, z_id),
        other => panic!("fan Z's old mark is not traced: {other:?}"),
    }
    // A video this server never had: cannot tell.
    let other = dir.path().join("other.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("cellauto=s=320x240:rate=25")
        .args([
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        fanz_media::abmark::trace_file(&app.state.media, &mut db, &other)
            .await
            .unwrap(),
        VideoTrace::UnknownVideo
    );
}

// ---- the visible watermark ----

/// Mean absolute difference per channel of two same-sized pictures over the pixels `inside`
/// selects.
fn mean_diff(a: &RgbImage, b: &RgbImage, inside: impl Fn(u32, u32) -> bool) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut sum, mut n) = (0f64, 0u64);
    for (x, y, p) in a.enumerate_pixels() {
        if !inside(x, y) {
            continue;
        }
        let q = b.get_pixel(x, y);
        for c in 0..3 {
            sum += (f64::from(p.0[c]) - f64::from(q.0[c])).abs();
        }
        n += 3;
    }
    sum / n.max(1) as f64
}

/// The corner the watermark goes in, and the part of the picture far from it.
fn corner(w: u32, h: u32) -> impl Fn(u32, u32) -> bool {
    move |x, y| x >= w / 2 && y >= h * 7 / 8
}
fn far_from_corner(w: u32, h: u32) -> impl Fn(u32, u32) -> bool {
    move |x, y| x < w * 2 / 5 || y < h * 3 / 5
}

/// A rendition of an item as its owner gets it.
async fn owner_rendition(app: &TestApp, token: &str, item: &Value, name: &str) -> Vec<u8> {
    let url = rendition(item, name)["url"].as_str().unwrap().to_owned();
    let res = fetch(app, &url, Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "{name}");
    res.bytes().await.unwrap().to_vec()
}

/// The first frame of an MP4 (a rung's media file), as RGB.
fn first_frame(mp4: &[u8]) -> RgbImage {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    std::fs::write(&input, mp4).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&input)
        .args(["-frames:v", "1", "-f", "image2", "-c:v", "png", "pipe:1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    image::load_from_memory(&out.stdout).unwrap().to_rgb8()
}

async fn a_visible_watermark_when_the_creator_wants_one(app: TestApp) {
    let (ana, ana_id) = creator(&app, "wm_ana").await;
    let (bo, _) = creator(&app, "wm_bo").await;
    let (fan, _) = app.user("wm_fan").await;
    // Off until a creator turns it on.
    let res = app.get("/api/v1/media/settings", Some(&ana)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["watermark"], false, "{s}");
    let source = encode(photo(800, 600), ImageFormat::Png);
    let plain_id = upload_ok(&app, &ana, &source, "plain.png").await;
    let plain = settled(&app, &ana, plain_id).await;
    assert_eq!(plain["state"], "ready", "{plain}");
    assert!(plain.get("watermark").is_none(), "{plain}");

    // Nobody changes another account's setting: a fan is no creator (403), a creator's
    // request names no one but themselves (naming someone else is an unknown field, 422),
    // and another creator's change leaves Ana's as it was.
    let put = |token: String, body: Value| {
        let app = &app;
        async move {
            app.client
                .put(app.url("/api/v1/media/settings"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_error(
        put(fan.clone(), json!({"watermark": true})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = put(bo.clone(), json!({"watermark": true, "owner_id": ana_id})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = put(bo.clone(), json!({"watermark": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = app
        .get("/api/v1/media/settings", Some(&ana))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["watermark"], false, "Bo's change reached Ana: {s}");
    // A cluster Ana does not appear on is refused.
    assert_error(
        put(
            ana.clone(),
            json!({"watermark": true, "watermark_cluster": "girlfanz"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_cluster",
    )
    .await;
    let res = put(ana.clone(), json!({"watermark": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["watermark"], true, "{s}");
    // Audited, with whose setting it was.
    let audited: Vec<String> = fanz_store::sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'media.settings_changed' AND subject = $1",
    )
    .bind(format!("user:{ana_id}"))
    .fetch_all(&mut *app.store.conn().await.unwrap())
    .await
    .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].contains("\"watermark\":true"), "{audited:?}");

    // The same picture again: its renditions carry the watermark in the corner and are
    // otherwise the same.
    let marked_id = upload_ok(&app, &ana, &source, "marked.png").await;
    let marked = settled(&app, &ana, marked_id).await;
    assert_eq!(marked["state"], "ready", "{marked}");
    assert_eq!(marked["watermark"], "@wm_ana · boyfanz.com", "{marked}");
    for name in ["w640.jpg", "w1280.jpg", "w320.webp"] {
        let a = image::load_from_memory(&owner_rendition(&app, &ana, &plain, name).await)
            .unwrap()
            .to_rgb8();
        let b = image::load_from_memory(&owner_rendition(&app, &ana, &marked, name).await)
            .unwrap()
            .to_rgb8();
        let (w, h) = a.dimensions();
        let near = mean_diff(&a, &b, corner(w, h));
        let far = mean_diff(&a, &b, far_from_corner(w, h));
        assert!(near > 4.0, "{name}: the corner barely changed ({near:.2})");
        assert!(far < 0.3, "{name}: the rest changed ({far:.2})");
    }
    // The blurred teaser is the same.
    assert_eq!(
        owner_rendition(&app, &ana, &plain, "teaser.jpg").await,
        owner_rendition(&app, &ana, &marked, "teaser.jpg").await
    );

    if !ffmpeg_or_skip("a_visible_watermark_when_the_creator_wants_one (video)") {
        return;
    }
    // Video: the rungs (both A/B variants) and the poster carry it too.
    let clip = clip(640, 360, 2, false);
    let marked_id = upload_ok(&app, &ana, &clip, "marked.mp4").await;
    let marked = settled_av(&app, &ana, marked_id).await;
    assert_eq!(marked["state"], "ready", "{marked}");
    assert_eq!(
        put(ana.clone(), json!({"watermark": false})).await.status(),
        StatusCode::OK
    );
    let plain_id = upload_ok(&app, &ana, &clip, "plain.mp4").await;
    let plain = settled_av(&app, &ana, plain_id).await;
    assert_eq!(plain["state"], "ready", "{plain}");
    assert!(plain.get("watermark").is_none(), "{plain}");
    let top = rendition(&marked, "hls/master.m3u8");
    assert_eq!(top["width"], 640);
    let plain_frame = first_frame(&owner_rendition(&app, &ana, &plain, "hls/v1.mp4").await);
    let (w, h) = plain_frame.dimensions();
    for name in ["hls/v1.mp4", "hls/v1b.mp4", "hls/v0.mp4", "preview.mp4"] {
        let frame = first_frame(&owner_rendition(&app, &ana, &marked, name).await);
        let other = if name == "hls/v1.mp4" || name == "hls/v1b.mp4" {
            plain_frame.clone()
        } else {
            first_frame(&owner_rendition(&app, &ana, &plain, name).await)
        };
        let (w, h) = frame.dimensions();
        let near = mean_diff(&frame, &other, corner(w, h));
        let far = mean_diff(&frame, &other, far_from_corner(w, h));
        assert!(near > 4.0, "{name}: the corner barely changed ({near:.2})");
        assert!(far < 2.5, "{name}: the rest changed ({far:.2})");
    }
    assert_eq!((w, h), (640, 360));
    let a = image::load_from_memory(&owner_rendition(&app, &ana, &plain, "poster.jpg").await)
        .unwrap()
        .to_rgb8();
    let b = image::load_from_memory(&owner_rendition(&app, &ana, &marked, "poster.jpg").await)
        .unwrap()
        .to_rgb8();
    let (w, h) = a.dimensions();
    assert!(mean_diff(&a, &b, corner(w, h)) > 4.0);
    assert!(mean_diff(&a, &b, far_from_corner(w, h)) < 0.3);
}

// ---- ffmpeg's memory limit ----

async fn ffmpeg_over_its_memory_limit_fails_cleanly(app: TestApp) {
    if !ffmpeg_or_skip("ffmpeg_over_its_memory_limit_fails_cleanly") {
        return;
    }
    let (token, _) = creator(&app, "mem_max").await;
    let id = upload_ok(&app, &token, &clip(320, 240, 2, false), "clip.mp4").await;
    let item = settled_av(&app, &token, id).await;
    assert_eq!(item["state"], "failed", "{item}");
    assert_eq!(item["error_code"], "processing_out_of_memory", "{item}");
    assert!(item["error"].as_str().unwrap().contains("64 MiB"), "{item}");
    // The server carries on: it answers, and a photo is processed as ever.
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    let photo = upload_ok(
        &app,
        &token,
        &encode(noisy(200, 150), ImageFormat::Png),
        "p.png",
    )
    .await;
    assert_eq!(settled(&app, &token, photo).await["state"], "ready");
}

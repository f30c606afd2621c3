//! The post page's video player: hls.js (vendored from npm, `assets/vendor`) and the small
//! script that starts it on each `<video data-hls>`, or hands the playlist to the browser
//! where HLS is native (Safari on iOS). Served at the root; the post page loads them only
//! when it shows a video. The photo lightbox's script is served here too (loaded when the post
//! shows a photo).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The file names carry no version, so caches keep them an hour.
const CACHE_HOUR: &str = "public, max-age=3600";

pub fn router() -> Router<crate::AppState> {
    Router::new()
        .route("/assets/player.js", get(player_js))
        .route("/assets/lightbox.js", get(lightbox_js))
        .route("/assets/vendor/hls.light.min.js", get(hls_js))
}

pub(crate) fn js(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE_HOUR),
        ],
        body,
    )
        .into_response()
}

async fn player_js() -> Response {
    js(include_str!("../../assets/player.js"))
}

async fn hls_js() -> Response {
    js(include_str!("../../assets/vendor/hls.light.min.js"))
}

async fn lightbox_js() -> Response {
    js(include_str!("../../assets/lightbox.js"))
}

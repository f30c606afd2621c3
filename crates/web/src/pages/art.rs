//! Generated pictures (cluster heroes, avatars, profile banners) and the two fonts Fanz ships.
//! Served at the root only: a picture is the same whichever cluster's page shows it.
//!
//! The pictures are deterministic (`fanz_clusters::art`), so they are cached for long. An
//! avatar or banner is drawn for any handle, existing or not, without touching the store: the
//! handle only seeds the picture and its escaped initials.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Avatars and banners depend only on the handle and this code: a year, immutable.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";
/// A hero follows the clusters file, which can change at a restart: a day.
const CACHE_DAY: &str = "public, max-age=86400";
/// An SVG opened on its own is a document: it may load and run nothing.
const SVG_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// The longest name accepted in a picture's path.
const MAX_NAME: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/art/cluster/{file}", get(cluster))
        .route("/art/avatar/{file}", get(avatar))
        .route("/art/banner/{file}", get(banner))
        .route("/assets/fonts/{file}", get(font))
}

/// `name.svg` → `name`, for names of a sensible length.
fn svg_name(file: &str) -> Option<&str> {
    file.strip_suffix(".svg")
        .filter(|n| !n.is_empty() && n.len() <= MAX_NAME)
}

fn svg(body: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_SECURITY_POLICY, SVG_CSP),
        ],
        body,
    )
        .into_response()
}

async fn cluster(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    match svg_name(&file).and_then(|slug| state.clusters.get(slug)) {
        Some(c) => svg(fanz_clusters::art::hero(c), CACHE_DAY),
        None => ApiError::not_found("cluster").into_response(),
    }
}

async fn avatar(Path(file): Path<String>) -> Response {
    match svg_name(&file) {
        Some(handle) => svg(fanz_clusters::art::avatar(handle), CACHE_FOREVER),
        None => ApiError::not_found("picture").into_response(),
    }
}

async fn banner(Path(file): Path<String>) -> Response {
    match svg_name(&file) {
        Some(handle) => svg(fanz_clusters::art::banner(handle), CACHE_FOREVER),
        None => ApiError::not_found("picture").into_response(),
    }
}

/// The display fonts of the `condensed` and `script` stacks (SIL Open Font License; the
/// licences are beside them in `assets/fonts`).
async fn font(Path(file): Path<String>) -> Response {
    let bytes: &'static [u8] = match file.as_str() {
        "bebas-neue-latin-400-normal.woff2" => {
            include_bytes!("../../assets/fonts/bebas-neue-latin-400-normal.woff2")
        }
        "pacifico-latin-400-normal.woff2" => {
            include_bytes!("../../assets/fonts/pacifico-latin-400-normal.woff2")
        }
        _ => return ApiError::not_found("font").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "font/woff2"),
            (header::CACHE_CONTROL, CACHE_FOREVER),
        ],
        bytes,
    )
        .into_response()
}

/// The picture a page shows for a profile: its own URL when it has one, else the generated one.
pub(crate) fn or_generated(url: &str, kind: &str, handle: &str) -> String {
    if url.is_empty() {
        format!("/art/{kind}/{handle}.svg")
    } else {
        url.to_owned()
    }
}

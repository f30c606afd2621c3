//! The creator's media vault page (`/studio/media`): every item with its thumbnail, state and
//! the posts that carry it, filtered by kind and state, with delete; the upload form that works
//! without script (a multipart POST stored by the same `Media::upload` as the API); and the
//! scripts of the studio's uploader: tus-js-client (vendored from npm) and `studio.js`, which
//! uploads through `/api/v1/media/uploads` with the session cookie and the CSRF token.

use super::{go, layout, render, CsrfForm, CsrfToken, Layout};
use crate::error::ApiError;
use crate::extract::{cookie, Auth, PageCluster, RequestActor, Viewer};
use crate::pages::csrf::CSRF_COOKIE;
use crate::AppState;
use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use fanz_core::token::secrets_equal;
use fanz_core::Role;
use fanz_identity::Principal;
use fanz_media::{MediaItem, MediaKind, MediaState};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/studio/media",
            get(vault).post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/studio/media/{id}/delete", post(delete))
        .route("/studio/media/settings", post(save_settings))
}

/// The uploader's scripts, served at the root like the player's.
pub fn assets() -> Router<AppState> {
    Router::new()
        .route("/assets/studio.js", get(studio_js))
        .route("/assets/vendor/tus.min.js", get(tus_js))
}

async fn studio_js() -> Response {
    super::player::js(include_str!("../../assets/studio.js"))
}

async fn tus_js() -> Response {
    super::player::js(include_str!("../../assets/vendor/tus.min.js"))
}

/// The picture that stands for an item in the vault and the picker: a photo's smallest JPEG
/// rendition, a video's poster, an audio item's waveform.
pub fn thumbnail(item: &MediaItem) -> Option<&str> {
    match item.kind {
        MediaKind::Image => item
            .renditions
            .iter()
            .filter(|r| !r.teaser && r.format == "jpeg")
            .min_by_key(|r| r.width)
            .map(|r| r.name.as_str()),
        MediaKind::Video => item.rendition("poster.jpg").map(|r| r.name.as_str()),
        MediaKind::Audio => item.rendition("waveform.png").map(|r| r.name.as_str()),
    }
}

/// `1.4 MB`, `820 KB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `0:03`, `1:02:03`.
pub fn duration(ms: i64) -> String {
    let s = (ms.max(0) + 500) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn kind_label(k: MediaKind) -> &'static str {
    match k {
        MediaKind::Image => "Photo",
        MediaKind::Video => "Video",
        MediaKind::Audio => "Audio",
    }
}

fn state_label(s: MediaState) -> &'static str {
    match s {
        MediaState::Processing => "Processing",
        MediaState::Ready => "Ready",
        MediaState::Failed => "Failed",
        MediaState::Quarantined => "Held for review",
    }
}

/// An item as the vault and the picker show it.
pub struct MediaCard {
    pub id: i64,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub state: &'static str,
    pub state_label: &'static str,
    pub error: String,
    /// A URL signed for the owner, or empty while there is none.
    pub thumb: String,
    pub size: String,
    /// `1280×720`, or empty.
    pub dims: String,
    /// `0:03`, or empty.
    pub duration: String,
    /// (post id, its state) of the posts that carry it.
    pub uses: Vec<(i64, &'static str)>,
    /// Whether a published or scheduled post shows it (then it cannot be deleted).
    pub live: bool,
}

impl MediaCard {
    pub fn new(state: &AppState, item: &MediaItem, uses: Vec<(i64, &'static str)>) -> Self {
        MediaCard {
            id: item.id,
            kind: item.kind.as_str(),
            kind_label: kind_label(item.kind),
            state: item.state.as_str(),
            state_label: state_label(item.state),
            error: item.error.clone().unwrap_or_default(),
            thumb: thumbnail(item)
                .map(|r| state.media.owner_url(item, r))
                .unwrap_or_default(),
            size: size(item.bytes),
            dims: match (item.width, item.height) {
                (Some(w), Some(h)) => format!("{w}×{h}"),
                _ => String::new(),
            },
            duration: item.duration_ms.map(duration).unwrap_or_default(),
            live: uses
                .iter()
                .any(|(_, s)| *s == "published" || *s == "scheduled"),
            uses,
        }
    }
}

/// Cards of `items` with the posts that use each.
pub async fn cards(
    state: &AppState,
    db: &mut fanz_store::Db,
    items: &[MediaItem],
) -> Result<Vec<MediaCard>, ApiError> {
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    let uses = fanz_content::posts::media_usage(db, &ids).await?;
    Ok(items
        .iter()
        .map(|item| {
            let mine = uses
                .iter()
                .filter(|u| u.media_id == item.id)
                .map(|u| (u.post_id, u.state.as_str()))
                .collect();
            MediaCard::new(state, item, mine)
        })
        .collect())
}

#[derive(Template)]
#[template(path = "studio_media.html")]
pub struct VaultPage {
    pub layout: Layout,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub is_creator: bool,
    pub items: Vec<MediaCard>,
    pub kind: String,
    pub state: String,
    /// The `before` cursor of the next page, when there is one.
    pub next: Option<i64>,
    pub used: String,
    pub quota: String,
    /// Percent of the quota used, 0–100.
    pub used_pct: u64,
    pub video_processing: bool,
    /// The visible watermark setting, and the text it draws.
    pub watermark: bool,
    pub watermark_text: String,
    /// The clusters the creator appears on, whose address the watermark may show:
    /// (slug, address, chosen).
    pub watermark_clusters: Vec<(String, String, bool)>,
}

impl VaultPage {
    /// A filter link that keeps the other filter.
    pub fn filter_href(&self, kind: &str, state: &str) -> String {
        let mut q = Vec::new();
        if !kind.is_empty() {
            q.push(format!("kind={kind}"));
        }
        if !state.is_empty() {
            q.push(format!("state={state}"));
        }
        let q = if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        };
        format!("{}/studio/media{q}", self.layout.base)
    }
}

#[derive(Deserialize, Default)]
pub struct VaultQ {
    kind: Option<String>,
    state: Option<String>,
    before: Option<i64>,
    done: Option<String>,
}

async fn vault(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<VaultQ>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let notice = q.done.as_deref().map(|d| {
        match d {
            "uploaded" => {
                "Uploaded. It is being processed; it can be attached to a post now and \
                           published once it is ready."
            }
            "deleted" => "Deleted.",
            "settings" => "Saved. Photos and videos you upload from now on follow this setting.",
            _ => "Done.",
        }
        .to_owned()
    });
    vault_render(&state, &pc, &me, &csrf, q, notice, None, StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn vault_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    q: VaultQ,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let kind = q.kind.as_deref().and_then(MediaKind::parse);
    let st = q.state.as_deref().and_then(MediaState::parse);
    let mut page = VaultPage {
        layout: layout(pc, Some(me), csrf),
        notice,
        error,
        is_creator: me.has_role(Role::Creator),
        items: Vec::new(),
        kind: kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
        state: st.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        next: None,
        used: String::new(),
        quota: size(state.media.limits.quota_bytes),
        used_pct: 0,
        video_processing: state.media.av_available(),
        watermark: false,
        watermark_text: String::new(),
        watermark_clusters: Vec::new(),
    };
    if !page.is_creator {
        return Ok(render(StatusCode::FORBIDDEN, page));
    }
    let mut db = state.store.conn().await?;
    let (items, next) = fanz_media::list_where(&mut db, me.user_id, kind, st, q.before, 60).await?;
    let used = fanz_media::usage(&mut db, me.user_id).await?;
    page.items = cards(state, &mut db, &items).await?;
    page.next = next;
    page.used = size(used);
    page.used_pct = (used.saturating_mul(100) / state.media.limits.quota_bytes.max(1)).min(100);
    let settings = fanz_media::watermark::settings(&mut db, me.user_id).await?;
    let byline = crate::flows::Byline {
        clusters: state.clusters.clone(),
    };
    page.watermark = settings.watermark;
    page.watermark_text = fanz_media::watermark::Byline::text(
        &byline,
        &mut db,
        me.user_id,
        &settings.watermark_cluster,
    )
    .await?
    .unwrap_or_default();
    let profile = fanz_profiles::get_by_user(&mut db, me.user_id).await?;
    let chosen = if profile.clusters.contains(&settings.watermark_cluster) {
        settings.watermark_cluster.clone()
    } else {
        profile.clusters.first().cloned().unwrap_or_default()
    };
    page.watermark_clusters = profile
        .clusters
        .iter()
        .filter_map(|slug| {
            let c = state.clusters.get(slug)?;
            Some((
                slug.clone(),
                crate::flows::cluster_address(c),
                *slug == chosen,
            ))
        })
        .collect();
    Ok(crate::extract::no_store(render(status, page)))
}

/// The form's `csrf` field, which must come before the file, equal to the cookie.
fn csrf_ok(headers: &HeaderMap, expected: &CsrfToken, sent: &str) -> bool {
    cookie(headers, CSRF_COOKIE).is_some() && secrets_equal(sent, &expected.0)
}

/// The upload without script: a `multipart/form-data` form whose first field is `csrf` and
/// whose file is stored, typed and limited exactly as `POST /api/v1/media` does.
async fn upload(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let expired = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "this form has expired; reload the page and try again",
        )
    };
    let mut multipart = multipart.map_err(crate::api::media::not_multipart)?;
    let bad = crate::api::media::bad_multipart;
    let first = multipart
        .next_field()
        .await
        .map_err(bad)?
        .ok_or_else(expired)?;
    if first.name() != Some("csrf") {
        return Err(expired());
    }
    let sent = first.text().await.map_err(bad)?;
    if !csrf_ok(&headers, &csrf, &sent) {
        return Err(expired());
    }
    let again = |error: ApiError| {
        let (state, pc, me, csrf) = (&state, &pc, &me, &csrf);
        async move { vault_error(state, pc, me, csrf, error).await }
    };
    let who = Auth(me.clone());
    if let Err(e) = crate::api::media::uploader(&state, &who).await {
        return again(e).await;
    }
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        if field.file_name().is_some_and(str::is_empty) {
            break;
        }
        let actor = actor.with_user(me.user_id);
        return match state
            .media
            .upload(&state.store, me.user_id, field, &actor)
            .await
        {
            Ok(_) => Ok(go(&pc, "/studio/media?done=uploaded")),
            Err(e) => again(e.into()).await,
        };
    }
    again(ApiError::new(
        StatusCode::BAD_REQUEST,
        "no_file",
        "choose a file to upload",
    ))
    .await
}

async fn delete(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(_form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let id: i64 = super::param(&params, "id")?;
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    match crate::flows::delete_media(&mut tx, me.user_id, id, &actor).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(go(&pc, "/studio/media?done=deleted"))
        }
        Err(e) => {
            drop(tx);
            vault_error(&state, &pc, &me, &csrf, e).await
        }
    }
}

/// The vault again with a refusal's message and status; a server error stays an error.
async fn vault_error(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    error: ApiError,
) -> Result<Response, ApiError> {
    if error.status.is_server_error() {
        return Err(error);
    }
    vault_render(
        state,
        pc,
        me,
        csrf,
        VaultQ::default(),
        None,
        Some(error.message),
        error.status,
    )
    .await
}

/// The watermark setting's form: a checkbox (absent: off) and, for a creator on several
/// clusters, whose address it shows. Saved by the same flow as `PUT /api/v1/media/settings`.
async fn save_settings(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let settings = fanz_media::watermark::MediaSettings {
        watermark: form.get("watermark").is_some_and(|v| v == "on"),
        watermark_cluster: form.get("watermark_cluster").cloned().unwrap_or_default(),
    };
    let result = match Auth(me.clone()).require_any(&[Role::Creator]) {
        Ok(()) => {
            crate::flows::save_media_settings(
                &state,
                me.user_id,
                settings,
                &actor.with_user(me.user_id),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(go(&pc, "/studio/media?done=settings")),
        Err(e) => vault_error(&state, &pc, &me, &csrf, e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, size};

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1_400_000), "1.4 MB");
        assert_eq!(size(820_000), "820 KB");
        assert_eq!(size(53_687_091_200), "53.7 GB");
        assert_eq!(duration(3_040), "0:03");
        assert_eq!(duration(62_000), "1:02");
        assert_eq!(duration(3_723_000), "1:02:03");
    }
}

//! /api/v1/media: uploads (a small multipart POST, and tus 1.0 resumable uploads under
//! /api/v1/media/uploads), the creator's vault, and `GET /media/{token}`, which serves a
//! rendition to whoever holds a valid signed URL.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, CookieAuth, Json, Path, Query, RequestActor};
use crate::AppState;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fanz_core::Role;
use fanz_media::tus::{
    Append, Checksum, Upload, TUS_CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_VERSION,
};
use fanz_media::{MediaItem, MediaKind, MediaState, Rendition};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The media routes. Bodies here are capped by `[media]` limits while they stream, not by the
/// JSON body limit.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, vault))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(show, remove))
        .routes(routes!(tus_options, tus_create))
        .routes(routes!(tus_head, tus_patch, tus_terminate))
        .layer(DefaultBodyLimit::disable())
}

/// A rendition with a URL signed for the caller.
#[derive(Serialize, ToSchema)]
pub struct RenditionView {
    #[serde(flatten)]
    pub rendition: Rendition,
    /// A short-lived delivery URL for you (`/media/<token>`).
    pub url: String,
}

/// An item of your vault.
#[derive(Serialize, ToSchema)]
#[schema(as = VaultItem)]
pub struct MediaView {
    pub id: i64,
    pub kind: MediaKind,
    pub state: MediaState,
    /// The type sniffed from the uploaded bytes.
    pub mime: String,
    /// Size of the original.
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blurhash: Option<String>,
    pub renditions: Vec<RenditionView>,
    /// Why processing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The stable code of `error`: `video_processing_unavailable`, `media_malformed`,
    /// `media_too_long`, `media_too_many_pixels`, `media_too_many_streams`,
    /// `media_too_large`, `processing_timeout`, `processing_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The length of a video or audio item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// The visible watermark its renditions carry (your setting when it was processed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The posts (not deleted, newest first) that carry this item.
    pub used_in: Vec<MediaUseView>,
}

/// A post that carries an item.
#[derive(Serialize, ToSchema)]
pub struct MediaUseView {
    pub post_id: i64,
    /// `draft`, `scheduled`, `published` or `hidden`.
    pub state: String,
}

/// The uses of each of `items`, in the items' order.
async fn uses_of(
    db: &mut fanz_store::Db,
    items: &[MediaItem],
) -> ApiResult<Vec<Vec<MediaUseView>>> {
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    let all = fanz_content::posts::media_usage(db, &ids).await?;
    Ok(ids
        .iter()
        .map(|id| {
            all.iter()
                .filter(|u| u.media_id == *id)
                .map(|u| MediaUseView {
                    post_id: u.post_id,
                    state: u.state.as_str().to_owned(),
                })
                .collect()
        })
        .collect())
}

fn view(state: &AppState, item: MediaItem, used_in: Vec<MediaUseView>) -> MediaView {
    let renditions = item
        .renditions
        .iter()
        .map(|r| RenditionView {
            url: state.media.owner_url(&item, &r.name),
            rendition: r.clone(),
        })
        .collect();
    MediaView {
        id: item.id,
        kind: item.kind,
        state: item.state,
        mime: item.mime,
        bytes: item.bytes,
        width: item.width,
        height: item.height,
        blurhash: item.blurhash,
        renditions,
        error: item.error,
        error_code: item.error_code,
        duration_ms: item.duration_ms,
        watermark: item.watermark,
        created_at: fanz_core::clock::rfc3339(item.created_at),
        used_in,
    }
}

/// What an upload answers.
#[derive(Serialize, ToSchema)]
pub struct MediaCreated {
    pub id: i64,
    pub kind: MediaKind,
    pub state: MediaState,
}

/// The multipart form of an upload (documentation only).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file; its type is taken from its bytes, never from its name or part header.
    #[schema(format = Binary)]
    file: String,
}

fn creator(me: &Auth) -> ApiResult<()> {
    me.require_any(&[Role::Creator])
}

/// A body that is not `multipart/form-data` (the API's and the vault page's uploads).
pub(crate) fn not_multipart(rej: axum::extract::multipart::MultipartRejection) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("send a multipart/form-data body: {}", rej.body_text()),
    )
}

/// A multipart body that cannot be read.
pub(crate) fn bad_multipart(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", e.body_text())
}

/// Uploads are for creators whose identity and age are verified (trust & safety decides).
pub(crate) async fn uploader(state: &AppState, me: &Auth) -> ApiResult<()> {
    creator(me)?;
    let mut db = state.store.conn().await?;
    Ok(fanz_safety::onboarding::may_upload(&mut db, me.0.user_id).await?)
}

/// Upload a photo, video or audio file (creators). The first file part of a
/// `multipart/form-data` body is stored, streamed, up to `[media] max_upload_bytes` and your
/// quota; its type is sniffed from its bytes. A job then processes it: renditions of a photo;
/// a poster, preview clip and HLS ladder of a video; AAC and a waveform of audio. A server
/// without ffmpeg refuses video and audio with 503 `video_processing_unavailable`.
#[utoipa::path(post, path = "/api/v1/media", tag = "media", security(("bearer" = []), ("api_key" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = MediaCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "not a creator, or not verified", body = ErrorBody),
        (status = 413, description = "too large, or over quota", body = ErrorBody),
        (status = 415, description = "not an accepted type", body = ErrorBody),
        (status = 503, description = "video and audio processing is unavailable on this server", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    CookieAuth(me): CookieAuth,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    uploader(&state, &me).await?;
    let mut multipart = multipart.map_err(not_multipart)?;
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        if field.file_name().is_none() && field.name() != Some("file") {
            continue;
        }
        let actor = actor.with_user(me.0.user_id);
        let summary = state
            .media
            .upload(&state.store, me.0.user_id, field, &actor)
            .await?;
        let body = MediaCreated {
            id: summary.id,
            kind: summary.kind,
            state: summary.state,
        };
        return Ok((
            StatusCode::CREATED,
            [(header::LOCATION, format!("/api/v1/media/{}", summary.id))],
            axum::Json(body),
        )
            .into_response());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "no_file",
        "the form has no file part",
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct VaultQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1 to 100 (default 50).
    pub limit: Option<u32>,
}

/// One page of your vault.
#[derive(Serialize, ToSchema)]
pub struct VaultPage {
    pub items: Vec<MediaView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<i64>,
    /// Bytes you use (originals, renditions, unfinished uploads) and may use.
    pub usage_bytes: u64,
    pub quota_bytes: u64,
    /// Whether this server processes video and audio (it needs ffmpeg); when false, video
    /// and audio uploads are refused with 503 `video_processing_unavailable`.
    pub video_processing: bool,
}

/// Your media, newest first, with processing state and signed URLs of the renditions.
#[utoipa::path(get, path = "/api/v1/media", tag = "media", security(("bearer" = []), ("api_key" = [])),
    params(VaultQuery),
    responses((status = 200, body = VaultPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn vault(
    State(state): State<AppState>,
    CookieAuth(me): CookieAuth,
    Query(q): Query<VaultQuery>,
) -> ApiResult<Response> {
    creator(&me)?;
    let mut db = state.store.conn().await?;
    let (items, next) =
        fanz_media::list(&mut db, me.0.user_id, q.cursor, q.limit.unwrap_or(50)).await?;
    let usage = fanz_media::usage(&mut db, me.0.user_id).await?;
    let uses = uses_of(&mut db, &items).await?;
    let page = VaultPage {
        items: items
            .into_iter()
            .zip(uses)
            .map(|(i, u)| view(&state, i, u))
            .collect(),
        next_cursor: next,
        usage_bytes: usage,
        quota_bytes: state.media.limits.quota_bytes,
        video_processing: state.media.av_available(),
    };
    Ok(crate::extract::no_store(axum::Json(page).into_response()))
}

/// One item of yours: state (`processing`, `ready`, `failed` with `error`) and renditions.
/// Another account's item is 404, as a missing one.
#[utoipa::path(get, path = "/api/v1/media/{id}", tag = "media", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = MediaView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    CookieAuth(me): CookieAuth,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let mut db = state.store.conn().await?;
    let item = fanz_media::get_owned(&mut db, me.0.user_id, id).await?;
    let uses = uses_of(&mut db, std::slice::from_ref(&item))
        .await?
        .pop()
        .unwrap_or_default();
    Ok(crate::extract::no_store(
        axum::Json(view(&state, item, uses)).into_response(),
    ))
}

/// Delete one item of yours with all its files. An item that a published or scheduled post
/// shows is refused with 409 `media_in_use`: hide or delete the post first.
#[utoipa::path(delete, path = "/api/v1/media/{id}", tag = "media", security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "used by a published or scheduled post, or preserved", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    CookieAuth(me): CookieAuth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    crate::flows::delete_media(&mut tx, me.0.user_id, id, &actor.with_user(me.0.user_id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- settings ----

/// Your media settings (creators). No route names another account: each creator reads and
/// changes only their own.
#[utoipa::path(get, path = "/api/v1/media/settings", tag = "media", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = fanz_media::watermark::MediaSettings), (status = 401, body = ErrorBody),
        (status = 403, description = "not a creator", body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    CookieAuth(me): CookieAuth,
) -> ApiResult<Response> {
    creator(&me)?;
    let mut db = state.store.conn().await?;
    let s = fanz_media::watermark::settings(&mut db, me.0.user_id).await?;
    Ok(crate::extract::no_store(axum::Json(s).into_response()))
}

/// A change of your media settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaSettingsUpdate {
    /// Put your handle and your cluster's address ("@handle · boyfanz.example") visibly in
    /// the corner of photos and videos processed from now on. Items processed before keep
    /// what they have.
    pub watermark: bool,
    /// Whose address the watermark shows: one of the clusters you appear on; empty or absent:
    /// the first of them.
    #[serde(default)]
    pub watermark_cluster: String,
}

/// Change your media settings (creators); audited.
#[utoipa::path(put, path = "/api/v1/media/settings", tag = "media", security(("bearer" = []), ("api_key" = [])),
    request_body = MediaSettingsUpdate,
    responses((status = 200, body = fanz_media::watermark::MediaSettings), (status = 401, body = ErrorBody),
        (status = 403, description = "not a creator", body = ErrorBody),
        (status = 422, description = "not a cluster you appear on, or an unknown field", body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    CookieAuth(me): CookieAuth,
    Json(req): Json<MediaSettingsUpdate>,
) -> ApiResult<Response> {
    creator(&me)?;
    let saved = crate::flows::save_media_settings(
        &state,
        me.0.user_id,
        fanz_media::watermark::MediaSettings {
            watermark: req.watermark,
            watermark_cluster: req.watermark_cluster,
        },
        &actor.with_user(me.0.user_id),
    )
    .await?;
    Ok(crate::extract::no_store(axum::Json(saved).into_response()))
}

// ---- tus 1.0 ----

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
/// Set once an upload is complete: the item it became.
const MEDIA_ID: HeaderName = HeaderName::from_static("fanz-media-id");

fn tus(mut res: Response) -> Response {
    res.headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    res
}

/// Every tus answer, errors included, carries `Tus-Resumable`.
fn tus_result(r: ApiResult<Response>) -> Response {
    tus(match r {
        Ok(res) => res,
        Err(e) => e.into_response(),
    })
}

/// Requests other than OPTIONS must speak our version (412 otherwise).
fn tus_version(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get(&TUS_RESUMABLE).and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version_unsupported",
            format!("send Tus-Resumable: {TUS_VERSION}"),
        )),
    }
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> ApiResult<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_upload",
                format!("send {name} as a non-negative integer"),
            )
        })
}

fn http_date(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&fmt).unwrap_or_default()
}

fn upload_headers(res: &mut Response, u: &Upload) {
    let h = res.headers_mut();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(u.offset));
    h.insert(UPLOAD_LENGTH, HeaderValue::from(u.length));
    if let Ok(v) = HeaderValue::from_str(&http_date(u.expires_at)) {
        h.insert(UPLOAD_EXPIRES, v);
    }
    if let Some(id) = u.media_id {
        h.insert(MEDIA_ID, HeaderValue::from(id));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// What this server's tus endpoint supports.
#[utoipa::path(options, path = "/api/v1/media/uploads", tag = "media",
    responses((status = 204, description = "Tus-Version, Tus-Extension and Tus-Max-Size")))]
pub async fn tus_options(State(state): State<AppState>) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static(TUS_CHECKSUM_ALGORITHMS),
    );
    h.insert(
        "tus-max-size",
        HeaderValue::from(state.media.limits.max_resumable_bytes),
    );
    tus(res)
}

/// Start a resumable upload (tus creation; creators): `Upload-Length` bytes, with optional
/// `Upload-Metadata`. The answer's `Location` is where to PATCH.
#[utoipa::path(post, path = "/api/v1/media/uploads", tag = "media", security(("bearer" = []), ("api_key" = [])),
    params(("Tus-Resumable" = String, Header), ("Upload-Length" = u64, Header), ("Upload-Metadata" = Option<String>, Header)),
    responses((status = 201, description = "created; see Location"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 413, description = "over Tus-Max-Size or the quota", body = ErrorBody)))]
pub async fn tus_create(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    CookieAuth(me): CookieAuth,
    headers: HeaderMap,
) -> Response {
    tus_result(
        async {
            uploader(&state, &me).await?;
            tus_version(&headers)?;
            if headers.contains_key("upload-defer-length") {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_upload",
                    "Upload-Defer-Length is not supported; send Upload-Length",
                ));
            }
            let length = header_u64(&headers, &UPLOAD_LENGTH)?;
            let metadata = headers
                .get("upload-metadata")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let u = state
                .media
                .create_upload(
                    &state.store,
                    me.0.user_id,
                    length,
                    metadata,
                    &actor.with_user(me.0.user_id),
                )
                .await?;
            let mut res = StatusCode::CREATED.into_response();
            upload_headers(&mut res, &u);
            res.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&format!("/api/v1/media/uploads/{}", u.id))
                    .expect("hex ids are valid header values"),
            );
            Ok(res)
        }
        .await,
    )
}

/// Where an upload stands (tus HEAD): `Upload-Offset`, `Upload-Length`, `Upload-Expires`,
/// and `Fanz-Media-Id` once complete.
#[utoipa::path(head, path = "/api/v1/media/uploads/{id}", tag = "media", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 200, description = "see Upload-Offset"), (status = 401, body = ErrorBody),
        (status = 404, description = "unknown, expired or another account's", body = ErrorBody),
        (status = 412, description = "another tus version", body = ErrorBody)))]
pub async fn tus_head(
    State(state): State<AppState>,
    CookieAuth(me): CookieAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    tus_result(
        async {
            tus_version(&headers)?;
            let mut db = state.store.conn().await?;
            let u = fanz_media::tus::status(&mut db, me.0.user_id, &id).await?;
            let mut res = StatusCode::OK.into_response();
            upload_headers(&mut res, &u);
            Ok(res)
        }
        .await,
    )
}

/// Append bytes (tus PATCH): `Content-Type: application/offset+octet-stream` and
/// `Upload-Offset` equal to the upload's offset (409 otherwise). The body is streamed to
/// storage; bytes that arrived before a dropped connection are kept. With
/// `Upload-Checksum: sha1|sha256 <base64>` (tus checksum) bytes that do not match are
/// discarded with 460. The body is the raw bytes to append (not described as a request body
/// here: OpenAPI tools cannot produce `application/offset+octet-stream`).
#[utoipa::path(patch, path = "/api/v1/media/uploads/{id}", tag = "media", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header), ("Upload-Offset" = u64, Header),
        ("Upload-Checksum" = Option<String>, Header)),
    responses((status = 204, description = "appended; see Upload-Offset"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, description = "another tus version", body = ErrorBody),
        (status = 409, description = "wrong offset", body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, description = "wrong content type, or the completed file's type is not accepted", body = ErrorBody),
        (status = 460, description = "the bytes do not match Upload-Checksum", body = ErrorBody)))]
pub async fn tus_patch(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    CookieAuth(me): CookieAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    tus_result(
        async {
            tus_version(&headers)?;
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !ct.eq_ignore_ascii_case("application/offset+octet-stream") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send Content-Type: application/offset+octet-stream",
                ));
            }
            let offset = header_u64(&headers, &UPLOAD_OFFSET)?;
            let checksum = match headers.get("upload-checksum") {
                Some(v) => Some(Checksum::parse(v.to_str().unwrap_or(""))?),
                None => None,
            };
            let u = state
                .media
                .append(
                    &state.store,
                    me.0.user_id,
                    &id,
                    Append { offset, checksum },
                    body.into_data_stream(),
                    &actor.with_user(me.0.user_id),
                )
                .await?;
            let mut res = StatusCode::NO_CONTENT.into_response();
            upload_headers(&mut res, &u);
            Ok(res)
        }
        .await,
    )
}

/// Abandon an upload (tus termination); its bytes are deleted.
#[utoipa::path(delete, path = "/api/v1/media/uploads/{id}", tag = "media", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, description = "another tus version", body = ErrorBody)))]
pub async fn tus_terminate(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    CookieAuth(me): CookieAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    tus_result(
        async {
            tus_version(&headers)?;
            state
                .media
                .terminate(
                    &state.store,
                    me.0.user_id,
                    &id,
                    &actor.with_user(me.0.user_id),
                )
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

// ---- delivery ----

/// `GET /media/{token}`: one rendition for the holder of a valid signed URL. A URL signed
/// for a viewer needs that viewer signed in (session cookie or bearer token) and is never
/// cached (`private, no-store`); one signed for nobody is a public rendition, cacheable until
/// it expires. Ranges (`Range: bytes=…`) are answered with 206.
pub async fn deliver(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match deliver_inner(&state, &token, &headers).await {
        Ok(res) => res,
        Err(e) => crate::extract::no_store(e.into_response()),
    }
}

/// `GET /media/{token}/{name}`: the same, with a file name after the token that is only for
/// tools that look at it (ffmpeg accepts HLS segments only under known extensions); the token
/// alone decides what is served.
pub async fn deliver_named(
    State(state): State<AppState>,
    axum::extract::Path((token, _name)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match deliver_inner(&state, &token, &headers).await {
        Ok(res) => res,
        Err(e) => crate::extract::no_store(e.into_response()),
    }
}

async fn deliver_inner(state: &AppState, token: &str, headers: &HeaderMap) -> ApiResult<Response> {
    let credential = crate::extract::bearer(headers)
        .or_else(|| crate::extract::cookie(headers, crate::extract::SESSION_COOKIE));
    let mut db = state.store.conn().await?;
    let caller = match credential {
        Some(t) => fanz_identity::authenticate(&mut db, &t)
            .await?
            .map(|p| p.user_id),
        None => None,
    };
    let grant =
        fanz_media::delivery::verify(&state.media.keys, token, fanz_media::now_secs(), caller)
            .map_err(fanz_media::MediaError::from)?;
    let item = fanz_media::get(&mut db, grant.media_id).await?;
    drop(db);
    let rendition = match item.rendition(&grant.rendition) {
        Some(r) if item.state == MediaState::Ready => r.clone(),
        _ => return Err(fanz_media::MediaError::NotFound.into()),
    };
    if rendition.is_playlist() {
        return playlist(state, &item, &rendition, &grant).await;
    }
    // A picture delivered to a viewer other than its owner carries their forensic mark.
    let (key, total) = match grant.viewer_id {
        Some(v) if fanz_media::mark::applies(&item, &rendition, v) => {
            state
                .media
                .marked_copy(&state.store, &item, &rendition, v)
                .await?
        }
        _ => (item.rendition_key(&rendition), rendition.bytes),
    };
    // A URL signed for one segment reads those bytes only (`(first, last)`).
    let slice = match grant.slice {
        Some((o, l)) if l > 0 && o.checked_add(l).is_some_and(|end| end <= total) => {
            Some((o, o + l - 1))
        }
        Some(_) => {
            return Err(fanz_media::MediaError::Url(fanz_media::UrlError::OutsideSlice).into())
        }
        None => None,
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => match parse_range(r, total) {
            RangeAsk::Whole => slice,
            RangeAsk::Part(a, b) => Some((a, b)),
            RangeAsk::Unsatisfiable => {
                let mut res = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    "the range is outside the file",
                )
                .into_response();
                res.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{total}")).expect("valid"),
                );
                return Ok(res);
            }
        },
        None => slice,
    };
    if let Some((first, last)) = slice {
        if range.is_none_or(|(a, b)| a < first || b > last) {
            return Err(fanz_media::MediaError::Url(fanz_media::UrlError::OutsideSlice).into());
        }
    }
    let got = state
        .media
        .objects
        .get(&key, range.map(|(a, b)| a..b + 1))
        .await?;
    let body = Body::from_stream(got.into_stream());
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendition.content_type()),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match range {
        Some((a, b)) => {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = res.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(b - a + 1));
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{b}/{total}")).expect("valid"),
            );
        }
        None => {
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(total));
        }
    }
    cache_control(&mut res, &grant);
    Ok(res)
}

/// Per-viewer answers are never cached; public ones until their URL expires.
fn cache_control(res: &mut Response, grant: &fanz_media::Grant) {
    let cache = match grant.viewer_id {
        Some(_) => "private, no-store".to_owned(),
        None => {
            let left = (grant.expires_at - fanz_media::now_secs()).max(0);
            format!("public, max-age={left}, immutable")
        }
    };
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&cache).expect("valid"),
    );
}

/// An HLS playlist with every URI in it signed for the grant's viewer (a rung of a marked
/// video is the viewer's own sequence of A and B segments: `fanz_media::abmark`); a URI read
/// by a byte range is signed for those bytes only. The URIs outlive the playlist's own URL
/// by the item's duration (and a minute), so a video started just before its URL expires
/// still plays to the end.
async fn playlist(
    state: &AppState,
    item: &MediaItem,
    rendition: &Rendition,
    grant: &fanz_media::Grant,
) -> ApiResult<Response> {
    let text = state
        .media
        .rung_playlist(&state.store, item, rendition, grant.viewer_id)
        .await?;
    let expires = grant
        .expires_at
        .saturating_add(item.duration_ms.unwrap_or(0).max(0) / 1000 + 60);
    let keys = &state.media.keys;
    let body = fanz_media::hls::rewrite(&text, &rendition.name, |name, range| {
        item.rendition(name).map(|_| {
            format!(
                "/media/{}/{}",
                fanz_media::delivery::sign_slice(
                    keys,
                    item.id,
                    name,
                    grant.viewer_id,
                    expires,
                    range
                ),
                name.rsplit('/').next().unwrap_or(name)
            )
        })
    })
    .ok_or_else(|| {
        tracing::error!(media_id = item.id, playlist = %rendition.name, "a stored playlist names unknown files");
        fanz_media::MediaError::NotFound
    })?;
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendition.content_type()),
    );
    cache_control(&mut res, grant);
    Ok(res)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range; several ranges, or a header we do not understand, get the whole file.
fn parse_range(v: &str, total: u64) -> RangeAsk {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (true, false) => match b.parse::<u64>() {
            Ok(0) => return RangeAsk::Unsatisfiable,
            Ok(n) => Some((total.saturating_sub(n), total.saturating_sub(1))),
            Err(_) => None,
        },
        (false, true) => a.parse::<u64>().ok().map(|a| (a, total.saturating_sub(1))),
        (false, false) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) if a <= b => Some((a, b.min(total.saturating_sub(1)))),
            _ => None,
        },
        (true, true) => None,
    };
    match parsed {
        None => RangeAsk::Whole,
        Some((a, _)) if a >= total => RangeAsk::Unsatisfiable,
        Some((a, b)) => RangeAsk::Part(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsk::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=50-500", 100), RangeAsk::Part(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsk::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=9-1", 100), RangeAsk::Whole);
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}

//! Request extractors: JSON bodies with our error shape, the caller's identity (bearer token
//! or API key for the API, session cookie for pages), the audit actor, and the cluster.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use fanz_audit::Actor;
use fanz_clusters::Cluster;
use fanz_core::Role;
use fanz_identity::Principal;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// A JSON body; malformed JSON → 400 `malformed_json`, a string holding U+0000 → 400
/// `invalid_character`, wrong shape → 422 `invalid_body`, wrong content type → 415, too large
/// → 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            let status = rej.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload_too_large", "request body is too large")
            } else {
                ApiError::new(status, crate::edge::code_for(status), rej.body_text())
            }
        })?;
        if json_has_nul(&bytes) {
            return Err(nul_error());
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Whether a JSON text has a string holding U+0000 (`\u0000`; a raw NUL is malformed JSON
/// anyway). Escapes are followed, so a literal backslash before `u0000` is not one.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        match bytes[i] {
            0 => return true,
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                    return true;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

pub(crate) fn nul_error() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_character",
        "NUL characters (U+0000) are not allowed",
    )
}

/// A path parameter; a parse failure → 400 `invalid_path` in the JSON error shape.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rej) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                rej.body_text(),
            )),
        }
    }
}

/// A query string; a parse failure → 400 `invalid_query` in the JSON error shape.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rej) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                rej.body_text(),
            )),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let status = rej.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::BAD_REQUEST => "malformed_json",
        _ => "bad_request",
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large".to_owned(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "send Content-Type: application/json".to_owned(),
        _ => rej.body_text(),
    };
    ApiError::new(status, code, message)
}

pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub const SESSION_COOKIE: &str = "fanz_session";

pub fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(token.trim().to_owned());
        }
        return None;
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

async fn principal_for(
    state: &AppState,
    token: Option<String>,
) -> Result<Option<Principal>, ApiError> {
    let Some(token) = token else {
        return Ok(None);
    };
    let mut db = state.store.conn().await?;
    Ok(fanz_identity::authenticate(&mut db, &token).await?)
}

/// An authenticated API caller (bearer session token or API key); 401 otherwise.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        principal_for(state, bearer(&parts.headers))
            .await?
            .map(Auth)
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// An API caller by bearer token or API key, or else by the session cookie: only for the API
/// routes our own pages call from script (media uploads and the vault). The edge's cookie rule
/// has already made a state-changing cookie request prove it came from our pages.
pub struct CookieAuth(pub Auth);

impl FromRequestParts<AppState> for CookieAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).or_else(|| cookie(&parts.headers, SESSION_COOKIE));
        principal_for(state, token)
            .await?
            .map(|p| CookieAuth(Auth(p)))
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// An API caller if credentials were sent (bearer session token or API key), else nobody;
/// invalid credentials are still 401.
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers);
        let sent = token.is_some();
        match principal_for(state, token).await? {
            Some(p) => Ok(MaybeAuth(Some(p))),
            None if sent => Err(ApiError::unauthenticated()),
            None => Ok(MaybeAuth(None)),
        }
    }
}

impl Auth {
    /// 403 unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.iter().any(|r| self.0.has_role(*r)) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// An API caller signed in with a session (not an API key): account-security actions (new API
/// keys, two-factor) need one, so a leaked key cannot entrench itself. 401 without
/// credentials, 403 `session_required` for an API key.
pub struct SessionAuth(pub Principal);

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        match p.via {
            fanz_identity::AuthMethod::Session { .. } => Ok(SessionAuth(p)),
            fanz_identity::AuthMethod::ApiKey { .. } => {
                Err(fanz_identity::IdentityError::SessionRequired.into())
            }
        }
    }
}

/// A request's headers as (name, value) pairs, for the providers' webhook intakes (values
/// that are not text are left out).
pub fn header_pairs(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// `Cache-Control: no-store` on a response that carries a secret or a signed-in page.
pub fn no_store(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// The signed-in person on a page (session cookie), if any.
pub struct Viewer(pub Option<Principal>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE);
        Ok(Viewer(principal_for(state, token).await?))
    }
}

/// Who is acting, for the audit log: client IP and request id.
pub struct RequestActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for RequestActor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string());
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(RequestActor(Actor {
            user_id: None,
            ip,
            request_id,
        }))
    }
}

/// The cluster a page belongs to: `/c/{slug}/…` wins, else the Host header, else the default.
/// `base` is the path prefix links on the page must carry.
pub struct PageCluster {
    pub cluster: Cluster,
    pub base: String,
    /// The page's own path and query (the footer's report link carries it).
    pub path: String,
}

impl FromRequestParts<AppState> for PageCluster {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.path().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        let here = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| &u.0)
            .unwrap_or(&parts.uri)
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| path.clone());
        if let Some(rest) = path.strip_prefix("/c/") {
            let slug = rest.split('/').next().unwrap_or("");
            let cluster = state
                .clusters
                .get(slug)
                .ok_or_else(|| ApiError::not_found("cluster"))?;
            return Ok(PageCluster {
                cluster: cluster.clone(),
                base: format!("/c/{slug}"),
                path: here,
            });
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        Ok(PageCluster {
            cluster: state.clusters.resolve_host(host).clone(),
            base: String::new(),
            path: here,
        })
    }
}

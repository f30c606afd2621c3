//! Double-submit CSRF protection for cookie-authenticated forms: every page response carries a
//! random `fanz_csrf` cookie (HttpOnly, SameSite=Lax, and Secure when `cookie_secure` is on);
//! every form repeats it in a hidden
//! `csrf` field; a POST whose field does not match the cookie is refused with 403.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use fanz_core::token::{random_token, secrets_equal};
use serde::de::DeserializeOwned;

pub const CSRF_COOKIE: &str = "fanz_csrf";

/// The token for this request's forms.
#[derive(Clone)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| ApiError::internal("CSRF middleware missing"))
    }
}

/// Give every request a token: the cookie's, or a new one set on the response. `secure` is the
/// `cookie_secure` setting: over HTTPS the cookie must never travel in clear.
pub async fn ensure_cookie(State(secure): State<bool>, mut req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let existing = crate::extract::cookie(&parts.headers, CSRF_COOKIE).filter(|t| t.len() >= 32);
    req = Request::from_parts(parts, body);
    let (token, fresh) = match existing {
        Some(t) => (t, false),
        None => (random_token("", 24), true),
    };
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut res = next.run(req).await;
    if fresh {
        let secure = if secure { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}"
        )) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// A urlencoded form whose `csrf` field matched the cookie. `T` is read from the other fields.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for CsrfForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let cookie_token = crate::extract::cookie(&parts.headers, CSRF_COOKIE);
        let expected = CsrfToken::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "form is too large",
            )
        })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_form", e.to_string()))?;
        if pairs
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(crate::extract::nul_error());
        }
        let sent = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let ok = cookie_token.is_some() && secrets_equal(sent, &expected.0);
        if !ok {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "this form has expired; reload the page and try again",
            ));
        }
        let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "csrf").collect();
        let encoded = serde_urlencoded::to_string(&rest).unwrap_or_default();
        let value = serde_urlencoded::from_str(&encoded).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_form",
                e.to_string(),
            )
        })?;
        Ok(CsrfForm(value))
    }
}

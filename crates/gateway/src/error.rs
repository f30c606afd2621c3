//! Gateway errors and their HTTP form: the platform's `{"error":{"code","message"}}` shape with
//! stable codes. Upstream failure details are logged, never sent to the client.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("service catalogue: {0}")]
    Catalogue(String),
    #[error("service `{0}` not found")]
    ServiceNotFound(String),
    #[error("category `{0}` not found")]
    CategoryNotFound(String),
    #[error("instance `{0}` not found")]
    InstanceNotFound(String),
    #[error("{0}")]
    InvalidRegistration(String),
    #[error("{0}")]
    Conflict(String),
    #[error("sign in first")]
    Unauthenticated,
    #[error("you may not do this")]
    Forbidden,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("service `{0}` is unavailable: {1}")]
    Unavailable(String, &'static str),
    #[error("the upstream could not be reached")]
    BadGateway,
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Catalogue(_) | GatewayError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            GatewayError::ServiceNotFound(_)
            | GatewayError::CategoryNotFound(_)
            | GatewayError::InstanceNotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::InvalidRegistration(_) => StatusCode::UNPROCESSABLE_ENTITY,
            GatewayError::Conflict(_) => StatusCode::CONFLICT,
            GatewayError::Unauthenticated => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden => StatusCode::FORBIDDEN,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::BadGateway => StatusCode::BAD_GATEWAY,
            GatewayError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::Catalogue(_) | GatewayError::Internal(_) => "internal",
            GatewayError::ServiceNotFound(_) => "service_not_found",
            GatewayError::CategoryNotFound(_) => "category_not_found",
            GatewayError::InstanceNotFound(_) => "instance_not_found",
            GatewayError::InvalidRegistration(_) => "invalid_registration",
            GatewayError::Conflict(_) => "conflict",
            GatewayError::Unauthenticated => "unauthenticated",
            GatewayError::Forbidden => "forbidden",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::Unavailable(..) => "service_unavailable",
            GatewayError::BadGateway => "upstream_unreachable",
            GatewayError::Timeout => "upstream_timeout",
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            GatewayError::Catalogue(m) | GatewayError::Internal(m) => {
                tracing::error!(error = %m, "gateway internal error");
                "something went wrong on our side".to_owned()
            }
            other => other.to_string(),
        };
        let body = serde_json::json!({"error": {"code": self.code(), "message": message}});
        let mut res = (status, axum::Json(body)).into_response();
        if let GatewayError::RateLimited { retry_after_secs } = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}

//! The one place where domain errors become HTTP: `{"error":{"code","message"}}` with a
//! stable code and the right status. Internal details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fanz_identity::IdentityError;
use fanz_profiles::ProfileError;
use fanz_store::StoreError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Every reason a publish was refused.
    pub reasons: Vec<fanz_content::Refusal>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code such as `email_taken`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// For `publish_refused`: every check that failed, each with its own code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<fanz_content::Refusal>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            reasons: Vec::new(),
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "you may not do this")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                reasons: self.reasons,
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        use IdentityError as E;
        let (status, code) = match &e {
            E::Invalid(v) => (StatusCode::UNPROCESSABLE_ENTITY, v.code),
            E::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            E::HandleTaken => (StatusCode::CONFLICT, "handle_taken"),
            E::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            E::TotpRequired => (StatusCode::UNAUTHORIZED, "totp_required"),
            E::InvalidTotp => (StatusCode::UNAUTHORIZED, "invalid_totp"),
            E::LoginExpired => (StatusCode::UNAUTHORIZED, "login_expired"),
            E::Throttled { retry_after_secs } => {
                let mut err = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    e.to_string(),
                );
                err.retry_after = Some(*retry_after_secs);
                return err;
            }
            E::Busy { retry_after_secs } => {
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_busy",
                    e.to_string(),
                );
                err.retry_after = Some(*retry_after_secs);
                return err;
            }
            E::SessionRequired => (StatusCode::FORBIDDEN, "session_required"),
            E::AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled"),
            E::TotpAlreadyEnabled => (StatusCode::CONFLICT, "totp_already_enabled"),
            E::TotpNotStarted => (StatusCode::CONFLICT, "totp_not_started"),
            E::TotpNotEnabled => (StatusCode::CONFLICT, "totp_not_enabled"),
            E::InvalidResetToken => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reset_token"),
            E::UserNotFound => (StatusCode::NOT_FOUND, "user_not_found"),
            E::ApiKeyNotFound => (StatusCode::NOT_FOUND, "api_key_not_found"),
            E::Database(_) | E::Store(_) | E::Audit(_) | E::Secrets(_) | E::Internal(_) => {
                return ApiError::internal(e)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        match &e {
            ProfileError::Invalid(v) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code, v.message.clone())
            }
            ProfileError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "profile_not_found", e.to_string())
            }
            ProfileError::SelfFollow => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "self_follow",
                e.to_string(),
            ),
            ProfileError::Database(_) | ProfileError::Audit(_) => ApiError::internal(e),
        }
    }
}

impl From<fanz_content::ContentError> for ApiError {
    fn from(e: fanz_content::ContentError) -> Self {
        use fanz_content::ContentError as E;
        let (status, code) = match &e {
            E::Invalid(v) => {
                return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code, v.message.clone())
            }
            E::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            E::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            E::Locked => (StatusCode::FORBIDDEN, "locked"),
            E::Refused(reasons) => {
                let mut err = ApiError::new(StatusCode::CONFLICT, "publish_refused", e.to_string());
                err.reasons = reasons.clone();
                return err;
            }
            E::WrongState { .. } => (StatusCode::CONFLICT, "wrong_state"),
            E::RateLimited {
                retry_after_secs, ..
            } => {
                let mut err =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string());
                err.retry_after = Some(*retry_after_secs);
                return err;
            }
            E::Database(_) | E::Audit(_) => return ApiError::internal(e),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<fanz_payments::PaymentsError> for ApiError {
    fn from(e: fanz_payments::PaymentsError) -> Self {
        use fanz_payments::PaymentsError as E;
        let e = match e {
            E::Content(c) => return c.into(),
            E::Ledger(l) => return l.into(),
            other => other,
        };
        let (status, code) = match &e {
            E::Invalid(v) => {
                return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code, v.message.clone())
            }
            E::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            E::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            E::ProcessorUnavailable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "processor_unavailable")
            }
            E::InsufficientFunds { .. } => (StatusCode::PAYMENT_REQUIRED, "insufficient_funds"),
            E::PayoutOverAvailable { awaiting, .. } if *awaiting > 0 => {
                (StatusCode::CONFLICT, "awaiting_confirmation")
            }
            E::PayoutOverAvailable { .. } => (StatusCode::PAYMENT_REQUIRED, "insufficient_funds"),
            E::Flagged => (StatusCode::FORBIDDEN, "payments_on_hold"),
            E::Conflict(code) => (StatusCode::CONFLICT, *code),
            E::Processor(_) => (StatusCode::BAD_GATEWAY, "processor_error"),
            E::NotYet(_) | E::Unappliable(_) => (StatusCode::CONFLICT, e.code()),
            E::Content(_) | E::Ledger(_) | E::Database(_) | E::Audit(_) => {
                return ApiError::internal(e)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<fanz_ledger::LedgerError> for ApiError {
    fn from(e: fanz_ledger::LedgerError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return ApiError::internal(e);
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<fanz_core::ValidationError> for ApiError {
    fn from(v: fanz_core::ValidationError) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code, v.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<fanz_store::sqlx::Error> for ApiError {
    fn from(e: fanz_store::sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<fanz_audit::AuditError> for ApiError {
    fn from(e: fanz_audit::AuditError) -> Self {
        ApiError::internal(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<fanz_jobs::JobsError> for ApiError {
    fn from(e: fanz_jobs::JobsError) -> Self {
        use fanz_jobs::JobsError as E;
        match e {
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "job_not_found", e.to_string()),
            E::WrongState { .. } => {
                ApiError::new(StatusCode::CONFLICT, "job_wrong_state", e.to_string())
            }
            E::Database(_) | E::Args(_) | E::LeaseLost => ApiError::internal(e),
        }
    }
}

impl From<fanz_events::EventsError> for ApiError {
    fn from(e: fanz_events::EventsError) -> Self {
        use fanz_events::EventsError as E;
        match e {
            E::UnknownSubscriber(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "subscriber_not_found", e.to_string())
            }
            E::Nats(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "events_unavailable",
                e.to_string(),
            ),
            E::Database(_) | E::Serialize(_) | E::NoType => ApiError::internal(e),
        }
    }
}

impl From<fanz_media::MediaError> for ApiError {
    fn from(e: fanz_media::MediaError) -> Self {
        use fanz_media::{MediaError as E, UrlError};
        let (status, code) = match &e {
            E::NotFound => (StatusCode::NOT_FOUND, "media_not_found"),
            E::Unsupported => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "file_type_not_accepted"),
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "media_too_large"),
            E::QuotaExceeded { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
            E::Empty => (StatusCode::BAD_REQUEST, "empty_upload"),
            E::Interrupted(_) => (StatusCode::BAD_REQUEST, "upload_interrupted"),
            E::OffsetMismatch { .. } => (StatusCode::CONFLICT, "upload_offset_mismatch"),
            // tus's own status for a checksum mismatch.
            E::ChecksumMismatch => (
                StatusCode::from_u16(460).expect("a valid status"),
                "checksum_mismatch",
            ),
            E::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_upload"),
            E::Preserved => (StatusCode::CONFLICT, "preserved"),
            E::AvUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "video_processing_unavailable",
            ),
            E::Url(UrlError::Invalid) => (StatusCode::FORBIDDEN, "media_url_invalid"),
            E::Url(UrlError::Expired) => (StatusCode::FORBIDDEN, "media_url_expired"),
            E::Url(UrlError::WrongViewer) => (StatusCode::FORBIDDEN, "media_url_wrong_viewer"),
            E::Url(UrlError::OutsideSlice) => (StatusCode::FORBIDDEN, "media_url_outside_segment"),
            E::Storage(_) => {
                tracing::error!(error = %e, "media storage failed");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "media storage is not available; try again",
                );
            }
            E::Config(_) | E::Database(_) | E::Audit(_) | E::Jobs(_) => {
                return ApiError::internal(e)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<fanz_safety::SafetyError> for ApiError {
    fn from(e: fanz_safety::SafetyError) -> Self {
        use fanz_safety::SafetyError as E;
        match e {
            E::Invalid(v) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code, v.message),
            E::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            E::Conflict(code, _) => ApiError::new(StatusCode::CONFLICT, code, e.to_string()),
            E::RateLimited { retry_after_secs } => {
                let mut err =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string());
                err.retry_after = Some(retry_after_secs);
                err
            }
            E::TooManyExports { retry_after_secs } => {
                let mut err = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_exports",
                    e.to_string(),
                );
                err.retry_after = Some(retry_after_secs);
                err
            }
            E::VerificationRequired(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                "verification_required",
                e.to_string(),
            ),
            E::Unauthenticated => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
            }
            E::RegionBlocked => ApiError::new(
                StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
                "region_blocked",
                e.to_string(),
            ),
            E::AgeAssuranceRequired(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                "age_assurance_required",
                e.to_string(),
            ),
            E::ComplianceOnly => {
                ApiError::new(StatusCode::FORBIDDEN, "compliance_only", e.to_string())
            }
            E::Suspended(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "account_suspended", e.to_string())
            }
            E::Tipline(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "tipline_failed", e.to_string())
            }
            E::Content(c) => c.into(),
            E::Sealed | E::Database(_) | E::Audit(_) => ApiError::internal(e),
        }
    }
}

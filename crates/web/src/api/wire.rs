//! Request and response bodies of the JSON API. The OpenAPI document is derived from these.

use fanz_core::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "ann@example.com", min_length = 3, max_length = 254)]
    pub email: String,
    /// 10 to 256 characters, not one character repeated.
    #[schema(example = "correct horse battery", min_length = 10, max_length = 256)]
    pub password: String,
    /// 3 to 30 of a–z, 0–9 and `_` (stored lower-case; some names are reserved).
    #[schema(example = "neon_ann", pattern = "^[A-Za-z0-9_]{3,30}$")]
    pub handle: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub id: i64,
    pub email: String,
    pub handle: String,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    pub totp_enabled: bool,
}

impl From<fanz_identity::User> for UserResponse {
    fn from(u: fanz_identity::User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            handle: u.handle,
            roles: u.roles,
            totp_enabled: u.totp_enabled,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Six-digit authenticator code or a recovery code; required when two-factor is on.
    pub totp: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub id: i64,
    pub email: String,
    pub handle: String,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    pub totp_enabled: bool,
    pub profile: fanz_profiles::Profile,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolResponse {
    /// Base32 secret to type into an authenticator app.
    pub secret: String,
    /// `otpauth://` URL (for a QR code).
    pub otpauth_url: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Single-use codes, shown once.
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotRequest {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub token: String,
    /// 10 to 256 characters, not one character repeated.
    #[schema(min_length = 10, max_length = 256)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    pub status: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub revoked: bool,
}

impl From<fanz_identity::ApiKeyInfo> for ApiKeyResponse {
    fn from(k: fanz_identity::ApiKeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: fanz_core::clock::rfc3339(k.created_at),
            revoked: k.revoked,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NewApiKeyResponse {
    /// The key: shown once. Send as `Authorization: Bearer <key>` or `X-Api-Key: <key>`.
    pub key: String,
    pub api_key: ApiKeyResponse,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BecomeCreatorRequest {
    /// Cluster slugs the creator appears on.
    #[schema(min_items = 1)]
    pub clusters: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProfileResponse {
    #[serde(flatten)]
    pub profile: fanz_profiles::Profile,
    /// Whether the caller follows this profile (false when anonymous).
    pub viewer_follows: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ClusterList {
    pub clusters: Vec<fanz_clusters::Cluster>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRoleRequest {
    #[schema(
        example = "moderator",
        pattern = "^(fan|creator|moderator|compliance|finance|admin)$"
    )]
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxResponse {
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<fanz_identity::mail::OutboxMail>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditResponse {
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<fanz_audit::AuditEntry>,
    /// The next (older) page: pass it as `before`; absent on the last page.
    pub next_before: Option<i64>,
    /// `{"Intact": {"entries": n}}` or `{"Broken": {"at_id", "reason"}}`.
    #[schema(value_type = Object)]
    pub chain: fanz_audit::Verdict,
    /// Rows hashed by this call: those appended since the last checkpoint, or all of them
    /// with `verify=full`.
    pub chain_rows_checked: u64,
}

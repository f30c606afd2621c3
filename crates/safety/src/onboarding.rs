//! Creator onboarding: the versioned creator agreement signed in the app, and identity and age
//! verification through providers behind one trait ([`IdProvider`]) — a session the person is
//! sent to, and a result delivered to a webhook. The sandbox provider ([`Sandbox`]) has its
//! own hosted page and signs its results like a real provider would; both reach the same
//! intake ([`receive`]).
//!
//! A verified result becomes the account's performer record ([`crate::records`]); payouts
//! follow the record ([`sync_payouts`]): released while it is valid, held once it is not.

use crate::records::{self, check_facts, day_of, today, Performer};
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_core::check_text;
use fanz_core::clock::now_micros;
use fanz_secrets::Keyring;
use fanz_store::{sqlx, Db};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::Arc;

/// The creator agreement's current version and text. A new version needs a new signature
/// before the next paid or media post.
pub const AGREEMENT_VERSION: &str = "2026-12-01";
pub const AGREEMENT_TEXT: &str = include_str!("agreement.txt");

/// The agreement's SHA-256, hex: what a signature binds to.
pub fn agreement_sha256() -> String {
    hex::encode(Sha256::digest(AGREEMENT_TEXT.as_bytes()))
}

/// Whether an account signed the current agreement.
pub async fn signed_current(db: &mut Db, user_id: i64) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM safety_agreements WHERE user_id = $1 AND version = $2")
            .bind(user_id)
            .bind(AGREEMENT_VERSION)
            .fetch_optional(&mut *db)
            .await?
            .is_some(),
    )
}

/// A signature of the creator agreement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Signature {
    pub version: String,
    pub text_sha256: String,
    pub typed_name: String,
    pub signed_at: i64,
}

/// Sign the current agreement: the version signed must be the current one, the typed name is
/// the signature. Signing again is a no-op.
pub async fn sign(
    db: &mut Db,
    user_id: i64,
    version: &str,
    typed_name: &str,
    ip: Option<&str>,
    actor: &Actor,
) -> Result<Signature> {
    if version != AGREEMENT_VERSION {
        return Err(invalid(
            "version",
            "stale_agreement",
            format!("the current agreement is version {AGREEMENT_VERSION}; read it again"),
        ));
    }
    let typed = typed_name.trim();
    if typed.chars().count() < 2 {
        return Err(invalid(
            "typed_name",
            "required",
            "type your full name to sign",
        ));
    }
    check_text("typed_name", typed, 200)?;
    if let Some(s) = signature(db, user_id).await? {
        return Ok(s);
    }
    let now = now_micros();
    sqlx::query(
        "INSERT INTO safety_agreements (user_id, version, text_sha256, typed_name, ip, signed_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user_id)
    .bind(AGREEMENT_VERSION)
    .bind(agreement_sha256())
    .bind(typed)
    .bind(ip)
    .bind(now)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.agreement_signed",
        Some(&format!("user:{user_id}")),
        json!({"version": AGREEMENT_VERSION, "text_sha256": agreement_sha256(), "typed_name": typed}),
    )
    .await?;
    Ok(signature(db, user_id).await?.expect("just signed"))
}

/// The account's signature of the current agreement, if any.
pub async fn signature(db: &mut Db, user_id: i64) -> Result<Option<Signature>> {
    let r = sqlx::query(
        "SELECT version, text_sha256, typed_name, signed_at FROM safety_agreements WHERE user_id = $1 AND version = $2",
    )
    .bind(user_id)
    .bind(AGREEMENT_VERSION)
    .fetch_optional(&mut *db)
    .await?;
    r.map(|r| {
        Ok(Signature {
            version: r.try_get(0)?,
            text_sha256: r.try_get(1)?,
            typed_name: r.try_get(2)?,
            signed_at: r.try_get(3)?,
        })
    })
    .transpose()
}

/// An inbound result from a provider: the raw body and headers.
pub struct Inbound<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Inbound<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a provider found.
pub enum Outcome {
    /// The document is genuine and the person matches it: the facts it shows and copies of it.
    Approved {
        legal_name: String,
        date_of_birth: String,
        id_type: String,
        id_country: String,
        id_expires_on: String,
        documents: Vec<(String, &'static str, Vec<u8>)>,
    },
    Declined {
        reason: String,
    },
}

/// A provider's result for one session.
pub struct ProviderResult {
    pub session_id: String,
    pub outcome: Outcome,
}

/// An identity and age verification provider.
#[async_trait::async_trait]
pub trait IdProvider: Send + Sync {
    /// The stable name in URLs and records (`sandbox`).
    fn name(&self) -> &'static str;
    /// What the person is told.
    fn label(&self) -> &'static str;
    /// Open a session at the provider; the URL to send the person to.
    async fn start(&self, session_id: &str, public_url: &str) -> Result<String>;
    /// Authenticate and parse a result delivered to the webhook.
    fn receive(&self, inbound: &Inbound<'_>) -> Result<ProviderResult>;
}

/// The providers this server uses, and the keyring that seals documents.
#[derive(Clone)]
pub struct Verification {
    pub providers: Vec<Arc<dyn IdProvider>>,
    /// The sandbox, when it is on (also listed in `providers`).
    pub sandbox: Option<Arc<Sandbox>>,
    pub keyring: Arc<Keyring>,
}

impl Verification {
    /// The providers: the sandbox when `sandbox_secret` is given (live providers join here).
    pub fn new(keyring: Arc<Keyring>, sandbox_secret: Option<&[u8]>) -> Self {
        let sandbox = sandbox_secret.map(|s| Arc::new(Sandbox::new(s)));
        let mut providers: Vec<Arc<dyn IdProvider>> = Vec::new();
        if let Some(s) = &sandbox {
            providers.push(s.clone());
        }
        Verification {
            providers,
            sandbox,
            keyring,
        }
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<dyn IdProvider>> {
        self.providers.iter().find(|p| p.name() == name)
    }
}

type HmacSha256 = Hmac<Sha256>;

/// The sandbox provider: a hosted page where a tester types what a document would show, and a
/// result signed with HMAC-SHA256 (header `Fanz-Sandbox-Signature: sha256=<hex>`).
pub struct Sandbox {
    secret: Vec<u8>,
}

/// What the sandbox page (or a test) submits.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxResult {
    /// approve | decline
    #[serde(default = "approve")]
    pub outcome: String,
    #[serde(default)]
    pub reason: Option<String>,
    pub legal_name: String,
    /// YYYY-MM-DD
    pub date_of_birth: String,
    #[serde(default = "passport")]
    pub id_type: String,
    #[serde(default)]
    pub id_country: String,
    /// YYYY-MM-DD
    pub id_expires_on: String,
    /// The document's image, base64; a generated placeholder when absent.
    #[serde(default)]
    pub document: Option<String>,
}

fn approve() -> String {
    "approve".into()
}
fn passport() -> String {
    "passport".into()
}

/// A 1×1 PNG standing in for a sandbox document nobody uploaded.
pub const PLACEHOLDER_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

#[derive(Serialize, Deserialize)]
struct SandboxWire {
    session_id: String,
    result: SandboxResult,
}

impl Sandbox {
    pub fn new(secret: &[u8]) -> Self {
        Sandbox {
            secret: secret.to_vec(),
        }
    }

    /// The signed body and signature header value the sandbox delivers for a session.
    pub fn sign(&self, session_id: &str, result: &SandboxResult) -> (Vec<u8>, String) {
        let body = serde_json::to_vec(&SandboxWire {
            session_id: session_id.to_owned(),
            result: result.clone(),
        })
        .expect("serializes");
        let sig = sandbox_signature(&self.secret, &body);
        (body, sig)
    }
}

/// The sandboxes' signature header value over `body`: `sha256=<hex HMAC-SHA256>`.
pub(crate) fn sandbox_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Check an inbound delivery's `Fanz-Sandbox-Signature` against `secret`, in constant time.
pub(crate) fn verify_sandbox_signature(secret: &[u8], inbound: &Inbound<'_>) -> Result<()> {
    let sig = inbound
        .header("fanz-sandbox-signature")
        .and_then(|s| s.strip_prefix("sha256="))
        .and_then(|s| hex::decode(s).ok())
        .ok_or(SafetyError::Unauthenticated)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
    mac.update(inbound.body);
    mac.verify_slice(&sig)
        .map_err(|_| SafetyError::Unauthenticated)
}

#[async_trait::async_trait]
impl IdProvider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn label(&self) -> &'static str {
        "Sandbox verification (test only)"
    }

    async fn start(&self, session_id: &str, public_url: &str) -> Result<String> {
        Ok(format!(
            "{}/verify/sandbox/{session_id}",
            public_url.trim_end_matches('/')
        ))
    }

    fn receive(&self, inbound: &Inbound<'_>) -> Result<ProviderResult> {
        verify_sandbox_signature(&self.secret, inbound)?;
        let wire: SandboxWire = serde_json::from_slice(inbound.body)
            .map_err(|e| invalid("body", "invalid_result", e.to_string()))?;
        let r = wire.result;
        let outcome = if r.outcome == "decline" {
            Outcome::Declined {
                reason: r
                    .reason
                    .unwrap_or_else(|| "the document could not be verified".into()),
            }
        } else {
            let bytes = match &r.document {
                Some(d) => {
                    let doc = crate::documents::NewDocument {
                        kind: "id_front".into(),
                        data: d.clone(),
                    };
                    crate::documents::decode(&doc)?.2
                }
                None => PLACEHOLDER_PNG.to_vec(),
            };
            let mime = crate::documents::sniff(&bytes).unwrap_or("image/png");
            Outcome::Approved {
                legal_name: r.legal_name,
                date_of_birth: r.date_of_birth,
                id_type: r.id_type,
                id_country: r.id_country,
                id_expires_on: r.id_expires_on,
                documents: vec![("id_front".into(), mime, bytes)],
            }
        };
        Ok(ProviderResult {
            session_id: wire.session_id,
            outcome,
        })
    }
}

/// A verification session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: String,
    pub provider: String,
    /// pending | verified | rejected
    pub status: String,
    pub reason: Option<String>,
    /// Where to send the person (while pending).
    pub url: Option<String>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

async fn session(db: &mut Db, id: &str) -> Result<(Session, i64)> {
    let r = sqlx::query(
        "SELECT id, provider, status, reason, created_at, completed_at, user_id FROM safety_verifications WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    Ok((
        Session {
            id: r.try_get(0)?,
            provider: r.try_get(1)?,
            status: r.try_get(2)?,
            reason: r.try_get(3)?,
            url: None,
            created_at: r.try_get(4)?,
            completed_at: r.try_get(5)?,
        },
        r.try_get(6)?,
    ))
}

/// A session of `user_id` (for the sandbox page): not found for anyone else.
pub async fn session_of(db: &mut Db, user_id: i64, id: &str) -> Result<Session> {
    match session(db, id).await? {
        (s, owner) if owner == user_id => Ok(s),
        _ => Err(SafetyError::NotFound),
    }
}

/// Start a verification with the first configured provider.
pub async fn start(
    db: &mut Db,
    env: &Verification,
    user_id: i64,
    public_url: &str,
    actor: &Actor,
) -> Result<Session> {
    let provider = env.providers.first().ok_or(SafetyError::Conflict(
        "verification_unavailable",
        "no identity provider is configured here; submit your documents for review instead",
    ))?;
    if let Some(p) = records::of_user(db, user_id).await? {
        if p.valid_on(today()) {
            return Err(SafetyError::Conflict(
                "already_verified",
                "your identity is verified; a new verification is needed only when the document expires",
            ));
        }
    }
    let id = {
        use rand::RngCore;
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    };
    let url = provider.start(&id, public_url).await?;
    let now = now_micros();
    sqlx::query(
        "INSERT INTO safety_verifications (id, user_id, provider, status, created_at) VALUES ($1, $2, $3, 'pending', $4)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(provider.name())
    .bind(now)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.verification_started",
        Some(&format!("user:{user_id}")),
        json!({"provider": provider.name(), "session": id}),
    )
    .await?;
    let (mut s, _) = session(db, &id).await?;
    s.url = Some(url);
    Ok(s)
}

/// The intake of a provider's result: authenticate, parse, and record it once. A result for a
/// session already completed is acknowledged and changes nothing (providers redeliver).
/// An approval whose facts fail our rules (under 18, an expired document) is a rejection.
pub async fn receive(
    db: &mut Db,
    env: &Verification,
    payments: &fanz_payments::Payments,
    provider: &str,
    inbound: &Inbound<'_>,
    actor: &Actor,
) -> Result<Session> {
    let p = env.provider(provider).ok_or(SafetyError::NotFound)?;
    let result = p.receive(inbound)?;
    let (s, user_id) = session(db, &result.session_id).await?;
    if s.provider != provider {
        return Err(SafetyError::NotFound);
    }
    if s.status != "pending" {
        return Ok(s);
    }
    let now = now_micros();
    let (status, reason, performer) = match result.outcome {
        Outcome::Declined { reason } => ("rejected", Some(reason), None),
        Outcome::Approved {
            legal_name,
            date_of_birth,
            id_type,
            id_country,
            id_expires_on,
            documents,
        } => match check_facts(
            &legal_name,
            &date_of_birth,
            &[],
            &id_type,
            &id_country,
            &id_expires_on,
            day_of(now),
        ) {
            Ok(f) => {
                let rec = records::from_provider(
                    db,
                    &env.keyring,
                    user_id,
                    provider,
                    &f,
                    &documents,
                    actor,
                )
                .await?;
                ("verified", None, Some(rec))
            }
            Err(SafetyError::Invalid(v)) => {
                if v.code == "underage" {
                    tracing::warn!(user_id, "identity verification found a person under 18");
                }
                ("rejected", Some(v.message), None)
            }
            Err(e) => return Err(e),
        },
    };
    sqlx::query(
        "UPDATE safety_verifications SET status = $1, reason = $2, performer_id = $3, completed_at = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(reason.as_deref())
    .bind(performer.as_ref().map(|p| p.id))
    .bind(now)
    .bind(&s.id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.verification_completed",
        Some(&format!("user:{user_id}")),
        json!({"provider": provider, "session": s.id, "status": status, "reason": reason}),
    )
    .await?;
    sync_payouts(db, payments, user_id, day_of(now), actor).await?;
    Ok(session(db, &s.id).await?.0)
}

/// Hold or release an account's payouts by whether its record is valid on `day`.
pub async fn sync_payouts(
    db: &mut Db,
    payments: &fanz_payments::Payments,
    user_id: i64,
    day: time::Date,
    actor: &Actor,
) -> Result<()> {
    let valid = records::of_user(db, user_id)
        .await?
        .is_some_and(|p| p.valid_on(day));
    let current = fanz_payments::payouts::account(db, user_id)
        .await
        .map(|a| a.identity_verified)
        .unwrap_or(false);
    if valid != current {
        fanz_payments::payouts::set_verified(db, payments, user_id, valid, actor)
            .await
            .map_err(crate::csam::payments_error)?;
        // A statement of reasons (EU DSA art. 17(1)(b)) when a verified creator's payouts
        // are held, and when payouts held that way are released.
        let now = fanz_core::clock::now_micros();
        if current && !valid {
            crate::cases::payment_statement(
                db,
                user_id,
                None,
                true,
                &format!(
                    "Your payouts are held from {day}: the identity document on your record is \
                     no longer valid (it expired, or its check was withdrawn). Earnings keep \
                     accruing and are paid once you verify again."
                ),
                "payouts go only to creators whose identity and age are verified (the creator \
                 agreement; 18 U.S.C. 2257; the card networks' rules for adult merchants). Verify \
                 again from your account's verification page to release them",
                now,
                actor,
            )
            .await?;
        } else if valid && crate::cases::payouts_held_by_statement(db, user_id).await? {
            crate::cases::payment_statement(
                db,
                user_id,
                None,
                false,
                &format!("Your identity is verified again as of {day}; your payouts are released."),
                "the reason for the hold no longer applies",
                now,
                actor,
            )
            .await?;
        }
    }
    Ok(())
}

/// Payouts held or released by hand (an administrator or compliance officer, through
/// `POST /api/v1/payments/creators/{id}/verification`), with the statement of reasons the
/// change calls for (EU DSA art. 17(1)(b)).
pub async fn set_payouts_by_hand(
    db: &mut Db,
    payments: &fanz_payments::Payments,
    user_id: i64,
    verified: bool,
    actor: &Actor,
) -> Result<fanz_payments::payouts::PayoutAccount> {
    if sqlx::query("SELECT 1 FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *db)
        .await?
        .is_none()
    {
        return Err(SafetyError::NotFound);
    }
    // An account without a payout account yet is not verified.
    let current = fanz_payments::payouts::account(db, user_id)
        .await
        .map(|a| a.identity_verified)
        .unwrap_or(false);
    let acct = fanz_payments::payouts::set_verified(db, payments, user_id, verified, actor)
        .await
        .map_err(crate::csam::payments_error)?;
    let now = fanz_core::clock::now_micros();
    if current && !verified {
        crate::cases::payment_statement(
            db,
            user_id,
            None,
            true,
            "Your payouts are held: a compliance officer found that your payout verification \
             needs to be checked again. Earnings keep accruing and are paid once it is.",
            "payouts go only to creators whose identity and age are verified (the creator \
             agreement; the card networks' rules for adult merchants)",
            now,
            actor,
        )
        .await?;
    } else if verified && !current && crate::cases::payouts_held_by_statement(db, user_id).await? {
        crate::cases::payment_statement(
            db,
            user_id,
            None,
            false,
            "Your payout verification is complete again; your payouts are released.",
            "the reason for the hold no longer applies",
            now,
            actor,
        )
        .await?;
    }
    Ok(acct)
}

/// Where an account stands in onboarding.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub agreement_version: String,
    pub agreement_sha256: String,
    pub agreement: Option<Signature>,
    /// none | pending | verified | expired | rejected
    pub identity: String,
    pub reason: Option<String>,
    pub id_expires_on: Option<String>,
    /// Sessions started, newest first.
    pub sessions: Vec<Session>,
    /// The providers that can verify here (none: submit documents for review).
    pub providers: Vec<String>,
    /// May upload media and publish paid posts.
    pub may_publish: bool,
    pub payouts_released: bool,
}

/// The identity state of a record.
pub fn identity_state(p: Option<&Performer>) -> &'static str {
    match p {
        None => "none",
        Some(p) if p.valid_on(today()) => "verified",
        Some(p) if p.status == "verified" => "expired",
        Some(p) if p.status == "pending" => "pending",
        Some(_) => "rejected",
    }
}

pub async fn status(db: &mut Db, env: &Verification, user_id: i64) -> Result<Status> {
    let agreement = signature(db, user_id).await?;
    let rec = records::of_user(db, user_id).await?;
    let identity = identity_state(rec.as_ref()).to_owned();
    let rows = sqlx::query(
        "SELECT id FROM safety_verifications WHERE user_id = $1 ORDER BY created_at DESC LIMIT 10",
    )
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?;
    let mut sessions = Vec::new();
    for r in rows {
        let id: String = r.try_get(0)?;
        sessions.push(session(db, &id).await?.0);
    }
    let payouts_released = fanz_payments::payouts::account(db, user_id)
        .await
        .map(|a| a.identity_verified)
        .unwrap_or(false);
    Ok(Status {
        agreement_version: AGREEMENT_VERSION.into(),
        agreement_sha256: agreement_sha256(),
        may_publish: agreement.is_some() && identity == "verified",
        agreement,
        reason: rec.as_ref().and_then(|p| p.reason.clone()).or_else(|| {
            sessions
                .first()
                .filter(|s| s.status == "rejected")
                .and_then(|s| s.reason.clone())
        }),
        id_expires_on: rec.as_ref().map(|p| p.id_expires_on.clone()),
        identity,
        sessions,
        providers: env.providers.iter().map(|p| p.name().to_owned()).collect(),
        payouts_released,
    })
}

/// Uploads are for verified creators: the refusal, if any.
pub async fn may_upload(db: &mut Db, user_id: i64) -> Result<()> {
    if let Some(why) = crate::csam::suspended(db, user_id).await? {
        return Err(SafetyError::Suspended(why));
    }
    let rec = records::of_user(db, user_id).await?;
    match identity_state(rec.as_ref()) {
        "verified" => Ok(()),
        "expired" => Err(SafetyError::VerificationRequired(
            "your identification document has expired; verify again before uploading",
        )),
        _ => Err(SafetyError::VerificationRequired(
            "verify your identity and age before uploading media",
        )),
    }
}

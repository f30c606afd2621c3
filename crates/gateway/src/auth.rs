//! Authentication at the edge. The binary implements [`EdgeAuth`] with the identity module
//! (session cookie, bearer session token, API key); the gateway never reads identity tables.
//! The caller is forwarded to upstreams in `x-fanz-identity`, signed with HMAC-SHA256, and
//! any copy a client sends is stripped first.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The header upstreams read the caller from.
pub const IDENTITY_HEADER: &str = "x-fanz-identity";

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Session,
    Bearer,
    ApiKey,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user_id: i64,
    pub handle: String,
    /// Role names as the identity module spells them (`admin`, `creator`, …).
    pub roles: Vec<String>,
    pub via: Via,
}

impl Caller {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Implemented by the binary with the identity module.
#[async_trait::async_trait]
pub trait EdgeAuth: Send + Sync + 'static {
    /// The caller the request's credentials prove, or `None` (no or invalid credentials).
    async fn authenticate(&self, headers: &HeaderMap) -> Option<Caller>;
}

/// Nobody is ever authenticated: for running the gateway without identity.
pub struct NoAuth;

#[async_trait::async_trait]
impl EdgeAuth for NoAuth {
    async fn authenticate(&self, _headers: &HeaderMap) -> Option<Caller> {
        None
    }
}

/// Remembers the caller resolved from the same credentials for a short while, so a busy client
/// does not cost a store read on every proxied request. Only successes are remembered (a key
/// created a moment ago works at once); the price is that a revoked key, a closed session or a
/// removed role still passes this node's edge for up to `ttl` (`gateway.auth_cache_ms`).
pub struct CachedAuth {
    inner: Arc<dyn EdgeAuth>,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

/// The headers a credential can travel in: a request with none of them is anonymous.
static CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    header::COOKIE,
];

impl CachedAuth {
    pub fn new(inner: Arc<dyn EdgeAuth>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner,
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// SHA-256 over every credential header, or `None` when the request carries none.
    fn fingerprint(headers: &HeaderMap) -> Option<[u8; 32]> {
        let mut h = Sha256::new();
        let mut any = false;
        for name in &CREDENTIAL_HEADERS {
            for v in headers.get_all(name) {
                any = true;
                h.update(name.as_str().as_bytes());
                h.update([0]);
                h.update(v.as_bytes());
                h.update([0]);
            }
        }
        any.then(|| h.finalize().into())
    }
}

#[async_trait::async_trait]
impl EdgeAuth for CachedAuth {
    async fn authenticate(&self, headers: &HeaderMap) -> Option<Caller> {
        let key = Self::fingerprint(headers)?;
        let now = Instant::now();
        if let Some((caller, until)) = self.entries.lock().expect("auth cache").get(&key) {
            if *until > now {
                return Some(caller.clone());
            }
        }
        let caller = self.inner.authenticate(headers).await?;
        let mut entries = self.entries.lock().expect("auth cache");
        if entries.len() >= self.max_entries {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (caller.clone(), now + self.ttl));
        Some(caller)
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: i64,
    handle: String,
    roles: Vec<String>,
    via: Via,
    /// Request id, so a captured header is tied to one request in logs.
    rid: String,
    /// Issued at, seconds since the epoch; upstreams refuse stale headers.
    iat: i64,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length")
}

/// `v1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(secret, "v1." + payload))>`.
pub fn sign_identity(secret: &[u8], caller: &Caller, request_id: &str, now_secs: i64) -> String {
    let claims = Claims {
        sub: caller.user_id,
        handle: caller.handle.clone(),
        roles: caller.roles.clone(),
        via: caller.via,
        rid: request_id.to_owned(),
        iat: now_secs,
    };
    let payload = B64.encode(serde_json::to_vec(&claims).expect("claims serialize"));
    let signed = format!("v1.{payload}");
    let mut m = mac(secret);
    m.update(signed.as_bytes());
    let sig = B64.encode(m.finalize().into_bytes());
    format!("{signed}.{sig}")
}

/// What an upstream written in Rust does with the header: the caller if the signature is
/// valid and the header is at most `max_age_secs` old.
pub fn verify_identity(
    secret: &[u8],
    value: &str,
    now_secs: i64,
    max_age_secs: i64,
) -> Option<(Caller, String)> {
    let (signed, sig) = value.rsplit_once('.')?;
    let payload = signed.strip_prefix("v1.")?;
    let sig = B64.decode(sig).ok()?;
    let mut m = mac(secret);
    m.update(signed.as_bytes());
    m.verify_slice(&sig).ok()?;
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    if (now_secs - claims.iat).abs() > max_age_secs {
        return None;
    }
    Some((
        Caller {
            user_id: claims.sub,
            handle: claims.handle,
            roles: claims.roles,
            via: claims.via,
        },
        claims.rid,
    ))
}

pub(crate) fn identity_header_value(
    secret: &[u8],
    caller: &Caller,
    request_id: &str,
) -> Option<HeaderValue> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    HeaderValue::from_str(&sign_identity(secret, caller, request_id, now)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> Caller {
        Caller {
            user_id: 7,
            handle: "bob".into(),
            roles: vec!["fan".into(), "admin".into()],
            via: Via::ApiKey,
        }
    }

    /// Counts how often the store would have been asked.
    struct Counting(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl EdgeAuth for Counting {
        async fn authenticate(&self, headers: &HeaderMap) -> Option<Caller> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            (headers.get("x-api-key")? == "good").then(bob)
        }
    }

    fn with_key(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_str(key).unwrap());
        h
    }

    #[tokio::test(start_paused = true)]
    async fn cached_auth_remembers_successes_for_the_ttl_only() {
        let inner = Arc::new(Counting(Default::default()));
        let calls = || inner.0.load(std::sync::atomic::Ordering::SeqCst);
        let cached = CachedAuth::new(inner.clone(), Duration::from_secs(5), 100);

        assert_eq!(cached.authenticate(&with_key("good")).await, Some(bob()));
        assert_eq!(cached.authenticate(&with_key("good")).await, Some(bob()));
        assert_eq!(calls(), 1, "the second request is served from the cache");

        // Failures are not remembered; a request without credentials is anonymous without
        // asking.
        assert_eq!(cached.authenticate(&with_key("bad")).await, None);
        assert_eq!(cached.authenticate(&with_key("bad")).await, None);
        assert_eq!(calls(), 3);
        assert_eq!(cached.authenticate(&HeaderMap::new()).await, None);
        assert_eq!(calls(), 3);

        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(cached.authenticate(&with_key("good")).await, Some(bob()));
        assert_eq!(calls(), 4, "after the ttl the store is asked again");
    }

    #[tokio::test(start_paused = true)]
    async fn cached_auth_stays_bounded() {
        let inner = Arc::new(Counting(Default::default()));
        let cached = CachedAuth::new(inner.clone(), Duration::from_secs(5), 2);
        for _ in 0..3 {
            let mut h = with_key("good");
            h.insert(
                "cookie",
                HeaderValue::from_str(&format!("x={}", rand_id())).unwrap(),
            );
            cached.authenticate(&h).await;
        }
        assert!(cached.entries.lock().unwrap().len() <= 2);
    }

    fn rand_id() -> u64 {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn a_signed_identity_verifies_and_tampering_is_refused() {
        let v = sign_identity(b"k", &bob(), "req-1", 1000);
        let (c, rid) = verify_identity(b"k", &v, 1010, 60).unwrap();
        assert_eq!(c, bob());
        assert_eq!(rid, "req-1");
        assert!(verify_identity(b"other", &v, 1010, 60).is_none());
        assert!(verify_identity(b"k", &v, 2000, 60).is_none(), "stale");
        // swap in claims for another user, keep the signature
        let forged_claims = sign_identity(
            b"attacker",
            &Caller {
                user_id: 1,
                ..bob()
            },
            "r",
            1000,
        );
        let forged = format!(
            "{}.{}",
            forged_claims.rsplit_once('.').unwrap().0,
            v.rsplit_once('.').unwrap().1
        );
        assert!(verify_identity(b"k", &forged, 1010, 60).is_none());
    }
}

//! Signed delivery URLs: `/media/<token>` names one item, one rendition, optionally one
//! viewer, and an expiry, under an HMAC-SHA256 of a key only the servers hold. Who may get
//! such a URL is decided elsewhere (content's entitlement check, the owner's vault); this
//! module only signs and checks.
//!
//! Token: `<key id>.<base64url(claims JSON)>.<base64url(HMAC-SHA256(key, "fzm1." + key id +
//! "." + claims))>`. Keys are `id:base64` of 32 random bytes, like the secrets keyring's;
//! one current key signs, older ones still verify until they are dropped.

use crate::MediaError;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::Path;
use std::time::Duration;

/// The file the generated default key is kept in, inside the data directory.
pub const KEY_FILE: &str = "media-url.key";

struct Key {
    id: String,
    secret: Vec<u8>,
}

fn parse_key(spec: &str) -> Result<Key, MediaError> {
    let bad = |m: String| MediaError::Config(format!("media.url_key: {m}"));
    let (id, b64) = spec
        .trim()
        .split_once(':')
        .ok_or_else(|| bad("write a key as id:base64 of 32 random bytes".into()))?;
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad(format!(
            "key id {id:?} must be 1 to 32 letters, digits, - or _"
        )));
    }
    let secret = STANDARD
        .decode(b64.trim())
        .or_else(|_| URL_SAFE_NO_PAD.decode(b64.trim()))
        .map_err(|_| bad(format!("key {id:?} is not base64")))?;
    if secret.len() != 32 {
        return Err(bad(format!("key {id:?} must be 32 bytes")));
    }
    Ok(Key {
        id: id.to_owned(),
        secret,
    })
}

/// The keys that sign and check delivery URLs.
pub struct UrlKeys {
    current: Key,
    old: Vec<Key>,
}

impl std::fmt::Debug for UrlKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlKeys")
            .field("current", &self.current.id)
            .finish_non_exhaustive()
    }
}

fn generate_spec(id: &str) -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{id}:{}", STANDARD.encode(b))
}

impl UrlKeys {
    pub fn new(current: &str, old: &[String]) -> Result<Self, MediaError> {
        Ok(UrlKeys {
            current: parse_key(current)?,
            old: old
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_key(s))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The configured key, or the one in `<data_dir>/media-url.key` (generated on first use,
    /// mode 0600).
    pub fn load(current: &str, old: &[String], data_dir: &Path) -> Result<Self, MediaError> {
        if !current.trim().is_empty() {
            return Self::new(current, old);
        }
        let file = data_dir.join(KEY_FILE);
        let io = |e: std::io::Error| MediaError::Config(format!("{}: {e}", file.display()));
        if !file.exists() {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(&file) {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(generate_spec("m1").as_bytes()).map_err(io)?;
                    f.sync_all().map_err(io)?;
                }
                // Another process made it first; read theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let spec = std::fs::read_to_string(&file).map_err(io)?;
        Self::new(&spec, old)
    }

    /// A random key for tests and tools.
    pub fn ephemeral() -> Self {
        Self::new(&generate_spec("ephemeral"), &[]).expect("a generated key parses")
    }

    fn find(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// Media id.
    m: i64,
    /// Rendition name.
    r: String,
    /// The one viewer allowed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<i64>,
    /// Expiry, seconds since the epoch.
    e: i64,
    /// Only these bytes of the rendition: `[offset, length]` (one HLS segment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<[u64; 2]>,
}

/// What a valid token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub media_id: i64,
    pub rendition: String,
    /// `None`: anyone holding the URL (a public rendition; cacheable).
    pub viewer_id: Option<i64>,
    /// Seconds since the epoch.
    pub expires_at: i64,
    /// Only these bytes of the rendition may be read: `(offset, length)`. A segment of an
    /// HLS rung is signed so, so its URL reads that segment and nothing else (in particular
    /// not the other variant's: [`crate::abmark`]).
    pub slice: Option<(u64, u64)>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the media URL is not valid")]
    Invalid,
    #[error("the media URL has expired")]
    Expired,
    #[error("the media URL was issued to someone else")]
    WrongViewer,
    #[error("the media URL does not cover the bytes asked for")]
    OutsideSlice,
}

fn mac(key: &Key, claims_b64: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC takes any key length");
    m.update(b"fzm1.");
    m.update(key.id.as_bytes());
    m.update(b".");
    m.update(claims_b64.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// A token for `rendition` of `media_id`, valid until `expires_at` (seconds since the epoch).
pub fn sign(
    keys: &UrlKeys,
    media_id: i64,
    rendition: &str,
    viewer_id: Option<i64>,
    expires_at: i64,
) -> String {
    sign_slice(keys, media_id, rendition, viewer_id, expires_at, None)
}

/// A token like [`sign`]'s that reads only `slice` (`(offset, length)`) of the rendition.
pub fn sign_slice(
    keys: &UrlKeys,
    media_id: i64,
    rendition: &str,
    viewer_id: Option<i64>,
    expires_at: i64,
    slice: Option<(u64, u64)>,
) -> String {
    let claims = Claims {
        m: media_id,
        r: rendition.to_owned(),
        v: viewer_id,
        e: expires_at,
        s: slice.map(|(o, l)| [o, l]),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
    let sig = URL_SAFE_NO_PAD.encode(mac(&keys.current, &payload));
    format!("{}.{payload}.{sig}", keys.current.id)
}

/// The path of a delivery URL (`/media/<token>`) for one rendition, for one viewer or (with
/// `viewer_id: None`) for anyone, valid for `ttl`. Callers decide who may have it.
pub fn delivery_url(
    keys: &UrlKeys,
    media_id: i64,
    rendition: &str,
    viewer_id: Option<i64>,
    ttl: Duration,
) -> String {
    let now = fanz_core::clock::now_micros() / fanz_core::clock::SECOND;
    let expires = now.saturating_add(ttl.as_secs().min(i64::MAX as u64) as i64);
    format!(
        "/media/{}",
        sign(keys, media_id, rendition, viewer_id, expires)
    )
}

/// Check a token's signature and expiry (`now`: seconds since the epoch), and that `caller`
/// is its viewer when it names one.
pub fn verify(
    keys: &UrlKeys,
    token: &str,
    now: i64,
    caller: Option<i64>,
) -> Result<Grant, UrlError> {
    let mut it = token.splitn(3, '.');
    let (Some(kid), Some(payload), Some(sig)) = (it.next(), it.next(), it.next()) else {
        return Err(UrlError::Invalid);
    };
    let key = keys.find(kid).ok_or(UrlError::Invalid)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| UrlError::Invalid)?;
    let want = mac(key, payload);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        sig.as_slice(),
        want.as_slice(),
    )) {
        return Err(UrlError::Invalid);
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(UrlError::Invalid)?;
    if now >= claims.e {
        return Err(UrlError::Expired);
    }
    if let Some(v) = claims.v {
        if caller != Some(v) {
            return Err(UrlError::WrongViewer);
        }
    }
    Ok(Grant {
        media_id: claims.m,
        rendition: claims.r,
        viewer_id: claims.v,
        expires_at: claims.e,
        slice: claims.s.map(|[o, l]| (o, l)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_refuses() {
        let keys = UrlKeys::ephemeral();
        let t = sign(&keys, 7, "w320.jpg", Some(42), 1_000);
        let g = verify(&keys, &t, 999, Some(42)).unwrap();
        assert_eq!(
            (g.media_id, g.rendition.as_str(), g.viewer_id),
            (7, "w320.jpg", Some(42))
        );
        assert_eq!(verify(&keys, &t, 1_000, Some(42)), Err(UrlError::Expired));
        assert_eq!(verify(&keys, &t, 999, Some(43)), Err(UrlError::WrongViewer));
        assert_eq!(verify(&keys, &t, 999, None), Err(UrlError::WrongViewer));
        // Any changed character of the claims or the signature is refused.
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(b).unwrap();
            if tampered != t {
                assert!(verify(&keys, &tampered, 999, Some(42)).is_err(), "{i}");
            }
        }
        // Another server's key.
        assert_eq!(
            verify(&UrlKeys::ephemeral(), &t, 999, Some(42)),
            Err(UrlError::Invalid)
        );
        // A slice is part of what is signed.
        let part = sign_slice(&keys, 7, "hls/v0.mp4", Some(42), 1_000, Some((100, 50)));
        let g = verify(&keys, &part, 1, Some(42)).unwrap();
        assert_eq!(g.slice, Some((100, 50)));
        let (kid, rest) = part.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({"m": 7, "r": "hls/v0b.mp4", "v": 42, "e": 1000, "s": [100, 50]}))
                .unwrap(),
        );
        assert_eq!(
            verify(&keys, &format!("{kid}.{forged}.{sig}"), 1, Some(42)),
            Err(UrlError::Invalid)
        );
        let public = sign(&keys, 7, "teaser.jpg", None, 1_000);
        assert_eq!(verify(&keys, &public, 1, None).unwrap().viewer_id, None);
    }

    #[test]
    fn old_keys_still_verify() {
        let old = generate_spec("a");
        let t = sign(&UrlKeys::new(&old, &[]).unwrap(), 1, "x", None, 10);
        let rotated = UrlKeys::new(&generate_spec("b"), &[old]).unwrap();
        assert!(verify(&rotated, &t, 1, None).is_ok());
    }

    #[test]
    fn key_file_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = UrlKeys::load("", &[], dir.path()).unwrap();
        let b = UrlKeys::load("", &[], dir.path()).unwrap();
        let t = sign(&a, 1, "x", None, 10);
        assert!(verify(&b, &t, 1, None).is_ok());
    }
}

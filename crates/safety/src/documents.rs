//! Record documents at rest: ID copies, selfies and model releases, encrypted before they reach
//! the store.
//!
//! Envelope encryption. Each document gets its own random 256-bit data key and is encrypted
//! with AES-256-GCM (nonce ‖ ciphertext ‖ tag, the document id's context as associated data);
//! the data key is sealed under the secrets keyring (`[secrets] key`, see `fanz_secrets`).
//! Rotating the keyring re-seals the small data keys ([`rotate`]); the documents themselves
//! are never decrypted to rotate. Nothing here is readable on disk without the key.
//!
//! Opening a document is for the compliance role only, and every opening is audited; both are
//! decided by the callers in [`crate::records`].

use crate::{invalid, Result, SafetyError};
use fanz_secrets::Keyring;
use fanz_store::{sqlx, Db};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The largest document accepted (an ID scan or a release as a photo or PDF).
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
pub const KINDS: [&str; 4] = ["id_front", "id_back", "selfie", "release"];

/// A document as submitted: its kind, the bytes (typed from the bytes, never the name).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    /// id_front | id_back | selfie | release
    pub kind: String,
    /// The file, base64 (standard alphabet). JPEG, PNG, WebP or PDF, at most 10 MiB.
    pub data: String,
}

/// A stored document, without its content.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Document {
    pub id: i64,
    pub kind: String,
    pub mime: String,
    pub bytes: i64,
    pub created_at: i64,
}

/// The type of a document, from its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// Decode and type a submitted document.
pub fn decode(doc: &NewDocument) -> Result<(String, &'static str, Vec<u8>)> {
    use base64::Engine;
    if !KINDS.contains(&doc.kind.as_str()) {
        return Err(invalid(
            "documents",
            "invalid_kind",
            format!("a document's kind is one of {}", KINDS.join(", ")),
        ));
    }
    if doc.data.len() > MAX_BYTES / 3 * 4 + 8 {
        return Err(invalid(
            "documents",
            "too_large",
            "a document is at most 10 MiB",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(doc.data.trim())
        .map_err(|_| invalid("documents", "invalid_base64", "a document's data is base64"))?;
    if bytes.is_empty() || bytes.len() > MAX_BYTES {
        return Err(invalid(
            "documents",
            "too_large",
            "a document is between 1 byte and 10 MiB",
        ));
    }
    let mime = sniff(&bytes).ok_or_else(|| {
        invalid(
            "documents",
            "unsupported_type",
            "documents are JPEG, PNG, WebP or PDF",
        )
    })?;
    Ok((doc.kind.clone(), mime, bytes))
}

fn context(performer_id: i64, kind: &str) -> String {
    format!("record_document:{performer_id}:{kind}")
}

fn cipher(key: &[u8]) -> Result<LessSafeKey> {
    let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SafetyError::Sealed)?;
    Ok(LessSafeKey::new(key))
}

/// Encrypt `plain` under a fresh data key: (sealed data key, nonce ‖ ciphertext ‖ tag).
pub fn seal(keyring: &Keyring, ctx: &str, plain: &[u8]) -> Result<(String, Vec<u8>)> {
    let rng = SystemRandom::new();
    let mut key = [0u8; 32];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut key).map_err(|_| SafetyError::Sealed)?;
    rng.fill(&mut nonce).map_err(|_| SafetyError::Sealed)?;
    let mut buf = plain.to_vec();
    cipher(&key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ctx.as_bytes()),
            &mut buf,
        )
        .map_err(|_| SafetyError::Sealed)?;
    let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    Ok((keyring.seal(&key, &format!("data_key:{ctx}")), out))
}

/// Decrypt what [`seal`] made with the same context.
pub fn open(keyring: &Keyring, ctx: &str, data_key: &str, sealed: &[u8]) -> Result<Vec<u8>> {
    let key = keyring
        .open(data_key, &format!("data_key:{ctx}"))
        .map_err(|_| SafetyError::Sealed)?;
    if sealed.len() < NONCE_LEN {
        return Err(SafetyError::Sealed);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SafetyError::Sealed)?;
    let mut buf = body.to_vec();
    let plain = cipher(&key)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ctx.as_bytes()),
            &mut buf,
        )
        .map_err(|_| SafetyError::Sealed)?;
    Ok(plain.to_vec())
}

/// Store a document of a record, encrypted.
pub async fn store(
    db: &mut Db,
    keyring: &Keyring,
    performer_id: i64,
    kind: &str,
    mime: &str,
    plain: &[u8],
    uploaded_by: i64,
) -> Result<i64> {
    let (data_key, sealed) = seal(keyring, &context(performer_id, kind), plain)?;
    let row = sqlx::query(
        "INSERT INTO safety_documents (performer_id, kind, mime, bytes, data_key, ciphertext, uploaded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(performer_id)
    .bind(kind)
    .bind(mime)
    .bind(plain.len() as i64)
    .bind(data_key)
    .bind(sealed)
    .bind(uploaded_by)
    .bind(fanz_core::clock::now_micros())
    .fetch_one(&mut *db)
    .await?;
    Ok(row.try_get(0)?)
}

/// The documents of a record, without content.
pub async fn list(db: &mut Db, performer_id: i64) -> Result<Vec<Document>> {
    let rows = sqlx::query(
        "SELECT id, kind, mime, bytes, created_at FROM safety_documents WHERE performer_id = $1 ORDER BY id",
    )
    .bind(performer_id)
    .fetch_all(&mut *db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Document {
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                mime: r.try_get(2)?,
                bytes: r.try_get(3)?,
                created_at: r.try_get(4)?,
            })
        })
        .collect()
}

/// A document's metadata and decrypted content. Callers decide who may and audit it.
pub(crate) async fn read(
    db: &mut Db,
    keyring: &Keyring,
    performer_id: i64,
    doc_id: i64,
) -> Result<(Document, Vec<u8>)> {
    let r = sqlx::query(
        "SELECT id, kind, mime, bytes, created_at, data_key, ciphertext FROM safety_documents \
         WHERE id = $1 AND performer_id = $2",
    )
    .bind(doc_id)
    .bind(performer_id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    let doc = Document {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        mime: r.try_get(2)?,
        bytes: r.try_get(3)?,
        created_at: r.try_get(4)?,
    };
    let data_key: String = r.try_get(5)?;
    let sealed: Vec<u8> = r.try_get(6)?;
    let plain = open(
        keyring,
        &context(performer_id, &doc.kind),
        &data_key,
        &sealed,
    )?;
    Ok((doc, plain))
}

/// Re-seal every data key not sealed under the keyring's current key. Returns how many.
pub async fn rotate(db: &mut Db, keyring: &Keyring) -> Result<u64> {
    let rows = sqlx::query("SELECT id, performer_id, kind, data_key FROM safety_documents")
        .fetch_all(&mut *db)
        .await?;
    let mut n = 0;
    for r in rows {
        let data_key: String = r.try_get(3)?;
        if !keyring.needs_reseal(&data_key) {
            continue;
        }
        let (id, performer_id, kind): (i64, i64, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let ctx = format!("data_key:{}", context(performer_id, &kind));
        let key = keyring
            .open(&data_key, &ctx)
            .map_err(|_| SafetyError::Sealed)?;
        sqlx::query("UPDATE safety_documents SET data_key = $1 WHERE id = $2")
            .bind(keyring.seal(&key, &ctx))
            .bind(id)
            .execute(&mut *db)
            .await?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_documents_open_only_in_their_context_and_after_rotation() {
        let ring = Keyring::ephemeral();
        let plain = b"\xFF\xD8\xFF passport scan";
        let (key, sealed) = seal(&ring, "record_document:1:id_front", plain).unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"passport"));
        assert_eq!(
            open(&ring, "record_document:1:id_front", &key, &sealed).unwrap(),
            plain
        );
        assert!(open(&ring, "record_document:2:id_front", &key, &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open(&ring, "record_document:1:id_front", &key, &tampered).is_err());
        assert!(open(
            &Keyring::ephemeral(),
            "record_document:1:id_front",
            &key,
            &sealed
        )
        .is_err());
    }

    #[test]
    fn documents_are_typed_by_their_bytes() {
        assert_eq!(sniff(b"%PDF-1.7 ..."), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"GIF89a"), None);
        let bad = NewDocument {
            kind: "id_front".into(),
            data: "R0lGODlh".into(),
        };
        assert!(decode(&bad).is_err());
        let odd = NewDocument {
            kind: "tattoo".into(),
            data: "JVBERi0=".into(),
        };
        assert!(decode(&odd).is_err());
    }
}

//! Resumable uploads, as the tus 1.0 protocol needs them (core, creation, termination,
//! expiration): an upload is created with its length, filled by PATCHes at the right offset,
//! and becomes an item when its last byte arrives.
//!
//! Each PATCH streams its bytes into one part object (`u/<upload id>/<offset>-<random>`); the
//! offset moves forward, with the part recorded, only in a transaction that finds the offset
//! it started from, so two concurrent PATCHes cannot both append. A PATCH cut off mid-way
//! keeps what arrived (the client asks for the offset and sends the rest). When the upload is
//! complete its type is sniffed from its first bytes and the item is recorded with a
//! processing job that joins the parts into the original, off the request path.

use crate::{objects, record_upload, sniff, usage, Media, MediaError, Result};
use bytes::{Bytes, BytesMut};
use fanz_audit::Actor;
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db, Store};
use futures_util::{Stream, StreamExt};
use rand::RngCore;
use sqlx::Row;

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,termination,expiration,checksum";
/// The checksum algorithms `Upload-Checksum` may name.
pub const TUS_CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The longest `Upload-Metadata` kept.
const MAX_METADATA: usize = 4096;

/// One resumable upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub owner_id: i64,
    pub length: u64,
    pub offset: u64,
    /// Microseconds since the epoch.
    pub expires_at: i64,
    /// The item it became, once complete.
    pub media_id: Option<i64>,
}

/// Check an `Upload-Metadata` header: comma-separated `key[ base64value]` pairs, keys
/// unique and without spaces or commas. The values are kept, never used to name or type
/// anything.
pub fn check_metadata(raw: &str) -> Result<()> {
    use base64::Engine;
    if raw.len() > MAX_METADATA {
        return Err(MediaError::Invalid(format!(
            "Upload-Metadata is longer than {MAX_METADATA} bytes"
        )));
    }
    let mut keys = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.split(' ');
        let key = it.next().unwrap_or_default();
        let value = it.next();
        if key.is_empty() || it.next().is_some() || keys.contains(&key) {
            return Err(MediaError::Invalid("Upload-Metadata is malformed".into()));
        }
        if let Some(v) = value {
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| {
                    MediaError::Invalid(format!("Upload-Metadata {key:?} is not base64"))
                })?;
        }
        keys.push(key);
    }
    Ok(())
}

/// An `Upload-Checksum` header: the digest a PATCH's bytes must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

impl Checksum {
    /// `sha1 <base64>` or `sha256 <base64>`.
    pub fn parse(header: &str) -> Result<Self> {
        use base64::Engine;
        let bad = || {
            MediaError::Invalid(format!(
                "Upload-Checksum names {TUS_CHECKSUM_ALGORITHMS} and a base64 digest"
            ))
        };
        let (algorithm, b64) = header.trim().split_once(' ').ok_or_else(bad)?;
        let digest = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| bad())?;
        match (algorithm, digest.len()) {
            ("sha1", 20) => Ok(Checksum::Sha1(digest)),
            ("sha256", 32) => Ok(Checksum::Sha256(digest)),
            _ => Err(bad()),
        }
    }
}

/// A running digest of a PATCH's bytes.
enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(c: &Checksum) -> Self {
        use sha2::Digest;
        match c {
            Checksum::Sha1(_) => Hasher::Sha1(sha1::Sha1::new()),
            Checksum::Sha256(_) => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
        }
    }

    fn matches(self, c: &Checksum) -> bool {
        use sha2::Digest;
        match (self, c) {
            (Hasher::Sha1(h), Checksum::Sha1(want)) => h.finalize().as_slice() == want.as_slice(),
            (Hasher::Sha256(h), Checksum::Sha256(want)) => {
                h.finalize().as_slice() == want.as_slice()
            }
            _ => false,
        }
    }
}

/// Where a PATCH appends, and the digest its bytes must have.
#[derive(Debug, Clone, Default)]
pub struct Append {
    pub offset: u64,
    pub checksum: Option<Checksum>,
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn parts_prefix(id: &str) -> String {
    format!("u/{id}")
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Upload> {
    Ok(Upload {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        length: row.try_get::<i64, _>("length")?.max(0) as u64,
        offset: row.try_get::<i64, _>("upload_offset")?.max(0) as u64,
        expires_at: row.try_get("expires_at")?,
        media_id: row.try_get("media_id")?,
    })
}

/// An owner's live upload; another account's, an expired or an unknown one is
/// [`MediaError::NotFound`].
pub async fn status(db: &mut Db, owner_id: i64, id: &str) -> Result<Upload> {
    if !valid_id(id) {
        return Err(MediaError::NotFound);
    }
    let row = sqlx::query(
        "SELECT id, owner_id, length, upload_offset, expires_at, media_id FROM media_uploads \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(MediaError::NotFound)?;
    let upload = from_row(&row)?;
    if upload.owner_id != owner_id || upload.expires_at <= now_micros() {
        return Err(MediaError::NotFound);
    }
    Ok(upload)
}

impl Media {
    /// Start an upload of `length` bytes (checked against the size limit and the quota, which
    /// counts it from now on).
    pub async fn create_upload(
        &self,
        store: &Store,
        owner_id: i64,
        length: u64,
        metadata: &str,
        actor: &Actor,
    ) -> Result<Upload> {
        check_metadata(metadata)?;
        if length > self.limits.max_resumable_bytes {
            return Err(MediaError::TooLarge {
                limit: self.limits.max_resumable_bytes,
            });
        }
        if length == 0 {
            return Err(MediaError::Empty);
        }
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let id = hex::encode(b);
        let now = now_micros();
        let expires_at = now + self.limits.upload_expiry.as_micros() as i64;
        let mut tx = store.begin().await?;
        crate::lock_owner(&mut tx, owner_id).await?;
        let used = usage(&mut tx, owner_id).await?;
        let quota = self.limits.quota_bytes;
        if used.saturating_add(length) > quota {
            return Err(MediaError::QuotaExceeded { used, quota });
        }
        sqlx::query(
            "INSERT INTO media_uploads (id, owner_id, length, upload_offset, metadata, created_at, expires_at) \
             VALUES ($1, $2, $3, 0, $4, $5, $6)",
        )
        .bind(&id)
        .bind(owner_id)
        .bind(length as i64)
        .bind(metadata)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        fanz_audit::record(
            &mut tx,
            actor,
            "media.upload_started",
            Some(&format!("media_upload:{id}")),
            serde_json::json!({"length": length}),
        )
        .await?;
        tx.commit().await?;
        Ok(Upload {
            id,
            owner_id,
            length,
            offset: 0,
            expires_at,
            media_id: None,
        })
    }

    /// Append `body` at `at.offset` (which must be the upload's offset). With a checksum,
    /// bytes that do not match it, or that were cut off before it could be checked, are
    /// discarded. Returns the upload as it stands; with `media_id` set once the last byte
    /// arrived.
    pub async fn append<S, B, E>(
        &self,
        store: &Store,
        owner_id: i64,
        id: &str,
        at: Append,
        body: S,
        actor: &Actor,
    ) -> Result<Upload>
    where
        S: Stream<Item = std::result::Result<B, E>> + Send,
        B: Into<Bytes>,
        E: std::fmt::Display,
    {
        let offset = at.offset;
        let upload = {
            let mut db = store.conn().await?;
            status(&mut db, owner_id, id).await?
        };
        // A complete upload takes no more bytes.
        if offset != upload.offset || upload.media_id.is_some() {
            return Err(MediaError::OffsetMismatch {
                expected: upload.offset as i64,
            });
        }
        let mut rnd = [0u8; 4];
        rand::rngs::OsRng.fill_bytes(&mut rnd);
        let key = format!("{}/{offset:020}-{}", parts_prefix(id), hex::encode(rnd));
        let mut w = self.objects.writer(&key, upload.length - offset).await?;
        let mut head = BytesMut::new();
        let mut failure = None;
        let mut hasher = at.checksum.as_ref().map(Hasher::new);
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk: Bytes = match chunk {
                Ok(c) => c.into(),
                Err(e) => {
                    failure = Some(MediaError::Interrupted(e.to_string()));
                    break;
                }
            };
            if offset == 0 && head.len() < sniff::SNIFF_BYTES {
                let take = chunk.len().min(sniff::SNIFF_BYTES - head.len());
                head.extend_from_slice(&chunk[..take]);
            }
            if let Some(h) = &mut hasher {
                h.update(&chunk);
            }
            if let Err(e) = w.write(&chunk).await {
                failure = Some(e);
                break;
            }
        }
        if let (Some(h), Some(want)) = (hasher, &at.checksum) {
            if failure.is_none() && !h.matches(want) {
                failure = Some(MediaError::ChecksumMismatch);
            } else if failure.is_some() {
                // A cut-off PATCH cannot be checked: none of it is kept.
                w.abort().await;
                return Err(failure.expect("checked above"));
            }
        }
        // The first bytes tell the type: a video on a node that cannot process one is refused
        // now rather than after the whole file arrived.
        if offset == 0 && !head.is_empty() {
            if let Some(sniffed) = sniff::sniff(&head) {
                if let Err(e) = self.accepts(sniffed.kind) {
                    w.abort().await;
                    self.discard(store, id).await?;
                    return Err(e);
                }
            }
        }
        let n = w.written();
        if n == 0
            || matches!(
                failure,
                Some(MediaError::TooLarge { .. } | MediaError::ChecksumMismatch)
            )
        {
            w.abort().await;
            return match failure {
                Some(e) => Err(e),
                None => Ok(upload),
            };
        }
        // Bytes that arrived before a cut are kept: the client resumes after them.
        w.finish().await?;
        let new_offset = offset + n;
        let complete = new_offset == upload.length;
        let sniffed = if complete {
            if head.len() < sniff::SNIFF_BYTES.min(upload.length as usize) {
                head = self.read_head(store, id, &key).await?;
            }
            match sniff::sniff(&head) {
                Some(s) => Some(s),
                None => {
                    self.discard(store, id).await?;
                    return Err(MediaError::Unsupported);
                }
            }
        } else {
            None
        };
        let mut tx = store.begin().await?;
        let moved = sqlx::query(
            "UPDATE media_uploads SET upload_offset = $1 \
             WHERE id = $2 AND upload_offset = $3 AND media_id IS NULL",
        )
        .bind(new_offset as i64)
        .bind(id)
        .bind(offset as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            // Another PATCH got there first.
            tx.rollback().await?;
            self.objects.delete(&key).await?;
            let mut db = store.conn().await?;
            let now = status(&mut db, owner_id, id).await?;
            return Err(MediaError::OffsetMismatch {
                expected: now.offset as i64,
            });
        }
        sqlx::query(
            "INSERT INTO media_upload_parts (upload_id, part_offset, length, object_key) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(offset as i64)
        .bind(n as i64)
        .bind(&key)
        .execute(&mut *tx)
        .await?;
        let mut media_id = None;
        if let Some(sniffed) = sniffed {
            let parts: Vec<String> = sqlx::query(
                "SELECT object_key FROM media_upload_parts WHERE upload_id = $1 ORDER BY part_offset",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()?;
            let summary = record_upload(
                &mut tx,
                owner_id,
                sniffed,
                &objects::new_prefix("m"),
                upload.length,
                parts,
                actor,
            )
            .await?;
            sqlx::query("UPDATE media_uploads SET media_id = $1 WHERE id = $2")
                .bind(summary.id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM media_upload_parts WHERE upload_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            media_id = Some(summary.id);
        }
        tx.commit().await?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(Upload {
            offset: new_offset,
            media_id,
            ..upload
        })
    }

    /// The first bytes of a complete upload, across its parts (`last` is not recorded yet).
    async fn read_head(&self, store: &Store, id: &str, last: &str) -> Result<BytesMut> {
        let mut keys: Vec<String> = {
            let mut db = store.conn().await?;
            sqlx::query(
                "SELECT object_key FROM media_upload_parts WHERE upload_id = $1 ORDER BY part_offset",
            )
            .bind(id)
            .fetch_all(&mut *db)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()?
        };
        keys.push(last.to_owned());
        let mut head = BytesMut::new();
        for k in keys {
            if head.len() >= sniff::SNIFF_BYTES {
                break;
            }
            let want = (sniff::SNIFF_BYTES - head.len()) as u64;
            head.extend_from_slice(&self.objects.head_bytes(&k, want).await?);
        }
        Ok(head)
    }

    /// Forget an upload and delete its parts.
    async fn discard(&self, store: &Store, id: &str) -> Result<()> {
        let mut tx = store.begin().await?;
        sqlx::query("DELETE FROM media_upload_parts WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM media_uploads WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.objects.delete_prefix(&parts_prefix(id)).await?;
        Ok(())
    }

    /// End an upload (tus termination): it and its parts are gone; an item it already became
    /// stays.
    pub async fn terminate(
        &self,
        store: &Store,
        owner_id: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<()> {
        let upload = {
            let mut db = store.conn().await?;
            status(&mut db, owner_id, id).await?
        };
        let mut tx = store.begin().await?;
        sqlx::query("DELETE FROM media_upload_parts WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM media_uploads WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if upload.media_id.is_none() {
            fanz_jobs::enqueue(
                &mut tx,
                &crate::jobs::Purge {
                    prefix: parts_prefix(id),
                },
            )
            .await?;
        }
        fanz_audit::record(
            &mut tx,
            actor,
            "media.upload_terminated",
            Some(&format!("media_upload:{id}")),
            serde_json::json!({"offset": upload.offset, "length": upload.length}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Remove uploads whose expiry is past (`now` in microseconds): their parts, unless the
/// upload became an item (its processing job owns them then), and their rows. Returns how
/// many were removed.
pub async fn expire(media: &Media, store: &Store, now: i64) -> Result<u64> {
    let expired: Vec<(String, Option<i64>)> = {
        let mut db = store.conn().await?;
        sqlx::query("SELECT id, media_id FROM media_uploads WHERE expires_at <= $1 LIMIT 500")
            .bind(now)
            .fetch_all(&mut *db)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_>>()?
    };
    for (id, media_id) in &expired {
        if media_id.is_none() {
            media.objects.delete_prefix(&parts_prefix(id)).await?;
        }
        let mut tx = store.begin().await?;
        sqlx::query("DELETE FROM media_upload_parts WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM media_uploads WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(expired.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_parse() {
        assert!(matches!(
            Checksum::parse("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
            Ok(Checksum::Sha1(_))
        ));
        assert!(Checksum::parse("md5 1B2M2Y8AsgTpgAmY7PhCfg==").is_err());
        assert!(Checksum::parse("sha256 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").is_err());
        assert!(Checksum::parse("sha1").is_err());
    }

    #[test]
    fn metadata_is_checked() {
        assert!(check_metadata("").is_ok());
        assert!(
            check_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential").is_ok()
        );
        assert!(check_metadata("filename not*base64").is_err());
        assert!(check_metadata("a 1234,a 1234").is_err());
        assert!(check_metadata("a b c").is_err());
        assert!(check_metadata(&"k ".repeat(5000)).is_err());
    }
}

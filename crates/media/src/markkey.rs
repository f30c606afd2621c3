//! The keys of the forensic marks. A viewer's mark on an item (the picture pattern of
//! [`crate::mark`], the A/B sequence of [`crate::abmark`]) is pseudo-random from a seed; if
//! that seed came from the ids alone, anyone who knows the ids could compute another viewer's
//! mark and put it on a copy to frame them. So the seed is an HMAC-SHA256, under a secret of
//! the item's own, of the ids ([`Seed::Keyed`], scheme 2).
//!
//! The item's secret is 32 random bytes made on its first marked delivery and kept in
//! `media.mark_secret`, sealed by the server's keyring (`crates/secrets`, `[secrets] key`,
//! context `media-mark:<id>`): rotating the keyring re-seals it like any other secret, and
//! `fanz media trace`, which reads the same configuration, opens it.
//!
//! Marks delivered before keys existed (scheme 1, [`Seed::Ids`]: SHA-256 of the ids) stay as
//! they were: `media_marks.scheme` records which a viewer got, a viewer who already holds a
//! scheme-1 mark of an item keeps getting it for that item (so nobody ever holds two marks of
//! one item), and the trace scores each viewer by their own scheme.

use crate::{Media, MediaError, Result};
use fanz_store::{sqlx, Db};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// How a viewer's mark on an item is seeded.
#[derive(Clone, PartialEq, Eq)]
pub enum Seed {
    /// Scheme 1: from the ids alone (marks delivered before keyed marks existed).
    Ids,
    /// Scheme 2: HMAC-SHA256 of the ids under the item's secret.
    Keyed([u8; 32]),
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seed::Ids => f.write_str("Seed::Ids"),
            Seed::Keyed(_) => f.write_str("Seed::Keyed(…)"),
        }
    }
}

/// The scheme number of [`Seed::Ids`].
pub const SCHEME_IDS: i64 = 1;
/// The scheme number of [`Seed::Keyed`].
pub const SCHEME_KEYED: i64 = 2;

impl Seed {
    pub fn scheme(&self) -> i64 {
        match self {
            Seed::Ids => SCHEME_IDS,
            Seed::Keyed(_) => SCHEME_KEYED,
        }
    }

    /// The 32 bytes a mark of kind `label` (`fanz-mark`, `fanz-abmark`) of `viewer_id` on
    /// `media_id` starts from.
    pub fn digest(&self, label: &str, media_id: i64, viewer_id: i64) -> [u8; 32] {
        match self {
            Seed::Ids => Sha256::digest(format!("{label}-v1:{media_id}:{viewer_id}")).into(),
            Seed::Keyed(key) => {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(format!("{label}-v2:{media_id}:{viewer_id}").as_bytes());
                mac.finalize().into_bytes().into()
            }
        }
    }

    /// A xorshift64 state seeded by [`Seed::digest`] (never zero).
    pub fn state(&self, label: &str, media_id: i64, viewer_id: i64) -> u64 {
        let d = self.digest(label, media_id, viewer_id);
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes")) | 1
    }
}

fn context(media_id: i64) -> String {
    format!("media-mark:{media_id}")
}

impl Media {
    /// The item's mark secret, made (and sealed into `media.mark_secret`) when it has none.
    pub async fn mark_key(&self, db: &mut Db, media_id: i64) -> Result<[u8; 32]> {
        if let Some(k) = self.existing_mark_key(db, media_id).await? {
            return Ok(k);
        }
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let sealed = self.keyring.seal(&secret, &context(media_id));
        // Two first deliveries at once: one secret wins, and both read it back.
        sqlx::query("UPDATE media SET mark_secret = $1 WHERE id = $2 AND mark_secret IS NULL")
            .bind(&sealed)
            .bind(media_id)
            .execute(&mut *db)
            .await?;
        self.existing_mark_key(db, media_id)
            .await?
            .ok_or(MediaError::NotFound)
    }

    /// The item's mark secret, if it has one.
    pub async fn existing_mark_key(&self, db: &mut Db, media_id: i64) -> Result<Option<[u8; 32]>> {
        let sealed: Option<String> = sqlx::query("SELECT mark_secret FROM media WHERE id = $1")
            .bind(media_id)
            .fetch_optional(&mut *db)
            .await?
            .ok_or(MediaError::NotFound)?
            .try_get(0)?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let bytes = self
            .keyring
            .open(&sealed, &context(media_id))
            .map_err(|e| MediaError::Config(format!("the mark secret of media {media_id}: {e}")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            MediaError::Config(format!("the mark secret of media {media_id} is damaged"))
        })?;
        Ok(Some(key))
    }

    /// How `viewer_id`'s marks on `media_id` are seeded when delivered now: as they were
    /// before if they hold a scheme-1 mark of it, keyed otherwise.
    pub async fn delivery_seed(&self, db: &mut Db, media_id: i64, viewer_id: i64) -> Result<Seed> {
        let legacy: Option<i64> = sqlx::query(
            "SELECT MIN(scheme) FROM media_marks WHERE media_id = $1 AND viewer_id = $2",
        )
        .bind(media_id)
        .bind(viewer_id)
        .fetch_one(&mut *db)
        .await?
        .try_get(0)?;
        if legacy == Some(SCHEME_IDS) {
            return Ok(Seed::Ids);
        }
        Ok(Seed::Keyed(self.mark_key(db, media_id).await?))
    }

    /// Every viewer `media_id` was delivered marked to (among the renditions `like`
    /// matches), each with the seed of their mark.
    pub async fn traced_viewers(
        &self,
        db: &mut Db,
        media_id: i64,
        like: &str,
    ) -> Result<Vec<(i64, Seed)>> {
        let rows = sqlx::query(
            "SELECT viewer_id, MIN(scheme) FROM media_marks WHERE media_id = $1 \
             AND rendition LIKE $2 GROUP BY viewer_id ORDER BY viewer_id",
        )
        .bind(media_id)
        .bind(like)
        .fetch_all(&mut *db)
        .await?;
        let mut key = None;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let viewer: i64 = row.try_get(0)?;
            let scheme: i64 = row.try_get(1)?;
            let seed = if scheme == SCHEME_IDS {
                Seed::Ids
            } else {
                if key.is_none() {
                    key = self.existing_mark_key(db, media_id).await?;
                }
                match key {
                    Some(k) => Seed::Keyed(k),
                    None => {
                        tracing::warn!(
                            media_id,
                            "keyed marks recorded but the item has no mark secret"
                        );
                        continue;
                    }
                }
            };
            out.push((viewer, seed));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_seeds_depend_on_the_key() {
        let a = Seed::Keyed([1; 32]);
        let b = Seed::Keyed([2; 32]);
        assert_ne!(a.digest("fanz-abmark", 5, 7), b.digest("fanz-abmark", 5, 7));
        assert_ne!(
            a.digest("fanz-abmark", 5, 7),
            Seed::Ids.digest("fanz-abmark", 5, 7)
        );
        assert_ne!(a.digest("fanz-abmark", 5, 7), a.digest("fanz-abmark", 5, 8));
        assert_ne!(a.digest("fanz-abmark", 5, 7), a.digest("fanz-mark", 5, 7));
        assert_eq!(a.digest("fanz-abmark", 5, 7), a.digest("fanz-abmark", 5, 7));
        // Scheme 1 is exactly what marks were seeded with before keys existed.
        let legacy: [u8; 32] = Sha256::digest("fanz-abmark-v1:5:7").into();
        assert_eq!(Seed::Ids.digest("fanz-abmark", 5, 7), legacy);
        assert_eq!((Seed::Ids.scheme(), a.scheme()), (1, 2));
    }
}

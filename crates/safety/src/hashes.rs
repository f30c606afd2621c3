//! Hash lists: PDQ hashes of known harmful images, loaded by compliance (from an industry
//! hash-sharing programme or the operator's own takedowns), one list per name, replaced whole
//! on each load. Every image is screened when it is processed (media calls [`HashScreen`] in
//! the transaction that makes it ready) and, when a list is loaded, every image already
//! hashed is screened against it. A match within the threshold quarantines the item and opens
//! a case for reviewers (kind `hash_match`, `/media/{id}`); deciding it `removed` keeps the
//! item quarantined, `restored` or `no_action` releases it. Everything is audited.
//!
//! Matching is a linear scan of every listed hash (a few microseconds per thousand hashes);
//! lists of millions would want a multi-index hash table.

use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_media::Pdq;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// Hashes one load may carry.
pub const MAX_HASHES: usize = 1_000_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HashList {
    pub id: i64,
    pub name: String,
    /// `csam`: a match starts the CSAM preservation and reporting workflow; `other`.
    pub category: String,
    pub hash_count: i64,
    pub loaded_at: i64,
    pub loaded_by: Option<i64>,
}

/// What a load did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Loaded {
    pub list: HashList,
    /// Items already stored that match the list and were quarantined now.
    pub quarantined: Vec<i64>,
}

/// A hash list's name: 1 to 64 of `a-z 0-9 . _ -`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            "invalid_list_name",
            "a list name is 1 to 64 of a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

/// Parse a list file: one hash (64 hex digits) per line, optionally followed by a comma or
/// space and anything else (ThreatExchange's `hash,quality` files load as they are); blank
/// lines and lines starting with `#` are skipped. A bad line is refused with its number.
pub fn parse(text: &str) -> Result<Vec<Pdq>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let field = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap_or("");
        let Some(h) = Pdq::parse(field) else {
            return Err(invalid(
                "hashes",
                "invalid_hash",
                format!("line {}: not a PDQ hash (64 hex digits)", i + 1),
            ));
        };
        out.push(h);
        if out.len() > MAX_HASHES {
            return Err(invalid(
                "hashes",
                "too_many_hashes",
                format!("at most {MAX_HASHES} hashes per list"),
            ));
        }
    }
    out.sort_by_key(|h| h.0);
    out.dedup();
    Ok(out)
}

fn list_row(r: &sqlx::any::AnyRow) -> Result<HashList> {
    Ok(HashList {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        hash_count: r.try_get(2)?,
        loaded_at: r.try_get(3)?,
        loaded_by: r.try_get(4)?,
        category: r.try_get(5)?,
    })
}

pub async fn lists(db: &mut Db) -> Result<Vec<HashList>> {
    sqlx::query(
        "SELECT id, name, hash_count, loaded_at, loaded_by, category FROM safety_hash_lists ORDER BY name",
    )
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(list_row)
    .collect()
}

async fn list_by_name(db: &mut Db, name: &str) -> Result<Option<HashList>> {
    sqlx::query(
        "SELECT id, name, hash_count, loaded_at, loaded_by, category FROM safety_hash_lists WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *db)
    .await?
    .as_ref()
    .map(list_row)
    .transpose()
}

/// A list's category: `csam` or `other`.
pub const CATEGORIES: [&str; 2] = ["csam", "other"];

/// Load (or replace) the list `name` of `category` with `hashes`, then screen every hashed
/// item against it.
#[allow(clippy::too_many_arguments)]
pub async fn load(
    db: &mut Db,
    name: &str,
    category: &str,
    hashes: &[Pdq],
    threshold: u32,
    loaded_by: Option<i64>,
    now: i64,
    actor: &Actor,
) -> Result<Loaded> {
    check_name(name)?;
    if !CATEGORIES.contains(&category) {
        return Err(invalid(
            "category",
            "invalid_category",
            "a list's category is csam or other",
        ));
    }
    let id: i64 = match list_by_name(db, name).await? {
        Some(l) => {
            sqlx::query("DELETE FROM safety_hashes WHERE list_id = $1")
                .bind(l.id)
                .execute(&mut *db)
                .await?;
            sqlx::query(
                "UPDATE safety_hash_lists SET hash_count = $1, loaded_at = $2, loaded_by = $3, \
                 category = $4 WHERE id = $5",
            )
            .bind(hashes.len() as i64)
            .bind(now)
            .bind(loaded_by)
            .bind(category)
            .bind(l.id)
            .execute(&mut *db)
            .await?;
            l.id
        }
        None => sqlx::query(
            "INSERT INTO safety_hash_lists (name, hash_count, loaded_at, loaded_by, category) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(hashes.len() as i64)
        .bind(now)
        .bind(loaded_by)
        .bind(category)
        .fetch_one(&mut *db)
        .await?
        .try_get(0)?,
    };
    for chunk in hashes.chunks(400) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${})", i + 2))
            .collect();
        let sql = format!(
            "INSERT INTO safety_hashes (list_id, hash) VALUES {}",
            values.join(",")
        );
        let mut q = sqlx::query(&sql).bind(id);
        for h in chunk {
            q = q.bind(h.to_hex());
        }
        q.execute(&mut *db).await?;
    }
    record(
        db,
        actor,
        "safety.hash_list_loaded",
        Some(&format!("hash_list:{id}")),
        json!({"name": name, "category": category, "hashes": hashes.len()}),
    )
    .await?;
    // Screen what is already stored against the new list.
    let mut quarantined = Vec::new();
    let mut after = 0;
    loop {
        let page = fanz_media::hashed_after(db, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (media_id, owner_id, pdq) in page {
            let Some(pdq) = Pdq::parse(&pdq) else {
                continue;
            };
            let best = hashes.iter().map(|h| h.distance(&pdq)).min();
            if let Some(distance) = best.filter(|d| *d <= threshold) {
                let reason = quarantine_reason(name, distance);
                open_case(db, media_id, owner_id, name, category, distance, now, actor).await?;
                fanz_media::quarantine(db, media_id, &reason, actor).await?;
                quarantined.push(media_id);
            }
        }
    }
    let list = list_by_name(db, name).await?.ok_or(SafetyError::NotFound)?;
    Ok(Loaded { list, quarantined })
}

/// Remove a list (items it quarantined stay so until their cases are decided).
pub async fn remove(db: &mut Db, name: &str, actor: &Actor) -> Result<()> {
    let list = list_by_name(db, name).await?.ok_or(SafetyError::NotFound)?;
    sqlx::query("DELETE FROM safety_hashes WHERE list_id = $1")
        .bind(list.id)
        .execute(&mut *db)
        .await?;
    sqlx::query("DELETE FROM safety_hash_lists WHERE id = $1")
        .bind(list.id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "safety.hash_list_removed",
        Some(&format!("hash_list:{}", list.id)),
        json!({"name": name, "hashes": list.hash_count}),
    )
    .await?;
    Ok(())
}

/// The nearest listed hash within `threshold`: (list name, category, distance).
pub async fn best_match(
    db: &mut Db,
    pdq: &Pdq,
    threshold: u32,
) -> Result<Option<(String, String, u32)>> {
    let rows = sqlx::query(
        "SELECT l.name, h.hash, l.category FROM safety_hashes h \
         JOIN safety_hash_lists l ON l.id = h.list_id",
    )
    .fetch_all(&mut *db)
    .await?;
    let mut best: Option<(String, String, u32)> = None;
    for r in rows {
        let Some(h) = Pdq::parse(&r.try_get::<String, _>(1)?) else {
            continue;
        };
        let d = h.distance(pdq);
        if d <= threshold && best.as_ref().is_none_or(|(_, _, b)| d < *b) {
            best = Some((r.try_get(0)?, r.try_get(2)?, d));
        }
    }
    Ok(best)
}

fn quarantine_reason(list: &str, distance: u32) -> String {
    format!("matched hash list {list:?} (distance {distance})")
}

/// Open (or join) the case about a matched media item, and audit the match; a match against
/// a `csam` list starts the CSAM workflow.
#[allow(clippy::too_many_arguments)]
async fn open_case(
    db: &mut Db,
    media_id: i64,
    owner_id: i64,
    list: &str,
    category: &str,
    distance: u32,
    now: i64,
    actor: &Actor,
) -> Result<i64> {
    let url = format!("/media/{media_id}");
    let open = sqlx::query("SELECT id FROM safety_cases WHERE url = $1 AND status <> 'decided'")
        .bind(&url)
        .fetch_optional(&mut *db)
        .await?;
    let case_id: i64 = match open {
        Some(r) => r.try_get(0)?,
        None => sqlx::query(
            "INSERT INTO safety_cases (url, media_id, author_id, kind, status, hold, \
             report_count, received_at, due_at, updated_at) \
             VALUES ($1, $2, $3, 'hash_match', 'open', 1, 0, $4, $5, $4) RETURNING id",
        )
        .bind(&url)
        .bind(media_id)
        .bind(owner_id)
        .bind(now)
        .bind(crate::deadlines::due_at(now))
        .fetch_one(&mut *db)
        .await?
        .try_get(0)?,
    };
    record(
        db,
        actor,
        "safety.hash_matched",
        Some(&format!("media:{media_id}")),
        json!({"list": list, "category": category, "distance": distance, "case_id": case_id,
               "owner_id": owner_id}),
    )
    .await?;
    if category == "csam" {
        crate::csam::start(
            db,
            &crate::csam::Start {
                case_id,
                source: "hash_match",
                url,
                post_id: None,
                uploader_id: Some(owner_id),
                media: vec![media_id],
                details: format!("matched hash list {list:?} (distance {distance})"),
            },
            now,
            actor,
        )
        .await?;
    }
    Ok(case_id)
}

/// Media's screen: a processed image whose hash matches a list is quarantined, with a case.
#[derive(Debug, Clone)]
pub struct HashScreen {
    pub threshold: u32,
}

#[async_trait::async_trait]
impl fanz_media::Screen for HashScreen {
    async fn screen(
        &self,
        db: &mut Db,
        media_id: i64,
        owner_id: i64,
        pdq: &Pdq,
    ) -> fanz_media::Result<Option<String>> {
        let run = async {
            let Some((list, category, distance)) = best_match(db, pdq, self.threshold).await?
            else {
                return Ok(None);
            };
            let now = fanz_core::clock::now_micros();
            open_case(
                db,
                media_id,
                owner_id,
                &list,
                &category,
                distance,
                now,
                &Actor::system(),
            )
            .await?;
            Ok::<_, SafetyError>(Some(quarantine_reason(&list, distance)))
        };
        run.await.map_err(|e| match e {
            SafetyError::Database(e) => fanz_media::MediaError::Database(e),
            other => fanz_media::MediaError::Database(sqlx::Error::Protocol(other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_files_parse() {
        let a = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let text = format!("# a list\n\n{a},100\n{}\n{a}\n", a.to_uppercase());
        assert_eq!(parse(&text).unwrap().len(), 1);
        let err = parse(&format!("{a}\nnot-a-hash\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(check_name("ncmec-2026.01_a").is_ok());
        assert!(check_name("Bad Name").is_err());
        assert!(check_name("").is_err());
    }
}

//! The record store of who is depicted (18 U.S.C. 2257, 28 CFR part 75): one performer record
//! per person — legal name, date of birth, aliases, the identification document with its
//! expiry and the date it was checked, and encrypted copies of the documents — indexed by
//! legal name and cross-indexed by alias and by the URLs of the content depicting them.
//!
//! A record comes from an identity provider's result (verified at once, [`from_provider`]) or
//! is submitted with its documents by the person or by the creator who works with them and
//! checked by a compliance officer ([`submit`], [`decide`]). Nobody under 18 is recorded as
//! verified, and a record whose document has expired stops being valid ([`Performer::valid_on`]):
//! the publish gate and payouts follow it.
//!
//! Only the compliance role reads records and documents ([`KEEPERS`]); every read of a record
//! or a document is in the audit log.

use crate::documents::{self, Document, NewDocument};
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_core::clock::{now_micros, DAY};
use fanz_core::{check_text, Role};
use fanz_secrets::Keyring;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use time::{Date, OffsetDateTime};

/// The roles that read performer records and their documents.
pub const KEEPERS: &[Role] = &[Role::Compliance];
/// Who may read records.
pub fn is_keeper(roles: &[Role]) -> bool {
    roles.iter().any(|r| KEEPERS.contains(r))
}

pub const ID_TYPES: [&str; 4] = [
    "passport",
    "driving_licence",
    "national_id",
    "other_government_id",
];
pub const STATUSES: [&str; 3] = ["pending", "verified", "rejected"];
/// Records are kept 7 years after their last change (28 CFR 75.4).
pub const RETENTION: i64 = 7 * 366 * DAY;
pub const MAX_ALIASES: usize = 20;

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// The UTC calendar day of a Unix time in microseconds.
pub fn day_of(micros: i64) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .map(|t| t.date())
        .unwrap_or(Date::MIN)
}

/// Today (UTC).
pub fn today() -> Date {
    day_of(now_micros())
}

pub fn format_date(d: Date) -> String {
    d.format(DATE).unwrap_or_default()
}

/// A `YYYY-MM-DD` day.
pub fn parse_day(s: &str) -> Option<Date> {
    Date::parse(s.trim(), DATE).ok()
}

/// The first microsecond of a UTC day.
pub fn day_start_micros(d: Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() * 1_000_000
}

fn parse_date(field: &'static str, s: &str) -> Result<Date> {
    Date::parse(s.trim(), DATE).map_err(|_| {
        invalid(
            field,
            "invalid_date",
            format!("{field} is a date, YYYY-MM-DD"),
        )
    })
}

/// Whole years between `born` and `on`.
pub fn age_on(born: Date, on: Date) -> i32 {
    let mut years = on.year() - born.year();
    if (on.month() as u8, on.day()) < (born.month() as u8, born.day()) {
        years -= 1;
    }
    years
}

/// A performer record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Performer {
    pub id: i64,
    /// The performer's account, if they have one.
    pub user_id: Option<i64>,
    pub added_by: i64,
    pub legal_name: String,
    pub aliases: Vec<String>,
    /// YYYY-MM-DD
    pub date_of_birth: String,
    /// passport | driving_licence | national_id | other_government_id
    pub id_type: String,
    pub id_country: String,
    /// YYYY-MM-DD
    pub id_expires_on: String,
    /// The day a person or a provider examined the document.
    pub id_checked_on: Option<String>,
    /// pending | verified | rejected
    pub status: String,
    pub reason: Option<String>,
    /// The provider that verified it, or `compliance`.
    pub method: String,
    pub legal_hold: bool,
    pub retain_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Performer {
    /// Verified, and its document has not expired on `day`.
    pub fn valid_on(&self, day: Date) -> bool {
        self.status == "verified" && !self.expired_on(day)
    }

    pub fn expired_on(&self, day: Date) -> bool {
        Date::parse(&self.id_expires_on, DATE).map_or(true, |d| d < day)
    }
}

const COLUMNS: &str = "id, user_id, added_by, legal_name, date_of_birth, id_type, id_country, \
    id_expires_on, id_checked_on, status, reason, method, legal_hold, retain_until, created_at, updated_at";

fn row(r: &sqlx::any::AnyRow) -> Result<Performer> {
    Ok(Performer {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        added_by: r.try_get(2)?,
        legal_name: r.try_get(3)?,
        aliases: vec![],
        date_of_birth: r.try_get(4)?,
        id_type: r.try_get(5)?,
        id_country: r.try_get(6)?,
        id_expires_on: r.try_get(7)?,
        id_checked_on: r.try_get(8)?,
        status: r.try_get(9)?,
        reason: r.try_get(10)?,
        method: r.try_get(11)?,
        legal_hold: r.try_get::<i64, _>(12)? != 0,
        retain_until: r.try_get(13)?,
        created_at: r.try_get(14)?,
        updated_at: r.try_get(15)?,
    })
}

async fn with_aliases(db: &mut Db, mut ps: Vec<Performer>) -> Result<Vec<Performer>> {
    for p in &mut ps {
        let rows = sqlx::query(
            "SELECT alias FROM safety_aliases WHERE performer_id = $1 ORDER BY alias_key",
        )
        .bind(p.id)
        .fetch_all(&mut *db)
        .await?;
        p.aliases = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    }
    Ok(ps)
}

/// One record by id.
pub async fn get(db: &mut Db, id: i64) -> Result<Performer> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_performers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    Ok(with_aliases(db, vec![row(&r)?]).await?.remove(0))
}

/// The record of an account, if there is one.
pub async fn of_user(db: &mut Db, user_id: i64) -> Result<Option<Performer>> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_performers WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?;
    match r {
        Some(r) => Ok(Some(with_aliases(db, vec![row(&r)?]).await?.remove(0))),
        None => Ok(None),
    }
}

/// The records a creator added (their own and their co-performers'), newest first.
pub async fn added_by(db: &mut Db, user_id: i64) -> Result<Vec<Performer>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_performers WHERE added_by = $1 OR user_id = $1 ORDER BY id DESC"
    ))
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?;
    let ps = rows.iter().map(row).collect::<Result<Vec<_>>>()?;
    with_aliases(db, ps).await
}

/// A record as submitted by the person or the creator who works with them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerformer {
    pub legal_name: String,
    /// YYYY-MM-DD
    pub date_of_birth: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// passport | driving_licence | national_id | other_government_id
    pub id_type: String,
    /// ISO 3166 country of the document.
    #[serde(default)]
    pub id_country: String,
    /// YYYY-MM-DD
    pub id_expires_on: String,
    /// The ID's front (required), back, a selfie, and for a co-performer a signed release.
    #[serde(default)]
    pub documents: Vec<NewDocument>,
    /// This is the submitter's own record (otherwise an off-platform co-performer's).
    #[serde(default)]
    pub own: bool,
}

/// The checked facts of a record, as a provider or a submission gives them.
pub struct Facts {
    pub legal_name: String,
    pub date_of_birth: Date,
    pub aliases: Vec<String>,
    pub id_type: String,
    pub id_country: String,
    pub id_expires_on: Date,
}

/// Validate the facts: a name, an adult on `day`, a document not expired on `day`.
pub fn check_facts(
    legal_name: &str,
    date_of_birth: &str,
    aliases: &[String],
    id_type: &str,
    id_country: &str,
    id_expires_on: &str,
    day: Date,
) -> Result<Facts> {
    let legal_name = legal_name.trim();
    if legal_name.chars().count() < 2 {
        return Err(invalid(
            "legal_name",
            "required",
            "the legal name as on the ID",
        ));
    }
    check_text("legal_name", legal_name, 200)?;
    let born = parse_date("date_of_birth", date_of_birth)?;
    if born > day {
        return Err(invalid(
            "date_of_birth",
            "invalid_date",
            "the date of birth is in the future",
        ));
    }
    if age_on(born, day) < 18 {
        return Err(invalid(
            "date_of_birth",
            "underage",
            "everyone depicted must be 18 or older",
        ));
    }
    if !ID_TYPES.contains(&id_type) {
        return Err(invalid(
            "id_type",
            "invalid_id_type",
            format!("id_type is one of {}", ID_TYPES.join(", ")),
        ));
    }
    check_text("id_country", id_country, 2)?;
    let expires = parse_date("id_expires_on", id_expires_on)?;
    if expires < day {
        return Err(invalid(
            "id_expires_on",
            "id_expired",
            "the identification document has expired; use a current one",
        ));
    }
    if aliases.len() > MAX_ALIASES {
        return Err(invalid("aliases", "too_many", "at most 20 aliases"));
    }
    let mut clean = Vec::new();
    for a in aliases {
        let a = a.trim();
        check_text("aliases", a, 100)?;
        if !a.is_empty()
            && !clean
                .iter()
                .any(|c: &String| c.to_lowercase() == a.to_lowercase())
        {
            clean.push(a.to_owned());
        }
    }
    Ok(Facts {
        legal_name: legal_name.to_owned(),
        date_of_birth: born,
        aliases: clean,
        id_type: id_type.to_owned(),
        id_country: id_country.trim().to_ascii_uppercase(),
        id_expires_on: expires,
    })
}

fn key(s: &str) -> String {
    s.trim().to_lowercase()
}

async fn set_aliases(db: &mut Db, id: i64, aliases: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM safety_aliases WHERE performer_id = $1")
        .bind(id)
        .execute(&mut *db)
        .await?;
    for a in aliases {
        sqlx::query(
            "INSERT INTO safety_aliases (performer_id, alias, alias_key) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(a)
        .bind(key(a))
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Write the facts into a record: a new one, or the account's existing one (re-verification
/// replaces the facts and keeps the history in the audit log).
#[allow(clippy::too_many_arguments)]
async fn upsert(
    db: &mut Db,
    existing: Option<i64>,
    user_id: Option<i64>,
    added_by: i64,
    f: &Facts,
    status: &str,
    method: &str,
    checked: Option<Date>,
    now: i64,
) -> Result<i64> {
    let checked = checked.map(format_date);
    let id = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE safety_performers SET legal_name = $1, name_key = $2, date_of_birth = $3, id_type = $4, \
                 id_country = $5, id_expires_on = $6, id_checked_on = $7, status = $8, reason = NULL, method = $9, \
                 expired_at = NULL, retain_until = $10, updated_at = $11 WHERE id = $12",
            )
            .bind(&f.legal_name)
            .bind(key(&f.legal_name))
            .bind(format_date(f.date_of_birth))
            .bind(&f.id_type)
            .bind(&f.id_country)
            .bind(format_date(f.id_expires_on))
            .bind(checked)
            .bind(status)
            .bind(method)
            .bind(now + RETENTION)
            .bind(now)
            .bind(id)
            .execute(&mut *db)
            .await?;
            id
        }
        None => sqlx::query(
            "INSERT INTO safety_performers (user_id, added_by, legal_name, name_key, date_of_birth, id_type, \
             id_country, id_expires_on, id_checked_on, status, method, retain_until, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
        )
        .bind(user_id)
        .bind(added_by)
        .bind(&f.legal_name)
        .bind(key(&f.legal_name))
        .bind(format_date(f.date_of_birth))
        .bind(&f.id_type)
        .bind(&f.id_country)
        .bind(format_date(f.id_expires_on))
        .bind(checked)
        .bind(status)
        .bind(method)
        .bind(now + RETENTION)
        .bind(now)
        .fetch_one(&mut *db)
        .await?
        .try_get(0)?,
    };
    set_aliases(db, id, &f.aliases).await?;
    Ok(id)
}

/// Submit a record with its documents for a compliance officer to check: the submitter's own
/// (`own`), or an off-platform co-performer's (which needs a signed release).
pub async fn submit(
    db: &mut Db,
    keyring: &Keyring,
    submitter: i64,
    req: &NewPerformer,
    actor: &Actor,
) -> Result<Performer> {
    let docs = req
        .documents
        .iter()
        .map(documents::decode)
        .collect::<Result<Vec<_>>>()?;
    submit_with(db, keyring, submitter, req, &docs, actor).await
}

/// [`submit`] with the documents decoded already (`req.documents` is ignored).
pub async fn submit_with(
    db: &mut Db,
    keyring: &Keyring,
    submitter: i64,
    req: &NewPerformer,
    docs: &[(String, &'static str, Vec<u8>)],
    actor: &Actor,
) -> Result<Performer> {
    let now = now_micros();
    let f = check_facts(
        &req.legal_name,
        &req.date_of_birth,
        &req.aliases,
        &req.id_type,
        &req.id_country,
        &req.id_expires_on,
        day_of(now),
    )?;
    if !docs.iter().any(|(k, _, _)| k == "id_front") {
        return Err(invalid(
            "documents",
            "id_required",
            "include a copy of the identification document (kind id_front)",
        ));
    }
    if !req.own && !docs.iter().any(|(k, _, _)| k == "release") {
        return Err(invalid(
            "documents",
            "release_required",
            "a co-performer's record needs their signed release (kind release)",
        ));
    }
    let existing = if req.own {
        let mine = of_user(db, submitter).await?;
        if let Some(p) = &mine {
            if p.status == "verified" && !p.expired_on(day_of(now)) {
                return Err(SafetyError::Conflict(
                    "already_verified",
                    "your identity is verified; a new record is needed only when the document expires",
                ));
            }
        }
        mine.map(|p| p.id)
    } else {
        None
    };
    let user_id = req.own.then_some(submitter);
    let id = upsert(
        db,
        existing,
        user_id,
        submitter,
        &f,
        "pending",
        "compliance",
        None,
        now,
    )
    .await?;
    for (kind, mime, bytes) in docs {
        documents::store(db, keyring, id, kind, mime, bytes, submitter).await?;
    }
    record(
        db,
        actor,
        "safety.record_submitted",
        Some(&format!("performer:{id}")),
        json!({"own": req.own, "documents": docs.len(), "user_id": user_id}),
    )
    .await?;
    get(db, id).await
}

/// A provider's verified result for an account: the record is verified at once, with the
/// documents the provider returned.
pub async fn from_provider(
    db: &mut Db,
    keyring: &Keyring,
    user_id: i64,
    provider: &str,
    f: &Facts,
    docs: &[(String, &'static str, Vec<u8>)],
    actor: &Actor,
) -> Result<Performer> {
    let now = now_micros();
    let existing = of_user(db, user_id).await?.map(|p| p.id);
    let id = upsert(
        db,
        existing,
        Some(user_id),
        user_id,
        f,
        "verified",
        provider,
        Some(day_of(now)),
        now,
    )
    .await?;
    for (kind, mime, bytes) in docs {
        documents::store(db, keyring, id, kind, mime, bytes, user_id).await?;
    }
    record(
        db,
        actor,
        "safety.record_verified",
        Some(&format!("performer:{id}")),
        json!({"method": provider, "user_id": user_id, "id_expires_on": format_date(f.id_expires_on)}),
    )
    .await?;
    get(db, id).await
}

/// A compliance officer's decision on a pending (or any) record: `verify` (the documents were
/// examined today) or `reject` with the reason the submitter sees.
pub async fn decide(
    db: &mut Db,
    id: i64,
    outcome: &str,
    reason: &str,
    officer: i64,
    actor: &Actor,
) -> Result<Performer> {
    let p = get(db, id).await?;
    let now = now_micros();
    let reason = reason.trim();
    check_text("reason", reason, 2000)?;
    let status = match outcome {
        "verify" => {
            // The facts must still hold today (an adult, a current document).
            check_facts(
                &p.legal_name,
                &p.date_of_birth,
                &[],
                &p.id_type,
                &p.id_country,
                &p.id_expires_on,
                day_of(now),
            )?;
            "verified"
        }
        "reject" => {
            if reason.is_empty() {
                return Err(invalid(
                    "reason",
                    "required",
                    "say why the record is rejected",
                ));
            }
            "rejected"
        }
        _ => {
            return Err(invalid(
                "outcome",
                "invalid_outcome",
                "outcome is verify or reject",
            ))
        }
    };
    sqlx::query(
        "UPDATE safety_performers SET status = $1, reason = $2, decided_by = $3, id_checked_on = $4, \
         expired_at = NULL, updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind((!reason.is_empty()).then_some(reason))
    .bind(officer)
    .bind((status == "verified").then(|| format_date(day_of(now))).or(p.id_checked_on.clone()))
    .bind(now)
    .bind(id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.record_decided",
        Some(&format!("performer:{id}")),
        json!({"outcome": status, "reason": reason}),
    )
    .await?;
    get(db, id).await
}

/// A compliance officer's correction of a record.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    pub id_expires_on: Option<String>,
    pub aliases: Option<Vec<String>>,
    /// Keep the record (and its documents) whatever erasure or retention says.
    pub legal_hold: Option<bool>,
}

/// Correct a record (expiry, aliases, legal hold); audited with the old values.
pub async fn correct(db: &mut Db, id: i64, c: &Correction, actor: &Actor) -> Result<Performer> {
    let p = get(db, id).await?;
    let now = now_micros();
    if let Some(e) = &c.id_expires_on {
        let d = parse_date("id_expires_on", e)?;
        sqlx::query("UPDATE safety_performers SET id_expires_on = $1, expired_at = NULL, updated_at = $2 WHERE id = $3")
            .bind(format_date(d))
            .bind(now)
            .bind(id)
            .execute(&mut *db)
            .await?;
    }
    if let Some(a) = &c.aliases {
        let f = check_facts(
            &p.legal_name,
            &p.date_of_birth,
            a,
            &p.id_type,
            &p.id_country,
            "9999-12-31",
            day_of(now),
        )?;
        set_aliases(db, id, &f.aliases).await?;
    }
    if let Some(h) = c.legal_hold {
        sqlx::query("UPDATE safety_performers SET legal_hold = $1, updated_at = $2 WHERE id = $3")
            .bind(h as i64)
            .bind(now)
            .bind(id)
            .execute(&mut *db)
            .await?;
    }
    record(
        db,
        actor,
        "safety.record_corrected",
        Some(&format!("performer:{id}")),
        json!({"before": {"id_expires_on": p.id_expires_on, "aliases": p.aliases, "legal_hold": p.legal_hold},
               "id_expires_on": c.id_expires_on, "aliases": c.aliases, "legal_hold": c.legal_hold}),
    )
    .await?;
    get(db, id).await
}

/// A content URL depicting a performer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Depiction {
    pub media_id: i64,
    pub post_id: i64,
    /// `/p/{id}`
    pub url: String,
    pub clusters: Vec<String>,
    pub state: String,
    pub published_at: Option<i64>,
}

/// The media a record depicts: the items it is tagged in, and for an account's own record
/// every item the account uploaded.
pub async fn media_of(db: &mut Db, p: &Performer) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = sqlx::query(
        "SELECT media_id FROM safety_media_performers WHERE performer_id = $1 AND status <> 'declined'",
    )
    .bind(p.id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    if let Some(uid) = p.user_id {
        for m in sqlx::query("SELECT id FROM media WHERE owner_id = $1")
            .bind(uid)
            .fetch_all(&mut *db)
            .await?
        {
            ids.push(m.try_get(0)?);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Where a performer appears: every post carrying media they are depicted in.
pub async fn depictions(db: &mut Db, p: &Performer) -> Result<Vec<Depiction>> {
    let media = media_of(db, p).await?;
    let posts = fanz_content::posts::with_media(db, &media).await?;
    let mut out = Vec::new();
    for post in posts {
        for m in post.media.iter().filter(|m| media.contains(m)) {
            out.push(Depiction {
                media_id: *m,
                post_id: post.id,
                url: format!("/p/{}", post.id),
                clusters: post.clusters.clone(),
                state: post.state.as_str().to_owned(),
                published_at: post.published_at,
            });
        }
    }
    Ok(out)
}

/// A record with its documents (metadata) and depictions, for compliance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordDetail {
    pub record: Performer,
    pub documents: Vec<Document>,
    pub depictions: Vec<Depiction>,
}

/// Read a record as a compliance officer: audited.
pub async fn read(db: &mut Db, id: i64, actor: &Actor) -> Result<RecordDetail> {
    let record = get(db, id).await?;
    let documents = documents::list(db, id).await?;
    let depictions = depictions(db, &record).await?;
    fanz_audit::record(
        db,
        actor,
        "safety.record_viewed",
        Some(&format!("performer:{id}")),
        json!({}),
    )
    .await?;
    Ok(RecordDetail {
        record,
        documents,
        depictions,
    })
}

/// Open one document of a record as a compliance officer: audited.
pub async fn read_document(
    db: &mut Db,
    keyring: &Keyring,
    performer_id: i64,
    doc_id: i64,
    actor: &Actor,
) -> Result<(Document, Vec<u8>)> {
    let out = documents::read(db, keyring, performer_id, doc_id).await?;
    fanz_audit::record(
        db,
        actor,
        "safety.document_viewed",
        Some(&format!("performer:{performer_id}")),
        json!({"document_id": doc_id, "kind": out.0.kind}),
    )
    .await?;
    Ok(out)
}

/// How records are looked up: by legal name, by alias, by a content URL, by status.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// Legal name (prefix, case-insensitive).
    pub name: Option<String>,
    /// Alias (prefix, case-insensitive).
    pub alias: Option<String>,
    /// A content URL (`/p/{id}` or a full URL of a post on a cluster).
    pub url: Option<String>,
    /// pending | verified | rejected
    pub status: Option<String>,
    pub limit: Option<i64>,
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Find records. A URL finds the performers of the post it names.
pub async fn lookup(db: &mut Db, q: &Lookup, hosts: &[String]) -> Result<Vec<Performer>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    if let Some(s) = &q.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(invalid(
                "status",
                "invalid_status",
                "status is pending, verified or rejected",
            ));
        }
    }
    let mut ids: Option<Vec<i64>> = None;
    if let Some(url) = q.url.as_deref().filter(|u| !u.trim().is_empty()) {
        let post_id = crate::resolve_post(url, hosts)
            .ok_or_else(|| invalid("url", "unknown_url", "the URL does not name a post here"))?;
        let post = match fanz_content::posts::get(db, post_id).await {
            Ok(p) => p,
            Err(fanz_content::ContentError::NotFound) => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        let mut found = crate::performers::of_post(db, &post).await?;
        found.sort_unstable();
        found.dedup();
        ids = Some(found);
    }
    let mut sql = format!("SELECT {COLUMNS} FROM safety_performers WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    if let Some(n) = q.name.as_deref().map(key).filter(|n| !n.is_empty()) {
        binds.push(format!("{}%", escape_like(&n)));
        sql.push_str(&format!(" AND name_key LIKE ${} ESCAPE '\\'", binds.len()));
    }
    if let Some(a) = q.alias.as_deref().map(key).filter(|a| !a.is_empty()) {
        binds.push(format!("{}%", escape_like(&a)));
        sql.push_str(&format!(
            " AND id IN (SELECT performer_id FROM safety_aliases WHERE alias_key LIKE ${} ESCAPE '\\')",
            binds.len()
        ));
    }
    if let Some(s) = &q.status {
        binds.push(s.clone());
        sql.push_str(&format!(" AND status = ${}", binds.len()));
    }
    if let Some(ids) = &ids {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        sql.push_str(&format!(
            " AND id IN ({})",
            ids.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    sql.push_str(&format!(
        " ORDER BY status = 'pending' DESC, id DESC LIMIT {limit}"
    ));
    let mut query = sqlx::query(&sql);
    for b in &binds {
        query = query.bind(b.as_str());
    }
    let rows = query.fetch_all(&mut *db).await?;
    let ps = rows.iter().map(row).collect::<Result<Vec<_>>>()?;
    with_aliases(db, ps).await
}

/// Records whose document expired before `day` and were not yet handled: each is marked, and
/// its account's ids are returned (their payouts are held until they verify again).
pub async fn expire(db: &mut Db, day: Date, actor: &Actor) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT id, user_id FROM safety_performers WHERE status = 'verified' AND expired_at IS NULL AND id_expires_on < $1",
    )
    .bind(format_date(day))
    .fetch_all(&mut *db)
    .await?;
    let now = now_micros();
    let mut users = Vec::new();
    for r in rows {
        let id: i64 = r.try_get(0)?;
        let user: Option<i64> = r.try_get(1)?;
        sqlx::query("UPDATE safety_performers SET expired_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *db)
            .await?;
        record(
            db,
            actor,
            "safety.record_expired",
            Some(&format!("performer:{id}")),
            json!({"user_id": user}),
        )
        .await?;
        users.extend(user);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adults_only_with_a_current_document() {
        let day = Date::parse("2026-12-02", DATE).unwrap();
        let ok =
            |dob: &str, exp: &str| check_facts("Ana Example", dob, &[], "passport", "us", exp, day);
        assert!(ok("2008-12-02", "2030-01-01").is_ok(), "18 today");
        let young = ok("2008-12-03", "2030-01-01").err().unwrap();
        assert!(matches!(young, SafetyError::Invalid(ref v) if v.code == "underage"));
        let expired = ok("1990-01-01", "2026-12-01").err().unwrap();
        assert!(matches!(expired, SafetyError::Invalid(ref v) if v.code == "id_expired"));
        assert!(
            ok("1990-01-01", "2026-12-02").is_ok(),
            "valid through its last day"
        );
        assert!(ok("1990-02-30", "2030-01-01").is_err());
        assert!(ok("2030-01-01", "2031-01-01").is_err());
        assert_eq!(
            age_on(
                Date::parse("2000-02-29", DATE).unwrap(),
                Date::parse("2018-02-28", DATE).unwrap()
            ),
            17
        );
        assert_eq!(
            age_on(
                Date::parse("2000-02-29", DATE).unwrap(),
                Date::parse("2018-03-01", DATE).unwrap()
            ),
            18
        );
    }
}

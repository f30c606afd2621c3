//! Apparent CSAM: preservation and reporting (18 U.S.C. 2258A; the REPORT Act, Pub. L.
//! 118-59, made the preservation period one year).
//!
//! An `underage` report of a post, or a PDQ match against a hash list of category `csam`,
//! starts it ([`start`]), in the transaction that received the report or made the match:
//!
//! - the case is marked `csam`: moderators see that it exists, only the compliance role
//!   ([`require_compliance`]) reads its report record and files, and decides it;
//! - every media item concerned is quarantined (delivered to no one, its owner included) and
//!   preserved for [`PRESERVATION`] (media refuses to delete it; erasure keeps it);
//! - the post is hidden, the uploader suspended from uploading and publishing, and their
//!   payouts held with a statement of reasons (EU DSA art. 17(1)(b));
//! - a report record (draft) gathers what the CyberTipline asks: incident time, URL, the
//!   uploader's account, their IP addresses and times from the audit log, each file's MD5,
//!   SHA-1 (computed from the preserved original when first read) and PDQ.
//!
//! Compliance then files it ([`file`]: through the configured [`CyberTipline`], or recording
//! the id of a report filed by hand) → `filed`, and closes it → `closed`; the preservation
//! lasts until `preserve_until` (extendable, [`extend`]). A report found false
//! ([`release_not_csam`]) releases the quarantine, the preservation, the suspension and the
//! payout hold, restores the post and decides the case `restored`. Every step and every view
//! is audited.

use crate::cases::{self, payment_statement};
use crate::reports::rfc3339;
use crate::tipline::{CyberTipline, TiplineFile, TiplineReport};
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_content::{Content, GateCheck, Post, Refusal};
use fanz_core::clock::DAY;
use fanz_core::{check_text, Role};
use fanz_media::Media;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// How long reported content is preserved: one year (18 U.S.C. 2258A(h)(1) as amended by
/// the REPORT Act of 2024, which raised it from 90 days); longer by [`extend`].
pub const PRESERVATION: i64 = 365 * DAY;

/// The one role that reads CSAM report records and preserved files.
pub const COMPLIANCE: Role = Role::Compliance;

/// Refuse anyone but the compliance role ([`SafetyError::ComplianceOnly`]).
pub fn require_compliance(roles: &[Role]) -> Result<()> {
    if roles.contains(&COMPLIANCE) {
        Ok(())
    } else {
        Err(SafetyError::ComplianceOnly)
    }
}

/// What starts the workflow.
#[derive(Debug, Clone)]
pub struct Start {
    pub case_id: i64,
    /// `report` or `hash_match`.
    pub source: &'static str,
    pub url: String,
    pub post_id: Option<i64>,
    pub uploader_id: Option<i64>,
    pub media: Vec<i64>,
    pub details: String,
}

/// A preserved file and its hashes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CsamFile {
    pub media_id: i64,
    pub mime: String,
    pub bytes: i64,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub pdq: Option<String>,
}

/// The report record for the CyberTipline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CsamReport {
    pub id: i64,
    pub case_id: i64,
    /// draft | filed | closed
    pub status: String,
    /// report | hash_match
    pub source: String,
    pub incident_at: i64,
    /// RFC 3339.
    pub incident_time: String,
    pub url: String,
    pub post_id: Option<i64>,
    pub uploader_id: Option<i64>,
    /// The uploader's account and their IP addresses with times.
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
    /// Nothing deletes the files before this time (Unix microseconds).
    pub preserve_until: i64,
    /// The client that filed it: `sandbox`, `manual`.
    pub tipline: Option<String>,
    pub ncmec_report_id: Option<String>,
    pub filed_at: Option<i64>,
    pub filed_by: Option<i64>,
    pub closed_at: Option<i64>,
    /// `not_csam` when a reviewer found the report false.
    pub close_reason: Option<String>,
    pub files: Vec<CsamFile>,
}

const COLUMNS: &str = "id, case_id, status, source, incident_at, url, post_id, uploader_id, \
    facts, preserve_until, tipline, ncmec_report_id, filed_at, filed_by, closed_at, close_reason";

fn report_row(r: &sqlx::any::AnyRow) -> Result<CsamReport> {
    let incident_at: i64 = r.try_get(4)?;
    let facts: String = r.try_get(8)?;
    Ok(CsamReport {
        id: r.try_get(0)?,
        case_id: r.try_get(1)?,
        status: r.try_get(2)?,
        source: r.try_get(3)?,
        incident_at,
        incident_time: rfc3339(incident_at),
        url: r.try_get(5)?,
        post_id: r.try_get(6)?,
        uploader_id: r.try_get(7)?,
        facts: serde_json::from_str(&facts).unwrap_or_default(),
        preserve_until: r.try_get(9)?,
        tipline: r.try_get(10)?,
        ncmec_report_id: r.try_get(11)?,
        filed_at: r.try_get(12)?,
        filed_by: r.try_get(13)?,
        closed_at: r.try_get(14)?,
        close_reason: r.try_get(15)?,
        files: vec![],
    })
}

async fn files(db: &mut Db, report_id: i64) -> Result<Vec<CsamFile>> {
    sqlx::query(
        "SELECT media_id, mime, bytes, md5, sha1, pdq FROM safety_csam_files \
         WHERE report_id = $1 ORDER BY media_id",
    )
    .bind(report_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| {
        Ok(CsamFile {
            media_id: r.try_get(0)?,
            mime: r.try_get(1)?,
            bytes: r.try_get(2)?,
            md5: r.try_get(3)?,
            sha1: r.try_get(4)?,
            pdq: r.try_get(5)?,
        })
    })
    .collect()
}

async fn load(db: &mut Db, id: i64) -> Result<CsamReport> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_csam_reports WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    let mut r = report_row(&row)?;
    r.files = files(db, id).await?;
    Ok(r)
}

/// The uploader's account and the IP addresses the audit log recorded for them, with times.
async fn facts(db: &mut Db, uploader_id: Option<i64>) -> Result<serde_json::Value> {
    let Some(uid) = uploader_id else {
        return Ok(json!({"uploader": null, "ip_events": []}));
    };
    let user = fanz_identity::find_user(db, uid).await?;
    let events: Vec<serde_json::Value> = fanz_audit::page(db, Some(uid), None, 500)
        .await?
        .into_iter()
        .filter_map(|e| {
            e.ip.map(|ip| json!({"ip": ip, "at": e.at, "time": rfc3339(e.at), "action": e.action}))
        })
        .collect();
    Ok(json!({
        "uploader": {"id": user.id, "handle": user.handle, "email": user.email,
                     "created_at": rfc3339(user.created_at)},
        "ip_events": events,
    }))
}

/// Start (or add to) the workflow for `s.case_id`; the report record's id.
pub async fn start(db: &mut Db, s: &Start, now: i64, actor: &Actor) -> Result<i64> {
    sqlx::query("UPDATE safety_cases SET csam = 1, hold = 1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(s.case_id)
        .execute(&mut *db)
        .await?;
    let existing = sqlx::query("SELECT id FROM safety_csam_reports WHERE case_id = $1")
        .bind(s.case_id)
        .fetch_optional(&mut *db)
        .await?;
    let preserve_until = now + PRESERVATION;
    let (report_id, fresh) = match existing {
        Some(r) => (r.try_get::<i64, _>(0)?, false),
        None => {
            let facts = facts(db, s.uploader_id).await?;
            let facts = json!({"details": s.details, "uploader": facts["uploader"],
                               "ip_events": facts["ip_events"]});
            let id: i64 = sqlx::query(
                "INSERT INTO safety_csam_reports (case_id, status, source, incident_at, url, \
                 post_id, uploader_id, facts, preserve_until, created_at, updated_at) \
                 VALUES ($1, 'draft', $2, $3, $4, $5, $6, $7, $8, $3, $3) RETURNING id",
            )
            .bind(s.case_id)
            .bind(s.source)
            .bind(now)
            .bind(&s.url)
            .bind(s.post_id)
            .bind(s.uploader_id)
            .bind(facts.to_string())
            .bind(preserve_until)
            .fetch_one(&mut *db)
            .await?
            .try_get(0)?;
            (id, true)
        }
    };
    let reason = format!("apparent CSAM (case {})", s.case_id);
    for &media_id in &s.media {
        let item = match fanz_media::get(db, media_id).await {
            Ok(i) => i,
            Err(fanz_media::MediaError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        fanz_media::quarantine(db, media_id, &reason, actor).await?;
        fanz_media::preserve(db, media_id, Some(preserve_until), false, actor).await?;
        sqlx::query(
            "INSERT INTO safety_csam_files (report_id, media_id, mime, bytes, pdq) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (report_id, media_id) DO NOTHING",
        )
        .bind(report_id)
        .bind(media_id)
        .bind(&item.mime)
        .bind(item.bytes as i64)
        .bind(&item.pdq)
        .execute(&mut *db)
        .await?;
    }
    if fresh {
        if let Some(uid) = s.uploader_id {
            suspend(db, uid, s.case_id, now, actor).await?;
            fanz_payments::payouts::set_compliance_hold(
                db,
                None,
                uid,
                Some(&format!(
                    "a compliance review is under way (case {})",
                    s.case_id
                )),
                actor,
            )
            .await
            .map_err(payments_error)?;
            payment_statement(
                db,
                uid,
                Some(s.case_id),
                true,
                &format!(
                    "Your payouts are held, and your account may not upload or publish, while \
                     content you uploaded ({}) is reviewed after a report that it may depict a \
                     minor (case {}).",
                    s.url, s.case_id
                ),
                "our terms of service and 18 U.S.C. 2258A: content that may depict a minor is \
                 preserved and reviewed, and the account's earnings are held until the review ends",
                now,
                actor,
            )
            .await?;
        }
        record(
            db,
            actor,
            "safety.csam_case_opened",
            Some(&format!("case:{}", s.case_id)),
            json!({"report_id": report_id, "source": s.source, "media": s.media,
                   "preserve_until": preserve_until}),
        )
        .await?;
    }
    Ok(report_id)
}

pub(crate) fn payments_error(e: fanz_payments::PaymentsError) -> SafetyError {
    match e {
        fanz_payments::PaymentsError::Database(e) => SafetyError::Database(e),
        fanz_payments::PaymentsError::Audit(e) => SafetyError::Audit(e),
        other => SafetyError::Database(sqlx::Error::Protocol(other.to_string())),
    }
}

// ---- suspensions ----

/// Why `user_id` may not upload or publish, if a suspension holds them.
pub async fn suspended(db: &mut Db, user_id: i64) -> Result<Option<String>> {
    Ok(sqlx::query(
        "SELECT reason FROM safety_suspensions WHERE user_id = $1 AND lifted_at IS NULL \
         ORDER BY id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?
    .map(|r| r.try_get::<String, _>(0))
    .transpose()?)
}

async fn suspend(db: &mut Db, user_id: i64, case_id: i64, now: i64, actor: &Actor) -> Result<()> {
    sqlx::query(
        "INSERT INTO safety_suspensions (user_id, case_id, reason, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(case_id)
    .bind(format!(
        "your account is suspended from uploading and publishing pending review (case {case_id})"
    ))
    .bind(now)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.account_suspended",
        Some(&format!("user:{user_id}")),
        json!({"case_id": case_id}),
    )
    .await?;
    Ok(())
}

/// The publish gate's check: a suspended account publishes nothing.
pub struct Suspended;

#[async_trait::async_trait]
impl GateCheck for Suspended {
    fn name(&self) -> &'static str {
        "account_suspended"
    }

    async fn check(
        &self,
        db: &mut Db,
        _: &Content,
        post: &Post,
    ) -> fanz_content::Result<Vec<Refusal>> {
        let held = sqlx::query(
            "SELECT 1 FROM safety_suspensions WHERE user_id = $1 AND lifted_at IS NULL",
        )
        .bind(post.author_id)
        .fetch_optional(&mut *db)
        .await?;
        Ok(match held {
            Some(_) => vec![Refusal::new(
                "account_suspended",
                "your account is suspended from publishing pending a review",
            )],
            None => vec![],
        })
    }
}

// ---- compliance's views and steps ----

/// Every report record, newest first (compliance only; audited).
pub async fn list(db: &mut Db, roles: &[Role], actor: &Actor) -> Result<Vec<CsamReport>> {
    require_compliance(roles)?;
    let out = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_csam_reports ORDER BY id DESC LIMIT 500"
    ))
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(report_row)
    .collect::<Result<Vec<_>>>()?;
    record(
        db,
        actor,
        "safety.csam_reports_listed",
        None,
        json!({"count": out.len()}),
    )
    .await?;
    Ok(out)
}

/// Fill the MD5 and SHA-1 of files that lack them, from the preserved originals.
async fn digest(db: &mut Db, media: &Media, report_id: i64) -> Result<()> {
    use sha1::Digest;
    for f in files(db, report_id).await? {
        if f.md5.is_some() && f.sha1.is_some() {
            continue;
        }
        // An original never stored (an upload that did not finish) has no hashes to give.
        let item = match fanz_media::get(db, f.media_id).await {
            Ok(i) => i,
            Err(fanz_media::MediaError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let bytes = match media.read_original(&item, item.bytes.max(1)).await {
            Ok(b) => b,
            Err(fanz_media::MediaError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let md5 = hex::encode(md5::Md5::digest(&bytes));
        let sha1 = hex::encode(sha1::Sha1::digest(&bytes));
        sqlx::query(
            "UPDATE safety_csam_files SET md5 = $1, sha1 = $2 WHERE report_id = $3 AND media_id = $4",
        )
        .bind(md5)
        .bind(sha1)
        .bind(report_id)
        .bind(f.media_id)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// One report record with its files and their hashes (compliance only; audited).
pub async fn get(
    db: &mut Db,
    media: &Media,
    id: i64,
    roles: &[Role],
    actor: &Actor,
) -> Result<CsamReport> {
    require_compliance(roles)?;
    load(db, id).await?;
    digest(db, media, id).await?;
    record(
        db,
        actor,
        "safety.csam_report_viewed",
        Some(&format!("csam_report:{id}")),
        json!({}),
    )
    .await?;
    load(db, id).await
}

/// A preserved file's original (compliance only; audited): (type, bytes).
pub async fn file_bytes(
    db: &mut Db,
    media: &Media,
    id: i64,
    media_id: i64,
    roles: &[Role],
    actor: &Actor,
) -> Result<(String, Vec<u8>)> {
    require_compliance(roles)?;
    let report = load(db, id).await?;
    if !report.files.iter().any(|f| f.media_id == media_id) {
        return Err(SafetyError::NotFound);
    }
    let item = fanz_media::get(db, media_id).await?;
    let bytes = media.read_original(&item, item.bytes.max(1)).await?;
    record(
        db,
        actor,
        "safety.csam_file_viewed",
        Some(&format!("media:{media_id}")),
        json!({"report_id": id}),
    )
    .await?;
    Ok((item.mime.clone(), bytes.to_vec()))
}

fn step_conflict(status: &str) -> SafetyError {
    match status {
        "filed" => SafetyError::Conflict("report_filed", "this report is already filed"),
        "closed" => SafetyError::Conflict("report_closed", "this report is closed"),
        _ => SafetyError::Conflict("report_not_filed", "this report is not filed yet"),
    }
}

/// File a draft: with `manual_id`, record a report the operator filed by hand; otherwise
/// submit it and its files through `tipline`. `filed` with NCMEC's report id. Audited.
#[allow(clippy::too_many_arguments)]
pub async fn file(
    db: &mut Db,
    media: &Media,
    tipline: &dyn CyberTipline,
    id: i64,
    manual_id: Option<&str>,
    roles: &[Role],
    officer: i64,
    now: i64,
    actor: &Actor,
) -> Result<CsamReport> {
    require_compliance(roles)?;
    let report = load(db, id).await?;
    if report.status != "draft" {
        return Err(step_conflict(&report.status));
    }
    let (via, report_id) = match manual_id.map(str::trim) {
        Some(m) => {
            if m.is_empty()
                || m.len() > 64
                || !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(invalid(
                    "ncmec_report_id",
                    "invalid_report_id",
                    "NCMEC's report id: 1 to 64 letters, digits and '-'",
                ));
            }
            ("manual", m.to_owned())
        }
        None => {
            digest(db, media, id).await?;
            let report = load(db, id).await?;
            let mut out = Vec::with_capacity(report.files.len());
            for f in &report.files {
                let item = fanz_media::get(db, f.media_id).await?;
                let bytes = media.read_original(&item, item.bytes.max(1)).await?;
                out.push(TiplineFile {
                    media_id: f.media_id,
                    mime: f.mime.clone(),
                    md5: f.md5.clone().unwrap_or_default(),
                    sha1: f.sha1.clone().unwrap_or_default(),
                    pdq: f.pdq.clone(),
                    bytes: bytes.to_vec(),
                });
            }
            let t = TiplineReport {
                record_id: id,
                incident_time: report.incident_time.clone(),
                url: report.url.clone(),
                uploader: Some(report.facts["uploader"].clone()).filter(|u| !u.is_null()),
                ip_events: report.facts["ip_events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                details: report.facts["details"].as_str().unwrap_or("").to_owned(),
            };
            let rid = tipline
                .submit(&t, &out)
                .await
                .map_err(|e| SafetyError::Tipline(e.to_string()))?;
            (tipline.name(), rid)
        }
    };
    sqlx::query(
        "UPDATE safety_csam_reports SET status = 'filed', tipline = $1, ncmec_report_id = $2, \
         filed_at = $3, filed_by = $4, updated_at = $3 WHERE id = $5",
    )
    .bind(via)
    .bind(&report_id)
    .bind(now)
    .bind(officer)
    .bind(id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.csam_report_filed",
        Some(&format!("csam_report:{id}")),
        json!({"tipline": via, "ncmec_report_id": report_id}),
    )
    .await?;
    load(db, id).await
}

/// Close a filed report, deciding its case `removed` (the post stays hidden, the media
/// quarantined; the creator gets the statement of reasons). The preservation lasts until
/// `preserve_until` all the same.
#[allow(clippy::too_many_arguments)]
pub async fn close(
    db: &mut Db,
    env: &Content,
    id: i64,
    roles: &[Role],
    officer: i64,
    now: i64,
    actor: &Actor,
) -> Result<CsamReport> {
    require_compliance(roles)?;
    let report = load(db, id).await?;
    if report.status != "filed" {
        return Err(step_conflict(&report.status));
    }
    if cases::get(db, report.case_id).await?.status != "decided" {
        cases::decide_unchecked(
            db,
            env,
            None,
            report.case_id,
            "removed",
            "Removed as apparent child sexual abuse material; reported to the National Center \
             for Missing & Exploited Children as 18 U.S.C. 2258A requires.",
            officer,
            now,
            actor,
        )
        .await?;
    }
    sqlx::query(
        "UPDATE safety_csam_reports SET status = 'closed', closed_at = $1, closed_by = $2, \
         close_reason = 'filed', updated_at = $1 WHERE id = $3",
    )
    .bind(now)
    .bind(officer)
    .bind(id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.csam_report_closed",
        Some(&format!("csam_report:{id}")),
        json!({}),
    )
    .await?;
    load(db, id).await
}

/// Keep the files longer (law enforcement asked, or the operator chose to): `until` must be
/// later than the current `preserve_until`.
pub async fn extend(
    db: &mut Db,
    id: i64,
    until: i64,
    roles: &[Role],
    actor: &Actor,
) -> Result<CsamReport> {
    require_compliance(roles)?;
    let report = load(db, id).await?;
    if report.close_reason.as_deref() == Some("not_csam") {
        return Err(step_conflict("closed"));
    }
    if until <= report.preserve_until {
        return Err(invalid(
            "until",
            "not_later",
            "an extension ends later than the current preservation",
        ));
    }
    sqlx::query(
        "UPDATE safety_csam_reports SET preserve_until = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(until)
    .bind(fanz_core::clock::now_micros())
    .bind(id)
    .execute(&mut *db)
    .await?;
    for f in &report.files {
        fanz_media::preserve(db, f.media_id, Some(until), false, actor).await?;
    }
    record(
        db,
        actor,
        "safety.csam_preservation_extended",
        Some(&format!("csam_report:{id}")),
        json!({"from": report.preserve_until, "until": until}),
    )
    .await?;
    load(db, id).await
}

/// A reviewer found the report false (not CSAM): before filing, release everything the
/// workflow held — quarantine, preservation, suspension, payout hold (with a statement) —
/// restore the post and decide the case `restored` with `reason`. Audited.
#[allow(clippy::too_many_arguments)]
pub async fn release_not_csam(
    db: &mut Db,
    env: &Content,
    payments: &fanz_payments::Payments,
    id: i64,
    reason: &str,
    roles: &[Role],
    officer: i64,
    now: i64,
    actor: &Actor,
) -> Result<CsamReport> {
    require_compliance(roles)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(invalid(
            "reason",
            "reason_required",
            "say why this is not CSAM",
        ));
    }
    check_text("reason", reason, cases::MAX_REASON)?;
    let report = load(db, id).await?;
    if report.status != "draft" {
        return Err(step_conflict(&report.status));
    }
    for f in &report.files {
        fanz_media::preserve(db, f.media_id, None, true, actor).await?;
        fanz_media::release(db, f.media_id, actor).await?;
    }
    cases::decide_unchecked(
        db,
        env,
        None,
        report.case_id,
        "restored",
        reason,
        officer,
        now,
        actor,
    )
    .await?;
    if let Some(uid) = report.uploader_id {
        let lifted = sqlx::query(
            "UPDATE safety_suspensions SET lifted_at = $1, lifted_by = $2 \
             WHERE user_id = $3 AND case_id = $4 AND lifted_at IS NULL",
        )
        .bind(now)
        .bind(officer)
        .bind(uid)
        .bind(report.case_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
        if lifted > 0 {
            record(
                db,
                actor,
                "safety.suspension_lifted",
                Some(&format!("user:{uid}")),
                json!({"case_id": report.case_id}),
            )
            .await?;
        }
        if suspended(db, uid).await?.is_none() {
            fanz_payments::payouts::set_compliance_hold(db, Some(payments), uid, None, actor)
                .await
                .map_err(payments_error)?;
            payment_statement(
                db,
                uid,
                Some(report.case_id),
                false,
                &format!(
                    "The review of case {} found the report unfounded; your content is \
                     restored, and your payouts and uploads are released.",
                    report.case_id
                ),
                "the review ended in your favour",
                now,
                actor,
            )
            .await?;
        }
    }
    sqlx::query(
        "UPDATE safety_csam_reports SET status = 'closed', closed_at = $1, closed_by = $2, \
         close_reason = 'not_csam', preserve_until = $1, updated_at = $1 WHERE id = $3",
    )
    .bind(now)
    .bind(officer)
    .bind(id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.csam_released_not_csam",
        Some(&format!("csam_report:{id}")),
        json!({"case_id": report.case_id, "reason": reason}),
    )
    .await?;
    load(db, id).await
}

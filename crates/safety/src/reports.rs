//! Reports: a notice from anyone, with or without an account. Validated (the DMCA's
//! statutory fields for copyright), throttled per IP address, attached to the one undecided
//! case of its URL, acknowledged by mail; a report of illegal, non-consensual or underage
//! content that names a post hides the post at once pending review; an underage report of a
//! post starts the CSAM workflow ([`crate::csam`]).

use crate::{deadlines, invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_core::clock::HOUR;
use fanz_core::{check_text, Email};
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

pub const KINDS: [&str; 7] = [
    "illegal",
    "non_consensual",
    "underage",
    "impersonation",
    "copyright",
    "authority",
    "other",
];

/// Kinds that hide a reported post at once, pending review.
pub const HIDING_KINDS: [&str; 3] = ["illegal", "non_consensual", "underage"];

pub const MAX_URL: usize = 2000;
pub const MAX_DETAILS: usize = 5000;
pub const MAX_FIELD: usize = 500;

/// How serious a kind is; a case takes its most serious report's kind.
fn severity(kind: &str) -> usize {
    match kind {
        "underage" => 7,
        "non_consensual" => 6,
        "illegal" => 5,
        "authority" => 4,
        "copyright" => 3,
        "impersonation" => 2,
        _ => 1,
    }
}

/// A notice (EU DSA art. 16: an explanation in `details`, the exact URL, name and e-mail,
/// a good-faith confirmation). Copyright adds 17 U.S.C. 512(c)(3)'s elements: the work,
/// a signature (full name), contact address, good faith and accuracy under penalty of perjury.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// illegal | non_consensual | underage | impersonation | copyright | other
    pub kind: String,
    /// The exact URL of the content.
    pub url: String,
    /// Why the content is unlawful or breaks the rules.
    pub details: String,
    /// For the acknowledgement and the decision; required for copyright.
    #[serde(default)]
    pub email: Option<String>,
    /// The reporter's name; required (as `signature`) for copyright.
    #[serde(default)]
    pub name: Option<String>,
    /// "I believe in good faith that this notice is accurate and complete."
    #[serde(default)]
    pub good_faith: Option<bool>,
    /// Copyright: the work claimed to be infringed.
    #[serde(default)]
    pub copyright_work: Option<String>,
    /// Copyright: the full legal name of the owner or their agent, as a signature.
    #[serde(default)]
    pub signature: Option<String>,
    /// Copyright: the information is accurate, under penalty of perjury, and the reporter is
    /// the owner or authorized to act for them.
    #[serde(default)]
    pub accurate_under_penalty: Option<bool>,
    /// Copyright: postal address and telephone.
    #[serde(default)]
    pub contact_address: Option<String>,
    /// Authority: the name of the authority (police force, court, regulator) making the request.
    #[serde(default)]
    pub authority_name: Option<String>,
    /// Authority: its reference or case number.
    #[serde(default)]
    pub authority_reference: Option<String>,
    /// Authority: the law or order the request rests on.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// Authority: how to reach the official who made the request (to confirm it).
    #[serde(default)]
    pub authority_contact: Option<String>,
}

impl NewReport {
    /// The report a performer's withdrawal of consent files against a post carrying the item.
    pub fn consent_withdrawn(post_id: i64) -> Self {
        NewReport {
            kind: "non_consensual".into(),
            url: format!("/p/{post_id}"),
            details: "A performer depicted in this post withdrew their consent.".into(),
            email: None,
            name: None,
            good_faith: Some(true),
            copyright_work: None,
            ..Default::default()
        }
    }
}

/// Where a report came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The signed-in reporter, if any.
    pub reporter_id: Option<i64>,
    pub ip: Option<String>,
    /// Hosts whose URLs name this server's posts.
    pub hosts: Vec<String>,
    /// Reports one IP may file per hour.
    pub per_ip_per_hour: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Submitted {
    /// The report's id.
    pub id: i64,
    pub case_id: i64,
    /// When the case must be decided (Unix microseconds): 7 business days after receipt.
    pub due_at: i64,
    /// The same, as an RFC 3339 date-time in UTC.
    pub due: String,
    /// Whether the reported post is hidden pending review.
    pub hidden: bool,
}

fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Check a report; the cleaned e-mail on success.
pub fn validate(r: &NewReport) -> Result<Option<String>> {
    if !KINDS.contains(&r.kind.as_str()) {
        return Err(invalid(
            "kind",
            "invalid_kind",
            format!("kind must be one of {}", KINDS.join(", ")),
        ));
    }
    let url = r.url.trim();
    if url.is_empty() {
        return Err(invalid(
            "url",
            "url_required",
            "the exact URL of the content is required",
        ));
    }
    check_text("url", url, MAX_URL)?;
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
        || url.chars().any(char::is_whitespace)
    {
        return Err(invalid(
            "url",
            "invalid_url",
            "url must be an http(s) address or a path",
        ));
    }
    if r.details.trim().is_empty() {
        return Err(invalid(
            "details",
            "details_required",
            "explain why the content is unlawful or breaks the rules",
        ));
    }
    check_text("details", &r.details, MAX_DETAILS)?;
    for (field, v) in [
        ("name", &r.name),
        ("copyright_work", &r.copyright_work),
        ("signature", &r.signature),
        ("contact_address", &r.contact_address),
        ("authority_name", &r.authority_name),
        ("authority_reference", &r.authority_reference),
        ("legal_basis", &r.legal_basis),
        ("authority_contact", &r.authority_contact),
    ] {
        if let Some(v) = v {
            check_text(field, v, MAX_FIELD)?;
        }
    }
    let email = match opt(&r.email) {
        Some(e) => Some(Email::parse(e)?.as_str().to_owned()),
        None => None,
    };
    if r.kind == "copyright" {
        let mut missing = vec![];
        if opt(&r.copyright_work).is_none() {
            missing.push("copyright_work");
        }
        if opt(&r.signature).is_none() {
            missing.push("signature");
        }
        if opt(&r.contact_address).is_none() {
            missing.push("contact_address");
        }
        if email.is_none() {
            missing.push("email");
        }
        if r.good_faith != Some(true) {
            missing.push("good_faith");
        }
        if r.accurate_under_penalty != Some(true) {
            missing.push("accurate_under_penalty");
        }
        if !missing.is_empty() {
            return Err(invalid(
                "kind",
                "dmca_fields_required",
                format!(
                    "a copyright notice needs the DMCA's statutory elements (17 U.S.C. 512(c)(3)); missing: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    if r.kind == "authority" {
        let missing: Vec<&str> = [
            ("authority_name", &r.authority_name),
            ("authority_reference", &r.authority_reference),
            ("legal_basis", &r.legal_basis),
            ("authority_contact", &r.authority_contact),
        ]
        .into_iter()
        .filter(|(_, v)| opt(v).is_none())
        .map(|(f, _)| f)
        .collect();
        if !missing.is_empty() {
            return Err(invalid(
                "kind",
                "authority_fields_required",
                format!(
                    "a request from an authority names the authority, its reference, the legal basis and a contact; missing: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(email)
}

/// The key a case is filed under: `/p/{id}` for a post, else the URL without its fragment.
pub fn case_key(url: &str, post: Option<i64>) -> String {
    match post {
        Some(id) => format!("/p/{id}"),
        None => url.trim().split('#').next().unwrap_or("").to_owned(),
    }
}

pub fn rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// File a report at `now`: throttle, validate, find or open the URL's case, hide the post
/// if the kind calls for it, store, audit and acknowledge.
pub async fn submit(
    db: &mut Db,
    r: &NewReport,
    origin: &Origin,
    now: i64,
    actor: &Actor,
) -> Result<Submitted> {
    if let Some(ip) = &origin.ip {
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(received_at) FROM safety_reports WHERE ip = $1 AND received_at > $2",
        )
        .bind(ip)
        .bind(now - HOUR)
        .fetch_one(&mut *db)
        .await?;
        let n: i64 = row.try_get(0)?;
        if n >= origin.per_ip_per_hour {
            let oldest: Option<i64> = row.try_get(1)?;
            let wait = oldest.unwrap_or(now) + HOUR - now;
            return Err(SafetyError::RateLimited {
                retry_after_secs: (wait / 1_000_000).max(1) as u64,
            });
        }
    }
    let email = validate(r)?;
    let url = r.url.trim();
    let post = match crate::resolve_post(url, &origin.hosts) {
        Some(id) => match fanz_content::posts::get(db, id).await {
            Ok(p) if p.state != fanz_content::PostState::Deleted => Some(p),
            Ok(_) | Err(fanz_content::ContentError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let key = case_key(url, post.as_ref().map(|p| p.id));
    let existing = sqlx::query(
        "SELECT id, due_at, hold, kind FROM safety_cases WHERE url = $1 AND status <> 'decided'",
    )
    .bind(&key)
    .fetch_optional(&mut *db)
    .await?;
    let (case_id, due_at, mut hold, case_kind) = match existing {
        Some(row) => (
            row.try_get::<i64, _>(0)?,
            row.try_get::<i64, _>(1)?,
            row.try_get::<i64, _>(2)? != 0,
            row.try_get::<String, _>(3)?,
        ),
        None => {
            let due = deadlines::due_at(now);
            let id: i64 = sqlx::query(
                "INSERT INTO safety_cases (url, post_id, author_id, kind, status, received_at, \
                 due_at, updated_at) VALUES ($1, $2, $3, $4, 'open', $5, $6, $5) RETURNING id",
            )
            .bind(&key)
            .bind(post.as_ref().map(|p| p.id))
            .bind(post.as_ref().map(|p| p.author_id))
            .bind(&r.kind)
            .bind(now)
            .bind(due)
            .fetch_one(&mut *db)
            .await?
            .try_get(0)?;
            record(
                db,
                actor,
                "safety.case_opened",
                Some(&format!("case:{id}")),
                json!({"url": key, "kind": r.kind, "due_at": due}),
            )
            .await?;
            (id, due, false, r.kind.clone())
        }
    };
    if let Some(p) = &post {
        if !hold && HIDING_KINDS.contains(&r.kind.as_str()) {
            fanz_content::posts::hide_for_review(
                db,
                p.id,
                &format!("report: {} (case {case_id})", r.kind),
                actor,
            )
            .await?;
            hold = true;
            record(
                db,
                actor,
                "safety.post_held",
                Some(&format!("case:{case_id}")),
                json!({"post_id": p.id, "kind": r.kind}),
            )
            .await?;
        }
    }
    // Apparent CSAM: quarantine and preserve the post's media, suspend the uploader, and
    // draft the report for the CyberTipline.
    if let (Some(p), "underage") = (&post, r.kind.as_str()) {
        crate::csam::start(
            db,
            &crate::csam::Start {
                case_id,
                source: "report",
                url: url.to_owned(),
                post_id: Some(p.id),
                uploader_id: Some(p.author_id),
                media: p.media.clone(),
                details: r.details.trim().to_owned(),
            },
            now,
            actor,
        )
        .await?;
    }
    let kind = if severity(&r.kind) > severity(&case_kind) {
        r.kind.clone()
    } else {
        case_kind
    };
    sqlx::query(
        "UPDATE safety_cases SET report_count = report_count + 1, hold = $1, kind = $2, \
         updated_at = $3 WHERE id = $4",
    )
    .bind(hold as i64)
    .bind(&kind)
    .bind(now)
    .bind(case_id)
    .execute(&mut *db)
    .await?;
    let dmca = (r.kind == "copyright").then(|| {
        json!({
            "copyright_work": opt(&r.copyright_work),
            "signature": opt(&r.signature),
            "contact_address": opt(&r.contact_address),
            "good_faith": r.good_faith,
            "accurate_under_penalty": r.accurate_under_penalty,
        })
        .to_string()
    });
    // Anyone can claim to be an authority: the request is kept unverified until a compliance
    // officer confirms it through the contact given ([`verify_authority`]).
    let authority = (r.kind == "authority").then(|| {
        json!({
            "authority_name": opt(&r.authority_name),
            "authority_reference": opt(&r.authority_reference),
            "legal_basis": opt(&r.legal_basis),
            "authority_contact": opt(&r.authority_contact),
        })
        .to_string()
    });
    let name = opt(&r.name).or(opt(&r.signature)).map(str::to_owned);
    let id: i64 = sqlx::query(
        "INSERT INTO safety_reports (case_id, kind, url, details, name, email, reporter_id, ip, \
         dmca, received_at, authority) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id",
    )
    .bind(case_id)
    .bind(&r.kind)
    .bind(url)
    .bind(r.details.trim())
    .bind(name)
    .bind(&email)
    .bind(origin.reporter_id)
    .bind(&origin.ip)
    .bind(dmca)
    .bind(now)
    .bind(authority)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    record(
        db,
        actor,
        "safety.report_received",
        Some(&format!("case:{case_id}")),
        json!({"report_id": id, "kind": r.kind, "good_faith": r.good_faith, "hidden": hold}),
    )
    .await?;
    if let Some(to) = &email {
        fanz_identity::mail::enqueue(
            db,
            &fanz_identity::mail::Mail {
                to: to.clone(),
                subject: format!("We received your report (case {case_id})"),
                body: format!(
                    "We received your {} report of {url} at {} and filed it as case {case_id}.\n\
                     It will be decided by {} at the latest; we will write to you with the decision.\n",
                    r.kind.replace('_', "-"),
                    rfc3339(now),
                    rfc3339(due_at),
                ),
            },
        )
        .await?;
    }
    Ok(Submitted {
        id,
        case_id,
        due_at,
        due: rfc3339(due_at),
        hidden: hold,
    })
}

/// A compliance officer confirms at `now` that the authority's request `report_id` came from
/// the authority it names (through the contact it gave). Audited.
pub async fn verify_authority(
    db: &mut Db,
    report_id: i64,
    officer_id: i64,
    now: i64,
    actor: &Actor,
) -> Result<()> {
    let row = sqlx::query("SELECT kind, verified_at, case_id FROM safety_reports WHERE id = $1")
        .bind(report_id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(SafetyError::NotFound)?;
    if row.try_get::<String, _>(0)? != "authority" {
        return Err(SafetyError::Conflict(
            "not_an_authority_request",
            "only a request from an authority is verified",
        ));
    }
    if row.try_get::<Option<i64>, _>(1)?.is_some() {
        return Err(SafetyError::Conflict(
            "already_verified",
            "this request was already verified",
        ));
    }
    let case_id: i64 = row.try_get(2)?;
    sqlx::query("UPDATE safety_reports SET verified_at = $1, verified_by = $2 WHERE id = $3")
        .bind(now)
        .bind(officer_id)
        .bind(report_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "safety.authority_verified",
        Some(&format!("case:{case_id}")),
        json!({"report_id": report_id}),
    )
    .await?;
    Ok(())
}

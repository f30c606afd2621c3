//! Statements of reasons for the EU DSA Transparency Database (art. 24(5) DSA): each
//! statement Fanz issued in a month that restricts something, mapped to one object of the
//! database's statement schema (API v1, `POST /api/v1/statements` with
//! `{"statements": [...]}`), ready for the operator to submit. Read-only: computed from the
//! statements, cases, reports, posts and media themselves; it never submits anything (the
//! operator holds the database's API token, not the server).
//!
//! What is not a statement for the database: a decision that restricts nothing (`no_action`,
//! `restored`, `payouts_released`). Art. 17(1) asks for a statement of reasons for a
//! restriction, and the schema has no value for "not restricted" (at least one of
//! `decision_visibility`, `decision_monetary`, `decision_provision`, `decision_account` is
//! required). The mapping of each outcome and case kind is in docs/compliance.md.

use crate::monthly::month_bounds;
use crate::records::{day_of, format_date};
use crate::Result;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use sqlx::Row;

/// The Member States a decision applies in: Fanz restricts content for everyone, so every
/// EU country (the codes the database accepts for `territorial_scope`).
pub const EU_COUNTRIES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The database's limits on free-text fields, in characters.
const MAX_GROUND: usize = 500;
const MAX_EXPLANATION: usize = 2000;
const MAX_FACTS: usize = 5000;

/// One statement of reasons in the DSA Transparency Database's schema. Field names and values
/// are the database's own; absent fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DsaStatement {
    /// `DECISION_VISIBILITY_*`: the content's visibility was restricted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_visibility: Option<Vec<String>>,
    /// `DECISION_MONETARY_*`: payments were suspended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_monetary: Option<String>,
    /// `DECISION_PROVISION_*`: the service was suspended in part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_provision: Option<String>,
    /// `DECISION_ACCOUNT_*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_account: Option<String>,
    /// `DECISION_GROUND_ILLEGAL_CONTENT` or `DECISION_GROUND_INCOMPATIBLE_CONTENT`.
    pub decision_ground: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub illegal_content_legal_ground: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub illegal_content_explanation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incompatible_content_ground: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incompatible_content_explanation: Option<String>,
    /// `Yes` | `No`: whether content incompatible with the terms is also considered illegal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incompatible_content_illegal: Option<String>,
    /// `STATEMENT_CATEGORY_*`.
    pub category: String,
    /// `KEYWORD_*`, where one fits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub category_specification: Vec<String>,
    /// `CONTENT_TYPE_*`.
    pub content_type: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type_other: Option<String>,
    /// YYYY-MM-DD: when the content was posted or uploaded.
    pub content_date: String,
    /// YYYY-MM-DD: when the decision was taken.
    pub application_date: String,
    pub territorial_scope: Vec<String>,
    /// The facts and circumstances: the statement's reason as the creator received it.
    pub decision_facts: String,
    /// `SOURCE_ARTICLE_16` | `SOURCE_TYPE_OTHER_NOTIFICATION` | `SOURCE_VOLUNTARY`.
    pub source_type: String,
    /// `Yes` | `No`.
    pub automated_detection: String,
    /// `AUTOMATED_DECISION_FULLY` | `AUTOMATED_DECISION_PARTIALLY` |
    /// `AUTOMATED_DECISION_NOT_AUTOMATED`.
    pub automated_decision: String,
    /// The platform's unique id of the statement: `fanz-sor-{statement id}`, stable, so a
    /// resubmission is refused by the database as a duplicate rather than counted twice.
    pub puid: String,
}

/// What the mapping reads of one statement of reasons (and its case, if it has one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub statement_id: i64,
    /// removed | suspended | payouts_held | restored | no_action | payouts_released
    pub outcome: String,
    /// content | payments
    pub restriction: String,
    pub reason: String,
    pub created_at: i64,
    /// The case's kind (a report kind, or `hash_match`); none for a statement without a case.
    pub case_kind: Option<String>,
    pub csam: bool,
    /// Notices on the case (none for a hash match).
    pub report_count: i64,
    /// An authority's request: the law or order it rests on.
    pub legal_basis: Option<String>,
    /// `image`, `video`, `audio`, `text`: what the restricted content is.
    pub content: Vec<&'static str>,
    /// When the content was posted or uploaded (micros); none: the decision's day is used.
    pub content_at: Option<i64>,
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// At most `max` characters of `s` (the database refuses longer fields).
fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// The ground an illegal-content decision relies on, by the case's kind (`None`: the decision
/// is reported as incompatible with the terms instead).
fn legal_ground(s: &Source) -> Option<String> {
    if s.csam || s.case_kind.as_deref() == Some("underage") {
        return some(
            "Child sexual abuse material: Directive 2011/93/EU art. 5 and the national law \
             transposing it; 18 U.S.C. 2252A and 2258A",
        );
    }
    match s.case_kind.as_deref() {
        Some("copyright") => some(
            "Copyright infringement: Directive 2001/29/EC art. 2 and 3 and the national \
             copyright law; 17 U.S.C. 512",
        ),
        Some("authority") => Some(
            s.legal_basis
                .as_deref()
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .unwrap_or("An order of a judicial or administrative authority (DSA art. 9)")
                .to_owned(),
        ),
        _ => None,
    }
}

/// The terms of service a decision not reported as illegal relies on, and whether the
/// content is considered illegal as well.
fn terms_ground(s: &Source) -> (String, &'static str) {
    if s.outcome == "suspended" {
        return (
            "Terms of service: repeat-infringer policy (publishing is suspended after repeated \
             copyright takedowns)"
                .into(),
            "Yes",
        );
    }
    match s.case_kind.as_deref() {
        Some("non_consensual") => (
            "Terms of service: everyone depicted consented to the recording and its \
             publication"
                .into(),
            "Yes",
        ),
        Some("illegal") => ("Terms of service: no illegal content".into(), "Yes"),
        Some("impersonation") => (
            "Terms of service: no impersonation of another person".into(),
            "No",
        ),
        Some("hash_match") => (
            "Terms of service: no content matching a list of known harmful images".into(),
            "No",
        ),
        None if s.restriction == "payments" => {
            // A payment statement's reason ends with "Ground: …" (see cases::payment_statement).
            let ground = s
                .reason
                .rsplit_once("Ground: ")
                .map(|(_, g)| g.trim().trim_end_matches('.'))
                .unwrap_or("payouts go only to creators whose identity and age are verified");
            (format!("Terms of service: {ground}"), "No")
        }
        _ => ("Terms of service".into(), "No"),
    }
}

fn category(s: &Source) -> (&'static str, Vec<String>) {
    if s.csam {
        return (
            "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
            vec!["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL".into()],
        );
    }
    match s.case_kind.as_deref() {
        Some("underage") => ("STATEMENT_CATEGORY_PROTECTION_OF_MINORS", vec![]),
        Some("non_consensual") => (
            "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
            vec!["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING".into()],
        ),
        Some("copyright") => (
            "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
            vec!["KEYWORD_COPYRIGHT_INFRINGEMENT".into()],
        ),
        Some("impersonation") => (
            "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            vec!["KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING".into()],
        ),
        // illegal (no kind named), authority, other, hash_match on a non-CSAM list, and payment
        // holds without a case: the schema's category for the platform's own rules.
        _ => ("STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", vec![]),
    }
}

/// Map one statement of reasons; `None` for a decision that restricts nothing.
pub fn map(s: &Source) -> Option<DsaStatement> {
    let (visibility, monetary, provision) = match (s.outcome.as_str(), s.restriction.as_str()) {
        // A removed post is held out of sight, kept for an appeal (and, for CSAM, preserved):
        // access is disabled rather than the content deleted.
        ("removed", "content") => (
            Some(vec!["DECISION_VISIBILITY_CONTENT_DISABLED".to_owned()]),
            None,
            None,
        ),
        ("payouts_held", "payments") => (None, some("DECISION_MONETARY_SUSPENSION"), None),
        // The repeat-infringer policy stops publishing; the account and its sales go on.
        ("suspended", _) => (None, None, some("DECISION_PROVISION_PARTIAL_SUSPENSION")),
        _ => return None,
    };
    let automated_detection = s.case_kind.as_deref() == Some("hash_match");
    let source_type = match s.case_kind.as_deref() {
        _ if s.outcome == "suspended" => "SOURCE_VOLUNTARY",
        Some("authority") => "SOURCE_TYPE_OTHER_NOTIFICATION",
        Some(k) if k != "hash_match" && s.report_count > 0 => "SOURCE_ARTICLE_16",
        _ => "SOURCE_VOLUNTARY",
    };
    // A person decides every case; the policy's suspension and the hold on an expired identity
    // document follow from a rule without one.
    let automated_decision = if s.outcome == "suspended" || s.case_kind.is_none() {
        "AUTOMATED_DECISION_FULLY"
    } else {
        "AUTOMATED_DECISION_NOT_AUTOMATED"
    };
    let explanation = clip(&s.reason, MAX_EXPLANATION);
    let (ground, illegal_ground, illegal_expl, terms, terms_expl, terms_illegal) =
        match legal_ground(s) {
            Some(g) if s.outcome != "suspended" => (
                "DECISION_GROUND_ILLEGAL_CONTENT",
                Some(clip(&g, MAX_GROUND)),
                Some(explanation),
                None,
                None,
                None,
            ),
            _ => {
                let (g, illegal) = terms_ground(s);
                (
                    "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                    None,
                    None,
                    Some(clip(&g, MAX_GROUND)),
                    Some(explanation),
                    some(illegal),
                )
            }
        };
    let (category, keywords) = category(s);
    let (content_type, content_type_other) = if s.restriction == "payments" {
        (
            vec!["CONTENT_TYPE_OTHER".to_owned()],
            some("Creator payouts"),
        )
    } else if s.outcome == "suspended" {
        (
            vec!["CONTENT_TYPE_OTHER".to_owned()],
            some("Creator account (publishing)"),
        )
    } else if s.content.is_empty() {
        (vec!["CONTENT_TYPE_OTHER".to_owned()], some("Web page"))
    } else {
        let mut types: Vec<String> = s
            .content
            .iter()
            .map(|k| format!("CONTENT_TYPE_{}", k.to_uppercase()))
            .collect();
        types.sort();
        types.dedup();
        (types, None)
    };
    Some(DsaStatement {
        decision_visibility: visibility,
        decision_monetary: monetary,
        decision_provision: provision,
        decision_account: None,
        decision_ground: ground.into(),
        illegal_content_legal_ground: illegal_ground,
        illegal_content_explanation: illegal_expl,
        incompatible_content_ground: terms,
        incompatible_content_explanation: terms_expl,
        incompatible_content_illegal: terms_illegal,
        category: category.into(),
        category_specification: keywords,
        content_type,
        content_type_other,
        content_date: format_date(day_of(s.content_at.unwrap_or(s.created_at))),
        application_date: format_date(day_of(s.created_at)),
        territorial_scope: EU_COUNTRIES.iter().map(|c| c.to_string()).collect(),
        decision_facts: clip(&s.reason, MAX_FACTS),
        source_type: source_type.into(),
        automated_detection: if automated_detection { "Yes" } else { "No" }.into(),
        automated_decision: automated_decision.into(),
        puid: format!("fanz-sor-{}", s.statement_id),
    })
}

/// The body of the database's batch endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransparencyBatch)]
pub struct Batch {
    pub statements: Vec<DsaStatement>,
}

fn media_kind(k: &str) -> Option<&'static str> {
    match k {
        "image" => Some("image"),
        "video" => Some("video"),
        "audio" => Some("audio"),
        _ => None,
    }
}

/// What a post or media item is and when it was posted or uploaded.
async fn content_of(
    db: &mut Db,
    post_id: Option<i64>,
    media_id: Option<i64>,
) -> Result<(Vec<&'static str>, Option<i64>)> {
    let mut kinds = Vec::new();
    let mut at = None;
    if let Some(id) = post_id {
        if let Some(r) = sqlx::query("SELECT text, created_at FROM posts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *db)
            .await?
        {
            if !r.try_get::<String, _>(0)?.trim().is_empty() {
                kinds.push("text");
            }
            at = Some(r.try_get(1)?);
        }
        let rows = sqlx::query(
            "SELECT m.kind FROM post_media pm JOIN media m ON m.id = pm.media_id \
             WHERE pm.post_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *db)
        .await?;
        for r in rows {
            kinds.extend(media_kind(&r.try_get::<String, _>(0)?));
        }
    } else if let Some(id) = media_id {
        if let Some(r) = sqlx::query("SELECT kind, created_at FROM media WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *db)
            .await?
        {
            kinds.extend(media_kind(&r.try_get::<String, _>(0)?));
            at = Some(r.try_get(1)?);
        }
    }
    Ok((kinds, at))
}

/// The statements of reasons issued in `month` (`YYYY-MM`, by the statement's time) that
/// restrict something, in the database's schema, oldest first.
pub async fn month(db: &mut Db, month: &str) -> Result<Batch> {
    let (from, to) = month_bounds(month)?;
    let rows = sqlx::query(
        "SELECT s.id, s.outcome, s.restriction, s.reason, s.created_at, s.post_id, \
         c.id, c.kind, c.csam, c.report_count, c.media_id \
         FROM safety_statements s LEFT JOIN safety_cases c ON c.id = s.case_id \
         WHERE s.created_at >= $1 AND s.created_at < $2 ORDER BY s.created_at, s.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    let mut statements = Vec::with_capacity(rows.len());
    for r in rows {
        let mut s = Source {
            statement_id: r.try_get(0)?,
            outcome: r.try_get(1)?,
            restriction: r.try_get(2)?,
            reason: r.try_get(3)?,
            created_at: r.try_get(4)?,
            case_kind: r.try_get(7)?,
            csam: r.try_get::<Option<i64>, _>(8)?.unwrap_or(0) != 0,
            report_count: r.try_get::<Option<i64>, _>(9)?.unwrap_or(0),
            ..Default::default()
        };
        // Cheap check first: most statements of a month are takedowns.
        if map(&s).is_none() {
            continue;
        }
        let case_id: Option<i64> = r.try_get(6)?;
        if s.case_kind.as_deref() == Some("authority") {
            if let Some(id) = case_id {
                s.legal_basis = authority_basis(db, id).await?;
            }
        }
        if s.restriction == "content" && s.outcome == "removed" {
            let (kinds, at) = content_of(db, r.try_get(5)?, r.try_get(10)?).await?;
            s.content = kinds;
            s.content_at = at;
        }
        statements.extend(map(&s));
    }
    Ok(Batch { statements })
}

/// The legal basis an authority's request on case `case_id` named, if any.
async fn authority_basis(db: &mut Db, case_id: i64) -> Result<Option<String>> {
    let rows = sqlx::query(
        "SELECT authority FROM safety_reports WHERE case_id = $1 AND kind = 'authority' \
         ORDER BY id",
    )
    .bind(case_id)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        let Some(json) = r.try_get::<Option<String>, _>(0)? else {
            continue;
        };
        let basis = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v.get("legal_basis")?.as_str().map(str::to_owned))
            .filter(|b| !b.trim().is_empty());
        if basis.is_some() {
            return Ok(basis);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_2026_12_06: i64 = 1_796_515_200_000_000;

    fn takedown(kind: &str) -> Source {
        Source {
            statement_id: 7,
            outcome: "removed".into(),
            restriction: "content".into(),
            reason: "The video shows a person who did not agree to its publication.".into(),
            created_at: DAY_2026_12_06 + 3_600_000_000,
            case_kind: Some(kind.into()),
            report_count: 1,
            content: vec!["video", "text"],
            content_at: Some(DAY_2026_12_06 - 86_400_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn a_takedown_after_a_notice() {
        let s = map(&takedown("non_consensual")).unwrap();
        assert_eq!(
            s.decision_visibility,
            Some(vec!["DECISION_VISIBILITY_CONTENT_DISABLED".to_owned()])
        );
        assert_eq!(s.decision_monetary, None);
        assert_eq!(s.decision_ground, "DECISION_GROUND_INCOMPATIBLE_CONTENT");
        assert_eq!(s.incompatible_content_illegal.as_deref(), Some("Yes"));
        assert!(s.incompatible_content_ground.is_some());
        assert!(s.illegal_content_legal_ground.is_none());
        assert_eq!(s.category, "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR");
        assert_eq!(s.content_type, ["CONTENT_TYPE_TEXT", "CONTENT_TYPE_VIDEO"]);
        assert_eq!(s.source_type, "SOURCE_ARTICLE_16");
        assert_eq!(s.automated_detection, "No");
        assert_eq!(s.automated_decision, "AUTOMATED_DECISION_NOT_AUTOMATED");
        assert_eq!(s.application_date, "2026-12-06");
        assert_eq!(s.content_date, "2026-12-05");
        assert_eq!(s.puid, "fanz-sor-7");
        assert_eq!(s.territorial_scope.len(), 27);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("decision_account").is_none(), "{json}");
        assert!(json.get("illegal_content_explanation").is_none(), "{json}");
    }

    #[test]
    fn kinds_map_to_ground_and_category() {
        for (kind, ground, category) in [
            (
                "copyright",
                "DECISION_GROUND_ILLEGAL_CONTENT",
                "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
            ),
            (
                "underage",
                "DECISION_GROUND_ILLEGAL_CONTENT",
                "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
            ),
            (
                "authority",
                "DECISION_GROUND_ILLEGAL_CONTENT",
                "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
            ),
            (
                "illegal",
                "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
            ),
            (
                "impersonation",
                "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            ),
            (
                "other",
                "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
            ),
            (
                "hash_match",
                "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
            ),
        ] {
            let s = map(&takedown(kind)).unwrap();
            assert_eq!(s.decision_ground, ground, "{kind}");
            assert_eq!(s.category, category, "{kind}");
            let illegal = ground == "DECISION_GROUND_ILLEGAL_CONTENT";
            assert_eq!(s.illegal_content_legal_ground.is_some(), illegal, "{kind}");
            assert_eq!(s.illegal_content_explanation.is_some(), illegal, "{kind}");
            assert_eq!(s.incompatible_content_ground.is_some(), !illegal, "{kind}");
            assert_eq!(
                s.incompatible_content_explanation.is_some(),
                !illegal,
                "{kind}"
            );
        }
        let mut order = takedown("authority");
        order.legal_basis = Some("Court order 12/2026, Landgericht Berlin".into());
        order.report_count = 1;
        let s = map(&order).unwrap();
        assert_eq!(
            s.illegal_content_legal_ground.as_deref(),
            Some("Court order 12/2026, Landgericht Berlin")
        );
        assert_eq!(s.source_type, "SOURCE_TYPE_OTHER_NOTIFICATION");
    }

    #[test]
    fn a_hash_match_is_own_initiative_and_automated_detection() {
        let mut m = takedown("hash_match");
        m.report_count = 0;
        m.content = vec!["image"];
        let s = map(&m).unwrap();
        assert_eq!(s.source_type, "SOURCE_VOLUNTARY");
        assert_eq!(s.automated_detection, "Yes");
        assert_eq!(s.automated_decision, "AUTOMATED_DECISION_NOT_AUTOMATED");
        assert_eq!(s.content_type, ["CONTENT_TYPE_IMAGE"]);
        m.csam = true;
        let s = map(&m).unwrap();
        assert_eq!(s.category, "STATEMENT_CATEGORY_PROTECTION_OF_MINORS");
        assert_eq!(
            s.category_specification,
            ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]
        );
        assert_eq!(s.decision_ground, "DECISION_GROUND_ILLEGAL_CONTENT");
    }

    #[test]
    fn decisions_that_restrict_nothing_are_not_statements() {
        for outcome in ["no_action", "restored"] {
            let mut s = takedown("copyright");
            s.outcome = outcome.into();
            assert_eq!(map(&s), None, "{outcome}");
        }
        let released = Source {
            outcome: "payouts_released".into(),
            restriction: "payments".into(),
            ..Default::default()
        };
        assert_eq!(map(&released), None);
    }

    #[test]
    fn payment_holds_and_suspensions() {
        let hold = Source {
            statement_id: 9,
            outcome: "payouts_held".into(),
            restriction: "payments".into(),
            reason: "Your payouts are held: the document expired.\n\nGround: payouts go only \
                     to verified creators."
                .into(),
            created_at: DAY_2026_12_06,
            ..Default::default()
        };
        let s = map(&hold).unwrap();
        assert_eq!(s.decision_visibility, None);
        assert_eq!(
            s.decision_monetary.as_deref(),
            Some("DECISION_MONETARY_SUSPENSION")
        );
        assert_eq!(s.decision_ground, "DECISION_GROUND_INCOMPATIBLE_CONTENT");
        assert_eq!(
            s.incompatible_content_ground.as_deref(),
            Some("Terms of service: payouts go only to verified creators")
        );
        assert_eq!(s.content_type, ["CONTENT_TYPE_OTHER"]);
        assert_eq!(s.content_type_other.as_deref(), Some("Creator payouts"));
        assert_eq!(s.source_type, "SOURCE_VOLUNTARY");
        assert_eq!(s.automated_decision, "AUTOMATED_DECISION_FULLY");
        assert_eq!(s.content_date, s.application_date);

        let mut suspension = takedown("copyright");
        suspension.outcome = "suspended".into();
        let s = map(&suspension).unwrap();
        assert_eq!(
            s.decision_provision.as_deref(),
            Some("DECISION_PROVISION_PARTIAL_SUSPENSION")
        );
        assert_eq!(s.decision_visibility, None);
        assert_eq!(s.decision_ground, "DECISION_GROUND_INCOMPATIBLE_CONTENT");
        assert_eq!(
            s.category,
            "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
        );
        assert_eq!(s.source_type, "SOURCE_VOLUNTARY");
    }

    #[test]
    fn long_reasons_fit_the_fields() {
        let mut s = takedown("copyright");
        s.reason = "é".repeat(6000);
        let d = map(&s).unwrap();
        assert_eq!(d.decision_facts.chars().count(), MAX_FACTS);
        assert_eq!(
            d.illegal_content_explanation.unwrap().chars().count(),
            MAX_EXPLANATION
        );
    }
}

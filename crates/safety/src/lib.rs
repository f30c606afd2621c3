//! Trust & safety: onboarding and the records of who is depicted, review before publication,
//! complaints and takedowns, privacy requests.
//!
//! - [`reports`]: a notice from anyone, signed in or not (illegal content, non-consensual,
//!   underage, impersonation, copyright with the DMCA's statutory fields, other), with the EU
//!   DSA's notice fields; throttled per IP; acknowledged by mail. Reports of one URL join one
//!   undecided case, so a mass campaign makes one case with many reports.
//! - [`cases`]: the case per URL (open → escalated → decided: removed, restored, no action),
//!   due 7 business days after the report ([`deadlines`]); illegal, non-consensual and
//!   underage reports of a post hide it at once pending review; a decision writes a statement
//!   of reasons to the affected creator, who may appeal for 6 months.
//! - [`UnderReview`]: the publish gate's check that keeps a held post out of sight.
//! - [`onboarding`]: the creator agreement and identity verification through providers (a
//!   sandbox among them); [`records`]: the 2257 record of every person depicted, with
//!   [`documents`] encrypted at rest, read only by compliance and audited; [`performers`]: who
//!   appears in each media item and their consent, and the publish gate's check of them;
//!   [`export`]: the inspection export of the records.
//! - [`privacy`]: a person's export of everything they own and the erasure of their account,
//!   keeping what the law requires (the ledger, 2257 records, cases).
//! - [`age`]: viewer age assurance by place — rules per cluster and country or region (allow,
//!   block, assure with methods), where a viewer is, providers (a sandbox among them), passes.
//! - [`dmca`]: DMCA counter-notices (restoration after 10 business days unless the
//!   complainant files an action) and the repeat-infringer policy (strikes, and the publish
//!   gate's [`dmca::RepeatInfringer`] check). Requests from authorities are a report kind of
//!   their own, unverified until a compliance officer confirms them.
//! - [`csam`]: apparent CSAM (an underage report, a match against a `csam` hash list):
//!   quarantine, one year's preservation, suspension, a payout hold with a statement of
//!   reasons, and the report record compliance files with NCMEC through a [`tipline`].
//! - [`monthly`]: the monthly report of notices, decisions and their times, per cluster.
//! - [`transparency`]: a month's statements of reasons that restrict something, in the EU
//!   DSA Transparency Database's statement schema (art. 24(5)), for the operator to submit.
//! - [`jobs`]: the deadline job (escalation, overdue) and the expiry of identity documents.
//! - Review before publication: [`hashes`] (PDQ hash lists; a match quarantines the item and
//!   opens a case), [`terms`] (banned terms per cluster), [`checks::AutomatedChecks`] and
//!   [`review::HumanReview`] (the gate's checks) and [`review`] (the review queue).
//!
//! Owns `safety_cases`, `safety_reports`, `safety_statements`, `safety_agreements`,
//! `safety_performers`, `safety_aliases`, `safety_documents`, `safety_verifications` and
//! `safety_media_performers`, `safety_age_checks`, `safety_age_passes`, `safety_counter_notices`,
//! `safety_strikes`, `safety_csam_reports`, `safety_csam_files`, `safety_suspensions` and
//! `privacy_exports`. Posts are hidden and shown
//! through content's functions, never by writing content's tables.

pub mod age;
pub mod cases;
pub mod checks;
pub mod csam;
pub mod deadlines;
pub mod dmca;
pub mod documents;
pub mod export;
pub mod hashes;
pub mod jobs;
pub mod monthly;
pub mod onboarding;
pub mod performers;
pub mod privacy;
pub mod records;
pub mod reports;
pub mod review;
pub mod terms;
pub mod tipline;
pub mod transparency;

use fanz_content::{Content, GateCheck, Post, Refusal};
use fanz_core::{Role, ValidationError};
use fanz_store::{sqlx, Db};

/// The roles that see and decide cases (the one place this is decided).
pub const REVIEWERS: &[Role] = &[Role::Moderator, Role::Compliance, Role::Admin];

/// Whether someone holding `roles` reviews cases.
pub fn is_reviewer(roles: &[Role]) -> bool {
    roles.iter().any(|r| REVIEWERS.contains(r))
}

/// Why a trust & safety operation was refused. Each variant has a stable code and HTTP status
/// (mapped in the web crate's error module).
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("not found")]
    NotFound,
    #[error("{1}")]
    Conflict(&'static str, &'static str),
    #[error("{0}")]
    VerificationRequired(&'static str),
    #[error("the result's signature does not verify")]
    Unauthenticated,
    #[error("a sealed document cannot be opened (wrong key, or damaged)")]
    Sealed,
    #[error("too many reports from this address; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("this site is not available where you are")]
    RegionBlocked,
    #[error("an age check is required where you are; methods accepted: {}", .0.join(", "))]
    AgeAssuranceRequired(Vec<&'static str>),
    #[error(
        "an export is being made, or three were asked for today; try again in {retry_after_secs} s"
    )]
    TooManyExports { retry_after_secs: u64 },
    #[error("only the compliance role may see or act on this")]
    ComplianceOnly,
    #[error("{0}")]
    Suspended(String),
    #[error("{0}")]
    Tipline(String),
    #[error(transparent)]
    Content(#[from] fanz_content::ContentError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] fanz_audit::AuditError),
}

pub type Result<T, E = SafetyError> = std::result::Result<T, E>;

impl From<fanz_identity::IdentityError> for SafetyError {
    fn from(e: fanz_identity::IdentityError) -> Self {
        match e {
            fanz_identity::IdentityError::Database(e) => SafetyError::Database(e),
            other => SafetyError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_media::MediaError> for SafetyError {
    fn from(e: fanz_media::MediaError) -> Self {
        match e {
            fanz_media::MediaError::Database(e) => SafetyError::Database(e),
            fanz_media::MediaError::Audit(e) => SafetyError::Audit(e),
            fanz_media::MediaError::NotFound => SafetyError::NotFound,
            fanz_media::MediaError::Preserved => SafetyError::Conflict(
                "preserved",
                "this item is preserved by a legal hold and cannot be deleted",
            ),
            other => SafetyError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_jobs::JobsError> for SafetyError {
    fn from(e: fanz_jobs::JobsError) -> Self {
        match e {
            fanz_jobs::JobsError::Database(e) => SafetyError::Database(e),
            other => SafetyError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

pub(crate) fn invalid(
    field: &'static str,
    code: &'static str,
    msg: impl Into<String>,
) -> SafetyError {
    SafetyError::Invalid(ValidationError::new(field, code, msg))
}

/// The post a reported URL names: `/p/{id}` or `/c/{slug}/p/{id}`, as a path or an absolute
/// http(s) URL on one of `hosts` (the clusters' hosts and the host the report came to).
pub fn resolve_post(url: &str, hosts: &[String]) -> Option<i64> {
    let url = url.trim();
    let path = if url.starts_with('/') {
        url
    } else {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        let (host, path) = rest.split_at(rest.find('/')?);
        let host = host.to_ascii_lowercase();
        let bare = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(&host);
        if !hosts.iter().any(|h| {
            let h = h.to_ascii_lowercase();
            h == host || h == bare
        }) {
            return None;
        }
        path
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let id = match segs.as_slice() {
        ["p", id] => id,
        ["c", _, "p", id] => id,
        _ => return None,
    };
    id.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The publish gate's check: a post held by a case (hidden pending review, or removed) may
/// not be published again until a decision restores it.
pub struct UnderReview;

#[async_trait::async_trait]
impl GateCheck for UnderReview {
    fn name(&self) -> &'static str {
        "under_review"
    }

    async fn check(
        &self,
        db: &mut Db,
        _: &Content,
        post: &Post,
    ) -> fanz_content::Result<Vec<Refusal>> {
        let held = sqlx::query("SELECT 1 FROM safety_cases WHERE post_id = $1 AND hold = 1")
            .bind(post.id)
            .fetch_optional(&mut *db)
            .await?;
        Ok(match held {
            Some(_) => vec![Refusal::new(
                "under_review",
                "this post was taken down after a report; see your statements of reasons",
            )],
            None => vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_post;

    #[test]
    fn urls_name_posts() {
        let hosts = vec!["fanzlab.localhost".to_string(), "127.0.0.1:8080".into()];
        assert_eq!(resolve_post("/p/12", &hosts), Some(12));
        assert_eq!(resolve_post("/c/fanzlab/p/12?x=1#c", &hosts), Some(12));
        assert_eq!(
            resolve_post("https://fanzlab.localhost/p/7/", &hosts),
            Some(7)
        );
        assert_eq!(
            resolve_post("http://fanzlab.localhost:8080/p/7", &hosts),
            Some(7)
        );
        assert_eq!(
            resolve_post("http://127.0.0.1:8080/c/x/p/9", &hosts),
            Some(9)
        );
        assert_eq!(resolve_post("https://elsewhere.example/p/7", &hosts), None);
        assert_eq!(resolve_post("/p/abc", &hosts), None);
        assert_eq!(resolve_post("/u/someone", &hosts), None);
        assert_eq!(resolve_post("ftp://fanzlab.localhost/p/1", &hosts), None);
    }
}

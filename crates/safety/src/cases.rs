//! Cases: one per reported URL while undecided. Moderators and compliance officers list and
//! decide them; a decision is audited, stored as a statement of reasons for the affected
//! creator and mailed to them and to the reporters; the creator may appeal for 6 months,
//! which reopens the case with a new deadline.

use crate::deadlines::{self, DeadlineAction};
use crate::reports::rfc3339;
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_content::Content;
use fanz_core::check_text;
use fanz_core::clock::DAY;
use fanz_identity::mail::{enqueue, Mail};
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// How long after a decision the affected creator may appeal (6 months, rounded up).
pub const APPEAL_WINDOW: i64 = 183 * DAY;
pub const STATUSES: [&str; 3] = ["open", "escalated", "decided"];
pub const OUTCOMES: [&str; 3] = ["removed", "restored", "no_action"];
pub const MAX_REASON: usize = 5000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Case {
    pub id: i64,
    /// `/p/{id}` for a post, else the reported URL.
    pub url: String,
    pub post_id: Option<i64>,
    pub author_id: Option<i64>,
    /// The most serious kind reported.
    pub kind: String,
    /// open | escalated | decided
    pub status: String,
    /// removed | restored | no_action, once decided.
    pub outcome: Option<String>,
    pub reason: Option<String>,
    /// The post is held out of sight (pending review, or removed).
    pub hold: bool,
    pub overdue: bool,
    pub report_count: i64,
    pub received_at: i64,
    pub due_at: i64,
    pub escalated_at: Option<i64>,
    pub decided_at: Option<i64>,
    /// For a hash match (`kind` `hash_match`): the quarantined media item.
    pub media_id: Option<i64>,
    /// Apparent CSAM: only the compliance role reads its report record and decides it
    /// (`/api/v1/compliance/csam`).
    pub csam: bool,
}

const CASE_COLUMNS: &str = "id, url, post_id, author_id, kind, status, outcome, reason, hold, \
    overdue, report_count, received_at, due_at, escalated_at, decided_at, media_id, csam";

fn case_row(r: &sqlx::any::AnyRow) -> Result<Case> {
    Ok(Case {
        id: r.try_get(0)?,
        url: r.try_get(1)?,
        post_id: r.try_get(2)?,
        author_id: r.try_get(3)?,
        kind: r.try_get(4)?,
        status: r.try_get(5)?,
        outcome: r.try_get(6)?,
        reason: r.try_get(7)?,
        hold: r.try_get::<i64, _>(8)? != 0,
        overdue: r.try_get::<i64, _>(9)? != 0,
        report_count: r.try_get(10)?,
        received_at: r.try_get(11)?,
        due_at: r.try_get(12)?,
        escalated_at: r.try_get(13)?,
        decided_at: r.try_get(14)?,
        media_id: r.try_get(15)?,
        csam: r.try_get::<i64, _>(16)? != 0,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub id: i64,
    pub kind: String,
    pub url: String,
    pub details: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub reporter_id: Option<i64>,
    /// The copyright notice's statutory fields.
    #[schema(value_type = Option<Object>)]
    pub dmca: Option<serde_json::Value>,
    /// A request from an authority: its name, reference, legal basis and contact.
    #[schema(value_type = Option<Object>)]
    pub authority: Option<serde_json::Value>,
    /// When a compliance officer confirmed an authority's request came from it (unverified
    /// until then).
    pub verified_at: Option<i64>,
    pub received_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub id: i64,
    /// The case decided; none for a payment restriction without one (an expired identity
    /// document).
    pub case_id: Option<i64>,
    pub post_id: Option<i64>,
    /// What was restricted: `content`, or `payments` (EU DSA art. 17(1)(b)).
    pub restriction: String,
    pub outcome: String,
    pub reason: String,
    pub created_at: i64,
    /// The last moment an appeal is accepted.
    pub appeal_until: i64,
    pub appeal_text: Option<String>,
    pub appealed_at: Option<i64>,
}

fn statement_row(r: &sqlx::any::AnyRow) -> Result<Statement> {
    let created_at: i64 = r.try_get(5)?;
    Ok(Statement {
        id: r.try_get(0)?,
        case_id: r.try_get(1)?,
        post_id: r.try_get(2)?,
        restriction: r.try_get(8)?,
        outcome: r.try_get(3)?,
        reason: r.try_get(4)?,
        created_at,
        appeal_until: created_at + APPEAL_WINDOW,
        appeal_text: r.try_get(6)?,
        appealed_at: r.try_get(7)?,
    })
}

const STATEMENT_COLUMNS: &str =
    "id, case_id, post_id, outcome, reason, created_at, appeal_text, appealed_at, restriction";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: Case,
    pub reports: Vec<Report>,
    pub statements: Vec<Statement>,
    /// DMCA counter-notices filed against the takedown.
    pub counter_notices: Vec<crate::dmca::CounterNotice>,
    /// The affected creator's standing copyright strikes (repeat-infringer policy).
    pub author_strikes: Option<i64>,
}

/// Cases by status (none: every undecided one), most urgent first.
pub async fn list(db: &mut Db, status: Option<&str>, limit: i64) -> Result<Vec<Case>> {
    let rows = match status {
        Some(s) => {
            if !STATUSES.contains(&s) {
                return Err(invalid(
                    "status",
                    "invalid_status",
                    format!("status must be one of {}", STATUSES.join(", ")),
                ));
            }
            sqlx::query(&format!(
                "SELECT {CASE_COLUMNS} FROM safety_cases WHERE status = $1 \
                 ORDER BY due_at, id LIMIT $2"
            ))
            .bind(s)
            .bind(limit)
            .fetch_all(&mut *db)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {CASE_COLUMNS} FROM safety_cases WHERE status <> 'decided' \
                 ORDER BY due_at, id LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(&mut *db)
            .await?
        }
    };
    rows.iter().map(case_row).collect()
}

pub async fn get(db: &mut Db, id: i64) -> Result<Case> {
    let row = sqlx::query(&format!(
        "SELECT {CASE_COLUMNS} FROM safety_cases WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    case_row(&row)
}

/// A case with its reports, statements, counter-notices and its creator's strikes at `now`.
pub async fn detail(
    db: &mut Db,
    id: i64,
    policy: &crate::dmca::Policy,
    now: i64,
) -> Result<CaseDetail> {
    let case = get(db, id).await?;
    let reports = sqlx::query(
        "SELECT id, kind, url, details, name, email, reporter_id, dmca, received_at, authority, \
         verified_at FROM safety_reports WHERE case_id = $1 ORDER BY id LIMIT 500",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| {
        Ok(Report {
            id: r.try_get(0)?,
            kind: r.try_get(1)?,
            url: r.try_get(2)?,
            details: r.try_get(3)?,
            name: r.try_get(4)?,
            email: r.try_get(5)?,
            reporter_id: r.try_get(6)?,
            dmca: r
                .try_get::<Option<String>, _>(7)?
                .and_then(|s| serde_json::from_str(&s).ok()),
            received_at: r.try_get(8)?,
            authority: r
                .try_get::<Option<String>, _>(9)?
                .and_then(|s| serde_json::from_str(&s).ok()),
            verified_at: r.try_get(10)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let statements = sqlx::query(&format!(
        "SELECT {STATEMENT_COLUMNS} FROM safety_statements WHERE case_id = $1 ORDER BY id"
    ))
    .bind(id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(statement_row)
    .collect::<Result<Vec<_>>>()?;
    let counter_notices = crate::dmca::for_case(db, id).await?;
    let author_strikes = match case.author_id {
        Some(a) => Some(crate::dmca::active_strikes(db, a, policy, now).await?),
        None => None,
    };
    Ok(CaseDetail {
        case,
        reports,
        statements,
        counter_notices,
        author_strikes,
    })
}

#[allow(clippy::too_many_arguments)]
/// Decide an undecided case: `removed` keeps (or puts) the post out of sight, `restored` and
/// `no_action` release the hold and show a post hidden for review again (through the gate).
/// Writes the statement of reasons and mails it to the creator, and the outcome to the
/// reporters. A copyright takedown is a strike under the repeat-infringer `policy`; a decision
/// that reverses one (after an appeal) lifts it.
pub async fn decide(
    db: &mut Db,
    env: &Content,
    policy: &crate::dmca::Policy,
    id: i64,
    outcome: &str,
    reason: &str,
    moderator_id: i64,
    now: i64,
    actor: &Actor,
) -> Result<Statement> {
    if !OUTCOMES.contains(&outcome) {
        return Err(invalid(
            "outcome",
            "invalid_outcome",
            format!("outcome must be one of {}", OUTCOMES.join(", ")),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(invalid(
            "reason",
            "reason_required",
            "a statement of reasons is required",
        ));
    }
    if get(db, id).await?.csam {
        return Err(SafetyError::Conflict(
            "csam_case",
            "a CSAM case is decided by compliance through its report record",
        ));
    }
    decide_unchecked(
        db,
        env,
        Some(policy),
        id,
        outcome,
        reason,
        moderator_id,
        now,
        actor,
    )
    .await
}

/// [`decide`] without refusing a CSAM case (its workflow decides it); without a `policy`, a
/// takedown is no strike.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn decide_unchecked(
    db: &mut Db,
    env: &Content,
    policy: Option<&crate::dmca::Policy>,
    id: i64,
    outcome: &str,
    reason: &str,
    moderator_id: i64,
    now: i64,
    actor: &Actor,
) -> Result<Statement> {
    check_text("reason", reason, MAX_REASON)?;
    let case = get(db, id).await?;
    if case.status == "decided" {
        return Err(SafetyError::Conflict(
            "case_decided",
            "this case is already decided",
        ));
    }
    let hold = outcome == "removed" && case.post_id.is_some();
    sqlx::query(
        "UPDATE safety_cases SET status = 'decided', outcome = $1, reason = $2, hold = $3, \
         decided_at = $4, decided_by = $5, updated_at = $4 WHERE id = $6",
    )
    .bind(outcome)
    .bind(reason)
    .bind(hold as i64)
    .bind(now)
    .bind(moderator_id)
    .bind(id)
    .execute(&mut *db)
    .await?;
    // A reversed takedown no longer counts as a strike; lifted before the post is shown again,
    // since the strike may be what keeps the gate shut.
    if outcome != "removed" {
        crate::dmca::lift_strikes(db, id, "reversed", now, actor).await?;
    }
    // A hash match: removed keeps the item quarantined; otherwise it is released.
    if let Some(media_id) = case.media_id {
        if outcome != "removed" {
            fanz_media::release(db, media_id, actor).await?;
        }
    }
    if let Some(post_id) = case.post_id {
        if hold {
            fanz_content::posts::hide_for_review(
                db,
                post_id,
                &format!("removed (case {id})"),
                actor,
            )
            .await?;
        } else if case.hold {
            fanz_content::posts::restore_after_review(db, env, post_id, actor).await?;
        }
    }
    let sid: i64 = sqlx::query(
        "INSERT INTO safety_statements (case_id, user_id, post_id, outcome, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(id)
    .bind(case.author_id)
    .bind(case.post_id)
    .bind(outcome)
    .bind(reason)
    .bind(now)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    record(
        db,
        actor,
        "safety.case_decided",
        Some(&format!("case:{id}")),
        json!({"outcome": outcome, "reason": reason, "post_id": case.post_id,
               "statement_id": sid, "overdue": case.overdue}),
    )
    .await?;
    let copyright_takedown = outcome == "removed" && case.kind == "copyright";
    let what = match outcome {
        "removed" => "was removed",
        "restored" => "was restored",
        _ => "was left as it is",
    };
    if let Some(author) = case.author_id {
        let user = fanz_identity::find_user(db, author).await?;
        enqueue(
            db,
            &Mail {
                to: user.email,
                subject: format!("Statement of reasons: your content {what}"),
                body: format!(
                    "After reports of {} ({}), your content {what}.\n\nReasons: {reason}\n\n\
                     The decision was taken by a person on {}. You may appeal it until {} from \
                     your account (statement {sid}).\n",
                    case.url,
                    case.kind.replace('_', "-"),
                    rfc3339(now),
                    rfc3339(now + APPEAL_WINDOW),
                ) + &if copyright_takedown && case.post_id.is_some() {
                    format!(
                        "\nIf you believe the material was removed by mistake or \
                         misidentification, you may file a DMCA counter-notice at \
                         /statements/{sid} (17 U.S.C. 512(g)).\n"
                    )
                } else {
                    String::new()
                },
            },
        )
        .await?;
    }
    let reporters: Vec<String> = sqlx::query(
        "SELECT DISTINCT email FROM safety_reports WHERE case_id = $1 AND email IS NOT NULL",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    for to in reporters {
        enqueue(
            db,
            &Mail {
                to,
                subject: format!("Decision on your report (case {id})"),
                body: format!("The content you reported, {}, {what}.\n", case.url),
            },
        )
        .await?;
    }
    // After the statement, so a suspension's statement follows the takedown's.
    if let (Some(author), true, Some(policy)) = (case.author_id, copyright_takedown, policy) {
        crate::dmca::add_strike(db, author, id, policy, now, actor).await?;
    }
    statement(db, sid).await
}

/// `user_id`'s statement `id`; someone else's is [`SafetyError::NotFound`].
pub async fn statement_of(db: &mut Db, user_id: i64, id: i64) -> Result<Statement> {
    let row = sqlx::query(&format!(
        "SELECT {STATEMENT_COLUMNS}, user_id FROM safety_statements WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    if row.try_get::<Option<i64>, _>("user_id")? != Some(user_id) {
        return Err(SafetyError::NotFound);
    }
    statement_row(&row)
}

async fn statement(db: &mut Db, id: i64) -> Result<Statement> {
    let row = sqlx::query(&format!(
        "SELECT {STATEMENT_COLUMNS} FROM safety_statements WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    statement_row(&row)
}

/// A statement of reasons for holding (`held`) or releasing a creator's payouts (EU DSA
/// art. 17(1)(b)): the facts, the ground and the way to appeal, stored for the creator
/// (`GET /api/v1/me/statements`) and mailed to them. Audited.
#[allow(clippy::too_many_arguments)]
pub async fn payment_statement(
    db: &mut Db,
    user_id: i64,
    case_id: Option<i64>,
    held: bool,
    facts: &str,
    ground: &str,
    now: i64,
    actor: &Actor,
) -> Result<Statement> {
    let outcome = if held {
        "payouts_held"
    } else {
        "payouts_released"
    };
    let reason = format!("{facts}\n\nGround: {ground}.");
    let sid: i64 = sqlx::query(
        "INSERT INTO safety_statements (case_id, user_id, outcome, reason, created_at, \
         restriction) VALUES ($1, $2, $3, $4, $5, 'payments') RETURNING id",
    )
    .bind(case_id)
    .bind(user_id)
    .bind(outcome)
    .bind(&reason)
    .bind(now)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    record(
        db,
        actor,
        "safety.payment_statement",
        Some(&format!("user:{user_id}")),
        json!({"statement_id": sid, "outcome": outcome, "case_id": case_id}),
    )
    .await?;
    let user = fanz_identity::find_user(db, user_id).await?;
    let what = if held { "are held" } else { "are released" };
    enqueue(
        db,
        &Mail {
            to: user.email,
            subject: format!("Statement of reasons: your payouts {what}"),
            body: format!(
                "{reason}\n\nThis decision was taken on {} and applies from then. You may \
                 appeal it until {} from your account (statement {sid}); a person will review \
                 your appeal.\n",
                rfc3339(now),
                rfc3339(now + APPEAL_WINDOW),
            ),
        },
    )
    .await?;
    statement(db, sid).await
}

/// The last payment statement of `user_id`: whether it held their payouts.
pub async fn payouts_held_by_statement(db: &mut Db, user_id: i64) -> Result<bool> {
    Ok(sqlx::query(
        "SELECT outcome FROM safety_statements WHERE user_id = $1 AND restriction = 'payments' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?
    .map(|r| r.try_get::<String, _>(0))
    .transpose()?
    .is_some_and(|o| o == "payouts_held"))
}

/// The statements of reasons addressed to `user_id`, newest first.
pub async fn statements_for(db: &mut Db, user_id: i64) -> Result<Vec<Statement>> {
    sqlx::query(&format!(
        "SELECT {STATEMENT_COLUMNS} FROM safety_statements WHERE user_id = $1 \
         ORDER BY id DESC LIMIT 200"
    ))
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(statement_row)
    .collect()
}

/// The affected creator appeals a statement: the case is reopened with a new deadline (a
/// removed post stays out of sight until decided again). Someone else's statement is
/// [`SafetyError::NotFound`].
pub async fn appeal(
    db: &mut Db,
    user_id: i64,
    statement_id: i64,
    text: &str,
    now: i64,
    actor: &Actor,
) -> Result<Case> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid(
            "text",
            "appeal_text_required",
            "say why the decision is wrong",
        ));
    }
    check_text("text", text, MAX_REASON)?;
    let row = sqlx::query(
        "SELECT user_id, case_id, created_at, appealed_at FROM safety_statements WHERE id = $1",
    )
    .bind(statement_id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    if row.try_get::<Option<i64>, _>(0)? != Some(user_id) {
        return Err(SafetyError::NotFound);
    }
    let case_id: Option<i64> = row.try_get(1)?;
    if row.try_get::<Option<i64>, _>(3)?.is_some() {
        return Err(SafetyError::Conflict(
            "already_appealed",
            "this decision was already appealed",
        ));
    }
    if now > row.try_get::<i64, _>(2)? + APPEAL_WINDOW {
        return Err(SafetyError::Conflict(
            "appeal_window_closed",
            "the 6 months to appeal this decision are over",
        ));
    }
    // A payment restriction without a case: the appeal opens one for reviewers.
    let case_id = match case_id {
        Some(id) => id,
        None => {
            let url = format!("/u/{user_id}/payouts");
            let busy =
                sqlx::query("SELECT 1 FROM safety_cases WHERE url = $1 AND status <> 'decided'")
                    .bind(&url)
                    .fetch_optional(&mut *db)
                    .await?;
            if busy.is_some() {
                return Err(SafetyError::Conflict(
                    "case_open",
                    "an appeal about your payouts is already under review",
                ));
            }
            let id: i64 = sqlx::query(
                "INSERT INTO safety_cases (url, author_id, kind, status, received_at, due_at, \
                 updated_at) VALUES ($1, $2, 'payments', 'decided', $3, $4, $3) RETURNING id",
            )
            .bind(&url)
            .bind(user_id)
            .bind(now)
            .bind(deadlines::due_at(now))
            .fetch_one(&mut *db)
            .await?
            .try_get(0)?;
            sqlx::query("UPDATE safety_statements SET case_id = $1 WHERE id = $2")
                .bind(id)
                .bind(statement_id)
                .execute(&mut *db)
                .await?;
            id
        }
    };
    let case = get(db, case_id).await?;
    if case.status != "decided" {
        return Err(SafetyError::Conflict(
            "case_open",
            "this case is already under review",
        ));
    }
    let busy = sqlx::query("SELECT 1 FROM safety_cases WHERE url = $1 AND status <> 'decided'")
        .bind(&case.url)
        .fetch_optional(&mut *db)
        .await?;
    if busy.is_some() {
        return Err(SafetyError::Conflict(
            "case_open",
            "a newer case about this content is under review",
        ));
    }
    sqlx::query("UPDATE safety_statements SET appeal_text = $1, appealed_at = $2 WHERE id = $3")
        .bind(text)
        .bind(now)
        .bind(statement_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "UPDATE safety_cases SET status = 'open', outcome = NULL, due_at = $1, overdue = 0, \
         escalated_at = NULL, decided_at = NULL, decided_by = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(deadlines::due_at(now))
    .bind(now)
    .bind(case_id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.appealed",
        Some(&format!("case:{case_id}")),
        json!({"statement_id": statement_id}),
    )
    .await?;
    get(db, case_id).await
}

/// The deadline job at `now`: escalate open cases 2 business days before they are due, mark
/// them overdue after. Returns (escalated, marked overdue).
pub async fn run_deadlines(db: &mut Db, now: i64, actor: &Actor) -> Result<(u64, u64)> {
    let rows = sqlx::query(
        "SELECT id, status, overdue, due_at FROM safety_cases WHERE status <> 'decided' \
         ORDER BY due_at LIMIT 1000",
    )
    .fetch_all(&mut *db)
    .await?;
    let (mut escalated, mut overdue) = (0, 0);
    for r in rows {
        let id: i64 = r.try_get(0)?;
        let status: String = r.try_get(1)?;
        let is_overdue = r.try_get::<i64, _>(2)? != 0;
        let due: i64 = r.try_get(3)?;
        let Some(action) = deadlines::deadline_action(&status, is_overdue, due, now) else {
            continue;
        };
        let (sql, what) = match action {
            DeadlineAction::Escalate => {
                escalated += 1;
                (
                    "UPDATE safety_cases SET status = 'escalated', escalated_at = $1, \
                     updated_at = $1 WHERE id = $2",
                    "safety.case_escalated",
                )
            }
            DeadlineAction::MarkOverdue => {
                overdue += 1;
                (
                    "UPDATE safety_cases SET status = 'escalated', overdue = 1, \
                     escalated_at = COALESCE(escalated_at, $1), updated_at = $1 WHERE id = $2",
                    "safety.case_overdue",
                )
            }
        };
        sqlx::query(sql)
            .bind(now)
            .bind(id)
            .execute(&mut *db)
            .await?;
        record(
            db,
            actor,
            what,
            Some(&format!("case:{id}")),
            json!({"due_at": due}),
        )
        .await?;
    }
    Ok((escalated, overdue))
}

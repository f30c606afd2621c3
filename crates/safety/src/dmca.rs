//! DMCA counter-notices (17 U.S.C. 512(g)) and the repeat-infringer policy (512(i)).
//!
//! - A creator whose post a copyright case removed files a counter-notice with the statutory
//!   elements of 512(g)(3) against the statement of reasons that told them. The complainants
//!   get a copy; the post is restored by the deadline job 10 business days after receipt (the
//!   earliest 512(g)(2)(C) allows; the job runs every 15 minutes, far inside the 14-day
//!   limit) unless a reviewer records that the complainant filed an action for a court order.
//!   Restoration goes through content's restore function and so through the publish gate.
//! - Every upheld copyright takedown is a strike against the creator. A counter-notice that
//!   restores the post, or a new decision after an appeal, lifts it. [`Policy::strikes`] strikes
//!   within [`Policy::window`] suspend the account from publishing: [`RepeatInfringer`] is the
//!   publish gate's check, and reaching the threshold writes a statement of reasons the
//!   creator may appeal like any other.

use crate::cases::{self, Statement};
use crate::deadlines::add_business_days;
use crate::reports::rfc3339;
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_content::{Content, GateCheck, Post, Refusal};
use fanz_core::clock::{now_micros, DAY};
use fanz_core::{check_text, Email};
use fanz_identity::mail::{enqueue, Mail};
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// Business days after receipt before a counter-noticed post is restored (512(g)(2)(C): not
/// less than 10, not more than 14).
pub const RESTORE_AFTER_BUSINESS_DAYS: i64 = 10;
pub const RESTORE_BY_BUSINESS_DAYS: i64 = 14;
pub const MAX_FIELD: usize = 2000;

/// The repeat-infringer policy: `strikes` upheld copyright takedowns within `window`
/// (microseconds) suspend publishing.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub strikes: i64,
    pub window: i64,
}

impl Policy {
    pub fn new(strikes: i64, window_days: i64) -> Self {
        Self {
            strikes: strikes.max(1),
            window: window_days.max(1) * DAY,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(3, 365)
    }
}

/// A counter-notice (17 U.S.C. 512(g)(3)).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCounterNotice {
    /// Identification of the material that was removed.
    #[serde(default)]
    pub material: String,
    /// Where the material appeared before it was removed (its URL).
    #[serde(default)]
    pub location: String,
    /// The subscriber's full name.
    #[serde(default)]
    pub name: String,
    /// Postal address.
    #[serde(default)]
    pub address: String,
    /// Telephone number.
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: Option<String>,
    /// The address is outside the United States: consent is to any judicial district in
    /// which the service provider may be found.
    #[serde(default)]
    pub outside_us: bool,
    /// "I swear, under penalty of perjury, that I have a good faith belief that the material
    /// was removed or disabled as a result of mistake or misidentification."
    #[serde(default)]
    pub good_faith_under_penalty: Option<bool>,
    /// Consent to the jurisdiction of the Federal District Court for the judicial district of
    /// the address (or, outside the US, any judicial district where the provider may be found).
    #[serde(default)]
    pub consent_to_jurisdiction: Option<bool>,
    /// Acceptance of service of process from the person who filed the notice, or their agent.
    #[serde(default)]
    pub accept_service: Option<bool>,
    /// The subscriber's typed name, as a signature; must match `name`.
    #[serde(default)]
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CounterNotice {
    pub id: i64,
    pub case_id: i64,
    pub statement_id: i64,
    pub user_id: i64,
    pub post_id: i64,
    /// waiting | restored | action_filed
    pub status: String,
    pub material: String,
    pub location: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub email: Option<String>,
    pub outside_us: bool,
    pub signature: String,
    pub received_at: i64,
    /// The post is restored from then (10 business days after receipt)…
    pub restore_at: i64,
    /// …and no later than then (14 business days).
    pub restore_by: i64,
    pub restored_at: Option<i64>,
    pub action_filed_at: Option<i64>,
    pub action_note: Option<String>,
}

const COLUMNS: &str = "id, case_id, statement_id, user_id, post_id, status, material, location, \
    name, address, phone, email, outside_us, signature, received_at, restore_at, restore_by, \
    restored_at, action_filed_at, action_note";

fn row(r: &sqlx::any::AnyRow) -> Result<CounterNotice> {
    Ok(CounterNotice {
        id: r.try_get(0)?,
        case_id: r.try_get(1)?,
        statement_id: r.try_get(2)?,
        user_id: r.try_get(3)?,
        post_id: r.try_get(4)?,
        status: r.try_get(5)?,
        material: r.try_get(6)?,
        location: r.try_get(7)?,
        name: r.try_get(8)?,
        address: r.try_get(9)?,
        phone: r.try_get(10)?,
        email: r.try_get(11)?,
        outside_us: r.try_get::<i64, _>(12)? != 0,
        signature: r.try_get(13)?,
        received_at: r.try_get(14)?,
        restore_at: r.try_get(15)?,
        restore_by: r.try_get(16)?,
        restored_at: r.try_get(17)?,
        action_filed_at: r.try_get(18)?,
        action_note: r.try_get(19)?,
    })
}

pub async fn get(db: &mut Db, id: i64) -> Result<CounterNotice> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_counter_notices WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    row(&r)
}

/// The counter-notices filed in a case, oldest first.
pub async fn for_case(db: &mut Db, case_id: i64) -> Result<Vec<CounterNotice>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_counter_notices WHERE case_id = $1 ORDER BY id"
    ))
    .bind(case_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(row)
    .collect()
}

/// Counter-notices waiting for their restoration date, the soonest first: a reviewer records
/// a complainant's court action before then.
pub async fn waiting(db: &mut Db, limit: i64) -> Result<Vec<CounterNotice>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_counter_notices WHERE status = 'waiting' \
         ORDER BY restore_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(row)
    .collect()
}

/// The counter-notice filed against a statement, if any.
pub async fn for_statement(db: &mut Db, statement_id: i64) -> Result<Option<CounterNotice>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_counter_notices WHERE statement_id = $1"
    ))
    .bind(statement_id)
    .fetch_optional(&mut *db)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

fn trimmed(s: &str) -> &str {
    s.trim()
}

/// Check a counter-notice's statutory elements; the cleaned e-mail on success.
pub fn validate(n: &NewCounterNotice) -> Result<Option<String>> {
    for (field, v) in [
        ("material", &n.material),
        ("location", &n.location),
        ("name", &n.name),
        ("address", &n.address),
        ("phone", &n.phone),
        ("signature", &n.signature),
    ] {
        check_text(field, v, MAX_FIELD)?;
    }
    let mut missing = vec![];
    for (field, v) in [
        ("material", &n.material),
        ("location", &n.location),
        ("name", &n.name),
        ("address", &n.address),
        ("phone", &n.phone),
        ("signature", &n.signature),
    ] {
        if trimmed(v).is_empty() {
            missing.push(field);
        }
    }
    for (field, v) in [
        ("good_faith_under_penalty", n.good_faith_under_penalty),
        ("consent_to_jurisdiction", n.consent_to_jurisdiction),
        ("accept_service", n.accept_service),
    ] {
        if v != Some(true) {
            missing.push(field);
        }
    }
    if !missing.is_empty() {
        return Err(invalid(
            "counter_notice",
            "counter_notice_fields_required",
            format!(
                "a counter-notice needs the elements of 17 U.S.C. 512(g)(3); missing: {}",
                missing.join(", ")
            ),
        ));
    }
    if !trimmed(&n.signature).eq_ignore_ascii_case(trimmed(&n.name)) {
        return Err(invalid(
            "signature",
            "signature_mismatch",
            "type your full name, as given in name, as your signature",
        ));
    }
    match n.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Ok(Some(Email::parse(e)?.as_str().to_owned())),
        None => Ok(None),
    }
}

/// The e-mail addresses of a case's copyright complainants.
async fn complainants(db: &mut Db, case_id: i64) -> Result<Vec<String>> {
    sqlx::query(
        "SELECT DISTINCT email FROM safety_reports WHERE case_id = $1 AND kind = 'copyright' \
         AND email IS NOT NULL",
    )
    .bind(case_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

/// Whether `statement` tells its creator of a copyright takedown a counter-notice may answer.
pub async fn may_counter(db: &mut Db, statement: &Statement) -> Result<bool> {
    let (Some(case_id), "removed", Some(_)) = (
        statement.case_id,
        statement.outcome.as_str(),
        statement.post_id,
    ) else {
        return Ok(false);
    };
    let case = cases::get(db, case_id).await?;
    Ok(case.kind == "copyright" && case.outcome.as_deref() == Some("removed"))
}

/// The creator `user_id` files a counter-notice against their statement `statement_id` at
/// `now`. Someone else's statement is [`SafetyError::NotFound`]; a statement that is not a
/// decided copyright takedown, or one already answered, is a conflict.
pub async fn file(
    db: &mut Db,
    user_id: i64,
    statement_id: i64,
    n: &NewCounterNotice,
    now: i64,
    actor: &Actor,
) -> Result<CounterNotice> {
    let statement = cases::statement_of(db, user_id, statement_id).await?;
    let case = cases::get(db, statement.case_id.ok_or_else(not_copyright)?).await?;
    let Some(post_id) = statement.post_id else {
        return Err(not_copyright());
    };
    if statement.outcome != "removed" || case.kind != "copyright" {
        return Err(not_copyright());
    }
    if case.status != "decided" || case.outcome.as_deref() != Some("removed") {
        return Err(SafetyError::Conflict(
            "case_open",
            "this takedown is under review again; wait for its decision",
        ));
    }
    if for_statement(db, statement_id).await?.is_some() {
        return Err(SafetyError::Conflict(
            "counter_notice_filed",
            "a counter-notice was already filed against this takedown",
        ));
    }
    let email = validate(n)?;
    let restore_at = add_business_days(now, RESTORE_AFTER_BUSINESS_DAYS);
    let restore_by = add_business_days(now, RESTORE_BY_BUSINESS_DAYS);
    let id: i64 = sqlx::query(
        "INSERT INTO safety_counter_notices (case_id, statement_id, user_id, post_id, material, \
         location, name, address, phone, email, outside_us, signature, status, received_at, \
         restore_at, restore_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         'waiting', $13, $14, $15) RETURNING id",
    )
    .bind(case.id)
    .bind(statement_id)
    .bind(user_id)
    .bind(post_id)
    .bind(n.material.trim())
    .bind(n.location.trim())
    .bind(n.name.trim())
    .bind(n.address.trim())
    .bind(n.phone.trim())
    .bind(&email)
    .bind(n.outside_us as i64)
    .bind(n.signature.trim())
    .bind(now)
    .bind(restore_at)
    .bind(restore_by)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    record(
        db,
        actor,
        "safety.counter_notice_received",
        Some(&format!("case:{}", case.id)),
        json!({"counter_notice_id": id, "statement_id": statement_id, "post_id": post_id,
               "restore_at": restore_at}),
    )
    .await?;
    let cn = get(db, id).await?;
    let court = if cn.outside_us {
        "any judicial district in which the service provider may be found"
    } else {
        "the Federal District Court for the judicial district in which the address above is located"
    };
    let copy = format!(
        "Counter-notice {id} (17 U.S.C. 512(g)(3)), received {received}\n\n\
         Material removed: {material}\nWhere it appeared: {location}\n\
         Name: {name}\nAddress: {address}\nTelephone: {phone}\n{email}\n\
         The subscriber swears, under penalty of perjury, to a good faith belief that the \
         material was removed or disabled as a result of mistake or misidentification; consents \
         to the jurisdiction of {court}; and will accept service of process from the person who \
         provided the notification or an agent of such person.\n\nSignature: {signature}\n",
        received = rfc3339(now),
        material = cn.material,
        location = cn.location,
        name = cn.name,
        address = cn.address,
        phone = cn.phone,
        email = cn
            .email
            .as_deref()
            .map(|e| format!("E-mail: {e}\n"))
            .unwrap_or_default(),
        signature = cn.signature,
    );
    for to in complainants(db, case.id).await? {
        enqueue(
            db,
            &Mail {
                to,
                subject: format!("Counter-notice to your copyright notice (case {})", case.id),
                body: format!(
                    "The person whose material was removed after your notice of {url} filed the \
                     counter-notice copied below. We will restore the material on {at} (no \
                     later than {by}) unless, before then, you tell us at our designated agent's \
                     address that you have filed an action seeking a court order to restrain \
                     them from infringing activity relating to the material (17 U.S.C. \
                     512(g)(2)(C)).\n\n{copy}",
                    url = case.url,
                    at = rfc3339(restore_at),
                    by = rfc3339(restore_by),
                ),
            },
        )
        .await?;
    }
    let user = fanz_identity::find_user(db, user_id).await?;
    enqueue(
        db,
        &Mail {
            to: user.email,
            subject: format!("We received your counter-notice (case {})", case.id),
            body: format!(
                "We sent your counter-notice to the person who filed the copyright notice. \
                 Unless they tell us they filed a court action, your content is restored on {} \
                 (no later than {}).\n\n{copy}",
                rfc3339(restore_at),
                rfc3339(restore_by),
            ),
        },
    )
    .await?;
    Ok(cn)
}

fn not_copyright() -> SafetyError {
    SafetyError::Conflict(
        "not_a_copyright_takedown",
        "a counter-notice answers the removal of a post after a copyright notice",
    )
}

/// A reviewer records that the complainant filed an action seeking a court order: the post
/// stays down.
pub async fn action_filed(
    db: &mut Db,
    id: i64,
    note: &str,
    reviewer_id: i64,
    now: i64,
    actor: &Actor,
) -> Result<CounterNotice> {
    let note = note.trim();
    if note.is_empty() {
        return Err(invalid(
            "note",
            "note_required",
            "say which court and case number the complainant gave",
        ));
    }
    check_text("note", note, MAX_FIELD)?;
    let cn = get(db, id).await?;
    if cn.status != "waiting" {
        return Err(SafetyError::Conflict(
            "counter_notice_settled",
            "this counter-notice was already settled (restored, or an action was recorded)",
        ));
    }
    sqlx::query(
        "UPDATE safety_counter_notices SET status = 'action_filed', action_filed_at = $1, \
         action_note = $2, action_recorded_by = $3 WHERE id = $4",
    )
    .bind(now)
    .bind(note)
    .bind(reviewer_id)
    .bind(id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "safety.counter_notice_action_filed",
        Some(&format!("case:{}", cn.case_id)),
        json!({"counter_notice_id": id, "note": note}),
    )
    .await?;
    let user = fanz_identity::find_user(db, cn.user_id).await?;
    enqueue(
        db,
        &Mail {
            to: user.email,
            subject: format!(
                "Your counter-notice: a court action was filed (case {})",
                cn.case_id
            ),
            body: format!(
                "The person who filed the copyright notice told us they filed an action seeking \
                 a court order ({note}). Your content stays removed while the court decides.\n"
            ),
        },
    )
    .await?;
    get(db, id).await
}

/// The deadline job's part at `now`: restore the posts of counter-notices whose waiting period
/// is over. Returns how many were restored.
pub async fn run_restorations(
    db: &mut Db,
    env: &Content,
    policy: &Policy,
    now: i64,
    actor: &Actor,
) -> Result<u64> {
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM safety_counter_notices WHERE status = 'waiting' AND restore_at <= $1 \
         ORDER BY restore_at LIMIT 500",
    )
    .bind(now)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    for id in &ids {
        restore(db, env, policy, *id, now, actor).await?;
    }
    Ok(ids.len() as u64)
}

/// Lift the takedown a counter-notice answered: the strike goes, the case releases its hold,
/// and the post is shown again through the publish gate (a post the gate refuses for another
/// reason stays hidden, with the refusal recorded).
async fn restore(
    db: &mut Db,
    env: &Content,
    policy: &Policy,
    id: i64,
    now: i64,
    actor: &Actor,
) -> Result<()> {
    let cn = get(db, id).await?;
    sqlx::query(
        "UPDATE safety_counter_notices SET status = 'restored', restored_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *db)
    .await?;
    lift_strikes(db, cn.case_id, "counter_notice", now, actor).await?;
    sqlx::query(
        "UPDATE safety_cases SET hold = 0, updated_at = $1 WHERE id = $2 AND status = 'decided'",
    )
    .bind(now)
    .bind(cn.case_id)
    .execute(&mut *db)
    .await?;
    let refusals = match fanz_content::posts::restore_after_review(db, env, cn.post_id, actor).await
    {
        Ok(_) => vec![],
        Err(fanz_content::ContentError::Refused(r)) => r,
        Err(fanz_content::ContentError::NotFound) => vec![],
        Err(e) => return Err(e.into()),
    };
    let published = refusals.is_empty();
    if !published {
        let text: Vec<String> = refusals.iter().map(|r| r.message.clone()).collect();
        fanz_content::posts::set_refusal(db, cn.post_id, Some(&text.join("; "))).await?;
    }
    let strikes = active_strikes(db, cn.user_id, policy, now).await?;
    record(
        db,
        actor,
        "safety.counter_notice_restored",
        Some(&format!("case:{}", cn.case_id)),
        json!({"counter_notice_id": id, "post_id": cn.post_id, "published": published,
               "refusals": refusals.iter().map(|r| r.code.clone()).collect::<Vec<_>>(),
               "strikes": strikes}),
    )
    .await?;
    let user = fanz_identity::find_user(db, cn.user_id).await?;
    let body = if published {
        format!(
            "After your counter-notice, {} is visible again.\n",
            cn.location
        )
    } else {
        format!(
            "After your counter-notice the takedown of {} is lifted, but the post cannot be \
             shown yet: {}\n",
            cn.location,
            refusals
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    enqueue(
        db,
        &Mail {
            to: user.email,
            subject: format!("Your content is restored (case {})", cn.case_id),
            body,
        },
    )
    .await?;
    for to in complainants(db, cn.case_id).await? {
        enqueue(
            db,
            &Mail {
                to,
                subject: format!("Material restored after a counter-notice (case {})", cn.case_id),
                body: format!(
                    "No court action was notified to us within 10 business days of the \
                     counter-notice, so the material at {} was restored (17 U.S.C. 512(g)(2)(C)).\n",
                    cn.location
                ),
            },
        )
        .await?;
    }
    Ok(())
}

/// Active strikes against `user_id` at `now`: upheld copyright takedowns within the window.
pub async fn active_strikes(db: &mut Db, user_id: i64, policy: &Policy, now: i64) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM safety_strikes WHERE user_id = $1 AND lifted_at IS NULL \
         AND created_at > $2",
    )
    .bind(user_id)
    .bind(now - policy.window)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?)
}

/// A copyright case `case_id` against `user_id` was decided `removed` at `now`: a strike (one
/// per case). Reaching the threshold suspends publishing and writes a statement of reasons.
pub async fn add_strike(
    db: &mut Db,
    user_id: i64,
    case_id: i64,
    policy: &Policy,
    now: i64,
    actor: &Actor,
) -> Result<()> {
    let active = sqlx::query(
        "SELECT 1 FROM safety_strikes WHERE case_id = $1 AND user_id = $2 AND lifted_at IS NULL",
    )
    .bind(case_id)
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?;
    if active.is_some() {
        return Ok(());
    }
    sqlx::query("INSERT INTO safety_strikes (user_id, case_id, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(case_id)
        .bind(now)
        .execute(&mut *db)
        .await?;
    let strikes = active_strikes(db, user_id, policy, now).await?;
    record(
        db,
        actor,
        "safety.strike_added",
        Some(&format!("case:{case_id}")),
        json!({"user_id": user_id, "strikes": strikes, "threshold": policy.strikes}),
    )
    .await?;
    if strikes != policy.strikes {
        return Ok(());
    }
    let days = policy.window / DAY;
    let reason = format!(
        "Publishing is suspended under our repeat-infringer policy: {strikes} of your posts were \
         taken down after copyright notices within {days} days (the last in case {case_id}). \
         You cannot publish while {} or more such takedowns stand in that window. A takedown no \
         longer counts once a counter-notice restores the post, once an appeal reverses it, or \
         after {days} days. You may appeal this decision.",
        policy.strikes
    );
    let sid: i64 = sqlx::query(
        "INSERT INTO safety_statements (case_id, user_id, post_id, outcome, reason, created_at) \
         VALUES ($1, $2, NULL, 'suspended', $3, $4) RETURNING id",
    )
    .bind(case_id)
    .bind(user_id)
    .bind(&reason)
    .bind(now)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    record(
        db,
        actor,
        "safety.publishing_suspended",
        Some(&format!("user:{user_id}")),
        json!({"strikes": strikes, "window_days": days, "statement_id": sid, "case_id": case_id}),
    )
    .await?;
    let user = fanz_identity::find_user(db, user_id).await?;
    enqueue(
        db,
        &Mail {
            to: user.email,
            subject: "Statement of reasons: publishing suspended (repeat infringement)".into(),
            body: format!(
                "{reason}\n\nThe decision was taken on {}. You may appeal it until {} from your \
                 account (statement {sid}).\n",
                rfc3339(now),
                rfc3339(now + cases::APPEAL_WINDOW),
            ),
        },
    )
    .await?;
    Ok(())
}

/// Lift the strike of `case_id` (a counter-notice restored the post, or a new decision
/// reversed the takedown).
pub async fn lift_strikes(
    db: &mut Db,
    case_id: i64,
    why: &str,
    now: i64,
    actor: &Actor,
) -> Result<()> {
    let n = sqlx::query(
        "UPDATE safety_strikes SET lifted_at = $1, lifted_why = $2 WHERE case_id = $3 \
         AND lifted_at IS NULL",
    )
    .bind(now)
    .bind(why)
    .bind(case_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if n > 0 {
        record(
            db,
            actor,
            "safety.strike_lifted",
            Some(&format!("case:{case_id}")),
            json!({"why": why}),
        )
        .await?;
    }
    Ok(())
}

/// The publish gate's check of the repeat-infringer policy.
pub struct RepeatInfringer(pub Policy);

#[async_trait::async_trait]
impl GateCheck for RepeatInfringer {
    fn name(&self) -> &'static str {
        "repeat_infringer"
    }

    async fn check(
        &self,
        db: &mut Db,
        _: &Content,
        post: &Post,
    ) -> fanz_content::Result<Vec<Refusal>> {
        let strikes = active_strikes(db, post.author_id, &self.0, now_micros())
            .await
            .map_err(|e| match e {
                SafetyError::Database(e) => fanz_content::ContentError::Database(e),
                other => {
                    fanz_content::ContentError::Database(sqlx::Error::Protocol(other.to_string()))
                }
            })?;
        Ok(if strikes >= self.0.strikes {
            vec![Refusal::new(
                "repeat_infringer",
                format!(
                    "publishing is suspended under the repeat-infringer policy: {strikes} posts \
                     taken down after copyright notices within {} days; see your statements of \
                     reasons",
                    self.0.window / DAY
                ),
            )]
        } else {
            vec![]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> NewCounterNotice {
        NewCounterNotice {
            material: "my photo".into(),
            location: "/p/1".into(),
            name: "Cleo Smith".into(),
            address: "1 Main St, Springfield".into(),
            phone: "+1 555 0100".into(),
            email: None,
            outside_us: false,
            good_faith_under_penalty: Some(true),
            consent_to_jurisdiction: Some(true),
            accept_service: Some(true),
            signature: "cleo smith".into(),
        }
    }

    #[test]
    fn counter_notices_need_every_element() {
        assert!(validate(&full()).is_ok());
        let e = validate(&NewCounterNotice {
            accept_service: None,
            phone: " ".into(),
            ..full()
        })
        .unwrap_err();
        let SafetyError::Invalid(v) = e else {
            panic!("{e}")
        };
        assert_eq!(v.code, "counter_notice_fields_required");
        assert!(v.message.contains("phone") && v.message.contains("accept_service"));
        let e = validate(&NewCounterNotice {
            signature: "someone else".into(),
            ..full()
        })
        .unwrap_err();
        assert!(matches!(e, SafetyError::Invalid(v) if v.code == "signature_mismatch"));
    }

    #[test]
    fn restoration_falls_between_10_and_14_business_days() {
        let t = 1_796_000_000_000_000; // a Thursday in 2026
        let at = add_business_days(t, RESTORE_AFTER_BUSINESS_DAYS);
        let by = add_business_days(t, RESTORE_BY_BUSINESS_DAYS);
        assert!(at - t >= 14 * DAY && by > at);
    }
}

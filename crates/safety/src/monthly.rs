//! The monthly trust & safety report processors and banks ask for (and the EU DSA's
//! transparency reports draw on): per cluster and in total, the notices received by kind, the
//! cases opened and decided with their outcomes, how long deciding took, what was decided
//! late, appeals, DMCA counter-notices and restorations, repeat-infringer suspensions,
//! requests from authorities, hash-list matches and reviews before publication. Computed from the cases,
//! reports, statements and reviews themselves, so it cannot disagree with them.

use crate::records::day_start_micros;
use crate::reports::KINDS;
use crate::{invalid, Result};
use fanz_core::clock::HOUR;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use time::{Date, Month};

/// One cluster's figures for a month (`cluster` is `all` for the total, `none` for notices
/// about URLs that name no post).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub cluster: String,
    /// Notices received, every kind.
    pub notices: i64,
    /// Notices by kind, in the order of `fanz_safety::reports::KINDS`.
    pub notices_by_kind: BTreeMap<String, i64>,
    pub cases_opened: i64,
    pub cases_decided: i64,
    /// Decided: content removed (takedowns).
    pub removed: i64,
    pub restored: i64,
    pub no_action: i64,
    /// Hours from the first notice to the decision: median and 90th percentile.
    pub median_hours_to_decide: Option<f64>,
    pub p90_hours_to_decide: Option<f64>,
    /// Decided after their deadline.
    pub decided_late: i64,
    /// Undecided at the end of the month and past their deadline then.
    pub overdue_at_month_end: i64,
    pub appeals: i64,
    /// Cases opened by a hash-list match.
    pub hash_matches: i64,
    pub reviews_approved: i64,
    pub reviews_rejected: i64,
    /// DMCA counter-notices received.
    pub counter_notices: i64,
    /// Posts restored after a counter-notice's waiting period.
    pub restored_after_counter_notice: i64,
    /// Accounts suspended from publishing under the repeat-infringer policy.
    pub repeat_infringer_suspensions: i64,
    /// Requests from authorities received (the `authority` notices), and how many of them a
    /// compliance officer has verified.
    pub authority_requests: i64,
    pub authority_requests_verified: i64,
}

/// The report for one month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Monthly {
    /// YYYY-MM
    pub month: String,
    pub from: i64,
    pub to: i64,
    /// The total first, then each cluster.
    pub clusters: Vec<Figures>,
}

/// The first microsecond of a `YYYY-MM` month and of the next.
pub fn month_bounds(month: &str) -> Result<(i64, i64)> {
    let bad = || invalid("month", "invalid_month", "month is YYYY-MM");
    let (y, m) = month.trim().split_once('-').ok_or_else(bad)?;
    let y: i32 = y.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    let m = Month::try_from(m).map_err(|_| bad())?;
    let start = Date::from_calendar_date(y, m, 1).map_err(|_| bad())?;
    let (ny, nm) = if m == Month::December {
        (y + 1, Month::January)
    } else {
        (y, m.next())
    };
    let end = Date::from_calendar_date(ny, nm, 1).map_err(|_| bad())?;
    Ok((day_start_micros(start), day_start_micros(end)))
}

fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some((sorted[i] as f64 / HOUR as f64 * 10.0).round() / 10.0)
}

/// The clusters a case counts under: its post's, or `none`.
async fn clusters_of_post(
    db: &mut Db,
    cache: &mut BTreeMap<i64, Vec<String>>,
    post: Option<i64>,
) -> Result<Vec<String>> {
    let Some(id) = post else {
        return Ok(vec!["none".into()]);
    };
    if let Some(c) = cache.get(&id) {
        return Ok(c.clone());
    }
    let cs = match fanz_content::posts::get(db, id).await {
        Ok(p) if !p.clusters.is_empty() => p.clusters,
        Ok(_) | Err(fanz_content::ContentError::NotFound) => vec!["none".into()],
        Err(e) => return Err(e.into()),
    };
    cache.insert(id, cs.clone());
    Ok(cs)
}

fn empty(cluster: &str) -> Figures {
    Figures {
        cluster: cluster.to_owned(),
        notices_by_kind: KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
        ..Default::default()
    }
}

/// Count something under each of `clusters` and under `all`.
fn bump(by: &mut BTreeMap<String, Figures>, clusters: &[String], f: &dyn Fn(&mut Figures)) {
    for c in clusters.iter().map(String::as_str).chain(["all"]) {
        f(by.entry(c.to_owned()).or_insert_with(|| empty(c)));
    }
}

/// Compute the report for `month` (`YYYY-MM`).
pub async fn report(db: &mut Db, month: &str) -> Result<Monthly> {
    let (from, to) = month_bounds(month)?;
    let mut by: BTreeMap<String, Figures> = BTreeMap::new();
    let mut hours: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut posts: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    // Notices received.
    let rows = sqlx::query(
        "SELECT r.kind, c.post_id, r.verified_at FROM safety_reports r \
         JOIN safety_cases c ON c.id = r.case_id \
         WHERE r.received_at >= $1 AND r.received_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        let kind: String = r.try_get(0)?;
        let cs = clusters_of_post(db, &mut posts, r.try_get(1)?).await?;
        let verified = r.try_get::<Option<i64>, _>(2)?.is_some();
        bump(&mut by, &cs, &|f| {
            f.notices += 1;
            *f.notices_by_kind.entry(kind.clone()).or_default() += 1;
            if kind == "authority" {
                f.authority_requests += 1;
                if verified {
                    f.authority_requests_verified += 1;
                }
            }
        });
    }
    // Cases: opened, decided, late, overdue at the month's end.
    let rows = sqlx::query(
        "SELECT post_id, kind, status, outcome, received_at, due_at, decided_at FROM safety_cases \
         WHERE (received_at >= $1 AND received_at < $2) OR (decided_at >= $1 AND decided_at < $2) \
            OR (received_at < $2 AND due_at < $2 AND (decided_at IS NULL OR decided_at >= $2))",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        let cs = clusters_of_post(db, &mut posts, r.try_get(0)?).await?;
        let kind: String = r.try_get(1)?;
        let outcome: Option<String> = r.try_get(3)?;
        let received: i64 = r.try_get(4)?;
        let due: i64 = r.try_get(5)?;
        let decided: Option<i64> = r.try_get(6)?;
        let opened = received >= from && received < to;
        let decided_now = decided.filter(|d| *d >= from && *d < to);
        let overdue = received < to && due < to && decided.is_none_or(|d| d >= to);
        bump(&mut by, &cs, &|f| {
            if opened {
                f.cases_opened += 1;
                if kind == "hash_match" {
                    f.hash_matches += 1;
                }
            }
            if let Some(d) = decided_now {
                f.cases_decided += 1;
                match outcome.as_deref() {
                    Some("removed") => f.removed += 1,
                    Some("restored") => f.restored += 1,
                    _ => f.no_action += 1,
                }
                if d > due {
                    f.decided_late += 1;
                }
            }
            if overdue {
                f.overdue_at_month_end += 1;
            }
        });
        if let Some(d) = decided_now {
            for c in cs.iter().map(String::as_str).chain(["all"]) {
                hours.entry(c.to_owned()).or_default().push(d - received);
            }
        }
    }
    // Appeals.
    let rows = sqlx::query(
        "SELECT c.post_id FROM safety_statements s JOIN safety_cases c ON c.id = s.case_id \
         WHERE s.appealed_at >= $1 AND s.appealed_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        let cs = clusters_of_post(db, &mut posts, r.try_get(0)?).await?;
        bump(&mut by, &cs, &|f| f.appeals += 1);
    }
    // Counter-notices received, and posts restored after one.
    let rows = sqlx::query(
        "SELECT post_id, received_at, restored_at FROM safety_counter_notices \
         WHERE (received_at >= $1 AND received_at < $2) OR (restored_at >= $1 AND restored_at < $2)",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        let cs = clusters_of_post(db, &mut posts, Some(r.try_get(0)?)).await?;
        let received: i64 = r.try_get(1)?;
        let restored: Option<i64> = r.try_get(2)?;
        bump(&mut by, &cs, &|f| {
            if received >= from && received < to {
                f.counter_notices += 1;
            }
            if restored.is_some_and(|t| t >= from && t < to) {
                f.restored_after_counter_notice += 1;
            }
        });
    }
    // Suspensions under the repeat-infringer policy, under the cluster of the post whose
    // takedown reached the threshold.
    let rows = sqlx::query(
        "SELECT c.post_id FROM safety_statements s JOIN safety_cases c ON c.id = s.case_id \
         WHERE s.outcome = 'suspended' AND s.created_at >= $1 AND s.created_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        let cs = clusters_of_post(db, &mut posts, r.try_get(0)?).await?;
        bump(&mut by, &cs, &|f| f.repeat_infringer_suspensions += 1);
    }
    // Reviews before publication decided in the month.
    let rows = sqlx::query(
        "SELECT post_id, status FROM safety_reviews WHERE decided_at >= $1 AND decided_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        let cs = clusters_of_post(db, &mut posts, Some(r.try_get(0)?)).await?;
        let status: String = r.try_get(1)?;
        bump(&mut by, &cs, &|f| match status.as_str() {
            "approved" => f.reviews_approved += 1,
            "rejected" => f.reviews_rejected += 1,
            _ => {}
        });
    }
    for (c, mut hs) in hours {
        hs.sort_unstable();
        if let Some(f) = by.get_mut(&c) {
            f.median_hours_to_decide = percentile(&hs, 0.5);
            f.p90_hours_to_decide = percentile(&hs, 0.9);
        }
    }
    let mut clusters: Vec<Figures> = Vec::with_capacity(by.len());
    clusters.push(by.remove("all").unwrap_or_else(|| empty("all")));
    clusters.extend(by.into_values());
    Ok(Monthly {
        month: month.trim().to_owned(),
        from,
        to,
        clusters,
    })
}

/// The report as CSV: a header and a row per cluster (the total first).
pub fn csv(m: &Monthly) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec!["month".to_owned(), "cluster".into(), "notices".into()];
    head.extend(KINDS.iter().map(|k| format!("notices_{k}")));
    head.extend(
        [
            "cases_opened",
            "cases_decided",
            "removed",
            "restored",
            "no_action",
            "median_hours_to_decide",
            "p90_hours_to_decide",
            "decided_late",
            "overdue_at_month_end",
            "appeals",
            "hash_matches",
            "reviews_approved",
            "reviews_rejected",
            "counter_notices",
            "restored_after_counter_notice",
            "repeat_infringer_suspensions",
            "authority_requests",
            "authority_requests_verified",
        ]
        .map(String::from),
    );
    let _ = w.write_record(&head);
    let opt = |h: Option<f64>| h.map(|h| h.to_string()).unwrap_or_default();
    for f in &m.clusters {
        let mut row = vec![m.month.clone(), f.cluster.clone(), f.notices.to_string()];
        row.extend(
            KINDS
                .iter()
                .map(|k| f.notices_by_kind.get(*k).copied().unwrap_or(0).to_string()),
        );
        row.extend([
            f.cases_opened.to_string(),
            f.cases_decided.to_string(),
            f.removed.to_string(),
            f.restored.to_string(),
            f.no_action.to_string(),
            opt(f.median_hours_to_decide),
            opt(f.p90_hours_to_decide),
            f.decided_late.to_string(),
            f.overdue_at_month_end.to_string(),
            f.appeals.to_string(),
            f.hash_matches.to_string(),
            f.reviews_approved.to_string(),
            f.reviews_rejected.to_string(),
            f.counter_notices.to_string(),
            f.restored_after_counter_notice.to_string(),
            f.repeat_infringer_suspensions.to_string(),
            f.authority_requests.to_string(),
            f.authority_requests_verified.to_string(),
        ]);
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_bound_their_days() {
        let (a, b) = month_bounds("2026-12").unwrap();
        assert_eq!(b - a, 31 * fanz_core::clock::DAY);
        let (a, b) = month_bounds("2028-02").unwrap();
        assert_eq!(b - a, 29 * fanz_core::clock::DAY);
        for bad in ["2026", "2026-13", "x-01", "2026-00"] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
        assert_eq!(percentile(&[HOUR, 2 * HOUR, 30 * HOUR], 0.5), Some(2.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}

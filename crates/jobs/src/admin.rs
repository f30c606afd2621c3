//! What operators see and do: counts per queue, listings, retry, cancel, pruning.

use crate::{JobsError, Result};
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use sqlx::Row;

/// One queue's counts (`fanz jobs stats`, `GET /api/v1/admin/jobs`).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct QueueStats {
    pub queue: String,
    /// Waiting and due.
    pub ready: i64,
    pub running: i64,
    /// Waiting for a later `run_at` (including retries in backoff).
    pub scheduled: i64,
    pub dead: i64,
    /// Done and not yet pruned.
    pub done: i64,
    pub cancelled: i64,
    /// Waiting again after a failed attempt.
    pub retrying: i64,
    /// Finished in the last hour (throughput).
    pub done_last_hour: i64,
    /// How long the oldest due job has waited, in seconds (0 when none).
    pub oldest_ready_age_secs: f64,
}

impl QueueStats {
    /// A queue without jobs.
    pub fn empty(queue: &str) -> Self {
        Self {
            queue: queue.to_owned(),
            ready: 0,
            running: 0,
            scheduled: 0,
            dead: 0,
            done: 0,
            cancelled: 0,
            retrying: 0,
            done_last_hour: 0,
            oldest_ready_age_secs: 0.0,
        }
    }
}

/// Counts per queue that has any job, and for each of `queues` (the configured ones) even when
/// it has none, sorted by name.
pub async fn stats(db: &mut Db, queues: &[String]) -> Result<Vec<QueueStats>> {
    let now = now_micros();
    let rows = sqlx::query(
        "SELECT queue, \
           SUM(CASE WHEN state = 'ready' AND run_at <= $1 THEN 1 ELSE 0 END), \
           SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), \
           SUM(CASE WHEN state = 'ready' AND run_at > $1 THEN 1 ELSE 0 END), \
           SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), \
           SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), \
           SUM(CASE WHEN state = 'cancelled' THEN 1 ELSE 0 END), \
           MIN(CASE WHEN state = 'ready' AND run_at <= $1 THEN run_at ELSE NULL END), \
           SUM(CASE WHEN state = 'ready' AND attempts > 0 THEN 1 ELSE 0 END), \
           SUM(CASE WHEN state = 'done' AND finished_at >= $2 THEN 1 ELSE 0 END) \
         FROM jobs GROUP BY queue ORDER BY queue",
    )
    .bind(now)
    .bind(now - 3600 * 1_000_000)
    .fetch_all(&mut *db)
    .await?;
    let mut stats: Vec<QueueStats> = rows
        .into_iter()
        .map(|r| {
            let oldest: Option<i64> = r.get(7);
            QueueStats {
                queue: r.get(0),
                ready: r.get(1),
                running: r.get(2),
                scheduled: r.get(3),
                dead: r.get(4),
                done: r.get(5),
                cancelled: r.get(6),
                retrying: r.get(8),
                done_last_hour: r.get(9),
                oldest_ready_age_secs: oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1e6),
            }
        })
        .collect();
    for q in queues {
        if !stats.iter().any(|s| &s.queue == q) {
            stats.push(QueueStats::empty(q));
        }
    }
    stats.sort_by(|a, b| a.queue.cmp(&b.queue));
    Ok(stats)
}

/// One job as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRow {
    pub id: i64,
    pub queue: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
    pub priority: i64,
    pub state: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub unique_key: Option<String>,
    pub locked_by: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, queue, kind, args, priority, state, run_at, attempts, max_attempts, \
     unique_key, locked_by, lease_until, last_error, created_at, started_at, finished_at";

fn job_row(r: &sqlx::any::AnyRow) -> JobRow {
    let args: String = r.get(3);
    JobRow {
        id: r.get(0),
        queue: r.get(1),
        kind: r.get(2),
        args: serde_json::from_str(&args).unwrap_or(serde_json::Value::String(args)),
        priority: r.get(4),
        state: r.get(5),
        run_at: r.get(6),
        attempts: r.get(7),
        max_attempts: r.get(8),
        unique_key: r.get(9),
        locked_by: r.get(10),
        lease_until: r.get(11),
        last_error: r.get(12),
        created_at: r.get(13),
        started_at: r.get(14),
        finished_at: r.get(15),
    }
}

/// Which jobs [`list`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<String>,
    pub queue: Option<String>,
    pub kind: Option<String>,
    /// Only ids below this (paging backwards).
    pub before: Option<i64>,
    pub limit: i64,
}

pub const STATES: [&str; 5] = ["ready", "running", "done", "dead", "cancelled"];

pub async fn list(db: &mut Db, filter: &ListFilter) -> Result<Vec<JobRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE ($1 = '' OR state = $1) AND ($2 = '' OR queue = $2) \
         AND ($3 = '' OR kind = $3) AND id < $4 ORDER BY id DESC LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(filter.state.as_deref().unwrap_or(""))
        .bind(filter.queue.as_deref().unwrap_or(""))
        .bind(filter.kind.as_deref().unwrap_or(""))
        .bind(filter.before.unwrap_or(i64::MAX))
        .bind(filter.limit.clamp(1, 1000))
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.iter().map(job_row).collect())
}

/// Dead jobs, newest first, with their last error.
pub async fn dead(db: &mut Db, limit: i64) -> Result<Vec<JobRow>> {
    list(
        db,
        &ListFilter {
            state: Some("dead".into()),
            limit,
            ..ListFilter::default()
        },
    )
    .await
}

pub async fn show(db: &mut Db, id: i64) -> Result<JobRow> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(JobsError::NotFound(id))?;
    Ok(job_row(&row))
}

/// Run a dead or cancelled job again now, with its attempts reset.
pub async fn retry(db: &mut Db, id: i64) -> Result<JobRow> {
    let job = transition(
        db,
        id,
        "UPDATE jobs SET state = 'ready', run_at = $1, attempts = 0, finished_at = NULL, locked_by = NULL, lease_until = NULL \
         WHERE id = $2 AND state IN ('dead', 'cancelled')",
        "dead or cancelled",
        "retried",
    )
    .await?;
    crate::wake(db, &job.queue).await?;
    Ok(job)
}

/// Cancel a waiting or running job. A running handler is stopped at its next lease renewal,
/// and its transactional completion is refused.
pub async fn cancel(db: &mut Db, id: i64) -> Result<JobRow> {
    transition(
        db,
        id,
        "UPDATE jobs SET state = 'cancelled', finished_at = $1, lease_until = NULL \
         WHERE id = $2 AND state IN ('ready', 'running')",
        "ready or running",
        "cancelled",
    )
    .await
}

/// Run `sql` (binding now and the id) and give the job; refused when it moved no row.
async fn transition(
    db: &mut Db,
    id: i64,
    sql: &str,
    allowed: &'static str,
    action: &'static str,
) -> Result<JobRow> {
    let n = sqlx::query(sql)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?
        .rows_affected();
    let job = show(db, id).await?;
    if n == 0 {
        return Err(JobsError::WrongState {
            id,
            state: job.state,
            allowed,
            action,
        });
    }
    Ok(job)
}

/// Delete done and cancelled jobs finished before `now - retention`, dead ones before
/// `now - dead_retention`. Returns how many went.
pub async fn prune(db: &mut Db, now: i64, retention: i64, dead_retention: i64) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND finished_at < $1")
            .bind(now - retention)
            .execute(&mut *db)
            .await?
            .rows_affected();
    let dead = sqlx::query("DELETE FROM jobs WHERE state = 'dead' AND finished_at < $1")
        .bind(now - dead_retention)
        .execute(&mut *db)
        .await?
        .rows_affected();
    Ok(done + dead)
}

//! The jobs port: durable background work, enqueued inside the caller's transaction.
//!
//! A job is a typed value ([`Job`]: a stable kind name, a queue, serialized arguments) written
//! to the `jobs` table by [`enqueue`] with the caller's `&mut Db`: it becomes visible to
//! workers when that transaction commits and vanishes if it rolls back. Handlers are
//! registered per module at start-up in a [`Registry`]; a [`Runner`] claims ready jobs per
//! named queue (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so many nodes share the table; SQLite:
//! one process behind the store's single writer), runs them under a lease it renews while the
//! handler works, and records the outcome: `done`, back to `ready` after an exponential,
//! jittered backoff, or `dead` with the last error once the attempts are spent. A lease that
//! is not renewed (a worker killed or a node lost) expires and the job runs again elsewhere.
//!
//! A handler whose effects are database writes can make them exactly once: it opens
//! [`JobContext::begin`], writes, and [`JobTx::complete`] marks the job done in the same
//! transaction, refused when the job's lease was lost meanwhile.
//!
//! Recurring kinds ([`Registry::every`]) are enqueued once per period across every node: the
//! node that moves the kind's `job_schedules` row forward enqueues the run.

mod admin;
mod runner;

pub use admin::{
    cancel, dead, list, prune, retry, show, stats, JobRow, ListFilter, QueueStats, STATES,
};
pub use runner::{
    default_node_name, enqueue_probes, probe_runs, JobContext, JobTx, Probe, Registry, Runner,
    RunnerConfig, RunnerHandle, RunnerHealth,
};

use fanz_core::clock::now_micros;
use fanz_store::{backend_of, sqlx, Backend, Db};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::Row;
use std::fmt;

/// A kind of job: its arguments are the value itself, serialized as JSON.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable name stored with each job; never rename one that may be queued.
    const KIND: &'static str;
    /// The queue whose workers run it.
    const QUEUE: &'static str = "default";
    /// Runs before the job is `dead`.
    const MAX_ATTEMPTS: i64 = 10;
    /// Higher runs first within a queue.
    const PRIORITY: i64 = 0;
}

/// How to enqueue one job; the defaults come from its [`Job`] constants.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Not before this instant (microseconds); default now.
    pub run_at: Option<i64>,
    pub priority: Option<i64>,
    pub queue: Option<String>,
    pub max_attempts: Option<i64>,
    /// While a job with this key is waiting, enqueueing another gives the waiting one.
    pub unique_key: Option<String>,
}

impl Options {
    pub fn at(run_at: i64) -> Self {
        Self {
            run_at: Some(run_at),
            ..Self::default()
        }
    }

    pub fn unique(key: impl Into<String>) -> Self {
        Self {
            unique_key: Some(key.into()),
            ..Self::default()
        }
    }
}

/// What [`enqueue_with`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    /// False when a waiting job with the same unique key was found instead.
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("job arguments do not serialize: {0}")]
    Args(#[from] serde_json::Error),
    #[error("no job {0}")]
    NotFound(i64),
    #[error("job {id} is {state}; only {allowed} jobs can be {action}")]
    WrongState {
        id: i64,
        state: String,
        allowed: &'static str,
        action: &'static str,
    },
    #[error("the job's lease was lost (it expired or the job was cancelled)")]
    LeaseLost,
}

pub type Result<T, E = JobsError> = std::result::Result<T, E>;

impl From<fanz_store::StoreError> for JobsError {
    fn from(e: fanz_store::StoreError) -> Self {
        match e {
            fanz_store::StoreError::Database(e) => JobsError::Database(e),
            other => JobsError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// Why a handler did not finish: retried with backoff unless [`JobError::permanent`].
pub struct JobError {
    pub message: String,
    pub permanent: bool,
}

impl JobError {
    pub fn retry(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: false,
        }
    }

    /// Retrying cannot help (bad arguments): the job goes straight to `dead`.
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: true,
        }
    }
}

impl<E: std::error::Error> From<E> for JobError {
    fn from(e: E) -> Self {
        Self::retry(e)
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Enqueue `job` with its defaults, inside the caller's transaction.
pub async fn enqueue<J: Job>(db: &mut Db, job: &J) -> Result<i64> {
    Ok(enqueue_with(db, job, Options::default()).await?.id)
}

/// Enqueue `job` inside the caller's transaction. Workers see it once the transaction commits.
pub async fn enqueue_with<J: Job>(db: &mut Db, job: &J, opts: Options) -> Result<Enqueued> {
    let now = now_micros();
    let args = serde_json::to_string(job)?;
    let inserted = insert(
        db,
        &NewJob {
            queue: opts.queue.as_deref().unwrap_or(J::QUEUE),
            kind: J::KIND,
            args: &args,
            priority: opts.priority.unwrap_or(J::PRIORITY),
            run_at: opts.run_at.unwrap_or(now),
            max_attempts: opts.max_attempts.unwrap_or(J::MAX_ATTEMPTS),
            unique_key: opts.unique_key.as_deref(),
        },
    )
    .await?;
    Ok(match inserted {
        Some(id) => Enqueued { id, created: true },
        None => {
            let id: i64 = sqlx::query(
                "SELECT id FROM jobs WHERE unique_key = $1 AND state = 'ready' ORDER BY id LIMIT 1",
            )
            .bind(opts.unique_key.as_deref())
            .fetch_one(&mut *db)
            .await?
            .get(0);
            Enqueued { id, created: false }
        }
    })
}

/// One row for [`insert`].
pub(crate) struct NewJob<'a> {
    pub queue: &'a str,
    pub kind: &'a str,
    pub args: &'a str,
    pub priority: i64,
    pub run_at: i64,
    pub max_attempts: i64,
    pub unique_key: Option<&'a str>,
}

/// Insert a waiting job, or nothing when a waiting job holds its unique key; wakes the
/// workers for a new one. The one writer of single jobs (enqueue and recurring kinds).
pub(crate) async fn insert(db: &mut Db, job: &NewJob<'_>) -> Result<Option<i64>> {
    let id: Option<i64> = sqlx::query(
        "INSERT INTO jobs (queue, kind, args, priority, state, run_at, max_attempts, unique_key, created_at) \
         VALUES ($1, $2, $3, $4, 'ready', $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(job.queue)
    .bind(job.kind)
    .bind(job.args)
    .bind(job.priority)
    .bind(job.run_at)
    .bind(job.max_attempts.max(1))
    .bind(job.unique_key)
    .bind(now_micros())
    .fetch_optional(&mut *db)
    .await?
    .map(|row| row.get(0));
    if id.is_some() {
        wake(db, job.queue).await?;
        metrics::counter!("jobs_enqueued_total", "queue" => job.queue.to_owned(), "kind" => job.kind.to_owned())
            .increment(1);
    }
    Ok(id)
}

/// Enqueue many jobs of one kind in one statement per 500 (bulk work, benchmarks).
pub async fn enqueue_many<J: Job>(db: &mut Db, jobs: &[J]) -> Result<Vec<i64>> {
    let now = now_micros();
    let mut ids = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO jobs (queue, kind, args, priority, state, run_at, max_attempts, created_at) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("($1, $2, ${}, $3, 'ready', $4, $5, $4)", i + 6));
        }
        sql.push_str(" RETURNING id");
        let mut q = sqlx::query(&sql)
            .bind(J::QUEUE)
            .bind(J::KIND)
            .bind(J::PRIORITY)
            .bind(now)
            .bind(J::MAX_ATTEMPTS);
        for job in chunk {
            q = q.bind(serde_json::to_string(job)?);
        }
        let rows = q.fetch_all(&mut *db).await?;
        ids.extend(rows.into_iter().map(|r| r.get::<i64, _>(0)));
    }
    if !ids.is_empty() {
        wake(db, J::QUEUE).await?;
        metrics::counter!("jobs_enqueued_total", "queue" => J::QUEUE, "kind" => J::KIND)
            .increment(ids.len() as u64);
    }
    Ok(ids)
}

/// Tell workers a job is coming: in this process at once (they look again for a moment, until
/// the enqueuing transaction has committed), and on PostgreSQL every node when it commits.
async fn wake(db: &mut Db, queue: &str) -> Result<()> {
    runner::wake_local();
    if backend_of(db) == Backend::Postgres {
        sqlx::query("SELECT pg_notify('fanz_jobs', $1)")
            .bind(queue)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

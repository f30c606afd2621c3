//! Workers: one claiming loop per named queue, one maintenance loop (expired leases,
//! recurring kinds, gauges) and, on PostgreSQL, a LISTEN connection that wakes the loops
//! when another node commits a job.

use crate::{admin, Job, JobError, JobsError, Result};
use fanz_core::clock::{now_micros, SECOND};
use fanz_store::{backend_of, sqlx, Backend, Db, Store, Tx};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};

type BoxFuture = Pin<Box<dyn Future<Output = std::result::Result<(), JobError>> + Send>>;
type HandlerFn = Arc<dyn Fn(JobContext, &str) -> BoxFuture + Send + Sync>;

/// Process-wide wake-up for the claiming loops: [`wake_local`] bumps the generation and
/// notifies whoever waits; a loop that polled before the bump sees the generation changed.
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);
static WAKE_GEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn wake_local() {
    WAKE_GEN.fetch_add(1, Ordering::AcqRel);
    WAKE.notify_waiters();
}

/// After a wake-up that found nothing (the enqueuing transaction had not committed yet), look
/// again after these delays before falling back to the poll interval.
const EAGER_MS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];
/// The most jobs one claim takes.
const CLAIM_BATCH: usize = 64;

struct HandlerEntry {
    run: HandlerFn,
}

struct Recurring {
    kind: &'static str,
    queue: &'static str,
    period: Duration,
    args: String,
    max_attempts: i64,
}

/// The handlers of every module, and the recurring kinds, registered at start-up.
pub struct Registry {
    handlers: HashMap<&'static str, HandlerEntry>,
    recurring: Vec<Recurring>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with the built-in kinds: `jobs.probe` and the hourly `jobs.prune`.
    pub fn new() -> Self {
        let mut r = Self {
            handlers: HashMap::new(),
            recurring: Vec::new(),
        };
        r.register(|ctx: JobContext, probe: Probe| async move {
            if probe.sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(probe.sleep_ms)).await;
            }
            let mut tx = ctx.begin().await?;
            sqlx::query("INSERT INTO job_probe_runs (job_id, node, ran_at) VALUES ($1, $2, $3)")
                .bind(ctx.id)
                .bind(ctx.node())
                .bind(now_micros())
                .execute(&mut *tx)
                .await?;
            tx.complete().await?;
            Ok(())
        });
        r.register(|ctx: JobContext, prune: Prune| async move {
            let mut tx = ctx.store().begin().await?;
            let n = admin::prune(
                &mut tx,
                now_micros(),
                prune.retention_secs * SECOND,
                prune.dead_retention_secs * SECOND,
            )
            .await?;
            tx.commit().await?;
            if n > 0 {
                tracing::info!(pruned = n, "finished jobs pruned");
            }
            Ok(())
        });
        r
    }

    /// Run `handler` for every job of kind `J`. A later registration of the same kind replaces
    /// the earlier one.
    pub fn register<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: Job,
        F: Fn(JobContext, J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let run: HandlerFn = Arc::new(move |ctx, args| {
            let parsed: std::result::Result<J, _> = serde_json::from_str(args);
            let handler = handler.clone();
            Box::pin(async move {
                match parsed {
                    Ok(job) => handler(ctx, job).await,
                    Err(e) => Err(JobError::permanent(format!("arguments do not parse: {e}"))),
                }
            })
        });
        self.handlers.insert(J::KIND, HandlerEntry { run });
        self
    }

    /// Enqueue `job` once per `period` across every node, at multiples of the period since the
    /// Unix epoch (every hour runs on the hour); the kind must be registered.
    pub fn every<J: Job>(&mut self, period: Duration, job: J) -> &mut Self {
        self.recurring.retain(|r| r.kind != J::KIND);
        self.recurring.push(Recurring {
            kind: J::KIND,
            queue: J::QUEUE,
            period: period.max(Duration::from_secs(1)),
            args: serde_json::to_string(&job).expect("recurring job arguments serialize"),
            max_attempts: J::MAX_ATTEMPTS,
        });
        self
    }
}

/// The built-in diagnostic job: optionally sleeps, then records which node ran it, in the
/// same transaction that marks it done (`fanz jobs probe`, the benchmarks, the two-node test).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Probe {
    #[serde(default)]
    pub sleep_ms: u64,
}

impl Job for Probe {
    const KIND: &'static str = "jobs.probe";
}

/// Delete finished jobs past their retention (recurring, hourly).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Prune {
    retention_secs: i64,
    dead_retention_secs: i64,
}

impl Job for Prune {
    const KIND: &'static str = "jobs.prune";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i64 = 3;
}

/// How many probe runs were recorded, and for how many distinct jobs.
pub async fn probe_runs(db: &mut Db) -> Result<(i64, i64)> {
    let row = sqlx::query("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM job_probe_runs")
        .fetch_one(&mut *db)
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// What a handler knows about the job it runs.
#[derive(Clone)]
pub struct JobContext {
    pub id: i64,
    /// 1 on the first run.
    pub attempt: i64,
    store: Store,
    node: Arc<str>,
    completed: Arc<AtomicBool>,
}

impl JobContext {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The name of the node running the job.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// A transaction whose [`JobTx::complete`] also marks this job done: its writes happen
    /// exactly once, even if the job is run again after a lost lease.
    pub async fn begin(&self) -> Result<JobTx> {
        Ok(JobTx {
            tx: self.store.begin().await?,
            ctx: self.clone(),
        })
    }
}

/// A transaction bound to a running job (see [`JobContext::begin`]).
pub struct JobTx {
    tx: Tx,
    ctx: JobContext,
}

impl Deref for JobTx {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.tx
    }
}

impl DerefMut for JobTx {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.tx
    }
}

impl JobTx {
    /// Mark the job done and commit. Refused (and rolled back) when this worker no longer
    /// holds the job: its lease expired and another worker took it, or it was cancelled.
    pub async fn complete(mut self) -> Result<()> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = $1, lease_until = NULL \
             WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND state = 'running'",
        )
        .bind(now_micros())
        .bind(self.ctx.id)
        .bind(&*self.ctx.node)
        .bind(self.ctx.attempt)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if done == 0 {
            self.tx.rollback().await?;
            return Err(JobsError::LeaseLost);
        }
        self.tx.commit().await?;
        self.ctx.completed.store(true, Ordering::Release);
        Ok(())
    }
}

/// Settings of a [`Runner`].
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This node's name, stored as the holder of the jobs it runs.
    pub node: String,
    /// Named queues and how many jobs of each run at once.
    pub queues: Vec<(String, usize)>,
    /// Longest wait between looks at the table when nothing wakes a queue.
    pub poll_interval: Duration,
    /// A running job's lease; renewed every third of it.
    pub lease: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Done and cancelled jobs are deleted after this; dead ones after `dead_retention`.
    pub retention: Duration,
    pub dead_retention: Duration,
    /// On shutdown, running jobs get this long to finish before they are released.
    pub shutdown_grace: Duration,
    /// The PostgreSQL URL to LISTEN on for jobs committed by other nodes (empty: none).
    pub listen_url: String,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            node: default_node_name(),
            queues: vec![("default".into(), 4), ("maintenance".into(), 1)],
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            retention: Duration::from_secs(72 * 3600),
            dead_retention: Duration::from_secs(30 * 24 * 3600),
            shutdown_grace: Duration::from_secs(10),
            listen_url: String::new(),
        }
    }
}

/// `host-pid-xxxx`: unique per process, readable in `fanz jobs list`.
pub fn default_node_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

struct Shared {
    store: Store,
    registry: Registry,
    config: RunnerConfig,
    node: Arc<str>,
    /// Stops claiming.
    stop: watch::Sender<bool>,
    /// Aborts and releases what still runs after the grace period.
    abort: watch::Sender<bool>,
    running: AtomicUsize,
    idle: Notify,
    /// Per queue: when its loop last went round (microseconds).
    ticks: Vec<(String, AtomicI64)>,
}

/// Runs the registered handlers against the store.
pub struct Runner {
    shared: Arc<Shared>,
}

/// A started runner: health for readiness, and graceful shutdown.
#[derive(Clone)]
pub struct RunnerHandle {
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// Whether every queue's loop is still going round.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerHealth {
    pub node: String,
    pub healthy: bool,
    pub running: usize,
    /// Queues whose loop has not gone round for three poll intervals (at least 30 s).
    pub stalled: Vec<String>,
}

impl Runner {
    pub fn new(store: Store, registry: Registry, mut config: RunnerConfig) -> Self {
        if !config.queues.iter().any(|(q, _)| q == "maintenance") {
            config.queues.push(("maintenance".into(), 1));
        }
        let ticks = config
            .queues
            .iter()
            .map(|(q, _)| (q.clone(), AtomicI64::new(now_micros())))
            .collect();
        Self {
            shared: Arc::new(Shared {
                store,
                node: config.node.as_str().into(),
                registry,
                config,
                stop: watch::channel(false).0,
                abort: watch::channel(false).0,
                running: AtomicUsize::new(0),
                idle: Notify::new(),
                ticks,
            }),
        }
    }

    /// Spawn the queue loops, the maintenance loop and (PostgreSQL) the listener.
    pub fn start(self) -> RunnerHandle {
        let shared = self.shared;
        let mut registry_prune = Vec::new();
        let prune = Prune {
            retention_secs: shared.config.retention.as_secs() as i64,
            dead_retention_secs: shared.config.dead_retention.as_secs() as i64,
        };
        registry_prune.push(Recurring {
            kind: Prune::KIND,
            queue: Prune::QUEUE,
            period: Duration::from_secs(3600),
            args: serde_json::to_string(&prune).expect("prune args serialize"),
            max_attempts: Prune::MAX_ATTEMPTS,
        });
        let mut tasks = Vec::new();
        for (i, (queue, concurrency)) in shared.config.queues.iter().enumerate() {
            tasks.push(tokio::spawn(queue_loop(
                shared.clone(),
                i,
                queue.clone(),
                (*concurrency).max(1),
            )));
        }
        tasks.push(tokio::spawn(maintenance_loop(
            shared.clone(),
            registry_prune,
        )));
        if shared.store.backend() == Backend::Postgres && !shared.config.listen_url.is_empty() {
            tasks.push(tokio::spawn(listen_loop(shared.clone())));
        }
        tracing::info!(node = %shared.node, queues = ?shared.config.queues, "job runner started");
        RunnerHandle {
            shared,
            tasks: Arc::new(Mutex::new(tasks)),
        }
    }
}

impl RunnerHandle {
    pub fn health(&self) -> RunnerHealth {
        let limit = (self.shared.config.poll_interval * 3)
            .max(Duration::from_secs(30))
            .as_micros() as i64;
        let now = now_micros();
        let stopping = *self.shared.stop.borrow();
        let stalled: Vec<String> = self
            .shared
            .ticks
            .iter()
            .filter(|(_, t)| now - t.load(Ordering::Acquire) > limit)
            .map(|(q, _)| q.clone())
            .collect();
        RunnerHealth {
            node: self.shared.node.to_string(),
            healthy: stalled.is_empty() && !stopping,
            running: self.shared.running.load(Ordering::Acquire),
            stalled,
        }
    }

    /// Stop claiming, give running jobs the grace period, then abort the rest and put them
    /// back to `ready` for another worker.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.stop.send_replace(true);
        let deadline = tokio::time::Instant::now() + shared.config.shutdown_grace;
        while shared.running.load(Ordering::Acquire) > 0 {
            let idle = shared.idle.notified();
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        shared.abort.send_replace(true);
        // Aborted jobs release themselves; wait for that (bounded).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while shared.running.load(Ordering::Acquire) > 0 {
            let idle = shared.idle.notified();
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("task list"));
        for t in tasks {
            t.abort();
        }
        tracing::info!(node = %shared.node, "job runner stopped");
    }
}

/// A job taken by this worker.
struct Claimed {
    id: i64,
    kind: String,
    args: String,
    attempts: i64,
    max_attempts: i64,
    run_at: i64,
}

async fn claim(shared: &Shared, queue: &str, limit: usize) -> Result<Vec<Claimed>> {
    let now = now_micros();
    let lease = shared.config.lease.as_micros() as i64;
    let mut tx = shared.store.begin().await?;
    let lock = match backend_of(&tx) {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, \
         lease_until = $2, started_at = $3 \
         WHERE id IN (SELECT id FROM jobs WHERE queue = $4 AND state = 'ready' AND run_at <= $3 \
                      ORDER BY priority DESC, run_at, id LIMIT $5{lock}) \
         RETURNING id, kind, args, attempts, max_attempts, run_at"
    );
    let rows = sqlx::query(&sql)
        .bind(&*shared.node)
        .bind(now + lease)
        .bind(now)
        .bind(queue)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut jobs: Vec<Claimed> = rows
        .into_iter()
        .map(|r| Claimed {
            id: r.get(0),
            kind: r.get(1),
            args: r.get(2),
            attempts: r.get(3),
            max_attempts: r.get(4),
            run_at: r.get(5),
        })
        .collect();
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

async fn queue_loop(shared: Arc<Shared>, index: usize, queue: String, concurrency: usize) {
    let sem = Arc::new(Semaphore::new(concurrency));
    let mut stop = shared.stop.subscribe();
    let mut eager: Option<usize> = None;
    let tick = |shared: &Shared| shared.ticks[index].1.store(now_micros(), Ordering::Release);
    loop {
        tick(&shared);
        if *stop.borrow() {
            break;
        }
        let first = tokio::select! {
            p = sem.clone().acquire_owned() => p.expect("semaphore open"),
            _ = tokio::time::sleep(shared.config.poll_interval) => continue,
            _ = stop.changed() => break,
        };
        let room = sem.available_permits() + 1;
        let generation = WAKE_GEN.load(Ordering::Acquire);
        let jobs = match claim(&shared, &queue, room.min(CLAIM_BATCH)).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(queue, error = %e, "claiming jobs failed");
                drop(first);
                tokio::select! {
                    _ = tokio::time::sleep(shared.config.poll_interval) => {}
                    _ = stop.changed() => break,
                }
                continue;
            }
        };
        if jobs.is_empty() {
            drop(first);
            let notified = WAKE.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if WAKE_GEN.load(Ordering::Acquire) != generation {
                eager = Some(0);
                continue;
            }
            let delay = match eager {
                Some(i) => Duration::from_millis(EAGER_MS[i]),
                None => shared.config.poll_interval,
            };
            tokio::select! {
                _ = &mut notified => eager = Some(0),
                _ = tokio::time::sleep(delay) => {
                    eager = eager.and_then(|i| (i + 1 < EAGER_MS.len()).then_some(i + 1));
                }
                _ = stop.changed() => break,
            }
            continue;
        }
        let mut permits = vec![first];
        for _ in 1..jobs.len() {
            permits.push(
                sem.clone()
                    .try_acquire_owned()
                    .expect("claimed within room"),
            );
        }
        for (job, permit) in jobs.into_iter().zip(permits) {
            shared.running.fetch_add(1, Ordering::AcqRel);
            let shared = shared.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                run_one(&shared, &queue, job).await;
                drop(permit);
                if shared.running.fetch_sub(1, Ordering::AcqRel) == 1 {
                    shared.idle.notify_waiters();
                }
            });
        }
    }
}

enum Outcome {
    Finished(std::result::Result<(), JobError>),
    LeaseLost,
    Aborted,
}

async fn run_one(shared: &Arc<Shared>, queue: &str, job: Claimed) {
    let started = now_micros();
    metrics::histogram!("jobs_start_delay_seconds", "queue" => queue.to_owned())
        .record((started - job.run_at).max(0) as f64 / 1e6);
    let ctx = JobContext {
        id: job.id,
        attempt: job.attempts,
        store: shared.store.clone(),
        node: shared.node.clone(),
        completed: Arc::new(AtomicBool::new(false)),
    };
    let outcome = match shared.registry.handlers.get(job.kind.as_str()) {
        None => Outcome::Finished(Err(JobError::retry(format!(
            "no handler for kind {} on node {}",
            job.kind, shared.node
        )))),
        Some(entry) => {
            let handler = tokio::spawn((entry.run)(ctx.clone(), &job.args));
            let abort_handle = handler.abort_handle();
            let mut abort = shared.abort.subscribe();
            let outcome = tokio::select! {
                joined = handler => Outcome::Finished(match joined {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => Err(JobError::retry("the handler panicked")),
                    Err(e) => Err(JobError::retry(e)),
                }),
                () = heartbeat(shared, &job) => Outcome::LeaseLost,
                _ = abort.wait_for(|a| *a) => Outcome::Aborted,
            };
            abort_handle.abort();
            outcome
        }
    };
    let elapsed = (now_micros() - started) as f64 / 1e6;
    let result = match outcome {
        Outcome::Finished(Ok(())) => {
            metrics::histogram!("jobs_duration_seconds", "queue" => queue.to_owned())
                .record(elapsed);
            metrics::counter!("jobs_completed_total", "queue" => queue.to_owned()).increment(1);
            if ctx.completed.load(Ordering::Acquire) {
                Ok(())
            } else {
                finish(shared, &job, None).await
            }
        }
        Outcome::Finished(Err(e)) => {
            metrics::counter!("jobs_failed_total", "queue" => queue.to_owned()).increment(1);
            tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed");
            finish(shared, &job, Some(e)).await
        }
        Outcome::LeaseLost => {
            tracing::warn!(job = job.id, kind = %job.kind, "job lease lost; abandoned");
            Ok(())
        }
        Outcome::Aborted => release(shared, &job).await,
    };
    if let Err(e) = result {
        tracing::warn!(job = job.id, error = %e, "recording a job's outcome failed");
    }
}

/// Renew the lease every third of it; returns when the job is no longer ours.
async fn heartbeat(shared: &Shared, job: &Claimed) {
    let every = shared.config.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let renewed = async {
            let mut tx = shared.store.begin().await?;
            let n = sqlx::query(
                "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND state = 'running'",
            )
            .bind(now_micros() + shared.config.lease.as_micros() as i64)
            .bind(job.id)
            .bind(&*shared.node)
            .bind(job.attempts)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, JobsError>(n)
        }
        .await;
        match renewed {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => tracing::warn!(job = job.id, error = %e, "renewing a job's lease failed"),
        }
    }
}

/// Exponential backoff with equal jitter: half the step fixed, half random.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: i64) -> Duration {
    let exp = (attempt.clamp(1, 32) - 1) as u32;
    let step = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    let half = step / 2;
    half + half.mul_f64(rand::random::<f64>())
}

async fn finish(shared: &Shared, job: &Claimed, error: Option<JobError>) -> Result<()> {
    let now = now_micros();
    let mut tx = shared.store.begin().await?;
    let q = match &error {
        None => sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = $1, lease_until = NULL \
             WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND state = 'running'",
        )
        .bind(now),
        Some(e) if e.permanent || job.attempts >= job.max_attempts => {
            metrics::counter!("jobs_dead_total").increment(1);
            tracing::error!(job = job.id, kind = %job.kind, error = %e, "job is dead");
            sqlx::query(
                "UPDATE jobs SET state = 'dead', finished_at = $1, lease_until = NULL, last_error = $5 \
                 WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND state = 'running'",
            )
            .bind(now)
        }
        Some(_) => {
            let delay = backoff(
                shared.config.backoff_base,
                shared.config.backoff_max,
                job.attempts,
            );
            sqlx::query(
                "UPDATE jobs SET state = 'ready', run_at = $1, lease_until = NULL, locked_by = NULL, last_error = $5 \
                 WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND state = 'running'",
            )
            .bind(now + delay.as_micros() as i64)
        }
    };
    let mut q = q.bind(job.id).bind(&*shared.node).bind(job.attempts);
    if let Some(e) = &error {
        q = q.bind(truncate(&e.message, 4000));
    }
    q.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Put an aborted job back, its attempt not counted.
async fn release(shared: &Shared, job: &Claimed) -> Result<()> {
    let mut tx = shared.store.begin().await?;
    sqlx::query(
        "UPDATE jobs SET state = 'ready', run_at = $1, attempts = attempts - 1, locked_by = NULL, lease_until = NULL \
         WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND state = 'running'",
    )
    .bind(now_micros())
    .bind(job.id)
    .bind(&*shared.node)
    .bind(job.attempts)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(job = job.id, kind = %job.kind, "running job released at shutdown");
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

async fn maintenance_loop(shared: Arc<Shared>, builtin: Vec<Recurring>) {
    let mut stop = shared.stop.subscribe();
    let mut round: u64 = 0;
    loop {
        if let Err(e) = reap_expired(&shared).await {
            tracing::warn!(error = %e, "releasing expired job leases failed");
        }
        for r in shared.registry.recurring.iter().chain(builtin.iter()) {
            if let Err(e) = schedule_recurring(&shared, r).await {
                tracing::warn!(kind = r.kind, error = %e, "enqueueing a recurring job failed");
            }
        }
        if round % 5 == 0 {
            if let Err(e) = record_gauges(&shared).await {
                tracing::debug!(error = %e, "job gauges not updated");
            }
        }
        round += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Jobs whose holder stopped renewing their lease run again (or are dead when out of attempts).
async fn reap_expired(shared: &Shared) -> Result<u64> {
    let now = now_micros();
    let mut tx = shared.store.begin().await?;
    let n = sqlx::query(
        "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END, \
         finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
         last_error = 'the lease expired: its worker stopped (killed or lost)', \
         locked_by = NULL, lease_until = NULL, run_at = $1 \
         WHERE state = 'running' AND lease_until < $1",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if n > 0 {
        metrics::counter!("jobs_lease_expired_total").increment(n);
        tracing::warn!(jobs = n, "expired job leases released");
        wake_local();
    }
    Ok(n)
}

async fn schedule_recurring(shared: &Shared, r: &Recurring) -> Result<()> {
    let now = now_micros();
    let period = r.period.as_micros() as i64;
    let next = (now / period + 1) * period;
    let mut tx = shared.store.begin().await?;
    sqlx::query(
        "INSERT INTO job_schedules (kind, period_micros, next_run_at) VALUES ($1, $2, $3) ON CONFLICT (kind) DO NOTHING",
    )
    .bind(r.kind)
    .bind(period)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let due = sqlx::query(
        "UPDATE job_schedules SET next_run_at = $1, period_micros = $2 WHERE kind = $3 AND next_run_at <= $4",
    )
    .bind(next)
    .bind(period)
    .bind(r.kind)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if due > 0 {
        crate::insert(
            &mut tx,
            &crate::NewJob {
                queue: r.queue,
                kind: r.kind,
                args: &r.args,
                priority: 0,
                run_at: now,
                max_attempts: r.max_attempts,
                unique_key: Some(&format!("recurring:{}", r.kind)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn record_gauges(shared: &Shared) -> Result<()> {
    let mut db = shared.store.conn().await?;
    let queues: Vec<String> = shared
        .config
        .queues
        .iter()
        .map(|(q, _)| q.clone())
        .collect();
    for s in admin::stats(&mut db, &queues).await? {
        let q = s.queue.clone();
        metrics::gauge!("jobs_ready", "queue" => q.clone()).set(s.ready as f64);
        metrics::gauge!("jobs_running", "queue" => q.clone()).set(s.running as f64);
        metrics::gauge!("jobs_scheduled", "queue" => q.clone()).set(s.scheduled as f64);
        metrics::gauge!("jobs_dead", "queue" => q.clone()).set(s.dead as f64);
        metrics::gauge!("jobs_oldest_ready_age_seconds", "queue" => q).set(s.oldest_ready_age_secs);
    }
    Ok(())
}

/// LISTEN for jobs other nodes commit; reconnects with a pause when the connection drops.
async fn listen_loop(shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let session = async {
            let mut listener =
                sqlx::postgres::PgListener::connect(&shared.config.listen_url).await?;
            listener.listen("fanz_jobs").await?;
            loop {
                listener.recv().await?;
                wake_local();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            r = session => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "job notifications lost; reconnecting");
                }
            }
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Enqueue a probe job per count, in batches (for `fanz jobs probe` and the benchmarks).
pub async fn enqueue_probes(
    store: &Store,
    count: usize,
    sleep_ms: u64,
    batch: usize,
) -> Result<()> {
    let batch = batch.max(1);
    let mut left = count;
    while left > 0 {
        let n = left.min(batch);
        let mut tx = store.begin().await?;
        crate::enqueue_many(&mut tx, &vec![Probe { sleep_ms }; n]).await?;
        tx.commit().await?;
        left -= n;
    }
    Ok(())
}

//! The runner against a real store, on SQLite and (with FANZ_TEST_POSTGRES_URL) PostgreSQL.

use fanz_jobs::{Job, JobContext, JobError, Options, Registry, Runner, RunnerConfig};
use fanz_store::sqlx::{self, Row};
use fanz_store::testing::TestDb;
use fanz_store::{Backend, Store};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = fanz_store::testing::TestDb::new(fanz_store::Backend::Sqlite).await.unwrap();
                    super::$name(&db).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match fanz_store::testing::TestDb::new(fanz_store::Backend::Postgres).await {
                        Some(db) => super::$name(&db).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
}

on_both_backends!(
    rollback_enqueues_nothing_and_commit_runs_once,
    unique_keys_hold_under_concurrent_enqueue,
    failures_back_off_then_die_with_the_last_error_and_retry_revives,
    permanent_errors_die_at_once,
    cancelled_jobs_do_not_run_and_a_cancelled_running_job_cannot_complete,
    scheduled_jobs_wait_and_priorities_order_a_queue,
    recurring_jobs_run_once_per_period_with_two_runners,
    shutdown_releases_running_jobs,
    an_expired_lease_runs_the_job_again_exactly_once,
    finished_jobs_are_pruned_after_retention,
);

#[derive(Clone, Serialize, Deserialize)]
struct Record {
    tag: String,
}

impl Job for Record {
    const KIND: &'static str = "test.record";
}

#[derive(Clone, Serialize, Deserialize)]
struct Fail;

impl Job for Fail {
    const KIND: &'static str = "test.fail";
    const MAX_ATTEMPTS: i64 = 3;
}

#[derive(Clone, Serialize, Deserialize)]
struct Slow {
    ms: u64,
}

impl Job for Slow {
    const KIND: &'static str = "test.slow";
}

fn config(node: &str) -> RunnerConfig {
    RunnerConfig {
        node: node.into(),
        queues: vec![("default".into(), 4)],
        poll_interval: Duration::from_millis(100),
        lease: Duration::from_secs(30),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(5),
        ..RunnerConfig::default()
    }
}

/// A registry whose `test.record` handler appends its tag, in the job's own transaction
/// (so a run that lost its lease leaves nothing behind).
fn recording(ran: Arc<Mutex<Vec<String>>>) -> Registry {
    let mut r = Registry::new();
    r.register(move |ctx: JobContext, job: Record| {
        let ran = ran.clone();
        async move {
            let tx = ctx.begin().await?;
            tx.complete().await?;
            ran.lock().unwrap().push(job.tag);
            Ok(())
        }
    });
    r
}

async fn state_of(store: &Store, id: i64) -> (String, i64, Option<String>) {
    let r = sqlx::query("SELECT state, attempts, last_error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// Poll until `f` holds (bounded: 30 s), for effects of background workers.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

async fn rollback_enqueues_nothing_and_commit_runs_once(db: &TestDb) {
    let store = db.store().await.unwrap();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let handle = Runner::new(store.clone(), recording(ran.clone()), config("a")).start();

    let mut tx = store.begin().await.unwrap();
    let rolled = fanz_jobs::enqueue(
        &mut tx,
        &Record {
            tag: "rolled back".into(),
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let kept = fanz_jobs::enqueue(
        &mut tx,
        &Record {
            tag: "committed".into(),
        },
    )
    .await
    .unwrap();
    // Not visible to workers before the commit.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(ran.lock().unwrap().is_empty(), "ran before commit");
    tx.commit().await.unwrap();

    eventually("the committed job ran", || async {
        state_of(&store, kept).await.0 == "done"
    })
    .await;
    // SQLite may give the rolled-back id to the next row (the committed job, or one the
    // runner enqueues itself), so look for the rolled-back job by its arguments.
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM jobs WHERE args LIKE $1")
        .bind("%rolled back%")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert!(rolled > 0 && kept > 0);
    assert_eq!(rows, 0, "the rolled-back job exists");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*ran.lock().unwrap(), vec!["committed".to_owned()]);
    handle.shutdown().await;
}

async fn unique_keys_hold_under_concurrent_enqueue(db: &TestDb) {
    let store = db.store().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let e = fanz_jobs::enqueue_with(
                &mut tx,
                &Record {
                    tag: format!("t{i}"),
                },
                Options::unique("the-one"),
            )
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            tx.commit().await.unwrap();
            e
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for t in tasks {
        let e = t.await.unwrap();
        ids.push(e.id);
        created += e.created as usize;
    }
    ids.dedup();
    let pending: i64 = sqlx::query("SELECT COUNT(*) FROM jobs WHERE unique_key = 'the-one'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 1, "one job for the key");
    assert_eq!(created, 1, "exactly one enqueue created it");
    assert!(
        ids.iter().all(|&id| id == ids[0]),
        "every caller got the same job: {ids:?}"
    );
}

async fn failures_back_off_then_die_with_the_last_error_and_retry_revives(db: &TestDb) {
    let store = db.store().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut r = Registry::new();
    let c = calls.clone();
    r.register(move |ctx: JobContext, _: Fail| {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            Err(JobError::retry(format!("boom on attempt {}", ctx.attempt)))
        }
    });
    let handle = Runner::new(store.clone(), r, config("a")).start();
    let mut tx = store.begin().await.unwrap();
    let id = fanz_jobs::enqueue(&mut tx, &Fail).await.unwrap();
    tx.commit().await.unwrap();

    eventually("the job died", || async {
        state_of(&store, id).await.0 == "dead"
    })
    .await;
    let (_, attempts, error) = state_of(&store, id).await;
    assert_eq!(attempts, 3);
    assert_eq!(error.as_deref(), Some("boom on attempt 3"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Backoff: each retry waited at least half its step (20 ms, 40 ms).
    let r = sqlx::query("SELECT created_at, finished_at FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    let (created, finished): (i64, i64) = (r.get(0), r.get(1));
    assert!(finished - created >= 30_000, "no backoff between attempts");

    let mut db = store.conn().await.unwrap();
    assert!(matches!(
        fanz_jobs::cancel(&mut db, id).await,
        Err(fanz_jobs::JobsError::WrongState { .. })
    ));
    fanz_jobs::retry(&mut db, id).await.unwrap();
    drop(db);
    eventually("the retried job ran", || async {
        calls.load(Ordering::SeqCst) > 3
    })
    .await;
    eventually("and died again", || async {
        state_of(&store, id).await.0 == "dead"
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    handle.shutdown().await;
}

async fn permanent_errors_die_at_once(db: &TestDb) {
    let store = db.store().await.unwrap();
    let mut r = Registry::new();
    r.register(|_: JobContext, _: Fail| async { Err(JobError::permanent("bad arguments")) });
    let handle = Runner::new(store.clone(), r, config("a")).start();
    let mut tx = store.begin().await.unwrap();
    let id = fanz_jobs::enqueue(&mut tx, &Fail).await.unwrap();
    // A kind with no handler anywhere retries, then dies naming the missing handler.
    let orphan = fanz_jobs::enqueue_with(
        &mut tx,
        &Record { tag: "x".into() },
        Options {
            max_attempts: Some(1),
            ..Options::default()
        },
    )
    .await
    .unwrap()
    .id;
    tx.commit().await.unwrap();
    eventually("dead", || async { state_of(&store, id).await.0 == "dead" }).await;
    assert_eq!(state_of(&store, id).await.1, 1);
    eventually("orphan dead", || async {
        state_of(&store, orphan).await.0 == "dead"
    })
    .await;
    assert!(state_of(&store, orphan)
        .await
        .2
        .unwrap()
        .contains("no handler for kind test.record"));
    handle.shutdown().await;
}

async fn cancelled_jobs_do_not_run_and_a_cancelled_running_job_cannot_complete(db: &TestDb) {
    let store = db.store().await.unwrap();
    let completed = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut r = Registry::new();
    let (c, f) = (completed.clone(), refused.clone());
    r.register(move |ctx: JobContext, job: Slow| {
        let (c, f) = (c.clone(), f.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(job.ms)).await;
            let tx = ctx.begin().await?;
            match tx.complete().await {
                Ok(()) => c.fetch_add(1, Ordering::SeqCst),
                Err(_) => f.fetch_add(1, Ordering::SeqCst),
            };
            Ok(())
        }
    });
    let mut tx = store.begin().await.unwrap();
    let waiting = fanz_jobs::enqueue_with(&mut tx, &Slow { ms: 0 }, Options::at(i64::MAX / 2))
        .await
        .unwrap()
        .id;
    let running = fanz_jobs::enqueue(&mut tx, &Slow { ms: 1500 })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut db = store.conn().await.unwrap();
    fanz_jobs::cancel(&mut db, waiting).await.unwrap();
    drop(db);
    let handle = Runner::new(store.clone(), r, config("a")).start();
    eventually("running", || async {
        state_of(&store, running).await.0 == "running"
    })
    .await;
    let mut db = store.conn().await.unwrap();
    fanz_jobs::cancel(&mut db, running).await.unwrap();
    drop(db);
    eventually("the handler finished", || async {
        refused.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(completed.load(Ordering::SeqCst), 0);
    assert_eq!(state_of(&store, running).await.0, "cancelled");
    assert_eq!(state_of(&store, waiting).await.0, "cancelled");
    handle.shutdown().await;
}

async fn scheduled_jobs_wait_and_priorities_order_a_queue(db: &TestDb) {
    let store = db.store().await.unwrap();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let now = fanz_core::clock::now_micros();
    let mut tx = store.begin().await.unwrap();
    for (tag, priority) in [("low", 0), ("high", 10), ("mid", 5)] {
        fanz_jobs::enqueue_with(
            &mut tx,
            &Record { tag: tag.into() },
            Options {
                priority: Some(priority),
                ..Options::default()
            },
        )
        .await
        .unwrap();
    }
    let later = fanz_jobs::enqueue_with(
        &mut tx,
        &Record {
            tag: "later".into(),
        },
        Options::at(now + 1_500_000),
    )
    .await
    .unwrap()
    .id;
    tx.commit().await.unwrap();
    let mut c = config("a");
    c.queues = vec![("default".into(), 1)];
    let handle = Runner::new(store.clone(), recording(ran.clone()), c).start();
    eventually("three ran", || async { ran.lock().unwrap().len() >= 3 }).await;
    assert_eq!(ran.lock().unwrap()[..3], ["high", "mid", "low"]);
    eventually("the scheduled one ran", || async {
        state_of(&store, later).await.0 == "done"
    })
    .await;
    let started: i64 = sqlx::query("SELECT started_at FROM jobs WHERE id = $1")
        .bind(later)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert!(started >= now + 1_500_000, "ran before its run_at");
    handle.shutdown().await;
}

#[derive(Clone, Serialize, Deserialize)]
struct Tick;

impl Job for Tick {
    const KIND: &'static str = "test.tick";
}

async fn recurring_jobs_run_once_per_period_with_two_runners(db: &TestDb) {
    let store = db.store().await.unwrap();
    let runs = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for node in ["a", "b"] {
        let mut r = Registry::new();
        let runs = runs.clone();
        r.register(move |ctx: JobContext, _: Tick| {
            let runs = runs.clone();
            async move {
                runs.lock()
                    .unwrap()
                    .push((fanz_core::clock::now_micros(), ctx.node().to_owned()));
                Ok(())
            }
        });
        r.every(Duration::from_secs(1), Tick);
        handles.push(Runner::new(store.clone(), r, config(node)).start());
    }
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    for h in &handles {
        h.shutdown().await;
    }
    let periods = started.elapsed().as_secs() as usize + 2; // the first run, and each boundary
    let runs = runs.lock().unwrap().clone();
    let n = runs.len();
    assert!(n >= 3, "too few runs: {runs:?}");
    // Two runners racing without the schedule's guard would enqueue about twice per period.
    assert!(n <= periods, "{n} runs in {periods} periods: {runs:?}");
    let enqueued: i64 = sqlx::query("SELECT COUNT(*) FROM jobs WHERE kind = 'test.tick'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(enqueued as usize, n, "every enqueued tick ran once");
    let nodes: std::collections::HashSet<&str> = runs.iter().map(|(_, n)| n.as_str()).collect();
    assert!(!nodes.is_empty());
}

async fn shutdown_releases_running_jobs(db: &TestDb) {
    let store = db.store().await.unwrap();
    let mut r = Registry::new();
    r.register(|_: JobContext, job: Slow| async move {
        tokio::time::sleep(Duration::from_millis(job.ms)).await;
        Ok(())
    });
    let mut c = config("a");
    c.shutdown_grace = Duration::from_millis(300);
    let handle = Runner::new(store.clone(), r, c).start();
    let mut tx = store.begin().await.unwrap();
    let quick = fanz_jobs::enqueue(&mut tx, &Slow { ms: 100 })
        .await
        .unwrap();
    let long = fanz_jobs::enqueue(&mut tx, &Slow { ms: 60_000 })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    eventually("both running", || async {
        state_of(&store, long).await.0 == "running"
    })
    .await;
    handle.shutdown().await;
    assert_eq!(
        state_of(&store, quick).await.0,
        "done",
        "a job within the grace period finishes"
    );
    let (state, attempts, _) = state_of(&store, long).await;
    assert_eq!(
        (state.as_str(), attempts),
        ("ready", 0),
        "a long job is released uncounted"
    );
    assert!(!handle.health().healthy, "a stopped runner is not ready");
}

async fn an_expired_lease_runs_the_job_again_exactly_once(db: &TestDb) {
    let store = db.store().await.unwrap();
    // A job claimed by a worker that vanished: running, lease in the past.
    let mut tx = store.begin().await.unwrap();
    let id = fanz_jobs::enqueue(
        &mut tx,
        &Record {
            tag: "orphaned".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'running', attempts = 1, locked_by = 'gone', lease_until = $1 WHERE id = $2")
        .bind(fanz_core::clock::now_micros() - 1)
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let handle = Runner::new(store.clone(), recording(ran.clone()), config("b")).start();
    eventually("ran again", || async {
        state_of(&store, id).await.0 == "done"
    })
    .await;
    assert_eq!(*ran.lock().unwrap(), vec!["orphaned".to_owned()]);
    let (_, attempts, error) = state_of(&store, id).await;
    assert_eq!(attempts, 2);
    assert!(error.unwrap().contains("lease expired"));
    // The vanished worker cannot complete it any more.
    let done = sqlx::query(
        "UPDATE jobs SET state = 'done' WHERE id = $1 AND locked_by = 'gone' AND state = 'running'",
    )
    .bind(id)
    .execute(store.pool())
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(done, 0);
    handle.shutdown().await;
}

async fn finished_jobs_are_pruned_after_retention(db: &TestDb) {
    let store = db.store().await.unwrap();
    let now = fanz_core::clock::now_micros();
    let mut tx = store.begin().await.unwrap();
    let old = fanz_jobs::enqueue(&mut tx, &Record { tag: "old".into() })
        .await
        .unwrap();
    let fresh = fanz_jobs::enqueue(
        &mut tx,
        &Record {
            tag: "fresh".into(),
        },
    )
    .await
    .unwrap();
    let dead = fanz_jobs::enqueue(&mut tx, &Record { tag: "dead".into() })
        .await
        .unwrap();
    for (id, state, at) in [
        (old, "done", now - 10_000_000),
        (fresh, "done", now),
        (dead, "dead", now - 10_000_000),
    ] {
        sqlx::query("UPDATE jobs SET state = $1, finished_at = $2 WHERE id = $3")
            .bind(state)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let pruned = fanz_jobs::prune(&mut tx, now, 5_000_000, 60_000_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(pruned, 1);
    let left: Vec<i64> = sqlx::query("SELECT id FROM jobs ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, vec![fresh, dead]);
    let _ = Backend::Sqlite;
}

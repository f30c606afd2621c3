//! The per-account order of postings on SQLite, kept as a small LSM tree so that a commit
//! appends instead of rewriting one page per touched account (migration 0090).
//!
//! * `ledger_postings_recent (bucket, account_id, effective_at, id)`: every new posting, filled
//!   by a trigger. `bucket` is `id >> BUCKET_BITS` and leads the key, so a commit writes only
//!   the last bucket's pages, which fill one after another like the postings themselves.
//! * `ledger_postings_runs (run, account_id, effective_at, id)`: sorted runs. Once the recent
//!   part spans [`MergeConfig::after_buckets`] buckets, a merge cycle copies every bucket but
//!   the one being written into a new run, numbered after every other: an account range per
//!   chunk (one transaction of at most [`MergeConfig::chunk`] lines), in key order, so every
//!   chunk is an append at the end of the table. The new run is invisible while it is built.
//!   Then one small transaction makes it visible and the buckets it covers invisible
//!   (`ledger_postings_merge.visible_run`, `recent_floor`), and the cycle deletes those
//!   buckets, a few whole buckets per transaction.
//!
//! Every line is written three times (the trigger, the copy, the delete), each time as part of
//! pages that are filled or emptied one after another, whatever the number of accounts: the
//! cost per posting is flat. A reader of one account ([`account_postings`]) seeks its range in
//! each visible run and each visible recent bucket; every posting is in exactly one of them at
//! every moment (a switch is one transaction), which [`check_structure`] (part of `verify`)
//! checks posting by posting.
//!
//! The merge runs as the `ledger.merge_postings` job ([`MergePostings`], queue `maintenance`):
//! every 5 s it looks whether a cycle is due or under way and takes one step (start, copy one
//! chunk, switch, or delete a few buckets); after a step that did something it enqueues itself
//! again in the step's transaction, so a cycle runs step after step with the write lock
//! released in between, and resumes from `ledger_postings_merge` after a restart. PostgreSQL
//! keeps its B-tree index on `(account_id, effective_at, id)`: there the job does nothing.

use crate::{LedgerError, Result};
use fanz_store::{backend_of, sqlx, Backend, Db, Store};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A recent bucket holds the postings whose ids share `id >> BUCKET_BITS` (16,384 postings).
/// The trigger of migration 0090 computes it; [`check_structure`] checks that it agrees.
pub const BUCKET_BITS: u32 = 14;
const BUCKET_LINES: i64 = 1 << BUCKET_BITS;

/// When and how much to merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeConfig {
    /// Start a cycle once the recent part spans this many buckets (64: about a million
    /// postings; at least 1). Fewer: more runs, each a seek for every read of an account.
    /// More: more recent buckets, each also a seek.
    pub after_buckets: i64,
    /// The most lines one step (one write transaction) copies or deletes.
    pub chunk: usize,
}

impl Default for MergeConfig {
    fn default() -> Self {
        Self {
            after_buckets: 64,
            chunk: 50_000,
        }
    }
}

/// The visible runs, newest first, as a subquery.
const VISIBLE_RUNS: &str = "WITH RECURSIVE s(n) AS (\
     SELECT visible_run FROM ledger_postings_merge WHERE id = 1 AND visible_run > 0 \
     UNION ALL SELECT n - 1 FROM s WHERE n > 1) SELECT n FROM s";

/// The visible recent buckets (above the floor), newest first, as a subquery.
const VISIBLE_BUCKETS: &str = "WITH RECURSIVE f(v) AS (\
     SELECT recent_floor FROM ledger_postings_merge WHERE id = 1), \
     b(n) AS (SELECT MAX(bucket) FROM ledger_postings_recent \
     UNION ALL SELECT n - 1 FROM b WHERE n - 1 > (SELECT v FROM f)) \
     SELECT n FROM b WHERE n > (SELECT v FROM f)";

/// A subquery (for a `FROM` clause) giving the `ledger_postings` rows (`id, entry_id,
/// account_id, debit, credit, pending, effective_at`) of the accounts matching `cond`, a
/// condition on `account_id` such as `= $1` or `IN (SELECT id FROM ledger_accounts WHERE …)`.
/// Conditions on `effective_at` written outside it reach the per-account order of each part.
pub(crate) fn account_postings(backend: Backend, cond: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "(SELECT id, entry_id, account_id, debit, credit, pending, effective_at \
             FROM ledger_postings WHERE account_id {cond})"
        ),
        Backend::Sqlite => format!(
            "(SELECT p.id, p.entry_id, p.account_id, p.debit, p.credit, p.pending, x.effective_at \
               FROM ledger_postings_runs x JOIN ledger_postings p ON p.id = x.id \
               WHERE x.run IN ({VISIBLE_RUNS}) AND x.account_id {cond} \
             UNION ALL \
             SELECT p.id, p.entry_id, p.account_id, p.debit, p.credit, p.pending, r.effective_at \
               FROM ledger_postings_recent r JOIN ledger_postings p ON p.id = r.id \
               WHERE r.bucket IN ({VISIBLE_BUCKETS}) AND r.account_id {cond})"
        ),
    }
}

/// The merge's progress (the row of `ledger_postings_merge`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    phase: String,
    visible_run: i64,
    recent_floor: i64,
    cursor_account: i64,
    cursor_bucket: i64,
}

async fn state(db: &mut Db) -> Result<State> {
    let r = sqlx::query(
        "SELECT phase, visible_run, recent_floor, cursor_account, cursor_bucket \
         FROM ledger_postings_merge WHERE id = 1",
    )
    .fetch_one(&mut *db)
    .await?;
    Ok(State {
        phase: r.get(0),
        visible_run: r.get(1),
        recent_floor: r.get(2),
        cursor_account: r.get(3),
        cursor_bucket: r.get(4),
    })
}

/// One step of a cycle, planned from a read snapshot and made in one write transaction that
/// first checks the progress is still what the plan saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Start building run `run` from the buckets `[from_bucket, through_bucket]`.
    Start {
        run: i64,
        from_bucket: i64,
        through_bucket: i64,
    },
    /// Copy the lines of buckets `[from_bucket, through_bucket]` and accounts `[from_account,
    /// to_account)` into run `run`, then move the cursor to `next`.
    Copy {
        run: i64,
        from_bucket: i64,
        through_bucket: i64,
        from_account: i64,
        to_account: i64,
        next: (i64, i64),
    },
    /// Run `run` is complete: make it visible, and the buckets up to `through_bucket`
    /// invisible.
    Switch { run: i64, through_bucket: i64 },
    /// Delete the invisible buckets `[from_bucket, through_bucket]`; `last`: the cycle ends.
    Drop {
        from_bucket: i64,
        through_bucket: i64,
        last: bool,
    },
}

/// The bucket list `[lo, hi]` as a subquery (`lo`, `hi`: SQL expressions or parameters).
fn bucket_range(lo: &str, hi: &str) -> String {
    format!("WITH RECURSIVE b(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM b WHERE n < {hi}) SELECT n FROM b")
}

/// The buckets run `run` covers: after the previous run's last, up to its own.
async fn run_buckets(db: &mut Db, run: i64) -> Result<(i64, i64)> {
    let r = sqlx::query(
        "SELECT COALESCE((SELECT through_bucket FROM ledger_postings_run_list WHERE run = $1 - 1), -1) + 1, \
                (SELECT through_bucket FROM ledger_postings_run_list WHERE run = $1)",
    )
    .bind(run)
    .fetch_one(&mut *db)
    .await?;
    let through: Option<i64> = r.get(1);
    let through = through.ok_or_else(|| {
        LedgerError::Invalid(format!(
            "merge: run {run} is not in ledger_postings_run_list"
        ))
    })?;
    Ok((r.get(0), through))
}

/// Decide the next step from a read connection. `None`: nothing to do now.
pub(crate) async fn plan_step(db: &mut Db, config: &MergeConfig) -> Result<Option<Step>> {
    if backend_of(db) != Backend::Sqlite {
        return Ok(None);
    }
    let s = state(db).await?;
    match s.phase.as_str() {
        "idle" => {
            let r = sqlx::query(
                "SELECT (SELECT MIN(bucket) FROM ledger_postings_recent), \
                        (SELECT MAX(bucket) FROM ledger_postings_recent)",
            )
            .fetch_one(&mut *db)
            .await?;
            let (Some(lo), Some(hi)) = (r.get::<Option<i64>, _>(0), r.get::<Option<i64>, _>(1))
            else {
                return Ok(None);
            };
            let lo = lo.max(s.recent_floor + 1);
            // The last bucket may still be written: it stays for the next cycle.
            if hi - lo < config.after_buckets.max(1) {
                return Ok(None);
            }
            Ok(Some(Step::Start {
                run: s.visible_run + 1,
                from_bucket: s.recent_floor + 1,
                through_bucket: hi - 1,
            }))
        }
        "building" => {
            let run = s.visible_run + 1;
            let (lo, hi) = run_buckets(db, run).await?;
            plan_copy(db, config, run, lo, hi, s.cursor_account, s.cursor_bucket).await
        }
        "dropping" => {
            let lo: Option<i64> = sqlx::query("SELECT MIN(bucket) FROM ledger_postings_recent")
                .fetch_one(&mut *db)
                .await?
                .get(0);
            let per_step = (config.chunk as i64 / BUCKET_LINES).max(1);
            Ok(Some(match lo {
                Some(lo) if lo <= s.recent_floor => {
                    let through = (lo + per_step - 1).min(s.recent_floor);
                    Step::Drop {
                        from_bucket: lo,
                        through_bucket: through,
                        last: through == s.recent_floor,
                    }
                }
                _ => Step::Drop {
                    from_bucket: s.recent_floor + 1,
                    through_bucket: s.recent_floor,
                    last: true,
                },
            }))
        }
        other => Err(LedgerError::Invalid(format!(
            "merge: unknown phase {other:?} in ledger_postings_merge"
        ))),
    }
}

/// The next copy of a run being built over the buckets `[lo, hi]`, from the cursor: lines of
/// accounts below `account` are copied, and of `account` itself those up to bucket `bucket`.
async fn plan_copy(
    db: &mut Db,
    config: &MergeConfig,
    run: i64,
    lo: i64,
    hi: i64,
    account: i64,
    bucket: i64,
) -> Result<Option<Step>> {
    let chunk = config.chunk.max(1) as i64;
    if bucket >= lo {
        // Within one account that is larger than a chunk: its next buckets.
        return Ok(Some(
            split_account(db, chunk, run, account, bucket + 1, hi).await?,
        ));
    }
    let buckets = bucket_range("$1", "$2");
    let first: Option<i64> = sqlx::query(&format!(
        "SELECT MIN((SELECT r.account_id FROM ledger_postings_recent r \
                     WHERE r.bucket = b.n AND r.account_id >= $3 ORDER BY r.account_id LIMIT 1)) \
         FROM ({buckets}) b"
    ))
    .bind(lo)
    .bind(hi)
    .bind(account)
    .fetch_one(&mut *db)
    .await?
    .get(0);
    let Some(from_account) = first else {
        return Ok(Some(Step::Switch {
            run,
            through_bucket: hi,
        }));
    };
    // In each bucket, the account of the line `per_bucket` lines past the first account: below
    // the smallest of them no bucket holds more than `per_bucket` lines of the chunk.
    let per_bucket = (chunk / (hi - lo + 1).max(1)).max(1);
    let limit: Option<i64> = sqlx::query(&format!(
        "SELECT MIN((SELECT r.account_id FROM ledger_postings_recent r \
                     WHERE r.bucket = b.n AND r.account_id >= $3 \
                     ORDER BY r.account_id, r.effective_at, r.id LIMIT 1 OFFSET $4)) FROM ({buckets}) b"
    ))
    .bind(lo)
    .bind(hi)
    .bind(from_account)
    .bind(per_bucket)
    .fetch_one(&mut *db)
    .await?
    .get(0);
    match limit {
        None => Ok(Some(Step::Copy {
            run,
            from_bucket: lo,
            through_bucket: hi,
            from_account,
            to_account: i64::MAX,
            next: (i64::MAX, lo - 1),
        })),
        Some(to_account) if to_account > from_account => Ok(Some(Step::Copy {
            run,
            from_bucket: lo,
            through_bucket: hi,
            from_account,
            to_account,
            next: (to_account, lo - 1),
        })),
        // One account has more lines than a chunk's share in some bucket (a platform or
        // processor account, a popular creator): it is copied a few buckets at a time.
        Some(_) => Ok(Some(
            split_account(db, chunk, run, from_account, lo, hi).await?,
        )),
    }
}

/// Copy `account`'s lines from bucket `from` on, as many buckets as fit in a chunk (at least
/// one: a bucket holds at most 16,384 lines).
async fn split_account(
    db: &mut Db,
    chunk: i64,
    run: i64,
    account: i64,
    from: i64,
    hi: i64,
) -> Result<Step> {
    let mut through = from;
    let mut taken = 0i64;
    for bucket in from..=hi {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM ledger_postings_recent WHERE bucket = $1 AND account_id = $2",
        )
        .bind(bucket)
        .bind(account)
        .fetch_one(&mut *db)
        .await?
        .get(0);
        if taken + n > chunk && bucket > from {
            break;
        }
        taken += n;
        through = bucket;
    }
    let lo = from.min(hi);
    Ok(Step::Copy {
        run,
        from_bucket: lo,
        through_bucket: through,
        from_account: account,
        to_account: account + 1,
        next: if through >= hi {
            (account + 1, i64::MIN)
        } else {
            (account, through)
        },
    })
}

/// Make `step` in the caller's write transaction. Returns how many lines it copied or
/// deleted, or `None` when the progress is no longer what the plan saw (another merge moved
/// it): nothing was done, roll back.
pub(crate) async fn take_step(db: &mut Db, step: &Step) -> Result<Option<u64>> {
    let s = state(db).await?;
    match step {
        Step::Start {
            run,
            from_bucket,
            through_bucket,
        } => {
            if s.phase != "idle" || s.visible_run + 1 != *run || s.recent_floor + 1 != *from_bucket
            {
                return Ok(None);
            }
            sqlx::query(
                "INSERT INTO ledger_postings_run_list (run, through_bucket) VALUES ($1, $2)",
            )
            .bind(run)
            .bind(through_bucket)
            .execute(&mut *db)
            .await?;
            sqlx::query(
                "UPDATE ledger_postings_merge SET phase = 'building', cursor_account = $1, cursor_bucket = $2 WHERE id = 1",
            )
            .bind(i64::MIN)
            .bind(i64::MIN)
            .execute(&mut *db)
            .await?;
            Ok(Some(0))
        }
        Step::Copy {
            run,
            from_bucket,
            through_bucket,
            from_account,
            to_account,
            next,
        } => {
            let (lo, _) = run_buckets(db, *run).await?;
            let resumes = if *to_account == from_account + 1 && *from_bucket > lo {
                // The next buckets of a split account.
                s.cursor_account == *from_account && s.cursor_bucket == from_bucket - 1
            } else {
                s.cursor_account <= *from_account && s.cursor_bucket < lo
            };
            if s.phase != "building" || s.visible_run + 1 != *run || !resumes {
                return Ok(None);
            }
            let n = sqlx::query(&format!(
                "INSERT INTO ledger_postings_runs (run, account_id, effective_at, id) \
                 SELECT $1, account_id, effective_at, id FROM ledger_postings_recent \
                 WHERE bucket IN ({}) AND account_id >= $4 AND account_id < $5 \
                 ORDER BY account_id, effective_at, id",
                bucket_range("$2", "$3")
            ))
            .bind(run)
            .bind(from_bucket)
            .bind(through_bucket)
            .bind(from_account)
            .bind(to_account)
            .execute(&mut *db)
            .await?
            .rows_affected();
            sqlx::query(
                "UPDATE ledger_postings_merge SET cursor_account = $1, cursor_bucket = $2 WHERE id = 1",
            )
            .bind(next.0)
            .bind(next.1)
            .execute(&mut *db)
            .await?;
            Ok(Some(n))
        }
        Step::Switch {
            run,
            through_bucket,
        } => {
            if s.phase != "building" || s.visible_run + 1 != *run {
                return Ok(None);
            }
            sqlx::query(
                "UPDATE ledger_postings_merge SET phase = 'dropping', visible_run = $1, recent_floor = $2 WHERE id = 1",
            )
            .bind(run)
            .bind(through_bucket)
            .execute(&mut *db)
            .await?;
            Ok(Some(0))
        }
        Step::Drop {
            from_bucket,
            through_bucket,
            last,
        } => {
            if s.phase != "dropping" || *through_bucket > s.recent_floor {
                return Ok(None);
            }
            let n = sqlx::query(
                "DELETE FROM ledger_postings_recent WHERE bucket >= $1 AND bucket <= $2",
            )
            .bind(from_bucket)
            .bind(through_bucket)
            .execute(&mut *db)
            .await?
            .rows_affected();
            if *last {
                sqlx::query(
                    "UPDATE ledger_postings_merge SET phase = 'idle', cursor_account = 0, cursor_bucket = -1 WHERE id = 1",
                )
                .execute(&mut *db)
                .await?;
            }
            Ok(Some(n))
        }
    }
}

/// What merging has done in this process since the last [`take_merge_stats`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MergeStats {
    /// Write transactions of the merge (steps).
    pub steps: u64,
    /// Lines copied into runs.
    pub copied: u64,
    /// Lines deleted from the recent part.
    pub dropped: u64,
    /// The longest a step held the write lock (from `BEGIN IMMEDIATE` to the end of its
    /// commit), in milliseconds.
    pub lock_max_ms: f64,
    pub lock_total_ms: f64,
    /// The longest commit of a step (its share of `lock_max_ms` spent syncing the log, and
    /// copying it back to the database when the step's commit is the one that checkpoints).
    pub commit_max_ms: f64,
    /// Each step's time holding the lock, in milliseconds, in the order they committed.
    #[serde(skip)]
    pub lock_ms: Vec<f64>,
}

impl MergeStats {
    /// Add `other`'s figures to these.
    pub fn add(&mut self, other: &MergeStats) {
        self.steps += other.steps;
        self.copied += other.copied;
        self.dropped += other.dropped;
        self.lock_total_ms += other.lock_total_ms;
        self.lock_max_ms = self.lock_max_ms.max(other.lock_max_ms);
        self.commit_max_ms = self.commit_max_ms.max(other.commit_max_ms);
        self.lock_ms.extend_from_slice(&other.lock_ms);
    }
}

static STATS: Mutex<MergeStats> = Mutex::new(MergeStats {
    steps: 0,
    copied: 0,
    dropped: 0,
    lock_max_ms: 0.0,
    lock_total_ms: 0.0,
    commit_max_ms: 0.0,
    lock_ms: Vec::new(),
});

fn note_step(step: &Step, lines: u64, held: Duration, commit: Duration) {
    let ms = held.as_secs_f64() * 1000.0;
    let mut s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    s.steps += 1;
    match step {
        Step::Copy { .. } => s.copied += lines,
        Step::Drop { .. } => s.dropped += lines,
        Step::Start { .. } | Step::Switch { .. } => {}
    }
    s.lock_total_ms += ms;
    s.lock_max_ms = s.lock_max_ms.max(ms);
    s.commit_max_ms = s.commit_max_ms.max(commit.as_secs_f64() * 1000.0);
    s.lock_ms.push(ms);
}

/// The merge figures since the last call (for `fanz bench ledger`), and start again from zero.
pub fn take_merge_stats() -> MergeStats {
    std::mem::take(&mut *STATS.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Plan and take one step in a transaction of its own (tests, the CLI). `None`: nothing to do
/// now; `Some(lines)` copied or deleted (0 for a start or a switch).
pub async fn merge_step(store: &Store, config: &MergeConfig) -> Result<Option<u64>> {
    let plan = {
        let mut conn = store.conn().await.map_err(store_error)?;
        plan_step(&mut conn, config).await?
    };
    let Some(step) = plan else {
        return Ok(None);
    };
    let mut tx = store.begin().await.map_err(store_error)?;
    let started = Instant::now();
    let Some(lines) = take_step(&mut tx, &step).await? else {
        tx.rollback().await?;
        return Ok(Some(0));
    };
    let committing = Instant::now();
    tx.commit().await?;
    note_step(&step, lines, started.elapsed(), committing.elapsed());
    Ok(Some(lines))
}

fn store_error(e: fanz_store::StoreError) -> LedgerError {
    match e {
        fanz_store::StoreError::Database(e) => LedgerError::Database(e),
        other => LedgerError::Invalid(other.to_string()),
    }
}

/// The merge job: one step per run (see the module's documentation).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MergePostings {}

impl fanz_jobs::Job for MergePostings {
    const KIND: &'static str = "ledger.merge_postings";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i64 = 3;
}

/// Register [`MergePostings`] with `config`, and its run every 5 s.
pub fn register_merge(registry: &mut fanz_jobs::Registry, config: MergeConfig) {
    registry.register(
        move |ctx: fanz_jobs::JobContext, _: MergePostings| async move {
            if ctx.store().backend() != Backend::Sqlite {
                return Ok(());
            }
            let plan = {
                let mut conn = ctx.store().conn().await?;
                plan_step(&mut conn, &config).await?
            };
            let Some(step) = plan else {
                return Ok(());
            };
            let mut tx = ctx.begin().await?;
            let started = Instant::now();
            let lines = take_step(&mut tx, &step).await?;
            if lines.is_some() {
                // The next step at once (a waiting one is reused), enqueued with this one. When
                // another merge had moved on meanwhile, continuing is that one's turn.
                fanz_jobs::enqueue_with(
                    &mut tx,
                    &MergePostings {},
                    fanz_jobs::Options::unique(<MergePostings as fanz_jobs::Job>::KIND),
                )
                .await?;
            }
            let committing = Instant::now();
            tx.complete().await?;
            let held = started.elapsed();
            if let Some(lines) = lines {
                note_step(&step, lines, held, committing.elapsed());
            }
            tracing::debug!(
                ?step,
                ?lines,
                held_ms = held.as_secs_f64() * 1000.0,
                "ledger postings merge step"
            );
            Ok(())
        },
    );
    registry.every(Duration::from_secs(5), MergePostings {});
}

/// SQLite: every posting is in exactly one visible part (a visible run, or a recent bucket
/// above the floor), under its own account, time and bucket. Returns the problems found (at
/// most 100 postings named).
pub(crate) async fn check_structure(db: &mut Db) -> Result<Vec<String>> {
    if backend_of(db) != Backend::Sqlite {
        return Ok(vec![]);
    }
    let mut problems = Vec::new();
    let s = state(db).await?;
    let missing = sqlx::query(&format!(
        "SELECT p.id FROM ledger_postings p \
         WHERE CASE WHEN (p.id >> {BUCKET_BITS}) > $1 \
           THEN NOT EXISTS (SELECT 1 FROM ledger_postings_recent r \
                            WHERE r.bucket = (p.id >> {BUCKET_BITS}) AND r.account_id = p.account_id \
                              AND r.effective_at = p.effective_at AND r.id = p.id) \
           ELSE NOT EXISTS (SELECT 1 FROM ledger_postings_runs x \
                            WHERE x.run = (SELECT l.run FROM ledger_postings_run_list l \
                                           WHERE l.through_bucket >= (p.id >> {BUCKET_BITS}) \
                                           ORDER BY l.through_bucket LIMIT 1) \
                              AND x.run <= $2 AND x.account_id = p.account_id \
                              AND x.effective_at = p.effective_at AND x.id = p.id) END \
         ORDER BY p.id LIMIT 100"
    ))
    .bind(s.recent_floor)
    .bind(s.visible_run)
    .fetch_all(&mut *db)
    .await?;
    for r in missing {
        problems.push(format!(
            "posting {} is missing from its account's history",
            r.get::<i64, _>(0)
        ));
    }
    // Every posting found at least once and as many visible lines as postings: each exactly
    // once.
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM ledger_postings), \
                (SELECT COUNT(*) FROM ledger_postings_runs WHERE run <= $1), \
                (SELECT COUNT(*) FROM ledger_postings_recent WHERE bucket > $2)",
    )
    .bind(s.visible_run)
    .bind(s.recent_floor)
    .fetch_one(&mut *db)
    .await?;
    let (postings, in_runs, recent): (i64, i64, i64) =
        (counts.get(0), counts.get(1), counts.get(2));
    if in_runs + recent != postings {
        problems.push(format!(
            "the per-account history holds {} lines ({in_runs} in runs, {recent} recent) for {postings} postings",
            in_runs + recent
        ));
    }
    Ok(problems)
}

//! `fanz bench ledger`: post many entries through the full path (validation, idempotency,
//! flags, totals, the audit record, a durable commit) and report the curve: throughput, batch
//! latency and bytes written per entry for every slice of the run, so a cost that grows with
//! the number of entries or accounts shows as a slope rather than hiding in an average.

use crate::accounts::{create_account, AccountKind, NewAccount};
use crate::batch::post_batch;
use crate::journal::{BatchMode, Direction, EntryInput, PostingInput};
use crate::{LedgerError, Result};
use fanz_audit::Actor;
use fanz_core::sample::{SplitMix64 as Rng, Zipf};
use fanz_store::{sqlx, Backend, Store};
use serde::Serialize;
use sqlx::Row;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// How the credited account of each entry is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Skew {
    /// Every receiving account equally likely.
    Uniform,
    /// Zipf with exponent `s` over the receiving accounts: most entries credit a few of them
    /// (popular creators), as in life. The paying side stays uniform (many fans).
    Zipf { s: f64 },
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub entries: usize,
    pub batch: usize,
    pub accounts: usize,
    /// Every entry credits one hot account (the platform fee account's situation).
    pub hot: bool,
    pub skew: Skew,
    /// Report a slice every this many entries.
    pub slice: usize,
    /// Where to time synced 4 KiB writes before the run (the store's disk); none: skipped.
    pub probe_dir: Option<PathBuf>,
    /// SQLite: `PRAGMA`s run on the write connection before the run (`cache_size = -65536`),
    /// to measure a setting before making it the default.
    pub pragmas: Vec<String>,
    /// SQLite: run the `ledger.merge_postings` job beside the posting (in this process, through
    /// a job runner, as the server does) with this configuration; none: never merge.
    pub merge: Option<crate::merge::MergeConfig>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            entries: 100_000,
            batch: 100,
            accounts: 1_000,
            hot: false,
            skew: Skew::Uniform,
            slice: 100_000,
            probe_dir: None,
            pragmas: vec![],
            merge: Some(crate::merge::MergeConfig::default()),
        }
    }
}

/// One slice of the run: the entries posted since the previous slice.
#[derive(Debug, Clone, Serialize)]
pub struct SliceReport {
    /// Entries in the store (of this run) when the slice ended.
    pub entries_total: usize,
    pub entries: usize,
    pub seconds: f64,
    pub entries_per_sec: f64,
    pub batch_p50_ms: f64,
    pub batch_p99_ms: f64,
    pub batch_max_ms: f64,
    /// Bytes this process caused to be written to storage (`write_bytes` of
    /// `/proc/self/io`) per entry: on SQLite the log and the checkpoints.
    pub written_bytes_per_entry: f64,
    /// PostgreSQL: WAL the server generated per entry (`pg_current_wal_lsn` difference).
    pub wal_bytes_per_entry: Option<f64>,
    /// The store's size when the slice ended (SQLite: database and log files; PostgreSQL:
    /// the database).
    pub store_bytes: u64,
    /// SQLite: merge steps that committed during the slice, the lines they copied into runs
    /// and deleted from the recent part, and the longest any of them held the write lock.
    pub merge_steps: u64,
    pub merge_copied: u64,
    pub merge_dropped: u64,
    pub merge_lock_max_ms: f64,
}

/// Synced 4 KiB writes timed before the run: what one durable commit costs at least.
#[derive(Debug, Clone, Serialize)]
pub struct SyncProbe {
    pub writes: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub backend: &'static str,
    pub entries: usize,
    pub batch: usize,
    pub accounts: usize,
    pub skew: String,
    pub postings: usize,
    pub seconds: f64,
    pub entries_per_sec: f64,
    pub postings_per_sec: f64,
    pub batch_p50_ms: f64,
    pub batch_p99_ms: f64,
    pub batch_p999_ms: f64,
    pub batch_max_ms: f64,
    pub written_bytes_per_entry: f64,
    pub wal_bytes_per_entry: Option<f64>,
    pub store_bytes: u64,
    /// SQLite: the merge over the whole run, the p99 of its steps' time holding the write
    /// lock, and the lines still in the recent part at the end.
    pub merge: Option<crate::merge::MergeStats>,
    pub merge_lock_p99_ms: Option<f64>,
    pub recent_lines: Option<i64>,
    /// Per-account reads at the end of the run, on 200 of the accounts: the history (its
    /// first 1,000 lines, as the API gives it) and the balance at an instant.
    pub reads: Vec<ReadTiming>,
    pub sync_write: Option<SyncProbe>,
    pub slices: Vec<SliceReport>,
    /// PostgreSQL: sequential scans of the ledger's and the audit log's tables during the
    /// timed part (from `pg_stat_user_tables`): a write path on its indexes makes none.
    pub seq_scans: Vec<SeqScans>,
    /// How the write path's lookups are planned at the end of the run, as the write path
    /// runs them ([`crate::fresh_plans`]).
    pub plans: Vec<(String, String)>,
}

/// How long one kind of read took.
#[derive(Debug, Clone, Serialize)]
pub struct ReadTiming {
    pub what: String,
    pub reads: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Sequential scans of one table and the rows they read.
#[derive(Debug, Clone, Serialize)]
pub struct SeqScans {
    pub table: String,
    pub scans: i64,
    pub rows_read: i64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = &self.sync_write {
            writeln!(
                f,
                "synced 4 KiB write ({} writes): p50 {:.3} ms, p99 {:.3} ms",
                p.writes, p.p50_ms, p.p99_ms
            )?;
        }
        writeln!(
            f,
            "{:>11} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>10}",
            "entries",
            "entries/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "B/entry",
            "WAL B/e",
            "store MB",
            "copied",
            "merge ms"
        )?;
        for s in &self.slices {
            writeln!(
                f,
                "{:>11} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>10.0} {:>10} {:>9.1} {:>9} {:>10.1}",
                s.entries_total,
                s.entries_per_sec,
                s.batch_p50_ms,
                s.batch_p99_ms,
                s.batch_max_ms,
                s.written_bytes_per_entry,
                s.wal_bytes_per_entry
                    .map(|w| format!("{w:.0}"))
                    .unwrap_or_else(|| "-".into()),
                s.store_bytes as f64 / 1e6,
                s.merge_copied,
                s.merge_lock_max_ms
            )?;
        }
        if let (Some(first), Some(last)) = (self.slices.first(), self.slices.last()) {
            if self.slices.len() > 1 {
                writeln!(
                    f,
                    "last slice / first slice: {:.2}× the throughput",
                    last.entries_per_sec / first.entries_per_sec
                )?;
            }
        }
        writeln!(
            f,
            "entries: {} in {:.3} s ({}, batch {}, {} accounts)",
            self.entries, self.seconds, self.skew, self.batch, self.accounts
        )?;
        writeln!(f, "entries/s: {:.0}", self.entries_per_sec)?;
        writeln!(
            f,
            "batch latency p50: {:.3} ms, p99: {:.3} ms, p99.9: {:.3} ms, max: {:.3} ms",
            self.batch_p50_ms, self.batch_p99_ms, self.batch_p999_ms, self.batch_max_ms
        )?;
        for r in &self.reads {
            writeln!(
                f,
                "{} ({} reads): p50 {:.3} ms, p99 {:.3} ms",
                r.what, r.reads, r.p50_ms, r.p99_ms
            )?;
        }
        if let Some(m) = &self.merge {
            writeln!(
                f,
                "merge: {} steps copied {} lines into runs and deleted {} from the recent part; write lock held {:.0} ms in all, p99 {:.1} ms, at most {:.1} ms (longest commit {:.1} ms); {} lines in the recent part at the end",
                m.steps,
                m.copied,
                m.dropped,
                m.lock_total_ms,
                self.merge_lock_p99_ms.unwrap_or(0.0),
                m.lock_max_ms,
                m.commit_max_ms,
                self.recent_lines.unwrap_or(0)
            )?;
        }
        for s in &self.seq_scans {
            writeln!(
                f,
                "sequential scans of {} during the run: {} ({} rows read)",
                s.table, s.scans, s.rows_read
            )?;
        }
        for (what, plan) in &self.plans {
            writeln!(
                f,
                "plan of the {what} lookup: {}",
                plan.replace('\n', " / ")
            )?;
        }
        write!(
            f,
            "written: {:.0} B/entry{}; store {:.1} MB; {} postings at {:.0} postings/s",
            self.written_bytes_per_entry,
            self.wal_bytes_per_entry
                .map(|w| format!(", server WAL {w:.0} B/entry"))
                .unwrap_or_default(),
            self.store_bytes as f64 / 1e6,
            self.postings,
            self.postings_per_sec
        )
    }
}

/// Bytes this process caused to be sent to storage so far (`/proc/self/io` `write_bytes`); 0
/// where that file does not exist.
pub fn process_write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Time `writes` synced 4 KiB writes (each `write` + `fdatasync`, as a log append) in `dir`.
pub fn sync_probe(dir: &std::path::Path, writes: usize) -> std::io::Result<SyncProbe> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!(".fanz-sync-probe-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        let block = [0u8; 4096];
        let mut times = Vec::with_capacity(writes);
        for _ in 0..writes {
            let t = Instant::now();
            file.write_all(&block)?;
            file.sync_data()?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        Ok(SyncProbe {
            writes,
            p50_ms: percentile(&times, 0.50),
            p99_ms: percentile(&times, 0.99),
        })
    })();
    std::fs::remove_file(&path).ok();
    result
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn store_error(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Invalid(e.to_string())
}

/// The store's size on disk now.
pub async fn store_bytes(store: &Store) -> Result<u64> {
    let mut conn = store.conn().await.map_err(store_error)?;
    match store.backend() {
        Backend::Sqlite => {
            // The main database's file and its log.
            let rows = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_all(&mut *conn)
                .await?;
            let Some(file) = rows.first().map(|r| r.get::<String, _>(0)) else {
                return Ok(0);
            };
            let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            Ok(size(&file) + size(&format!("{file}-wal")))
        }
        Backend::Postgres => {
            let n: i64 = sqlx::query("SELECT pg_database_size(current_database())")
                .fetch_one(&mut *conn)
                .await?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        }
    }
}

/// PostgreSQL: the server's current WAL position in bytes; SQLite: none.
async fn wal_position(store: &Store) -> Result<Option<i64>> {
    if store.backend() != Backend::Postgres {
        return Ok(None);
    }
    let mut conn = store.conn().await.map_err(store_error)?;
    let n: i64 = sqlx::query("SELECT CAST(pg_current_wal_lsn() - '0/0'::pg_lsn AS BIGINT)")
        .fetch_one(&mut *conn)
        .await?
        .get(0);
    Ok(Some(n))
}

const WATCHED_TABLES: [&str; 4] = [
    "ledger_accounts",
    "ledger_entries",
    "ledger_postings",
    "audit_log",
];

/// PostgreSQL: sequential scans so far of the tables the write path reads.
async fn seq_scan_counts(store: &Store) -> Result<Vec<SeqScans>> {
    if store.backend() != Backend::Postgres {
        return Ok(vec![]);
    }
    let mut conn = store.conn().await.map_err(store_error)?;
    let mut out = Vec::new();
    for table in WATCHED_TABLES {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(seq_scan, 0) AS BIGINT), CAST(COALESCE(seq_tup_read, 0) AS BIGINT) \
             FROM pg_stat_user_tables WHERE relname = $1",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
        out.push(SeqScans {
            table: table.to_owned(),
            scans: row.as_ref().map(|r| r.get(0)).unwrap_or(0),
            rows_read: row.as_ref().map(|r| r.get(1)).unwrap_or(0),
        });
    }
    Ok(out)
}

/// The plans of [`crate::write_path_lookups`] now, in a transaction set up as the write path
/// sets up its own.
pub async fn explain_write_path(store: &Store) -> Result<Vec<(String, String)>> {
    let mut tx = store.begin().await.map_err(store_error)?;
    crate::fresh_plans(&mut tx).await?;
    let mut out = Vec::new();
    for (what, sql) in crate::write_path_lookups(store.backend()) {
        let (explain, column) = match store.backend() {
            Backend::Postgres => (format!("EXPLAIN {sql}"), 0),
            Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {sql}"), 3),
        };
        let q = match store.backend() {
            Backend::Postgres => sqlx::query(&explain).bind("{bench:a,bench:b}"),
            Backend::Sqlite => sqlx::query(&explain).bind("bench:a").bind("bench:b"),
        };
        let lines: Vec<String> = q
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.get::<String, _>(column))
            .collect();
        out.push((what.to_owned(), lines.join("\n")));
    }
    tx.rollback().await?;
    Ok(out)
}

/// Where the run is, for a progress display.
pub enum Progress<'a> {
    /// Accounts opened so far, of the total.
    Accounts(usize, usize),
    /// A batch of this many entries committed.
    Batch(usize),
    /// A slice ended.
    Slice(&'a SliceReport),
}

/// Accounts opened per setup transaction.
const SETUP_CHUNK: usize = 5_000;

/// Run the benchmark: open `accounts` fresh accounts, then post `entries` two-posting entries
/// in linked batches of `batch`, each its own durable transaction. `on_progress` is told of
/// each step (for a progress bar).
pub async fn bench(
    store: &Store,
    opts: &BenchOptions,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<BenchReport> {
    let accounts = opts.accounts.max(2);
    let sync_write = match &opts.probe_dir {
        Some(dir) => Some(sync_probe(dir, 500).map_err(store_error)?),
        None => None,
    };
    if !opts.pragmas.is_empty() {
        if store.backend() != Backend::Sqlite {
            return Err(LedgerError::Invalid("--pragma is for SQLite".into()));
        }
        // The write pool has one connection: a pragma run in a write transaction stays set.
        let mut tx = store.begin().await.map_err(store_error)?;
        for p in &opts.pragmas {
            sqlx::query(&format!("PRAGMA {p}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    let run = fanz_core::clock::now_micros();
    let actor = Actor::cli();
    let mut opened = 0;
    while opened < accounts {
        let mut tx = store.begin().await.map_err(store_error)?;
        let end = (opened + SETUP_CHUNK).min(accounts);
        for i in opened..end {
            // Even accounts pay (assets), odd ones receive (wallet-like, may not overdraw).
            let (kind, flags) = if i % 2 == 0 {
                (AccountKind::Asset, vec![])
            } else {
                (
                    AccountKind::Liability,
                    vec!["debits_must_not_exceed_credits".to_owned()],
                )
            };
            let new = NewAccount {
                code: format!("bench:{run}:{i}"),
                kind,
                currency: "USD".into(),
                name: String::new(),
                owner: "bench".into(),
                flags,
            };
            create_account(&mut tx, &new, &actor).await?;
        }
        tx.commit().await?;
        opened = end;
        on_progress(Progress::Accounts(opened, accounts));
    }
    let runner = match (store.backend(), opts.merge) {
        (Backend::Sqlite, Some(config)) => {
            let mut registry = fanz_jobs::Registry::new();
            crate::merge::register_merge(&mut registry, config);
            let runner = fanz_jobs::Runner::new(
                store.clone(),
                registry,
                fanz_jobs::RunnerConfig {
                    queues: vec![("maintenance".into(), 1)],
                    poll_interval: std::time::Duration::from_millis(500),
                    ..fanz_jobs::RunnerConfig::default()
                },
            );
            Some(runner.start())
        }
        _ => None,
    };
    crate::merge::take_merge_stats();
    let mut merge_total = crate::merge::MergeStats::default();
    let payers = accounts.div_ceil(2);
    let receivers = accounts / 2;
    let zipf = match opts.skew {
        Skew::Zipf { s } => Some(Zipf::new(receivers, s)),
        Skew::Uniform => None,
    };
    // Spread the popular receivers over the account ids rather than giving them the first
    // ids: a stride coprime with the count is a permutation.
    let stride = (1..)
        .map(|k| receivers / 2 + k)
        .find(|s| gcd(*s, receivers) == 1)
        .unwrap_or(1);
    let mut rng = Rng(42);
    let slice_len = opts.slice.max(1);
    let mut all_latencies = Vec::new();
    let mut slice_latencies = Vec::new();
    let mut slices = Vec::new();
    let mut posted = 0usize;
    let scans_at_start = seq_scan_counts(store).await?;
    let start = Instant::now();
    let (written_at_start, wal_at_start) = (process_write_bytes(), wal_position(store).await?);
    let (mut slice_start, mut slice_written, mut slice_wal, mut slice_posted) =
        (Instant::now(), written_at_start, wal_at_start, 0usize);
    while posted < opts.entries {
        let n = opts.batch.max(1).min(opts.entries - posted);
        let batch: Vec<EntryInput> = (0..n)
            .map(|k| {
                let from = rng.below(payers) * 2;
                let to = if opts.hot {
                    1
                } else {
                    let rank = match &zipf {
                        Some(z) => z.draw(&mut rng),
                        None => rng.below(receivers),
                    };
                    (rank * stride % receivers) * 2 + 1
                };
                let amount = 1 + (rng.next_u64() % 1000) as i64;
                EntryInput::new(
                    format!("bench:{run}:{}", posted + k),
                    vec![
                        PostingInput {
                            account: format!("bench:{run}:{from}"),
                            direction: Direction::Debit,
                            amount,
                            currency: "USD".into(),
                        },
                        PostingInput {
                            account: format!("bench:{run}:{to}"),
                            direction: Direction::Credit,
                            amount,
                            currency: "USD".into(),
                        },
                    ],
                )
            })
            .collect();
        let t = Instant::now();
        let mut tx = store.begin().await.map_err(store_error)?;
        post_batch(&mut tx, &batch, BatchMode::Linked).await?;
        tx.commit().await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        all_latencies.push(ms);
        slice_latencies.push(ms);
        posted += n;
        on_progress(Progress::Batch(n));
        if posted - slice_posted >= slice_len || posted == opts.entries {
            let seconds = slice_start.elapsed().as_secs_f64();
            let entries = posted - slice_posted;
            let (written, wal) = (process_write_bytes(), wal_position(store).await?);
            slice_latencies.sort_by(|a, b| a.total_cmp(b));
            let merged = crate::merge::take_merge_stats();
            merge_total.add(&merged);
            let slice = SliceReport {
                entries_total: posted,
                entries,
                seconds,
                entries_per_sec: entries as f64 / seconds,
                batch_p50_ms: percentile(&slice_latencies, 0.50),
                batch_p99_ms: percentile(&slice_latencies, 0.99),
                batch_max_ms: percentile(&slice_latencies, 1.0),
                written_bytes_per_entry: written.saturating_sub(slice_written) as f64
                    / entries as f64,
                wal_bytes_per_entry: wal
                    .zip(slice_wal)
                    .map(|(now, then)| (now - then) as f64 / entries as f64),
                store_bytes: store_bytes(store).await?,
                merge_steps: merged.steps,
                merge_copied: merged.copied,
                merge_dropped: merged.dropped,
                merge_lock_max_ms: merged.lock_max_ms,
            };
            on_progress(Progress::Slice(&slice));
            slices.push(slice);
            slice_latencies.clear();
            (slice_start, slice_written, slice_wal, slice_posted) =
                (Instant::now(), written, wal, posted);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(runner) = &runner {
        runner.shutdown().await;
    }
    let merged = crate::merge::take_merge_stats();
    merge_total.add(&merged);
    let recent_lines = if store.backend() == Backend::Sqlite {
        let mut conn = store.conn().await.map_err(store_error)?;
        Some(
            sqlx::query("SELECT COUNT(*) FROM ledger_postings_recent")
                .fetch_one(&mut *conn)
                .await?
                .get::<i64, _>(0),
        )
    } else {
        None
    };
    let reads = time_reads(store, run, accounts).await?;
    all_latencies.sort_by(|a, b| a.total_cmp(b));
    let (written, wal) = (process_write_bytes(), wal_position(store).await?);
    let per_entry = |bytes: f64| bytes / posted.max(1) as f64;
    // Let the last transactions' counters reach the statistics (flushed within a second).
    if store.backend() == Backend::Postgres {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    let seq_scans = seq_scan_counts(store)
        .await?
        .into_iter()
        .zip(scans_at_start)
        .map(|(now, then)| SeqScans {
            table: now.table,
            scans: now.scans - then.scans,
            rows_read: now.rows_read - then.rows_read,
        })
        .collect();
    let plans = explain_write_path(store).await?;
    Ok(BenchReport {
        backend: store.backend().name(),
        entries: posted,
        batch: opts.batch,
        accounts,
        skew: match (opts.hot, opts.skew) {
            (true, _) => "one hot account".into(),
            (false, Skew::Uniform) => "uniform".into(),
            (false, Skew::Zipf { s }) => format!("zipf s={s}"),
        },
        postings: posted * 2,
        seconds,
        entries_per_sec: posted as f64 / seconds,
        postings_per_sec: (posted * 2) as f64 / seconds,
        batch_p50_ms: percentile(&all_latencies, 0.50),
        batch_p99_ms: percentile(&all_latencies, 0.99),
        batch_p999_ms: percentile(&all_latencies, 0.999),
        batch_max_ms: percentile(&all_latencies, 1.0),
        written_bytes_per_entry: per_entry(written.saturating_sub(written_at_start) as f64),
        wal_bytes_per_entry: wal
            .zip(wal_at_start)
            .map(|(now, then)| per_entry((now - then) as f64)),
        store_bytes: store_bytes(store).await?,
        merge_lock_p99_ms: runner.is_some().then(|| {
            let mut l = merge_total.lock_ms.clone();
            l.sort_by(|a, b| a.total_cmp(b));
            percentile(&l, 0.99)
        }),
        merge: runner.is_some().then_some(merge_total),
        recent_lines,
        reads,
        sync_write,
        slices,
        seq_scans,
        plans,
    })
}

/// Time the per-account reads on 200 accounts spread over the range: each account's history
/// (first 1,000 lines) and its balance in the middle of the run.
async fn time_reads(store: &Store, run: i64, accounts: usize) -> Result<Vec<ReadTiming>> {
    let mut conn = store.conn().await.map_err(store_error)?;
    let step = (accounts / 200).max(1);
    let codes: Vec<String> = (0..accounts)
        .step_by(step)
        .map(|i| format!("bench:{run}:{i}"))
        .collect();
    let mut history = Vec::with_capacity(codes.len());
    let mut at = Vec::with_capacity(codes.len());
    // Entries are dated when posted, from `run` on.
    let middle = run + (fanz_core::clock::now_micros() - run) / 2;
    for code in &codes {
        let t = Instant::now();
        crate::accounts::history(&mut conn, code, 1000).await?;
        history.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        crate::accounts::balance_at(&mut conn, code, middle).await?;
        at.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let timing = |what: &str, mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        ReadTiming {
            what: what.to_owned(),
            reads: v.len(),
            p50_ms: percentile(&v, 0.5),
            p99_ms: percentile(&v, 0.99),
        }
    };
    Ok(vec![
        timing("history of an account", history),
        timing("balance of an account at an instant", at),
    ])
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stride_is_a_permutation() {
        for receivers in [1usize, 2, 9, 10, 5000, 50_000] {
            let stride = (1..)
                .map(|k| receivers / 2 + k)
                .find(|s| gcd(*s, receivers) == 1)
                .unwrap_or(1);
            let mut seen = vec![false; receivers];
            for r in 0..receivers {
                seen[r * stride % receivers] = true;
            }
            assert!(seen.iter().all(|s| *s), "{receivers}");
        }
    }

    #[test]
    fn sync_probe_times_each_write() {
        if std::path::Path::new("/proc/self/io").exists() {
            let dir = std::env::temp_dir().join(format!("fanz-bench-{}", std::process::id()));
            let probe = sync_probe(&dir, 3).unwrap();
            assert_eq!(probe.writes, 3);
            assert!(probe.p99_ms >= probe.p50_ms);
            std::fs::remove_dir_all(dir).ok();
        }
    }
}

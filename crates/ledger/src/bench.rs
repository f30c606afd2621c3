//! `fanz bench ledger`: post many entries through the full path (validation, idempotency,
//! flags, totals) and time each batch's commit.

use crate::accounts::{create_account, AccountKind, NewAccount};
use crate::batch::post_batch;
use crate::journal::{BatchMode, Direction, EntryInput, PostingInput};
use crate::Result;
use fanz_audit::Actor;
use fanz_store::Store;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub entries: usize,
    pub batch: usize,
    pub accounts: usize,
    /// Every entry credits one hot account (the platform fee account's situation).
    pub hot: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub entries: usize,
    pub postings: usize,
    pub seconds: f64,
    pub entries_per_sec: f64,
    pub postings_per_sec: f64,
    pub batch_p50_ms: f64,
    pub batch_p99_ms: f64,
    pub batch_p999_ms: f64,
    pub batch_max_ms: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "entries: {} in {:.3} s", self.entries, self.seconds)?;
        writeln!(f, "entries/s: {:.0}", self.entries_per_sec)?;
        writeln!(
            f,
            "batch latency p50: {:.3} ms, p99: {:.3} ms, p99.9: {:.3} ms, max: {:.3} ms",
            self.batch_p50_ms, self.batch_p99_ms, self.batch_p999_ms, self.batch_max_ms
        )?;
        write!(
            f,
            "{} postings at {:.0} postings/s",
            self.postings, self.postings_per_sec
        )
    }
}

/// A tiny deterministic generator so runs are comparable.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Run the benchmark; `on_batch` is told how many entries each committed batch held (for a
/// progress bar).
pub async fn bench(
    store: &Store,
    opts: &BenchOptions,
    mut on_batch: impl FnMut(usize),
) -> Result<BenchReport> {
    let accounts = opts.accounts.max(2);
    let run = fanz_core::clock::now_micros();
    let actor = Actor::cli();
    {
        let mut tx = store
            .begin()
            .await
            .map_err(|e| crate::LedgerError::Invalid(e.to_string()))?;
        for i in 0..accounts {
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
    }
    let mut rng = Lcg(42);
    let mut latencies = Vec::new();
    let mut posted = 0usize;
    let mut postings = 0usize;
    let start = Instant::now();
    while posted < opts.entries {
        let n = opts.batch.max(1).min(opts.entries - posted);
        let batch: Vec<EntryInput> = (0..n)
            .map(|k| {
                let from = (rng.next() as usize % accounts.div_ceil(2)) * 2;
                let to = if opts.hot {
                    1
                } else {
                    (rng.next() as usize % (accounts / 2)) * 2 + 1
                };
                let amount = 1 + (rng.next() % 1000) as i64;
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
        let mut tx = store
            .begin()
            .await
            .map_err(|e| crate::LedgerError::Invalid(e.to_string()))?;
        post_batch(&mut tx, &batch, BatchMode::Linked).await?;
        tx.commit().await?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        posted += n;
        postings += n * 2;
        on_batch(n);
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    Ok(BenchReport {
        entries: posted,
        postings,
        seconds,
        entries_per_sec: posted as f64 / seconds,
        postings_per_sec: postings as f64 / seconds,
        batch_p50_ms: pct(0.50),
        batch_p99_ms: pct(0.99),
        batch_p999_ms: pct(0.999),
        batch_max_ms: pct(1.0),
    })
}

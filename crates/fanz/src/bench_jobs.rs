//! `fanz bench jobs` and `fanz bench events`: no-op jobs and events through the real runner
//! and bus on the configured store (and NATS when `events_url` is set).

use anyhow::Result;
use fanz_core::clock::now_micros;
use fanz_jobs::{Job, JobContext, Registry, Runner};
use fanz_store::Store;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A job that does nothing but note when it started.
#[derive(Clone, Serialize, Deserialize)]
struct Noop {
    /// When the enqueuing transaction was about to commit (microseconds).
    sent_at: i64,
}

impl Job for Noop {
    const KIND: &'static str = "bench.noop";
    const QUEUE: &'static str = "bench";
}

#[derive(clap::Args)]
pub struct JobsArgs {
    /// How many jobs.
    #[arg(long, default_value_t = 20_000)]
    pub jobs: usize,
    /// Jobs per enqueuing transaction (1: one per transaction).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Jobs running at once in this process.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Only run jobs (a second node): wait until the bench queue has jobs, then work until
    /// it is empty.
    #[arg(long)]
    pub work_only: bool,
    /// Only enqueue (measure the enqueue rate without workers).
    #[arg(long)]
    pub enqueue_only: bool,
    /// Then measure commit-to-start latency over this many jobs enqueued one per transaction
    /// at --latency-rate per second.
    #[arg(long, default_value_t = 0)]
    pub latency_samples: usize,
    #[arg(long, default_value_t = 200)]
    pub latency_rate: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn queue_left(store: &Store) -> Result<i64> {
    use fanz_store::sqlx::{self, Row};
    let mut db = store.conn().await?;
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM jobs WHERE queue = 'bench' AND state IN ('ready', 'running')",
    )
    .fetch_one(&mut *db)
    .await?
    .get(0))
}

pub async fn jobs(
    store: &Store,
    config: &fanz_config::Config,
    node: String,
    args: JobsArgs,
) -> Result<()> {
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let runner = if args.enqueue_only {
        None
    } else {
        let mut registry = Registry::new();
        let l = latencies.clone();
        registry.register(move |_ctx: JobContext, job: Noop| {
            let l = l.clone();
            async move {
                l.lock()
                    .expect("latencies")
                    .push((now_micros() - job.sent_at) as f64 / 1000.0);
                Ok(())
            }
        });
        let mut rc = fanz_web::background::runner_config(config, &node);
        rc.queues = vec![("bench".into(), args.concurrency.max(1))];
        Some((registry, rc))
    };
    let backend = store.backend().name();
    if args.work_only {
        println!("jobs bench on {backend} ({node}): waiting for jobs");
        while queue_left(store).await? == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    } else {
        let total = args.jobs;
        let batch = args.batch.max(1);
        let bar = indicatif::ProgressBar::new(total as u64).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} enqueued, {per_sec}")?,
        );
        let started = Instant::now();
        let mut left = total;
        while left > 0 {
            let n = left.min(batch);
            let mut tx = store.begin().await?;
            let jobs = vec![
                Noop {
                    sent_at: now_micros()
                };
                n
            ];
            if n == 1 {
                fanz_jobs::enqueue(&mut tx, &jobs[0]).await?;
            } else {
                fanz_jobs::enqueue_many(&mut tx, &jobs).await?;
            }
            tx.commit().await?;
            left -= n;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "enqueue on {backend}: {total} jobs in batches of {batch}: {:.0} jobs/s ({secs:.2} s)",
            total as f64 / secs
        );
    }
    let Some((registry, rc)) = runner else {
        return Ok(());
    };
    let concurrency = args.concurrency;
    let started = Instant::now();
    let handle = Runner::new(store.clone(), registry, rc).start();
    let bar = indicatif::ProgressBar::new_spinner();
    loop {
        let left = queue_left(store).await?;
        bar.set_message(format!("{left} jobs left"));
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let ran = latencies.lock().expect("latencies").len();
    println!(
        "complete on {backend} ({node}): {ran} jobs run here, concurrency {concurrency}, queue empty after {secs:.2} s: {:.0} jobs/s here",
        ran as f64 / secs
    );
    if args.latency_samples > 0 && !args.work_only {
        latencies.lock().expect("latencies").clear();
        let gap = Duration::from_micros(1_000_000 / args.latency_rate.max(1));
        for _ in 0..args.latency_samples {
            let mut tx = store.begin().await?;
            fanz_jobs::enqueue(
                &mut tx,
                &Noop {
                    sent_at: now_micros(),
                },
            )
            .await?;
            tx.commit().await?;
            tokio::time::sleep(gap).await;
        }
        while queue_left(store).await? > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut l = latencies.lock().expect("latencies").clone();
        l.sort_by(f64::total_cmp);
        println!(
            "commit to handler start on {backend}, one job per transaction at {}/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples run here)",
            args.latency_rate,
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            l.last().copied().unwrap_or(0.0),
            l.len()
        );
    }
    handle.shutdown().await;
    Ok(())
}

#[derive(clap::Args)]
pub struct EventsArgs {
    /// How many events.
    #[arg(long, default_value_t = 5_000)]
    pub events: usize,
    /// Events per publishing transaction.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
}

/// A bench event.
#[derive(Serialize)]
#[serde(tag = "type")]
enum BenchEvent {
    #[serde(rename = "bench.ping")]
    Ping { n: usize },
}

impl fanz_events::Event for BenchEvent {
    fn subject(&self) -> String {
        "bench:1".into()
    }
}

pub async fn events(
    store: &Store,
    config: &fanz_config::Config,
    node: String,
    args: EventsArgs,
) -> Result<()> {
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let mut subs = fanz_events::Subscribers::new();
    let l = latencies.clone();
    let name = format!("bench@{node}");
    subs.subscribe(&name, &["bench."], move |e| {
        let l = l.clone();
        async move {
            l.lock()
                .expect("latencies")
                .push((now_micros() - e.occurred_at) as f64 / 1000.0);
            Ok(())
        }
    });
    let bus = fanz_events::Bus::new(
        store.clone(),
        subs,
        fanz_web::background::bus_config(config, &node),
    )
    .start()
    .await?;
    // Let the subscriber take its position (and NATS its consumer) before publishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut left = args.events;
    while left > 0 {
        let n = left.min(args.batch.max(1));
        let mut tx = store.begin().await?;
        for i in 0..n {
            fanz_events::publish(&mut tx, &BenchEvent::Ping { n: i }).await?;
        }
        tx.commit().await?;
        left -= n;
    }
    let published = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    while latencies.lock().expect("latencies").len() < args.events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().expect("latencies").clone();
    l.sort_by(f64::total_cmp);
    println!(
        "events on {} via {}: {} published in {published:.2} s, {} delivered in {secs:.2} s: {:.0} events/s end to end; publish to handler p50 {:.1} ms, p99 {:.1} ms",
        store.backend().name(),
        if config.events_url.is_empty() { "in-process" } else { "NATS" },
        args.events,
        l.len(),
        l.len() as f64 / secs,
        percentile(&l, 0.5),
        percentile(&l, 0.99),
    );
    bus.shutdown().await;
    Ok(())
}

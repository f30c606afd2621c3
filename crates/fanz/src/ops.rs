//! `fanz jobs …` and `fanz events …`: what an operator does with the job queues and the
//! event bus, against the configured store.

use anyhow::{bail, Result};
use clap::Subcommand;
use fanz_config::Config;
use fanz_store::Store;

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Each queue's ready, running, scheduled, retrying and dead counts.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Jobs, newest first.
    List {
        /// ready, running, done, dead or cancelled.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One job as JSON.
    Show { id: i64 },
    /// Run a dead or cancelled job again.
    Retry { id: i64 },
    /// Cancel a waiting or running job.
    Cancel { id: i64 },
    /// Dead jobs with their last error.
    Dead {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Enqueue probe jobs that record which node ran them (check the workers end to end).
    Probe {
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 0)]
        sleep_ms: u64,
    },
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Print the newest events, then (with --follow) new ones as they are ordered.
    Tail {
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long, short)]
        follow: bool,
    },
    /// Subscribers with their positions, how far behind they are and their dead letters.
    Subscribers,
    /// Events parked after their handler kept failing.
    Dead {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Deliver again to a subscriber every event from a position on.
    Replay {
        #[arg(long)]
        subscriber: String,
        /// The first event sequence number to deliver again.
        #[arg(long)]
        from: i64,
    },
    /// Publish a probe event; every node's probe@<node> subscriber records it.
    Probe,
}

fn when(micros: Option<i64>) -> String {
    micros.map(fanz_core::clock::rfc3339).unwrap_or_default()
}

fn audit_actor() -> fanz_audit::Actor {
    fanz_audit::Actor::cli()
}

pub async fn jobs(config: &Config, store: &Store, command: JobsCommand) -> Result<()> {
    match command {
        JobsCommand::Stats { json } => {
            let mut db = store.conn().await?;
            let stats = fanz_jobs::stats(&mut db, &config.jobs.queue_names()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
                return Ok(());
            }
            println!(
                "{:<16} {:>8} {:>8} {:>10} {:>9} {:>6} {:>10} {:>12}",
                "queue",
                "ready",
                "running",
                "scheduled",
                "retrying",
                "dead",
                "done(1h)",
                "oldest(s)"
            );
            for s in stats {
                println!(
                    "{:<16} {:>8} {:>8} {:>10} {:>9} {:>6} {:>10} {:>12.1}",
                    s.queue,
                    s.ready,
                    s.running,
                    s.scheduled,
                    s.retrying,
                    s.dead,
                    s.done_last_hour,
                    s.oldest_ready_age_secs
                );
            }
            Ok(())
        }
        JobsCommand::List {
            state,
            queue,
            kind,
            limit,
        } => {
            if let Some(s) = &state {
                if !fanz_jobs::STATES.contains(&s.as_str()) {
                    bail!("--state must be one of {}", fanz_jobs::STATES.join(", "));
                }
            }
            let mut db = store.conn().await?;
            let jobs = fanz_jobs::list(
                &mut db,
                &fanz_jobs::ListFilter {
                    state,
                    queue,
                    kind,
                    before: None,
                    limit,
                },
            )
            .await?;
            print_jobs(&jobs);
            Ok(())
        }
        JobsCommand::Show { id } => {
            let mut db = store.conn().await?;
            crate::print_json(&fanz_jobs::show(&mut db, id).await?)
        }
        JobsCommand::Retry { id } => {
            let mut tx = store.begin().await?;
            let job = fanz_jobs::retry(&mut tx, id).await?;
            fanz_audit::record(
                &mut tx,
                &audit_actor(),
                "jobs.retried",
                Some(&format!("job:{id}")),
                serde_json::json!({"kind": job.kind}),
            )
            .await?;
            tx.commit().await?;
            println!("job {id} ({}) is ready to run again", job.kind);
            Ok(())
        }
        JobsCommand::Cancel { id } => {
            let mut tx = store.begin().await?;
            let job = fanz_jobs::cancel(&mut tx, id).await?;
            fanz_audit::record(
                &mut tx,
                &audit_actor(),
                "jobs.cancelled",
                Some(&format!("job:{id}")),
                serde_json::json!({"kind": job.kind}),
            )
            .await?;
            tx.commit().await?;
            println!("job {id} ({}) is cancelled", job.kind);
            Ok(())
        }
        JobsCommand::Dead { limit } => {
            let mut db = store.conn().await?;
            let jobs = fanz_jobs::dead(&mut db, limit).await?;
            if jobs.is_empty() {
                println!("no dead jobs");
            }
            for j in jobs {
                println!(
                    "#{} {} ({}) after {} attempts, {}:\n    {}",
                    j.id,
                    j.kind,
                    j.queue,
                    j.attempts,
                    when(j.finished_at),
                    j.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        JobsCommand::Probe { count, sleep_ms } => {
            fanz_jobs::enqueue_probes(store, count, sleep_ms, 500).await?;
            println!(
                "{count} probe job(s) enqueued; `fanz jobs list --kind jobs.probe` shows them"
            );
            Ok(())
        }
    }
}

fn print_jobs(jobs: &[fanz_jobs::JobRow]) {
    println!(
        "{:>8} {:<10} {:<12} {:<24} {:>8} {:<24} last error",
        "id", "state", "queue", "kind", "attempts", "run at"
    );
    for j in jobs {
        println!(
            "{:>8} {:<10} {:<12} {:<24} {:>4}/{:<3} {:<24} {}",
            j.id,
            j.state,
            j.queue,
            j.kind,
            j.attempts,
            j.max_attempts,
            when(Some(j.run_at)),
            j.last_error.as_deref().unwrap_or("")
        );
    }
}

pub async fn events(config: &Config, store: &Store, command: EventsCommand) -> Result<()> {
    match command {
        EventsCommand::Tail { limit, follow } => {
            let mut after = None;
            let mut first = true;
            loop {
                let batch = {
                    let mut db = store.conn().await?;
                    fanz_events::tail(&mut db, if first { None } else { after }, limit.max(1))
                        .await?
                };
                first = false;
                for e in &batch {
                    println!(
                        "{} #{} {} {} {}",
                        fanz_core::clock::rfc3339(e.occurred_at),
                        e.seq,
                        e.event_type,
                        e.subject,
                        e.payload
                    );
                    after = Some(e.seq);
                }
                if after.is_none() {
                    after = Some(0);
                }
                if !follow {
                    return Ok(());
                }
                if batch.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
        EventsCommand::Subscribers => {
            let mut db = store.conn().await?;
            println!(
                "{:<32} {:>10} {:>8} {:>6}",
                "subscriber", "position", "behind", "dead"
            );
            for s in fanz_events::subscribers(&mut db).await? {
                println!(
                    "{:<32} {:>10} {:>8} {:>6}",
                    s.name, s.position, s.behind, s.dead_letters
                );
            }
            Ok(())
        }
        EventsCommand::Dead { limit } => {
            let mut db = store.conn().await?;
            let dead = fanz_events::dead_letters(&mut db, limit).await?;
            if dead.is_empty() {
                println!("no dead letters");
            }
            for d in dead {
                println!(
                    "{} #{} {} for {} after {} tries: {}",
                    fanz_core::clock::rfc3339(d.failed_at),
                    d.seq,
                    d.event_type,
                    d.subscriber,
                    d.attempts,
                    d.error
                );
            }
            Ok(())
        }
        EventsCommand::Replay { subscriber, from } => {
            let mut tx = store.begin().await?;
            let dropped =
                fanz_events::replay(&mut tx, &config.events_url, &subscriber, from).await?;
            fanz_audit::record(
                &mut tx,
                &audit_actor(),
                "events.replayed",
                Some(&format!("subscriber:{subscriber}")),
                serde_json::json!({"from": from}),
            )
            .await?;
            tx.commit().await?;
            println!("{subscriber} will receive every event from #{from} again ({dropped} receipt(s) dropped)");
            Ok(())
        }
        EventsCommand::Probe => {
            let node = if config.jobs.node_name.is_empty() {
                "cli".to_owned()
            } else {
                config.jobs.node_name.clone()
            };
            let mut tx = store.begin().await?;
            let id = fanz_events::publish(&mut tx, &fanz_events::Probe::Sent { from_node: node })
                .await?;
            tx.commit().await?;
            println!("probe event {id} published; running nodes record it within a moment");
            Ok(())
        }
    }
}

//! Payments' background work, all through the job runner: applying notifications again,
//! picking up ones a stopped process left, ending due subscriptions, the sandbox's
//! deliveries and rebills, scheduled payouts, and calls to processors' APIs.

use crate::{calls, confirm, intake, payouts, sandbox, subscriptions, Payments};
use fanz_audit::Actor;
use fanz_core::clock::{now_micros, SECOND};
use fanz_jobs::{Job, JobContext, JobError, Registry};
use fanz_processors::Outcome;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Apply a stored notification again (it could not be applied yet).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyNotification {
    pub id: i64,
}

impl Job for ApplyNotification {
    const KIND: &'static str = "payments.apply";
    const MAX_ATTEMPTS: i64 = 5;
}

/// Every 10 s: notifications stored but not applied (the process stopped in between).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepReceived {}

impl Job for SweepReceived {
    const KIND: &'static str = "payments.sweep";
    const QUEUE: &'static str = "maintenance";
}

/// Every minute: end due subscriptions; the sandbox rebills its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Subscriptions {}

impl Job for Subscriptions {
    const KIND: &'static str = "payments.subscriptions";
    const QUEUE: &'static str = "maintenance";
}

/// Hourly: scheduled payouts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScheduledPayouts {}

impl Job for ScheduledPayouts {
    const KIND: &'static str = "payments.payouts";
    const QUEUE: &'static str = "maintenance";
}

/// Every 30 s (or the interval when shorter): ask processors that sign nothing to confirm waiting charges (each account at
/// most once per `confirm_interval_secs`), and list overdue ones for finance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfirmCharges {}

impl Job for ConfirmCharges {
    const KIND: &'static str = "payments.confirm";
    const QUEUE: &'static str = "maintenance";
}

pub fn register_jobs(registry: &mut Registry, env: Payments) {
    let e = env.clone();
    registry.register(move |ctx: JobContext, job: ApplyNotification| {
        let env = e.clone();
        async move {
            intake::apply_stored(ctx.store(), &env, job.id, false)
                .await
                .map_err(JobError::retry)?;
            Ok(())
        }
    });
    let e = env.clone();
    registry.register(move |ctx: JobContext, _: SweepReceived| {
        let env = e.clone();
        async move {
            let n = intake::sweep_received(ctx.store(), &env, now_micros() - 10 * SECOND)
                .await
                .map_err(JobError::retry)?;
            if n > 0 {
                tracing::info!(
                    notifications = n,
                    "applied notifications left by a stopped process"
                );
            }
            Ok(())
        }
    });
    let e = env.clone();
    registry.register(move |ctx: JobContext, _: Subscriptions| {
        let env = e.clone();
        async move {
            let mut tx = ctx.begin().await?;
            let now = now_micros();
            let ended = subscriptions::expire_due(&mut tx, &env, now, &Actor::system())
                .await
                .map_err(JobError::retry)?;
            let rebilled = if env.config.sandbox {
                sandbox::rebill_due(&mut tx, &env, now)
                    .await
                    .map_err(JobError::retry)?
            } else {
                0
            };
            tx.complete().await?;
            if ended + rebilled > 0 {
                tracing::info!(ended, rebilled, "subscriptions ended or rebilled");
            }
            Ok(())
        }
    });
    let e = env.clone();
    registry.register(move |ctx: JobContext, _: ScheduledPayouts| {
        let env = e.clone();
        async move {
            let mut tx = ctx.begin().await?;
            let made = payouts::schedule_due(&mut tx, &env, now_micros(), 10_000)
                .await
                .map_err(JobError::retry)?;
            tx.complete().await?;
            if made > 0 {
                tracing::info!(payouts = made, "scheduled payouts made");
            }
            Ok(())
        }
    });
    let e = env.clone();
    registry.register(move |ctx: JobContext, job: sandbox::Deliver| {
        let env = e.clone();
        async move {
            if ctx.attempt <= job.fail_first as i64 {
                return Err(JobError::retry(
                    "simulated delivery failure (sandbox fault)",
                ));
            }
            match sandbox::send(ctx.store(), &env, &job.event)
                .await
                .map_err(JobError::retry)?
            {
                Outcome::Accepted => Ok(()),
                Outcome::Rejected => Err(JobError::permanent(
                    "the sandbox's notification was rejected",
                )),
                Outcome::Failed => Err(JobError::retry(
                    "the intake could not store the notification",
                )),
            }
        }
    });
    let e = env.clone();
    registry.register(move |ctx: JobContext, job: calls::MakeCall| {
        let env = e.clone();
        async move {
            use fanz_jobs::Job;
            calls::run(
                ctx.store(),
                &env,
                job.id,
                ctx.attempt,
                calls::MakeCall::MAX_ATTEMPTS,
            )
            .await
            .map_err(JobError::retry)?
            .map_err(JobError::retry)
        }
    });
    let e = env.clone();
    registry.register(move |ctx: JobContext, _: ConfirmCharges| {
        let env = e.clone();
        async move {
            let mut tx = ctx.begin().await?;
            let calls = confirm::sweep(&mut tx, &env, now_micros())
                .await
                .map_err(JobError::retry)?;
            tx.complete().await?;
            if calls > 0 {
                tracing::info!(calls, "asked processors to confirm charges");
            }
            Ok(())
        }
    });
    registry.every(Duration::from_secs(10), SweepReceived {});
    // Every 30 s, or as often as the interval when it is shorter (5 s at least).
    let confirm_every = env.config.confirm_interval_secs.clamp(5, 30) as u64;
    registry.every(Duration::from_secs(confirm_every), ConfirmCharges {});
    registry.every(Duration::from_secs(60), Subscriptions {});
    registry.every(Duration::from_secs(3600), ScheduledPayouts {});
}

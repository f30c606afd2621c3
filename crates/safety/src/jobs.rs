//! The deadline job: every 15 minutes, escalate and mark overdue (see
//! [`crate::cases::run_deadlines`]) and restore the posts of DMCA counter-notices whose
//! waiting period is over (see [`crate::dmca::run_restorations`]). The expiry job: every hour, act on identity documents that
//! expired (see [`crate::records::expire`]): their accounts' payouts are held until they verify
//! again (publishing checks expiry itself, at the gate).

use fanz_audit::Actor;
use fanz_core::clock::now_micros;
use fanz_jobs::{Job, JobError, Registry};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Deadlines {}

impl Job for Deadlines {
    const KIND: &'static str = "safety.deadlines";
    const QUEUE: &'static str = "maintenance";
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Expiry {}

impl Job for Expiry {
    const KIND: &'static str = "safety.expiry";
    const QUEUE: &'static str = "maintenance";
}

/// Act on documents expired before `day`; returns the accounts whose payouts were held.
pub async fn run_expiry(
    db: &mut fanz_store::Db,
    payments: &fanz_payments::Payments,
    day: time::Date,
    actor: &Actor,
) -> crate::Result<Vec<i64>> {
    let users = crate::records::expire(db, day, actor).await?;
    for u in &users {
        crate::onboarding::sync_payouts(db, payments, *u, day, actor).await?;
    }
    Ok(users)
}

pub fn register_jobs(
    registry: &mut Registry,
    payments: fanz_payments::Payments,
    content: fanz_content::Content,
    policy: crate::dmca::Policy,
) {
    registry.register(move |ctx: fanz_jobs::JobContext, _: Expiry| {
        let payments = payments.clone();
        async move {
            let mut tx = ctx.begin().await?;
            let held = run_expiry(
                &mut tx,
                &payments,
                crate::records::today(),
                &Actor::system(),
            )
            .await
            .map_err(JobError::retry)?;
            tx.complete().await?;
            if !held.is_empty() {
                tracing::warn!(
                    accounts = held.len(),
                    "identity documents expired; payouts held"
                );
            }
            Ok(())
        }
    });
    registry.every(Duration::from_secs(60 * 60), Expiry {});
    registry.register(move |ctx: fanz_jobs::JobContext, _: Deadlines| {
        let content = content.clone();
        async move {
            let now = now_micros();
            let mut tx = ctx.begin().await?;
            let (escalated, overdue) = crate::cases::run_deadlines(&mut tx, now, &Actor::system())
                .await
                .map_err(JobError::retry)?;
            let restored =
                crate::dmca::run_restorations(&mut tx, &content, &policy, now, &Actor::system())
                    .await
                    .map_err(JobError::retry)?;
            tx.complete().await?;
            if restored > 0 {
                tracing::info!(restored, "posts restored after DMCA counter-notices");
            }
            if escalated + overdue > 0 {
                tracing::warn!(
                    escalated,
                    overdue,
                    "trust & safety cases near or past their deadline"
                );
            }
            Ok(())
        }
    });
    registry.every(Duration::from_secs(15 * 60), Deadlines {});
}

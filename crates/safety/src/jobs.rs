//! The deadline job: every 15 minutes, escalate and mark overdue (see [`crate::cases::run_deadlines`]).

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

pub fn register_jobs(registry: &mut Registry) {
    registry.register(|ctx: fanz_jobs::JobContext, _: Deadlines| async move {
        let mut tx = ctx.begin().await?;
        let (escalated, overdue) =
            crate::cases::run_deadlines(&mut tx, now_micros(), &Actor::system())
                .await
                .map_err(JobError::retry)?;
        tx.complete().await?;
        if escalated + overdue > 0 {
            tracing::warn!(
                escalated,
                overdue,
                "trust & safety cases near or past their deadline"
            );
        }
        Ok(())
    });
    registry.every(Duration::from_secs(15 * 60), Deadlines {});
}

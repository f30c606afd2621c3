//! Content's background work: scheduled publishing and purging deleted posts.

use crate::posts::{self, PostState};
use crate::{Content, ContentError};
use fanz_audit::Actor;
use fanz_core::clock::now_micros;
use fanz_jobs::{Job, JobContext, JobError, Registry};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// Publish a scheduled post at its time, through the gate. A post rescheduled or published
/// meanwhile is left alone (the job carries the time it was scheduled for); a refusal returns
/// the post to drafts with the reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishScheduled {
    pub post_id: i64,
    pub publish_at: i64,
}

impl Job for PublishScheduled {
    const KIND: &'static str = "content.publish";
    const MAX_ATTEMPTS: i64 = 8;
}

/// Purge posts deleted longer ago than the retention period.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PurgeDeleted {}

impl Job for PurgeDeleted {
    const KIND: &'static str = "content.purge";
    const QUEUE: &'static str = "maintenance";
}

pub fn register_jobs(registry: &mut Registry, env: Content) {
    registry.register(move |ctx: JobContext, job: PublishScheduled| {
        let env = env.clone();
        async move { publish_scheduled(ctx, &env, job).await }
    });
    registry.register(|ctx: JobContext, _: PurgeDeleted| async move {
        let mut tx = ctx.begin().await?;
        let n = posts::purge_deleted(&mut tx, now_micros())
            .await
            .map_err(JobError::retry)?;
        if n > 0 {
            tracing::info!(purged = n, "purged deleted posts");
        }
        tx.complete().await?;
        Ok(())
    });
    registry.every(Duration::from_secs(3600), PurgeDeleted {});
}

async fn publish_scheduled(
    ctx: JobContext,
    env: &Content,
    job: PublishScheduled,
) -> Result<(), JobError> {
    let mut tx = ctx.begin().await?;
    let post = match posts::get(&mut tx, job.post_id).await {
        Ok(p) => p,
        Err(ContentError::NotFound) => return Ok(tx.complete().await?),
        Err(e) => return Err(JobError::retry(e)),
    };
    if post.state != PostState::Scheduled || post.publish_at != Some(job.publish_at) {
        return Ok(tx.complete().await?);
    }
    let actor = Actor::system().with_user(post.author_id);
    match posts::make_visible(&mut tx, env, post, &actor).await {
        Ok(_) => {}
        Err(ContentError::Refused(reasons)) => {
            let text = reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            fanz_store::sqlx::query(
                "UPDATE posts SET state = 'draft', refusal = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(&text)
            .bind(now_micros())
            .bind(job.post_id)
            .execute(&mut *tx)
            .await
            .map_err(JobError::retry)?;
            fanz_audit::record(
                &mut tx,
                &actor,
                "content.publish_refused",
                Some(&format!("post:{}", job.post_id)),
                json!({"reasons": reasons}),
            )
            .await
            .map_err(JobError::retry)?;
        }
        Err(e) => return Err(JobError::retry(e)),
    }
    tx.complete().await?;
    Ok(())
}

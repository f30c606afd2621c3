//! /api/v1/admin/jobs and /api/v1/admin/events: the job queues and the event bus (admin).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, Json, Path, Query, RequestActor};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use fanz_core::Role;
use fanz_events::{DeadLetter, Envelope, SubscriberRow};
use fanz_jobs::{JobRow, QueueStats};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct JobsOverview {
    /// The node that answered.
    pub node: String,
    /// Every configured queue and every queue with jobs: ready, running, scheduled, dead.
    pub queues: Vec<QueueStats>,
    /// Whether this node's workers are going round (what readiness reports).
    pub workers_healthy: bool,
    /// The newest dead jobs with their last error.
    pub dead: Vec<JobRow>,
}

/// Counts per queue and the newest dead jobs (admin). The same counts as `fanz jobs stats`.
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = JobsOverview), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn overview(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<JobsOverview>> {
    auth.require_any(&[Role::Admin])?;
    let mut db = state.store.conn().await?;
    let queues = fanz_jobs::stats(&mut db, &state.config.jobs.queue_names()).await?;
    let dead = fanz_jobs::dead(&mut db, 20).await?;
    let workers_healthy = state
        .background
        .get()
        .and_then(|b| b.jobs.as_ref())
        .is_some_and(|j| j.health().healthy);
    Ok(axum::Json(JobsOverview {
        node: state.node.clone(),
        queues,
        workers_healthy,
        dead,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// ready, running, done, dead or cancelled.
    pub state: Option<String>,
    pub queue: Option<String>,
    pub kind: Option<String>,
    /// Only jobs with a smaller id (the next page).
    pub before: Option<i64>,
    /// 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobRow>,
}

/// Jobs, newest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/jobs/list", tag = "admin", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = JobList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<JobList>> {
    auth.require_any(&[Role::Admin])?;
    if let Some(s) = &q.state {
        if !fanz_jobs::STATES.contains(&s.as_str()) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_state",
                format!("state must be one of {}", fanz_jobs::STATES.join(", ")),
            ));
        }
    }
    let mut db = state.store.conn().await?;
    let jobs = fanz_jobs::list(
        &mut db,
        &fanz_jobs::ListFilter {
            state: q.state,
            queue: q.queue,
            kind: q.kind,
            before: q.before,
            limit: q.limit.unwrap_or(100),
        },
    )
    .await?;
    Ok(axum::Json(JobList { jobs }))
}

/// One job (admin).
#[utoipa::path(get, path = "/api/v1/admin/jobs/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = JobRow), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<JobRow>> {
    auth.require_any(&[Role::Admin])?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(fanz_jobs::show(&mut db, id).await?))
}

/// Run a dead or cancelled job again (admin; audited).
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = JobRow), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "the job is not dead or cancelled", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<JobRow>> {
    auth.require_any(&[Role::Admin])?;
    Ok(axum::Json(
        retry_job(&state, &actor.with_user(auth.0.user_id), id).await?,
    ))
}

/// Retry a job and audit it (the API and the admin page).
pub async fn retry_job(state: &AppState, actor: &fanz_audit::Actor, id: i64) -> ApiResult<JobRow> {
    let mut tx = state.store.begin().await?;
    let job = fanz_jobs::retry(&mut tx, id).await?;
    fanz_audit::record(
        &mut tx,
        actor,
        "jobs.retried",
        Some(&format!("job:{id}")),
        json!({"kind": job.kind}),
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

/// Cancel a waiting or running job (admin; audited).
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/cancel", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = JobRow), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "the job already finished", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<JobRow>> {
    auth.require_any(&[Role::Admin])?;
    let mut tx = state.store.begin().await?;
    let job = fanz_jobs::cancel(&mut tx, id).await?;
    fanz_audit::record(
        &mut tx,
        &actor.with_user(auth.0.user_id),
        "jobs.cancelled",
        Some(&format!("job:{id}")),
        json!({"kind": job.kind}),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(job))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    /// How many probe jobs (1 to 100,000).
    #[schema(minimum = 1, maximum = 100000)]
    pub count: i64,
    /// How long each sleeps before it records its run (0 to 60,000 ms).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 60000)]
    pub sleep_ms: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ProbeEnqueued {
    pub enqueued: i64,
}

/// Enqueue probe jobs that record which node ran them (admin): an end-to-end check of the
/// workers on every node.
#[utoipa::path(post, path = "/api/v1/admin/jobs/probe", tag = "admin", security(("bearer" = [])),
    request_body = ProbeRequest,
    responses((status = 201, body = ProbeEnqueued), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn probe(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<ProbeRequest>,
) -> ApiResult<(StatusCode, axum::Json<ProbeEnqueued>)> {
    auth.require_any(&[Role::Admin])?;
    if !(1..=100_000).contains(&req.count) || !(0..=60_000).contains(&req.sleep_ms) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_probe",
            "count must be 1 to 100000 and sleep_ms 0 to 60000",
        ));
    }
    fanz_jobs::enqueue_probes(&state.store, req.count as usize, req.sleep_ms as u64, 500).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ProbeEnqueued {
            enqueued: req.count,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EventsOverview {
    pub node: String,
    /// `in-process` or `nats`.
    pub transport: String,
    pub subscribers: Vec<SubscriberRow>,
    pub dead_letters: Vec<DeadLetter>,
    /// The newest events, oldest first.
    pub recent: Vec<Envelope>,
}

/// Subscribers with their positions, dead letters and the newest events (admin).
#[utoipa::path(get, path = "/api/v1/admin/events", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = EventsOverview), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<EventsOverview>> {
    auth.require_any(&[Role::Admin])?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(EventsOverview {
        node: state.node.clone(),
        transport: if state.config.events_url.is_empty() {
            "in-process".into()
        } else {
            "nats".into()
        },
        subscribers: fanz_events::subscribers(&mut db).await?,
        dead_letters: fanz_events::dead_letters(&mut db, 50).await?,
        recent: fanz_events::tail(&mut db, None, 20).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ProbeEvent {
    pub event_id: String,
    /// The nodes whose `probe@<node>` subscriber received it so far.
    pub received_by: Vec<String>,
}

/// Publish a probe event (admin); every node's probe subscriber records it.
#[utoipa::path(post, path = "/api/v1/admin/events/probe", tag = "admin", security(("bearer" = [])),
    responses((status = 201, body = ProbeEvent), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn publish_probe(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<(StatusCode, axum::Json<ProbeEvent>)> {
    auth.require_any(&[Role::Admin])?;
    let mut tx = state.store.begin().await?;
    let event_id = fanz_events::publish(
        &mut tx,
        &fanz_events::Probe::Sent {
            from_node: state.node.clone(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ProbeEvent {
            event_id,
            received_by: Vec::new(),
        }),
    ))
}

/// Which nodes received a probe event (admin).
#[utoipa::path(get, path = "/api/v1/admin/events/probe/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ProbeEvent), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn probe_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ProbeEvent>> {
    auth.require_any(&[Role::Admin])?;
    let mut db = state.store.conn().await?;
    let received_by = fanz_events::probe_receipts(&mut db, &id).await?;
    Ok(axum::Json(ProbeEvent {
        event_id: id,
        received_by,
    }))
}

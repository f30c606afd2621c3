//! `/admin/jobs`: queue depth, the age of the oldest ready job, throughput, failures, dead
//! jobs with their errors and a retry button, and the event subscribers (admin).

use super::{go, layout, render, CsrfForm, CsrfToken, Empty, Layout};
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use fanz_core::Role;
use fanz_events::{DeadLetter, SubscriberRow};
use fanz_jobs::QueueStats;
use serde::Deserialize;
use std::collections::HashMap;

pub struct QueueLine {
    pub queue: String,
    pub ready: i64,
    pub oldest: String,
    pub running: i64,
    pub scheduled: i64,
    pub retrying: i64,
    pub done_last_hour: i64,
    pub dead: i64,
}

pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub queue: String,
    pub attempts: i64,
    pub error: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "admin_jobs.html")]
pub struct AdminJobsPage {
    pub layout: Layout,
    pub notice: Option<String>,
    pub node: String,
    pub healthy: bool,
    pub transport: &'static str,
    pub totals: QueueStats,
    pub queues: Vec<QueueLine>,
    pub dead: Vec<DeadJob>,
    pub subscribers: Vec<SubscriberRow>,
    pub dead_letters: Vec<DeadLetter>,
}

fn age(secs: f64) -> String {
    match secs {
        s if s <= 0.0 => "—".into(),
        s if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

#[derive(Deserialize)]
pub struct Notice {
    retried: Option<i64>,
}

pub async fn page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<Notice>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !me.has_role(Role::Admin) {
        return Err(ApiError::forbidden());
    }
    let mut db = state.store.conn().await?;
    let stats = fanz_jobs::stats(&mut db, &state.config.jobs.queue_names()).await?;
    let mut totals = QueueStats::empty("all");
    for s in &stats {
        totals.ready += s.ready;
        totals.running += s.running;
        totals.scheduled += s.scheduled;
        totals.retrying += s.retrying;
        totals.done_last_hour += s.done_last_hour;
        totals.dead += s.dead;
    }
    let dead = fanz_jobs::dead(&mut db, 50)
        .await?
        .into_iter()
        .map(|j| DeadJob {
            id: j.id,
            kind: j.kind,
            queue: j.queue,
            attempts: j.attempts,
            error: j.last_error.unwrap_or_default(),
            when: j
                .finished_at
                .map(fanz_core::clock::rfc3339)
                .unwrap_or_default(),
        })
        .collect();
    let subscribers = fanz_events::subscribers(&mut db).await?;
    let dead_letters = fanz_events::dead_letters(&mut db, 20).await?;
    drop(db);
    let healthy = state.background.get().is_some_and(|b| b.healthy());
    let mut res = render(
        StatusCode::OK,
        AdminJobsPage {
            layout: layout(&pc, Some(&me), &csrf),
            notice: q.retried.map(|id| format!("Job #{id} is queued again.")),
            node: state.node.clone(),
            healthy,
            transport: if state.config.events_url.is_empty() {
                "in process"
            } else {
                "through NATS"
            },
            totals,
            queues: stats
                .into_iter()
                .map(|s| QueueLine {
                    oldest: age(s.oldest_ready_age_secs),
                    queue: s.queue,
                    ready: s.ready,
                    running: s.running,
                    scheduled: s.scheduled,
                    retrying: s.retrying,
                    done_last_hour: s.done_last_hour,
                    dead: s.dead,
                })
                .collect(),
            dead,
            subscribers,
            dead_letters,
        },
    );
    let headers = res.headers_mut();
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    headers.insert("refresh", axum::http::HeaderValue::from_static("10"));
    Ok(res)
}

pub async fn retry(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    _form: CsrfForm<Empty>,
) -> Result<Response, ApiError> {
    // A map: under `/c/{slug}` the path has the cluster too.
    let id: i64 = params
        .get("id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "job_not_found", "no such job"))?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !me.has_role(Role::Admin) {
        return Err(ApiError::forbidden());
    }
    crate::api::jobs::retry_job(&state, &actor.with_user(me.user_id), id).await?;
    Ok(go(&pc, &format!("/admin/jobs?retried={id}")))
}

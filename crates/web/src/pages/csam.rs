//! The compliance officer's page of CSAM report records at `/admin/csam`: each record's facts
//! and file hashes, and the steps (file through the CyberTipline client or record a report
//! filed by hand, close, release as not CSAM). Compliance only; the rules and the audit live
//! in `fanz_safety::csam`.

use super::csrf::{CsrfForm, CsrfToken};
use super::{go, layout, render, Layout};
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use fanz_core::clock::now_micros;
use fanz_safety::csam::{self, CsamReport};
use fanz_safety::reports::rfc3339;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/csam", get(records))
        .route("/admin/csam/{id}/step", post(step))
}

pub struct Row {
    pub r: CsamReport,
    pub preserved_until: String,
    pub uploader: String,
    pub ip_count: usize,
}

#[derive(Template)]
#[template(path = "csam_reports.html")]
pub struct RecordsPage {
    pub layout: Layout,
    pub rows: Vec<Row>,
    pub notice: Option<String>,
}

#[derive(Deserialize)]
pub struct RecordsQuery {
    pub notice: Option<String>,
}

async fn records(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Query(q): Query<RecordsQuery>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let mut rows = vec![];
    for r in csam::list(&mut tx, &me.roles, &actor).await? {
        let r = csam::get(&mut tx, &state.media, r.id, &me.roles, &actor).await?;
        rows.push(Row {
            preserved_until: rfc3339(r.preserve_until),
            uploader: r.facts["uploader"]["handle"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned(),
            ip_count: r.facts["ip_events"].as_array().map_or(0, Vec::len),
            r,
        });
    }
    tx.commit().await?;
    Ok(render(
        StatusCode::OK,
        RecordsPage {
            layout: layout(&pc, Some(&me), &csrf),
            rows,
            notice: q.notice,
        },
    ))
}

#[derive(Deserialize)]
pub struct StepForm {
    /// file | close | release
    pub step: String,
    #[serde(default)]
    pub ncmec_report_id: String,
    #[serde(default)]
    pub reason: String,
}

async fn step(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<std::collections::HashMap<String, String>>,
    CsrfForm(f): CsrfForm<StepForm>,
) -> Result<Response, ApiError> {
    let id: i64 = super::param(&params, "id")?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let actor = actor.with_user(me.user_id);
    let now = now_micros();
    let mut tx = state.store.begin().await?;
    let done = match f.step.as_str() {
        "file" => {
            let manual = Some(f.ncmec_report_id.trim()).filter(|s| !s.is_empty());
            csam::file(
                &mut tx,
                &state.media,
                state.tipline.as_ref(),
                id,
                manual,
                &me.roles,
                me.user_id,
                now,
                &actor,
            )
            .await
        }
        "close" => {
            csam::close(
                &mut tx,
                &state.content,
                id,
                &me.roles,
                me.user_id,
                now,
                &actor,
            )
            .await
        }
        "release" => {
            csam::release_not_csam(
                &mut tx,
                &state.content,
                &state.payments,
                id,
                &f.reason,
                &me.roles,
                me.user_id,
                now,
                &actor,
            )
            .await
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_step",
                "step is file, close or release",
            ))
        }
    };
    let notice = match done {
        Ok(r) => {
            tx.commit().await?;
            format!("report-{id}-{}", r.status)
        }
        Err(fanz_safety::SafetyError::ComplianceOnly) => {
            return Err(fanz_safety::SafetyError::ComplianceOnly.into())
        }
        Err(e) => ApiError::from(e).code.to_owned(),
    };
    Ok(go(&pc, &format!("/admin/csam?notice={notice}")))
}

//! "Your data" at `/settings/privacy`: ask for an export and download it, or erase the
//! account, with what is kept and why. The handlers share the API's (`api::privacy`).

use super::csrf::{CsrfForm, CsrfToken};
use super::{go, layout, page_error, render, set_cookie, Layout, MessagePage};
use crate::api::privacy::{erase_account, export_response, start_export};
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer, SESSION_COOKIE};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fanz_core::clock::rfc3339;
use fanz_safety::privacy::{self, Export};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/privacy", get(page))
        .route("/settings/privacy/export", post(export))
        .route("/settings/privacy/exports/{id}/download", get(download))
        .route("/settings/privacy/erase", post(erase))
}

#[derive(Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub struct ExportRow {
    pub export: Export,
    pub asked: String,
    pub expires: String,
    pub size: String,
}

#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    pub layout: Layout,
    pub exports: Vec<ExportRow>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

fn day(micros: i64) -> String {
    rfc3339(micros)
        .chars()
        .take(16)
        .collect::<String>()
        .replace('T', " ")
}

async fn page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<Notice>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let mut db = state.store.conn().await?;
    let exports = privacy::exports(&mut db, me.user_id)
        .await?
        .into_iter()
        .map(|e| ExportRow {
            asked: day(e.created_at),
            expires: day(e.expires_at),
            size: format!("{:.1} MB", e.bytes as f64 / 1_000_000.0),
            export: e,
        })
        .collect();
    Ok(crate::extract::no_store(render(
        StatusCode::OK,
        PrivacyPage {
            layout: layout(&pc, Some(&me), &csrf),
            exports,
            notice: q.notice,
            error: q.error,
        },
    )))
}

fn back(pc: &PageCluster, r: Result<&str, ApiError>) -> Response {
    let q = match r {
        Ok(n) => serde_urlencoded::to_string([("notice", n)]),
        Err(e) => serde_urlencoded::to_string([("error", page_error(e).1)]),
    }
    .unwrap_or_default();
    go(pc, &format!("/settings/privacy?{q}"))
}

#[derive(Deserialize)]
pub struct Empty {}

async fn export(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let r = start_export(&state, me.user_id, &actor.with_user(me.user_id)).await;
    Ok(back(
        &pc,
        r.map(|_| "Your export is being prepared. Reload this page in a minute."),
    ))
}

async fn download(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    export_response(&state, me.user_id, id, &actor.with_user(me.user_id)).await
}

#[derive(Deserialize)]
pub struct EraseForm {
    pub password: String,
    /// The "I understand" box.
    #[serde(default)]
    pub confirm: Option<String>,
}

async fn erase(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    CsrfForm(f): CsrfForm<EraseForm>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if f.confirm.is_none() {
        return Ok(back(
            &pc,
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "confirmation_required",
                "Tick the box to confirm that you want your account erased.",
            )),
        ));
    }
    match erase_account(
        &state,
        me.user_id,
        &f.password,
        &actor.with_user(me.user_id),
    )
    .await
    {
        Ok(_) => {
            let mut res = render(
                StatusCode::OK,
                MessagePage {
                    layout: layout(&pc, None, &csrf),
                    heading: "Your account was erased".into(),
                    text: "Your personal data has been removed. What the law requires us to keep \
                           (payment records, records of who appears in published content, \
                           reports) is kept without your name or e-mail on your account."
                        .into(),
                },
            );
            set_cookie(&mut res, &state, SESSION_COOKIE, "", 0);
            Ok(res.into_response())
        }
        Err(e) => Ok(back(&pc, Err(e))),
    }
}

//! Onboarding and records pages: the creator's verification steps at `/studio/verification`
//! (agreement, identity, payouts, and the items they are tagged in), the sandbox provider's
//! hosted check at `/verify/sandbox/{session}`, and the compliance officer's record store at
//! `/admin/records`. Who reads records is `fanz_safety::records::KEEPERS`; the rules are the
//! safety crate's.

use super::csrf::{CsrfForm, CsrfToken};
use super::{go, layout, page_error, param, render, Layout};
use crate::api::verification::{document_response, sandbox_submit};
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use fanz_core::clock::rfc3339;
use fanz_identity::Principal;
use fanz_safety::onboarding::{self, SandboxResult, Status};
use fanz_safety::performers::{self, Appearance};
use fanz_safety::records::{self, Correction, Lookup, Performer, RecordDetail};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/studio/verification", get(onboarding_page))
        .route("/studio/verification/agreement", post(sign))
        .route("/studio/verification/start", post(start))
        .route("/studio/verification/appearances/{media}", post(answer))
        .route(
            "/verify/sandbox/{session}",
            get(sandbox_page).post(sandbox_post),
        )
        .route("/admin/records", get(records_page))
        .route("/admin/records/{id}", get(record_page))
        .route("/admin/records/{id}/decide", post(record_decide))
        .route("/admin/records/{id}/correct", post(record_correct))
        .route("/admin/records/{id}/documents/{doc}", get(record_document))
}

#[derive(Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "verify_onboarding.html")]
pub struct OnboardingPage {
    pub layout: Layout,
    pub status: Status,
    pub agreement: &'static str,
    pub signed_on: String,
    pub appearances: Vec<Appearance>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// How many of the three steps are done.
    pub done: usize,
}

fn signed_in(pc: &PageCluster, viewer: Option<Principal>) -> Result<Principal, Box<Response>> {
    viewer.ok_or_else(|| Box::new(go(pc, "/login")))
}

async fn onboarding_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<Notice>,
) -> Result<Response, ApiError> {
    let me = match signed_in(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let mut db = state.store.conn().await?;
    let status = onboarding::status(&mut db, &state.verification, me.user_id).await?;
    let appearances = performers::appearances(&mut db, me.user_id).await?;
    let done = [
        status.agreement.is_some(),
        status.identity == "verified",
        status.payouts_released,
    ]
    .iter()
    .filter(|d| **d)
    .count();
    Ok(render(
        StatusCode::OK,
        OnboardingPage {
            layout: layout(&pc, Some(&me), &csrf),
            signed_on: status
                .agreement
                .as_ref()
                .map(|s| rfc3339(s.signed_at)[..10].to_owned())
                .unwrap_or_default(),
            status,
            agreement: onboarding::AGREEMENT_TEXT,
            appearances,
            notice: q.notice,
            error: q.error,
            done,
        },
    ))
}

fn back(pc: &PageCluster, r: Result<&str, ApiError>) -> Response {
    match r {
        Ok(n) => go(pc, &format!("/studio/verification?notice={n}")),
        Err(e) => {
            let (_, msg) = page_error(e);
            go(
                pc,
                &format!("/studio/verification?error={}", form_urlencoded(&msg)),
            )
        }
    }
}

fn form_urlencoded(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .to_owned()
}

#[derive(Deserialize)]
pub struct SignForm {
    pub version: String,
    pub typed_name: String,
}

async fn sign(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    CsrfForm(f): CsrfForm<SignForm>,
) -> Result<Response, ApiError> {
    let me = match signed_in(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let ip = actor.ip.clone();
    let mut tx = state.store.begin().await?;
    let r = onboarding::sign(
        &mut tx,
        me.user_id,
        &f.version,
        &f.typed_name,
        ip.as_deref(),
        &actor.with_user(me.user_id),
    )
    .await;
    let r = match r {
        Ok(_) => {
            tx.commit().await?;
            Ok("signed")
        }
        Err(e) => Err(e.into()),
    };
    Ok(back(&pc, r))
}

async fn start(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, ApiError> {
    let me = match signed_in(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let mut tx = state.store.begin().await?;
    // The provider's page lives on this cluster's host for the sandbox.
    let base = format!(
        "{}{}",
        state.identity.public_url.trim_end_matches('/'),
        pc.base
    );
    match onboarding::start(
        &mut tx,
        &state.verification,
        me.user_id,
        &base,
        &actor.with_user(me.user_id),
    )
    .await
    {
        Ok(s) => {
            tx.commit().await?;
            let url = s.url.unwrap_or_default();
            // Same-site providers (the sandbox) by path, so the page stays on this host.
            let to = url
                .strip_prefix(state.identity.public_url.trim_end_matches('/'))
                .map(str::to_owned)
                .unwrap_or(url);
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => Ok(back(&pc, Err(e.into()))),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct Empty {}

#[derive(Deserialize)]
pub struct AnswerForm {
    pub decision: String,
}

async fn answer(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    headers: HeaderMap,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(f): CsrfForm<AnswerForm>,
) -> Result<Response, ApiError> {
    let media: i64 = param(&params, "media")?;
    let me = match signed_in(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let r =
        crate::api::verification::answer(&state, &headers, me.user_id, media, &f.decision, &actor)
            .await
            .map(|_| match f.decision.as_str() {
                "accept" => "accepted",
                "decline" => "declined",
                _ => "withdrawn",
            });
    Ok(back(&pc, r))
}

#[derive(Template)]
#[template(path = "verify_sandbox.html")]
pub struct SandboxPage {
    pub layout: Layout,
    pub session: String,
    pub error: Option<String>,
    pub today: String,
}

async fn sandbox_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<Notice>,
) -> Result<Response, ApiError> {
    let session: String = param(&params, "session")?;
    let me = match signed_in(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    if state.verification.sandbox.is_none() {
        return Err(ApiError::not_found("session"));
    }
    let mut db = state.store.conn().await?;
    let s = onboarding::session_of(&mut db, me.user_id, &session).await?;
    if s.status != "pending" {
        return Ok(go(&pc, "/studio/verification"));
    }
    Ok(render(
        StatusCode::OK,
        SandboxPage {
            layout: layout(&pc, Some(&me), &csrf),
            session,
            error: q.error,
            today: records::format_date(records::today()),
        },
    ))
}

#[derive(Deserialize)]
pub struct SandboxForm {
    pub outcome: String,
    pub legal_name: String,
    pub date_of_birth: String,
    pub id_type: String,
    pub id_expires_on: String,
}

async fn sandbox_post(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(f): CsrfForm<SandboxForm>,
) -> Result<Response, ApiError> {
    let session: String = param(&params, "session")?;
    let me = match signed_in(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let result = SandboxResult {
        outcome: f.outcome,
        reason: None,
        legal_name: f.legal_name,
        date_of_birth: f.date_of_birth,
        id_type: f.id_type,
        id_country: String::new(),
        id_expires_on: f.id_expires_on,
        document: None,
    };
    match sandbox_submit(&state, me.user_id, &session, &result, &actor).await {
        Ok(s) if s.status == "verified" => Ok(go(&pc, "/studio/verification?notice=verified")),
        Ok(s) => Ok(back(
            &pc,
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification_failed",
                format!(
                    "Verification failed: {}",
                    s.reason.unwrap_or_else(|| "the check was declined".into())
                ),
            )),
        )),
        Err(e) => Ok(back(&pc, Err(e))),
    }
}

fn keeper(pc: &PageCluster, viewer: Option<Principal>) -> Result<Principal, Box<Response>> {
    let me = signed_in(pc, viewer)?;
    if records::is_keeper(&me.roles) {
        Ok(me)
    } else {
        Err(Box::new(ApiError::forbidden().into_response()))
    }
}

#[derive(Template)]
#[template(path = "records.html")]
pub struct RecordsPage {
    pub layout: Layout,
    pub records: Vec<Performer>,
    pub q: LookupForm,
    pub error: Option<String>,
    pub pending: usize,
    pub today: time::Date,
}

#[derive(Deserialize, Default)]
pub struct LookupForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub status: String,
}

async fn records_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    headers: HeaderMap,
    Query(q): Query<LookupForm>,
) -> Result<Response, ApiError> {
    let me = match keeper(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let lookup = Lookup {
        name: some(&q.name),
        alias: some(&q.alias),
        url: some(&q.url),
        status: some(&q.status),
        limit: Some(200),
    };
    let hosts = crate::api::safety::known_hosts(&state, &headers);
    let mut db = state.store.conn().await?;
    let (records, error) = match records::lookup(&mut db, &lookup, &hosts).await {
        Ok(r) => (r, None),
        Err(e) => (vec![], Some(page_error(e.into()).1)),
    };
    let pending = records.iter().filter(|r| r.status == "pending").count();
    Ok(render(
        StatusCode::OK,
        RecordsPage {
            layout: layout(&pc, Some(&me), &csrf),
            records,
            q,
            error,
            pending,
            today: records::today(),
        },
    ))
}

#[derive(Template)]
#[template(path = "record.html")]
pub struct RecordPage {
    pub layout: Layout,
    pub d: RecordDetail,
    pub valid: bool,
    pub handle: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

async fn record_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<Notice>,
) -> Result<Response, ApiError> {
    let id: i64 = param(&params, "id")?;
    let me = match keeper(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let mut tx = state.store.begin().await?;
    let d = records::read(&mut tx, id, &actor.with_user(me.user_id)).await?;
    let handle = match d.record.user_id {
        Some(u) => fanz_profiles::get_by_user(&mut tx, u)
            .await
            .ok()
            .map(|p| p.handle),
        None => None,
    };
    tx.commit().await?;
    Ok(crate::extract::no_store(render(
        StatusCode::OK,
        RecordPage {
            layout: layout(&pc, Some(&me), &csrf),
            valid: d.record.valid_on(records::today()),
            d,
            handle,
            notice: q.notice,
            error: q.error,
        },
    )))
}

async fn record_document(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (id, doc): (i64, i64) = (param(&params, "id")?, param(&params, "doc")?);
    let me = match keeper(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let mut tx = state.store.begin().await?;
    let (d, bytes) = records::read_document(
        &mut tx,
        &state.verification.keyring,
        id,
        doc,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(document_response(&d, bytes))
}

fn to_record(pc: &PageCluster, id: i64, r: Result<&str, ApiError>) -> Response {
    match r {
        Ok(n) => go(pc, &format!("/admin/records/{id}?notice={n}")),
        Err(e) => go(
            pc,
            &format!(
                "/admin/records/{id}?error={}",
                form_urlencoded(&page_error(e).1)
            ),
        ),
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    pub outcome: String,
    #[serde(default)]
    pub reason: String,
}

async fn record_decide(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(f): CsrfForm<DecideForm>,
) -> Result<Response, ApiError> {
    let id: i64 = param(&params, "id")?;
    let me = match keeper(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let r = match records::decide(&mut tx, id, &f.outcome, &f.reason, me.user_id, &actor).await {
        Ok(p) => {
            if let Some(u) = p.user_id {
                onboarding::sync_payouts(&mut tx, &state.payments, u, records::today(), &actor)
                    .await?;
            }
            tx.commit().await?;
            Ok(if p.status == "verified" {
                "verified"
            } else {
                "rejected"
            })
        }
        Err(e) => Err(e.into()),
    };
    Ok(to_record(&pc, id, r))
}

#[derive(Deserialize)]
pub struct CorrectForm {
    pub id_expires_on: String,
    #[serde(default)]
    pub aliases: String,
    #[serde(default)]
    pub legal_hold: Option<String>,
}

async fn record_correct(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(f): CsrfForm<CorrectForm>,
) -> Result<Response, ApiError> {
    let id: i64 = param(&params, "id")?;
    let me = match keeper(&pc, viewer) {
        Ok(me) => me,
        Err(r) => return Ok(*r),
    };
    let c = Correction {
        id_expires_on: Some(f.id_expires_on),
        aliases: Some(
            f.aliases
                .split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
        ),
        legal_hold: Some(f.legal_hold.is_some()),
    };
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let r = match records::correct(&mut tx, id, &c, &actor).await {
        Ok(p) => {
            if let Some(u) = p.user_id {
                onboarding::sync_payouts(&mut tx, &state.payments, u, records::today(), &actor)
                    .await?;
            }
            tx.commit().await?;
            Ok("corrected")
        }
        Err(e) => Err(e.into()),
    };
    Ok(to_record(&pc, id, r))
}

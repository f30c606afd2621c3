//! Trust & safety pages: the report form (works signed out, `?url=` prefilled), the
//! custodian-of-records statement at `/legal/2257`, and the moderators' case queue at
//! `/admin/cases`. Who reviews is `fanz_safety::REVIEWERS`; the rules live in the safety crate.

use super::csrf::{CsrfForm, CsrfToken};
use super::{go, layout, page_error, render, with_retry_after, Layout};
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use fanz_core::clock::now_micros;
use fanz_safety::cases::{self, Case};
use fanz_safety::reports::{self, NewReport, Origin};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/report", get(report_form).post(report))
        .route("/legal/2257", get(custodian))
        .route("/admin/cases", get(queue))
        .route("/admin/cases/{id}/decide", post(decide))
        .route("/admin/compliance-report", get(monthly))
}

/// `{base}/report?url=<the page>`, percent-encoded.
pub fn report_href(pc: &PageCluster) -> String {
    let mut enc = String::new();
    for b in pc.path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{}/report?url={enc}", pc.base)
}

#[derive(Template)]
#[template(path = "safety_report.html")]
pub struct ReportPage {
    pub layout: Layout,
    pub url: String,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub error: Option<String>,
    pub done: Option<reports::Submitted>,
    pub contact: String,
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    vec![
        ("illegal", "Illegal content"),
        (
            "non_consensual",
            "Shared without the consent of someone shown",
        ),
        ("underage", "Someone shown may be under 18"),
        ("impersonation", "Impersonation"),
        ("copyright", "Copyright infringement (DMCA notice)"),
        ("other", "Something else against the rules"),
    ]
}

#[derive(Deserialize)]
pub struct UrlQuery {
    #[serde(default)]
    pub url: String,
}

async fn report_form(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<UrlQuery>,
) -> Response {
    render(
        StatusCode::OK,
        ReportPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            url: q.url,
            kinds: kinds(),
            error: None,
            done: None,
            contact: state.config.compliance.contact_email.clone(),
        },
    )
}

#[derive(Deserialize)]
pub struct ReportForm {
    pub kind: String,
    pub url: String,
    pub details: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    pub good_faith: Option<String>,
    #[serde(default)]
    pub copyright_work: String,
    #[serde(default)]
    pub signature: String,
    pub accurate_under_penalty: Option<String>,
    #[serde(default)]
    pub contact_address: String,
}

fn some(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

async fn report(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<ReportForm>,
) -> Result<Response, ApiError> {
    let req = NewReport {
        kind: f.kind,
        url: f.url.clone(),
        details: f.details,
        email: some(f.email),
        name: some(f.name),
        good_faith: Some(f.good_faith.is_some()),
        copyright_work: some(f.copyright_work),
        signature: some(f.signature),
        accurate_under_penalty: Some(f.accurate_under_penalty.is_some()),
        contact_address: some(f.contact_address),
    };
    let origin = Origin {
        reporter_id: viewer.as_ref().map(|p| p.user_id),
        ip: actor.ip.clone(),
        hosts: crate::api::safety::known_hosts(&state, &headers),
        per_ip_per_hour: state.config.compliance.reports_per_ip_per_hour,
    };
    let actor = match &viewer {
        Some(p) => actor.with_user(p.user_id),
        None => actor,
    };
    let mut tx = state.store.begin().await?;
    let res = reports::submit(&mut tx, &req, &origin, now_micros(), &actor).await;
    let page = |status, error, done| {
        render(
            status,
            ReportPage {
                layout: layout(&pc, viewer.as_ref(), &csrf),
                url: f.url.clone(),
                kinds: kinds(),
                error,
                done,
                contact: state.config.compliance.contact_email.clone(),
            },
        )
    };
    Ok(match res {
        Ok(done) => {
            tx.commit().await?;
            page(StatusCode::CREATED, None, Some(done))
        }
        Err(e) => {
            let e = ApiError::from(e);
            let retry = e.retry_after;
            let (status, text) = page_error(e);
            with_retry_after(page(status, Some(text), None), retry)
        }
    })
}

#[derive(Template)]
#[template(path = "safety_2257.html")]
pub struct CustodianPage {
    pub layout: Layout,
    pub name: String,
    pub address: String,
    pub contact: String,
}

async fn custodian(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
) -> Response {
    let c = &state.config.compliance;
    render(
        StatusCode::OK,
        CustodianPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            name: c.custodian_name.clone(),
            address: c.custodian_address.clone(),
            contact: c.contact_email.clone(),
        },
    )
}

#[derive(Template)]
#[template(path = "safety_cases.html")]
pub struct QueuePage {
    pub layout: Layout,
    pub cases: Vec<CaseRow>,
    pub status: String,
    pub notice: Option<String>,
}

pub struct CaseRow {
    pub case: Case,
    pub due: String,
    pub details: Vec<String>,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    pub status: Option<String>,
    pub notice: Option<String>,
}

async fn queue(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !fanz_safety::is_reviewer(&me.roles) {
        return Err(ApiError::forbidden());
    }
    let status = q.status.filter(|s| !s.is_empty());
    let mut db = state.store.conn().await?;
    let mut rows = vec![];
    for case in cases::list(&mut db, status.as_deref(), 100).await? {
        let d = cases::detail(&mut db, case.id).await?;
        rows.push(CaseRow {
            due: reports::rfc3339(case.due_at),
            details: d
                .reports
                .iter()
                .take(5)
                .map(|r| format!("{}: {}", r.kind, r.details))
                .collect(),
            case,
        });
    }
    Ok(render(
        StatusCode::OK,
        QueuePage {
            layout: layout(&pc, Some(&me), &csrf),
            cases: rows,
            status: status.unwrap_or_default(),
            notice: q.notice,
        },
    ))
}

#[derive(Deserialize)]
pub struct DecideForm {
    pub outcome: String,
    pub reason: String,
}

async fn decide(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<std::collections::HashMap<String, String>>,
    CsrfForm(f): CsrfForm<DecideForm>,
) -> Result<Response, ApiError> {
    let id: i64 = super::param(&params, "id")?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !fanz_safety::is_reviewer(&me.roles) {
        return Err(ApiError::forbidden());
    }
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let notice = match cases::decide(
        &mut tx,
        &state.content,
        id,
        &f.outcome,
        &f.reason,
        me.user_id,
        now_micros(),
        &actor,
    )
    .await
    {
        Ok(_) => {
            tx.commit().await?;
            format!("case-{id}-decided")
        }
        Err(e) => ApiError::from(e).code.to_owned(),
    };
    Ok(go(&pc, &format!("/admin/cases?notice={notice}")))
}

#[derive(Template)]
#[template(path = "safety_monthly.html")]
pub struct MonthlyPage {
    pub layout: Layout,
    pub m: fanz_safety::monthly::Monthly,
    pub kinds: Vec<&'static str>,
    pub months: Vec<String>,
}

#[derive(Deserialize)]
pub struct MonthlyQuery {
    pub month: Option<String>,
    pub format: Option<String>,
}

/// The monthly report for moderators, compliance officers and admins; `?format=csv` downloads it.
async fn monthly(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<MonthlyQuery>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !fanz_safety::is_reviewer(&me.roles) {
        return Err(ApiError::forbidden());
    }
    let this = fanz_safety::records::format_date(fanz_safety::records::today())[..7].to_owned();
    let month = q
        .month
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| this.clone());
    let mut db = state.store.conn().await?;
    let m = fanz_safety::monthly::report(&mut db, &month).await?;
    if q.format.as_deref() == Some("csv") {
        return Ok((
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "text/csv; charset=utf-8".to_owned(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"trust-and-safety-{}.csv\"", m.month),
                ),
            ],
            fanz_safety::monthly::csv(&m),
        )
            .into_response());
    }
    // This month and the eleven before it.
    let (mut y, mut mo): (i32, i32) = (
        this[..4].parse().unwrap_or(2026),
        this[5..].parse().unwrap_or(1),
    );
    let mut months = Vec::with_capacity(12);
    for _ in 0..12 {
        months.push(format!("{y:04}-{mo:02}"));
        mo -= 1;
        if mo == 0 {
            mo = 12;
            y -= 1;
        }
    }
    Ok(render(
        StatusCode::OK,
        MonthlyPage {
            layout: layout(&pc, Some(&me), &csrf),
            m,
            kinds: fanz_safety::reports::KINDS.to_vec(),
            months,
        },
    ))
}

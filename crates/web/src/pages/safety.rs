//! Trust & safety pages: the report form (works signed out, `?url=` prefilled), the
//! custodian-of-records statement at `/legal/2257`, the moderators' case queue at
//! `/admin/cases` (with counter-notices, the creator's strikes and the verification of
//! requests from authorities), and a creator's statement of reasons at `/statements/{id}`
//! with its appeal and, for a copyright takedown, the DMCA counter-notice form. Who reviews is
//! `fanz_safety::REVIEWERS`; the rules live in the safety crate.

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
use fanz_safety::cases::{self, Case, Statement};
use fanz_safety::dmca::{self, CounterNotice, NewCounterNotice};
use fanz_safety::reports::{self, NewReport, Origin};
use serde::Deserialize;

/// A time as the safety pages show it: `18 Dec 2026, 13:48 UTC`.
fn when(micros: i64) -> String {
    let fmt = time::macros::format_description!(
        "[day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/report", get(report_form).post(report))
        .route("/legal/2257", get(custodian))
        .route("/admin/cases", get(queue))
        .route("/admin/cases/{id}/decide", post(decide))
        .route("/admin/compliance-report", get(monthly))
        .route(
            "/admin/counter-notices/{id}/action-filed",
            post(action_filed),
        )
        .route("/admin/reports/{id}/verify", post(verify_authority))
        .route("/statements/{id}", get(statement_page))
        .route("/statements/{id}/appeal", post(appeal))
        .route("/statements/{id}/counter-notice", post(counter_notice))
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
        (
            "authority",
            "A request from an authority (police, court, regulator)",
        ),
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
    #[serde(default)]
    pub authority_name: String,
    #[serde(default)]
    pub authority_reference: String,
    #[serde(default)]
    pub legal_basis: String,
    #[serde(default)]
    pub authority_contact: String,
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
        authority_name: some(f.authority_name),
        authority_reference: some(f.authority_reference),
        legal_basis: some(f.legal_basis),
        authority_contact: some(f.authority_contact),
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
    let res = crate::api::safety::file_report(&state, &req, &origin, &actor).await;
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
        Ok(done) => page(StatusCode::CREATED, None, Some(done)),
        Err(e) => {
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
    pub strike_threshold: i64,
    /// A compliance officer, who may verify requests from authorities.
    pub officer: bool,
    /// Counter-notices waiting for their restoration date, with that date.
    pub waiting: Vec<(CounterNotice, String)>,
}

pub struct CaseRow {
    pub case: Case,
    pub due: String,
    pub details: Vec<String>,
    /// The creator's standing copyright strikes, and the policy's threshold.
    pub strikes: Option<i64>,
    pub counter_notices: Vec<CounterNotice>,
    /// Requests from authorities in the case not yet verified: (report id, authority).
    pub unverified: Vec<(i64, String)>,
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
    let policy = crate::strike_policy(&state.config);
    let now = now_micros();
    let waiting = dmca::waiting(&mut db, 100)
        .await?
        .into_iter()
        .map(|c| {
            let at = when(c.restore_at);
            (c, at)
        })
        .collect();
    let mut rows = vec![];
    for case in cases::list(&mut db, status.as_deref(), 100).await? {
        let d = cases::detail(&mut db, case.id, &policy, now).await?;
        let authority = |r: &cases::Report| {
            let a = r.authority.as_ref()?;
            let f = |k: &str| a[k].as_str().unwrap_or("").to_owned();
            Some(format!(
                "{} ({}), ref. {}, under {}, contact {}",
                f("authority_name"),
                if r.verified_at.is_some() {
                    "verified"
                } else {
                    "unverified"
                },
                f("authority_reference"),
                f("legal_basis"),
                f("authority_contact"),
            ))
        };
        rows.push(CaseRow {
            due: when(case.due_at),
            details: d
                .reports
                .iter()
                .take(5)
                .map(|r| match authority(r) {
                    Some(a) => format!("{}: {a}: {}", r.kind, r.details),
                    None => format!("{}: {}", r.kind, r.details),
                })
                .collect(),
            unverified: d
                .reports
                .iter()
                .filter(|r| r.kind == "authority" && r.verified_at.is_none())
                .map(|r| {
                    let name = r
                        .authority
                        .as_ref()
                        .and_then(|a| a["authority_name"].as_str())
                        .unwrap_or("")
                        .to_owned();
                    (r.id, name)
                })
                .collect(),
            strikes: d.author_strikes,
            counter_notices: d.counter_notices,
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
            strike_threshold: policy.strikes,
            waiting,
            officer: me
                .roles
                .iter()
                .any(|r| fanz_safety::records::KEEPERS.contains(r)),
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
        &crate::strike_policy(&state.config),
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

#[derive(Deserialize)]
pub struct ActionFiledForm {
    pub note: String,
}

/// A reviewer records that the complainant filed a court action: the post stays down.
async fn action_filed(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<std::collections::HashMap<String, String>>,
    CsrfForm(f): CsrfForm<ActionFiledForm>,
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
    let notice =
        match dmca::action_filed(&mut tx, id, &f.note, me.user_id, now_micros(), &actor).await {
            Ok(_) => {
                tx.commit().await?;
                format!("counter-notice-{id}-kept-down")
            }
            Err(e) => ApiError::from(e).code.to_owned(),
        };
    Ok(go(&pc, &format!("/admin/cases?notice={notice}")))
}

/// A compliance officer confirms a request from an authority.
async fn verify_authority(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<std::collections::HashMap<String, String>>,
    CsrfForm(_): CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id: i64 = super::param(&params, "id")?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !me
        .roles
        .iter()
        .any(|r| fanz_safety::records::KEEPERS.contains(r))
    {
        return Err(ApiError::forbidden());
    }
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let notice =
        match reports::verify_authority(&mut tx, id, me.user_id, now_micros(), &actor).await {
            Ok(()) => {
                tx.commit().await?;
                format!("report-{id}-verified")
            }
            Err(e) => ApiError::from(e).code.to_owned(),
        };
    Ok(go(&pc, &format!("/admin/cases?notice={notice}")))
}

#[derive(Template)]
#[template(path = "safety_statement.html")]
pub struct StatementPage {
    pub layout: Layout,
    pub s: Statement,
    pub created: String,
    pub appeal_until: String,
    pub appealable: bool,
    /// A copyright takedown a counter-notice may answer, and none was filed yet.
    pub may_counter: bool,
    pub counter: Option<CounterNotice>,
    pub restore_at: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

async fn statement_view(
    state: &AppState,
    user_id: i64,
    id: i64,
) -> Result<(Statement, bool, Option<CounterNotice>), ApiError> {
    let mut db = state.store.conn().await?;
    let s = cases::statement_of(&mut db, user_id, id).await?;
    let counter = dmca::for_statement(&mut db, id).await?;
    let may = counter.is_none() && dmca::may_counter(&mut db, &s).await?;
    Ok((s, may, counter))
}

#[allow(clippy::too_many_arguments)]
async fn render_statement(
    state: &AppState,
    pc: &PageCluster,
    me: &fanz_identity::Principal,
    csrf: &CsrfToken,
    id: i64,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, ApiError> {
    let (s, may_counter, counter) = statement_view(state, me.user_id, id).await?;
    Ok(render(
        status,
        StatementPage {
            layout: layout(pc, Some(me), csrf),
            created: when(s.created_at),
            appeal_until: when(s.appeal_until),
            appealable: s.appealed_at.is_none() && now_micros() <= s.appeal_until,
            restore_at: counter
                .as_ref()
                .map(|c| when(c.restore_at))
                .unwrap_or_default(),
            s,
            may_counter,
            counter,
            error,
            notice,
        },
    ))
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// A statement of reasons addressed to the signed-in creator, with its appeal and, for a
/// copyright takedown, the counter-notice form. Someone else's statement is not found.
async fn statement_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Path(params): Path<std::collections::HashMap<String, String>>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ApiError> {
    let id: i64 = super::param(&params, "id")?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    render_statement(&state, &pc, &me, &csrf, id, StatusCode::OK, None, q.notice).await
}

#[derive(Deserialize)]
pub struct AppealForm {
    pub text: String,
}

async fn appeal(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    Path(params): Path<std::collections::HashMap<String, String>>,
    CsrfForm(f): CsrfForm<AppealForm>,
) -> Result<Response, ApiError> {
    let id: i64 = super::param(&params, "id")?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    match cases::appeal(&mut tx, me.user_id, id, &f.text, now_micros(), &actor).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(go(&pc, &format!("/statements/{id}?notice=appealed")))
        }
        Err(e) => {
            drop(tx);
            let (status, text) = page_error(ApiError::from(e));
            render_statement(&state, &pc, &me, &csrf, id, status, Some(text), None).await
        }
    }
}

#[derive(Deserialize)]
pub struct CounterNoticeForm {
    #[serde(default)]
    pub material: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    pub outside_us: Option<String>,
    pub good_faith_under_penalty: Option<String>,
    pub consent_to_jurisdiction: Option<String>,
    pub accept_service: Option<String>,
    #[serde(default)]
    pub signature: String,
}

async fn counter_notice(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    Path(params): Path<std::collections::HashMap<String, String>>,
    CsrfForm(f): CsrfForm<CounterNoticeForm>,
) -> Result<Response, ApiError> {
    let id: i64 = super::param(&params, "id")?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let n = NewCounterNotice {
        material: f.material,
        location: f.location,
        name: f.name,
        address: f.address,
        phone: f.phone,
        email: some(f.email),
        outside_us: f.outside_us.is_some(),
        good_faith_under_penalty: Some(f.good_faith_under_penalty.is_some()),
        consent_to_jurisdiction: Some(f.consent_to_jurisdiction.is_some()),
        accept_service: Some(f.accept_service.is_some()),
        signature: f.signature,
    };
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    match dmca::file(&mut tx, me.user_id, id, &n, now_micros(), &actor).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(go(
                &pc,
                &format!("/statements/{id}?notice=counter-notice-sent"),
            ))
        }
        Err(e) => {
            drop(tx);
            let (status, text) = page_error(ApiError::from(e));
            render_statement(&state, &pc, &me, &csrf, id, status, Some(text), None).await
        }
    }
}

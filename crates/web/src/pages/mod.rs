//! Server-rendered pages, themed per cluster. Every route here is served both at the root
//! (cluster chosen by Host header) and under `/c/{slug}`. Forms are protected by a
//! double-submit CSRF token; sessions use an HttpOnly, SameSite=Lax cookie.

pub(crate) mod age;
pub(crate) mod art;
pub(crate) mod content;
pub(crate) mod csam;
pub(crate) mod csrf;
mod jobs;
mod legal;
pub(crate) mod media;
pub(crate) mod payments;
pub(crate) mod player;
mod privacy;
mod review;
pub(crate) mod safety;
mod templates;
mod verification;

use crate::error::ApiError;
use crate::extract::{cookie, no_store, PageCluster, RequestActor, Viewer, SESSION_COOKIE};
use crate::{flows, AppState};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
pub use csrf::{CsrfForm, CsrfToken};
use fanz_core::Role;
use fanz_identity::{IdentityError, LoginOutcome, Principal};
use fanz_profiles::{Link, ProfileUpdate};
use serde::Deserialize;
use std::collections::HashMap;
use templates::*;
pub use templates::{DocOp as DocOpRow, DocsPage as DocsTemplate};

const MFA_COOKIE: &str = "fanz_mfa";
const AGE_COOKIE: &str = "fanz_age_ok";

/// `cookie_secure` marks the CSRF cookie `Secure` like the session cookie.
pub fn router(cookie_secure: bool) -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/theme.css", get(theme_css))
        .route("/age-gate", post(age_gate))
        .route("/signup", get(signup_form).post(signup))
        .route("/login", get(login_form).post(login))
        .route("/two-factor", get(two_factor_form).post(two_factor))
        .route("/logout", post(logout))
        .route("/forgot-password", get(forgot_form).post(forgot))
        .route("/reset-password", get(reset_form).post(reset))
        .route("/settings", get(settings))
        .route("/settings/profile", post(settings_profile))
        .route("/settings/creator", post(settings_creator))
        .route("/settings/two-factor/start", post(tfa_start))
        .route("/settings/two-factor/confirm", post(tfa_confirm))
        .route("/settings/two-factor/disable", post(tfa_disable))
        .route("/admin/jobs", get(jobs::page))
        .route("/admin/jobs/{id}/retry", post(jobs::retry))
        .route("/@{handle}", get(profile))
        .route("/@{handle}/follow", post(follow))
        .route("/@{handle}/unfollow", post(unfollow))
        .merge(content::routes())
        .merge(media::routes())
        .merge(payments::routes())
        .merge(privacy::routes())
        .merge(safety::routes())
        .merge(csam::routes())
        .merge(verification::routes())
        .merge(review::routes())
        .merge(age::routes())
        .merge(legal::routes())
        .layer(axum::middleware::from_fn_with_state(
            cookie_secure,
            csrf::ensure_cookie,
        ))
}

/// Render a template with a status; a template error is an internal error.
fn render(status: StatusCode, t: impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

fn layout(pc: &PageCluster, viewer: Option<&Principal>, csrf: &CsrfToken) -> Layout {
    Layout {
        feed: match pc.cluster.policy.feed {
            fanz_clusters::Feed::Grid => "grid",
            fanz_clusters::Feed::Vertical => "vertical",
        },
        cluster: pc.cluster.clone(),
        base: pc.base.clone(),
        viewer: viewer.map(|v| v.handle.clone()),
        csrf: csrf.0.clone(),
        creator: viewer.is_some_and(|v| v.has_role(Role::Creator)),
        admin: viewer.is_some_and(|v| v.has_role(Role::Admin)),
        report_href: safety::report_href(pc),
    }
}

/// A path parameter of a page, which is served at the root and under `/c/{slug}` (where the
/// path has `slug` too, so a single-value `Path` cannot be used).
fn param<T: std::str::FromStr>(
    params: &std::collections::HashMap<String, String>,
    name: &'static str,
) -> Result<T, ApiError> {
    params
        .get(name)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::not_found(name))
}

fn go(pc: &PageCluster, path: &str) -> Response {
    Redirect::to(&format!("{}{path}", pc.base)).into_response()
}

fn set_cookie(res: &mut Response, state: &AppState, name: &str, value: &str, max_age_secs: i64) {
    let secure = if state.config.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let v =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    if let Ok(h) = HeaderValue::from_str(&v) {
        res.headers_mut().append(header::SET_COOKIE, h);
    }
}

/// Put a new session in the browser's cookie.
fn start_session(res: &mut Response, state: &AppState, session: &fanz_identity::Session) {
    let max_age = state.identity.session_ttl_micros / 1_000_000;
    set_cookie(res, state, SESSION_COOKIE, &session.token, max_age);
}

/// `Retry-After` on a page refused by a limit (429) or a busy server (503).
fn with_retry_after(mut res: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// The message and status to show on a page for a failed action.
fn page_error(e: ApiError) -> (StatusCode, String) {
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        (
            e.status,
            "We are very busy right now. Please try again in a moment.".into(),
        )
    } else if e.status.is_server_error() {
        (
            e.status,
            "Something went wrong on our side. Please try again.".into(),
        )
    } else {
        (e.status, e.message)
    }
}

/// This cluster's theme for the page, then every cluster's scoped to `.theme-{slug}` (the
/// portal's cards and the cluster chips wear their own brand).
async fn theme_css(State(state): State<AppState>, pc: PageCluster) -> Response {
    let mut css = pc.cluster.theme.css_variables();
    for c in state.clusters.all() {
        css.push_str(&c.theme.css_rule(&format!(".theme-{}", c.slug)));
    }
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        css,
    )
        .into_response()
}

async fn landing(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layout = layout(&pc, viewer.as_ref(), &csrf);
    let parts_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(';')
                .any(|kv| kv.trim() == format!("{AGE_COOKIE}=1"))
        });
    if pc.cluster.policy.extra_gating && !parts_cookie {
        return Ok(render(StatusCode::OK, GatePage { layout }));
    }
    let mut db = state.store.conn().await?;
    let creators = fanz_profiles::creators_on(&mut db, &pc.cluster.slug, 48)
        .await?
        .into_iter()
        .map(CreatorCard::from)
        .collect();
    let portal = state.clusters.default_cluster();
    let clusters = if pc.cluster.slug == portal.slug {
        state
            .clusters
            .all()
            .iter()
            .filter(|c| c.slug != portal.slug)
            .map(ClusterCard::from)
            .collect()
    } else {
        Vec::new()
    };
    Ok(render(
        StatusCode::OK,
        LandingPage {
            layout,
            creators,
            clusters,
        },
    ))
}

async fn age_gate(
    State(state): State<AppState>,
    pc: PageCluster,
    _form: CsrfForm<Empty>,
) -> Response {
    let mut res = go(&pc, "/");
    set_cookie(&mut res, &state, AGE_COOKIE, "1", 30 * 24 * 3600);
    res
}

#[derive(Deserialize, Default)]
pub struct Empty {}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    password: String,
}

async fn signup_form(pc: PageCluster, Viewer(viewer): Viewer, csrf: CsrfToken) -> Response {
    if viewer.is_some() {
        return go(&pc, "/settings");
    }
    render(
        StatusCode::OK,
        SignupPage {
            layout: layout(&pc, None, &csrf),
            error: None,
            email: String::new(),
            handle: String::new(),
        },
    )
}

async fn signup(
    State(state): State<AppState>,
    pc: PageCluster,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<SignupForm>,
) -> Response {
    let result = async {
        flows::signup(
            &state,
            &form.email,
            &form.handle,
            &form.password,
            vec![],
            &actor,
        )
        .await?;
        let outcome = fanz_identity::login(
            &state.store,
            fanz_identity::LoginRequest {
                email: form.email.clone(),
                password: form.password.clone(),
                totp: None,
                kind: "cookie",
                user_agent: crate::api::auth::user_agent(&headers),
            },
            &actor,
            &state.identity,
        )
        .await?;
        Ok::<_, ApiError>(outcome)
    }
    .await;
    match result {
        Ok(LoginOutcome::Session(s)) => {
            let mut res = go(&pc, "/settings?welcome=1");
            start_session(&mut res, &state, &s);
            res
        }
        Ok(LoginOutcome::SecondFactorNeeded { .. }) => go(&pc, "/login"),
        Err(e) => {
            let retry_after = e.retry_after;
            let (status, msg) = page_error(e);
            with_retry_after(
                render(
                    status,
                    SignupPage {
                        layout: layout(&pc, None, &csrf),
                        error: Some(msg),
                        email: form.email,
                        handle: form.handle,
                    },
                ),
                retry_after,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn login_form(pc: PageCluster, Viewer(viewer): Viewer, csrf: CsrfToken) -> Response {
    if viewer.is_some() {
        return go(&pc, "/settings");
    }
    render(
        StatusCode::OK,
        LoginPage {
            layout: layout(&pc, None, &csrf),
            error: None,
            notice: None,
            email: String::new(),
        },
    )
}

async fn login(
    State(state): State<AppState>,
    pc: PageCluster,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Response {
    let outcome = fanz_identity::login(
        &state.store,
        fanz_identity::LoginRequest {
            email: form.email.clone(),
            password: form.password,
            totp: None,
            kind: "cookie",
            user_agent: crate::api::auth::user_agent(&headers),
        },
        &actor,
        &state.identity,
    )
    .await;
    match outcome {
        Ok(LoginOutcome::Session(s)) => {
            let mut res = go(&pc, "/settings");
            start_session(&mut res, &state, &s);
            res
        }
        Ok(LoginOutcome::SecondFactorNeeded { ticket }) => {
            let mut res = go(&pc, "/two-factor");
            set_cookie(&mut res, &state, MFA_COOKIE, &ticket, 300);
            res
        }
        Err(e) => {
            let err = ApiError::from(e);
            let retry_after = err.retry_after;
            let (status, msg) = page_error(err);
            let mut res = render(
                status,
                LoginPage {
                    layout: layout(&pc, None, &csrf),
                    error: Some(msg),
                    notice: None,
                    email: form.email,
                },
            );
            if let Some(secs) = retry_after {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            res
        }
    }
}

async fn two_factor_form(pc: PageCluster, csrf: CsrfToken) -> Response {
    render(
        StatusCode::OK,
        TwoFactorPage {
            layout: layout(&pc, None, &csrf),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn two_factor(
    State(state): State<AppState>,
    pc: PageCluster,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let ticket = cookie_from(&headers, MFA_COOKIE).unwrap_or_default();
    let ua = crate::api::auth::user_agent(&headers);
    match fanz_identity::complete_login(
        &state.store,
        &ticket,
        &form.code,
        ua.as_deref(),
        &actor,
        &state.identity,
    )
    .await
    {
        Ok(s) => {
            let mut res = go(&pc, "/settings");
            start_session(&mut res, &state, &s);
            set_cookie(&mut res, &state, MFA_COOKIE, "", 0);
            res
        }
        Err(IdentityError::LoginExpired) => render(
            StatusCode::UNAUTHORIZED,
            LoginPage {
                layout: layout(&pc, None, &csrf),
                error: Some("That sign-in attempt expired. Please log in again.".into()),
                notice: None,
                email: String::new(),
            },
        ),
        Err(e) => {
            let (status, msg) = page_error(e.into());
            render(
                status,
                TwoFactorPage {
                    layout: layout(&pc, None, &csrf),
                    error: Some(msg),
                },
            )
        }
    }
}

pub(crate) fn cookie_from(headers: &HeaderMap, name: &str) -> Option<String> {
    let (mut parts, _) = axum::http::Request::new(()).into_parts();
    parts.headers = headers.clone();
    cookie(&parts.headers, name)
}

async fn logout(
    State(state): State<AppState>,
    pc: PageCluster,
    RequestActor(actor): RequestActor,
    headers: HeaderMap,
    _form: CsrfForm<Empty>,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie_from(&headers, SESSION_COOKIE) {
        let mut tx = state.store.begin().await?;
        fanz_identity::logout(&mut tx, &token, &actor).await?;
        tx.commit().await?;
    }
    let mut res = go(&pc, "/");
    set_cookie(&mut res, &state, SESSION_COOKIE, "", 0);
    Ok(res)
}

async fn forgot_form(pc: PageCluster, Viewer(viewer): Viewer, csrf: CsrfToken) -> Response {
    render(
        StatusCode::OK,
        ForgotPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            sent: false,
        },
    )
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    pc: PageCluster,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> Result<Response, ApiError> {
    if let Err(e) =
        fanz_identity::request_password_reset(&state.store, &form.email, &actor, &state.identity)
            .await
    {
        let e = ApiError::from(e);
        let retry_after = e.retry_after;
        let (status, text) = page_error(e);
        return Ok(with_retry_after(
            render(
                status,
                MessagePage {
                    layout: layout(&pc, None, &csrf),
                    heading: "Please wait".into(),
                    text,
                },
            ),
            retry_after,
        ));
    }
    Ok(render(
        StatusCode::OK,
        ForgotPage {
            layout: layout(&pc, None, &csrf),
            sent: true,
        },
    ))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn reset_form(pc: PageCluster, csrf: CsrfToken, Query(q): Query<TokenQuery>) -> Response {
    render(
        StatusCode::OK,
        ResetPage {
            layout: layout(&pc, None, &csrf),
            error: None,
            token: q.token,
        },
    )
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset(
    State(state): State<AppState>,
    pc: PageCluster,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Response {
    match flows::reset_password(&state, &form.token, &form.password, &actor).await {
        Ok(()) => render(
            StatusCode::OK,
            LoginPage {
                layout: layout(&pc, None, &csrf),
                error: None,
                notice: Some("Your password is changed. Log in with the new one.".into()),
                email: String::new(),
            },
        ),
        Err(e) => {
            let (status, msg) = page_error(e);
            render(
                status,
                ResetPage {
                    layout: layout(&pc, None, &csrf),
                    error: Some(msg),
                    token: form.token,
                },
            )
        }
    }
}

/// Everything the settings page can show besides the profile.
#[derive(Default)]
struct SettingsExtras {
    error: Option<String>,
    notice: Option<String>,
    enrolment: Option<fanz_identity::TotpEnrolment>,
    recovery_codes: Vec<String>,
}

/// The status and message for the settings page after an action.
fn settled<T>(result: Result<T, ApiError>, notice: &str) -> (StatusCode, SettingsExtras) {
    match result {
        Ok(_) => (
            StatusCode::OK,
            SettingsExtras {
                notice: Some(notice.into()),
                ..Default::default()
            },
        ),
        Err(e) => {
            let (status, msg) = page_error(e);
            (
                status,
                SettingsExtras {
                    error: Some(msg),
                    ..Default::default()
                },
            )
        }
    }
}

async fn settings_page(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    extras: SettingsExtras,
) -> Result<Response, ApiError> {
    let mut db = state.store.conn().await?;
    let p = fanz_profiles::get_by_user(&mut db, me.user_id).await?;
    // Re-read: two-factor may have changed in this request.
    let user = fanz_identity::find_user(&mut db, me.user_id).await?;
    let clusters = state
        .clusters
        .all()
        .iter()
        .map(|c| ClusterChoice {
            slug: c.slug.clone(),
            name: c.name.clone(),
            checked: if p.is_creator {
                p.clusters.contains(&c.slug)
            } else {
                c.slug == pc.cluster.slug
            },
        })
        .collect();
    let links_text = p
        .links
        .iter()
        .map(|l| format!("{} | {}", l.label, l.url))
        .collect::<Vec<_>>()
        .join("\n");
    // The page can show a TOTP secret and recovery codes: never kept by a cache.
    Ok(no_store(render(
        status,
        SettingsPage {
            layout: layout(pc, Some(me), csrf),
            links_text,
            p,
            clusters,
            totp_enabled: user.totp_enabled,
            enrolment: extras.enrolment,
            recovery_codes: extras.recovery_codes,
            error: extras.error,
            notice: extras.notice,
        },
    )))
}

#[derive(Deserialize)]
pub struct WelcomeQuery {
    welcome: Option<String>,
}

async fn settings(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<WelcomeQuery>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let notice = q
        .welcome
        .map(|_| format!("Welcome to {}, @{}!", pc.cluster.name, me.handle));
    settings_page(
        &state,
        &pc,
        &me,
        &csrf,
        StatusCode::OK,
        SettingsExtras {
            notice,
            ..Default::default()
        },
    )
    .await
}

/// The profile form's fields (it also posts `clusters` once per ticked box).
struct ProfileForm {
    display_name: String,
    bio: String,
    avatar_url: String,
    banner_url: String,
    links: String,
}

fn parse_links(text: &str) -> Result<Vec<Link>, ApiError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (label, url) = line.split_once('|').ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_links",
                    format!("write links as `Label | https://…`: {line:?}"),
                )
            })?;
            Ok(Link {
                label: label.trim().to_owned(),
                url: url.trim().to_owned(),
            })
        })
        .collect()
}

/// Repeated `clusters` fields from a urlencoded body.
fn repeated(body: &[(String, String)], name: &str) -> Vec<String> {
    body.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

async fn settings_profile(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let field = |name: &str| {
        repeated(&pairs, name)
            .into_iter()
            .next()
            .unwrap_or_default()
    };
    let form = ProfileForm {
        display_name: field("display_name"),
        bio: field("bio"),
        avatar_url: field("avatar_url"),
        banner_url: field("banner_url"),
        links: field("links"),
    };
    let clusters = repeated(&pairs, "clusters");
    let result = async {
        let links = parse_links(&form.links)?;
        let is_creator = {
            let mut db = state.store.conn().await?;
            fanz_profiles::get_by_user(&mut db, me.user_id)
                .await?
                .is_creator
        };
        if is_creator && clusters.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "required",
                "choose at least one cluster",
            ));
        }
        let update = ProfileUpdate {
            display_name: Some(form.display_name),
            bio: Some(form.bio),
            avatar_url: Some(form.avatar_url),
            banner_url: Some(form.banner_url),
            links: Some(links),
            clusters: is_creator.then_some(clusters),
        };
        flows::update_profile(&state, me.user_id, update, &actor.with_user(me.user_id)).await
    }
    .await;
    let (status, extras) = settled(result, "Profile saved.");
    settings_page(&state, &pc, &me, &csrf, status, extras).await
}

async fn settings_creator(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let clusters = repeated(&pairs, "clusters");
    let (status, extras) = settled(
        flows::become_creator(&state, me.user_id, &clusters, &actor.with_user(me.user_id)).await,
        "You are now a creator.",
    );
    settings_page(&state, &pc, &me, &csrf, status, extras).await
}

async fn tfa_start(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    _form: CsrfForm<Empty>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let issuer = pc.cluster.name.clone();
    let mut tx = state.store.begin().await?;
    let result = fanz_identity::start_totp_enrolment(
        &mut tx,
        me.user_id,
        &issuer,
        &actor.with_user(me.user_id),
        &state.identity.secrets,
    )
    .await;
    tx.commit().await?;
    let (status, extras) = match result {
        Ok(e) => (
            StatusCode::OK,
            SettingsExtras {
                enrolment: Some(e),
                ..Default::default()
            },
        ),
        Err(e) => {
            let (status, msg) = page_error(e.into());
            (
                status,
                SettingsExtras {
                    error: Some(msg),
                    ..Default::default()
                },
            )
        }
    };
    settings_page(&state, &pc, &me, &csrf, status, extras).await
}

async fn tfa_confirm(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let mut tx = state.store.begin().await?;
    let result = fanz_identity::confirm_totp(
        &mut tx,
        me.user_id,
        &form.code,
        &pc.cluster.name,
        &actor.with_user(me.user_id),
        &state.identity.secrets,
    )
    .await;
    tx.commit().await?;
    let (status, extras) = match result {
        Ok(codes) => (
            StatusCode::OK,
            SettingsExtras {
                recovery_codes: codes,
                ..Default::default()
            },
        ),
        Err(e) => {
            // Keep the pending secret on screen so the person can try another code.
            let pending = pending_enrolment(&state, me.user_id, &pc.cluster.name).await?;
            let (status, msg) = page_error(e.into());
            (
                status,
                SettingsExtras {
                    error: Some(msg),
                    enrolment: pending,
                    ..Default::default()
                },
            )
        }
    };
    settings_page(&state, &pc, &me, &csrf, status, extras).await
}

async fn pending_enrolment(
    state: &AppState,
    user_id: i64,
    issuer: &str,
) -> Result<Option<fanz_identity::TotpEnrolment>, ApiError> {
    let mut db = state.store.conn().await?;
    Ok(fanz_identity::pending_totp(&mut db, user_id, issuer, &state.identity.secrets).await?)
}

async fn tfa_disable(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let result = fanz_identity::disable_totp(
        &state.store,
        me.user_id,
        &form.code,
        &actor.with_user(me.user_id),
        &state.identity,
    )
    .await;
    let (status, extras) = settled(
        result.map_err(ApiError::from),
        "Two-factor authentication is off.",
    );
    settings_page(&state, &pc, &me, &csrf, status, extras).await
}

async fn profile(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let handle = params.get("handle").cloned().unwrap_or_default();
    let no_such = |viewer: Option<&Principal>| {
        render(
            StatusCode::NOT_FOUND,
            MessagePage {
                layout: layout(&pc, viewer, &csrf),
                heading: "No such profile".into(),
                text: format!("Nobody is called @{handle} here."),
            },
        )
    };
    let mut db = state.store.conn().await?;
    let p = match fanz_profiles::get_by_handle(&mut db, &handle).await {
        Ok(p) => p,
        Err(fanz_profiles::ProfileError::NotFound) => return Ok(no_such(viewer.as_ref())),
        Err(e) => return Err(e.into()),
    };
    drop(db);
    let creator = if p.is_creator {
        let actor = crate::api::content::acting(&actor, viewer.as_ref());
        match content::creator_section(
            &state,
            &pc,
            viewer.as_ref(),
            &actor,
            &p,
            q.get("cursor").map(String::as_str),
        )
        .await?
        {
            Some(section) => Some(section),
            None => return Ok(no_such(viewer.as_ref())),
        }
    } else {
        None
    };
    let mut db = state.store.conn().await?;
    let follows = match &viewer {
        Some(v) => fanz_profiles::is_following(&mut db, v.user_id, p.user_id).await?,
        None => false,
    };
    let can_follow = viewer.as_ref().is_some_and(|v| v.user_id != p.user_id);
    let cluster_names = p
        .clusters
        .iter()
        .filter_map(|s| {
            state
                .clusters
                .get(s)
                .map(|c| (c.slug.clone(), c.name.clone()))
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        ProfilePage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            initial: initial(&p.display_name),
            avatar: art::or_generated(&p.avatar_url, "avatar", &p.handle),
            banner: art::or_generated(&p.banner_url, "banner", &p.handle),
            follows,
            can_follow,
            cluster_names,
            creator,
            p,
        },
    ))
}

async fn follow_action(
    state: AppState,
    pc: PageCluster,
    viewer: Option<Principal>,
    actor: fanz_audit::Actor,
    handle: String,
    on: bool,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let mut tx = state.store.begin().await?;
    let actor = actor.with_user(me.user_id);
    let result = fanz_profiles::set_following(&mut tx, me.user_id, &handle, on, &actor).await;
    tx.commit().await?;
    result?;
    Ok(go(&pc, &format!("/@{handle}")))
}

async fn follow(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    _form: CsrfForm<Empty>,
) -> Result<Response, ApiError> {
    let handle = params.get("handle").cloned().unwrap_or_default();
    follow_action(state, pc, viewer, actor, handle, true).await
}

async fn unfollow(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    _form: CsrfForm<Empty>,
) -> Result<Response, ApiError> {
    let handle = params.get("handle").cloned().unwrap_or_default();
    follow_action(state, pc, viewer, actor, handle, false).await
}

pub(crate) fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default()
}

//! The legal pages every cluster links from its footer, besides the 2257 statement: the terms
//! of service, the billing policy (cancellation, refunds, chargebacks, what appears on a
//! statement, support) and the privacy notice. Their facts come from the configuration and
//! the checkout's own policy text, so what a fan reads here is what the checkout says.

use super::csrf::CsrfToken;
use super::{layout, render, Layout};
use crate::api::payments::{policy_of, CheckoutPolicy};
use crate::extract::{PageCluster, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/legal/terms", get(terms))
        .route("/legal/billing", get(billing))
        .route("/legal/privacy", get(privacy))
}

#[derive(Template)]
#[template(path = "legal_terms.html")]
pub struct TermsPage {
    pub layout: Layout,
    pub contact: String,
}

async fn terms(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
) -> Response {
    render(
        StatusCode::OK,
        TermsPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            contact: state.config.compliance.contact_email.clone(),
        },
    )
}

#[derive(Template)]
#[template(path = "legal_billing.html")]
pub struct BillingPage {
    pub layout: Layout,
    pub policy: CheckoutPolicy,
    /// (processor label, statement descriptor)
    pub descriptors: Vec<(String, String)>,
    pub grace_days: i64,
}

async fn billing(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
) -> Response {
    let descriptors = state
        .payments
        .offered(&pc.cluster.slug)
        .into_iter()
        .filter(|p| !p.descriptor.is_empty())
        .map(|p| (p.label.to_owned(), p.descriptor))
        .collect();
    render(
        StatusCode::OK,
        BillingPage {
            policy: policy_of(&pc.cluster),
            layout: layout(&pc, viewer.as_ref(), &csrf),
            descriptors,
            grace_days: state.config.payments.grace_days,
        },
    )
}

#[derive(Template)]
#[template(path = "legal_privacy.html")]
pub struct PrivacyPage {
    pub layout: Layout,
    pub contact: String,
    pub pass_days: u32,
}

async fn privacy(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
) -> Response {
    render(
        StatusCode::OK,
        PrivacyPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            contact: state.config.compliance.contact_email.clone(),
            pass_days: state.config.age_assurance.pass_days,
        },
    )
}

//! The JSON API under /api/v1. Routes and the OpenAPI 3.1 document are built together
//! (utoipa-axum), so a route cannot exist without its documentation.

pub mod admin;
pub mod age;
pub mod auth;
pub mod clusters;
pub mod content;
pub mod csam;
pub mod doc;
pub mod jobs;
pub mod ledger;
pub mod me;
pub mod media;
pub mod payments;
pub mod privacy;
pub mod profiles;
pub mod review;
pub mod safety;
pub mod search;
pub mod verification;
pub mod wire;

use crate::AppState;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Fanz API", description = "The HTTP API of a Fanz server. Errors are `{\"error\":{\"code\",\"message\"}}` with stable codes."),
    modifiers(&Security),
    components(schemas(fanz_ledger::ExportFormat)),
    tags(
        (name = "auth", description = "Accounts, sessions, two-factor, password reset, API keys"),
        (name = "me", description = "The caller's own account and profile"),
        (name = "profiles", description = "Public profiles and follows"),
        (name = "clusters", description = "The branded sites this server runs"),
        (name = "content", description = "Posts, stories, tiers, feeds, likes, comments, bookmarks, blocks"),
        (name = "admin", description = "Operator tools"),
        (name = "ledger", description = "The double-entry ledger (finance and admin)"),
        (name = "media", description = "Uploads (multipart and tus), the creator's vault, processing state"),
        (name = "payments", description = "Checkout, processor notifications, subscriptions, wallet, earnings, payouts, the finance console and the sandbox"),
        (name = "safety", description = "Reports without an account, cases, decisions with statements of reasons, appeals; creator onboarding, identity verification, performer records and consent")
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// Every /api/v1 route with its documentation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::totp_enrol))
        .routes(routes!(auth::totp_verify))
        .routes(routes!(auth::totp_disable))
        .routes(routes!(auth::password_forgot))
        .routes(routes!(auth::password_reset))
        .routes(routes!(auth::create_api_key, auth::list_api_keys))
        .routes(routes!(auth::revoke_api_key))
        .routes(routes!(me::me))
        .routes(routes!(me::update_profile))
        .routes(routes!(me::become_creator))
        .routes(routes!(profiles::get_profile))
        .routes(routes!(profiles::follow, profiles::unfollow))
        .routes(routes!(clusters::list))
        .routes(routes!(clusters::get))
        .routes(routes!(admin::mail_outbox))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::grant_role))
        .routes(routes!(jobs::overview))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::show))
        .routes(routes!(jobs::retry))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::probe))
        .routes(routes!(jobs::events))
        .routes(routes!(jobs::publish_probe))
        .routes(routes!(jobs::probe_status))
        .routes(routes!(ledger::create_account))
        .routes(routes!(ledger::get_account))
        .routes(routes!(ledger::balance))
        .routes(routes!(ledger::history))
        .routes(routes!(ledger::freeze))
        .routes(routes!(ledger::post_entry))
        .routes(routes!(ledger::post_batch))
        .routes(routes!(ledger::get_entry))
        .routes(routes!(ledger::post_hold))
        .routes(routes!(ledger::void_hold))
        .routes(routes!(ledger::reverse))
        .routes(routes!(ledger::apply_template))
        .routes(routes!(ledger::set_share))
        .routes(routes!(ledger::trial_balance))
        .routes(routes!(ledger::verify))
        .routes(routes!(ledger::expire_holds))
        .routes(routes!(ledger::profit_and_loss))
        .routes(routes!(ledger::balance_sheet))
        .routes(routes!(ledger::creator_statement))
        .routes(routes!(ledger::export))
        .routes(routes!(ledger::import_settlement))
        .routes(routes!(ledger::reconciliation))
        .routes(routes!(search::search))
        .merge(content::router())
        .merge(media::router())
        .merge(payments::router())
        .merge(privacy::router())
        .merge(safety::router())
        .merge(csam::router())
        .merge(verification::router())
        .merge(review::router())
        .merge(age::router())
}

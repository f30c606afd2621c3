//! /api/v1 payments: checkout, processor notifications, subscriptions, wallet and gift cards,
//! creator earnings, payouts and promo codes, the finance console and the sandbox. Ownership
//! is decided in the payments crate (`get_own`, the creator's own id); roles here.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, Json, PageCluster, Path, Query, RequestActor};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fanz_core::clock::now_micros;
use fanz_core::Role;
use fanz_identity::Principal;
use fanz_payments::checkout::{self, CheckoutRequest, NewPromo, Promo};
use fanz_payments::confirm::{self, Confirmation};
use fanz_payments::intake::{self, Applied, Notification};
use fanz_payments::payouts::{self, Batch, Payout, PayoutAccount, PayoutSettings};
use fanz_payments::sandbox::{self, Emit};
use fanz_payments::subscriptions::{self, Subscription};
use fanz_payments::{apply, wallet, Offered};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_checkout))
        .routes(routes!(get_checkout))
        .routes(routes!(processors))
        .routes(routes!(webhook_post, webhook_get))
        .routes(routes!(my_subscriptions))
        .routes(routes!(cancel_subscription))
        .routes(routes!(resume_subscription))
        .routes(routes!(my_wallet))
        .routes(routes!(redeem_gift_card))
        .routes(routes!(my_charges))
        .routes(routes!(earnings))
        .routes(routes!(my_payouts, request_payout))
        .routes(routes!(payout_method))
        .routes(routes!(my_promos, create_promo))
        .routes(routes!(notifications))
        .routes(routes!(processor_ratios))
        .routes(routes!(notification))
        .routes(routes!(redrive))
        .routes(routes!(charges))
        .routes(routes!(refund_charge))
        .routes(routes!(confirm_charge))
        .routes(routes!(confirmations))
        .routes(routes!(processor_calls))
        .routes(routes!(retry_processor_call))
        .routes(routes!(make_batches))
        .routes(routes!(settle_payout))
        .routes(routes!(set_verification))
        .routes(routes!(clear_flag))
        .routes(routes!(sandbox_pay))
        .routes(routes!(sandbox_emit))
}

const FINANCE: &[Role] = &[Role::Finance, Role::Admin];

fn finance(p: &Principal) -> ApiResult<()> {
    if FINANCE.iter().any(|r| p.has_role(*r)) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn creator(p: &Principal) -> ApiResult<()> {
    if p.has_role(Role::Creator) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_creator",
            "only creators have earnings and payouts",
        ))
    }
}

/// A checkout opened.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutCreated {
    pub id: i64,
    pub reference: String,
    /// `open` (pay at `redirect_url`) or `paid` (paid from the wallet).
    pub status: String,
    pub amount: i64,
    pub renewal_amount: Option<i64>,
    pub currency: String,
    pub trial_days: i64,
    pub description: String,
    /// What the fan's card statement will show.
    pub descriptor: String,
    /// Where the fan goes next: the processor's hosted page, or the receipt.
    pub redirect_url: String,
}

/// Open a checkout: a subscription (with bundles, trials and promo codes), a PPV unlock, a
/// tip, a wallet top-up or a gift card, at a processor or from the wallet.
#[utoipa::path(post, path = "/api/v1/checkout", tag = "payments", security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses((status = 201, body = CheckoutCreated), (status = 401, body = ErrorBody), (status = 402, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_checkout(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    site: PageCluster,
    Json(req): Json<CheckoutRequest>,
) -> ApiResult<(StatusCode, axum::Json<CheckoutCreated>)> {
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let started = checkout::create(
        &mut tx,
        &state.payments,
        me.user_id,
        &site.cluster.slug,
        &req,
        &actor,
    )
    .await?;
    tx.commit().await?;
    let c = &started.checkout;
    let redirect_url = match started.start.clone() {
        None => format!("/payments/checkout/{}", c.id),
        Some(start) => checkout::redirect_url(&state.payments, &c.processor, start).await?,
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(CheckoutCreated {
            id: c.id,
            reference: c.reference.clone(),
            status: c.status.clone(),
            amount: c.amount,
            renewal_amount: c.renewal_amount,
            currency: c.currency.clone(),
            trial_days: c.trial_days,
            description: started.description,
            descriptor: started.descriptor,
            redirect_url,
        }),
    ))
}

/// One of your checkouts (its status follows the processor's notifications).
#[utoipa::path(get, path = "/api/v1/checkout/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = checkout::Checkout), (status = 404, body = ErrorBody)))]
pub async fn get_checkout(
    State(state): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<checkout::Checkout>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(
        checkout::get_own(&mut db, me.user_id, id).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessorList {
    pub processors: Vec<Offered>,
    /// The site's refund and cancellation policy and support contact, shown at checkout.
    pub policy: CheckoutPolicy,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutPolicy {
    pub refunds: String,
    pub cancellation: String,
    pub support: String,
}

/// The site's checkout policy text.
pub fn policy_of(cluster: &fanz_clusters::Cluster) -> CheckoutPolicy {
    CheckoutPolicy {
        refunds: "Payments are final once content is unlocked or a period has begun, except where the law gives you a right to a refund; billing errors and duplicate charges are always refunded.".into(),
        cancellation: "Cancel a subscription at any time from My subscriptions; you keep access until the end of the period you paid for, and are not charged again.".into(),
        support: format!("support@{}", cluster.hosts.first().map(String::as_str).unwrap_or("fanz.localhost")),
    }
}

/// The processors this site offers, with their billing descriptors, and its checkout policy.
#[utoipa::path(get, path = "/api/v1/payments/processors", tag = "payments",
    responses((status = 200, body = ProcessorList)))]
pub async fn processors(
    State(state): State<AppState>,
    site: PageCluster,
) -> axum::Json<ProcessorList> {
    axum::Json(ProcessorList {
        processors: state.payments.offered(&site.cluster.slug),
        policy: policy_of(&site.cluster),
    })
}

fn inbound(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    peer: SocketAddr,
) -> fanz_processors::Inbound {
    fanz_processors::Inbound {
        method: method.as_str().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: crate::extract::header_pairs(headers),
        body: body.to_vec(),
        source_ip: Some(peer.ip()),
    }
}

async fn take_notification(
    state: &AppState,
    processor: &str,
    n: fanz_processors::Inbound,
) -> Response {
    let Some(driver) = fanz_processors::by_name(processor) else {
        return ApiError::not_found("processor").into_response();
    };
    if n.body.len() > intake::MAX_BODY || n.query.len() > intake::MAX_BODY {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "notification too large",
        )
        .into_response();
    }
    let outcome = match intake::receive(&state.store, &state.payments, processor, n).await {
        Ok((_, o)) => o,
        Err(e) => {
            tracing::error!(processor, error = %e, "payment notification failed");
            fanz_processors::Outcome::Failed
        }
    };
    let reply = driver.reply(outcome);
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response()
}

/// A processor's notification (`ccbill`, `segpay`, `epoch`, `verotel`, `btcpay`, `sandbox`),
/// answered in that processor's convention: stored raw, verified, applied once.
#[utoipa::path(post, path = "/api/v1/payments/webhooks/{processor}", tag = "payments",
    params(("processor" = String, Path)),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, description = "accepted (body per processor)"), (status = 403, description = "failed verification"),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 500, description = "retry later")))]
pub async fn webhook_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(processor): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take_notification(
        &state,
        &processor,
        inbound(&method, &uri, &headers, body, peer),
    )
    .await
}

/// The same, for processors that notify with GET (Segpay, Verotel).
#[utoipa::path(get, path = "/api/v1/payments/webhooks/{processor}", tag = "payments",
    params(("processor" = String, Path)),
    responses((status = 200, description = "accepted (body per processor)"), (status = 403, description = "failed verification"), (status = 404, body = ErrorBody)))]
pub async fn webhook_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(processor): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    take_notification(
        &state,
        &processor,
        inbound(&method, &uri, &headers, Bytes::new(), peer),
    )
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<Subscription>,
}

/// Your subscriptions, newest first.
#[utoipa::path(get, path = "/api/v1/me/subscriptions", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionList), (status = 401, body = ErrorBody)))]
pub async fn my_subscriptions(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<SubscriptionList>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(SubscriptionList {
        subscriptions: subscriptions::of_fan(&mut db, me.user_id).await?,
    }))
}

/// Cancel one of your subscriptions: no further charges; access until the paid period ends.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/cancel", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_subscription(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Subscription>> {
    let mut tx = state.store.begin().await?;
    let s = subscriptions::cancel_own(
        &mut tx,
        &state.payments,
        me.user_id,
        id,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(s))
}

/// Resume a cancelled subscription before its period ends.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/resume", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume_subscription(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Subscription>> {
    let mut tx = state.store.begin().await?;
    let s =
        subscriptions::resume_own(&mut tx, me.user_id, id, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(axum::Json(s))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletView {
    #[schema(value_type = Vec<Object>)]
    pub balances: Vec<fanz_processors::Money>,
    pub gift_cards: Vec<wallet::GiftCard>,
}

/// Your wallet: balances and the gift cards you bought.
#[utoipa::path(get, path = "/api/v1/me/wallet", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = WalletView), (status = 401, body = ErrorBody)))]
pub async fn my_wallet(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<WalletView>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(WalletView {
        balances: wallet::balances(&mut db, me.user_id).await?,
        gift_cards: wallet::gift_cards(&mut db, me.user_id).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub code: String,
}

/// Redeem a gift card into your wallet.
#[utoipa::path(post, path = "/api/v1/me/wallet/redeem", tag = "payments", security(("bearer" = [])),
    request_body = RedeemRequest,
    responses((status = 200, body = WalletView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn redeem_gift_card(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(r): Json<RedeemRequest>,
) -> ApiResult<axum::Json<WalletView>> {
    let mut tx = state.store.begin().await?;
    wallet::redeem(&mut tx, me.user_id, &r.code, &actor.with_user(me.user_id)).await?;
    let view = WalletView {
        balances: wallet::balances(&mut tx, me.user_id).await?,
        gift_cards: wallet::gift_cards(&mut tx, me.user_id).await?,
    };
    tx.commit().await?;
    Ok(axum::Json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeView {
    pub id: i64,
    pub kind: String,
    pub product: String,
    pub processor: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub fan_id: i64,
    pub creator_id: Option<i64>,
    pub post_id: Option<i64>,
    pub created_at: i64,
}

impl From<fanz_payments::apply::Charge> for ChargeView {
    fn from(c: fanz_payments::apply::Charge) -> Self {
        ChargeView {
            id: c.id,
            kind: c.kind,
            product: c.product.as_str().into(),
            processor: c.processor,
            amount: c.amount,
            currency: c.currency,
            status: c.status,
            fan_id: c.fan_id,
            creator_id: c.creator_id,
            post_id: c.post_id,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeList {
    pub charges: Vec<ChargeView>,
}

/// Your payments and refunds, newest first.
#[utoipa::path(get, path = "/api/v1/me/charges", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = ChargeList), (status = 401, body = ErrorBody)))]
pub async fn my_charges(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<ChargeList>> {
    let mut db = state.store.conn().await?;
    let charges = fanz_payments::apply::charges_of_fan(&mut db, me.user_id).await?;
    Ok(axum::Json(ChargeList {
        charges: charges.into_iter().map(ChargeView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ChargeQuery {
    /// Only this fan's charges (their handle).
    pub fan: Option<String>,
    /// Only ids below this (paging).
    pub before: Option<i64>,
    /// 1–200; default 50.
    pub limit: Option<i64>,
}

/// Charges and reversals of every fan, or of one, newest first: what finance looks up before
/// a refund (finance, admin).
#[utoipa::path(get, path = "/api/v1/payments/charges", tag = "payments", security(("bearer" = [])),
    params(ChargeQuery),
    responses((status = 200, body = ChargeList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn charges(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<ChargeQuery>,
) -> ApiResult<axum::Json<ChargeList>> {
    finance(&me)?;
    let mut db = state.store.conn().await?;
    let fan = match q.fan.as_deref() {
        Some(handle) => Some(fanz_profiles::get_by_handle(&mut db, handle).await?.user_id),
        None => None,
    };
    let charges =
        fanz_payments::apply::recent_charges(&mut db, fan, q.before, q.limit.unwrap_or(50)).await?;
    Ok(axum::Json(ChargeList {
        charges: charges.into_iter().map(ChargeView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EarningsQuery {
    /// USD (default), EUR, GBP, CAD or AUD.
    pub currency: Option<String>,
    /// Start of the statement period (see the ledger's instants); default 30 days ago.
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Earnings {
    pub currency: String,
    /// Can be paid out now.
    pub available: i64,
    /// Held in the rolling reserve (released automatically).
    pub reserve: i64,
    /// Requested or sent, not yet paid.
    pub in_payout: i64,
    /// Your share of sales the processor has not confirmed yet: not available for payout
    /// until it does (or finance does), included in neither figure above.
    pub awaiting_confirmation: i64,
    /// Those sales, each with its status and reason.
    pub unconfirmed: Vec<Confirmation>,
    pub statement: fanz_ledger::CreatorStatement,
    pub payout_account: PayoutAccount,
}

/// Your earnings: available balance, rolling reserve, payouts in flight and the statement for
/// a period (creators).
#[utoipa::path(get, path = "/api/v1/creators/me/earnings", tag = "payments", security(("bearer" = [])),
    params(EarningsQuery),
    responses((status = 200, body = Earnings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn earnings(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<EarningsQuery>,
) -> ApiResult<axum::Json<Earnings>> {
    creator(&me)?;
    let currency = q.currency.unwrap_or_else(|| "USD".into());
    if !fanz_processors::CURRENCIES.contains(&currency.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_currency",
            "unsupported currency",
        ));
    }
    let from = match q.from.as_deref() {
        Some(f) => fanz_ledger::parse_instant(f)?,
        None => now_micros() - 30 * fanz_core::clock::DAY,
    };
    let (_, to) = fanz_ledger::parse_period(None, q.to.as_deref())?;
    let mut db = state.store.conn().await?;
    let statement =
        fanz_ledger::creator_statement(&mut db, me.user_id, &currency, from, to).await?;
    let available = payouts::available(&mut db, me.user_id, &currency).await?;
    let reserve =
        match fanz_ledger::balance(&mut db, &format!("reserve:{}:{currency}", me.user_id)).await {
            Ok(b) => b.posted,
            Err(_) => 0,
        };
    let in_payout = payouts::of_creator(&mut db, me.user_id)
        .await?
        .iter()
        .filter(|p| p.currency == currency && matches!(p.status.as_str(), "pending" | "sent"))
        .map(|p| p.amount)
        .sum();
    let unconfirmed = confirm::of_creator(&mut db, me.user_id, &currency).await?;
    Ok(axum::Json(Earnings {
        awaiting_confirmation: confirm::held(&mut db, me.user_id, &currency).await?,
        unconfirmed,
        currency,
        available,
        reserve,
        in_payout,
        statement,
        payout_account: payouts::account(&mut db, me.user_id).await?,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutList {
    pub payouts: Vec<Payout>,
    pub account: PayoutAccount,
    /// What can be paid now, in the account's currency.
    pub available: i64,
    /// Your share of sales awaiting the processor's confirmation: not available yet.
    pub awaiting_confirmation: i64,
    /// Those sales, each with its status and reason.
    pub unconfirmed: Vec<Confirmation>,
}

/// Your payouts with their expected dates and, when held, the reason (creators).
#[utoipa::path(get, path = "/api/v1/creators/me/payouts", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = PayoutList), (status = 403, body = ErrorBody)))]
pub async fn my_payouts(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<PayoutList>> {
    creator(&me)?;
    let mut db = state.store.conn().await?;
    let account = payouts::account(&mut db, me.user_id).await?;
    let cur = account.currency.clone();
    Ok(axum::Json(PayoutList {
        payouts: payouts::of_creator(&mut db, me.user_id).await?,
        available: payouts::available(&mut db, me.user_id, &cur).await?,
        awaiting_confirmation: confirm::held(&mut db, me.user_id, &cur).await?,
        unconfirmed: confirm::of_creator(&mut db, me.user_id, &cur).await?,
        account,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// Minor units; default everything available.
    #[serde(default)]
    pub amount: Option<i64>,
}

/// Ask for a payout now (held while identity verification is incomplete).
#[utoipa::path(post, path = "/api/v1/creators/me/payouts", tag = "payments", security(("bearer" = [])),
    request_body = PayoutRequest,
    responses((status = 201, body = Payout), (status = 402, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn request_payout(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(r): Json<PayoutRequest>,
) -> ApiResult<(StatusCode, axum::Json<Payout>)> {
    creator(&me)?;
    let mut tx = state.store.begin().await?;
    let p = payouts::request(
        &mut tx,
        &state.payments,
        me.user_id,
        r.amount,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// Set how you are paid: method, destination, schedule, minimum (creators).
#[utoipa::path(put, path = "/api/v1/creators/me/payout-method", tag = "payments", security(("bearer" = [])),
    request_body = PayoutSettings,
    responses((status = 200, body = PayoutAccount), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn payout_method(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(s): Json<PayoutSettings>,
) -> ApiResult<axum::Json<PayoutAccount>> {
    creator(&me)?;
    let mut tx = state.store.begin().await?;
    let a = payouts::configure(
        &mut tx,
        &state.payments,
        me.user_id,
        &s,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(a))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromoList {
    pub promos: Vec<Promo>,
}

/// Your promo codes (creators).
#[utoipa::path(get, path = "/api/v1/creators/me/promos", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = PromoList), (status = 403, body = ErrorBody)))]
pub async fn my_promos(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<PromoList>> {
    creator(&me)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(PromoList {
        promos: checkout::promos(&mut db, me.user_id).await?,
    }))
}

/// Create a promo code: a discount on the first period and/or a free trial (creators).
#[utoipa::path(post, path = "/api/v1/creators/me/promos", tag = "payments", security(("bearer" = [])),
    request_body = NewPromo,
    responses((status = 201, body = Promo), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_promo(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Json(p): Json<NewPromo>,
) -> ApiResult<(StatusCode, axum::Json<Promo>)> {
    creator(&me)?;
    let mut tx = state.store.begin().await?;
    let promo =
        checkout::create_promo(&mut tx, me.user_id, p, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(promo)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    /// `received`, `applied`, `rejected`, `retrying`, `dead`.
    pub status: Option<String>,
    /// Only ids below this (paging).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
}

/// The notification log with raw bodies, newest first; `status=dead` lists the dead letters
/// (finance, admin).
#[utoipa::path(get, path = "/api/v1/payments/notifications", tag = "payments", security(("bearer" = [])),
    params(NotificationQuery),
    responses((status = 200, body = NotificationList), (status = 403, body = ErrorBody)))]
pub async fn notifications(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<NotificationQuery>,
) -> ApiResult<axum::Json<NotificationList>> {
    finance(&me)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(NotificationList {
        notifications: intake::list(
            &mut db,
            q.status.as_deref(),
            q.before,
            q.limit.unwrap_or(50),
        )
        .await?,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RatioQuery {
    /// The window, in days back from now (1–366; default 30).
    pub days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RatioList {
    pub days: i64,
    pub warn_bps: i64,
    pub limit_bps: i64,
    pub processors: Vec<fanz_payments::ratios::ProcessorRatio>,
}

/// Each processor's sales, declines, refunds and chargebacks over the window, with the
/// chargeback ratio against the configured thresholds (finance, admin).
#[utoipa::path(get, path = "/api/v1/payments/ratios", tag = "payments", security(("bearer" = [])),
    params(RatioQuery),
    responses((status = 200, body = RatioList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn processor_ratios(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<RatioQuery>,
) -> ApiResult<axum::Json<RatioList>> {
    finance(&me)?;
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_days",
            "days must be between 1 and 366",
        ));
    }
    let mut db = state.store.conn().await?;
    Ok(axum::Json(ratio_list(&state, &mut db, days).await?))
}

/// The ratios over the last `days` (the API above and the console).
pub async fn ratio_list(
    state: &AppState,
    db: &mut fanz_store::Db,
    days: i64,
) -> ApiResult<RatioList> {
    let c = &state.config.payments;
    let since = fanz_core::clock::now_micros() - days * fanz_core::clock::DAY;
    Ok(RatioList {
        days,
        warn_bps: c.dispute_warn_bps,
        limit_bps: c.dispute_limit_bps,
        processors: fanz_payments::ratios::ratios(
            db,
            since,
            c.dispute_warn_bps,
            c.dispute_limit_bps,
        )
        .await?,
    })
}

/// One notification (finance, admin).
#[utoipa::path(get, path = "/api/v1/payments/notifications/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Notification), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn notification(
    State(state): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Notification>> {
    finance(&me)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(intake::get(&mut db, id).await?))
}

/// Apply a dead letter again (finance, admin; audited).
#[utoipa::path(post, path = "/api/v1/payments/notifications/{id}/redrive", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Applied), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn redrive(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Applied>> {
    finance(&me)?;
    Ok(axum::Json(
        intake::redrive(
            &state.store,
            &state.payments,
            id,
            &actor.with_user(me.user_id),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Minor units; default the whole charge.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Why (kept in the audit log and the books).
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundStarted {
    /// `refunded` (applied now: wallet payments) or `requested` (the processor's refund
    /// notification will apply it).
    pub status: String,
}

/// Refund a charge (finance, admin; audited). Wallet payments are refunded at once; sandbox
/// ones through the sandbox's refund notification; live ones through the processor's API
/// where it has one (BTCPay, Segpay; see `/api/v1/payments/processor-calls`), else in the
/// processor's console (409 `refund_at_processor`), whose refund notification then applies it.
#[utoipa::path(post, path = "/api/v1/payments/charges/{id}/refund", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = RefundRequest,
    responses((status = 202, body = RefundStarted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn refund_charge(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(r): Json<RefundRequest>,
) -> ApiResult<(StatusCode, axum::Json<RefundStarted>)> {
    finance(&me)?;
    let mut tx = state.store.begin().await?;
    let status = apply::refund_by_finance(
        &mut tx,
        &state.payments,
        id,
        r.amount,
        &r.reason,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(RefundStarted {
            status: status.into(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// What finance checked (kept in the audit log).
    pub reason: String,
}

/// Confirm by hand a charge waiting for its processor's confirmation (pending, manual,
/// denied or overdue), after checking it in the processor's console: the creator's share
/// becomes available for payout (finance, admin; audited).
#[utoipa::path(post, path = "/api/v1/payments/charges/{id}/confirm", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ConfirmRequest,
    responses((status = 200, body = Confirmation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn confirm_charge(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(r): Json<ConfirmRequest>,
) -> ApiResult<axum::Json<Confirmation>> {
    finance(&me)?;
    let mut tx = state.store.begin().await?;
    let c = confirm::confirm_by_hand(&mut tx, id, &r.reason, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConfirmationQuery {
    /// `pending`, `manual`, `denied`, `overdue`, `confirmed` or `reversed`; default every one
    /// still waiting (the first four).
    pub status: Option<String>,
    /// 1–500; default 100.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmationList {
    pub confirmations: Vec<Confirmation>,
}

/// Charges from processors that sign nothing, waiting for (or past) their confirmation from
/// the processor's records; denied and overdue ones are for finance (finance, admin).
#[utoipa::path(get, path = "/api/v1/payments/confirmations", tag = "payments", security(("bearer" = [])),
    params(ConfirmationQuery),
    responses((status = 200, body = ConfirmationList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn confirmations(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<ConfirmationQuery>,
) -> ApiResult<axum::Json<ConfirmationList>> {
    finance(&me)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(ConfirmationList {
        confirmations: confirm::list(&mut db, q.status.as_deref(), q.limit.unwrap_or(100)).await?,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchList {
    pub batches: Vec<Batch>,
}

/// Gather pending payouts into batches with their export files (finance, admin).
#[utoipa::path(post, path = "/api/v1/payments/payouts/batches", tag = "payments", security(("bearer" = [])),
    responses((status = 201, body = BatchList), (status = 403, body = ErrorBody)))]
pub async fn make_batches(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
) -> ApiResult<(StatusCode, axum::Json<BatchList>)> {
    finance(&me)?;
    let mut tx = state.store.begin().await?;
    let batches = payouts::make_batches(&mut tx, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(BatchList { batches })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// Paid (`true`) or failed (`false`: the funds return to the creator).
    pub paid: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Mark a sent payout paid or failed (finance, admin).
#[utoipa::path(post, path = "/api/v1/payments/payouts/{id}/settle", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SettleRequest,
    responses((status = 200, body = Payout), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn settle_payout(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(r): Json<SettleRequest>,
) -> ApiResult<axum::Json<Payout>> {
    finance(&me)?;
    let mut tx = state.store.begin().await?;
    let p = payouts::settle(
        &mut tx,
        id,
        r.paid,
        r.reason.as_deref(),
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(p))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    pub verified: bool,
}

/// Set a creator's identity verification for payouts (until trust & safety supplies it;
/// admin, compliance). Holding a verified creator's payouts writes them a statement of
/// reasons, as does releasing payouts held that way.
#[utoipa::path(post, path = "/api/v1/payments/creators/{id}/verification", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = VerificationRequest,
    responses((status = 200, body = PayoutAccount), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_verification(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(r): Json<VerificationRequest>,
) -> ApiResult<axum::Json<PayoutAccount>> {
    if !(me.has_role(Role::Admin) || me.has_role(Role::Compliance)) {
        return Err(ApiError::forbidden());
    }
    let mut tx = state.store.begin().await?;
    let a = fanz_safety::onboarding::set_payouts_by_hand(
        &mut tx,
        &state.payments,
        id,
        r.verified,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(a))
}

/// Let a fan flagged for chargebacks buy again (finance, admin).
#[utoipa::path(post, path = "/api/v1/payments/fans/{id}/clear-flag", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn clear_flag(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    finance(&me)?;
    let mut tx = state.store.begin().await?;
    let done = apply::clear_flag(&mut tx, id, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("flag"))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxCard {
    /// A test card: 4242 4242 4242 4242 approves, 4000 0000 0000 0002 declines,
    /// 4000 0000 0000 0259 approves then charges back, 4000 0000 0000 0341 approves and its
    /// renewals fail.
    pub card: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxPaid {
    /// What the card does: approve, decline, chargeback, renewal_fails.
    pub card: String,
    /// The receipt page, which follows the notifications.
    pub redirect_url: String,
}

/// Pay one of your sandbox checkouts with a test card (the sandbox's hosted page does this).
#[utoipa::path(post, path = "/api/v1/payments/sandbox/checkouts/{id}/pay", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SandboxCard,
    responses((status = 202, body = SandboxPaid), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sandbox_pay(
    State(state): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(c): Json<SandboxCard>,
) -> ApiResult<(StatusCode, axum::Json<SandboxPaid>)> {
    if !state.payments.config.sandbox {
        return Err(ApiError::not_found("sandbox"));
    }
    let mut tx = state.store.begin().await?;
    let class = sandbox::pay(&mut tx, &state.payments, id, me.user_id, &c.card).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SandboxPaid {
            card: class.into(),
            redirect_url: format!("/payments/checkout/{id}"),
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Emitted {
    /// The notification's event id.
    pub id: String,
}

/// Have the sandbox send a notification about a charge or subscription — a renewal, a
/// failed renewal, a cancellation, a refund, a chargeback — with chosen faults (duplicates,
/// delays, reordering, failed deliveries). Finance and admin.
#[utoipa::path(post, path = "/api/v1/payments/sandbox/events", tag = "payments", security(("bearer" = [])),
    request_body = Emit,
    responses((status = 202, body = Emitted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sandbox_emit(
    State(state): State<AppState>,
    Auth(me): Auth,
    Json(e): Json<Emit>,
) -> ApiResult<(StatusCode, axum::Json<Emitted>)> {
    finance(&me)?;
    if !state.payments.config.sandbox {
        return Err(ApiError::not_found("sandbox"));
    }
    let mut tx = state.store.begin().await?;
    let id = sandbox::emit(&mut tx, &state.payments, &e).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, axum::Json(Emitted { id })))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ProcessorCallQuery {
    /// `queued`, `retrying`, `done`, `failed` (finance must act) or `unapplied`.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessorCallList {
    pub calls: Vec<fanz_payments::calls::ProcessorCall>,
}

/// Calls to processors' APIs, newest first: fans' cancels and finance's refunds of live
/// payments, with their attempts and the processor's answer or last error (finance, admin).
#[utoipa::path(get, path = "/api/v1/payments/processor-calls", tag = "payments", security(("bearer" = [])),
    params(ProcessorCallQuery),
    responses((status = 200, body = ProcessorCallList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn processor_calls(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<ProcessorCallQuery>,
) -> ApiResult<axum::Json<ProcessorCallList>> {
    finance(&me)?;
    let mut db = state.store.conn().await?;
    Ok(axum::Json(ProcessorCallList {
        calls: fanz_payments::calls::list(&mut db, q.status.as_deref(), q.limit.unwrap_or(50))
            .await?,
    }))
}

/// Ask the processor again for a failed call (finance, admin; audited).
#[utoipa::path(post, path = "/api/v1/payments/processor-calls/{id}/retry", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 202, body = fanz_payments::calls::ProcessorCall), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry_processor_call(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<fanz_payments::calls::ProcessorCall>)> {
    finance(&me)?;
    let mut tx = state.store.begin().await?;
    let call = fanz_payments::calls::retry(&mut tx, id, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, axum::Json(call)))
}

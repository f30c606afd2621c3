//! Payment pages: checkout, the sandbox's hosted card page, receipts, the fan's subscriptions
//! and wallet, the creator's earnings and the finance console. Handlers call the payments
//! crate exactly as the JSON API does (same functions, one transaction each); ownership is
//! decided there (`get_own`, the signed-in person's own id), roles here as in the API.

use super::templates::MessagePage;
use super::{go, layout, render, CsrfForm, CsrfToken, Layout};
use crate::api::payments::{policy_of, CheckoutPolicy};
use crate::error::ApiError;
use crate::extract::{no_store, PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use fanz_audit::Actor;
use fanz_core::clock::{now_micros, DAY};
use fanz_core::Role;
use fanz_identity::Principal;
use fanz_payments::checkout::{self, Checkout, CheckoutRequest, Kind, NewPromo};
use fanz_payments::payouts::{self, PayoutSettings};
use fanz_payments::sandbox;
use fanz_payments::{apply, intake, subscriptions, wallet};
use fanz_store::Db;
use std::collections::HashMap;

type Form = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/checkout", get(checkout_get).post(checkout_post))
        .route(
            "/payments/sandbox/{reference}",
            get(sandbox_get).post(sandbox_post),
        )
        .route("/payments/checkout/{id}", get(receipt))
        .route("/me/subscriptions", get(subscriptions_get))
        .route("/me/subscriptions/{id}/{action}", post(subscription_post))
        .route("/me/wallet", get(wallet_get))
        .route("/me/wallet/redeem", post(wallet_redeem))
        .route("/studio/earnings", get(earnings_get))
        .route("/studio/earnings/{action}", post(earnings_post))
        .route("/admin/payments", get(console_get))
        .route("/admin/payments/{action}", post(console_post))
}

// ---------------------------------------------------------------------------------------
// Shared helpers

/// An amount for people, from integer minor units: `$9.99`, `€5.00`, `-$1.50`.
pub fn money(amount: i64, currency: &str) -> String {
    let sym = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "CAD" => "CA$",
        "AUD" => "A$",
        _ => "",
    };
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    let s = format!("{sign}{sym}{}.{:02}", a / 100, a % 100);
    if sym.is_empty() {
        format!("{s} {currency}")
    } else {
        s
    }
}

/// `4.99`, `$5`, `10.5` typed by a person, in minor units.
fn parse_amount(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches(['$', '€', '£']).trim();
    if s.is_empty() {
        return None;
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

/// Minor units as a form value: `10.00`.
fn decimal(amount: i64) -> String {
    format!("{}.{:02}", amount / 100, amount % 100)
}

/// A date for people: `5 Jan 2026`.
fn day(at: i64) -> String {
    let fmt = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    time::OffsetDateTime::from_unix_timestamp_nanos(at as i128 * 1000)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_default()
}

/// A date and time for the finance console: `2026-01-05 18:30:12`.
fn stamp(at: i64) -> String {
    fanz_core::clock::rfc3339(at)
        .replace('T', " ")
        .chars()
        .take(19)
        .collect()
}

fn field(form: &Form, k: &str) -> String {
    form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default()
}

fn id_of(map: &HashMap<String, String>, k: &str) -> Option<i64> {
    map.get(k).and_then(|v| v.trim().parse().ok())
}

/// A redirect (303) to `url`: a path of this site keeps the cluster prefix.
fn see_other(pc: &PageCluster, url: &str) -> Response {
    if url.starts_with('/') && !url.starts_with("//") {
        go(pc, url)
    } else {
        Redirect::to(url).into_response()
    }
}

/// A themed page for "not here" (404) and "not for you" (403).
fn message(
    pc: &PageCluster,
    me: Option<&Principal>,
    csrf: &CsrfToken,
    status: StatusCode,
    heading: &str,
    text: &str,
) -> Response {
    render(
        status,
        MessagePage {
            layout: layout(pc, me, csrf),
            heading: heading.into(),
            text: text.into(),
        },
    )
}

fn not_found(pc: &PageCluster, me: Option<&Principal>, csrf: &CsrfToken) -> Response {
    message(
        pc,
        me,
        csrf,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here, or it is not yours to see.",
    )
}

/// A refusal in words a person understands; a failure of ours stays an error.
fn refusal(e: impl Into<ApiError>) -> Result<(StatusCode, String), ApiError> {
    let e: ApiError = e.into();
    if e.status.is_server_error() && e.status != StatusCode::BAD_GATEWAY {
        return Err(e);
    }
    let text = match e.code {
        "already_subscribed" => {
            "You already subscribe to this creator: see My subscriptions.".to_string()
        }
        "already_unlocked" => "You have already unlocked this post.".into(),
        "checkout_closed" => "This checkout is finished already.".into(),
        "checkout_in_progress" => "This checkout is being paid already.".into(),
        "promo_exists" => "You already have a promo code with that name.".into(),
        "gift_card_redeemed" => "This gift card has been redeemed already.".into(),
        "subscription_expired" => "This subscription has ended.".into(),
        "not_resumable" => "This subscription cannot be resumed.".into(),
        "not_awaiting_confirmation" => "This charge is not waiting for a confirmation.".into(),
        "not_failed" => "Only a failed call can be asked again.".into(),
        "not_found" => "That does not exist, or is not yours.".into(),
        _ => {
            let mut m = e.message.clone();
            if let Some(first) = m.get(..1) {
                let up = first.to_uppercase();
                m.replace_range(..1, &up);
            }
            m
        }
    };
    Ok((e.status, text))
}

/// Who a payment is for, as the pages show them.
pub struct Who {
    pub handle: String,
    pub display_name: String,
    pub avatar: String,
    pub initial: String,
}

async fn who(db: &mut Db, user_id: i64) -> Option<Who> {
    let p = fanz_profiles::get_by_user(db, user_id).await.ok()?;
    Some(Who {
        initial: super::initial(&p.display_name),
        avatar: super::art::or_generated(&p.avatar_url, "avatar", &p.handle),
        handle: p.handle,
        display_name: p.display_name,
    })
}

fn product_label(k: Kind) -> &'static str {
    match k {
        Kind::Subscription => "Subscription",
        Kind::Ppv => "Post unlock",
        Kind::Tip => "Tip",
        Kind::WalletTopup => "Wallet top-up",
        Kind::GiftCard => "Gift card",
    }
}

fn period_label(days: i64) -> String {
    match days {
        30 => "1 month".into(),
        90 => "3 months".into(),
        180 => "6 months".into(),
        365 => "12 months".into(),
        d => format!("{d} days"),
    }
}

/// What a checkout buys, in a line: `VIP · 3 months`, `Unlock a post`, `Tip for @sam`.
async fn describe(db: &mut Db, c: &Checkout) -> String {
    match c.kind {
        Kind::Subscription => {
            let tier = match c.tier_id {
                Some(t) => fanz_content::tiers::get(db, t)
                    .await
                    .map(|t| t.name)
                    .unwrap_or_else(|_| "Subscription".into()),
                None => "Subscription".into(),
            };
            format!("{tier} · {}", period_label(c.period_days.unwrap_or(30)))
        }
        Kind::Ppv => "Unlock a pay-per-view post".into(),
        Kind::Tip => "Tip".into(),
        Kind::WalletTopup => "Wallet top-up".into(),
        Kind::GiftCard => "Gift card".into(),
    }
}

/// Where a checkout of the same thing starts again.
fn again_href(base: &str, c: &Checkout) -> String {
    match c.kind {
        Kind::Subscription => format!("{base}/checkout?tier={}", c.tier_id.unwrap_or(0)),
        Kind::Ppv => format!("{base}/checkout?post={}", c.post_id.unwrap_or(0)),
        Kind::Tip => format!("{base}/checkout?tip={}", c.creator_id.unwrap_or(0)),
        Kind::WalletTopup => format!("{base}/checkout?topup=1"),
        Kind::GiftCard => format!("{base}/checkout?gift=1"),
    }
}

// ---------------------------------------------------------------------------------------
// Checkout

/// What the fan chose so far (from the link, or from the form when it comes back).
#[derive(Default, Clone)]
struct Selection {
    kind: Option<Kind>,
    tier_id: Option<i64>,
    post_id: Option<i64>,
    creator_id: Option<i64>,
    period_days: Option<i64>,
    promo_code: String,
    amount: String,
    message: String,
    processor: String,
}

impl Selection {
    fn from_query(q: &HashMap<String, String>) -> Self {
        let mut s = Selection {
            period_days: id_of(q, "period"),
            promo_code: q.get("promo").cloned().unwrap_or_default(),
            amount: q.get("amount").cloned().unwrap_or_default(),
            ..Default::default()
        };
        if let Some(t) = id_of(q, "tier") {
            s.kind = Some(Kind::Subscription);
            s.tier_id = Some(t);
        } else if let Some(p) = id_of(q, "post") {
            s.kind = Some(Kind::Ppv);
            s.post_id = Some(p);
        } else if let Some(c) = id_of(q, "tip") {
            s.kind = Some(Kind::Tip);
            s.creator_id = Some(c);
        } else if q.contains_key("topup") {
            s.kind = Some(Kind::WalletTopup);
        } else if q.contains_key("gift") {
            s.kind = Some(Kind::GiftCard);
        }
        s
    }

    fn from_form(f: &Form) -> Self {
        Selection {
            kind: Kind::parse(&field(f, "kind")),
            tier_id: id_of(f, "tier_id"),
            post_id: id_of(f, "post_id"),
            creator_id: id_of(f, "creator_id"),
            period_days: id_of(f, "period_days"),
            promo_code: field(f, "promo_code"),
            amount: field(f, "amount"),
            message: f.get("message").cloned().unwrap_or_default(),
            processor: field(f, "processor"),
        }
    }
}

pub struct PeriodChoice {
    pub days: i64,
    pub label: String,
    pub price: String,
    pub per_month: String,
    pub saving: String,
    pub checked: bool,
}

pub struct PayChoice {
    pub name: String,
    pub label: String,
    pub descriptor: String,
    pub note: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "pay_checkout.html")]
pub struct CheckoutPage {
    pub layout: Layout,
    pub kind: &'static str,
    pub heading: String,
    pub creator: Option<Who>,
    pub tier_id: i64,
    pub tier_name: String,
    pub tier_benefits: String,
    pub post_id: i64,
    pub post_teaser: String,
    pub post_media: usize,
    pub creator_id: i64,
    pub periods: Vec<PeriodChoice>,
    /// Tips, top-ups and gift cards: the amount typed, and quick choices (value, label).
    pub amount: String,
    pub presets: Vec<(String, String)>,
    pub symbol: &'static str,
    pub range: String,
    pub message: String,
    pub promo_code: String,
    pub promo_note: Option<String>,
    pub choices: Vec<PayChoice>,
    pub item: String,
    pub total: String,
    pub total_note: String,
    pub descriptor: String,
    pub policy: CheckoutPolicy,
    pub error: Option<String>,
    /// Why the fan cannot buy this now (already subscribed, own post, …).
    pub stop: Option<String>,
}

fn symbol(currency: &str) -> &'static str {
    match currency {
        "EUR" => "€",
        "GBP" => "£",
        "CAD" => "CA$",
        "AUD" => "A$",
        _ => "$",
    }
}

async fn checkout_get(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let sel = Selection::from_query(&q);
    checkout_render(&state, &pc, &me, &csrf, sel, None, StatusCode::OK).await
}

async fn checkout_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    sel: Selection,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let Some(kind) = sel.kind else {
        return Ok(not_found(pc, Some(me), csrf));
    };
    let cfg = &state.payments.config;
    let mut db = state.store.conn().await?;
    let mut page = CheckoutPage {
        layout: layout(pc, Some(me), csrf),
        kind: kind.as_str(),
        heading: String::new(),
        creator: None,
        tier_id: 0,
        tier_name: String::new(),
        tier_benefits: String::new(),
        post_id: 0,
        post_teaser: String::new(),
        post_media: 0,
        creator_id: 0,
        periods: vec![],
        amount: String::new(),
        presets: vec![],
        symbol: "$",
        range: String::new(),
        message: sel.message.clone(),
        promo_code: sel.promo_code.clone(),
        promo_note: None,
        choices: vec![],
        item: String::new(),
        total: String::new(),
        total_note: String::new(),
        descriptor: String::new(),
        policy: policy_of(&pc.cluster),
        error,
        stop: None,
    };
    // What is due now, in which currency; the wallet is offered when it covers it.
    let due: i64;
    let currency: String;
    let wallet_ok: bool;
    match kind {
        Kind::Subscription => {
            let tier = match fanz_content::tiers::get(&mut db, sel.tier_id.unwrap_or(0)).await {
                Ok(t) if !t.archived && !t.is_free() => t,
                _ => return Ok(not_found(pc, Some(me), csrf)),
            };
            if fanz_content::interactions::is_blocked(&mut db, tier.creator_id, me.user_id).await? {
                return Ok(not_found(pc, Some(me), csrf));
            }
            page.creator = who(&mut db, tier.creator_id).await;
            let name = page
                .creator
                .as_ref()
                .map(|c| c.display_name.clone())
                .unwrap_or_default();
            page.heading = format!("Subscribe to {name}");
            page.tier_id = tier.id;
            page.tier_name = tier.name.clone();
            page.tier_benefits = tier.benefits.clone();
            let periods: Vec<i64> = if tier.period_days == 30 {
                vec![30, 90, 180, 365]
            } else {
                vec![tier.period_days]
            };
            let chosen = sel
                .period_days
                .filter(|d| periods.contains(d))
                .unwrap_or(tier.period_days);
            let cur = tier.price.currency.clone();
            let mut full = tier.price.amount;
            for d in periods {
                let Some(price) = checkout::bundle_price(
                    tier.price.amount,
                    tier.period_days,
                    d,
                    cfg.bundle_discounts,
                ) else {
                    continue;
                };
                let months = (d / 30).max(1);
                let list = tier.price.amount * months;
                let saving = if d != tier.period_days && list > price {
                    format!("Save {}%", (list - price) * 100 / list)
                } else {
                    String::new()
                };
                if d == chosen {
                    full = price;
                }
                page.periods.push(PeriodChoice {
                    days: d,
                    label: period_label(d),
                    price: money(price, &cur),
                    per_month: if months > 1 {
                        format!("{} a month", money(price / months, &cur))
                    } else {
                        String::new()
                    },
                    saving,
                    checked: d == chosen,
                });
            }
            let mut now_due = full;
            page.total_note = format!("Renews at {} every {chosen} days", money(full, &cur));
            // A promo code the fan applied: shown here, applied by the checkout itself.
            if !sel.promo_code.trim().is_empty() {
                let code = sel.promo_code.trim().to_uppercase();
                let found = checkout::promos(&mut db, tier.creator_id)
                    .await?
                    .into_iter()
                    .find(|p| p.code == code);
                let at = now_micros();
                match found {
                    Some(p)
                        if p.expires_at.is_none_or(|e| e > at)
                            && p.max_uses.is_none_or(|m| p.uses < m) =>
                    {
                        if p.trial_days > 0 {
                            now_due = 0;
                            page.promo_note =
                                Some(format!("{code}: the first {} days are free", p.trial_days));
                            page.total_note = format!(
                                "Then {} every {chosen} days, from day {}",
                                money(full, &cur),
                                p.trial_days + 1
                            );
                        } else {
                            now_due = full * (100 - p.percent_off) / 100;
                            page.promo_note =
                                Some(format!("{code}: {}% off your first period", p.percent_off));
                        }
                    }
                    _ => {
                        page.promo_note =
                            Some(format!("{code} is not a valid promo code for this creator"))
                    }
                }
            }
            if subscriptions::current(&mut db, me.user_id, tier.creator_id)
                .await?
                .is_some()
            {
                page.stop = Some(
                    "You already subscribe to this creator. Manage it in My subscriptions.".into(),
                );
            } else if tier.creator_id == me.user_id {
                page.stop = Some("This is your own tier.".into());
            }
            page.item = format!("{} · {}", tier.name, period_label(chosen));
            due = now_due;
            wallet_ok = true;
            currency = cur;
        }
        Kind::Ppv => {
            let post = match fanz_content::posts::get(&mut db, sel.post_id.unwrap_or(0)).await {
                Ok(p)
                    if p.state == fanz_content::PostState::Published
                        && p.deleted_at.is_none()
                        && p.visibility == fanz_content::Visibility::Ppv =>
                {
                    p
                }
                _ => return Ok(not_found(pc, Some(me), csrf)),
            };
            if fanz_content::interactions::is_blocked(&mut db, post.author_id, me.user_id).await? {
                return Ok(not_found(pc, Some(me), csrf));
            }
            let price = post.price.clone().unwrap_or(fanz_content::Money {
                amount: 0,
                currency: "USD".into(),
            });
            page.creator = who(&mut db, post.author_id).await;
            page.heading = "Unlock this post".into();
            page.post_id = post.id;
            page.post_teaser = post.teaser.clone();
            page.post_media = post.media.len();
            page.item = format!(
                "Post by @{}",
                page.creator
                    .as_ref()
                    .map(|c| c.handle.as_str())
                    .unwrap_or("")
            );
            page.total_note = "One payment; the post stays unlocked for you.".into();
            if post.author_id == me.user_id {
                page.stop = Some("This is your own post.".into());
            }
            due = price.amount;
            currency = price.currency;
            wallet_ok = true;
        }
        Kind::Tip => {
            let creator = sel.creator_id.unwrap_or(0);
            let roles = fanz_identity::roles_of(&mut db, creator)
                .await
                .unwrap_or_default();
            if !roles.contains(&Role::Creator)
                || fanz_content::interactions::is_blocked(&mut db, creator, me.user_id).await?
            {
                return Ok(not_found(pc, Some(me), csrf));
            }
            page.creator = who(&mut db, creator).await;
            page.creator_id = creator;
            let name = page
                .creator
                .as_ref()
                .map(|c| c.display_name.clone())
                .unwrap_or_default();
            page.heading = format!("Send {name} a tip");
            page.item = format!(
                "Tip for @{}",
                page.creator
                    .as_ref()
                    .map(|c| c.handle.as_str())
                    .unwrap_or("")
            );
            page.presets = [500, 1000, 2000, 5000]
                .iter()
                .map(|a| (decimal(*a), format!("${}", a / 100)))
                .collect();
            page.range = format!(
                "{} to {}",
                money(cfg.tip_min, "USD"),
                money(cfg.tip_max, "USD")
            );
            page.total_note = "One payment, straight to the creator.".into();
            if creator == me.user_id {
                page.stop = Some("You cannot tip yourself.".into());
            }
            due = parse_amount(&sel.amount).unwrap_or(1000);
            page.amount = decimal(due);
            currency = "USD".into();
            wallet_ok = true;
        }
        Kind::WalletTopup | Kind::GiftCard => {
            let gift = kind == Kind::GiftCard;
            page.heading = if gift {
                "Buy a gift card".into()
            } else {
                "Top up your wallet".into()
            };
            page.item = if gift {
                "Gift card".into()
            } else {
                "Wallet top-up".into()
            };
            page.presets = [1000, 2500, 5000, 10000]
                .iter()
                .map(|a| (decimal(*a), format!("${}", a / 100)))
                .collect();
            page.range = format!(
                "{} to {}",
                money(cfg.topup_min, "USD"),
                money(cfg.topup_max, "USD")
            );
            page.total_note = if gift {
                "You get a code to give away; whoever redeems it gets the amount in their wallet."
                    .into()
            } else {
                "Spend it on subscriptions, unlocks and tips without a card each time.".into()
            };
            due = parse_amount(&sel.amount).unwrap_or(2500);
            page.amount = decimal(due);
            currency = "USD".into();
            wallet_ok = false;
        }
    }
    page.symbol = symbol(&currency);
    page.total = money(due, &currency);
    for o in state.payments.offered(&pc.cluster.slug) {
        page.choices.push(PayChoice {
            name: o.name.into(),
            label: o.label.into(),
            note: format!("Shows on your statement as {}", o.descriptor),
            descriptor: o.descriptor,
            checked: false,
        });
    }
    if wallet_ok {
        let balance = wallet::balance(&mut db, me.user_id, &currency).await?;
        if balance > 0 && balance >= due {
            page.choices.push(PayChoice {
                name: "wallet".into(),
                label: format!("Wallet (balance {})", money(balance, &currency)),
                descriptor: "Paid from your wallet".into(),
                note: "Paid at once from your balance; nothing on your card statement".into(),
                checked: false,
            });
        }
    }
    let pick = page
        .choices
        .iter()
        .position(|c| c.name == sel.processor)
        .unwrap_or(0);
    if let Some(c) = page.choices.get_mut(pick) {
        c.checked = true;
        page.descriptor = c.descriptor.clone();
    }
    if page.choices.is_empty() && page.stop.is_none() {
        page.stop = Some("No payment method is available here right now. Please try later.".into());
    }
    drop(db);
    Ok(no_store(render(status, page)))
}

async fn checkout_post(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(form): CsrfForm<Form>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let sel = Selection::from_form(&form);
    let Some(kind) = sel.kind else {
        return Ok(not_found(&pc, Some(&me), &csrf));
    };
    if form.contains_key("apply") {
        return checkout_render(&state, &pc, &me, &csrf, sel, None, StatusCode::OK).await;
    }
    let amount = match kind {
        Kind::Tip | Kind::WalletTopup | Kind::GiftCard => match parse_amount(&sel.amount) {
            Some(a) => Some(a),
            None => {
                return checkout_render(
                    &state,
                    &pc,
                    &me,
                    &csrf,
                    sel,
                    Some("Enter an amount, like 10.00.".into()),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
        },
        _ => None,
    };
    let req = CheckoutRequest {
        kind,
        processor: sel.processor.clone(),
        tier_id: sel.tier_id.filter(|_| kind == Kind::Subscription),
        period_days: sel.period_days.filter(|_| kind == Kind::Subscription),
        promo_code: Some(sel.promo_code.clone())
            .filter(|c| kind == Kind::Subscription && !c.trim().is_empty()),
        post_id: sel.post_id.filter(|_| kind == Kind::Ppv),
        creator_id: sel.creator_id.filter(|_| kind == Kind::Tip),
        amount,
        currency: None,
        message: Some(sel.message.clone()).filter(|m| kind == Kind::Tip && !m.trim().is_empty()),
    };
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let started = match checkout::create(
        &mut tx,
        &state.payments,
        me.user_id,
        &pc.cluster.slug,
        &req,
        &actor,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            drop(tx);
            let (status, text) = refusal(e)?;
            return checkout_render(&state, &pc, &me, &csrf, sel, Some(text), status).await;
        }
    };
    tx.commit().await?;
    let c = &started.checkout;
    let url = match started.start {
        None => format!("/payments/checkout/{}", c.id),
        Some(start) => match checkout::redirect_url(&state.payments, &c.processor, start).await {
            Ok(u) => u,
            Err(e) => {
                let (status, text) = refusal(e)?;
                return checkout_render(&state, &pc, &me, &csrf, sel, Some(text), status).await;
            }
        },
    };
    Ok(see_other(&pc, &url))
}

// ---------------------------------------------------------------------------------------
// The sandbox's hosted page

pub struct TestCard {
    pub number: String,
    pub spaced: String,
    pub label: String,
    pub class: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "pay_sandbox.html")]
pub struct SandboxPage {
    pub layout: Layout,
    pub reference: String,
    pub checkout_id: i64,
    pub open: bool,
    pub amount: String,
    pub renewal: String,
    pub description: String,
    pub descriptor: String,
    pub merchant: String,
    pub cards: Vec<TestCard>,
    pub card: String,
    pub error: Option<String>,
}

/// The signed-in fan's own sandbox checkout by reference; `None` for anyone else's.
async fn own_by_reference(
    state: &AppState,
    me: &Principal,
    reference: &str,
) -> Result<Option<Checkout>, ApiError> {
    let mut db = state.store.conn().await?;
    Ok(checkout::by_reference(&mut db, reference)
        .await?
        .filter(|c| c.fan_id == me.user_id && c.processor == "sandbox"))
}

#[allow(clippy::too_many_arguments)]
async fn sandbox_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    c: &Checkout,
    card: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let mut db = state.store.conn().await?;
    let mut description = describe(&mut db, c).await;
    if let Some(creator) = c.creator_id {
        if let Some(w) = who(&mut db, creator).await {
            description = format!("{description} · @{}", w.handle);
        }
    }
    drop(db);
    let renewal = match (c.kind, c.renewal_amount) {
        (Kind::Subscription, Some(r)) => {
            let days = c.period_days.unwrap_or(30);
            if c.trial_days > 0 {
                format!(
                    "Free for {} days, then {} every {days} days",
                    c.trial_days,
                    money(r, &c.currency)
                )
            } else {
                format!(
                    "Then {} every {days} days until cancelled",
                    money(r, &c.currency)
                )
            }
        }
        _ => String::new(),
    };
    let chosen: String = card.chars().filter(|c| c.is_ascii_digit()).collect();
    let cards = sandbox::CARDS
        .iter()
        .map(|(n, class, label)| TestCard {
            number: (*n).into(),
            spaced: n
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            label: (*label).into(),
            class: (*class).into(),
            checked: chosen == *n,
        })
        .collect();
    let descriptor = state
        .payments
        .settings(&c.cluster, "sandbox")
        .and_then(|s| s.descriptor)
        .unwrap_or_default();
    Ok(no_store(render(
        status,
        SandboxPage {
            layout: layout(pc, Some(me), csrf),
            reference: c.reference.clone(),
            checkout_id: c.id,
            open: c.status == "open",
            amount: money(c.amount, &c.currency),
            renewal,
            description,
            descriptor,
            merchant: pc.cluster.name.clone(),
            cards,
            card,
            error,
        },
    )))
}

async fn sandbox_get(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if !state.payments.config.sandbox {
        return Ok(not_found(&pc, viewer.as_ref(), &csrf));
    }
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let reference = params.get("reference").cloned().unwrap_or_default();
    let Some(c) = own_by_reference(&state, &me, &reference).await? else {
        return Ok(not_found(&pc, Some(&me), &csrf));
    };
    sandbox_render(
        &state,
        &pc,
        &me,
        &csrf,
        &c,
        String::new(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn sandbox_post(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(form): CsrfForm<Form>,
) -> Result<Response, ApiError> {
    if !state.payments.config.sandbox {
        return Ok(not_found(&pc, viewer.as_ref(), &csrf));
    }
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let reference = params.get("reference").cloned().unwrap_or_default();
    let Some(c) = own_by_reference(&state, &me, &reference).await? else {
        return Ok(not_found(&pc, Some(&me), &csrf));
    };
    let typed = field(&form, "card");
    let card = if typed.is_empty() {
        field(&form, "test_card")
    } else {
        typed
    };
    let mut tx = state.store.begin().await?;
    match sandbox::pay(&mut tx, &state.payments, c.id, me.user_id, &card).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(go(&pc, &format!("/payments/checkout/{}", c.id)))
        }
        Err(e) => {
            drop(tx);
            let (status, text) = refusal(e)?;
            sandbox_render(&state, &pc, &me, &csrf, &c, card, Some(text), status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Receipt

#[derive(Template)]
#[template(path = "pay_receipt.html")]
pub struct ReceiptPage {
    pub layout: Layout,
    pub id: i64,
    pub status: String,
    pub product: &'static str,
    pub description: String,
    pub creator: Option<Who>,
    pub amount: String,
    pub renewal: String,
    pub processor: String,
    pub reference: String,
    pub date: String,
    pub failure: String,
    /// Paid: where to go now (label, href).
    pub next: Option<(String, String)>,
    pub again: String,
    /// Open at the sandbox: its payment page.
    pub pay_page: String,
}

async fn receipt(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let Some(id) = id_of(&params, "id") else {
        return Ok(not_found(&pc, Some(&me), &csrf));
    };
    let mut db = state.store.conn().await?;
    let c = match checkout::get_own(&mut db, me.user_id, id).await {
        Ok(c) => c,
        Err(fanz_payments::PaymentsError::NotFound) => return Ok(not_found(&pc, Some(&me), &csrf)),
        Err(e) => return Err(e.into()),
    };
    let description = describe(&mut db, &c).await;
    let creator = match c.creator_id {
        Some(id) => who(&mut db, id).await,
        None => None,
    };
    drop(db);
    let base = &pc.base;
    let next = match c.kind {
        Kind::Subscription | Kind::Tip => creator.as_ref().map(|w| {
            (
                format!("Go to {}", w.display_name),
                format!("{base}/@{}", w.handle),
            )
        }),
        Kind::Ppv => c
            .post_id
            .map(|p| ("View the post".to_string(), format!("{base}/p/{p}"))),
        Kind::WalletTopup => Some(("Open your wallet".into(), format!("{base}/me/wallet"))),
        Kind::GiftCard => Some((
            "See your gift card code".into(),
            format!("{base}/me/wallet#gift-cards"),
        )),
    };
    let renewal = match (c.kind, c.renewal_amount) {
        (Kind::Subscription, Some(r)) => format!(
            "{} every {} days",
            money(r, &c.currency),
            c.period_days.unwrap_or(30)
        ),
        _ => String::new(),
    };
    let open = c.status == "open";
    let pay_page = if open && c.processor == "sandbox" && state.payments.config.sandbox {
        format!("{base}/payments/sandbox/{}", c.reference)
    } else {
        String::new()
    };
    let mut res = no_store(render(
        StatusCode::OK,
        ReceiptPage {
            layout: layout(&pc, Some(&me), &csrf),
            id: c.id,
            product: product_label(c.kind),
            description,
            creator,
            amount: money(c.amount, &c.currency),
            renewal,
            processor: if c.processor == "wallet" {
                "Wallet".into()
            } else {
                state
                    .payments
                    .driver(&c.processor)
                    .map(|d| d.label().to_owned())
                    .unwrap_or_else(|| c.processor.clone())
            },
            reference: c.reference.clone(),
            date: day(c.created_at),
            failure: c.failure.clone().unwrap_or_default(),
            next,
            again: again_href(base, &c),
            pay_page,
            status: c.status.clone(),
        },
    ));
    if open {
        // Follow the processor's notifications: the page asks again every two seconds.
        res.headers_mut()
            .insert("refresh", HeaderValue::from_static("2"));
    }
    Ok(res)
}

// ---------------------------------------------------------------------------------------
// My subscriptions and payment history

pub struct SubCard {
    pub id: i64,
    pub creator: Option<Who>,
    pub tier: String,
    pub status: String,
    pub status_label: &'static str,
    pub when: String,
    pub price: String,
    pub can_cancel: bool,
    pub can_resume: bool,
}

pub struct ChargeLine {
    pub date: String,
    pub what: String,
    pub creator: String,
    pub amount: String,
    pub status: String,
    pub reversal: bool,
}

#[derive(Template)]
#[template(path = "pay_subscriptions.html")]
pub struct SubscriptionsPage {
    pub layout: Layout,
    pub subs: Vec<SubCard>,
    pub charges: Vec<ChargeLine>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

fn status_label(s: &str) -> &'static str {
    match s {
        "trialing" => "Free trial",
        "active" => "Active",
        "past_due" => "Payment due",
        "cancelled" => "Cancelled",
        "expired" => "Ended",
        _ => "Unknown",
    }
}

async fn charge_lines(
    db: &mut Db,
    charges: Vec<apply::Charge>,
    fan_view: bool,
) -> Result<Vec<ChargeLine>, ApiError> {
    let mut handles: HashMap<i64, String> = HashMap::new();
    let mut out = Vec::new();
    for c in charges {
        let other = if fan_view {
            c.creator_id
        } else {
            Some(c.fan_id)
        };
        let name = match other {
            Some(id) => {
                if let Some(h) = handles.get(&id) {
                    h.clone()
                } else {
                    let h = fanz_profiles::get_by_user(db, id)
                        .await
                        .map(|p| format!("@{}", p.handle))
                        .unwrap_or_default();
                    handles.insert(id, h.clone());
                    h
                }
            }
            None => String::new(),
        };
        let reversal = !matches!(c.kind.as_str(), "sale" | "renewal");
        let what = match c.kind.as_str() {
            "sale" => product_label(c.product).to_string(),
            "renewal" => "Renewal".into(),
            "refund" => format!("Refund · {}", product_label(c.product)),
            "chargeback" => format!("Chargeback · {}", product_label(c.product)),
            "void" => format!("Voided · {}", product_label(c.product)),
            k => k.to_string(),
        };
        out.push(ChargeLine {
            date: day(c.created_at),
            what,
            creator: name,
            amount: money(if reversal { -c.amount } else { c.amount }, &c.currency),
            status: c.status.clone(),
            reversal,
        });
    }
    Ok(out)
}

async fn subscriptions_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let mut db = state.store.conn().await?;
    let mut subs = Vec::new();
    for s in subscriptions::of_fan(&mut db, me.user_id).await? {
        let tier = fanz_content::tiers::get(&mut db, s.tier_id)
            .await
            .map(|t| t.name)
            .unwrap_or_default();
        let when = match s.status.as_str() {
            "expired" => format!("Ended {}", day(s.ended_at.unwrap_or(s.current_period_end))),
            "cancelled" => format!("Access until {}", day(s.current_period_end)),
            "past_due" => format!(
                "Payment failed · access until {}",
                day(s.grace_until.unwrap_or(s.current_period_end))
            ),
            "trialing" => format!("Trial ends {}", day(s.current_period_end)),
            _ if s.cancel_at_period_end => format!("Ends {}", day(s.current_period_end)),
            _ => format!("Renews {}", day(s.current_period_end)),
        };
        subs.push(SubCard {
            id: s.id,
            creator: who(&mut db, s.creator_id).await,
            tier,
            status_label: status_label(&s.status),
            when,
            price: format!("{} / {} days", money(s.price, &s.currency), s.period_days),
            can_cancel: !matches!(s.status.as_str(), "expired" | "cancelled"),
            can_resume: s.status == "cancelled" && s.processor != "wallet",
            status: s.status,
        });
    }
    let charges = apply::charges_of_fan(&mut db, me.user_id).await?;
    let charges = charge_lines(&mut db, charges, true).await?;
    drop(db);
    Ok(no_store(render(
        status,
        SubscriptionsPage {
            layout: layout(pc, Some(me), csrf),
            subs,
            charges,
            notice,
            error,
        },
    )))
}

async fn subscriptions_get(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let notice = q.get("done").map(|d| match d.as_str() {
        "cancel" => "Cancelled. You keep access until the end of the period you paid for.".into(),
        "resume" => "Resumed. Your subscription renews as before.".into(),
        _ => "Done.".to_string(),
    });
    subscriptions_render(&state, &pc, &me, &csrf, notice, None, StatusCode::OK).await
}

async fn subscription_post(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(_form): CsrfForm<Form>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let Some(id) = id_of(&params, "id") else {
        return Ok(not_found(&pc, Some(&me), &csrf));
    };
    let action = params.get("action").cloned().unwrap_or_default();
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let result = match action.as_str() {
        "cancel" => {
            subscriptions::cancel_own(&mut tx, &state.payments, me.user_id, id, &actor).await
        }
        "resume" => subscriptions::resume_own(&mut tx, me.user_id, id, &actor).await,
        _ => return Ok(not_found(&pc, Some(&me), &csrf)),
    };
    match result {
        Ok(_) => {
            tx.commit().await?;
            Ok(go(&pc, &format!("/me/subscriptions?done={action}")))
        }
        Err(fanz_payments::PaymentsError::NotFound) => Ok(not_found(&pc, Some(&me), &csrf)),
        Err(e) => {
            drop(tx);
            let (status, text) = refusal(e)?;
            subscriptions_render(&state, &pc, &me, &csrf, None, Some(text), status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Wallet

pub struct GiftLine {
    pub code: String,
    pub amount: String,
    pub redeemed: bool,
    pub date: String,
}

#[derive(Template)]
#[template(path = "pay_wallet.html")]
pub struct WalletPage {
    pub layout: Layout,
    pub balances: Vec<(String, String)>,
    pub gifts: Vec<GiftLine>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub code: String,
}

#[allow(clippy::too_many_arguments)]
async fn wallet_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    notice: Option<String>,
    error: Option<String>,
    code: String,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let mut db = state.store.conn().await?;
    let balances = wallet::balances(&mut db, me.user_id)
        .await?
        .into_iter()
        .map(|m| (m.currency.clone(), money(m.amount, &m.currency)))
        .collect();
    let gifts = wallet::gift_cards(&mut db, me.user_id)
        .await?
        .into_iter()
        .map(|g| GiftLine {
            code: g.code,
            amount: money(g.amount, &g.currency),
            redeemed: g.redeemed,
            date: day(g.created_at),
        })
        .collect();
    drop(db);
    // Gift card codes are on this page: never kept by a cache.
    Ok(no_store(render(
        status,
        WalletPage {
            layout: layout(pc, Some(me), csrf),
            balances,
            gifts,
            notice,
            error,
            code,
        },
    )))
}

async fn wallet_get(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let notice = q
        .get("redeemed")
        .and_then(|a| a.parse::<i64>().ok())
        .map(|a| {
            let cur = q.get("currency").map(String::as_str).unwrap_or("USD");
            format!("Redeemed: {} added to your wallet.", money(a, cur))
        });
    wallet_render(
        &state,
        &pc,
        &me,
        &csrf,
        notice,
        None,
        String::new(),
        StatusCode::OK,
    )
    .await
}

async fn wallet_redeem(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    CsrfForm(form): CsrfForm<Form>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let code = field(&form, "code");
    let mut tx = state.store.begin().await?;
    match wallet::redeem(&mut tx, me.user_id, &code, &actor.with_user(me.user_id)).await {
        Ok(m) => {
            tx.commit().await?;
            Ok(go(
                &pc,
                &format!("/me/wallet?redeemed={}&currency={}", m.amount, m.currency),
            ))
        }
        Err(e) => {
            drop(tx);
            let (status, text) = refusal(e)?;
            wallet_render(&state, &pc, &me, &csrf, None, Some(text), code, status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Creator earnings

pub struct PayoutLine {
    pub id: i64,
    pub amount: String,
    pub method: String,
    pub status: String,
    pub expected: String,
    pub note: String,
}

pub struct PromoLine {
    pub code: String,
    pub offer: String,
    pub uses: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "pay_earnings.html")]
pub struct EarningsPage {
    pub layout: Layout,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub available: String,
    pub reserve: String,
    pub in_payout: String,
    /// Your share of sales awaiting the processor's confirmation ("" when none).
    pub awaiting: String,
    /// Those sales: (charge, amount held, status, reason).
    pub unconfirmed: Vec<(i64, String, String, String)>,
    /// The statement for the last 30 days: (label, amount) lines, and the totals.
    pub period: String,
    pub lines: Vec<(String, String)>,
    pub total_earnings: String,
    pub opening: String,
    pub closing: String,
    pub sales: Vec<ChargeLine>,
    pub payouts: Vec<PayoutLine>,
    pub verified: bool,
    pub destination: String,
    pub schedule: String,
    pub minimum: String,
    /// (name, label, selected)
    pub methods: Vec<(String, String, bool)>,
    pub promos: Vec<PromoLine>,
    pub has_method: bool,
}

fn source_label(s: &str) -> String {
    match s {
        "subscription_sale" => "Subscriptions".into(),
        "subscription_renewal" => "Renewals".into(),
        "ppv_unlock" => "Post unlocks".into(),
        "tip" => "Tips".into(),
        other => other.replace('_', " "),
    }
}

async fn earnings_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let currency = "USD";
    let from = now_micros() - 30 * DAY;
    let (_, to) = fanz_ledger::parse_period(None, None)?;
    let mut db = state.store.conn().await?;
    let st = fanz_ledger::creator_statement(&mut db, me.user_id, currency, from, to).await?;
    let available = payouts::available(&mut db, me.user_id, currency).await?;
    let reserve =
        match fanz_ledger::balance(&mut db, &format!("reserve:{}:{currency}", me.user_id)).await {
            Ok(b) => b.posted,
            Err(_) => 0,
        };
    let mine = payouts::of_creator(&mut db, me.user_id).await?;
    let in_payout: i64 = mine
        .iter()
        .filter(|p| p.currency == currency && matches!(p.status.as_str(), "pending" | "sent"))
        .map(|p| p.amount)
        .sum();
    let account = payouts::account(&mut db, me.user_id).await?;
    let awaiting = fanz_payments::confirm::held(&mut db, me.user_id, currency).await?;
    let unconfirmed = fanz_payments::confirm::of_creator(&mut db, me.user_id, currency).await?;
    let sales = apply::charges_of_creator(&mut db, me.user_id, 20).await?;
    let sales = charge_lines(&mut db, sales, false).await?;
    let promos = checkout::promos(&mut db, me.user_id).await?;
    drop(db);
    let mut lines: Vec<(String, String)> = st
        .earnings
        .iter()
        .map(|s| (source_label(&s.source), money(s.amount, currency)))
        .collect();
    for (label, amount, neg) in [
        ("Refunds", st.refunds, true),
        ("Chargebacks", st.chargebacks, true),
        ("Held in reserve", st.reserve_held, true),
        ("Released from reserve", st.reserve_released, false),
        ("Fees", st.fees_charged, true),
        ("Paid out", st.payouts, true),
        ("Returned payouts", st.payouts_returned, false),
        ("Adjustments", st.adjustments, false),
    ] {
        if amount != 0 {
            let v = if neg { -amount.abs() } else { amount };
            lines.push((label.into(), money(v, currency)));
        }
    }
    let sandbox = state.payments.config.sandbox;
    let methods = payouts::methods()
        .into_iter()
        .filter(|m| m.name() != "sandbox" || sandbox)
        .map(|m| {
            (
                m.name().to_owned(),
                m.label().to_owned(),
                account.method.as_deref() == Some(m.name()),
            )
        })
        .collect();
    Ok(no_store(render(
        status,
        EarningsPage {
            layout: layout(pc, Some(me), csrf),
            notice,
            error,
            available: money(available, currency),
            reserve: money(reserve, currency),
            in_payout: money(in_payout, currency),
            awaiting: if awaiting > 0 {
                money(awaiting, currency)
            } else {
                String::new()
            },
            unconfirmed: unconfirmed
                .into_iter()
                .map(|c| {
                    (
                        c.charge_id,
                        money(c.held, &c.currency),
                        awaiting_label(&c.status).to_owned(),
                        c.reason.unwrap_or_else(|| {
                            format!("{} has not confirmed this sale yet", c.processor)
                        }),
                    )
                })
                .collect(),
            period: format!("{} – {}", day(from), day(to)),
            lines,
            total_earnings: money(st.total_earnings, currency),
            opening: money(st.opening_balance, currency),
            closing: money(st.closing_balance, currency),
            sales,
            payouts: mine
                .iter()
                .map(|p| PayoutLine {
                    id: p.id,
                    amount: money(p.amount, &p.currency),
                    method: p.method.clone(),
                    status: p.status.clone(),
                    expected: day(p.expected_at),
                    note: p
                        .hold_reason
                        .clone()
                        .or_else(|| p.failure.clone())
                        .unwrap_or_default(),
                })
                .collect(),
            verified: account.identity_verified,
            has_method: account.method.is_some(),
            destination: account.destination.clone().unwrap_or_default(),
            schedule: account.schedule.clone(),
            minimum: decimal(account.minimum),
            methods,
            promos: promos
                .iter()
                .map(|p| PromoLine {
                    code: p.code.clone(),
                    offer: match (p.percent_off, p.trial_days) {
                        (0, t) => format!("{t} days free"),
                        (o, 0) => format!("{o}% off the first period"),
                        (o, t) => format!("{t} days free, then {o}% off"),
                    },
                    uses: match p.max_uses {
                        Some(m) => format!("{} of {m}", p.uses),
                        None => format!("{}", p.uses),
                    },
                    expires: p.expires_at.map(day).unwrap_or_else(|| "Never".into()),
                })
                .collect(),
        },
    )))
}

/// What a creator reads for a confirmation's status.
fn awaiting_label(status: &str) -> &'static str {
    match status {
        "pending" => "awaiting confirmation",
        "manual" => "awaiting finance",
        "denied" => "denied by the processor",
        _ => "overdue: with finance",
    }
}

fn creator_only(pc: &PageCluster, me: &Principal, csrf: &CsrfToken) -> Option<Response> {
    (!me.has_role(Role::Creator)).then(|| {
        message(
            pc,
            Some(me),
            csrf,
            StatusCode::FORBIDDEN,
            "Creators only",
            "Earnings and payouts are for creators. Become one in Settings.",
        )
    })
}

async fn earnings_get(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if let Some(r) = creator_only(&pc, &me, &csrf) {
        return Ok(r);
    }
    let notice = q.get("done").map(|d| match d.as_str() {
        "method" => "Payout method saved.".to_string(),
        "payout" => "Payout requested.".into(),
        "promo" => "Promo code created.".into(),
        _ => "Done.".into(),
    });
    earnings_render(&state, &pc, &me, &csrf, notice, None, StatusCode::OK).await
}

async fn earnings_post(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(form): CsrfForm<Form>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if let Some(r) = creator_only(&pc, &me, &csrf) {
        return Ok(r);
    }
    let action = params.get("action").cloned().unwrap_or_default();
    let actor = actor.with_user(me.user_id);
    let opt_amount = |k: &str| -> Result<Option<i64>, String> {
        let v = field(&form, k);
        if v.is_empty() {
            Ok(None)
        } else {
            parse_amount(&v)
                .map(Some)
                .ok_or_else(|| format!("Enter the {} like 50.00.", k.replace('_', " ")))
        }
    };
    let opt_int = |k: &str| -> Result<Option<i64>, String> {
        let v = field(&form, k);
        if v.is_empty() {
            Ok(None)
        } else {
            v.parse()
                .map(Some)
                .map_err(|_| format!("{} must be a whole number.", k.replace('_', " ")))
        }
    };
    let mut tx = state.store.begin().await?;
    let result: Result<(), String> = match action.as_str() {
        "method" => match opt_amount("minimum") {
            Ok(minimum) => {
                let settings = PayoutSettings {
                    method: field(&form, "method"),
                    destination: field(&form, "destination"),
                    schedule: Some(field(&form, "schedule")).filter(|s| !s.is_empty()),
                    minimum,
                    currency: None,
                };
                match payouts::configure(&mut tx, &state.payments, me.user_id, &settings, &actor)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => Err(refusal(e)?.1),
                }
            }
            Err(m) => Err(m),
        },
        "payout" => match opt_amount("amount") {
            Ok(amount) => {
                match payouts::request(&mut tx, &state.payments, me.user_id, amount, &actor).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(refusal(e)?.1),
                }
            }
            Err(m) => Err(m),
        },
        "promo" => {
            let parsed = (|| {
                Ok::<_, String>(NewPromo {
                    code: field(&form, "code"),
                    percent_off: opt_int("percent_off")?.unwrap_or(0),
                    trial_days: opt_int("trial_days")?.unwrap_or(0),
                    max_uses: opt_int("max_uses")?,
                    expires_at: opt_int("expires_in_days")?
                        .map(|d| now_micros().saturating_add(d.saturating_mul(DAY))),
                })
            })();
            match parsed {
                Ok(p) => match checkout::create_promo(&mut tx, me.user_id, p, &actor).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(refusal(e)?.1),
                },
                Err(m) => Err(m),
            }
        }
        _ => return Ok(not_found(&pc, Some(&me), &csrf)),
    };
    match result {
        Ok(()) => {
            tx.commit().await?;
            Ok(go(&pc, &format!("/studio/earnings?done={action}")))
        }
        Err(text) => {
            drop(tx);
            earnings_render(
                &state,
                &pc,
                &me,
                &csrf,
                None,
                Some(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Finance console

pub struct NoteLine {
    pub id: i64,
    pub processor: String,
    pub received: String,
    pub status: String,
    pub error: String,
    pub attempts: i64,
    pub events: String,
    pub headers: String,
    pub body: String,
    pub source: String,
}

pub struct BatchLine {
    pub id: i64,
    pub method: String,
    pub count: i64,
    pub total: String,
    pub file: String,
}

#[derive(Template)]
#[template(path = "pay_admin.html")]
pub struct ConsolePage {
    pub layout: Layout,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub counts: Vec<(String, i64)>,
    pub filter: String,
    pub filters: Vec<(String, String, bool)>,
    pub notes: Vec<NoteLine>,
    pub dead: Vec<NoteLine>,
    pub batches: Vec<BatchLine>,
    pub ratios: RatioView,
    /// The charges listed, every fan's or the one asked for.
    pub charges: Vec<ConsoleCharge>,
    /// The fan handle the charges are filtered by ("" for all).
    pub fan: String,
    /// The charge the refund form is filled in with ("" for none).
    pub charge: String,
    /// Calls to processors' APIs that failed or are still on their way.
    pub calls: Vec<CallLine>,
    /// Charges waiting for their processor's confirmation.
    pub unconfirmed: Vec<UnconfirmedLine>,
}

/// A processor call as the console lists it.
pub struct CallLine {
    pub id: i64,
    pub processor: String,
    pub op: String,
    pub what: String,
    pub status: String,
    pub attempts: i64,
    pub answer: String,
    pub when: String,
    pub retryable: bool,
}

/// A charge waiting for its processor's confirmation.
pub struct UnconfirmedLine {
    pub charge_id: i64,
    pub processor: String,
    pub creator: String,
    pub amount: String,
    pub held: String,
    pub status: String,
    pub reason: String,
    pub when: String,
}

/// A charge as the console lists it, with a way to refund it when it can be.
pub struct ConsoleCharge {
    pub id: i64,
    pub when: String,
    pub fan: String,
    pub line: ChargeLine,
    pub refundable: bool,
}

/// What the console was asked to show: a notification status, a fan's charges, a charge to
/// refund.
#[derive(Default)]
struct ConsoleQuery {
    status: Option<String>,
    fan: Option<String>,
    charge: Option<i64>,
}

impl ConsoleQuery {
    fn from_query(q: &HashMap<String, String>) -> Self {
        ConsoleQuery {
            status: q.get("status").cloned(),
            fan: q
                .get("fan")
                .map(|f| f.trim().trim_start_matches('@').to_string())
                .filter(|f| !f.is_empty()),
            charge: q.get("charge").and_then(|c| c.trim().parse().ok()),
        }
    }
}

/// The processors' dispute and decline ratios as the console shows them.
pub struct RatioView {
    pub days: i64,
    pub warn: String,
    pub limit: String,
    pub lines: Vec<RatioLine>,
}

pub struct RatioLine {
    pub processor: String,
    pub sales: i64,
    pub declines: i64,
    pub refunds: i64,
    pub chargebacks: i64,
    pub chargeback: String,
    pub decline: String,
    pub level: String,
}

/// Basis points as a percentage with two decimals.
fn pct(bps: i64) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

impl From<crate::api::payments::RatioList> for RatioView {
    fn from(r: crate::api::payments::RatioList) -> Self {
        RatioView {
            days: r.days,
            warn: pct(r.warn_bps),
            limit: pct(r.limit_bps),
            lines: r
                .processors
                .into_iter()
                .map(|p| RatioLine {
                    chargeback: pct(p.chargeback_bps),
                    decline: pct(p.decline_bps),
                    processor: p.processor,
                    sales: p.sales,
                    declines: p.declines,
                    refunds: p.refunds,
                    chargebacks: p.chargebacks,
                    level: p.level,
                })
                .collect(),
        }
    }
}

fn note_line(n: intake::Notification) -> NoteLine {
    let headers = n
        .headers
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some(format!("{}: {}", p.get(0)?.as_str()?, p.get(1)?.as_str()?)))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let events = n
        .events
        .as_ref()
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    NoteLine {
        id: n.id,
        processor: n.processor,
        received: stamp(n.received_at),
        status: n.status,
        error: n.error.unwrap_or_default(),
        attempts: n.attempts,
        events,
        headers,
        body: if n.query.is_empty() {
            n.body
        } else {
            format!("?{}\n{}", n.query, n.body)
        },
        source: n.source_ip.unwrap_or_default(),
    }
}

fn finance_only(pc: &PageCluster, me: &Principal, csrf: &CsrfToken) -> Option<Response> {
    let ok = [Role::Finance, Role::Admin].iter().any(|r| me.has_role(*r));
    (!ok).then(|| {
        message(
            pc,
            Some(me),
            csrf,
            StatusCode::FORBIDDEN,
            "Not for you",
            "The payments console is for finance and administrators.",
        )
    })
}

#[allow(clippy::too_many_arguments)]
async fn console_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    csrf: &CsrfToken,
    ask: ConsoleQuery,
    notice: Option<String>,
    mut error: Option<String>,
    batches: Vec<BatchLine>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    const STATUSES: [&str; 5] = ["received", "applied", "retrying", "rejected", "dead"];
    let filter = ask.status.filter(|f| STATUSES.contains(&f.as_str()));
    let mut db = state.store.conn().await?;
    let fan_id = match &ask.fan {
        Some(handle) => match fanz_profiles::get_by_handle(&mut db, handle).await {
            Ok(p) => Some(Some(p.user_id)),
            Err(_) => {
                error.get_or_insert_with(|| format!("No account has the handle @{handle}."));
                None
            }
        },
        None => Some(None),
    };
    let charges = match fan_id {
        Some(fan) => apply::recent_charges(&mut db, fan, None, 30).await?,
        None => vec![],
    };
    let mut fans: HashMap<i64, String> = HashMap::new();
    let mut heads = Vec::with_capacity(charges.len());
    for c in &charges {
        if let std::collections::hash_map::Entry::Vacant(e) = fans.entry(c.fan_id) {
            e.insert(
                fanz_profiles::get_by_user(&mut db, c.fan_id)
                    .await
                    .map(|p| format!("@{}", p.handle))
                    .unwrap_or_default(),
            );
        }
        let refundable = matches!(c.kind.as_str(), "sale" | "renewal") && !c.reversed;
        heads.push((
            c.id,
            stamp(c.created_at),
            fans[&c.fan_id].clone(),
            refundable,
        ));
    }
    let listed = heads
        .into_iter()
        .zip(charge_lines(&mut db, charges, true).await?)
        .map(|((id, when, fan, refundable), line)| ConsoleCharge {
            id,
            when,
            fan,
            line,
            refundable,
        })
        .collect();
    let counts = intake::counts(&mut db).await?;
    let notes = intake::list(&mut db, filter.as_deref(), None, 50)
        .await?
        .into_iter()
        .map(note_line)
        .collect();
    let dead = intake::list(&mut db, Some("dead"), None, 50)
        .await?
        .into_iter()
        .map(note_line)
        .collect();
    let ratios = crate::api::payments::ratio_list(state, &mut db, 30).await?;
    let mut open_calls = Vec::new();
    for status in ["failed", "retrying", "queued"] {
        open_calls.extend(fanz_payments::calls::list(&mut db, Some(status), 50).await?);
    }
    open_calls.sort_by_key(|c| std::cmp::Reverse(c.id));
    let calls = open_calls
        .into_iter()
        .map(|c| CallLine {
            what: match (c.op.as_str(), c.subscription_id, c.charge_id) {
                ("cancel", Some(s), _) => format!("subscription #{s}"),
                ("refund", _, Some(ch)) => format!(
                    "charge #{ch}{}",
                    c.amount
                        .map(|a| format!(" · {}", money(a, c.currency.as_deref().unwrap_or("USD"))))
                        .unwrap_or_default()
                ),
                ("confirm", _, _) => format!("charges on {}", c.cluster),
                _ => String::new(),
            },
            retryable: c.status == "failed",
            answer: c
                .last_error
                .clone()
                .or_else(|| c.detail.clone())
                .unwrap_or_else(|| "not asked yet".into()),
            when: stamp(c.updated_at),
            id: c.id,
            processor: c.processor,
            op: c.op,
            status: c.status,
            attempts: c.attempts,
        })
        .collect();
    let mut unconfirmed = Vec::new();
    for u in fanz_payments::confirm::list(&mut db, None, 100).await? {
        let creator = match u.creator_id {
            Some(id) => fanz_profiles::get_by_user(&mut db, id)
                .await
                .map(|p| format!("@{}", p.handle))
                .unwrap_or_default(),
            None => String::new(),
        };
        unconfirmed.push(UnconfirmedLine {
            charge_id: u.charge_id,
            processor: u.processor,
            creator,
            amount: money(u.amount, &u.currency),
            held: money(u.held, &u.currency),
            status: u.status,
            reason: u.reason.unwrap_or_default(),
            when: stamp(u.charged_at),
        });
    }
    drop(db);
    let base = &pc.base;
    let mut filters = vec![(
        "All".to_string(),
        format!("{base}/admin/payments"),
        filter.is_none(),
    )];
    for s in STATUSES {
        filters.push((
            s.to_string(),
            format!("{base}/admin/payments?status={s}"),
            filter.as_deref() == Some(s),
        ));
    }
    Ok(no_store(render(
        status,
        ConsolePage {
            layout: layout(pc, Some(me), csrf),
            notice,
            error,
            counts: STATUSES
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        counts
                            .iter()
                            .find(|(c, _)| c == s)
                            .map(|(_, n)| *n)
                            .unwrap_or(0),
                    )
                })
                .collect(),
            filter: filter.unwrap_or_default(),
            filters,
            notes,
            dead,
            batches,
            ratios: ratios.into(),
            charges: listed,
            fan: ask.fan.unwrap_or_default(),
            charge: ask.charge.map(|c| c.to_string()).unwrap_or_default(),
            calls,
            unconfirmed,
        },
    )))
}

async fn console_get(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if let Some(r) = finance_only(&pc, &me, &csrf) {
        return Ok(r);
    }
    let notice = q.get("done").map(|d| match d.as_str() {
        "redrive" => format!(
            "Notification #{} applied again.",
            q.get("id").map(String::as_str).unwrap_or("")
        ),
        "refund" => format!(
            "Refund of charge #{}: {}.",
            q.get("id").map(String::as_str).unwrap_or(""),
            q.get("how").map(String::as_str).unwrap_or("done")
        ),
        "retry" => format!(
            "Processor call #{} queued again.",
            q.get("id").map(String::as_str).unwrap_or("")
        ),
        "confirm" => format!(
            "Charge #{} confirmed: its share is available for payout.",
            q.get("id").map(String::as_str).unwrap_or("")
        ),
        _ => "Done.".to_string(),
    });
    console_render(
        &state,
        &pc,
        &me,
        &csrf,
        ConsoleQuery::from_query(&q),
        notice,
        None,
        vec![],
        StatusCode::OK,
    )
    .await
}

/// Refund a charge as `POST /api/v1/payments/charges/{id}/refund` does.
async fn refund(
    state: &AppState,
    tx: &mut Db,
    id: i64,
    amount: Option<i64>,
    reason: &str,
    actor: &Actor,
) -> Result<&'static str, ApiError> {
    Ok(apply::refund_by_finance(tx, &state.payments, id, amount, reason, actor).await?)
}

async fn console_post(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(form): CsrfForm<Form>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if let Some(r) = finance_only(&pc, &me, &csrf) {
        return Ok(r);
    }
    let actor = actor.with_user(me.user_id);
    let action = params.get("action").cloned().unwrap_or_default();
    let fail = |text: String, status: StatusCode| {
        let (state, pc, me, csrf) = (&state, &pc, &me, &csrf);
        async move {
            console_render(
                state,
                pc,
                me,
                csrf,
                ConsoleQuery::default(),
                None,
                Some(text),
                vec![],
                status,
            )
            .await
        }
    };
    match action.as_str() {
        "redrive" => {
            let Some(id) = id_of(&form, "id") else {
                return fail(
                    "Which notification?".into(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            };
            match intake::redrive(&state.store, &state.payments, id, &actor).await {
                Ok(_) => Ok(go(&pc, &format!("/admin/payments?done=redrive&id={id}"))),
                Err(e) => {
                    let (status, text) = refusal(e)?;
                    fail(text, status).await
                }
            }
        }
        "refund" => {
            let Some(id) = id_of(&form, "charge_id") else {
                return fail(
                    "Give the charge's number.".into(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            };
            let reason = field(&form, "reason");
            if reason.is_empty() || reason.len() > 500 {
                return fail(
                    "Give a reason (up to 500 characters).".into(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
            let amount = match field(&form, "amount") {
                a if a.is_empty() => None,
                a => match parse_amount(&a) {
                    Some(v) => Some(v),
                    None => {
                        return fail(
                            "Enter the amount like 4.99, or leave it empty for all of it.".into(),
                            StatusCode::UNPROCESSABLE_ENTITY,
                        )
                        .await
                    }
                },
            };
            let mut tx = state.store.begin().await?;
            match refund(&state, &mut tx, id, amount, &reason, &actor).await {
                Ok(how) => {
                    tx.commit().await?;
                    Ok(go(
                        &pc,
                        &format!("/admin/payments?done=refund&id={id}&how={how}"),
                    ))
                }
                Err(e) => {
                    drop(tx);
                    let (status, text) = refusal(e)?;
                    fail(text, status).await
                }
            }
        }
        "retry" => {
            let Some(id) = id_of(&form, "id") else {
                return fail("Which call?".into(), StatusCode::UNPROCESSABLE_ENTITY).await;
            };
            let mut tx = state.store.begin().await?;
            match fanz_payments::calls::retry(&mut tx, id, &actor).await {
                Ok(_) => {
                    tx.commit().await?;
                    Ok(go(
                        &pc,
                        &format!("/admin/payments?done=retry&id={id}#calls-h"),
                    ))
                }
                Err(e) => {
                    drop(tx);
                    let (status, text) = refusal(e)?;
                    fail(text, status).await
                }
            }
        }
        "confirm" => {
            let Some(id) = id_of(&form, "charge_id") else {
                return fail("Which charge?".into(), StatusCode::UNPROCESSABLE_ENTITY).await;
            };
            let reason = field(&form, "reason");
            let mut tx = state.store.begin().await?;
            match fanz_payments::confirm::confirm_by_hand(&mut tx, id, &reason, &actor).await {
                Ok(_) => {
                    tx.commit().await?;
                    Ok(go(
                        &pc,
                        &format!("/admin/payments?done=confirm&id={id}#unconfirmed-h"),
                    ))
                }
                Err(e) => {
                    drop(tx);
                    let (status, text) = refusal(e)?;
                    fail(text, status).await
                }
            }
        }
        "batches" => {
            let mut tx = state.store.begin().await?;
            let batches = payouts::make_batches(&mut tx, &actor).await?;
            tx.commit().await?;
            let notice = Some(if batches.is_empty() {
                "No pending payouts to batch.".to_string()
            } else {
                format!(
                    "{} batch{} made; upload each file to its payout provider.",
                    batches.len(),
                    if batches.len() == 1 { "" } else { "es" }
                )
            });
            let lines = batches
                .into_iter()
                .map(|b| BatchLine {
                    id: b.id,
                    method: b.method,
                    count: b.count,
                    total: money(b.total, &b.currency),
                    file: b.file,
                })
                .collect();
            console_render(
                &state,
                &pc,
                &me,
                &csrf,
                ConsoleQuery::default(),
                notice,
                None,
                lines,
                StatusCode::OK,
            )
            .await
        }
        _ => Ok(not_found(&pc, Some(&me), &csrf)),
    }
}

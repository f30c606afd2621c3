//! Checkouts: what a fan is buying and for how much, before any money moves. A checkout at a
//! processor waits for the processor's sale notification ([`crate::apply`]); a checkout paid
//! from the wallet is settled at once, in the same transaction.

use crate::{invalid, is_flagged, Payments, PaymentsError, Result};
use fanz_audit::{record, Actor};
use fanz_content::{posts, tiers, PostState, Visibility};
use fanz_core::check_text;
use fanz_core::clock::{now_micros, DAY};
use fanz_processors::{CheckoutStart, Money, Recurring, Start};
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// What a checkout sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Subscription,
    Ppv,
    Tip,
    WalletTopup,
    GiftCard,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Subscription => "subscription",
            Kind::Ppv => "ppv",
            Kind::Tip => "tip",
            Kind::WalletTopup => "wallet_topup",
            Kind::GiftCard => "gift_card",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "subscription" => Kind::Subscription,
            "ppv" => Kind::Ppv,
            "tip" => Kind::Tip,
            "wallet_topup" => Kind::WalletTopup,
            "gift_card" => Kind::GiftCard,
            _ => return None,
        })
    }

    /// The ledger template of the first payment.
    pub fn template(self) -> &'static str {
        match self {
            Kind::Subscription => "subscription_sale",
            Kind::Ppv => "ppv_unlock",
            Kind::Tip => "tip",
            Kind::WalletTopup => "wallet_top_up",
            Kind::GiftCard => "gift_card_issue",
        }
    }
}

/// `POST /api/v1/checkout`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub kind: Kind,
    /// `sandbox`, `ccbill`, `segpay`, `epoch`, `verotel`, `btcpay`, or `wallet` (PPV, tips and
    /// subscriptions only: paid from the fan's wallet at once).
    pub processor: String,
    /// Subscription: the tier.
    #[serde(default)]
    pub tier_id: Option<i64>,
    /// Subscription: 30, 90, 180 or 365 days (bundles of a 30-day tier are discounted);
    /// default the tier's period.
    #[serde(default)]
    pub period_days: Option<i64>,
    /// Subscription: a creator's promo code (discount on the first period and/or free trial).
    #[serde(default)]
    pub promo_code: Option<String>,
    /// PPV: the post.
    #[serde(default)]
    pub post_id: Option<i64>,
    /// Tip: the creator.
    #[serde(default)]
    pub creator_id: Option<i64>,
    /// Tip, top-up, gift card: minor units.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Tip, top-up, gift card: default USD.
    #[serde(default)]
    pub currency: Option<String>,
    /// Tip: a message to the creator (up to 500 characters).
    #[serde(default)]
    pub message: Option<String>,
}

/// A checkout as the fan sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Checkout {
    pub id: i64,
    pub reference: String,
    pub kind: Kind,
    pub processor: String,
    pub cluster: String,
    #[serde(skip)]
    pub fan_id: i64,
    pub creator_id: Option<i64>,
    pub tier_id: Option<i64>,
    pub post_id: Option<i64>,
    pub period_days: Option<i64>,
    pub trial_days: i64,
    /// Charged now (0 during a free trial).
    pub amount: i64,
    /// Charged each period after the first (subscriptions).
    pub renewal_amount: Option<i64>,
    pub currency: String,
    pub message: Option<String>,
    /// `open`, `paid`, `declined`.
    pub status: String,
    pub failure: Option<String>,
    pub created_at: i64,
    #[serde(skip)]
    pub promo_id: Option<i64>,
}

const COLUMNS: &str = "id, reference, kind, processor, cluster, fan_id, creator_id, tier_id, \
    post_id, period_days, trial_days, amount, renewal_amount, currency, message, status, failure, \
    created_at, promo_id";

fn from_row(r: &fanz_store::sqlx::any::AnyRow) -> Checkout {
    Checkout {
        id: r.get(0),
        reference: r.get(1),
        kind: Kind::parse(&r.get::<String, _>(2)).unwrap_or(Kind::Tip),
        processor: r.get(3),
        cluster: r.get(4),
        fan_id: r.get(5),
        creator_id: r.get(6),
        tier_id: r.get(7),
        post_id: r.get(8),
        period_days: r.get(9),
        trial_days: r.get(10),
        amount: r.get(11),
        renewal_amount: r.get(12),
        currency: r.get(13),
        message: r.get(14),
        status: r.get(15),
        failure: r.get(16),
        created_at: r.get(17),
        promo_id: r.get(18),
    }
}

pub async fn get(db: &mut Db, id: i64) -> Result<Checkout> {
    let sql = format!("SELECT {COLUMNS} FROM checkouts WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *db).await?;
    row.map(|r| from_row(&r)).ok_or(PaymentsError::NotFound)
}

pub async fn by_reference(db: &mut Db, reference: &str) -> Result<Option<Checkout>> {
    let sql = format!("SELECT {COLUMNS} FROM checkouts WHERE reference = $1");
    let row = sqlx::query(&sql)
        .bind(reference)
        .fetch_optional(&mut *db)
        .await?;
    Ok(row.map(|r| from_row(&r)))
}

/// The checkouts with these references, by reference; in one statement (its list padded to a
/// power of two, so a handful of statement texts serve any number).
pub async fn by_references(
    db: &mut Db,
    references: &[&str],
) -> Result<std::collections::HashMap<String, Checkout>> {
    let mut out = std::collections::HashMap::new();
    if references.is_empty() {
        return Ok(out);
    }
    let references = fanz_store::bulk::padded(references);
    let sql = format!(
        "SELECT {COLUMNS} FROM checkouts WHERE reference IN ({})",
        fanz_store::bulk::params(1, references.len())
    );
    let mut q = sqlx::query(&sql);
    for r in references {
        q = q.bind(r);
    }
    for r in q.fetch_all(&mut *db).await? {
        let c = from_row(&r);
        out.insert(c.reference.clone(), c);
    }
    Ok(out)
}

/// The fan's own checkout (ownership decided here).
pub async fn get_own(db: &mut Db, fan_id: i64, id: i64) -> Result<Checkout> {
    let c = get(db, id).await?;
    if c.fan_id != fan_id {
        return Err(PaymentsError::NotFound);
    }
    Ok(c)
}

/// Priced terms of a checkout, before it is stored.
#[derive(Debug, Clone)]
struct Terms {
    creator_id: Option<i64>,
    tier_id: Option<i64>,
    post_id: Option<i64>,
    period_days: Option<i64>,
    trial_days: i64,
    amount: i64,
    renewal_amount: Option<i64>,
    currency: String,
    promo_id: Option<i64>,
    message: Option<String>,
    description: String,
}

/// The price of `period_days` of a tier: a 30-day tier sold for 90, 180 or 365 days is the
/// monthly price times the months, less the bundle discount, rounded down to the minor unit.
pub fn bundle_price(
    monthly: i64,
    tier_period: i64,
    period_days: i64,
    discounts: [i64; 3],
) -> Option<i64> {
    if period_days == tier_period {
        return Some(monthly);
    }
    if tier_period != 30 {
        return None;
    }
    let (months, discount) = match period_days {
        90 => (3, discounts[0]),
        180 => (6, discounts[1]),
        365 => (12, discounts[2]),
        _ => return None,
    };
    Some(monthly * months * (100 - discount) / 100)
}

fn check_currency(c: &str) -> Result<()> {
    if fanz_processors::CURRENCIES.contains(&c) {
        Ok(())
    } else {
        Err(invalid(
            "currency",
            "unsupported_currency",
            format!(
                "currency must be one of {}",
                fanz_processors::CURRENCIES.join(", ")
            ),
        ))
    }
}

async fn price(
    db: &mut Db,
    env: &Payments,
    fan_id: i64,
    req: &CheckoutRequest,
    now: i64,
) -> Result<Terms> {
    let cfg = &env.config;
    let amount_in = |min: i64, max: i64, what: &str| -> Result<(i64, String)> {
        let amount = req
            .amount
            .ok_or_else(|| invalid("amount", "required", format!("a {what} needs an amount")))?;
        let currency = req.currency.clone().unwrap_or_else(|| "USD".into());
        check_currency(&currency)?;
        if amount < min || amount > max {
            return Err(invalid(
                "amount",
                "amount_out_of_range",
                format!(
                    "a {what} is {} to {} {currency}",
                    Money::new(min, &currency).decimal(),
                    Money::new(max, &currency).decimal()
                ),
            ));
        }
        Ok((amount, currency))
    };
    let empty = Terms {
        creator_id: None,
        tier_id: None,
        post_id: None,
        period_days: None,
        trial_days: 0,
        amount: 0,
        renewal_amount: None,
        currency: "USD".into(),
        promo_id: None,
        message: None,
        description: String::new(),
    };
    match req.kind {
        Kind::Subscription => {
            let tier_id = req
                .tier_id
                .ok_or_else(|| invalid("tier_id", "required", "a subscription needs a tier"))?;
            let tier = match tiers::get(db, tier_id).await {
                Ok(t) if !t.archived => t,
                _ => return Err(PaymentsError::NotFound),
            };
            if fanz_content::interactions::is_blocked(db, tier.creator_id, fan_id).await? {
                return Err(PaymentsError::NotFound);
            }
            if tier.creator_id == fan_id {
                return Err(invalid(
                    "tier_id",
                    "self_subscription",
                    "you cannot subscribe to yourself",
                ));
            }
            if tier.is_free() {
                return Err(invalid(
                    "tier_id",
                    "free_tier",
                    "this tier is free: join it instead",
                ));
            }
            if crate::subscriptions::current(db, fan_id, tier.creator_id)
                .await?
                .is_some()
            {
                return Err(PaymentsError::Conflict("already_subscribed"));
            }
            let period = req.period_days.unwrap_or(tier.period_days);
            let full = bundle_price(
                tier.price.amount,
                tier.period_days,
                period,
                cfg.bundle_discounts,
            )
            .ok_or_else(|| {
                invalid(
                    "period_days",
                    "invalid_period",
                    "this tier is sold for its own period, or 90, 180 and 365 days when monthly",
                )
            })?;
            let mut amount = full;
            let mut trial_days = 0;
            let mut promo_id = None;
            if let Some(code) = req
                .promo_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                let p = promo_for(db, tier.creator_id, code, now).await?;
                amount = full * (100 - p.percent_off) / 100;
                trial_days = p.trial_days;
                if trial_days > 0 {
                    amount = 0;
                }
                promo_id = Some(p.id);
            }
            Ok(Terms {
                creator_id: Some(tier.creator_id),
                tier_id: Some(tier.id),
                period_days: Some(period),
                trial_days,
                amount,
                renewal_amount: Some(full),
                currency: tier.price.currency.clone(),
                promo_id,
                description: format!("{} — {period} days", tier.name),
                ..empty
            })
        }
        Kind::Ppv => {
            let post_id = req
                .post_id
                .ok_or_else(|| invalid("post_id", "required", "an unlock needs a post"))?;
            let post = posts::get(db, post_id)
                .await
                .map_err(|_| PaymentsError::NotFound)?;
            if post.state != PostState::Published
                || post.deleted_at.is_some()
                || fanz_content::interactions::is_blocked(db, post.author_id, fan_id).await?
            {
                return Err(PaymentsError::NotFound);
            }
            let price = match (&post.visibility, &post.price) {
                (Visibility::Ppv, Some(p)) => p.clone(),
                _ => {
                    return Err(invalid(
                        "post_id",
                        "not_pay_per_view",
                        "only pay-per-view posts are unlocked",
                    ))
                }
            };
            if post.author_id == fan_id {
                return Err(invalid("post_id", "own_post", "this is your own post"));
            }
            let unlocked = sqlx::query(
                "SELECT 1 FROM grants WHERE viewer_id = $1 AND kind = 'unlock' AND subject_id = $2 AND revoked_at IS NULL",
            )
            .bind(fan_id)
            .bind(post_id)
            .fetch_optional(&mut *db)
            .await?;
            if unlocked.is_some() {
                return Err(PaymentsError::Conflict("already_unlocked"));
            }
            Ok(Terms {
                creator_id: Some(post.author_id),
                post_id: Some(post.id),
                amount: price.amount,
                currency: price.currency,
                description: format!("Unlock post #{}", post.id),
                ..empty
            })
        }
        Kind::Tip => {
            let creator = req
                .creator_id
                .ok_or_else(|| invalid("creator_id", "required", "a tip needs a creator"))?;
            let roles = fanz_identity::roles_of(db, creator)
                .await
                .map_err(|_| PaymentsError::NotFound)?;
            if !roles.contains(&fanz_core::Role::Creator)
                || fanz_content::interactions::is_blocked(db, creator, fan_id).await?
            {
                return Err(PaymentsError::NotFound);
            }
            if creator == fan_id {
                return Err(invalid(
                    "creator_id",
                    "own_account",
                    "you cannot tip yourself",
                ));
            }
            let (amount, currency) = amount_in(cfg.tip_min, cfg.tip_max, "tip")?;
            let message = req
                .message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
            if let Some(m) = &message {
                check_text("message", m, 500)?;
            }
            Ok(Terms {
                creator_id: Some(creator),
                amount,
                currency,
                message,
                description: "Tip".into(),
                ..empty
            })
        }
        Kind::WalletTopup | Kind::GiftCard => {
            let what = if req.kind == Kind::GiftCard {
                "gift card"
            } else {
                "wallet top-up"
            };
            let (amount, currency) = amount_in(cfg.topup_min, cfg.topup_max, what)?;
            Ok(Terms {
                amount,
                currency,
                description: if req.kind == Kind::GiftCard {
                    "Gift card".into()
                } else {
                    "Wallet top-up".into()
                },
                ..empty
            })
        }
    }
}

/// A creator's promo code.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Promo {
    pub id: i64,
    pub code: String,
    pub percent_off: i64,
    pub trial_days: i64,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub expires_at: Option<i64>,
}

async fn promo_for(db: &mut Db, creator_id: i64, code: &str, now: i64) -> Result<Promo> {
    let row = sqlx::query(
        "SELECT id, code, percent_off, trial_days, max_uses, uses, expires_at FROM promo_codes \
         WHERE creator_id = $1 AND code = $2",
    )
    .bind(creator_id)
    .bind(code.to_uppercase())
    .fetch_optional(&mut *db)
    .await?;
    let p = row
        .map(|r| promo_row(&r))
        .ok_or_else(|| invalid("promo_code", "unknown_promo", "no such promo code"))?;
    if p.expires_at.is_some_and(|e| e <= now) {
        return Err(invalid(
            "promo_code",
            "promo_expired",
            "this promo code has expired",
        ));
    }
    if p.max_uses.is_some_and(|m| p.uses >= m) {
        return Err(invalid(
            "promo_code",
            "promo_used_up",
            "this promo code has been used up",
        ));
    }
    Ok(p)
}

fn promo_row(r: &fanz_store::sqlx::any::AnyRow) -> Promo {
    Promo {
        id: r.get(0),
        code: r.get(1),
        percent_off: r.get(2),
        trial_days: r.get(3),
        max_uses: r.get(4),
        uses: r.get(5),
        expires_at: r.get(6),
    }
}

/// `POST /api/v1/creators/me/promos`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromo {
    /// 3–24 letters and digits; stored upper-case.
    pub code: String,
    /// 0–90.
    #[serde(default)]
    pub percent_off: i64,
    /// 0, 3, 7, 14 or 30 days free.
    #[serde(default)]
    pub trial_days: i64,
    #[serde(default)]
    pub max_uses: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

pub async fn create_promo(
    db: &mut Db,
    creator_id: i64,
    p: NewPromo,
    actor: &Actor,
) -> Result<Promo> {
    let code = p.code.trim().to_uppercase();
    if !(3..=24).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(
            "code",
            "invalid_code",
            "a promo code is 3–24 letters and digits",
        ));
    }
    if !(0..=90).contains(&p.percent_off) {
        return Err(invalid(
            "percent_off",
            "out_of_range",
            "percent_off is 0–90",
        ));
    }
    if ![0, 3, 7, 14, 30].contains(&p.trial_days) {
        return Err(invalid(
            "trial_days",
            "invalid_trial",
            "trial_days is 0, 3, 7, 14 or 30",
        ));
    }
    if p.percent_off == 0 && p.trial_days == 0 {
        return Err(invalid(
            "percent_off",
            "no_benefit",
            "a promo gives a discount, a trial or both",
        ));
    }
    if p.max_uses.is_some_and(|m| !(1..=1_000_000).contains(&m)) {
        return Err(invalid("max_uses", "out_of_range", "max_uses is 1–1000000"));
    }
    let now = now_micros();
    if p.expires_at.is_some_and(|e| e <= now) {
        return Err(invalid(
            "expires_at",
            "in_the_past",
            "expires_at must be in the future",
        ));
    }
    let res = sqlx::query(
        "INSERT INTO promo_codes (creator_id, code, percent_off, trial_days, max_uses, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(creator_id)
    .bind(&code)
    .bind(p.percent_off)
    .bind(p.trial_days)
    .bind(p.max_uses)
    .bind(p.expires_at)
    .bind(now)
    .fetch_one(&mut *db)
    .await;
    let id: i64 = match res {
        Ok(r) => r.get(0),
        Err(e) if fanz_store::is_unique_violation(&e) => {
            return Err(PaymentsError::Conflict("promo_exists"))
        }
        Err(e) => return Err(e.into()),
    };
    record(
        db,
        actor,
        "payments.promo_created",
        Some(&format!("promo:{id}")),
        json!({"code": code, "percent_off": p.percent_off, "trial_days": p.trial_days}),
    )
    .await?;
    Ok(Promo {
        id,
        code,
        percent_off: p.percent_off,
        trial_days: p.trial_days,
        max_uses: p.max_uses,
        uses: 0,
        expires_at: p.expires_at,
    })
}

pub async fn promos(db: &mut Db, creator_id: i64) -> Result<Vec<Promo>> {
    let rows = sqlx::query(
        "SELECT id, code, percent_off, trial_days, max_uses, uses, expires_at FROM promo_codes \
         WHERE creator_id = $1 ORDER BY id DESC",
    )
    .bind(creator_id)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.iter().map(promo_row).collect())
}

fn new_reference() -> String {
    let bytes: [u8; 12] = rand::random();
    format!(
        "co_{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
            .replace(['-', '_'], "x")
    )
}

/// A checkout and where the fan goes next.
#[derive(Debug, Clone)]
pub struct Started {
    pub checkout: Checkout,
    pub start: Option<Start>,
    pub description: String,
    pub descriptor: String,
}

/// Open a checkout for `fan_id` on `cluster`. Paid from the wallet, it is settled here and
/// `start` is `None`; otherwise `start` says where the fan pays.
pub async fn create(
    db: &mut Db,
    env: &Payments,
    fan_id: i64,
    cluster: &str,
    req: &CheckoutRequest,
    actor: &Actor,
) -> Result<Started> {
    let now = now_micros();
    if is_flagged(db, fan_id).await? {
        return Err(PaymentsError::Flagged);
    }
    let processor = req.processor.trim().to_owned();
    let wallet = processor == "wallet";
    let offered = if wallet {
        if matches!(req.kind, Kind::WalletTopup | Kind::GiftCard) {
            return Err(invalid(
                "processor",
                "wallet_not_allowed",
                "top-ups and gift cards are paid through a processor",
            ));
        }
        None
    } else {
        let unavailable =
            || PaymentsError::ProcessorUnavailable(format!("{processor} is not offered here"));
        let s = env
            .settings(cluster, &processor)
            .filter(|s| s.enabled)
            .ok_or_else(unavailable)?;
        let driver = env.driver(&processor).ok_or_else(unavailable)?;
        if !driver.configured(&s) {
            return Err(unavailable());
        }
        Some((s, driver))
    };
    let terms = price(db, env, fan_id, req, now).await?;
    let reference = new_reference();
    let row = sqlx::query(
        "INSERT INTO checkouts (reference, fan_id, cluster, kind, processor, creator_id, tier_id, post_id, \
         period_days, trial_days, amount, renewal_amount, currency, promo_id, message, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'open', $16, $16) RETURNING id",
    )
    .bind(&reference)
    .bind(fan_id)
    .bind(cluster)
    .bind(req.kind.as_str())
    .bind(&processor)
    .bind(terms.creator_id)
    .bind(terms.tier_id)
    .bind(terms.post_id)
    .bind(terms.period_days)
    .bind(terms.trial_days)
    .bind(terms.amount)
    .bind(terms.renewal_amount)
    .bind(&terms.currency)
    .bind(terms.promo_id)
    .bind(&terms.message)
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    let id: i64 = row.get(0);
    record(
        db,
        actor,
        "payments.checkout_opened",
        Some(&format!("checkout:{id}")),
        json!({"kind": req.kind.as_str(), "processor": processor, "amount": terms.amount, "currency": terms.currency}),
    )
    .await?;
    let checkout = get(db, id).await?;
    if wallet {
        let balance = crate::wallet::balance(db, fan_id, &checkout.currency).await?;
        let due = checkout
            .amount
            .max(if checkout.trial_days > 0 { 0 } else { 1 });
        if balance < due {
            return Err(PaymentsError::InsufficientFunds {
                available: balance,
                needed: checkout.amount,
                currency: checkout.currency.clone(),
            });
        }
        crate::apply::settle_checkout(
            db,
            env,
            &checkout,
            &crate::apply::Settlement {
                processor: "wallet".into(),
                external_id: format!("wallet:{}", checkout.reference),
                subscription: Some(format!("wallet:{}", checkout.reference)),
                amount: checkout.amount,
                fee: 0,
                next_renewal_at: None,
            },
            actor,
        )
        .await?;
        let checkout = get(db, id).await?;
        return Ok(Started {
            checkout,
            start: None,
            description: terms.description,
            descriptor: String::new(),
        });
    }
    let (settings, driver) = offered.expect("a processor's settings and driver");
    let recurring = (req.kind == Kind::Subscription).then(|| Recurring {
        price: Money::new(
            terms.renewal_amount.unwrap_or(terms.amount),
            &terms.currency,
        ),
        period_days: terms.period_days.unwrap_or(30),
        trial_days: terms.trial_days,
    });
    let start = driver
        .start_checkout(
            &settings,
            &CheckoutStart {
                reference: reference.clone(),
                price: Money::new(terms.amount, &terms.currency),
                recurring,
                description: terms.description.clone(),
                return_url: format!("/payments/checkout/{id}"),
                cancel_url: format!("/payments/checkout/{id}"),
                email: None,
            },
        )
        .map_err(|e| PaymentsError::ProcessorUnavailable(e.to_string()))?;
    Ok(Started {
        checkout,
        start: Some(start),
        description: terms.description,
        descriptor: settings.descriptor.unwrap_or_default(),
    })
}

/// Finish a [`Start`]: a redirect as is; a server-side call (BTCPay's invoice, Segpay's
/// dynamic-pricing hash) made under the outbound limit, the client's deadline and a 256 KiB
/// answer limit, its answer read for the hosted page's address.
pub async fn redirect_url(env: &Payments, processor: &str, start: Start) -> Result<String> {
    let driver = fanz_processors::by_name(processor).ok_or(PaymentsError::NotFound)?;
    match start {
        Start::Redirect(url) => Ok(url),
        Start::Call(call) => {
            let (status, body) = checkout_call(env, call).await?;
            if !(200..300).contains(&status) {
                return Err(PaymentsError::Processor(format!("status {status}")));
            }
            driver
                .checkout_url_from(&body)
                .map_err(|e| PaymentsError::Processor(e.to_string()))
        }
        Start::CallThenRedirect { call, url, param } => {
            let (status, body) = checkout_call(env, call).await?;
            let value = driver
                .checkout_value_from(status, &body)
                .map_err(|e| PaymentsError::Processor(e.to_string()))?;
            Ok(fanz_processors::url_with(&url, &[(param.as_str(), value)]))
        }
    }
}

/// A checkout's server-side call under the outbound limit (full: an error at once, the fan
/// is waiting), the client's deadline and a 256 KiB answer limit: its status and answer.
async fn checkout_call(
    env: &Payments,
    call: fanz_processors::OutboundCall,
) -> Result<(u16, String)> {
    crate::calls::send_now(env, call)
        .await
        .map_err(|e| PaymentsError::Processor(e.to_string()))
}

/// Mark an open checkout declined (sale refused at the processor).
pub async fn decline(db: &mut Db, reference: &str, reason: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE checkouts SET status = 'declined', failure = $1, updated_at = $2 WHERE reference = $3 AND status = 'open'")
        .bind(reason.unwrap_or("declined"))
        .bind(now_micros())
        .bind(reference)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// The end of a paid period starting now.
pub fn period_end(start: i64, days: i64) -> i64 {
    start.saturating_add(days.saturating_mul(DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_discounted_months() {
        let d = [10, 15, 20];
        assert_eq!(bundle_price(999, 30, 30, d), Some(999));
        assert_eq!(bundle_price(999, 30, 90, d), Some(2697));
        assert_eq!(bundle_price(999, 30, 180, d), Some(5094));
        assert_eq!(bundle_price(999, 30, 365, d), Some(9590));
        assert_eq!(bundle_price(999, 90, 30, d), None);
        assert_eq!(bundle_price(999, 30, 45, d), None);
    }
}

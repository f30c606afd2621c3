//! Named, versioned posting templates: each business event becomes one balanced entry with
//! the accounts of the platform's chart (see docs/ledger.md). Templates open the accounts
//! they need. Splits use the largest-remainder method, so no minor unit is ever lost.

use crate::accounts::{ensure_accounts, AccountKind, NewAccount};
use crate::batch::post_batch_as;
use crate::journal::{BatchMode, Direction, EntryInput, EntryOutcome, PostingInput};
use crate::{LedgerError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::DAY;
use fanz_store::bulk::{padded, params, Rows};
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashMap;

/// The default creator share: 80 % in basis points.
pub const DEFAULT_CREATOR_SHARE_BPS: i64 = 8000;

/// Templates that record a sale to a fan (the creator earns their share).
pub const SALE_TEMPLATES: &[&str] = &[
    "subscription_sale",
    "subscription_renewal",
    "tip",
    "ppv_unlock",
    "paid_message",
];

/// Every template with its current version.
pub const TEMPLATES: &[&str] = &[
    "subscription_sale@1",
    "subscription_renewal@1",
    "tip@1",
    "ppv_unlock@1",
    "paid_message@1",
    "refund@1",
    "chargeback@1",
    "payout_request@1",
    "payout_settle@1",
    "payout_fail@1",
    "processor_fee@1",
    "reserve_hold@1",
    "reserve_release@1",
    "platform_fee@1",
    "wallet_top_up@1",
    "gift_card_issue@1",
    "gift_card_redeem@1",
    "fx_conversion@1",
];

/// Split `total` in proportion to `weights` (non-negative, not all zero) with the
/// largest-remainder method; ties go to the earlier weight. The parts always sum to `total`.
pub fn split(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&w| w.max(0) as i128).sum();
    if sum == 0 || weights.is_empty() {
        let mut out = vec![0; weights.len()];
        if let Some(first) = out.first_mut() {
            *first = total;
        }
        return out;
    }
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = total as i128 * w.max(0) as i128;
        parts.push((exact / sum) as i64);
        remainders.push((exact % sum, i));
    }
    let mut left = total - parts.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// What a template needs; each template uses the fields it names in docs/ledger.md.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub idempotency_key: String,
    pub currency: String,
    /// Gross amount in minor units.
    pub amount: i64,
    #[serde(default)]
    pub creator_id: Option<i64>,
    #[serde(default)]
    pub fan_id: Option<i64>,
    /// `ccbill`, `segpay`, `epoch`, `verotel`, `btcpay`, or `wallet` to pay from the fan wallet.
    #[serde(default)]
    pub processor: Option<String>,
    #[serde(default)]
    pub processor_fee: Option<i64>,
    #[serde(default)]
    pub tax: Option<i64>,
    /// Cluster slug, for its revenue share.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Chargeback fee.
    #[serde(default)]
    pub fee: Option<i64>,
    /// Rolling reserve held from the creator's share, in basis points.
    #[serde(default)]
    pub reserve_bps: Option<i64>,
    /// Release the reserve automatically after this many days ([`release_due_reserves`]);
    /// without it the reserve stays until a `reserve_release`.
    #[serde(default)]
    pub reserve_days: Option<i64>,
    /// FX: the currency bought and the amount received in it.
    #[serde(default)]
    pub to_currency: Option<String>,
    #[serde(default)]
    pub to_amount: Option<i64>,
    /// Refund and chargeback: the part of the creator's share their payable balance cannot
    /// cover (already paid out); the platform absorbs it as a loss instead.
    #[serde(default)]
    pub uncovered: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub causation: Option<String>,
}

/// The creator's share in basis points: the creator's own, else the cluster's, else 80 %.
pub async fn creator_share_bps(db: &mut Db, creator_id: i64, cluster: Option<&str>) -> Result<i64> {
    // Both lookups in one statement; the creator's own share first.
    let row = sqlx::query(
        "SELECT 0, share_bps FROM ledger_revenue_shares WHERE scope = 'creator' AND scope_key = $1 \
         UNION ALL \
         SELECT 1, share_bps FROM ledger_revenue_shares WHERE scope = 'cluster' AND scope_key = $2 \
         ORDER BY 1 LIMIT 1",
    )
    .bind(creator_id.to_string())
    .bind(cluster)
    .fetch_optional(&mut *db)
    .await?;
    Ok(row.map_or(DEFAULT_CREATOR_SHARE_BPS, |r| r.get(1)))
}

/// Set a revenue share for `scope` (`creator` or `cluster`) and key.
pub async fn set_creator_share(
    db: &mut Db,
    scope: &str,
    key: &str,
    bps: i64,
    actor: &Actor,
) -> Result<()> {
    if !matches!(scope, "creator" | "cluster") || !(0..=10_000).contains(&bps) {
        return Err(LedgerError::Invalid(
            "scope must be creator or cluster and share_bps 0–10000".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO ledger_revenue_shares (scope, scope_key, share_bps) VALUES ($1, $2, $3) \
         ON CONFLICT (scope, scope_key) DO UPDATE SET share_bps = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(bps)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "ledger.revenue_share_set",
        Some(&format!("{scope}:{key}")),
        json!({"share_bps": bps}),
    )
    .await?;
    Ok(())
}

/// Lines of an entry being built, with the accounts they need.
struct Builder<'a> {
    currency: &'a str,
    lines: Vec<PostingInput>,
    accounts: Vec<(String, AccountKind, String, &'static [&'static str])>,
}

const NO_OVERDRAFT: &[&str] = &["debits_must_not_exceed_credits"];

impl<'a> Builder<'a> {
    fn new(currency: &'a str) -> Self {
        Self {
            currency,
            lines: vec![],
            accounts: vec![],
        }
    }

    fn line(&mut self, a: Acct, direction: Direction, amount: i64, currency: &str) {
        if amount == 0 {
            return;
        }
        if !self.accounts.iter().any(|x| x.0 == a.code) {
            self.accounts
                .push((a.code.clone(), a.kind, a.owner, a.flags));
        }
        self.lines.push(PostingInput {
            account: a.code,
            direction,
            amount,
            currency: currency.to_owned(),
        });
    }

    fn debit(&mut self, a: Acct, amount: i64) {
        let c = self.currency.to_owned();
        self.line(a, Direction::Debit, amount, &c);
    }

    fn credit(&mut self, a: Acct, amount: i64) {
        let c = self.currency.to_owned();
        self.line(a, Direction::Credit, amount, &c);
    }
}

/// An account of the chart.
struct Acct {
    code: String,
    kind: AccountKind,
    owner: String,
    flags: &'static [&'static str],
}

fn acct(code: String, kind: AccountKind, owner: String, flags: &'static [&'static str]) -> Acct {
    Acct {
        code,
        kind,
        owner,
        flags,
    }
}

fn need<T>(v: Option<T>, name: &str, template: &str) -> Result<T> {
    v.ok_or_else(|| LedgerError::Invalid(format!("{template} needs {name}")))
}

fn nonneg(v: Option<i64>, name: &str) -> Result<i64> {
    let v = v.unwrap_or(0);
    if v < 0 {
        return Err(LedgerError::InvalidAmount(format!("{name} {v}")));
    }
    Ok(v)
}

/// The platform's chart of accounts, per currency.
mod chart {
    use super::*;
    pub fn cash(p: &str, cur: &str) -> Acct {
        acct(
            format!("cash:{p}:{cur}"),
            AccountKind::Asset,
            format!("processor:{p}"),
            &[],
        )
    }
    pub fn processor_fees(cur: &str) -> Acct {
        acct(
            format!("processor_fees:{cur}"),
            AccountKind::Expense,
            "platform".into(),
            &[],
        )
    }
    pub fn platform_revenue(cur: &str) -> Acct {
        acct(
            format!("platform_revenue:{cur}"),
            AccountKind::Revenue,
            "platform".into(),
            &[],
        )
    }
    pub fn creator_payable(c: i64, cur: &str) -> Acct {
        acct(
            format!("creator_payable:{c}:{cur}"),
            AccountKind::Liability,
            format!("creator:{c}"),
            NO_OVERDRAFT,
        )
    }
    pub fn reserve(c: i64, cur: &str) -> Acct {
        acct(
            format!("reserve:{c}:{cur}"),
            AccountKind::Liability,
            format!("creator:{c}"),
            NO_OVERDRAFT,
        )
    }
    pub fn fan_wallet(f: i64, cur: &str) -> Acct {
        acct(
            format!("fan_wallet:{f}:{cur}"),
            AccountKind::Liability,
            format!("user:{f}"),
            NO_OVERDRAFT,
        )
    }
    pub fn chargeback_losses(cur: &str) -> Acct {
        acct(
            format!("chargeback_losses:{cur}"),
            AccountKind::Expense,
            "platform".into(),
            &[],
        )
    }
    pub fn tax_payable(cur: &str) -> Acct {
        acct(
            format!("tax_payable:{cur}"),
            AccountKind::Liability,
            "tax_authority".into(),
            &[],
        )
    }
    pub fn gift_cards(cur: &str) -> Acct {
        acct(
            format!("gift_card_liability:{cur}"),
            AccountKind::Liability,
            "platform".into(),
            NO_OVERDRAFT,
        )
    }
    pub fn payout_clearing(cur: &str) -> Acct {
        acct(
            format!("payout_clearing:{cur}"),
            AccountKind::Liability,
            "platform".into(),
            NO_OVERDRAFT,
        )
    }
    pub fn fx_position(cur: &str) -> Acct {
        acct(
            format!("fx_position:{cur}"),
            AccountKind::Equity,
            "platform".into(),
            &[],
        )
    }
}

/// Build and post the entry for a template. The request must name a template of
/// [`TEMPLATES`] (with or without `@1`).
pub async fn apply(
    db: &mut Db,
    template: &str,
    req: &TemplateRequest,
    actor: &Actor,
) -> Result<EntryOutcome> {
    let mut out = apply_many(db, &[(template, req)], actor).await?;
    out.pop()
        .ok_or_else(|| LedgerError::Invalid("the entry was not posted".into()))
}

/// [`apply`] for many requests at once, all or nothing, in a few statements whatever their
/// number: the revenue shares read together, the entries posted as one linked batch (one
/// audit event), the rolling reserves written together. The outcomes are in `reqs`' order.
pub async fn apply_many(
    db: &mut Db,
    reqs: &[(&str, &TemplateRequest)],
    actor: &Actor,
) -> Result<Vec<EntryOutcome>> {
    let wanted: Vec<(i64, Option<&str>)> = reqs
        .iter()
        .filter(|(t, _)| uses_share(t))
        .filter_map(|(_, r)| Some((r.creator_id?, r.cluster.as_deref())))
        .collect();
    let shares = creator_shares(db, &wanted).await?;
    let built: Vec<Built> = reqs
        .iter()
        .map(|(t, r)| build(t, r, &shares))
        .collect::<Result<_>>()?;
    let inputs: Vec<EntryInput> = built.iter().map(|b| b.input.clone()).collect();
    // The accounts nearly always exist: post, and only when one does not (nothing was written
    // yet), open the missing ones in code order, the order entries lock them in, and post again.
    let results = match post_batch_as(db, &inputs, BatchMode::Linked, actor).await {
        Err(LedgerError::UnknownAccount(_)) => {
            let mut wanted: Vec<NewAccount> = built
                .iter()
                .flat_map(|b| {
                    b.accounts
                        .iter()
                        .map(|(code, kind, owner, flags)| NewAccount {
                            currency: code.rsplit(':').next().unwrap_or(&b.currency).to_owned(),
                            code: code.clone(),
                            kind: *kind,
                            name: String::new(),
                            owner: owner.clone(),
                            flags: flags.iter().map(|s| s.to_string()).collect(),
                        })
                })
                .collect();
            wanted.sort_by(|x, y| x.code.cmp(&y.code));
            wanted.dedup_by(|x, y| x.code == y.code);
            ensure_accounts(db, &wanted, actor).await?;
            post_batch_as(db, &inputs, BatchMode::Linked, actor).await?
        }
        posted => posted?,
    };
    let mut out = Vec::with_capacity(results.len());
    let mut reserves = Rows::new(
        "ledger_reserves",
        &["entry_id", "creator_id", "currency", "amount", "release_at"],
    );
    for (r, b) in results.into_iter().zip(&built) {
        let o = r
            .entry
            .ok_or_else(|| LedgerError::Invalid("the entry was not posted".into()))?;
        if let (Some((creator, held, days)), false) = (b.reserve, o.replayed) {
            reserves.push([
                o.entry.id.into(),
                creator.into(),
                b.currency.as_str().into(),
                held.into(),
                o.entry
                    .effective_at
                    .saturating_add(days.saturating_mul(DAY))
                    .into(),
            ]);
        }
        out.push(o);
    }
    reserves.flush(db).await?;
    Ok(out)
}

/// A template's entry, ready to post.
struct Built {
    input: EntryInput,
    currency: String,
    /// The accounts it posts to, to open them when missing.
    accounts: Vec<(String, AccountKind, String, &'static [&'static str])>,
    /// A rolling reserve to release automatically: creator, amount, days.
    reserve: Option<(i64, i64, i64)>,
}

/// Whether `template` splits by the creator's revenue share.
fn uses_share(template: &str) -> bool {
    let name = template.split('@').next().unwrap_or("");
    SALE_TEMPLATES.contains(&name) || name == "refund" || name == "chargeback"
}

/// The revenue shares of creators (each in a cluster): the creator's own, else the cluster's,
/// else [`DEFAULT_CREATOR_SHARE_BPS`]; read in one statement.
async fn creator_shares(
    db: &mut Db,
    wanted: &[(i64, Option<&str>)],
) -> Result<HashMap<(i64, Option<String>), i64>> {
    let mut out = HashMap::new();
    match wanted {
        [] => {}
        [(creator, cluster)] => {
            out.insert(
                (*creator, cluster.map(str::to_owned)),
                creator_share_bps(db, *creator, *cluster).await?,
            );
        }
        _ => {
            let mut creators: Vec<String> = wanted.iter().map(|(c, _)| c.to_string()).collect();
            let mut clusters: Vec<&str> = wanted.iter().filter_map(|(_, c)| *c).collect();
            creators.sort();
            creators.dedup();
            clusters.sort_unstable();
            clusters.dedup();
            if clusters.is_empty() {
                // No cluster named: a key no cluster has keeps the statement's shape.
                clusters.push("");
            }
            let (creators, clusters) = (padded(&creators), padded(&clusters));
            let sql = format!(
                "SELECT scope, scope_key, share_bps FROM ledger_revenue_shares \
                 WHERE (scope = 'creator' AND scope_key IN ({})) OR (scope = 'cluster' AND scope_key IN ({}))",
                params(1, creators.len()),
                params(1 + creators.len(), clusters.len())
            );
            let mut q = sqlx::query(&sql);
            for c in creators {
                q = q.bind(c);
            }
            for c in clusters {
                q = q.bind(c);
            }
            let mut by_creator = HashMap::new();
            let mut by_cluster = HashMap::new();
            for r in q.fetch_all(&mut *db).await? {
                let (scope, key, bps): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
                if scope == "creator" {
                    by_creator.insert(key, bps);
                } else {
                    by_cluster.insert(key, bps);
                }
            }
            for (creator, cluster) in wanted {
                let bps = by_creator
                    .get(&creator.to_string())
                    .or_else(|| cluster.and_then(|c| by_cluster.get(c)))
                    .copied()
                    .unwrap_or(DEFAULT_CREATOR_SHARE_BPS);
                out.insert((*creator, cluster.map(str::to_owned)), bps);
            }
        }
    }
    Ok(out)
}

/// The entry `template` makes of `req`, with the revenue shares read ahead by
/// [`creator_shares`].
fn build(
    template: &str,
    req: &TemplateRequest,
    shares: &HashMap<(i64, Option<String>), i64>,
) -> Result<Built> {
    let name = template.split('@').next().unwrap_or("");
    let versioned = format!("{name}@1");
    if !TEMPLATES.contains(&versioned.as_str()) || (template.contains('@') && template != versioned)
    {
        return Err(LedgerError::UnknownTemplate(template.to_owned()));
    }
    if req.amount <= 0 {
        return Err(LedgerError::InvalidAmount(req.amount.to_string()));
    }
    if crate::asset_exponent(&req.currency).is_none() {
        return Err(LedgerError::Invalid(format!(
            "unknown currency or asset {:?}",
            req.currency
        )));
    }
    let share_of = |creator: i64| {
        shares
            .get(&(creator, req.cluster.clone()))
            .copied()
            .ok_or_else(|| {
                LedgerError::Invalid(format!("no revenue share read for creator {creator}"))
            })
    };
    let cur = req.currency.as_str();
    let mut b = Builder::new(cur);
    let amount = req.amount;
    let mut meta = req.metadata.clone().unwrap_or_else(|| json!({}));
    let mut reserve_hold: Option<(i64, i64)> = None;
    let reserve_days = match req.reserve_days {
        Some(d) if !(1..=3650).contains(&d) => {
            return Err(LedgerError::Invalid("reserve_days must be 1–3650".into()))
        }
        d => d,
    };
    match name {
        "subscription_sale" | "subscription_renewal" | "tip" | "ppv_unlock" | "paid_message" => {
            let creator = need(req.creator_id, "creator_id", name)?;
            let processor = need(req.processor.as_deref(), "processor", name)?;
            let tax = nonneg(req.tax, "tax")?;
            let fee = nonneg(req.processor_fee, "processor_fee")?;
            if tax > amount {
                return Err(LedgerError::InvalidAmount("tax exceeds the amount".into()));
            }
            let share = share_of(creator)?;
            let parts = split(amount - tax, &[share, 10_000 - share]);
            let (creator_part, platform_part) = (parts[0], parts[1]);
            let reserve_bps = nonneg(req.reserve_bps, "reserve_bps")?.min(10_000);
            let reserve = split(creator_part, &[reserve_bps, 10_000 - reserve_bps])[0];
            if processor == "wallet" {
                let fan = need(req.fan_id, "fan_id", name)?;
                b.debit(chart::fan_wallet(fan, cur), amount);
            } else {
                b.debit(chart::cash(processor, cur), amount);
                b.debit(chart::processor_fees(cur), fee);
                b.credit(chart::cash(processor, cur), fee);
            }
            b.credit(chart::tax_payable(cur), tax);
            b.credit(chart::creator_payable(creator, cur), creator_part);
            b.credit(chart::platform_revenue(cur), platform_part);
            b.debit(chart::creator_payable(creator, cur), reserve);
            b.credit(chart::reserve(creator, cur), reserve);
            meta["creator_share_bps"] = json!(share);
            if reserve > 0 {
                reserve_hold = Some((creator, reserve));
            }
        }
        "reserve_hold" => {
            let creator = need(req.creator_id, "creator_id", name)?;
            b.debit(chart::creator_payable(creator, cur), amount);
            b.credit(chart::reserve(creator, cur), amount);
            reserve_hold = Some((creator, amount));
        }
        "platform_fee" => {
            let creator = need(req.creator_id, "creator_id", name)?;
            b.debit(chart::creator_payable(creator, cur), amount);
            b.credit(chart::platform_revenue(cur), amount);
        }
        "refund" | "chargeback" => {
            let creator = need(req.creator_id, "creator_id", name)?;
            let processor = need(req.processor.as_deref(), "processor", name)?;
            let share = share_of(creator)?;
            let parts = split(amount, &[share, 10_000 - share]);
            let uncovered = nonneg(req.uncovered, "uncovered")?.min(parts[0]);
            b.debit(chart::creator_payable(creator, cur), parts[0] - uncovered);
            b.debit(chart::chargeback_losses(cur), uncovered);
            if uncovered > 0 {
                meta["uncovered"] = json!(uncovered);
            }
            b.debit(chart::platform_revenue(cur), parts[1]);
            if processor == "wallet" {
                let fan = need(req.fan_id, "fan_id", name)?;
                b.credit(chart::fan_wallet(fan, cur), amount);
            } else {
                b.credit(chart::cash(processor, cur), amount);
            }
            if name == "chargeback" {
                let fee = nonneg(req.fee, "fee")?;
                b.debit(chart::chargeback_losses(cur), fee);
                b.credit(chart::cash(processor, cur), fee);
            }
            meta["creator_share_bps"] = json!(share);
        }
        "payout_request" => {
            let creator = need(req.creator_id, "creator_id", name)?;
            b.debit(chart::creator_payable(creator, cur), amount);
            b.credit(chart::payout_clearing(cur), amount);
        }
        "payout_settle" => {
            let processor = need(req.processor.as_deref(), "processor", name)?;
            b.debit(chart::payout_clearing(cur), amount);
            b.credit(chart::cash(processor, cur), amount);
        }
        "payout_fail" => {
            let creator = need(req.creator_id, "creator_id", name)?;
            b.debit(chart::payout_clearing(cur), amount);
            b.credit(chart::creator_payable(creator, cur), amount);
        }
        "processor_fee" => {
            let processor = need(req.processor.as_deref(), "processor", name)?;
            b.debit(chart::processor_fees(cur), amount);
            b.credit(chart::cash(processor, cur), amount);
        }
        "reserve_release" => {
            let creator = need(req.creator_id, "creator_id", name)?;
            b.debit(chart::reserve(creator, cur), amount);
            b.credit(chart::creator_payable(creator, cur), amount);
        }
        "wallet_top_up" => {
            let fan = need(req.fan_id, "fan_id", name)?;
            let processor = need(req.processor.as_deref(), "processor", name)?;
            b.debit(chart::cash(processor, cur), amount);
            b.credit(chart::fan_wallet(fan, cur), amount);
        }
        "gift_card_issue" => {
            let processor = need(req.processor.as_deref(), "processor", name)?;
            b.debit(chart::cash(processor, cur), amount);
            b.credit(chart::gift_cards(cur), amount);
        }
        "gift_card_redeem" => {
            let fan = need(req.fan_id, "fan_id", name)?;
            b.debit(chart::gift_cards(cur), amount);
            b.credit(chart::fan_wallet(fan, cur), amount);
        }
        "fx_conversion" => {
            let processor = need(req.processor.as_deref(), "processor", name)?;
            let to = need(req.to_currency.as_deref(), "to_currency", name)?;
            let to_amount = need(req.to_amount, "to_amount", name)?;
            if to_amount <= 0 {
                return Err(LedgerError::InvalidAmount(to_amount.to_string()));
            }
            if crate::asset_exponent(to).is_none() || to == cur {
                return Err(LedgerError::Invalid(
                    "to_currency must be another known currency".into(),
                ));
            }
            b.debit(chart::fx_position(cur), amount);
            b.credit(chart::cash(processor, cur), amount);
            let mut to_b = Builder::new(to);
            to_b.debit(chart::cash(processor, to), to_amount);
            to_b.credit(chart::fx_position(to), to_amount);
            b.lines.extend(to_b.lines);
            b.accounts.extend(to_b.accounts);
            // The rate as an exact ratio of minor units: no floating point.
            meta["rate"] = json!({"from": {"currency": cur, "amount": amount}, "to": {"currency": to, "amount": to_amount}});
        }
        _ => return Err(LedgerError::UnknownTemplate(template.to_owned())),
    }
    if let Some(p) = &req.processor {
        if !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || p.is_empty() {
            return Err(LedgerError::Invalid(
                "processor must be letters, digits and _".into(),
            ));
        }
    }
    let input = EntryInput {
        metadata: Some(meta),
        causation: req.causation.clone(),
        template: Some(versioned),
        ..EntryInput::new(req.idempotency_key.clone(), b.lines)
    };
    Ok(Built {
        input,
        currency: cur.to_owned(),
        accounts: b.accounts,
        reserve: match (reserve_hold, reserve_days) {
            (Some((creator, held)), Some(days)) => Some((creator, held, days)),
            _ => None,
        },
    })
}

/// Release every rolling reserve whose `reserve_days` have passed, each as one
/// `reserve_release@1` entry (idempotency key `reserve_release:{entry id}`). Returns how many.
pub async fn release_due_reserves(db: &mut Db, now: i64, actor: &Actor) -> Result<usize> {
    let due = sqlx::query(
        "SELECT entry_id, creator_id, currency, amount FROM ledger_reserves \
         WHERE released_by IS NULL AND release_at <= $1 ORDER BY release_at, entry_id",
    )
    .bind(now)
    .fetch_all(&mut *db)
    .await?;
    for r in &due {
        let entry_id: i64 = r.get(0);
        let req = TemplateRequest {
            idempotency_key: format!("reserve_release:{entry_id}"),
            currency: r.get(2),
            amount: r.get(3),
            creator_id: Some(r.get(1)),
            causation: Some(format!("ledger_entry:{entry_id}")),
            ..Default::default()
        };
        let out = apply(db, "reserve_release@1", &req, actor).await?;
        sqlx::query("UPDATE ledger_reserves SET released_by = $1 WHERE entry_id = $2")
            .bind(out.entry.id)
            .bind(entry_id)
            .execute(&mut *db)
            .await?;
    }
    Ok(due.len())
}

/// Release a creator's rolling reserves early, oldest first and each in full, until at least
/// `at_least` has moved back to their payable (a refund or chargeback drawing on the reserve).
/// Each release is one `reserve_release@1` entry keyed like the scheduled ones, so the
/// scheduled release never runs twice. Returns the amount released.
pub async fn release_reserves_early(
    db: &mut Db,
    creator_id: i64,
    currency: &str,
    at_least: i64,
    actor: &Actor,
) -> Result<i64> {
    if at_least <= 0 {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT entry_id, amount FROM ledger_reserves WHERE released_by IS NULL \
         AND creator_id = $1 AND currency = $2 ORDER BY release_at, entry_id",
    )
    .bind(creator_id)
    .bind(currency)
    .fetch_all(&mut *db)
    .await?;
    let mut released = 0i64;
    for r in &rows {
        if released >= at_least {
            break;
        }
        let entry_id: i64 = r.get(0);
        let amount: i64 = r.get(1);
        let req = TemplateRequest {
            idempotency_key: format!("reserve_release:{entry_id}"),
            currency: currency.to_owned(),
            amount,
            creator_id: Some(creator_id),
            causation: Some(format!("ledger_entry:{entry_id}")),
            metadata: Some(json!({"early": true})),
            ..Default::default()
        };
        let out = apply(db, "reserve_release@1", &req, actor).await?;
        sqlx::query("UPDATE ledger_reserves SET released_by = $1 WHERE entry_id = $2")
            .bind(out.entry.id)
            .bind(entry_id)
            .execute(&mut *db)
            .await?;
        released += amount;
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn split_examples() {
        assert_eq!(split(999, &[8000, 2000]), vec![799, 200]);
        assert_eq!(split(1000, &[8000, 2000]), vec![800, 200]);
        assert_eq!(split(1, &[5000, 5000]), vec![1, 0]);
        assert_eq!(split(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(split(7, &[0, 0]), vec![7, 0]);
    }

    proptest! {
        #[test]
        fn split_loses_nothing(total in 0i64..=i64::MAX / 2, weights in proptest::collection::vec(0i64..=10_000, 1..6)) {
            let parts = split(total, &weights);
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().map(|&p| p as i128).sum::<i128>(), total as i128);
            let sum: i128 = weights.iter().map(|&w| w as i128).sum();
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0);
                if sum > 0 {
                    // Each part is within one unit of its exact share.
                    let exact = total as i128 * *w as i128;
                    let lo = exact / sum;
                    prop_assert!((*p as i128) == lo || (*p as i128) == lo + 1);
                }
            }
        }
    }
}

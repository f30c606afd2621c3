//! Creator payouts: a payout method (Paxum, wire/ACH, crypto address, or the sandbox), a
//! schedule (weekly, monthly, on request), a minimum; payouts held while identity
//! verification is incomplete; batch export files; settlement and failure (a failed payout
//! returns the funds). Money moves through the ledger's payout templates.

use crate::{invalid, Payments, PaymentsError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::{now_micros, DAY};
use fanz_ledger::templates::{self, TemplateRequest};
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// A way to pay creators: how a destination looks and how a batch file line is written.
pub trait PayoutMethod: Send + Sync {
    fn name(&self) -> &'static str;
    fn label(&self) -> &'static str;
    /// Refuse a destination that cannot be paid.
    fn check_destination(&self, d: &str) -> Result<(), &'static str>;
    /// The batch file's header line.
    fn header(&self) -> &'static str;
    /// One line of the batch file.
    fn line(&self, p: &Payout) -> String;
    /// Whether payouts settle by themselves once sent (the sandbox); otherwise finance marks
    /// them paid or failed from the processor's report.
    fn settles_itself(&self) -> bool {
        false
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn decimal(amount: i64) -> String {
    fanz_processors::Money::new(amount, "USD").decimal()
}

struct Paxum;
impl PayoutMethod for Paxum {
    fn name(&self) -> &'static str {
        "paxum"
    }
    fn label(&self) -> &'static str {
        "Paxum"
    }
    fn check_destination(&self, d: &str) -> Result<(), &'static str> {
        fanz_core::Email::parse(d)
            .map(|_| ())
            .map_err(|_| "a Paxum payout goes to the e-mail of a Paxum account")
    }
    // Paxum's mass transfer takes e-mail, amount, currency and a note per line.
    fn header(&self) -> &'static str {
        "email,amount,currency,note"
    }
    fn line(&self, p: &Payout) -> String {
        format!(
            "{},{},{},{}",
            csv_field(&p.destination),
            decimal(p.amount),
            p.currency,
            csv_field(&format!("Fanz payout {}", p.id))
        )
    }
}

struct Wire;
impl PayoutMethod for Wire {
    fn name(&self) -> &'static str {
        "wire"
    }
    fn label(&self) -> &'static str {
        "Bank transfer (wire/ACH)"
    }
    fn check_destination(&self, d: &str) -> Result<(), &'static str> {
        // "Account holder; IBAN or routing:account"
        let (holder, account) = d
            .split_once(';')
            .ok_or("give the account holder and the account, separated by ;")?;
        let account: String = account.chars().filter(|c| !c.is_whitespace()).collect();
        if holder.trim().len() < 2
            || account.len() < 8
            || account.len() > 40
            || !account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ':')
        {
            return Err("give the account holder and an IBAN or routing:account number");
        }
        Ok(())
    }
    fn header(&self) -> &'static str {
        "holder,account,amount,currency,reference"
    }
    fn line(&self, p: &Payout) -> String {
        let (holder, account) = p
            .destination
            .split_once(';')
            .unwrap_or((&p.destination, ""));
        format!(
            "{},{},{},{},FANZ-{}",
            csv_field(holder.trim()),
            csv_field(account.trim()),
            decimal(p.amount),
            p.currency,
            p.id
        )
    }
}

struct Crypto;
impl PayoutMethod for Crypto {
    fn name(&self) -> &'static str {
        "crypto"
    }
    fn label(&self) -> &'static str {
        "Crypto (BTC address)"
    }
    fn check_destination(&self, d: &str) -> Result<(), &'static str> {
        let ok = (26..=90).contains(&d.len())
            && d.chars().all(|c| c.is_ascii_alphanumeric())
            && (d.starts_with('1') || d.starts_with('3') || d.starts_with("bc1"));
        if ok {
            Ok(())
        } else {
            Err("a Bitcoin address starts with 1, 3 or bc1")
        }
    }
    fn header(&self) -> &'static str {
        "address,amount,currency,reference"
    }
    fn line(&self, p: &Payout) -> String {
        format!(
            "{},{},{},FANZ-{}",
            p.destination,
            decimal(p.amount),
            p.currency,
            p.id
        )
    }
}

/// Pays instantly in the sandbox; a destination containing `fail` fails.
struct SandboxPayouts;
impl PayoutMethod for SandboxPayouts {
    fn name(&self) -> &'static str {
        "sandbox"
    }
    fn label(&self) -> &'static str {
        "Sandbox (test payouts)"
    }
    fn check_destination(&self, d: &str) -> Result<(), &'static str> {
        if d.trim().is_empty() || d.len() > 100 {
            Err("name any destination (up to 100 characters)")
        } else {
            Ok(())
        }
    }
    fn header(&self) -> &'static str {
        "destination,amount,currency,reference"
    }
    fn line(&self, p: &Payout) -> String {
        format!(
            "{},{},{},FANZ-{}",
            csv_field(&p.destination),
            decimal(p.amount),
            p.currency,
            p.id
        )
    }
    fn settles_itself(&self) -> bool {
        true
    }
}

pub fn methods() -> Vec<Box<dyn PayoutMethod>> {
    vec![
        Box::new(Paxum),
        Box::new(Wire),
        Box::new(Crypto),
        Box::new(SandboxPayouts),
    ]
}

pub fn method(name: &str) -> Option<Box<dyn PayoutMethod>> {
    methods().into_iter().find(|m| m.name() == name)
}

/// A creator's payout settings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PayoutAccount {
    pub creator_id: i64,
    pub identity_verified: bool,
    pub method: Option<String>,
    pub destination: Option<String>,
    /// `weekly`, `monthly` or `on_request`.
    pub schedule: String,
    pub minimum: i64,
    pub currency: String,
    pub last_payout_at: Option<i64>,
    /// Why compliance holds the payouts (trust & safety sets and lifts it), if it does.
    pub compliance_hold: Option<String>,
}

impl PayoutAccount {
    /// Why payouts are held now, if they are.
    pub fn hold_reason(&self) -> Option<&str> {
        if let Some(r) = &self.compliance_hold {
            Some(r.as_str())
        } else if !self.identity_verified {
            Some("identity verification is incomplete")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutSettings {
    /// `paxum`, `wire`, `crypto` (or `sandbox` while the sandbox is on).
    pub method: String,
    pub destination: String,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub minimum: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

pub async fn account(db: &mut Db, creator_id: i64) -> Result<PayoutAccount> {
    let r = sqlx::query(
        "SELECT identity_verified, method, destination, schedule, minimum, currency, last_payout_at, compliance_hold FROM payout_accounts WHERE creator_id = $1",
    )
    .bind(creator_id)
    .fetch_optional(&mut *db)
    .await?;
    Ok(match r {
        Some(r) => PayoutAccount {
            creator_id,
            identity_verified: r.get::<i64, _>(0) != 0,
            method: r.get(1),
            destination: r.get(2),
            schedule: r.get(3),
            minimum: r.get(4),
            currency: r.get(5),
            last_payout_at: r.get(6),
            compliance_hold: r.get(7),
        },
        None => PayoutAccount {
            creator_id,
            identity_verified: false,
            method: None,
            destination: None,
            schedule: "weekly".into(),
            minimum: 5000,
            currency: "USD".into(),
            last_payout_at: None,
            compliance_hold: None,
        },
    })
}

async fn ensure_account(db: &mut Db, creator_id: i64) -> Result<()> {
    sqlx::query("INSERT INTO payout_accounts (creator_id, updated_at) VALUES ($1, $2) ON CONFLICT (creator_id) DO NOTHING")
        .bind(creator_id)
        .bind(now_micros())
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// The creator sets how they are paid.
pub async fn configure(
    db: &mut Db,
    env: &Payments,
    creator_id: i64,
    s: &PayoutSettings,
    actor: &Actor,
) -> Result<PayoutAccount> {
    let m = method(&s.method)
        .filter(|m| m.name() != "sandbox" || env.config.sandbox)
        .ok_or_else(|| {
            invalid(
                "method",
                "unknown_method",
                "method is paxum, wire or crypto",
            )
        })?;
    let dest = s.destination.trim();
    m.check_destination(dest)
        .map_err(|msg| invalid("destination", "invalid_destination", msg))?;
    let schedule = s.schedule.clone().unwrap_or_else(|| "weekly".into());
    if !matches!(schedule.as_str(), "weekly" | "monthly" | "on_request") {
        return Err(invalid(
            "schedule",
            "invalid_schedule",
            "schedule is weekly, monthly or on_request",
        ));
    }
    let minimum = s.minimum.unwrap_or(5000.max(env.config.payout_minimum));
    if minimum < env.config.payout_minimum || minimum > 10_000_000 {
        return Err(invalid(
            "minimum",
            "out_of_range",
            format!(
                "the minimum payout is at least {}",
                decimal(env.config.payout_minimum)
            ),
        ));
    }
    let currency = s.currency.clone().unwrap_or_else(|| "USD".into());
    if !fanz_processors::CURRENCIES.contains(&currency.as_str()) {
        return Err(invalid(
            "currency",
            "unsupported_currency",
            "unsupported currency",
        ));
    }
    ensure_account(db, creator_id).await?;
    sqlx::query("UPDATE payout_accounts SET method = $1, destination = $2, schedule = $3, minimum = $4, currency = $5, updated_at = $6 WHERE creator_id = $7")
        .bind(m.name())
        .bind(dest)
        .bind(&schedule)
        .bind(minimum)
        .bind(&currency)
        .bind(now_micros())
        .bind(creator_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "payments.payout_method_set",
        Some(&format!("user:{creator_id}")),
        json!({"method": m.name(), "schedule": schedule, "minimum": minimum}),
    )
    .await?;
    account(db, creator_id).await
}

/// Identity verification done or undone (trust & safety supplies it; until then an admin
/// flag). Verifying releases held payouts.
pub async fn set_verified(
    db: &mut Db,
    env: &Payments,
    creator_id: i64,
    verified: bool,
    actor: &Actor,
) -> Result<PayoutAccount> {
    ensure_account(db, creator_id).await?;
    sqlx::query(
        "UPDATE payout_accounts SET identity_verified = $1, updated_at = $2 WHERE creator_id = $3",
    )
    .bind(verified as i64)
    .bind(now_micros())
    .bind(creator_id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "payments.identity_verified_set",
        Some(&format!("user:{creator_id}")),
        json!({"verified": verified}),
    )
    .await?;
    if verified {
        release_held(db, env, creator_id, actor).await?;
    }
    account(db, creator_id).await
}

/// Once nothing holds the account: cancel its held payout and request one anew (unless it is
/// paid on request).
async fn release_held(db: &mut Db, env: &Payments, creator_id: i64, actor: &Actor) -> Result<()> {
    let acct = account(db, creator_id).await?;
    if acct.hold_reason().is_some() {
        return Ok(());
    }
    let held = sqlx::query("SELECT id FROM payouts WHERE creator_id = $1 AND status = 'held'")
        .bind(creator_id)
        .fetch_all(&mut *db)
        .await?;
    for r in held {
        let id: i64 = r.get(0);
        sqlx::query("UPDATE payouts SET status = 'cancelled', hold_reason = NULL, updated_at = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(id)
            .execute(&mut *db)
            .await?;
    }
    if acct.method.is_some() && acct.schedule != "on_request" {
        let _ = request(db, env, creator_id, None, actor).await;
    }
    Ok(())
}

/// A compliance hold placed (`Some(reason)`) or lifted (`None`) by trust & safety: while it
/// is placed, payouts are held as they are without identity verification. Lifting it
/// releases held payouts when nothing else holds them. Audited.
pub async fn set_compliance_hold(
    db: &mut Db,
    env: Option<&Payments>,
    creator_id: i64,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<PayoutAccount> {
    ensure_account(db, creator_id).await?;
    sqlx::query(
        "UPDATE payout_accounts SET compliance_hold = $1, updated_at = $2 WHERE creator_id = $3",
    )
    .bind(reason)
    .bind(now_micros())
    .bind(creator_id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "payments.compliance_hold_set",
        Some(&format!("user:{creator_id}")),
        json!({"reason": reason}),
    )
    .await?;
    if let (None, Some(env)) = (reason, env) {
        release_held(db, env, creator_id, actor).await?;
    }
    account(db, creator_id).await
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payout {
    pub id: i64,
    pub creator_id: i64,
    pub amount: i64,
    pub currency: String,
    pub method: String,
    #[serde(skip)]
    pub destination: String,
    /// `held` (with `hold_reason`), `pending`, `sent`, `paid`, `failed` (funds returned),
    /// `cancelled`.
    pub status: String,
    pub hold_reason: Option<String>,
    pub failure: Option<String>,
    /// When the money should arrive.
    pub expected_at: i64,
    pub batch_id: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, creator_id, amount, currency, method, destination, status, hold_reason, failure, expected_at, batch_id, created_at";

fn row(r: &sqlx::any::AnyRow) -> Payout {
    Payout {
        id: r.get(0),
        creator_id: r.get(1),
        amount: r.get(2),
        currency: r.get(3),
        method: r.get(4),
        destination: r.get(5),
        status: r.get(6),
        hold_reason: r.get(7),
        failure: r.get(8),
        expected_at: r.get(9),
        batch_id: r.get(10),
        created_at: r.get(11),
    }
}

pub async fn get(db: &mut Db, id: i64) -> Result<Payout> {
    let sql = format!("SELECT {COLUMNS} FROM payouts WHERE id = $1");
    let r = sqlx::query(&sql).bind(id).fetch_optional(&mut *db).await?;
    r.map(|r| row(&r)).ok_or(PaymentsError::NotFound)
}

pub async fn of_creator(db: &mut Db, creator_id: i64) -> Result<Vec<Payout>> {
    let sql =
        format!("SELECT {COLUMNS} FROM payouts WHERE creator_id = $1 ORDER BY id DESC LIMIT 200");
    let rows = sqlx::query(&sql)
        .bind(creator_id)
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.iter().map(row).collect())
}

/// What the creator can be paid now in `currency`: the payable balance less their share of
/// charges still awaiting the processor's confirmation ([`crate::confirm`]). The one place
/// that says what can be paid.
pub async fn available(db: &mut Db, creator_id: i64, currency: &str) -> Result<i64> {
    let payable =
        match fanz_ledger::balance(db, &format!("creator_payable:{creator_id}:{currency}")).await {
            Ok(b) => b.available,
            Err(fanz_ledger::LedgerError::UnknownAccount(_)) => 0,
            Err(e) => return Err(e.into()),
        };
    let held = crate::confirm::held(db, creator_id, currency).await?;
    Ok((payable - held).max(0))
}

/// Request a payout of `amount` (default: everything available). Held, not moved, while
/// identity verification is incomplete.
pub async fn request(
    db: &mut Db,
    env: &Payments,
    creator_id: i64,
    amount: Option<i64>,
    actor: &Actor,
) -> Result<Payout> {
    let acct = account(db, creator_id).await?;
    let (Some(method), Some(dest)) = (acct.method.clone(), acct.destination.clone()) else {
        return Err(invalid(
            "method",
            "no_payout_method",
            "set a payout method first",
        ));
    };
    let avail = available(db, creator_id, &acct.currency).await?;
    let amount = amount.unwrap_or(avail);
    let floor = env.config.payout_minimum;
    if amount < floor {
        return Err(invalid(
            "amount",
            "below_minimum",
            format!("the smallest payout is {}", decimal(floor)),
        ));
    }
    if amount > avail {
        return Err(PaymentsError::PayoutOverAvailable {
            available: avail,
            awaiting: crate::confirm::held(db, creator_id, &acct.currency).await?,
            needed: amount,
            currency: acct.currency.clone(),
        });
    }
    let now = now_micros();
    let hold_reason = acct.hold_reason().map(str::to_owned);
    let held = hold_reason.is_some();
    let mut entry = None;
    if !held {
        let req = TemplateRequest {
            idempotency_key: format!("payout_request:{creator_id}:{now}"),
            currency: acct.currency.clone(),
            amount,
            creator_id: Some(creator_id),
            causation: Some(format!("payout_method:{method}")),
            ..Default::default()
        };
        entry = Some(
            templates::apply(db, "payout_request", &req, actor)
                .await?
                .entry
                .id,
        );
    } else if let Some(r) =
        sqlx::query("SELECT id FROM payouts WHERE creator_id = $1 AND status = 'held'")
            .bind(creator_id)
            .fetch_optional(&mut *db)
            .await?
    {
        // One held payout per creator, kept at the amount they would be paid.
        let id: i64 = r.get(0);
        sqlx::query("UPDATE payouts SET amount = $1, updated_at = $2 WHERE id = $3")
            .bind(amount)
            .bind(now)
            .bind(id)
            .execute(&mut *db)
            .await?;
        return get(db, id).await;
    }
    let r = sqlx::query(
        "INSERT INTO payouts (creator_id, amount, currency, method, destination, status, hold_reason, expected_at, request_entry, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(creator_id)
    .bind(amount)
    .bind(&acct.currency)
    .bind(&method)
    .bind(&dest)
    .bind(if held { "held" } else { "pending" })
    .bind(&hold_reason)
    .bind(now + env.config.payout_days * DAY)
    .bind(entry)
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    let id: i64 = r.get(0);
    sqlx::query("UPDATE payout_accounts SET last_payout_at = $1 WHERE creator_id = $2")
        .bind(now)
        .bind(creator_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "payments.payout_requested",
        Some(&format!("payout:{id}")),
        json!({"amount": amount, "currency": acct.currency, "held": held}),
    )
    .await?;
    get(db, id).await
}

/// Scheduled payouts that are due: weekly ones 7 days after the last, monthly ones 30, when
/// the balance reaches the creator's minimum. Returns how many were made (held included).
pub async fn schedule_due(db: &mut Db, env: &Payments, now: i64, limit: i64) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT a.creator_id, a.currency, a.minimum FROM payout_accounts a WHERE a.method IS NOT NULL AND \
         ((a.schedule = 'weekly' AND (a.last_payout_at IS NULL OR a.last_payout_at <= $1)) OR \
          (a.schedule = 'monthly' AND (a.last_payout_at IS NULL OR a.last_payout_at <= $2))) \
         ORDER BY a.creator_id LIMIT $3",
    )
    .bind(now - 7 * DAY)
    .bind(now - 30 * DAY)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    let mut made = 0;
    let actor = Actor::system();
    for r in &rows {
        let (creator, cur, minimum): (i64, String, i64) = (r.get(0), r.get(1), r.get(2));
        if available(db, creator, &cur).await? >= minimum {
            request(db, env, creator, None, &actor).await?;
            made += 1;
        }
    }
    Ok(made)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Batch {
    pub id: i64,
    pub method: String,
    pub currency: String,
    pub count: i64,
    pub total: i64,
    /// The export file (CSV) for the method's bulk-payment upload.
    pub file: String,
    pub created_at: i64,
}

/// Gather pending payouts into one batch per method and currency, each with its export file;
/// the payouts become `sent`. Sandbox payouts settle at once.
pub async fn make_batches(db: &mut Db, actor: &Actor) -> Result<Vec<Batch>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payouts WHERE status = 'pending' ORDER BY method, currency, id"
    );
    let rows = sqlx::query(&sql).fetch_all(&mut *db).await?;
    let pending: Vec<Payout> = rows.iter().map(row).collect();
    let mut out = Vec::new();
    let now = now_micros();
    let mut i = 0;
    while i < pending.len() {
        let (m, cur) = (pending[i].method.clone(), pending[i].currency.clone());
        let mut j = i;
        while j < pending.len() && pending[j].method == m && pending[j].currency == cur {
            j += 1;
        }
        let group = &pending[i..j];
        i = j;
        let Some(driver) = method(&m) else { continue };
        let mut file = String::with_capacity(group.len() * 64);
        file.push_str(driver.header());
        file.push('\n');
        for p in group {
            file.push_str(&driver.line(p));
            file.push('\n');
        }
        let total: i64 = group.iter().map(|p| p.amount).sum();
        let r = sqlx::query("INSERT INTO payout_batches (method, currency, count, total, file, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(&m)
            .bind(&cur)
            .bind(group.len() as i64)
            .bind(total)
            .bind(&file)
            .bind(now)
            .fetch_one(&mut *db)
            .await?;
        let batch: i64 = r.get(0);
        let first = group[0].id;
        let last = group[group.len() - 1].id;
        sqlx::query("UPDATE payouts SET status = 'sent', batch_id = $1, updated_at = $2 WHERE status = 'pending' AND method = $3 AND currency = $4 AND id BETWEEN $5 AND $6")
            .bind(batch)
            .bind(now)
            .bind(&m)
            .bind(&cur)
            .bind(first)
            .bind(last)
            .execute(&mut *db)
            .await?;
        record(
            db,
            actor,
            "payments.payout_batch",
            Some(&format!("payout_batch:{batch}")),
            json!({"method": m, "currency": cur, "count": group.len(), "total": total}),
        )
        .await?;
        if driver.settles_itself() {
            for p in group {
                let fail = p.destination.contains("fail");
                settle(
                    db,
                    p.id,
                    !fail,
                    fail.then_some("the sandbox refused the destination"),
                    actor,
                )
                .await?;
            }
        }
        out.push(Batch {
            id: batch,
            method: m,
            currency: cur,
            count: group.len() as i64,
            total,
            file,
            created_at: now,
        });
    }
    Ok(out)
}

/// A sent payout was paid (`ok`) or failed (the funds return to the creator's balance).
pub async fn settle(
    db: &mut Db,
    id: i64,
    ok: bool,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<Payout> {
    let p = get(db, id).await?;
    if p.status != "sent" {
        return Err(PaymentsError::Conflict("payout_not_sent"));
    }
    let req = TemplateRequest {
        idempotency_key: format!("payout_{}:{id}", if ok { "settle" } else { "fail" }),
        currency: p.currency.clone(),
        amount: p.amount,
        creator_id: Some(p.creator_id),
        processor: Some(p.method.clone()),
        causation: Some(format!("payout:{id}")),
        ..Default::default()
    };
    let entry = templates::apply(
        db,
        if ok { "payout_settle" } else { "payout_fail" },
        &req,
        actor,
    )
    .await?
    .entry
    .id;
    sqlx::query("UPDATE payouts SET status = $1, failure = $2, settle_entry = $3, updated_at = $4 WHERE id = $5")
        .bind(if ok { "paid" } else { "failed" })
        .bind(reason)
        .bind(entry)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        if ok {
            "payments.payout_paid"
        } else {
            "payments.payout_failed"
        },
        Some(&format!("payout:{id}")),
        json!({"reason": reason}),
    )
    .await?;
    get(db, id).await
}

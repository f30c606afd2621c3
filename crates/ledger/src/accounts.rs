//! Accounts, their balances, balance at an instant and history.

use crate::journal::placeholders;
use crate::merge::account_postings;
use crate::{asset_exponent, LedgerError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_store::{backend_of, sqlx, Backend, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::collections::HashSet;

/// The sum of debits (pending and posted) may never exceed posted credits: a wallet or a
/// payable that must not go negative.
pub const FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS: i64 = 1;
/// The sum of credits may never exceed posted debits.
pub const FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS: i64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Asset,
    Liability,
    Revenue,
    Expense,
    Equity,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Asset => "asset",
            AccountKind::Liability => "liability",
            AccountKind::Revenue => "revenue",
            AccountKind::Expense => "expense",
            AccountKind::Equity => "equity",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "asset" => AccountKind::Asset,
            "liability" => AccountKind::Liability,
            "revenue" => AccountKind::Revenue,
            "expense" => AccountKind::Expense,
            "equity" => AccountKind::Equity,
            _ => {
                return Err(LedgerError::Invalid(format!(
                    "kind must be asset, liability, revenue, expense or equity, not {s:?}"
                )))
            }
        })
    }

    /// Assets and expenses grow with debits; the others with credits.
    pub fn debit_normal(self) -> bool {
        matches!(self, AccountKind::Asset | AccountKind::Expense)
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Unique code, e.g. `creator_payable:42:USD`.
    pub code: String,
    pub kind: AccountKind,
    /// ISO 4217 code or crypto asset (`USD`, `EUR`, `BTC`, …).
    pub currency: String,
    #[serde(default)]
    pub name: String,
    /// Who the account belongs to: `platform`, `creator:42`, `user:7`, `processor:ccbill`, …
    #[serde(default)]
    pub owner: String,
    /// `debits_must_not_exceed_credits`, `credits_must_not_exceed_debits`.
    #[serde(default)]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: AccountKind,
    pub currency: String,
    pub owner: String,
    pub flags: Vec<String>,
    pub status: String,
    pub debits_posted: i64,
    pub credits_posted: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
}

/// Balances in the account's normal direction (positive = what it normally holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceFigures {
    pub posted: i64,
    pub pending: i64,
    pub available: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub account: String,
    pub currency: String,
    /// Posted balance.
    pub posted: i64,
    /// Net of holds not yet settled, in the normal direction.
    pub pending: i64,
    /// Posted minus holds that would reduce it.
    pub available: i64,
    /// Microseconds since the epoch the posted figure is as of (`null` = now).
    pub at: Option<i64>,
}

pub(crate) fn flag_names(flags: i64) -> Vec<String> {
    let mut out = Vec::new();
    if flags & FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS != 0 {
        out.push("debits_must_not_exceed_credits".to_owned());
    }
    if flags & FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS != 0 {
        out.push("credits_must_not_exceed_debits".to_owned());
    }
    out
}

fn parse_flags(names: &[String]) -> Result<i64> {
    let mut f = 0;
    for n in names {
        f |= match n.as_str() {
            "debits_must_not_exceed_credits" => FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS,
            "credits_must_not_exceed_debits" => FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS,
            other => return Err(LedgerError::Invalid(format!("unknown flag {other:?}"))),
        };
    }
    if f == FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS | FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS {
        return Err(LedgerError::Invalid(
            "the two balance flags exclude each other".into(),
        ));
    }
    Ok(f)
}

pub(crate) fn validate_code(code: &str) -> Result<()> {
    let ok = !code.is_empty()
        && code.len() <= 128
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LedgerError::Invalid(
            "account code must be 1–128 characters of letters, digits and : _ - .".into(),
        ))
    }
}

pub async fn create_account(db: &mut Db, new: &NewAccount, actor: &Actor) -> Result<Account> {
    validate_code(&new.code)?;
    if asset_exponent(&new.currency).is_none() {
        return Err(LedgerError::Invalid(format!(
            "unknown currency or asset {:?}",
            new.currency
        )));
    }
    let flags = parse_flags(&new.flags)?;
    crate::journal::fresh_plans(db).await?;
    let exists = sqlx::query("SELECT 1 FROM ledger_accounts WHERE code = $1")
        .bind(&new.code)
        .fetch_optional(&mut *db)
        .await?;
    if exists.is_some() {
        return Err(LedgerError::AccountExists(new.code.clone()));
    }
    sqlx::query(
        "INSERT INTO ledger_accounts (code, name, kind, currency, owner, flags, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&new.code)
    .bind(&new.name)
    .bind(new.kind.as_str())
    .bind(&new.currency)
    .bind(&new.owner)
    .bind(flags)
    .bind(now_micros())
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "ledger.account_created",
        Some(&format!("ledger_account:{}", new.code)),
        json!({"kind": new.kind, "currency": new.currency, "flags": new.flags, "owner": new.owner}),
    )
    .await?;
    get_account(db, &new.code).await
}

/// Create the account unless it exists (templates open the accounts they need).
pub async fn ensure_account(
    db: &mut Db,
    code: &str,
    kind: AccountKind,
    currency: &str,
    owner: &str,
    flags: &[&str],
    actor: &Actor,
) -> Result<()> {
    let new = NewAccount {
        code: code.to_owned(),
        kind,
        currency: currency.to_owned(),
        name: String::new(),
        owner: owner.to_owned(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
    };
    ensure_accounts(db, std::slice::from_ref(&new), actor).await
}

/// Create each account of `wanted` that does not exist yet. Which exist is one statement (per
/// 500 codes), however many there are: an entry's accounts nearly always all exist.
pub async fn ensure_accounts(db: &mut Db, wanted: &[NewAccount], actor: &Actor) -> Result<()> {
    crate::journal::fresh_plans(db).await?;
    let postgres = backend_of(db) == Backend::Postgres;
    let mut existing = HashSet::new();
    for chunk in wanted.chunks(500) {
        let sql = format!(
            "SELECT code FROM ledger_accounts WHERE code IN {}",
            placeholders(backend_of(db), 1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q.bind(a.code.as_str());
        }
        for r in q.fetch_all(&mut *db).await? {
            existing.insert(r.get::<String, _>(0));
        }
    }
    for new in wanted.iter().filter(|a| !existing.contains(&a.code)) {
        // Two transactions opening the same account at once: on PostgreSQL the second would
        // fail on the unique code and abort its transaction. Serialise them on the code; the
        // second then sees the first's account (read committed).
        if postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("ledger_account:{}", new.code))
                .execute(&mut *db)
                .await?;
            let exists = sqlx::query("SELECT 1 FROM ledger_accounts WHERE code = $1")
                .bind(&new.code)
                .fetch_optional(&mut *db)
                .await?;
            if exists.is_some() {
                continue;
            }
        }
        create_account(db, new, actor).await?;
    }
    Ok(())
}

pub(crate) const ACCOUNT_COLUMNS: &str = "id, code, name, kind, currency, owner, flags, status, \
    debits_posted, credits_posted, debits_pending, credits_pending";

pub(crate) fn account_from_row(r: &sqlx::any::AnyRow) -> Account {
    Account {
        id: r.get(0),
        code: r.get(1),
        name: r.get(2),
        kind: AccountKind::parse(&r.get::<String, _>(3)).unwrap_or(AccountKind::Asset),
        currency: r.get(4),
        owner: r.get(5),
        flags: flag_names(r.get(6)),
        status: r.get(7),
        debits_posted: r.get(8),
        credits_posted: r.get(9),
        debits_pending: r.get(10),
        credits_pending: r.get(11),
    }
}

pub async fn get_account(db: &mut Db, code: &str) -> Result<Account> {
    let row = sqlx::query(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE code = $1"
    ))
    .bind(code)
    .fetch_optional(&mut *db)
    .await?
    .ok_or_else(|| LedgerError::UnknownAccount(code.to_owned()))?;
    Ok(account_from_row(&row))
}

/// Posted, pending and available in the account's normal direction.
pub fn figures(kind: AccountKind, dp: i64, cp: i64, dpend: i64, cpend: i64) -> BalanceFigures {
    if kind.debit_normal() {
        BalanceFigures {
            posted: dp - cp,
            pending: dpend - cpend,
            available: dp - cp - cpend,
        }
    } else {
        BalanceFigures {
            posted: cp - dp,
            pending: cpend - dpend,
            available: cp - dp - dpend,
        }
    }
}

pub async fn balance(db: &mut Db, code: &str) -> Result<Balance> {
    let a = get_account(db, code).await?;
    let f = figures(
        a.kind,
        a.debits_posted,
        a.credits_posted,
        a.debits_pending,
        a.credits_pending,
    );
    Ok(Balance {
        account: a.code,
        currency: a.currency,
        posted: f.posted,
        pending: f.pending,
        available: f.available,
        at: None,
    })
}

/// The posted balance as of an instant (effective time), from the postings.
pub async fn balance_at(db: &mut Db, code: &str, at: i64) -> Result<Balance> {
    let a = get_account(db, code).await?;
    let row = sqlx::query(&format!(
        "SELECT CAST(COALESCE(SUM(debit), 0) AS BIGINT), CAST(COALESCE(SUM(credit), 0) AS BIGINT) \
         FROM {} p WHERE pending = 0 AND effective_at <= $2",
        account_postings(backend_of(db), "= $1")
    ))
    .bind(a.id)
    .bind(at)
    .fetch_one(&mut *db)
    .await?;
    let f = figures(a.kind, row.get(0), row.get(1), 0, 0);
    Ok(Balance {
        account: a.code,
        currency: a.currency,
        posted: f.posted,
        pending: 0,
        available: f.posted,
        at: Some(at),
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryLine {
    pub entry_id: i64,
    pub effective_at: i64,
    pub debit: i64,
    pub credit: i64,
    /// Posted balance after this line, in the account's normal direction.
    pub running_balance: i64,
}

/// Posted lines of an account, oldest first, with the running balance.
pub async fn history(db: &mut Db, code: &str, limit: i64) -> Result<Vec<HistoryLine>> {
    let a = get_account(db, code).await?;
    let sign = if a.kind.debit_normal() { 1 } else { -1 };
    let rows = sqlx::query(&format!(
        "SELECT entry_id, effective_at, debit, credit, \
         CAST(SUM(debit - credit) OVER (ORDER BY effective_at, id) AS BIGINT) \
         FROM {} p WHERE pending = 0 \
         ORDER BY effective_at, id LIMIT $2",
        account_postings(backend_of(db), "= $1")
    ))
    .bind(a.id)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| HistoryLine {
            entry_id: r.get(0),
            effective_at: r.get(1),
            debit: r.get(2),
            credit: r.get(3),
            running_balance: sign * r.get::<i64, _>(4),
        })
        .collect())
}

/// Freeze (no new postings) or unfreeze an account.
pub async fn set_frozen(db: &mut Db, code: &str, frozen: bool, actor: &Actor) -> Result<Account> {
    let a = get_account(db, code).await?;
    if a.status == "closed" {
        return Err(LedgerError::AccountClosed(a.code));
    }
    sqlx::query("UPDATE ledger_accounts SET status = $1 WHERE id = $2")
        .bind(if frozen { "frozen" } else { "open" })
        .bind(a.id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        if frozen {
            "ledger.account_frozen"
        } else {
            "ledger.account_unfrozen"
        },
        Some(&format!("ledger_account:{code}")),
        json!({}),
    )
    .await?;
    get_account(db, code).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_directions() {
        // A wallet (liability) credited 1000, with a 300 hold debiting it.
        let f = figures(AccountKind::Liability, 0, 1000, 300, 0);
        assert_eq!(
            f,
            BalanceFigures {
                posted: 1000,
                pending: -300,
                available: 700
            }
        );
        // Cash (asset) debited 1000, with a 200 hold crediting it.
        let f = figures(AccountKind::Asset, 1000, 0, 0, 200);
        assert_eq!(
            f,
            BalanceFigures {
                posted: 1000,
                pending: -200,
                available: 800
            }
        );
    }

    #[test]
    fn flags_parse() {
        assert_eq!(
            parse_flags(&["debits_must_not_exceed_credits".into()]).unwrap(),
            1
        );
        assert!(parse_flags(&["nope".into()]).is_err());
        assert!(parse_flags(&[
            "debits_must_not_exceed_credits".into(),
            "credits_must_not_exceed_debits".into()
        ])
        .is_err());
    }
}

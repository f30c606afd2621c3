//! Recomputing the books from the journal, and the trial balance.

use crate::accounts::{
    AccountKind, FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS, FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS,
};
use crate::Result;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// Totals of one currency. Each account's totals fit in 64 bits, but their sum over many
/// accounts need not: these are 128-bit integers (JSON numbers of up to 39 digits).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CurrencyTotals {
    pub currency: String,
    pub debits: i128,
    pub credits: i128,
    pub balanced: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// True only when every check holds.
    pub ok: bool,
    pub accounts: i64,
    pub entries: i64,
    pub currencies: Vec<CurrencyTotals>,
    /// What does not hold, one line each.
    pub problems: Vec<String>,
}

/// Recompute every account's totals from its postings, check each entry balances per
/// currency, each currency nets to zero, no account breaks its flags, and (SQLite) every posting
/// is in its account's history exactly once.
pub async fn verify(db: &mut Db) -> Result<VerifyReport> {
    let mut problems = Vec::new();
    // The postings are summed per account in one pass (SQLite keeps no index of them by
    // account: see `merge`), then joined to the accounts.
    let rows = sqlx::query(
        "SELECT a.code, a.kind, a.flags, a.currency, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, \
         CAST(COALESCE(s.dp, 0) AS BIGINT), CAST(COALESCE(s.cp, 0) AS BIGINT), \
         CAST(COALESCE(s.dpend, 0) AS BIGINT), CAST(COALESCE(s.cpend, 0) AS BIGINT) \
         FROM ledger_accounts a \
         LEFT JOIN (SELECT p.account_id, \
             SUM(CASE WHEN p.pending = 0 THEN p.debit ELSE 0 END) AS dp, \
             SUM(CASE WHEN p.pending = 0 THEN p.credit ELSE 0 END) AS cp, \
             SUM(CASE WHEN p.pending = 1 AND e.status = 'pending' THEN p.debit ELSE 0 END) AS dpend, \
             SUM(CASE WHEN p.pending = 1 AND e.status = 'pending' THEN p.credit ELSE 0 END) AS cpend \
           FROM ledger_postings p LEFT JOIN ledger_entries e ON e.id = p.entry_id \
           GROUP BY p.account_id) s ON s.account_id = a.id \
         ORDER BY a.code",
    )
    .fetch_all(&mut *db)
    .await?;
    // Per currency, summed here in 128 bits: a SQL SUM over every account could pass 64 bits
    // (an error on both engines) even though each account's own sums cannot.
    let mut posted: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    for r in &rows {
        let code: String = r.get(0);
        let stored = [r.get::<i64, _>(4), r.get(5), r.get(6), r.get(7)];
        let recomputed = [r.get::<i64, _>(8), r.get(9), r.get(10), r.get(11)];
        let t = posted.entry(r.get::<String, _>(3)).or_default();
        t.0 += recomputed[0] as i128;
        t.1 += recomputed[1] as i128;
        if stored != recomputed {
            problems.push(format!(
                "{code}: stored totals {stored:?} but the journal gives {recomputed:?}"
            ));
        }
        let flags: i64 = r.get(2);
        let [dp, cp, dpend, cpend] = recomputed.map(|v| v as i128);
        if flags & FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS != 0 && dp + dpend > cp {
            problems.push(format!("{code}: debits exceed credits"));
        }
        if flags & FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS != 0 && cp + cpend > dp {
            problems.push(format!("{code}: credits exceed debits"));
        }
        if AccountKind::parse(&r.get::<String, _>(1)).is_err() {
            problems.push(format!("{code}: unknown kind"));
        }
    }
    let unbalanced = sqlx::query(
        "SELECT p.entry_id, a.currency FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id \
         GROUP BY p.entry_id, a.currency HAVING SUM(p.debit) <> SUM(p.credit) ORDER BY p.entry_id LIMIT 100",
    )
    .fetch_all(&mut *db)
    .await?;
    for r in unbalanced {
        problems.push(format!(
            "entry {} does not balance in {}",
            r.get::<i64, _>(0),
            r.get::<String, _>(1)
        ));
    }
    // PostgreSQL has no foreign key from postings to their entries (migration 0012) nor to
    // their accounts (0094): check both here.
    for (what, column, table) in [
        ("entry", "entry_id", "ledger_entries"),
        ("account", "account_id", "ledger_accounts"),
    ] {
        let missing = sqlx::query(&format!(
            "SELECT DISTINCT p.{column} FROM ledger_postings p \
             WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = p.{column}) \
             ORDER BY p.{column} LIMIT 100"
        ))
        .fetch_all(&mut *db)
        .await?;
        for r in missing {
            problems.push(format!(
                "postings name {what} {}, which does not exist",
                r.get::<i64, _>(0)
            ));
        }
    }
    let currencies: Vec<CurrencyTotals> = posted
        .into_iter()
        .map(|(currency, (debits, credits))| CurrencyTotals {
            currency,
            debits,
            credits,
            balanced: debits == credits,
        })
        .collect();
    for c in &currencies {
        if !c.balanced {
            problems.push(format!(
                "{}: debits {} ≠ credits {}",
                c.currency, c.debits, c.credits
            ));
        }
    }
    problems.extend(crate::merge::check_structure(db).await?);
    let entries: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_entries")
        .fetch_one(&mut *db)
        .await?
        .get(0);
    Ok(VerifyReport {
        ok: problems.is_empty(),
        accounts: rows.len() as i64,
        entries,
        currencies,
        problems,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialBalanceLine {
    pub account: String,
    pub kind: AccountKind,
    pub currency: String,
    /// Posted balance on the debit side (assets, expenses) or credit side (the rest).
    pub debit: i64,
    pub credit: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialBalance {
    /// Per currency, the debit and credit columns, which must be equal.
    pub currencies: Vec<CurrencyTotals>,
    pub accounts: Vec<TrialBalanceLine>,
}

/// Each account's posted balance in a debit or credit column, totalled per currency.
pub async fn trial_balance(db: &mut Db) -> Result<TrialBalance> {
    let rows = sqlx::query(
        "SELECT code, kind, currency, debits_posted, credits_posted FROM ledger_accounts ORDER BY currency, code",
    )
    .fetch_all(&mut *db)
    .await?;
    let mut accounts = Vec::with_capacity(rows.len());
    let mut totals: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    for r in rows {
        let kind = AccountKind::parse(&r.get::<String, _>(1))?;
        let currency: String = r.get(2);
        let (dp, cp): (i64, i64) = (r.get(3), r.get(4));
        // Both totals are non-negative, so their difference fits in 64 bits.
        let net = dp - cp;
        let (debit, credit) = if net >= 0 { (net, 0) } else { (0, -net) };
        let t = totals.entry(currency.clone()).or_default();
        t.0 += debit as i128;
        t.1 += credit as i128;
        accounts.push(TrialBalanceLine {
            account: r.get(0),
            kind,
            currency,
            debit,
            credit,
        });
    }
    Ok(TrialBalance {
        currencies: totals
            .into_iter()
            .map(|(currency, (debits, credits))| CurrencyTotals {
                currency,
                debits,
                credits,
                balanced: debits == credits,
            })
            .collect(),
        accounts,
    })
}

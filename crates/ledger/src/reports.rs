//! Reports computed from the postings: profit and loss for a period, balance sheet at an
//! instant, a creator's statement, and the journal exported as CSV or JSON. Every figure is
//! summed in 128 bits and refused as [`LedgerError::Overflow`] rather than wrapped.

use crate::accounts::AccountKind;
use crate::merge::account_postings;
use crate::templates::SALE_TEMPLATES;
use crate::{LedgerError, Result};
use fanz_store::{backend_of, sqlx, Db};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

fn to_i64(v: i128) -> Result<i64> {
    i64::try_from(v).map_err(|_| LedgerError::Overflow)
}

fn check_period(from: i64, to: i64) -> Result<()> {
    if from > to {
        return Err(LedgerError::Invalid(
            "a period's from must not be after its to".into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccountAmount {
    pub account: String,
    /// In the account's normal direction (revenue: credits − debits; expense: debits − credits).
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProfitAndLossCurrency {
    pub currency: String,
    pub revenue: Vec<AccountAmount>,
    pub expenses: Vec<AccountAmount>,
    /// Totals over accounts are 128-bit integers: each account fits in 64 bits, their sum
    /// need not.
    pub total_revenue: i128,
    pub total_expenses: i128,
    pub net_income: i128,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProfitAndLoss {
    /// Microseconds since the epoch, inclusive.
    pub from: i64,
    /// Microseconds since the epoch, exclusive.
    pub to: i64,
    pub currencies: Vec<ProfitAndLossCurrency>,
}

/// Posted debits and credits per account with effective time in `[from, to)`.
async fn movements(
    db: &mut Db,
    from: i64,
    to: i64,
) -> Result<Vec<(String, AccountKind, String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT a.code, a.kind, a.currency, CAST(SUM(p.debit) AS BIGINT), CAST(SUM(p.credit) AS BIGINT) \
         FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE p.pending = 0 AND p.effective_at >= $1 AND p.effective_at < $2 \
         GROUP BY a.code, a.kind, a.currency ORDER BY a.currency, a.code",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.get(0),
                AccountKind::parse(&r.get::<String, _>(1))?,
                r.get(2),
                r.get(3),
                r.get(4),
            ))
        })
        .collect()
}

/// Revenue and expenses per currency for `[from, to)`.
pub async fn profit_and_loss(db: &mut Db, from: i64, to: i64) -> Result<ProfitAndLoss> {
    check_period(from, to)?;
    let mut by_currency: BTreeMap<String, ProfitAndLossCurrency> = BTreeMap::new();
    let mut sums: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    for (code, kind, currency, d, c) in movements(db, from, to).await? {
        let (d, c) = (d as i128, c as i128);
        let line = by_currency
            .entry(currency.clone())
            .or_insert_with(|| ProfitAndLossCurrency {
                currency: currency.clone(),
                revenue: vec![],
                expenses: vec![],
                total_revenue: 0,
                total_expenses: 0,
                net_income: 0,
            });
        let s = sums.entry(currency).or_default();
        match kind {
            AccountKind::Revenue => {
                s.0 += c - d;
                line.revenue.push(AccountAmount {
                    account: code,
                    amount: to_i64(c - d)?,
                });
            }
            AccountKind::Expense => {
                s.1 += d - c;
                line.expenses.push(AccountAmount {
                    account: code,
                    amount: to_i64(d - c)?,
                });
            }
            _ => {}
        }
    }
    let mut currencies = Vec::new();
    for (currency, mut line) in by_currency {
        let (rev, exp) = sums[&currency];
        if line.revenue.is_empty() && line.expenses.is_empty() {
            continue;
        }
        line.total_revenue = rev;
        line.total_expenses = exp;
        line.net_income = rev - exp;
        currencies.push(line);
    }
    Ok(ProfitAndLoss {
        from,
        to,
        currencies,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceSheetCurrency {
    pub currency: String,
    pub assets: Vec<AccountAmount>,
    pub liabilities: Vec<AccountAmount>,
    pub equity: Vec<AccountAmount>,
    /// Totals over accounts are 128-bit integers: each account fits in 64 bits, their sum
    /// need not.
    pub total_assets: i128,
    pub total_liabilities: i128,
    pub total_equity: i128,
    /// Revenue minus expenses from the beginning up to the instant (not yet closed to equity).
    pub retained_earnings: i128,
    /// Assets = liabilities + equity + retained earnings.
    pub balanced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceSheet {
    /// Postings effective at or before this instant (microseconds) are counted.
    pub at: i64,
    pub currencies: Vec<BalanceSheetCurrency>,
}

/// Assets, liabilities and equity per currency as of `at`.
pub async fn balance_sheet(db: &mut Db, at: i64) -> Result<BalanceSheet> {
    let mut out: BTreeMap<String, (BalanceSheetCurrency, [i128; 4])> = BTreeMap::new();
    for (code, kind, currency, d, c) in movements(db, i64::MIN, at.saturating_add(1)).await? {
        let (d, c) = (d as i128, c as i128);
        let (sheet, sums) = out.entry(currency.clone()).or_insert_with(|| {
            (
                BalanceSheetCurrency {
                    currency,
                    assets: vec![],
                    liabilities: vec![],
                    equity: vec![],
                    total_assets: 0,
                    total_liabilities: 0,
                    total_equity: 0,
                    retained_earnings: 0,
                    balanced: false,
                },
                [0; 4],
            )
        });
        let normal = if kind.debit_normal() { d - c } else { c - d };
        let line = AccountAmount {
            account: code,
            amount: to_i64(normal)?,
        };
        match kind {
            AccountKind::Asset => {
                sums[0] += normal;
                sheet.assets.push(line);
            }
            AccountKind::Liability => {
                sums[1] += normal;
                sheet.liabilities.push(line);
            }
            AccountKind::Equity => {
                sums[2] += normal;
                sheet.equity.push(line);
            }
            AccountKind::Revenue => sums[3] += normal,
            AccountKind::Expense => sums[3] -= normal,
        }
    }
    let mut currencies = Vec::new();
    for (_, (mut sheet, [a, l, e, r])) in out {
        sheet.total_assets = a;
        sheet.total_liabilities = l;
        sheet.total_equity = e;
        sheet.retained_earnings = r;
        sheet.balanced = a == l + e + r;
        currencies.push(sheet);
    }
    Ok(BalanceSheet { at, currencies })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SourceAmount {
    /// The template without its version: `subscription_sale`, `tip`, …
    pub source: String,
    pub amount: i64,
}

/// What a creator earned and what was taken or paid out, for a period and currency. All
/// amounts are positive; `closing_balance = opening_balance + total_earnings − refunds −
/// chargebacks − reserve_held + reserve_released − fees_charged − payouts + payouts_returned +
/// adjustments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreatorStatement {
    pub creator_id: i64,
    pub currency: String,
    pub from: i64,
    pub to: i64,
    /// Creator payable before `from`.
    pub opening_balance: i64,
    /// Creator payable at the end of the period (before `to`).
    pub closing_balance: i64,
    /// The creator's share of sales, by source.
    pub earnings: Vec<SourceAmount>,
    pub total_earnings: i64,
    /// The platform's share of the same sales (information: never in the creator's balance).
    pub platform_fees: i64,
    /// Processor fees on the same sales, borne by the platform (information).
    pub processor_fees: i64,
    pub refunds: i64,
    pub chargebacks: i64,
    /// Moved from payable to the rolling reserve.
    pub reserve_held: i64,
    /// Moved back from the reserve.
    pub reserve_released: i64,
    pub reserve_opening: i64,
    pub reserve_closing: i64,
    /// `platform_fee` entries charged to the creator.
    pub fees_charged: i64,
    pub payouts: i64,
    /// Failed payouts returned to the balance.
    pub payouts_returned: i64,
    /// Reversals and manual entries, net (positive = credited to the creator).
    pub adjustments: i64,
}

/// The creator's statement for `[from, to)` in one currency, from the creator payable and
/// reserve accounts of the chart.
pub async fn creator_statement(
    db: &mut Db,
    creator_id: i64,
    currency: &str,
    from: i64,
    to: i64,
) -> Result<CreatorStatement> {
    check_period(from, to)?;
    let payable = format!("creator_payable:{creator_id}:{currency}");
    let reserve = format!("reserve:{creator_id}:{currency}");
    let opening = net_credit_before(db, &payable, from).await?;
    let closing = net_credit_before(db, &payable, to).await?;
    let reserve_opening = net_credit_before(db, &reserve, from).await?;
    let reserve_closing = net_credit_before(db, &reserve, to).await?;
    // Movements of the creator's two accounts by entry kind and template.
    let backend = backend_of(db);
    let rows = sqlx::query(&format!(
        "SELECT a.code, e.kind, COALESCE(e.template, ''), CAST(SUM(p.debit) AS BIGINT), CAST(SUM(p.credit) AS BIGINT) \
         FROM {} p JOIN ledger_accounts a ON a.id = p.account_id \
         JOIN ledger_entries e ON e.id = p.entry_id \
         WHERE p.pending = 0 AND p.effective_at >= $3 AND p.effective_at < $4 \
         GROUP BY a.code, e.kind, COALESCE(e.template, '')",
        account_postings(backend, "IN (SELECT id FROM ledger_accounts WHERE code IN ($1, $2))")
    ))
    .bind(&payable)
    .bind(&reserve)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    let mut earnings: BTreeMap<String, i128> = BTreeMap::new();
    let mut f = [0i128; 9]; // refunds, chargebacks, held, released, fees, payouts, returned, adjustments, reserve adj
    for r in &rows {
        let code: String = r.get(0);
        let kind: String = r.get(1);
        let template: String = r.get(2);
        let (d, c): (i64, i64) = (r.get(3), r.get(4));
        let (d, c) = (d as i128, c as i128);
        let name = template.split('@').next().unwrap_or("").to_owned();
        let on_payable = code == payable;
        if kind == "reversal" || name.is_empty() {
            if on_payable {
                f[7] += c - d;
            } else {
                f[8] += c - d;
            }
            continue;
        }
        if !on_payable {
            // The reserve side mirrors the payable side of the same entries.
            continue;
        }
        match name.as_str() {
            n if SALE_TEMPLATES.contains(&n) => {
                *earnings.entry(name.clone()).or_default() += c;
                f[2] += d;
            }
            "refund" => f[0] += d - c,
            "chargeback" => f[1] += d - c,
            "reserve_hold" => f[2] += d - c,
            "reserve_release" => f[3] += c - d,
            "platform_fee" => f[4] += d - c,
            "payout_request" => f[5] += d - c,
            "payout_fail" => f[6] += c - d,
            _ => f[7] += c - d,
        }
    }
    // The platform's and processors' parts of the creator's sales.
    let mut sale_list = String::new();
    for (i, t) in SALE_TEMPLATES.iter().enumerate() {
        if i > 0 {
            sale_list.push(',');
        }
        sale_list.push_str(&format!("'{t}@1'"));
    }
    let fees = sqlx::query(&format!(
        "SELECT a.code, CAST(SUM(p.debit) AS BIGINT), CAST(SUM(p.credit) AS BIGINT) \
         FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id \
         JOIN ledger_entries e ON e.id = p.entry_id \
         WHERE a.code IN ($1, $2) AND e.kind = 'posted' AND e.template IN ({sale_list}) \
         AND p.effective_at >= $3 AND p.effective_at < $4 \
         AND p.entry_id IN (SELECT p2.entry_id FROM {} p2) \
         GROUP BY a.code",
        account_postings(
            backend,
            "= (SELECT id FROM ledger_accounts WHERE code = $5)"
        )
    ))
    .bind(format!("platform_revenue:{currency}"))
    .bind(format!("processor_fees:{currency}"))
    .bind(from)
    .bind(to)
    .bind(&payable)
    .fetch_all(&mut *db)
    .await?;
    let (mut platform_fees, mut processor_fees) = (0i128, 0i128);
    for r in &fees {
        let code: String = r.get(0);
        let (d, c): (i64, i64) = (r.get(1), r.get(2));
        if code.starts_with("platform_revenue:") {
            platform_fees += c as i128 - d as i128;
        } else {
            processor_fees += d as i128 - c as i128;
        }
    }
    let total_earnings: i128 = earnings.values().sum();
    Ok(CreatorStatement {
        creator_id,
        currency: currency.to_owned(),
        from,
        to,
        opening_balance: opening,
        closing_balance: closing,
        earnings: earnings
            .into_iter()
            .map(|(source, amount)| {
                Ok(SourceAmount {
                    source,
                    amount: to_i64(amount)?,
                })
            })
            .collect::<Result<_>>()?,
        total_earnings: to_i64(total_earnings)?,
        platform_fees: to_i64(platform_fees)?,
        processor_fees: to_i64(processor_fees)?,
        refunds: to_i64(f[0])?,
        chargebacks: to_i64(f[1])?,
        reserve_held: to_i64(f[2])?,
        reserve_released: to_i64(f[3])?,
        reserve_opening,
        reserve_closing,
        fees_charged: to_i64(f[4])?,
        payouts: to_i64(f[5])?,
        payouts_returned: to_i64(f[6])?,
        adjustments: to_i64(f[7])?,
    })
}

/// Credits minus debits of an account's posted lines effective before `before` (0 when the
/// account does not exist: a creator who never earned has a zero statement).
async fn net_credit_before(db: &mut Db, code: &str, before: i64) -> Result<i64> {
    let r = sqlx::query(&format!(
        "SELECT CAST(COALESCE(SUM(p.credit), 0) AS BIGINT), CAST(COALESCE(SUM(p.debit), 0) AS BIGINT) \
         FROM {} p WHERE p.pending = 0 AND p.effective_at < $2",
        account_postings(
            backend_of(db),
            "= (SELECT id FROM ledger_accounts WHERE code = $1)"
        )
    ))
    .bind(code)
    .bind(before)
    .fetch_one(&mut *db)
    .await?;
    to_i64(r.get::<i64, _>(0) as i128 - r.get::<i64, _>(1) as i128)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Json,
}

/// One posting of the journal, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JournalLine {
    pub entry_id: i64,
    pub idempotency_key: String,
    pub kind: String,
    pub status: String,
    pub template: Option<String>,
    pub causation: Option<String>,
    pub related_id: Option<i64>,
    pub effective_at: i64,
    pub account: String,
    pub currency: String,
    pub debit: i64,
    pub credit: i64,
    pub pending: bool,
}

/// Every posting with effective time in `[from, to)`, in entry order.
pub async fn journal_lines(db: &mut Db, from: i64, to: i64) -> Result<Vec<JournalLine>> {
    check_period(from, to)?;
    let rows = sqlx::query(
        "SELECT e.id, e.idempotency_key, e.kind, e.status, e.template, e.causation, e.related_id, \
         p.effective_at, a.code, a.currency, p.debit, p.credit, p.pending \
         FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
         JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE p.effective_at >= $1 AND p.effective_at < $2 ORDER BY e.id, p.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| JournalLine {
            entry_id: r.get(0),
            idempotency_key: r.get(1),
            kind: r.get(2),
            status: r.get(3),
            template: r.get(4),
            causation: r.get(5),
            related_id: r.get(6),
            effective_at: r.get(7),
            account: r.get(8),
            currency: r.get(9),
            debit: r.get(10),
            credit: r.get(11),
            pending: r.get::<i64, _>(12) != 0,
        })
        .collect())
}

/// The journal for `[from, to)` as CSV (one line per posting, with a header) or JSON (an array
/// of [`JournalLine`]).
pub async fn export_journal(
    db: &mut Db,
    from: i64,
    to: i64,
    format: ExportFormat,
) -> Result<String> {
    let lines = journal_lines(db, from, to).await?;
    match format {
        ExportFormat::Json => serde_json::to_string(&lines)
            .map_err(|e| LedgerError::Invalid(format!("cannot encode the export: {e}"))),
        ExportFormat::Csv => {
            let mut out = String::from(
                "entry_id,idempotency_key,kind,status,template,causation,related_id,effective_at,account,currency,debit,credit,pending\n",
            );
            for l in &lines {
                let fields = [
                    l.entry_id.to_string(),
                    text_cell(&l.idempotency_key),
                    l.kind.clone(),
                    l.status.clone(),
                    text_cell(l.template.as_deref().unwrap_or("")),
                    text_cell(l.causation.as_deref().unwrap_or("")),
                    l.related_id.map(|v| v.to_string()).unwrap_or_default(),
                    l.effective_at.to_string(),
                    text_cell(&l.account),
                    l.currency.clone(),
                    l.debit.to_string(),
                    l.credit.to_string(),
                    (l.pending as u8).to_string(),
                ];
                push_csv_row(&mut out, &fields);
            }
            Ok(out)
        }
    }
}

/// The trial balance as CSV: account, kind, currency, debit, credit.
pub async fn trial_balance_csv(db: &mut Db) -> Result<String> {
    let tb = crate::trial_balance(db).await?;
    let mut out = String::from("account,kind,currency,debit,credit\n");
    for l in &tb.accounts {
        push_csv_row(
            &mut out,
            &[
                text_cell(&l.account),
                l.kind.as_str().to_owned(),
                l.currency.clone(),
                l.debit.to_string(),
                l.credit.to_string(),
            ],
        );
    }
    Ok(out)
}

/// Caller-supplied text that a spreadsheet would run as a formula is prefixed with `'`.
fn text_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

pub(crate) fn push_csv_row(out: &mut String, fields: &[String]) {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(512)
        .from_writer(Vec::new());
    w.write_record(fields).expect("writing CSV to memory");
    let bytes = w.into_inner().expect("writing CSV to memory");
    out.push_str(std::str::from_utf8(&bytes).expect("UTF-8 in, UTF-8 out"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        let mut out = String::new();
        push_csv_row(
            &mut out,
            &["a,b".into(), "say \"hi\"".into(), text_cell("=SUM(A1)")],
        );
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",'=SUM(A1)\n");
    }
}

//! Reconciliation: a processor's settlement file (CSV) is imported and matched against the
//! journal by reference: a line matches the entries whose `causation` is its `reference` when
//! their net movement of the processor's cash account equals the line's `amount − fee`.
//! What remains unmatched on either side is reported; nothing in the journal is changed.
//!
//! The file: a header row naming the columns (any order, case-insensitive): `reference`,
//! `amount`, `currency` (required), `fee`, `date` (optional). Amounts are decimals in major
//! units (`12.34`, `-5.00`), converted exactly to minor units; `date` is `YYYY-MM-DD` or
//! RFC 3339.

use crate::journal::placeholders;
use crate::merge::account_postings;
use crate::{asset_exponent, LedgerError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::{now_micros, DAY};
use fanz_store::{backend_of, sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// The largest settlement file accepted, in lines.
pub const MAX_SETTLEMENT_LINES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettlementLine {
    /// 1-based line number in the file, header excluded.
    pub line: i64,
    pub reference: String,
    pub currency: String,
    /// Signed, minor units: positive = money in (sale), negative = money out (refund).
    pub amount: i64,
    /// Minor units the processor kept.
    pub fee: i64,
    /// Microseconds since the epoch, when the file gives a date.
    pub occurred_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineMismatch {
    pub line: SettlementLine,
    /// Entries with the line's reference.
    pub entry_ids: Vec<i64>,
    /// Their net movement of the processor's cash account (debits − credits).
    pub journal_net: i64,
    /// `amount − fee` from the file.
    pub file_net: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnmatchedEntry {
    pub entry_id: i64,
    pub causation: Option<String>,
    pub template: Option<String>,
    pub currency: String,
    /// Net movement of the processor's cash account (debits − credits).
    pub net: i64,
    pub effective_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReconciliationReport {
    pub import_id: i64,
    pub processor: String,
    /// True when this very file had been imported before (the earlier import is reused).
    pub already_imported: bool,
    pub lines: i64,
    pub matched: i64,
    /// Lines with no entry of their reference.
    pub unmatched_lines: Vec<SettlementLine>,
    /// Lines whose entries move a different amount.
    pub mismatched: Vec<LineMismatch>,
    /// Entries moving the processor's cash in the file's period that no line names.
    pub unmatched_entries: Vec<UnmatchedEntry>,
    /// Period compared on the journal side, `[from, to)` in microseconds (`null` = all time).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// True when both sides match completely.
    pub ok: bool,
}

/// Split CSV text into records (RFC 4180: quoted fields, doubled quotes, CRLF or LF; blank
/// lines skipped). A quote left open (an odd number of `"`) means a cut-off file: refused.
pub(crate) fn parse_csv(text: &str) -> Result<Vec<Vec<String>>> {
    if text.matches('"').count() % 2 == 1 {
        return Err(LedgerError::Invalid(
            "settlement file: unterminated quote".into(),
        ));
    }
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| {
            r.map(|rec| rec.iter().map(str::to_owned).collect())
                .map_err(|e| LedgerError::Invalid(format!("settlement file: {e}")))
        })
        .collect()
}

/// `12.34` in a currency of exponent 2 → 1234, exactly; more decimals than the currency has
/// are refused rather than rounded.
pub fn parse_decimal(s: &str, exponent: u32) -> Result<i64> {
    let bad = || LedgerError::InvalidAmount(format!("{s:?} is not a decimal amount"));
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > exponent as usize
    {
        return Err(bad());
    }
    let mut v: i64 = 0;
    let padded = format!("{frac:0<width$}", width = exponent as usize);
    for c in int.chars().chain(padded.chars()) {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(c as i64 - '0' as i64))
            .ok_or(LedgerError::Overflow)?;
    }
    Ok(if neg { -v } else { v })
}

fn parse_date(s: &str) -> Result<i64> {
    crate::parse_instant(s)
        .map_err(|_| LedgerError::Invalid(format!("settlement file: bad date {:?}", s.trim())))
}

/// Parse a settlement file into lines (nothing is written).
pub fn parse_settlement(text: &str) -> Result<Vec<SettlementLine>> {
    let rows = parse_csv(text)?;
    let Some((header, body)) = rows.split_first() else {
        return Err(LedgerError::Invalid("settlement file is empty".into()));
    };
    if body.len() > MAX_SETTLEMENT_LINES {
        return Err(LedgerError::Invalid(format!(
            "settlement file has more than {MAX_SETTLEMENT_LINES} lines"
        )));
    }
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(reference), Some(amount), Some(currency)) =
        (col("reference"), col("amount"), col("currency"))
    else {
        return Err(LedgerError::Invalid(
            "settlement file needs the columns reference, amount and currency".into(),
        ));
    };
    let (fee, date) = (col("fee"), col("date"));
    let mut out = Vec::with_capacity(body.len());
    for (i, row) in body.iter().enumerate() {
        let n = i as i64 + 1;
        let cell = |c: usize| row.get(c).map(|s| s.trim()).unwrap_or("");
        let at = |e: LedgerError| LedgerError::Invalid(format!("settlement line {n}: {e}"));
        let cur = cell(currency).to_ascii_uppercase();
        let exp = asset_exponent(&cur)
            .ok_or_else(|| at(LedgerError::Invalid(format!("unknown currency {cur:?}"))))?;
        let r = cell(reference);
        if r.is_empty() || r.len() > 200 {
            return Err(at(LedgerError::Invalid(
                "reference must be 1–200 characters".into(),
            )));
        }
        let fee_v = match fee.map(cell).filter(|s| !s.is_empty()) {
            Some(s) => parse_decimal(s, exp).map_err(at)?,
            None => 0,
        };
        if fee_v < 0 {
            return Err(at(LedgerError::InvalidAmount(
                "a fee is never negative".into(),
            )));
        }
        out.push(SettlementLine {
            line: n,
            reference: r.to_owned(),
            currency: cur,
            amount: parse_decimal(cell(amount), exp).map_err(at)?,
            fee: fee_v,
            occurred_at: match date.map(cell).filter(|s| !s.is_empty()) {
                Some(s) => Some(parse_date(s).map_err(at)?),
                None => None,
            },
        });
    }
    Ok(out)
}

fn validate_processor(p: &str) -> Result<()> {
    if p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(LedgerError::Invalid(
            "processor must be letters, digits and _".into(),
        ));
    }
    Ok(())
}

/// Import `processor`'s settlement file and reconcile it. Importing the same file again reuses
/// the first import (and reconciles again against the journal as it is now). Call in a
/// transaction; the import is audited.
pub async fn import_settlement(
    db: &mut Db,
    processor: &str,
    csv: &str,
    actor: &Actor,
) -> Result<ReconciliationReport> {
    validate_processor(processor)?;
    let lines = parse_settlement(csv)?;
    let digest = hex::encode(Sha256::digest(csv.as_bytes()));
    let existing = sqlx::query(
        "SELECT id FROM ledger_settlement_imports WHERE processor = $1 AND file_sha256 = $2",
    )
    .bind(processor)
    .bind(&digest)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(r) = existing {
        let mut report = reconcile(db, r.get(0)).await?;
        report.already_imported = true;
        return Ok(report);
    }
    let id: i64 = sqlx::query(
        "INSERT INTO ledger_settlement_imports (processor, file_sha256, lines, imported_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(processor)
    .bind(&digest)
    .bind(lines.len() as i64)
    .bind(now_micros())
    .fetch_one(&mut *db)
    .await?
    .get(0);
    for chunk in lines.chunks(500) {
        let sql = format!(
            "INSERT INTO ledger_settlement_lines (import_id, line_no, reference, currency, amount, fee, occurred_at) VALUES {}",
            placeholders(backend_of(db), chunk.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for l in chunk {
            q = q
                .bind(id)
                .bind(l.line)
                .bind(&l.reference)
                .bind(&l.currency)
                .bind(l.amount)
                .bind(l.fee)
                .bind(l.occurred_at);
        }
        q.execute(&mut *db).await?;
    }
    let report = reconcile(db, id).await?;
    record(
        db,
        actor,
        "ledger.settlement_imported",
        Some(&format!("ledger_settlement:{id}")),
        json!({"processor": processor, "sha256": digest, "lines": report.lines,
               "matched": report.matched, "unmatched_lines": report.unmatched_lines.len(),
               "mismatched": report.mismatched.len(), "unmatched_entries": report.unmatched_entries.len()}),
    )
    .await?;
    Ok(report)
}

/// Match an imported settlement file against the journal as it is now.
pub async fn reconcile(db: &mut Db, import_id: i64) -> Result<ReconciliationReport> {
    let head = sqlx::query("SELECT processor FROM ledger_settlement_imports WHERE id = $1")
        .bind(import_id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(LedgerError::SettlementNotFound(import_id))?;
    let processor: String = head.get(0);
    let lines: Vec<SettlementLine> = sqlx::query(
        "SELECT line_no, reference, currency, amount, fee, occurred_at FROM ledger_settlement_lines \
         WHERE import_id = $1 ORDER BY line_no",
    )
    .bind(import_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| SettlementLine {
        line: r.get(0),
        reference: r.get(1),
        currency: r.get(2),
        amount: r.get(3),
        fee: r.get(4),
        occurred_at: r.get(5),
    })
    .collect();
    let cash_prefix = format!("cash:{processor}:");
    // Net cash movement per entry of this processor's cash accounts, with the entry's reference.
    let rows = sqlx::query(&format!(
        "SELECT e.id, e.causation, e.template, a.code, a.currency, e.effective_at, \
         CAST(SUM(p.debit) AS BIGINT), CAST(SUM(p.credit) AS BIGINT) \
         FROM {} p JOIN ledger_accounts a ON a.id = p.account_id \
         JOIN ledger_entries e ON e.id = p.entry_id \
         WHERE p.pending = 0 \
         GROUP BY e.id, e.causation, e.template, a.code, a.currency, e.effective_at ORDER BY e.id",
        account_postings(
            backend_of(db),
            "IN (SELECT id FROM ledger_accounts WHERE code LIKE $1)"
        )
    ))
    .bind(format!("{cash_prefix}%"))
    .fetch_all(&mut *db)
    .await?;
    struct Moved {
        id: i64,
        causation: Option<String>,
        template: Option<String>,
        currency: String,
        at: i64,
        net: i128,
    }
    let mut moved: Vec<Moved> = Vec::new();
    for r in &rows {
        let code: String = r.get(3);
        // LIKE treats `_` as a wildcard; keep only this processor's accounts exactly.
        if !code.starts_with(&cash_prefix) {
            continue;
        }
        let (d, c): (i64, i64) = (r.get(6), r.get(7));
        moved.push(Moved {
            id: r.get(0),
            causation: r.get(1),
            template: r.get(2),
            currency: r.get(4),
            at: r.get(5),
            net: d as i128 - c as i128,
        });
    }
    let mut by_ref: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, m) in moved.iter().enumerate() {
        if let Some(c) = &m.causation {
            by_ref
                .entry((c.as_str(), m.currency.as_str()))
                .or_default()
                .push(i);
        }
    }
    // Lines of the same reference and currency are compared together (a sale and its fee may
    // arrive as two lines).
    let mut groups: BTreeMap<(String, String), Vec<&SettlementLine>> = BTreeMap::new();
    for l in &lines {
        groups
            .entry((l.reference.clone(), l.currency.clone()))
            .or_default()
            .push(l);
    }
    let mut used = vec![false; moved.len()];
    let (mut matched, mut unmatched_lines, mut mismatched) = (0i64, Vec::new(), Vec::new());
    for ((reference, currency), group) in &groups {
        let file_net: i128 = group.iter().map(|l| l.amount as i128 - l.fee as i128).sum();
        match by_ref.get(&(reference.as_str(), currency.as_str())) {
            None => unmatched_lines.extend(group.iter().map(|l| (*l).clone())),
            Some(idx) => {
                let journal_net: i128 = idx.iter().map(|&i| moved[i].net).sum();
                for &i in idx {
                    used[i] = true;
                }
                if journal_net == file_net {
                    matched += group.len() as i64;
                } else {
                    for l in group {
                        mismatched.push(LineMismatch {
                            line: (*l).clone(),
                            entry_ids: idx.iter().map(|&i| moved[i].id).collect(),
                            journal_net: journal_net.clamp(i64::MIN as i128, i64::MAX as i128)
                                as i64,
                            file_net: file_net.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
                        });
                    }
                }
            }
        }
    }
    // The journal side is compared over the file's dates (whole days), or all time without.
    let dates: Vec<i64> = lines.iter().filter_map(|l| l.occurred_at).collect();
    let (from, to) = match (dates.iter().min(), dates.iter().max()) {
        (Some(&a), Some(&b)) => (
            Some(a - a.rem_euclid(DAY)),
            Some(b - b.rem_euclid(DAY) + DAY),
        ),
        _ => (None, None),
    };
    let currencies: Vec<&str> = lines.iter().map(|l| l.currency.as_str()).collect();
    let unmatched_entries: Vec<UnmatchedEntry> = moved
        .iter()
        .zip(&used)
        .filter(|(m, used)| {
            !**used
                && m.net != 0
                && currencies.contains(&m.currency.as_str())
                && from.is_none_or(|f| m.at >= f)
                && to.is_none_or(|t| m.at < t)
        })
        .map(|(m, _)| UnmatchedEntry {
            entry_id: m.id,
            causation: m.causation.clone(),
            template: m.template.clone(),
            currency: m.currency.clone(),
            net: m.net.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            effective_at: m.at,
        })
        .collect();
    let ok = unmatched_lines.is_empty() && mismatched.is_empty() && unmatched_entries.is_empty();
    Ok(ReconciliationReport {
        import_id,
        processor,
        already_imported: false,
        lines: lines.len() as i64,
        matched,
        unmatched_lines,
        mismatched,
        unmatched_entries,
        from,
        to,
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("12.34", 2).unwrap(), 1234);
        assert_eq!(parse_decimal("-5", 2).unwrap(), -500);
        assert_eq!(parse_decimal("0.5", 2).unwrap(), 50);
        assert_eq!(parse_decimal(".5", 2).unwrap(), 50);
        assert_eq!(parse_decimal("100", 0).unwrap(), 100);
        assert_eq!(parse_decimal("0.00000001", 8).unwrap(), 1);
        assert!(parse_decimal("1.234", 2).is_err());
        assert!(parse_decimal("1e3", 2).is_err());
        assert!(parse_decimal("", 2).is_err());
        assert!(parse_decimal(".", 2).is_err());
        assert!(parse_decimal("99999999999999999999", 2).is_err());
    }

    #[test]
    fn csv_parsing() {
        let rows = parse_csv("a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\n\n3,4,5").unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a", "b", "c"],
                vec!["x,1", "say \"hi\"", ""],
                vec!["3", "4", "5"]
            ]
        );
        assert!(parse_csv("\"open").is_err());
    }

    #[test]
    fn settlement_lines() {
        let lines = parse_settlement(
            "Reference,Amount,Fee,Currency,Date\ntx1,12.00,1.20,usd,2026-01-02\ntx2,-3.5,,EUR,\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].amount, lines[0].fee), (1200, 120));
        assert_eq!(lines[0].currency, "USD");
        assert_eq!(lines[0].occurred_at, Some(1_767_312_000_000_000));
        assert_eq!(
            (lines[1].amount, lines[1].fee, lines[1].occurred_at),
            (-350, 0, None)
        );
        assert!(parse_settlement("reference,amount\nx,1").is_err());
        assert!(parse_settlement("reference,amount,currency\nx,1,XXX").is_err());
        assert!(parse_settlement("reference,amount,currency,fee\nx,1,USD,-1").is_err());
    }
}

//! FanzFinance ledger: a double-entry journal in integer minor units.
//!
//! Owns `ledger_accounts`, `ledger_entries`, `ledger_postings` and `ledger_revenue_shares`.
//! Every money movement is one entry of two or more postings whose debits equal credits per
//! currency, written atomically with an idempotency key. Entries are never changed: a
//! correction is a reversing entry linked to the original; a hold (pending entry) is settled
//! or released by a later entry that names it. Account totals are kept in the account row in
//! the same transaction as the postings and can always be recomputed ([`verify`]).
//!
//! This crate never uses floating point for money, never deletes or edits a posting, and never
//! writes part of an entry: bad input is refused before anything is written.

mod accounts;
mod assets;
mod batch;
mod bench;
mod journal;
pub mod merge;
mod reconcile;
mod reports;
pub mod templates;
mod verify;

pub use accounts::{
    balance, balance_at, create_account, ensure_account, get_account, history, set_frozen, Account,
    AccountKind, Balance, HistoryLine, NewAccount, FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS,
    FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS,
};
pub use assets::{asset_exponent, ASSETS};
pub use batch::{post_batch, post_batch_as};
pub use bench::{
    bench, process_write_bytes, store_bytes, sync_probe, BenchOptions, BenchReport, Progress,
    ReadTiming, Skew, SliceReport, SyncProbe,
};
pub use journal::{
    check_effective_at, expire_holds, fresh_plans, get_entry, post_entry, post_entry_as,
    post_pending, post_pending_as, reverse_entry, void_pending, void_pending_as,
    write_path_lookups, BatchMode, BatchResult, Direction, Entry, EntryInput, EntryOutcome,
    PostingInput, PostingView, MAX_AMOUNT,
};
pub use reconcile::{
    import_settlement, parse_decimal, parse_settlement, reconcile, LineMismatch,
    ReconciliationReport, SettlementLine, UnmatchedEntry, MAX_SETTLEMENT_LINES,
};
pub use reports::{
    balance_sheet, creator_statement, export_journal, journal_lines, profit_and_loss,
    trial_balance_csv, AccountAmount, BalanceSheet, BalanceSheetCurrency, CreatorStatement,
    ExportFormat, JournalLine, ProfitAndLoss, ProfitAndLossCurrency, SourceAmount,
};
pub use verify::{
    trial_balance, verify, CurrencyTotals, TrialBalance, TrialBalanceLine, VerifyReport,
};

use fanz_store::sqlx;

/// Housekeeping, run by the server every few seconds ([`ReleaseDue`]) and by `fanz ledger expire-holds`:
/// release holds whose time has passed and rolling reserves that are due, in the caller's
/// transaction. Returns how many of each.
pub async fn release_due(
    db: &mut fanz_store::Db,
    now: i64,
    actor: &fanz_audit::Actor,
) -> Result<(usize, usize)> {
    let holds = expire_holds(db, now).await?;
    let reserves = templates::release_due_reserves(db, now, actor).await?;
    Ok((holds, reserves))
}

/// The housekeeping job: [`release_due`] every 5 s on one node at a time (queue
/// `maintenance`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ReleaseDue {}

impl fanz_jobs::Job for ReleaseDue {
    const KIND: &'static str = "ledger.release_due";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i64 = 3;
}

/// Register the ledger's jobs: the recurring [`ReleaseDue`] and [`merge::MergePostings`].
pub fn register_jobs(registry: &mut fanz_jobs::Registry) {
    registry.register(|ctx: fanz_jobs::JobContext, _: ReleaseDue| async move {
        let mut tx = ctx.begin().await?;
        let (holds, reserves) = release_due(
            &mut tx,
            fanz_core::clock::now_micros(),
            &fanz_audit::Actor::system(),
        )
        .await?;
        tx.complete().await?;
        if holds + reserves > 0 {
            tracing::info!(holds, reserves, "ledger holds and reserves released");
        }
        Ok(())
    });
    registry.every(std::time::Duration::from_secs(5), ReleaseDue {});
    merge::register_merge(registry, merge::MergeConfig::default());
}

/// An instant as the API and CLI accept it: microseconds since the epoch (`1732406400000000`),
/// a date (`2026-11-24`, midnight UTC) or an RFC 3339 time (`2026-11-24T10:00:00Z`).
pub fn parse_instant(s: &str) -> Result<i64> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(micros) = s.parse::<i64>() {
        return Ok(micros);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1000)
            .map_err(|_| LedgerError::Invalid(format!("{s:?} is out of range")));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1_000_000)
        .map_err(|_| {
            LedgerError::Invalid(format!(
                "{s:?} is not an instant: give microseconds since the epoch, YYYY-MM-DD or RFC 3339"
            ))
        })
}

/// A report period `[from, to)` as the API and CLI accept it: each end an instant
/// ([`parse_instant`]); by default from the beginning of time to now, inclusive.
pub fn parse_period(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64)> {
    let from = from.map(parse_instant).transpose()?.unwrap_or(0);
    let to = match to {
        Some(t) => parse_instant(t)?,
        None => fanz_core::clock::now_micros().saturating_add(1),
    };
    Ok((from, to))
}

/// An instant ([`parse_instant`]), or now when none is given.
pub fn parse_instant_or_now(at: Option<&str>) -> Result<i64> {
    at.map(parse_instant)
        .transpose()
        .map(|at| at.unwrap_or_else(fanz_core::clock::now_micros))
}

/// Why the ledger refused something. Each variant has a stable code and HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("an entry needs at least two postings")]
    TooFewPostings,
    #[error("debits and credits differ for {currency}: debits {debits}, credits {credits}")]
    Unbalanced {
        currency: String,
        debits: i128,
        credits: i128,
    },
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("account {account} holds {expected}, not {got}")]
    CurrencyMismatch {
        account: String,
        expected: String,
        got: String,
    },
    #[error("amount must be a positive integer number of minor units: {0}")]
    InvalidAmount(String),
    #[error("amounts overflow")]
    Overflow,
    #[error("account {account} would break its flag {flag}")]
    FlagViolation { account: String, flag: &'static str },
    #[error("account {0} is frozen")]
    AccountFrozen(String),
    #[error("account {0} is closed")]
    AccountClosed(String),
    #[error("idempotency key {0} was used with a different request")]
    IdempotencyConflict(String),
    #[error("account {0} exists")]
    AccountExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no entry {0}")]
    EntryNotFound(i64),
    #[error("entry {0} is not a pending hold")]
    NotPending(i64),
    #[error("entry {0} cannot be reversed: {1}")]
    NotReversible(i64, &'static str),
    #[error("no settlement import {0}")]
    SettlementNotFound(i64),
    #[error("unknown template {0}")]
    UnknownTemplate(String),
    #[error("another request with the same idempotency key was committed meanwhile; retry")]
    ConcurrentRequest,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] fanz_audit::AuditError),
}

impl LedgerError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use LedgerError as E;
        match self {
            E::TooFewPostings => "too_few_postings",
            E::Unbalanced { .. } => "unbalanced_entry",
            E::UnknownAccount(_) => "unknown_account",
            E::CurrencyMismatch { .. } => "currency_mismatch",
            E::InvalidAmount(_) => "invalid_amount",
            E::Overflow => "amount_overflow",
            E::FlagViolation { .. } => "balance_flag_violation",
            E::AccountFrozen(_) => "account_frozen",
            E::AccountClosed(_) => "account_closed",
            E::IdempotencyConflict(_) => "idempotency_conflict",
            E::AccountExists(_) => "account_exists",
            E::Invalid(_) => "invalid_request",
            E::EntryNotFound(_) => "entry_not_found",
            E::NotPending(_) => "not_pending",
            E::NotReversible(..) => "not_reversible",
            E::UnknownTemplate(_) => "unknown_template",
            E::SettlementNotFound(_) => "settlement_not_found",
            E::ConcurrentRequest => "concurrent_request",
            E::Database(_) | E::Audit(_) => "internal",
        }
    }

    /// The HTTP status the web layer answers with.
    pub fn http_status(&self) -> u16 {
        use LedgerError as E;
        match self {
            E::IdempotencyConflict(_) | E::AccountExists(_) | E::ConcurrentRequest => 409,
            E::EntryNotFound(_) | E::UnknownTemplate(_) | E::SettlementNotFound(_) => 404,
            E::Database(_) | E::Audit(_) => 500,
            _ => 422,
        }
    }
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

impl From<fanz_store::StoreError> for LedgerError {
    fn from(e: fanz_store::StoreError) -> Self {
        match e {
            fanz_store::StoreError::Database(e) => LedgerError::Database(e),
            other => LedgerError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

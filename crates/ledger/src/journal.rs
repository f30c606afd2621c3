//! Journal entries: validation, idempotency, posting, holds, reversals and batches.

use crate::accounts::{FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS, FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS};
use crate::{LedgerError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_store::bulk::{pg_int_array, pg_text_array};
use fanz_store::{backend_of, sqlx, Backend, Db};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// What [`Journal::load`] reads of an account, in this order.
const LOADED_COLUMNS: &str = "code, id, currency, flags, status, debits_posted, credits_posted, \
                              debits_pending, credits_pending";

/// The largest amount one posting may carry: 10^15 minor units (ten trillion dollars in
/// cents, ten million bitcoin in satoshis, a million ether in gwei). With at most 1,000
/// postings an entry's total stays far inside 64 bits; totals across accounts, which have no
/// such bound, are summed in 128 bits by every report.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// How far back an entry posted through the API may be dated: ten years (backdating is for
/// imports of recent history, not for rewriting old periods).
pub const MAX_BACKDATE_MICROS: i64 = 3_653 * 86_400 * 1_000_000;
/// How far ahead an entry may be dated: one day (clock skew between nodes and processors).
pub const MAX_FORWARD_DATE_MICROS: i64 = 86_400 * 1_000_000;

/// Refuse an `effective_at` outside `[now − 10 years, now + 1 day]`. The HTTP API applies it
/// to every entry it is given; the library accepts any instant so that tests and imports can
/// build books at fixed past times.
pub fn check_effective_at(at: i64, now: i64) -> Result<()> {
    let (earliest, latest) = (
        now.saturating_sub(MAX_BACKDATE_MICROS),
        now.saturating_add(MAX_FORWARD_DATE_MICROS),
    );
    if at < earliest || at > latest {
        return Err(LedgerError::Invalid(format!(
            "effective_at {at} is outside the accepted window [{earliest}, {latest}] \
             (microseconds: at most ten years back and one day ahead)"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Debit,
    Credit,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostingInput {
    /// Account code.
    pub account: String,
    pub direction: Direction,
    /// Positive integer, in the currency's minor units.
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    /// Same key and same body: the original entry is returned. Same key, other body: 409.
    pub idempotency_key: String,
    pub postings: Vec<PostingInput>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<Value>,
    /// When the movement happened, microseconds since the epoch (default: now).
    #[serde(default)]
    pub effective_at: Option<i64>,
    /// What caused it: a webhook id, an event id.
    #[serde(default)]
    pub causation: Option<String>,
    /// A hold: reduces available balance until posted or voided.
    #[serde(default)]
    pub pending: bool,
    /// For holds: release automatically after this many seconds.
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
    /// Set by posting templates (`tip@1`, …).
    #[serde(default, skip_deserializing)]
    pub template: Option<String>,
}

impl EntryInput {
    /// A plain posted entry: now, no metadata, cause, hold or template.
    pub fn new(idempotency_key: impl Into<String>, postings: Vec<PostingInput>) -> Self {
        Self {
            idempotency_key: idempotency_key.into(),
            postings,
            metadata: None,
            effective_at: None,
            causation: None,
            pending: false,
            expires_in_secs: None,
            template: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostingView {
    pub account: String,
    pub direction: Direction,
    pub amount: i64,
    pub currency: String,
    pub pending: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: i64,
    pub idempotency_key: String,
    /// `posted`, `pending`, `post_pending`, `void_pending`, `expire_pending` or `reversal`.
    pub kind: String,
    /// For holds: `pending`, `posted`, `voided` or `expired`; otherwise `posted`.
    pub status: String,
    pub template: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub causation: Option<String>,
    /// The hold this settles or releases, or the entry this reverses.
    pub related_id: Option<i64>,
    pub effective_at: i64,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    /// The user who posted it; `null` for the server's own housekeeping (hold expiry,
    /// reserve release) and the CLI.
    pub created_by: Option<i64>,
    pub postings: Vec<PostingView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryOutcome {
    pub entry: Entry,
    /// True when the idempotency key had been used with this same request.
    pub replayed: bool,
}

/// Account state held for the length of one call or batch, written back once at the end.
struct Cached {
    id: i64,
    currency: String,
    flags: i64,
    status: String,
    totals: [i64; 4], // debits posted, credits posted, debits pending, credits pending
    written: [i64; 4],
}

/// One write transaction's view of the ledger.
pub(crate) struct Journal<'a> {
    pub(crate) db: &'a mut Db,
    accounts: HashMap<String, Cached>,
    /// Written to every entry's `created_by`.
    pub(crate) created_by: Option<i64>,
}

/// A checked change ready to write.
pub(crate) struct Plan {
    pub(crate) key: String,
    pub(crate) hash: String,
    pub(crate) kind: &'static str,
    pub(crate) status: &'static str,
    pub(crate) template: Option<String>,
    pub(crate) metadata: Value,
    pub(crate) causation: Option<String>,
    pub(crate) related: Option<i64>,
    pub(crate) effective_at: i64,
    pub(crate) expires_at: Option<i64>,
    /// (account, debit, credit, pending)
    pub(crate) rows: Vec<(String, i64, i64, bool)>,
    /// Extra changes to totals not represented by rows (releasing holds).
    pub(crate) releases: Vec<(String, [i64; 4])>,
}

impl<'a> Journal<'a> {
    pub(crate) fn new(db: &'a mut Db, actor: &Actor) -> Self {
        Self {
            db,
            accounts: HashMap::new(),
            created_by: actor.user_id,
        }
    }

    /// Load accounts in code order (row locks on PostgreSQL are then always taken in the same
    /// order, so concurrent writers cannot deadlock).
    pub(crate) async fn load(&mut self, codes: impl IntoIterator<Item = &String>) -> Result<()> {
        let mut wanted: Vec<&String> = codes
            .into_iter()
            .filter(|c| !self.accounts.contains_key(*c))
            .collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let backend = backend_of(self.db);
        let mut rows = Vec::with_capacity(wanted.len());
        // PostgreSQL: one statement for the whole set (the codes as one array parameter), the
        // rows locked after sorting, so every writer locks in code order.
        for codes in wanted.chunks(in_list_chunk(backend, wanted.len())) {
            let sql = accounts_lookup(backend, codes.len());
            let q = bind_texts(sqlx::query(&sql), backend, codes.iter().map(|c| c.as_str()));
            rows.extend(q.fetch_all(&mut *self.db).await?);
        }
        for row in rows {
            let totals = [row.get(5), row.get(6), row.get(7), row.get(8)];
            self.accounts.insert(
                row.get(0),
                Cached {
                    id: row.get(1),
                    currency: row.get(2),
                    flags: row.get(3),
                    status: row.get(4),
                    totals,
                    written: totals,
                },
            );
        }
        if let Some(missing) = wanted
            .iter()
            .find(|c| !self.accounts.contains_key(c.as_str()))
        {
            return Err(LedgerError::UnknownAccount((*missing).clone()));
        }
        Ok(())
    }

    async fn replay(&mut self, key: &str, hash: &str) -> Result<Option<EntryOutcome>> {
        fresh_plans(self.db).await?;
        let found =
            sqlx::query("SELECT id, request_hash FROM ledger_entries WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(&mut *self.db)
                .await?;
        match found {
            None => Ok(None),
            Some(r) if r.get::<String, _>(1) == hash => Ok(Some(EntryOutcome {
                entry: get_entry(self.db, r.get(0)).await?,
                replayed: true,
            })),
            Some(_) => Err(LedgerError::IdempotencyConflict(key.to_owned())),
        }
    }

    /// Check a plan against current totals and flags, then write it. Nothing is written when
    /// a check fails.
    async fn execute(&mut self, plan: Plan) -> Result<i64> {
        let codes: Vec<String> = plan
            .rows
            .iter()
            .map(|r| r.0.clone())
            .chain(plan.releases.iter().map(|r| r.0.clone()))
            .collect();
        self.load(codes.iter()).await?;
        self.stage(&plan)?;
        self.write(&plan, now_micros()).await
    }

    /// Check a plan against the loaded accounts' totals and flags and, when it passes, apply
    /// it to those totals (in memory; [`Journal::flush`] writes them).
    pub(crate) fn stage(&mut self, plan: &Plan) -> Result<()> {
        let mut next: BTreeMap<&str, [i64; 4]> = BTreeMap::new();
        for (code, debit, credit, pending) in &plan.rows {
            let acc = self
                .accounts
                .get(code)
                .ok_or_else(|| LedgerError::UnknownAccount(code.clone()))?;
            match acc.status.as_str() {
                "frozen" => return Err(LedgerError::AccountFrozen(code.clone())),
                "closed" => return Err(LedgerError::AccountClosed(code.clone())),
                _ => {}
            }
            let t = next.entry(code.as_str()).or_insert(acc.totals);
            let (d, c) = if *pending { (2, 3) } else { (0, 1) };
            t[d] = t[d].checked_add(*debit).ok_or(LedgerError::Overflow)?;
            t[c] = t[c].checked_add(*credit).ok_or(LedgerError::Overflow)?;
        }
        for (code, delta) in &plan.releases {
            let acc = self
                .accounts
                .get(code)
                .ok_or_else(|| LedgerError::UnknownAccount(code.clone()))?;
            let t = next.entry(code.as_str()).or_insert(acc.totals);
            for i in 0..4 {
                t[i] = t[i].checked_add(delta[i]).ok_or(LedgerError::Overflow)?;
            }
        }
        for (code, t) in &next {
            let flags = self.accounts[*code].flags;
            let [dp, cp, dpend, cpend] = t.map(|v| v as i128);
            if flags & FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS != 0 && dp + dpend > cp {
                return Err(LedgerError::FlagViolation {
                    account: code.to_string(),
                    flag: "debits_must_not_exceed_credits",
                });
            }
            if flags & FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS != 0 && cp + cpend > dp {
                return Err(LedgerError::FlagViolation {
                    account: code.to_string(),
                    flag: "credits_must_not_exceed_debits",
                });
            }
        }
        for (code, t) in next {
            self.accounts.get_mut(code).expect("loaded").totals = t;
        }
        Ok(())
    }

    /// Write one staged plan, created at `now`: its entry row (the id comes back from the
    /// insert) and postings.
    pub(crate) async fn write(&mut self, plan: &Plan, now: i64) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO ledger_entries (idempotency_key, request_hash, kind, status, template, metadata, \
             causation, related_id, effective_at, expires_at, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&plan.key)
        .bind(&plan.hash)
        .bind(plan.kind)
        .bind(plan.status)
        .bind(plan.template.as_deref())
        .bind(plan.metadata.to_string())
        .bind(plan.causation.as_deref())
        .bind(plan.related)
        .bind(plan.effective_at)
        .bind(plan.expires_at)
        .bind(now)
        .bind(self.created_by)
        .fetch_one(&mut *self.db)
        .await
        .map_err(crate::batch::concurrent_key)?
        .get(0);
        let rows: Vec<PostingRow> = plan
            .rows
            .iter()
            .map(|(code, debit, credit, pending)| PostingRow {
                entry_id: id,
                account_id: self.accounts[code].id,
                debit: *debit,
                credit: *credit,
                pending: *pending,
                effective_at: plan.effective_at,
            })
            .collect();
        insert_postings(self.db, &rows).await?;
        Ok(id)
    }

    /// The id of a loaded account.
    pub(crate) fn account_id(&self, code: &str) -> i64 {
        self.accounts[code].id
    }

    /// The currency of a loaded account.
    pub(crate) fn currency_of(&self, code: &str) -> Option<&str> {
        self.accounts.get(code).map(|a| a.currency.as_str())
    }

    /// Write changed account totals back (once per account per transaction).
    pub(crate) async fn flush(&mut self) -> Result<()> {
        let changed: Vec<(i64, [i64; 4])> = self
            .accounts
            .values()
            .filter(|a| a.totals != a.written)
            .map(|a| (a.id, a.totals))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        match backend_of(self.db) {
            Backend::Postgres => {
                let column = |i: usize| pg_int_array(changed.iter().map(|(_, t)| Some(t[i])));
                sqlx::query(
                    "UPDATE ledger_accounts SET debits_posted = v.dp, credits_posted = v.cp, \
                     debits_pending = v.dpend, credits_pending = v.cpend \
                     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
                     AS v(id, dp, cp, dpend, cpend) WHERE ledger_accounts.id = v.id",
                )
                .bind(pg_int_array(changed.iter().map(|(id, _)| Some(*id))))
                .bind(column(0))
                .bind(column(1))
                .bind(column(2))
                .bind(column(3))
                .execute(&mut *self.db)
                .await?;
            }
            Backend::Sqlite => {
                for chunk in changed.chunks(500) {
                    // VALUES columns are column1…column5.
                    let sql = format!(
                        "UPDATE ledger_accounts SET debits_posted = v.column2, credits_posted = v.column3, \
                         debits_pending = v.column4, credits_pending = v.column5 \
                         FROM (VALUES {}) AS v WHERE ledger_accounts.id = v.column1",
                        placeholders(Backend::Sqlite, chunk.len(), 5)
                    );
                    let mut q = sqlx::query(&sql);
                    for (id, t) in chunk {
                        q = q.bind(*id).bind(t[0]).bind(t[1]).bind(t[2]).bind(t[3]);
                    }
                    q.execute(&mut *self.db).await?;
                }
            }
        }
        for acc in self.accounts.values_mut() {
            acc.written = acc.totals;
        }
        Ok(())
    }
}

/// Keep this transaction's statements on their indexes (PostgreSQL).
///
/// PostgreSQL plans a prepared statement once for any parameters (a generic plan) after five
/// runs, and keeps that plan until the table is analysed again. With autovacuum off, a plan
/// made while `ledger_entries` was empty (a sequential scan: the cheapest way to read nothing)
/// would be kept at millions of rows. The ledger's write transactions are therefore planned
/// for the values they carry (`plan_cache_mode = force_custom_plan`, for this transaction
/// only): each statement is planned against the table's current size (the planner reads the
/// number of pages from the file, not from statistics). Even so, at ten thousand accounts the
/// cost model still prefers reading the whole accounts table to 200 index probes, a scan that
/// grows with every account opened; the write path only ever looks rows up by key, so
/// sequential scans are priced out for the transaction (`enable_seqscan = off`; a table with
/// no usable index can still be scanned). Planning these short statements costs microseconds.
/// Nothing to do on SQLite, whose planner prefers the indexes without statistics.
pub async fn fresh_plans(db: &mut Db) -> Result<()> {
    if backend_of(db) == Backend::Postgres {
        // `SET LOCAL` both, in one round trip.
        sqlx::query(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), \
             set_config('enable_seqscan', 'off', true)",
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// The lookups every write makes, as the write path sends them on `backend` (here for two keys
/// or two accounts), named, for `EXPLAIN` in tests and benchmarks. On SQLite they take one
/// parameter per key or account; on PostgreSQL one text array literal (`{a,b}`).
pub fn write_path_lookups(backend: Backend) -> [(&'static str, String); 2] {
    [
        ("idempotency keys", keys_lookup(backend, 2)),
        ("accounts", accounts_lookup(backend, 2)),
    ]
}

/// The statement looking up `n` idempotency keys (see [`bind_texts`]).
pub(crate) fn keys_lookup(backend: Backend, n: usize) -> String {
    format!(
        "SELECT idempotency_key, id, request_hash FROM ledger_entries WHERE idempotency_key {}",
        in_list(backend, n)
    )
}

/// The statement loading `n` accounts in code order, row-locked on PostgreSQL (see
/// [`bind_texts`]).
fn accounts_lookup(backend: Backend, n: usize) -> String {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    format!(
        "SELECT {LOADED_COLUMNS} FROM ledger_accounts WHERE code {} ORDER BY code{lock}",
        in_list(backend, n)
    )
}

/// `IN (?, …)` for `n` texts on SQLite; `= ANY($1::text[])` on PostgreSQL, one array literal
/// whatever `n`, so the statement has one text (see `fanz_store::bulk::pg_text_array`).
pub(crate) fn in_list(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => "= ANY($1::text[])".to_owned(),
        Backend::Sqlite => format!("IN {}", placeholders(backend, 1, n)),
    }
}

/// How many of `len` texts go in one [`in_list`]: all of them on PostgreSQL, 500 on SQLite.
pub(crate) fn in_list_chunk(backend: Backend, len: usize) -> usize {
    match backend {
        Backend::Postgres => len.max(1),
        Backend::Sqlite => 500,
    }
}

/// Bind the texts of an [`in_list`]: one parameter each on SQLite, one array on PostgreSQL.
pub(crate) fn bind_texts<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    backend: Backend,
    texts: impl IntoIterator<Item = &'q str>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    match backend {
        Backend::Postgres => q.bind(pg_text_array(texts.into_iter().map(Some))),
        Backend::Sqlite => {
            for t in texts {
                q = q.bind(t);
            }
            q
        }
    }
}

/// One row of `ledger_postings`, as written.
pub(crate) struct PostingRow {
    pub entry_id: i64,
    pub account_id: i64,
    pub debit: i64,
    pub credit: i64,
    pub pending: bool,
    pub effective_at: i64,
}

/// Write postings: on PostgreSQL in one statement, each column one array parameter; on SQLite
/// with multi-row INSERTs, 1,000 rows a statement.
pub(crate) async fn insert_postings(db: &mut Db, rows: &[PostingRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    match backend_of(db) {
        Backend::Postgres => {
            let column = |f: fn(&PostingRow) -> i64| pg_int_array(rows.iter().map(|r| Some(f(r))));
            sqlx::query(
                "INSERT INTO ledger_postings (entry_id, account_id, debit, credit, pending, effective_at) \
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
                 $5::bigint[], $6::bigint[])",
            )
            .bind(column(|r| r.entry_id))
            .bind(column(|r| r.account_id))
            .bind(column(|r| r.debit))
            .bind(column(|r| r.credit))
            .bind(column(|r| r.pending as i64))
            .bind(column(|r| r.effective_at))
            .execute(&mut *db)
            .await?;
        }
        Backend::Sqlite => {
            for chunk in rows.chunks(1000) {
                let sql = format!(
                    "INSERT INTO ledger_postings (entry_id, account_id, debit, credit, pending, effective_at) VALUES {}",
                    placeholders(Backend::Sqlite, chunk.len(), 6)
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q
                        .bind(r.entry_id)
                        .bind(r.account_id)
                        .bind(r.debit)
                        .bind(r.credit)
                        .bind(r.pending as i64)
                        .bind(r.effective_at);
                }
                q.execute(&mut *db).await?;
            }
        }
    }
    Ok(())
}

/// `(p, p, …), (…)` for a multi-row statement or an IN list. SQLite gets anonymous `?`
/// parameters: it finds a numbered parameter's name by a linear scan, which makes thousands
/// of `$N` quadratic.
pub(crate) fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => sql.push_str(&format!("${}", r * cols + c + 1)),
            }
        }
        sql.push(')');
    }
    sql
}

pub(crate) fn validate_key(key: &str) -> Result<()> {
    if key.trim().is_empty() || key.len() > 200 {
        return Err(LedgerError::Invalid(
            "idempotency_key must be 1 to 200 characters".into(),
        ));
    }
    Ok(())
}

/// Shape checks that need no database: at least two postings, positive amounts, balanced per
/// currency (summed in 128 bits so no total can overflow unnoticed).
pub(crate) fn validate_postings(postings: &[PostingInput]) -> Result<Vec<(String, i64, i64)>> {
    if postings.len() < 2 {
        return Err(LedgerError::TooFewPostings);
    }
    if postings.len() > 1000 {
        return Err(LedgerError::Invalid(
            "an entry has at most 1000 postings".into(),
        ));
    }
    let mut sums: BTreeMap<&str, (i128, i128)> = BTreeMap::new();
    let mut rows = Vec::with_capacity(postings.len());
    for p in postings {
        if p.amount <= 0 {
            return Err(LedgerError::InvalidAmount(p.amount.to_string()));
        }
        if p.amount > MAX_AMOUNT {
            return Err(LedgerError::InvalidAmount(format!(
                "{} is more than the largest single amount, {MAX_AMOUNT}",
                p.amount
            )));
        }
        crate::accounts::validate_code(&p.account)?;
        let s = sums.entry(p.currency.as_str()).or_default();
        match p.direction {
            Direction::Debit => {
                s.0 += p.amount as i128;
                rows.push((p.account.clone(), p.amount, 0));
            }
            Direction::Credit => {
                s.1 += p.amount as i128;
                rows.push((p.account.clone(), 0, p.amount));
            }
        }
    }
    for (currency, (debits, credits)) in sums {
        if debits > i64::MAX as i128 || credits > i64::MAX as i128 {
            return Err(LedgerError::Overflow);
        }
        if debits != credits {
            return Err(LedgerError::Unbalanced {
                currency: currency.to_owned(),
                debits,
                credits,
            });
        }
    }
    Ok(rows)
}

/// A stable digest of what a request asks for (serde_json orders object keys).
pub(crate) fn request_hash<T: Serialize>(kind: &str, related: Option<i64>, body: &T) -> String {
    let v = json!({"kind": kind, "related": related, "body": body});
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// [`request_hash`] of an entry request (`"entry"`, no related id), written straight into the
/// digest: the same bytes as that JSON value's text, keys in the order serde_json's map keeps
/// them (sorted), without building the value first. A batch hashes every request it is given,
/// and building the value was most of that cost.
pub(crate) fn entry_request_hash(input: &EntryInput) -> String {
    struct Digest(Sha256);
    impl std::io::Write for Digest {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    fn put<T: Serialize + ?Sized>(w: &mut Digest, text: &str, value: &T) {
        w.0.update(text.as_bytes());
        serde_json::to_writer(&mut *w, value).expect("a digest takes any bytes");
    }
    let w = &mut Digest(Sha256::new());
    put(w, r#"{"body":{"causation":"#, &input.causation);
    put(w, r#","effective_at":"#, &input.effective_at);
    put(w, r#","expires_in_secs":"#, &input.expires_in_secs);
    put(w, r#","idempotency_key":"#, &input.idempotency_key);
    put(w, r#","metadata":"#, &input.metadata);
    put(w, r#","pending":"#, &input.pending);
    w.0.update(br#","postings":["#);
    for (i, p) in input.postings.iter().enumerate() {
        put(
            w,
            if i == 0 {
                r#"{"account":"#
            } else {
                r#",{"account":"#
            },
            &p.account,
        );
        put(w, r#","amount":"#, &p.amount);
        put(w, r#","currency":"#, &p.currency);
        put(w, r#","direction":"#, &p.direction);
        w.0.update(b"}");
    }
    put(w, r#"],"template":"#, &input.template);
    w.0.update(br#"},"kind":"entry","related":null}"#);
    hex::encode(std::mem::take(&mut w.0).finalize())
}

pub async fn get_entry(db: &mut Db, id: i64) -> Result<Entry> {
    let r = sqlx::query(
        "SELECT id, idempotency_key, kind, status, template, metadata, causation, related_id, effective_at, \
         expires_at, created_at, created_by FROM ledger_entries WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(LedgerError::EntryNotFound(id))?;
    let postings = sqlx::query(
        "SELECT a.code, p.debit, p.credit, a.currency, p.pending FROM ledger_postings p \
         JOIN ledger_accounts a ON a.id = p.account_id WHERE p.entry_id = $1 ORDER BY p.id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|p| {
        let (debit, credit): (i64, i64) = (p.get(1), p.get(2));
        PostingView {
            account: p.get(0),
            direction: if debit > 0 {
                Direction::Debit
            } else {
                Direction::Credit
            },
            amount: debit.max(credit),
            currency: p.get(3),
            pending: p.get::<i64, _>(4) != 0,
        }
    })
    .collect();
    Ok(Entry {
        id: r.get(0),
        idempotency_key: r.get(1),
        kind: r.get(2),
        status: r.get(3),
        template: r.get(4),
        metadata: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or(Value::Null),
        causation: r.get(6),
        related_id: r.get(7),
        effective_at: r.get(8),
        expires_at: r.get(9),
        created_at: r.get(10),
        created_by: r.get(11),
        postings,
    })
}

/// Post one entry. Call inside a transaction and commit on `Ok`. Audited as the system; see
/// [`post_entry_as`].
pub async fn post_entry(db: &mut Db, input: &EntryInput) -> Result<EntryOutcome> {
    post_entry_as(db, input, &Actor::system()).await
}

/// Post one entry on behalf of `actor` (recorded in the audit log in the same transaction).
/// A replay (same key, same body) returns the original entry with `replayed: true` and writes
/// nothing; the same key with another body is [`LedgerError::IdempotencyConflict`].
pub async fn post_entry_as(db: &mut Db, input: &EntryInput, actor: &Actor) -> Result<EntryOutcome> {
    let mut results =
        crate::batch::post_batch_as(db, std::slice::from_ref(input), BatchMode::Linked, actor)
            .await?;
    let one = results.pop().and_then(|r| r.entry);
    one.ok_or_else(|| LedgerError::Invalid("the entry was not posted".into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BatchMode {
    /// Each entry stands alone: refused entries are reported, the others are posted.
    Independent,
    /// All or nothing: one refused entry refuses the batch.
    Linked,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    pub index: usize,
    pub entry: Option<EntryOutcome>,
    /// Error code when refused.
    pub error: Option<String>,
    pub message: Option<String>,
}

#[derive(Serialize)]
struct SettleRequest<'a> {
    key: &'a str,
    amount: Option<i64>,
}

async fn load_hold(db: &mut Db, id: i64) -> Result<Entry> {
    let e = get_entry(db, id).await?;
    if e.kind != "pending" || e.status != "pending" {
        return Err(LedgerError::NotPending(id));
    }
    Ok(e)
}

/// Release a hold's pending amounts (the negation of its pending postings).
fn releases(hold: &Entry) -> Vec<(String, [i64; 4])> {
    hold.postings
        .iter()
        .map(|p| {
            let delta = match p.direction {
                Direction::Debit => [0, 0, -p.amount, 0],
                Direction::Credit => [0, 0, 0, -p.amount],
            };
            (p.account.clone(), delta)
        })
        .collect()
}

/// Settle a hold, in full or (for a two-posting hold) in part; the rest is released.
pub async fn post_pending(
    db: &mut Db,
    hold_id: i64,
    key: &str,
    amount: Option<i64>,
) -> Result<EntryOutcome> {
    post_pending_as(db, hold_id, key, amount, &Actor::system()).await
}

/// [`post_pending`] on behalf of `actor` (audited in the same transaction).
pub async fn post_pending_as(
    db: &mut Db,
    hold_id: i64,
    key: &str,
    amount: Option<i64>,
    actor: &Actor,
) -> Result<EntryOutcome> {
    validate_key(key)?;
    let hash = request_hash(
        "post_pending",
        Some(hold_id),
        &SettleRequest { key, amount },
    );
    let mut j = Journal::new(db, actor);
    if let Some(done) = j.replay(key, &hash).await? {
        return Ok(done);
    }
    let hold = load_hold(j.db, hold_id).await?;
    let rows: Vec<(String, i64, i64, bool)> = match amount {
        None => hold
            .postings
            .iter()
            .map(|p| match p.direction {
                Direction::Debit => (p.account.clone(), p.amount, 0, false),
                Direction::Credit => (p.account.clone(), 0, p.amount, false),
            })
            .collect(),
        Some(a) => {
            if hold.postings.len() != 2 {
                return Err(LedgerError::Invalid(
                    "partial settlement needs a hold of exactly two postings".into(),
                ));
            }
            let held = hold.postings[0].amount;
            if a <= 0 || a > held {
                return Err(LedgerError::InvalidAmount(format!(
                    "{a} (the hold is {held})"
                )));
            }
            hold.postings
                .iter()
                .map(|p| match p.direction {
                    Direction::Debit => (p.account.clone(), a, 0, false),
                    Direction::Credit => (p.account.clone(), 0, a, false),
                })
                .collect()
        }
    };
    let id = j
        .execute(Plan {
            key: key.to_owned(),
            hash,
            kind: "post_pending",
            status: "posted",
            template: hold.template.clone(),
            metadata: json!({"hold": hold_id}),
            causation: None,
            related: Some(hold_id),
            effective_at: now_micros(),
            expires_at: None,
            rows,
            releases: releases(&hold),
        })
        .await?;
    mark_hold(j.db, hold_id, "posted").await?;
    j.flush().await?;
    record(
        db,
        actor,
        "ledger.hold_posted",
        Some(&format!("ledger_entry:{hold_id}")),
        json!({"entry": id, "amount": amount}),
    )
    .await?;
    Ok(EntryOutcome {
        entry: get_entry(db, id).await?,
        replayed: false,
    })
}

async fn mark_hold(db: &mut Db, id: i64, status: &str) -> Result<()> {
    let n =
        sqlx::query("UPDATE ledger_entries SET status = $1 WHERE id = $2 AND status = 'pending'")
            .bind(status)
            .bind(id)
            .execute(&mut *db)
            .await?
            .rows_affected();
    if n != 1 {
        return Err(LedgerError::NotPending(id));
    }
    Ok(())
}

/// Release a hold without posting it.
pub async fn void_pending(db: &mut Db, hold_id: i64, key: &str) -> Result<EntryOutcome> {
    void_pending_as(db, hold_id, key, &Actor::system()).await
}

/// [`void_pending`] on behalf of `actor` (audited in the same transaction).
pub async fn void_pending_as(
    db: &mut Db,
    hold_id: i64,
    key: &str,
    actor: &Actor,
) -> Result<EntryOutcome> {
    release_hold(db, hold_id, key, "void_pending", "voided", actor).await
}

async fn release_hold(
    db: &mut Db,
    hold_id: i64,
    key: &str,
    kind: &'static str,
    status: &'static str,
    actor: &Actor,
) -> Result<EntryOutcome> {
    validate_key(key)?;
    let hash = request_hash(kind, Some(hold_id), &key);
    let mut j = Journal::new(db, actor);
    if let Some(done) = j.replay(key, &hash).await? {
        return Ok(done);
    }
    let hold = load_hold(j.db, hold_id).await?;
    let id = j
        .execute(Plan {
            key: key.to_owned(),
            hash,
            kind,
            status: "posted",
            template: hold.template.clone(),
            metadata: json!({"hold": hold_id}),
            causation: None,
            related: Some(hold_id),
            effective_at: now_micros(),
            expires_at: None,
            rows: vec![],
            releases: releases(&hold),
        })
        .await?;
    mark_hold(j.db, hold_id, status).await?;
    j.flush().await?;
    record(
        db,
        actor,
        if kind == "void_pending" {
            "ledger.hold_voided"
        } else {
            "ledger.hold_expired"
        },
        Some(&format!("ledger_entry:{hold_id}")),
        json!({"entry": id}),
    )
    .await?;
    Ok(EntryOutcome {
        entry: get_entry(db, id).await?,
        replayed: false,
    })
}

/// Release every hold whose time has passed; returns how many.
pub async fn expire_holds(db: &mut Db, now: i64) -> Result<usize> {
    let due: Vec<i64> = sqlx::query("SELECT id FROM ledger_entries WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY id")
        .bind(now)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &due {
        release_hold(
            db,
            *id,
            &format!("expire:{id}"),
            "expire_pending",
            "expired",
            &Actor::system(),
        )
        .await?;
    }
    Ok(due.len())
}

/// Reverse a posted entry: the same postings with debits and credits swapped, linked to the
/// original. An entry is reversed at most once.
pub async fn reverse_entry(
    db: &mut Db,
    entry_id: i64,
    key: &str,
    actor: &Actor,
) -> Result<EntryOutcome> {
    validate_key(key)?;
    let hash = request_hash("reversal", Some(entry_id), &key);
    let mut j = Journal::new(db, actor);
    if let Some(done) = j.replay(key, &hash).await? {
        return Ok(done);
    }
    let original = get_entry(j.db, entry_id).await?;
    if !matches!(original.kind.as_str(), "posted" | "post_pending") {
        return Err(LedgerError::NotReversible(
            entry_id,
            "only posted entries can be reversed",
        ));
    }
    let already =
        sqlx::query("SELECT 1 FROM ledger_entries WHERE related_id = $1 AND kind = 'reversal'")
            .bind(entry_id)
            .fetch_optional(&mut *j.db)
            .await?;
    if already.is_some() {
        return Err(LedgerError::NotReversible(
            entry_id,
            "it was already reversed",
        ));
    }
    let rows = original
        .postings
        .iter()
        .map(|p| match p.direction {
            Direction::Debit => (p.account.clone(), 0, p.amount, false),
            Direction::Credit => (p.account.clone(), p.amount, 0, false),
        })
        .collect();
    let id = j
        .execute(Plan {
            key: key.to_owned(),
            hash,
            kind: "reversal",
            status: "posted",
            template: original.template.clone(),
            metadata: json!({"reverses": entry_id}),
            causation: None,
            related: Some(entry_id),
            effective_at: now_micros(),
            expires_at: None,
            rows,
            releases: vec![],
        })
        .await?;
    j.flush().await?;
    record(
        db,
        actor,
        "ledger.entry_reversed",
        Some(&format!("ledger_entry:{entry_id}")),
        json!({"reversal": id}),
    )
    .await?;
    Ok(EntryOutcome {
        entry: get_entry(db, id).await?,
        replayed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(account: &str, direction: Direction, amount: i64, currency: &str) -> PostingInput {
        PostingInput {
            account: account.into(),
            direction,
            amount,
            currency: currency.into(),
        }
    }

    #[test]
    fn shape_checks() {
        use Direction::*;
        assert!(matches!(
            validate_postings(&[p("a", Debit, 5, "USD")]),
            Err(LedgerError::TooFewPostings)
        ));
        assert!(matches!(
            validate_postings(&[p("a", Debit, 5, "USD"), p("b", Credit, 4, "USD")]),
            Err(LedgerError::Unbalanced { .. })
        ));
        assert!(matches!(
            validate_postings(&[p("a", Debit, 0, "USD"), p("b", Credit, 0, "USD")]),
            Err(LedgerError::InvalidAmount(_))
        ));
        assert!(matches!(
            validate_postings(&[p("a", Debit, -5, "USD"), p("b", Credit, -5, "USD")]),
            Err(LedgerError::InvalidAmount(_))
        ));
        // One amount past the bound; the bound itself is accepted.
        assert!(matches!(
            validate_postings(&[
                p("a", Debit, i64::MAX, "USD"),
                p("a", Debit, 1, "USD"),
                p("b", Credit, i64::MAX, "USD"),
                p("b", Credit, 1, "USD")
            ]),
            Err(LedgerError::InvalidAmount(_))
        ));
        assert!(matches!(
            validate_postings(&[
                p("a", Debit, MAX_AMOUNT + 1, "USD"),
                p("b", Credit, MAX_AMOUNT + 1, "USD")
            ]),
            Err(LedgerError::InvalidAmount(_))
        ));
        assert!(validate_postings(&[
            p("a", Debit, MAX_AMOUNT, "USD"),
            p("b", Credit, MAX_AMOUNT, "USD")
        ])
        .is_ok());
        // The effective-time window: ten years back, one day ahead.
        let now = 1_800_000_000_000_000;
        assert!(check_effective_at(now, now).is_ok());
        assert!(check_effective_at(now - MAX_BACKDATE_MICROS, now).is_ok());
        assert!(check_effective_at(now - MAX_BACKDATE_MICROS - 1, now).is_err());
        assert!(check_effective_at(now + MAX_FORWARD_DATE_MICROS, now).is_ok());
        assert!(check_effective_at(now + MAX_FORWARD_DATE_MICROS + 1, now).is_err());
        assert!(check_effective_at(i64::MIN, now).is_err());
        assert!(check_effective_at(i64::MAX, now).is_err());
        // Balanced per currency, not across currencies.
        assert!(validate_postings(&[p("a", Debit, 5, "USD"), p("b", Credit, 5, "EUR")]).is_err());
        assert!(validate_postings(&[
            p("a", Debit, 5, "USD"),
            p("b", Credit, 5, "USD"),
            p("c", Debit, 7, "EUR"),
            p("d", Credit, 7, "EUR")
        ])
        .is_ok());
    }

    #[test]
    fn request_hash_ignores_nothing_that_matters() {
        let a = EntryInput::new(
            "k",
            vec![
                p("a", Direction::Debit, 5, "USD"),
                p("b", Direction::Credit, 5, "USD"),
            ],
        );
        let mut b = a.clone();
        assert_eq!(
            request_hash("entry", None, &a),
            request_hash("entry", None, &b)
        );
        b.postings[0].amount = 6;
        b.postings[1].amount = 6;
        assert_ne!(
            request_hash("entry", None, &a),
            request_hash("entry", None, &b)
        );
    }

    /// The streamed digest of an entry is the digest of its JSON value, byte for byte: hashes
    /// stored before it was written still match their replays.
    #[test]
    fn entry_hash_streamed_is_the_value_hash() {
        let mut inputs = vec![EntryInput::new(
            "k",
            vec![
                p("a", Direction::Debit, 5, "USD"),
                p("b", Direction::Credit, 5, "USD"),
            ],
        )];
        let mut full = EntryInput::new(
            "ключ \"quoted\" \\ \u{1}\n",
            vec![
                p("wallet:1", Direction::Debit, i64::MAX, "EUR"),
                p("cash", Direction::Credit, 1, "EUR"),
                p("fees", Direction::Credit, 0, "EUR"),
            ],
        );
        full.metadata =
            Some(json!({"z": [1, 2.5, null], "a": {"y": true, "b": "\u{7f}é"}, "m": -3}));
        full.effective_at = Some(-1);
        full.causation = Some("webhook:7".into());
        full.pending = true;
        full.expires_in_secs = Some(60);
        full.template = Some("tip@1".into());
        inputs.push(full.clone());
        full.metadata = Some(json!("just text"));
        full.postings.clear();
        inputs.push(full);
        for input in &inputs {
            assert_eq!(
                entry_request_hash(input),
                request_hash("entry", None, input),
                "{input:?}"
            );
        }
    }
}

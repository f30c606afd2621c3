//! Posting many entries in one transaction with few round trips: idempotency keys are looked
//! up in bulk, every account is loaded (and on PostgreSQL row-locked) once in one order, each
//! entry is checked against the running totals in memory, and the accepted entries and their
//! postings are written with multi-row INSERTs. Account totals are written once at the end.

use crate::journal::{
    bind_texts, entry_request_hash, fresh_plans, get_entry, in_list, in_list_chunk,
    insert_postings, keys_lookup, placeholders, validate_key, validate_postings, BatchMode,
    BatchResult, Entry, EntryInput, EntryOutcome, Journal, Plan, PostingRow, PostingView,
};
use crate::{LedgerError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::{now_micros, SECOND};
use fanz_store::bulk::{pg_int_array, pg_text_array};
use fanz_store::{backend_of, sqlx, Backend, Db};
use serde_json::json;
use sqlx::Row;
use std::collections::HashMap;

const ENTRY_CHUNK: usize = 400;

/// Post many entries in one transaction. In `Linked` mode the first refusal is returned as the
/// error (roll the transaction back); in `Independent` mode refusals are reported per entry and
/// everything else is posted. Audited as the system; see [`post_batch_as`].
pub async fn post_batch(
    db: &mut Db,
    entries: &[EntryInput],
    mode: BatchMode,
) -> Result<Vec<BatchResult>> {
    post_batch_as(db, entries, mode, &Actor::system()).await
}

/// [`post_batch`] on behalf of `actor`: the new entries are recorded in the audit log (one
/// event per call, naming the ids) in the same transaction.
pub async fn post_batch_as(
    db: &mut Db,
    entries: &[EntryInput],
    mode: BatchMode,
    actor: &Actor,
) -> Result<Vec<BatchResult>> {
    let now = now_micros();
    fresh_plans(db).await?;
    let mut j = Journal::new(db, actor);
    let mut codes: Vec<String> = entries
        .iter()
        .flat_map(|e| e.postings.iter().map(|p| p.account.clone()))
        .collect();
    codes.sort();
    codes.dedup();
    if mode == BatchMode::Independent {
        // Unknown accounts are per-entry refusals here: load only those that exist.
        let backend = backend_of(j.db);
        let mut known = Vec::with_capacity(codes.len());
        for chunk in codes.chunks(in_list_chunk(backend, codes.len())) {
            let sql = format!(
                "SELECT code FROM ledger_accounts WHERE code {} ORDER BY code",
                in_list(backend, chunk.len())
            );
            let q = bind_texts(sqlx::query(&sql), backend, chunk.iter().map(|c| c.as_str()));
            for r in q.fetch_all(&mut *j.db).await? {
                known.push(r.get::<String, _>(0));
            }
        }
        codes = known;
    }
    // Accounts first: on PostgreSQL their row locks serialize writers of the same accounts, so
    // a concurrent duplicate of a request sees the first one's committed entry below.
    j.load(codes.iter()).await?;
    let existing = lookup_keys(j.db, entries).await?;

    enum Decision {
        New(Plan),
        Replay(i64),
        ReplayOf(usize),
        Refused(LedgerError),
    }
    let mut decisions = Vec::with_capacity(entries.len());
    let mut seen: HashMap<&str, (usize, String)> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let decision = match plan_for(&j, e, now) {
            Err(err) => Decision::Refused(err),
            Ok(plan) => {
                if let Some((id, hash)) = existing.get(e.idempotency_key.as_str()) {
                    if *hash == plan.hash {
                        Decision::Replay(*id)
                    } else {
                        Decision::Refused(LedgerError::IdempotencyConflict(
                            e.idempotency_key.clone(),
                        ))
                    }
                } else if let Some((first, hash)) = seen.get(e.idempotency_key.as_str()) {
                    if *hash == plan.hash {
                        Decision::ReplayOf(*first)
                    } else {
                        Decision::Refused(LedgerError::IdempotencyConflict(
                            e.idempotency_key.clone(),
                        ))
                    }
                } else {
                    match j.stage(&plan) {
                        Ok(()) => {
                            seen.insert(e.idempotency_key.as_str(), (i, plan.hash.clone()));
                            Decision::New(plan)
                        }
                        Err(err) => Decision::Refused(err),
                    }
                }
            }
        };
        if let Decision::Refused(err) = decision {
            if mode == BatchMode::Linked {
                return Err(err);
            }
            decisions.push(Decision::Refused(err));
        } else {
            decisions.push(decision);
        }
    }

    let new_count = decisions
        .iter()
        .filter(|d| matches!(d, Decision::New(_)))
        .count();
    // One entry (a template's, a request's): its id comes back from its insert.
    let single = match decisions.as_slice() {
        [Decision::New(plan)] => Some(j.write(plan, now).await?),
        _ => None,
    };
    let new_ids: Vec<Option<i64>> = if let Some(id) = single {
        vec![Some(id)]
    } else {
        let mut next_id = allocate_ids(j.db, new_count).await?.into_iter();
        decisions
            .iter()
            .map(|d| {
                matches!(d, Decision::New(_)).then(|| next_id.next().expect("an id per new entry"))
            })
            .collect()
    };
    let written: Vec<(i64, &Plan)> = decisions
        .iter()
        .zip(&new_ids)
        .filter_map(|(d, id)| match (d, id) {
            (Decision::New(plan), Some(id)) => Some((*id, plan)),
            _ => None,
        })
        .collect();
    if single.is_none() {
        insert_entries(&mut j, &written, now).await?;
    }
    j.flush().await?;
    if let (Some((first, _)), Some((last, _))) = (written.first(), written.last()) {
        record(
            j.db,
            actor,
            "ledger.entries_posted",
            Some(&format!("ledger_entry:{first}")),
            json!({"count": written.len(), "first_id": first, "last_id": last}),
        )
        .await?;
    }

    let mut out: Vec<BatchResult> = Vec::with_capacity(entries.len());
    for (index, d) in decisions.iter().enumerate() {
        let result = match d {
            Decision::New(plan) => ok(
                index,
                view(&j, new_ids[index].expect("new entries have ids"), plan, now),
                false,
            ),
            Decision::Replay(id) => ok(index, get_entry(j.db, *id).await?, true),
            Decision::ReplayOf(first) => {
                let entry = out[*first]
                    .entry
                    .as_ref()
                    .map(|o| o.entry.clone())
                    .expect("first was posted");
                ok(index, entry, true)
            }
            Decision::Refused(err) => BatchResult {
                index,
                entry: None,
                error: Some(err.code().to_owned()),
                message: Some(err.to_string()),
            },
        };
        out.push(result);
    }
    Ok(out)
}

fn ok(index: usize, entry: Entry, replayed: bool) -> BatchResult {
    BatchResult {
        index,
        entry: Some(EntryOutcome { entry, replayed }),
        error: None,
        message: None,
    }
}

/// Check one request without the database (shape, key, currencies of loaded accounts).
fn plan_for(j: &Journal<'_>, input: &EntryInput, now: i64) -> Result<Plan> {
    validate_key(&input.idempotency_key)?;
    let rows = validate_postings(&input.postings)?;
    for p in &input.postings {
        let currency = j
            .currency_of(&p.account)
            .ok_or_else(|| LedgerError::UnknownAccount(p.account.clone()))?;
        if currency != p.currency {
            return Err(LedgerError::CurrencyMismatch {
                account: p.account.clone(),
                expected: currency.to_owned(),
                got: p.currency.clone(),
            });
        }
    }
    let expires_at = match (input.pending, input.expires_in_secs) {
        (true, Some(s)) if s > 0 => Some(now.saturating_add(s.saturating_mul(SECOND))),
        (false, Some(_)) => {
            return Err(LedgerError::Invalid(
                "expires_in_secs is only for holds (pending: true)".into(),
            ))
        }
        (true, Some(_)) => {
            return Err(LedgerError::Invalid(
                "expires_in_secs must be positive".into(),
            ))
        }
        _ => None,
    };
    let kind = if input.pending { "pending" } else { "posted" };
    Ok(Plan {
        key: input.idempotency_key.clone(),
        hash: entry_request_hash(input),
        kind,
        status: kind,
        template: input.template.clone(),
        metadata: input.metadata.clone().unwrap_or_else(|| json!({})),
        causation: input.causation.clone(),
        related: None,
        effective_at: input.effective_at.unwrap_or(now),
        expires_at,
        rows: rows
            .into_iter()
            .map(|(a, d, c)| (a, d, c, input.pending))
            .collect(),
        releases: vec![],
    })
}

/// Existing entries for the batch's keys: key → (id, request hash).
async fn lookup_keys(
    db: &mut Db,
    entries: &[EntryInput],
) -> Result<HashMap<String, (i64, String)>> {
    let backend = backend_of(db);
    let keys: Vec<&str> = entries.iter().map(|e| e.idempotency_key.as_str()).collect();
    let mut found = HashMap::new();
    for chunk in keys.chunks(in_list_chunk(backend, keys.len())) {
        let sql = keys_lookup(backend, chunk.len());
        let q = bind_texts(sqlx::query(&sql), backend, chunk.iter().copied());
        for r in q.fetch_all(&mut *db).await? {
            found.insert(r.get(0), (r.get(1), r.get(2)));
        }
    }
    Ok(found)
}

/// Reserve `n` entry ids. SQLite: the write lock is held, so the next ids after the largest
/// are ours. PostgreSQL: draw them from the identity sequence.
async fn allocate_ids(db: &mut Db, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(vec![]);
    }
    match backend_of(db) {
        Backend::Sqlite => {
            let max: i64 = sqlx::query("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM ledger_entries")
                .fetch_one(&mut *db)
                .await?
                .get(0);
            Ok((1..=n as i64).map(|i| max + i).collect())
        }
        Backend::Postgres => Ok(sqlx::query(
            // The sequence is looked up once: called per row, the lookup cost ten times the
            // draw (28 ms against 3 ms for 8,000 ids).
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('ledger_entries', 'id')::regclass AS seq) \
             SELECT nextval(s.seq) FROM s, generate_series(1, $1)",
        )
        .bind(n as i64)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect()),
    }
}

/// A duplicate idempotency key that slipped past the lookup (another transaction inserted it
/// after we looked): the caller retries and then gets the replay or the conflict.
pub(crate) fn concurrent_key(e: sqlx::Error) -> LedgerError {
    if fanz_store::is_unique_violation(&e) {
        LedgerError::ConcurrentRequest
    } else {
        LedgerError::Database(e)
    }
}

async fn insert_entries(j: &mut Journal<'_>, written: &[(i64, &Plan)], now: i64) -> Result<()> {
    if written.is_empty() {
        return Ok(());
    }
    match backend_of(j.db) {
        // One statement, each column one array parameter.
        Backend::Postgres => {
            let ints = |f: fn(&(i64, &Plan)) -> Option<i64>| pg_int_array(written.iter().map(f));
            let texts = |f: for<'p> fn(&'p (i64, &Plan)) -> Option<&'p str>| {
                pg_text_array(written.iter().map(f))
            };
            let metadata: Vec<String> = written
                .iter()
                .map(|(_, p)| p.metadata.to_string())
                .collect();
            sqlx::query(
                "INSERT INTO ledger_entries (id, idempotency_key, request_hash, kind, status, template, \
                 metadata, causation, related_id, effective_at, expires_at, created_at, created_by) \
                 SELECT v.*, $12::bigint, $13::bigint FROM unnest($1::bigint[], $2::text[], $3::text[], \
                 $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], \
                 $11::bigint[]) AS v",
            )
            .bind(ints(|(id, _)| Some(*id)))
            .bind(texts(|(_, p)| Some(p.key.as_str())))
            .bind(texts(|(_, p)| Some(p.hash.as_str())))
            .bind(texts(|(_, p)| Some(p.kind)))
            .bind(texts(|(_, p)| Some(p.status)))
            .bind(texts(|(_, p)| p.template.as_deref()))
            .bind(pg_text_array(metadata.iter().map(|m| Some(m.as_str()))))
            .bind(texts(|(_, p)| p.causation.as_deref()))
            .bind(ints(|(_, p)| p.related))
            .bind(ints(|(_, p)| Some(p.effective_at)))
            .bind(ints(|(_, p)| p.expires_at))
            .bind(now)
            .bind(j.created_by)
            .execute(&mut *j.db)
            .await
            .map_err(concurrent_key)?;
        }
        Backend::Sqlite => {
            for chunk in written.chunks(ENTRY_CHUNK) {
                let sql = format!(
                    "INSERT INTO ledger_entries (id, idempotency_key, request_hash, kind, status, template, metadata, \
                     causation, related_id, effective_at, expires_at, created_at, created_by) VALUES {}",
                    placeholders(Backend::Sqlite, chunk.len(), 13)
                );
                let mut q = sqlx::query(&sql);
                for (id, p) in chunk {
                    q = q
                        .bind(*id)
                        .bind(&p.key)
                        .bind(&p.hash)
                        .bind(p.kind)
                        .bind(p.status)
                        .bind(p.template.as_deref())
                        .bind(p.metadata.to_string())
                        .bind(p.causation.as_deref())
                        .bind(p.related)
                        .bind(p.effective_at)
                        .bind(p.expires_at)
                        .bind(now)
                        .bind(j.created_by);
                }
                q.execute(&mut *j.db).await.map_err(concurrent_key)?;
            }
        }
    }
    // In a block: a shared borrow of the journal (and its connection) must not live across
    // the await below.
    let postings: Vec<PostingRow> = {
        let loaded: &Journal<'_> = j;
        written
            .iter()
            .flat_map(|(id, p)| {
                p.rows
                    .iter()
                    .map(move |(code, debit, credit, pending)| PostingRow {
                        entry_id: *id,
                        account_id: loaded.account_id(code),
                        debit: *debit,
                        credit: *credit,
                        pending: *pending,
                        effective_at: p.effective_at,
                    })
            })
            .collect()
    };
    insert_postings(j.db, &postings).await?;
    Ok(())
}

/// The entry as written, built from the plan instead of read back.
fn view(j: &Journal<'_>, id: i64, p: &Plan, now: i64) -> Entry {
    Entry {
        id,
        idempotency_key: p.key.clone(),
        kind: p.kind.to_owned(),
        status: p.status.to_owned(),
        template: p.template.clone(),
        metadata: p.metadata.clone(),
        causation: p.causation.clone(),
        related_id: p.related,
        effective_at: p.effective_at,
        expires_at: p.expires_at,
        created_at: now,
        created_by: j.created_by,
        postings: p
            .rows
            .iter()
            .map(|(code, d, c, pending)| PostingView {
                account: code.clone(),
                direction: if *d > 0 {
                    crate::Direction::Debit
                } else {
                    crate::Direction::Credit
                },
                amount: (*d).max(*c),
                currency: j.currency_of(code).unwrap_or_default().to_owned(),
                pending: *pending,
            })
            .collect(),
    }
}

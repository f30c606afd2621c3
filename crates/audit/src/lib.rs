//! The audit log: every security event and state change that matters, append-only and
//! hash-chained (each row's hash covers the previous row's hash), so deleting, editing or
//! reordering rows is detectable by [`verify`]. The tables refuse UPDATE and DELETE.
//!
//! Call [`record`] inside the transaction of the change it describes, so an event is written
//! exactly when the change commits.

use fanz_core::clock::now_micros;
use fanz_store::{backend_of, sqlx, Backend, Db};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// Who did it, from where: carried from the HTTP request (or the CLI) into domain calls.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn cli() -> Self {
        Self {
            user_id: None,
            ip: Some("cli".into()),
            request_id: None,
        }
    }

    pub fn with_user(&self, user_id: i64) -> Self {
        Self {
            user_id: Some(user_id),
            ..self.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Store(#[from] fanz_store::StoreError),
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain's last hash. The bound (always `i64::MAX`) is a parameter so that PostgreSQL can
/// plan the statement for each call (a statement without parameters keeps the first plan it
/// was given for the life of the connection: on a new database, a scan of the empty table);
/// transactions that ask for fresh plans (the ledger's) then always walk the primary key
/// backwards.
pub const TAIL_QUERY: &str = "SELECT hash FROM audit_log WHERE id <= $1 ORDER BY id DESC LIMIT 1";

tokio::task_local! {
    /// The transaction [`hold`] named inside [`chained`], the chain's tail once read, and the
    /// events waiting for [`flush`].
    static TAIL: std::cell::RefCell<Option<Tail>>;
}

/// The chain as one transaction knows it.
struct Tail {
    /// The connection the transaction runs on (its address).
    conn: usize,
    /// The chain's last hash, once read.
    hash: Option<String>,
    /// Events recorded on the transaction and not yet written, oldest first.
    pending: Vec<Pending>,
}

/// One event, hashed and waiting to be written.
struct Pending {
    at: i64,
    actor_id: Option<i64>,
    action: String,
    subject: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
    details: String,
    prev: String,
    hash: String,
}

fn conn_key(db: &Db) -> usize {
    db as *const Db as usize
}

/// `f` of the chain as the transaction on `db` knows it, when [`hold`] named that transaction.
fn held<T>(db: &Db, f: impl FnOnce(&mut Tail) -> T) -> Option<T> {
    let conn = conn_key(db);
    TAIL.try_with(|t| t.borrow_mut().as_mut().filter(|t| t.conn == conn).map(f))
        .ok()
        .flatten()
}

/// Run `f`, one transaction that appends many events, with the chain's tail kept between
/// them. After [`hold`] names the transaction, the first [`record`] on it reads the tail (on
/// PostgreSQL after taking the chain's lock, which the transaction then holds to its end);
/// the next ones chain on from the event recorded before instead of reading the tail again,
/// and every event recorded on it waits to be written by [`flush`] (one statement for all of
/// them), which `f` calls before it commits. Records on any other connection read the tail and
/// write as usual.
///
/// `f` must end that transaction (commit or roll back) before it returns, and not move it
/// between [`hold`] and its end. A savepoint rolled back inside it takes its events with it:
/// take a [`Mark`] before the savepoint and [`rewind`] to it after rolling back.
pub async fn chained<F: std::future::Future>(f: F) -> F::Output {
    TAIL.scope(std::cell::RefCell::new(None), f).await
}

/// Inside [`chained`]: keep the chain's tail, and the events to write, for the transaction on
/// `db`.
pub fn hold(db: &Db) {
    let conn = conn_key(db);
    let _ = TAIL.try_with(|t| {
        *t.borrow_mut() = Some(Tail {
            conn,
            hash: None,
            pending: Vec::new(),
        })
    });
}

/// Write the events recorded on the transaction [`hold`] named (`db`) and not written yet;
/// call it before that transaction commits. Returns how many were written.
pub async fn flush(db: &mut Db) -> Result<u64, AuditError> {
    let pending = held(db, |t| std::mem::take(&mut t.pending)).unwrap_or_default();
    let mut rows = fanz_store::bulk::Rows::new("audit_log", COLUMNS);
    for p in pending {
        rows.push([
            p.at.into(),
            p.actor_id.into(),
            p.action.into(),
            p.subject.into(),
            p.ip.into(),
            p.request_id.into(),
            p.details.into(),
            p.prev.into(),
            p.hash.into(),
        ]);
    }
    Ok(rows.flush(db).await?)
}

const COLUMNS: &[&str] = &[
    "at",
    "actor_id",
    "action",
    "subject",
    "ip",
    "request_id",
    "details",
    "prev_hash",
    "hash",
];

/// Where the chain's tail stood, for [`rewind`].
pub struct Mark {
    hash: Option<String>,
    pending: usize,
}

/// The chain's tail as [`chained`] knows it now.
pub fn mark() -> Mark {
    TAIL.try_with(|t| {
        t.borrow().as_ref().map(|t| Mark {
            hash: t.hash.clone(),
            pending: t.pending.len(),
        })
    })
    .ok()
    .flatten()
    .unwrap_or(Mark {
        hash: None,
        pending: 0,
    })
}

/// Forget the events recorded since `mark` (their savepoint was rolled back). When the tail
/// was first read after the mark, it is read (and on PostgreSQL the lock taken) again.
pub fn rewind(mark: Mark) {
    let _ = TAIL.try_with(|t| {
        if let Some(tail) = t.borrow_mut().as_mut() {
            tail.hash = mark.hash;
            tail.pending.truncate(mark.pending);
        }
    });
}

/// Append one event. `subject` names what it is about (`user:42`); `details` is any JSON.
pub async fn record(
    db: &mut Db,
    actor: &Actor,
    action: &str,
    subject: Option<&str>,
    details: serde_json::Value,
) -> Result<(), AuditError> {
    // `Some(tail once read)` when this is the transaction `chained` holds.
    let kept = held(db, |t| t.hash.clone());
    let prev = match kept.clone().flatten() {
        Some(hash) => hash,
        None => {
            if backend_of(db) == Backend::Postgres {
                // Serialize appenders so the chain never forks; released at commit.
                sqlx::query("SELECT pg_advisory_xact_lock(7305001)")
                    .execute(&mut *db)
                    .await?;
            }
            sqlx::query(TAIL_QUERY)
                .bind(i64::MAX)
                .fetch_optional(&mut *db)
                .await?
                .map(|r| r.get::<String, _>(0))
                .unwrap_or_else(|| GENESIS.to_owned())
        }
    };
    let at = now_micros();
    let details = details.to_string();
    let hash = chain_hash(&prev, at, actor, action, subject, &details);
    if kept.is_some() {
        // Written by `flush`, with the transaction's other events.
        held(db, |tail| {
            tail.hash = Some(hash.clone());
            tail.pending.push(Pending {
                at,
                actor_id: actor.user_id,
                action: action.to_owned(),
                subject: subject.map(str::to_owned),
                ip: actor.ip.clone(),
                request_id: actor.request_id.clone(),
                details,
                prev,
                hash,
            });
        });
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, action, subject, ip, request_id, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(at)
    .bind(actor.user_id)
    .bind(action)
    .bind(subject)
    .bind(actor.ip.as_deref())
    .bind(actor.request_id.as_deref())
    .bind(&details)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *db)
    .await?;
    Ok(())
}

fn chain_hash(
    prev: &str,
    at: i64,
    actor: &Actor,
    action: &str,
    subject: Option<&str>,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &at.to_string(),
        &actor.user_id.map(|v| v.to_string()).unwrap_or_default(),
        action,
        subject.unwrap_or(""),
        actor.ip.as_deref().unwrap_or(""),
        actor.request_id.as_deref().unwrap_or(""),
        details,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// One row of the log as read back.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// The newest events, newest first; optionally only one actor's.
pub async fn recent(
    db: &mut Db,
    actor_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AuditError> {
    page(db, actor_id, None, limit).await
}

/// Most events a page holds.
pub const MAX_PAGE: i64 = 500;

/// One page of events, newest first: those with an id below `before` (all when `None`), at
/// most `limit` (1 to [`MAX_PAGE`]). The next page is `before` = the last id of this one.
pub async fn page(
    db: &mut Db,
    actor_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AuditError> {
    let rows = sqlx::query(
        "SELECT id, at, actor_id, action, subject, ip, request_id, details FROM audit_log \
         WHERE ($1 IS NULL OR actor_id = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(actor_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit.clamp(1, MAX_PAGE))
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            actor_id: r.get(2),
            action: r.get(3),
            subject: r.get(4),
            ip: r.get(5),
            request_id: r.get(6),
            details: serde_json::from_str(&r.get::<String, _>(7)).unwrap_or_default(),
        })
        .collect())
}

/// The outcome of walking the chain.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Intact { entries: u64 },
    Broken { at_id: i64, reason: &'static str },
}

/// Rows hashed per query while walking the chain (memory stays bounded however long it is).
const WALK_CHUNK: i64 = 2_000;

/// Where a walk starts: after row `after_id`, whose hash is `prev`, with `entries` rows
/// before it.
struct Start {
    after_id: i64,
    prev: String,
    entries: u64,
}

/// Hash every row after `start`, in order, checking each links to the one before it.
/// Returns the verdict and the last row checked (id, hash).
async fn walk(db: &mut Db, start: Start) -> Result<(Verdict, i64, String), AuditError> {
    let Start {
        mut after_id,
        mut prev,
        entries: mut n,
    } = start;
    loop {
        let rows = sqlx::query(
            "SELECT id, at, actor_id, action, subject, ip, request_id, details, prev_hash, hash \
             FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(WALK_CHUNK)
        .fetch_all(&mut *db)
        .await?;
        let done = (rows.len() as i64) < WALK_CHUNK;
        for r in rows {
            let id: i64 = r.get(0);
            let actor = Actor {
                user_id: r.get(2),
                ip: r.get(5),
                request_id: r.get(6),
            };
            let subject: Option<String> = r.get(4);
            let action: String = r.get(3);
            let details: String = r.get(7);
            let stored_prev: String = r.get(8);
            let stored: String = r.get(9);
            if stored_prev != prev {
                let broken = Verdict::Broken {
                    at_id: id,
                    reason: "previous hash does not match",
                };
                return Ok((broken, after_id, prev));
            }
            let expect = chain_hash(
                &prev,
                r.get(1),
                &actor,
                &action,
                subject.as_deref(),
                &details,
            );
            if expect != stored {
                let broken = Verdict::Broken {
                    at_id: id,
                    reason: "row content does not match its hash",
                };
                return Ok((broken, after_id, prev));
            }
            prev = stored;
            after_id = id;
            n += 1;
        }
        if done {
            return Ok((Verdict::Intact { entries: n }, after_id, prev));
        }
    }
}

/// Recompute every hash in order and check each row links to the one before it (linear in
/// the length of the log; see [`verify_since_checkpoint`] for the incremental check).
pub async fn verify(db: &mut Db) -> Result<Verdict, AuditError> {
    let start = Start {
        after_id: 0,
        prev: GENESIS.to_owned(),
        entries: 0,
    };
    Ok(walk(db, start).await?.0)
}

/// What [`verify_since_checkpoint`] did.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    pub verdict: Verdict,
    /// The checkpoint it started from (the last row verified before), 0 for none.
    pub from_id: i64,
    /// Rows hashed by this check.
    pub checked: u64,
}

/// Verify only the rows appended since the last checkpoint, then record a new checkpoint
/// (call in a transaction and commit). The checkpoint's row must still carry the hash the
/// checkpoint recorded; rows before it are not re-hashed (the table refuses UPDATE and
/// DELETE; [`verify`] walks everything when that is wanted).
pub async fn verify_since_checkpoint(db: &mut Db) -> Result<ChainCheck, AuditError> {
    let last = sqlx::query(
        "SELECT through_id, hash, entries FROM audit_checkpoints ORDER BY through_id DESC, id DESC LIMIT 1",
    )
    .fetch_optional(&mut *db)
    .await?;
    let start = match last {
        None => Start {
            after_id: 0,
            prev: GENESIS.to_owned(),
            entries: 0,
        },
        Some(r) => {
            let (through, hash, entries): (i64, String, i64) = (r.get(0), r.get(1), r.get(2));
            let row = sqlx::query("SELECT hash FROM audit_log WHERE id = $1")
                .bind(through)
                .fetch_optional(&mut *db)
                .await?;
            if row.map(|r| r.get::<String, _>(0)).as_deref() != Some(hash.as_str()) {
                return Ok(ChainCheck {
                    verdict: Verdict::Broken {
                        at_id: through,
                        reason: "the checkpointed row is missing or changed",
                    },
                    from_id: through,
                    checked: 0,
                });
            }
            Start {
                after_id: through,
                prev: hash,
                entries: entries.max(0) as u64,
            }
        }
    };
    let (from_id, before) = (start.after_id, start.entries);
    let (verdict, last_id, last_hash) = walk(db, start).await?;
    let checked = match &verdict {
        Verdict::Intact { entries } => entries - before,
        Verdict::Broken { .. } => 0,
    };
    if let Verdict::Intact { entries } = &verdict {
        if last_id > from_id {
            sqlx::query(
                "INSERT INTO audit_checkpoints (through_id, hash, entries, at) VALUES ($1, $2, $3, $4)",
            )
            .bind(last_id)
            .bind(&last_hash)
            .bind(*entries as i64)
            .bind(now_micros())
            .execute(&mut *db)
            .await?;
        }
    }
    Ok(ChainCheck {
        verdict,
        from_id,
        checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_field() {
        let a = Actor {
            user_id: Some(1),
            ip: Some("127.0.0.1".into()),
            request_id: None,
        };
        let base = chain_hash(GENESIS, 1, &a, "login", Some("user:1"), "{}");
        assert_ne!(
            base,
            chain_hash(GENESIS, 2, &a, "login", Some("user:1"), "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS, 1, &a, "logout", Some("user:1"), "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS, 1, &a, "login", Some("user:2"), "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS, 1, &a, "login", Some("user:1"), "{\"x\":1}")
        );
        assert_ne!(
            base,
            chain_hash(&"1".repeat(64), 1, &a, "login", Some("user:1"), "{}")
        );
        // Length prefixes stop field boundaries from sliding.
        assert_ne!(
            chain_hash(GENESIS, 1, &a, "ab", Some("c"), "{}"),
            chain_hash(GENESIS, 1, &a, "a", Some("bc"), "{}")
        );
    }
}

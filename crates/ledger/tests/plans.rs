//! The write path's lookups stay on their indexes on a fresh or freshly bulk-loaded database
//! with no statistics gathered since (autovacuum off), however long a connection has lived.

mod common;

use fanz_store::sqlx::{self, Connection, Row};
use fanz_store::{Backend, Store};

on_both_backends!(
    write_path_plans_cannot_go_stale,
    super::plans_stay_on_indexes
);

async fn plans_stay_on_indexes(store: Store) {
    match store.backend() {
        Backend::Sqlite => sqlite_plans(&store).await,
        Backend::Postgres => postgres_plans(&store).await,
    }
}

/// SQLite plans each statement when it is prepared, preferring an index without statistics.
async fn sqlite_plans(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    fanz_ledger::fresh_plans(&mut tx).await.unwrap();
    for (what, sql) in fanz_ledger::write_path_lookups(Backend::Sqlite) {
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .bind("a")
            .bind("b")
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(3))
            .collect();
        let plan = plan.join(" / ");
        assert!(
            plan.starts_with("SEARCH") && plan.contains("INDEX"),
            "{what}: {plan}"
        );
    }
}

/// PostgreSQL: a connection prepares the lookups and runs them while the tables are empty
/// and analysed as empty (so the server caches a generic plan: a sequential scan); the
/// tables are then bulk-loaded without a new ANALYZE. The cached generic plan is still the
/// scan, but the write path's transactions plan for their values and use the indexes.
async fn postgres_plans(store: &Store) {
    // (name, parameter types, statement, arguments after the load)
    let mut lookups: Vec<(String, &str, String, &str)> =
        fanz_ledger::write_path_lookups(Backend::Postgres)
            .iter()
            .map(|(what, sql)| {
                (
                    what.to_string(),
                    "text",
                    sql.to_string(),
                    "'{bulk:1,bulk:2}'",
                )
            })
            .collect();
    lookups.push((
        "audit chain tail".into(),
        "bigint",
        fanz_audit::TAIL_QUERY.into(),
        "9223372036854775807",
    ));
    let mut conn = store.pool().acquire().await.unwrap();
    sqlx::raw_sql("ANALYZE ledger_accounts, ledger_entries, audit_log")
        .execute(&mut *conn)
        .await
        .unwrap();
    for (i, (_, types, sql, args)) in lookups.iter().enumerate() {
        sqlx::raw_sql(&format!("PREPARE lookup{i} ({types}) AS {sql}"))
            .execute(&mut *conn)
            .await
            .unwrap();
        for _ in 0..8 {
            sqlx::raw_sql(&format!("EXECUTE lookup{i} ({args})"))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    }

    // The bulk load, from another connection, with no ANALYZE after it.
    let mut load = store.begin().await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO ledger_accounts (code, kind, currency, created_at) \
         SELECT 'bulk:' || g, 'asset', 'USD', 0 FROM generate_series(1, 20000) g; \
         INSERT INTO ledger_entries (idempotency_key, request_hash, kind, status, effective_at, created_at) \
         SELECT 'bulk:' || g, '', 'posted', 'posted', 0, 0 FROM generate_series(1, 100000) g; \
         INSERT INTO audit_log (at, action, details, prev_hash, hash) \
         SELECT 0, 'bulk', '{}', '', 'bulk:' || g FROM generate_series(1, 50000) g",
    )
    .execute(&mut *load)
    .await
    .unwrap();
    load.commit().await.unwrap();

    // The hazard: outside the write path the connection keeps the plan made on empty tables.
    let stale = explain(&mut conn, 0, lookups[0].3).await;
    assert!(
        stale.contains("Seq Scan"),
        "expected the cached generic plan to be the scan chosen on an empty table: {stale}"
    );
    let mut tx = conn.begin().await.unwrap();
    fanz_ledger::fresh_plans(&mut tx).await.unwrap();
    for (i, (what, _, _, args)) in lookups.iter().enumerate() {
        let plan = explain(&mut tx, i, args).await;
        assert!(
            plan.contains("Index") && !plan.contains("Seq Scan"),
            "{what}: {plan}"
        );
    }
    tx.rollback().await.unwrap();
    for i in 0..lookups.len() {
        sqlx::raw_sql(&format!("DEALLOCATE lookup{i}"))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// The plan `EXPLAIN EXECUTE` shows for prepared statement `lookup{i}`, lines joined.
async fn explain(conn: &mut fanz_store::Db, i: usize, args: &str) -> String {
    sqlx::raw_sql(&format!("EXPLAIN EXECUTE lookup{i} ({args})"))
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join(" / ")
}

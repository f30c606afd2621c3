//! The store port: one handle over SQLite (embedded default) or PostgreSQL (at scale).
//!
//! Every module writes its SQL once, in the portable subset both engines share, and runs it
//! through sqlx's `Any` driver: `$1…` placeholders, `BIGINT` integers (timestamps are
//! microseconds), `TEXT`, `RETURNING`, `ON CONFLICT`. Only DDL differs, so migrations live per
//! backend side by side in `migrations/{sqlite,postgres}`. Where an engine needs its own
//! statement (an advisory lock, `SKIP LOCKED`), code asks [`backend_of`].
//!
//! Domain functions take `&mut Db`; a caller passes a transaction from [`Store::begin`] to
//! compose several of them atomically, or a pooled connection for reads.
//!
//! This crate owns no domain tables and must never contain business rules.

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool};
use std::sync::Once;
use std::time::Duration;

pub use sqlx;

pub mod bulk;
pub mod testing;

/// A database connection of either backend; what every domain function takes.
pub type Db = sqlx::AnyConnection;
/// A write transaction; derefs to [`Db`].
pub type Tx = sqlx::Transaction<'static, Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Which engine a connection talks to.
pub fn backend_of(db: &Db) -> Backend {
    if db.backend_name().eq_ignore_ascii_case("postgresql") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// True when the error is a violated UNIQUE or PRIMARY KEY constraint, on either engine.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.code().as_deref() == Some("2067")
                || db.code().as_deref() == Some("1555")
        }
        _ => false,
    }
}

/// Per-connection settings: WAL for concurrent readers; FULL sync, so a transaction is on disk
/// when its commit returns (the WAL is synced at each commit: money must survive a power cut,
/// not only a crash of the process); enforced foreign keys; waiting instead of failing on a
/// busy file; statement journals and temporary tables in memory rather than in temporary
/// files; a 16 MiB page cache per connection (allocated as used).
const SQLITE_PRAGMAS: [&str; 7] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -16384",
    // Checkpoint after ~40 MB of log instead of 4 MB: a tenth as many commits pay for copying
    // the log back (the ledger's p99 commit latency), and hot pages are copied once per round.
    "PRAGMA wal_autocheckpoint = 10000",
];

/// The migration files, embedded by `build.rs`: `(file name, SQL)` in version order.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// Migrations compiled into the binary, read the way sqlx reads a directory:
/// `<version>_<description>.sql`, checksummed by content, so databases migrated by earlier
/// builds (which used `sqlx::migrate!`) see the same versions and checksums.
#[derive(Debug)]
struct Embedded(&'static [(&'static str, &'static str)]);

type BoxDynError = sqlx::error::BoxDynError;

impl sqlx::migrate::MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<sqlx::migrate::Migration>, BoxDynError>>
                + Send,
        >,
    > {
        Box::pin(async move { self.0.iter().map(|(n, sql)| migration(n, sql)).collect() })
    }
}

fn migration(name: &str, sql: &'static str) -> Result<sqlx::migrate::Migration, BoxDynError> {
    use sqlx::migrate::{Migration, MigrationType};
    let (version, description) = name
        .strip_suffix(".sql")
        .and_then(|stem| stem.split_once('_'))
        .ok_or_else(|| format!("migration {name:?} is not <version>_<description>.sql"))?;
    let version: i64 = version
        .parse()
        .map_err(|_| format!("migration {name:?} does not start with a version number"))?;
    Ok(Migration::new(
        version,
        description.replace('_', " ").into(),
        MigrationType::Simple,
        sql.into(),
        sql.starts_with("-- no-transaction"),
    ))
}

/// The handle to the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
}

/// SQLite's read connections: `max_connections`, capped at twice the cores (a cap never below
/// 4, for one- and two-core machines).
/// Each connection runs its statements on its own thread and SQLite's reads are CPU work, so
/// connections beyond the cores add threads that contend for the same locks, not throughput:
/// on two cores the home feed at 500 requests/s had p99 16–17 ms with 4 readers, 36 ms with 8
/// and 59–171 ms with 16 (BENCHMARKS.md, "Feeds and search at 500 requests/s on an idle
/// machine").
fn sqlite_readers(max_connections: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    max_connections.clamp(1, (2 * cores).max(4))
}

impl Store {
    /// Connect to `url`. For SQLite the file (and its directory) is created when missing, WAL
    /// is switched on, and writes go through one dedicated connection so in-process writers
    /// queue fairly instead of spinning on the file lock.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::from_url(url)?;
        match backend {
            Backend::Sqlite => {
                let url = sqlite_url_with_create(url)?;
                let opts = || {
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(10))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                for pragma in SQLITE_PRAGMAS {
                                    sqlx::query(pragma).execute(&mut *conn).await?;
                                }
                                Ok(())
                            })
                        })
                };
                let write = opts().max_connections(1).connect(&url).await?;
                let read = opts()
                    .max_connections(sqlite_readers(max_connections))
                    .connect(&url)
                    .await?;
                Ok(Self {
                    read,
                    write,
                    backend,
                })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                Ok(Self {
                    read: pool.clone(),
                    write: pool,
                    backend,
                })
            }
        }
    }

    /// Apply every pending migration of this backend. Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let files = match self.backend {
            Backend::Sqlite => embedded::SQLITE,
            Backend::Postgres => embedded::POSTGRES,
        };
        let migrator = sqlx::migrate::Migrator::new(Embedded(files)).await?;
        migrator.run(&self.write).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.read
    }

    /// A pooled connection for reads.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Any>, StoreError> {
        Ok(self.read.acquire().await?)
    }

    /// Begin a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes cannot fail to
    /// upgrade when another process wrote in between.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write.begin().await?,
        })
    }

    /// Readiness: the store answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Close every connection (graceful shutdown).
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// `sqlite://path` → `sqlite://path?mode=rwc`, creating the parent directory.
fn sqlite_url_with_create(url: &str) -> Result<String, StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or("");
    if !path.is_empty() && path != ":memory:" {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
    }
    Ok(if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// Rows as JSON objects keyed by column name, for exports of a person's own data: integers
/// stay numbers, text stays text, NULL is null; a column of another type (a BLOB) becomes
/// null. Select only what may be shown.
pub fn rows_json(rows: &[sqlx::any::AnyRow]) -> Vec<serde_json::Value> {
    use sqlx::{Column, Row};
    rows.iter()
        .map(|row| {
            let mut m = serde_json::Map::new();
            for (i, col) in row.columns().iter().enumerate() {
                let v = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                    v.map(serde_json::Value::from)
                } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                    v.map(serde_json::Value::from)
                } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                    v.map(serde_json::Value::from)
                } else {
                    None
                };
                m.insert(col.name().to_owned(), v.unwrap_or(serde_json::Value::Null));
            }
            serde_json::Value::Object(m)
        })
        .collect()
}

/// [`rows_json`] of a query bound to one id (the person's own rows).
pub async fn query_json(
    db: &mut Db,
    sql: &str,
    id: i64,
) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    let rows = sqlx::query(sql).bind(id).fetch_all(&mut *db).await?;
    Ok(rows_json(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_backend_from_url() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgres://h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(format!("fanz-store-{}", std::process::id()));
        let url = format!("sqlite://{}/a/fanz.db", dir.display());
        assert!(sqlite_url_with_create(&url)
            .unwrap()
            .ends_with("fanz.db?mode=rwc"));
        assert!(dir.join("a").is_dir());
        assert_eq!(
            sqlite_url_with_create("sqlite://x.db?mode=ro").unwrap(),
            "sqlite://x.db?mode=ro"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    /// With STAT4 histograms SQLite re-prepares a statement whenever a bound value might change
    /// its plan (nearly every feed query): the build leaves STAT4 out (`.cargo/config.toml`),
    /// and ANALYZE then writes only `sqlite_stat1`. It leaves memory statistics out too.
    #[tokio::test]
    async fn sqlite_is_built_without_stat4() {
        let dir = std::env::temp_dir().join(format!("fanz-store-stat4-{}", std::process::id()));
        let url = format!("sqlite://{}/fanz.db", dir.display());
        let store = Store::connect(&url, 1).await.unwrap();
        let mut db = store.conn().await.unwrap();
        let stat4: i64 = sqlx::query_scalar("SELECT sqlite_compileoption_used('ENABLE_STAT4')")
            .fetch_one(&mut *db)
            .await
            .unwrap();
        assert_eq!(stat4, 0, "SQLite was built with STAT4");
        // Nor with memory statistics, whose one global mutex every allocation takes.
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut *db)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        sqlx::query("CREATE TABLE t (a INTEGER, b INTEGER)")
            .execute(&mut *db)
            .await
            .unwrap();
        sqlx::query("CREATE INDEX t_a ON t (a)")
            .execute(&mut *db)
            .await
            .unwrap();
        for i in 0..100i64 {
            sqlx::query("INSERT INTO t (a, b) VALUES ($1, $2)")
                .bind(i % 7)
                .bind(i)
                .execute(&mut *db)
                .await
                .unwrap();
        }
        bulk::analyze(&mut db).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'")
                .fetch_all(&mut *db)
                .await
                .unwrap();
        assert_eq!(tables, vec!["sqlite_stat1".to_string()]);
        drop(db);
        std::fs::remove_dir_all(dir).ok();
    }
}

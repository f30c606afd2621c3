//! Throw-away stores for tests: a fresh SQLite file in a temporary directory, or a fresh
//! PostgreSQL database created on the server named by `FANZ_TEST_POSTGRES_URL` and dropped
//! when the handle is dropped.

use crate::{Backend, Store, StoreError};
use sqlx::migrate::MigrateDatabase;
use std::path::PathBuf;

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "FANZ_TEST_POSTGRES_URL";

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: Option<PathBuf>,
    /// PostgreSQL: the server's URL from `FANZ_TEST_POSTGRES_URL` and this database's name.
    admin: Option<(String, String)>,
}

impl TestDb {
    /// A new empty database, or `None` for PostgreSQL when `FANZ_TEST_POSTGRES_URL` is unset.
    /// Panics when the variable is set but the server cannot be reached: a configured
    /// backend that silently skips would hide failures.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let n: u64 = rand_suffix();
        match backend {
            Backend::Sqlite => {
                let dir =
                    std::env::temp_dir().join(format!("fanz-test-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                Some(TestDb {
                    url: format!("sqlite://{}/fanz.db", dir.display()),
                    backend,
                    dir: Some(dir),
                    admin: None,
                })
            }
            Backend::Postgres => {
                let admin = std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty())?;
                let name = format!("fanz_test_{n}");
                let url = with_database(&admin, &name);
                sqlx::Any::create_database(&url).await.unwrap_or_else(|e| {
                    panic!("{POSTGRES_ENV} is set but creating a test database failed: {e}")
                });
                Some(TestDb {
                    url,
                    backend,
                    dir: None,
                    admin: Some((admin, name)),
                })
            }
        }
    }

    /// Connect and migrate.
    pub async fn store(&self) -> Result<Store, StoreError> {
        let store = Store::connect(&self.url, 8).await?;
        store.migrate().await?;
        Ok(store)
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (std::process::id() as u64) * 1_000_000_000
        + (t % 1_000_000) * 1000
        + COUNTER.fetch_add(1, Ordering::Relaxed) % 1000
}

/// Replace the database name in a PostgreSQL URL, keeping any query string.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.admin.take() {
            let url = self.url.clone();
            // Drop may run inside a runtime; use a thread with its own. The test's server may
            // still hold (and re-open) connections to the database: `WITH (FORCE)` ends them
            // and drops it in one statement, where terminating them first and dropping after
            // lost the race to the pool's reconnects and left the database and its
            // connections behind until the test process ended.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    use sqlx::Connection;
                    let forced = async {
                        let mut conn = sqlx::AnyConnection::connect(&admin).await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut conn)
                            .await?;
                        conn.close().await
                    };
                    if let Err(e) = forced.await {
                        // PostgreSQL before 13 has no FORCE.
                        tracing::debug!(error = %e, "forced drop failed; terminating first");
                        let _ = sqlx::Any::force_drop_database(&url).await;
                    }
                })
            })
            .join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn swaps_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}

//! `fanz demo` gives the README's ledger example the accounts it needs: a bookkeeper with the
//! finance role and an admin, each with a password printed once (issue 9, finding 16).

use fanz_store::sqlx::{self, Row};
use fanz_store::testing::TestDb;
use fanz_store::Backend;
use std::process::Command;

async fn demo_has_a_bookkeeper(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fanz"))
        .arg("demo")
        .env("FANZ_DATABASE_URL", &db.url)
        .env("FANZ_DATA_DIR", data.path())
        .env("FANZ_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for handle in ["fin_books", "ops_admin"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("{handle}@demo.fanz.localhost")))
            .unwrap_or_else(|| panic!("no credentials printed for {handle}: {stdout}"));
        // e-mail, password, @handle, "user", id
        assert_eq!(line.split_whitespace().count(), 5, "{line}");
        assert!(line.contains(" user "), "{line}");
    }
    let store = db.store().await.unwrap();
    let roles: Vec<String> = sqlx::query(
        "SELECT r.role FROM user_roles r JOIN users u ON u.id = r.user_id \
         WHERE u.handle = 'fin_books' ORDER BY r.role",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert!(roles.iter().any(|r| r == "finance"), "{roles:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_demo_has_a_bookkeeper() {
    demo_has_a_bookkeeper(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_demo_has_a_bookkeeper() {
    demo_has_a_bookkeeper(Backend::Postgres).await;
}

//! Crash test: a storm of processor notifications against a running `fanz serve`, killed with
//! SIGKILL in the middle; restarted, the processor sends every notification again (those it
//! saw answered and those it did not). The books verify, every sale is posted exactly once,
//! nothing is lost. On SQLite, and on PostgreSQL when FANZ_TEST_POSTGRES_URL is set.

use fanz_processors::sandbox::{Notification, SIGNATURE_HEADER};
use fanz_store::sqlx::{self, Row};
use fanz_store::testing::TestDb;
use fanz_store::Backend;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fanz");
const SECRET: &str = "crash-test-secret";
const SALES: usize = 240;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(db: &str, port: u16, data: &std::path::Path) -> Child {
    Command::new(BIN)
        .arg("serve")
        .env("FANZ_DATABASE_URL", db)
        .env("FANZ_LISTEN", format!("127.0.0.1:{port}"))
        .env("FANZ_DATA_DIR", data)
        .env("FANZ_PAYMENTS__SANDBOX", "true")
        .env("FANZ_PAYMENTS__SANDBOX_SECRET", SECRET)
        .env("FANZ_AUTH__SIGNUP_MAX_PER_IP", "10000")
        .env("FANZ_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn ready(port: u16) {
    for _ in 0..600 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never became ready");
}

async fn signup(c: &reqwest::Client, base: &str, handle: &str) -> String {
    let r = c
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": format!("{handle}@example.com"), "handle": handle, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "signup {handle}: {}", r.status());
    let r: Value = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(
            &json!({"email": format!("{handle}@example.com"), "password": "correct horse battery"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().unwrap().to_owned()
}

fn sale(reference: &str, i: usize) -> (Vec<u8>, String) {
    let n: Notification = serde_json::from_value(json!({
        "id": format!("crash-{i}"), "type": "sale.approved", "reference": reference,
        "transaction": format!("crash-txn-{i}"), "amount": 500, "currency": "USD", "fee": 55
    }))
    .unwrap();
    n.sign(SECRET)
}

/// Send every notification, `in_flight` at a time; counts the answered ones.
async fn storm(base: String, notes: Arc<Vec<(Vec<u8>, String)>>, answered: Arc<AtomicUsize>) {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for i in 0..notes.len() {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (c, base, notes, answered) = (c.clone(), base.clone(), notes.clone(), answered.clone());
        tasks.push(tokio::spawn(async move {
            let (body, sig) = &notes[i];
            let r = c
                .post(format!("{base}/api/v1/payments/webhooks/sandbox"))
                .header(SIGNATURE_HEADER, sig)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            if matches!(r, Ok(ref r) if r.status().is_success()) {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn crash_and_replay(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    let store = db.store().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(&db.url, port, data.path());
    ready(port).await;

    // A creator and a fan with SALES open tip checkouts.
    let c = reqwest::Client::new();
    let creator = signup(&c, &base, "crashcreator").await;
    let r = c
        .post(format!("{base}/api/v1/me/creator"))
        .bearer_auth(&creator)
        .json(&json!({"clusters": ["boyfanz"]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let creator_id = c
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&creator)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let fan = signup(&c, &base, "crashfan").await;
    let mut notes = Vec::new();
    for i in 0..SALES {
        let r: Value = c
            .post(format!("{base}/api/v1/checkout"))
            .bearer_auth(&fan)
            .json(&json!({"kind": "tip", "creator_id": creator_id, "amount": 500, "processor": "sandbox"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        notes.push(sale(r["reference"].as_str().unwrap(), i));
    }
    let notes = Arc::new(notes);

    // The storm, killed part-way.
    let answered = Arc::new(AtomicUsize::new(0));
    let run = tokio::spawn(storm(base.clone(), notes.clone(), answered.clone()));
    for _ in 0..3000 {
        if answered.load(Ordering::SeqCst) >= SALES / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let _ = run.await;
    let before = answered.load(Ordering::SeqCst);
    assert!(
        (SALES / 3..SALES).contains(&before),
        "killed mid-storm ({before} of {SALES} answered)"
    );

    // Restarted; the processor sends everything again, some twice.
    let mut child = start(&db.url, port, data.path());
    ready(port).await;
    let again = Arc::new(AtomicUsize::new(0));
    storm(base.clone(), notes.clone(), again.clone()).await;
    storm(
        base.clone(),
        Arc::new(notes[..SALES / 4].to_vec()),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    assert_eq!(
        again.load(Ordering::SeqCst),
        SALES,
        "every notification answered after the restart"
    );
    // Anything stored but not applied when the process died is applied by the sweep.
    let mut charges = 0i64;
    for _ in 0..300 {
        charges = sqlx::query("SELECT COUNT(*) FROM charges WHERE kind = 'sale'")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .get(0);
        let pending: i64 = sqlx::query(
            "SELECT COUNT(*) FROM payment_notifications WHERE status IN ('received', 'retrying')",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
        if charges == SALES as i64 && pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(charges, SALES as i64, "every sale posted exactly once");
    let paid: i64 = sqlx::query("SELECT COUNT(*) FROM checkouts WHERE status = 'paid'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(paid, SALES as i64);
    let entries: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_entries WHERE template = 'tip@1'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(entries, SALES as i64, "one ledger entry per sale");
    let cash: i64 = sqlx::query("SELECT debits_posted - credits_posted FROM ledger_accounts WHERE code = 'cash:sandbox:USD'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(cash, SALES as i64 * (500 - 55));
    let dead: i64 = sqlx::query(
        "SELECT COUNT(*) FROM payment_notifications WHERE status IN ('dead', 'rejected')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
    .get(0);
    assert_eq!(dead, 0);
    let out = Command::new(BIN)
        .args(["ledger", "verify"])
        .env("FANZ_DATABASE_URL", &db.url)
        .env("FANZ_DATA_DIR", data.path())
        .env("FANZ_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ledger verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    crash_and_replay(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    crash_and_replay(Backend::Postgres).await;
}

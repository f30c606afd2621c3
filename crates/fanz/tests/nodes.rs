//! Two `fanz serve` processes on one PostgreSQL database and one NATS server, as an operator
//! runs them: every probe job runs exactly once across the nodes, an event produced on node A
//! reaches node B's subscriber, the jobs of a node killed with SIGKILL complete once on the
//! other after their lease, a recurring job runs once per period, and SIGTERM releases the
//! jobs a node still runs. Needs FANZ_TEST_POSTGRES_URL and FANZ_TEST_NATS_URL.

use fanz_store::sqlx::{self, Row};
use fanz_store::testing::TestDb;
use fanz_store::{Backend, Store};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fanz");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    name: &'static str,
    port: u16,
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &'static str, db: &str, nats: &str) -> Node {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let child = Command::new(BIN)
        .arg("serve")
        .env("FANZ_DATABASE_URL", db)
        .env("FANZ_EVENTS_URL", nats)
        .env("FANZ_LISTEN", format!("127.0.0.1:{port}"))
        .env("FANZ_DATA_DIR", data.path())
        .env("FANZ_JOBS__NODE_NAME", name)
        .env("FANZ_JOBS__LEASE_SECS", "3")
        .env("FANZ_JOBS__POLL_INTERVAL_MS", "250")
        .env("FANZ_JOBS__SHUTDOWN_GRACE_SECS", "1")
        .env("FANZ_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Node {
        name,
        port,
        child,
        _data: data,
    }
}

async fn ready(node: &Node) {
    let url = format!("http://127.0.0.1:{}/readyz", node.port);
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("node {} never became ready", node.name);
}

fn cli(db: &str, args: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(args)
        .env("FANZ_DATABASE_URL", db)
        .env("FANZ_DATA_DIR", data.path())
        .env("FANZ_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fanz {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0)
}

async fn wait_for(store: &Store, sql: &str, want: i64, what: &str) {
    let mut got = 0;
    for _ in 0..1200 {
        got = count(store, sql).await;
        if got >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {got} of {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_jobs_and_events() {
    let Some(nats) = std::env::var("FANZ_TEST_NATS_URL")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("FANZ_TEST_NATS_URL not set: two-node run skipped");
        return;
    };
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: two-node run skipped");
        return;
    };
    let store = db.store().await.unwrap();
    cli(
        &db.url,
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "correct horse battery",
            "--handle",
            "ops",
            "--role",
            "admin",
        ],
    );
    let mut a = start("node-a", &db.url, &nats);
    let mut b = start("node-b", &db.url, &nats);
    ready(&a).await;
    ready(&b).await;

    // 2,000 jobs, each recording its own run in the transaction that completes it.
    cli(&db.url, &["jobs", "probe", "--count", "2000"]);
    wait_for(
        &store,
        "SELECT COUNT(*) FROM job_probe_runs",
        2000,
        "probe runs",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM job_probe_runs").await,
        2000,
        "no job ran twice"
    );
    assert_eq!(
        count(&store, "SELECT COUNT(DISTINCT job_id) FROM job_probe_runs").await,
        2000
    );
    for node in ["node-a", "node-b"] {
        let ran = count(
            &store,
            &format!("SELECT COUNT(*) FROM job_probe_runs WHERE node = '{node}'"),
        )
        .await;
        assert!(ran > 0, "{node} ran none of the jobs");
    }

    // An event produced on node A (through its API) reaches node B's subscriber.
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("http://127.0.0.1:{}/api/v1/auth/login", a.port))
        .json(&serde_json::json!({"email": "ops@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("admin token").to_owned();
    let probe: serde_json::Value = client
        .post(format!(
            "http://127.0.0.1:{}/api/v1/admin/events/probe",
            a.port
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = probe["event_id"].as_str().unwrap().to_owned();
    wait_for(
        &store,
        &format!("SELECT COUNT(*) FROM event_probe_receipts WHERE event_id = '{event}' AND node = 'node-b'"),
        1,
        "node B received node A's event",
    )
    .await;
    let published = count(
        &store,
        &format!(
            "SELECT COUNT(*) FROM events WHERE event_id = '{event}' AND stream_seq IS NOT NULL"
        ),
    )
    .await;
    assert_eq!(published, 1, "the event went through NATS");

    // SIGKILL node A while it holds jobs: they complete once on node B after the lease.
    cli(
        &db.url,
        &["jobs", "probe", "--count", "12", "--sleep-ms", "2000"],
    );
    wait_for(
        &store,
        "SELECT COUNT(*) FROM jobs WHERE kind = 'jobs.probe' AND state = 'running' AND locked_by = 'node-a'",
        1,
        "node A took some of the slow jobs",
    )
    .await;
    let held: Vec<i64> =
        sqlx::query("SELECT id FROM jobs WHERE state = 'running' AND locked_by = 'node-a'")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    wait_for(
        &store,
        "SELECT COUNT(*) FROM job_probe_runs",
        2012,
        "slow probe runs",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM job_probe_runs").await,
        2012
    );
    assert_eq!(
        count(&store, "SELECT COUNT(DISTINCT job_id) FROM job_probe_runs").await,
        2012
    );
    for id in &held {
        let row = sqlx::query("SELECT state, locked_by, attempts FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await
            .unwrap();
        let (state, by, attempts): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            (state.as_str(), by.as_str()),
            ("done", "node-b"),
            "job {id}"
        );
        assert_eq!(
            attempts, 2,
            "job {id} ran again after node A's lease expired"
        );
    }

    // The recurring ledger job ran once per 5 s period with both nodes up.
    let (runs, periods) = {
        let r = sqlx::query(
            "SELECT COUNT(*), COUNT(DISTINCT run_at / 5000000) FROM jobs WHERE kind = 'ledger.release_due'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        (r.get::<i64, _>(0), r.get::<i64, _>(1))
    };
    assert!(runs >= 2, "the recurring job ran {runs} times");
    assert_eq!(runs, periods, "a period ran twice");

    // SIGTERM node B while it runs long jobs: it stops within its grace and releases them.
    cli(
        &db.url,
        &["jobs", "probe", "--count", "2", "--sleep-ms", "60000"],
    );
    wait_for(
        &store,
        "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND locked_by = 'node-b' AND kind = 'jobs.probe'",
        2,
        "node B runs the long jobs",
    )
    .await;
    let pid = b.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = b.child.wait().unwrap();
    assert!(status.success(), "node B exits cleanly: {status}");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM jobs WHERE kind = 'jobs.probe' AND state = 'ready' AND attempts = 0 AND locked_by IS NULL").await,
        2,
        "the long jobs were released for another node"
    );
    let stats = cli(&db.url, &["jobs", "stats"]);
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("default") && l.split_whitespace().nth(1) == Some("2")),
        "{stats}"
    );
}

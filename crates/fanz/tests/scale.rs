//! `fanz demo --scale` at a tiny size: the counts it prints are what a client finds through
//! the HTTP API (every post on its creator's page, follower counts, likes, subscriptions that
//! open subscriber posts in fans' home feeds), `fanz search reindex` indexes them, and the same
//! seed twice is refused.

use fanz_store::sqlx::{self, Row};
use fanz_store::testing::TestDb;
use fanz_store::Backend;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fanz");
const PASSWORD: &str = "scale-test-password";
const SEED: &str = "7";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fanz(db: &str, data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("FANZ_DATABASE_URL", db)
        .env("FANZ_DATA_DIR", data)
        .env("FANZ_LOG", "warn")
        .output()
        .unwrap()
}

/// `12 creators, 30 fans, …` → {"creators": 12, "fans": 30, …}
fn counts(line: &str) -> HashMap<String, i64> {
    let (_, list) = line.split_once("): ").expect("a summary line");
    let list = list.split(" in ").next().unwrap();
    list.split(", ")
        .map(|part| {
            let (n, what) = part.split_once(' ').unwrap();
            (what.to_owned(), n.parse().unwrap())
        })
        .collect()
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> Value {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

/// Every page of a feed.
async fn all_items(client: &reqwest::Client, url: &str, token: Option<&str>) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_url = match &cursor {
            Some(c) => format!(
                "{url}{}cursor={c}",
                if url.contains('?') { "&" } else { "?" }
            ),
            None => url.to_owned(),
        };
        let page = get(client, &page_url, token).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

async fn scale_counts_hold(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let args = [
        "demo",
        "--scale",
        "--creators",
        "6",
        "--posts",
        "400",
        "--fans",
        "15",
        "--follows",
        "40",
        "--likes-per-post",
        "3",
        "--subscribed",
        "0.5",
        "--password",
        PASSWORD,
        "--seed",
        SEED,
    ];
    let out = fanz(&db.url, data.path(), &args);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("scale data"))
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    let n = counts(line);
    assert_eq!(n["creators"], 6, "{line}");
    assert_eq!(n["fans"], 15, "{line}");
    assert_eq!(n["posts"], 400, "{line}");
    assert_eq!(n["follows"], 40, "{line}");
    assert!(n["subscriptions"] > 0, "{line}");
    assert!(n["likes"] > 0, "{line}");

    // The same seed again is refused and writes nothing.
    let again = fanz(&db.url, data.path(), &args);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already here"),
        "{again:?}"
    );

    let reindex = fanz(&db.url, data.path(), &["search", "reindex"]);
    assert!(reindex.status.success(), "{reindex:?}");
    let said = String::from_utf8_lossy(&reindex.stdout);
    assert!(said.contains("indexed 400 posts and 6 creators"), "{said}");

    // The creators' handles: the one thing read from the store (they hold a random word).
    let store = db.store().await.unwrap();
    let handles: Vec<String> = sqlx::query(
        "SELECT handle FROM profiles WHERE is_creator = 1 AND handle LIKE 'c7\\_%' ESCAPE '\\' \
         ORDER BY user_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    store.close().await;
    assert_eq!(handles.len(), 6, "{handles:?}");

    let port = free_port();
    let _server = Server(
        Command::new(BIN)
            .arg("serve")
            .env("FANZ_DATABASE_URL", &db.url)
            .env("FANZ_DATA_DIR", data.path())
            .env("FANZ_LISTEN", format!("127.0.0.1:{port}"))
            .env("FANZ_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                up = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server never became ready");

    // Every post is on its creator's page; their likes and followers add up.
    let mut posts = 0;
    let mut likes = 0;
    let mut followers = 0;
    let mut ids = HashSet::new();
    let mut a_tag = None;
    for h in &handles {
        let profile = get(&client, &format!("{base}/api/v1/profiles/{h}"), None).await;
        followers += profile["followers"].as_i64().unwrap();
        let items = all_items(
            &client,
            &format!("{base}/api/v1/creators/{h}/posts?limit=50"),
            None,
        )
        .await;
        for p in &items {
            assert!(ids.insert(p["id"].as_i64().unwrap()), "a post twice");
            likes += p["likes"].as_i64().unwrap();
            // A stranger reads public posts only; the rest are previews.
            let public = p["visibility"] == "public";
            assert_eq!(p["locked"].as_bool().unwrap(), !public, "{p}");
            assert_eq!(p["text"].is_null(), !public, "{p}");
            if a_tag.is_none() {
                a_tag = p["tags"][0].as_str().map(str::to_owned);
            }
        }
        posts += items.len() as i64;
    }
    assert_eq!(posts, n["posts"]);
    assert_eq!(likes, n["likes"]);
    assert_eq!(followers, n["follows"]);

    // Fans sign in with the shared password; their home feeds hold only the creators they
    // follow or subscribe to, and subscriptions open subscriber posts.
    let mut following = 0;
    let mut opened_by_subscription = 0;
    for i in 1..=15 {
        let email = format!("f{SEED}_{i}@scale.fanz.localhost");
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{email}: {}", r.status());
        let token = r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let me = get(
            &client,
            &format!("{base}/api/v1/profiles/f{SEED}_{i}"),
            None,
        )
        .await;
        following += me["following"].as_i64().unwrap();
        let home = get(
            &client,
            &format!("{base}/api/v1/feed/home?limit=50"),
            Some(&token),
        )
        .await;
        for p in home["items"].as_array().unwrap() {
            assert!(
                handles.contains(&p["author"]["handle"].as_str().unwrap().to_owned()),
                "{p}"
            );
            if p["access"] == "subscriber" {
                opened_by_subscription += 1;
            }
        }
    }
    assert_eq!(following, n["follows"]);
    assert!(opened_by_subscription > 0, "no subscription opened a post");

    // Search finds posts by a tag they carry.
    let tag = a_tag.expect("posts have tags");
    let found = get(
        &client,
        &format!("{base}/api/v1/search?q={tag}%20&kind=posts"),
        None,
    )
    .await;
    assert!(found["total_posts"].as_u64().unwrap() > 0, "{found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_scale_demo_counts_hold_over_http() {
    scale_counts_hold(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_scale_demo_counts_hold_over_http() {
    scale_counts_hold(Backend::Postgres).await;
}

//! The outbox, the relay and subscribers against a real store, on SQLite and (with
//! FANZ_TEST_POSTGRES_URL) PostgreSQL; across two buses through NATS with FANZ_TEST_NATS_URL.

use fanz_events::{Bus, BusConfig, Envelope, Event, Subscribers};
use fanz_store::sqlx::{self, Row};
use fanz_store::testing::TestDb;
use fanz_store::Store;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = fanz_store::testing::TestDb::new(fanz_store::Backend::Sqlite).await.unwrap();
                    super::$name(&db).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match fanz_store::testing::TestDb::new(fanz_store::Backend::Postgres).await {
                        Some(db) => super::$name(&db).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
}

on_both_backends!(
    rollback_publishes_nothing_and_commit_delivers_in_order,
    a_failing_handler_parks_the_event_without_blocking_others,
    a_restart_resumes_from_the_position_and_replay_delivers_again,
);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
enum TestEvent {
    #[serde(rename = "test.happened")]
    Happened { n: i64 },
    #[serde(rename = "other.thing")]
    Other { n: i64 },
}

impl Event for TestEvent {
    fn cluster(&self) -> Option<&str> {
        Some("boyfanz")
    }
    fn subject(&self) -> String {
        match self {
            TestEvent::Happened { n } | TestEvent::Other { n } => format!("thing:{n}"),
        }
    }
}

fn config(db: &TestDb, node: &str, nats: &str) -> BusConfig {
    BusConfig {
        node: node.into(),
        nats_url: nats.into(),
        database_url: db.url.clone(),
        poll_interval: Duration::from_millis(100),
        max_attempts: 3,
        retry_base: Duration::from_millis(10),
        handler_timeout: Duration::from_secs(5),
    }
}

type Seen = Arc<Mutex<Vec<i64>>>;

/// A subscriber that records `n` of every `test.` event; fails for `n` in `fail`.
fn recorder(subs: &mut Subscribers, name: &str, seen: Seen, fail: &'static [i64]) {
    subs.subscribe(name, &["test."], move |e: Envelope| {
        let seen = seen.clone();
        async move {
            let Some(TestEvent::Happened { n }) = e.decode::<TestEvent>() else {
                return Err("not a test event".into());
            };
            if fail.contains(&n) {
                return Err(format!("refusing {n}"));
            }
            seen.lock().unwrap().push(n);
            Ok(())
        }
    });
}

async fn publish(store: &Store, ns: &[i64]) {
    let mut tx = store.begin().await.unwrap();
    for &n in ns {
        fanz_events::publish(&mut tx, &TestEvent::Happened { n })
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

async fn rollback_publishes_nothing_and_commit_delivers_in_order(db: &TestDb) {
    let store = db.store().await.unwrap();
    let seen: Seen = Arc::default();
    let mut subs = Subscribers::new();
    recorder(&mut subs, "recorder", seen.clone(), &[]);
    let bus = Bus::new(store.clone(), subs, config(db, "a", ""))
        .start()
        .await
        .unwrap();

    let mut tx = store.begin().await.unwrap();
    fanz_events::publish(&mut tx, &TestEvent::Happened { n: -1 })
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    publish(&store, &[1, 2]).await;
    let mut tx = store.begin().await.unwrap();
    fanz_events::publish(&mut tx, &TestEvent::Other { n: 99 })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    publish(&store, &[3]).await;

    eventually("three delivered", || seen.lock().unwrap().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
    let mut conn = store.conn().await.unwrap();
    let events = fanz_events::tail(&mut conn, None, 10).await.unwrap();
    assert_eq!(
        events.len(),
        4,
        "the rolled-back event is not in the outbox"
    );
    assert!(events.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert_eq!(events[0].cluster, "boyfanz");
    assert_eq!(events[0].subject, "thing:1");
    let subs = fanz_events::subscribers(&mut conn).await.unwrap();
    let rec = subs.iter().find(|s| s.name == "recorder").unwrap();
    assert_eq!(
        (rec.position, rec.behind),
        (4, 0),
        "the position moved past the other event too"
    );
    drop(conn);
    bus.shutdown().await;
}

async fn a_failing_handler_parks_the_event_without_blocking_others(db: &TestDb) {
    let store = db.store().await.unwrap();
    let picky: Seen = Arc::default();
    let easy: Seen = Arc::default();
    let mut subs = Subscribers::new();
    recorder(&mut subs, "picky", picky.clone(), &[2]);
    recorder(&mut subs, "easy", easy.clone(), &[]);
    let bus = Bus::new(store.clone(), subs, config(db, "a", ""))
        .start()
        .await
        .unwrap();
    publish(&store, &[1, 2, 3]).await;
    eventually("picky went past", || picky.lock().unwrap().len() == 2).await;
    eventually("easy got all", || easy.lock().unwrap().len() == 3).await;
    assert_eq!(*picky.lock().unwrap(), vec![1, 3]);
    let mut conn = store.conn().await.unwrap();
    // The handlers run first; the batch's dead letters are written with its new position
    // after them, so the dead letter may lag the handler by a moment.
    let mut dead = Vec::new();
    for _ in 0..600 {
        dead = fanz_events::dead_letters(&mut conn, 10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].subscriber, "picky");
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].error, "refusing 2");
    drop(conn);
    bus.shutdown().await;
}

async fn a_restart_resumes_from_the_position_and_replay_delivers_again(db: &TestDb) {
    let store = db.store().await.unwrap();
    let seen: Seen = Arc::default();
    let start = |seen: Seen| {
        let mut subs = Subscribers::new();
        recorder(&mut subs, "recorder", seen, &[]);
        Bus::new(store.clone(), subs, config(db, "a", "")).start()
    };
    let bus = start(seen.clone()).await.unwrap();
    publish(&store, &[1, 2]).await;
    eventually("two", || seen.lock().unwrap().len() == 2).await;
    bus.shutdown().await;
    // Published while no node runs the subscriber.
    publish(&store, &[3, 4]).await;
    let bus = start(seen.clone()).await.unwrap();
    eventually("four", || seen.lock().unwrap().len() == 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![1, 2, 3, 4],
        "nothing skipped, nothing twice"
    );

    let mut tx = store.begin().await.unwrap();
    fanz_events::replay(&mut tx, "", "recorder", 2)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    eventually("replayed", || seen.lock().unwrap().len() == 7).await;
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3, 4, 2, 3, 4]);
    let mut conn = store.conn().await.unwrap();
    assert!(matches!(
        fanz_events::replay(&mut conn, "", "nobody", 1).await,
        Err(fanz_events::EventsError::UnknownSubscriber(_))
    ));
    drop(conn);
    bus.shutdown().await;
}

/// Two buses (two nodes) on one PostgreSQL database and one NATS server: an event published
/// on node A reaches node B's own subscriber, and a shared subscriber gets it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nats_an_event_from_node_a_reaches_node_b() {
    let Some(nats) = std::env::var("FANZ_TEST_NATS_URL")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("FANZ_TEST_NATS_URL not set: NATS run skipped");
        return;
    };
    let Some(db) = TestDb::new(fanz_store::Backend::Postgres).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: NATS run skipped");
        return;
    };
    let store = db.store().await.unwrap();
    // A fresh stream per run: the test's events only.
    let client = async_nats_client(&nats).await;
    let _ = client.delete_stream("FANZ_EVENTS").await;
    let on_b: Seen = Arc::default();
    let shared_a: Seen = Arc::default();
    let shared_b: Seen = Arc::default();
    let mut subs_a = Subscribers::new();
    recorder(&mut subs_a, "shared", shared_a.clone(), &[]);
    let mut subs_b = Subscribers::new();
    recorder(&mut subs_b, "shared", shared_b.clone(), &[]);
    recorder(&mut subs_b, "only-b", on_b.clone(), &[]);
    let a = Bus::new(store.clone(), subs_a, config(&db, "a", &nats))
        .start()
        .await
        .unwrap();
    let b = Bus::new(store.clone(), subs_b, config(&db, "b", &nats))
        .start()
        .await
        .unwrap();
    publish(&store, &[10, 11, 12]).await;
    eventually("b's own subscriber got all", || {
        on_b.lock().unwrap().len() == 3
    })
    .await;
    eventually("the shared subscriber got all", || {
        shared_a.lock().unwrap().len() + shared_b.lock().unwrap().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut all: Vec<i64> = shared_a.lock().unwrap().clone();
    all.extend(shared_b.lock().unwrap().iter());
    all.sort();
    assert_eq!(
        all,
        vec![10, 11, 12],
        "a shared durable consumer delivers once"
    );
    let published: i64 = sqlx::query("SELECT COUNT(*) FROM events WHERE stream_seq IS NOT NULL")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(published, 3);
    a.shutdown().await;
    b.shutdown().await;
}

async fn async_nats_client(url: &str) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(url).await.unwrap())
}

//! Runtime registrations live in the store, so every node routes to the same instances; each
//! change is audited. On SQLite, and on PostgreSQL when FANZ_TEST_POSTGRES_URL is set.

mod support;

use axum::body::Body;
use axum::http::StatusCode;
use fanz_gateway::Gateway;
use fanz_store::testing::TestDb;
use fanz_store::{sqlx, Backend, Store};
use std::sync::Arc;
use support::*;

async fn node(store: &Store, catalogue: &str) -> Gateway {
    Gateway::builder(config())
        .catalogue_text(catalogue)
        .auth(Arc::new(TestAuth))
        .store(store.clone())
        .build()
        .await
        .expect("gateway builds")
}

async fn audited(store: &Store, action: &str) -> i64 {
    let mut conn = store.conn().await.unwrap();
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn registrations_are_shared_by_nodes_and_audited(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped");
        return;
    };
    let store = db.store().await.unwrap();
    let up = Upstream::start("a").await;
    let catalogue = service("svc", &[], "");
    let one = node(&store, &catalogue).await;
    let base = serve(&one).await;
    let c = client();
    let admin = [
        ("authorization", "Bearer admin-token"),
        ("content-type", "application/json"),
    ];
    let res = call(
        &c,
        "POST",
        &format!("{base}/api/gateway/services/svc/instances"),
        &admin,
        Body::from(format!("{{\"url\":\"{}\"}}", up.url())),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let id = res.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        res.json()["healthPath"],
        "/healthz",
        "the default health path"
    );
    assert_eq!(audited(&store, "gateway.instance.register").await, 1);

    // A second node started later routes to it.
    let two = node(&store, &catalogue).await;
    let base_two = serve(&two).await;
    let view = two.services().into_iter().next().unwrap();
    assert_eq!(view.instances().len(), 1);
    assert_eq!(view.instances()[0].id, id);
    assert_eq!(
        get(&c, &format!("{base_two}/api/gateway/proxy/svc/hello"))
            .await
            .text(),
        "hello from a"
    );

    // Registering the same URL on the other node finds the stored one.
    let res = call(
        &c,
        "POST",
        &format!("{base_two}/api/gateway/services/svc/instances"),
        &admin,
        Body::from(format!("{{\"url\":\"{}/\"}}", up.url())),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["id"], id.as_str());

    let res = call(
        &c,
        "DELETE",
        &format!("{base}/api/gateway/services/svc/instances/{id}"),
        &admin,
        Body::empty(),
    )
    .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(audited(&store, "gateway.instance.deregister").await, 1);
    two.sync_from_store().await.unwrap();
    assert!(
        two.services()[0].instances().is_empty(),
        "the other node forgot it"
    );
    let res = get(&c, &format!("{base_two}/api/gateway/proxy/svc/hello")).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_sqlite() {
    registrations_are_shared_by_nodes_and_audited(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_postgres() {
    registrations_are_shared_by_nodes_and_audited(Backend::Postgres).await;
}

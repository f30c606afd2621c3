//! `/api/v1/admin/audit`: pages of events, and a chain check that re-hashes only what was
//! appended since the last verified checkpoint (issue 9, finding 13).

use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(audit_pages_and_incremental_chain_check);

async fn audit(app: &TestApp, t: &str, query: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/admin/audit{query}"), Some(t))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

fn intact(v: &Value) -> u64 {
    v["chain"]["Intact"]["entries"]
        .as_u64()
        .unwrap_or_else(|| panic!("chain not intact: {v}"))
}

async fn audit_pages_and_incremental_chain_check(app: TestApp) {
    let admin = app.admin().await;
    for i in 0..6 {
        app.user(&format!("audited_{i}")).await;
    }
    // The first call hashes everything; the next one nothing new; a full check everything.
    let first = audit(&app, &admin, "").await;
    let total = intact(&first);
    assert!(total >= 12, "{first}");
    assert_eq!(first["chain_rows_checked"].as_u64(), Some(total));
    let again = audit(&app, &admin, "").await;
    assert_eq!(intact(&again), total);
    assert_eq!(again["chain_rows_checked"], 0, "{again}");
    app.post(
        "/api/v1/auth/login",
        json!({"email": "audited_0@example.com", "password": "wrong wrong wrong"}),
        None,
    )
    .await;
    let after = audit(&app, &admin, "").await;
    let grown = intact(&after);
    assert!(grown > total, "{after}");
    assert_eq!(
        after["chain_rows_checked"].as_u64(),
        Some(grown - total),
        "only the new rows are hashed: {after}"
    );
    let full = audit(&app, &admin, "?verify=full").await;
    assert_eq!(intact(&full), grown);
    assert_eq!(full["chain_rows_checked"].as_u64(), Some(grown));

    // Pages of 5, newest first, following next_before, cover every row exactly once.
    let mut ids: Vec<i64> = Vec::new();
    let mut query = "?limit=5".to_owned();
    loop {
        let page = audit(&app, &admin, &query).await;
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 5);
        ids.extend(entries.iter().map(|e| e["id"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => query = format!("?limit=5&before={before}"),
            None => break,
        }
    }
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert_eq!(ids.len() as u64, grown, "every row once");
    let default = audit(&app, &admin, "").await;
    assert!(default["entries"].as_array().unwrap().len() <= 100);

    for bad in ["?limit=0", "?limit=501", "?verify=sometimes"] {
        let res = app
            .get(&format!("/api/v1/admin/audit{bad}"), Some(&admin))
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let (fan, _) = app.user("nosy").await;
    let res = app.get("/api/v1/admin/audit", Some(&fan)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

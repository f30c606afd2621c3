//! Statements of reasons for the EU DSA Transparency Database over HTTP: takedowns after a
//! notice and after a copyright notice, a decision that restricts nothing, another month's
//! statement, and who may read them.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use crate::safety::user_id;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(transparency_statements_of_a_month);

async fn notice(app: &TestApp, body: Value) -> i64 {
    let res = app.post("/api/v1/reports", body, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["case_id"]
        .as_i64()
        .unwrap()
}

async fn decide(app: &TestApp, admin: &str, case: i64, outcome: &str, reason: &str) -> i64 {
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{case}/decision"),
            json!({"outcome": outcome, "reason": reason}),
            Some(admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail: Value = app
        .get(&format!("/api/v1/compliance/cases/{case}"), Some(admin))
        .await
        .json()
        .await
        .unwrap();
    detail["statements"].as_array().unwrap().last().unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn statements(app: &TestApp, token: &str, month: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/api/v1/compliance/transparency?month={month}"),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["statements"].as_array().expect("statements").clone()
}

fn by_puid(all: &[Value], statement: i64) -> Option<&Value> {
    all.iter()
        .find(|s| s["puid"] == format!("fanz-sor-{statement}"))
}

async fn transparency_statements_of_a_month(app: TestApp) {
    let cleo = creator(&app, "tdbcleo", &["fanzlab"]).await;
    let mut posts = vec![];
    for text in ["one", "two", "three", "four"] {
        let p = post_json(
            &app,
            &cleo,
            json!({"text": text, "visibility": "public", "publish": true}),
        )
        .await;
        posts.push(p["id"].as_i64().unwrap());
    }
    let admin = app.admin().await;
    let month = &fanz_safety::records::format_date(fanz_safety::records::today())[..7];

    // A takedown after a notice of non-consensual content.
    let nc = notice(
        &app,
        json!({"kind": "non_consensual", "url": format!("/p/{}", posts[0]), "details": "that is me",
               "good_faith": true}),
    )
    .await;
    let nc_sor = decide(&app, &admin, nc, "removed", "published without consent").await;
    // A copyright takedown.
    let cr = notice(
        &app,
        json!({"kind": "copyright", "url": format!("/p/{}", posts[1]), "details": "my photograph",
               "email": "owner@example.com", "good_faith": true,
               "copyright_work": "Sunset, 2025", "signature": "Olive Owner",
               "contact_address": "2 Elm St, Springfield, +1 555 0199",
               "accurate_under_penalty": true}),
    )
    .await;
    let cr_sor = decide(
        &app,
        &admin,
        cr,
        "removed",
        "the notice identifies the work",
    )
    .await;
    // A notice found unfounded: no restriction, no statement for the database.
    let other = notice(
        &app,
        json!({"kind": "other", "url": format!("/p/{}", posts[2]), "details": "spam",
               "good_faith": true}),
    )
    .await;
    let none_sor = decide(&app, &admin, other, "no_action", "not spam").await;
    // A takedown moved to an earlier month.
    let old = notice(
        &app,
        json!({"kind": "illegal", "url": format!("/p/{}", posts[3]), "details": "illegal",
               "good_faith": true}),
    )
    .await;
    let old_sor = decide(&app, &admin, old, "removed", "illegal").await;
    {
        let mut db = app.store.conn().await.unwrap();
        fanz_store::sqlx::query(
            "UPDATE safety_statements SET created_at = created_at - $1 WHERE id = $2",
        )
        .bind(40 * fanz_core::clock::DAY)
        .bind(old_sor)
        .execute(&mut *db)
        .await
        .unwrap();
    }

    let all = statements(&app, &admin, month).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let s = by_puid(&all, nc_sor).expect("the non-consensual takedown");
    assert_eq!(
        s["decision_visibility"],
        json!(["DECISION_VISIBILITY_CONTENT_DISABLED"])
    );
    assert_eq!(s["decision_ground"], "DECISION_GROUND_INCOMPATIBLE_CONTENT");
    assert_eq!(s["incompatible_content_illegal"], "Yes");
    assert_eq!(
        s["incompatible_content_explanation"],
        "published without consent"
    );
    assert_eq!(s["category"], "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR");
    assert_eq!(s["source_type"], "SOURCE_ARTICLE_16");
    assert_eq!(s["automated_detection"], "No");
    assert_eq!(s["automated_decision"], "AUTOMATED_DECISION_NOT_AUTOMATED");
    assert_eq!(s["content_type"], json!(["CONTENT_TYPE_TEXT"]));
    assert_eq!(s["decision_facts"], "published without consent");
    assert_eq!(&s["application_date"].as_str().unwrap()[..7], month);
    assert!(s["content_date"].as_str().unwrap().len() == 10);
    assert!(s.get("decision_monetary").is_none());
    assert!(s.get("illegal_content_legal_ground").is_none());
    assert!(s["territorial_scope"]
        .as_array()
        .unwrap()
        .contains(&json!("DE")));
    let s = by_puid(&all, cr_sor).expect("the copyright takedown");
    assert_eq!(
        s["decision_visibility"],
        json!(["DECISION_VISIBILITY_CONTENT_DISABLED"])
    );
    assert_eq!(s["decision_ground"], "DECISION_GROUND_ILLEGAL_CONTENT");
    assert!(s["illegal_content_legal_ground"]
        .as_str()
        .unwrap()
        .contains("2001/29/EC"));
    assert_eq!(
        s["illegal_content_explanation"],
        "the notice identifies the work"
    );
    assert_eq!(
        s["category"],
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
    );
    assert_eq!(
        s["category_specification"],
        json!(["KEYWORD_COPYRIGHT_INFRINGEMENT"])
    );
    assert_eq!(s["source_type"], "SOURCE_ARTICLE_16");
    assert!(s.get("incompatible_content_ground").is_none());
    assert!(by_puid(&all, none_sor).is_none());
    assert!(by_puid(&all, old_sor).is_none());

    // The earlier month has the moved statement only.
    let earlier = fanz_safety::records::format_date(fanz_safety::records::day_of(
        fanz_core::clock::now_micros() - 40 * fanz_core::clock::DAY,
    ));
    let before = statements(&app, &admin, &earlier[..7]).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(by_puid(&before, old_sor).is_some());
    assert_eq!(
        before[0]["category"],
        "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"
    );

    // A moderator reads them too; a fan, the creator and no one signed in do not.
    let (moder, _) = app.user("tdbmod").await;
    let mid = user_id(&app, &moder).await;
    app.post(
        &format!("/api/v1/admin/users/{mid}/roles"),
        json!({"role": "moderator"}),
        Some(&admin),
    )
    .await;
    assert_eq!(statements(&app, &moder, month).await.len(), 2);
    let (fan, _) = app.user("tdbfan").await;
    for token in [&fan, &cleo] {
        assert_error(
            app.get(
                &format!("/api/v1/compliance/transparency?month={month}"),
                Some(token),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    assert_eq!(
        app.get(
            &format!("/api/v1/compliance/transparency?month={month}"),
            None
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    // Documented, with the statement's schema.
    let doc: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        doc["paths"]["/api/v1/compliance/transparency"]["get"].is_object(),
        "not documented"
    );
    let schema = &doc["components"]["schemas"]["DsaStatement"]["properties"];
    for field in ["decision_ground", "category", "source_type", "puid"] {
        assert!(schema[field].is_object(), "{field} not in the schema");
    }
    assert_error(
        app.get(
            "/api/v1/compliance/transparency?month=2026-13",
            Some(&admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_month",
    )
    .await;
}

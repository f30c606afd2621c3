//! DMCA counter-notices, the repeat-infringer policy and requests from authorities, over HTTP:
//! who may file a counter-notice and with which fields, restoration after 10 business days
//! (simulated clock), a complainant's court action keeping the post down, strikes suspending
//! publishing and a restoration lifting them, authority requests verified and counted.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, TestApp};
use crate::on_both_backends;
use crate::safety::{csrf_of, html, signed_in, user_id};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    counter_notices_restore_after_ten_business_days,
    a_court_action_keeps_the_post_down,
    authority_requests_are_their_own_kind
);
on_both_backends!(config = super::two_strikes; repeat_infringers_cannot_publish, a_suspension_is_appealed);

fn two_strikes(c: &mut fanz_config::Config) {
    c.compliance.repeat_infringer_strikes = 2;
    c.compliance.repeat_infringer_window_days = 30;
}

async fn publish(app: &TestApp, token: &str, text: &str) -> i64 {
    post_json(
        app,
        token,
        json!({"text": text, "visibility": "public", "publish": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

/// A copyright notice of post `id` from `owner@example.com`; returns the case.
async fn copyright_notice(app: &TestApp, id: i64) -> i64 {
    let res = app
        .post(
            "/api/v1/reports",
            json!({"kind": "copyright", "url": format!("/p/{id}"), "details": "my photograph",
                   "email": "owner@example.com", "good_faith": true,
                   "copyright_work": "Sunset, 2025", "signature": "Olive Owner",
                   "contact_address": "2 Elm St, Springfield, +1 555 0199",
                   "accurate_under_penalty": true}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["case_id"]
        .as_i64()
        .unwrap()
}

async fn decide(app: &TestApp, reviewer: &str, case: i64, outcome: &str) {
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{case}/decision"),
            json!({"outcome": outcome, "reason": "the notice identifies the work and the copy"}),
            Some(reviewer),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "decide {case} {outcome}");
}

/// The statement of reasons `creator` got for `case`'s removal.
async fn removal_statement(app: &TestApp, creator: &str, case: i64) -> i64 {
    let st: Value = app
        .get("/api/v1/me/statements", Some(creator))
        .await
        .json()
        .await
        .unwrap();
    st.as_array()
        .unwrap()
        .iter()
        .find(|s| s["case_id"] == case && s["outcome"] == "removed")
        .unwrap_or_else(|| panic!("a removal statement for case {case}: {st}"))["id"]
        .as_i64()
        .unwrap()
}

fn counter(id: i64) -> Value {
    json!({"material": "my own photo of a sunset", "location": format!("/p/{id}"),
           "name": "Cleo Creator", "address": "1 Main St, Springfield, IL",
           "phone": "+1 555 0100", "good_faith_under_penalty": true,
           "consent_to_jurisdiction": true, "accept_service": true,
           "signature": "Cleo Creator"})
}

async fn visible(app: &TestApp, id: i64) -> bool {
    app.get(&format!("/api/v1/posts/{id}"), None).await.status() == StatusCode::OK
}

async fn restorations(app: &TestApp, now: i64) -> u64 {
    let mut tx = app.store.begin().await.unwrap();
    let n = fanz_safety::dmca::run_restorations(
        &mut tx,
        &app.state.content,
        &fanz_web::strike_policy(&app.state.config),
        now,
        &fanz_audit::Actor::system(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    n
}

async fn case(app: &TestApp, reviewer: &str, id: i64) -> Value {
    app.get(&format!("/api/v1/compliance/cases/{id}"), Some(reviewer))
        .await
        .json()
        .await
        .unwrap()
}

async fn mail_to(app: &TestApp, admin: &str, to: &str) -> Vec<Value> {
    let outbox: Value = app
        .get("/api/v1/admin/mail-outbox", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["to"] == to)
        .cloned()
        .collect()
}

async fn counter_notices_restore_after_ten_business_days(app: TestApp) {
    let cleo = creator(&app, "cncleo", &["fanzlab"]).await;
    let id = publish(&app, &cleo, "sunset").await;
    let other = publish(&app, &cleo, "another").await;
    let admin = app.admin().await;
    let case_id = copyright_notice(&app, id).await;
    decide(&app, &admin, case_id, "removed").await;
    assert!(!visible(&app, id).await);
    let sid = removal_statement(&app, &cleo, case_id).await;
    assert_eq!(case(&app, &admin, case_id).await["author_strikes"], 1);

    // Only the creator the statement is addressed to may file; another account is not found.
    let (fan, _) = app.user("cnfan").await;
    let path = format!("/api/v1/me/statements/{sid}/counter-notice");
    assert_error(
        app.post(&path, counter(id), Some(&fan)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        app.post(&path, counter(id), None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Every statutory element is required; the signature is the typed name.
    for missing in [
        "material",
        "location",
        "name",
        "address",
        "phone",
        "good_faith_under_penalty",
        "consent_to_jurisdiction",
        "accept_service",
    ] {
        let mut body = counter(id);
        body.as_object_mut().unwrap().remove(missing);
        if missing == "name" {
            body["signature"] = json!("");
        }
        let err = assert_error(
            app.post(&path, body, Some(&cleo)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "counter_notice_fields_required",
        )
        .await;
        assert!(err.to_string().contains(missing), "{missing}: {err}");
    }
    let mut body = counter(id);
    body["good_faith_under_penalty"] = json!(false);
    assert_error(
        app.post(&path, body, Some(&cleo)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "counter_notice_fields_required",
    )
    .await;
    let mut body = counter(id);
    body["signature"] = json!("Somebody Else");
    assert_error(
        app.post(&path, body, Some(&cleo)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "signature_mismatch",
    )
    .await;

    // Filed: waiting, restored from 10 business days after receipt, by 14.
    let res = app.post(&path, counter(id), Some(&cleo)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cn: Value = res.json().await.unwrap();
    assert_eq!(cn["status"], "waiting");
    let received = cn["received_at"].as_i64().unwrap();
    let restore_at = cn["restore_at"].as_i64().unwrap();
    assert_eq!(
        restore_at,
        fanz_safety::deadlines::add_business_days(received, 10)
    );
    assert_eq!(
        cn["restore_by"].as_i64().unwrap(),
        fanz_safety::deadlines::add_business_days(received, 14)
    );
    assert_error(
        app.post(&path, counter(id), Some(&cleo)).await,
        StatusCode::CONFLICT,
        "counter_notice_filed",
    )
    .await;
    // The creator's data export holds it, with the strike.
    let mut db = app.store.conn().await.unwrap();
    let mine = fanz_safety::privacy::safety_export(&mut db, user_id(&app, &cleo).await)
        .await
        .unwrap();
    drop(db);
    assert_eq!(mine["counter_notices"][0]["phone"], "+1 555 0100", "{mine}");
    assert_eq!(mine["copyright_strikes"][0]["case_id"], case_id);
    // The complainant has a copy with the creator's details.
    let mails = mail_to(&app, &admin, "owner@example.com").await;
    let copy = mails
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("Counter-notice"))
        .expect("a copy to the complainant");
    let body = copy["body"].as_str().unwrap();
    assert!(
        body.contains("Cleo Creator") && body.contains("1 Main St") && body.contains("+1 555 0100"),
        "{body}"
    );

    // Simulated clock: still down the moment before, restored at the time, once.
    assert_eq!(restorations(&app, restore_at - 1).await, 0);
    assert!(!visible(&app, id).await);
    assert_eq!(restorations(&app, restore_at).await, 1);
    assert!(visible(&app, id).await);
    assert_eq!(restorations(&app, restore_at + 1).await, 0);
    let c = case(&app, &admin, case_id).await;
    assert_eq!(c["counter_notices"][0]["status"], "restored");
    assert_eq!(c["author_strikes"], 0, "the restoration lifts the strike");
    assert_eq!(c["hold"], false);

    // A statement that is not a copyright takedown cannot be counter-noticed.
    let r: Value = app
        .post(
            "/api/v1/reports",
            json!({"kind": "other", "url": format!("/p/{other}"), "details": "spam"}),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let other_case = r["case_id"].as_i64().unwrap();
    decide(&app, &admin, other_case, "removed").await;
    let other_sid = removal_statement(&app, &cleo, other_case).await;
    assert_error(
        app.post(
            &format!("/api/v1/me/statements/{other_sid}/counter-notice"),
            counter(other),
            Some(&cleo),
        )
        .await,
        StatusCode::CONFLICT,
        "not_a_copyright_takedown",
    )
    .await;

    // The monthly report counts the counter-notice in the month received and the restoration
    // in the (simulated) month it happened.
    let month_of = |t: i64| fanz_safety::reports::rfc3339(t)[..7].to_owned();
    let monthly = |month: String| {
        let app = &app;
        let admin = &admin;
        async move {
            app.get(
                &format!("/api/v1/compliance/reports/monthly?month={month}"),
                Some(admin),
            )
            .await
            .json::<Value>()
            .await
            .unwrap()
        }
    };
    let m = monthly(month_of(received)).await;
    assert_eq!(m["clusters"][0]["counter_notices"], 1, "{m}");
    let m = monthly(month_of(restore_at)).await;
    assert_eq!(m["clusters"][0]["restored_after_counter_notice"], 1, "{m}");
}

async fn a_court_action_keeps_the_post_down(app: TestApp) {
    let cleo = creator(&app, "actcleo", &["fanzlab"]).await;
    let id = publish(&app, &cleo, "sunset").await;
    let admin = app.admin().await;
    let case_id = copyright_notice(&app, id).await;
    decide(&app, &admin, case_id, "removed").await;
    let sid = removal_statement(&app, &cleo, case_id).await;
    let cn: Value = app
        .post(
            &format!("/api/v1/me/statements/{sid}/counter-notice"),
            counter(id),
            Some(&cleo),
        )
        .await
        .json()
        .await
        .unwrap();
    let cn_id = cn["id"].as_i64().unwrap();
    let restore_at = cn["restore_at"].as_i64().unwrap();
    let path = format!("/api/v1/compliance/counter-notices/{cn_id}/action-filed");
    // Not for the creator; a reviewer records the complainant's action, with a note.
    assert_error(
        app.post(&path, json!({"note": "N.D. Ill. 1:26-cv-1"}), Some(&cleo))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post(&path, json!({"note": " "}), Some(&admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "note_required",
    )
    .await;
    // Waiting: listed for reviewers (API and the queue page), not for the creator.
    let waiting: Value = app
        .get("/api/v1/compliance/counter-notices", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting[0]["id"].as_i64(), Some(cn_id), "{waiting}");
    assert_error(
        app.get("/api/v1/compliance/counter-notices", Some(&cleo))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let (moder, _) = app.user("actmod").await;
    let mid = user_id(&app, &moder).await;
    app.post(
        &format!("/api/v1/admin/users/{mid}/roles"),
        json!({"role": "moderator"}),
        Some(&admin),
    )
    .await;
    let mb = signed_in(&app, "actmod").await;
    let (_, queue) = html(&mb, &app, "/admin/cases").await;
    assert!(
        queue.contains("DMCA counter-notices waiting")
            && queue.contains(&format!("counter-notice {cn_id} from Cleo Creator")),
        "{queue}"
    );
    // The reviewer records the action on the page.
    let res = mb
        .post(app.url(&format!("/admin/counter-notices/{cn_id}/action-filed")))
        .form(&[
            ("csrf", csrf_of(&queue).as_str()),
            ("note", "N.D. Ill. 1:26-cv-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, queue) = html(&mb, &app, "/admin/cases").await;
    assert!(!queue.contains("DMCA counter-notices waiting"), "{queue}");
    let waiting: Value = app
        .get("/api/v1/compliance/counter-notices", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting, json!([]));
    assert_error(
        app.post(&path, json!({"note": "again"}), Some(&admin))
            .await,
        StatusCode::CONFLICT,
        "counter_notice_settled",
    )
    .await;
    // Past the waiting period, and long after: it stays down, and the strike stands.
    assert_eq!(restorations(&app, restore_at).await, 0);
    assert_eq!(
        restorations(&app, restore_at + 30 * fanz_core::clock::DAY).await,
        0
    );
    assert!(!visible(&app, id).await);
    let c = case(&app, &admin, case_id).await;
    assert_eq!(c["counter_notices"][0]["status"], "action_filed");
    assert_eq!(c["author_strikes"], 1);
    assert_error(
        app.post(
            &format!("/api/v1/posts/{id}/publish"),
            json!({}),
            Some(&cleo),
        )
        .await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
}

async fn repeat_infringers_cannot_publish(app: TestApp) {
    let cleo = creator(&app, "rpcleo", &["fanzlab"]).await;
    let first = publish(&app, &cleo, "one").await;
    let second = publish(&app, &cleo, "two").await;
    let admin = app.admin().await;
    let case1 = copyright_notice(&app, first).await;
    decide(&app, &admin, case1, "removed").await;
    // One strike of two: still publishing.
    publish(&app, &cleo, "three").await;
    let case2 = copyright_notice(&app, second).await;
    decide(&app, &admin, case2, "removed").await;
    assert_eq!(case(&app, &admin, case2).await["author_strikes"], 2);

    // Two strikes: a statement of reasons for the suspension, and the gate refuses.
    let st: Value = app
        .get("/api/v1/me/statements", Some(&cleo))
        .await
        .json()
        .await
        .unwrap();
    let suspension = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "suspended")
        .unwrap_or_else(|| panic!("a suspension statement: {st}"))
        .clone();
    assert!(suspension["reason"]
        .as_str()
        .unwrap()
        .contains("repeat-infringer"));
    assert!(suspension["appeal_until"].as_i64().is_some());
    let draft = post_json(&app, &cleo, json!({"text": "four", "visibility": "public"})).await["id"]
        .as_i64()
        .unwrap();
    let err = assert_error(
        app.post(
            &format!("/api/v1/posts/{draft}/publish"),
            json!({}),
            Some(&cleo),
        )
        .await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    assert!(err.to_string().contains("repeat_infringer"), "{err}");
    // Reviewers see the strikes on the case page.
    let (moder, _) = app.user("rpmod").await;
    let mid = user_id(&app, &moder).await;
    app.post(
        &format!("/api/v1/admin/users/{mid}/roles"),
        json!({"role": "moderator"}),
        Some(&admin),
    )
    .await;
    let mb = signed_in(&app, "rpmod").await;
    let (_, queue) = html(&mb, &app, "/admin/cases?status=decided").await;
    assert!(queue.contains("copyright strikes: 2 of 2"), "{queue}");

    // The creator counter-notices the second takedown through the statement's page; someone
    // else does not see it.
    let sid = removal_statement(&app, &cleo, case2).await;
    assert_eq!(
        html(&mb, &app, &format!("/statements/{sid}")).await.0,
        StatusCode::NOT_FOUND
    );
    let b = signed_in(&app, "rpcleo").await;
    let (status, page) = html(&b, &app, &format!("/statements/{sid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("DMCA counter-notice"), "{page}");
    let res = b
        .post(app.url(&format!("/statements/{sid}/counter-notice")))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("material", "my own photo"),
            ("location", &format!("/p/{second}")),
            ("name", "Cleo Creator"),
            ("address", "1 Main St, Springfield, IL"),
            ("phone", "+1 555 0100"),
            ("good_faith_under_penalty", "on"),
            ("consent_to_jurisdiction", "on"),
            ("accept_service", "on"),
            ("signature", "Cleo Creator"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, page) = html(&b, &app, &format!("/statements/{sid}")).await;
    assert!(page.contains("Your counter-notice"), "{page}");
    let c = case(&app, &admin, case2).await;
    let restore_at = c["counter_notices"][0]["restore_at"].as_i64().unwrap();

    // Restored after the waiting period: the post is back through the gate, the strike is
    // gone, and publishing works again.
    assert_eq!(restorations(&app, restore_at).await, 1);
    assert!(visible(&app, second).await);
    assert_eq!(case(&app, &admin, case2).await["author_strikes"], 1);
    let res = app
        .post(
            &format!("/api/v1/posts/{draft}/publish"),
            json!({}),
            Some(&cleo),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let month = &fanz_safety::records::format_date(fanz_safety::records::today())[..7];
    let m: Value = app
        .get(
            &format!("/api/v1/compliance/reports/monthly?month={month}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(m["clusters"][0]["repeat_infringer_suspensions"], 1, "{m}");
}

async fn authority_requests_are_their_own_kind(app: TestApp) {
    let cleo = creator(&app, "aucleo", &["fanzlab"]).await;
    let id = publish(&app, &cleo, "hello").await;
    let base = json!({"kind": "authority", "url": format!("/p/{id}"),
        "details": "preservation and removal order", "authority_name": "Springfield Police",
        "authority_reference": "SPD-2026-0042", "legal_basis": "court order 26-117",
        "authority_contact": "detective@springfield.example"});
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("legal_basis");
    let err = assert_error(
        app.post("/api/v1/reports", missing, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "authority_fields_required",
    )
    .await;
    assert!(err.to_string().contains("legal_basis"), "{err}");
    // Anyone may send one, signed out; it neither hides the post nor counts as verified.
    let res = app.post("/api/v1/reports", base, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["hidden"], false);
    let case_id = r["case_id"].as_i64().unwrap();
    let admin = app.admin().await;
    let c = case(&app, &admin, case_id).await;
    assert_eq!(c["kind"], "authority");
    let report = &c["reports"][0];
    assert_eq!(report["authority"]["authority_reference"], "SPD-2026-0042");
    assert!(report["verified_at"].is_null());
    let rid = report["id"].as_i64().unwrap();

    // In the queue, marked unverified.
    let (mod_token, _) = app.user("aumod").await;
    let mod_id = user_id(&app, &mod_token).await;
    app.post(
        &format!("/api/v1/admin/users/{mod_id}/roles"),
        json!({"role": "moderator"}),
        Some(&admin),
    )
    .await;
    let mb = signed_in(&app, "aumod").await;
    let (_, queue) = html(&mb, &app, "/admin/cases").await;
    assert!(queue.contains("Springfield Police (unverified)"), "{queue}");

    // Only a compliance officer verifies it, once.
    let verify = format!("/api/v1/compliance/reports/{rid}/verify");
    assert_error(
        app.post(&verify, json!({}), Some(&mod_token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let (officer, _) = app.user("auofficer").await;
    let oid = user_id(&app, &officer).await;
    app.post(
        &format!("/api/v1/admin/users/{oid}/roles"),
        json!({"role": "compliance"}),
        Some(&admin),
    )
    .await;
    assert_eq!(
        app.post(&verify, json!({}), Some(&officer)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.post(&verify, json!({}), Some(&officer)).await,
        StatusCode::CONFLICT,
        "already_verified",
    )
    .await;
    assert!(
        case(&app, &admin, case_id).await["reports"][0]["verified_at"]
            .as_i64()
            .is_some()
    );

    // Counted in the monthly report, as JSON and CSV.
    let month = &fanz_safety::records::format_date(fanz_safety::records::today())[..7];
    let m: Value = app
        .get(
            &format!("/api/v1/compliance/reports/monthly?month={month}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let all = &m["clusters"][0];
    assert_eq!(all["notices_by_kind"]["authority"], 1, "{m}");
    assert_eq!(all["authority_requests"], 1);
    assert_eq!(all["authority_requests_verified"], 1);
    let csv = app
        .get(
            &format!("/api/v1/compliance/reports/monthly?month={month}&format=csv"),
            Some(&admin),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines().next().unwrap().contains("notices_authority")
            && csv
                .lines()
                .next()
                .unwrap()
                .ends_with("authority_requests,authority_requests_verified"),
        "{csv}"
    );
}

/// The suspension's statement of reasons is appealed: the case of the last strike is
/// reviewed again, and reversing it lifts the strike, restores the post and lifts the
/// suspension.
async fn a_suspension_is_appealed(app: TestApp) {
    let cleo = creator(&app, "apcleo", &["fanzlab"]).await;
    let first = publish(&app, &cleo, "one").await;
    let second = publish(&app, &cleo, "two").await;
    let admin = app.admin().await;
    for id in [first, second] {
        let c = copyright_notice(&app, id).await;
        decide(&app, &admin, c, "removed").await;
    }
    let st: Value = app
        .get("/api/v1/me/statements", Some(&cleo))
        .await
        .json()
        .await
        .unwrap();
    let suspension = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "suspended")
        .unwrap_or_else(|| panic!("a suspension statement: {st}"))
        .clone();
    let sid = suspension["id"].as_i64().unwrap();
    let draft = post_json(
        &app,
        &cleo,
        json!({"text": "three", "visibility": "public"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let publish_path = format!("/api/v1/posts/{draft}/publish");
    let publish_draft = || app.post(&publish_path, json!({}), Some(&cleo));
    assert_error(
        publish_draft().await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/me/statements/{sid}/appeal"),
            json!({"text": "the second photo is my own work; here is the RAW file"}),
            Some(&cleo),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reopened: Value = res.json().await.unwrap();
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["post_id"].as_i64(), Some(second));
    // Still suspended while the appeal is reviewed.
    assert_error(
        publish_draft().await,
        StatusCode::CONFLICT,
        "publish_refused",
    )
    .await;
    let reopened_id = reopened["id"].as_i64().unwrap();
    decide(&app, &admin, reopened_id, "restored").await;
    assert!(visible(&app, second).await);
    assert_eq!(case(&app, &admin, reopened_id).await["author_strikes"], 1);
    assert_eq!(publish_draft().await.status(), StatusCode::OK);
}

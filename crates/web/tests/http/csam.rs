//! Apparent CSAM over HTTP: an underage report quarantines and preserves the post's media
//! (delivered to no one, its owner included), hides the post, suspends the uploader and holds
//! their payouts with a statement of reasons; deleting the media is refused while preserved,
//! deleting the post or erasing the account keeps the preserved copy, and the owner's export
//! leaves it out; only compliance reads
//! the report record and the files (moderators and others refused with `compliance_only`),
//! every view audited; filing through the sandbox CyberTipline records the report id; a match
//! against a `csam` hash list starts the same workflow, and releasing it as not CSAM restores
//! everything.

use crate::content::{creator, post_json};
use crate::harness::{assert_error, TestApp};
use crate::media::{fetch, settled, upload, upload_ok};
use crate::on_both_backends;
use crate::review::{csrf_of, delete, html, listed_hash, png, put, scene, signed_in, staff};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    underage_report_preserves_and_compliance_files_it,
    csam_hash_match_released_as_not_csam_restores
);

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn rendition_url(item: &Value) -> String {
    item["renditions"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no rendition: {item}"))
        .to_owned()
}

async fn audit_actions(app: &TestApp, admin: &str) -> String {
    json_of(app.get("/api/v1/admin/audit?limit=500", Some(admin)).await)
        .await
        .to_string()
}

async fn underage_report_preserves_and_compliance_files_it(app: TestApp) {
    let admin = app.admin().await;
    let officer = staff(&app, &admin, "csam_officer", "compliance").await;
    let moder = staff(&app, &admin, "csam_mod", "moderator").await;
    let cara = creator(&app, "csam_cara", &["fanzlab"]).await;
    let (fan, _) = app.user("csam_fan").await;

    let original = png(&scene(1));
    let mid = upload_ok(&app, &cara, &original, "set.png").await;
    let item = settled(&app, &cara, mid).await;
    assert_eq!(item["state"], "ready", "{item}");
    let url = rendition_url(&item);
    assert_eq!(
        fetch(&app, &url, Some(&cara)).await.status(),
        StatusCode::OK
    );
    let p = post_json(
        &app,
        &cara,
        json!({"text": "new set", "visibility": "public", "media": [mid], "publish": true}),
    )
    .await;
    assert_eq!(p["state"], "published", "{p}");
    let pid = p["id"].as_i64().unwrap();

    // An underage report, without an account: the post is hidden at once.
    let res = app
        .post(
            "/api/v1/reports",
            json!({"kind": "underage", "url": app.url(&format!("/p/{pid}")),
                   "details": "the person looks under 18", "good_faith": true}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["hidden"], true);
    let case_id = r["case_id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/posts/{pid}"), Some(&fan))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Quarantined: not delivered even to its owner.
    assert_eq!(settled(&app, &cara, mid).await["state"], "quarantined");
    assert_error(
        fetch(&app, &url, Some(&cara)).await,
        StatusCode::NOT_FOUND,
        "media_not_found",
    )
    .await;
    // The uploader is suspended from uploading and publishing.
    let res = upload(&app, &cara, &png(&scene(2)), "more.png", "image/png").await;
    assert_error(res, StatusCode::FORBIDDEN, "account_suspended").await;
    let draft = post_json(
        &app,
        &cara,
        json!({"text": "words only", "visibility": "public"}),
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/posts/{}/publish", draft["id"]),
            json!({}),
            Some(&cara),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "publish_refused").await;
    assert!(body.to_string().contains("account_suspended"), "{body}");
    // Preserved: deleting the media is refused.
    let res = delete(&app, &format!("/api/v1/media/{mid}"), Some(&cara)).await;
    assert_error(res, StatusCode::CONFLICT, "preserved").await;
    // Payouts held, with a statement of reasons the creator reads.
    let statements = json_of(app.get("/api/v1/me/statements", Some(&cara)).await).await;
    let held = statements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["restriction"] == "payments" && s["outcome"] == "payouts_held")
        .unwrap_or_else(|| panic!("no payout statement: {statements}"));
    assert_eq!(held["case_id"], case_id);
    assert!(
        held["reason"].as_str().unwrap().contains("Ground:"),
        "{held}"
    );
    assert!(held["appeal_until"].as_i64().unwrap() > held["created_at"].as_i64().unwrap());

    // Moderators see that the case exists, and no more; nor does anyone else.
    let cases = json_of(app.get("/api/v1/compliance/cases", Some(&moder)).await).await;
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == case_id)
        .unwrap_or_else(|| panic!("no case {case_id}: {cases}"));
    assert_eq!(case["csam"], true);
    assert_eq!(case["kind"], "underage");
    let res = app
        .post(
            &format!("/api/v1/compliance/cases/{case_id}/decision"),
            json!({"outcome": "restored", "reason": "looks fine"}),
            Some(&moder),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "csam_case").await;
    for who in [&moder, &fan, &admin, &cara] {
        let res = app.get("/api/v1/compliance/csam", Some(who)).await;
        assert_error(res, StatusCode::FORBIDDEN, "compliance_only").await;
    }
    assert_eq!(
        app.get("/api/v1/compliance/csam", None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Compliance reads the record: the facts the CyberTipline asks for.
    let list = json_of(app.get("/api/v1/compliance/csam", Some(&officer)).await).await;
    let rec = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["case_id"] == case_id)
        .unwrap_or_else(|| panic!("no record: {list}"));
    let rid = rec["id"].as_i64().unwrap();
    for who in [&moder, &fan] {
        let res = app
            .get(&format!("/api/v1/compliance/csam/{rid}"), Some(who))
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "compliance_only").await;
        let res = app
            .get(
                &format!("/api/v1/compliance/csam/{rid}/files/{mid}"),
                Some(who),
            )
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "compliance_only").await;
    }
    let rec = json_of(
        app.get(&format!("/api/v1/compliance/csam/{rid}"), Some(&officer))
            .await,
    )
    .await;
    assert_eq!(rec["status"], "draft");
    assert_eq!(rec["source"], "report");
    assert_eq!(rec["post_id"], pid);
    assert_eq!(rec["facts"]["uploader"]["handle"], "csam_cara");
    assert!(
        !rec["facts"]["ip_events"].as_array().unwrap().is_empty(),
        "{rec}"
    );
    let year = fanz_core::clock::DAY * 365;
    assert!(rec["preserve_until"].as_i64().unwrap() - rec["incident_at"].as_i64().unwrap() >= year);
    let f = &rec["files"][0];
    assert_eq!(f["media_id"], mid);
    assert_eq!(f["md5"].as_str().unwrap().len(), 32, "{f}");
    assert_eq!(f["sha1"].as_str().unwrap().len(), 40, "{f}");
    assert_eq!(f["pdq"].as_str().unwrap().len(), 64, "{f}");
    let res = app
        .get(
            &format!("/api/v1/compliance/csam/{rid}/files/{mid}"),
            Some(&officer),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), original.len());

    // Deleting the post keeps the preserved copy.
    let res = delete(&app, &format!("/api/v1/posts/{pid}"), Some(&cara)).await;
    assert!(res.status().is_success(), "{}", res.status());

    // Filed through the sandbox tipline: the report id is recorded; a second filing and a
    // release after filing are refused; then closed.
    let res = app
        .post(
            &format!("/api/v1/compliance/csam/{rid}/filing"),
            json!({}),
            Some(&moder),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "compliance_only").await;
    let filed = json_of(
        app.post(
            &format!("/api/v1/compliance/csam/{rid}/filing"),
            json!({}),
            Some(&officer),
        )
        .await,
    )
    .await;
    assert_eq!(filed["status"], "filed");
    assert_eq!(filed["tipline"], "sandbox");
    assert!(filed["ncmec_report_id"]
        .as_str()
        .unwrap()
        .starts_with("SANDBOX-"));
    let res = app
        .post(
            &format!("/api/v1/compliance/csam/{rid}/filing"),
            json!({}),
            Some(&officer),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "report_filed").await;
    let res = app
        .post(
            &format!("/api/v1/compliance/csam/{rid}/release"),
            json!({"reason": "changed my mind"}),
            Some(&officer),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "report_filed").await;
    let closed = json_of(
        app.post(
            &format!("/api/v1/compliance/csam/{rid}/close"),
            json!({}),
            Some(&officer),
        )
        .await,
    )
    .await;
    assert_eq!(closed["status"], "closed");
    let case = json_of(
        app.get(&format!("/api/v1/compliance/cases/{case_id}"), Some(&moder))
            .await,
    )
    .await;
    assert_eq!(case["outcome"], "removed", "{case}");
    assert_eq!(settled(&app, &cara, mid).await["state"], "quarantined");
    // An extension must end later; a later one is kept.
    let until = closed["preserve_until"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/compliance/csam/{rid}/preservation"),
            json!({"until": until - 1}),
            Some(&officer),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "not_later").await;
    let ext = json_of(
        app.post(
            &format!("/api/v1/compliance/csam/{rid}/preservation"),
            json!({"until": until + year}),
            Some(&officer),
        )
        .await,
    )
    .await;
    assert_eq!(ext["preserve_until"], until + year);

    // The owner's data export lists the item without its file.
    let export = crate::privacy::export_ready(&app, &cara).await;
    let files = crate::privacy::download(&app, &cara, export).await;
    assert!(
        !files
            .keys()
            .any(|n| n.starts_with(&format!("media/{mid}."))),
        "{:?}",
        files.keys()
    );
    let index: Value = serde_json::from_slice(&files["media.json"]).unwrap();
    let listed = index
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == mid)
        .unwrap_or_else(|| panic!("{index}"));
    assert!(listed["file"].is_null(), "{listed}");

    // Erasing the account keeps the preserved copy; compliance still reads it.
    let erased = json_of(
        app.post(
            "/api/v1/me/erasure",
            json!({"password": "correct horse battery"}),
            Some(&cara),
        )
        .await,
    )
    .await;
    assert!(erased["media_kept"].as_i64().unwrap() >= 1, "{erased}");
    let res = app
        .get(
            &format!("/api/v1/compliance/csam/{rid}/files/{mid}"),
            Some(&officer),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), original.len());

    let actions = audit_actions(&app, &admin).await;
    for a in [
        "safety.csam_case_opened",
        "media.preserved",
        "safety.account_suspended",
        "payments.compliance_hold_set",
        "safety.payment_statement",
        "safety.csam_reports_listed",
        "safety.csam_report_viewed",
        "safety.csam_file_viewed",
        "safety.csam_report_filed",
        "safety.csam_report_closed",
        "safety.csam_preservation_extended",
    ] {
        assert!(actions.contains(a), "{a} not audited");
    }
}

async fn csam_hash_match_released_as_not_csam_restores(app: TestApp) {
    let admin = app.admin().await;
    let officer = staff(&app, &admin, "csam_olga", "compliance").await;
    let moder = staff(&app, &admin, "csam_mia", "moderator").await;
    let dora = creator(&app, "csam_dora", &["fanzlab"]).await;

    let img = scene(5);
    let mid = upload_ok(&app, &dora, &png(&img), "beach.png").await;
    let item = settled(&app, &dora, mid).await;
    assert_eq!(item["state"], "ready");
    let url = rendition_url(&item);

    // A bad category is refused; a csam list screens what is stored.
    let res = put(
        &app,
        "/api/v1/compliance/hash-lists/ncmec-test",
        json!({"hashes": [listed_hash(&img)], "category": "nope"}),
        Some(&officer),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_category").await;
    let loaded = json_of(
        put(
            &app,
            "/api/v1/compliance/hash-lists/ncmec-test",
            json!({"hashes": [listed_hash(&img)], "category": "csam"}),
            Some(&officer),
        )
        .await,
    )
    .await;
    assert_eq!(loaded["list"]["category"], "csam");
    assert_eq!(loaded["quarantined"], json!([mid]));
    assert_eq!(
        fetch(&app, &url, Some(&dora)).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = upload(&app, &dora, &png(&scene(6)), "more.png", "image/png").await;
    assert_error(res, StatusCode::FORBIDDEN, "account_suspended").await;

    let list = json_of(app.get("/api/v1/compliance/csam", Some(&officer)).await).await;
    let rec = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "hash_match" && r["uploader_id"].is_i64())
        .unwrap_or_else(|| panic!("no hash-match record: {list}"))
        .clone();
    let rid = rec["id"].as_i64().unwrap();

    // Releasing needs compliance and a reason.
    let res = app
        .post(
            &format!("/api/v1/compliance/csam/{rid}/release"),
            json!({"reason": "not CSAM"}),
            Some(&moder),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "compliance_only").await;
    let res = app
        .post(
            &format!("/api/v1/compliance/csam/{rid}/release"),
            json!({"reason": " "}),
            Some(&officer),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "reason_required").await;
    // The page: compliance only; the moderators' queue points there instead of a decision.
    let (status, _) = html(&signed_in(&app, "csam_mia").await, &app, "/admin/csam").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, queue) = html(&signed_in(&app, "csam_mia").await, &app, "/admin/cases").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        queue.contains("the compliance role handles this case"),
        "{queue}"
    );
    let b = signed_in(&app, "csam_olga").await;
    let (status, page) = html(&b, &app, "/admin/csam").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("Report {rid} ")), "{page}");
    assert!(page.contains("hash_match"), "{page}");
    // Released as not CSAM through the page.
    let res = b
        .post(app.url(&format!("/admin/csam/{rid}/step")))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("step", "release"),
            (
                "reason",
                "a false match: an adult performer with verified records",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("notice=report-{rid}-closed")));
    let released = json_of(
        app.get(&format!("/api/v1/compliance/csam/{rid}"), Some(&officer))
            .await,
    )
    .await;
    assert_eq!(released["status"], "closed");
    assert_eq!(released["close_reason"], "not_csam");

    // Restored: delivered again, uploads allowed, the case decided, payouts released with a
    // statement, and the item deletable.
    assert_eq!(settled(&app, &dora, mid).await["state"], "ready");
    assert_eq!(
        fetch(&app, &url, Some(&dora)).await.status(),
        StatusCode::OK
    );
    let again = upload_ok(&app, &dora, &png(&scene(7)), "again.png").await;
    assert!(again > mid);
    let case = json_of(
        app.get(
            &format!("/api/v1/compliance/cases/{}", rec["case_id"]),
            Some(&moder),
        )
        .await,
    )
    .await;
    assert_eq!(case["status"], "decided");
    assert_eq!(case["outcome"], "restored");
    let statements = json_of(app.get("/api/v1/me/statements", Some(&dora)).await).await;
    let outcomes: Vec<&str> = statements
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["restriction"] == "payments")
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["payouts_released", "payouts_held"],
        "{statements}"
    );
    let res = delete(&app, &format!("/api/v1/media/{mid}"), Some(&dora)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let actions = audit_actions(&app, &admin).await;
    for a in [
        "safety.csam_released_not_csam",
        "media.preservation_released",
        "media.released",
        "safety.suspension_lifted",
    ] {
        assert!(actions.contains(a), "{a} not audited");
    }
}

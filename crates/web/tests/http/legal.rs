//! The legal pages every cluster links from its footer: terms, billing (what the checkout
//! promises, the descriptors of the processors offered), privacy and the 2257 statement,
//! readable signed out and from a place that needs an age check.

use crate::harness::TestApp;
use fanz_config::Config;
use reqwest::StatusCode;

crate::on_both_backends!(config = super::sandbox; legal_pages_are_linked_from_every_page);

fn sandbox(c: &mut Config) {
    c.payments.sandbox = true;
    c.age_assurance.country_header = "X-Test-Country".into();
    c.age_assurance.rules.insert("GB".into(), "assure".into());
}

async fn legal_pages_are_linked_from_every_page(app: TestApp) {
    let home = app.get("/c/girlfanz", None).await.text().await.unwrap();
    for (path, heading) in [
        ("/c/girlfanz/legal/terms", "Terms of service"),
        (
            "/c/girlfanz/legal/billing",
            "Billing, cancellation and refunds",
        ),
        ("/c/girlfanz/legal/privacy", "Privacy notice"),
        ("/c/girlfanz/legal/2257", "2257 record-keeping"),
    ] {
        assert!(
            home.contains(&format!("href=\"{path}\"")),
            "footer links {path}"
        );
        // Open to a viewer who has not passed the age check their place needs.
        let res = app
            .client
            .get(app.url(path))
            .header("x-test-country", "GB")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains(heading), "{path} shows {heading}");
        assert!(html.contains("GirlFanz"), "{path} is the cluster's");
    }
    let billing = app
        .get("/c/girlfanz/legal/billing", None)
        .await
        .text()
        .await
        .unwrap();
    // What the checkout says, and what the statement will show.
    let policy: serde_json::Value = app
        .get("/api/v1/payments/processors", None)
        .await
        .json()
        .await
        .unwrap();
    let cancellation = policy["policy"]["cancellation"].as_str().unwrap();
    assert!(billing.contains(&cancellation[..40]), "{cancellation}");
    assert!(billing.contains("FANZ*SANDBOX"), "the sandbox's descriptor");
    // Content itself still needs the check.
    let res = app
        .client
        .get(app.url("/c/girlfanz"))
        .header("x-test-country", "GB")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

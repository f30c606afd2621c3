use crate::harness::TestApp;
use crate::on_both_backends;
use reqwest::{Client, StatusCode};

on_both_backends!(
    browser_signup_settings_two_factor,
    clusters_by_host_and_path,
    portal_shows_every_cluster,
    generated_art
);

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("form has a csrf field")
        + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

fn between<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("{open} not in page"))
        + open.len();
    html[start..].split(close).next().unwrap()
}

async fn page(b: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn post_form(
    b: &Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    b.post(app.url(path)).form(form).send().await.unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn browser_signup_settings_two_factor(app: TestApp) {
    let b = browser();
    let (status, html) = page(&b, &app, "/c/boyfanz/signup").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Join BoyFanz"));
    assert!(
        html.contains("<label for=\"email\">"),
        "inputs are labelled"
    );
    let csrf = csrf_of(&html);

    // No token, or someone else's: refused, nothing created.
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/signup",
        &[
            ("email", "p@example.com"),
            ("handle", "page_fan"),
            ("password", "correct horse battery"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let other = browser();
    let res = post_form(
        &other,
        &app,
        "/c/boyfanz/signup",
        &[
            ("csrf", &csrf),
            ("email", "p@example.com"),
            ("handle", "page_fan"),
            ("password", "correct horse battery"),
        ],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a token without its cookie is refused"
    );

    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/signup",
        &[
            ("csrf", &csrf),
            ("email", "p@example.com"),
            ("handle", "page_fan"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("at least 10 characters"));
    assert!(
        html.contains("value=\"p@example.com\""),
        "typed values are kept"
    );

    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/signup",
        &[
            ("csrf", &csrf),
            ("email", "p@example.com"),
            ("handle", "page_fan"),
            ("password", "correct horse battery"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/c/boyfanz/settings?welcome=1");
    let (status, html) = page(&b, &app, "/c/boyfanz/settings?welcome=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Welcome to BoyFanz, @page_fan!"));

    // Profile edits: bad links refused whole, good ones saved and shown.
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/settings/profile",
        &[
            ("csrf", &csrf),
            ("display_name", "Changed"),
            ("links", "no separator here"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/settings/profile",
        &[
            ("csrf", &csrf),
            ("display_name", "Page Fan"),
            ("bio", "Here for the neon."),
            ("links", "Blog | https://blog.example.com"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Profile saved."));
    let (status, html) = page(&b, &app, "/c/boyfanz/@page_fan").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<h1>Page Fan</h1>")
            && html.contains("Here for the neon.")
            && html.contains("https://blog.example.com")
    );
    assert!(
        html.contains("src=\"/art/avatar/page_fan.svg\"")
            && html.contains("src=\"/art/banner/page_fan.svg\""),
        "a profile without pictures shows generated ones"
    );
    let (status, _) = page(&b, &app, "/c/boyfanz/@nobody_here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Two-factor: start, confirm with a code from the secret on the page, keep recovery codes.
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/settings/two-factor/start",
        &[("csrf", &csrf)],
    )
    .await;
    let html = res.text().await.unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_owned();
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/settings/two-factor/confirm",
        &[("csrf", &csrf), ("code", "12345")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.text().await.unwrap().contains(&secret),
        "the pending key stays on screen after a wrong code"
    );
    let code = fanz_identity::current_code(&secret).unwrap();
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/settings/two-factor/confirm",
        &[("csrf", &csrf), ("code", &code)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let codes_html = between(&html, "id=\"recovery-codes\">", "</ul>");
    let recovery: Vec<String> = codes_html
        .split("<code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    // Log out; settings now sends you to log in.
    let res = post_form(&b, &app, "/c/boyfanz/logout", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = b.get(app.url("/c/boyfanz/settings")).send().await.unwrap();
    assert_eq!(location(&res), "/c/boyfanz/login");

    // Log in: wrong password shows an error; right one asks for the second factor.
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/login",
        &[
            ("csrf", &csrf),
            ("email", "p@example.com"),
            ("password", "wrong wrong wrong"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("email or password is wrong"));
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/login",
        &[
            ("csrf", &csrf),
            ("email", "p@example.com"),
            ("password", "correct horse battery"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/c/boyfanz/two-factor");
    let res = b.get(app.url("/c/boyfanz/settings")).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "not signed in before the second factor"
    );
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/two-factor",
        &[("csrf", &csrf), ("code", "12345")],
    )
    .await;
    let next_code = fanz_identity::code_at_offset(&secret, 30).unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/two-factor",
        &[("csrf", &csrf), ("code", &next_code)],
    )
    .await;
    assert_eq!(location(&res), "/c/boyfanz/settings");
    let (status, html) = page(&b, &app, "/c/boyfanz/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Two-factor authentication is <strong>on</strong>"));

    // A recovery code also completes the second step.
    post_form(&b, &app, "/c/boyfanz/logout", &[("csrf", &csrf)]).await;
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/login",
        &[
            ("csrf", &csrf),
            ("email", "p@example.com"),
            ("password", "correct horse battery"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/c/boyfanz/two-factor");
    let res = post_form(
        &b,
        &app,
        "/c/boyfanz/two-factor",
        &[("csrf", &csrf), ("code", &recovery[0])],
    )
    .await;
    let status = res.status();
    let loc = location(&res);
    assert_eq!(
        loc,
        "/c/boyfanz/settings",
        "{status} {}",
        res.text().await.unwrap()
    );
}

async fn clusters_by_host_and_path(app: TestApp) {
    let b = browser();
    for (host, name) in [
        ("boyfanz.localhost:8080", "BoyFanz"),
        ("GIRLFANZ.com", "GirlFanz"),
        ("127.0.0.1", "FanzLab"),
    ] {
        let res = b
            .get(app.url("/"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&format!("<h1>{name}</h1>")),
            "{host} should show {name}"
        );
    }
    let (status, html) = page(&b, &app, "/c/pupfanz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>PupFanz</h1>") && html.contains("href=\"/c/pupfanz/theme.css\""));
    let css = b
        .get(app.url("/c/pupfanz/theme.css"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.contains("--primary:#39ff14"));
    let (status, _) = page(&b, &app, "/c/nowherefanz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, html) = page(&b, &app, "/c/fanzcock").await;
    assert!(html.contains("class=\"feed-vertical\""));

    // TabooFanz asks for explicit confirmation first.
    let (status, html) = page(&b, &app, "/c/taboofanz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("is for adults only") && !html.contains("Creators on TabooFanz"));
    let csrf = csrf_of(&html);
    let res = post_form(&b, &app, "/c/taboofanz/age-gate", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&b, &app, "/c/taboofanz").await;
    assert!(html.contains("Creators on TabooFanz"));
}

async fn portal_shows_every_cluster(app: TestApp) {
    let b = browser();
    let clusters = fanz_clusters::Clusters::builtin("fanzlab").unwrap();
    let (status, html) = page(&b, &app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>FanzLab</h1>") && html.contains("src=\"/art/cluster/fanzlab.svg\""));
    assert!(
        !html.contains("No creators here yet"),
        "the portal shows its worlds, not an empty creator list"
    );
    for c in clusters.all().iter().filter(|c| c.slug != "fanzlab") {
        for needle in [
            format!("class=\"world theme-{}\"", c.slug),
            format!("href=\"/c/{}\"", c.slug),
            format!("src=\"/art/cluster/{}.svg\"", c.slug),
            format!("<span class=\"world-name\">{}</span>", c.name),
        ] {
            assert!(html.contains(&needle), "portal lacks {needle}");
        }
    }
    // Every card wears its own cluster's theme.
    let css = b
        .get(app.url("/theme.css"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.starts_with(":root{--primary:#00e5ff;"));
    for c in clusters.all() {
        assert!(css.contains(&format!(
            ".theme-{}{{--primary:{};",
            c.slug, c.theme.primary
        )));
    }

    // A cluster's own landing: its hero art and brand, no portal list.
    let (_, html) = page(&b, &app, "/c/boyfanz").await;
    assert!(html.contains("<h1>BoyFanz</h1>") && html.contains("src=\"/art/cluster/boyfanz.svg\""));
    assert!(!html.contains("Choose your world"));
    // Navigation to the content pages, under the cluster's prefix.
    for path in ["/feed", "/discover", "/search"] {
        assert!(
            html.contains(&format!("href=\"/c/boyfanz{path}\"")),
            "{path}"
        );
    }
    assert!(
        !html.contains("/c/boyfanz/studio") && !html.contains("/c/boyfanz/admin/jobs"),
        "studio and admin links are for creators and operators"
    );
}

async fn generated_art(app: TestApp) {
    let b = browser();
    let get = |path: &'static str| {
        let b = b.clone();
        let url = app.url(path);
        async move {
            let res = b.get(url).send().await.unwrap();
            let status = res.status();
            let headers = res.headers().clone();
            (status, headers, res.text().await.unwrap())
        }
    };
    for path in [
        "/art/cluster/boyfanz.svg",
        "/art/avatar/neon_nate.svg",
        "/art/banner/neon_nate.svg",
    ] {
        let (status, headers, body) = get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers["content-type"], "image/svg+xml", "{path}");
        let cache = headers["cache-control"].to_str().unwrap();
        assert!(cache.starts_with("public, max-age=") && !cache.contains("max-age=0"));
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
        assert!(
            body.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
                && body.ends_with("</svg>")
        );
        let (_, _, again) = get(path).await;
        assert_eq!(body, again, "{path} is deterministic");
    }
    let (_, _, boy) = get("/art/cluster/boyfanz.svg").await;
    let (_, _, girl) = get("/art/cluster/girlfanz.svg").await;
    assert_ne!(boy, girl);
    assert!(boy.contains("#ff3b4e"), "drawn in the cluster's colours");

    // A hostile handle only seeds the picture; its initials are letters, escaped.
    let (status, _, svg) =
        get("/art/avatar/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%3Cx%20a=%22.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!svg.contains("<script") && !svg.contains("alert") && !svg.contains("<x"));
    assert!(svg.contains(">SA</text>"));
    let (status, _, svg) = get("/art/avatar/%3C%26%3E.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.contains(">?</text>"));

    for path in [
        "/art/cluster/nowherefanz.svg",
        "/art/cluster/boyfanz",
        "/art/cluster/boyfanz.png",
        "/art/avatar/.svg",
        "/art/unknown/x.svg",
        "/assets/fonts/nothing.woff2",
    ] {
        let (status, _, _) = get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let long = format!("/art/avatar/{}.svg", "a".repeat(65));
    let res = b.get(app.url(&long)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = b
        .get(app.url("/assets/fonts/bebas-neue-latin-400-normal.woff2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "font/woff2");
    assert!(res.bytes().await.unwrap().starts_with(b"wOF2"));
}

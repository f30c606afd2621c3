use fanz_clusters::Clusters;
use fanz_config::Config;
use fanz_store::testing::TestDb;
use fanz_store::{Backend, Store};
use fanz_web::AppState;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

/// Fields drop in order: the server is told to stop before its database is dropped.
pub struct TestApp {
    _shutdown: tokio::sync::oneshot::Sender<()>,
    pub base: String,
    pub client: Client,
    pub state: AppState,
    pub store: Store,
    _db: TestDb,
    _data: tempfile::TempDir,
}

/// Run `$test(app)` once per backend.
#[macro_export]
macro_rules! on_both_backends {
    // `config = f;` first: each app is made with `spawn_with(backend, f)`.
    (config = $tweak:path; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::harness::spawn_with(fanz_store::Backend::Sqlite, $tweak).await.expect("sqlite app");
                    super::$name(app).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match $crate::harness::spawn_with(fanz_store::Backend::Postgres, $tweak).await {
                        Some(app) => super::$name(app).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::harness::spawn(fanz_store::Backend::Sqlite).await.expect("sqlite app");
                    super::$name(app).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match $crate::harness::spawn(fanz_store::Backend::Postgres).await {
                        Some(app) => super::$name(app).await,
                        None => eprintln!("FANZ_TEST_POSTGRES_URL not set: PostgreSQL run skipped"),
                    }
                }
            }
        )*
    };
}

pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    spawn_with_clusters(backend, tweak, Clusters::builtin("fanzlab").unwrap()).await
}

/// An app serving `clusters` instead of the built-in ones.
pub async fn spawn_with_clusters(
    backend: Backend,
    tweak: impl FnOnce(&mut Config),
    clusters: Clusters,
) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await.expect("test store");
    // The generated secrets key goes here, not into the working directory.
    let data = tempfile::tempdir().expect("data dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone(),
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    // Tests sign many accounts up from 127.0.0.1; the sign-up limit has a test of its own.
    config.auth.signup_max_per_ip = 10_000;
    // Creators verify through the sandbox identity provider, as in the demo.
    config.compliance.sandbox_verification = true;
    tweak(&mut config);
    let state = AppState::new(store.clone(), clusters, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serve_state = state.clone();
    tokio::spawn(async move {
        fanz_web::serve(serve_state, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    // A fresh connection per request: a response that closes its connection (a refused
    // upload) must not leave a pooled connection for the next request to write into.
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    Some(TestApp {
        base: format!("http://{addr}"),
        client,
        state,
        store,
        _db: db,
        _data: data,
        _shutdown: tx,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn signup(&self, email: &str, handle: &str, password: &str) -> Value {
        let res = self
            .post(
                "/api/v1/auth/signup",
                json!({"email": email, "handle": handle, "password": password}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "signup {handle}");
        res.json().await.unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login {email}");
        res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A signed-up, logged-in user: (token, handle).
    pub async fn user(&self, handle: &str) -> (String, String) {
        let email = format!("{handle}@example.com");
        self.signup(&email, handle, "correct horse battery").await;
        (
            self.login(&email, "correct horse battery").await,
            handle.to_owned(),
        )
    }

    /// Sign the creator agreement and verify identity and age through the sandbox provider, as
    /// a creator does before uploading or publishing paid posts.
    pub async fn verify(&self, token: &str, legal_name: &str) {
        let a: Value = self
            .get("/api/v1/agreement", None)
            .await
            .json()
            .await
            .unwrap();
        let res = self
            .post(
                "/api/v1/me/agreement",
                json!({"version": a["version"], "typed_name": legal_name}),
                Some(token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "sign the agreement");
        let res = self
            .post("/api/v1/me/verification", json!({}), Some(token))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "start verification");
        let s: Value = res.json().await.unwrap();
        let res = self
            .post(
                &format!("/api/v1/verification/sandbox/{}", s["id"].as_str().unwrap()),
                json!({"legal_name": legal_name, "date_of_birth": "1995-05-05", "id_expires_on": "2035-01-01"}),
                Some(token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "sandbox verification");
        let s: Value = res.json().await.unwrap();
        assert_eq!(s["status"], "verified", "{s}");
    }

    /// Sign the creator agreement only (for an account verified another way).
    pub async fn verify_agreement_only(&self, token: &str) {
        let a: Value = self
            .get("/api/v1/agreement", None)
            .await
            .json()
            .await
            .unwrap();
        let res = self
            .post(
                "/api/v1/me/agreement",
                json!({"version": a["version"], "typed_name": "Signed By Test"}),
                Some(token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "sign the agreement");
    }

    /// An admin, made the way an operator does (`fanz user create --role admin`).
    pub async fn admin(&self) -> String {
        fanz_web::flows::signup(
            &self.state,
            "root@example.com",
            "operator",
            "correct horse battery",
            vec![fanz_core::Role::Admin],
            &fanz_audit::Actor::cli(),
        )
        .await
        .map_err(|e| e.message)
        .unwrap();
        self.login("root@example.com", "correct horse battery")
            .await
    }
}

/// Assert an error response: status and stable code.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "expected {status} {code}");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "error content type {ct}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    body
}

//! Typed configuration, layered: built-in defaults < `fanz.toml` (or `--config PATH`) <
//! `FANZ_*` environment variables. Validated once at start-up; a bad value stops start-up
//! with a message that names the key.

pub mod age;
pub mod auth;
pub mod compliance;
pub mod gateway;
pub mod http;
pub mod jobs;
pub mod media;
pub mod payments;
pub mod review;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where embedded data lives (the SQLite file, later media).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`. Empty means `sqlite://<data_dir>/fanz.db`.
    pub database_url: String,
    /// Maximum connections in the read pool.
    pub db_max_connections: u32,
    /// Public base URL used in e-mailed links, e.g. `https://boyfanz.com`.
    pub public_url: String,
    /// A clusters file to use instead of the built-in one.
    pub clusters_file: Option<PathBuf>,
    /// The cluster served when the Host header names none.
    pub default_cluster: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `fanz=debug,info`.
    pub log: String,
    /// Mark cookies `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// Largest JSON body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// How long a login session lives, in hours.
    pub session_ttl_hours: u32,
    /// Failed logins from one IP address within the window before it is throttled.
    pub login_max_failures_per_ip: u32,
    /// Failed logins for one account within the window before it is throttled.
    pub login_max_failures_per_account: u32,
    /// The throttling window, in seconds.
    pub login_window_secs: u32,
    /// `smtp://user:pass@host:587` (STARTTLS) or `smtps://…` (TLS); empty: mail goes to the
    /// outbox table and the log only.
    pub smtp_url: String,
    /// The From address of outgoing mail.
    pub smtp_from: String,
    /// The API gateway and service registry (`[gateway]` in the file).
    #[serde(default)]
    pub gateway: gateway::GatewayConfig,
    /// `nats://host:4222` to carry events between nodes through NATS JetStream; empty: events
    /// are delivered from the store's outbox in process (and to other nodes sharing it).
    pub events_url: String,
    /// The background job runner (`[jobs]` in the file).
    #[serde(default)]
    pub jobs: jobs::JobsConfig,
    /// Limits on sign-up, password reset and password hashing (`[auth]`).
    #[serde(default)]
    pub auth: auth::AuthConfig,
    /// Keys that seal secrets at rest (`[secrets]`).
    #[serde(default)]
    pub secrets: auth::SecretsConfig,
    /// Connection timeouts and limits (`[http]` in the file).
    #[serde(default)]
    pub http: http::HttpConfig,
    /// Media storage, upload and processing limits, delivery URL keys (`[media]`).
    #[serde(default)]
    pub media: media::MediaConfig,
    /// Processors, the sandbox, billing rules and payouts (`[payments]`).
    #[serde(default)]
    pub payments: payments::PaymentsConfig,
    /// The custodian of records and the limits on reports (`[compliance]`).
    #[serde(default)]
    pub compliance: compliance::ComplianceConfig,
    /// Banned terms and the PDQ match threshold of review before publication (`[review]`).
    #[serde(default)]
    pub review: review::ReviewConfig,
    /// Viewer age assurance by place (`[age_assurance]`).
    #[serde(default)]
    pub age_assurance: age::AgeAssuranceConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            db_max_connections: 16,
            public_url: String::new(),
            clusters_file: None,
            default_cluster: "fanzlab".into(),
            log_format: LogFormat::Text,
            log: "info".into(),
            cookie_secure: false,
            body_limit_bytes: 1024 * 1024,
            session_ttl_hours: 24 * 30,
            login_max_failures_per_ip: 20,
            login_max_failures_per_account: 5,
            login_window_secs: 15 * 60,
            smtp_url: String::new(),
            smtp_from: "Fanz <no-reply@fanz.localhost>".into(),
            gateway: gateway::GatewayConfig::default(),
            events_url: String::new(),
            jobs: jobs::JobsConfig::default(),
            auth: auth::AuthConfig::default(),
            secrets: auth::SecretsConfig::default(),
            http: http::HttpConfig::default(),
            media: media::MediaConfig::default(),
            payments: payments::PaymentsConfig::default(),
            compliance: compliance::ComplianceConfig::default(),
            review: review::ReviewConfig::default(),
            age_assurance: age::AgeAssuranceConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("invalid configuration: key `{key}`: {message}")]
    BadValue { key: &'static str, message: String },
}

impl Config {
    /// Load with the documented precedence. `path` is `--config`; without it `./fanz.toml`
    /// is read when present.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(path, Env::prefixed("FANZ_"))
    }

    fn load_from(path: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(p) if !p.exists() => return Err(ConfigError::MissingFile(p.to_path_buf())),
            Some(p) => fig = fig.merge(Toml::file(p)),
            None => fig = fig.merge(Toml::file("fanz.toml")),
        }
        // Only keys Fanz knows: FANZ_TEST_* and other FANZ_ variables belong to tools. A double
        // underscore reaches into a section: FANZ_GATEWAY__HEALTH__INTERVAL_MS.
        let known: Vec<String> = Self::KEYS.iter().map(|k| k.to_string()).collect();
        let env = env
            .filter(move |k| {
                let top = k.as_str().split("__").next().unwrap_or_default();
                known.iter().any(|n| top.eq_ignore_ascii_case(n))
            })
            .split("__");
        let config: Config = fig
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()
    }

    const KEYS: &'static [&'static str] = &[
        "listen",
        "data_dir",
        "database_url",
        "db_max_connections",
        "public_url",
        "clusters_file",
        "default_cluster",
        "log_format",
        "log",
        "cookie_secure",
        "body_limit_bytes",
        "session_ttl_hours",
        "login_max_failures_per_ip",
        "login_max_failures_per_account",
        "login_window_secs",
        "smtp_url",
        "smtp_from",
        "gateway",
        "events_url",
        "jobs",
        "auth",
        "secrets",
        "http",
        "media",
        "payments",
        "compliance",
        "review",
        "age_assurance",
    ];

    fn validate(mut self) -> Result<Self, ConfigError> {
        if self.database_url.trim().is_empty() {
            self.database_url = format!("sqlite://{}/fanz.db", self.data_dir.display());
        }
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::BadValue {
                key: "database_url",
                message: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        if let Err(message) = self.compliance.check() {
            return Err(ConfigError::BadValue {
                key: "compliance",
                message,
            });
        }
        if let Err(message) = self.age_assurance.check() {
            return Err(ConfigError::BadValue {
                key: "age_assurance",
                message,
            });
        }
        if let Err(message) = self.review.check() {
            return Err(ConfigError::BadValue {
                key: "review",
                message,
            });
        }
        if let Err(message) = self.payments.check() {
            return Err(ConfigError::BadValue {
                key: "payments",
                message,
            });
        }
        if self.db_max_connections == 0 {
            return Err(ConfigError::BadValue {
                key: "db_max_connections",
                message: "must be at least 1".into(),
            });
        }
        if self.body_limit_bytes < 1024 {
            return Err(ConfigError::BadValue {
                key: "body_limit_bytes",
                message: "must be at least 1024".into(),
            });
        }
        if self.session_ttl_hours == 0 || self.login_window_secs == 0 {
            return Err(ConfigError::BadValue {
                key: if self.session_ttl_hours == 0 {
                    "session_ttl_hours"
                } else {
                    "login_window_secs"
                },
                message: "must be at least 1".into(),
            });
        }
        if !(self.smtp_url.is_empty()
            || self.smtp_url.starts_with("smtp://")
            || self.smtp_url.starts_with("smtps://"))
        {
            return Err(ConfigError::BadValue {
                key: "smtp_url",
                message: "must start with smtp:// or smtps://".into(),
            });
        }
        if !(self.public_url.is_empty()
            || self.public_url.starts_with("http://")
            || self.public_url.starts_with("https://"))
        {
            return Err(ConfigError::BadValue {
                key: "public_url",
                message: "must start with http:// or https://".into(),
            });
        }
        self.gateway
            .validate()
            .map_err(|(key, message)| ConfigError::BadValue { key, message })?;
        if !(self.events_url.is_empty() || self.events_url.starts_with("nats://")) {
            return Err(ConfigError::BadValue {
                key: "events_url",
                message: "must start with nats:// (or be empty for in-process delivery)".into(),
            });
        }
        self.jobs
            .validate()
            .map_err(|(key, message)| ConfigError::BadValue { key, message })?;
        self.auth
            .validate()
            .map_err(|(key, message)| ConfigError::BadValue { key, message })?;
        self.http
            .validate()
            .map_err(|(key, message)| ConfigError::BadValue { key, message })?;
        self.media
            .validate()
            .map_err(|(key, message)| ConfigError::BadValue { key, message })?;
        Ok(self)
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// The effective configuration as TOML with secrets replaced by `***`.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = redact_url(&shown.database_url);
        shown.smtp_url = redact_url(&shown.smtp_url);
        shown.events_url = redact_url(&shown.events_url);
        if !shown.gateway.identity_secret.is_empty() {
            shown.gateway.identity_secret = "***".into();
        }
        if !shown.secrets.key.is_empty() {
            shown.secrets.key = "***".into();
        }
        for k in &mut shown.secrets.old_keys {
            *k = "***".into();
        }
        for k in [
            &mut shown.media.url_key,
            &mut shown.media.s3_secret_access_key,
        ] {
            if !k.is_empty() {
                *k = "***".into();
            }
        }
        for k in &mut shown.media.url_old_keys {
            *k = "***".into();
        }
        toml::to_string(&shown).expect("config serializes as TOML")
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            let user = creds.split(':').next().unwrap_or("");
            if creds.contains(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_owned()
}

#[cfg(test)]
// figment's Jail returns its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn zero_configuration_defaults() {
        figment::Jail::expect_with(|_| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(c.database_url, "sqlite://./data/fanz.db");
            assert!(!c.is_postgres());
            Ok(())
        });
    }

    #[test]
    fn file_then_env_precedence() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "fanz.toml",
                "listen = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/fz\"\n",
            )?;
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.database_url, "sqlite:///tmp/fz/fanz.db");
            jail.set_env("FANZ_LISTEN", "127.0.0.1:9100");
            jail.set_env("FANZ_DATABASE_URL", "postgres://u:pw@localhost/fanz");
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen.port(), 9100);
            assert!(c.is_postgres());
            assert!(c
                .redacted_toml()
                .contains("postgres://u:***@localhost/fanz"));
            assert!(!c.redacted_toml().contains("pw"));
            Ok(())
        });
    }

    #[test]
    fn nested_keys_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FANZ_GATEWAY__HEALTH__INTERVAL_MS", "5000");
            jail.set_env("FANZ_GATEWAY__AUTH_CACHE_MS", "0");
            jail.set_env("FANZ_GATEWAY__IDENTITY_SECRET", "x".repeat(40));
            jail.set_env("FANZ_TEST_SOMETHING__ELSE", "ignored");
            let c = Config::load(None).unwrap();
            assert_eq!(c.gateway.health.interval_ms, 5000);
            assert_eq!(c.gateway.auth_cache_ms, 0);
            assert_eq!(c.gateway.identity_secret.len(), 40);
            assert!(!c.redacted_toml().contains(&"x".repeat(40)));
            jail.set_env("FANZ_GATEWAY__HEALTH__INTERVAL_MS", "soon");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.to_lowercase().contains("gateway.health.interval_ms"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_and_auth_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            let key = format!("k2:{}", "A".repeat(43) + "=");
            jail.set_env("FANZ_SECRETS__KEY", &key);
            jail.set_env("FANZ_SECRETS__OLD_KEYS", "[\"k1:abc+/=\"]");
            jail.set_env("FANZ_AUTH__SIGNUP_MAX_PER_IP", "3");
            let c = Config::load(None).unwrap();
            assert_eq!(c.secrets.key, key);
            assert_eq!(c.secrets.old_keys, vec!["k1:abc+/=".to_owned()]);
            assert_eq!(c.auth.signup_max_per_ip, 3);
            let shown = c.redacted_toml();
            assert!(
                !shown.contains(&key) && !shown.contains("abc+/="),
                "{shown}"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FANZ_LISTEN", "not-an-address");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("listen"), "{err}");
            jail.set_env("FANZ_LISTEN", "127.0.0.1:1");
            jail.set_env("FANZ_DATABASE_URL", "mysql://x");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("database_url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn media_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.media, media::MediaConfig::default());
            jail.set_env("FANZ_MEDIA__STORE", "s3://fanz-media");
            jail.set_env("FANZ_MEDIA__S3_SECRET_ACCESS_KEY", "very-secret-value");
            jail.set_env("FANZ_MEDIA__MAX_UPLOAD_BYTES", "1000");
            let c = Config::load(None).unwrap();
            assert_eq!(c.media.store, "s3://fanz-media");
            assert_eq!(c.media.max_upload_bytes, 1000);
            assert!(!c.redacted_toml().contains("very-secret-value"));
            jail.set_env("FANZ_MEDIA__STORE", "ftp://elsewhere");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("media.store"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn http_limits_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.http, http::HttpConfig::default());
            jail.set_env("FANZ_HTTP__MAX_IN_FLIGHT", "64");
            jail.set_env("FANZ_HTTP__IDLE_TIMEOUT_SECS", "5");
            let c = Config::load(None).unwrap();
            assert_eq!(c.http.max_in_flight, 64);
            assert_eq!(c.http.idle_timeout_secs, 5);
            jail.set_env("FANZ_HTTP__MAX_CONNECTIONS", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("http.max_connections"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/fanz.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }
}

//! `services.toml`: the seed's catalogue of named services, parsed into types that can only
//! hold valid data (unique ids, known categories, well-formed upstream URLs).

use crate::error::GatewayError;
use http::uri::Authority;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The repository's `services.toml`, compiled in: used when no file is found at the configured
/// (default) path, so an installed binary needs no files next to it.
pub const BUILTIN: &str = include_str!("../../../services.toml");

/// The seed's 11 categories, with its slugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    ContentPlatform,
    SecurityCompliance,
    PaymentFinance,
    AnalyticsMarketing,
    ContentManagement,
    Communication,
    CommunitySocial,
    Marketplace,
    AiAutomation,
    Infrastructure,
    Specialized,
}

impl Category {
    pub const ALL: [Category; 11] = [
        Category::ContentPlatform,
        Category::SecurityCompliance,
        Category::PaymentFinance,
        Category::AnalyticsMarketing,
        Category::ContentManagement,
        Category::Communication,
        Category::CommunitySocial,
        Category::Marketplace,
        Category::AiAutomation,
        Category::Infrastructure,
        Category::Specialized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::ContentPlatform => "content-platform",
            Category::SecurityCompliance => "security-compliance",
            Category::PaymentFinance => "payment-finance",
            Category::AnalyticsMarketing => "analytics-marketing",
            Category::ContentManagement => "content-management",
            Category::Communication => "communication",
            Category::CommunitySocial => "community-social",
            Category::Marketplace => "marketplace",
            Category::AiAutomation => "ai-automation",
            Category::Infrastructure => "infrastructure",
            Category::Specialized => "specialized",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What provides a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// A module of this binary (`builtin:ledger`).
    Builtin(String),
    /// External instances: static, registered at runtime, or discovered through DNS.
    Upstream,
    /// Nothing yet.
    None,
}

impl Provider {
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "upstream" => Some(Provider::Upstream),
            "none" => Some(Provider::None),
            _ => {
                let module = s.strip_prefix("builtin:")?;
                valid_slug(module).then(|| Provider::Builtin(module.to_owned()))
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            Provider::Builtin(m) => format!("builtin:{m}"),
            Provider::Upstream => "upstream".into(),
            Provider::None => "none".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastOutstanding,
    ConsistentHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Authenticate when credentials come; anonymous requests pass without identity.
    #[default]
    Optional,
    /// 401 without a valid caller.
    Required,
}

/// HTTP version spoken to an upstream instance: `http://` is HTTP/1.1, `h2c://` is HTTP/2
/// with prior knowledge (cleartext, as inside a cluster network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    Http1,
    Http2,
}

/// A parsed upstream URL: `http://host:port[/base]` or `h2c://host:port[/base]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub proto: Proto,
    pub authority: Authority,
    /// Path prefix without trailing slash ("" for none).
    pub base_path: String,
}

impl UpstreamUrl {
    pub fn parse(s: &str) -> Result<UpstreamUrl, String> {
        let uri: http::Uri = s.parse().map_err(|_| format!("`{s}` is not a URL"))?;
        let proto = match uri.scheme_str() {
            Some("http") => Proto::Http1,
            Some("h2c") => Proto::Http2,
            Some(other) => {
                return Err(format!(
                    "scheme `{other}` is not supported (use http:// or h2c://)"
                ))
            }
            None => return Err(format!("`{s}` has no scheme (use http:// or h2c://)")),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("`{s}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err("credentials in the URL are not allowed".into());
        }
        if authority.host().is_empty() {
            return Err(format!("`{s}` has no host"));
        }
        if uri.query().is_some() {
            return Err("the URL must not have a query".into());
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(UpstreamUrl {
            proto,
            authority,
            base_path,
        })
    }

    /// The request target (origin form) for `path_and_query`, which starts with '/'.
    pub fn request_uri(&self, path_and_query: &str) -> Result<http::Uri, http::Error> {
        let pq = if self.base_path.is_empty() {
            http::uri::PathAndQuery::try_from(path_and_query)?
        } else {
            let mut pq = String::with_capacity(self.base_path.len() + path_and_query.len());
            pq.push_str(&self.base_path);
            pq.push_str(path_and_query);
            http::uri::PathAndQuery::try_from(pq)?
        };
        Ok(http::Uri::from(pq))
    }

    pub fn display(&self) -> String {
        let scheme = match self.proto {
            Proto::Http1 => "http",
            Proto::Http2 => "h2c",
        };
        format!("{scheme}://{}{}", self.authority, self.base_path)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticInstance {
    pub url: String,
    pub health_path: Option<String>,
}

/// One `[[service]]` entry as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub port: u16,
    #[serde(rename = "provider")]
    pub provider_spec: String,
    pub cluster: Option<String>,
    pub route: Option<String>,
    pub capability: Option<String>,
    #[serde(default, rename = "instance")]
    pub instances: Vec<StaticInstance>,
    pub health_path: Option<String>,
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub balance: Balance,
    pub hash_header: Option<String>,
    #[serde(default)]
    pub auth: AuthMode,
    pub rate_limit_rps: Option<f64>,
    pub rate_limit_burst: Option<f64>,
    pub cache_ttl_secs: Option<u64>,
    /// Resolved periodically, each address becoming an instance: `host[:port]` (A/AAAA
    /// records, the service's port when none is given) or `_service._proto.name` (SRV records:
    /// the targets of the lowest priority, at their ports).
    pub dns: Option<String>,
}

impl ServiceDef {
    pub fn provider(&self) -> Provider {
        Provider::parse(&self.provider_spec).unwrap_or(Provider::None)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default, rename = "service")]
    services: Vec<ServiceDef>,
}

/// The parsed, validated catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub services: Vec<ServiceDef>,
}

pub(crate) fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(crate) fn valid_path(p: &str) -> bool {
    p.starts_with('/') && p.parse::<http::uri::PathAndQuery>().is_ok()
}

impl Catalogue {
    pub fn parse(text: &str) -> Result<Catalogue, GatewayError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| GatewayError::Catalogue(e.to_string()))?;
        let mut seen = HashSet::new();
        for s in &file.services {
            let bad = |m: String| GatewayError::Catalogue(format!("service `{}`: {m}", s.id));
            if !valid_slug(&s.id) {
                return Err(bad("id must be lower-case letters, digits and '-'".into()));
            }
            if !seen.insert(s.id.clone()) {
                return Err(bad("duplicate id".into()));
            }
            if s.name.trim().is_empty() {
                return Err(bad("name is empty".into()));
            }
            let provider = Provider::parse(&s.provider_spec).ok_or_else(|| {
                bad(format!(
                    "provider `{}` must be builtin:<module>, upstream or none",
                    s.provider_spec
                ))
            })?;
            match &provider {
                Provider::Builtin(m) => {
                    match &s.route {
                        Some(r) if valid_path(r) => {}
                        _ => return Err(bad("a builtin needs a `route` starting with '/'".into())),
                    }
                    if m == "clusters" && s.cluster.is_none() {
                        return Err(bad("builtin:clusters needs `cluster`".into()));
                    }
                    if !s.instances.is_empty() || s.dns.is_some() {
                        return Err(bad("a builtin has no instances or dns".into()));
                    }
                }
                Provider::None if !s.instances.is_empty() || s.dns.is_some() => {
                    return Err(bad(
                        "provider none cannot list instances (use upstream)".into()
                    ));
                }
                _ => {}
            }
            for i in &s.instances {
                UpstreamUrl::parse(&i.url).map_err(|e| bad(format!("instance: {e}")))?;
                if let Some(p) = &i.health_path {
                    if !valid_path(p) {
                        return Err(bad(format!("health_path `{p}` must start with '/'")));
                    }
                }
            }
            if let Some(p) = &s.health_path {
                if !valid_path(p) {
                    return Err(bad(format!("health_path `{p}` must start with '/'")));
                }
            }
            if s.balance == Balance::ConsistentHash && s.hash_header.is_none() {
                return Err(bad("consistent_hash needs `hash_header`".into()));
            }
            if let Some(h) = &s.hash_header {
                http::HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| bad(format!("hash_header `{h}` is not a header name")))?;
            }
        }
        Ok(Catalogue {
            services: file.services,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_catalogue_has_every_seed_service() {
        let text = BUILTIN;
        let cat = Catalogue::parse(text).expect("services.toml parses");
        assert_eq!(cat.services.len(), 94);
        let count = |c: Category| cat.services.iter().filter(|s| s.category == c).count();
        let expected = [20, 10, 8, 8, 8, 6, 8, 6, 8, 7, 5];
        for (c, n) in Category::ALL.into_iter().zip(expected) {
            assert_eq!(count(c), n, "{}", c.as_str());
        }
        let by_id = |id: &str| cat.services.iter().find(|s| s.id == id).unwrap();
        assert_eq!(by_id("content-boyfanz").port, 4001);
        assert_eq!(
            by_id("content-boyfanz").provider(),
            Provider::Builtin("clusters".into())
        );
        assert_eq!(by_id("payment-fanzpay").port, 6000);
        assert_eq!(
            by_id("payment-fanzwallet").provider(),
            Provider::Builtin("ledger".into())
        );
        assert_eq!(
            by_id("ai-fanzmod").provider(),
            Provider::Builtin("moderation".into())
        );
        assert_eq!(by_id("special-fanzeducation").port, 14004);
        // every port of the seed appears once
        let mut ports: Vec<u16> = cat.services.iter().map(|s| s.port).collect();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 94);
    }

    #[test]
    fn bad_catalogues_are_refused_with_the_service_named() {
        let dup = r#"
[[service]]
id = "a"
name = "A"
category = "marketplace"
port = 1
provider = "none"
[[service]]
id = "a"
name = "A2"
category = "marketplace"
port = 2
provider = "none"
"#;
        let err = Catalogue::parse(dup).unwrap_err().to_string();
        assert!(err.contains("duplicate"), "{err}");
        let bad_cat = dup.replacen("marketplace", "shopping", 1);
        assert!(Catalogue::parse(&bad_cat).is_err());
        let bad_provider = r#"
[[service]]
id = "x"
name = "X"
category = "marketplace"
port = 1
provider = "builtin:"
"#;
        assert!(Catalogue::parse(bad_provider).is_err());
        let no_route = bad_provider.replace("builtin:", "builtin:ledger");
        assert!(Catalogue::parse(&no_route)
            .unwrap_err()
            .to_string()
            .contains("route"));
    }

    #[test]
    fn upstream_urls_parse_strictly() {
        let u = UpstreamUrl::parse("http://127.0.0.1:8080/base/").unwrap();
        assert_eq!(u.proto, Proto::Http1);
        assert_eq!(u.base_path, "/base");
        assert_eq!(u.request_uri("/x?y=1").unwrap().to_string(), "/base/x?y=1");
        assert_eq!(
            UpstreamUrl::parse("h2c://svc:80").unwrap().proto,
            Proto::Http2
        );
        for bad in [
            "ftp://x",
            "127.0.0.1:80",
            "http://u:p@host",
            "http://h/?q=1",
            "not a url",
            "",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad}");
        }
    }
}

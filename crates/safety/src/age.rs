//! Viewer age assurance by place: the UK's Online Safety Act, the US states' age-verification
//! laws and others oblige a platform to make sure a viewer in their territory is an adult
//! before showing sexual content, and some operators stop serving a territory instead.
//!
//! - [`Rule`]: what a place gets — `allow`, `block`, or `assure` with the methods that satisfy
//!   it; [`Rules`] holds the platform's table and each cluster's (the cluster's win for the
//!   same place) and [`Rules::decide`] picks the most specific rule for a [`Place`].
//! - [`Locator`]: where a viewer is, from a header the operator's proxy sets or an
//!   address-range file; neither, and the place is unknown.
//! - [`AgeProvider`]: an age-assurance provider (a session, a result by webhook), the
//!   [`Sandbox`] among them. Only the outcome is kept — passed or failed, and the method — never
//!   what the viewer showed the provider.
//! - A pass is remembered in a sealed token (a cookie, or a header for API clients) and, when
//!   the viewer was signed in, on the account (`safety_age_passes`).

use crate::onboarding::Inbound;
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_clusters::Clusters;
use fanz_core::clock::{now_micros, DAY};
use fanz_secrets::Keyring;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

/// The methods a rule may name, with what a viewer is told: Ofcom's list of methods capable of
/// being highly effective (Guidance on highly effective age assurance, January 2025).
pub const METHODS: &[(&str, &str)] = &[
    ("facial_estimation", "Facial age estimation"),
    ("photo_id", "Photo ID matched to a selfie"),
    ("credit_card", "Credit card check"),
    ("open_banking", "Open banking"),
    ("mobile_operator", "Mobile network operator check"),
    ("digital_id", "Digital identity wallet"),
    ("email_estimation", "Email-based age estimation"),
];

/// What a viewer is told a method is.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, l)| *l)
        .unwrap_or("Age check")
}

/// What a place gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Rule {
    Allow,
    /// Nothing is shown there but the legal pages (HTTP 451).
    Block,
    /// A viewer passes an age check first, by one of `methods` (empty: any).
    Assure {
        methods: Vec<String>,
    },
}

impl Rule {
    /// `allow`, `block`, `assure` or `assure: method, method`.
    pub fn parse(text: &str) -> std::result::Result<Rule, String> {
        let text = text.trim();
        let (head, tail) = match text.split_once(':') {
            Some((h, t)) => (h.trim(), Some(t)),
            None => (text, None),
        };
        match (head, tail) {
            ("allow", None) => Ok(Rule::Allow),
            ("block", None) => Ok(Rule::Block),
            ("assure", tail) => {
                let mut methods = Vec::new();
                for m in tail.unwrap_or("").split(',').map(str::trim) {
                    if m.is_empty() {
                        continue;
                    }
                    if !METHODS.iter().any(|(k, _)| *k == m) {
                        return Err(format!(
                            "unknown method {m:?}; known: {}",
                            METHODS
                                .iter()
                                .map(|(k, _)| *k)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    methods.push(m.to_owned());
                }
                Ok(Rule::Assure { methods })
            }
            _ => Err(format!(
                "{text:?} is not a rule: allow, block, or assure[: methods]"
            )),
        }
    }

    /// Whether a pass by `method` satisfies this rule.
    pub fn accepts(&self, method: &str) -> bool {
        match self {
            Rule::Allow => true,
            Rule::Block => false,
            Rule::Assure { methods } => methods.is_empty() || methods.iter().any(|m| m == method),
        }
    }
}

/// Where a viewer is: an ISO 3166-1 alpha-2 country and, when known, an ISO 3166-2
/// subdivision (`US-TX`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Place {
    pub country: Option<String>,
    pub subdivision: Option<String>,
}

impl Place {
    /// `country` and `region` as proxies and databases give them: the region as `US-TX`, or
    /// `TX` with the country; anything else (a region's name) is dropped.
    pub fn new(country: Option<&str>, region: Option<&str>) -> Place {
        let country = country
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
        let code =
            |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_alphanumeric());
        let subdivision =
            region
                .map(|r| r.trim().to_ascii_uppercase())
                .and_then(|r| match r.split_once('-') {
                    Some((c, s)) if c.len() == 2 && code(s) => {
                        Some((Some(c.to_owned()), format!("{c}-{s}")))
                    }
                    None if code(&r) => country.as_ref().map(|c| (None, format!("{c}-{r}"))),
                    _ => None,
                });
        match subdivision {
            Some((from_region, sub)) => Place {
                country: country.or(from_region),
                subdivision: Some(sub),
            },
            None => Place {
                country,
                subdivision: None,
            },
        }
    }

    /// The keys a rule may be written under, most specific first.
    fn keys(&self) -> Vec<&str> {
        let mut keys = Vec::with_capacity(3);
        keys.extend(self.subdivision.as_deref());
        match &self.country {
            Some(c) => keys.push(c.as_str()),
            None => keys.push("unknown"),
        }
        keys.push("*");
        keys
    }
}

/// The platform's rules and each cluster's.
#[derive(Debug, Default)]
pub struct Rules {
    platform: BTreeMap<String, Rule>,
    clusters: HashMap<String, BTreeMap<String, Rule>>,
}

/// The rule a place gets on a cluster, and the key and table it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AgeDecision)]
pub struct Decision {
    #[serde(flatten)]
    pub rule: Rule,
    /// The key that matched (`US-TX`, `GB`, `unknown`, `*`); none: the default, allow.
    pub matched: Option<String>,
    /// `cluster` or `platform`.
    pub source: Option<String>,
}

fn parse_table(
    table: &BTreeMap<String, String>,
    whose: &str,
) -> std::result::Result<BTreeMap<String, Rule>, String> {
    table
        .iter()
        .map(|(k, v)| {
            let key = k.trim();
            let place_ok = key == "*"
                || key == "unknown"
                || (key.len() == 2 && key.bytes().all(|b| b.is_ascii_uppercase()))
                || key.split_once('-').is_some_and(|(c, s)| {
                    c.len() == 2
                        && c.bytes().all(|b| b.is_ascii_uppercase())
                        && !s.is_empty()
                        && s.len() <= 3
                        && s.bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                });
            if !place_ok {
                return Err(format!(
                    "{whose}: {k:?} is not a place (GB, US-TX, unknown or *)"
                ));
            }
            Rule::parse(v)
                .map(|r| (key.to_owned(), r))
                .map_err(|e| format!("{whose}: {k}: {e}"))
        })
        .collect()
}

impl Rules {
    /// The platform's `[age_assurance] rules` and every cluster's `age_rules`; an invalid
    /// place or rule is an error naming it.
    pub fn new(
        platform: &BTreeMap<String, String>,
        clusters: &Clusters,
    ) -> std::result::Result<Rules, String> {
        let mut out = Rules {
            platform: parse_table(platform, "[age_assurance] rules")?,
            clusters: HashMap::new(),
        };
        for c in clusters.all() {
            if !c.policy.age_rules.is_empty() {
                let t = parse_table(&c.policy.age_rules, &format!("cluster {}", c.slug))?;
                out.clusters.insert(c.slug.clone(), t);
            }
        }
        Ok(out)
    }

    /// Whether any place gets anything but `allow` (else nothing needs locating).
    pub fn restricts(&self) -> bool {
        self.platform
            .values()
            .chain(self.clusters.values().flat_map(|t| t.values()))
            .any(|r| *r != Rule::Allow)
    }

    /// The rule for `place` on `cluster`: the most specific key wins; for the same key the
    /// cluster's table wins over the platform's; no key at all allows.
    pub fn decide(&self, cluster: &str, place: &Place) -> Decision {
        let own = self.clusters.get(cluster);
        for key in place.keys() {
            if let Some(rule) = own.and_then(|t| t.get(key)) {
                return Decision {
                    rule: rule.clone(),
                    matched: Some(key.to_owned()),
                    source: Some("cluster".into()),
                };
            }
            if let Some(rule) = self.platform.get(key) {
                return Decision {
                    rule: rule.clone(),
                    matched: Some(key.to_owned()),
                    source: Some("platform".into()),
                };
            }
        }
        Decision {
            rule: Rule::Allow,
            matched: None,
            source: None,
        }
    }

    /// Every rule in force on `cluster`: (place, rule, `cluster` | `platform`), by place.
    pub fn table(&self, cluster: &str) -> Vec<(String, Rule, &'static str)> {
        let mut merged: BTreeMap<&str, (Rule, &'static str)> = self
            .platform
            .iter()
            .map(|(k, r)| (k.as_str(), (r.clone(), "platform")))
            .collect();
        if let Some(own) = self.clusters.get(cluster) {
            for (k, r) in own {
                merged.insert(k.as_str(), (r.clone(), "cluster"));
            }
        }
        merged
            .into_iter()
            .map(|(k, (r, s))| (k.to_owned(), r, s))
            .collect()
    }
}

/// Address ranges and the place each belongs to, sorted for binary search.
#[derive(Debug, Default)]
struct Ranges {
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
    places: Vec<Place>,
}

/// The largest address-range file read (the free country databases are about 20 MB).
pub const MAX_IP_DATABASE_BYTES: u64 = 512 * 1024 * 1024;

impl Ranges {
    fn load(path: &std::path::Path) -> std::result::Result<Ranges, String> {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if size > MAX_IP_DATABASE_BYTES {
            return Err(format!(
                "{} is larger than {MAX_IP_DATABASE_BYTES} bytes",
                path.display()
            ));
        }
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ranges::read(file).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn read(input: impl std::io::Read) -> std::result::Result<Ranges, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut out = Ranges::default();
        let mut index: HashMap<(String, String), u32> = HashMap::new();
        for (n, row) in reader.records().enumerate() {
            let row = row.map_err(|e| format!("line {}: {e}", n + 1))?;
            let field = |i: usize| row.get(i).map(str::trim).unwrap_or("");
            let (Ok(first), Ok(last)) = (field(0).parse::<IpAddr>(), field(1).parse::<IpAddr>())
            else {
                if n == 0 {
                    continue; // a header line
                }
                return Err(format!("line {}: not two addresses", n + 1));
            };
            let place = Place::new(Some(field(2)), Some(field(3)).filter(|r| !r.is_empty()));
            let key = (
                place.country.clone().unwrap_or_default(),
                place.subdivision.clone().unwrap_or_default(),
            );
            let next = out.places.len() as u32;
            let id = *index.entry(key).or_insert_with(|| {
                out.places.push(place);
                next
            });
            match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => out.v4.push((a.into(), b.into(), id)),
                (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => out.v6.push((a.into(), b.into(), id)),
                _ => return Err(format!("line {}: not an ordered range", n + 1)),
            }
        }
        out.v4.sort_unstable();
        out.v6.sort_unstable();
        Ok(out)
    }

    fn find(&self, ip: IpAddr) -> Option<&Place> {
        fn search<T: Ord + Copy>(ranges: &[(T, T, u32)], ip: T) -> Option<u32> {
            let i = ranges.partition_point(|r| r.0 <= ip);
            let r = ranges.get(i.checked_sub(1)?)?;
            (ip <= r.1).then_some(r.2)
        }
        let id = match ip {
            IpAddr::V4(a) => search(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => search(&self.v4, u32::from(v4)),
                None => search(&self.v6, u128::from(a)),
            },
        }?;
        self.places.get(id as usize)
    }
}

/// Where a viewer is: the operator's proxy headers first, then the address-range file.
#[derive(Debug, Default)]
pub struct Locator {
    country_header: Option<String>,
    region_header: Option<String>,
    ranges: Option<Ranges>,
}

impl Locator {
    pub fn new(
        country_header: &str,
        region_header: &str,
        ip_database: &str,
    ) -> std::result::Result<Locator, String> {
        let header = |h: &str| (!h.trim().is_empty()).then(|| h.trim().to_ascii_lowercase());
        let ranges = if ip_database.trim().is_empty() {
            None
        } else {
            Some(Ranges::load(std::path::Path::new(ip_database.trim()))?)
        };
        Ok(Locator {
            country_header: header(country_header),
            region_header: header(region_header),
            ranges,
        })
    }

    /// The address ranges read from `input` (tests).
    pub fn with_ranges(mut self, input: impl std::io::Read) -> std::result::Result<Self, String> {
        self.ranges = Some(Ranges::read(input)?);
        Ok(self)
    }

    /// The viewer's place from the request's headers (`header(name)`, lower-case names) and
    /// the connecting address.
    pub fn locate<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        ip: Option<IpAddr>,
    ) -> Place {
        let from_headers = Place::new(
            self.country_header.as_deref().and_then(&header),
            self.region_header.as_deref().and_then(&header),
        );
        if from_headers.country.is_some() {
            return from_headers;
        }
        match (&self.ranges, ip) {
            (Some(r), Some(ip)) => r.find(ip).cloned().unwrap_or_default(),
            _ => Place::default(),
        }
    }
}

/// A provider's outcome for one check: passed or failed, and by which method. Nothing else the
/// viewer showed the provider reaches this server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgeResult {
    pub check_id: String,
    pub passed: bool,
    pub method: String,
}

/// An age-assurance provider.
#[async_trait::async_trait]
pub trait AgeProvider: Send + Sync {
    /// The stable name in URLs and records (`sandbox`).
    fn name(&self) -> &'static str;
    /// What the viewer is told.
    fn label(&self) -> &'static str;
    /// The methods it offers (keys of [`METHODS`]).
    fn methods(&self) -> &[&'static str];
    /// Open a session for `check_id` by `method`; the URL to send the viewer to. `site` is the
    /// site's address, `return_to` where the viewer goes when the check is done.
    async fn start(
        &self,
        check_id: &str,
        method: &str,
        site: &str,
        return_to: &str,
    ) -> Result<String>;
    /// Authenticate and parse a result delivered to the webhook.
    fn receive(&self, inbound: &Inbound<'_>) -> Result<AgeResult>;
}

/// `text` percent-encoded for a query value.
fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The sandbox provider: a page where a tester passes or fails a check, and a result signed
/// with HMAC-SHA256 (header `Fanz-Sandbox-Signature: sha256=<hex>`).
pub struct Sandbox {
    secret: Vec<u8>,
}

impl Sandbox {
    pub fn new(secret: &[u8]) -> Self {
        Sandbox {
            secret: secret.to_vec(),
        }
    }

    /// The signed body and signature header value the sandbox delivers.
    pub fn sign(&self, result: &AgeResult) -> (Vec<u8>, String) {
        let body = serde_json::to_vec(result).expect("serializes");
        let sig = crate::onboarding::sandbox_signature(&self.secret, &body);
        (body, sig)
    }
}

#[async_trait::async_trait]
impl AgeProvider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn label(&self) -> &'static str {
        "Sandbox age check (test only)"
    }

    fn methods(&self) -> &[&'static str] {
        &[
            "facial_estimation",
            "photo_id",
            "credit_card",
            "open_banking",
            "mobile_operator",
            "digital_id",
            "email_estimation",
        ]
    }

    async fn start(
        &self,
        check_id: &str,
        _method: &str,
        site: &str,
        return_to: &str,
    ) -> Result<String> {
        let site = site.trim_end_matches('/');
        Ok(if return_to.is_empty() {
            format!("{site}/age/sandbox/{check_id}")
        } else {
            format!(
                "{site}/age/sandbox/{check_id}?return={}",
                encode_component(return_to)
            )
        })
    }

    fn receive(&self, inbound: &Inbound<'_>) -> Result<AgeResult> {
        crate::onboarding::verify_sandbox_signature(&self.secret, inbound)?;
        serde_json::from_slice(inbound.body)
            .map_err(|e| invalid("body", "invalid_result", e.to_string()))
    }
}

/// Everything age assurance needs: the rules, the locator, the providers, the keyring that
/// seals passes, and how long a pass lasts.
pub struct AgeAssurance {
    pub rules: Rules,
    pub locator: Locator,
    pub providers: Vec<Arc<dyn AgeProvider>>,
    pub sandbox: Option<Arc<Sandbox>>,
    pub keyring: Arc<Keyring>,
    pub pass_micros: i64,
}

/// The sealing context of pass tokens.
const PASS_CONTEXT: &str = "age-pass";

/// A remembered pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Pass {
    pub method: String,
    /// Microseconds since the epoch.
    pub expires_at: i64,
}

impl AgeAssurance {
    pub fn provider(&self, name: &str) -> Option<&Arc<dyn AgeProvider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// The first provider offering `method`.
    pub fn provider_for(&self, method: &str) -> Option<&Arc<dyn AgeProvider>> {
        self.providers
            .iter()
            .find(|p| p.methods().contains(&method))
    }

    /// The methods a viewer may use under `rule`: those it names (or any) that a provider
    /// offers, in [`METHODS`] order.
    pub fn methods_for(&self, rule: &Rule) -> Vec<&'static str> {
        METHODS
            .iter()
            .map(|(m, _)| *m)
            .filter(|m| rule.accepts(m) && self.provider_for(m).is_some())
            .collect()
    }

    /// A sealed token remembering a pass by `method` until `expires_at`.
    pub fn pass_token(&self, pass: &Pass) -> String {
        self.keyring.seal_text(
            &format!("{}|{}", pass.method, pass.expires_at),
            PASS_CONTEXT,
        )
    }

    /// The pass a token remembers, if it opens and has not expired.
    pub fn read_pass(&self, token: &str, now: i64) -> Option<Pass> {
        if token.len() > 512 {
            return None;
        }
        let text = self.keyring.open_text(token, PASS_CONTEXT).ok()?;
        let (method, expires) = text.split_once('|')?;
        let expires_at: i64 = expires.parse().ok()?;
        (expires_at > now).then(|| Pass {
            method: method.to_owned(),
            expires_at,
        })
    }
}

/// One age check: who asked (an account, or nobody), the method, and its outcome.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub id: String,
    pub provider: String,
    pub method: String,
    pub cluster: String,
    #[serde(skip)]
    pub user_id: Option<i64>,
    /// pending | passed | failed
    pub status: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

const CHECK_COLUMNS: &str =
    "id, provider, method, cluster, user_id, status, created_at, decided_at";

fn check_row(r: &sqlx::any::AnyRow) -> Result<Check> {
    Ok(Check {
        id: r.try_get(0)?,
        provider: r.try_get(1)?,
        method: r.try_get(2)?,
        cluster: r.try_get(3)?,
        user_id: r.try_get(4)?,
        status: r.try_get(5)?,
        created_at: r.try_get(6)?,
        decided_at: r.try_get(7)?,
    })
}

/// A check by its id (the id is a secret only its viewer holds).
pub async fn check(db: &mut Db, id: &str) -> Result<Check> {
    let row = sqlx::query(&format!(
        "SELECT {CHECK_COLUMNS} FROM safety_age_checks WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    check_row(&row)
}

/// What a viewer asks for when starting a check.
pub struct CheckRequest<'a> {
    /// The cluster asked for, and the rule the viewer's place gets there.
    pub cluster: &'a str,
    pub rule: &'a Rule,
    pub method: &'a str,
    /// A signed-in viewer keeps the pass on their account.
    pub user_id: Option<i64>,
    /// The site's address (absolute, or the cluster's path prefix) and where the provider
    /// sends the viewer back to.
    pub site: &'a str,
    pub return_to: &'a str,
}

/// Start a check: the method must satisfy the rule and a provider must offer it. Returns the
/// check and the provider's URL to send the viewer to.
pub async fn start(
    db: &mut Db,
    age: &AgeAssurance,
    req: &CheckRequest<'_>,
) -> Result<(Check, String)> {
    let (rule, method) = (req.rule, req.method);
    if !METHODS.iter().any(|(m, _)| *m == method) {
        return Err(invalid("method", "unknown_method", "no such method"));
    }
    if !rule.accepts(method) {
        return Err(invalid(
            "method",
            "method_not_accepted",
            format!(
                "this method is not accepted here; use one of: {}",
                age.methods_for(rule).join(", ")
            ),
        ));
    }
    let provider = age.provider_for(method).ok_or_else(|| {
        invalid(
            "method",
            "method_unavailable",
            "no age-assurance provider offers this method",
        )
    })?;
    let id = fanz_core::token::random_token("age_", 24);
    sqlx::query(
        "INSERT INTO safety_age_checks (id, provider, method, cluster, user_id, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
    )
    .bind(&id)
    .bind(provider.name())
    .bind(method)
    .bind(req.cluster)
    .bind(req.user_id)
    .bind(now_micros())
    .execute(&mut *db)
    .await?;
    let url = provider.start(&id, method, req.site, req.return_to).await?;
    Ok((check(db, &id).await?, url))
}

/// A provider's result, authenticated and applied once: the check is decided, and a pass is
/// remembered on the account of a signed-in viewer. A result for a decided check changes
/// nothing.
pub async fn receive(
    db: &mut Db,
    age: &AgeAssurance,
    provider: &str,
    inbound: &Inbound<'_>,
    actor: &Actor,
) -> Result<Check> {
    let p = age.provider(provider).ok_or(SafetyError::NotFound)?;
    let result = p.receive(inbound)?;
    let c = check(db, &result.check_id).await?;
    if c.provider != provider || c.method != result.method {
        return Err(SafetyError::NotFound);
    }
    let now = now_micros();
    let status = if result.passed { "passed" } else { "failed" };
    let changed = sqlx::query(
        "UPDATE safety_age_checks SET status = $1, decided_at = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(status)
    .bind(now)
    .bind(&c.id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(c);
    }
    if let (true, Some(user_id)) = (result.passed, c.user_id) {
        sqlx::query("DELETE FROM safety_age_passes WHERE user_id = $1 AND method = $2")
            .bind(user_id)
            .bind(&c.method)
            .execute(&mut *db)
            .await?;
        sqlx::query(
            "INSERT INTO safety_age_passes (user_id, method, passed_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(&c.method)
        .bind(now)
        .bind(now + age.pass_micros)
        .execute(&mut *db)
        .await?;
    }
    record(
        db,
        actor,
        "safety.age_check",
        c.user_id.map(|u| format!("user:{u}")).as_deref(),
        json!({"check": c.id, "provider": provider, "method": c.method, "status": status}),
    )
    .await?;
    check(db, &c.id).await
}

/// The pass a decided check earns, to seal into a token: only for a passed check.
pub fn pass_of(age: &AgeAssurance, c: &Check) -> Option<Pass> {
    (c.status == "passed").then(|| Pass {
        method: c.method.clone(),
        expires_at: c.decided_at.unwrap_or(c.created_at) + age.pass_micros,
    })
}

/// The methods of the unexpired passes on an account.
pub async fn account_passes(db: &mut Db, user_id: i64, now: i64) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT method FROM safety_age_passes WHERE user_id = $1 AND expires_at > $2")
            .bind(user_id)
            .bind(now)
            .fetch_all(&mut *db)
            .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(Into::into))
        .collect()
}

/// How long a pass lasts, from `[age_assurance] pass_days`.
pub fn pass_micros(days: u32) -> i64 {
    days as i64 * DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rules_parse_and_refuse_what_they_do_not_know() {
        assert_eq!(Rule::parse("allow"), Ok(Rule::Allow));
        assert_eq!(Rule::parse(" block "), Ok(Rule::Block));
        assert_eq!(Rule::parse("assure"), Ok(Rule::Assure { methods: vec![] }));
        assert_eq!(
            Rule::parse("assure: photo_id, credit_card"),
            Ok(Rule::Assure {
                methods: vec!["photo_id".into(), "credit_card".into()]
            })
        );
        assert!(Rule::parse("assure: selfie").is_err());
        assert!(Rule::parse("deny").is_err());
        assert!(Rule::parse("block: photo_id").is_err());
    }

    #[test]
    fn the_most_specific_place_wins_and_the_cluster_wins_for_the_same_place() {
        let clusters = Clusters::builtin("fanzlab").unwrap();
        let slug = clusters.all()[1].slug.clone();
        let mut rules = Rules::new(
            &table(&[
                ("*", "allow"),
                ("US", "assure"),
                ("US-UT", "block"),
                ("unknown", "assure: photo_id"),
            ]),
            &clusters,
        )
        .unwrap();
        rules.clusters.insert(
            slug.clone(),
            parse_table(&table(&[("US", "allow"), ("GB", "block")]), "t").unwrap(),
        );
        let at = |c: Option<&str>, r: Option<&str>| Place::new(c, r);
        assert_eq!(
            rules.decide("fanzlab", &at(Some("US"), Some("UT"))).rule,
            Rule::Block
        );
        assert_eq!(
            rules.decide("fanzlab", &at(Some("US"), Some("CA"))).rule,
            Rule::Assure { methods: vec![] }
        );
        assert_eq!(
            rules.decide("fanzlab", &at(Some("FR"), None)).rule,
            Rule::Allow
        );
        assert_eq!(
            rules
                .decide("fanzlab", &at(Some("GB"), None))
                .matched
                .as_deref(),
            Some("*")
        );
        assert!(matches!(
            rules.decide("fanzlab", &Place::default()).rule,
            Rule::Assure { .. }
        ));
        // On the cluster: its US rule beats the platform's, the platform's US-UT still wins
        // over both (more specific).
        let d = rules.decide(&slug, &at(Some("US"), Some("CA")));
        assert_eq!(
            (d.rule, d.source.as_deref()),
            (Rule::Allow, Some("cluster"))
        );
        assert_eq!(
            rules.decide(&slug, &at(Some("US"), Some("UT"))).rule,
            Rule::Block
        );
        assert_eq!(rules.decide(&slug, &at(Some("GB"), None)).rule, Rule::Block);
        assert!(rules.restricts());
        assert!(!Rules::default().restricts());
        assert!(Rules::new(&table(&[("Texas", "block")]), &clusters).is_err());
    }

    #[test]
    fn places_take_codes_and_drop_names() {
        assert_eq!(
            Place::new(Some("us"), Some("tx")).subdivision.as_deref(),
            Some("US-TX")
        );
        assert_eq!(
            Place::new(None, Some("US-TX")).country.as_deref(),
            Some("US")
        );
        assert_eq!(Place::new(Some("US"), Some("Texas")).subdivision, None);
        assert_eq!(Place::new(Some("XX1"), None).country, None);
    }

    #[test]
    fn address_ranges_find_their_place() {
        let csv = "ip_start,ip_end,country,region\n\
                   10.0.0.0,10.0.0.255,GB,\n\
                   10.0.1.0,10.0.1.255,US,TX\n\
                   2001:db8::,2001:db8::ffff,FR\n";
        let loc = Locator::default().with_ranges(csv.as_bytes()).unwrap();
        let place = |ip: &str| loc.locate(|_| None, Some(ip.parse().unwrap()));
        assert_eq!(place("10.0.0.7").country.as_deref(), Some("GB"));
        assert_eq!(place("10.0.1.9").subdivision.as_deref(), Some("US-TX"));
        assert_eq!(
            place("::ffff:10.0.1.9").subdivision.as_deref(),
            Some("US-TX")
        );
        assert_eq!(place("2001:db8::1").country.as_deref(), Some("FR"));
        assert_eq!(place("10.0.2.1"), Place::default());
        assert_eq!(place("9.255.255.255"), Place::default());
        assert!(Locator::default()
            .with_ranges("1.2.3.4,not-an-ip,GB\n1.2.3.4,1.2.3.5,GB\n1.2.3.9,1.2.3.5,GB".as_bytes())
            .is_err());
        // Headers win over the ranges.
        let loc = Locator::new("x-country", "", "")
            .unwrap()
            .with_ranges(csv.as_bytes())
            .unwrap();
        let got = loc.locate(
            |h| (h == "x-country").then_some("DE"),
            Some("10.0.0.7".parse().unwrap()),
        );
        assert_eq!(got.country.as_deref(), Some("DE"));
    }

    #[test]
    fn pass_tokens_open_only_unexpired_and_unaltered() {
        let age = AgeAssurance {
            rules: Rules::default(),
            locator: Locator::default(),
            providers: vec![],
            sandbox: None,
            keyring: Arc::new(Keyring::ephemeral()),
            pass_micros: DAY,
        };
        let pass = Pass {
            method: "photo_id".into(),
            expires_at: 1_000,
        };
        let token = age.pass_token(&pass);
        assert_eq!(age.read_pass(&token, 999), Some(pass));
        assert_eq!(age.read_pass(&token, 1_000), None);
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(age.read_pass(&forged, 0), None);
    }
}

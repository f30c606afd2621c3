//! Payment processors, each behind one trait ([`Processor`]): how a checkout starts, how an
//! inbound notification proves it is the processor's own, and what it means as canonical
//! [`Event`]s. Everything here is pure: no database, no network, no clock. The payments crate
//! stores the raw notification, calls [`Processor::verify`] and [`Processor::parse`], applies
//! the events, and answers with [`Processor::reply`].
//!
//! Money is integer minor units ([`Money`]); decimal strings from processors are parsed exactly
//! ([`parse_amount`]), never through floating point.

use std::net::IpAddr;

pub mod btcpay;
pub mod ccbill;
pub mod epoch;
pub mod sandbox;
pub mod segpay;
pub mod verotel;

pub use btcpay::Btcpay;
pub use ccbill::Ccbill;
pub use epoch::Epoch;
pub use sandbox::Sandbox;
pub use segpay::Segpay;
pub use verotel::Verotel;

/// Currencies the platform sells in, all with two decimal places.
pub const CURRENCIES: [&str; 5] = ["USD", "EUR", "GBP", "CAD", "AUD"];

/// An amount in minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: &str) -> Self {
        Self {
            amount,
            currency: currency.to_owned(),
        }
    }

    /// `12.34` style, exact.
    pub fn decimal(&self) -> String {
        let sign = if self.amount < 0 { "-" } else { "" };
        let a = self.amount.unsigned_abs();
        format!("{sign}{}.{:02}", a / 100, a % 100)
    }
}

/// Parse a decimal amount (`"9.99"`, `"10"`, `"10.5"`, `"-3.00"`) of a two-decimal currency into
/// minor units, exactly. More than two decimals, exponents, signs other than a leading `-`,
/// and amounts beyond ±10¹⁵ minor units are refused.
pub fn parse_amount(s: &str) -> Result<i64, ParseError> {
    let bad = || ParseError::Field("amount", format!("{s:?} is not a decimal amount"));
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if whole.is_empty() && frac.is_empty()
        || whole.len() > 13
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
        _ => frac.parse().map_err(|_| bad())?,
    };
    let v = w * 100 + f;
    Ok(if neg { -v } else { v })
}

/// [`parse_amount`] of an amount written with more than two decimals, as processors' reports
/// do (Segpay's `2.9500`): the digits past the second must be zeros, anything else is refused
/// (an amount that is not a whole number of minor units is not one we charged).
pub fn parse_padded_amount(s: &str) -> Result<i64, ParseError> {
    let t = s.trim();
    match t.split_once('.') {
        Some((whole, frac)) if frac.len() > 2 => {
            let (keep, rest) = frac.split_at(2);
            if !rest.bytes().all(|b| b == b'0') {
                return Err(ParseError::Field(
                    "amount",
                    format!("{t:?} is not a whole number of minor units"),
                ));
            }
            parse_amount(&format!("{whole}.{keep}"))
        }
        _ => parse_amount(t),
    }
}

/// The ISO 4217 letter code for a numeric one (`840` → `USD`), for the currencies we sell in.
pub fn currency_from_numeric(code: &str) -> Option<&'static str> {
    match code.trim().trim_start_matches('0') {
        "840" => Some("USD"),
        "978" => Some("EUR"),
        "826" => Some("GBP"),
        "124" => Some("CAD"),
        "36" => Some("AUD"),
        _ => None,
    }
}

/// The numeric ISO 4217 code for a letter one (`USD` → `840`).
pub fn currency_numeric(code: &str) -> Option<&'static str> {
    match code {
        "USD" => Some("840"),
        "EUR" => Some("978"),
        "GBP" => Some("826"),
        "CAD" => Some("124"),
        "AUD" => Some("036"),
        _ => None,
    }
}

/// What a processor's settings hold for one cluster (from `fanz.toml`). Each driver documents
/// which fields it uses (docs/payments.md).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Offered at checkout.
    pub enabled: bool,
    /// The merchant account: CCBill `clientAccnum`, Segpay merchant id, Epoch company code,
    /// Verotel `shopID`, BTCPay store id.
    pub account: Option<String>,
    /// CCBill `clientSubacc`; Segpay package (eticket) id.
    pub sub_account: Option<String>,
    /// The shared secret: Verotel signature key, BTCPay webhook secret, CCBill FlexForms salt,
    /// Epoch salt string, the sandbox's signing key.
    pub secret: Option<String>,
    /// API key for server-side calls (BTCPay `token`, CCBill DataLink password, Segpay SRS
    /// `UserAccessKey`).
    pub api_key: Option<String>,
    /// The user the API key belongs to, where the processor's API wants one (CCBill DataLink
    /// `username`, Segpay SRS `Userid`).
    pub api_user: Option<String>,
    /// The base URL of the processor's server-side API, where it has one apart from the
    /// checkout (CCBill DataLink, Segpay SRS). Defaults per driver; set for tests.
    pub api_url: Option<String>,
    /// CCBill FlexForms id; Verotel brand host; BTCPay server URL.
    pub form_id: Option<String>,
    /// The hosted checkout's base URL where the processor has several (BTCPay instance URL,
    /// Verotel brand host). Defaults per driver.
    pub checkout_url: Option<String>,
    /// Source addresses notifications may come from (CIDR or single addresses). Processors
    /// without signatures (CCBill, Segpay, Epoch) refuse every notification while this is
    /// empty.
    pub allow_ips: Vec<String>,
    /// The billing descriptor shown to the fan before paying (what their statement says).
    pub descriptor: Option<String>,
    /// Segpay: the join link's parameter carrying the dynamic-pricing hash that Segpay's SRS
    /// returns for each amount: `dynamicpricingid` (unset: the default, as Segpay's current
    /// page writes it) or `dynamictrans` (its older knowledge base); `none` sends join links
    /// without a hash and asks SRS for nothing (only for a price point Segpay set up to need
    /// none). docs/payments.md says what could not be verified.
    pub pricing_hash_param: Option<String>,
    /// Whether this processor's charges wait for a server-side confirmation before the
    /// creator's share can be paid out ([`Processor::signed`] processors never wait). Unset:
    /// on for processors whose notifications are not signed (CCBill, Segpay, Epoch).
    pub confirm: Option<bool>,
}

impl Settings {
    /// Whether `ip` falls in [`Settings::allow_ips`].
    pub fn ip_allowed(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else { return false };
        self.allow_ips.iter().any(|range| {
            let range = range.trim();
            if let Ok(net) = range.parse::<ipnet::IpNet>() {
                net.contains(&ip)
            } else if let Ok(single) = range.parse::<IpAddr>() {
                single == ip
            } else {
                false
            }
        })
    }

    /// Refuse ranges that do not parse, and a pricing-hash parameter Segpay does not name, at
    /// start-up rather than at the first notification or checkout.
    pub fn check(&self) -> Result<(), String> {
        if let Some(p) = &self.pricing_hash_param {
            if !PRICING_HASH_PARAMS.contains(&p.trim().to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "pricing_hash_param: {p:?} is not one of {}",
                    PRICING_HASH_PARAMS.join(", ")
                ));
            }
        }
        for r in &self.allow_ips {
            let r = r.trim();
            if r.parse::<ipnet::IpNet>().is_err() && r.parse::<IpAddr>().is_err() {
                return Err(format!("allow_ips: {r:?} is not an address or CIDR range"));
            }
        }
        Ok(())
    }
}

/// The values [`Settings::pricing_hash_param`] may take.
pub const PRICING_HASH_PARAMS: [&str; 3] = ["dynamicpricingid", "dynamictrans", "none"];

/// A notification as it arrived: what the intake stores before anything else.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// `POST` or `GET`.
    pub method: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The peer address (or the forwarded client address behind a trusted proxy).
    pub source_ip: Option<IpAddr>,
}

impl Inbound {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Query-string parameters, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.query).unwrap_or_default()
    }

    /// Form-encoded body parameters, decoded (empty when the body is not a form).
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }
}

/// The first value of `key` in decoded pairs.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// What happened, in the platform's words (research §2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A first payment went through: post the sale, grant access.
    SaleApproved,
    /// A first payment was refused: nothing posted.
    SaleDeclined,
    /// A recurring charge went through: post it, extend the paid period.
    RenewalApproved,
    /// A recurring charge failed: grace period and dunning.
    RenewalFailed,
    /// The fan or merchant cancelled: no more renewals, access until the period ends.
    Cancelled,
    /// A cancelled subscription resumes renewing.
    Reactivated,
    /// The subscription ended: access stops.
    Expired,
    /// Price, tier or billing date changed.
    Changed,
    /// Money returned to the fan: reverse the split, revoke.
    Refund,
    /// A charge was cancelled before settlement: reverse, revoke.
    Void,
    /// The fan's bank took the money back: reverse, fee, flag the fan, draw on the reserve.
    Chargeback,
    /// Billing details changed; nothing to post.
    CustomerUpdated,
    /// Payment seen but not final yet (crypto awaiting confirmations); nothing to post.
    Pending,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SaleApproved => "sale.approved",
            EventKind::SaleDeclined => "sale.declined",
            EventKind::RenewalApproved => "renewal.approved",
            EventKind::RenewalFailed => "renewal.failed",
            EventKind::Cancelled => "subscription.cancelled",
            EventKind::Reactivated => "subscription.reactivated",
            EventKind::Expired => "subscription.expired",
            EventKind::Changed => "subscription.changed",
            EventKind::Refund => "refund",
            EventKind::Void => "void",
            EventKind::Chargeback => "chargeback",
            EventKind::CustomerUpdated => "customer.updated",
            EventKind::Pending => "pending",
        }
    }
}

/// One canonical event parsed from a notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// The processor's id for this event: with the processor and [`EventKind`] it is the
    /// idempotency key, so the same event arriving twice is applied once. Usually the
    /// transaction id; for events without one (cancellation, expiry) the subscription id and
    /// the event's own time.
    pub external_id: String,
    /// Our checkout reference, echoed back through the processor's passthrough field. Present
    /// on sales; renewals and later events may only carry the subscription.
    pub reference: Option<String>,
    /// The processor's subscription id, which later events use.
    pub subscription: Option<String>,
    /// The processor's transaction id of this charge (sales, renewals) or of the charge it
    /// undoes (refund, void, chargeback) when the processor names it.
    pub transaction: Option<String>,
    /// The amount charged or returned, when the notification states one.
    pub amount: Option<Money>,
    /// The processor's fee, when stated.
    pub fee: Option<i64>,
    /// When it happened, microseconds since the epoch, when stated.
    pub occurred_at: Option<i64>,
    /// The next renewal, microseconds since the epoch, when stated.
    pub next_renewal_at: Option<i64>,
    /// A decline, failure, cancellation or chargeback reason, when stated.
    pub reason: Option<String>,
}

impl Event {
    /// A bare event of `kind` with `external_id`; the rest empty.
    pub fn new(kind: EventKind, external_id: impl Into<String>) -> Self {
        Self {
            kind,
            external_id: external_id.into(),
            reference: None,
            subscription: None,
            transaction: None,
            amount: None,
            fee: None,
            occurred_at: None,
            next_renewal_at: None,
            reason: None,
        }
    }
}

/// Why a notification is not the processor's own. Nothing is posted for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the processor is not configured for this site")]
    NotConfigured,
    #[error("the signature is missing")]
    MissingSignature,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the source address {0} is not in the processor's allowlist")]
    AddressNotAllowed(String),
    #[error("the notification is for account {0}, not ours")]
    WrongAccount(String),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NotConfigured => "processor_not_configured",
            VerifyError::MissingSignature => "signature_missing",
            VerifyError::BadSignature => "signature_mismatch",
            VerifyError::AddressNotAllowed(_) => "address_not_allowed",
            VerifyError::WrongAccount(_) => "wrong_account",
        }
    }
}

/// Why an authentic notification could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the notification is not valid {0}")]
    Malformed(&'static str),
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {0}: {1}")]
    Field(&'static str, String),
    #[error("event type {0:?} is not one we know")]
    UnknownEvent(String),
    #[error("currency {0:?} is not one we sell in")]
    Currency(String),
}

/// How the intake dealt with a notification; the driver turns it into the processor's
/// expected answer ([`Processor::reply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (and applied, or queued to be applied): the processor should stop sending it.
    Accepted,
    /// Failed verification: posted nothing.
    Rejected,
    /// Could not even be stored: the processor should retry.
    Failed,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// The default reply: 200 `OK` when accepted, 403 when rejected, 503 when the processor should
/// retry.
pub fn default_reply(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Accepted => Reply::text(200, "OK"),
        Outcome::Rejected => Reply::text(403, "rejected"),
        Outcome::Failed => Reply::text(503, "retry later"),
    }
}

/// What a checkout sells, for the hosted page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutStart {
    /// Our checkout id, passed through the processor and echoed back in the sale notification.
    pub reference: String,
    /// Charged now (after the trial, if any).
    pub price: Money,
    /// For subscriptions: the renewal.
    pub recurring: Option<Recurring>,
    /// What the fan buys, in a line.
    pub description: String,
    /// Where the processor sends the fan afterwards.
    pub return_url: String,
    /// Where the processor sends the fan who gives up.
    pub cancel_url: String,
    /// The fan's e-mail, to prefill.
    pub email: Option<String>,
}

/// A subscription's renewal terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurring {
    /// Renewal price per period.
    pub price: Money,
    pub period_days: i64,
    /// A free or discounted first period, in days (0: none); the first charge is then
    /// [`CheckoutStart::price`] for this many days.
    pub trial_days: i64,
}

/// How a checkout continues at the processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Send the fan to this hosted page.
    Redirect(String),
    /// Make this server-side call first (BTCPay creates an invoice), then read the hosted
    /// page's address from its answer with [`Processor::checkout_url_from`].
    Call(OutboundCall),
    /// Make this server-side call first for a value the hosted page's address needs (Segpay's
    /// dynamic-pricing hash), read it from the answer ([`Processor::checkout_value_from`]),
    /// and send the fan to `url` with `param` set to it.
    CallThenRedirect {
        call: OutboundCall,
        url: String,
        param: String,
    },
}

/// A server-side HTTP call a driver needs made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl OutboundCall {
    /// A GET of `base` with `params` as its query string, without headers or body (the
    /// processors' report and membership APIs take their credentials in the query string).
    pub fn get(base: &str, params: &[(&str, String)]) -> Self {
        Self {
            method: "GET",
            url: url_with(base, params),
            headers: vec![],
            body: String::new(),
        }
    }
}

/// An operation on the processor's server-side API ([`Processor::api_call`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ApiOp {
    /// Stop a subscription's rebilling (the processor's subscription id).
    Cancel { subscription: String },
    /// Return `amount` of a charge (the processor's transaction id; for BTCPay the invoice);
    /// `partial` when it is less than the whole charge.
    Refund {
        transaction: String,
        amount: Money,
        partial: bool,
    },
}

impl ApiOp {
    pub fn kind(&self) -> &'static str {
        match self {
            ApiOp::Cancel { .. } => "cancel",
            ApiOp::Refund { .. } => "refund",
        }
    }
}

/// What the processor's API answered when it did the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiDone {
    /// The processor's id for what it did, when it gives one (BTCPay's pull payment id).
    pub reference: Option<String>,
    /// Its answer in a line, for finance.
    pub detail: String,
}

/// One charge to confirm with the processor's own records ([`Processor::confirm_call`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToConfirm {
    /// The processor's transaction id of the charge.
    pub transaction: String,
    /// The processor's subscription id, when the notification named one (CCBill reports a
    /// first sale under it).
    pub subscription: Option<String>,
    /// A renewal (rebill) rather than a first sale.
    pub renewal: bool,
    pub amount: Money,
}

/// A server-side query for several charges at once: charged between `from` and `to`
/// (microseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfirmQuery {
    pub from: i64,
    pub to: i64,
    pub charges: Vec<ToConfirm>,
}

/// What the processor's records say of one charge of a [`ConfirmQuery`], in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The processor has the charge, with this amount: the detail says what was found.
    Confirmed(String),
    /// The processor has it with another amount (or says it does not exist): never paid out
    /// without finance.
    Denied(String),
    /// Not in the answer (yet): asked again later.
    NotFound,
    /// The processor's answer cannot settle it (it names the charge but not its amount or
    /// currency, or the charge has no id the processor can be asked by): finance confirms it
    /// by hand. Never released automatically.
    Unverifiable(String),
}

impl Verdict {
    /// What it says in a word (`confirmed`, `denied`, `not_reported`, `unverifiable`) and its
    /// detail (empty when not reported).
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Verdict::Confirmed(d) => ("confirmed", d),
            Verdict::Denied(d) => ("denied", d),
            Verdict::NotFound => ("not_reported", ""),
            Verdict::Unverifiable(d) => ("unverifiable", d),
        }
    }
}

impl ConfirmQuery {
    /// The subscription a per-subscription query asks about ([`ConfirmBy::Subscription`]:
    /// its charges share it), or [`ApiError::NotConfigured`] with `missing`.
    pub fn subscription(&self, missing: &'static str) -> Result<&str, ApiError> {
        self.charges
            .first()
            .and_then(|c| c.subscription.as_deref())
            .filter(|s| !s.is_empty())
            .ok_or(ApiError::NotConfigured(missing))
    }
}

/// The user and key of a processor's server-side API ([`Settings::api_user`],
/// [`Settings::api_key`]), or [`ApiError::NotConfigured`] naming the one missing.
pub fn api_login<'a>(
    s: &'a Settings,
    user: &'static str,
    key: &'static str,
) -> Result<(&'a str, &'a str), ApiError> {
    Ok((required(&s.api_user, user)?, required(&s.api_key, key)?))
}

/// How a processor's records are asked about waiting charges ([`Processor::confirm_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmBy {
    /// One query covers every waiting charge of the account (CCBill's Data Link extract); its
    /// answer lists every transaction of the window, so it may be large.
    Extract,
    /// One query per subscription (Segpay's purchase, Epoch's member): the charges of a query
    /// share [`ToConfirm::subscription`]; a charge without one cannot be asked about.
    Subscription,
}

/// Why an API operation was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The driver has no API for this: it is done in the processor's console.
    #[error("the processor has no API for this: {0}")]
    Unsupported(&'static str),
    /// Credentials or ids the call needs are missing from the settings.
    #[error("the processor's API is not configured: {0}")]
    NotConfigured(&'static str),
    /// The processor refused; asking again unchanged will not help.
    #[error("the processor refused: {0}")]
    Refused(String),
    /// The processor could not do it now (unreachable, 5xx, a temporary code): retried.
    #[error("the processor could not do it now: {0}")]
    Temporary(String),
}

impl ApiError {
    pub fn retryable(&self) -> bool {
        matches!(self, ApiError::Temporary(_))
    }
}

/// The HTTP status classes every driver shares: 2xx is read by the driver; 408, 425, 429 and
/// 5xx are temporary; any other status is a refusal. `Ok(())` for 2xx.
pub fn api_status(status: u16, body: &str) -> Result<(), ApiError> {
    let line: String = body.trim().chars().take(300).collect();
    match status {
        200..=299 => Ok(()),
        408 | 425 | 429 | 500..=599 => Err(ApiError::Temporary(format!("HTTP {status}: {line}"))),
        _ => Err(ApiError::Refused(format!("HTTP {status}: {line}"))),
    }
}

/// The processor's API host: [`Settings::api_url`] when set, else `default`; no trailing `/`.
pub fn api_base<'a>(s: &'a Settings, default: &'a str) -> &'a str {
    s.api_url
        .as_deref()
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
        .unwrap_or(default)
}

/// `value` of a required setting, or [`ApiError::NotConfigured`].
pub fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::NotConfigured(name))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("the processor is not configured: {0}")]
    NotConfigured(&'static str),
    #[error("the processor cannot sell this: {0}")]
    Unsupported(String),
}

/// A payment processor.
pub trait Processor: Send + Sync {
    /// The name in URLs and settings: `ccbill`, `segpay`, `epoch`, `verotel`, `btcpay`, `sandbox`.
    fn name(&self) -> &'static str;

    /// The name fans see.
    fn label(&self) -> &'static str;

    /// Whether `settings` can take payments (the fields this driver needs are there).
    fn configured(&self, settings: &Settings) -> bool;

    /// Prove the notification is the processor's own: signature, or source address and
    /// account. Never trusts a header the processor does not document.
    fn verify(&self, settings: &Settings, n: &Inbound) -> Result<(), VerifyError>;

    /// What the notification means: zero or more canonical events (zero for types that need
    /// nothing, such as an invoice being created).
    fn parse(&self, n: &Inbound) -> Result<Vec<Event>, ParseError>;

    /// The answer the processor expects.
    fn reply(&self, outcome: Outcome) -> Reply {
        default_reply(outcome)
    }

    /// How the fan pays for `c`.
    fn start_checkout(&self, settings: &Settings, c: &CheckoutStart) -> Result<Start, StartError>;

    /// For [`Start::Call`]: the hosted page's address in the call's answer.
    fn checkout_url_from(&self, _response: &str) -> Result<String, ParseError> {
        Err(ParseError::Malformed("checkout answer"))
    }

    /// For [`Start::CallThenRedirect`]: the value the call answered (its status and text),
    /// for the hosted page's address.
    fn checkout_value_from(&self, _status: u16, _response: &str) -> Result<String, ParseError> {
        Err(ParseError::Malformed("checkout answer"))
    }

    /// Whether refunds can be asked of the processor by API; otherwise finance refunds in the
    /// processor's console and the refund notification does the rest.
    fn refunds_by_api(&self) -> bool {
        false
    }

    /// Whether a subscription can be cancelled by API ([`ApiOp::Cancel`]).
    fn cancels_by_api(&self) -> bool {
        false
    }

    /// Whether the processor notifies a refund made by API (the notification then applies the
    /// books); otherwise the payments crate applies it when the API confirms it.
    fn refund_notified(&self) -> bool {
        true
    }

    /// The server-side call that does `op`. Pure: the payments crate makes the call.
    fn api_call(&self, _settings: &Settings, op: &ApiOp) -> Result<OutboundCall, ApiError> {
        Err(ApiError::Unsupported(op.kind()))
    }

    /// Read the processor's answer to [`Processor::api_call`].
    fn api_answer(&self, op: &ApiOp, _status: u16, _body: &str) -> Result<ApiDone, ApiError> {
        Err(ApiError::Unsupported(op.kind()))
    }

    /// Whether the processor signs its notifications (a forged one cannot pass
    /// [`Processor::verify`]); otherwise they are trusted by source address and account only,
    /// and their charges wait for a server-side confirmation before payout (research §2.10).
    fn signed(&self) -> bool {
        false
    }

    /// How the processor's records are asked about waiting charges: one query for all of
    /// them ([`ConfirmBy::Extract`], the default) or one per subscription.
    fn confirm_by(&self) -> ConfirmBy {
        ConfirmBy::Extract
    }

    /// Whether `settings` let the processor be asked to confirm charges ([`Ok`]), or why not
    /// ([`ApiError::Unsupported`], [`ApiError::NotConfigured`]: finance confirms by hand).
    fn confirms(&self, settings: &Settings) -> Result<(), ApiError> {
        let probe = ConfirmQuery {
            from: 0,
            to: 0,
            charges: vec![],
        };
        self.confirm_call(settings, &probe).map(|_| ())
    }

    /// The server-side query that confirms the charges of `q` from the processor's own
    /// records (for [`ConfirmBy::Subscription`], charges of one subscription). Pure: the
    /// payments crate makes the call. [`ApiError::Unsupported`] or
    /// [`ApiError::NotConfigured`]: finance confirms by hand.
    fn confirm_call(
        &self,
        _settings: &Settings,
        _q: &ConfirmQuery,
    ) -> Result<OutboundCall, ApiError> {
        Err(ApiError::Unsupported("confirm"))
    }

    /// Read the answer to [`Processor::confirm_call`]: one [`Verdict`] per charge of `q`.
    fn confirm_answer(
        &self,
        _q: &ConfirmQuery,
        _status: u16,
        _body: &str,
    ) -> Result<Vec<Verdict>, ApiError> {
        Err(ApiError::Unsupported("confirm"))
    }
}

/// Constant-time comparison of two ASCII strings (signatures).
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Hex HMAC-SHA256 of `body` with `key`.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Microseconds since the epoch for `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
pub fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1000) as i64);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if let Ok(t) = time::PrimitiveDateTime::parse(s, &fmt) {
        return Some(t.assume_utc().unix_timestamp() * 1_000_000);
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &day)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1_000_000)
}

/// The largest notification body, and the longest query string, a driver reads (64 KiB):
/// processors send a few kilobytes at most, so anything larger is refused before parsing.
pub const MAX_NOTIFICATION: usize = 64 * 1024;

/// Refuse a notification whose body or query string is over [`MAX_NOTIFICATION`].
pub fn bounded(n: &Inbound) -> Result<(), ParseError> {
    if n.body.len() > MAX_NOTIFICATION {
        return Err(ParseError::Field("body", "over 64 KiB".into()));
    }
    if n.query.len() > MAX_NOTIFICATION {
        return Err(ParseError::Field("query", "over 64 KiB".into()));
    }
    Ok(())
}

/// An amount and its currency as processors state them: a decimal string ([`parse_amount`])
/// and a letter (`USD`) or numeric (`840`) ISO 4217 code among [`CURRENCIES`]. The result is a
/// magnitude: refunds and chargebacks stated as negative amounts come out positive, since the
/// event's kind already says which way the money goes.
pub fn money(amount: &str, currency: &str) -> Result<Money, ParseError> {
    let minor = parse_amount(amount)?;
    let c = currency.trim();
    let code = if c.bytes().all(|b| b.is_ascii_digit()) && !c.is_empty() {
        currency_from_numeric(c).ok_or_else(|| ParseError::Currency(c.to_owned()))?
    } else {
        let upper = c.to_ascii_uppercase();
        CURRENCIES
            .iter()
            .copied()
            .find(|k| *k == upper)
            .ok_or_else(|| ParseError::Currency(c.chars().take(16).collect()))?
    };
    Ok(Money::new(minor.abs(), code))
}

/// A processor's identifier (transaction, subscription, reference): 1–128 printable
/// characters, trimmed.
pub fn ident(field: &'static str, value: &str) -> Result<String, ParseError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(ParseError::Field(
            field,
            "must be 1–128 printable characters".into(),
        ));
    }
    Ok(v.to_owned())
}

/// `base` with `params` appended as a form-encoded query string.
pub fn url_with(base: &str, params: &[(&str, String)]) -> String {
    let q = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

/// `value` percent-encoded as one URL path segment (everything but `A-Z a-z 0-9 - . _ ~`).
pub fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every driver, by name.
pub fn all() -> Vec<Box<dyn Processor>> {
    vec![
        Box::new(Ccbill),
        Box::new(Segpay),
        Box::new(Epoch),
        Box::new(Verotel),
        Box::new(Btcpay),
        Box::new(Sandbox),
    ]
}

/// The driver called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Processor>> {
    all().into_iter().find(|p| p.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_amount("9.99").unwrap(), 999);
        assert_eq!(parse_amount("10").unwrap(), 1000);
        assert_eq!(parse_amount("10.5").unwrap(), 1050);
        assert_eq!(parse_amount(".5").unwrap(), 50);
        assert_eq!(parse_amount("-3.00").unwrap(), -300);
        assert_eq!(parse_amount("0.07").unwrap(), 7);
        for bad in [
            "",
            ".",
            "1.234",
            "1e3",
            "+1",
            "1,00",
            "abc",
            "99999999999999",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
        assert_eq!(Money::new(1050, "USD").decimal(), "10.50");
        assert_eq!(parse_padded_amount("2.9500").unwrap(), 295);
        assert_eq!(parse_padded_amount("19.95").unwrap(), 1995);
        assert_eq!(parse_padded_amount("7").unwrap(), 700);
        assert!(parse_padded_amount("2.9550").is_err());
        assert!(parse_padded_amount("2.95x0").is_err());
        assert_eq!(Money::new(7, "USD").decimal(), "0.07");
    }

    #[test]
    fn allowlists_match_ranges_and_addresses() {
        let s = Settings {
            allow_ips: vec!["64.38.212.0/24".into(), "10.0.0.5".into()],
            ..Default::default()
        };
        assert!(s.ip_allowed(Some("64.38.212.9".parse().unwrap())));
        assert!(s.ip_allowed(Some("10.0.0.5".parse().unwrap())));
        assert!(!s.ip_allowed(Some("64.38.213.9".parse().unwrap())));
        assert!(!s.ip_allowed(None));
        assert!(Settings {
            allow_ips: vec!["nope".into()],
            ..Default::default()
        }
        .check()
        .is_err());
    }

    #[test]
    fn times_parse() {
        assert_eq!(
            parse_time("2026-01-02 03:04:05"),
            Some(1_767_323_045_000_000)
        );
        assert_eq!(
            parse_time("2026-01-02T03:04:05Z"),
            Some(1_767_323_045_000_000)
        );
        assert_eq!(parse_time("garbage"), None);
    }
}

//! CCBill: FlexForms dynamic-pricing checkout and Webhooks notifications.
//!
//! **Notifications** (ccbill.com/doc/webhooks-user-guide): an HTTP POST per event, the body
//! JSON or `x-www-form-urlencoded` (chosen per sub-account in CCBill's admin), with
//! `eventType`, `eventGroupType`, `clientAccnum` and `clientSubacc` on the query string:
//!
//! ```text
//! POST /payments/ccbill/notify?clientAccnum=900100&clientSubacc=0000&eventType=NewSaleSuccess&eventGroupType=Subscription
//! ```
//!
//! CCBill signs nothing. A notification counts as CCBill's own when it comes from an address
//! in [`Settings::allow_ips`] (CCBill publishes 64.38.212.0/24, 64.38.215.0/24, 64.38.240.0/24
//! and 64.38.241.0/24) **and** names our account: `clientAccnum` (and `clientSubacc` when the
//! settings name a sub-account), wherever it appears, query string or body, must be ours.
//! An empty allowlist refuses everything. Some code in the wild checks an
//! `X-CCBill-Signature` header; CCBill documents none, so none is read here.
//!
//! Field names per event follow CCBill's event pages (ccbill.com/doc/newsalesuccess,
//! /newsalefailure, /chargeback, /userreactivation …); see docs/payments.md.
//!
//! **Checkout**: a FlexForms dynamic-pricing URL
//! (ccbill.com/doc/dynamic-pricing-flexforms) whose `formDigest` is an MD5 over the price
//! terms and the sub-account's salt ([`form_digest`], ccbill.com/doc/formdigest-value).

use crate::*;

/// The CCBill driver.
pub struct Ccbill;

/// FlexForms' base URL; the form (flex) id follows.
pub const FLEXFORMS_URL: &str = "https://api.ccbill.com/wap-frontflex/flexforms";

/// The passthrough field carrying our checkout reference. CCBill returns `X-`-prefixed form
/// fields in the webhooks (ccbill.com/doc/passthrough-parameters).
pub const REFERENCE_FIELD: &str = "X-fanz_ref";

/// Renewals per subscription requested at checkout: CCBill's "unlimited" is 99.
pub const NUM_REBILLS: &str = "99";

/// CCBill needs a period even for a single charge: a one-off purchase is sold as a 2-day
/// non-recurring price.
pub const ONE_OFF_PERIOD_DAYS: i64 = 2;

/// `formDigest` for a dynamic price: hex MD5 of the concatenated terms and the salt.
///
/// Single billing: `md5(initialPrice . initialPeriod . currencyCode . salt)`.
/// Recurring (`recurring = Some((recurringPrice, recurringPeriod, numRebills))`):
/// `md5(initialPrice . initialPeriod . recurringPrice . recurringPeriod . numRebills .
/// currencyCode . salt)`. Prices are the exact strings sent in the URL (`"10.00"`).
pub fn form_digest(
    initial_price: &str,
    initial_period: &str,
    recurring: Option<(&str, &str, &str)>,
    currency_code: &str,
    salt: &str,
) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(initial_price.as_bytes());
    h.update(initial_period.as_bytes());
    if let Some((price, period, rebills)) = recurring {
        h.update(price.as_bytes());
        h.update(period.as_bytes());
        h.update(rebills.as_bytes());
    }
    h.update(currency_code.as_bytes());
    h.update(salt.as_bytes());
    hex::encode(h.finalize())
}

/// CCBill's event types that need nothing from us (cross-sales and up-sales are other
/// products on the same form; a failed upgrade leaves the subscription as it was).
const IGNORED: [&str; 5] = [
    "CrossSaleSuccess",
    "CrossSaleFailure",
    "UpSaleSuccess",
    "UpSaleFailure",
    "UpgradeFailure",
];

/// The body's fields as name/value pairs, JSON or form-encoded.
fn body_fields(n: &Inbound) -> Result<Vec<(String, String)>, ParseError> {
    let ct = n.header("content-type").unwrap_or("").to_ascii_lowercase();
    let json = if ct.contains("json") {
        true
    } else if ct.contains("x-www-form-urlencoded") {
        false
    } else {
        n.body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{')
    };
    if !json {
        return serde_urlencoded::from_bytes(&n.body)
            .map_err(|_| ParseError::Malformed("CCBill form body"));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&n.body).map_err(|_| ParseError::Malformed("CCBill JSON"))?;
    let serde_json::Value::Object(map) = v else {
        return Err(ParseError::Malformed("CCBill JSON"));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(x) => x.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k, s))
        })
        .collect())
}

/// Query string and body together; lookups prefer the body.
struct Fields {
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
}

impl Fields {
    fn read(n: &Inbound) -> Result<Self, ParseError> {
        Ok(Self {
            query: n.query_pairs(),
            body: body_fields(n)?,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        param(&self.body, key)
            .or_else(|| param(&self.query, key))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Every value of `key`, query string and body.
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .chain(self.body.iter())
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.trim())
    }
}

/// Account numbers compare as numbers when both are digits (`0000` is `0`).
fn same_account(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if digits(a) && digits(b) {
        let na = a.trim_start_matches('0');
        let nb = b.trim_start_matches('0');
        na == nb
    } else {
        a == b
    }
}

/// The first present amount/currency pair of `pairs`.
fn amount_from(f: &Fields, pairs: &[(&str, &str)]) -> Result<Option<Money>, ParseError> {
    for (a, c) in pairs {
        if let (Some(a), Some(c)) = (f.get(a), f.get(c)) {
            return money(a, c).map(Some);
        }
    }
    Ok(None)
}

fn time_of(f: &Fields, key: &str) -> Option<i64> {
    f.get(key).and_then(parse_time)
}

impl Processor for Ccbill {
    fn name(&self) -> &'static str {
        "ccbill"
    }

    fn label(&self) -> &'static str {
        "Card (CCBill)"
    }

    fn configured(&self, s: &Settings) -> bool {
        let set = |o: &Option<String>| o.as_deref().is_some_and(|x| !x.trim().is_empty());
        s.enabled
            && set(&s.account)
            && set(&s.sub_account)
            && set(&s.form_id)
            && set(&s.secret)
            && !s.allow_ips.is_empty()
    }

    fn verify(&self, s: &Settings, n: &Inbound) -> Result<(), VerifyError> {
        let account = s
            .account
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .ok_or(VerifyError::NotConfigured)?;
        if s.allow_ips.is_empty() {
            return Err(VerifyError::NotConfigured);
        }
        if !s.ip_allowed(n.source_ip) {
            return Err(VerifyError::AddressNotAllowed(
                n.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            ));
        }
        // An unreadable body cannot name the account; the query string still must.
        let f = Fields {
            query: n.query_pairs(),
            body: body_fields(n).unwrap_or_default(),
        };
        let check = |key: &'static str, want: &str| -> Result<(), VerifyError> {
            let mut seen = false;
            for got in f.all(key) {
                seen = true;
                if !same_account(got, want) {
                    return Err(VerifyError::WrongAccount(got.chars().take(32).collect()));
                }
            }
            if seen {
                Ok(())
            } else {
                Err(VerifyError::WrongAccount(format!("(no {key})")))
            }
        };
        check("clientAccnum", account)?;
        if let Some(sub) = s.sub_account.as_deref().filter(|x| !x.trim().is_empty()) {
            check("clientSubacc", sub)?;
        }
        Ok(())
    }

    fn parse(&self, n: &Inbound) -> Result<Vec<Event>, ParseError> {
        use EventKind as K;
        bounded(n)?;
        let f = Fields::read(n)?;
        let event_type = param(&f.query, "eventType")
            .or_else(|| param(&f.body, "eventType"))
            .map(str::trim)
            .ok_or(ParseError::Missing("eventType"))?
            .to_owned();
        let kind = match event_type.as_str() {
            "NewSaleSuccess" => K::SaleApproved,
            "NewSaleFailure" => K::SaleDeclined,
            "RenewalSuccess" => K::RenewalApproved,
            "RenewalFailure" => K::RenewalFailed,
            "Cancellation" => K::Cancelled,
            "UserReactivation" => K::Reactivated,
            "Expiration" => K::Expired,
            "UpgradeSuccess" | "BillingDateChange" => K::Changed,
            "Refund" | "Return" => K::Refund,
            "Void" => K::Void,
            "Chargeback" => K::Chargeback,
            "CustomerDataUpdate" => K::CustomerUpdated,
            t if IGNORED.contains(&t) => return Ok(Vec::new()),
            t => return Err(ParseError::UnknownEvent(t.chars().take(64).collect())),
        };

        let transaction = f
            .get("transactionId")
            .map(|t| ident("transactionId", t))
            .transpose()?;
        let subscription = f
            .get("subscriptionId")
            .map(|t| ident("subscriptionId", t))
            .transpose()?;
        let external_id = match (&transaction, &subscription) {
            (Some(t), _) => t.clone(),
            (None, Some(sub)) => {
                let ts = f.get("timestamp").ok_or(ParseError::Missing("timestamp"))?;
                ident("timestamp", ts)?;
                format!("{sub}:{}", ts.trim())
            }
            (None, None) => return Err(ParseError::Missing("transactionId")),
        };

        let mut e = Event::new(kind, external_id);
        e.subscription = subscription;
        e.transaction = transaction;
        e.reference = f
            .get(REFERENCE_FIELD)
            .or_else(|| f.get("x-fanz_ref"))
            .map(|r| ident(REFERENCE_FIELD, r))
            .transpose()?;
        e.occurred_at = time_of(&f, "timestamp");
        match kind {
            K::SaleApproved => {
                e.amount = amount_from(
                    &f,
                    &[
                        ("billedInitialPrice", "billedCurrencyCode"),
                        ("subscriptionInitialPrice", "subscriptionCurrencyCode"),
                        ("accountingInitialPrice", "accountingCurrencyCode"),
                    ],
                )?;
                e.next_renewal_at = time_of(&f, "nextRenewalDate");
            }
            K::SaleDeclined => {
                e.reason = f.get("failureReason").map(str::to_owned);
            }
            K::RenewalApproved => {
                e.amount = amount_from(
                    &f,
                    &[
                        ("billedAmount", "billedCurrencyCode"),
                        ("accountingAmount", "accountingCurrencyCode"),
                    ],
                )?;
                e.occurred_at = e.occurred_at.or_else(|| time_of(&f, "renewalDate"));
                e.next_renewal_at = time_of(&f, "nextRenewalDate");
            }
            K::RenewalFailed => {
                e.reason = f.get("failureReason").map(str::to_owned);
                e.next_renewal_at = time_of(&f, "nextRetryDate");
            }
            K::Cancelled => {
                e.reason = f.get("reason").map(str::to_owned);
            }
            K::Reactivated | K::Changed => {
                e.next_renewal_at = time_of(&f, "nextRenewalDate");
            }
            K::Refund | K::Void | K::Chargeback => {
                e.amount = amount_from(
                    &f,
                    &[
                        ("amount", "currencyCode"),
                        ("amount", "currency"),
                        ("accountingAmount", "accountingCurrencyCode"),
                        ("accountingAmount", "accountingCurrency"),
                    ],
                )?;
                e.reason = f.get("reason").map(str::to_owned);
            }
            _ => {}
        }
        if let Some(r) = &mut e.reason {
            r.truncate(r.char_indices().nth(500).map_or(r.len(), |(i, _)| i));
        }
        Ok(vec![e])
    }

    fn reply(&self, outcome: Outcome) -> Reply {
        // CCBill retries anything but a 200.
        match outcome {
            Outcome::Accepted => Reply::text(200, "OK"),
            Outcome::Rejected => Reply::text(403, "rejected"),
            Outcome::Failed => Reply::text(500, "retry later"),
        }
    }

    fn start_checkout(&self, s: &Settings, c: &CheckoutStart) -> Result<Start, StartError> {
        let form_id = s
            .form_id
            .as_deref()
            .filter(|x| !x.trim().is_empty())
            .ok_or(StartError::NotConfigured(
                "CCBill needs form_id (the FlexForms id)",
            ))?;
        let salt = s
            .secret
            .as_deref()
            .filter(|x| !x.is_empty())
            .ok_or(StartError::NotConfigured("CCBill needs secret (the salt)"))?;
        let sub = s
            .sub_account
            .as_deref()
            .filter(|x| !x.trim().is_empty())
            .ok_or(StartError::NotConfigured("CCBill needs sub_account"))?;
        let currency = currency_numeric(&c.price.currency)
            .ok_or_else(|| StartError::Unsupported(format!("currency {}", c.price.currency)))?;
        if c.price.amount <= 0 {
            return Err(StartError::Unsupported("a free first charge".into()));
        }
        let initial_price = c.price.decimal();
        let mut params: Vec<(&str, String)> = vec![("clientSubacc", sub.trim().to_owned())];
        let digest = match &c.recurring {
            None => {
                let period = ONE_OFF_PERIOD_DAYS.to_string();
                let d = form_digest(&initial_price, &period, None, currency, salt);
                params.push(("initialPrice", initial_price));
                params.push(("initialPeriod", period));
                d
            }
            Some(r) => {
                if r.price.currency != c.price.currency {
                    return Err(StartError::Unsupported("two currencies".into()));
                }
                if r.period_days <= 0 || r.trial_days < 0 {
                    return Err(StartError::Unsupported("a period under a day".into()));
                }
                let initial_period = if r.trial_days > 0 {
                    r.trial_days
                } else {
                    r.period_days
                }
                .to_string();
                let recurring_price = r.price.decimal();
                let recurring_period = r.period_days.to_string();
                let d = form_digest(
                    &initial_price,
                    &initial_period,
                    Some((&recurring_price, &recurring_period, NUM_REBILLS)),
                    currency,
                    salt,
                );
                params.push(("initialPrice", initial_price));
                params.push(("initialPeriod", initial_period));
                params.push(("recurringPrice", recurring_price));
                params.push(("recurringPeriod", recurring_period));
                params.push(("numRebills", NUM_REBILLS.to_owned()));
                d
            }
        };
        params.push(("currencyCode", currency.to_owned()));
        params.push(("formDigest", digest));
        params.push((REFERENCE_FIELD, c.reference.clone()));
        let base = format!("{FLEXFORMS_URL}/{}", form_id.trim());
        Ok(Start::Redirect(url_with(&base, &params)))
    }

    fn cancels_by_api(&self) -> bool {
        true
    }

    /// CCBill API (the Data Link `subscriptionManagement.cgi`), `action=cancelSubscription`
    /// with `returnXML=1` (ccbill.com/doc/ccbill-api-cancel-subscription). Needs Data Link
    /// access on the account: `api_user`/`api_key` are its username and password, and CCBill
    /// only answers from the server addresses registered with it (code -8 otherwise).
    /// Refunds are not asked by API: CCBill's public pages do not document the refund action's
    /// parameters, so finance refunds in CCBill's console and the Refund webhook applies it.
    fn api_call(&self, s: &Settings, op: &ApiOp) -> Result<OutboundCall, ApiError> {
        let ApiOp::Cancel { subscription } = op else {
            return Err(ApiError::Unsupported(
                "refunds are made in CCBill's console (the Refund webhook applies them)",
            ));
        };
        let account = required(&s.account, "CCBill needs account (clientAccnum)")?;
        let (user, password) = datalink_login(s)?;
        let sub = s.sub_account.as_deref().map(str::trim).unwrap_or("");
        let base = api_base(s, DATALINK_URL);
        let params: Vec<(&str, String)> = vec![
            ("clientAccnum", account.to_owned()),
            ("clientSubacc", sub.to_owned()),
            ("usingSubacc", sub.to_owned()),
            ("username", user.to_owned()),
            ("password", password.to_owned()),
            ("action", "cancelSubscription".to_owned()),
            ("subscriptionId", subscription.clone()),
            ("returnXML", "1".to_owned()),
        ];
        Ok(OutboundCall::get(
            &format!("{base}/utils/subscriptionManagement.cgi"),
            &params,
        ))
    }

    /// `<results>1</results>` is success; other codes are CCBill's (the CCBill API guide's
    /// list, as transcribed by datinglibre/ccbill): -7 (internal error), -12 (too many failed
    /// logins: wait an hour) and 0 (the action failed) are retried, the rest are refusals.
    fn api_answer(&self, _op: &ApiOp, status: u16, body: &str) -> Result<ApiDone, ApiError> {
        api_status(status, body)?;
        let code = datalink_code(body)
            .ok_or_else(|| ApiError::Temporary("the Data Link answer has no result code".into()))?;
        let meaning = datalink_meaning(code);
        match code {
            1 => Ok(ApiDone {
                reference: None,
                detail: format!("{code}: {meaning}"),
            }),
            0 | -7 | -12 => Err(ApiError::Temporary(format!("{code}: {meaning}"))),
            _ => Err(ApiError::Refused(format!("{code}: {meaning}"))),
        }
    }

    /// The Data Link Extract (ccbill.com/doc/data-link-extract-system-user-guide):
    /// `GET https://datalink.ccbill.com/data/main.cgi?startTime=…&endTime=…&transactionTypes=NEW,REBILL&clientAccnum=…&clientSubacc=…&username=…&password=…`,
    /// times as `YYYYMMDDHHMMSS`. CCBill answers at most one extract an hour, so one call
    /// covers every waiting charge of the account; the window is widened by a day on each side
    /// (CCBill reports in its own time zone).
    fn confirm_call(&self, s: &Settings, q: &ConfirmQuery) -> Result<OutboundCall, ApiError> {
        let account = required(&s.account, "CCBill needs account (clientAccnum)")?;
        let (user, password) = datalink_login(s)?;
        let base = api_base(s, DATALINK_URL);
        let day = 86_400_000_000;
        let mut params: Vec<(&str, String)> = vec![
            ("startTime", datalink_time(q.from - day)),
            ("endTime", datalink_time(q.to + day)),
            ("transactionTypes", "NEW,REBILL".to_owned()),
            ("clientAccnum", account.to_owned()),
        ];
        if let Some(sub) = s
            .sub_account
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            params.push(("clientSubacc", sub.to_owned()));
        }
        params.push(("username", user.to_owned()));
        params.push(("password", password.to_owned()));
        Ok(OutboundCall::get(&format!("{base}/data/main.cgi"), &params))
    }

    /// The extract is CSV, one transaction a line, its type first: `"REBILL"`, account,
    /// sub-account, subscription id, time, transaction id, amount; `"NEW"` rows carry the
    /// subscription id fourth and the amounts further on (their column order differs between
    /// the public transcriptions, but in both the initial amount is the line's first decimal
    /// field, before the recurring one). `Error: …` is a refusal (bad credentials, an address not registered with
    /// CCBill), or temporary when it says to wait; a bare `1` is an empty extract. Amounts are
    /// compared for USD charges only: the extract's are in the account's currency.
    fn confirm_answer(
        &self,
        q: &ConfirmQuery,
        status: u16,
        body: &str,
    ) -> Result<Vec<Verdict>, ApiError> {
        api_status(status, body)?;
        let text = body.trim();
        if let Some(err) = text
            .strip_prefix("Error:")
            .or_else(|| text.strip_prefix("Error"))
        {
            let line: String = err.trim().chars().take(300).collect();
            let lower = line.to_ascii_lowercase();
            return Err(
                if lower.contains("minute")
                    || lower.contains("try again")
                    || lower.contains("too many")
                {
                    ApiError::Temporary(format!("Data Link: {line}"))
                } else {
                    ApiError::Refused(format!("Data Link: {line}"))
                },
            );
        }
        let rows: Vec<Vec<String>> = if text == "1" || text.is_empty() {
            Vec::new()
        } else {
            text.lines().map(csv_row).filter(|r| r.len() >= 5).collect()
        };
        Ok(q.charges.iter().map(|c| verdict(c, &rows)).collect())
    }
}

/// The Data Link username and password ([`Settings::api_user`], [`Settings::api_key`]).
fn datalink_login(s: &Settings) -> Result<(&str, &str), ApiError> {
    api_login(
        s,
        "CCBill needs api_user (Data Link username)",
        "CCBill needs api_key (Data Link password)",
    )
}

/// `YYYYMMDDHHMMSS` (UTC) of microseconds since the epoch, as Data Link takes times.
pub fn datalink_time(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// One CSV line's fields, quotes removed (Data Link quotes every field).
fn csv_row(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_owned()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_owned());
    out
}

/// What the extract's rows say of one charge.
fn verdict(c: &ToConfirm, rows: &[Vec<String>]) -> Verdict {
    let compare = c.amount.currency == "USD";
    // Amounts are written with decimals ("9.99"); a bare number is a period or a count.
    let same = |v: &str| v.contains('.') && parse_amount(v).is_ok_and(|a| a == c.amount.amount);
    if c.renewal {
        for r in rows.iter().filter(|r| r[0] == "REBILL") {
            if r.get(5).map(String::as_str) == Some(c.transaction.as_str()) {
                let amount = r.get(6).map(String::as_str).unwrap_or("");
                return if !compare || same(amount) {
                    Verdict::Confirmed(format!("REBILL {} of {amount}", c.transaction))
                } else {
                    Verdict::Denied(format!(
                        "CCBill reports rebill {} for {amount}, not {}",
                        c.transaction,
                        c.amount.decimal()
                    ))
                };
            }
        }
        return Verdict::NotFound;
    }
    let id = c.subscription.as_deref().unwrap_or(c.transaction.as_str());
    for r in rows.iter().filter(|r| r[0] == "NEW") {
        if r[3] == id {
            // The first amount of the line is the initial one (the recurring price follows).
            let first = r[4..]
                .iter()
                .find(|v| v.contains('.') && parse_amount(v).is_ok());
            return if !compare || first.is_some_and(|v| same(v.as_str())) {
                Verdict::Confirmed(format!("NEW {id} of {}", c.amount.decimal()))
            } else {
                Verdict::Denied(format!(
                    "CCBill reports sale {id} without the amount {}",
                    c.amount.decimal()
                ))
            };
        }
    }
    Verdict::NotFound
}

/// The CCBill API (Data Link) host.
pub const DATALINK_URL: &str = "https://datalink.ccbill.com";

/// The result code of a Data Link answer: `<results>N</results>` (XML) or the CSV form
/// (`"results"` then `"N"`).
pub fn datalink_code(body: &str) -> Option<i64> {
    let b = body.trim();
    if let Some(start) = b.find("<results>") {
        let rest = &b[start + "<results>".len()..];
        let end = rest.find("</results>")?;
        return rest[..end].trim().parse().ok();
    }
    let mut lines = b.lines().map(|l| l.trim().trim_matches('"'));
    if lines.next()? == "results" {
        return lines.next()?.trim().parse().ok();
    }
    None
}

/// What a Data Link result code means.
pub fn datalink_meaning(code: i64) -> &'static str {
    match code {
        1 => "success",
        0 => "the requested action failed",
        -1 => "the authentication arguments are invalid or missing",
        -2 => "the subscription id is invalid or its type is not supported by the action",
        -3 => "no record was found for the subscription",
        -4 => "the subscription is not for this account",
        -5 => "the action's arguments are invalid or missing",
        -6 => "the action is invalid",
        -7 => "internal or database error at CCBill",
        -8 => "this server's address is not in the range registered with CCBill",
        -9 => "Data Link is deactivated for the account or the action is not permitted",
        -10 => "the account is not set up for Data Link",
        -11 => "the subscription is not eligible for a discount",
        -12 => "three or more failed logins in the last hour; wait an hour",
        -15 => "over the refund threshold",
        -16 => "over the void threshold",
        -23 => "transaction limit reached",
        -24 => "purchase limit reached",
        _ => "unknown code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            enabled: true,
            account: Some("900100".into()),
            sub_account: Some("0000".into()),
            secret: Some("7d901dad245fd0ff6bc20d06".into()),
            form_id: Some("687fa3e0-e60d-4466-88e2-181fa56dd6a9".into()),
            allow_ips: vec!["64.38.212.0/24".into()],
            ..Default::default()
        }
    }

    fn inbound(query: &str, body: &str, ct: &str, ip: &str) -> Inbound {
        Inbound {
            method: "POST".into(),
            query: query.into(),
            headers: vec![("content-type".into(), ct.into())],
            body: body.as_bytes().to_vec(),
            source_ip: ip.parse().ok(),
        }
    }

    #[test]
    fn form_digest_matches_ccbill_example() {
        // research §2.8, ccbill.com/doc/formdigest-value
        assert_eq!(
            form_digest("10.00", "30", None, "840", "7d901dad245fd0ff6bc20d06"),
            "a7459445d0e5dc0963fe736dc5cf900b"
        );
        // Recurring: the same terms with the three recurring values between.
        let whole = form_digest("10.00", "30", Some(("9.99", "30", "99")), "840", "s");
        let flat = form_digest("10.0030", "9.993099", None, "840", "s");
        assert_eq!(whole, flat);
    }

    #[test]
    fn verify_checks_address_and_account() {
        let q = "clientAccnum=900100&clientSubacc=0000&eventType=Expiration";
        let body =
            r#"{"subscriptionId":"1","clientAccnum":"900100","timestamp":"2026-01-02 03:04:05"}"#;
        let ok = inbound(q, body, "application/json", "64.38.212.7");
        Ccbill.verify(&settings(), &ok).unwrap();

        let outside = inbound(q, body, "application/json", "10.1.2.3");
        assert!(matches!(
            Ccbill.verify(&settings(), &outside),
            Err(VerifyError::AddressNotAllowed(_))
        ));
        let mut open = settings();
        open.allow_ips.clear();
        assert_eq!(Ccbill.verify(&open, &ok), Err(VerifyError::NotConfigured));
        let wrong = inbound(
            "clientAccnum=900101&clientSubacc=0000&eventType=Expiration",
            "",
            "",
            "64.38.212.7",
        );
        assert!(matches!(
            Ccbill.verify(&settings(), &wrong),
            Err(VerifyError::WrongAccount(_))
        ));
        // The body naming another account is refused even when the query string is right.
        let mixed = inbound(
            q,
            r#"{"clientAccnum":"123456"}"#,
            "application/json",
            "64.38.212.7",
        );
        assert!(matches!(
            Ccbill.verify(&settings(), &mixed),
            Err(VerifyError::WrongAccount(_))
        ));
        let wrong_sub = inbound(
            "clientAccnum=900100&clientSubacc=0001&eventType=Expiration",
            "",
            "",
            "64.38.212.7",
        );
        assert!(matches!(
            Ccbill.verify(&settings(), &wrong_sub),
            Err(VerifyError::WrongAccount(_))
        ));
    }

    #[test]
    fn new_sale_json_parses() {
        let body = r#"{"subscriptionId":"1000000000","transactionId":"0912191101000000159",
            "clientAccnum":"900100","clientSubacc":"0000","timestamp":"2026-01-02 03:04:05",
            "billedInitialPrice":"9.99","billedCurrencyCode":"840",
            "nextRenewalDate":"2026-02-01","X-fanz_ref":"chk_42"}"#;
        let n = inbound(
            "clientAccnum=900100&clientSubacc=0000&eventType=NewSaleSuccess&eventGroupType=Subscription",
            body,
            "application/json",
            "64.38.212.7",
        );
        let e = &Ccbill.parse(&n).unwrap()[0];
        assert_eq!(e.kind, EventKind::SaleApproved);
        assert_eq!(e.external_id, "0912191101000000159");
        assert_eq!(e.reference.as_deref(), Some("chk_42"));
        assert_eq!(e.amount, Some(Money::new(999, "USD")));
        assert_eq!(e.occurred_at, Some(1_767_323_045_000_000));
        assert!(e.next_renewal_at.is_some());
    }

    #[test]
    fn form_bodies_and_sniffing() {
        let body = "subscriptionId=77&timestamp=2026-01-02+03%3A04%3A05&reason=too+pricey";
        let n = inbound("eventType=Cancellation", body, "", "64.38.212.7");
        let e = &Ccbill.parse(&n).unwrap()[0];
        assert_eq!(e.kind, EventKind::Cancelled);
        assert_eq!(e.external_id, "77:2026-01-02 03:04:05");
        assert_eq!(e.reason.as_deref(), Some("too pricey"));
    }

    #[test]
    fn ignored_and_unknown_types() {
        let n = inbound("eventType=UpSaleSuccess", "{}", "application/json", "");
        assert!(Ccbill.parse(&n).unwrap().is_empty());
        let n = inbound("eventType=Nope", "{}", "application/json", "");
        assert!(matches!(Ccbill.parse(&n), Err(ParseError::UnknownEvent(_))));
        let n = inbound("", "{}", "application/json", "");
        assert_eq!(Ccbill.parse(&n), Err(ParseError::Missing("eventType")));
    }

    #[test]
    fn checkout_url_carries_the_digest() {
        let c = CheckoutStart {
            reference: "chk_1".into(),
            price: Money::new(1000, "USD"),
            recurring: Some(Recurring {
                price: Money::new(999, "USD"),
                period_days: 30,
                trial_days: 0,
            }),
            description: "Monthly".into(),
            return_url: "https://fanz.example/done".into(),
            cancel_url: "https://fanz.example/cancel".into(),
            email: None,
        };
        let Start::Redirect(url) = Ccbill.start_checkout(&settings(), &c).unwrap() else {
            panic!("redirect expected")
        };
        let digest = form_digest(
            "10.00",
            "30",
            Some(("9.99", "30", "99")),
            "840",
            "7d901dad245fd0ff6bc20d06",
        );
        assert!(url.starts_with(
            "https://api.ccbill.com/wap-frontflex/flexforms/687fa3e0-e60d-4466-88e2-181fa56dd6a9?clientSubacc=0000&initialPrice=10.00&initialPeriod=30&recurringPrice=9.99&recurringPeriod=30&numRebills=99&currencyCode=840&formDigest="
        ));
        assert!(url.contains(&format!("formDigest={digest}&X-fanz_ref=chk_1")));

        let one_off = CheckoutStart {
            recurring: None,
            ..c
        };
        let Start::Redirect(url) = Ccbill.start_checkout(&settings(), &one_off).unwrap() else {
            panic!("redirect expected")
        };
        let d = form_digest("10.00", "2", None, "840", "7d901dad245fd0ff6bc20d06");
        assert!(url.contains(&format!(
            "initialPrice=10.00&initialPeriod=2&currencyCode=840&formDigest={d}"
        )));
    }

    #[test]
    fn cancel_is_a_datalink_call() {
        let op = ApiOp::Cancel {
            subscription: "1071776966".into(),
        };
        // Without Data Link credentials there is no call.
        assert_eq!(
            Ccbill.api_call(&settings(), &op),
            Err(ApiError::NotConfigured(
                "CCBill needs api_user (Data Link username)"
            ))
        );
        let s = Settings {
            api_user: Some("ccbill12".into()),
            api_key: Some("test123".into()),
            ..settings()
        };
        let call = Ccbill.api_call(&s, &op).unwrap();
        assert_eq!(call.method, "GET");
        // CCBill's own example request, with our account and sub-account.
        assert_eq!(
            call.url,
            "https://datalink.ccbill.com/utils/subscriptionManagement.cgi?clientAccnum=900100&clientSubacc=0000\
             &usingSubacc=0000&username=ccbill12&password=test123&action=cancelSubscription\
             &subscriptionId=1071776966&returnXML=1"
        );
        let local = Settings {
            api_url: Some("http://127.0.0.1:9/".into()),
            ..s.clone()
        };
        assert!(Ccbill
            .api_call(&local, &op)
            .unwrap()
            .url
            .starts_with("http://127.0.0.1:9/utils/subscriptionManagement.cgi?"));
        // Refunds are made in CCBill's console.
        let refund = ApiOp::Refund {
            transaction: "t".into(),
            amount: Money::new(100, "USD"),
            partial: false,
        };
        assert!(matches!(
            Ccbill.api_call(&s, &refund),
            Err(ApiError::Unsupported(_))
        ));
        assert!(Ccbill.cancels_by_api() && !Ccbill.refunds_by_api());
    }

    #[test]
    fn datalink_answers_are_read() {
        let op = ApiOp::Cancel {
            subscription: "1".into(),
        };
        // CCBill's documented answers, XML and CSV.
        let ok = Ccbill
            .api_answer(
                &op,
                200,
                "<?xml version='1.0' standalone='yes'?>\n<results>1</results>",
            )
            .unwrap();
        assert_eq!(ok.detail, "1: success");
        assert!(Ccbill.api_answer(&op, 200, "\"results\"\n\"1\"\n").is_ok());
        assert_eq!(
            Ccbill.api_answer(&op, 200, "<results>-3</results>"),
            Err(ApiError::Refused(
                "-3: no record was found for the subscription".into()
            ))
        );
        assert!(Ccbill
            .api_answer(&op, 200, "<results>-7</results>")
            .unwrap_err()
            .retryable());
        assert!(Ccbill
            .api_answer(&op, 200, "<results>-8</results>")
            .is_err_and(|e| !e.retryable()));
        assert!(Ccbill
            .api_answer(&op, 502, "bad gateway")
            .unwrap_err()
            .retryable());
        assert!(Ccbill
            .api_answer(&op, 200, "<html>")
            .unwrap_err()
            .retryable());
        assert_eq!(datalink_code("<results>-12</results>"), Some(-12));
        assert_eq!(datalink_code("nonsense"), None);
    }
    #[test]
    fn confirm_is_a_datalink_extract() {
        let q = ConfirmQuery {
            from: 1_767_323_045_000_000, // 2026-01-02 03:04:05
            to: 1_767_409_445_000_000,
            charges: vec![
                ToConfirm {
                    transaction: "0912191101000000159".into(),
                    subscription: Some("1000000000".into()),
                    renewal: false,
                    amount: Money::new(999, "USD"),
                },
                ToConfirm {
                    transaction: "0112100602000000021".into(),
                    subscription: Some("1000000001".into()),
                    renewal: true,
                    amount: Money::new(1999, "USD"),
                },
                ToConfirm {
                    transaction: "t-nowhere".into(),
                    subscription: Some("1000000099".into()),
                    renewal: false,
                    amount: Money::new(500, "USD"),
                },
                ToConfirm {
                    transaction: "t-wrong".into(),
                    subscription: Some("1000000002".into()),
                    renewal: false,
                    amount: Money::new(500, "USD"),
                },
            ],
        };
        assert!(matches!(
            Ccbill.confirm_call(&settings(), &q),
            Err(ApiError::NotConfigured(_))
        ));
        let s = Settings {
            api_user: Some("dluser".into()),
            api_key: Some("dlpass".into()),
            ..settings()
        };
        let call = Ccbill.confirm_call(&s, &q).unwrap();
        assert_eq!(call.method, "GET");
        assert_eq!(
            call.url,
            "https://datalink.ccbill.com/data/main.cgi?startTime=20260101030405&endTime=20260104030405\
             &transactionTypes=NEW%2CREBILL&clientAccnum=900100&clientSubacc=0000&username=dluser&password=dlpass"
        );
        let extract = "\"NEW\",\"900100\",\"0000\",\"1000000000\",\"20260102030405\",\"Jane\",\"Doe\",\"jane@example.com\",\"\",\"1\",\"9.99\",\"30\",\"9.99\",\"30\",\"1\",\"VISA\"\n\
             \"REBILL\",\"900100\",\"0000\",\"1000000001\",\"20260102090000\",\"0112100602000000021\",\"19.99\"\n\
             \"NEW\",\"900100\",\"0000\",\"1000000002\",\"20260102030405\",\"A\",\"B\",\"a@example.com\",\"\",\"1\",\"4.00\",\"2\",\"0\",\"0\",\"0\",\"VISA\"\n";
        let v = Ccbill.confirm_answer(&q, 200, extract).unwrap();
        assert_eq!(v.len(), 4);
        assert!(matches!(&v[0], Verdict::Confirmed(d) if d.contains("1000000000")));
        assert!(matches!(&v[1], Verdict::Confirmed(d) if d.contains("19.99")));
        assert_eq!(v[2], Verdict::NotFound);
        assert!(matches!(&v[3], Verdict::Denied(d) if d.contains("5.00")));
        // An empty extract is a bare 1.
        assert!(Ccbill
            .confirm_answer(&q, 200, "1\n")
            .unwrap()
            .iter()
            .all(|v| *v == Verdict::NotFound));
        assert!(matches!(
            Ccbill.confirm_answer(&q, 200, "Error: Authentication failed"),
            Err(ApiError::Refused(_))
        ));
        assert!(Ccbill
            .confirm_answer(&q, 200, "Error: only one request every 60 minutes")
            .unwrap_err()
            .retryable());
        assert!(Ccbill.confirm_answer(&q, 503, "").unwrap_err().retryable());
        assert!(!Ccbill.signed());
        assert_eq!(datalink_time(0), "19700101000000");
    }
}

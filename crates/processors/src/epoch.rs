//! Epoch: FlexPost join page, the join postback, and DataPlus.
//!
//! Epoch sends two kinds of notifications, both name/value pairs (HTTPS POST form, or a
//! query string):
//!
//! * the **join postback**, right after a join: `ans` (`Y…` approved, `N…` declined, e.g.
//!   `YGOODTEST|…`), `member_id`, `transaction_id` (also accepted: `trans_id`), `pi_code`,
//!   `co_code`, `amount`/`trans_amount`, `currency`/`trans_currency`, and our `x_fanz_ref`
//!   passthrough (Epoch must be asked to enable `x_*` passthrough). It becomes
//!   [`EventKind::SaleApproved`] (or [`EventKind::SaleDeclined`]);
//! * **DataPlus** rows, on a 15-minute delay, for joins, rebills, credits and chargebacks
//!   (mage2.pro/t/topic/5044, the Epoch DataPlus PDF): `ets_transaction_id` (primary key),
//!   `ets_member_idx`, `ets_transaction_date`, `ets_transaction_type` (one letter),
//!   `ets_co_code`, `ets_pi_code`, `ets_transaction_amount`, `ets_ref_trans_ids`, … plus
//!   `x_fanz_ref` when passthrough is on.
//!
//! **Authenticity**: no signature is documented publicly (Epoch mentions a "salt string";
//! how it signs anything is not public). A notification counts as Epoch's when its source
//! address is in [`Settings::allow_ips`] (Epoch publishes its ranges at epoch.com/ip_list.php;
//! an empty list refuses everything) and every company code it carries (`ets_co_code`,
//! `co_code`) equals [`Settings::account`].
//!
//! **Unverified — `ets_transaction_type` letters.** Epoch's own table was not found in the
//! public corpora. The letters below come from an integration's transcription of it (aMember's
//! Epoch plugin): C credit to the customer's account, D chargeback, F initial free trial,
//! I initial recurring, J denied trial conversion, K cancelled trial, N non-initial recurring,
//! O non-recurring, T initial paid trial, U initial trial conversion, X returned check. One
//! other test suite uses C for "chargeback/refund" with a negative amount; both read as money
//! going back to the fan, and C maps to [`EventKind::Refund`]. Check against Epoch's current
//! DataPlus spec before going live. Amounts carry no currency in DataPlus: USD is assumed.
//!
//! **Checkout**: Epoch's FlexPost join page `https://wnu.com/secure/fpost.cgi` with `co_code`,
//! `pi_code` (the product, [`Settings::sub_account`]; its price is set at Epoch, no dynamic
//! price parameters are documented publicly), `pi_returnurl`, `response_post=1` and
//! `x_fanz_ref`. [`Settings::checkout_url`] overrides the host.

use crate::*;

/// The Epoch driver.
pub struct Epoch;

/// FlexPost's join page.
pub const JOIN_URL: &str = "https://wnu.com/secure/fpost.cgi";

/// Our reference's passthrough field.
pub const REFERENCE_FIELD: &str = "x_fanz_ref";

/// DataPlus amounts carry no currency; Epoch's are taken as US dollars (unverified).
pub const DATAPLUS_CURRENCY: &str = "USD";

/// All parameters: a form body, then the query string.
fn pairs(n: &Inbound) -> Vec<(String, String)> {
    let mut v = n.form_pairs();
    v.extend(n.query_pairs());
    v
}

fn get<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
    param(p, key).map(str::trim).filter(|v| !v.is_empty())
}

fn opt_ident(p: &[(String, String)], key: &'static str) -> Result<Option<String>, ParseError> {
    get(p, key).map(|v| ident(key, v)).transpose()
}

/// What a DataPlus `ets_transaction_type` letter means (see the module docs: unverified).
fn dataplus_kind(letter: &str) -> Option<(EventKind, Option<&'static str>)> {
    use EventKind as K;
    Some(match letter {
        "I" => (K::SaleApproved, None),
        "O" => (K::SaleApproved, None),
        "T" => (K::SaleApproved, Some("paid trial")),
        "F" => (K::SaleApproved, Some("free trial")),
        "N" => (K::RenewalApproved, None),
        "U" => (K::RenewalApproved, Some("trial conversion")),
        "J" => (K::RenewalFailed, Some("trial conversion denied")),
        "K" => (K::Cancelled, Some("trial cancelled")),
        "C" => (K::Refund, Some("credit")),
        "D" => (K::Chargeback, None),
        "X" => (K::Chargeback, Some("returned check")),
        _ => return None,
    })
}

fn parse_dataplus(p: &[(String, String)], letter: &str) -> Result<Event, ParseError> {
    use EventKind as K;
    let (kind, reason) = dataplus_kind(letter)
        .ok_or_else(|| ParseError::UnknownEvent(letter.chars().take(16).collect()))?;
    let id =
        opt_ident(p, "ets_transaction_id")?.ok_or(ParseError::Missing("ets_transaction_id"))?;
    let mut e = Event::new(kind, id.clone());
    e.subscription = opt_ident(p, "ets_member_idx")?;
    e.reference = opt_ident(p, REFERENCE_FIELD)?;
    let undone = get(p, "ets_ref_trans_ids")
        .and_then(|v| {
            v.split([',', '|', ' '])
                .map(str::trim)
                .find(|s| !s.is_empty())
        })
        .map(|v| ident("ets_ref_trans_ids", v))
        .transpose()?;
    e.transaction = match kind {
        K::Refund | K::Chargeback => undone.or(Some(id)),
        K::Cancelled | K::RenewalFailed => undone,
        _ => Some(id),
    };
    if let Some(a) = get(p, "ets_transaction_amount") {
        e.amount = Some(money(a, DATAPLUS_CURRENCY)?);
    }
    e.occurred_at = get(p, "ets_transaction_date").and_then(parse_time);
    e.reason = reason.map(str::to_owned);
    Ok(e)
}

fn parse_join(p: &[(String, String)], ans: &str) -> Result<Event, ParseError> {
    let approved = match ans.chars().next() {
        Some('Y') | Some('y') => true,
        Some('N') | Some('n') => false,
        _ => return Err(ParseError::Field("ans", "neither Y… nor N…".into())),
    };
    let kind = if approved {
        EventKind::SaleApproved
    } else {
        EventKind::SaleDeclined
    };
    let transaction = match opt_ident(p, "transaction_id")? {
        Some(t) => Some(t),
        None => opt_ident(p, "trans_id")?,
    };
    let member = opt_ident(p, "member_id")?;
    let external_id = transaction
        .clone()
        .or_else(|| member.clone())
        .ok_or(ParseError::Missing("transaction_id"))?;
    let mut e = Event::new(kind, external_id);
    e.transaction = transaction;
    e.subscription = member;
    e.reference = opt_ident(p, REFERENCE_FIELD)?;
    let amount = get(p, "amount").or_else(|| get(p, "trans_amount"));
    let currency = get(p, "currency")
        .or_else(|| get(p, "trans_currency"))
        .unwrap_or(DATAPLUS_CURRENCY);
    if let Some(a) = amount {
        e.amount = Some(money(a, currency)?);
    }
    if !approved {
        e.reason = Some(ans.chars().take(200).collect());
    }
    Ok(e)
}

impl Processor for Epoch {
    fn name(&self) -> &'static str {
        "epoch"
    }

    fn label(&self) -> &'static str {
        "Card (Epoch)"
    }

    fn configured(&self, s: &Settings) -> bool {
        let set = |o: &Option<String>| o.as_deref().is_some_and(|x| !x.trim().is_empty());
        s.enabled && set(&s.account) && set(&s.sub_account) && !s.allow_ips.is_empty()
    }

    fn verify(&self, s: &Settings, n: &Inbound) -> Result<(), VerifyError> {
        let account = s
            .account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .ok_or(VerifyError::NotConfigured)?;
        if s.allow_ips.is_empty() {
            return Err(VerifyError::NotConfigured);
        }
        if !s.ip_allowed(n.source_ip) {
            return Err(VerifyError::AddressNotAllowed(
                n.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            ));
        }
        for (k, v) in pairs(n) {
            if (k == "ets_co_code" || k == "co_code") && !v.trim().eq_ignore_ascii_case(account) {
                return Err(VerifyError::WrongAccount(v.chars().take(32).collect()));
            }
        }
        Ok(())
    }

    fn parse(&self, n: &Inbound) -> Result<Vec<Event>, ParseError> {
        bounded(n)?;
        let p = pairs(n);
        if let Some(letter) = get(&p, "ets_transaction_type") {
            return Ok(vec![parse_dataplus(&p, letter)?]);
        }
        if let Some(ans) = get(&p, "ans") {
            return Ok(vec![parse_join(&p, ans)?]);
        }
        Err(ParseError::Missing("ets_transaction_type"))
    }

    fn start_checkout(&self, s: &Settings, c: &CheckoutStart) -> Result<Start, StartError> {
        let set = |o: &Option<String>| {
            o.as_deref()
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
        };
        let co_code =
            set(&s.account).ok_or(StartError::NotConfigured("Epoch needs account (co_code)"))?;
        let pi_code = set(&s.sub_account).ok_or(StartError::NotConfigured(
            "Epoch needs sub_account (pi_code)",
        ))?;
        let base = set(&s.checkout_url).unwrap_or_else(|| JOIN_URL.to_owned());
        let mut params: Vec<(&str, String)> = vec![
            ("co_code", co_code),
            ("pi_code", pi_code),
            ("pi_returnurl", c.return_url.clone()),
            ("response_post", "1".into()),
            (REFERENCE_FIELD, c.reference.clone()),
        ];
        if let Some(email) = &c.email {
            params.push(("email", email.clone()));
        }
        Ok(Start::Redirect(url_with(&base, &params)))
    }

    fn confirm_by(&self) -> ConfirmBy {
        ConfirmBy::Subscription
    }

    fn confirms(&self, s: &Settings) -> Result<(), ApiError> {
        search_login(s).map(|_| ())
    }

    /// **Unverified** (no Epoch page describes it publicly; the call is as two independent
    /// public integrations make it): Epoch's customer search,
    /// `GET https://epoch.com/services/customer_search/index.json?api_action=search&auth_user=…&auth_pass=…&member_id=…`,
    /// one member (our subscription id) per call.
    fn confirm_call(&self, s: &Settings, q: &ConfirmQuery) -> Result<OutboundCall, ApiError> {
        let (user, pass) = search_login(s)?;
        let member = q.subscription("an Epoch lookup needs the charge's member id")?;
        Ok(OutboundCall::get(
            &format!(
                "{}/services/customer_search/index.json",
                api_base(s, API_URL)
            ),
            &[
                ("api_action", "search".to_owned()),
                ("auth_user", user.to_owned()),
                ("auth_pass", pass.to_owned()),
                ("member_id", member.to_owned()),
            ],
        ))
    }

    /// **Unverified**: the answer as public integrations read it, JSON
    /// `{"Data": [{"Customer": {"MemberId": …, "NextBillDate": …, "NextBillAmount": …, …}}]}`.
    /// It states the member's recurring amount, not each charge: a charge is confirmed when
    /// Epoch lists the member and bills it the charge's amount, denied when it bills another
    /// amount, and left to finance (unverifiable) when it states no amount or the charge is not
    /// in US dollars (the answer names no currency). A member not listed is not reported yet.
    /// An answer that is not JSON, or carries an error, is a refusal.
    fn confirm_answer(
        &self,
        q: &ConfirmQuery,
        status: u16,
        body: &str,
    ) -> Result<Vec<Verdict>, ApiError> {
        api_status(status, body)?;
        let line = || body.trim().chars().take(300).collect::<String>();
        let v: serde_json::Value = serde_json::from_str(body)
            .map_err(|_| ApiError::Refused(format!("Epoch: {}", line())))?;
        let Some(obj) = v.as_object() else {
            return Err(ApiError::Refused(format!("Epoch: {}", line())));
        };
        if let Some((_, err)) = obj
            .iter()
            .find(|(k, _)| k.to_ascii_lowercase().contains("error"))
        {
            let text: String = match err {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(ApiError::Refused(format!(
                "Epoch: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        let members: Vec<&serde_json::Value> = obj
            .get("Data")
            .and_then(|d| d.as_array())
            .map(|a| a.iter().filter_map(|e| e.get("Customer")).collect())
            .unwrap_or_default();
        Ok(q.charges
            .iter()
            .map(|c| member_verdict(c, &members))
            .collect())
    }
}

/// Epoch's server-side API host (the customer search).
pub const API_URL: &str = "https://epoch.com";

/// The customer-search login ([`Settings::api_user`], [`Settings::api_key`]).
fn search_login(s: &Settings) -> Result<(&str, &str), ApiError> {
    api_login(
        s,
        "Epoch needs api_user (customer search auth_user)",
        "Epoch needs api_key (customer search auth_pass)",
    )
}

/// A JSON scalar as text (`"55"` and `55` alike).
fn scalar(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// What Epoch's member record says of one charge.
fn member_verdict(c: &ToConfirm, members: &[&serde_json::Value]) -> Verdict {
    let Some(member) = c.subscription.as_deref() else {
        return Verdict::Unverifiable("the charge names no Epoch member".into());
    };
    let Some(record) = members
        .iter()
        .find(|m| scalar(m.get("MemberId")).as_deref() == Some(member))
    else {
        return Verdict::NotFound;
    };
    if c.amount.currency != DATAPLUS_CURRENCY {
        return Verdict::Unverifiable(format!(
            "Epoch lists member {member} but states no currency; the charge is in {}",
            c.amount.currency
        ));
    }
    let Some(billed) = scalar(record.get("NextBillAmount")) else {
        return Verdict::Unverifiable(format!(
            "Epoch lists member {member} but states no amount: check the charge in Epoch's console"
        ));
    };
    if parse_padded_amount(&billed).is_ok_and(|a| a == c.amount.amount) {
        Verdict::Confirmed(format!("Epoch: member {member} billed {billed} USD"))
    } else {
        Verdict::Denied(format!(
            "Epoch bills member {member} {billed} USD, not {}",
            c.amount.decimal()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            enabled: true,
            account: Some("abc".into()),
            sub_account: Some("12345".into()),
            allow_ips: vec!["208.236.105.0/24".into()],
            ..Default::default()
        }
    }

    fn post(body: &str, ip: &str) -> Inbound {
        Inbound {
            method: "POST".into(),
            body: body.as_bytes().to_vec(),
            source_ip: ip.parse().ok(),
            ..Default::default()
        }
    }

    #[test]
    fn dataplus_letters() {
        let row = |t: &str| {
            Epoch
                .parse(&post(
                    &format!("ets_transaction_id=900&ets_member_idx=55&ets_transaction_type={t}&ets_transaction_amount=-9.99&ets_ref_trans_ids=800&ets_transaction_date=2026-01-02+03%3A04%3A05&x_fanz_ref=chk_3"),
                    "",
                ))
                .map(|v| v[0].clone())
        };
        assert_eq!(row("I").unwrap().kind, EventKind::SaleApproved);
        assert_eq!(row("N").unwrap().kind, EventKind::RenewalApproved);
        let credit = row("C").unwrap();
        assert_eq!(credit.kind, EventKind::Refund);
        assert_eq!(credit.transaction.as_deref(), Some("800"));
        assert_eq!(credit.amount, Some(Money::new(999, "USD")));
        assert_eq!(credit.reference.as_deref(), Some("chk_3"));
        assert_eq!(credit.occurred_at, Some(1_767_323_045_000_000));
        assert_eq!(row("D").unwrap().kind, EventKind::Chargeback);
        assert!(matches!(row("Q"), Err(ParseError::UnknownEvent(_))));
    }

    #[test]
    fn join_postback() {
        let e = &Epoch
            .parse(&post(
                "ans=YGOODTEST%7C123&member_id=55&transaction_id=123&amount=9.99&currency=USD&x_fanz_ref=chk_1&co_code=abc",
                "",
            ))
            .unwrap()[0];
        assert_eq!(e.kind, EventKind::SaleApproved);
        assert_eq!(e.external_id, "123");
        assert_eq!(e.subscription.as_deref(), Some("55"));
        let d = &Epoch
            .parse(&post("ans=NDECLINED&trans_id=124", ""))
            .unwrap()[0];
        assert_eq!(d.kind, EventKind::SaleDeclined);
        assert!(Epoch.parse(&post("foo=bar", "")).is_err());
    }

    #[test]
    fn verify_checks_address_and_company() {
        let ok = post("ets_co_code=abc&ets_transaction_type=N", "208.236.105.10");
        Epoch.verify(&settings(), &ok).unwrap();
        assert!(matches!(
            Epoch.verify(&settings(), &post("ets_co_code=abc", "203.0.113.1")),
            Err(VerifyError::AddressNotAllowed(_))
        ));
        assert!(matches!(
            Epoch.verify(&settings(), &post("ets_co_code=xyz", "208.236.105.10")),
            Err(VerifyError::WrongAccount(_))
        ));
        let mut open = settings();
        open.allow_ips.clear();
        assert_eq!(Epoch.verify(&open, &ok), Err(VerifyError::NotConfigured));
    }

    #[test]
    fn join_url() {
        let c = CheckoutStart {
            reference: "chk_1".into(),
            price: Money::new(999, "USD"),
            recurring: None,
            description: "x".into(),
            return_url: "https://fanz.example/done".into(),
            cancel_url: String::new(),
            email: None,
        };
        let Start::Redirect(url) = Epoch.start_checkout(&settings(), &c).unwrap() else {
            panic!()
        };
        assert_eq!(
            url,
            "https://wnu.com/secure/fpost.cgi?co_code=abc&pi_code=12345&pi_returnurl=https%3A%2F%2Ffanz.example%2Fdone&response_post=1&x_fanz_ref=chk_1"
        );
    }

    #[test]
    fn confirm_is_a_member_search() {
        let charge = |member: Option<&str>, amount: i64, currency: &str| ToConfirm {
            transaction: "123".into(),
            subscription: member.map(str::to_owned),
            renewal: false,
            amount: Money::new(amount, currency),
        };
        let q = ConfirmQuery {
            from: 0,
            to: 0,
            charges: vec![
                charge(Some("55"), 999, "USD"),
                charge(Some("55"), 400, "USD"),
                charge(Some("55"), 999, "EUR"),
                charge(Some("56"), 999, "USD"),
                charge(Some("57"), 999, "USD"),
                charge(None, 999, "USD"),
            ],
        };
        assert_eq!(Epoch.confirm_by(), ConfirmBy::Subscription);
        assert!(Epoch.confirms(&settings()).is_err());
        let s = Settings {
            api_user: Some("eu".into()),
            api_key: Some("ep&1".into()),
            ..settings()
        };
        Epoch.confirms(&s).unwrap();
        assert_eq!(
            Epoch.confirm_call(&s, &q).unwrap().url,
            "https://epoch.com/services/customer_search/index.json?api_action=search&auth_user=eu&auth_pass=ep%261&member_id=55"
        );
        let answer = r#"{"Data": [
            {"Customer": {"MemberId": 55, "NextBillDate": "2026-02-01", "NextBillAmount": "9.99"}},
            {"Customer": {"MemberId": "56", "PasswordRemovalDate": "2026-02-01"}}
        ]}"#;
        let v = Epoch.confirm_answer(&q, 200, answer).unwrap();
        let says =
            |v: &Verdict, kind: &str, text: &str| v.parts().0 == kind && v.parts().1.contains(text);
        assert!(says(&v[0], "confirmed", "member 55"), "{v:?}");
        assert!(says(&v[1], "denied", "9.99 USD, not 4.00"), "{v:?}");
        assert!(says(&v[2], "unverifiable", "EUR"), "{v:?}");
        assert!(says(&v[3], "unverifiable", "no amount"), "{v:?}");
        assert_eq!(v[4], Verdict::NotFound);
        assert!(matches!(&v[5], Verdict::Unverifiable(_)));
        assert!(Epoch
            .confirm_answer(&q, 200, "{}")
            .unwrap()
            .iter()
            .all(|v| !matches!(v, Verdict::Confirmed(_) | Verdict::Denied(_))));
        assert!(matches!(
            Epoch.confirm_answer(&q, 200, r#"{"ErrorResponse": "Invalid credentials"}"#),
            Err(ApiError::Refused(e)) if e.contains("Invalid credentials")
        ));
        assert!(matches!(
            Epoch.confirm_answer(&q, 200, "<html>"),
            Err(ApiError::Refused(_))
        ));
        assert!(Epoch.confirm_answer(&q, 502, "").unwrap_err().retryable());
    }
}

//! Segpay: hosted payment page (dynamic pricing) and postbacks.
//!
//! **Postbacks** (gethelp.segpay.com …/07-PostbackParameters.htm, …/ManagePostbacks.htm):
//! Segpay calls a URL the merchant configures per postback type, filling `<placeholder>`s
//! with values; usually a GET with everything on the query string, a POST form also works
//! here. Member-management postbacks carry `action` = `Probe` (inquiry), `Enable`, `Disable`,
//! `Cancel`, `Reactivation`; transaction postbacks (TransPost) carry `action` = `Auth` or
//! `Void`, with `stage` (`Initial`, `Conversion` = first rebill, `Rebill`,
//! `Instantconversion`) and `approved` (`Yes`/`No`). Parameter names are matched
//! case-insensitively (Segpay's docs write `<Action>` and `<action>`).
//!
//! The postback URL operators configure (docs/payments.md) is:
//!
//! ```text
//! https://…/payments/segpay/notify?action=<action>&stage=<stage>&approved=<approved>
//!   &trantype=<trantype>&purchaseid=<purchaseid>&tranid=<tranid>&transguid=<transguid>
//!   &price=<price>&currencycode=<currencycode>&eticketid=<eticketid>&transtime=<transtime>
//!   &relatedtranid=<relatedtranid>&merchantid=<merchantid>&x-fanz_ref=<extra x-fanz_ref>
//! ```
//!
//! **Authenticity**: Segpay signs nothing. A postback counts as Segpay's when its source
//! address is in [`Settings::allow_ips`] (Segpay's list comes from the SRS call
//! `GetPostbackIPList`; an empty list refuses everything), and, when [`Settings::account`] is
//! set, a `merchantid` parameter, if the postback carries one, equals it; when
//! [`Settings::sub_account`] is set, an `eticketid` parameter, if present, must name the same
//! package (the part before `:`).
//!
//! **Unverified**: the values of `<trantype>`. Segpay's public pages list the parameter but
//! not its values; this driver treats a `trantype` containing `chargeback` as a chargeback and
//! one containing `refund` or `credit` as a refund (of `relatedtranid`), and anything else
//! (`sale`, `charge`, empty) as an ordinary charge decided by `action`/`stage`/`approved`.
//!
//! **Checkout**: the dynamic-pricing join link (gethelp.segpay.com …/DynamicPricing.htm,
//! segpay.happyfox.com kb 34): `https://secure2.segpay.com/billing/poset.cgi?x-eticketid=
//! PACKAGE:PRICEPOINT&amount=19.95&dynamicdesc=…` plus our `x-fanz_ref` passthrough
//! (`x-` parameters come back in postbacks, kb 32). Segpay requires a hash of the price on the
//! link, `dynamicpricingid` (its current page) or `dynamictrans` (its older knowledge base),
//! which only Segpay's SRS can make (`MerchantServices/DynamicPricing/?merchantId=…&amount=…`):
//! the checkout is a [`Start::CallThenRedirect`], the payments crate makes the call and
//! appends the answer ([`Processor::checkout_value_from`]). Currency is the price point's own
//! ("no need to specify currency", kb 34). Dynamic *recurring* billing needs another SRS call
//! and is refused here.

use crate::*;

/// The Segpay driver.
pub struct Segpay;

/// The hosted payment page.
pub const JOIN_URL: &str = "https://secure2.segpay.com/billing/poset.cgi";

/// Our reference's passthrough parameter on the join link and in postbacks.
pub const REFERENCE_FIELD: &str = "x-fanz_ref";

/// The join link's parameter for the dynamic-pricing hash ([`Settings::pricing_hash_param`]),
/// or `None` when the link goes without one.
fn pricing_hash_param(s: &Settings) -> Result<Option<&'static str>, StartError> {
    let chosen = s
        .pricing_hash_param
        .as_deref()
        .map(|p| p.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "dynamicpricingid".into());
    match chosen.as_str() {
        "dynamicpricingid" => Ok(Some("dynamicpricingid")),
        "dynamictrans" => Ok(Some("dynamictrans")),
        "none" => Ok(None),
        _ => Err(StartError::NotConfigured(
            "pricing_hash_param must be dynamicpricingid, dynamictrans or none",
        )),
    }
}

/// The SRS request for the dynamic-pricing hash of `price` (gethelp.segpay.com
/// …/MPFeatures/DynamicPricing.htm, "Secure Hash Generation"):
/// `GET https://srs.segpay.com/MerchantServices/DynamicPricing/?merchantId=…&amount=120.00`.
pub fn pricing_hash_call(api: &str, merchant: &str, price: &Money) -> OutboundCall {
    OutboundCall::get(
        &format!(
            "{}/MerchantServices/DynamicPricing/",
            api.trim_end_matches('/')
        ),
        &[
            ("merchantId", merchant.to_owned()),
            ("amount", price.decimal()),
        ],
    )
}

/// All parameters, query string first then a form body, keys lower-cased.
fn pairs(n: &Inbound) -> Vec<(String, String)> {
    let mut v = n.query_pairs();
    v.extend(n.form_pairs());
    for (k, _) in v.iter_mut() {
        k.make_ascii_lowercase();
    }
    v
}

fn get<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
    param(p, key).map(str::trim).filter(|v| !v.is_empty())
}

impl Processor for Segpay {
    fn name(&self) -> &'static str {
        "segpay"
    }

    fn label(&self) -> &'static str {
        "Card (Segpay)"
    }

    fn configured(&self, s: &Settings) -> bool {
        s.enabled
            && s.sub_account
                .as_deref()
                .is_some_and(|x| !x.trim().is_empty())
            && !s.allow_ips.is_empty()
    }

    fn verify(&self, s: &Settings, n: &Inbound) -> Result<(), VerifyError> {
        if s.allow_ips.is_empty() {
            return Err(VerifyError::NotConfigured);
        }
        if !s.ip_allowed(n.source_ip) {
            return Err(VerifyError::AddressNotAllowed(
                n.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            ));
        }
        let p = pairs(n);
        if let Some(account) = s.account.as_deref().filter(|a| !a.trim().is_empty()) {
            for (k, v) in &p {
                if k == "merchantid" && v.trim() != account.trim() {
                    return Err(VerifyError::WrongAccount(v.chars().take(32).collect()));
                }
            }
        }
        if let Some(sub) = s.sub_account.as_deref().filter(|a| !a.trim().is_empty()) {
            let package = |x: &str| x.trim().split(':').next().unwrap_or("").trim().to_owned();
            for (k, v) in &p {
                if k == "eticketid" && package(v) != package(sub) {
                    return Err(VerifyError::WrongAccount(v.chars().take(32).collect()));
                }
            }
        }
        Ok(())
    }

    fn parse(&self, n: &Inbound) -> Result<Vec<Event>, ParseError> {
        use EventKind as K;
        bounded(n)?;
        let p = pairs(n);
        let action = get(&p, "action")
            .ok_or(ParseError::Missing("action"))?
            .to_ascii_lowercase();
        let trantype = get(&p, "trantype").unwrap_or("").to_ascii_lowercase();
        let approved = get(&p, "approved").map(|a| a.eq_ignore_ascii_case("yes"));
        let stage = get(&p, "stage").unwrap_or("").to_ascii_lowercase();

        let kind = match action.as_str() {
            "probe" | "inquiry" | "query" | "enable" => return Ok(Vec::new()),
            "cancel" | "cancellation" => K::Cancelled,
            "reactivation" | "reactivate" => K::Reactivated,
            "disable" => K::Expired,
            "void" => K::Void,
            "auth" if trantype.contains("chargeback") => K::Chargeback,
            "auth" if trantype.contains("refund") || trantype.contains("credit") => K::Refund,
            "auth" => {
                let approved = approved.ok_or(ParseError::Missing("approved"))?;
                let first = match stage.as_str() {
                    "initial" => true,
                    "conversion" | "rebill" | "instantconversion" => false,
                    "" => return Err(ParseError::Missing("stage")),
                    other => {
                        return Err(ParseError::Field(
                            "stage",
                            format!(
                                "{:?} is not one we know",
                                other.chars().take(32).collect::<String>()
                            ),
                        ))
                    }
                };
                match (first, approved) {
                    (true, true) => K::SaleApproved,
                    (true, false) => K::SaleDeclined,
                    (false, true) => K::RenewalApproved,
                    (false, false) => K::RenewalFailed,
                }
            }
            other => return Err(ParseError::UnknownEvent(other.chars().take(64).collect())),
        };

        let tranid = get(&p, "tranid").map(|t| ident("tranid", t)).transpose()?;
        let transguid = get(&p, "transguid")
            .map(|t| ident("transguid", t))
            .transpose()?;
        let purchase = get(&p, "purchaseid")
            .map(|t| ident("purchaseid", t))
            .transpose()?;
        let related = get(&p, "relatedtranid")
            .map(|t| ident("relatedtranid", t))
            .transpose()?;
        let transtime = get(&p, "transtime");

        let external_id = match (&tranid, &transguid, &purchase) {
            (Some(t), _, _) | (None, Some(t), _) => t.clone(),
            (None, None, Some(pid)) => match transtime {
                Some(t) => format!("{pid}:{}", ident("transtime", t)?),
                None => pid.clone(),
            },
            (None, None, None) => return Err(ParseError::Missing("tranid")),
        };
        let mut e = Event::new(kind, external_id);
        e.subscription = purchase;
        e.transaction = match kind {
            K::Void | K::Refund | K::Chargeback => related.or(tranid),
            _ => tranid,
        };
        e.reference = get(&p, REFERENCE_FIELD)
            .or_else(|| get(&p, "fanz_ref"))
            .or_else(|| get(&p, "x_fanz_ref"))
            .map(|r| ident(REFERENCE_FIELD, r))
            .transpose()?;
        if let (Some(a), Some(c)) = (get(&p, "price"), get(&p, "currencycode")) {
            e.amount = Some(money(a, c)?);
        }
        e.occurred_at = transtime.and_then(parse_time);
        if matches!(kind, K::Chargeback | K::Refund) && !trantype.is_empty() {
            e.reason = Some(trantype.chars().take(64).collect());
        }
        Ok(vec![e])
    }

    fn start_checkout(&self, s: &Settings, c: &CheckoutStart) -> Result<Start, StartError> {
        let eticket = s
            .sub_account
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .ok_or(StartError::NotConfigured(
                "Segpay needs sub_account (PACKAGE:PRICEPOINT of the dynamic price point)",
            ))?;
        if c.recurring.is_some() {
            return Err(StartError::Unsupported(
                "Segpay dynamic recurring billing needs an SRS call per offer".into(),
            ));
        }
        if c.price.amount <= 0 {
            return Err(StartError::Unsupported("a free charge".into()));
        }
        let base = s
            .checkout_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .filter(|u| !u.is_empty())
            .unwrap_or(JOIN_URL);
        let desc: String = c.description.chars().take(100).collect();
        let params: Vec<(&str, String)> = vec![
            ("x-eticketid", eticket.to_owned()),
            ("amount", c.price.decimal()),
            ("dynamicdesc", desc),
            (REFERENCE_FIELD, c.reference.clone()),
        ];
        let mut params = params;
        if let Some(email) = &c.email {
            // Prefills the payment form (kb 32: x-billemail).
            params.push(("x-billemail", email.clone()));
        }
        let url = url_with(base, &params);
        let Some(param) = pricing_hash_param(s)? else {
            return Ok(Start::Redirect(url));
        };
        let merchant = s
            .account
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .ok_or(StartError::NotConfigured(
                "Segpay dynamic pricing needs account (the merchant id SRS hashes the price for)",
            ))?;
        Ok(Start::CallThenRedirect {
            call: pricing_hash_call(api_base(s, SRS_URL), merchant, &c.price),
            url,
            param: param.to_owned(),
        })
    }

    /// Segpay's SRS answers the hash as text (an ASMX `<string>` envelope or bare); it must
    /// look like one (1–512 characters of base64 or URL-safe text) and not be an error.
    fn checkout_value_from(&self, status: u16, response: &str) -> Result<String, ParseError> {
        let text = srs_text(response);
        if !(200..300).contains(&status) {
            return Err(ParseError::Field(
                "dynamic pricing",
                format!("Segpay answered {status}: {text}"),
            ));
        }
        let lower = text.to_ascii_lowercase();
        let looks_like_a_hash = !text.is_empty()
            && text.len() <= 512
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=-_.~%".contains(&b))
            && !["error", "invalid", "fail", "missing", "denied"]
                .iter()
                .any(|w| lower.contains(w));
        if !looks_like_a_hash {
            return Err(ParseError::Field(
                "dynamic pricing",
                format!("Segpay's answer is not a price hash: {text}"),
            ));
        }
        Ok(text)
    }

    fn cancels_by_api(&self) -> bool {
        true
    }

    fn refunds_by_api(&self) -> bool {
        true
    }

    /// Segpay's SRS web service (`https://srs.segpay.com/ADM.asmx/…`, GET): `CancelMembership`
    /// (`Userid`, `UserAccessKey`, `PurchaseID`, `CancelReason`) and `RefundTransaction`
    /// (`Userid`, `UserAccessKey`, `TransID`, `RefundReason`). CancelMembership is as Segpay's
    /// own page has it (gethelp.segpay.com …/SRS-ConsumerSupport.htm; ASMX parameter names
    /// are not case-sensitive, the page writes both `Userid` and `UserID`); RefundTransaction's
    /// parameters are from a public client (stojankukrika/segpay-payments): **unverified**.
    /// SRS refunds a whole transaction, so partial refunds are refused here.
    fn api_call(&self, s: &Settings, op: &ApiOp) -> Result<OutboundCall, ApiError> {
        let (user, key) = srs_login(s)?;
        let base = api_base(s, SRS_URL);
        let (method, params): (&str, Vec<(&str, String)>) = match op {
            ApiOp::Cancel { subscription } => (
                "CancelMembership",
                vec![
                    ("Userid", user.to_owned()),
                    ("UserAccessKey", key.to_owned()),
                    ("PurchaseID", subscription.clone()),
                    ("CancelReason", "Cancelled by the member".to_owned()),
                ],
            ),
            ApiOp::Refund {
                transaction,
                partial,
                ..
            } => {
                if *partial {
                    return Err(ApiError::Unsupported(
                        "Segpay refunds whole transactions only; refund a part in its console",
                    ));
                }
                (
                    "RefundTransaction",
                    vec![
                        ("Userid", user.to_owned()),
                        ("UserAccessKey", key.to_owned()),
                        ("TransID", transaction.clone()),
                        ("RefundReason", "Refunded by the merchant".to_owned()),
                    ],
                )
            }
        };
        Ok(OutboundCall::get(
            &format!("{base}/ADM.asmx/{method}"),
            &params,
        ))
    }

    /// A 2xx answer counts as done unless its text says it failed (`fail`, `error`,
    /// `invalid`, `denied`, `not found`, `mismatch`, `missing`: Segpay's page lists
    /// `Successful`, `Subscription not active, cancel failed`, `PurchaseID/MerchantID
    /// Mismatch`, `Invalid Merchant`, `Missing Parameter` for CancelMembership; the refund's
    /// answers are not public);
    /// the answer is kept for finance, and Segpay's Cancel postback or refund TransPost
    /// confirms it in the books.
    fn api_answer(&self, _op: &ApiOp, status: u16, body: &str) -> Result<ApiDone, ApiError> {
        api_status(status, body)?;
        let text = srs_text(body);
        let lower = text.to_ascii_lowercase();
        if [
            "fail",
            "error",
            "invalid",
            "denied",
            "not found",
            "mismatch",
            "missing",
        ]
        .iter()
        .any(|w| lower.contains(w))
        {
            return Err(ApiError::Refused(text));
        }
        Ok(ApiDone {
            reference: None,
            detail: text,
        })
    }

    fn confirm_by(&self) -> ConfirmBy {
        ConfirmBy::Subscription
    }

    fn confirms(&self, s: &Settings) -> Result<(), ApiError> {
        srs_login(s).map(|_| ())
    }

    /// SRS "Transactions by PurchaseID" (gethelp.segpay.com …/MPFeatures/SRS-Transactions.htm):
    /// `GET https://srs.segpay.com/MWS.asmx/TransactionByPurchaseID?UserID=…&UserAccessKey=…&PurchaseID=…`,
    /// every transaction of the purchase (the sale, its rebills, refunds, chargebacks).
    fn confirm_call(&self, s: &Settings, q: &ConfirmQuery) -> Result<OutboundCall, ApiError> {
        let (user, key) = srs_login(s)?;
        let purchase = q.subscription("a Segpay lookup needs the charge's purchase id")?;
        Ok(OutboundCall::get(
            &format!("{}/MWS.asmx/TransactionByPurchaseID", api_base(s, SRS_URL)),
            &[
                ("UserID", user.to_owned()),
                ("UserAccessKey", key.to_owned()),
                ("PurchaseID", purchase.to_owned()),
            ],
        ))
    }

    /// The answer is an ASMX DataSet: one `<Data …>` element per transaction with `TransID`,
    /// `RelatedTransID`, `Type` (`Sale`, refund, chargeback, void), `Auth` (`Yes`/`No`),
    /// `TransAmount` (four decimals: `2.9500`), `Currency` and `PurchaseID` (Segpay's example on
    /// the page above). A charge is confirmed when Segpay lists its transaction as an approved
    /// sale of the same amount and currency that nothing reverses; denied when the type,
    /// approval, amount or currency differ, or when a refund, chargeback or void names it.
    /// An answer with no DataSet is a refusal (its text, e.g. `Invalid Merchant`, is kept).
    fn confirm_answer(
        &self,
        q: &ConfirmQuery,
        status: u16,
        body: &str,
    ) -> Result<Vec<Verdict>, ApiError> {
        api_status(status, body)?;
        let rows = srs_rows(body);
        if rows.is_empty() && !(body.contains("diffgram") || body.contains("DataSet")) {
            let text = srs_text(body);
            return Err(ApiError::Refused(if text.is_empty() {
                "Segpay answered nothing".into()
            } else {
                format!("Segpay: {text}")
            }));
        }
        Ok(q.charges.iter().map(|c| srs_verdict(c, &rows)).collect())
    }
}

/// Segpay's SRS web service.
pub const SRS_URL: &str = "https://srs.segpay.com";

/// The SRS user id and access key ([`Settings::api_user`], [`Settings::api_key`]).
fn srs_login(s: &Settings) -> Result<(&str, &str), ApiError> {
    api_login(
        s,
        "Segpay needs api_user (SRS UserID)",
        "Segpay needs api_key (SRS UserAccessKey)",
    )
}

/// The text of an SRS answer: an ASMX `<string …>text</string>` envelope's content, else the
/// body; trimmed to 300 characters.
fn srs_text(body: &str) -> String {
    let b = body.trim();
    let inner = b
        .find("<string")
        .and_then(|i| b[i..].find('>').map(|j| &b[i + j + 1..]))
        .and_then(|rest| rest.find("</string>").map(|k| &rest[..k]))
        .unwrap_or(b);
    inner.trim().chars().take(300).collect()
}

/// One `<Data>` row of an SRS report: its fields by name (entities decoded).
type SrsRow = Vec<(String, String)>;

/// The `<Data …>…</Data>` rows of an SRS DataSet answer.
fn srs_rows(body: &str) -> Vec<SrsRow> {
    let mut rows = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("<Data") {
        let after = &rest[i + 5..];
        // `<Data>` or `<Data attr…>`, not `<DataSet`.
        if !after.starts_with(['>', ' ', '\n', '\r', '\t']) {
            rest = after;
            continue;
        }
        let Some(open_end) = after.find('>') else {
            break;
        };
        let inner_start = &after[open_end + 1..];
        let Some(close) = inner_start.find("</Data>") else {
            break;
        };
        rows.push(srs_fields(&inner_start[..close]));
        rest = &inner_start[close + 7..];
    }
    rows
}

/// The simple elements of a row: `<Name>text</Name>` and `<Name/>`.
fn srs_fields(row: &str) -> SrsRow {
    let mut out = Vec::new();
    let mut rest = row;
    while let Some(i) = rest.find('<') {
        let tag_end = match rest[i..].find('>') {
            Some(j) => i + j,
            None => break,
        };
        let tag = &rest[i + 1..tag_end];
        if let Some(name) = tag.strip_suffix('/') {
            out.push((name.trim().to_owned(), String::new()));
            rest = &rest[tag_end + 1..];
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or("");
        if name.is_empty() || name.starts_with('/') {
            rest = &rest[tag_end + 1..];
            continue;
        }
        let body = &rest[tag_end + 1..];
        let close = format!("</{name}>");
        match body.find(&close) {
            Some(k) => {
                out.push((name.to_owned(), xml_text(&body[..k])));
                rest = &body[k + close.len()..];
            }
            None => rest = body,
        }
    }
    out
}

/// XML character data with the five predefined entities decoded.
fn xml_text(s: &str) -> String {
    s.trim()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn srs_field<'a>(row: &'a SrsRow, name: &str) -> &'a str {
    row.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// What the purchase's transactions say of one charge.
fn srs_verdict(c: &ToConfirm, rows: &[SrsRow]) -> Verdict {
    let id = c.transaction.as_str();
    let Some(row) = rows.iter().find(|r| srs_field(r, "TransID") == id) else {
        return Verdict::NotFound;
    };
    if let Some(p) = c.subscription.as_deref() {
        let theirs = srs_field(row, "PurchaseID");
        if !theirs.is_empty() && theirs != p {
            return Verdict::Denied(format!(
                "Segpay reports transaction {id} under purchase {theirs}, not {p}"
            ));
        }
    }
    let kind = srs_field(row, "Type");
    if !kind.eq_ignore_ascii_case("sale") {
        return Verdict::Denied(format!(
            "Segpay reports transaction {id} as {kind:?}, not a sale"
        ));
    }
    if !srs_field(row, "Auth").eq_ignore_ascii_case("yes") {
        return Verdict::Denied(format!(
            "Segpay reports transaction {id} not approved ({})",
            srs_field(row, "AuthCode")
        ));
    }
    let amount = srs_field(row, "TransAmount");
    let currency = srs_field(row, "Currency");
    let same_amount = parse_padded_amount(amount).is_ok_and(|a| a == c.amount.amount);
    if !same_amount || !currency.eq_ignore_ascii_case(&c.amount.currency) {
        return Verdict::Denied(format!(
            "Segpay reports transaction {id} for {amount} {currency}, not {} {}",
            c.amount.decimal(),
            c.amount.currency
        ));
    }
    if let Some(undo) = rows.iter().find(|r| {
        srs_field(r, "RelatedTransID") == id && !srs_field(r, "Type").eq_ignore_ascii_case("sale")
    }) {
        return Verdict::Denied(format!(
            "Segpay reports transaction {id} undone: {} {}",
            srs_field(undo, "Type"),
            srs_field(undo, "TransID")
        ));
    }
    Verdict::Confirmed(format!("Segpay: sale {id} of {amount} {currency} approved"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            enabled: true,
            account: Some("1234".into()),
            sub_account: Some("110530:3773".into()),
            allow_ips: vec!["192.0.2.0/24".into()],
            ..Default::default()
        }
    }

    fn get_req(query: &str, ip: &str) -> Inbound {
        Inbound {
            method: "GET".into(),
            query: query.into(),
            source_ip: ip.parse().ok(),
            ..Default::default()
        }
    }

    #[test]
    fn transpost_stages() {
        let base =
            "action=Auth&tranid=100&purchaseid=P1&price=19.95&currencycode=USD&x-fanz_ref=chk_9";
        let kind = |extra: &str| {
            Segpay
                .parse(&get_req(&format!("{base}&{extra}"), ""))
                .unwrap()[0]
                .kind
        };
        assert_eq!(kind("stage=Initial&approved=Yes"), EventKind::SaleApproved);
        assert_eq!(kind("stage=Initial&approved=No"), EventKind::SaleDeclined);
        assert_eq!(
            kind("stage=Conversion&approved=Yes"),
            EventKind::RenewalApproved
        );
        assert_eq!(
            kind("stage=Rebill&approved=Yes"),
            EventKind::RenewalApproved
        );
        assert_eq!(kind("stage=Rebill&approved=No"), EventKind::RenewalFailed);
        assert_eq!(
            kind("stage=Initial&approved=Yes&trantype=Credit"),
            EventKind::Refund
        );
        assert_eq!(
            kind("stage=Initial&approved=Yes&trantype=Chargeback"),
            EventKind::Chargeback
        );
        let e = &Segpay
            .parse(&get_req(&format!("{base}&stage=Initial&approved=Yes"), ""))
            .unwrap()[0];
        assert_eq!(e.reference.as_deref(), Some("chk_9"));
        assert_eq!(e.amount, Some(Money::new(1995, "USD")));
        assert_eq!(e.external_id, "100");
        assert_eq!(e.subscription.as_deref(), Some("P1"));
    }

    #[test]
    fn member_postbacks() {
        let p = |q: &str| Segpay.parse(&get_req(q, ""));
        assert!(p("action=Enable&purchaseid=P1").unwrap().is_empty());
        assert!(p("action=Probe&username=x").unwrap().is_empty());
        let e = &p("action=Cancel&purchaseid=P1&transtime=2026-01-02+03:04:05").unwrap()[0];
        assert_eq!(e.kind, EventKind::Cancelled);
        assert_eq!(e.external_id, "P1:2026-01-02 03:04:05");
        assert_eq!(
            p("action=Disable&purchaseid=P1").unwrap()[0].kind,
            EventKind::Expired
        );
        assert_eq!(
            p("action=Reactivation&purchaseid=P1").unwrap()[0].kind,
            EventKind::Reactivated
        );
        let v = &p("action=Void&tranid=200&relatedtranid=100&purchaseid=P1").unwrap()[0];
        assert_eq!(
            (v.kind, v.transaction.as_deref()),
            (EventKind::Void, Some("100"))
        );
        assert!(matches!(
            p("action=Nope&tranid=1"),
            Err(ParseError::UnknownEvent(_))
        ));
    }

    #[test]
    fn verify_checks_address_merchant_and_package() {
        let ok = get_req(
            "action=Auth&merchantid=1234&eticketid=110530:3773",
            "192.0.2.9",
        );
        Segpay.verify(&settings(), &ok).unwrap();
        let outside = get_req("action=Auth", "198.51.100.1");
        assert!(matches!(
            Segpay.verify(&settings(), &outside),
            Err(VerifyError::AddressNotAllowed(_))
        ));
        let wrong = get_req("action=Auth&merchantid=999", "192.0.2.9");
        assert!(matches!(
            Segpay.verify(&settings(), &wrong),
            Err(VerifyError::WrongAccount(_))
        ));
        let wrong_pkg = get_req("action=Auth&eticketid=1:3773", "192.0.2.9");
        assert!(matches!(
            Segpay.verify(&settings(), &wrong_pkg),
            Err(VerifyError::WrongAccount(_))
        ));
        let mut open = settings();
        open.allow_ips.clear();
        assert_eq!(Segpay.verify(&open, &ok), Err(VerifyError::NotConfigured));
    }

    #[test]
    fn join_link() {
        let c = CheckoutStart {
            reference: "chk_1".into(),
            price: Money::new(1995, "USD"),
            recurring: None,
            description: "A video".into(),
            return_url: String::new(),
            cancel_url: String::new(),
            email: None,
        };
        let joined = "https://secure2.segpay.com/billing/poset.cgi?x-eticketid=110530%3A3773&amount=19.95&dynamicdesc=A+video&x-fanz_ref=chk_1";
        // Segpay's example (DynamicPricing.htm): package 110530, price point 3773, 19.95, and
        // the hash SRS answered, gX35hP2NARVWRDtv95vWWymKqcY=.
        let Start::CallThenRedirect { call, url, param } =
            Segpay.start_checkout(&settings(), &c).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            call.url,
            "https://srs.segpay.com/MerchantServices/DynamicPricing/?merchantId=1234&amount=19.95"
        );
        assert_eq!(call.method, "GET");
        assert_eq!((url.as_str(), param.as_str()), (joined, "dynamicpricingid"));
        for answer in [
            "gX35hP2NARVWRDtv95vWWymKqcY=",
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<string xmlns=\"http://srs.segpay.com/\">gX35hP2NARVWRDtv95vWWymKqcY=</string>",
        ] {
            let hash = Segpay.checkout_value_from(200, answer).unwrap();
            assert_eq!(
                url_with(&url, &[(param.as_str(), hash)]),
                format!("{joined}&dynamicpricingid=gX35hP2NARVWRDtv95vWWymKqcY%3D")
            );
        }
        for bad in [
            "",
            "<string>Invalid Merchant</string>",
            "Error",
            "two words",
        ] {
            assert!(Segpay.checkout_value_from(200, bad).is_err(), "{bad:?}");
        }
        assert!(Segpay
            .checkout_value_from(500, "gX35hP2NARVWRDtv95vWWymKqcY=")
            .is_err());
        // The older knowledge base's parameter; and a price point set up without a hash.
        let older = Settings {
            pricing_hash_param: Some("dynamictrans".into()),
            ..settings()
        };
        let Start::CallThenRedirect { param, .. } = Segpay.start_checkout(&older, &c).unwrap()
        else {
            panic!()
        };
        assert_eq!(param, "dynamictrans");
        let plain = Settings {
            pricing_hash_param: Some("none".into()),
            ..settings()
        };
        assert_eq!(
            Segpay.start_checkout(&plain, &c).unwrap(),
            Start::Redirect(joined.into())
        );
        let nobody = Settings {
            account: None,
            ..settings()
        };
        assert!(matches!(
            Segpay.start_checkout(&nobody, &c),
            Err(StartError::NotConfigured(_))
        ));
        let typo = Settings {
            pricing_hash_param: Some("dynamicprice".into()),
            ..settings()
        };
        assert!(typo.check().is_err());
        assert!(Segpay.start_checkout(&typo, &c).is_err());
    }

    #[test]
    fn srs_cancel_and_refund_calls() {
        let s = Settings {
            api_user: Some("u1".into()),
            api_key: Some("k&1".into()),
            ..settings()
        };
        let cancel = Segpay
            .api_call(
                &s,
                &ApiOp::Cancel {
                    subscription: "P-77".into(),
                },
            )
            .unwrap();
        assert_eq!(
            cancel.url,
            "https://srs.segpay.com/ADM.asmx/CancelMembership?Userid=u1&UserAccessKey=k%261&PurchaseID=P-77\
             &CancelReason=Cancelled+by+the+member"
        );
        let refund = ApiOp::Refund {
            transaction: "T-9".into(),
            amount: Money::new(999, "USD"),
            partial: false,
        };
        assert_eq!(
            Segpay.api_call(&s, &refund).unwrap().url,
            "https://srs.segpay.com/ADM.asmx/RefundTransaction?Userid=u1&UserAccessKey=k%261&TransID=T-9\
             &RefundReason=Refunded+by+the+merchant"
        );
        let part = ApiOp::Refund {
            transaction: "T-9".into(),
            amount: Money::new(100, "USD"),
            partial: true,
        };
        assert!(matches!(
            Segpay.api_call(&s, &part),
            Err(ApiError::Unsupported(_))
        ));
        assert!(matches!(
            Segpay.api_call(&settings(), &refund),
            Err(ApiError::NotConfigured(_))
        ));
        let ok = Segpay
            .api_answer(
                &refund,
                200,
                "<?xml version=\"1.0\"?><string xmlns=\"http://srs.segpay.com/\">Successful</string>",
            )
            .unwrap();
        assert_eq!(ok.detail, "Successful");
        assert_eq!(
            Segpay.api_answer(&refund, 200, "<string>Transaction not found</string>"),
            Err(ApiError::Refused("Transaction not found".into()))
        );
        assert!(Segpay.api_answer(&refund, 503, "").unwrap_err().retryable());
        let cancel = ApiOp::Cancel {
            subscription: "P-77".into(),
        };
        for refusal in [
            "Subscription not active, cancel failed",
            "PurchaseID/MerchantID Mismatch",
            "Invalid Merchant",
            "Missing Parameter",
        ] {
            assert!(
                matches!(
                    Segpay.api_answer(&cancel, 200, &format!("<string>{refusal}</string>")),
                    Err(ApiError::Refused(_))
                ),
                "{refusal}"
            );
        }
    }

    /// Segpay's own example row (SRS-Transactions.htm) in its DataSet envelope, with a
    /// refund of a second sale.
    const PURCHASE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<DataSet xmlns="http://srs.segpay.com/">
  <xs:schema id="NewDataSet" xmlns:xs="http://www.w3.org/2001/XMLSchema"/>
  <diffgr:diffgram xmlns:msdata="urn:schemas-microsoft-com:xml-msdata" xmlns:diffgr="urn:schemas-microsoft-com:xml-diffgram-v1">
    <NewDataSet xmlns="">
      <Data diffgr:id="Data1" msdata:rowOrder="0">
        <URL>www.segpay.com</URL>
        <TransID>139630889</TransID>
        <RelatedTransID>0</RelatedTransID>
        <TransTime>2023-03-01T00:03:01+00:00</TransTime>
        <Type>Sale</Type>
        <Source>Signup</Source>
        <Auth>Yes</Auth>
        <TransAmount>2.9500</TransAmount>
        <AuthCode>00-Approved CVV:M</AuthCode>
        <Currency>USD</Currency>
        <PurchaseID>83476992</PurchaseID>
        <PurchType>One Time</PurchType>
        <CustName>Jane Segpay</CustName>
        <CustAddress/>
        <PurchStatus>Expired</PurchStatus>
        <InitialAmount>2.9500</InitialAmount>
      </Data>
      <Data diffgr:id="Data2" msdata:rowOrder="1">
        <TransID>139630900</TransID>
        <RelatedTransID>0</RelatedTransID>
        <Type>Sale</Type>
        <Auth>Yes</Auth>
        <TransAmount>9.9900</TransAmount>
        <Currency>USD</Currency>
        <PurchaseID>83476992</PurchaseID>
      </Data>
      <Data diffgr:id="Data3" msdata:rowOrder="2">
        <TransID>139630950</TransID>
        <RelatedTransID>139630900</RelatedTransID>
        <Type>Refund</Type>
        <Auth>Yes</Auth>
        <TransAmount>-9.9900</TransAmount>
        <Currency>USD</Currency>
        <PurchaseID>83476992</PurchaseID>
      </Data>
      <Data diffgr:id="Data4" msdata:rowOrder="3">
        <TransID>139631000</TransID>
        <RelatedTransID>0</RelatedTransID>
        <Type>Sale</Type>
        <Auth>No</Auth>
        <TransAmount>2.9500</TransAmount>
        <AuthCode>05-Do Not Honor</AuthCode>
        <Currency>USD</Currency>
        <PurchaseID>83476992</PurchaseID>
      </Data>
    </NewDataSet>
  </diffgr:diffgram>
</DataSet>"#;

    #[test]
    fn confirm_is_an_srs_purchase_lookup() {
        let charge = |t: &str, amount: i64, currency: &str| ToConfirm {
            transaction: t.into(),
            subscription: Some("83476992".into()),
            renewal: false,
            amount: Money::new(amount, currency),
        };
        let q = ConfirmQuery {
            from: 0,
            to: 0,
            charges: vec![
                charge("139630889", 295, "USD"),
                charge("139630889", 295, "EUR"),
                charge("139630889", 995, "USD"),
                charge("139630900", 999, "USD"),
                charge("139631000", 295, "USD"),
                charge("139639999", 295, "USD"),
                charge("139630950", 999, "USD"),
            ],
        };
        assert_eq!(Segpay.confirm_by(), ConfirmBy::Subscription);
        assert!(matches!(
            Segpay.confirms(&settings()),
            Err(ApiError::NotConfigured(_))
        ));
        let s = Settings {
            api_user: Some("u1".into()),
            api_key: Some("k&1".into()),
            ..settings()
        };
        Segpay.confirms(&s).unwrap();
        assert_eq!(
            Segpay.confirm_call(&s, &q).unwrap().url,
            "https://srs.segpay.com/MWS.asmx/TransactionByPurchaseID?UserID=u1&UserAccessKey=k%261&PurchaseID=83476992"
        );
        let v = Segpay.confirm_answer(&q, 200, PURCHASE).unwrap();
        let says =
            |v: &Verdict, kind: &str, text: &str| v.parts().0 == kind && v.parts().1.contains(text);
        assert!(says(&v[0], "confirmed", "2.9500 USD"), "{v:?}");
        assert!(says(&v[1], "denied", "not 2.95 EUR"), "{v:?}");
        assert!(says(&v[2], "denied", "not 9.95 USD"), "{v:?}");
        assert!(says(&v[3], "denied", "Refund 139630950"), "{v:?}");
        assert!(says(&v[4], "denied", "Do Not Honor"), "{v:?}");
        assert_eq!(v[5], Verdict::NotFound);
        assert!(says(&v[6], "denied", "not a sale"), "{v:?}");
        // An empty DataSet lists nothing yet; an answer without one is a refusal.
        let empty = "<DataSet xmlns=\"http://srs.segpay.com/\"><diffgr:diffgram/></DataSet>";
        assert!(Segpay
            .confirm_answer(&q, 200, empty)
            .unwrap()
            .iter()
            .all(|v| *v == Verdict::NotFound));
        assert_eq!(
            Segpay.confirm_answer(
                &q,
                200,
                "<string xmlns=\"http://srs.segpay.com/\">Invalid Merchant</string>"
            ),
            Err(ApiError::Refused("Segpay: Invalid Merchant".into()))
        );
        assert!(Segpay.confirm_answer(&q, 503, "").unwrap_err().retryable());
        let mut nobody = q.clone();
        nobody.charges[0].subscription = None;
        assert!(Segpay.confirm_call(&s, &nobody).is_err());
    }
}

//! Verotel FlexPay: signed start-order URLs and signed postbacks.
//!
//! **Signature** (verotel/flexpay-php-client `Client.php`, protocol version 4; v3.x used
//! SHA-1 with the same layout): lower-case hex SHA-256 of
//! `secret ":" k1=v1 ":" k2=v2 …` with the parameters sorted by name ([`signature`]). A
//! postback is checked over **every** parameter it carries except `signature`; the legacy
//! SHA-1 form is still accepted ([`signature_sha1`]). `shopID` must be our
//! [`Settings::account`].
//!
//! **Postback** (an HTTP GET; a POST form is read too): `event` is `initial`, `rebill`,
//! `extend`, `downgrade`, `upgrade`, `cancel`, `uncancel`, `expiry`, `credit` or `chargeback`,
//! and absent for a one-off purchase. Fields used: `saleID`, `transactionID`, `referenceID`
//! (our checkout reference), `priceAmount`/`priceCurrency` (or `amount`/`currency`),
//! `nextChargeOn`, `cancelledBy`. The answer is `OK`; a refused postback gets HTTP 500
//! `ERROR - Invalid signature!` as in Verotel's example handler.
//!
//! **Checkout**: `https://secure.verotel.com/startorder?version=4&shopID=…&priceAmount=…
//! &priceCurrency=…&description=…&referenceID=…&type=purchase|subscription…&signature=…`
//! (controlcenter.verotel.com/flexpay-doc); brands (CardBilling, Bill, GayCharge …) have
//! their own hosts, set with [`Settings::checkout_url`].

use crate::*;

/// The Verotel driver.
pub struct Verotel;

/// The default start-order host.
pub const DEFAULT_HOST: &str = "https://secure.verotel.com";

/// FlexPay protocol version sent at checkout.
pub const VERSION: &str = "4";

fn signing_string(secret: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "signature").collect();
    sorted.sort();
    let mut s = String::from(secret);
    for (k, v) in sorted {
        s.push(':');
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

/// FlexPay's signature of `params` (any `signature` among them is left out): lower-case hex
/// SHA-256 of `secret:k1=v1:k2=v2…`, names sorted.
pub fn signature(secret: &str, params: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(signing_string(secret, params).as_bytes()))
}

/// The legacy (protocol 3.x) SHA-1 form of [`signature`].
pub fn signature_sha1(secret: &str, params: &[(String, String)]) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(signing_string(secret, params).as_bytes()))
}

/// All received parameters: the query string, then a form body.
fn pairs(n: &Inbound) -> Vec<(String, String)> {
    let mut v = n.query_pairs();
    v.extend(n.form_pairs());
    v
}

fn get<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
    param(p, key).map(str::trim).filter(|v| !v.is_empty())
}

fn opt_ident(p: &[(String, String)], key: &'static str) -> Result<Option<String>, ParseError> {
    get(p, key).map(|v| ident(key, v)).transpose()
}

/// Short stable digest of a postback's parameters, for events without their own id.
fn digest_of(p: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&(String, String)> = p.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

impl Processor for Verotel {
    /// Notifications carry a signature [`Processor::verify`] checks.
    fn signed(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "verotel"
    }

    fn label(&self) -> &'static str {
        "Card (Verotel)"
    }

    fn configured(&self, s: &Settings) -> bool {
        s.enabled
            && s.account.as_deref().is_some_and(|x| !x.trim().is_empty())
            && s.secret.as_deref().is_some_and(|x| !x.is_empty())
    }

    fn verify(&self, s: &Settings, n: &Inbound) -> Result<(), VerifyError> {
        let secret = s
            .secret
            .as_deref()
            .filter(|x| !x.is_empty())
            .ok_or(VerifyError::NotConfigured)?;
        let shop = s
            .account
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .ok_or(VerifyError::NotConfigured)?;
        let p = pairs(n);
        let got = param(&p, "signature")
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .ok_or(VerifyError::MissingSignature)?;
        let ok = if got.len() == 40 {
            same(&got, &signature_sha1(secret, &p))
        } else {
            same(&got, &signature(secret, &p))
        };
        if !ok {
            return Err(VerifyError::BadSignature);
        }
        let mut shops = p.iter().filter(|(k, _)| k == "shopID").peekable();
        if shops.peek().is_none() {
            return Err(VerifyError::WrongAccount("(no shopID)".into()));
        }
        for (_, v) in shops {
            if v.trim() != shop {
                return Err(VerifyError::WrongAccount(v.chars().take(32).collect()));
            }
        }
        Ok(())
    }

    fn parse(&self, n: &Inbound) -> Result<Vec<Event>, ParseError> {
        use EventKind as K;
        bounded(n)?;
        let p = pairs(n);
        let event = get(&p, "event");
        let kind = match event {
            None => K::SaleApproved,
            Some(ev) => match ev.to_ascii_lowercase().as_str() {
                "initial" => K::SaleApproved,
                "rebill" => K::RenewalApproved,
                "extend" | "downgrade" | "upgrade" => K::Changed,
                "cancel" => K::Cancelled,
                "uncancel" => K::Reactivated,
                "expiry" => K::Expired,
                "credit" => K::Refund,
                "chargeback" => K::Chargeback,
                other => return Err(ParseError::UnknownEvent(other.chars().take(64).collect())),
            },
        };
        let sale = opt_ident(&p, "saleID")?;
        let transaction = opt_ident(&p, "transactionID")?;
        let external_id = match (&sale, &transaction) {
            (Some(s), Some(t)) => format!("{s}:{t}"),
            (None, Some(t)) => t.clone(),
            // Cancel, uncancel, expiry carry no transaction: the sale, the event and a digest
            // of the whole postback, so a re-sent postback is the same event and a later
            // cancel (after an uncancel) a new one.
            (Some(s), None) => format!(
                "{s}:{}:{}",
                event.unwrap_or("purchase").to_ascii_lowercase(),
                digest_of(&p)
            ),
            (None, None) => return Err(ParseError::Missing("saleID")),
        };
        let mut e = Event::new(kind, external_id);
        e.subscription = sale;
        e.transaction = match kind {
            // A credit or chargeback names the transaction it undoes, when it names one.
            K::Refund | K::Chargeback => opt_ident(&p, "parentID")?.or(transaction),
            _ => transaction,
        };
        e.reference = opt_ident(&p, "referenceID")?;
        let amount = match (get(&p, "priceAmount"), get(&p, "priceCurrency")) {
            (Some(a), Some(c)) => Some((a, c)),
            _ => get(&p, "amount").zip(get(&p, "currency")),
        };
        if let Some((a, c)) = amount {
            e.amount = Some(money(a, c)?);
        }
        e.next_renewal_at = get(&p, "nextChargeOn").and_then(parse_time);
        if kind == K::Cancelled {
            e.reason = get(&p, "cancelledBy")
                .map(|c| format!("cancelled by {}", c.chars().take(32).collect::<String>()));
        }
        Ok(vec![e])
    }

    fn reply(&self, outcome: Outcome) -> Reply {
        match outcome {
            Outcome::Accepted => Reply::text(200, "OK"),
            Outcome::Rejected => Reply::text(500, "ERROR - Invalid signature!"),
            Outcome::Failed => Reply::text(500, "ERROR - try again later"),
        }
    }

    fn start_checkout(&self, s: &Settings, c: &CheckoutStart) -> Result<Start, StartError> {
        let secret =
            s.secret
                .as_deref()
                .filter(|x| !x.is_empty())
                .ok_or(StartError::NotConfigured(
                    "Verotel needs secret (the signature key)",
                ))?;
        let shop = s
            .account
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .ok_or(StartError::NotConfigured("Verotel needs account (shopID)"))?;
        if c.price.amount < 0 {
            return Err(StartError::Unsupported("a negative price".into()));
        }
        let desc: String = c.description.chars().take(100).collect();
        let mut params: Vec<(String, String)> = vec![
            ("version".into(), VERSION.into()),
            ("shopID".into(), shop.to_owned()),
            ("description".into(), desc),
            ("referenceID".into(), c.reference.clone()),
        ];
        if !c.return_url.is_empty() {
            params.push(("backURL".into(), c.return_url.clone()));
        }
        if !c.cancel_url.is_empty() {
            params.push(("declineURL".into(), c.cancel_url.clone()));
        }
        match &c.recurring {
            None => {
                if c.price.amount == 0 {
                    return Err(StartError::Unsupported("a free purchase".into()));
                }
                params.push(("type".into(), "purchase".into()));
                params.push(("priceAmount".into(), c.price.decimal()));
                params.push(("priceCurrency".into(), c.price.currency.clone()));
            }
            Some(r) => {
                if r.period_days <= 0 || r.trial_days < 0 {
                    return Err(StartError::Unsupported("a period under a day".into()));
                }
                if r.price.currency != c.price.currency {
                    return Err(StartError::Unsupported("two currencies".into()));
                }
                params.push(("type".into(), "subscription".into()));
                params.push(("subscriptionType".into(), "recurring".into()));
                params.push(("period".into(), format!("P{}D", r.period_days)));
                params.push(("priceAmount".into(), r.price.decimal()));
                params.push(("priceCurrency".into(), r.price.currency.clone()));
                if r.trial_days > 0 || c.price != r.price {
                    let days = if r.trial_days > 0 {
                        r.trial_days
                    } else {
                        r.period_days
                    };
                    params.push(("trialAmount".into(), c.price.decimal()));
                    params.push(("trialPeriod".into(), format!("P{days}D")));
                }
            }
        }
        let sig = signature(secret, &params);
        params.push(("signature".into(), sig));
        let host = s
            .checkout_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/'))
            .filter(|u| !u.is_empty())
            .unwrap_or(DEFAULT_HOST);
        let refs: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        Ok(Start::Redirect(url_with(
            &format!("{host}/startorder"),
            &refs,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Research §2.8: the v3.2 documentation's example and its SHA-256 counterpart.
    #[test]
    fn known_answer_vectors() {
        let p = kv(&[
            ("version", "3.2"),
            ("shopID", "64233"),
            ("priceAmount", "9.99"),
            ("priceCurrency", "USD"),
            ("description", "Super video download"),
            ("type", "purchase"),
            ("custom1", "xxyyzz"),
        ]);
        let key = "BddJxtUBkDgFB9kj7Zwguxde4gAqha";
        assert_eq!(
            signature_sha1(key, &p),
            "3f27723dc11c49dbd01706410f44e6eeff9e8ebf"
        );
        assert_eq!(
            signature(key, &p),
            "6e4138edf142496ffeae0110e8f4b86667d6b8d5a7f016a9cfdb0accd2f033fb"
        );
        // A signature among the parameters is not signed.
        let mut with = p.clone();
        with.push(("signature".into(), "x".into()));
        assert_eq!(signature(key, &with), signature(key, &p));
    }

    fn settings() -> Settings {
        Settings {
            enabled: true,
            account: Some("64233".into()),
            secret: Some("BddJxtUBkDgFB9kj7Zwguxde4gAqha".into()),
            ..Default::default()
        }
    }

    fn signed(pairs: &[(&str, &str)], secret: &str) -> Inbound {
        let mut p = kv(pairs);
        let sig = signature(secret, &p);
        p.push(("signature".into(), sig));
        let refs: Vec<(&str, String)> = p.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        Inbound {
            method: "GET".into(),
            query: serde_urlencoded::to_string(&refs).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn postbacks_verify_and_parse() {
        let n = signed(
            &[
                ("event", "initial"),
                ("shopID", "64233"),
                ("saleID", "555"),
                ("transactionID", "777"),
                ("referenceID", "chk_5"),
                ("priceAmount", "9.99"),
                ("priceCurrency", "EUR"),
                ("nextChargeOn", "2026-02-01"),
            ],
            "BddJxtUBkDgFB9kj7Zwguxde4gAqha",
        );
        Verotel.verify(&settings(), &n).unwrap();
        let e = &Verotel.parse(&n).unwrap()[0];
        assert_eq!(e.kind, EventKind::SaleApproved);
        assert_eq!(e.external_id, "555:777");
        assert_eq!(e.reference.as_deref(), Some("chk_5"));
        assert_eq!(e.amount, Some(Money::new(999, "EUR")));
        assert!(e.next_renewal_at.is_some());

        let forged = signed(&[("event", "initial"), ("shopID", "64233")], "wrong");
        assert_eq!(
            Verotel.verify(&settings(), &forged),
            Err(VerifyError::BadSignature)
        );
        let other_shop = signed(
            &[("event", "initial"), ("shopID", "1")],
            "BddJxtUBkDgFB9kj7Zwguxde4gAqha",
        );
        assert!(matches!(
            Verotel.verify(&settings(), &other_shop),
            Err(VerifyError::WrongAccount(_))
        ));
        let unsigned = Inbound {
            query: "event=initial&shopID=64233".into(),
            ..Default::default()
        };
        assert_eq!(
            Verotel.verify(&settings(), &unsigned),
            Err(VerifyError::MissingSignature)
        );
    }

    #[test]
    fn events_without_transactions_get_stable_ids() {
        let a = signed(
            &[
                ("event", "cancel"),
                ("shopID", "64233"),
                ("saleID", "9"),
                ("cancelledBy", "buyer"),
            ],
            "k",
        );
        let e1 = &Verotel.parse(&a).unwrap()[0];
        let e2 = &Verotel.parse(&a).unwrap()[0];
        assert_eq!(e1.kind, EventKind::Cancelled);
        assert_eq!(e1.external_id, e2.external_id);
        assert!(e1.external_id.starts_with("9:cancel:"));
        assert_eq!(e1.reason.as_deref(), Some("cancelled by buyer"));
    }

    #[test]
    fn start_order_is_signed() {
        let c = CheckoutStart {
            reference: "chk_1".into(),
            price: Money::new(499, "USD"),
            recurring: Some(Recurring {
                price: Money::new(999, "USD"),
                period_days: 30,
                trial_days: 7,
            }),
            description: "Monthly".into(),
            return_url: String::new(),
            cancel_url: String::new(),
            email: None,
        };
        let Start::Redirect(url) = Verotel.start_checkout(&settings(), &c).unwrap() else {
            panic!()
        };
        assert!(url.starts_with("https://secure.verotel.com/startorder?version=4&shopID=64233"));
        assert!(url.contains("type=subscription"));
        assert!(url.contains("period=P30D"));
        assert!(url.contains("trialAmount=4.99&trialPeriod=P7D"));
        // The URL's own parameters verify with the same key.
        let q = url.split_once('?').unwrap().1;
        let n = Inbound {
            query: q.into(),
            ..Default::default()
        };
        Verotel.verify(&settings(), &n).unwrap();
    }
}

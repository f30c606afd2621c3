//! The sandbox processor: the platform's own stand-in for a card processor, so every payment
//! path runs offline. Its hosted checkout is a page of this server
//! (`/payments/sandbox/{reference}`); its notifications are JSON bodies signed like BTCPay's:
//! header `Fanz-Sandbox-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`.
//!
//! ```json
//! {"id": "evt_…", "type": "sale.approved", "reference": "42", "subscription": "sub_…",
//!  "transaction": "txn_…", "amount": 999, "currency": "USD", "fee": 50,
//!  "occurred_at": 1767323045000000, "next_renewal_at": null, "reason": null}
//! ```
//!
//! `type` is one of the canonical names ([`EventKind::as_str`]); `amount` and `fee` are minor
//! units. One notification carries one event; `id` is its idempotency key.

use crate::*;

/// The sandbox driver.
pub struct Sandbox;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "fanz-sandbox-signature";

/// A sandbox notification's body.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub transaction: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub fee: Option<i64>,
    #[serde(default)]
    pub occurred_at: Option<i64>,
    #[serde(default)]
    pub next_renewal_at: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl Notification {
    /// The notification for `event`.
    pub fn from_event(e: &Event) -> Self {
        Self {
            id: e.external_id.clone(),
            kind: e.kind.as_str().to_owned(),
            reference: e.reference.clone(),
            subscription: e.subscription.clone(),
            transaction: e.transaction.clone(),
            amount: e.amount.as_ref().map(|m| m.amount),
            currency: e.amount.as_ref().map(|m| m.currency.clone()),
            fee: e.fee,
            occurred_at: e.occurred_at,
            next_renewal_at: e.next_renewal_at,
            reason: e.reason.clone(),
        }
    }

    /// The raw body and its signature header value.
    pub fn sign(&self, secret: &str) -> (Vec<u8>, String) {
        let body = serde_json::to_vec(self).expect("serialisable");
        let sig = format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), &body));
        (body, sig)
    }
}

fn kind_from(s: &str) -> Option<EventKind> {
    use EventKind as K;
    Some(match s {
        "sale.approved" => K::SaleApproved,
        "sale.declined" => K::SaleDeclined,
        "renewal.approved" => K::RenewalApproved,
        "renewal.failed" => K::RenewalFailed,
        "subscription.cancelled" => K::Cancelled,
        "subscription.reactivated" => K::Reactivated,
        "subscription.expired" => K::Expired,
        "subscription.changed" => K::Changed,
        "refund" => K::Refund,
        "void" => K::Void,
        "chargeback" => K::Chargeback,
        "customer.updated" => K::CustomerUpdated,
        "pending" => K::Pending,
        _ => return None,
    })
}

impl Processor for Sandbox {
    /// Notifications carry a signature [`Processor::verify`] checks.
    fn signed(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn label(&self) -> &'static str {
        "Sandbox (test cards)"
    }

    fn configured(&self, s: &Settings) -> bool {
        s.enabled && s.secret.as_deref().is_some_and(|x| !x.is_empty())
    }

    fn verify(&self, s: &Settings, n: &Inbound) -> Result<(), VerifyError> {
        let secret = s
            .secret
            .as_deref()
            .filter(|x| !x.is_empty())
            .ok_or(VerifyError::NotConfigured)?;
        let got = n
            .header(SIGNATURE_HEADER)
            .ok_or(VerifyError::MissingSignature)?;
        let want = format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), &n.body));
        if same(got.trim(), &want) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    fn parse(&self, n: &Inbound) -> Result<Vec<Event>, ParseError> {
        let body: Notification =
            serde_json::from_slice(&n.body).map_err(|_| ParseError::Malformed("sandbox JSON"))?;
        let kind =
            kind_from(&body.kind).ok_or_else(|| ParseError::UnknownEvent(body.kind.clone()))?;
        if body.id.is_empty() || body.id.len() > 128 {
            return Err(ParseError::Field("id", "must be 1–128 characters".into()));
        }
        let amount = match (body.amount, body.currency) {
            (Some(a), Some(c)) => {
                if !CURRENCIES.contains(&c.as_str()) {
                    return Err(ParseError::Currency(c));
                }
                if a <= 0 {
                    return Err(ParseError::Field("amount", "must be positive".into()));
                }
                Some(Money::new(a, &c))
            }
            (None, None) => None,
            _ => {
                return Err(ParseError::Field(
                    "amount",
                    "amount and currency go together".into(),
                ))
            }
        };
        if body.fee.is_some_and(|f| f < 0) {
            return Err(ParseError::Field("fee", "must not be negative".into()));
        }
        Ok(vec![Event {
            kind,
            external_id: body.id,
            reference: body.reference,
            subscription: body.subscription,
            transaction: body.transaction,
            amount,
            fee: body.fee,
            occurred_at: body.occurred_at,
            next_renewal_at: body.next_renewal_at,
            reason: body.reason,
        }])
    }

    fn start_checkout(&self, s: &Settings, c: &CheckoutStart) -> Result<Start, StartError> {
        if !self.configured(s) {
            return Err(StartError::NotConfigured("the sandbox needs a secret"));
        }
        let base = s
            .checkout_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/');
        Ok(Start::Redirect(format!(
            "{base}/payments/sandbox/{}",
            c.reference
        )))
    }

    fn refunds_by_api(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            enabled: true,
            secret: Some("s3cret".into()),
            ..Default::default()
        }
    }

    fn inbound(body: Vec<u8>, sig: &str) -> Inbound {
        Inbound {
            method: "POST".into(),
            headers: vec![(SIGNATURE_HEADER.into(), sig.into())],
            body,
            ..Default::default()
        }
    }

    #[test]
    fn signed_notifications_verify_and_parse() {
        let mut e = Event::new(EventKind::SaleApproved, "evt_1");
        e.reference = Some("42".into());
        e.amount = Some(Money::new(999, "USD"));
        let (body, sig) = Notification::from_event(&e).sign("s3cret");
        let n = inbound(body, &sig);
        Sandbox.verify(&settings(), &n).unwrap();
        assert_eq!(Sandbox.parse(&n).unwrap(), vec![e]);
    }

    #[test]
    fn forged_and_unsigned_are_refused() {
        let e = Event::new(EventKind::Refund, "evt_2");
        let (body, _) = Notification::from_event(&e).sign("s3cret");
        let (_, wrong) = Notification::from_event(&e).sign("other");
        assert_eq!(
            Sandbox.verify(&settings(), &inbound(body.clone(), &wrong)),
            Err(VerifyError::BadSignature)
        );
        let mut n = inbound(body, "");
        n.headers.clear();
        assert_eq!(
            Sandbox.verify(&settings(), &n),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(
            Sandbox.verify(&Settings::default(), &n),
            Err(VerifyError::NotConfigured)
        );
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        for body in [
            &b"{"[..],
            b"[]",
            br#"{"id":"x","type":"nope"}"#,
            br#"{"id":"x","type":"refund","amount":5}"#,
        ] {
            assert!(Sandbox.parse(&inbound(body.to_vec(), "")).is_err());
        }
    }
}

//! BTCPay Server (Greenfield API): invoices for checkout, signed webhooks.
//!
//! **Webhooks** (btcpayserver `BTCPayServer.Client/Models/WebhookEvent.cs`,
//! `WebhookInvoiceEvent.cs`; docs.rs btcpay-client models): a JSON POST with header
//! `BTCPay-Sig: sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook secret>`,
//! compared in constant time. The envelope:
//!
//! ```json
//! {"deliveryId": "…", "webhookId": "…", "originalDeliveryId": "…", "isRedelivery": false,
//!  "type": "InvoiceSettled", "timestamp": 1767323045, "storeId": "…", "invoiceId": "…",
//!  "metadata": {"orderId": "chk_1", "fanzRef": "chk_1"}, "manuallyMarked": false}
//! ```
//!
//! Old servers spell `orignalDeliveryId`; both are read (neither is needed). A redelivery
//! carries a new `deliveryId`, so the idempotency key is the **invoice**, not the delivery.
//! `storeId` must be [`Settings::account`] when both are present.
//!
//! Types: `InvoiceSettled` → [`EventKind::SaleApproved`] (no amount in the event: the
//! invoice's amount is what checkout asked for); `InvoiceProcessing`,
//! `InvoiceReceivedPayment`, `InvoicePaymentSettled` → [`EventKind::Pending`];
//! `InvoiceExpired`, `InvoiceInvalid` → [`EventKind::SaleDeclined`]; everything else
//! (`InvoiceCreated`, payouts, payment requests) → nothing.
//!
//! **Checkout**: `POST {checkout_url}/api/v1/stores/{account}/invoices` with
//! `Authorization: token {api_key}` creates the invoice; its `checkoutLink` is the hosted page
//! (docs.btcpayserver.org/Developers/api). Invoices are one-off: subscriptions are refused.

use crate::*;

/// The BTCPay driver.
pub struct Btcpay;

/// The signature header (lower-cased, as [`Inbound::header`] expects).
pub const SIGNATURE_HEADER: &str = "btcpay-sig";

/// The signature header's value for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), body))
}

fn str_field<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Unix seconds (integer or fractional) to microseconds, when sane.
fn micros(v: Option<&serde_json::Value>) -> Option<i64> {
    let v = v?;
    if let Some(i) = v.as_i64() {
        return i.checked_mul(1_000_000);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f.abs() < 1e12 {
        Some((f * 1_000_000.0) as i64)
    } else {
        None
    }
}

impl Processor for Btcpay {
    /// Notifications carry a signature [`Processor::verify`] checks.
    fn signed(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "btcpay"
    }

    fn label(&self) -> &'static str {
        "Bitcoin (BTCPay)"
    }

    fn configured(&self, s: &Settings) -> bool {
        let set = |o: &Option<String>| o.as_deref().is_some_and(|x| !x.trim().is_empty());
        s.enabled && set(&s.account) && set(&s.secret) && set(&s.api_key) && set(&s.checkout_url)
    }

    fn verify(&self, s: &Settings, n: &Inbound) -> Result<(), VerifyError> {
        let secret = s
            .secret
            .as_deref()
            .filter(|x| !x.is_empty())
            .ok_or(VerifyError::NotConfigured)?;
        let got = n
            .header(SIGNATURE_HEADER)
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .ok_or(VerifyError::MissingSignature)?;
        if !same(&got, &sign(secret, &n.body)) {
            return Err(VerifyError::BadSignature);
        }
        if let Some(account) = s
            .account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            if n.body.len() <= MAX_NOTIFICATION {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&n.body) {
                    if let Some(store) = str_field(&v, "storeId") {
                        if store != account {
                            return Err(VerifyError::WrongAccount(
                                store.chars().take(64).collect(),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn parse(&self, n: &Inbound) -> Result<Vec<Event>, ParseError> {
        use EventKind as K;
        bounded(n)?;
        let v: serde_json::Value =
            serde_json::from_slice(&n.body).map_err(|_| ParseError::Malformed("BTCPay JSON"))?;
        if !v.is_object() {
            return Err(ParseError::Malformed("BTCPay JSON"));
        }
        let ty = v
            .get("type")
            .ok_or(ParseError::Missing("type"))?
            .as_str()
            .ok_or(ParseError::Malformed("BTCPay type"))?;
        let kind = match ty {
            "InvoiceSettled" => K::SaleApproved,
            "InvoiceProcessing" | "InvoiceReceivedPayment" | "InvoicePaymentSettled" => K::Pending,
            "InvoiceExpired" | "InvoiceInvalid" => K::SaleDeclined,
            _ => return Ok(Vec::new()),
        };
        let invoice = ident(
            "invoiceId",
            str_field(&v, "invoiceId").ok_or(ParseError::Missing("invoiceId"))?,
        )?;
        let external_id = match kind {
            // Several pending notices per invoice are harmless either way; keep them apart.
            K::Pending => format!("{invoice}:{ty}"),
            _ => invoice.clone(),
        };
        let mut e = Event::new(kind, external_id);
        e.transaction = Some(invoice);
        let meta = v.get("metadata");
        e.reference = meta
            .and_then(|m| str_field(m, "orderId").or_else(|| str_field(m, "fanzRef")))
            .map(|r| ident("metadata.orderId", r))
            .transpose()?;
        e.occurred_at = micros(v.get("timestamp"));
        if kind == K::SaleDeclined {
            e.reason = Some(match ty {
                "InvoiceExpired"
                    if v.get("partiallyPaid") == Some(&serde_json::Value::Bool(true)) =>
                {
                    "invoice expired, partially paid".to_owned()
                }
                "InvoiceExpired" => "invoice expired".to_owned(),
                _ => "invoice invalid".to_owned(),
            });
        }
        Ok(vec![e])
    }

    fn start_checkout(&self, s: &Settings, c: &CheckoutStart) -> Result<Start, StartError> {
        fn set(o: &Option<String>) -> Option<&str> {
            o.as_deref().map(str::trim).filter(|x| !x.is_empty())
        }
        let server = set(&s.checkout_url)
            .ok_or(StartError::NotConfigured(
                "BTCPay needs checkout_url (the server)",
            ))?
            .trim_end_matches('/');
        let store =
            set(&s.account).ok_or(StartError::NotConfigured("BTCPay needs account (store id)"))?;
        let key = set(&s.api_key).ok_or(StartError::NotConfigured("BTCPay needs api_key"))?;
        if c.recurring.is_some() {
            return Err(StartError::Unsupported(
                "BTCPay invoices are one-off; subscriptions are not sold in crypto".into(),
            ));
        }
        if c.price.amount <= 0 {
            return Err(StartError::Unsupported("a free purchase".into()));
        }
        let body = serde_json::json!({
            "amount": c.price.decimal(),
            "currency": c.price.currency,
            "metadata": {"orderId": c.reference, "fanzRef": c.reference, "itemDesc": c.description},
            "checkout": {"redirectURL": c.return_url},
        });
        Ok(Start::Call(OutboundCall {
            method: "POST",
            url: format!("{server}/api/v1/stores/{store}/invoices"),
            headers: vec![
                ("Authorization".into(), format!("token {key}")),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: body.to_string(),
        }))
    }

    fn checkout_url_from(&self, response: &str) -> Result<String, ParseError> {
        let v: serde_json::Value = serde_json::from_str(response)
            .map_err(|_| ParseError::Malformed("BTCPay invoice answer"))?;
        let link = str_field(&v, "checkoutLink").ok_or(ParseError::Missing("checkoutLink"))?;
        if !(link.starts_with("https://") || link.starts_with("http://")) {
            return Err(ParseError::Field(
                "checkoutLink",
                "not an http(s) URL".into(),
            ));
        }
        Ok(link.to_owned())
    }

    fn refunds_by_api(&self) -> bool {
        true
    }

    /// BTCPay sends no webhook for a refund (it is a pull payment the fan claims), so the books
    /// are applied when the API has made it.
    fn refund_notified(&self) -> bool {
        false
    }

    /// `POST {server}/api/v1/stores/{store}/invoices/{invoice}/refund` (Greenfield, BTCPay
    /// Server 1.8+): the whole invoice in its own currency (`refundVariant: Fiat`), or a part
    /// (`Custom` with `customAmount` and `customCurrency`). The API key needs
    /// `btcpay.store.cancreatenonapprovedpullpayments`. `sub_account` names the payment
    /// method the fan paid with (default `BTC`).
    fn api_call(&self, s: &Settings, op: &ApiOp) -> Result<OutboundCall, ApiError> {
        let ApiOp::Refund {
            transaction,
            amount,
            partial,
        } = op
        else {
            return Err(ApiError::Unsupported(
                "BTCPay invoices are not subscriptions",
            ));
        };
        let server = required(&s.checkout_url, "BTCPay needs checkout_url (the server)")?
            .trim_end_matches('/');
        let store = required(&s.account, "BTCPay needs account (store id)")?;
        let key = required(&s.api_key, "BTCPay needs api_key")?;
        let method = s
            .sub_account
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or("BTC");
        let mut body = serde_json::json!({
            "name": format!("Refund {transaction}"),
            "paymentMethod": method,
            "refundVariant": "Fiat",
        });
        if *partial {
            body["refundVariant"] = "Custom".into();
            body["customAmount"] = amount.decimal().into();
            body["customCurrency"] = amount.currency.clone().into();
        }
        Ok(OutboundCall {
            method: "POST",
            url: format!(
                "{server}/api/v1/stores/{}/invoices/{}/refund",
                path_segment(store),
                path_segment(transaction)
            ),
            headers: vec![
                ("Authorization".into(), format!("token {key}")),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: body.to_string(),
        })
    }

    /// 200 with the pull payment (`id`, `viewLink`: where the fan claims the refund); 4xx
    /// with `{code, message}` or a list of `{path, message}` is a refusal.
    fn api_answer(&self, _op: &ApiOp, status: u16, body: &str) -> Result<ApiDone, ApiError> {
        let v: Option<serde_json::Value> = serde_json::from_str(body).ok();
        if let Err(e) = api_status(status, body) {
            let message = v.as_ref().and_then(|v| {
                str_field(v, "message").map(str::to_owned).or_else(|| {
                    v.as_array().map(|errs| {
                        errs.iter()
                            .filter_map(|e| str_field(e, "message"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })
            });
            return Err(match (e, message) {
                (ApiError::Refused(_), Some(m)) => ApiError::Refused(format!("HTTP {status}: {m}")),
                (e, _) => e,
            });
        }
        let v = v.ok_or_else(|| ApiError::Temporary("the refund answer is not JSON".into()))?;
        let id = str_field(&v, "id")
            .ok_or_else(|| ApiError::Temporary("the refund answer has no id".into()))?;
        let link = str_field(&v, "viewLink").unwrap_or("");
        Ok(ApiDone {
            reference: Some(id.to_owned()),
            detail: format!("pull payment {id} {link}").trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            enabled: true,
            account: Some("StoreA".into()),
            secret: Some("whsec".into()),
            api_key: Some("key1".into()),
            checkout_url: Some("https://pay.example/".into()),
            ..Default::default()
        }
    }

    fn signed(body: &str, secret: &str) -> Inbound {
        Inbound {
            method: "POST".into(),
            headers: vec![(SIGNATURE_HEADER.into(), sign(secret, body.as_bytes()))],
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    const SETTLED: &str = r#"{"deliveryId":"D1","webhookId":"W1","originalDeliveryId":"D1","isRedelivery":false,"type":"InvoiceSettled","timestamp":1767323045,"storeId":"StoreA","invoiceId":"INV1","metadata":{"orderId":"chk_1"},"manuallyMarked":false}"#;

    #[test]
    fn settled_invoice() {
        let n = signed(SETTLED, "whsec");
        Btcpay.verify(&settings(), &n).unwrap();
        let e = &Btcpay.parse(&n).unwrap()[0];
        assert_eq!(e.kind, EventKind::SaleApproved);
        assert_eq!(e.external_id, "INV1");
        assert_eq!(e.reference.as_deref(), Some("chk_1"));
        assert_eq!(e.amount, None);
        assert_eq!(e.occurred_at, Some(1_767_323_045_000_000));
        // A redelivery (new delivery id, old typo field) is the same event.
        let again = SETTLED
            .replace(r#""deliveryId":"D1""#, r#""deliveryId":"D2""#)
            .replace("originalDeliveryId", "orignalDeliveryId")
            .replace(r#""isRedelivery":false"#, r#""isRedelivery":true"#);
        assert_eq!(
            Btcpay.parse(&signed(&again, "whsec")).unwrap(),
            vec![e.clone()]
        );
    }

    #[test]
    fn forged_wrong_store_and_unsigned() {
        assert_eq!(
            Btcpay.verify(&settings(), &signed(SETTLED, "other")),
            Err(VerifyError::BadSignature)
        );
        let other = SETTLED.replace("StoreA", "StoreB");
        assert!(matches!(
            Btcpay.verify(&settings(), &signed(&other, "whsec")),
            Err(VerifyError::WrongAccount(_))
        ));
        let mut n = signed(SETTLED, "whsec");
        n.headers.clear();
        assert_eq!(
            Btcpay.verify(&settings(), &n),
            Err(VerifyError::MissingSignature)
        );
    }

    #[test]
    fn other_types() {
        let kind = |t: &str| {
            Btcpay
                .parse(&signed(&SETTLED.replace("InvoiceSettled", t), "x"))
                .unwrap()
                .first()
                .map(|e| e.kind)
        };
        assert_eq!(kind("InvoiceProcessing"), Some(EventKind::Pending));
        assert_eq!(kind("InvoiceExpired"), Some(EventKind::SaleDeclined));
        assert_eq!(kind("InvoiceInvalid"), Some(EventKind::SaleDeclined));
        assert_eq!(kind("InvoiceCreated"), None);
        assert!(Btcpay.parse(&signed("[]", "x")).is_err());
    }

    #[test]
    fn invoice_call() {
        let c = CheckoutStart {
            reference: "chk_1".into(),
            price: Money::new(999, "EUR"),
            recurring: None,
            description: "A video".into(),
            return_url: "https://fanz.example/done".into(),
            cancel_url: String::new(),
            email: None,
        };
        let Start::Call(call) = Btcpay.start_checkout(&settings(), &c).unwrap() else {
            panic!()
        };
        assert_eq!(
            call.url,
            "https://pay.example/api/v1/stores/StoreA/invoices"
        );
        assert!(call
            .headers
            .contains(&("Authorization".into(), "token key1".into())));
        let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(body["amount"], "9.99");
        assert_eq!(body["metadata"]["orderId"], "chk_1");
        assert_eq!(body["checkout"]["redirectURL"], "https://fanz.example/done");
        assert_eq!(
            Btcpay
                .checkout_url_from(r#"{"id":"INV1","checkoutLink":"https://pay.example/i/INV1"}"#)
                .unwrap(),
            "https://pay.example/i/INV1"
        );
        assert!(Btcpay
            .checkout_url_from(r#"{"checkoutLink":"javascript:x"}"#)
            .is_err());
    }

    #[test]
    fn refunds_are_greenfield_pull_payments() {
        let full = ApiOp::Refund {
            transaction: "inv 1".into(),
            amount: Money::new(999, "USD"),
            partial: false,
        };
        let call = Btcpay.api_call(&settings(), &full).unwrap();
        assert_eq!(call.method, "POST");
        assert_eq!(
            call.url,
            "https://pay.example/api/v1/stores/StoreA/invoices/inv%201/refund"
        );
        assert!(call
            .headers
            .contains(&("Authorization".into(), "token key1".into())));
        let body: serde_json::Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name": "Refund inv 1", "paymentMethod": "BTC", "refundVariant": "Fiat"})
        );
        let part = ApiOp::Refund {
            transaction: "inv1".into(),
            amount: Money::new(450, "EUR"),
            partial: true,
        };
        let body: serde_json::Value =
            serde_json::from_str(&Btcpay.api_call(&settings(), &part).unwrap().body).unwrap();
        assert_eq!(body["refundVariant"], "Custom");
        assert_eq!(body["customAmount"], "4.50");
        assert_eq!(body["customCurrency"], "EUR");
        assert!(matches!(
            Btcpay.api_call(
                &settings(),
                &ApiOp::Cancel {
                    subscription: "x".into()
                }
            ),
            Err(ApiError::Unsupported(_))
        ));

        let done = Btcpay
            .api_answer(
                &full,
                200,
                r#"{"id":"pp-1","name":"Refund inv1","viewLink":"https://pay.example/pull-payments/pp-1"}"#,
            )
            .unwrap();
        assert_eq!(done.reference.as_deref(), Some("pp-1"));
        assert_eq!(
            Btcpay.api_answer(
                &full,
                400,
                r#"{"code":"non-refundable","message":"Cannot refund this invoice"}"#
            ),
            Err(ApiError::Refused(
                "HTTP 400: Cannot refund this invoice".into()
            ))
        );
        assert_eq!(
            Btcpay.api_answer(
                &full,
                422,
                r#"[{"path":"RefundVariant","message":"`refundVariant` is mandatory"}]"#
            ),
            Err(ApiError::Refused(
                "HTTP 422: `refundVariant` is mandatory".into()
            ))
        );
        assert!(Btcpay.api_answer(&full, 503, "").unwrap_err().retryable());
        assert!(Btcpay.api_answer(&full, 200, "{}").unwrap_err().retryable());
    }
}

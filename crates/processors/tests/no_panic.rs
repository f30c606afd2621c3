//! Whatever arrives, every driver's verify and parse return; none panics.

use fanz_processors::*;
use proptest::prelude::*;

fn settings() -> Settings {
    Settings {
        enabled: true,
        account: Some("900100".into()),
        sub_account: Some("0000".into()),
        secret: Some("s".into()),
        api_key: Some("k".into()),
        api_user: Some("u".into()),
        api_url: None,
        form_id: Some("f".into()),
        checkout_url: Some("https://pay.example".into()),
        allow_ips: vec!["0.0.0.0/0".into(), "::/0".into()],
        descriptor: None,
        pricing_hash_param: None,
        confirm: None,
    }
}

/// Query strings made of the names drivers read, with arbitrary values.
fn query() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "eventType",
        "clientAccnum",
        "clientSubacc",
        "action",
        "stage",
        "approved",
        "trantype",
        "tranid",
        "purchaseid",
        "price",
        "currencycode",
        "ets_transaction_type",
        "ets_transaction_id",
        "ets_transaction_amount",
        "ans",
        "event",
        "saleID",
        "shopID",
        "signature",
        "priceAmount",
        "priceCurrency",
        "nextChargeOn",
        "x-fanz_ref",
    ]);
    let value = prop_oneof![
        "[A-Za-z0-9%+=&.:-]{0,24}",
        Just("NewSaleSuccess".to_owned()),
        Just("Auth".to_owned()),
        Just("Initial".to_owned()),
        Just("Yes".to_owned()),
        Just("I".to_owned()),
        Just("C".to_owned()),
        Just("initial".to_owned()),
        Just("9.99".to_owned()),
        Just("840".to_owned()),
        Just("USD".to_owned()),
        Just("-1e9".to_owned()),
        Just("99999999999999999999".to_owned()),
    ];
    prop::collection::vec((key, value), 0..12).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        query().prop_map(String::into_bytes),
        "\\{(\"[a-zA-Z]{1,12}\":(\"[^\"]{0,12}\"|[0-9.e-]{1,8}|null|true|\\[\\]|\\{\\}),?){0,8}\\}"
            .prop_map(String::into_bytes),
        Just(
            br#"{"type":"InvoiceSettled","invoiceId":"I","timestamp":1e300,"metadata":7}"#.to_vec()
        ),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec!["content-type", "btcpay-sig", "fanz-sandbox-signature"]);
    let value = prop_oneof![
        ".{0,40}",
        Just("application/json".to_owned()),
        Just("application/x-www-form-urlencoded".to_owned()),
        Just("sha256=".to_owned()),
    ];
    prop::collection::vec((name.prop_map(str::to_owned), value), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A confirmation query's answer (CCBill's Data Link extract, Segpay's SRS DataSet, Epoch's
    /// member search) is read without panicking, one verdict per charge, whatever it holds;
    /// so is Segpay's dynamic-pricing hash.
    #[test]
    fn confirm_answers_never_panic(body in ".{0,400}", status in 100u16..600) {
        let q = ConfirmQuery {
            from: 0,
            to: 1,
            charges: vec![
                ToConfirm { transaction: "t".into(), subscription: Some("1".into()), renewal: false, amount: Money::new(999, "USD") },
                ToConfirm { transaction: "\"".into(), subscription: None, renewal: true, amount: Money::new(1, "EUR") },
            ],
        };
        let lines = format!("\"NEW\",\"1\",\"0\",\"1\",{body}\n\"REBILL\",{body}");
        // Segpay's DataSet rows and Epoch's member JSON, with the arbitrary text inside.
        let rows = format!("<DataSet><Data a=\"1\"><TransID>t</TransID>{body}</Data><Data>{body}<Type>{body}</Type></Data></DataSet>");
        let members = format!("{{\"Data\": [{{\"Customer\": {{\"MemberId\": \"1\", \"NextBillAmount\": {body}}}}}]}}");
        for text in [body.as_str(), lines.as_str(), rows.as_str(), members.as_str()] {
            for p in [&Ccbill as &dyn Processor, &Segpay, &Epoch] {
                if let Ok(v) = p.confirm_answer(&q, status, text) {
                    prop_assert_eq!(v.len(), 2);
                }
            }
            let _ = Segpay.checkout_value_from(status, text);
        }
    }

    #[test]
    fn drivers_never_panic(
        query in prop_oneof![query(), ".{0,200}"],
        body in body(),
        headers in headers(),
        ip in prop::option::of(any::<[u8; 4]>()),
    ) {
        let n = Inbound {
            method: "POST".into(),
            query,
            headers,
            body,
            source_ip: ip.map(std::net::IpAddr::from),
        };
        let s = settings();
        for p in all() {
            let _ = p.verify(&s, &n);
            let _ = p.verify(&Settings::default(), &n);
            let _ = p.parse(&n);
            let _ = p.checkout_url_from(&String::from_utf8_lossy(&n.body));
        }
    }

    #[test]
    fn checkouts_never_panic(
        reference in ".{0,40}",
        amount in any::<i64>(),
        currency in prop::sample::select(vec!["USD", "EUR", "GBP", "CAD", "AUD", "XXX", ""]),
        recurring in prop::option::of((any::<i64>(), any::<i64>(), any::<i64>())),
        description in ".{0,200}",
    ) {
        let c = CheckoutStart {
            reference,
            price: Money::new(amount % 10_000_000_000, currency),
            recurring: recurring.map(|(p, d, t)| Recurring {
                price: Money::new(p % 10_000_000_000, currency),
                period_days: d % 10_000,
                trial_days: t % 10_000,
            }),
            description,
            return_url: "https://fanz.example/r".into(),
            cancel_url: "https://fanz.example/c".into(),
            email: None,
        };
        for p in all() {
            let _ = p.start_checkout(&settings(), &c);
            let _ = p.start_checkout(&Settings::default(), &c);
        }
    }

    #[test]
    fn api_answers_never_panic(status in 100u16..600, body in body(), partial in any::<bool>()) {
        let text = String::from_utf8_lossy(&body);
        let ops = [
            ApiOp::Cancel { subscription: "s1".into() },
            ApiOp::Refund { transaction: "t1".into(), amount: Money::new(100, "USD"), partial },
        ];
        for p in all() {
            for op in &ops {
                let _ = p.api_call(&settings(), op);
                let _ = p.api_answer(op, status, &text);
            }
        }
    }
}

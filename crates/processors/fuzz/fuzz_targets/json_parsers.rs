//! Arbitrary bytes as JSON bodies through every driver's verify and parse.
#![no_main]

use fanz_processors::{all, Inbound, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let settings = Settings {
        enabled: true,
        account: Some("StoreA".into()),
        secret: Some("s".into()),
        allow_ips: vec!["0.0.0.0/0".into()],
        ..Default::default()
    };
    for query in ["eventType=NewSaleSuccess", "eventType=Chargeback", ""] {
        let n = Inbound {
            method: "POST".into(),
            query: query.into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("btcpay-sig".into(), "sha256=00".into()),
            ],
            body: data.to_vec(),
            source_ip: "64.38.212.1".parse().ok(),
        };
        for p in all() {
            let _ = p.verify(&settings, &n);
            let _ = p.parse(&n);
        }
    }
});

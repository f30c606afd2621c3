//! Arbitrary bytes as form bodies and query strings through every driver's verify and parse.
#![no_main]

use fanz_processors::{all, Inbound, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into a query string and a body.
    let (split, rest) = match data.split_first() {
        Some((s, r)) => (*s as usize % (r.len() + 1), r),
        None => (0, data),
    };
    let (query, body) = rest.split_at(split);
    let settings = Settings {
        enabled: true,
        account: Some("900100".into()),
        sub_account: Some("0000".into()),
        secret: Some("s".into()),
        allow_ips: vec!["0.0.0.0/0".into()],
        ..Default::default()
    };
    let n = Inbound {
        method: "POST".into(),
        query: String::from_utf8_lossy(query).into_owned(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: body.to_vec(),
        source_ip: "64.38.212.1".parse().ok(),
    };
    for p in all() {
        let _ = p.verify(&settings, &n);
        let _ = p.parse(&n);
    }
});

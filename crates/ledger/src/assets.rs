//! Currencies and assets the ledger accepts, with their minor-unit exponent.

/// (code, exponent): ISO 4217 currencies in minor units; crypto assets at the precision the
/// platform settles in (ETH in gwei so amounts fit in 64 bits).
pub const ASSETS: &[(&str, u32)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("BRL", 2),
    ("MXN", 2),
    ("NZD", 2),
    ("ZAR", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("HUF", 2),
    ("BTC", 8),
    ("ETH", 9),
    ("LTC", 8),
    ("USDT", 6),
    ("USDC", 6),
];

pub fn asset_exponent(code: &str) -> Option<u32> {
    ASSETS.iter().find(|(c, _)| *c == code).map(|(_, e)| *e)
}

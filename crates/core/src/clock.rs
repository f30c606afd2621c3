//! Time as stored: microseconds since the Unix epoch, UTC, in an `i64`.
//! Both storage backends keep timestamps as BIGINT so one query text serves both.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000) as i64
}

/// RFC 3339 rendering of a stored timestamp, for APIs and pages.
pub fn rfc3339(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub const SECOND: i64 = 1_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_500_000), "1970-01-01T00:00:01.5Z");
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_micros() > 1_577_836_800 * SECOND);
    }
}

//! Each processor's dispute and decline ratios over a window, for the finance console: the
//! card schemes' monitoring programmes fine and then terminate merchants whose chargebacks
//! per sale pass their thresholds, and acquirers ask adult merchants to watch them.
//!
//! Sales are the approved charges (first payments and renewals, wallet payments excluded: no
//! card scheme sees them); chargebacks, refunds and voids are the reversals booked in the
//! window; declines are the declined sales and failed renewals the processors notified.

use crate::Result;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use sqlx::Row;

/// One processor's figures over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProcessorRatio {
    pub processor: String,
    pub sales: i64,
    pub declines: i64,
    pub refunds: i64,
    pub chargebacks: i64,
    /// Chargebacks per sale, in basis points (0 without sales).
    pub chargeback_bps: i64,
    /// Declines per attempt (sales and declines), in basis points.
    pub decline_bps: i64,
    /// ok | warning | excessive, against `[payments] dispute_warn_bps` / `dispute_limit_bps`.
    pub level: String,
}

fn bps(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        ((part as i128 * 10_000) / whole as i128) as i64
    }
}

/// The level of a chargeback ratio against the two thresholds.
pub fn level(chargeback_bps: i64, warn_bps: i64, limit_bps: i64) -> &'static str {
    if chargeback_bps >= limit_bps {
        "excessive"
    } else if chargeback_bps >= warn_bps {
        "warning"
    } else {
        "ok"
    }
}

/// Every processor with activity since `since` (microseconds), by name.
pub async fn ratios(
    db: &mut Db,
    since: i64,
    warn_bps: i64,
    limit_bps: i64,
) -> Result<Vec<ProcessorRatio>> {
    let rows = sqlx::query(
        "SELECT processor, \
                CAST(SUM(CASE WHEN reverses IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN kind = 'chargeback' THEN 1 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN kind IN ('refund', 'void') THEN 1 ELSE 0 END) AS BIGINT) \
         FROM charges WHERE created_at >= $1 AND processor <> 'wallet' GROUP BY processor",
    )
    .bind(since)
    .fetch_all(&mut *db)
    .await?;
    let mut out: std::collections::BTreeMap<String, ProcessorRatio> = Default::default();
    for r in rows {
        let processor: String = r.try_get(0)?;
        out.insert(
            processor.clone(),
            ProcessorRatio {
                processor,
                sales: r.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
                chargebacks: r.try_get::<Option<i64>, _>(2)?.unwrap_or(0),
                refunds: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
                declines: 0,
                chargeback_bps: 0,
                decline_bps: 0,
                level: String::new(),
            },
        );
    }
    let declines = sqlx::query(
        "SELECT processor, COUNT(*) FROM payment_events \
         WHERE applied_at >= $1 AND kind IN ('sale.declined', 'renewal.failed') GROUP BY processor",
    )
    .bind(since)
    .fetch_all(&mut *db)
    .await?;
    for r in declines {
        let processor: String = r.try_get(0)?;
        let n: i64 = r.try_get(1)?;
        out.entry(processor.clone())
            .or_insert_with(|| ProcessorRatio {
                processor,
                sales: 0,
                declines: 0,
                refunds: 0,
                chargebacks: 0,
                chargeback_bps: 0,
                decline_bps: 0,
                level: String::new(),
            })
            .declines = n;
    }
    Ok(out
        .into_values()
        .map(|mut p| {
            p.chargeback_bps = bps(p.chargebacks, p.sales);
            p.decline_bps = bps(p.declines, p.sales + p.declines);
            p.level = level(p.chargeback_bps, warn_bps, limit_bps).into();
            p
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_ratios() {
        assert_eq!(bps(1, 100), 100);
        assert_eq!(bps(3, 0), 0);
        assert_eq!(bps(1, 3), 3333);
        assert_eq!(level(89, 90, 150), "ok");
        assert_eq!(level(90, 90, 150), "warning");
        assert_eq!(level(150, 90, 150), "excessive");
    }
}

//! Subscription tiers: what a creator offers (name, price per period, benefits). Content owns
//! the catalogue and the grants; payments sells them. A price of 0 is a free tier.

use crate::{check_text, ContentError, Money, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::ValidationError;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// Paid tiers cost 3.00 to 500.00 per period.
pub const PAID_MIN: i64 = 300;
pub const PAID_MAX: i64 = 50_000;
pub const MAX_TIERS: usize = 10;
/// Billing periods offered: monthly and the usual bundles.
pub const PERIODS: [i64; 4] = [30, 90, 180, 365];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tier {
    pub id: i64,
    #[serde(skip)]
    pub creator_id: i64,
    pub name: String,
    pub price: Money,
    pub period_days: i64,
    pub benefits: String,
    pub archived: bool,
}

impl Tier {
    pub fn is_free(&self) -> bool {
        self.price.amount == 0
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTier {
    #[schema(min_length = 1, max_length = 60)]
    pub name: String,
    /// 0 for a free tier; otherwise 300 to 50000 minor units.
    pub price: Money,
    /// One of 30, 90, 180, 365; default 30.
    #[serde(default)]
    pub period_days: Option<i64>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub benefits: String,
}

fn validate(t: &NewTier) -> Result<()> {
    if t.name.trim().is_empty() {
        return Err(ValidationError::new("name", "required", "a tier needs a name").into());
    }
    check_text("name", &t.name, 60)?;
    check_text("benefits", &t.benefits, 1000)?;
    if t.price.amount != 0 {
        t.price.validate("price", PAID_MIN, PAID_MAX)?;
    } else {
        t.price.validate("price", 0, 0)?;
    }
    if let Some(p) = t.period_days {
        if !PERIODS.contains(&p) {
            return Err(ValidationError::new(
                "period_days",
                "invalid_period",
                "period_days must be 30, 90, 180 or 365",
            )
            .into());
        }
    }
    Ok(())
}

/// Add a tier to a creator's catalogue (creators only: the caller checks the role).
pub async fn create(db: &mut Db, creator_id: i64, t: NewTier, actor: &Actor) -> Result<Tier> {
    validate(&t)?;
    if list(db, creator_id, false).await?.len() >= MAX_TIERS {
        return Err(
            ValidationError::new("name", "too_many", format!("at most {MAX_TIERS} tiers")).into(),
        );
    }
    let now = now_micros();
    let row = sqlx::query(
        "INSERT INTO tiers (creator_id, name, price_amount, currency, period_days, benefits, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(creator_id)
    .bind(t.name.trim())
    .bind(t.price.amount)
    .bind(&t.price.currency)
    .bind(t.period_days.unwrap_or(30))
    .bind(&t.benefits)
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    let id: i64 = row.try_get(0)?;
    record(
        db,
        actor,
        "content.tier_created",
        Some(&format!("tier:{id}")),
        json!({"price": t.price, "period_days": t.period_days.unwrap_or(30)}),
    )
    .await?;
    get(db, id).await
}

/// Change a tier's name, price, period or benefits. Existing subscriptions keep their end.
pub async fn update(
    db: &mut Db,
    creator_id: i64,
    id: i64,
    t: NewTier,
    actor: &Actor,
) -> Result<Tier> {
    validate(&t)?;
    let old = get(db, id).await?;
    if old.creator_id != creator_id {
        return Err(ContentError::NotFound);
    }
    sqlx::query(
        "UPDATE tiers SET name = $1, price_amount = $2, currency = $3, period_days = $4, \
         benefits = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(t.name.trim())
    .bind(t.price.amount)
    .bind(&t.price.currency)
    .bind(t.period_days.unwrap_or(old.period_days))
    .bind(&t.benefits)
    .bind(now_micros())
    .bind(id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "content.tier_updated",
        Some(&format!("tier:{id}")),
        json!({"from": old.price, "to": t.price}),
    )
    .await?;
    get(db, id).await
}

/// Stop offering a tier; subscribers keep it until their period ends.
pub async fn archive(db: &mut Db, creator_id: i64, id: i64, actor: &Actor) -> Result<()> {
    let old = get(db, id).await?;
    if old.creator_id != creator_id {
        return Err(ContentError::NotFound);
    }
    sqlx::query("UPDATE tiers SET archived = 1, updated_at = $1 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "content.tier_archived",
        Some(&format!("tier:{id}")),
        json!({}),
    )
    .await?;
    Ok(())
}

pub async fn get(db: &mut Db, id: i64) -> Result<Tier> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tiers WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(ContentError::NotFound)?;
    from_row(&row)
}

/// A creator's tiers, cheapest first; archived ones only when asked.
pub async fn list(db: &mut Db, creator_id: i64, include_archived: bool) -> Result<Vec<Tier>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tiers WHERE creator_id = $1 AND (archived = 0 OR $2 = 1) \
         ORDER BY price_amount, id"
    ))
    .bind(creator_id)
    .bind(include_archived as i64)
    .fetch_all(&mut *db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The live (unarchived) tiers of each of `creators`, cheapest first: one query for a page of
/// posts by many creators, where [`list`] would be one per creator (none for no creators).
pub async fn live_of(
    db: &mut Db,
    creators: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<Tier>>> {
    let mut out: std::collections::HashMap<i64, Vec<Tier>> = std::collections::HashMap::new();
    for chunk in creators.chunks(400) {
        let sql = format!(
            "SELECT {COLUMNS} FROM tiers WHERE archived = 0 AND creator_id IN ({}) \
             ORDER BY creator_id, price_amount, id",
            crate::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q.bind(*c);
        }
        for r in q.fetch_all(&mut *db).await? {
            let t = from_row(&r)?;
            out.entry(t.creator_id).or_default().push(t);
        }
    }
    Ok(out)
}

const COLUMNS: &str =
    "id, creator_id, name, price_amount, currency, period_days, benefits, archived";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Tier> {
    Ok(Tier {
        id: r.try_get("id")?,
        creator_id: r.try_get("creator_id")?,
        name: r.try_get("name")?,
        price: Money {
            amount: r.try_get("price_amount")?,
            currency: r.try_get("currency")?,
        },
        period_days: r.try_get("period_days")?,
        benefits: r.try_get("benefits")?,
        archived: r.try_get::<i64, _>("archived")? != 0,
    })
}

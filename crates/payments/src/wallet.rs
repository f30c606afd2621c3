//! The fan wallet (a ledger liability per fan and currency, topped up through a processor
//! and spent on anything sold) and gift cards (bought through a processor, redeemed into a
//! wallet; unredeemed cards are the platform's gift-card liability).

use crate::checkout::Checkout;
use crate::{invalid, PaymentsError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_ledger::templates::{self, TemplateRequest};
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// What the fan's wallet holds in `currency`, minor units.
pub async fn balance(db: &mut Db, fan_id: i64, currency: &str) -> Result<i64> {
    match fanz_ledger::balance(db, &format!("fan_wallet:{fan_id}:{currency}")).await {
        Ok(b) => Ok(b.available),
        Err(fanz_ledger::LedgerError::UnknownAccount(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Every currency's balance (those with an account).
pub async fn balances(db: &mut Db, fan_id: i64) -> Result<Vec<fanz_processors::Money>> {
    let mut out = Vec::new();
    for cur in fanz_processors::CURRENCIES {
        let b = balance(db, fan_id, cur).await?;
        if b != 0 || cur == "USD" {
            out.push(fanz_processors::Money::new(b, cur));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GiftCard {
    pub id: i64,
    /// The code to give away; shown only to the buyer.
    pub code: String,
    pub amount: i64,
    pub currency: String,
    pub redeemed: bool,
    pub created_at: i64,
}

fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 16] = rand::random();
    let s: String = bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
}

pub(crate) async fn issue_gift_card(db: &mut Db, c: &Checkout) -> Result<()> {
    sqlx::query(
        "INSERT INTO gift_cards (code, amount, currency, purchaser_id, checkout_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_code())
    .bind(c.amount)
    .bind(&c.currency)
    .bind(c.fan_id)
    .bind(c.id)
    .bind(now_micros())
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A refunded or charged-back gift card that was not redeemed can no longer be.
pub(crate) async fn void_gift_card(db: &mut Db, checkout_id: i64) -> Result<()> {
    sqlx::query("UPDATE gift_cards SET redeemed_by = 0, redeemed_at = $1 WHERE checkout_id = $2 AND redeemed_by IS NULL")
        .bind(now_micros())
        .bind(checkout_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// The gift cards a fan bought.
pub async fn gift_cards(db: &mut Db, fan_id: i64) -> Result<Vec<GiftCard>> {
    let rows = sqlx::query(
        "SELECT id, code, amount, currency, redeemed_by, created_at FROM gift_cards WHERE purchaser_id = $1 ORDER BY id DESC LIMIT 200",
    )
    .bind(fan_id)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| GiftCard {
            id: r.get(0),
            code: r.get(1),
            amount: r.get(2),
            currency: r.get(3),
            redeemed: r.get::<Option<i64>, _>(4).is_some(),
            created_at: r.get(5),
        })
        .collect())
}

/// Redeem a gift card into the fan's wallet.
pub async fn redeem(
    db: &mut Db,
    fan_id: i64,
    code: &str,
    actor: &Actor,
) -> Result<fanz_processors::Money> {
    let code = code.trim().to_uppercase();
    if code.len() > 40 {
        return Err(invalid("code", "unknown_gift_card", "no such gift card"));
    }
    let row =
        sqlx::query("SELECT id, amount, currency, redeemed_by FROM gift_cards WHERE code = $1")
            .bind(&code)
            .fetch_optional(&mut *db)
            .await?
            .ok_or_else(|| invalid("code", "unknown_gift_card", "no such gift card"))?;
    let (id, amount, currency): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
    let taken = sqlx::query("UPDATE gift_cards SET redeemed_by = $1, redeemed_at = $2 WHERE id = $3 AND redeemed_by IS NULL")
        .bind(fan_id)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?
        .rows_affected();
    if taken == 0 {
        return Err(PaymentsError::Conflict("gift_card_redeemed"));
    }
    let req = TemplateRequest {
        idempotency_key: format!("gift_card_redeem:{id}"),
        currency: currency.clone(),
        amount,
        fan_id: Some(fan_id),
        causation: Some(format!("gift_card:{id}")),
        ..Default::default()
    };
    templates::apply(db, "gift_card_redeem", &req, actor).await?;
    record(
        db,
        actor,
        "payments.gift_card_redeemed",
        Some(&format!("gift_card:{id}")),
        json!({"amount": amount, "currency": currency}),
    )
    .await?;
    Ok(fanz_processors::Money::new(amount, &currency))
}

//! A person's payments for their privacy export, what stands in the way of erasing them
//! (money still owed to or held for them), and what erasure changes here. The ledger is
//! never touched: its accounts stay keyed by the user id and its entries are kept as the law
//! on books requires.

use crate::{payouts, subscriptions, wallet, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_store::{query_json, sqlx, Db};
use serde_json::{json, Value};

/// Checkouts and charges they made as a fan, sales made to them as a creator (without the
/// buyer), subscriptions, wallet balances and gift cards, payout settings and payouts.
pub async fn export(db: &mut Db, user_id: i64) -> Result<Value> {
    let checkouts = query_json(
        db,
        "SELECT id, cluster, kind, processor, creator_id, tier_id, post_id, period_days, \
         trial_days, amount, renewal_amount, currency, message, status, failure, created_at, \
         updated_at FROM checkouts WHERE fan_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let charges = query_json(
        db,
        "SELECT id, processor, kind, product, checkout_id, subscription_id, creator_id, post_id, \
         amount, currency, status, reverses, created_at FROM charges WHERE fan_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let sales = query_json(
        db,
        "SELECT id, kind, product, post_id, amount, currency, fee, status, reverses, created_at \
         FROM charges WHERE creator_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let subs = subscriptions::of_fan(db, user_id).await?;
    let balances = wallet::balances(db, user_id).await?;
    let gift_cards = wallet::gift_cards(db, user_id).await?;
    let account = payouts::account(db, user_id).await?;
    let payouts = query_json(
        db,
        "SELECT id, amount, currency, method, destination, status, hold_reason, failure, \
         expected_at, created_at, updated_at FROM payouts WHERE creator_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    Ok(json!({
        "checkouts": checkouts,
        "charges": charges,
        "sales": sales,
        "subscriptions": subs,
        "wallet": balances,
        "gift_cards": gift_cards,
        "payout_account": account,
        "payouts": payouts,
    }))
}

/// Why an account cannot be erased yet, if it cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owed {
    /// Earnings not yet paid out (payable or held in the rolling reserve): (currency, minor units).
    Balance(String, i64),
    /// A payout that has not reached an end (held, pending or sent).
    OpenPayout(i64),
    /// Money left in their wallet.
    Wallet(String, i64),
}

/// What is still owed to or held for the account; empty when it may be erased.
pub async fn owed(db: &mut Db, user_id: i64) -> Result<Vec<Owed>> {
    let mut out = Vec::new();
    for cur in fanz_processors::CURRENCIES {
        let mut held = 0;
        for code in [
            format!("creator_payable:{user_id}:{cur}"),
            format!("reserve:{user_id}:{cur}"),
        ] {
            match fanz_ledger::balance(db, &code).await {
                Ok(b) => held += b.posted.max(0),
                Err(fanz_ledger::LedgerError::UnknownAccount(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if held > 0 {
            out.push(Owed::Balance(cur.to_owned(), held));
        }
        let w = wallet::balance(db, user_id, cur).await?;
        if w > 0 {
            out.push(Owed::Wallet(cur.to_owned(), w));
        }
    }
    for p in payouts::of_creator(db, user_id).await? {
        if matches!(p.status.as_str(), "held" | "pending" | "sent") {
            out.push(Owed::OpenPayout(p.id));
        }
    }
    Ok(out)
}

/// At erasure: every subscription they hold, and every subscription to them, is cancelled (no
/// renewal, access to the end of the period), the messages they sent with tips are cleared and
/// their payout destination forgotten. Charges, payouts and the ledger stay (bookkeeping).
pub async fn erase(db: &mut Db, user_id: i64, actor: &Actor) -> Result<u64> {
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM subscriptions WHERE (fan_id = $1 OR creator_id = $1) \
         AND status NOT IN ('cancelled', 'expired') ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| sqlx::Row::get(r, 0))
    .collect();
    for id in &ids {
        let sub = subscriptions::get(db, *id).await?;
        subscriptions::mark_cancelled(db, &sub, Some("account erased"), actor).await?;
    }
    sqlx::query("UPDATE checkouts SET message = NULL, updated_at = $1 WHERE fan_id = $2")
        .bind(now_micros())
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "UPDATE payout_accounts SET method = NULL, destination = NULL, updated_at = $1 \
         WHERE creator_id = $2",
    )
    .bind(now_micros())
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        "payments.erased",
        Some(&format!("user:{user_id}")),
        json!({"subscriptions_cancelled": ids.len()}),
    )
    .await?;
    Ok(ids.len() as u64)
}

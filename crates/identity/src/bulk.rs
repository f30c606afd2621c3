//! Accounts loaded in bulk: generated data for benchmarks (`fanz demo --scale`), many rows per
//! statement. Not for real sign-ups: nothing here is audited per account or published as an
//! event (the caller records one audit entry for the whole load).

use crate::Result;
use fanz_core::Role;
use fanz_store::bulk::{Rows, Value};
use fanz_store::Db;

/// One generated account. Its e-mail is `<handle>@<domain>`.
#[derive(Debug, Clone)]
pub struct BulkUser {
    /// Chosen by the caller (`fanz_store::bulk::next_id` on `users`).
    pub id: i64,
    pub handle: String,
    /// Also gets the creator role (every account gets the fan role).
    pub creator: bool,
}

/// Write `users`, all with the same password hash, created at `now`.
pub async fn insert_users(
    db: &mut Db,
    users: &[BulkUser],
    password_hash: &str,
    domain: &str,
    now: i64,
) -> Result<()> {
    let mut rows = Rows::new(
        "users",
        &[
            "id",
            "email",
            "handle",
            "password_hash",
            "created_at",
            "updated_at",
        ],
    );
    let mut roles = Rows::new("user_roles", &["user_id", "role", "granted_at"]);
    for u in users {
        rows.push([
            Value::Int(u.id),
            Value::Text(format!("{}@{domain}", u.handle)),
            Value::from(u.handle.as_str()),
            Value::from(password_hash),
            Value::Int(now),
            Value::Int(now),
        ]);
        roles.push([u.id.into(), Role::Fan.as_str().into(), now.into()]);
        if u.creator {
            roles.push([u.id.into(), Role::Creator.as_str().into(), now.into()]);
        }
    }
    rows.flush(db).await?;
    roles.flush(db).await?;
    Ok(())
}

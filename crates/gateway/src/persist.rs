//! Runtime registrations in the store (`gateway_instances`, migration 0020), audited, so every
//! stateless node routes to the same instances. SQL written once for both backends.

use crate::error::GatewayError;
use crate::registry::RuntimeInstance;
use fanz_audit::Actor;
use fanz_store::{sqlx, Store};
use serde_json::json;
use sqlx::Row;

fn db(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Internal(format!("store: {e}"))
}

pub(crate) async fn load_all(store: &Store) -> Result<Vec<RuntimeInstance>, GatewayError> {
    let mut conn = store.conn().await.map_err(db)?;
    let rows =
        sqlx::query("SELECT id, service_id, url, health_path FROM gateway_instances ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|r| RuntimeInstance {
            id: r.get(0),
            service_id: r.get(1),
            url: r.get(2),
            health_path: r.get(3),
        })
        .collect())
}

/// Insert unless the same URL is already registered for the service; returns the existing
/// registration in that case.
pub(crate) async fn insert(
    store: &Store,
    inst: &RuntimeInstance,
    actor: &Actor,
) -> Result<Option<RuntimeInstance>, GatewayError> {
    let mut tx = store.begin().await.map_err(db)?;
    let existing = sqlx::query(
        "SELECT id, health_path FROM gateway_instances WHERE service_id = $1 AND url = $2",
    )
    .bind(&inst.service_id)
    .bind(&inst.url)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    if let Some(r) = existing {
        return Ok(Some(RuntimeInstance {
            id: r.get(0),
            service_id: inst.service_id.clone(),
            url: inst.url.clone(),
            health_path: r.get(1),
        }));
    }
    sqlx::query(
        "INSERT INTO gateway_instances (id, service_id, url, health_path, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&inst.id)
    .bind(&inst.service_id)
    .bind(&inst.url)
    .bind(&inst.health_path)
    .bind(actor.user_id)
    .bind(fanz_core::clock::now_micros())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    fanz_audit::record(
        &mut tx,
        actor,
        "gateway.instance.register",
        Some(&format!("service:{}", inst.service_id)),
        json!({"instance": inst.id, "url": inst.url, "health_path": inst.health_path}),
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(None)
}

/// Returns whether a row was deleted.
pub(crate) async fn delete(
    store: &Store,
    service_id: &str,
    instance_id: &str,
    actor: &Actor,
) -> Result<bool, GatewayError> {
    let mut tx = store.begin().await.map_err(db)?;
    let n = sqlx::query("DELETE FROM gateway_instances WHERE id = $1 AND service_id = $2")
        .bind(instance_id)
        .bind(service_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    fanz_audit::record(
        &mut tx,
        actor,
        "gateway.instance.deregister",
        Some(&format!("service:{service_id}")),
        json!({"instance": instance_id}),
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}

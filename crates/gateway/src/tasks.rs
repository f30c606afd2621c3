//! Background work: active health checks, catalogue hot reload (mtime polling: no file-watch
//! dependency, works on every filesystem including ConfigMap mounts), DNS discovery and store
//! sync. All stop when the [`Background`] handle is dropped.

use crate::catalogue::Catalogue;
use crate::error::GatewayError;
use crate::Gateway;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Running background tasks; dropping this stops them.
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn every<F, Fut>(period_ms: u64, gw: &Gateway, f: F) -> Option<JoinHandle<()>>
where
    F: Fn(Gateway) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    if period_ms == 0 {
        return None;
    }
    let gw = gw.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(period_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            f(gw.clone()).await;
        }
    }))
}

pub(crate) fn start(gw: Gateway) -> Background {
    let cfg = gw.inner.cfg.clone();
    let mut tasks = Vec::new();
    tasks.extend(every(cfg.health.interval_ms, &gw, |gw| async move {
        crate::health::check_all(&gw).await;
    }));
    if gw.inner.catalogue_path.is_some() {
        tasks.extend(every(cfg.reload_interval_ms, &gw, |gw| async move {
            if let Err(e) = reload_if_changed(&gw) {
                tracing::warn!(error = %e, "services.toml not reloaded; keeping the previous catalogue");
            }
        }));
    }
    tasks.extend(every(cfg.dns_interval_ms, &gw, |gw| async move {
        discover(&gw).await;
    }));
    if gw.inner.store.is_some() {
        tasks.extend(every(cfg.sync_interval_ms, &gw, |gw| async move {
            if let Err(e) = gw.sync_from_store().await {
                tracing::warn!(error = %e, "gateway store sync failed");
            }
        }));
    }
    Background { tasks }
}

pub(crate) fn reload_if_changed(gw: &Gateway) -> Result<bool, GatewayError> {
    let Some(path) = &gw.inner.catalogue_path else {
        return Ok(false);
    };
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| GatewayError::Catalogue(format!("{}: {e}", path.display())))?;
    {
        let last = gw
            .inner
            .catalogue_mtime
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *last == Some(mtime) {
            return Ok(false);
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| GatewayError::Catalogue(format!("{}: {e}", path.display())))?;
    // Remember the mtime even when parsing fails, so a broken file is reported once.
    *gw.inner
        .catalogue_mtime
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(mtime);
    let catalogue = Catalogue::parse(&text)?;
    let n = catalogue.services.len();
    gw.inner.registry.set_catalogue(catalogue);
    tracing::info!(services = n, "services.toml reloaded");
    Ok(true)
}

/// Resolve each service's `dns` name (`dns.rs`). A failed lookup keeps the previous addresses.
pub(crate) async fn discover(gw: &Gateway) {
    let snap = gw.inner.registry.snapshot();
    for s in &snap.services {
        let Some(name) = &s.def.dns else { continue };
        match gw.inner.dns.resolve(name, s.def.port).await {
            Ok(addrs) => {
                if gw.inner.registry.set_dns(&s.def.id, addrs) {
                    tracing::info!(service = %s.def.id, %name, "DNS instances changed");
                }
            }
            Err(e) => {
                tracing::warn!(service = %s.def.id, %name, error = %e, "DNS lookup failed")
            }
        }
    }
}

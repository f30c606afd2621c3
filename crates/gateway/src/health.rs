//! Active health checks: `GET <instance><health_path>` every `health.interval_ms` (30 s by
//! default), 2xx within `health.timeout_ms` is a pass. `unhealthy_threshold` failures in a row
//! take an instance down (a never-checked instance goes down on its first failure);
//! `healthy_threshold` passes bring it back and close its breaker.

use crate::registry::{Health, Instance};
use crate::Gateway;
use axum::body::Body;
use http::{header, HeaderValue, Request};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub(crate) async fn check_all(gw: &Gateway) {
    let snap = gw.inner.registry.snapshot();
    let mut set = tokio::task::JoinSet::new();
    for s in &snap.services {
        for i in &s.instances {
            let gw = gw.clone();
            let i = i.clone();
            set.spawn(async move { check(&gw, &i).await });
        }
    }
    while set.join_next().await.is_some() {}
}

pub(crate) async fn check(gw: &Gateway, inst: &Arc<Instance>) {
    let cfg = &gw.inner.cfg.health;
    let started = Instant::now();
    let outcome = match inst.url.request_uri(&inst.health_path) {
        Err(e) => Err(format!("bad health URI: {e}")),
        Ok(uri) => {
            let mut req = Request::new(Body::empty());
            *req.uri_mut() = uri;
            req.headers_mut().insert(
                header::USER_AGENT,
                HeaderValue::from_static("fanz-gateway-health"),
            );
            let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
            let fut = async {
                let res = inst.pool.send(req, ()).await.map_err(|e| e.to_string())?;
                let status = res.status();
                // Read the (small) body so the connection goes back to the pool.
                let _ = res.into_body().collect().await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("health check answered {status}"))
                }
            };
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err("health check timed out".into()),
            }
        }
    };
    let latency = started.elapsed();
    let now = Instant::now();
    let mut st = inst.lock();
    st.last_check_micros = Some(fanz_core::clock::now_micros());
    st.last_latency_us = Some(latency.as_micros() as u64);
    match outcome {
        Ok(()) => {
            st.ok_streak += 1;
            st.fail_streak = 0;
            st.last_error = None;
            if st.health != Health::Up && st.ok_streak >= cfg.healthy_threshold.max(1) {
                if st.health == Health::Down {
                    tracing::info!(service = %inst.service_id, instance = %inst.id, "instance is healthy again");
                }
                st.health = Health::Up;
                st.breaker.close(now);
            }
        }
        Err(e) => {
            st.fail_streak += 1;
            st.ok_streak = 0;
            if st.health != Health::Down
                && (st.health == Health::Unknown
                    || st.fail_streak >= cfg.unhealthy_threshold.max(1))
            {
                tracing::warn!(service = %inst.service_id, instance = %inst.id, error = %e, "instance is down");
                st.health = Health::Down;
            }
            st.last_error = Some(e);
        }
    }
    let up = st.health == Health::Up;
    let breaker = st.breaker.state(now);
    drop(st);
    crate::metrics::instance_up(&inst.service_id, &inst.id, up);
    crate::metrics::breaker_state(&inst.service_id, &inst.id, breaker);
}

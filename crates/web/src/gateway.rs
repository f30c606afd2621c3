//! The gateway mounted in the web app: its edge authentication is the identity module's
//! (session cookie, bearer session token, API key), and its builtins are the modules this
//! binary really has.

use crate::extract::{cookie, SESSION_COOKIE};
use axum::http::HeaderMap;
use fanz_gateway::{Caller, EdgeAuth, Gateway, GatewayError, Via};
use fanz_identity::AuthMethod;
use fanz_store::Store;
use std::sync::Arc;

/// The modules of this binary that provide catalogue services (`builtin:<module>`).
pub const MODULES: [&str; 5] = ["identity", "profiles", "clusters", "ledger", "audit"];

/// Session, bearer token or API key, resolved by `fanz_identity::authenticate`.
pub struct IdentityEdge {
    pub store: Store,
}

#[async_trait::async_trait]
impl EdgeAuth for IdentityEdge {
    async fn authenticate(&self, headers: &HeaderMap) -> Option<Caller> {
        let (token, from_cookie) = match crate::extract::bearer(headers) {
            Some(t) => (t, false),
            None => (cookie(headers, SESSION_COOKIE)?, true),
        };
        let mut db = match self.store.conn().await {
            Ok(db) => db,
            Err(e) => {
                tracing::warn!(error = %e, "gateway: store unavailable for authentication");
                return None;
            }
        };
        let p = match fanz_identity::authenticate(&mut db, &token).await {
            Ok(p) => p?,
            Err(e) => {
                tracing::warn!(error = %e, "gateway: authentication failed");
                return None;
            }
        };
        let via = match p.via {
            AuthMethod::ApiKey { .. } => Via::ApiKey,
            AuthMethod::Session { .. } if from_cookie => Via::Session,
            AuthMethod::Session { .. } => Via::Bearer,
        };
        Some(Caller {
            user_id: p.user_id,
            handle: p.handle,
            roles: p.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            via,
        })
    }
}

/// The gateway over this binary's modules and clusters.
pub fn build(
    config: &fanz_config::Config,
    store: &Store,
    clusters: &fanz_clusters::Clusters,
) -> Result<Gateway, GatewayError> {
    Gateway::builder(config.gateway.clone())
        .modules(MODULES)
        .clusters(clusters.all().iter().map(|c| c.slug.clone()))
        .auth(Arc::new(IdentityEdge {
            store: store.clone(),
        }))
        .store(store.clone())
        .build_now()
}

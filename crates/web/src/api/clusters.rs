//! /api/v1/clusters: the brands this server runs, with their themes.

use super::wire::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Path;
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// Every cluster with its theme and policy.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters",
    responses((status = 200, body = ClusterList)))]
pub async fn list(State(state): State<AppState>) -> Response {
    // Clusters change only on restart: the body is rendered once.
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.clusters_json.clone(),
    )
        .into_response()
}

/// One cluster.
#[utoipa::path(get, path = "/api/v1/clusters/{slug}", tag = "clusters",
    params(("slug" = String, Path)),
    responses((status = 200, body = fanz_clusters::Cluster), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<axum::Json<fanz_clusters::Cluster>> {
    state
        .clusters
        .get(&slug)
        .cloned()
        .map(axum::Json)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "cluster_not_found",
                format!("no cluster {slug:?}"),
            )
        })
}

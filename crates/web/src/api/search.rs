//! /api/v1/search: posts and creators by text and tags, per cluster, typo tolerant. Every post
//! hit is rendered through the entitlement function (a hit the caller may not know of is
//! dropped, a locked one is a preview); creators who blocked the caller are left out.

use crate::api::content::viewer_of;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{MaybeAuth, Query, RequestActor};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use fanz_content::views::PostView;
use fanz_identity::Principal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to look for (at most 256 characters are used).
    pub q: String,
    /// Only this cluster.
    pub cluster: Option<String>,
    /// posts, creators or all (default).
    pub kind: Option<String>,
    /// `off` includes posts marked sensitive (signed in only).
    pub safe: Option<String>,
    /// 1 to 50, default 20.
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatorHit {
    pub handle: String,
    pub display_name: String,
    pub avatar_url: String,
    pub bio: String,
    pub clusters: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResponse {
    pub posts: Vec<PostView>,
    pub creators: Vec<CreatorHit>,
    /// How many posts match when `total_posts_exact` is true. When it is false the query
    /// matched so many posts that only the newest of them (a few hundred, more for deep pages)
    /// were ranked and counted: there are at least `total_posts` (show it as "400+").
    pub total_posts: usize,
    /// Whether `total_posts` counts every match, or is a lower bound.
    pub total_posts_exact: bool,
    pub total_creators: usize,
    /// Why the query was answered with nothing: `banned_term` when it names a term banned on
    /// the cluster searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<fanz_content::Refusal>,
}

/// Search posts and creators.
#[utoipa::path(get, path = "/api/v1/search", tag = "content",
    params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    Query(p): Query<SearchParams>,
) -> ApiResult<axum::Json<SearchResponse>> {
    let kinds = match p.kind.as_deref().unwrap_or("all") {
        "all" => fanz_search::Kinds::Both,
        "posts" => fanz_search::Kinds::Posts,
        "creators" => fanz_search::Kinds::Creators,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_kind",
                "kind must be posts, creators or all",
            ))
        }
    };
    Ok(axum::Json(
        run(
            &state,
            &actor,
            me.as_ref(),
            &p.q,
            p.cluster.as_deref(),
            kinds,
            p.safe.as_deref(),
            p.limit.unwrap_or(20),
            p.offset.unwrap_or(0),
        )
        .await?,
    ))
}

/// One search for `me`, rendered: used by the API and the search page.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    state: &AppState,
    actor: &fanz_audit::Actor,
    me: Option<&Principal>,
    q: &str,
    cluster: Option<&str>,
    kinds: fanz_search::Kinds,
    safe: Option<&str>,
    limit: usize,
    offset: usize,
) -> ApiResult<SearchResponse> {
    if let Some(term) = state.banned.for_cluster(cluster.unwrap_or("")).find(q) {
        return Ok(SearchResponse {
            posts: vec![],
            creators: vec![],
            total_posts: 0,
            total_posts_exact: true,
            total_creators: 0,
            refused: Some(fanz_content::Refusal::new(
                "banned_term",
                format!("searches for {term:?} are not allowed here"),
            )),
        });
    }
    let Some(index) = &state.search else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "search is not available on this node",
        ));
    };
    let signed_off = me.is_some() && safe == Some("off");
    let include_sensitive = match cluster {
        Some(slug) => {
            let c = state
                .clusters
                .get(slug)
                .ok_or_else(|| ApiError::not_found("cluster"))?;
            c.policy.shows_sensitive(signed_off)
        }
        None => signed_off,
    };
    let found = index
        .search(fanz_search::SearchQuery {
            q: q.to_owned(),
            cluster: cluster.map(str::to_owned),
            include_sensitive,
            kinds,
            limit: limit.clamp(1, 50),
            offset: offset.min(10_000),
            exact: false,
        })
        .await
        .map_err(|e| match e {
            crate::search::SearchFailure::Busy => {
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_busy",
                    "search is busy; try again",
                );
                err.retry_after = Some(1);
                err
            }
            other => ApiError::internal(other),
        })?;
    let viewer = viewer_of(me);
    let actor = crate::api::content::acting(actor, me);
    let mut db = state.store.conn().await?;
    let ids: Vec<i64> = found.posts.iter().map(|h| h.id).collect();
    let creator_ids: Vec<i64> = found.creators.iter().map(|h| h.id).collect();
    let posts = fanz_content::posts::get_many(&mut db, &ids).await?;
    // The viewer's facts about the posts and the creators found, read once for both.
    let facts =
        fanz_content::Facts::load_with_creators(&mut db, viewer, &posts, &creator_ids).await?;
    let posts = crate::views::render_with(state, &mut db, viewer, &actor, posts, &facts).await?;
    let mut profiles = fanz_profiles::get_many(&mut db, &creator_ids).await?;
    profiles.sort_by_key(|p| creator_ids.iter().position(|id| *id == p.user_id));
    let creators = profiles
        .into_iter()
        .filter(|p| p.is_creator && !facts.is_blocked_by(p.user_id))
        .map(|p| CreatorHit {
            avatar_url: if p.avatar_url.is_empty() {
                format!("/art/avatar/{}.svg", p.handle)
            } else {
                p.avatar_url
            },
            handle: p.handle,
            display_name: p.display_name,
            bio: p.bio,
            clusters: p.clusters,
        })
        .collect();
    Ok(SearchResponse {
        posts,
        creators,
        total_posts: found.total_posts,
        total_posts_exact: found.total_posts_exact,
        total_creators: found.total_creators,
        refused: None,
    })
}

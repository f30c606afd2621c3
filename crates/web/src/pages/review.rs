//! The moderators' review queue at `/admin/reviews`: each post a cluster holds for review,
//! with its creator, clusters, text, teaser, tags and media thumbnails, and a form to approve
//! it or reject it with a statement of reasons. Who reviews is `fanz_safety::REVIEWERS`; the
//! rules live in the safety crate.

use super::csrf::{CsrfForm, CsrfToken};
use super::{go, layout, render, Layout};
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use fanz_core::clock::now_micros;
use fanz_safety::review::{self, Review};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/reviews", get(queue))
        .route("/admin/reviews/{id}/decide", post(decide))
}

/// One media item as a reviewer sees it.
pub struct Thumb {
    pub id: i64,
    pub kind: String,
    pub state: String,
    /// A URL signed for the reviewer, for a ready image.
    pub url: Option<String>,
}

pub struct ReviewRow {
    pub review: Review,
    pub handle: String,
    pub clusters: String,
    pub text: String,
    pub teaser: String,
    pub tags: String,
    pub visibility: String,
    pub requested: String,
    pub media: Vec<Thumb>,
    /// The post was deleted since.
    pub gone: bool,
}

#[derive(Template)]
#[template(path = "review_queue.html")]
pub struct QueuePage {
    pub layout: Layout,
    pub rows: Vec<ReviewRow>,
    pub status: String,
    pub notice: Option<String>,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    pub status: Option<String>,
    pub cluster: Option<String>,
    pub notice: Option<String>,
}

async fn row(
    state: &AppState,
    db: &mut fanz_store::Db,
    viewer: i64,
    r: Review,
) -> Result<ReviewRow, ApiError> {
    let handle = fanz_profiles::get_by_user(db, r.author_id)
        .await
        .map(|p| p.handle)
        .unwrap_or_else(|_| format!("user {}", r.author_id));
    let names = |slugs: &[String]| {
        slugs
            .iter()
            .map(|s| {
                state
                    .clusters
                    .get(s)
                    .map(|c| c.name.clone())
                    .unwrap_or(s.clone())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let requested = fanz_safety::reports::rfc3339(r.requested_at);
    let post = match fanz_content::posts::get(db, r.post_id).await {
        Ok(p) => p,
        Err(fanz_content::ContentError::NotFound) => {
            return Ok(ReviewRow {
                clusters: names(&r.clusters),
                review: r,
                handle,
                text: String::new(),
                teaser: String::new(),
                tags: String::new(),
                visibility: String::new(),
                requested,
                media: vec![],
                gone: true,
            })
        }
        Err(e) => return Err(e.into()),
    };
    let mut media = vec![];
    for m in fanz_media::screening(db, &post.media).await? {
        let mut url = None;
        if m.state == fanz_media::MediaState::Ready && m.kind == fanz_media::MediaKind::Image {
            let item = fanz_media::get(db, m.id).await?;
            if let Some(rend) = item
                .renditions
                .iter()
                .filter(|x| !x.teaser)
                .min_by_key(|x| x.width)
            {
                url = Some(fanz_media::delivery_url(
                    &state.media.keys,
                    m.id,
                    &rend.name,
                    Some(viewer),
                    state.media.limits.url_ttl,
                ));
            }
        }
        media.push(Thumb {
            id: m.id,
            kind: m.kind.as_str().into(),
            state: m.state.as_str().into(),
            url,
        });
    }
    Ok(ReviewRow {
        clusters: names(&post.clusters),
        handle,
        gone: post.state == fanz_content::PostState::Deleted,
        text: post.text,
        teaser: post.teaser,
        tags: post
            .tags
            .iter()
            .map(|t| format!("#{t}"))
            .collect::<Vec<_>>()
            .join(" "),
        visibility: post.visibility.as_str().into(),
        requested,
        media,
        review: r,
    })
}

async fn queue(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    csrf: CsrfToken,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !fanz_safety::is_reviewer(&me.roles) {
        return Err(ApiError::forbidden());
    }
    let status = q.status.filter(|s| !s.is_empty());
    let cluster = q.cluster.filter(|s| !s.is_empty());
    let mut db = state.store.conn().await?;
    let mut rows = vec![];
    for r in review::list(&mut db, status.as_deref(), cluster.as_deref(), 50).await? {
        rows.push(row(&state, &mut db, me.user_id, r).await?);
    }
    Ok(render(
        StatusCode::OK,
        QueuePage {
            layout: layout(&pc, Some(&me), &csrf),
            rows,
            status: status.unwrap_or_else(|| "pending".into()),
            notice: q.notice,
        },
    ))
}

#[derive(Deserialize)]
pub struct DecideForm {
    pub outcome: String,
    #[serde(default)]
    pub reason: String,
}

async fn decide(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(f): CsrfForm<DecideForm>,
) -> Result<Response, ApiError> {
    // Served at the root and under /c/{slug}: the id is one of one or two parameters.
    let id: i64 = params
        .get("id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::not_found("review"))?;
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    if !fanz_safety::is_reviewer(&me.roles) {
        return Err(ApiError::forbidden());
    }
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let notice = match review::decide(
        &mut tx,
        &state.content,
        id,
        &f.outcome,
        &f.reason,
        me.user_id,
        now_micros(),
        &actor,
    )
    .await
    {
        Ok(r) => {
            tx.commit().await?;
            format!("review-{id}-{}", r.status)
        }
        Err(e) => {
            let err = ApiError::from(e);
            if err.status.is_server_error() {
                return Err(err);
            }
            err.code.to_owned()
        }
    };
    Ok(go(&pc, &format!("/admin/reviews?notice={notice}")))
}

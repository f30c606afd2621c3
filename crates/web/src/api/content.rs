//! /api/v1 posts, stories, tiers, feeds, interactions, blocks and fan lists. Who may see a
//! post is decided by `fanz_content::may_view` (through `open` and `views::render`), who may
//! change one by `fanz_content::posts::owned`; handlers only parse, call and map.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, Json, MaybeAuth, Path, Query, RequestActor};
use crate::views;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use fanz_audit::Actor;
use fanz_content::entitlements::{self, Relation, Side};
use fanz_content::interactions::{self, Comment, Moderation, NewComment};
use fanz_content::views::PostView;
use fanz_content::{feeds, posts, tiers, NewPost, NewTier, PostEdit, PostState, Tier, Viewer};
use fanz_core::clock::now_micros;
use fanz_core::Role;
use fanz_identity::Principal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_post))
        .routes(routes!(get_post, edit_post, delete_post))
        .routes(routes!(publish_post))
        .routes(routes!(schedule_post))
        .routes(routes!(hide_post))
        .routes(routes!(pin_post, unpin_post))
        .routes(routes!(revisions))
        .routes(routes!(like, unlike))
        .routes(routes!(list_comments, add_comment))
        .routes(routes!(moderate_comment))
        .routes(routes!(bookmark, unbookmark))
        .routes(routes!(my_bookmarks))
        .routes(routes!(my_posts))
        .routes(routes!(create_tier, my_tiers))
        .routes(routes!(update_tier, archive_tier))
        .routes(routes!(creator_tiers))
        .routes(routes!(join_tier))
        .routes(routes!(home_feed))
        .routes(routes!(cluster_feed))
        .routes(routes!(creator_posts))
        .routes(routes!(tag_posts))
        .routes(routes!(home_stories))
        .routes(routes!(creator_stories))
        .routes(routes!(blocks))
        .routes(routes!(block, unblock))
        .routes(routes!(my_fans))
        .routes(routes!(my_creators))
        .routes(routes!(admin_grant))
}

/// The viewer a principal is to the entitlement function.
pub fn viewer_of(p: Option<&Principal>) -> Viewer {
    match p {
        None => Viewer::ANONYMOUS,
        Some(p) => Viewer {
            user_id: Some(p.user_id),
            staff: p.has_role(Role::Admin)
                || p.has_role(Role::Moderator)
                || p.has_role(Role::Compliance),
        },
    }
}

/// The request's actor, naming the signed-in account if there is one.
pub(crate) fn acting(actor: &Actor, p: Option<&Principal>) -> Actor {
    match p {
        Some(p) => actor.with_user(p.user_id),
        None => actor.clone(),
    }
}

/// One post rendered for its viewer; hidden → 404.
async fn render_one(
    state: &AppState,
    db: &mut fanz_store::Db,
    viewer: Viewer,
    actor: &Actor,
    post: fanz_content::Post,
) -> ApiResult<PostView> {
    views::render(state, db, viewer, actor, vec![post])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("post"))
}

/// A page of posts.
#[derive(Serialize, ToSchema)]
pub struct FeedResponse {
    pub items: Vec<PostView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// A creator's pinned posts (first page of their posts only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pinned: Vec<PostView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 50; default 20.
    pub limit: Option<i64>,
}

async fn feed_page(
    state: &AppState,
    viewer: Viewer,
    actor: &Actor,
    page: feeds::FeedPage,
) -> ApiResult<FeedResponse> {
    let mut db = state.store.conn().await?;
    let items = views::render_ids(state, &mut db, viewer, actor, &page.ids).await?;
    Ok(FeedResponse {
        items,
        next_cursor: page.next,
        pinned: vec![],
    })
}

/// Create a post or story: a draft, scheduled with `publish_at`, or published at once with
/// `publish: true` (through the publish gate).
#[utoipa::path(post, path = "/api/v1/posts", tag = "content", security(("bearer" = [])),
    request_body = NewPost,
    responses((status = 201, body = PostView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Json(req): Json<NewPost>,
) -> ApiResult<(StatusCode, axum::Json<PostView>)> {
    auth.require_any(&[Role::Creator])?;
    let me = &auth.0;
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let (post, _) =
        crate::flows::create_post(&mut tx, &state.content, me.user_id, req, &actor).await?;
    let view = render_one(&state, &mut tx, viewer_of(Some(me)), &actor, post).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// A post as the caller may see it: in full, or its locked preview (`locked: true`, teaser
/// only, no text, no media). 404 for a post the caller may not know of.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "content",
    params(("id" = i64, Path)),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody)))]
pub async fn get_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PostView>> {
    let viewer = viewer_of(me.as_ref());
    let actor = acting(&actor, me.as_ref());
    let mut db = state.store.conn().await?;
    let post = posts::get(&mut db, id).await?;
    Ok(axum::Json(
        render_one(&state, &mut db, viewer, &actor, post).await?,
    ))
}

/// Edit your post; the old version is kept. Editing a published post passes the gate again.
#[utoipa::path(patch, path = "/api/v1/posts/{id}", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = PostEdit,
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn edit_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(req): Json<PostEdit>,
) -> ApiResult<axum::Json<PostView>> {
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let post = posts::edit(&mut tx, &state.content, me.user_id, id, req, &actor).await?;
    let view = render_one(&state, &mut tx, viewer_of(Some(&me)), &actor, post).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// Delete your post (kept 30 days, then purged).
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    posts::delete(&mut tx, me.user_id, id, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn owner_action<F>(
    state: &AppState,
    me: &Principal,
    actor: &Actor,
    f: F,
) -> ApiResult<axum::Json<PostView>>
where
    F: for<'a> FnOnce(
        &'a mut fanz_store::Db,
        &'a Actor,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = fanz_content::Result<fanz_content::Post>> + Send + 'a>,
    >,
{
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let post = f(&mut tx, &actor).await?;
    let view = render_one(state, &mut tx, viewer_of(Some(me)), &actor, post).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// Publish your draft, scheduled or hidden post now. 409 `publish_refused` lists every reason
/// the gate refused. On a cluster that reviews posts before publication the post is submitted
/// for review instead: 202, still unpublished, its `refusal` saying it waits for review.
#[utoipa::path(post, path = "/api/v1/posts/{id}/publish", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = PostView), (status = 202, body = PostView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn publish_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<PostView>)> {
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let (post, submitted) =
        crate::flows::publish_or_submit(&mut tx, &state.content, me.user_id, id, &actor).await?;
    let view = render_one(&state, &mut tx, viewer_of(Some(&me)), &actor, post).await?;
    tx.commit().await?;
    let status = if submitted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Microseconds since the epoch, in the future.
    pub publish_at: i64,
}

/// Schedule your draft for later (the publish job runs the gate then).
#[utoipa::path(post, path = "/api/v1/posts/{id}/schedule", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ScheduleRequest,
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn schedule_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(req): Json<ScheduleRequest>,
) -> ApiResult<axum::Json<PostView>> {
    let uid = me.user_id;
    let env = state.content.clone();
    owner_action(&state, &me, &actor, move |db, actor| {
        Box::pin(async move {
            let post = posts::schedule_post(db, uid, id, req.publish_at, actor).await?;
            Ok(crate::flows::submit_scheduled(db, &env, post, actor)
                .await?
                .0)
        })
    })
    .await
}

/// Take your published or scheduled post out of sight.
#[utoipa::path(post, path = "/api/v1/posts/{id}/hide", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn hide_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PostView>> {
    let uid = me.user_id;
    owner_action(&state, &me, &actor, move |db, actor| {
        Box::pin(async move { posts::hide(db, uid, id, actor).await })
    })
    .await
}

/// Pin your post to the top of your page.
#[utoipa::path(post, path = "/api/v1/posts/{id}/pin", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn pin_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PostView>> {
    let uid = me.user_id;
    owner_action(&state, &me, &actor, move |db, actor| {
        Box::pin(async move { posts::pin(db, uid, id, true, actor).await })
    })
    .await
}

/// Unpin your post.
#[utoipa::path(delete, path = "/api/v1/posts/{id}/pin", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unpin_post(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PostView>> {
    let uid = me.user_id;
    owner_action(&state, &me, &actor, move |db, actor| {
        Box::pin(async move { posts::pin(db, uid, id, false, actor).await })
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct RevisionList {
    pub revisions: Vec<posts::Revision>,
}

/// Earlier versions of your post, newest first.
#[utoipa::path(get, path = "/api/v1/posts/{id}/revisions", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = RevisionList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revisions(
    State(state): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<RevisionList>> {
    let mut db = state.store.conn().await?;
    let revisions = posts::revisions(&mut db, me.user_id, id).await?;
    Ok(axum::Json(RevisionList { revisions }))
}

#[derive(Serialize, ToSchema)]
pub struct LikeResponse {
    pub liked: bool,
    pub likes: i64,
}

/// Like a post you can see in full (idempotent).
#[utoipa::path(post, path = "/api/v1/posts/{id}/likes", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = LikeResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn like(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<LikeResponse>> {
    let mut tx = state.store.begin().await?;
    let likes = interactions::like(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(LikeResponse { liked: true, likes }))
}

/// Take your like back (idempotent).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/likes", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = LikeResponse), (status = 404, body = ErrorBody)))]
pub async fn unlike(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<LikeResponse>> {
    let mut tx = state.store.begin().await?;
    let likes = interactions::unlike(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(LikeResponse {
        liked: false,
        likes,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CommentList {
    pub comments: Vec<Comment>,
    /// Pass as `after` for the next page.
    pub next_after: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommentQuery {
    /// Comments after this id.
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

/// The comments on a post you can see in full, oldest first.
#[utoipa::path(get, path = "/api/v1/posts/{id}/comments", tag = "content",
    params(("id" = i64, Path), CommentQuery),
    responses((status = 200, body = CommentList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_comments(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    Path(id): Path<i64>,
    Query(q): Query<CommentQuery>,
) -> ApiResult<axum::Json<CommentList>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let mut db = state.store.conn().await?;
    let comments = interactions::comments(
        &mut db,
        viewer_of(me.as_ref()),
        &acting(&actor, me.as_ref()),
        id,
        q.after.unwrap_or(0),
        limit,
    )
    .await?;
    let next_after = (comments.len() as i64 == limit)
        .then(|| comments.last().map(|c| c.id))
        .flatten();
    Ok(axum::Json(CommentList {
        comments,
        next_after,
    }))
}

/// Comment on (or reply within) a post you can see in full. Rate limited: 429 `rate_limited`.
#[utoipa::path(post, path = "/api/v1/posts/{id}/comments", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewComment,
    responses((status = 201, body = Comment), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn add_comment(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(req): Json<NewComment>,
) -> ApiResult<(StatusCode, axum::Json<Comment>)> {
    let mut tx = state.store.begin().await?;
    let c = interactions::comment(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
        req,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerateRequest {
    pub action: Moderation,
}

/// Hide, show or delete a comment on your post, or delete your own comment.
#[utoipa::path(post, path = "/api/v1/comments/{id}/moderate", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ModerateRequest,
    responses((status = 200, body = Comment), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn moderate_comment(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(req): Json<ModerateRequest>,
) -> ApiResult<axum::Json<Comment>> {
    let mut tx = state.store.begin().await?;
    let c = interactions::moderate_comment(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
        req.action,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}

/// Save a post to your bookmarks.
#[utoipa::path(post, path = "/api/v1/posts/{id}/bookmark", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn bookmark(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    interactions::bookmark(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
        true,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a post from your bookmarks.
#[utoipa::path(delete, path = "/api/v1/posts/{id}/bookmark", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unbookmark(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    interactions::bookmark(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
        false,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your saved posts, newest first (as you may see them now).
#[utoipa::path(get, path = "/api/v1/me/bookmarks", tag = "content", security(("bearer" = [])),
    responses((status = 200, body = FeedResponse), (status = 401, body = ErrorBody)))]
pub async fn my_bookmarks(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
) -> ApiResult<axum::Json<FeedResponse>> {
    let mut db = state.store.conn().await?;
    let ids = interactions::bookmarked(&mut db, me.user_id, 200).await?;
    drop(db);
    let page = feeds::FeedPage { ids, next: None };
    Ok(axum::Json(
        feed_page(
            &state,
            viewer_of(Some(&me)),
            &actor.with_user(me.user_id),
            page,
        )
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyPostsQuery {
    /// draft, scheduled, published or hidden; default all but deleted.
    pub state: Option<PostState>,
}

/// Your posts in every state (the studio), newest first.
#[utoipa::path(get, path = "/api/v1/me/posts", tag = "content", security(("bearer" = [])),
    params(MyPostsQuery),
    responses((status = 200, body = FeedResponse), (status = 401, body = ErrorBody)))]
pub async fn my_posts(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Query(q): Query<MyPostsQuery>,
) -> ApiResult<axum::Json<FeedResponse>> {
    let mut db = state.store.conn().await?;
    let list = posts::by_author_all(&mut db, me.user_id, q.state, 200).await?;
    let items = views::render(
        &state,
        &mut db,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        list,
    )
    .await?;
    Ok(axum::Json(FeedResponse {
        items,
        next_cursor: None,
        pinned: vec![],
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TierList {
    pub tiers: Vec<Tier>,
}

/// Add a subscription tier (creators). Price 0 makes a free tier.
#[utoipa::path(post, path = "/api/v1/creators/me/tiers", tag = "content", security(("bearer" = [])),
    request_body = NewTier,
    responses((status = 201, body = Tier), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_tier(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Json(req): Json<NewTier>,
) -> ApiResult<(StatusCode, axum::Json<Tier>)> {
    auth.require_any(&[Role::Creator])?;
    let mut tx = state.store.begin().await?;
    let t = tiers::create(
        &mut tx,
        auth.0.user_id,
        req,
        &actor.with_user(auth.0.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// Your tiers, archived ones included.
#[utoipa::path(get, path = "/api/v1/creators/me/tiers", tag = "content", security(("bearer" = [])),
    responses((status = 200, body = TierList), (status = 401, body = ErrorBody)))]
pub async fn my_tiers(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<TierList>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(TierList {
        tiers: tiers::list(&mut db, me.user_id, true).await?,
    }))
}

/// Change one of your tiers.
#[utoipa::path(put, path = "/api/v1/creators/me/tiers/{id}", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewTier,
    responses((status = 200, body = Tier), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_tier(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
    Json(req): Json<NewTier>,
) -> ApiResult<axum::Json<Tier>> {
    let mut tx = state.store.begin().await?;
    let t = tiers::update(&mut tx, me.user_id, id, req, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// Stop offering one of your tiers (subscribers keep it to the end of their period).
#[utoipa::path(delete, path = "/api/v1/creators/me/tiers/{id}", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn archive_tier(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    tiers::archive(&mut tx, me.user_id, id, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A creator's offered tiers, cheapest first.
#[utoipa::path(get, path = "/api/v1/creators/{handle}/tiers", tag = "content",
    params(("handle" = String, Path)),
    responses((status = 200, body = TierList), (status = 404, body = ErrorBody)))]
pub async fn creator_tiers(
    State(state): State<AppState>,
    MaybeAuth(me): MaybeAuth,
    Path(handle): Path<String>,
) -> ApiResult<axum::Json<TierList>> {
    let mut db = state.store.conn().await?;
    let creator = visible_creator(&mut db, me.as_ref(), &handle).await?;
    Ok(axum::Json(TierList {
        tiers: tiers::list(&mut db, creator.user_id, false).await?,
    }))
}

/// A creator profile the caller may see (a blocked viewer gets 404).
async fn visible_creator(
    db: &mut fanz_store::Db,
    me: Option<&Principal>,
    handle: &str,
) -> ApiResult<fanz_profiles::Profile> {
    let p = fanz_profiles::get_by_handle(db, handle).await?;
    if let Some(me) = me {
        if interactions::is_blocked(db, p.user_id, me.user_id).await? {
            return Err(ApiError::not_found("creator"));
        }
    }
    Ok(p)
}

/// Join a creator's free tier.
#[utoipa::path(post, path = "/api/v1/tiers/{id}/join", tag = "content", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn join_tier(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    entitlements::join_free_tier(&mut tx, me.user_id, id, &actor.with_user(me.user_id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Posts from the creators you follow or subscribe to, newest first.
#[utoipa::path(get, path = "/api/v1/feed/home", tag = "content", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = FeedResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn home_feed(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<FeedResponse>> {
    let now = now_micros();
    let mut db = state.store.conn().await?;
    let authors = feeds::home_authors(&mut db, me.user_id, now).await?;
    let page = feeds::home(
        &mut db,
        &authors,
        q.cursor.as_deref(),
        q.limit.unwrap_or(20),
        now,
    )
    .await?;
    drop(db);
    Ok(axum::Json(
        feed_page(
            &state,
            viewer_of(Some(&me)),
            &actor.with_user(me.user_id),
            page,
        )
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClusterFeedQuery {
    /// latest (default), trending, or shorts (the short-video feed).
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    /// `off` shows posts marked sensitive on clusters with safe search (signed in only).
    pub safe: Option<String>,
}

/// Whether sensitive posts are shown on `cluster` (see `Policy::shows_sensitive`).
pub(crate) fn include_sensitive(
    cluster: &fanz_clusters::Cluster,
    me: Option<&Principal>,
    safe: Option<&str>,
) -> bool {
    cluster
        .policy
        .shows_sensitive(me.is_some() && safe == Some("off"))
}

/// A cluster's posts: latest, trending (engagement with time decay) or shorts.
#[utoipa::path(get, path = "/api/v1/clusters/{slug}/feed", tag = "content",
    params(("slug" = String, Path), ClusterFeedQuery),
    responses((status = 200, body = FeedResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn cluster_feed(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    Path(slug): Path<String>,
    Query(q): Query<ClusterFeedQuery>,
) -> ApiResult<axum::Json<FeedResponse>> {
    let cluster = state
        .clusters
        .get(&slug)
        .ok_or_else(|| ApiError::not_found("cluster"))?;
    let sensitive = include_sensitive(cluster, me.as_ref(), q.safe.as_deref());
    let now = now_micros();
    let limit = q.limit.unwrap_or(20);
    let mut db = state.store.conn().await?;
    let cursor = q.cursor.as_deref();
    let page = match q.sort.as_deref().unwrap_or("latest") {
        "latest" => {
            feeds::cluster_latest(&mut db, &slug, cursor, limit, now, sensitive, false).await?
        }
        "shorts" => {
            feeds::cluster_latest(&mut db, &slug, cursor, limit, now, sensitive, true).await?
        }
        "trending" => {
            feeds::cluster_trending(&mut db, &slug, cursor, limit, now, sensitive).await?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_sort",
                "sort must be latest, trending or shorts",
            ))
        }
    };
    drop(db);
    Ok(axum::Json(
        feed_page(
            &state,
            viewer_of(me.as_ref()),
            &acting(&actor, me.as_ref()),
            page,
        )
        .await?,
    ))
}

/// A creator's posts, newest first; the first page also lists pinned posts.
#[utoipa::path(get, path = "/api/v1/creators/{handle}/posts", tag = "content",
    params(("handle" = String, Path), PageQuery),
    responses((status = 200, body = FeedResponse), (status = 404, body = ErrorBody)))]
pub async fn creator_posts(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    Path(handle): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<FeedResponse>> {
    let now = now_micros();
    let viewer = viewer_of(me.as_ref());
    let actor = acting(&actor, me.as_ref());
    let mut db = state.store.conn().await?;
    let creator = visible_creator(&mut db, me.as_ref(), &handle).await?;
    let page = feeds::creator(
        &mut db,
        creator.user_id,
        q.cursor.as_deref(),
        q.limit.unwrap_or(20),
        now,
    )
    .await?;
    let pinned = if q.cursor.is_none() {
        let ids = feeds::pinned(&mut db, creator.user_id, now).await?;
        views::render_ids(&state, &mut db, viewer, &actor, &ids).await?
    } else {
        vec![]
    };
    let items = views::render_ids(&state, &mut db, viewer, &actor, &page.ids).await?;
    Ok(axum::Json(FeedResponse {
        items,
        next_cursor: page.next,
        pinned,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TagQuery {
    /// Only posts on this cluster.
    pub cluster: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    pub safe: Option<String>,
}

/// Posts with a tag, newest first.
#[utoipa::path(get, path = "/api/v1/tags/{tag}/posts", tag = "content",
    params(("tag" = String, Path), TagQuery),
    responses((status = 200, body = FeedResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn tag_posts(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    Path(tag): Path<String>,
    Query(q): Query<TagQuery>,
) -> ApiResult<axum::Json<FeedResponse>> {
    let tag = posts::normalize_tag(&tag)?;
    let sensitive = match &q.cluster {
        Some(slug) => {
            let c = state
                .clusters
                .get(slug)
                .ok_or_else(|| ApiError::not_found("cluster"))?;
            include_sensitive(c, me.as_ref(), q.safe.as_deref())
        }
        None => me.is_some() && q.safe.as_deref() == Some("off"),
    };
    let mut db = state.store.conn().await?;
    let page = feeds::tag(
        &mut db,
        &tag,
        q.cluster.as_deref(),
        q.cursor.as_deref(),
        q.limit.unwrap_or(20),
        now_micros(),
        sensitive,
    )
    .await?;
    drop(db);
    Ok(axum::Json(
        feed_page(
            &state,
            viewer_of(me.as_ref()),
            &acting(&actor, me.as_ref()),
            page,
        )
        .await?,
    ))
}

/// The live stories of one creator.
#[derive(Serialize, ToSchema)]
pub struct StoryRing {
    pub author: fanz_content::views::AuthorView,
    pub stories: Vec<PostView>,
}

#[derive(Serialize, ToSchema)]
pub struct StoriesResponse {
    pub rings: Vec<StoryRing>,
}

fn rings(items: Vec<PostView>) -> Vec<StoryRing> {
    let mut out: Vec<StoryRing> = Vec::new();
    for v in items {
        match out.last_mut() {
            Some(r) if r.author.handle == v.author.handle => r.stories.push(v),
            _ => out.push(StoryRing {
                author: v.author.clone(),
                stories: vec![v],
            }),
        }
    }
    out
}

/// Stories (24 hours) from the creators you follow or subscribe to, one ring per creator.
#[utoipa::path(get, path = "/api/v1/stories", tag = "content", security(("bearer" = [])),
    responses((status = 200, body = StoriesResponse), (status = 401, body = ErrorBody)))]
pub async fn home_stories(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
) -> ApiResult<axum::Json<StoriesResponse>> {
    let now = now_micros();
    let mut db = state.store.conn().await?;
    let authors = feeds::home_authors(&mut db, me.user_id, now).await?;
    let ids = feeds::stories(&mut db, &authors, now).await?;
    let items = views::render_ids(
        &state,
        &mut db,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        &ids,
    )
    .await?;
    Ok(axum::Json(StoriesResponse {
        rings: rings(items),
    }))
}

/// A creator's live stories.
#[utoipa::path(get, path = "/api/v1/creators/{handle}/stories", tag = "content",
    params(("handle" = String, Path)),
    responses((status = 200, body = StoriesResponse), (status = 404, body = ErrorBody)))]
pub async fn creator_stories(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    MaybeAuth(me): MaybeAuth,
    Path(handle): Path<String>,
) -> ApiResult<axum::Json<StoriesResponse>> {
    let mut db = state.store.conn().await?;
    let creator = visible_creator(&mut db, me.as_ref(), &handle).await?;
    let ids = feeds::stories(&mut db, &[creator.user_id], now_micros()).await?;
    let items = views::render_ids(
        &state,
        &mut db,
        viewer_of(me.as_ref()),
        &acting(&actor, me.as_ref()),
        &ids,
    )
    .await?;
    Ok(axum::Json(StoriesResponse {
        rings: rings(items),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BlockList {
    pub handles: Vec<String>,
}

/// The accounts you blocked.
#[utoipa::path(get, path = "/api/v1/creators/me/blocks", tag = "content", security(("bearer" = [])),
    responses((status = 200, body = BlockList), (status = 401, body = ErrorBody)))]
pub async fn blocks(
    State(state): State<AppState>,
    Auth(me): Auth,
) -> ApiResult<axum::Json<BlockList>> {
    let mut db = state.store.conn().await?;
    Ok(axum::Json(BlockList {
        handles: interactions::blocked(&mut db, me.user_id).await?,
    }))
}

async fn set_block(
    state: &AppState,
    actor: &Actor,
    me: &Principal,
    handle: &str,
    on: bool,
) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    let other = fanz_profiles::get_by_handle(&mut tx, handle).await?;
    interactions::set_block(
        &mut tx,
        me.user_id,
        other.user_id,
        on,
        &actor.with_user(me.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Block an account: it sees nothing of you.
#[utoipa::path(post, path = "/api/v1/creators/me/blocks/{handle}", tag = "content", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn block(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(handle): Path<String>,
) -> ApiResult<StatusCode> {
    set_block(&state, &actor, &me, &handle, true).await
}

/// Unblock an account.
#[utoipa::path(delete, path = "/api/v1/creators/me/blocks/{handle}", tag = "content", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unblock(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    Auth(me): Auth,
    Path(handle): Path<String>,
) -> ApiResult<StatusCode> {
    set_block(&state, &actor, &me, &handle, false).await
}

#[derive(Serialize, ToSchema)]
pub struct RelationList {
    pub people: Vec<Relation>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelationQuery {
    /// all (default), followers or subscribers.
    #[param(pattern = "^(all|followers|subscribers)$")]
    pub filter: Option<String>,
    /// The people after this handle (the `next` of the previous page).
    #[param(max_length = 64)]
    pub after: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// One page of a relation list, for either side.
async fn relation_page(
    state: &AppState,
    me: i64,
    side: Side,
    q: RelationQuery,
) -> ApiResult<axum::Json<RelationList>> {
    let filter = entitlements::RelationFilter::parse(q.filter.as_deref().unwrap_or("all"))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
                "filter must be all, followers or subscribers",
            )
        })?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let mut db = state.store.conn().await?;
    let people =
        entitlements::relations(&mut db, me, side, filter, q.after.as_deref(), limit).await?;
    let next = (people.len() as i64 == limit)
        .then(|| people.last().map(|p| p.handle.clone()))
        .flatten();
    Ok(axum::Json(RelationList { people, next }))
}

/// Your fans: followers and subscribers (for lists and mass messages), by handle, a page at a
/// time.
#[utoipa::path(get, path = "/api/v1/creators/me/fans", tag = "content", security(("bearer" = [])),
    params(RelationQuery),
    responses((status = 200, body = RelationList), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn my_fans(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<RelationQuery>,
) -> ApiResult<axum::Json<RelationList>> {
    relation_page(&state, me.user_id, Side::FansOf, q).await
}

/// The creators you follow or subscribe to, by handle, a page at a time.
#[utoipa::path(get, path = "/api/v1/me/creators", tag = "content", security(("bearer" = [])),
    params(RelationQuery),
    responses((status = 200, body = RelationList), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn my_creators(
    State(state): State<AppState>,
    Auth(me): Auth,
    Query(q): Query<RelationQuery>,
) -> ApiResult<axum::Json<RelationList>> {
    relation_page(&state, me.user_id, Side::CreatorsOf, q).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum GrantRequest {
    /// Subscribe `viewer` to `creator` at `tier_id` until `ends_at` (microseconds; none: open).
    Subscription {
        viewer: String,
        creator: String,
        tier_id: i64,
        ends_at: Option<i64>,
        source: String,
    },
    /// End a subscription.
    RevokeSubscription {
        viewer: String,
        creator: String,
        reason: String,
    },
    /// Unlock a pay-per-view post for `viewer`.
    Unlock {
        viewer: String,
        post_id: i64,
        source: String,
    },
    RevokeUnlock {
        viewer: String,
        post_id: i64,
        reason: String,
    },
    /// Staff access to one creator's posts (`creator` absent: every creator).
    Staff {
        viewer: String,
        creator: Option<String>,
        ends_at: Option<i64>,
    },
}

/// Grant or revoke an entitlement by hand (admins; payments calls the same functions).
#[utoipa::path(post, path = "/api/v1/admin/grants", tag = "admin", security(("bearer" = [])),
    request_body = GrantRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_grant(
    State(state): State<AppState>,
    RequestActor(actor): RequestActor,
    auth: Auth,
    Json(req): Json<GrantRequest>,
) -> ApiResult<StatusCode> {
    auth.require_any(&[Role::Admin])?;
    let actor = actor.with_user(auth.0.user_id);
    let mut tx = state.store.begin().await?;
    let id_of = |p: fanz_profiles::Profile| p.user_id;
    match req {
        GrantRequest::Subscription {
            viewer,
            creator,
            tier_id,
            ends_at,
            source,
        } => {
            let v = id_of(fanz_profiles::get_by_handle(&mut tx, &viewer).await?);
            let c = id_of(fanz_profiles::get_by_handle(&mut tx, &creator).await?);
            entitlements::grant_subscription(&mut tx, v, c, tier_id, ends_at, &source, &actor)
                .await?;
        }
        GrantRequest::RevokeSubscription {
            viewer,
            creator,
            reason,
        } => {
            let v = id_of(fanz_profiles::get_by_handle(&mut tx, &viewer).await?);
            let c = id_of(fanz_profiles::get_by_handle(&mut tx, &creator).await?);
            entitlements::revoke_subscription(&mut tx, v, c, &reason, &actor).await?;
        }
        GrantRequest::Unlock {
            viewer,
            post_id,
            source,
        } => {
            let v = id_of(fanz_profiles::get_by_handle(&mut tx, &viewer).await?);
            entitlements::grant_unlock(&mut tx, v, post_id, &source, &actor).await?;
        }
        GrantRequest::RevokeUnlock {
            viewer,
            post_id,
            reason,
        } => {
            let v = id_of(fanz_profiles::get_by_handle(&mut tx, &viewer).await?);
            entitlements::revoke_unlock(&mut tx, v, post_id, &reason, &actor).await?;
        }
        GrantRequest::Staff {
            viewer,
            creator,
            ends_at,
        } => {
            let v = id_of(fanz_profiles::get_by_handle(&mut tx, &viewer).await?);
            let c = match creator {
                Some(h) => id_of(fanz_profiles::get_by_handle(&mut tx, &h).await?),
                None => 0,
            };
            entitlements::grant_staff(&mut tx, v, c, ends_at, &actor).await?;
        }
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

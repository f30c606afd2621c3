//! Content pages: the home feed with stories, a cluster's discover (latest, trending, shorts),
//! tag pages, the post page with comments, the story viewer and the creator studio (compose,
//! schedule, drafts, tiers). What a viewer sees of a post comes from `fanz_content::views`
//! (the entitlement function); these handlers only shape it for the templates.

use super::{go, layout, render, CsrfForm, CsrfToken, Layout};
use crate::api::content::viewer_of;
use crate::error::ApiError;
use crate::extract::{PageCluster, RequestActor, Viewer};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use fanz_content::views::{PostView, Unlock};
use fanz_content::{feeds, posts, tiers, Money, NewPost, NewTier, PostKind, PostState, Visibility};
use fanz_core::clock::now_micros;
use fanz_identity::Principal;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/feed", get(home))
        .route("/discover", get(discover))
        .route("/tags/{tag}", get(tag_page))
        .route("/p/{id}", get(post_page))
        .route("/p/{id}/like", post(like))
        .route("/p/{id}/comment", post(comment))
        .route("/p/{id}/bookmark", post(bookmark))
        .route("/stories/{handle}", get(story_viewer))
        .route("/studio", get(studio))
        .route("/studio/posts", post(studio_create))
        .route("/studio/posts/{id}/{action}", post(studio_action))
        .route("/studio/tiers", post(studio_tier))
        .route("/tiers/{id}/join", post(join_tier))
        .route("/search", get(search_page))
}

/// A money amount for people: `$4.99`, `€12.00`.
pub fn money(m: &Money) -> String {
    let sym = match m.currency.as_str() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "CAD" => "CA$",
        "AUD" => "A$",
        _ => "",
    };
    format!("{sym}{}.{:02}", m.amount / 100, m.amount % 100)
}

/// How long ago, briefly: `now`, `5m`, `3h`, `2d`, or the date.
pub fn ago(at: Option<i64>, now: i64) -> String {
    let Some(at) = at else {
        return String::new();
    };
    let s = (now - at).max(0) / 1_000_000;
    match s {
        0..=59 => "now".into(),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        86_400..=604_799 => format!("{}d", s / 86_400),
        _ => fanz_core::clock::rfc3339(at).chars().take(10).collect(),
    }
}

/// One media tile on a card.
pub struct Tile {
    pub kind: &'static str,
    pub label: &'static str,
    /// The signed picture of a ready image, a ready video's HLS playlist, or a ready audio
    /// item's file.
    pub url: String,
    /// A video's poster frame or an audio item's waveform.
    pub poster: String,
}

/// A post as the card templates show it.
pub struct Card {
    pub id: i64,
    pub story: bool,
    pub handle: String,
    pub display_name: String,
    pub avatar: String,
    pub when: String,
    pub locked: bool,
    pub text: String,
    pub teaser: String,
    pub tiles: Vec<Tile>,
    pub media_count: usize,
    /// The blurred teaser of a locked post's first item.
    pub preview: String,
    pub video: bool,
    pub badge: &'static str,
    /// The locked post's call to action: label, and where it goes (empty: a note only).
    pub cta: String,
    pub cta_href: String,
    pub cta_post: bool,
    pub likes: i64,
    pub comments: i64,
    pub liked: bool,
    pub saved: bool,
    pub tags: Vec<String>,
    pub state: String,
    pub refusal: String,
    /// Videos play here (the post page); elsewhere their poster links to the post.
    pub player: bool,
}

impl Card {
    /// Whether the card shows a playable video (the page then loads the player).
    pub fn has_video(&self) -> bool {
        self.tiles
            .iter()
            .any(|t| t.kind == "video" && !t.url.is_empty())
    }

    /// Whether the card shows a photo (the post page then loads the lightbox).
    pub fn has_photo(&self) -> bool {
        self.tiles
            .iter()
            .any(|t| t.kind == "image" && !t.url.is_empty())
    }
}

fn kind_of(k: fanz_media::MediaKind) -> (&'static str, &'static str) {
    match k {
        fanz_media::MediaKind::Image => ("image", "Photo"),
        fanz_media::MediaKind::Video => ("video", "Video"),
        fanz_media::MediaKind::Audio => ("audio", "Audio"),
    }
}

pub fn card(v: &PostView, base: &str, now: i64) -> Card {
    let (cta, cta_href, cta_post) = match &v.unlock {
        None => (String::new(), String::new(), false),
        Some(Unlock::SignIn) => (
            "Sign in to see this post".into(),
            format!("{base}/login"),
            false,
        ),
        Some(Unlock::Follow) => (
            format!("Follow @{} to see this post", v.author.handle),
            format!("{base}/@{}/follow", v.author.handle),
            true,
        ),
        Some(Unlock::Subscribe { tiers }) => match tiers.iter().min_by_key(|t| t.price.amount) {
            Some(t) => (
                format!("Subscribe from {}/month to unlock", money(&t.price)),
                format!("{base}/@{}#tiers", v.author.handle),
                false,
            ),
            None => (
                "For subscribers".into(),
                format!("{base}/@{}", v.author.handle),
                false,
            ),
        },
        Some(Unlock::Purchase { price }) => (
            format!("Unlock for {}", money(price)),
            format!("{base}/checkout?post={}", v.id),
            false,
        ),
    };
    let tiles: Vec<Tile> = if v.locked {
        vec![]
    } else {
        v.media
            .iter()
            .map(|m| {
                let (kind, label) = kind_of(m.kind);
                Tile {
                    kind,
                    label,
                    url: m.url.clone().unwrap_or_default(),
                    poster: m.poster_url.clone().unwrap_or_default(),
                }
            })
            .collect()
    };
    Card {
        id: v.id,
        story: v.kind == PostKind::Story,
        handle: v.author.handle.clone(),
        display_name: v.author.display_name.clone(),
        avatar: if v.author.avatar_url.is_empty() {
            format!("/art/avatar/{}.svg", v.author.handle)
        } else {
            v.author.avatar_url.clone()
        },
        when: ago(v.published_at, now),
        locked: v.locked,
        text: v.text.clone().unwrap_or_default(),
        teaser: v.teaser.clone(),
        video: v.preview_kind == Some(fanz_media::MediaKind::Video),
        tiles,
        media_count: v.media_count,
        preview: v.preview_url.clone().unwrap_or_default(),
        badge: match v.visibility {
            Visibility::Public => "",
            Visibility::Followers => "Followers",
            Visibility::Subscribers => "Subscribers",
            Visibility::Ppv => "Pay per view",
        },
        cta,
        cta_href,
        cta_post,
        likes: v.likes,
        comments: v.comments,
        liked: v.viewer_liked,
        saved: v.viewer_bookmarked,
        tags: v.tags.clone(),
        state: v.state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        refusal: v.refusal.clone().unwrap_or_default(),
        player: false,
    }
}

/// A creator with live stories, for the ring row.
pub struct Ring {
    pub handle: String,
    pub avatar: String,
    pub count: usize,
}

#[derive(Template)]
#[template(path = "feed.html")]
pub struct FeedPage {
    pub layout: Layout,
    pub heading: String,
    pub intro: String,
    /// Tabs: (label, href, current).
    pub tabs: Vec<(String, String, bool)>,
    pub rings: Vec<Ring>,
    pub cards: Vec<Card>,
    pub more: Option<String>,
    pub empty: String,
    pub vertical: bool,
}

#[derive(Deserialize)]
pub struct PageQ {
    cursor: Option<String>,
    sort: Option<String>,
    safe: Option<String>,
}

fn cards(items: &[PostView], base: &str) -> Vec<Card> {
    let now = now_micros();
    items.iter().map(|v| card(v, base, now)).collect()
}

async fn home(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Query(q): Query<PageQ>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let now = now_micros();
    let v = viewer_of(Some(&me));
    let actor = actor.with_user(me.user_id);
    let mut db = state.store.conn().await?;
    let authors = feeds::home_authors(&mut db, me.user_id, now).await?;
    let page = feeds::home(&mut db, &authors, q.cursor.as_deref(), 20, now).await?;
    let items = crate::views::render_ids(&state, &mut db, v, &actor, &page.ids).await?;
    let story_ids = feeds::stories(&mut db, &authors, now).await?;
    let stories = crate::views::render_ids(&state, &mut db, v, &actor, &story_ids).await?;
    drop(db);
    let mut rings: Vec<Ring> = Vec::new();
    for s in &stories {
        match rings.last_mut() {
            Some(r) if r.handle == s.author.handle => r.count += 1,
            _ => rings.push(Ring {
                handle: s.author.handle.clone(),
                avatar: card(s, &pc.base, now).avatar,
                count: 1,
            }),
        }
    }
    Ok(render(
        StatusCode::OK,
        FeedPage {
            layout: layout(&pc, Some(&me), &csrf),
            heading: "Your feed".into(),
            intro: "New from the creators you follow and subscribe to.".into(),
            tabs: vec![],
            rings,
            cards: cards(&items, &pc.base),
            more: page.next.map(|c| format!("{}/feed?cursor={c}", pc.base)),
            empty:
                "Nothing here yet. Follow a few creators from Discover and their posts land here."
                    .into(),
            vertical: false,
        },
    ))
}

async fn discover(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Query(q): Query<PageQ>,
) -> Result<Response, ApiError> {
    let vertical_cluster = pc.cluster.policy.feed == fanz_clusters::Feed::Vertical;
    let sort = match q.sort.as_deref() {
        Some("trending") => "trending",
        Some("shorts") => "shorts",
        Some("latest") => "latest",
        _ if vertical_cluster => "shorts",
        _ => "latest",
    };
    let sensitive =
        crate::api::content::include_sensitive(&pc.cluster, viewer.as_ref(), q.safe.as_deref());
    let now = now_micros();
    let slug = pc.cluster.slug.clone();
    let mut db = state.store.conn().await?;
    let cursor = q.cursor.as_deref();
    let page = match sort {
        "trending" => feeds::cluster_trending(&mut db, &slug, cursor, 24, now, sensitive).await,
        "shorts" => feeds::cluster_latest(&mut db, &slug, cursor, 24, now, sensitive, true).await,
        _ => feeds::cluster_latest(&mut db, &slug, cursor, 24, now, sensitive, false).await,
    };
    let page = match page {
        Ok(p) => p,
        Err(fanz_content::ContentError::Invalid(_)) => feeds::FeedPage::default(),
        Err(e) => return Err(e.into()),
    };
    let actor = crate::api::content::acting(&actor, viewer.as_ref());
    let items = crate::views::render_ids(
        &state,
        &mut db,
        viewer_of(viewer.as_ref()),
        &actor,
        &page.ids,
    )
    .await?;
    drop(db);
    let base = pc.base.clone();
    let mut tabs = vec![
        (
            "Latest".to_string(),
            format!("{base}/discover?sort=latest"),
            sort == "latest",
        ),
        (
            "Trending".to_string(),
            format!("{base}/discover?sort=trending"),
            sort == "trending",
        ),
    ];
    if vertical_cluster {
        tabs.insert(
            0,
            (
                "Shorts".into(),
                format!("{base}/discover?sort=shorts"),
                sort == "shorts",
            ),
        );
    }
    Ok(render(
        StatusCode::OK,
        FeedPage {
            heading: format!("Discover {}", pc.cluster.name),
            intro: pc.cluster.tagline.clone(),
            tabs,
            rings: vec![],
            cards: cards(&items, &base),
            more: page
                .next
                .map(|c| format!("{base}/discover?sort={sort}&cursor={c}")),
            empty: "No posts here yet. Creators, this stage is yours.".into(),
            vertical: sort == "shorts",
            layout: layout(&pc, viewer.as_ref(), &csrf),
        },
    ))
}

async fn tag_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<PageQ>,
) -> Result<Response, ApiError> {
    let raw = params.get("tag").cloned().unwrap_or_default();
    let Ok(tag) = posts::normalize_tag(&raw) else {
        return Err(ApiError::not_found("tag"));
    };
    let sensitive =
        crate::api::content::include_sensitive(&pc.cluster, viewer.as_ref(), q.safe.as_deref());
    let slug = pc.cluster.slug.clone();
    let mut db = state.store.conn().await?;
    let page = feeds::tag(
        &mut db,
        &tag,
        Some(&slug),
        q.cursor.as_deref(),
        24,
        now_micros(),
        sensitive,
    )
    .await
    .unwrap_or_default();
    let actor = crate::api::content::acting(&actor, viewer.as_ref());
    let items = crate::views::render_ids(
        &state,
        &mut db,
        viewer_of(viewer.as_ref()),
        &actor,
        &page.ids,
    )
    .await?;
    drop(db);
    Ok(render(
        StatusCode::OK,
        FeedPage {
            heading: format!("#{tag}"),
            intro: format!("Posts tagged #{tag} on {}", pc.cluster.name),
            tabs: vec![],
            rings: vec![],
            cards: cards(&items, &pc.base),
            more: page
                .next
                .map(|c| format!("{}/tags/{tag}?cursor={c}", pc.base)),
            empty: format!("Nothing tagged #{tag} yet."),
            vertical: false,
            layout: layout(&pc, viewer.as_ref(), &csrf),
        },
    ))
}

pub struct CommentLine {
    pub id: i64,
    pub handle: String,
    pub text: String,
    pub when: String,
    pub reply: bool,
    pub hidden: bool,
}

#[derive(Template)]
#[template(path = "post.html")]
pub struct PostPage {
    pub layout: Layout,
    pub c: Card,
    pub comments: Vec<CommentLine>,
    pub can_comment: bool,
    pub price: String,
}

fn id_param(params: &HashMap<String, String>) -> Result<i64, ApiError> {
    params
        .get("id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::not_found("post"))
}

async fn post_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = id_param(&params)?;
    let v = viewer_of(viewer.as_ref());
    let actor = crate::api::content::acting(&actor, viewer.as_ref());
    let mut db = state.store.conn().await?;
    let Some(view) = crate::views::render_ids(&state, &mut db, v, &actor, &[id])
        .await?
        .pop()
    else {
        return Err(ApiError::not_found("post"));
    };
    let now = now_micros();
    let comments = if view.locked {
        vec![]
    } else {
        fanz_content::interactions::comments(&mut db, v, &actor, id, 0, 200)
            .await?
            .into_iter()
            .map(|c| CommentLine {
                id: c.id,
                handle: c.author_handle,
                text: c.text,
                when: ago(Some(c.created_at), now),
                reply: c.parent_id.is_some(),
                hidden: c.state == fanz_content::interactions::CommentState::Hidden,
            })
            .collect()
    };
    drop(db);
    let price = view.price.as_ref().map(money).unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        PostPage {
            can_comment: viewer.is_some() && !view.locked,
            c: Card {
                player: true,
                ..card(&view, &pc.base, now)
            },
            comments,
            price,
            layout: layout(&pc, viewer.as_ref(), &csrf),
        },
    ))
}

async fn like(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let id = id_param(&params)?;
    let mut tx = state.store.begin().await?;
    let actor = actor.with_user(me.user_id);
    if form.contains_key("undo") {
        fanz_content::interactions::unlike(&mut tx, viewer_of(Some(&me)), &actor, id).await?;
    } else {
        fanz_content::interactions::like(&mut tx, viewer_of(Some(&me)), &actor, id).await?;
    }
    tx.commit().await?;
    Ok(go(&pc, &format!("/p/{id}")))
}

async fn bookmark(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let id = id_param(&params)?;
    let mut tx = state.store.begin().await?;
    let on = !form.contains_key("undo");
    fanz_content::interactions::bookmark(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
        on,
    )
    .await?;
    tx.commit().await?;
    Ok(go(&pc, &format!("/p/{id}")))
}

#[derive(Deserialize)]
pub struct CommentForm {
    text: String,
    parent_id: Option<i64>,
}

async fn comment(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(form): CsrfForm<CommentForm>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let id = id_param(&params)?;
    let mut tx = state.store.begin().await?;
    fanz_content::interactions::comment(
        &mut tx,
        viewer_of(Some(&me)),
        &actor.with_user(me.user_id),
        id,
        fanz_content::interactions::NewComment {
            text: form.text,
            parent_id: form.parent_id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(go(&pc, &format!("/p/{id}#comments")))
}

async fn join_tier(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(_form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let id = params
        .get("id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::not_found("tier"))?;
    let mut tx = state.store.begin().await?;
    let tier = tiers::get(&mut tx, id).await?;
    fanz_content::entitlements::join_free_tier(
        &mut tx,
        me.user_id,
        id,
        &actor.with_user(me.user_id),
    )
    .await?;
    let creator = fanz_profiles::get_by_user(&mut tx, tier.creator_id).await?;
    tx.commit().await?;
    Ok(go(&pc, &format!("/@{}", creator.handle)))
}

#[derive(Template)]
#[template(path = "story.html")]
pub struct StoryPage {
    pub layout: Layout,
    pub handle: String,
    pub avatar: String,
    pub stories: Vec<Card>,
}

async fn story_viewer(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let handle = params.get("handle").cloned().unwrap_or_default();
    let mut db = state.store.conn().await?;
    let creator = fanz_profiles::get_by_handle(&mut db, &handle).await?;
    let v = viewer_of(viewer.as_ref());
    let actor = crate::api::content::acting(&actor, viewer.as_ref());
    let ids = feeds::stories(&mut db, &[creator.user_id], now_micros()).await?;
    let items = crate::views::render_ids(&state, &mut db, v, &actor, &ids).await?;
    drop(db);
    if items.is_empty() {
        return Err(ApiError::not_found("story"));
    }
    let cards = cards(&items, &pc.base);
    Ok(render(
        StatusCode::OK,
        StoryPage {
            avatar: cards[0].avatar.clone(),
            handle: creator.handle,
            stories: cards,
            layout: layout(&pc, viewer.as_ref(), &csrf),
        },
    ))
}

pub struct TierRow {
    pub id: i64,
    pub name: String,
    pub price: String,
    pub period_days: i64,
    pub benefits: String,
    pub archived: bool,
}

#[derive(Template)]
#[template(path = "studio.html")]
pub struct StudioPage {
    pub layout: Layout,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub is_creator: bool,
    /// (slug, name, checked)
    pub clusters: Vec<(String, String, bool)>,
    pub tiers: Vec<TierRow>,
    pub drafts: Vec<Card>,
    pub scheduled: Vec<Card>,
    pub published: Vec<Card>,
    /// The compose form's media picker: the creator's ready and processing items.
    pub picker: Vec<super::media::MediaCard>,
}

#[derive(Deserialize)]
pub struct StudioQ {
    done: Option<String>,
}

async fn studio(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Query(q): Query<StudioQ>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    studio_render(
        &state,
        &pc,
        &me,
        &actor,
        &csrf,
        q.done,
        None,
        StatusCode::OK,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn studio_render(
    state: &AppState,
    pc: &PageCluster,
    me: &Principal,
    actor: &fanz_audit::Actor,
    csrf: &CsrfToken,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let mut db = state.store.conn().await?;
    let profile = fanz_profiles::get_by_user(&mut db, me.user_id).await?;
    let tiers = tiers::list(&mut db, me.user_id, true).await?;
    let mine = posts::by_author_all(&mut db, me.user_id, None, 100).await?;
    let (media, _) = fanz_media::list(&mut db, me.user_id, None, 60).await?;
    let picker = media
        .iter()
        .filter(|m| {
            matches!(
                m.state,
                fanz_media::MediaState::Ready | fanz_media::MediaState::Processing
            )
        })
        .map(|m| super::media::MediaCard::new(state, m, Vec::new()))
        .collect();
    let views = crate::views::render(
        state,
        &mut db,
        viewer_of(Some(me)),
        &actor.with_user(me.user_id),
        mine,
    )
    .await?;
    drop(db);
    let now = now_micros();
    let by_state = |s: &str| -> Vec<Card> {
        views
            .iter()
            .filter(|v| v.state.map(|x| x.as_str()) == Some(s))
            .map(|v| card(v, &pc.base, now))
            .collect()
    };
    let mut drafts = by_state("draft");
    drafts.extend(by_state("hidden"));
    Ok(render(
        status,
        StudioPage {
            notice: notice.map(|n| match n.as_str() {
                "published" => "Published. It is live on your clusters.".to_string(),
                "scheduled" => "Scheduled. It goes live at the time you chose.".to_string(),
                "draft" => "Saved as a draft.".to_string(),
                "submitted" => "Submitted for review: a moderator approves posts on this \
                                cluster before they are published."
                    .to_string(),
                "tier" => "Tier saved.".to_string(),
                "deleted" => "Deleted.".to_string(),
                "hidden" => "Hidden from everyone but you.".to_string(),
                _ => "Done.".to_string(),
            }),
            error,
            is_creator: profile.is_creator,
            clusters: state
                .clusters
                .all()
                .iter()
                .filter(|c| !c.policy.categories.is_empty())
                .map(|c| {
                    (
                        c.slug.clone(),
                        c.name.clone(),
                        profile.clusters.contains(&c.slug),
                    )
                })
                .collect(),
            tiers: tiers
                .iter()
                .map(|t| TierRow {
                    id: t.id,
                    name: t.name.clone(),
                    price: if t.is_free() {
                        "Free".into()
                    } else {
                        money(&t.price)
                    },
                    period_days: t.period_days,
                    benefits: t.benefits.clone(),
                    archived: t.archived,
                })
                .collect(),
            drafts,
            scheduled: by_state("scheduled"),
            published: by_state("published"),
            picker,
            layout: layout(pc, Some(me), csrf),
        },
    ))
}

/// What a studio form answer needs.
struct StudioCtx<'a> {
    state: &'a AppState,
    pc: &'a PageCluster,
    me: &'a Principal,
    actor: &'a fanz_audit::Actor,
    csrf: &'a CsrfToken,
}

impl StudioCtx<'_> {
    /// After a studio change: done, commit and back to the studio with a notice; refused,
    /// nothing saved and the studio again with the reason; a failure of ours is an error.
    async fn outcome(
        &self,
        tx: fanz_store::Tx,
        result: fanz_content::Result<&'static str>,
    ) -> Result<Response, ApiError> {
        match result {
            Ok(done) => {
                tx.commit().await?;
                Ok(go(self.pc, &format!("/studio?done={done}")))
            }
            Err(e) => {
                drop(tx);
                let err = ApiError::from(e);
                if err.status.is_server_error() {
                    return Err(err);
                }
                studio_render(
                    self.state,
                    self.pc,
                    self.me,
                    self.actor,
                    self.csrf,
                    None,
                    Some(err.message),
                    err.status,
                )
                .await
            }
        }
    }
}

/// Parse a price typed by a person (`4.99`, `5`) into minor units.
fn parse_price(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('$');
    if s.is_empty() {
        return None;
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

/// `2026-12-24T18:30` from a datetime-local input, taken as UTC, in microseconds.
fn parse_local_time(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let t = time::PrimitiveDateTime::parse(s.trim(), fmt).ok()?;
    Some((t.assume_utc().unix_timestamp_nanos() / 1000) as i64)
}

/// The media ticked in the picker, in the order their `order_<id>` fields give (ties and
/// blanks keep the order of the form).
fn ordered_media(form: &[(String, String)]) -> Vec<i64> {
    let mut picked: Vec<(u32, i64)> = form
        .iter()
        .filter(|(k, _)| k == "media")
        .filter_map(|(_, v)| v.trim().parse::<i64>().ok())
        .map(|id| {
            let key = format!("order_{id}");
            let pos = form
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.trim().parse::<u32>().ok())
                .unwrap_or(u32::MAX);
            (pos, id)
        })
        .collect();
    picked.sort_by_key(|(pos, _)| *pos);
    picked.into_iter().map(|(_, id)| id).collect()
}

async fn studio_create(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let one = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let many = |k: &str| -> Vec<String> {
        form.iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let visibility = match one("visibility").as_str() {
        "followers" => Visibility::Followers,
        "subscribers" => Visibility::Subscribers,
        "ppv" => Visibility::Ppv,
        _ => Visibility::Public,
    };
    let price = if visibility == Visibility::Ppv {
        Some(Money {
            amount: parse_price(&one("price")).unwrap_or(-1),
            currency: "USD".into(),
        })
    } else {
        None
    };
    let when = one("when");
    let publish_at = if when == "schedule" {
        parse_local_time(&one("publish_at")).or(Some(0))
    } else {
        None
    };
    let new = NewPost {
        kind: if one("kind") == "story" {
            PostKind::Story
        } else {
            PostKind::Post
        },
        text: one("text"),
        visibility,
        clusters: Some(many("clusters")),
        tiers: many("tiers")
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect(),
        price,
        publish_at,
        expires_at: None,
        media: ordered_media(&form),
        tags: one("tags")
            .split([',', ' '])
            .filter(|t| !t.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        category: Some(one("category")).filter(|c| !c.is_empty()),
        sensitive: one("sensitive") == "on",
        teaser: Some(one("teaser")).filter(|t| !t.trim().is_empty()),
        publish: when == "now",
    };
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let result = crate::flows::create_post(&mut tx, &state.content, me.user_id, new, &actor)
        .await
        .map(|(p, submitted)| match p.state {
            _ if submitted => "submitted",
            PostState::Published => "published",
            PostState::Scheduled => "scheduled",
            _ => "draft",
        });
    let page = StudioCtx {
        state: &state,
        pc: &pc,
        me: &me,
        actor: &actor,
        csrf: &csrf,
    };
    page.outcome(tx, result).await
}

async fn studio_action(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Path(params): Path<HashMap<String, String>>,
    CsrfForm(_form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let id = id_param(&params)?;
    let action = params.get("action").cloned().unwrap_or_default();
    let actor = actor.with_user(me.user_id);
    let mut tx = state.store.begin().await?;
    let result = match action.as_str() {
        "publish" => {
            crate::flows::publish_or_submit(&mut tx, &state.content, me.user_id, id, &actor)
                .await
                .map(|(_, submitted)| if submitted { "submitted" } else { "published" })
        }
        "hide" => posts::hide(&mut tx, me.user_id, id, &actor)
            .await
            .map(|_| "hidden"),
        "delete" => posts::delete(&mut tx, me.user_id, id, &actor)
            .await
            .map(|_| "deleted"),
        "pin" => posts::pin(&mut tx, me.user_id, id, true, &actor)
            .await
            .map(|_| "pinned"),
        _ => return Err(ApiError::not_found("action")),
    };
    let page = StudioCtx {
        state: &state,
        pc: &pc,
        me: &me,
        actor: &actor,
        csrf: &csrf,
    };
    page.outcome(tx, result).await
}

async fn studio_tier(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(me) = viewer else {
        return Ok(go(&pc, "/login"));
    };
    let actor = actor.with_user(me.user_id);
    if !me.has_role(fanz_core::Role::Creator) {
        return Err(ApiError::forbidden());
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let t = NewTier {
        name: get("name"),
        price: Money {
            amount: parse_price(&get("price")).unwrap_or(-1),
            currency: "USD".into(),
        },
        period_days: get("period_days").parse().ok(),
        benefits: get("benefits"),
    };
    let mut tx = state.store.begin().await?;
    let result = tiers::create(&mut tx, me.user_id, t, &actor)
        .await
        .map(|_| "tier");
    let page = StudioCtx {
        state: &state,
        pc: &pc,
        me: &me,
        actor: &actor,
        csrf: &csrf,
    };
    page.outcome(tx, result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_as_people_type_them() {
        assert_eq!(parse_price("4.99"), Some(499));
        assert_eq!(parse_price("$5"), Some(500));
        assert_eq!(parse_price("5.5"), Some(550));
        assert_eq!(parse_price("5.555"), None);
        assert_eq!(parse_price("-5"), None);
        assert_eq!(parse_price("abc"), None);
        assert_eq!(parse_price("99999999999999999999"), None);
        assert_eq!(
            money(&Money {
                amount: 499,
                currency: "EUR".into()
            }),
            "€4.99"
        );
    }

    #[test]
    fn picked_media_follow_their_positions() {
        let f = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let form = f(&[
            ("media", "7"),
            ("order_7", "2"),
            ("media", "9"),
            ("order_9", "1"),
            ("order_4", "3"),
            ("media", "5"),
        ]);
        // 4 has a position but is not ticked; 5 has none and goes last.
        assert_eq!(ordered_media(&form), vec![9, 7, 5]);
        assert_eq!(ordered_media(&f(&[("media", "x")])), Vec::<i64>::new());
    }
}

/// A tier as a card on the creator's page.
pub struct TierCard {
    pub id: i64,
    pub name: String,
    pub price: String,
    pub period_days: i64,
    pub benefits: String,
    pub free: bool,
    /// The viewer holds this tier now.
    pub current: bool,
}

/// What a creator's page adds to a profile: tiers, pinned posts, the post list, stories.
pub struct CreatorSection {
    pub tiers: Vec<TierCard>,
    pub pinned: Vec<Card>,
    pub cards: Vec<Card>,
    pub more: Option<String>,
    pub has_stories: bool,
    pub posts: i64,
}

/// The creator part of `/@handle` for `viewer`; `None` when the viewer is blocked (the page
/// then answers as if the profile did not exist).
pub async fn creator_section(
    state: &AppState,
    pc: &PageCluster,
    viewer: Option<&Principal>,
    actor: &fanz_audit::Actor,
    creator: &fanz_profiles::Profile,
    cursor: Option<&str>,
) -> Result<Option<CreatorSection>, ApiError> {
    let v = viewer_of(viewer);
    let now = now_micros();
    let mut db = state.store.conn().await?;
    let facts =
        fanz_content::Facts::load_for_creators(&mut db, v, std::slice::from_ref(&creator.user_id))
            .await?;
    if facts.is_blocked_by(creator.user_id) {
        return Ok(None);
    }
    let sub = facts.subscription(creator.user_id);
    let tiers = tiers::list(&mut db, creator.user_id, false)
        .await?
        .iter()
        .map(|t| TierCard {
            id: t.id,
            name: t.name.clone(),
            price: if t.is_free() {
                "Free".into()
            } else {
                money(&t.price)
            },
            period_days: t.period_days,
            benefits: t.benefits.clone(),
            free: t.is_free(),
            current: sub.is_some_and(|s| s.tier_id == Some(t.id)),
        })
        .collect();
    let page = feeds::creator(&mut db, creator.user_id, cursor, 12, now)
        .await
        .unwrap_or_default();
    let pinned_ids = if cursor.is_none() {
        feeds::pinned(&mut db, creator.user_id, now).await?
    } else {
        vec![]
    };
    let ids: Vec<i64> = page
        .ids
        .iter()
        .filter(|id| !pinned_ids.contains(id))
        .copied()
        .collect();
    let items = crate::views::render_ids(state, &mut db, v, actor, &ids).await?;
    let pinned = crate::views::render_ids(state, &mut db, v, actor, &pinned_ids).await?;
    let has_stories = !feeds::stories(&mut db, &[creator.user_id], now)
        .await?
        .is_empty();
    let posts = fanz_content::posts::count_live(&mut db, Some(creator.user_id), now).await?;
    Ok(Some(CreatorSection {
        tiers,
        pinned: cards(&pinned, &pc.base),
        cards: cards(&items, &pc.base),
        more: page
            .next
            .map(|c| format!("{}/@{}?cursor={c}", pc.base, creator.handle)),
        has_stories,
        posts,
    }))
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub layout: Layout,
    pub q: String,
    pub creators: Vec<crate::api::search::CreatorHit>,
    pub cards: Vec<Card>,
    /// `123`, or `10000+` when only the newest matches were searched.
    pub total: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct SearchQ {
    q: Option<String>,
    safe: Option<String>,
}

async fn search_page(
    State(state): State<AppState>,
    pc: PageCluster,
    Viewer(viewer): Viewer,
    RequestActor(actor): RequestActor,
    csrf: CsrfToken,
    Query(sq): Query<SearchQ>,
) -> Result<Response, ApiError> {
    let q: String = sq.q.unwrap_or_default().chars().take(256).collect();
    // A cluster that takes every category (the portal) searches every cluster.
    let cluster = (!pc.cluster.policy.categories.is_empty()).then(|| pc.cluster.slug.clone());
    let (creators, cards, total, error) = if q.trim().is_empty() {
        (vec![], vec![], "0".to_owned(), None)
    } else {
        match crate::api::search::run(
            &state,
            &actor,
            viewer.as_ref(),
            &q,
            cluster.as_deref(),
            fanz_search::Kinds::Both,
            sq.safe.as_deref(),
            24,
            0,
        )
        .await
        {
            Ok(r) => (
                r.creators,
                cards(&r.posts, &pc.base),
                if r.total_posts_exact {
                    r.total_posts.to_string()
                } else {
                    format!("{}+", r.total_posts)
                },
                r.refused.map(|r| r.message),
            ),
            Err(e)
                if !e.status.is_server_error()
                    || e.code == "search_unavailable"
                    || e.code == "server_busy" =>
            {
                (vec![], vec![], "0".to_owned(), Some(e.message))
            }
            Err(e) => return Err(e),
        }
    };
    Ok(render(
        StatusCode::OK,
        SearchPage {
            layout: layout(&pc, viewer.as_ref(), &csrf),
            q,
            creators,
            cards,
            total,
            error,
        },
    ))
}

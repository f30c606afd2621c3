//! Posts as a viewer sees them, with their media URLs. Content decides what the viewer sees
//! (`fanz_content::views`, through `may_view`); this adds the one thing content cannot:
//! delivery URLs signed with this server's media keys — for each ready item of a post seen in
//! full, signed for that viewer; for a locked post, its first item's blurred teaser, signed
//! for nobody so a CDN may cache it.

use crate::error::ApiError;
use crate::AppState;
use fanz_audit::Actor;
use fanz_content::views::PostView;
use fanz_content::{Post, Viewer};
use fanz_store::Db;
use std::collections::HashMap;

/// A video's HLS master playlist.
const HLS_MASTER: &str = "hls/master.m3u8";

/// The rendition a post shows in full: the largest JPEG up to 1280 wide.
fn display_rendition(item: &fanz_media::MediaItem) -> Option<&fanz_media::Rendition> {
    item.renditions
        .iter()
        .filter(|r| !r.teaser && r.format == "jpeg" && r.width <= 1280)
        .max_by_key(|r| r.width)
}

/// Render `posts` for `viewer` and sign their media.
pub async fn render(
    state: &AppState,
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    posts: Vec<Post>,
) -> Result<Vec<PostView>, ApiError> {
    let mut views = fanz_content::views::render(db, viewer, actor, posts).await?;
    sign(state, db, viewer, &mut views).await?;
    Ok(views)
}

/// [`render`] with the viewer's facts already loaded (`fanz_content::views::render_with`).
pub async fn render_with(
    state: &AppState,
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    posts: Vec<Post>,
    facts: &fanz_content::Facts,
) -> Result<Vec<PostView>, ApiError> {
    let mut views = fanz_content::views::render_with(db, viewer, actor, posts, facts).await?;
    sign(state, db, viewer, &mut views).await?;
    Ok(views)
}

/// Load posts by id, render them for `viewer` and sign their media.
pub async fn render_ids(
    state: &AppState,
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    ids: &[i64],
) -> Result<Vec<PostView>, ApiError> {
    let posts = fanz_content::posts::get_many(db, ids).await?;
    render(state, db, viewer, actor, posts).await
}

async fn sign(
    state: &AppState,
    db: &mut Db,
    viewer: Viewer,
    views: &mut [PostView],
) -> Result<(), ApiError> {
    let ttl = state.media.limits.url_ttl;
    let keys = &state.media.keys;
    let url = |id: i64, name: &str| fanz_media::delivery_url(keys, id, name, viewer.user_id, ttl);
    // Every item the page signs, read in one statement rather than one at a time.
    let wanted: Vec<i64> = views
        .iter()
        .flat_map(|v| {
            v.media
                .iter()
                .filter(|m| m.state == fanz_media::MediaState::Ready)
                .map(|m| m.id)
                .chain(v.preview_media)
        })
        .collect();
    let items: HashMap<i64, fanz_media::MediaItem> = fanz_media::get_many(db, &wanted)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    for v in views.iter_mut() {
        for m in v.media.iter_mut() {
            if m.state != fanz_media::MediaState::Ready {
                continue;
            }
            let Some(item) = items.get(&m.id) else {
                continue;
            };
            match m.kind {
                fanz_media::MediaKind::Image => {
                    if let Some(r) = display_rendition(item) {
                        m.url = Some(url(m.id, &r.name));
                        m.width = Some(r.width);
                        m.height = Some(r.height);
                    }
                }
                // The master playlist: its variant playlists and segments are signed for the
                // same viewer as it is delivered.
                fanz_media::MediaKind::Video => {
                    if item.rendition(HLS_MASTER).is_some() {
                        m.url = Some(url(m.id, HLS_MASTER));
                        m.width = item.width;
                        m.height = item.height;
                    }
                    if item.rendition("poster.jpg").is_some() {
                        m.poster_url = Some(url(m.id, "poster.jpg"));
                    }
                }
                fanz_media::MediaKind::Audio => {
                    if item.rendition("audio.m4a").is_some() {
                        m.url = Some(url(m.id, "audio.m4a"));
                    }
                    if item.rendition("waveform.png").is_some() {
                        m.poster_url = Some(url(m.id, "waveform.png"));
                    }
                }
            }
        }
        if let Some(id) = v.preview_media {
            let teaser = items
                .get(&id)
                .and_then(|item| item.renditions.iter().find(|r| r.teaser));
            if let Some(t) = teaser {
                v.preview_url = Some(fanz_media::delivery_url(keys, id, &t.name, None, ttl));
            }
        }
    }
    Ok(())
}

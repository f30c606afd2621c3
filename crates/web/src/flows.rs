//! Operations that span modules, composed in one transaction. Both the JSON API and the
//! pages call these, so a rule lives in one place.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use fanz_audit::Actor;
use fanz_core::{Email, Handle, Password, Role};
use fanz_identity::{NewUser, User};

/// Create an account with its fan profile. Input is parsed before anything is written; the
/// attempt is counted against the caller's address before the password is hashed.
pub async fn signup(
    state: &AppState,
    email: &str,
    handle: &str,
    password: &str,
    roles: Vec<Role>,
    actor: &Actor,
) -> ApiResult<User> {
    let email = Email::parse(email)?;
    let handle = Handle::parse(handle)?;
    let password = Password::parse(password)?;
    let password_hash =
        fanz_identity::hash_signup_password(&state.store, &password, actor, &state.identity)
            .await?;
    let mut tx = state.store.begin().await?;
    let user = fanz_identity::create_user(
        &mut tx,
        NewUser {
            email,
            handle,
            password_hash,
            roles,
        },
        actor,
    )
    .await?;
    fanz_profiles::create_profile(&mut tx, user.id, &user.handle).await?;
    tx.commit().await?;
    Ok(user)
}

/// Check cluster slugs against the configured clusters.
pub fn known_clusters(state: &AppState, slugs: &[String]) -> ApiResult<Vec<String>> {
    let mut out = Vec::with_capacity(slugs.len());
    for s in slugs {
        let s = s.trim().to_lowercase();
        if state.clusters.get(&s).is_none() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_cluster",
                format!("no cluster named {s:?}"),
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Grant the creator role and mark the profile as a creator's on the chosen clusters.
pub async fn become_creator(
    state: &AppState,
    user_id: i64,
    clusters: &[String],
    actor: &Actor,
) -> ApiResult<fanz_profiles::Profile> {
    let clusters = known_clusters(state, clusters)?;
    let mut tx = state.store.begin().await?;
    let profile = fanz_profiles::become_creator(&mut tx, user_id, &clusters, actor).await?;
    fanz_identity::grant_role(&mut tx, user_id, Role::Creator, actor).await?;
    tx.commit().await?;
    Ok(profile)
}

/// Apply a profile update, checking cluster slugs first.
pub async fn update_profile(
    state: &AppState,
    user_id: i64,
    mut update: fanz_profiles::ProfileUpdate,
    actor: &Actor,
) -> ApiResult<fanz_profiles::Profile> {
    if let Some(c) = &update.clusters {
        update.clusters = Some(known_clusters(state, c)?);
    }
    let mut tx = state.store.begin().await?;
    let profile = fanz_profiles::update_profile(&mut tx, user_id, &update, actor).await?;
    tx.commit().await?;
    Ok(profile)
}

/// Set a new password from a reset token. A token that is not live is refused before the new
/// password is hashed.
pub async fn reset_password(
    state: &AppState,
    token: &str,
    password: &str,
    actor: &Actor,
) -> ApiResult<()> {
    let password = Password::parse(password)?;
    let live = {
        let mut db = state.store.conn().await?;
        fanz_identity::reset_token_is_live(&mut db, token).await?
    };
    if !live {
        return Err(fanz_identity::IdentityError::InvalidResetToken.into());
    }
    let hash = state.identity.hasher.hash(&password).await?;
    let mut tx = state.store.begin().await?;
    fanz_identity::reset_password(&mut tx, token, &hash, actor).await?;
    tx.commit().await?;
    Ok(())
}

fn content_error(e: fanz_safety::SafetyError) -> fanz_content::ContentError {
    use fanz_content::ContentError as C;
    use fanz_safety::SafetyError as S;
    match e {
        S::Content(c) => c,
        S::Database(d) => C::Database(d),
        S::Invalid(v) => C::Invalid(v),
        other => C::Database(fanz_store::sqlx::Error::Protocol(other.to_string())),
    }
}

/// Publish an author's post through the gate; a post one of its clusters holds for review is
/// submitted to the review queue instead (it stays unpublished and says so). Returns the post
/// and whether it was submitted.
pub async fn publish_or_submit(
    db: &mut fanz_store::Db,
    env: &fanz_content::Content,
    author_id: i64,
    id: i64,
    actor: &Actor,
) -> fanz_content::Result<(fanz_content::Post, bool)> {
    use fanz_content::posts;
    match posts::publish(db, env, author_id, id, actor).await {
        Ok(p) => Ok((p, false)),
        Err(fanz_content::ContentError::Refused(r)) if fanz_safety::review::only_review(&r) => {
            let post = posts::owned(db, author_id, id).await?;
            let now = fanz_core::clock::now_micros();
            fanz_safety::review::submit(db, env, &post, now, actor)
                .await
                .map_err(content_error)?;
            Ok((posts::get(db, id).await?, true))
        }
        Err(e) => Err(e),
    }
}

/// Create a post: `publish: true` goes through [`publish_or_submit`]; a scheduled post that
/// needs review is submitted at once, to be reviewed before its time. Returns the post and
/// whether it was submitted for review.
pub async fn create_post(
    db: &mut fanz_store::Db,
    env: &fanz_content::Content,
    author_id: i64,
    mut new: fanz_content::NewPost,
    actor: &Actor,
) -> fanz_content::Result<(fanz_content::Post, bool)> {
    let publish = std::mem::take(&mut new.publish);
    let post = fanz_content::posts::create(db, env, author_id, new, actor).await?;
    if publish {
        return publish_or_submit(db, env, author_id, post.id, actor).await;
    }
    submit_scheduled(db, env, post, actor).await
}

/// After a post was scheduled: submit it for review if it needs it.
pub async fn submit_scheduled(
    db: &mut fanz_store::Db,
    env: &fanz_content::Content,
    post: fanz_content::Post,
    actor: &Actor,
) -> fanz_content::Result<(fanz_content::Post, bool)> {
    if post.state != fanz_content::PostState::Scheduled {
        return Ok((post, false));
    }
    let now = fanz_core::clock::now_micros();
    let submitted = fanz_safety::review::submit_if_required(db, env, &post, now, actor)
        .await
        .map_err(content_error)?;
    match submitted {
        Some(_) => Ok((fanz_content::posts::get(db, post.id).await?, true)),
        None => Ok((post, false)),
    }
}

/// Delete an item of the owner's vault, unless a published or scheduled post shows it: that
/// post must be hidden or deleted first, so nothing live loses its media. A draft that carries
/// it keeps its text; the publish gate then refuses the missing item.
pub async fn delete_media(
    db: &mut fanz_store::Db,
    owner_id: i64,
    media_id: i64,
    actor: &Actor,
) -> ApiResult<()> {
    // Another account's item is 404 before its posts are looked at.
    fanz_media::get_owned(db, owner_id, media_id).await?;
    let live: Vec<i64> = fanz_content::posts::media_usage(db, &[media_id])
        .await?
        .into_iter()
        .filter(|u| {
            matches!(
                u.state,
                fanz_content::PostState::Published | fanz_content::PostState::Scheduled
            )
        })
        .map(|u| u.post_id)
        .collect();
    if !live.is_empty() {
        let n = live.len();
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "media_in_use",
            format!(
                "this item is in {n} published or scheduled post{}; hide or delete {} first",
                if n == 1 { "" } else { "s" },
                if n == 1 { "that post" } else { "those posts" }
            ),
        ));
    }
    fanz_media::delete(db, owner_id, media_id, actor).await?;
    Ok(())
}

/// Save a creator's media settings (the visible watermark): only ever the caller's own, so
/// no account can change another's. The watermark's cluster must be one the creator appears
/// on (empty: their first). Audited by media (`media.settings_changed`).
pub async fn save_media_settings(
    state: &AppState,
    owner_id: i64,
    mut new: fanz_media::watermark::MediaSettings,
    actor: &Actor,
) -> ApiResult<fanz_media::watermark::MediaSettings> {
    new.watermark_cluster = new.watermark_cluster.trim().to_lowercase();
    let mut tx = state.store.begin().await?;
    if !new.watermark_cluster.is_empty() {
        let profile = fanz_profiles::get_by_user(&mut tx, owner_id).await?;
        if !profile.clusters.contains(&new.watermark_cluster) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_cluster",
                format!(
                    "you do not appear on a cluster named {:?}",
                    new.watermark_cluster
                ),
            ));
        }
    }
    let saved = fanz_media::watermark::save_settings(&mut tx, owner_id, &new, actor).await?;
    tx.commit().await?;
    Ok(saved)
}

/// The address a watermark shows for a cluster: its first public host name (one that is not
/// `localhost` or under `.localhost`), else its first, else its name.
pub fn cluster_address(c: &fanz_clusters::Cluster) -> String {
    let public = |h: &&String| h.as_str() != "localhost" && !h.ends_with(".localhost");
    c.hosts
        .iter()
        .find(public)
        .or(c.hosts.first())
        .cloned()
        .unwrap_or_else(|| c.name.clone())
}

/// The visible watermark's text: `@handle · address`, the address of the chosen cluster (or
/// of the creator's first cluster, [`cluster_address`]).
pub struct Byline {
    pub clusters: fanz_clusters::Clusters,
}

#[async_trait::async_trait]
impl fanz_media::watermark::Byline for Byline {
    async fn text(
        &self,
        db: &mut fanz_store::Db,
        owner_id: i64,
        cluster: &str,
    ) -> fanz_media::Result<Option<String>> {
        let profile = match fanz_profiles::get_by_user(db, owner_id).await {
            Ok(p) => p,
            Err(fanz_profiles::ProfileError::NotFound) => return Ok(None),
            Err(fanz_profiles::ProfileError::Database(e)) => {
                return Err(fanz_media::MediaError::Database(e))
            }
            Err(e) => return Err(fanz_media::MediaError::Invalid(e.to_string())),
        };
        let slug = if cluster.is_empty() || !profile.clusters.iter().any(|c| c == cluster) {
            profile.clusters.first().map(String::as_str)
        } else {
            Some(cluster)
        };
        let place = slug.and_then(|s| self.clusters.get(s)).map(cluster_address);
        Ok(Some(match place {
            Some(p) => format!("@{} · {p}", profile.handle),
            None => format!("@{}", profile.handle),
        }))
    }
}

//! This node's search index: opened at start in `<data_dir>/search`, kept current by the
//! `search@<index id>` event subscriber (posts published, edited or removed; creators made), and
//! rebuilt whole by `fanz search reindex`. It is derived data: what goes in is
//! `Post::public_text` (a locked post's teaser, never its text), and every hit is checked
//! again by the entitlement function before anyone sees it.
//!
//! Index work is blocking (tantivy), so it runs on the blocking pool under a concurrency
//! limit and a deadline. The answers of recent queries are kept by the index until its next
//! commit (`SearchIndex::cached`); a repeated query skips the pool.

use fanz_content::{posts, ContentEvent, Post};
use fanz_profiles::ProfileEvent;
use fanz_search::{CreatorDoc, PostDoc, SearchIndex, SearchQuery, SearchResults};
use fanz_store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// At most this many searches run at once; others wait up to the deadline.
const CONCURRENT_SEARCHES: usize = 4;
const SEARCH_DEADLINE: Duration = Duration::from_secs(3);

pub struct Search {
    index: Arc<SearchIndex>,
    permits: Semaphore,
    /// Names this index's event subscriber (`search@<id>`), kept in the index directory: a
    /// restart resumes where the index left off; a new (or deleted) index starts afresh.
    pub id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchFailure {
    #[error("search is busy; try again")]
    Busy,
    #[error("search index error: {0}")]
    Index(String),
    #[error("store error: {0}")]
    Store(String),
}

impl From<fanz_search::SearchError> for SearchFailure {
    fn from(e: fanz_search::SearchError) -> Self {
        SearchFailure::Index(e.to_string())
    }
}

impl From<fanz_content::ContentError> for SearchFailure {
    fn from(e: fanz_content::ContentError) -> Self {
        SearchFailure::Store(e.to_string())
    }
}

impl From<fanz_store::StoreError> for SearchFailure {
    fn from(e: fanz_store::StoreError) -> Self {
        SearchFailure::Store(e.to_string())
    }
}

impl From<fanz_profiles::ProfileError> for SearchFailure {
    fn from(e: fanz_profiles::ProfileError) -> Self {
        SearchFailure::Store(e.to_string())
    }
}

impl Search {
    /// The index in `dir`; `None` (search unavailable, logged) when another process holds it.
    pub fn open(dir: &Path) -> Option<Arc<Search>> {
        let opened = match SearchIndex::open(dir) {
            // Derived data: an index of an older schema is thrown away and built again (by
            // `fill_if_empty` at start, or the reindex that opened it).
            Err(fanz_search::SearchError::Incompatible { .. }) => {
                tracing::warn!(dir = %dir.display(), "the search index has an older schema: starting a new one");
                std::fs::remove_dir_all(dir)
                    .map_err(fanz_search::SearchError::from)
                    .and_then(|()| SearchIndex::open(dir))
            }
            other => other,
        };
        match opened {
            Ok(index) => Some(Arc::new(Search {
                index: Arc::new(index),
                permits: Semaphore::new(CONCURRENT_SEARCHES),
                id: index_id(dir),
            })),
            Err(e) => {
                tracing::error!(error = %e, dir = %dir.display(), "search index unavailable");
                None
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SearchIndex) -> fanz_search::Result<T> + Send + 'static,
    ) -> Result<T, SearchFailure> {
        let _permit = tokio::time::timeout(SEARCH_DEADLINE, self.permits.acquire())
            .await
            .map_err(|_| SearchFailure::Busy)?
            .map_err(|_| SearchFailure::Busy)?;
        let index = self.index.clone();
        let job = tokio::task::spawn_blocking(move || f(&index));
        match tokio::time::timeout(SEARCH_DEADLINE, job).await {
            Ok(Ok(r)) => Ok(r?),
            Ok(Err(e)) => Err(SearchFailure::Index(e.to_string())),
            Err(_) => Err(SearchFailure::Busy),
        }
    }

    /// A query asked again before the index changes is answered from the index's kept
    /// answers, here, without a permit or a blocking thread; any other waits for both.
    pub async fn search(&self, q: SearchQuery) -> Result<SearchResults, SearchFailure> {
        if let Some(kept) = self.index.cached(&q) {
            metrics::counter!("search_answers_total", "from" => "kept").increment(1);
            return Ok(kept);
        }
        metrics::counter!("search_answers_total", "from" => "index").increment(1);
        self.blocking(move |i| i.search(&q)).await
    }

    /// Bring one post up to date: indexed while live, removed otherwise.
    pub async fn refresh_post(&self, store: &Store, post_id: i64) -> Result<(), SearchFailure> {
        let mut db = store.conn().await?;
        let post = match posts::get(&mut db, post_id).await {
            Ok(p) => Some(p),
            Err(fanz_content::ContentError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let doc = match post {
            Some(p)
                if p.is_live(fanz_core::clock::now_micros())
                    && p.kind == fanz_content::PostKind::Post =>
            {
                let author = fanz_profiles::get_by_user(&mut db, p.author_id).await?;
                Some(post_doc(&p, &author.handle))
            }
            _ => None,
        };
        drop(db);
        self.blocking(move |i| {
            match doc {
                Some(d) => i.upsert_post(&d)?,
                None => i.delete_post(post_id)?,
            }
            i.commit()
        })
        .await
    }

    /// Bring one creator up to date.
    pub async fn refresh_creator(&self, store: &Store, user_id: i64) -> Result<(), SearchFailure> {
        let mut db = store.conn().await?;
        let p = fanz_profiles::get_by_user(&mut db, user_id).await?;
        drop(db);
        self.blocking(move |i| {
            if p.is_creator {
                i.upsert_creator(&creator_doc(&p))?;
            } else {
                i.delete_creator(p.user_id)?;
            }
            i.commit()
        })
        .await
    }

    /// Rebuild the whole index from the store, reporting progress as (posts done, total).
    pub async fn reindex(
        &self,
        store: &Store,
        progress: impl Fn(u64) + Send + Sync,
    ) -> Result<(u64, u64), SearchFailure> {
        let index = self.index.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(4);
        let writer = tokio::task::spawn_blocking(move || -> fanz_search::Result<(u64, u64)> {
            let mut rebuild = index.rebuild()?;
            let (mut posts, mut creators) = (0u64, 0u64);
            while let Some(batch) = rx.blocking_recv() {
                match batch {
                    Batch::Posts(docs) => posts += rebuild.add_posts(docs.iter())? as u64,
                    Batch::Creators(docs) => creators += rebuild.add_creators(docs.iter())? as u64,
                }
            }
            rebuild.commit()?;
            Ok((posts, creators))
        });
        let now = fanz_core::clock::now_micros();
        let mut after = 0i64;
        let mut done = 0u64;
        let mut handles: std::collections::HashMap<i64, String> = Default::default();
        loop {
            let mut db = store.conn().await?;
            let batch = posts::live_after(&mut db, after, 2000, now).await?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            let mut missing: Vec<i64> = batch
                .iter()
                .map(|p| p.author_id)
                .filter(|a| !handles.contains_key(a))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            for p in fanz_profiles::get_many(&mut db, &missing).await? {
                handles.insert(p.user_id, p.handle);
            }
            drop(db);
            let docs: Vec<PostDoc> = batch
                .iter()
                .map(|p| {
                    post_doc(
                        p,
                        handles.get(&p.author_id).map(String::as_str).unwrap_or(""),
                    )
                })
                .collect();
            done += docs.len() as u64;
            if tx.send(Batch::Posts(docs)).await.is_err() {
                break;
            }
            progress(done);
        }
        let mut db = store.conn().await?;
        let creators = creators_all(&mut db).await?;
        drop(db);
        let _ = tx.send(Batch::Creators(creators)).await;
        drop(tx);
        Ok(writer
            .await
            .map_err(|e| SearchFailure::Index(e.to_string()))??)
    }
}

/// The id kept in `dir/index-id`, made on first use.
fn index_id(dir: &Path) -> String {
    let path = dir.join("index-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return id.to_owned();
        }
    }
    let id = fanz_core::token::random_token("", 12)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>();
    if let Err(e) = std::fs::write(&path, &id) {
        tracing::warn!(error = %e, "cannot keep the search index id; events will be replayed at the next start");
    }
    id
}

/// Rebuild in the background when the index is empty but posts exist (a new node, a deleted
/// index directory).
pub fn fill_if_empty(search: Arc<Search>, store: Store) {
    tokio::spawn(async move {
        let empty = search
            .blocking(|i| i.counts())
            .await
            .map(|c| c.posts == 0)
            .unwrap_or(false);
        if !empty {
            return;
        }
        let live = match store.conn().await {
            Ok(mut db) => posts::count_live(&mut db, None, fanz_core::clock::now_micros())
                .await
                .unwrap_or(0),
            Err(_) => 0,
        };
        if live == 0 {
            return;
        }
        tracing::info!(posts = live, "search index is empty: rebuilding it");
        match search.reindex(&store, |_| {}).await {
            Ok((posts, creators)) => tracing::info!(posts, creators, "search index rebuilt"),
            Err(e) => tracing::error!(error = %e, "search index rebuild failed"),
        }
    });
}

enum Batch {
    Posts(Vec<PostDoc>),
    Creators(Vec<CreatorDoc>),
}

async fn creators_all(db: &mut fanz_store::Db) -> Result<Vec<CreatorDoc>, SearchFailure> {
    let ids = fanz_profiles::creator_ids(db).await?;
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for p in fanz_profiles::get_many(db, chunk).await? {
            out.push(creator_doc(&p));
        }
    }
    Ok(out)
}

fn post_doc(p: &Post, handle: &str) -> PostDoc {
    PostDoc {
        id: p.id,
        creator_id: p.author_id,
        creator_handle: handle.to_owned(),
        text: p.public_text().to_owned(),
        tags: p.tags.clone(),
        clusters: p.clusters.clone(),
        sensitive: p.sensitive,
        published_at: p.published_at.unwrap_or(0),
        engagement: p.likes + 3 * p.comments,
    }
}

fn creator_doc(p: &fanz_profiles::Profile) -> CreatorDoc {
    CreatorDoc {
        id: p.user_id,
        handle: p.handle.clone(),
        display_name: p.display_name.clone(),
        bio: p.bio.clone(),
        clusters: p.clusters.clone(),
    }
}

/// The `search@<index id>` subscriber: every node keeps its own index current.
pub fn subscribe(subs: &mut fanz_events::Subscribers, search: Arc<Search>, store: Store) {
    subs.subscribe(
        &format!("search@{}", search.id),
        &[
            "content.post_",
            "profiles.became_creator",
            "profiles.updated",
            "profiles.erased",
        ],
        move |env| {
            let search = search.clone();
            let store = store.clone();
            async move {
                let r = if env.event_type.starts_with("content.") {
                    match serde_json::from_value::<ContentEvent>(env.payload) {
                        Ok(ContentEvent::PostPublished { post_id, .. })
                        | Ok(ContentEvent::PostUpdated { post_id })
                        | Ok(ContentEvent::PostRemoved { post_id }) => {
                            search.refresh_post(&store, post_id).await
                        }
                        Ok(_) => Ok(()),
                        Err(e) => return Err(format!("unreadable event: {e}")),
                    }
                } else {
                    match serde_json::from_value::<ProfileEvent>(env.payload) {
                        Ok(ProfileEvent::BecameCreator { user_id, .. })
                        | Ok(ProfileEvent::Updated { user_id })
                        | Ok(ProfileEvent::Erased { user_id }) => {
                            search.refresh_creator(&store, user_id).await
                        }
                        Ok(_) => Ok(()),
                        Err(e) => return Err(format!("unreadable event: {e}")),
                    }
                };
                r.map_err(|e| e.to_string())
            }
        },
    );
}

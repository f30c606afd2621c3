//! Search: the full-text index over posts and creators, typo tolerant, built on tantivy.
//!
//! # What this crate owns, and what it must never do
//!
//! The index is **derived data**. The store is the truth; this crate keeps a copy of what search
//! needs and can be thrown away at any time: `fanz search reindex` starts a
//! [`SearchIndex::rebuild`], feeds it every post and creator, commits once and
//! [`closes`](SearchIndex::close) the index (which lets background merges finish). Nothing here reads the database or knows the content crate:
//! callers hand in plain [`PostDoc`]s and [`CreatorDoc`]s and get ids back. An index written
//! with another schema is refused ([`SearchError::Incompatible`]): delete it and reindex.
//!
//! - **One index per node**, in a directory of its own ([`SearchIndex::open`]); tantivy takes a
//!   lock file, so one process writes it. Each node keeps its index current from the events it
//!   receives, and a new node builds its own with a reindex. Tests use
//!   [`SearchIndex::in_memory`].
//! - **What goes in is the caller's decision.** For a locked post the caller passes only what
//!   anyone may see (the teaser, tags, the creator's handle), never the body a buyer pays for:
//!   whatever is indexed can be found, and a hit's rank leaks that a word is there.
//! - **Every hit is re-checked by the caller.** The index can lag behind the store (a post
//!   deleted or re-locked a moment ago), so the caller asks content's visibility decision for
//!   each id it got and drops what the viewer may not see. Filters here (cluster, sensitive) are
//!   for ranking and paging, not for access control.
//!
//! # Matching
//!
//! The query is analysed like the documents (split on anything not a letter or digit,
//! lower-cased, accents folded to ASCII), so `#Latex`, `latex` and `LATEX` are the same term.
//! Every term must match (AND), each in any of the fields of its kind (posts and creators are
//! searched separately, each in fields of their own), or the whole query must match the handle:
//!
//! | field | weight |
//! | --- | --- |
//! | post tags | 3 |
//! | handle, whole, always as a prefix (`neon_nate` is found by `neonnate` and `@neon_na`) | 3 |
//! | handle words (`neon`, `nate`) and a creator's display name | 2 |
//! | post text, creator bio | 1 |
//!
//! Typo tolerance: a term of 4 to 7 characters also matches terms one edit away (insertion,
//! deletion, substitution, or swapping two neighbours), a term of 8 or more characters two edits
//! away; shorter terms match exactly. The last term is also matched as a prefix (from two
//! characters, so search-as-you-type works), unless the query ends in a space. An exact match
//! always scores above a fuzzy one in the same field (a fuzzy match scores a constant half of
//! its field's weight; an exact one adds BM25 on top). A typo or a prefix reaches at most
//! [`MAX_EXPANSIONS`] terms of the index per field, the closest and then the most used, so a
//! short prefix costs about what a few common words do.
//!
//! **Exact words first.** A search first matches the words as typed (the last one still as a
//! prefix); only when that finds fewer than a page (`limit`) does it search again with typo
//! tolerance, and answers with that. A word spelled right is then not diluted by its
//! neighbours one edit away, and the walk over the term dictionaries that typos need is paid
//! only by queries that need it (BENCHMARKS.md, "Search index").
//!
//! **The newest matches are ranked, not all of them.** Posts get a small bonus for being recent
//! (up to +20 %, halving every 30 days) and for engagement (up to +10 %), and a post search ranks
//! the newest [`CANDIDATES`] matches (more when the page reaches further): each segment is read
//! from its end backwards, a span at a time, since the index is filled in publishing order and
//! a rebuild ends as one segment in that order ([`Rebuild::commit`]). When anything was left
//! unread, `total_posts` counts what was read and `total_posts_exact` is false ("400+"). A query
//! whose matches all fit is ranked and counted exactly. Creators (thousands, not millions) are
//! all ranked and counted.
//!
//! Queries are bounded: at most [`MAX_QUERY_CHARS`] characters are read, at most
//! [`MAX_TERMS`] terms are used, each cut to [`MAX_TERM_CHARS`] characters. User text is never
//! given to a query parser, so no input is a syntax error; a query without any letter or digit
//! finds nothing.
//!
//! # Threads
//!
//! All methods are blocking (tantivy does its own I/O and threads); call them from
//! `spawn_blocking` in async code. Writes go through one writer behind a mutex; searches never
//! wait for it and see the state of the last [`SearchIndex::commit`].

pub mod synthetic;
mod union;

use std::borrow::Borrow;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA};
use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::Column;
use tantivy::directory::MmapDirectory;
use tantivy::index::SegmentId;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{
    DocAddress, DocId, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher,
    TantivyDocument, Term,
};
use union::SeekUnion;

/// The answers of this many recent queries are kept (see [`SearchIndex::cached`]).
pub const CACHED_ANSWERS: usize = 4096;
/// A query longer than this (in bytes) is not kept among the answers: keys stay small.
const CACHED_QUERY_BYTES: usize = 256;
const HOUR_MICROS: i64 = 3_600_000_000;

/// At most this many characters of a query are read; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 256;
/// At most this many (distinct) terms of a query are used.
pub const MAX_TERMS: usize = 8;
/// Longer query terms are cut to this many characters.
pub const MAX_TERM_CHARS: usize = 64;
/// The most hits one search returns.
pub const MAX_LIMIT: usize = 100;
/// Hits past this offset are not returned (totals are still counted): deep paging through a
/// search costs memory for every skipped hit and nobody reads page 500.
pub const MAX_OFFSET: usize = 10_000;

/// A typo-tolerant or prefix term matches at most this many terms of the index: the closest
/// (fewest edits), then those in most documents. Unbounded, a two-letter prefix or a long
/// handle with two typos expanded to thousands of terms, and every document of every one of
/// them was read and scored (BENCHMARKS.md, "Search index"). Typesense (`max_candidates`) and
/// Meilisearch bound their expansions the same way.
pub const MAX_EXPANSIONS: usize = 10;
/// A post search ranks the newest this many matches (or as many as the page reaches, if more),
/// not every match: a common word matches hundreds of thousands of posts, and scoring and
/// counting all of them was the slow tail of search (BENCHMARKS.md). Each segment is read
/// from its end (the newest posts: the index is filled in publishing order) backwards, in
/// spans that grow until they hold this many matches, and segments whose newest post is older
/// than the candidates found so far are skipped. When anything was left unread the total is a
/// lower bound (`total_posts_exact: false`).
pub const CANDIDATES: usize = 400;

/// The writer's memory budget, shared by its indexing threads: a segment is flushed when its
/// thread's share is full, so this bounds memory, not the index size.
const WRITER_HEAP_BYTES: usize = 50_000_000;
/// Tokens longer than this (in bytes) are not indexed: nobody searches for them, and a long
/// run of letters is more likely spam or base64 than a word.
const MAX_INDEXED_TOKEN_BYTES: usize = 256;

const WORDS_ANALYZER: &str = "fanz_words";

const KIND_POST: &str = "post";
const KIND_CREATOR: &str = "creator";

const WEIGHT_TAGS: Score = 3.0;
const WEIGHT_HANDLE: Score = 3.0;
const WEIGHT_NAME: Score = 2.0;
const WEIGHT_TEXT: Score = 1.0;
/// A fuzzy match scores this share of its field's weight, as a constant; an exact match adds
/// its BM25 score on top, so it always ranks above a fuzzy-only match in the same field.
const FUZZY_SHARE: Score = 0.5;

const RECENCY_BONUS: f64 = 0.2;
const RECENCY_HALF_LIFE_MICROS: f64 = 30.0 * 86_400.0 * 1e6;
const ENGAGEMENT_BONUS: f64 = 0.1;
/// Engagement at which the bonus is full (log scale): a million interactions.
const ENGAGEMENT_FULL_LOG10: f64 = 6.0;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search index at {path} is held by another writer (another process, or another SearchIndex in this one)")]
    Locked { path: PathBuf },
    #[error("the search index at {path} was built with another schema: delete the directory and run `fanz search reindex`")]
    Incompatible { path: PathBuf },
    #[error("search index I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index error: {0}")]
    Engine(#[from] tantivy::TantivyError),
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// A post as search sees it. For a locked post, `text` is the teaser only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostDoc {
    pub id: i64,
    /// Not indexed yet: no query filters by creator (the handle is what is searched).
    pub creator_id: i64,
    pub creator_handle: String,
    /// The teaser only, for a locked post.
    pub text: String,
    pub tags: Vec<String>,
    /// Slugs of the clusters the post is shown on.
    pub clusters: Vec<String>,
    pub sensitive: bool,
    /// Microseconds since the epoch.
    pub published_at: i64,
    /// Likes, comments, tips… as the caller counts them; only its logarithm matters.
    pub engagement: i64,
}

/// A creator as search sees them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatorDoc {
    pub id: i64,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub clusters: Vec<String>,
}

/// What a search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Kinds {
    Posts,
    Creators,
    #[default]
    Both,
}

impl Kinds {
    fn posts(self) -> bool {
        matches!(self, Kinds::Posts | Kinds::Both)
    }

    fn creators(self) -> bool {
        matches!(self, Kinds::Creators | Kinds::Both)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SearchQuery {
    /// What the user typed; any text is accepted.
    pub q: String,
    /// Only documents shown on this cluster (exact slug).
    pub cluster: Option<String>,
    /// Also posts marked sensitive (the cluster's safe search turned off by the viewer).
    pub include_sensitive: bool,
    pub kinds: Kinds,
    /// Hits per kind, at most [`MAX_LIMIT`].
    pub limit: usize,
    pub offset: usize,
    /// Turn typo tolerance off: terms match exactly (the last one still as a prefix). For
    /// benchmarks and for callers that want a strict match.
    pub exact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResults {
    pub posts: Vec<Hit>,
    pub creators: Vec<Hit>,
    /// How many posts match in all (not only this page); a lower bound when
    /// `total_posts_exact` is false.
    pub total_posts: usize,
    /// False when the query matched so many posts that only the newest were ranked (see
    /// [`CANDIDATES`]): there are at least `total_posts`.
    pub total_posts_exact: bool,
    pub total_creators: usize,
}

/// How many documents of each kind the last commit holds, in how many segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexCounts {
    pub posts: usize,
    pub creators: usize,
    /// Each search visits every segment; background merges keep their number low.
    pub segments: usize,
}

#[derive(Clone, Copy)]
struct Fields {
    /// `p:<id>` or `c:<id>`: the term an upsert or delete replaces.
    key: Field,
    kind: Field,
    id: Field,
    clusters: Field,
    sensitive: Field,
    published_at: Field,
    engagement: Field,
    posts: Words,
    creators: Words,
}

/// The searchable fields of one kind of document. Posts and creators have fields of their own
/// although they share the index: a fuzzy term walks its field's whole dictionary and marks
/// every document of every matching term, so a search for creators would otherwise pay for the
/// million posts that share the words.
#[derive(Clone, Copy)]
struct Words {
    /// The handle's words run together (`neon_nate` → `neonnate`), one raw term.
    handle: Field,
    /// Handle words, and a creator's display name.
    name: Field,
    /// Post tags (creators have none).
    tags: Option<Field>,
    /// Post text or creator bio.
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Frequencies for BM25, no positions: there are no phrase queries, and positions would be
    // the largest file of the index.
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS_ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        kind: b.add_text_field("kind", STRING),
        id: b.add_i64_field("id", FAST),
        clusters: b.add_text_field("clusters", STRING),
        sensitive: b.add_bool_field("sensitive", NumericOptions::default().set_indexed()),
        published_at: b.add_i64_field("published_at", FAST),
        engagement: b.add_i64_field("engagement", FAST),
        posts: Words {
            handle: b.add_text_field("post_handle", STRING),
            name: b.add_text_field("post_name", words.clone()),
            tags: Some(b.add_text_field("post_tags", words.clone())),
            text: b.add_text_field("post_text", words.clone()),
        },
        creators: Words {
            handle: b.add_text_field("creator_handle", STRING),
            name: b.add_text_field("creator_name", words.clone()),
            tags: None,
            text: b.add_text_field("creator_bio", words),
        },
    };
    (b.build(), fields)
}

fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_INDEXED_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The search index of one node. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct SearchIndex {
    fields: Fields,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    analyzer: TextAnalyzer,
    /// The fast-field columns of each segment searched, opened once: opening a column reads
    /// its block index (thousands of blocks for a million posts), which cost more than
    /// ranking a page. Segments never change, only their deletes, so entries stay valid.
    columns: Mutex<HashMap<SegmentId, Arc<Columns>>>,
    answers: Mutex<Answers>,
}

/// The answers of recent searches, all computed on one searcher (one commit) and against one
/// hour (recency is scored against the hour). A search on a newer commit or in a later hour
/// empties it; an answer computed on an older searcher, finishing late, is not kept.
/// Answers are ids and scores only, the same for every viewer: the caller still checks
/// each hit against its viewer.
struct Answers {
    generation: u64,
    hour: i64,
    kept: lru::LruCache<SearchQuery, SearchResults>,
}

impl Answers {
    /// Whether answers of (`generation`, `hour`) may be read and kept; moves on to them when
    /// they are newer.
    fn current(&mut self, generation: u64, hour: i64) -> bool {
        if generation < self.generation || hour < self.hour {
            return false;
        }
        if generation > self.generation || hour > self.hour {
            self.kept.clear();
            self.generation = generation;
            self.hour = hour;
        }
        true
    }
}

/// The fast fields a search reads of one segment.
struct Columns {
    id: Column<i64>,
    published_at: Column<i64>,
    engagement: Column<i64>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating the directory and an empty index if needed.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let directory = MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
        let (schema, fields) = schema();
        let index = Index::open_or_create(directory, schema).map_err(|e| match e {
            tantivy::TantivyError::SchemaError(_) => SearchError::Incompatible {
                path: dir.to_path_buf(),
            },
            e => e.into(),
        })?;
        Self::with_index(index, fields).map_err(|e| match e {
            SearchError::Engine(tantivy::TantivyError::LockFailure(..)) => SearchError::Locked {
                path: dir.to_path_buf(),
            },
            e => e,
        })
    }

    /// An index in memory, for tests and tools.
    pub fn in_memory() -> Result<Self> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self> {
        // Tokenizers are not stored in the index: register ours on every open.
        index
            .tokenizers()
            .register(WORDS_ANALYZER, words_analyzer());
        // One indexing thread: documents land in segments in the order they are added (with
        // several threads each takes documents as they come, and segments overlap in time), so
        // a rebuild fed oldest first ends as one segment in publishing order, which is what
        // post search reads from the end (see [`CANDIDATES`]).
        let writer = index.writer_with_num_threads(1, WRITER_HEAP_BYTES)?;
        // Manual reload right after our own commit: a search that follows `commit()` sees it.
        // Nobody else writes this directory (the writer holds its lock).
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            fields,
            writer: Mutex::new(writer),
            reader,
            analyzer: words_analyzer(),
            columns: Mutex::new(HashMap::new()),
            answers: Mutex::new(Answers {
                generation: 0,
                hour: 0,
                kept: lru::LruCache::new(
                    std::num::NonZeroUsize::new(CACHED_ANSWERS).expect("not zero"),
                ),
            }),
        })
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock leaves nothing inconsistent: every write is a
        // self-contained upsert or delete queued until the next commit (a rebuild rolls back
        // when its guard is dropped during the unwind).
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a post (by id). Visible after the next [`commit`](Self::commit).
    pub fn upsert_post(&self, post: &PostDoc) -> Result<()> {
        let writer = self.writer();
        self.put_post(&writer, post)
    }

    /// Adds or replaces many posts under one lock, without committing. Returns how many were
    /// written. (A full reindex goes through [`rebuild`](Self::rebuild).)
    pub fn upsert_posts<I>(&self, posts: I) -> Result<usize>
    where
        I: IntoIterator,
        I::Item: Borrow<PostDoc>,
    {
        let writer = self.writer();
        let mut n = 0;
        for post in posts {
            self.put_post(&writer, post.borrow())?;
            n += 1;
        }
        Ok(n)
    }

    /// Adds or replaces a creator (by id). Visible after the next [`commit`](Self::commit).
    pub fn upsert_creator(&self, creator: &CreatorDoc) -> Result<()> {
        let writer = self.writer();
        self.put_creator(&writer, creator)
    }

    /// Adds or replaces many creators under one lock, without committing.
    pub fn upsert_creators<I>(&self, creators: I) -> Result<usize>
    where
        I: IntoIterator,
        I::Item: Borrow<CreatorDoc>,
    {
        let writer = self.writer();
        let mut n = 0;
        for creator in creators {
            self.put_creator(&writer, creator.borrow())?;
            n += 1;
        }
        Ok(n)
    }

    /// Removes a post (a no-op for an unknown id). Visible after the next commit.
    pub fn delete_post(&self, id: i64) -> Result<()> {
        self.writer().delete_term(self.key_term(KIND_POST, id));
        Ok(())
    }

    /// Removes a creator (not their posts: the caller deletes or re-indexes those).
    pub fn delete_creator(&self, id: i64) -> Result<()> {
        self.writer().delete_term(self.key_term(KIND_CREATOR, id));
        Ok(())
    }

    /// Removes every document, and drops every write not committed yet (visible after the next
    /// commit). For a full rebuild, [`rebuild`](Self::rebuild) does this and saves memory.
    pub fn clear(&self) -> Result<()> {
        let mut writer = self.writer();
        // tantivy's delete-all drops the flushed segments but not documents still in the
        // indexing queue; rolling back first drops those too.
        writer.rollback()?;
        writer.delete_all_documents()?;
        Ok(())
    }

    /// Starts replacing the whole index: the way `fanz search reindex` fills it. Searches keep
    /// seeing the old index until [`Rebuild::commit`]; dropping the [`Rebuild`] without
    /// committing leaves the index as it was. Writes made before it and not committed are
    /// dropped (the rebuild reads the store after it starts, so it has their effect), and other
    /// writes wait until it ends: it holds the writer.
    ///
    /// Documents are added without the delete-by-id an upsert does: tantivy keeps every
    /// pending delete until the commit, which for a million posts cost about 700 MiB of memory
    /// (BENCHMARKS.md). An id given twice is still replaced, not doubled.
    pub fn rebuild(&self) -> Result<Rebuild<'_>> {
        let mut writer = self.writer();
        writer.rollback()?;
        writer.delete_all_documents()?;
        Ok(Rebuild {
            index: self,
            writer,
            posts: HashSet::new(),
            creators: HashSet::new(),
            committed: false,
        })
    }

    /// Makes every write since the last commit durable and visible to searches.
    pub fn commit(&self) -> Result<()> {
        self.writer().commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Waits for background merges to finish and releases the directory. Uncommitted writes
    /// are dropped. Dropping the index instead abandons merges in progress (the index stays
    /// correct, only less merged): a reindex should end with `commit` and `close`.
    pub fn close(self) -> Result<()> {
        let writer = self.writer.into_inner().unwrap_or_else(|e| e.into_inner());
        writer.wait_merging_threads()?;
        Ok(())
    }

    /// Drops every write since the last commit.
    pub fn rollback(&self) -> Result<()> {
        self.writer().rollback()?;
        Ok(())
    }

    /// How many posts and creators the last commit holds.
    pub fn counts(&self) -> Result<IndexCounts> {
        let searcher = self.reader.searcher();
        let count = |kind: &str| {
            searcher.search(
                &TermQuery::new(
                    Term::from_field_text(self.fields.kind, kind),
                    IndexRecordOption::Basic,
                ),
                &Count,
            )
        };
        Ok(IndexCounts {
            posts: count(KIND_POST)?,
            creators: count(KIND_CREATOR)?,
            segments: searcher.segment_readers().len(),
        })
    }

    fn key_term(&self, kind: &str, id: i64) -> Term {
        Term::from_field_text(self.fields.key, &key(kind, id))
    }

    fn put_post(&self, writer: &IndexWriter, post: &PostDoc) -> Result<()> {
        writer.delete_term(self.key_term(KIND_POST, post.id));
        self.add_post(writer, post)
    }

    fn add_post(&self, writer: &IndexWriter, post: &PostDoc) -> Result<()> {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, key(KIND_POST, post.id));
        doc.add_text(f.kind, KIND_POST);
        doc.add_i64(f.id, post.id);
        for cluster in &post.clusters {
            doc.add_text(f.clusters, cluster);
        }
        doc.add_bool(f.sensitive, post.sensitive);
        doc.add_i64(f.published_at, post.published_at);
        doc.add_i64(f.engagement, post.engagement);
        let w = &f.posts;
        self.add_handle(&mut doc, w, &post.creator_handle);
        if let Some(tags) = w.tags {
            for tag in &post.tags {
                doc.add_text(tags, tag);
            }
        }
        doc.add_text(w.text, &post.text);
        writer.add_document(doc)?;
        Ok(())
    }

    fn put_creator(&self, writer: &IndexWriter, creator: &CreatorDoc) -> Result<()> {
        writer.delete_term(self.key_term(KIND_CREATOR, creator.id));
        self.add_creator(writer, creator)
    }

    fn add_creator(&self, writer: &IndexWriter, creator: &CreatorDoc) -> Result<()> {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, key(KIND_CREATOR, creator.id));
        doc.add_text(f.kind, KIND_CREATOR);
        doc.add_i64(f.id, creator.id);
        for cluster in &creator.clusters {
            doc.add_text(f.clusters, cluster);
        }
        let w = &f.creators;
        self.add_handle(&mut doc, w, &creator.handle);
        doc.add_text(w.name, &creator.display_name);
        doc.add_text(w.text, &creator.bio);
        writer.add_document(doc)?;
        Ok(())
    }

    fn add_handle(&self, doc: &mut TantivyDocument, w: &Words, handle: &str) {
        let compact = self.tokens(handle, usize::MAX).concat();
        if !compact.is_empty() {
            doc.add_text(w.handle, compact);
        }
        doc.add_text(w.name, handle);
    }

    /// `text` analysed as the index analyses it.
    fn tokens(&self, text: &str, max: usize) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while out.len() < max && stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    fn answers(&self) -> MutexGuard<'_, Answers> {
        // Only whole answers are ever put in: a panic elsewhere leaves nothing half-written.
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer [`search`](Self::search) gave `query` on the current commit within the
    /// current hour, if it is still kept: a lookup in memory, without touching the index, so
    /// async callers can try it before handing a search to a blocking thread. The most asked
    /// queries (a popular tag, a creator's name) are answered from here until the next commit.
    pub fn cached(&self, query: &SearchQuery) -> Option<SearchResults> {
        let generation = self.reader.searcher().generation().generation_id();
        self.kept(generation, now_micros() / HOUR_MICROS, query)
    }

    /// The answer kept for `query` on commit `generation` in `hour`.
    fn kept(&self, generation: u64, hour: i64, query: &SearchQuery) -> Option<SearchResults> {
        let mut answers = self.answers();
        if !answers.current(generation, hour) {
            return None;
        }
        answers.kept.get(query).cloned()
    }

    /// Searches posts, creators or both. Never fails on what the user typed.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchResults> {
        let searcher = self.reader.searcher();
        let generation = searcher.generation().generation_id();
        let hour = now_micros() / HOUR_MICROS;
        if let Some(kept) = self.kept(generation, hour, query) {
            return Ok(kept);
        }
        let results = self.search_on(&searcher, hour, query)?;
        if query.q.len() <= CACHED_QUERY_BYTES {
            let mut answers = self.answers();
            if answers.current(generation, hour) {
                answers.kept.put(query.clone(), results.clone());
            }
        }
        Ok(results)
    }

    /// [`search`](Self::search) without the kept answers: always the index's own work, which
    /// is what its benchmark measures.
    pub fn search_uncached(&self, query: &SearchQuery) -> Result<SearchResults> {
        let searcher = self.reader.searcher();
        self.search_on(&searcher, now_micros() / HOUR_MICROS, query)
    }

    fn search_on(
        &self,
        searcher: &Searcher,
        hour: i64,
        query: &SearchQuery,
    ) -> Result<SearchResults> {
        let mut results = SearchResults {
            total_posts_exact: true,
            ..SearchResults::default()
        };
        let Some(plan) = self.plan(&query.q) else {
            return Ok(results);
        };
        let limit = query.limit.min(MAX_LIMIT);
        let page = (limit > 0 && query.offset <= MAX_OFFSET).then_some((limit, query.offset));

        if query.kinds.posts() {
            // Recency is scored against the current hour, not the current microsecond: the
            // pages of one query, asked for one after the other, then rank alike and never
            // overlap or skip a post.
            let now = hour * HOUR_MICROS;
            let want = page.map_or(0, |(limit, offset)| limit + offset);
            let need = want.max(CANDIDATES);
            let (q, expected) = self.kind_query(searcher, KIND_POST, &plan, query, true)?;
            let mut found = self.newest_matches(searcher, &q, expected, need, now)?;
            // Typos only when the words as typed find less than a page: a word spelled right
            // is not diluted by its neighbours, and a typo costs the walk over the dictionaries
            // only when it is needed. The test does not depend on the offset, so every page of
            // a query comes from the same matching.
            if !query.exact && found.matched < limit.max(1) && plan.fuzzy_applies() {
                let (q, expected) = self.kind_query(searcher, KIND_POST, &plan, query, false)?;
                found = self.newest_matches(searcher, &q, expected, need, now)?;
            }
            results.total_posts = found.matched;
            results.total_posts_exact = found.complete;
            if let Some((limit, offset)) = page {
                results.posts = self.hits(searcher, found.page(limit, offset))?;
            }
        }
        if query.kinds.creators() {
            let run = |exact: bool| -> Result<(Vec<(Score, DocAddress)>, usize)> {
                let (q, _) = self.kind_query(searcher, KIND_CREATOR, &plan, query, exact)?;
                Ok(match page {
                    Some((limit, offset)) => {
                        let top = TopDocs::with_limit(limit).and_offset(offset);
                        searcher.search(&q, &(top, Count))?
                    }
                    None => (Vec::new(), searcher.search(&q, &Count)?),
                })
            };
            let mut found = run(true)?;
            if !query.exact && found.1 < limit.max(1) && plan.fuzzy_applies() {
                found = run(false)?;
            }
            results.creators = self.hits(searcher, found.0)?;
            results.total_creators = found.1;
        }
        Ok(results)
    }

    fn hits(&self, searcher: &Searcher, docs: Vec<(Score, DocAddress)>) -> Result<Vec<Hit>> {
        let mut out = Vec::with_capacity(docs.len());
        for (score, addr) in docs {
            let columns = self.columns(searcher, addr.segment_ord)?;
            if let Some(id) = columns.id.first(addr.doc_id) {
                out.push(Hit { id, score });
            }
        }
        Ok(out)
    }

    /// The columns of segment `ord` of `searcher`, opened on first use.
    fn columns(&self, searcher: &Searcher, ord: u32) -> Result<Arc<Columns>> {
        let segment = searcher.segment_reader(ord);
        let id = segment.segment_id();
        let mut cache = self.columns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&id) {
            return Ok(c.clone());
        }
        let fast = segment.fast_fields();
        let columns = Arc::new(Columns {
            id: fast.i64("id")?,
            published_at: fast.i64("published_at")?,
            engagement: fast.i64("engagement")?,
        });
        // Forget merged-away segments.
        if cache.len() >= 4 * searcher.segment_readers().len() + 16 {
            let live: HashSet<SegmentId> = searcher
                .segment_readers()
                .iter()
                .map(|s| s.segment_id())
                .collect();
            cache.retain(|id, _| live.contains(id));
        }
        cache.insert(id, columns.clone());
        Ok(columns)
    }

    /// The user's text reduced to what the query uses; `None` when nothing is left.
    fn plan(&self, q: &str) -> Option<Plan> {
        let end = q
            .char_indices()
            .nth(MAX_QUERY_CHARS)
            .map_or(q.len(), |(i, _)| i);
        let q = &q[..end];
        let all = self.tokens(q, MAX_QUERY_CHARS);
        if all.is_empty() {
            return None;
        }
        let handle = cut(&all.concat(), MAX_TERM_CHARS);
        let mut terms: Vec<String> = Vec::new();
        for t in &all {
            let t = cut(t, MAX_TERM_CHARS);
            if !terms.contains(&t) {
                terms.push(t);
                if terms.len() == MAX_TERMS {
                    break;
                }
            }
        }
        // Search as you type: the last word is still being typed unless a space follows it.
        let last_is_prefix = q.chars().last().is_some_and(char::is_alphanumeric);
        Some(Plan {
            terms,
            handle,
            last_is_prefix,
            automata: RefCell::default(),
        })
    }

    fn kind_query(
        &self,
        searcher: &Searcher,
        kind: &str,
        plan: &Plan,
        query: &SearchQuery,
        exact: bool,
    ) -> Result<(BooleanQuery, u64)> {
        let f = &self.fields;
        let w = if kind == KIND_POST {
            &f.posts
        } else {
            &f.creators
        };
        let seekable = kind == KIND_POST;
        let word_fields: Vec<(Field, Score)> = w
            .tags
            .map(|tags| (tags, WEIGHT_TAGS))
            .into_iter()
            .chain([(w.name, WEIGHT_NAME), (w.text, WEIGHT_TEXT)])
            .collect();
        let n = plan.terms.len();
        // How many documents may match, from the terms' document counts: every term must
        // match, so the rarest bounds the words; the handle adds its own.
        let mut expected = u64::MAX;
        let mut all_terms: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(n);
        for (i, t) in plan.terms.iter().enumerate() {
            let prefix = i + 1 == n && plan.last_is_prefix;
            let near = plan.near(t, prefix, exact);
            let mut per_field = Vec::new();
            let mut docs = 0;
            for &(field, w) in &word_fields {
                let (clauses, d) = term_clauses(searcher, field, t, w, near.as_deref(), seekable)?;
                per_field.extend(clauses);
                docs += d;
            }
            expected = expected.min(docs);
            all_terms.push((Occur::Must, union(per_field, seekable)));
        }
        // The whole query as one handle, always as a prefix: people type the start of a handle.
        let (handle, handle_docs) = term_clauses(
            searcher,
            w.handle,
            &plan.handle,
            WEIGHT_HANDLE,
            plan.near(&plan.handle, true, exact).as_deref(),
            seekable,
        )?;
        let text_match = union(
            vec![
                (Occur::Should, Box::new(BooleanQuery::new(all_terms))),
                (Occur::Should, union(handle, seekable)),
            ],
            seekable,
        );

        // No filter on `kind`: the fields searched hold only documents of this kind, and
        // intersecting with every post of the index cost time on every match.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_match)];
        if let Some(cluster) = &query.cluster {
            clauses.push((
                Occur::Must,
                filter(Term::from_field_text(f.clusters, cluster)),
            ));
        }
        if kind == KIND_POST && !query.include_sensitive {
            clauses.push((
                Occur::MustNot,
                Box::new(TermQuery::new(
                    Term::from_field_bool(f.sensitive, true),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        Ok((
            BooleanQuery::new(clauses),
            expected.saturating_add(handle_docs),
        ))
    }
}

impl SearchIndex {
    /// The newest matches of `query`, at least `need` of them when there are as many (see
    /// [`CANDIDATES`]), scored with the post bonus. `expected` is an estimate of how many posts
    /// match in all, which sets the first span read of each segment.
    fn newest_matches(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        expected: u64,
        need: usize,
        now: i64,
    ) -> Result<Newest> {
        let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
        let docs: u64 = searcher
            .segment_readers()
            .iter()
            .map(|s| u64::from(s.max_doc()))
            .sum();
        let mut segments = Vec::with_capacity(searcher.segment_readers().len());
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            if segment.num_docs() == 0 {
                continue;
            }
            let newest = self.columns(searcher, ord as u32)?.published_at.max_value();
            segments.push((newest, ord as u32));
        }
        segments.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = Newest {
            candidates: Vec::new(),
            matched: 0,
            complete: true,
        };
        // Publishing times of the `need` newest candidates so far (a min-heap: its top is the
        // oldest of them).
        let mut newest: BinaryHeap<Reverse<i64>> = BinaryHeap::with_capacity(need + 1);
        for (segment_newest, ord) in segments {
            if newest.len() >= need && newest.peek().is_some_and(|o| segment_newest < o.0) {
                out.complete = false;
                continue;
            }
            let segment = searcher.segment_reader(ord);
            let columns = self.columns(searcher, ord)?;
            let published = &columns.published_at;
            let boost = post_boost(&columns, now);
            let alive = segment.alive_bitset();
            let max_doc = segment.max_doc();
            // A first span expected to hold what is needed (with some to spare), then four times
            // longer each time it did not.
            let density = (expected.max(1) as f64 / docs.max(1) as f64).min(1.0);
            let mut span = ((need as f64 * 1.5 / density) as u64)
                .max(256)
                .min(u64::from(max_doc)) as u32;
            let mut end = max_doc;
            let mut found = 0;
            while end > 0 {
                let start = end.saturating_sub(span);
                let mut scorer = weight.scorer(segment, 1.0)?;
                let mut doc = if start > 0 {
                    scorer.seek(start)
                } else {
                    scorer.doc()
                };
                while doc < end {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        let at = published.first(doc).unwrap_or(i64::MIN);
                        let score = boost(doc, scorer.score());
                        out.candidates.push((score, at, DocAddress::new(ord, doc)));
                        newest.push(Reverse(at));
                        if newest.len() > need {
                            newest.pop();
                        }
                        found += 1;
                    }
                    doc = scorer.advance();
                }
                end = start;
                if found >= need {
                    break;
                }
                span = span.saturating_mul(4);
            }
            out.matched += found;
            if end > 0 {
                out.complete = false;
            }
        }
        Ok(out)
    }
}

/// A full rebuild in progress; see [`SearchIndex::rebuild`].
pub struct Rebuild<'a> {
    index: &'a SearchIndex,
    writer: MutexGuard<'a, IndexWriter>,
    /// Ids added so far: only a repeated id pays for a delete.
    posts: HashSet<i64>,
    creators: HashSet<i64>,
    committed: bool,
}

impl std::fmt::Debug for Rebuild<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rebuild")
            .field("posts", &self.posts.len())
            .field("creators", &self.creators.len())
            .finish_non_exhaustive()
    }
}

impl Rebuild<'_> {
    /// Adds posts; call as often as needed (e.g. a page of the store at a time).
    pub fn add_posts<I>(&mut self, posts: I) -> Result<usize>
    where
        I: IntoIterator,
        I::Item: Borrow<PostDoc>,
    {
        let mut n = 0;
        for post in posts {
            let post = post.borrow();
            if self.posts.insert(post.id) {
                self.index.add_post(&self.writer, post)?;
            } else {
                self.index.put_post(&self.writer, post)?;
            }
            n += 1;
        }
        Ok(n)
    }

    pub fn add_creators<I>(&mut self, creators: I) -> Result<usize>
    where
        I: IntoIterator,
        I::Item: Borrow<CreatorDoc>,
    {
        let mut n = 0;
        for creator in creators {
            let creator = creator.borrow();
            if self.creators.insert(creator.id) {
                self.index.add_creator(&self.writer, creator)?;
            } else {
                self.index.put_creator(&self.writer, creator)?;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Replaces the index with what was added, durably, and shows it to searches; then merges
    /// it into one segment, its parts in publishing order (add posts oldest first, as the store
    /// hands them out by id), and shows that. One segment means one term dictionary to walk
    /// per typo-tolerant term instead of one per segment, and one run of posts from the oldest
    /// to the newest for a post search to read from its end.
    pub fn commit(mut self) -> Result<()> {
        self.writer.commit()?;
        self.committed = true;
        self.index.reader.reload()?;
        let searcher = self.index.reader.searcher();
        let mut parts = Vec::new();
        for segment in searcher.segment_readers() {
            let oldest = segment.fast_fields().i64("published_at")?.min_value();
            parts.push((oldest, segment.segment_id()));
        }
        if parts.len() > 1 {
            parts.sort_unstable_by_key(|&(oldest, _)| oldest);
            let ids: Vec<_> = parts.into_iter().map(|(_, id)| id).collect();
            self.writer.merge(&ids).wait()?;
            self.index.reader.reload()?;
        }
        Ok(())
    }
}

impl Drop for Rebuild<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Nothing to report to: the index stays at its last commit either way, and a
            // failed rollback leaves tantivy's writer to be re-created on the next open.
            let _ = self.writer.rollback();
        }
    }
}

struct Plan {
    /// Distinct analysed terms, at most [`MAX_TERMS`].
    terms: Vec<String>,
    /// Every term run together, to match the compact handle.
    handle: String,
    last_is_prefix: bool,
    /// The automata built for this query, by (text, edits, prefix): one term is expanded
    /// against every word field, for posts and again for creators, and building an automaton
    /// costs more than walking a field's dictionary with it.
    automata: RefCell<HashMap<(String, u8, bool), Rc<Dfa>>>,
}

impl Plan {
    /// The automaton that reaches `text`'s neighbours: within its typo distance unless
    /// `exact`, and every completion with `prefix`; `None` when neither applies (the term
    /// alone is searched).
    fn near(&self, text: &str, prefix: bool, exact: bool) -> Option<Rc<Dfa>> {
        let chars = text.chars().count();
        let distance = if exact { 0 } else { typo_distance(chars) };
        // One letter as a prefix would expand to a good part of the dictionary.
        let prefix = prefix && chars >= 2;
        if distance == 0 && !prefix {
            return None;
        }
        let mut built = self.automata.borrow_mut();
        let dfa = built
            .entry((text.to_owned(), distance, prefix))
            .or_insert_with(|| {
                let builder = automata(distance);
                Rc::new(Dfa(if prefix {
                    builder.build_prefix_dfa(text)
                } else {
                    builder.build_dfa(text)
                }))
            });
        Some(dfa.clone())
    }

    /// Whether typo tolerance can match anything exact terms do not: some term (or the
    /// handle) is long enough to allow a typo.
    fn fuzzy_applies(&self) -> bool {
        let long = |t: &String| typo_distance(t.chars().count()) > 0;
        self.terms.iter().any(long) || long(&self.handle)
    }
}

/// The matches of a post search that were ranked, and how many were seen.
struct Newest {
    /// Score (with the recency and engagement bonus), publishing time, where.
    candidates: Vec<(Score, i64, DocAddress)>,
    /// Matches seen; every match when `complete`.
    matched: usize,
    complete: bool,
}

impl Newest {
    fn page(mut self, limit: usize, offset: usize) -> Vec<(Score, DocAddress)> {
        self.candidates
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        self.candidates
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(score, _, addr)| (score, addr))
            .collect()
    }
}

fn key(kind: &str, id: i64) -> String {
    format!("{kind}:{id}")
}

fn cut(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Edits allowed for a term of this many characters.
fn typo_distance(chars: usize) -> u8 {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// One clause of a boolean query.
type Clause = (Occur, Box<dyn Query>);

/// Any of `clauses` (all `Should`). With `seekable`, as a union that is cheap to seek (for
/// posts, whose matches are read a span at a time and intersected with filters); otherwise
/// tantivy's, which is faster to read from start to end (creators, whose matches are all
/// counted).
fn union(clauses: Vec<Clause>, seekable: bool) -> Box<dyn Query> {
    if seekable {
        Box::new(SeekUnion::new(
            clauses.into_iter().map(|(_, q)| q).collect(),
        ))
    } else {
        Box::new(BooleanQuery::new(clauses))
    }
}

/// One term against one field: the exact term (BM25, weighted) and, when typos or a prefix
/// apply (`near`, from [`Plan::near`]), the terms it reaches (at most [`MAX_EXPANSIONS`]) with
/// a constant, lower score. Also how many documents hold any of those terms, at most.
fn term_clauses(
    searcher: &Searcher,
    field: Field,
    text: &str,
    weight: Score,
    near: Option<&Dfa>,
    seekable: bool,
) -> Result<(Vec<Clause>, u64)> {
    let term = Term::from_field_text(field, text);
    let mut docs = searcher.doc_freq(&term)?;
    let mut out: Vec<(Occur, Box<dyn Query>)> = vec![(
        Occur::Should,
        Box::new(BoostQuery::new(
            Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            weight,
        )),
    )];
    if let Some(dfa) = near {
        let (near, near_docs) = expand(searcher, field, dfa)?;
        // The term itself is among those it reaches: count its documents once.
        docs = docs.max(near_docs);
        let near: Vec<(Occur, Box<dyn Query>)> = near
            .into_iter()
            .map(|t| {
                (
                    Occur::Should,
                    Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>,
                )
            })
            .collect();
        if !near.is_empty() {
            out.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(
                    union(near, seekable),
                    weight * FUZZY_SHARE,
                )),
            ));
        }
    }
    Ok((out, docs))
}

/// Levenshtein automaton builders for 0, 1 and 2 edits (a swap of neighbours is one edit);
/// building one is costly, using it is not.
fn automata(distance: u8) -> &'static LevenshteinAutomatonBuilder {
    static BUILDERS: OnceLock<[LevenshteinAutomatonBuilder; 3]> = OnceLock::new();
    &BUILDERS.get_or_init(|| [0, 1, 2].map(|d| LevenshteinAutomatonBuilder::new(d, true)))
        [usize::from(distance.min(2))]
}

/// A Levenshtein DFA walked over a term dictionary.
struct Dfa(DFA);

impl tantivy_fst::Automaton for Dfa {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// The terms of `field` that `dfa` accepts (see [`Plan::near`]), at most [`MAX_EXPANSIONS`]:
/// fewest edits first, then most documents over every segment; and the sum of their document
/// counts.
fn expand(searcher: &Searcher, field: Field, dfa: &Dfa) -> Result<(Vec<Term>, u64)> {
    let mut found: HashMap<Vec<u8>, (u8, u64)> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted.terms().search(dfa).into_stream()?;
        while stream.advance() {
            let key = stream.key();
            let docs = u64::from(stream.value().doc_freq);
            found
                .entry(key.to_vec())
                .or_insert_with(|| {
                    let edits = match dfa.0.eval(key) {
                        Distance::Exact(d) => d,
                        Distance::AtLeast(d) => d,
                    };
                    (edits, 0)
                })
                .1 += docs;
        }
    }
    let mut near: Vec<(Vec<u8>, (u8, u64))> = found.into_iter().collect();
    near.sort_unstable_by(|(ka, (ea, da)), (kb, (eb, db))| {
        ea.cmp(eb).then(db.cmp(da)).then(ka.cmp(kb))
    });
    near.truncate(MAX_EXPANSIONS);
    let docs = near.iter().map(|(_, (_, d))| d).sum();
    let terms = near
        .into_iter()
        .filter_map(|(k, _)| {
            std::str::from_utf8(&k)
                .ok()
                .map(|t| Term::from_field_text(field, t))
        })
        .collect();
    Ok((terms, docs))
}

/// A clause that filters without changing the score.
fn filter(term: Term) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(
        Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        0.0,
    ))
}

/// Recency and engagement bonus for posts, per segment.
fn post_boost(columns: &Columns, now: i64) -> impl Fn(DocId, Score) -> Score + '_ {
    let published = &columns.published_at;
    let engagement = &columns.engagement;
    move |doc: DocId, score: Score| {
        let mut factor = 1.0f64;
        if let Some(at) = published.first(doc) {
            let age = (now.saturating_sub(at)).max(0) as f64;
            factor *= 1.0 + RECENCY_BONUS * (-age / RECENCY_HALF_LIFE_MICROS).exp2();
        }
        if let Some(e) = engagement.first(doc) {
            let level =
                ((e.max(0) as f64).ln_1p() / std::f64::consts::LN_10 / ENGAGEMENT_FULL_LOG10)
                    .min(1.0);
            factor *= 1.0 + ENGAGEMENT_BONUS * level;
        }
        score * factor as Score
    }
}

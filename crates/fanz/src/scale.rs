//! `fanz demo --scale`: benchmark-sized data (by default the 10,000 creators,
//! 1,000,000 posts, 100,000 fans and 5,000,000 follows) written straight to the store in bulk,
//! many rows per statement, instead of through the API one request at a time.
//!
//! What it makes, from a seed (the same seed makes the same data):
//! - creators `c<seed>_<n>_<word>` on one or two clusters that take text posts without review,
//!   each with a free and a paid tier; fans `f<seed>_<n>`; every account's e-mail is
//!   `<handle>@scale.fanz.localhost` and all share one password (given, or printed once);
//! - follows: each fan follows about follows/fans creators, popular creators more often
//!   (Zipf); a share of them also hold a live subscription to the creator's paid tier;
//! - posts by the same popularity, spread over `--days` up to now, oldest first: text of
//!   made-up words (Zipf, as real words are), 1–4 tags, the author's clusters, 40 % public,
//!   20 % followers, 30 % subscribers (a quarter of them for the paid tier only), 10 %
//!   pay-per-view, a tenth marked sensitive, likes from random fans.
//!
//! This is benchmark data: it does not pass through the publish gate, the per-change audit or
//! the events (one audit entry records the load). Its posts are text posts that fit every
//! cluster they name, but creators have no performer records, so the gate would refuse their
//! paid posts. Search is built afterwards with `fanz search reindex`.

use anyhow::{bail, Context, Result};
use fanz_audit::Actor;
use fanz_content::bulk::{BulkPost, BulkSubscription, BulkTier};
use fanz_content::{Money, Visibility};
use fanz_identity::bulk::BulkUser;
use fanz_profiles::bulk::BulkProfile;
use fanz_search::synthetic::{vocabulary, Rng, Zipf};
use fanz_store::bulk;
use fanz_web::AppState;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashSet;
use std::time::Instant;

pub const EMAIL_DOMAIN: &str = "scale.fanz.localhost";
const DAY: i64 = 86_400 * 1_000_000;
const VOCABULARY: usize = 30_000;
const TAGS: usize = 600;
/// Rows of the largest table per transaction.
const POSTS_PER_TX: usize = 10_000;
const FOLLOWS_PER_TX: usize = 50_000;
const MAX_LIKES: usize = 200;

#[derive(clap::Args, Debug, Clone)]
pub struct ScaleArgs {
    /// Generate benchmark-sized data in bulk instead of the showcase demo.
    #[arg(long)]
    pub scale: bool,
    #[arg(long, default_value_t = 10_000, requires = "scale")]
    pub creators: usize,
    #[arg(long, default_value_t = 1_000_000, requires = "scale")]
    pub posts: usize,
    #[arg(long, default_value_t = 100_000, requires = "scale")]
    pub fans: usize,
    #[arg(long, default_value_t = 5_000_000, requires = "scale")]
    pub follows: usize,
    /// Mean likes per post (each post draws its own number).
    #[arg(long, default_value_t = 2.0, requires = "scale")]
    pub likes_per_post: f64,
    /// Share of follows that also hold a live subscription to the creator's paid tier.
    #[arg(long, default_value_t = 0.05, requires = "scale")]
    pub subscribed: f64,
    /// The posts are spread over this many days up to now.
    #[arg(long, default_value_t = 365, requires = "scale")]
    pub days: i64,
    /// The password of every generated account (10 characters or more); random and printed
    /// once when not given.
    #[arg(long, requires = "scale")]
    pub password: Option<String>,
    /// The same seed makes the same data; another seed makes other accounts beside them.
    #[arg(long, default_value_t = 1, requires = "scale")]
    pub seed: u64,
}

/// What a load wrote.
#[derive(Debug, Default, serde::Serialize)]
pub struct Counts {
    pub creators: usize,
    pub fans: usize,
    pub tiers: usize,
    pub posts: usize,
    pub follows: usize,
    pub subscriptions: usize,
    pub likes: usize,
}

pub fn fan_handle(seed: u64, n: usize) -> String {
    format!("f{seed}_{n}")
}

struct Corpus {
    words: Vec<String>,
    word_zipf: Zipf,
    tags: Vec<String>,
    tag_zipf: Zipf,
}

impl Corpus {
    fn new(rng: &mut Rng, state: &AppState, clusters: &[String]) -> Self {
        let mut words = vocabulary(rng, VOCABULARY);
        // A made-up word can happen to be a banned term somewhere.
        words.retain(|w| {
            clusters
                .iter()
                .all(|c| state.banned.for_cluster(c).find(w).is_none())
        });
        let tags = words[200..200 + TAGS].to_vec();
        Corpus {
            word_zipf: Zipf::new(words.len(), 1.0),
            words,
            tags,
            tag_zipf: Zipf::new(TAGS, 1.0),
        }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        &self.words[self.word_zipf.draw(rng)]
    }

    fn text(&self, rng: &mut Rng, words: usize, max_chars: usize) -> String {
        let mut text = String::with_capacity(words * 8);
        for _ in 0..words {
            let w = self.word(rng);
            if text.len() + w.len() + 1 > max_chars {
                break;
            }
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(w);
        }
        text
    }
}

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn bar(len: u64, what: &str) -> Result<ProgressBar> {
    Ok(
        ProgressBar::new(len).with_style(ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what}, {{per_sec}}, {{eta}} left"
        ))?),
    )
}

/// The clusters generated posts may name: they take `general` text posts, show a grid and
/// publish without a person's review.
fn eligible_clusters(state: &AppState) -> (Vec<String>, usize) {
    let mut max_chars = usize::MAX;
    let slugs = state
        .clusters
        .all()
        .iter()
        .filter(|c| {
            c.policy.allows_category("general")
                && c.policy.feed == fanz_clusters::Feed::Grid
                && c.policy.review == fanz_clusters::ReviewPolicy::None
        })
        .map(|c| {
            max_chars = max_chars.min(c.policy.max_post_chars as usize);
            c.slug.clone()
        })
        .collect();
    (slugs, max_chars.min(1_000))
}

pub async fn load(state: &AppState, args: &ScaleArgs) -> Result<Counts> {
    if args.creators == 0 {
        bail!("--creators must be at least 1");
    }
    if args.follows > 0 && args.fans == 0 {
        bail!("follows need fans: give --fans");
    }
    if args.follows > args.fans.saturating_mul(args.creators) {
        bail!("--follows cannot exceed fans × creators (each pair follows once)");
    }
    if !(0.0..=1.0).contains(&args.subscribed) || !(0.0..=1_000.0).contains(&args.likes_per_post) {
        bail!("--subscribed is a share (0 to 1); --likes-per-post at most 1000");
    }
    let (clusters, max_chars) = eligible_clusters(state);
    if clusters.is_empty() {
        bail!("no cluster takes general text posts without review");
    }
    let started = Instant::now();
    let now = fanz_core::clock::now_micros();
    let mut rng = Rng(args.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5ca1e);
    let corpus = Corpus::new(&mut rng, state, &clusters);

    let creator_handles: Vec<String> = (1..=args.creators)
        .map(|n| {
            let h = format!("c{}_{n}_{}", args.seed, corpus.word(&mut rng));
            h.chars().take(30).collect()
        })
        .collect();
    {
        let mut db = state.store.conn().await?;
        if fanz_profiles::get_by_handle(&mut db, &creator_handles[0])
            .await
            .is_ok()
        {
            bail!(
                "scale data of seed {} is already here (@{} exists); use another --seed or a fresh store",
                args.seed,
                creator_handles[0]
            );
        }
    }

    let (password, shown) = match &args.password {
        Some(p) => (p.clone(), false),
        None => (fanz_core::token::random_token("", 16), true),
    };
    let password = fanz_core::Password::parse(&password).context("--password")?;
    let hash = state
        .identity
        .hasher
        .hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;

    // Accounts: one transaction, so the ids chosen stay ours.
    let mut tx = state.store.begin().await?;
    bulk::lock_for_ids(&mut tx, "users").await?;
    let first_id = bulk::next_id(&mut tx, "users").await?;
    let creator_id = |i: usize| first_id + i as i64;
    let fan_id = |j: usize| first_id + (args.creators + j) as i64;
    let mut users: Vec<BulkUser> = creator_handles
        .iter()
        .enumerate()
        .map(|(i, h)| BulkUser {
            id: creator_id(i),
            handle: h.clone(),
            creator: true,
        })
        .collect();
    users.extend((0..args.fans).map(|j| BulkUser {
        id: fan_id(j),
        handle: fan_handle(args.seed, j + 1),
        creator: false,
    }));
    let b = bar(users.len() as u64, "accounts")?;
    for chunk in users.chunks(10_000) {
        fanz_identity::bulk::insert_users(&mut tx, chunk, &hash, EMAIL_DOMAIN, now).await?;
        b.inc(chunk.len() as u64);
    }
    bulk::sync_id_sequence(&mut tx, "users").await?;
    tx.commit().await?;
    b.finish_and_clear();
    drop(users);

    // Who follows whom, decided before profiles are written (they carry the counts).
    let popularity = Zipf::new(args.creators, 1.0);
    let mut follows: Vec<(u32, u32)> = Vec::with_capacity(args.follows);
    let mut followers = vec![0i64; args.creators];
    let mut following: Vec<i64> = Vec::with_capacity(args.fans);
    if let Some(base) = args.follows.checked_div(args.fans) {
        let extra = args.follows % args.fans;
        let mut mine = HashSet::new();
        // Every fan follows the mean number of creators (the remainder spread over the first
        // fans), so the total is exact.
        for j in 0..args.fans {
            let want = (base + usize::from(j < extra)).min(args.creators);
            mine.clear();
            let mut tries = 0;
            while mine.len() < want {
                // Popular creators first; when they are taken, anyone.
                let c = if tries < want * 4 {
                    popularity.draw(&mut rng)
                } else {
                    rng.below(args.creators)
                };
                tries += 1;
                if mine.insert(c) {
                    follows.push((j as u32, c as u32));
                    followers[c] += 1;
                }
            }
            following.push(want as i64);
        }
    }

    let mut profiles: Vec<BulkProfile> = Vec::with_capacity(args.creators + args.fans);
    for (i, h) in creator_handles.iter().enumerate() {
        let mut mine = vec![clusters[rng.below(clusters.len())].clone()];
        if rng.chance(0.3) {
            let other = clusters[rng.below(clusters.len())].clone();
            if !mine.contains(&other) {
                mine.push(other);
            }
        }
        profiles.push(BulkProfile {
            user_id: creator_id(i),
            handle: h.clone(),
            display_name: format!(
                "{} {}",
                capitalised(corpus.word(&mut rng)),
                capitalised(corpus.word(&mut rng))
            ),
            bio: corpus.text(&mut rng, 12, 200),
            clusters: mine,
            followers: followers[i],
            following: 0,
        });
    }
    for (j, &follows_n) in following.iter().enumerate() {
        let handle = fan_handle(args.seed, j + 1);
        profiles.push(BulkProfile {
            user_id: fan_id(j),
            display_name: handle.clone(),
            handle,
            bio: String::new(),
            clusters: vec![],
            followers: 0,
            following: follows_n,
        });
    }
    let b = bar(profiles.len() as u64, "profiles")?;
    for chunk in profiles.chunks(20_000) {
        let mut tx = state.store.begin().await?;
        fanz_profiles::bulk::insert_profiles(&mut tx, chunk, now).await?;
        tx.commit().await?;
        b.inc(chunk.len() as u64);
    }
    b.finish_and_clear();
    let creator_clusters: Vec<Vec<String>> = profiles
        .iter()
        .take(args.creators)
        .map(|p| p.clusters.clone())
        .collect();
    drop(profiles);

    // Tiers: a free one and a paid one per creator.
    let mut tx = state.store.begin().await?;
    bulk::lock_for_ids(&mut tx, "tiers").await?;
    let first_tier = bulk::next_id(&mut tx, "tiers").await?;
    let free_tier = |i: usize| first_tier + 2 * i as i64;
    let paid_tier = |i: usize| first_tier + 2 * i as i64 + 1;
    let usd = |amount| Money {
        amount,
        currency: "USD".into(),
    };
    let mut tiers = Vec::with_capacity(2 * args.creators);
    for i in 0..args.creators {
        tiers.push(BulkTier {
            id: free_tier(i),
            creator_id: creator_id(i),
            name: "Fan club".into(),
            price: usd(0),
            period_days: 30,
            benefits: "Free posts.".into(),
        });
        tiers.push(BulkTier {
            id: paid_tier(i),
            creator_id: creator_id(i),
            name: "VIP".into(),
            price: usd((5 + rng.below(15) as i64) * 100 - 1),
            period_days: 30,
            benefits: "Every post.".into(),
        });
    }
    fanz_content::bulk::insert_tiers(&mut tx, &tiers, now).await?;
    bulk::sync_id_sequence(&mut tx, "tiers").await?;
    tx.commit().await?;

    // Follows, and the subscriptions some of them come with.
    let b = bar(follows.len() as u64, "follows")?;
    let mut subscriptions = 0usize;
    for chunk in follows.chunks(FOLLOWS_PER_TX) {
        let rows: Vec<(i64, i64, i64)> = chunk
            .iter()
            .map(|&(j, c)| {
                let at = now - 1 - rng.below((args.days.max(1) * DAY) as usize) as i64;
                (fan_id(j as usize), creator_id(c as usize), at)
            })
            .collect();
        let mut subs: Vec<BulkSubscription> = Vec::new();
        for &(j, c) in chunk {
            if rng.chance(args.subscribed) {
                subs.push(BulkSubscription {
                    viewer_id: fan_id(j as usize),
                    creator_id: creator_id(c as usize),
                    tier_id: paid_tier(c as usize),
                    ends_at: now + (1 + rng.below(30) as i64) * DAY,
                });
            }
        }
        let mut tx = state.store.begin().await?;
        fanz_profiles::bulk::insert_follows(&mut tx, &rows).await?;
        fanz_content::bulk::insert_subscriptions(&mut tx, &subs, "demo:scale", now).await?;
        tx.commit().await?;
        subscriptions += subs.len();
        b.inc(chunk.len() as u64);
    }
    b.finish_and_clear();
    let n_follows = follows.len();
    drop(follows);

    // Posts, oldest first, so ids grow with time as they do on a live site.
    let span = args.days.max(1) * DAY;
    let b = bar(args.posts as u64, "posts")?;
    let mut likes = 0usize;
    let mut made = 0usize;
    while made < args.posts {
        let n = POSTS_PER_TX.min(args.posts - made);
        let mut tx = state.store.begin().await?;
        bulk::lock_for_ids(&mut tx, "posts").await?;
        let first_post = bulk::next_id(&mut tx, "posts").await?;
        let mut batch = Vec::with_capacity(n);
        for k in 0..n {
            let seq = (made + k) as i64;
            let at = now - span + (seq * span) / args.posts as i64 + 1;
            let author = popularity.draw(&mut rng);
            let visibility = match rng.below(10) {
                0..=3 => Visibility::Public,
                4 | 5 => Visibility::Followers,
                6..=8 => Visibility::Subscribers,
                _ => Visibility::Ppv,
            };
            let mut tags: Vec<String> = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let t = &corpus.tags[corpus.tag_zipf.draw(&mut rng)];
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            let mut likers = Vec::new();
            if args.fans > 0 && args.likes_per_post > 0.0 {
                // Exponentially distributed around the mean: most posts few, some many.
                let u = rng.unit();
                let want = ((-args.likes_per_post * (1.0 - u).ln()) as usize)
                    .min(MAX_LIKES)
                    .min(args.fans);
                while likers.len() < want {
                    let f = fan_id(rng.below(args.fans));
                    if !likers.contains(&f) {
                        likers.push(f);
                    }
                }
            }
            likes += likers.len();
            let words = 8 + rng.below(33);
            let text = corpus.text(&mut rng, words, max_chars);
            batch.push(BulkPost {
                id: first_post + k as i64,
                author_id: creator_id(author),
                visibility,
                text,
                tags,
                clusters: creator_clusters[author].clone(),
                tiers: if visibility == Visibility::Subscribers && rng.chance(0.25) {
                    vec![paid_tier(author)]
                } else {
                    vec![]
                },
                price: (visibility == Visibility::Ppv)
                    .then(|| usd((3 + rng.below(22) as i64) * 100 - 1)),
                sensitive: rng.chance(0.1),
                published_at: at.min(now - 1),
                likers,
            });
        }
        fanz_content::bulk::insert_posts(&mut tx, &batch).await?;
        bulk::sync_id_sequence(&mut tx, "posts").await?;
        tx.commit().await?;
        made += n;
        b.inc(n as u64);
    }
    b.finish_and_clear();

    let counts = Counts {
        creators: args.creators,
        fans: args.fans,
        tiers: 2 * args.creators,
        posts: args.posts,
        follows: n_follows,
        subscriptions,
        likes,
    };
    let mut tx = state.store.begin().await?;
    fanz_audit::record(
        &mut tx,
        &Actor::cli(),
        "demo.scale_loaded",
        None,
        serde_json::json!({"seed": args.seed, "counts": &counts}),
    )
    .await?;
    tx.commit().await?;
    let mut db = state.store.conn().await?;
    bulk::analyze(&mut db).await?;
    drop(db);

    println!(
        "scale data (seed {}): {} creators, {} fans, {} tiers, {} posts, {} follows, {} subscriptions, {} likes in {:.1} s",
        args.seed,
        counts.creators,
        counts.fans,
        counts.tiers,
        counts.posts,
        counts.follows,
        counts.subscriptions,
        counts.likes,
        started.elapsed().as_secs_f64()
    );
    println!(
        "accounts: @{} … @{} (creators), @{} … (fans); e-mail <handle>@{EMAIL_DOMAIN}",
        creator_handles[0],
        creator_handles[creator_handles.len() - 1],
        fan_handle(args.seed, 1)
    );
    if shown {
        println!(
            "their shared password, shown only now: {}",
            password.expose()
        );
    }
    println!("build the search index with `fanz search reindex` (the server does it at start when the index is empty)");
    Ok(counts)
}

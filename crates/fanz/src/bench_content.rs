//! `fanz bench content`: the feeds and search of a running server at a fixed request rate
//! (open loop: requests leave on schedule whether or not earlier ones answered, and latency is
//! counted from the scheduled time, so a stall is not hidden by the generator waiting), signed
//! in as `fanz demo --scale` fans. `/api/v1/clusters` runs first at the same rate as the
//! reference: what the HTTP stack alone costs on this machine in the same run.
//!
//! `fanz bench may-view`: what deciding visibility costs per feed page, in process, against
//! the configured store: reading the viewer's facts for the page's posts, `may_view` per post,
//! and the whole rendering of the page beside them.

use anyhow::{bail, Context, Result};
use fanz_search::synthetic::Rng;
use fanz_web::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct ContentArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Requests per second, per target.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Requests in flight at most (and connections).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds per target.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Which targets, in order: clusters (the reference), home, trending, latest, search.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "clusters,home,trending,search"
    )]
    pub targets: Vec<String>,
    /// The `--seed` and `--password` of `fanz demo --scale`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub password: String,
    /// How many of its fans sign in (requests rotate over them).
    #[arg(long, default_value_t = 64)]
    pub sign_in: usize,
    /// How many fans the scale data has (sign-ins are spread over them).
    #[arg(long, default_value_t = 100_000)]
    pub fans: usize,
    /// How many different search queries are made; the search target asks them in turn, so
    /// a run of more requests than this asks each again (as people do: the index keeps
    /// recent answers). At least the run's requests (rate × duration) asks each once.
    #[arg(long, default_value_t = 2_000)]
    pub queries: usize,
}

struct Stats {
    sent: usize,
    failed: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = self.latencies.clone();
        l.sort();
        let at = |q: f64| {
            l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3
        };
        write!(
            f,
            "{:>6} requests, {:>6.1}/s, {} failed | p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms",
            self.sent,
            self.sent as f64 / self.wall.as_secs_f64(),
            self.failed,
            at(0.50),
            at(0.90),
            at(0.99),
            at(0.999),
            l.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        )
    }
}

/// Send `make(i)` at `rate` per second for `duration`, at most `connections` in flight.
async fn open_loop(
    rate: u32,
    connections: usize,
    duration: Duration,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
) -> Stats {
    let total = (rate as f64 * duration.as_secs_f64()) as usize;
    let permits = Arc::new(tokio::sync::Semaphore::new(connections));
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let permit = permits.clone().acquire_owned().await.expect("open");
        let req = make(i);
        tasks.spawn(async move {
            let ok = match req.send().await {
                Ok(r) => {
                    let ok = r.status().is_success();
                    // Read the whole body: the response is not served until it is.
                    let _ = r.bytes().await;
                    ok
                }
                Err(_) => false,
            };
            drop(permit);
            (due.elapsed(), ok)
        });
    }
    let mut stats = Stats {
        sent: total,
        failed: 0,
        wall: Duration::ZERO,
        latencies: Vec::with_capacity(total),
    };
    while let Some(r) = tasks.join_next().await {
        let (lat, ok) = r.expect("a request task");
        if !ok {
            stats.failed += 1;
        }
        stats.latencies.push(lat);
    }
    stats.wall = started.elapsed();
    stats
}

fn typo(rng: &mut Rng, word: &str) -> String {
    let mut c: Vec<char> = word.chars().collect();
    if c.len() >= 4 {
        let i = rng.below(c.len() - 1);
        c.swap(i, i + 1);
    }
    c.into_iter().collect()
}

pub async fn content(args: ContentArgs) -> Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut rng = Rng(args.seed ^ 0xbe4c);

    // Sign in, spread over the fans.
    let mut tokens = Vec::new();
    for k in 0..args.sign_in.min(args.fans) {
        let n = 1 + k * args.fans / args.sign_in.min(args.fans).max(1);
        let email = format!(
            "{}@{}",
            crate::scale::fan_handle(args.seed, n),
            crate::scale::EMAIL_DOMAIN
        );
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": args.password}))
            .send()
            .await
            .with_context(|| format!("signing in as {email}"))?;
        if !r.status().is_success() {
            bail!("signing in as {email}: {}", r.status());
        }
        let body: serde_json::Value = r.json().await?;
        tokens.push(body["token"].as_str().unwrap_or_default().to_owned());
    }
    if tokens.is_empty() {
        bail!("no fan signed in");
    }

    // Clusters with posts, and words to search for taken from their newest public posts.
    let clusters: serde_json::Value = client
        .get(format!("{base}/api/v1/clusters"))
        .send()
        .await?
        .json()
        .await?;
    let mut slugs = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    let mut handles: Vec<String> = Vec::new();
    for c in clusters["clusters"].as_array().cloned().unwrap_or_default() {
        let Some(slug) = c["slug"].as_str() else {
            continue;
        };
        let feed: serde_json::Value = client
            .get(format!("{base}/api/v1/clusters/{slug}/feed?limit=50"))
            .send()
            .await?
            .json()
            .await?;
        let items = feed["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            continue;
        }
        slugs.push(slug.to_owned());
        for p in items {
            let text = p["text"]
                .as_str()
                .or(p["teaser"].as_str())
                .unwrap_or_default();
            words.extend(
                text.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() >= 3)
                    .map(str::to_owned),
            );
            for t in p["tags"].as_array().cloned().unwrap_or_default() {
                tags.extend(t.as_str().map(str::to_owned));
            }
            handles.extend(p["author"]["handle"].as_str().map(str::to_owned));
        }
    }
    if slugs.is_empty() || words.is_empty() || tags.is_empty() {
        bail!("no posts found: load `fanz demo --scale` first");
    }
    // Queries as people type them: a tag (40 %), one or two words of a post (40 %), the start
    // of a creator's handle (20 %); half with a typo, a third filtered to one cluster.
    let queries: Vec<String> = (0..args.queries.max(1))
        .map(|_| {
            let q = match rng.below(10) {
                0..=3 => tags[rng.below(tags.len())].clone(),
                4..=7 => {
                    let i = rng.below(words.len());
                    if rng.chance(0.5) && i + 1 < words.len() {
                        format!("{} {}", words[i], words[i + 1])
                    } else {
                        words[i].clone()
                    }
                }
                _ => {
                    let h = &handles[rng.below(handles.len())];
                    h.chars().take(h.chars().count() * 2 / 3).collect()
                }
            };
            let q = if rng.chance(0.5) {
                q.split(' ')
                    .map(|w| typo(&mut rng, w))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                q
            };
            let q: String = url_escape(&q);
            if rng.chance(0.33) {
                format!("q={q}&cluster={}", slugs[rng.below(slugs.len())])
            } else {
                format!("q={q}")
            }
        })
        .collect();

    println!(
        "{} at {} req/s, {} connections, {} s per target; {} fans signed in, {} clusters with posts",
        base,
        args.rate,
        args.connections,
        args.duration,
        tokens.len(),
        slugs.len()
    );
    let duration = Duration::from_secs(args.duration);
    for target in &args.targets {
        let stats = match target.as_str() {
            "clusters" => {
                open_loop(args.rate, args.connections, duration, |_| {
                    client.get(format!("{base}/api/v1/clusters"))
                })
                .await
            }
            "home" => {
                open_loop(args.rate, args.connections, duration, |i| {
                    client
                        .get(format!("{base}/api/v1/feed/home"))
                        .bearer_auth(&tokens[i % tokens.len()])
                })
                .await
            }
            "trending" | "latest" => {
                open_loop(args.rate, args.connections, duration, |i| {
                    client
                        .get(format!(
                            "{base}/api/v1/clusters/{}/feed?sort={target}",
                            slugs[i % slugs.len()]
                        ))
                        .bearer_auth(&tokens[i % tokens.len()])
                })
                .await
            }
            "search" => {
                open_loop(args.rate, args.connections, duration, |i| {
                    client
                        .get(format!(
                            "{base}/api/v1/search?{}",
                            queries[i % queries.len()]
                        ))
                        .bearer_auth(&tokens[i % tokens.len()])
                })
                .await
            }
            other => bail!("unknown target {other:?}"),
        };
        if target == "search" {
            println!("{target:<9} {stats} | {} different queries", queries.len());
        } else {
            println!("{target:<9} {stats}");
        }
    }
    Ok(())
}

/// Percent-encode what is not a letter, digit or `-_.~`.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(clap::Args)]
pub struct MayViewArgs {
    /// The `--seed` of `fanz demo --scale`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Home feed pages to measure, one per fan, spread over the fans.
    #[arg(long, default_value_t = 1_000)]
    pub pages: usize,
    /// How many fans the scale data has.
    #[arg(long, default_value_t = 100_000)]
    pub fans: usize,
    /// Posts per page.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

pub async fn may_view(state: &AppState, args: MayViewArgs) -> Result<()> {
    use fanz_content::{feeds, posts, views, Facts, Viewer};
    let now = fanz_core::clock::now_micros();
    let mut facts_t = Vec::new();
    let mut decide_t = Vec::new();
    let mut render_t = Vec::new();
    let mut feed_t = Vec::new();
    let mut decided = 0usize;
    let mut full = 0usize;
    let mut db = state.store.conn().await?;
    for k in 0..args.pages {
        let n = 1 + k * args.fans / args.pages.max(1);
        let handle = crate::scale::fan_handle(args.seed, n);
        let Ok(fan) = fanz_profiles::get_by_handle(&mut db, &handle).await else {
            bail!(
                "no fan @{handle}: load `fanz demo --scale --seed {}` first",
                args.seed
            );
        };
        let viewer = Viewer::user(fan.user_id);
        let t = Instant::now();
        let authors = feeds::home_authors(&mut db, fan.user_id, now).await?;
        let page = feeds::home(&mut db, &authors, None, args.limit, now).await?;
        let posts = posts::get_many(&mut db, &page.ids).await?;
        feed_t.push(t.elapsed());
        let t = Instant::now();
        let facts = Facts::load(&mut db, viewer, &posts).await?;
        facts_t.push(t.elapsed());
        let t = Instant::now();
        for p in &posts {
            if std::hint::black_box(fanz_content::may_view(viewer, &facts, p)).is_full() {
                full += 1;
            }
        }
        decide_t.push(t.elapsed());
        decided += posts.len();
        let t = Instant::now();
        let actor = fanz_audit::Actor::cli().with_user(fan.user_id);
        let shown = views::render(&mut db, viewer, &actor, posts).await?;
        std::hint::black_box(shown);
        render_t.push(t.elapsed());
    }
    let show = |name: &str, mut v: Vec<Duration>| {
        v.sort();
        let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
        let mean = v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64 * 1e3;
        println!(
            "{name:<42} mean {mean:>8.3} ms  p50 {:>8.3} ms  p99 {:>8.3} ms",
            at(0.5),
            at(0.99)
        );
    };
    println!(
        "{} home pages of {} fans ({} store), {} posts decided ({:.1} per page, {} in full)",
        args.pages,
        args.fans,
        state.store.backend().name(),
        decided,
        decided as f64 / args.pages.max(1) as f64,
        full
    );
    let per_post_ns =
        decide_t.iter().map(Duration::as_nanos).sum::<u128>() as f64 / decided.max(1) as f64;
    show("feed query + posts (ids, then rows)", feed_t);
    show("Facts::load (the viewer's facts)", facts_t);
    show("may_view over the page", decide_t);
    show("views::render (facts, may_view, the rest)", render_t);
    println!("may_view per post: {per_post_ns:.0} ns");
    Ok(())
}

//! Builds a search index of synthetic posts and measures building and querying it.
//!
//! ```sh
//! cargo run -p fanz-search --release --example bench_search -- --posts 1000000
//! ```
//!
//! Options: `--posts N` (1,000,000), `--creators N` (20,000), `--queries N` (3,000),
//! `--dir PATH` (a temporary directory, removed at the end), `--seed N`, `--upsert` (build
//! with `upsert_posts` instead of a `rebuild`: a delete by id per document), `--reuse` (with
//! `--dir`: search the index already there, built by an earlier run with the same options,
//! instead of building it again; the posts are made up again for the queries).
//!
//! Posts are published oldest first over two years, as a store's ids are, and indexed in that
//! order, as `fanz search reindex` feeds them.
//!
//! The text is made of pseudo-words (syllables put together) drawn with a Zipf distribution,
//! so a few words are very common and most are rare, as in real posts. Each query is taken from
//! an indexed post (one of its tags, one to three neighbouring words of its text, or the start
//! of its creator's handle; half of them filtered to one of its clusters) and gets a typo in
//! each word of four letters or more (two in some words of eight or more), the way people
//! mistype. The same queries are then run spelled right,
//! and spelled right with typo tolerance off (`exact`), as the reference: what plain term
//! matching costs on the same index.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fanz_search::synthetic::{vocabulary, Rng, Zipf};
use fanz_search::{CreatorDoc, Kinds, PostDoc, SearchIndex, SearchQuery};

const CLUSTERS: [&str; 8] = [
    "fanzlab",
    "boyfanz",
    "girlfanz",
    "transfanz",
    "pupfanz",
    "daddyfanz",
    "cougarfanz",
    "taboofanz",
];
const VOCABULARY: usize = 30_000;
const TAGS: usize = 600;
const DAY: i64 = 86_400 * 1_000_000;

struct Args {
    posts: usize,
    creators: usize,
    queries: usize,
    dir: Option<PathBuf>,
    seed: u64,
    upsert: bool,
    reuse: bool,
}

fn args() -> Args {
    let mut a = Args {
        posts: 1_000_000,
        creators: 20_000,
        queries: 3_000,
        dir: None,
        seed: 42,
        upsert: false,
        reuse: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--posts" => a.posts = value().parse().expect("--posts N"),
            "--creators" => a.creators = value().parse().expect("--creators N"),
            "--queries" => a.queries = value().parse().expect("--queries N"),
            "--dir" => a.dir = Some(PathBuf::from(value())),
            "--seed" => a.seed = value().parse().expect("--seed N"),
            "--upsert" => a.upsert = true,
            "--reuse" => a.reuse = true,
            other => panic!("unknown option {other}"),
        }
    }
    a
}

struct Corpus {
    words: Vec<String>,
    word_zipf: Zipf,
    tags: Vec<String>,
    tag_zipf: Zipf,
    handles: Vec<String>,
}

impl Corpus {
    fn new(rng: &mut Rng, creators: usize) -> Self {
        let words = vocabulary(rng, VOCABULARY);
        // Tags are words too, taken from the middle of the frequency range.
        let tags: Vec<String> = words[200..200 + TAGS].to_vec();
        let handles = (0..creators)
            .map(|i| {
                format!(
                    "{}_{}{}",
                    words[rng.below(5_000)],
                    words[rng.below(5_000)],
                    if i % 3 == 0 {
                        format!("{}", i % 100)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        Corpus {
            words,
            word_zipf: Zipf::new(VOCABULARY, 1.0),
            tags,
            tag_zipf: Zipf::new(TAGS, 1.0),
            handles,
        }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        &self.words[self.word_zipf.draw(rng)]
    }

    fn tag(&self, rng: &mut Rng) -> &str {
        &self.tags[self.tag_zipf.draw(rng)]
    }

    /// Post `id` of `total`, published oldest first over two years up to `now`.
    fn post(&self, rng: &mut Rng, id: i64, total: usize, now: i64) -> PostDoc {
        let n_words = 8 + rng.below(33);
        let mut text = String::with_capacity(n_words * 7);
        for i in 0..n_words {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(self.word(rng));
        }
        let creator = rng.below(self.handles.len());
        let clusters = (0..1 + rng.below(2))
            .map(|_| CLUSTERS[rng.below(CLUSTERS.len())].to_string())
            .collect();
        PostDoc {
            id,
            creator_id: creator as i64,
            creator_handle: self.handles[creator].clone(),
            text,
            tags: (0..1 + rng.below(4))
                .map(|_| self.tag(rng).to_string())
                .collect(),
            clusters,
            sensitive: rng.chance(0.2),
            published_at: now - 730 * DAY + (730 * DAY / total.max(1) as i64) * id
                - rng.below(DAY as usize / 24) as i64,
            engagement: 10f64.powf(rng.below(6000) as f64 / 1000.0) as i64,
        }
    }

    fn creator(&self, rng: &mut Rng, id: usize) -> CreatorDoc {
        CreatorDoc {
            id: id as i64,
            handle: self.handles[id].clone(),
            display_name: format!("{} {}", self.word(rng), self.word(rng)),
            bio: (0..12)
                .map(|_| self.word(rng))
                .collect::<Vec<_>>()
                .join(" "),
            clusters: vec![CLUSTERS[rng.below(CLUSTERS.len())].to_string()],
        }
    }
}

/// One typo as people make them: a letter wrong, missing, doubled, or two swapped.
fn typo(rng: &mut Rng, word: &str) -> String {
    let mut c: Vec<char> = word.chars().collect();
    let edits = match c.len() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 1 + rng.below(2),
    };
    for _ in 0..edits {
        let i = rng.below(c.len() - 1);
        match rng.below(4) {
            0 => c[i] = (b'a' + rng.below(26) as u8) as char,
            1 => {
                c.remove(i);
            }
            2 => c.insert(i, c[i]),
            _ => c.swap(i, i + 1),
        }
    }
    c.into_iter().collect()
}

struct Case {
    right: String,
    typed: String,
    cluster: Option<String>,
    include_sensitive: bool,
}

/// Queries taken from indexed posts, so that each one spelled right has a match: a tag, one to
/// three words of the text, or the start of the creator's handle.
fn cases(rng: &mut Rng, samples: &[PostDoc]) -> Vec<Case> {
    samples
        .iter()
        .map(|post| {
            let words: Vec<String> = match rng.below(10) {
                0..=3 => vec![post.tags[rng.below(post.tags.len())].clone()],
                4..=7 => {
                    let text: Vec<&str> = post.text.split(' ').collect();
                    let n = (1 + rng.below(3)).min(text.len());
                    let from = rng.below(text.len() - n + 1);
                    text[from..from + n].iter().map(|w| w.to_string()).collect()
                }
                _ => {
                    let h = &post.creator_handle;
                    let keep = (h.len() * 2 / 3).max(4).min(h.len());
                    vec![h.chars().take(keep).collect()]
                }
            };
            let right = words.join(" ");
            let typed = words
                .iter()
                .map(|w| typo(rng, w))
                .collect::<Vec<_>>()
                .join(" ");
            Case {
                right,
                typed,
                cluster: rng
                    .chance(0.5)
                    .then(|| post.clusters[rng.below(post.clusters.len())].clone()),
                include_sensitive: post.sensitive || rng.chance(0.5),
            }
        })
        .collect()
}

struct Run {
    name: &'static str,
    latencies: Vec<Duration>,
    with_hits: usize,
    total_hits: usize,
    /// CPU time of this thread over the whole run (immune to waiting for a core on a shared
    /// machine, unlike the latencies).
    cpu: Duration,
    /// The slowest queries: time, text, cluster.
    slowest: Vec<(Duration, String, Option<String>)>,
}

fn run(index: &SearchIndex, name: &'static str, cases: &[Case], typed: bool, exact: bool) -> Run {
    let mut run = Run {
        name,
        latencies: Vec::with_capacity(cases.len()),
        with_hits: 0,
        total_hits: 0,
        slowest: Vec::new(),
        cpu: Duration::ZERO,
    };
    let cpu_start = thread_cpu();
    for case in cases {
        let q = SearchQuery {
            q: if typed { &case.typed } else { &case.right }.clone(),
            cluster: case.cluster.clone(),
            include_sensitive: case.include_sensitive,
            kinds: Kinds::Both,
            limit: 20,
            offset: 0,
            exact,
        };
        let start = Instant::now();
        let r = index.search_uncached(&q).expect("search");
        let took = start.elapsed();
        run.latencies.push(took);
        run.slowest.push((took, q.q.clone(), q.cluster.clone()));
        let hits = r.total_posts + r.total_creators;
        run.with_hits += usize::from(hits > 0);
        run.total_hits += hits;
    }
    run.cpu = thread_cpu().saturating_sub(cpu_start);
    run.latencies.sort();
    run.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    run.slowest.truncate(5);
    run
}

/// CPU time this thread has run, from the scheduler's statistics (Linux).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let args = args();
    let mut rng = Rng(args.seed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let corpus = Corpus::new(&mut rng, args.creators.max(1));
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("fanz-bench-search-{}", std::process::id()));
            tmp.clone()
        }
    };
    let sample_every = (args.posts / args.queries.max(1)).max(1);
    let mut samples = Vec::with_capacity(args.queries);
    let reuse = args.reuse && args.dir.is_some() && dir.join("meta.json").exists();
    if reuse {
        println!("searching the index already in {}", dir.display());
        for i in 0..args.posts {
            let post = corpus.post(&mut rng, i as i64 + 1, args.posts, now);
            if i % sample_every == 0 && samples.len() < args.queries {
                samples.push(post);
            }
        }
    } else {
        build(&args, &dir, &corpus, &mut rng, now, &mut samples);
    }
    let index = SearchIndex::open(&dir).expect("re-open");
    let counts = index.counts().expect("counts");
    assert_eq!(counts.posts, args.posts);
    assert_eq!(counts.creators, args.creators);
    println!("{} segments", counts.segments);

    let cases = cases(&mut rng, &samples);
    for c in cases.iter().take(5) {
        println!("  e.g. {:?} typed as {:?}", c.right, c.typed);
    }
    // Warm the page cache and the automaton builders.
    run(
        &index,
        "warm-up",
        &cases[..cases.len().min(300)],
        true,
        false,
    );
    let runs = [
        run(&index, "typo queries, typo tolerant", &cases, true, false),
        run(
            &index,
            "same spelled right, typo tolerant",
            &cases,
            false,
            false,
        ),
        run(
            &index,
            "same spelled right, exact terms",
            &cases,
            false,
            true,
        ),
        run(&index, "typo queries, exact terms", &cases, true, true),
    ];
    println!(
        "\n| queries ({} each, one thread, limit 20, posts and creators) | p50 ms | p90 ms | p99 ms | max ms | mean CPU ms | with hits | mean matches |",
        cases.len()
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &runs {
        let n = r.latencies.len();
        let at = |p: f64| ms(r.latencies[((n as f64 * p) as usize).min(n - 1)]);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} % | {:.0} |",
            r.name,
            at(0.50),
            at(0.90),
            at(0.99),
            ms(r.latencies[n - 1]),
            ms(r.cpu) / n as f64,
            100.0 * r.with_hits as f64 / n as f64,
            r.total_hits as f64 / n as f64,
        );
    }
    for r in &runs {
        println!("\nslowest of {}:", r.name);
        for (took, q, cluster) in &r.slowest {
            println!("  {:8.2} ms  {q:?} on {cluster:?}", ms(*took));
        }
    }
    drop(index);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn build(
    args: &Args,
    dir: &Path,
    corpus: &Corpus,
    rng: &mut Rng,
    now: i64,
    samples: &mut Vec<PostDoc>,
) {
    let sample_every = (args.posts / args.queries.max(1)).max(1);
    let _ = std::fs::remove_dir_all(dir);
    println!(
        "indexing {} posts and {} creators into {} with {}",
        args.posts,
        args.creators,
        dir.display(),
        if args.upsert {
            "upsert_posts"
        } else {
            "rebuild"
        }
    );

    let index = SearchIndex::open(dir).expect("open");
    let start = Instant::now();
    let mut last = Instant::now();
    let step = (args.posts / 10).max(1);
    let mut generating = Duration::ZERO;
    let posts = (0..args.posts).map(|i| {
        if i > 0 && i % step == 0 {
            let el = start.elapsed().as_secs_f64();
            println!(
                "  {i:>9} posts  {el:6.1} s  {:>7.0} docs/s (last {:.1} s)",
                i as f64 / el,
                last.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
        let t = Instant::now();
        let post = corpus.post(rng, i as i64 + 1, args.posts, now);
        generating += t.elapsed();
        if i % sample_every == 0 && samples.len() < args.queries {
            samples.push(post.clone());
        }
        post
    });
    let mut creator_rng = Rng(args.seed ^ 0x00c0_ffee);
    let creators = (0..args.creators).map(|i| corpus.creator(&mut creator_rng, i));
    let before_commit;
    if args.upsert {
        index.upsert_posts(posts).expect("upsert posts");
        index.upsert_creators(creators).expect("upsert creators");
        before_commit = start.elapsed();
        index.commit().expect("commit");
    } else {
        let mut rebuild = index.rebuild().expect("rebuild");
        rebuild.add_posts(posts).expect("add posts");
        rebuild.add_creators(creators).expect("add creators");
        before_commit = start.elapsed();
        rebuild.commit().expect("commit");
    }
    let built = start.elapsed();
    let counts = index.counts().expect("counts");
    println!(
        "  (making up the posts took {:.1} s of that, in the same thread)",
        generating.as_secs_f64()
    );
    let size_committed = dir_size(dir);
    let merge_start = Instant::now();
    index.close().expect("close");
    let merged = merge_start.elapsed();
    let docs = args.posts + args.creators;
    println!(
        "built: {docs} docs in {:.1} s ({:.0} docs/s; adding {:.1} s, commit {:.1} s), {} segments, {:.0} MiB",
        built.as_secs_f64(),
        docs as f64 / built.as_secs_f64(),
        before_commit.as_secs_f64(),
        (built - before_commit).as_secs_f64(),
        counts.segments,
        size_committed as f64 / (1 << 20) as f64,
    );

    let index = SearchIndex::open(dir).expect("re-open");
    let counts = index.counts().expect("counts");
    let size = dir_size(dir);
    println!(
        "merged in {:.1} s more: {} segments, {:.0} MiB on disk ({:.0} bytes/post), peak RSS {:.0} MiB",
        merged.as_secs_f64(),
        counts.segments,
        size as f64 / (1 << 20) as f64,
        size as f64 / docs as f64,
        peak_rss_mib(),
    );
}

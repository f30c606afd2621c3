use fanz_search::{
    CreatorDoc, Kinds, PostDoc, SearchError, SearchIndex, SearchQuery, SearchResults, MAX_LIMIT,
};

const DAY: i64 = 86_400 * 1_000_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn post(id: i64, handle: &str, text: &str, tags: &[&str]) -> PostDoc {
    PostDoc {
        id,
        creator_id: id * 10,
        creator_handle: handle.into(),
        text: text.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        clusters: vec!["fanzlab".into()],
        sensitive: false,
        published_at: now() - 10 * DAY,
        engagement: 0,
    }
}

fn creator(id: i64, handle: &str, name: &str, bio: &str) -> CreatorDoc {
    CreatorDoc {
        id,
        handle: handle.into(),
        display_name: name.into(),
        bio: bio.into(),
        clusters: vec!["fanzlab".into()],
    }
}

/// A small index: a few posts whose words do not overlap, and two creators.
fn fixture() -> SearchIndex {
    let index = SearchIndex::in_memory().unwrap();
    index
        .upsert_posts([
            post(
                1,
                "neon_nate",
                "Shiny outfit shoot in the studio",
                &["Latex"],
            ),
            post(
                2,
                "velvet_vee",
                "Morning yoga stretching routine",
                &["fitness"],
            ),
            post(
                3,
                "neon_nate",
                "Behind the scenes of the photoshoot",
                &["bts"],
            ),
            post(4, "ruby_rae", "Candlelit dinner conversation", &["romance"]),
        ])
        .unwrap();
    index
        .upsert_creators([
            creator(
                100,
                "neon_nate",
                "Nate Neon",
                "Glow-in-the-dark photography",
            ),
            creator(101, "velvet_vee", "Vee", "Yoga and wellness"),
        ])
        .unwrap();
    index.commit().unwrap();
    index
}

fn q(text: &str) -> SearchQuery {
    SearchQuery {
        q: text.into(),
        limit: 20,
        include_sensitive: true,
        ..SearchQuery::default()
    }
}

fn post_ids(r: &SearchResults) -> Vec<i64> {
    r.posts.iter().map(|h| h.id).collect()
}

fn creator_ids(r: &SearchResults) -> Vec<i64> {
    r.creators.iter().map(|h| h.id).collect()
}

fn posts(index: &SearchIndex, text: &str) -> Vec<i64> {
    let r = index
        .search(&SearchQuery {
            kinds: Kinds::Posts,
            ..q(text)
        })
        .unwrap();
    assert_eq!(r.total_posts, r.posts.len(), "{text}: fewer than a page");
    post_ids(&r)
}

#[test]
fn exact_tag_and_tag_case() {
    let index = fixture();
    assert_eq!(posts(&index, "latex"), vec![1]);
    assert_eq!(posts(&index, "LATEX"), vec![1]);
    assert_eq!(posts(&index, "#latex"), vec![1]);
    assert_eq!(posts(&index, "#Latex "), vec![1]);
}

#[test]
fn misspelled_tag_within_one_edit() {
    let index = fixture();
    // deletion, substitution, insertion, transposition
    for typo in ["latx", "latez", "latexx", "ltaex", "#Latx"] {
        assert_eq!(posts(&index, typo), vec![1], "{typo}");
    }
    // Not as a prefix either (the query ends in a space).
    assert_eq!(posts(&index, "latx "), vec![1]);
}

#[test]
fn two_edits_only_for_long_terms() {
    let index = fixture();
    // "lateks" is two edits from "latex" (k→x, s deleted); a 6-letter term gets one.
    assert_eq!(posts(&index, "lateks "), Vec::<i64>::new());
    assert_eq!(posts(&index, "dimmer "), Vec::<i64>::new()); // "dinner", two edits
                                                             // An 8+ letter term gets two.
    assert_eq!(posts(&index, "strechng "), vec![2]); // t and i missing
    assert_eq!(posts(&index, "strechhing "), vec![2]); // two substitutions
    assert_eq!(posts(&index, "conversatoin "), vec![4]); // one transposition
    assert_eq!(posts(&index, "kanversatoin "), Vec::<i64>::new()); // three edits
}

#[test]
fn short_terms_are_exact() {
    let index = fixture();
    // "bts" is a tag; "btz" is one edit away but three letters get no typo.
    assert_eq!(posts(&index, "bts "), vec![3]);
    assert_eq!(posts(&index, "btz "), Vec::<i64>::new());
}

#[test]
fn misspelled_word_in_text() {
    let index = fixture();
    assert_eq!(posts(&index, "candlelti"), vec![4]);
    assert_eq!(posts(&index, "mornign yoga"), vec![2]);
    assert_eq!(posts(&index, "photshoot"), vec![3]);
}

#[test]
fn every_term_must_match() {
    let index = fixture();
    assert_eq!(posts(&index, "yoga"), vec![2]);
    assert_eq!(posts(&index, "yoga latex"), Vec::<i64>::new());
    assert_eq!(posts(&index, "shiny latex studio"), vec![1]);
}

#[test]
fn search_as_you_type_prefix_on_last_term() {
    let index = fixture();
    assert_eq!(posts(&index, "candlel"), vec![4]);
    assert_eq!(posts(&index, "morning yog"), vec![2]);
    // A finished word (space after it) is not a prefix.
    assert_eq!(posts(&index, "candlel "), Vec::<i64>::new());
    // Prefix with a typo in it.
    assert_eq!(posts(&index, "cnadlel"), vec![4]);
}

#[test]
fn creator_by_handle_prefix() {
    let index = fixture();
    for typed in ["neon_n", "@neon_na", "neonnat", "@neon", "NEON_NATE"] {
        let r = index
            .search(&SearchQuery {
                kinds: Kinds::Creators,
                ..q(typed)
            })
            .unwrap();
        assert_eq!(creator_ids(&r), vec![100], "{typed}");
        assert!(r.posts.is_empty() && r.total_posts == 0);
    }
    // A misspelled handle.
    let r = index
        .search(&SearchQuery {
            kinds: Kinds::Creators,
            ..q("velvte_vee")
        })
        .unwrap();
    assert_eq!(creator_ids(&r), vec![101]);
    // Posts are found by their creator's handle too.
    let mut by_handle = posts(&index, "@neon_nat");
    by_handle.sort();
    assert_eq!(by_handle, vec![1, 3]);
}

#[test]
fn both_kinds_at_once() {
    let index = fixture();
    let r = index.search(&q("yoga")).unwrap();
    assert_eq!(post_ids(&r), vec![2]);
    assert_eq!(creator_ids(&r), vec![101]);
    assert_eq!((r.total_posts, r.total_creators), (1, 1));
}

#[test]
fn cluster_filter_is_exact() {
    let index = fixture();
    let mut other = post(5, "ruby_rae", "Latex gloves tutorial", &["latex"]);
    other.clusters = vec!["boyfanz".into()];
    let mut both = post(6, "ruby_rae", "Latex boots", &["latex"]);
    both.clusters = vec!["boyfanz".into(), "fanzlab".into()];
    index.upsert_posts([other, both]).unwrap();
    index.commit().unwrap();

    let in_cluster = |c: &str| {
        let mut ids = post_ids(
            &index
                .search(&SearchQuery {
                    cluster: Some(c.into()),
                    kinds: Kinds::Posts,
                    ..q("latex")
                })
                .unwrap(),
        );
        ids.sort();
        ids
    };
    assert_eq!(in_cluster("fanzlab"), vec![1, 6]);
    assert_eq!(in_cluster("boyfanz"), vec![5, 6]);
    assert_eq!(in_cluster("boyfan"), Vec::<i64>::new());
    assert_eq!(in_cluster("BoyFanz"), Vec::<i64>::new());
    let mut all = posts(&index, "latex");
    all.sort();
    assert_eq!(all, vec![1, 5, 6]);
}

#[test]
fn sensitive_posts_only_when_asked() {
    let index = fixture();
    let mut hot = post(7, "ruby_rae", "Latex catsuit", &["latex"]);
    hot.sensitive = true;
    index.upsert_post(&hot).unwrap();
    index.commit().unwrap();

    let safe = index
        .search(&SearchQuery {
            include_sensitive: false,
            ..q("latex")
        })
        .unwrap();
    assert_eq!(post_ids(&safe), vec![1]);
    assert_eq!(safe.total_posts, 1);
    let mut all = posts(&index, "latex");
    all.sort();
    assert_eq!(all, vec![1, 7]);
}

#[test]
fn delete_removes() {
    let index = fixture();
    index.delete_post(1).unwrap();
    // Not visible before the commit.
    assert_eq!(posts(&index, "latex"), vec![1]);
    index.commit().unwrap();
    assert_eq!(posts(&index, "latex"), Vec::<i64>::new());

    index.delete_creator(100).unwrap();
    index.commit().unwrap();
    let r = index.search(&q("neon_nate")).unwrap();
    assert_eq!(creator_ids(&r), Vec::<i64>::new());
    assert_eq!(post_ids(&r).len(), 1, "post 3 of neon_nate is still there");
    assert_eq!(index.counts().unwrap().posts, 3);
    assert_eq!(index.counts().unwrap().creators, 1);
}

#[test]
fn answers_are_kept_until_the_next_commit() {
    let index = fixture();
    let query = q("latex");
    assert_eq!(index.cached(&query), None, "nothing asked yet");
    let first = index.search(&query).unwrap();
    assert_eq!(post_ids(&first), vec![1]);
    assert_eq!(index.cached(&query), Some(first.clone()));
    // Another page of the same words, or another cluster, is an answer of its own.
    assert_eq!(
        index.cached(&SearchQuery {
            limit: 1,
            ..q("latex")
        }),
        None
    );
    assert_eq!(
        index.cached(&SearchQuery {
            cluster: Some("boyfanz".into()),
            ..q("latex")
        }),
        None
    );
    // A write not yet committed changes nothing; the commit shows it at once.
    index
        .upsert_posts([post(5, "ruby_rae", "Red latex gloves", &["latex"])])
        .unwrap();
    assert_eq!(index.search(&query).unwrap(), first);
    index.commit().unwrap();
    assert_eq!(index.cached(&query), None, "a commit forgets the answers");
    let after = index.search(&query).unwrap();
    let mut ids = post_ids(&after);
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 5]);
    assert_eq!(after, index.search_uncached(&query).unwrap());
    assert_eq!(index.cached(&query), Some(after));
}

#[test]
fn upsert_replaces() {
    let index = fixture();
    index
        .upsert_post(&post(1, "neon_nate", "Rainy window reading", &["books"]))
        .unwrap();
    index
        .upsert_creator(&creator(100, "nova_nate", "Nova", "Astronomy"))
        .unwrap();
    index.commit().unwrap();

    assert_eq!(posts(&index, "latex"), Vec::<i64>::new());
    assert_eq!(posts(&index, "shiny"), Vec::<i64>::new());
    assert_eq!(posts(&index, "books"), vec![1]);
    assert_eq!(index.counts().unwrap().posts, 4);

    let creators = |s: &str| creator_ids(&index.search(&q(s)).unwrap());
    assert_eq!(creators("glow"), Vec::<i64>::new());
    assert_eq!(creators("astronomy"), vec![100]);
    assert_eq!(creators("nova_n"), vec![100]);
}

#[test]
fn upserting_the_same_id_twice_in_one_batch_keeps_the_last() {
    let index = SearchIndex::in_memory().unwrap();
    index
        .upsert_posts([
            post(9, "a_b", "first version", &[]),
            post(9, "a_b", "second version", &[]),
        ])
        .unwrap();
    index.commit().unwrap();
    assert_eq!(posts(&index, "first"), Vec::<i64>::new());
    assert_eq!(posts(&index, "second"), vec![9]);
    assert_eq!(index.counts().unwrap().posts, 1);
}

#[test]
fn clear_and_rollback() {
    let index = fixture();
    index.clear().unwrap();
    index.rollback().unwrap();
    assert_eq!(index.counts().unwrap().posts, 4);
    index.clear().unwrap();
    index
        .upsert_posts([post(20, "x_y", "Fresh start", &["latex"])])
        .unwrap();
    index.commit().unwrap();
    assert_eq!(posts(&index, "latex"), vec![20]);
    assert_eq!(index.counts().unwrap().posts, 1);
    assert_eq!(index.counts().unwrap().creators, 0);
}

#[test]
fn reopen_from_disk_keeps_documents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("search");
    {
        let index = SearchIndex::open(&path).unwrap();
        index
            .upsert_post(&post(1, "neon_nate", "Shiny outfit", &["Latex"]))
            .unwrap();
        index
            .upsert_creator(&creator(100, "neon_nate", "Nate", ""))
            .unwrap();
        index.commit().unwrap();
        index
            .upsert_post(&post(2, "neon_nate", "never committed", &["latex"]))
            .unwrap();
        // A second writer on the same directory is refused.
        assert!(matches!(
            SearchIndex::open(&path),
            Err(SearchError::Locked { .. })
        ));
    }
    let index = SearchIndex::open(&path).unwrap();
    assert_eq!(posts(&index, "latx"), vec![1]);
    index
        .upsert_post(&post(3, "ruby_rae", "Candlelit dinner", &[]))
        .unwrap();
    index.commit().unwrap();
    index.close().unwrap();

    let index = SearchIndex::open(&path).unwrap();
    assert_eq!(posts(&index, "candlelit"), vec![3]);
    assert_eq!(posts(&index, "latx"), vec![1]);
    let r = index.search(&q("neon_n")).unwrap();
    assert_eq!(creator_ids(&r), vec![100]);
    assert_eq!(index.counts().unwrap().posts, 2);
}

#[test]
fn exact_ranks_above_fuzzy_and_tags_above_text() {
    let index = SearchIndex::in_memory().unwrap();
    index
        .upsert_posts([
            post(1, "a_a", "walk in the park", &["lates"]), // fuzzy tag
            post(2, "b_b", "walk in the park", &["latex"]), // exact tag
            post(3, "c_c", "latex walk in the park", &[]),  // exact text
            post(4, "d_d", "lates walk in the park", &[]),  // fuzzy text
        ])
        .unwrap();
    index.commit().unwrap();
    let ids = posts(&index, "latex ");
    assert_eq!(ids[0], 2, "{ids:?}");
    assert_eq!(ids.len(), 4);
    let pos = |id| ids.iter().position(|&x| x == id).unwrap();
    assert!(pos(3) < pos(4), "exact text above fuzzy text: {ids:?}");
    assert!(pos(1) < pos(4), "fuzzy tag above fuzzy text: {ids:?}");
}

#[test]
fn recent_posts_slightly_favoured() {
    let index = SearchIndex::in_memory().unwrap();
    let mut old = post(1, "a_a", "sunset beach", &[]);
    old.published_at = now() - 400 * DAY;
    let mut new = post(2, "a_a", "sunset beach", &[]);
    new.published_at = now() - DAY;
    index.upsert_posts([old, new]).unwrap();
    index.commit().unwrap();
    let r = index
        .search(&SearchQuery {
            kinds: Kinds::Posts,
            ..q("sunset")
        })
        .unwrap();
    assert_eq!(post_ids(&r), vec![2, 1]);
    let (a, b) = (r.posts[0].score, r.posts[1].score);
    assert!(a > b && a < b * 1.25, "{a} vs {b}");
}

#[test]
fn limit_offset_and_totals() {
    let index = SearchIndex::in_memory().unwrap();
    index
        .upsert_posts((1..=150).map(|i| post(i, "a_a", "latex", &[])))
        .unwrap();
    index.commit().unwrap();
    let page = |limit, offset| {
        index
            .search(&SearchQuery {
                limit,
                offset,
                kinds: Kinds::Posts,
                ..q("latex")
            })
            .unwrap()
    };
    let r = page(1000, 0);
    assert_eq!(r.posts.len(), MAX_LIMIT);
    assert_eq!(r.total_posts, 150);
    let r = page(100, 120);
    assert_eq!(r.posts.len(), 30);
    let r = page(0, 0);
    assert!(r.posts.is_empty());
    assert_eq!(r.total_posts, 150);
    let r = page(10, usize::MAX);
    assert!(r.posts.is_empty());
    assert_eq!(r.total_posts, 150);
    // Pages do not overlap.
    let mut seen: Vec<i64> = (0..15).flat_map(|p| post_ids(&page(10, p * 10))).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 150);
}

#[test]
fn empty_and_punctuation_only_queries_find_nothing() {
    let index = fixture();
    for text in ["", "   ", "#", "@", "***", "\"\"", "\0", "-:"] {
        let r = index.search(&q(text)).unwrap();
        let nothing = SearchResults {
            total_posts_exact: true,
            ..SearchResults::default()
        };
        assert_eq!(r, nothing, "{text:?}");
    }
}

#[test]
fn unicode_is_folded() {
    let index = SearchIndex::in_memory().unwrap();
    index
        .upsert_posts([
            post(1, "zoe_x", "Café crème au lait", &["Élégance"]),
            post(2, "yuki", "東京の夜", &["ナイト"]),
        ])
        .unwrap();
    index.commit().unwrap();
    assert_eq!(posts(&index, "cafe"), vec![1]);
    assert_eq!(posts(&index, "CAFÉ CRÈME"), vec![1]);
    assert_eq!(posts(&index, "elegance"), vec![1]);
    assert_eq!(posts(&index, "ナイト"), vec![2]);
    assert_eq!(posts(&index, "東京の夜"), vec![2]);
}

#[test]
fn hostile_queries_do_not_error() {
    let index = fixture();
    let long_word = "a".repeat(10_000);
    let long_words = "latex ".repeat(2_000);
    let many_terms = (0..500)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let hostile = [
        "\"latex",
        "\"latex\"",
        "latex AND yoga",
        "latex OR yoga",
        "NOT latex",
        "-latex",
        "+latex",
        "tags:latex",
        "text:",
        ":",
        "*",
        "lat*",
        "?",
        "latex~2",
        "latex^10",
        "(latex",
        "[a TO z]",
        "{ } [ ] ( ) \\ / ^ ~ ! &&",
        "\0",
        "latex\0yoga",
        "\u{202e}latex",
        "🍆🍑",
        "ẞ ǅ ﬁ",
        "\u{fffd}\u{feff}",
        long_word.as_str(),
        long_words.as_str(),
        many_terms.as_str(),
    ];
    for text in hostile {
        let r = index.search(&q(text));
        assert!(r.is_ok(), "{:?}: {r:?}", &text[..text.len().min(40)]);
    }
    // Syntax is not syntax: the words still count.
    assert_eq!(posts(&index, "latex:"), vec![1]);
    assert_eq!(posts(&index, "*latex*"), vec![1]);
    assert_eq!(posts(&index, "shiny AND latex"), Vec::<i64>::new()); // "and" is a word
    assert_eq!(posts(&index, "\"latex\""), vec![1]);
    assert_eq!(posts(&index, "latex\0"), vec![1]);
    assert_eq!(posts(&index, long_words.as_str()), vec![1]);
    // Ten thousand letters: the query is cut to 256 characters, a token longer than any
    // indexed one, so nothing.
    assert_eq!(posts(&index, long_word.as_str()), Vec::<i64>::new());
}

#[test]
fn only_the_first_terms_and_characters_count() {
    let index = fixture();
    // Eight terms are used: a ninth that matches nothing is ignored.
    let eight = "shiny outfit shoot in the studio latex neon";
    assert_eq!(posts(&index, eight), vec![1]);
    assert_eq!(posts(&index, &format!("{eight} zzzzzz")), vec![1]);
    // Repeated terms count once.
    assert_eq!(
        posts(
            &index,
            "latex latex latex latex latex latex latex latex yoga"
        ),
        Vec::<i64>::new()
    );
    // Past 256 characters nothing is read.
    let padded = format!("latex {}", " ".repeat(300));
    assert_eq!(posts(&index, &format!("{padded} yoga")), vec![1]);
}

#[test]
fn exact_mode_turns_typos_off() {
    let index = fixture();
    let exact = |text: &str| {
        post_ids(
            &index
                .search(&SearchQuery {
                    exact: true,
                    kinds: Kinds::Posts,
                    ..q(text)
                })
                .unwrap(),
        )
    };
    assert_eq!(exact("latx "), Vec::<i64>::new());
    assert_eq!(exact("latex "), vec![1]);
    assert_eq!(exact("late"), vec![1], "prefix stays");
}

#[test]
fn index_is_shared_across_threads() {
    let index = std::sync::Arc::new(fixture());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let index = index.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    index
                        .upsert_post(&post(1000 + t * 100 + i, "t_t", "threaded", &[]))
                        .unwrap();
                    index.search(&q("latex")).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    index.commit().unwrap();
    let r = index
        .search(&SearchQuery {
            kinds: Kinds::Posts,
            ..q("threaded")
        })
        .unwrap();
    assert_eq!(r.total_posts, 200);
}

#[test]
fn rebuild_replaces_everything_at_commit() {
    let index = fixture();
    // An upsert not committed yet when the rebuild starts is dropped.
    index
        .upsert_post(&post(50, "z_z", "pending latex", &[]))
        .unwrap();
    let mut rebuild = index.rebuild().unwrap();
    rebuild
        .add_posts([
            post(1, "neon_nate", "Shiny outfit", &["latex"]),
            post(8, "ruby_rae", "first take", &["latex"]),
            post(8, "ruby_rae", "second take", &["vinyl"]),
        ])
        .unwrap();
    rebuild
        .add_creators([creator(101, "velvet_vee", "Vee", "Yoga")])
        .unwrap();
    rebuild.commit().unwrap();

    let mut latex = posts(&index, "latex");
    latex.sort();
    assert_eq!(latex, vec![1]);
    assert_eq!(posts(&index, "vinyl"), vec![8]);
    assert_eq!(posts(&index, "yoga"), Vec::<i64>::new());
    let counts = index.counts().unwrap();
    assert_eq!((counts.posts, counts.creators), (2, 1));
    // Upserts work as before after a rebuild.
    index
        .upsert_post(&post(8, "ruby_rae", "third", &[]))
        .unwrap();
    index.commit().unwrap();
    assert_eq!(posts(&index, "vinyl"), Vec::<i64>::new());
    assert_eq!(index.counts().unwrap().posts, 2);
}

#[test]
fn rebuild_not_committed_changes_nothing() {
    let index = fixture();
    {
        let mut rebuild = index.rebuild().unwrap();
        rebuild
            .add_posts([post(30, "q_q", "replacement", &["latex"])])
            .unwrap();
        // Searches see the old index meanwhile.
        assert_eq!(posts(&index, "latex"), vec![1]);
    }
    index.commit().unwrap();
    assert_eq!(posts(&index, "latex"), vec![1]);
    assert_eq!(posts(&index, "replacement"), Vec::<i64>::new());
    assert_eq!(index.counts().unwrap().posts, 4);
}

/// A word in every post of 200 days (100 a day, indexed oldest first as a reindex does): far
/// more matches than `CANDIDATES`, so only the newest are ranked, the newest come first, pages
/// do not overlap and the total is a lower bound; a rare word counts exactly.
#[test]
fn common_words_rank_the_newest_matches() {
    let index = SearchIndex::in_memory().unwrap();
    let per_day = 100i64;
    let days = 200i64;
    let all = (per_day * days) as usize;
    assert!(all > 10 * fanz_search::CANDIDATES);
    let base = now() - days * DAY;
    let mut rebuild = index.rebuild().unwrap();
    let docs: Vec<PostDoc> = (0..per_day * days)
        .map(|i| {
            let mut p = post(
                i + 1,
                "crowd",
                if i % 1000 == 0 {
                    "common rarity"
                } else {
                    "common"
                },
                &[],
            );
            p.published_at = base + (i / per_day) * DAY + (i % per_day) * 1000;
            p
        })
        .collect();
    rebuild.add_posts(docs.iter()).unwrap();
    rebuild.commit().unwrap();

    let mut common = q("common ");
    common.kinds = Kinds::Posts;
    let r = index.search(&common).unwrap();
    assert!(!r.total_posts_exact);
    assert!(
        r.total_posts >= fanz_search::CANDIDATES,
        "{}",
        r.total_posts
    );
    assert!(r.total_posts < all);
    // The newest post comes first, and every hit is among the newest tenth.
    let ids = post_ids(&r);
    assert_eq!(ids[0], all as i64, "{ids:?}");
    assert!(ids.iter().all(|&id| id > all as i64 * 9 / 10), "{ids:?}");
    // The next page follows on without repeating.
    common.offset = common.limit;
    let next = post_ids(&index.search(&common).unwrap());
    assert_eq!(next.len(), common.limit);
    assert!(next.iter().all(|id| !ids.contains(id)), "{next:?}");
    assert!(
        next.iter().max() < ids.iter().min(),
        "{next:?} after {ids:?}"
    );

    let mut rare = q("rarity ");
    rare.kinds = Kinds::Posts;
    let r = index.search(&rare).unwrap();
    assert!(r.total_posts_exact);
    assert_eq!(r.total_posts, all / 1000);

    // Deep pages read as far back as they need.
    let mut deep = q("common ");
    deep.kinds = Kinds::Posts;
    deep.limit = 50;
    deep.offset = 9_990;
    let r = index.search(&deep).unwrap();
    assert!(r.total_posts >= 10_040, "{}", r.total_posts);
    assert_eq!(r.posts.len(), 50);
}

/// Words spelled right are matched as typed first: a post with the exact word ranks first,
/// and a near word (one edit away) is reached only when the exact words find less than a
/// page ("did you mean").
#[test]
fn exact_words_first_typos_when_they_find_too_little() {
    let index = SearchIndex::in_memory().unwrap();
    let mut docs = vec![post(1, "maker", "glitter", &[])];
    // Newer posts with a word one edit away.
    for id in 2..30 {
        let mut p = post(id, "maker", "glitters", &[]);
        p.published_at = now() - DAY;
        docs.push(p);
    }
    index.upsert_posts(docs.iter()).unwrap();
    index.commit().unwrap();
    let mut glitter = q("glitter ");
    glitter.kinds = Kinds::Posts;
    let r = index.search(&glitter).unwrap();
    // One exact match is less than a page: the near words fill it, after the exact one.
    assert_eq!(post_ids(&r)[0], 1, "{r:?}");
    assert_eq!(r.total_posts, 29);
    assert!(r.total_posts_exact);
    // A page of one is filled by the exact word alone.
    glitter.limit = 1;
    let r = index.search(&glitter).unwrap();
    assert_eq!(post_ids(&r), vec![1]);
    assert_eq!(r.total_posts, 1);
    // A typo (two edits in a word of eight letters) finds both, the nearer word first.
    let r = index.search(&q("glitterz ")).unwrap();
    assert_eq!(r.total_posts, 29, "{r:?}");
}

/// Filters hold when only the newest matches are ranked: a cluster filter and safe search
/// leave out what they exclude however many posts match.
#[test]
fn filters_hold_for_common_words() {
    let index = SearchIndex::in_memory().unwrap();
    let base = now() - 100 * DAY;
    let docs: Vec<PostDoc> = (0..5_000i64)
        .map(|i| {
            let mut p = post(i + 1, "crowd", "everyday words", &[]);
            p.published_at = base + i * 1_000_000;
            p.clusters = vec![if i % 7 == 0 { "boyfanz" } else { "fanzlab" }.into()];
            p.sensitive = i % 3 == 0;
            p
        })
        .collect();
    let mut rebuild = index.rebuild().unwrap();
    rebuild.add_posts(docs.iter()).unwrap();
    rebuild.commit().unwrap();
    let mut query = q("everyday words");
    query.kinds = Kinds::Posts;
    query.cluster = Some("boyfanz".into());
    query.include_sensitive = false;
    query.limit = 50;
    let r = index.search(&query).unwrap();
    assert_eq!(r.posts.len(), 50);
    for id in post_ids(&r) {
        let i = id - 1;
        assert_eq!(i % 7, 0, "{id} is not on boyfanz");
        assert_ne!(i % 3, 0, "{id} is sensitive");
    }
    query.include_sensitive = true;
    let r = index.search(&query).unwrap();
    assert!(post_ids(&r).iter().any(|id| (id - 1) % 3 == 0));
    assert!(post_ids(&r).iter().all(|id| (id - 1) % 7 == 0));
}

/// A prefix reaches at most `MAX_EXPANSIONS` words, the most used first: the common
/// completions are found, a rare one among many is not.
#[test]
fn prefixes_expand_to_the_most_used_words() {
    let index = SearchIndex::in_memory().unwrap();
    let mut docs = Vec::new();
    let mut id = 0;
    // Twenty words starting with "zq": zqa… used 20 times down to zqt used once.
    for (k, letter) in ('a'..='t').enumerate() {
        for _ in 0..(20 - k) {
            id += 1;
            docs.push(post(id, "maker", &format!("zq{letter}x"), &[]));
        }
    }
    index.upsert_posts(docs.iter()).unwrap();
    index.commit().unwrap();
    let mut prefix = q("zq");
    prefix.kinds = Kinds::Posts;
    let r = index.search(&prefix).unwrap();
    let expected: usize = (0..fanz_search::MAX_EXPANSIONS).map(|k| 20 - k).sum();
    assert_eq!(r.total_posts, expected);
    // The rarest word, typed out, is still found, and first.
    let r = index.search(&q("zqtx ")).unwrap();
    assert_eq!(post_ids(&r)[0], id, "{r:?}");
}

/// Posts indexed one commit at a time (as events keep the index current: a segment each),
/// some replaced and some deleted: the newest are ranked across every segment, and neither a
/// deleted post nor the old version of a replaced one is found.
#[test]
fn live_updates_across_many_segments() {
    let index = SearchIndex::in_memory().unwrap();
    let base = now() - 50 * DAY;
    for id in 1..=40i64 {
        let mut p = post(id, "maker", "sunrise hike", &[]);
        p.published_at = base + id * DAY;
        index.upsert_post(&p).unwrap();
        index.commit().unwrap();
    }
    index.delete_post(40).unwrap();
    let mut edited = post(39, "maker", "sunset swim", &[]);
    edited.published_at = base + 39 * DAY;
    index.upsert_post(&edited).unwrap();
    index.commit().unwrap();
    assert!(index.counts().unwrap().segments > 1);
    let mut sunrise = q("sunrise ");
    sunrise.kinds = Kinds::Posts;
    let r = index.search(&sunrise).unwrap();
    assert_eq!(r.total_posts, 38, "{r:?}");
    assert!(r.total_posts_exact);
    // Newest first (same words, recency decides).
    assert_eq!(post_ids(&r)[..3], [38, 37, 36], "{r:?}");
    assert_eq!(posts(&index, "sunset "), vec![39]);
}
